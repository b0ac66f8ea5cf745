"""REST: queue (filters, pagination, fixed query count), blocks, history (cursor), cooldowns."""

import uuid

import pytest

from config import clock
import presence
from social import services


def make_available(*users):
    for u in users:
        presence.socket_touch(user_id=u.pk, socket_id=f"s-{u.pk}", available=True)


@pytest.mark.django_db
def test_queue_filters_everyone_who_must_not_appear(auth_api, make_user, monkeypatch):
    me = auth_api(name="Me")
    free, blocked_by_me, blocks_me, cooled, in_call_a, in_call_b, skipped, banned, offline, online_only = (
        make_user(n) for n in ("Free", "BlockedByMe", "BlocksMe", "Cooled", "InCallA", "InCallB", "Skipped", "Banned", "Offline", "OnlineOnly")
    )
    make_available(me.user, free, blocked_by_me, blocks_me, cooled, in_call_a, in_call_b, skipped, banned)
    presence.socket_touch(user_id=online_only.pk, socket_id="x", available=False)
    services.block_create(user=me.user, other=blocked_by_me)
    services.block_create(user=blocks_me, other=me.user)
    room = services.room_start(inviter_id=me.user.pk, invitee_id=cooled.pk, mode="video", seconds=60)
    services.room_end(room_id=room.pk, reason="user")
    services.room_start(inviter_id=in_call_a.pk, invitee_id=in_call_b.pk, mode="video", seconds=60)
    presence.skip_add(user_id=me.user.pk, other_id=skipped.pk)
    from moderation import services as moderation_services

    moderation_services.ban_create(user=banned, actor=make_user("Mod", is_staff=True), reason="spam", duration=None)

    resp = me.get("/api/queue")
    assert resp.status_code == 200, resp.content
    body = resp.json()
    assert [e["name"] for e in body["results"]] == ["Free"] and body["total"] == 1
    entry = body["results"][0]
    assert entry["id"] == str(free.public_id) and entry["cooldown_until"] is None
    assert set(entry) >= {"id", "name", "gender", "bio", "photo_url", "intro_video_url", "cooldown_until"}

    resp = me.get("/api/queue?include_cooldown=true")
    names = {e["name"]: e for e in resp.json()["results"]}
    assert set(names) == {"Free", "Cooled"} and names["Cooled"]["cooldown_until"]


@pytest.mark.django_db
def test_queue_priority_first_and_pagination(auth_api, make_user, monkeypatch):
    me = auth_api(name="Me")
    others = [make_user(f"U{i}") for i in range(7)]
    for u in others:
        clock.advance(1)  # later refresh = more recently active = earlier in the list
        make_available(u)
    import invites.selectors

    monkeypatch.setattr(invites.selectors, "queue_priority_user_ids", lambda *, user_id: [others[0].pk])
    body = me.get("/api/queue?limit=3").json()
    assert body["total"] == 7
    assert [e["name"] for e in body["results"]] == ["U0", "U6", "U5"]
    body = me.get("/api/queue?limit=3&offset=6").json()
    assert [e["name"] for e in body["results"]] == ["U1"]
    assert me.get("/api/queue?limit=0").status_code == 400
    assert me.get("/api/queue?offset=-1").json()["error"]["code"] == "invalid"


@pytest.mark.django_db
def test_queue_query_count_does_not_grow_with_the_queue(auth_api, make_user, django_assert_num_queries):
    me = auth_api(name="Me")
    other = make_user("Other")
    room = services.room_start(inviter_id=me.user.pk, invitee_id=other.pk, mode="video", seconds=60)
    services.room_end(room_id=room.pk, reason="user")
    services.block_create(user=me.user, other=make_user("B"))
    make_available(*[make_user(f"U{i}") for i in range(5)])
    me.get("/api/queue")  # warm the session cache (and build the queue's derived set: 2 more)
    # session (cached: 0) + my blocks and cooldowns + referral priority (invites) + the page's
    # users checked against the database (in-call, bans, account) + distance buckets (the
    # viewer's and the page's locations, one query); the order, total and page are one Redis script
    with django_assert_num_queries(4):
        assert len(me.get("/api/queue").json()["results"]) == 5
    make_available(*[make_user(f"V{i}") for i in range(240)])
    with django_assert_num_queries(4):  # the same four, whatever the queue length
        body = me.get("/api/queue?limit=100").json()
        assert body["total"] == 245 and len(body["results"]) == 100


