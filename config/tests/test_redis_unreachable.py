"""Redis unreachable, in-process: the cache points at a loopback port nothing listens on (a real
django-redis client getting real "connection refused" errors; nothing is mocked).  Copies fall back
to the database, what needs Redis answers 503 ``unavailable``, each rate limit does what it chose.
The same with a real redis-server killed and restarted under a Daphne process:
``test_redis_down.py``."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.conf import settings
from django.test import override_settings

from config import ratelimit
from config.errors import RateLimited
from config.resilience import RedisUnavailable, redis_state
from tests.servers import free_port


@pytest.fixture
def redis_unreachable(monkeypatch):
    import presence

    # presence builds its store (a Redis client) once per process: build a throwaway one for the
    # unreachable server, and give the next test the process's own back (monkeypatch restores it)
    monkeypatch.setattr(presence, "_store", None)
    url = f"redis://127.0.0.1:{free_port()}/0"
    caches = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": url,
            "KEY_PREFIX": "unreachable",
            "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 0.5, "SOCKET_TIMEOUT": 0.5},
        }
    }
    near = {**settings.NEAR_CACHE, "enabled": False}  # the tracking thread is process-wide
    with override_settings(CACHES=caches, REDIS_URL=url, NEAR_CACHE=near):
        from moderation.selectors import ip_ban_local_forget

        ip_ban_local_forget()
        yield url
        ip_ban_local_forget()
    redis_state.recovered()  # the next test starts with Redis trusted again


def test_rate_limits_choose_closed_local_or_open(redis_unreachable):
    with pytest.raises(RedisUnavailable) as caught:
        ratelimit.check("t:closed", limit=5, window=60)  # the default
    assert caught.value.status == 503 and caught.value.code == "unavailable"
    assert caught.value.extra == {"retry_after": 5}

    for _ in range(3):
        ratelimit.check("t:local", limit=3, window=60, on_outage=ratelimit.LOCAL)
    with pytest.raises(RateLimited):
        ratelimit.check("t:local", limit=3, window=60, on_outage=ratelimit.LOCAL)

    for _ in range(10):
        ratelimit.check("t:open", limit=3, window=60, on_outage=ratelimit.OPEN)


@pytest.mark.django_db
def test_bearer_sessions_and_ban_checks_read_the_database(redis_unreachable, auth_api, make_user):
    from moderation import services

    client = auth_api()
    resp = client.get("/api/auth/sessions")
    assert resp.status_code == 200, resp.content
    resp = client.get("/api/me")
    assert resp.status_code == 200, resp.content

    # A ban made before the outage (its cache entries could not be dropped now) is read from the
    # database: the banned user is refused.
    banned = auth_api()
    with override_settings(CACHES={"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}):
        services.ban_create(user=banned.user, actor=make_user(), reason="spam", duration=timedelta(hours=1))
    resp = banned.get("/api/auth/sessions")
    assert resp.status_code == 403 and resp.json()["error"]["code"] == "banned"


@pytest.mark.django_db
def test_ip_bans_are_read_from_the_database(redis_unreachable, make_user):
    from moderation import selectors, services

    with override_settings(CACHES={"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}):
        services.ip_ban_create(network="203.0.113.0/24", reason="abuse", actor=make_user())
    selectors.ip_ban_local_forget()
    assert selectors.ip_bans_exist()
    assert selectors.ip_ban_match(ip="203.0.113.9") is not None
    assert selectors.ip_ban_match(ip="198.51.100.1") is None


@pytest.mark.django_db
def test_what_needs_redis_answers_503_with_retry_after(redis_unreachable, auth_api, api):
    client = auth_api()
    resp = client.get("/api/queue")  # presence
    assert resp.status_code == 503, resp.content
    assert resp["Retry-After"] == "5"
    assert resp.json()["error"]["code"] == "unavailable"
    assert set(resp.json()["error"]) >= {"code", "message", "fields"}

    resp = api.post("/api/auth/login", {"email": "a@example.edu", "password": "whatever-1"}, format="json")
    assert resp.status_code == 503 and resp["Retry-After"] == "5"  # the login limit fails closed


@pytest.mark.django_db
def test_guest_signup_keeps_working(redis_unreachable, api):
    resp = api.post("/api/auth/guest", {"name": "Ann", "gender": "unspecified"}, format="json")
    assert resp.status_code == 201, resp.content
    token = resp.json()["token"]
    resp = api.get("/api/me", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert resp.status_code == 200, resp.content


@pytest.mark.django_db
def test_revocation_fails_closed_and_changes_nothing(redis_unreachable, auth_api):
    """A cached copy of the session could outlive the outage: logging out needs Redis."""
    from accounts.models import Session

    client = auth_api()
    resp = client.post("/api/auth/logout")
    assert resp.status_code == 503 and resp.json()["error"]["code"] == "unavailable"
    assert Session.objects.get(pk=client.api_session.pk).revoked_at is None  # rolled back


@pytest.mark.django_db
def test_readyz_says_redis_is_degraded_and_stays_in_service(redis_unreachable, client):
    resp = client.get("/readyz")
    assert resp.status_code == 200, resp.content
    body = resp.json()
    assert body["status"] == "degraded"
    assert body["checks"]["database"] == "ok" and body["checks"]["cache"].startswith("ConnectionError")
    assert [d["component"] for d in body["degraded"]] == ["redis"]


def test_a_hung_redis_costs_one_timeout_not_one_per_read():
    """A Redis host that accepts connections and never answers (a listening socket nobody serves):
    the first read of a copy waits for the socket timeout; for REDIS_SKIP_COPIES_SECONDS after it,
    reads don't try Redis at all; then one is tried again."""
    import socket
    import time

    from config import cacheaside, clock
    from config.resilience import REDIS_SKIP_COPIES_SECONDS

    with socket.socket() as hung:
        hung.bind(("127.0.0.1", 0))
        hung.listen(16)
        url = f"redis://127.0.0.1:{hung.getsockname()[1]}/0"
        caches = {
            "default": {
                "BACKEND": "django_redis.cache.RedisCache",
                "LOCATION": url,
                "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 0.3, "SOCKET_TIMEOUT": 0.3},
            }
        }
        try:
            with override_settings(CACHES=caches, REDIS_URL=url):
                started = time.monotonic()
                assert cacheaside.get("k") is None
                assert time.monotonic() - started >= 0.3  # waited for the socket timeout once
                started = time.monotonic()
                for _ in range(20):
                    assert cacheaside.get("k") is None
                    cacheaside.set("k", 1, timeout=5)
                assert time.monotonic() - started < 0.3  # and not again within the window
                clock.advance(REDIS_SKIP_COPIES_SECONDS + 0.1)
                started = time.monotonic()
                assert cacheaside.get("k") is None
                assert time.monotonic() - started >= 0.3  # tried again after it
        finally:
            redis_state.recovered()


def test_channels_redis_outage_tracebacks_are_dropped_other_records_kept(caplog):
    """channels-redis logs "Unexpected exception in receive task" with a traceback every second
    while Redis is down; the outage is logged once by config.redis instead."""
    import logging

    import redis

    logger = logging.getLogger("channels_redis.pubsub")
    try:
        with caplog.at_level(logging.INFO):
            for _ in range(3):
                try:
                    raise redis.exceptions.ConnectionError("Error 111 connecting to 127.0.0.1:1.")
                except redis.exceptions.ConnectionError:
                    logger.exception("Unexpected exception in receive task")
            try:
                raise ValueError("a real bug")
            except ValueError:
                logger.exception("Unexpected exception in receive task")
            logger.warning("plain warning")
    finally:
        redis_state.recovered()
    by_logger = [(r.name, r.getMessage()) for r in caplog.records]
    assert [m for n, m in by_logger if n == "channels_redis.pubsub"] == [
        "Unexpected exception in receive task", "plain warning",
    ]
    assert sum(1 for n, m in by_logger if n == "config.redis" and m.startswith("redis unavailable")) == 1
