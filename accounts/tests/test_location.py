"""Profile extras: Instagram posts on the card, and the opt-in, coarse, expiring location."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.core.management import call_command

from accounts import location
from accounts.models import User, UserLocation
from config import clock
from audit.models import AuditLog
import presence
from social import services as social_services

# --- Instagram posts ------------------------------------------------------------------------------

GOOD = [
    ("https://www.instagram.com/p/Cx1_ab-Z9/", "https://www.instagram.com/p/Cx1_ab-Z9/"),
    ("https://instagram.com/p/Cx1_ab-Z9", "https://www.instagram.com/p/Cx1_ab-Z9/"),
    ("http://www.instagram.com/reel/ABCdef123/?igsh=tracking&utm_source=ig", "https://www.instagram.com/reel/ABCdef123/"),
    ("  https://WWW.Instagram.com/p/Cx1_ab-Z9/#comments ", "https://www.instagram.com/p/Cx1_ab-Z9/"),
    ("www.instagram.com/p/Cx1_ab-Z9/", "https://www.instagram.com/p/Cx1_ab-Z9/"),
]
BAD = [
    "javascript:alert(1)//www.instagram.com/p/Cx1_ab-Z9/",
    "https://www.instagram.com.evil.example/p/Cx1_ab-Z9/",
    "https://evil.example/www.instagram.com/p/Cx1_ab-Z9/",
    "https://user:pw@www.instagram.com/p/Cx1_ab-Z9/",
    "https://www.instagram.com:8443/p/Cx1_ab-Z9/",
    "https://www.instagram.com/someone/",
    "https://www.instagram.com/stories/someone/123/",
    "https://www.instagram.com/p/Cx1_ab-Z9/extra/",
    "https://www.instagram.com/p/ab/",
    "https://www.instagram.com/p/<script>/",
    "ftp://www.instagram.com/p/Cx1_ab-Z9/",
    "data:text/html,<b>x</b>",
    "",
]


@pytest.mark.parametrize("raw,normal", GOOD)
def test_instagram_links_are_normalised(raw, normal):
    assert location.instagram_post_normalise(raw) == normal


@pytest.mark.parametrize("raw", BAD)
def test_instagram_links_of_other_shapes_are_refused(raw):
    with pytest.raises(ValueError):
        location.instagram_post_normalise(raw)


@pytest.mark.django_db
def test_put_instagram_posts_stores_the_normalised_ordered_list(auth_api):
    me = auth_api(name="Me")
    resp = me.put(
        "/api/me/instagram-posts",
        {"posts": ["https://instagram.com/reel/Reel12345?utm_source=x", "https://www.instagram.com/p/Post12345/"]},
        format="json",
    )
    assert resp.status_code == 200, resp.content
    expected = ["https://www.instagram.com/reel/Reel12345/", "https://www.instagram.com/p/Post12345/"]
    assert resp.json() == {"posts": expected}
    assert me.get("/api/me").json()["instagram_posts"] == expected  # the cached account copy was dropped
    assert me.put("/api/me/instagram-posts", {"posts": []}, format="json").json() == {"posts": []}
    assert User.objects.get(pk=me.user.pk).instagram_posts == []


@pytest.mark.django_db
def test_bad_instagram_lists_are_refused_and_change_nothing(auth_api, settings):
    settings.INSTAGRAM_POSTS_MAX = 2
    me = auth_api(name="Me")
    me.put("/api/me/instagram-posts", {"posts": ["https://www.instagram.com/p/Keep12345/"]}, format="json")
    cases = [
        ({"posts": ["https://www.instagram.com/p/A1234567/", "https://evil.example/p/B1234567/"]}, {"1"}),
        ({"posts": ["https://www.instagram.com/p/A1234567/", "https://instagram.com/p/A1234567?x=1"]}, {"1"}),
        ({"posts": ["javascript:alert(1)"]}, {"0"}),
    ]
    for body, bad_indexes in cases:
        resp = me.put("/api/me/instagram-posts", body, format="json")
        assert resp.status_code == 400, resp.content
        error = resp.json()["error"]
        assert error["code"] == "invalid" and set(error["fields"]["posts"]) == bad_indexes
    too_many = [f"https://www.instagram.com/p/Post{i}abcd/" for i in range(3)]
    resp = me.put("/api/me/instagram-posts", {"posts": too_many}, format="json")
    assert resp.status_code == 400 and resp.json()["error"]["max_posts"] == 2
    assert me.put("/api/me/instagram-posts", {"posts": "https://www.instagram.com/p/A1234567/"},
                  format="json").status_code == 400
    assert User.objects.get(pk=me.user.pk).instagram_posts == ["https://www.instagram.com/p/Keep12345/"]


def _available(*users):
    for u in users:
        presence.socket_touch(user_id=u.pk, socket_id=f"s-{u.pk}", available=True)


@pytest.mark.django_db
def test_posts_show_on_the_other_users_queue_card(auth_api, make_user):
    me = auth_api(name="Me")
    other = auth_api(name="Other")
    other.put("/api/me/instagram-posts", {"posts": ["instagram.com/p/Other1234"]}, format="json")
    _available(other.user)
    card = me.get("/api/queue").json()["results"][0]
    assert card["instagram_posts"] == ["https://www.instagram.com/p/Other1234/"]


# --- location: geometry --------------------------------------------------------------------------

def test_coarsening_snaps_to_the_cell_centre_never_the_input(settings):
    settings.LOCATION_GRID_METERS = 500
    precise = (34.0223519, -118.2850919)  # USC
    cell = location.coarsen(*precise)
    assert cell != precise
    # within half a cell diagonal of the input, and everyone in the cell gets the same point
    assert location.distance_m(precise, cell) <= 500 * 0.75
    assert location.coarsen(precise[0] + 0.0001, precise[1] + 0.0001) == cell
    far = location.coarsen(precise[0] + 0.01, precise[1])
    assert far != cell and 900 < location.distance_m(cell, far) < 1_700
    # a coarser grid loses more
    assert location.distance_m(precise, location.coarsen(*precise, grid_m=5_000)) > location.distance_m(precise, cell) - 1
    for lat, lon in [(89.9999, 179.9999), (-90, -180), (0, 0), (-33.9, 151.2)]:
        c_lat, c_lon = location.coarsen(lat, lon)
        assert -90 <= c_lat <= 90 and -180 <= c_lon <= 180


@pytest.mark.parametrize(
    "meters,bucket",
    [(0, "< 1 km"), (999.99, "< 1 km"), (1_000, "1–5 km"), (4_999.9, "1–5 km"), (5_000, "5–25 km"),
     (24_999.9, "5–25 km"), (25_000, "far"), (4e6, "far")],
)
def test_distance_buckets_at_their_edges(meters, bucket):
    assert location.distance_bucket(meters) == bucket


def test_haversine_matches_a_known_distance():
    # USC ↔ UCLA: 5.18 km north, 14.77 km west → about 15.65 km as the crow flies
    assert 15_500 < location.distance_m((34.0224, -118.2851), (34.0689, -118.4452)) < 15_800


# --- location: the API ---------------------------------------------------------------------------

@pytest.mark.django_db
def test_location_needs_consent_and_valid_numbers(auth_api):
    me = auth_api(name="Me")
    resp = me.put("/api/me/location", {"lat": 34.02, "lon": -118.28, "accuracy_m": 20, "consent": False}, format="json")
    assert resp.status_code == 400 and resp.json()["error"]["code"] == "consent_required"
    for body in (
        {"lat": 91, "lon": 0, "consent": True},
        {"lat": 0, "lon": -181, "consent": True},
        {"lat": "NaN", "lon": 0, "consent": True},
        {"lat": "x", "lon": 0, "consent": True},
        {"lon": 0, "consent": True},
        {"lat": 0, "lon": 0},
    ):
        resp = me.put("/api/me/location", body, format="json")
        assert resp.status_code == 400, (body, resp.content)
        assert resp.json()["error"]["code"] == "invalid"
    assert not UserLocation.objects.exists()
    assert me.get("/api/me/location").status_code == 204


@pytest.mark.django_db
def test_location_is_stored_coarsened_and_expires(auth_api, settings):
    settings.LOCATION_TTL_HOURS = 24
    me = auth_api(name="Me")
    resp = me.put("/api/me/location", {"lat": 34.0223519, "lon": -118.2850919, "accuracy_m": 8, "consent": True},
                  format="json")
    assert resp.status_code == 200, resp.content
    body = resp.json()
    stored = UserLocation.objects.get(user=me.user)
    assert (stored.lat, stored.lon) == location.coarsen(34.0223519, -118.2850919) == (body["lat"], body["lon"])
    assert (stored.lat, stored.lon) != (34.0223519, -118.2850919)
    assert body["accuracy_m"] == 500 and body["grid_m"] == 500  # never claims more precision than the grid
    assert me.get("/api/me/location").json()["lat"] == stored.lat
    clock.advance(24 * 3600 - 1)
    assert me.get("/api/me/location").status_code == 200
    clock.advance(2)
    assert me.get("/api/me/location").status_code == 204  # read as absent after expiry
    assert location.location_live_for_user(user_id=me.user.pk) is None
    # the purger deletes it
    call_command("purge", "--only", "locations_expired", stdout=open("/dev/null", "w"))
    assert not UserLocation.objects.filter(user=me.user).exists()


@pytest.mark.django_db
def test_delete_location_removes_it_at_once(auth_api):
    me = auth_api(name="Me")
    me.put("/api/me/location", {"lat": 1, "lon": 2, "consent": True}, format="json")
    assert me.delete("/api/me/location").status_code == 204
    assert not UserLocation.objects.exists()
    assert me.delete("/api/me/location").status_code == 204  # idempotent


# --- privacy and the queue ---------------------------------------------------------------------

USC = (34.0223519, -118.2850919)
NEAR = (34.0260, -118.2800)  # ~0.6 km
TOWN = (34.0522, -118.2437)  # downtown, ~5 km
SANTA_MONICA = (34.0195, -118.4912)  # ~19 km
SF = (37.7749, -122.4194)


def _share(client, point):
    resp = client.put("/api/me/location", {"lat": point[0], "lon": point[1], "consent": True}, format="json")
    assert resp.status_code == 200, resp.content


def _coordinate_strings(user_id):
    loc = UserLocation.objects.get(user_id=user_id)
    return [repr(loc.lat), repr(loc.lon), f"{loc.lat:.4f}", f"{loc.lon:.4f}"]


@pytest.mark.django_db
def test_others_see_only_a_bucket_and_never_coordinates(auth_api):
    me, other = auth_api(name="Me"), auth_api(name="Other")
    _available(other.user, me.user)
    assert me.get("/api/queue").json()["results"][0]["distance"] is None  # neither shares
    _share(other, TOWN)
    assert me.get("/api/queue").json()["results"][0]["distance"] is None  # only one shares
    _share(me, USC)
    entry = me.get("/api/queue").json()["results"][0]
    assert entry["distance"] == location.distance_bucket(location.distance_m(location.coarsen(*USC), location.coarsen(*TOWN)))
    assert entry["distance"] in {"1–5 km", "5–25 km"} and not {"lat", "lon"} & set(entry)
    assert other.get("/api/queue").json()["results"][0]["distance"] == entry["distance"]
    # no card-bearing REST answer about the other user carries their coordinates
    social_services.block_create(user=me.user, other=other.user)
    room = social_services.room_start(inviter_id=me.user.pk, invitee_id=make_third(me).pk, mode="video", seconds=60)
    social_services.room_end(room_id=room.pk, reason="user")
    bodies = [
        me.get("/api/queue?include_cooldown=true").content,
        me.get("/api/blocks").content,
        me.get("/api/history").content,
        me.get("/api/me/export").content,
    ]
    for needle in _coordinate_strings(other.user.pk):
        for body in bodies:
            assert needle.encode() not in body
    # my own export has my own (coarsened) location, and my posts
    export = json.loads(me.get("/api/me/export").content)
    mine = UserLocation.objects.get(user=me.user)
    assert export["location"]["lat"] == mine.lat and export["profile"]["instagram_posts"] == []


def make_third(me):
    return User.objects.create_user(name="Third")


@pytest.mark.django_db
def test_user_card_has_no_location_field():
    from accounts.selectors import user_card

    card = user_card(User.objects.create_user(name="X"))
    assert not {"lat", "lon", "location", "latitude", "longitude"} & set(card)


@pytest.mark.django_db
def test_nearby_orders_nearest_first_and_honours_blocks_cooldowns_and_intros(auth_api, make_user, monkeypatch):
    me = auth_api(name="Me")
    _share(me, USC)
    people = {}
    for name, point in [("Far", SF), ("Town", TOWN), ("Near", NEAR), ("Beach", SANTA_MONICA), ("Blocked", NEAR),
                        ("Cooled", NEAR), ("Intro", SF)]:
        client = auth_api(name=name)
        _share(client, point)
        people[name] = client.user
    nowhere = make_user("Nowhere")
    for u in [*people.values(), nowhere]:
        clock.advance(1)
        _available(u)
    social_services.block_create(user=people["Blocked"], other=me.user)
    room = social_services.room_start(inviter_id=me.user.pk, invitee_id=people["Cooled"].pk, mode="video", seconds=60)
    social_services.room_end(room_id=room.pk, reason="user")
    import invites.selectors

    monkeypatch.setattr(invites.selectors, "queue_priority_user_ids", lambda *, user_id: [people["Intro"].pk])
    body = me.get("/api/queue?nearby=true").json()
    assert [e["name"] for e in body["results"]] == ["Intro", "Near", "Town", "Beach", "Far", "Nowhere"]
    assert [e["distance"] for e in body["results"]][1:] == ["< 1 km", "1–5 km", "5–25 km", "far", None]
    # without nearby: most recently active first, as before
    assert [e["name"] for e in me.get("/api/queue").json()["results"]] == ["Intro", "Nowhere", "Beach", "Near", "Town", "Far"]
    # paging keeps the nearby order
    assert [e["name"] for e in me.get("/api/queue?nearby=true&offset=2&limit=2").json()["results"]] == ["Town", "Beach"]
    # an expired location drops out of the distance order
    UserLocation.objects.filter(user=people["Near"]).update(expires_at=clock.now() - timedelta(seconds=1))
    names = [e["name"] for e in me.get("/api/queue?nearby=true").json()["results"]]
    assert names == ["Intro", "Town", "Beach", "Far", "Nowhere", "Near"]  # the unlocated keep recency order


@pytest.mark.django_db
def test_nearby_without_my_location_keeps_the_usual_order(auth_api):
    me, a, b = auth_api(name="Me"), auth_api(name="A"), auth_api(name="B")
    _share(a, NEAR)
    for u in (a.user, b.user):
        clock.advance(1)
        _available(u)
    assert [e["name"] for e in me.get("/api/queue?nearby=true").json()["results"]] == ["B", "A"]


@pytest.mark.django_db
def test_nearby_query_count_is_fixed(auth_api, django_assert_num_queries):
    me = auth_api(name="Me")
    _share(me, USC)
    for i in range(3):
        c = auth_api(name=f"U{i}")
        _share(c, NEAR)
        _available(c.user)
    me.get("/api/queue?nearby=true")
    with django_assert_num_queries(6):  # the plain queue's 4 + my location + the ordered ids
        assert len(me.get("/api/queue?nearby=true").json()["results"]) == 3
    for i in range(20):
        c = auth_api(name=f"V{i}")
        _share(c, TOWN)
        _available(c.user)
    with django_assert_num_queries(6):
        assert len(me.get("/api/queue?nearby=true").json()["results"]) == 23


# --- data rights and ops -----------------------------------------------------------------------

@pytest.mark.django_db
def test_account_deletion_clears_posts_and_location(auth_api):
    me = auth_api(name="Me")
    me.put("/api/me/instagram-posts", {"posts": ["https://www.instagram.com/p/Gone12345/"]}, format="json")
    _share(me, USC)
    assert me.delete("/api/me", {"password": ""}, format="json").status_code == 204
    user = User.objects.get(pk=me.user.pk)
    assert user.instagram_posts == [] and not UserLocation.objects.filter(user=user).exists()


@pytest.mark.django_db(transaction=True)
def test_wipe_data_clears_locations_and_everyones_posts(make_user):
    staff = User.objects.create_superuser(email="s@example.com", password="pw-long-enough-1", name="Staff")
    User.objects.filter(pk=staff.pk).update(instagram_posts=["https://www.instagram.com/p/Staff1234/"])
    user = make_user("U")
    location.location_set(user=user, lat=1, lon=2, accuracy_m=0, consent=True)
    location.location_set(user=staff, lat=1, lon=2, accuracy_m=0, consent=True)
    from config import dbtools

    call_command("wipe_data", "--yes-i-mean-it", "--database-name", dbtools.database_name("default"),
                 stdout=open("/dev/null", "w"))
    assert not UserLocation.objects.exists()
    assert User.objects.get(pk=staff.pk).instagram_posts == []


# --- admin ----------------------------------------------------------------------------------------

@pytest.fixture
def moderator(make_user):
    from django.contrib.auth.models import Group

    from moderation import services

    user = make_user(name="Mod", email="mod@example.com", password="mod-pass-1234", is_staff=True,
                     account_type="permanent")
    user.groups.add(Group.objects.filter(name="Moderators").first() or services.moderators_group_ensure())
    return user


@pytest.mark.django_db
def test_moderator_removes_a_post_audited_and_never_sees_coordinates(client, moderator, make_user):
    target = make_user("Target")
    posts = ["https://www.instagram.com/p/Bad123456/", "https://www.instagram.com/p/Fine12345/"]
    User.objects.filter(pk=target.pk).update(instagram_posts=posts)
    location.location_set(user=target, lat=USC[0], lon=USC[1], accuracy_m=0, consent=True)
    client.force_login(moderator)
    page = client.get(f"/admin/accounts/user/{target.pk}/change/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "Live (shared" in html and "Show coordinates" not in html
    for needle in _coordinate_strings(target.pk):
        assert needle not in html
    resp = client.post(f"/admin/accounts/user/{target.pk}/instagram-post/remove/", {"post_url": posts[0]})
    assert resp.status_code == 302
    assert User.objects.get(pk=target.pk).instagram_posts == posts[1:]
    entry = AuditLog.objects.get(action="profile.instagram_post_remove")
    assert entry.actor_id == moderator.pk and entry.before == {"post": posts[0]}
    assert client.post(f"/admin/accounts/user/{target.pk}/location/reveal/").status_code == 403
    assert not AuditLog.objects.filter(action="profile.location_view").exists()


@pytest.mark.django_db
def test_superuser_reveals_the_coarsened_location_explicitly_and_it_is_audited(client, make_user):
    root = User.objects.create_superuser(email="root@example.com", password="root-pass-1234", name="Root")
    target = make_user("Target")
    location.location_set(user=target, lat=USC[0], lon=USC[1], accuracy_m=0, consent=True)
    client.force_login(root)
    html = client.get(f"/admin/accounts/user/{target.pk}/change/").content.decode()
    assert "Show coordinates (audited)" in html
    assert not AuditLog.objects.filter(action="profile.location_view").exists()  # looking at the page isn't revealing
    page = client.post(f"/admin/accounts/user/{target.pk}/location/reveal/", follow=True).content.decode()
    stored = UserLocation.objects.get(user=target)
    assert f"{stored.lat:.6f}" in page
    assert AuditLog.objects.filter(action="profile.location_view", actor=root, target_id=str(target.pk)).count() == 1
