import asyncio
from datetime import timedelta

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from channels.layers import get_channel_layer

import social.services
from django.core.cache import cache

from config import clock
from moderation import selectors, services
from audit.models import AuditLog
from moderation.models import Ban
from moderation.selectors import banned_user_ids, email_permanently_banned, user_ban_active, user_permanently_banned
from config.events import user_group

pytestmark = pytest.mark.django_db


def test_banned_user_gets_403_with_until_and_reason_except_me_and_me_ban(auth_api, moderator):
    client = auth_api()
    assert client.get("/api/auth/sessions").status_code == 200
    ban = services.ban_create(user=client.user, actor=moderator, reason="Harassment", duration=timedelta(hours=24))
    resp = client.get("/api/auth/sessions")
    assert resp.status_code == 403
    err = resp.json()["error"]
    assert err["code"] == "banned" and err["reason"] == "Harassment"
    assert err["until"] == ban.expires_at.isoformat().replace("+00:00", "Z")
    for method, path in [("post", "/api/reports"), ("patch", "/api/me"), ("get", "/api/reports/mine"),
                         ("post", "/api/auth/logout-others")]:
        assert getattr(client, method)(path, {}, format="json").status_code == 403, path
    assert client.get("/api/me").status_code == 200
    resp = client.get("/api/me/ban")
    assert resp.status_code == 200
    assert resp.json()["banned"] is True and resp.json()["permanent"] is False and resp.json()["reason"] == "Harassment"


def test_ban_lifts_itself_at_expiry_via_the_clock(auth_api, moderator):
    client = auth_api()
    services.ban_create(user=client.user, actor=moderator, reason="spam", duration=timedelta(hours=24))
    assert client.get("/api/reports/mine").status_code == 403  # cached now
    clock.advance(24 * 3600 - 5)
    assert client.get("/api/reports/mine").status_code == 403
    clock.advance(10)
    assert client.get("/api/reports/mine").status_code == 200  # from the same cache entry, no job
    assert client.get("/api/me/ban").json() == {"banned": False, "permanent": False, "until": None, "reason": "",
                                               "ban_id": None, "appealable_until": None, "appeal": None}
    assert banned_user_ids(user_ids=[client.user.pk]) == set()


def test_permanent_ban_and_lift(auth_api, moderator):
    client = auth_api()
    ban = services.ban_create(user=client.user, actor=moderator, reason="hate", duration=None)
    clock.advance(20 * 86400)
    resp = client.get("/api/reports/mine")
    assert resp.status_code == 403 and resp.json()["error"]["until"] is None
    assert client.get("/api/me/ban").json()["permanent"] is True
    assert services.ban_lift(ban=ban, actor=moderator, reason="appeal accepted") is True
    assert services.ban_lift(ban=ban, actor=moderator, reason="again") is False
    assert client.get("/api/reports/mine").status_code == 200
    ban.refresh_from_db()
    assert ban.lifted_by == moderator and ban.lift_reason == "appeal accepted" and ban.lifted_at is not None
    actions = list(AuditLog.objects.filter(target_id=str(client.user.pk)).values_list("action", flat=True))
    assert "ban.create" in actions and "ban.lift" in actions


def test_longest_of_overlapping_bans_wins(make_user, moderator):
    user = make_user()
    services.ban_create(user=user, actor=moderator, reason="short", duration=timedelta(hours=1))
    services.ban_create(user=user, actor=moderator, reason="long", duration=timedelta(days=7))
    assert user_ban_active(user_id=user.pk)["reason"] == "long"
    clock.advance(2 * 3600)
    assert user_ban_active(user_id=user.pk)["reason"] == "long"
    assert services.user_bans_lift(user=user, actor=moderator, reason="done") == 1  # the short one expired
    assert user_ban_active(user_id=user.pk) is None


