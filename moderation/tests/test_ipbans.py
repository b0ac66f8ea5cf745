import json
from datetime import timedelta

import pytest
from asgiref.sync import async_to_sync
from channels.testing import ApplicationCommunicator

from config import clock
from config.errors import ApplicationError
from moderation import services
from moderation.middleware import IpBanMiddleware
from audit.models import AuditLog
from moderation.models import IpBan
from moderation.selectors import ip_ban_list, ip_ban_match

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "network, inside, outside",
    [
        ("203.0.113.0/24", ["203.0.113.1", "203.0.113.254", "::ffff:203.0.113.9"], ["203.0.114.1", "10.0.0.1"]),
        ("198.51.100.7", ["198.51.100.7"], ["198.51.100.8"]),
        ("2001:db8:abcd::/48", ["2001:db8:abcd::1", "2001:db8:abcd:ffff::5"], ["2001:db8:abce::1", "::1"]),
        ("2001:db8::1/128", ["2001:db8::1"], ["2001:db8::2"]),
    ],
)
def test_cidr_matching_v4_and_v6(moderator, network, inside, outside):
    services.ip_ban_create(network=network, reason="abuse", actor=moderator)
    for ip in inside:
        assert ip_ban_match(ip=ip) is not None, ip
    for ip in outside:
        assert ip_ban_match(ip=ip) is None, ip
    assert ip_ban_match(ip=None) is None and ip_ban_match(ip="garbage") is None


def test_networks_are_validated_and_normalised(moderator):
    assert services.ip_ban_create(network=" 10.1.2.3/8 ", reason="x", actor=moderator).network == "10.0.0.0/8"
    for bad in ["", "10.0.0.0/33", "nonsense", "0.0.0.0/0", "::/0"]:
        with pytest.raises(ApplicationError) as exc:
            services.ip_ban_create(network=bad, reason="x", actor=moderator)
        assert exc.value.code == "invalid_network"
    with pytest.raises(ApplicationError):
        services.ip_ban_create(network="10.0.0.1", reason="", actor=moderator)


def test_expiry_and_lift_and_cache_invalidation(moderator, django_assert_num_queries):
    assert ip_ban_match(ip="192.0.2.1") is None  # caches the (empty) list
    ban = services.ip_ban_create(network="192.0.2.0/24", reason="x", actor=moderator,
                                 expires_at=clock.now() + timedelta(hours=1))
    assert ip_ban_match(ip="192.0.2.1") is not None  # invalidated on change
    with django_assert_num_queries(0):
        assert ip_ban_match(ip="192.0.2.1") is not None
    clock.advance(3601)
    assert ip_ban_match(ip="192.0.2.1") is None  # expired, even from the cache
    clock.reset()
    assert ip_ban_match(ip="192.0.2.1") is not None
    assert services.ip_ban_lift(ip_ban=ban, actor=moderator) is True
    assert ip_ban_match(ip="192.0.2.1") is None
    assert list(AuditLog.objects.filter(target_type="moderation.ipban").values_list("action", flat=True)) == [
        "ipban.lift", "ipban.create"
    ]


def test_ban_this_users_ips_takes_their_session_addresses(make_user, make_session, moderator):
    user = make_user()
    make_session(user, ip="198.51.100.20")
    make_session(user, ip="198.51.100.20")
    make_session(user, ip="2001:db8::42")
    make_session(user, ip="203.0.113.9")
    services.ip_ban_create(network="203.0.113.0/24", reason="already", actor=moderator)
    created = services.user_ips_ban(user=user, actor=moderator, reason="ban evasion")
    assert sorted(b.network for b in created) == ["198.51.100.20/32", "2001:db8::42/128"]
    assert all(b.source_user == user for b in created)
    assert ip_ban_match(ip="198.51.100.20") and ip_ban_match(ip="2001:db8::42")
    assert AuditLog.objects.get(action="user.ban_ips").after == {"networks": ["198.51.100.20/32", "2001:db8::42/128"]}


# --- the ASGI middleware (HTTP and WebSocket), in process --------------------------------------
class _Inner:
    def __init__(self):
        self.calls = 0

    async def __call__(self, scope, receive, send):
        self.calls += 1
        if scope["type"] == "http":
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b"ok"})
        else:
            await receive()
            await send({"type": "websocket.accept"})


def _http(app, client_ip, xff=None, path="/api/me"):
    headers = [(b"x-forwarded-for", xff.encode())] if xff else []
    scope = {"type": "http", "method": "GET", "path": path, "headers": headers, "client": (client_ip, 4444)}

    async def run():
        comm = ApplicationCommunicator(app, scope)
        await comm.send_input({"type": "http.request", "body": b""})
        start = await comm.receive_output(5)
        body = await comm.receive_output(5)
        return start["status"], body["body"]

    return async_to_sync(run)()


