"""Sign up → SIGKILL the server → start a new one → still signed in (the seeds' first promise)."""

import pytest

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def test_session_survives_sigkill_and_revocation_holds(daphne_factory):
    first = daphne_factory()
    # the process says which storage it uses, once, at startup (never a password)
    assert "storage: database=" in first.log_tail(200)
    status, body = first.request("POST", "/api/auth/guest", {"name": "Restarty", "gender": "male"})
    assert status == 201, body
    token = body["token"]
    status, body2 = first.request("POST", "/api/auth/guest", {"name": "Revoked", "gender": "female"})
    revoked = body2["token"]
    assert first.request("GET", "/api/me", token=token)[0] == 200
    assert first.request("POST", "/api/auth/logout", token=revoked)[0] == 204

    first.kill()  # SIGKILL: no shutdown hooks run

    second = daphne_factory()
    status, me = second.request("GET", "/api/me", token=token)
    assert status == 200, me
    assert me["name"] == "Restarty"
    assert second.request("GET", "/api/me", token=revoked)[0] == 401


def test_revocation_on_one_process_is_seen_by_another(daphne_factory, settings):
    if not settings.REDIS_URL:
        pytest.skip("two processes need the shared Redis cache (REDIS_URL)")
    a = daphne_factory()
    b = daphne_factory()
    status, body = a.request("POST", "/api/auth/guest", {"name": "Two", "gender": "male"})
    token = body["token"]
    # warm both processes' view of the session, then revoke on A
    assert a.request("GET", "/api/me", token=token)[0] == 200
    assert b.request("GET", "/api/me", token=token)[0] == 200
    assert a.request("POST", "/api/auth/logout", token=token)[0] == 204
    assert b.request("GET", "/api/me", token=token)[0] == 401