def test_ban_check_costs_no_query_once_the_table_is_read(make_user, moderator, django_assert_num_queries):
    a, b, c = make_user(), make_user(), make_user()
    services.ban_create(user=b, actor=moderator, reason="x", duration=None)
    cache.set(selectors.BAN_VERSION_KEY, "changed-elsewhere", timeout=None)  # another process changed a ban
    with django_assert_num_queries(1):  # the whole table, once
        assert user_ban_active(user_id=b.pk) is not None
    with django_assert_num_queries(0):  # every user after that, asked about before or not
        assert user_ban_active(user_id=b.pk)["reason"] == "x"
        assert user_ban_active(user_id=a.pk) is None
        assert banned_user_ids(user_ids=[a.pk, b.pk, c.pk]) == {b.pk}
        assert banned_user_ids(user_ids=[]) == set()
    selectors._ban_local = (None, {}, 0.0)  # a new process: the shared copy answers, no query
    with django_assert_num_queries(0):
        assert banned_user_ids(user_ids=[a.pk, b.pk, c.pk]) == {b.pk}


def test_the_ban_table_is_kept_no_longer_than_the_setting_and_not_at_all_at_zero(
    make_user, moderator, settings, django_assert_num_queries
):
    """``MODERATION_BAN_CACHE_SECONDS`` bounds a copy's age: a change that could not reach this
    process's copy (processes that share no cache) is seen within it; at 0 nothing is kept."""
    user = make_user()
    assert user_ban_active(user_id=user.pk) is None  # read and kept
    Ban.objects.create(user=user, reason="written behind the cache's back", created_at=clock.now())
    assert user_ban_active(user_id=user.pk) is None  # the copy, not yet stale
    cache.delete(selectors._BAN_TABLE_KEY + selectors._ban_local[0])  # the shared copy expired
    assert user_ban_active(user_id=user.pk) is None  # this process's copy is still young
    clock.advance(settings.MODERATION_BAN_CACHE_SECONDS)
    try:
        assert user_ban_active(user_id=user.pk) is not None
    finally:
        clock.reset()
    settings.MODERATION_BAN_CACHE_SECONDS = 0
    with django_assert_num_queries(2):
        assert user_ban_active(user_id=user.pk) is not None
        assert banned_user_ids(user_ids=[user.pk]) == {user.pk}


def test_a_table_read_while_a_ban_commits_is_not_served_after_it(make_user, moderator, monkeypatch):
    """The race the versions close: a reader loads the table, a ban lands before the reader stores
    its (now stale) copy.  The stale copy may answer that one call, never a later one."""
    user = make_user()
    assert user_ban_active(user_id=user.pk) is None
    cache.set(selectors.BAN_VERSION_KEY, "old", timeout=None)
    real = selectors._ban_table_from_db

    def load_then_a_ban_lands():
        table = real()
        monkeypatch.setattr(selectors, "_ban_table_from_db", real)
        services.ban_create(user=user, actor=moderator, reason="x", duration=None)
        return table

    monkeypatch.setattr(selectors, "_ban_table_from_db", load_then_a_ban_lands)
    assert user_ban_active(user_id=user.pk) is None  # the call that raced
    assert user_ban_active(user_id=user.pk) is not None
    assert banned_user_ids(user_ids=[user.pk]) == {user.pk}


def test_authenticated_hot_path_stays_at_zero_queries(auth_api, django_assert_num_queries):
    client = auth_api()
    assert client.get("/api/auth/sessions").status_code == 200  # warms session + ban cache
    with django_assert_num_queries(1):  # the endpoint's own listing; nothing for auth or the ban check
        assert client.get("/api/auth/sessions").status_code == 200


def test_ban_change_is_seen_at_once_despite_the_cache(make_user, moderator):
    user = make_user()
    assert user_ban_active(user_id=user.pk) is None  # caches "not banned"
    ban = services.ban_create(user=user, actor=moderator, reason="x", duration=timedelta(hours=1))
    assert user_ban_active(user_id=user.pk) is not None
    services.ban_lift(ban=ban, actor=moderator, reason="ok")
    assert user_ban_active(user_id=user.pk) is None