@pytest.mark.django_db
def test_queue_needs_auth(api):
    assert api.get("/api/queue").status_code == 401


@pytest.mark.django_db
def test_blocks_are_durable_idempotent_and_checked(auth_api, make_user):
    me = auth_api()
    other = make_user("Other")
    url = f"/api/blocks/{other.public_id}"
    assert me.post(url).status_code == 201
    assert me.post(url).status_code == 200
    assert [b["user"]["name"] for b in me.get("/api/blocks").json()["results"]] == ["Other"]
    assert me.post(f"/api/blocks/{me.user.public_id}").json()["error"]["code"] == "invalid_target"
    assert me.post(f"/api/blocks/{uuid.uuid4()}").status_code == 404
    assert me.post("/api/blocks/not-a-uuid").status_code == 404
    assert me.delete(url).status_code == 204
    assert me.delete(url).status_code == 204
    assert me.get("/api/blocks").json()["results"] == []


def _finished_call(a, b, seconds):
    room = services.room_start(inviter_id=a.pk, invitee_id=b.pk, mode="video", seconds=300)
    clock.advance(seconds)
    services.room_end(room_id=room.pk, reason="user", actor_id=a.pk)
    return room


@pytest.mark.django_db
def test_history_cursor_pagination_newest_first(auth_api, make_user, django_assert_num_queries):
    me = auth_api(name="Me")
    partners = [make_user(f"P{i}") for i in range(5)]
    for i, p in enumerate(partners):
        _finished_call(me.user, p, 40 + i)
    body = me.get("/api/history?page_size=2").json()
    assert [h["partner"]["name"] for h in body["results"]] == ["P4", "P3"]
    assert body["results"][0]["duration_seconds"] == 44 and body["results"][0]["end_reason"] == "user"
    seen = [h["partner"]["name"] for h in body["results"]]
    nxt = body["next"]
    while nxt:
        with django_assert_num_queries(1):  # session cached; one query per page, partner joined
            body = me.get(nxt).json()
        seen += [h["partner"]["name"] for h in body["results"]]
        nxt = body["next"]
    assert seen == ["P4", "P3", "P2", "P1", "P0"]
    # the partner sees the same call from their side
    other = auth_api(user=partners[0])
    assert [h["partner"]["name"] for h in other.get("/api/history").json()["results"]] == ["Me"]
    bad = me.get("/api/history?cursor=garbage")  # bad input, documented: 400 invalid on the field
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "invalid"
    assert list(bad.json()["error"]["fields"]) == ["cursor"]


@pytest.mark.django_db
def test_cooldowns_listed_both_ways_and_expire(auth_api, make_user, settings):
    me = auth_api(name="Me")
    other = make_user("Other")
    _finished_call(other, me.user, 10)
    body = me.get("/api/cooldowns").json()
    assert [c["user"]["name"] for c in body["results"]] == ["Other"]
    assert body["results"][0]["remaining_seconds"] == pytest.approx(settings.CALL_COOLDOWN_SECONDS, abs=2)
    assert [c["user"]["name"] for c in auth_api(user=other).get("/api/cooldowns").json()["results"]] == ["Me"]
    clock.advance(settings.CALL_COOLDOWN_SECONDS + 1)
    assert me.get("/api/cooldowns").json()["results"] == []


@pytest.mark.django_db
@pytest.mark.parametrize(
    "method,url",
    [
        ("get", "/api/queue"),
        ("get", "/api/history"),
        ("get", "/api/cooldowns"),
        ("get", "/api/blocks"),
        ("post", f"/api/blocks/{uuid.uuid4()}"),
        ("delete", f"/api/blocks/{uuid.uuid4()}"),
    ],
)
def test_every_endpoint_needs_a_session(api, method, url):
    resp = getattr(api, method)(url)
    assert resp.status_code == 401
    assert resp.json()["error"]["code"] == "not_authenticated"