def _ws(app, client_ip, xff=None):
    headers = [(b"x-forwarded-for", xff.encode())] if xff else []
    scope = {"type": "websocket", "path": "/ws/", "headers": headers, "client": (client_ip, 4444), "subprotocols": []}

    async def run():
        """Everything the app sends, up to its close (or until it goes quiet)."""
        comm = ApplicationCommunicator(app, scope)
        await comm.send_input({"type": "websocket.connect"})
        out = [await comm.receive_output(5)]
        while out[-1]["type"] != "websocket.close" and not await comm.receive_nothing(0.3):
            out.append(await comm.receive_output(5))
        return out

    return async_to_sync(run)()


def test_middleware_refuses_banned_http_and_ws_whatever_x_forwarded_for_says(moderator, settings):
    settings.TRUSTED_PROXY_COUNT = 0
    services.ip_ban_create(network="203.0.113.0/24", reason="abuse", actor=moderator)
    ip_ban_list()  # warm the shared cache here: the middleware's worker thread reads it, not this test's transaction
    inner = _Inner()
    app = IpBanMiddleware(inner)
    status, body = _http(app, "203.0.113.5", xff="8.8.8.8")
    assert status == 403 and b'"code": "ip_banned"' in body
    # the handshake is accepted only to say why, then closed with 4403: a client can tell an IP ban
    # from a refused Origin (an HTTP 403 at the handshake) — docs/REALTIME.md
    accept, frame, close = _ws(app, "203.0.113.5", xff="8.8.8.8")
    assert accept == {"type": "websocket.accept"}
    assert json.loads(frame["text"]) == {
        "type": "error", "code": "ip_banned", "message": "Connections from your network are blocked.", "until": None,
    }
    assert close == {"type": "websocket.close", "code": 4403, "reason": "ip banned"}
    assert inner.calls == 0
    # an innocent client can't get itself banned by claiming a banned address either
    assert _http(app, "192.0.2.1", xff="203.0.113.5")[0] == 200
    assert _ws(app, "192.0.2.1", xff="203.0.113.5") == [{"type": "websocket.accept"}]
    # health probes stay open
    assert _http(app, "203.0.113.5", path="/readyz")[0] == 200


def test_middleware_behind_one_trusted_proxy_uses_the_address_the_proxy_saw(moderator, settings):
    settings.TRUSTED_PROXY_COUNT = 1
    services.ip_ban_create(network="2001:db8::/32", reason="abuse", actor=moderator)
    ip_ban_list()
    app = IpBanMiddleware(_Inner())
    # the proxy (REMOTE_ADDR 10.0.0.2) appended the real client; the client prepended a lie
    assert _http(app, "10.0.0.2", xff="192.0.2.77, 2001:db8::5")[0] == 403
    assert _ws(app, "10.0.0.2", xff="192.0.2.77, 2001:db8::5")[2]["code"] == 4403
    assert _http(app, "10.0.0.2", xff="2001:db8::5, 192.0.2.77")[0] == 200


def test_ip_ban_models_are_never_deleted_by_services(moderator):
    ban = services.ip_ban_create(network="10.9.0.0/16", reason="x", actor=moderator)
    services.ip_ban_lift(ip_ban=ban, actor=moderator)
    assert IpBan.objects.filter(pk=ban.pk, lifted_by=moderator).exists()


def test_overlapping_networks_expired_host_inside_active_range(moderator):
    services.ip_ban_create(network="192.0.2.7", reason="short", actor=moderator, expires_at=clock.now() + timedelta(minutes=5))
    services.ip_ban_create(network="192.0.2.0/24", reason="long", actor=moderator, expires_at=clock.now() + timedelta(days=1))
    services.ip_ban_create(network="192.0.0.0/16", reason="wide", actor=moderator, expires_at=clock.now() + timedelta(hours=1))
    assert ip_ban_match(ip="192.0.2.7")["network"] in {"192.0.2.7/32", "192.0.2.0/24", "192.0.0.0/16"}
    clock.advance(2 * 3600)
    assert ip_ban_match(ip="192.0.2.7")["network"] == "192.0.2.0/24"
    assert ip_ban_match(ip="192.0.9.9") is None  # the /16 expired
    assert len(ip_ban_list()) == 3  # the list is refreshed on change, expiry is applied on read


def test_no_ban_means_no_address_is_parsed(moderator):
    """The edge check runs on every request: with no IP ban active it must not work out addresses."""
    from config import net
    from moderation.middleware import _check

    net._parse.cache_clear()  # the one address parser (client IPs and ban matching alike)
    scope = {"type": "http", "path": "/api/me", "client": ("198.51.100.20", 1), "headers": []}
    assert _check(scope) is None and ip_ban_match(ip="198.51.100.20") is None
    assert net._parse.cache_info().currsize == 0
    services.ip_ban_create(network="198.51.100.20", reason="abuse", actor=moderator)
    assert _check(scope) is not None
    assert net._parse.cache_info().currsize == 1  # parsed once, for the edge and the match both