def test_ban_kicks_every_socket_after_commit_and_ends_the_room(make_user, moderator, monkeypatch,
                                                              django_capture_on_commit_callbacks):
    ended = []
    monkeypatch.setattr(social.services, "room_end_for_user", lambda **kw: ended.append(kw))
    user = make_user()
    layer = get_channel_layer()

    async def scenario():
        # One event loop for the listening side (the Redis pub/sub layer is per loop), like a consumer.
        channel = await layer.new_channel()
        await layer.group_add(user_group(user.pk), channel)

        def ban_and_commit():
            with django_capture_on_commit_callbacks(execute=False) as callbacks:
                ban = services.ban_create(user=user, actor=moderator, reason="nudity", duration=timedelta(hours=24))
            assert callbacks, "the kick is sent only after commit"
            for cb in callbacks:
                cb()
            return ban

        ban = await sync_to_async(ban_and_commit)()
        event = await asyncio.wait_for(layer.receive(channel), timeout=5)
        await layer.group_discard(user_group(user.pk), channel)
        return ban, event

    ban, event = async_to_sync(scenario)()
    assert ended == [{"user_id": user.pk, "reason": "ban"}]
    assert event["type"] == "client.kick" and event["code"] == 4403
    assert event["message"] == {
        "type": "banned", "until": ban.expires_at.isoformat().replace("+00:00", "Z"), "reason": "nudity"
    }


def test_moderator_cannot_ban_staff_but_superuser_can(make_user, moderator, superuser):
    staff = make_user(is_staff=True)
    with pytest.raises(services.errors.ProtectedAccount):
        services.ban_create(user=staff, actor=moderator, reason="x", duration=None)
    with pytest.raises(services.errors.ProtectedAccount):
        services.user_sessions_revoke(user=superuser, actor=moderator)
    services.ban_create(user=staff, actor=superuser, reason="x", duration=None)
    assert Ban.objects.filter(user=staff).count() == 1


def test_ban_needs_a_reason_and_positive_duration(make_user, moderator):
    from config.errors import ApplicationError

    user = make_user()
    with pytest.raises(ApplicationError):
        services.ban_create(user=user, actor=moderator, reason=" ", duration=None)
    with pytest.raises(ApplicationError):
        services.ban_create(user=user, actor=moderator, reason="x", duration=timedelta(0))
    assert not Ban.objects.exists() and not AuditLog.objects.filter(action="ban.create").exists()


def test_permanent_ban_blocks_the_email_from_coming_back(auth_api, make_user, moderator, mailoutbox):
    banned = make_user(email="bad@usc.edu", account_type="permanent")
    services.ban_create(user=banned, actor=moderator, reason="x", duration=timedelta(days=7))
    assert not email_permanently_banned(email="bad@usc.edu")  # temporary bans don't
    services.ban_create(user=banned, actor=moderator, reason="x", duration=None)
    assert user_permanently_banned(user_id=banned.pk)
    # even after the account lets go of the address (anonymised / changed)
    type(banned).objects.filter(pk=banned.pk).update(email=None)
    assert email_permanently_banned(email="BAD@usc.edu ")
    guest = auth_api()
    resp = guest.post("/api/auth/make-permanent", {"email": "bad@usc.edu", "password": "a-Long-pass-123"}, format="json")
    assert resp.status_code == 403 and resp.json()["error"]["code"] == "email_banned"
    assert not mailoutbox
    resp = guest.post("/api/auth/make-permanent", {"email": "fine@usc.edu", "password": "a-Long-pass-123"}, format="json")
    assert resp.status_code == 202


def test_revoke_sessions_signs_the_user_out(auth_api, moderator):
    client = auth_api()
    auth_api(user=client.user)
    assert services.user_sessions_revoke(user=client.user, actor=moderator) == 2
    assert client.get("/api/me").status_code == 401
    entry = AuditLog.objects.get(action="moderation.revoke_sessions")
    assert entry.actor == moderator and entry.actor_type == "moderator"
