"""Race-safety of redemption: 50 real concurrent sign-ups on a 10-use code → exactly 10 accounts.

Real concurrency: every racer is a thread with its own database connection (Django connections
are per thread), released together by a barrier, each going through the full HTTP stack
(APIClient → view → service → conditional UPDATE).  The test database is committed to
(``transaction=True``) so racers see each other's work as PostgreSQL (or SQLite) really would.
A second test does the same over real sockets against two Daphne processes.
"""

from __future__ import annotations

import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection
from rest_framework.test import APIClient

from accounts.models import User
from invites.models import InviteCode, InviteRedemption

RACERS = 50
USES = 10


@pytest.mark.django_db(transaction=True)
def test_50_concurrent_signups_on_10_use_code_exactly_10_succeed(settings, make_code):
    settings.OPEN_SIGNUP = False
    code = make_code(max_uses=USES).code
    barrier = threading.Barrier(RACERS)

    def racer(i: int) -> tuple[int, str]:
        try:
            client = APIClient()
            barrier.wait(timeout=30)
            resp = client.post(
                "/api/auth/guest", {"name": f"racer{i}", "invite_code": code}, format="json",
                REMOTE_ADDR=f"10.9.{i // 250}.{i % 250 + 1}",
            )
            body = resp.json()
            return resp.status_code, body["error"]["code"] if resp.status_code >= 400 else "ok"
        finally:
            connection.close()  # this thread's own connection

    with ThreadPoolExecutor(max_workers=RACERS) as pool:
        results = list(pool.map(racer, range(RACERS)))

    outcomes = Counter(results)
    assert outcomes[(201, "ok")] == USES, outcomes
    assert outcomes[(409, "invite_used_up")] == RACERS - USES, outcomes
    invite = InviteCode.objects.get(code=code)
    assert invite.uses == USES
    assert InviteRedemption.objects.filter(code=invite).count() == USES
    assert User.objects.filter(paid_status="invited").count() == USES
    assert User.objects.count() == USES


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_50_racers_over_http_on_two_daphne_processes(daphne_factory, make_code):
    code = make_code(max_uses=USES).code
    # Each racer claims its own client address through a trusted proxy header, so the
    # per-network sign-up limit doesn't mask the result.
    env = {"OPEN_SIGNUP": "0", "TRUSTED_PROXY_COUNT": "1", "DB_POOL_MAX_SIZE": "20"}
    servers = [daphne_factory(env=env), daphne_factory(env=env)]
    barrier = threading.Barrier(RACERS)

    def racer(i: int) -> tuple[int, str]:
        barrier.wait(timeout=30)
        status, body = servers[i % 2].request(
            "POST", "/api/auth/guest", {"name": f"racer{i}", "invite_code": code},
            headers={"X-Forwarded-For": f"10.8.{i // 250}.{i % 250 + 1}"},
        )
        return status, body["error"]["code"] if status >= 400 else "ok"

    with ThreadPoolExecutor(max_workers=RACERS) as pool:
        outcomes = Counter(pool.map(racer, range(RACERS)))
    assert outcomes[(201, "ok")] == USES, outcomes
    assert outcomes[(409, "invite_used_up")] == RACERS - USES, outcomes
    assert InviteCode.objects.get(code=code).uses == USES
    assert InviteRedemption.objects.count() == USES


@pytest.mark.django_db(transaction=True)
def test_concurrent_finalize_of_one_card_binds_exactly_one_account(make_user, make_session):
    from accounts.models import User
    from invites.models import UscCardRegistration
    from invites.services import usc_scan

    token, _ = usc_scan(raw="1234567890", ip="10.10.0.1")
    clients = []
    for i in range(10):
        user = make_user(name=f"card{i}")
        _, bearer = make_session(user)
        clients.append(bearer)
    barrier = threading.Barrier(len(clients))

    def racer(bearer: str) -> int:
        try:
            client = APIClient()
            client.credentials(HTTP_AUTHORIZATION=f"Bearer {bearer}")
            barrier.wait(timeout=30)
            return client.post("/api/usc/finalize-registration", {"scan_token": token}, format="json").status_code
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=len(clients)) as pool:
        statuses = Counter(pool.map(racer, clients))
    assert statuses == Counter({200: 1, 409: 9}), statuses
    assert UscCardRegistration.objects.count() == 1
    assert User.objects.count() == 10
