"""Every kind of revocation closes the sockets it revokes on two real Daphne processes within 1 s
(close 4401), and leaves the user's other sessions' sockets working.  Needs the shared Redis
channel layer (REDIS_URL); every wait is on the close itself, with a deadline."""

from __future__ import annotations

import time

import pytest
from django.test import Client

from accounts.models import User
from backoffice.tests.test_admin import change_form_data
from moderation import services as moderation
from tests.servers import DaphneServer
from tests.wsclient import WsClient

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

WITHIN = 1.0  # seconds from the revoking call's return to every close


@pytest.fixture(scope="module")
def servers(django_db_setup, django_db_blocker):
    from django.conf import settings

    if not settings.REDIS_URL:
        pytest.skip("two processes need the shared Redis channel layer (REDIS_URL)")
    with django_db_blocker.unblock():
        started = [DaphneServer(log_name="revocation").start(), DaphneServer(log_name="revocation").start()]
    yield started
    for server in started:
        server.kill()


@pytest.fixture
def account(make_user, make_session):
    """A permanent user with two sessions, each with a socket on each process."""

    def _open(servers):
        user = make_user(name="Rev", email="rev@example.com", password="old-pass-1234", account_type="permanent")
        revoked, kept = make_session(user), make_session(user)
        sockets = {}
        for label, (_, token) in (("revoked", revoked), ("kept", kept)):
            sockets[label] = [WsClient(server, token) for server in servers]
            for ws in sockets[label]:
                ws.auth()
        return user, revoked, kept, sockets

    return _open


def _root() -> User:
    return User.objects.create_superuser(email="root@example.com", password="root-pass-1234", name="Root")


def logout(servers, user, revoked, kept):
    return servers[0].request("POST", "/api/auth/logout", token=revoked[1])


def revoke_one_session(servers, user, revoked, kept):
    return servers[1].request("DELETE", f"/api/auth/sessions/{revoked[0].pk}", token=kept[1])


def logout_others(servers, user, revoked, kept):
    return servers[0].request("POST", "/api/auth/logout-others", token=kept[1])


def password_change(servers, user, revoked, kept):
    body = {"current_password": "old-pass-1234", "new_password": "A-new-pass-5678"}
    return servers[1].request("POST", "/api/auth/password", body, token=kept[1])


def account_delete(servers, user, revoked, kept):
    return servers[0].request("DELETE", "/api/me", {"password": "old-pass-1234"}, token=revoked[1])


def moderator_revokes_all(servers, user, revoked, kept):
    moderation.user_sessions_revoke(user=user, actor=_root())
    return 200, None


def admin_deactivates(servers, user, revoked, kept):
    client = Client()
    client.force_login(_root(), backend="accounts.backends.EmailBackend")
    data = change_form_data(client, user)
    del data["is_active"]
    resp = client.post(f"/admin/accounts/user/{user.pk}/change/", data)
    return resp.status_code, None


# kind → which sockets it must close (the others must keep working)
KINDS = [
    (logout, ("revoked",)),
    (revoke_one_session, ("revoked",)),
    (logout_others, ("revoked",)),
    (password_change, ("revoked",)),
    (account_delete, ("revoked", "kept")),
    (moderator_revokes_all, ("revoked", "kept")),
    (admin_deactivates, ("revoked", "kept")),
]


@pytest.mark.parametrize("revoke, closed", KINDS, ids=[k.__name__ for k, _ in KINDS])
def test_revocation_closes_its_sockets_on_both_processes_within_a_second(servers, account, revoke, closed):
    user, revoked, kept, sockets = account(servers)
    try:
        status, body = revoke(servers, user, revoked, kept)
        done = time.monotonic()
        assert status in (200, 204, 302), body
        for label in closed:
            for ws in sockets[label]:
                code = ws.expect_closed(timeout=max(0.01, done + WITHIN - time.monotonic()))
                assert code == 4401, (label, ws.server.port, code)
        assert time.monotonic() - done <= WITHIN
        for label in set(sockets) - set(closed):
            for ws in sockets[label]:  # still served on both processes
                ws.send({"type": "heartbeat"})
                assert ws.expect("heartbeat.ack", timeout=5)
    finally:
        for group in sockets.values():
            for ws in group:
                ws.close()
