"""Real Daphne processes: IP bans over HTTP and WebSocket with a spoofed X-Forwarded-For, and a ban
closing the user's sockets on two processes (runs once the realtime consumer exists)."""

from __future__ import annotations

import contextlib
import json
import time
from datetime import timedelta

import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

from moderation import services

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def _ws_status(server, xff=None, origin=None):
    """How the WebSocket connect went: ``("http", status)`` when the handshake was refused,
    ``("closed", close code, code of the error frame before it)`` when the server accepted only to
    close, or None when the socket was accepted and stays open."""
    headers = {"X-Forwarded-For": xff} if xff else {}
    try:
        with connect(
            server.ws_url, additional_headers=headers, origin=origin or server.base_url, open_timeout=5, proxy=None
        ) as ws:
            frames = []
            try:
                while True:
                    frames.append(json.loads(ws.recv(timeout=1)))
            except TimeoutError:
                return None
            except ConnectionClosed as exc:
                return ("closed", exc.rcvd.code if exc.rcvd else None, frames[0]["code"] if frames else None)
    except InvalidStatus as exc:
        return ("http", exc.response.status_code)


IP_BANNED = ("closed", 4403, "ip_banned")


def _eventually(predicate, timeout: float = 5.0) -> bool:
    """Poll ``predicate`` until it holds or ``timeout`` passes (waiting on an outcome, bounded)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


def test_ip_ban_without_trusted_proxy_ignores_x_forwarded_for(daphne_factory, superuser):
    services.ip_ban_create(network="127.0.0.0/8", reason="abuse", actor=superuser)
    server = daphne_factory(env={"TRUSTED_PROXY_COUNT": "0"})  # readiness probe stays open
    for xff in (None, "198.51.100.1", "198.51.100.1, 192.0.2.1"):
        status, body = server.request("GET", "/api/me", headers={"X-Forwarded-For": xff} if xff else {})
        assert status == 403 and body["error"]["code"] == "ip_banned", (xff, body)
        status, _ = server.request("GET", "/admin/login/", headers={"X-Forwarded-For": xff} if xff else {})
        assert status == 403
        assert _ws_status(server, xff) == IP_BANNED
    assert server.request("GET", "/healthz")[0] == 200


def test_ip_ban_behind_one_proxy_uses_the_hop_the_proxy_added(daphne_factory, superuser):
    services.ip_ban_create(network="203.0.113.0/24", reason="abuse", actor=superuser)
    services.ip_ban_create(network="2001:db8::/32", reason="abuse", actor=superuser)
    server = daphne_factory(env={"TRUSTED_PROXY_COUNT": "1"})
    # the proxy appends the address it saw; whatever the client wrote before it is ignored
    for xff in ("203.0.113.9", "8.8.8.8, 203.0.113.9", "198.51.100.1, 8.8.8.8, 2001:db8::7"):
        status, body = server.request("GET", "/api/me", headers={"X-Forwarded-For": xff})
        assert status == 403 and body["error"]["code"] == "ip_banned", xff
        assert _ws_status(server, xff) == IP_BANNED
    # an unbanned client claiming a banned address gets through to authentication
    status, body = server.request("GET", "/api/me", headers={"X-Forwarded-For": "203.0.113.9, 198.51.100.1"})
    assert status == 401, body
    assert _ws_status(server, "203.0.113.9, 198.51.100.1") is None
    # a refused Origin is an HTTP 403 at the handshake: a client tells it apart from an IP ban
    assert _ws_status(server, "203.0.113.9, 198.51.100.1", origin="https://evil.example") == ("http", 403)


def test_ip_ban_lift_is_seen_by_a_running_process(daphne_factory, superuser, settings):
    if not settings.REDIS_URL:
        pytest.skip("cross-process invalidation needs the shared Redis cache (REDIS_URL)")
    ban = services.ip_ban_create(network="203.0.113.0/24", reason="abuse", actor=superuser)
    server = daphne_factory(env={"TRUSTED_PROXY_COUNT": "1"})
    assert server.request("GET", "/api/me", headers={"X-Forwarded-For": "203.0.113.1"})[0] == 403
    # another process's change takes effect within IP_BAN_RECHECK_SECONDS (1 s by default)
    services.ip_ban_lift(ip_ban=ban, actor=superuser)
    assert _eventually(lambda: server.request("GET", "/api/me", headers={"X-Forwarded-For": "203.0.113.1"})[0] == 401)
    services.ip_ban_create(network="203.0.113.1", reason="again", actor=superuser)
    assert _eventually(lambda: server.request("GET", "/api/me", headers={"X-Forwarded-For": "203.0.113.1"})[0] == 403)


def test_ban_is_enforced_at_once_on_another_process(daphne_factory, make_user, make_session, moderator, settings):
    if not settings.REDIS_URL:
        pytest.skip("cross-process invalidation needs the shared Redis cache (REDIS_URL)")
    user = make_user()
    _, token = make_session(user)
    server = daphne_factory()
    assert server.request("GET", "/api/reports/mine", token=token)[0] == 200  # cached "not banned" there
    services.ban_create(user=user, actor=moderator, reason="spam", duration=timedelta(hours=24))
    status, body = server.request("GET", "/api/reports/mine", token=token)
    assert status == 403 and body["error"]["code"] == "banned" and body["error"]["reason"] == "spam"
    assert server.request("GET", "/api/me/ban", token=token)[1]["banned"] is True


def test_ban_closes_the_users_sockets_on_every_process_with_4403(daphne_factory, make_user, make_session, moderator,
                                                                  settings):
    if not settings.REDIS_URL:
        pytest.skip("two processes need the shared Redis channel layer (REDIS_URL)")
    user = make_user()
    _, token = make_session(user)
    servers = [daphne_factory(), daphne_factory()]
    with contextlib.ExitStack() as sockets_open:  # the client closes each socket on the way out
        sockets = []
        for server in servers:
            ws = sockets_open.enter_context(connect(server.ws_url, origin=server.base_url, open_timeout=5, proxy=None))
            ws.send(json.dumps({"type": "auth", "token": token}))
            first = json.loads(ws.recv(timeout=5))
            assert first.get("type") != "error", first
            sockets.append(ws)
        services.ban_create(user=user, actor=moderator, reason="harassment", duration=timedelta(hours=24))
        started = time.monotonic()
        for ws in sockets:
            banned_message = None
            with pytest.raises(ConnectionClosed):
                while True:
                    msg = json.loads(ws.recv(timeout=1.0))
                    if msg.get("type") == "banned":
                        banned_message = msg
            assert ws.close_code == 4403
            assert banned_message is None or banned_message["reason"] == "harassment"
        assert time.monotonic() - started < 2.0  # "within a second" per socket, both sockets in parallel
        # and a banned user cannot authenticate a new socket
        ws = sockets_open.enter_context(
            connect(servers[1].ws_url, origin=servers[1].base_url, open_timeout=5, proxy=None)
        )
        ws.send(json.dumps({"type": "auth", "token": token}))
        with pytest.raises(ConnectionClosed):
            while True:
                ws.recv(timeout=5)
        assert ws.close_code == 4403
