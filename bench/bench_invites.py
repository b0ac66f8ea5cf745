"""Invites paths, in process: sign-up with a code, 50 racers on a 10-use code, queue priority,
card scan.  Without DATABASE_URL it uses a throwaway SQLite under a temporary VAR_DIR; with one,
point it at a scratch database (it is migrated and written to):

    .venv/bin/python bench/bench_invites.py
    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/scratch REDIS_URL=redis://127.0.0.1:6379/9 \
        .venv/bin/python bench/bench_invites.py
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from concurrent.futures import ThreadPoolExecutor


def _ms(samples: list[float]) -> str:
    samples = sorted(samples)
    p95 = samples[int(len(samples) * 0.95) - 1]
    return f"mean {statistics.mean(samples) * 1000:.2f} ms, p95 {p95 * 1000:.2f} ms (n={len(samples)})"


def main() -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ.setdefault("DJANGO_ENV", "test")
    os.environ.setdefault("LOG_LEVEL", "ERROR")
    if not os.environ.get("DATABASE_URL"):
        os.environ["VAR_DIR"] = tempfile.mkdtemp(prefix="bench-invites-")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from django.conf import settings
    from django.db import connection
    from rest_framework.test import APIClient

    from accounts.models import User
    from config import clock
    from invites import selectors, services
    from invites.models import InviteCode, ReferralLink, ReferralNotification

    settings.OPEN_SIGNUP = False
    settings.ALLOWED_HOSTS = ["*"]
    run = f"b{int(time.time())}"
    admin = User.objects.create_user(name=f"{run}-admin")
    print(f"database: {connection.vendor}")

    # 1. sign-up with an invite code, sequential
    code = services.invite_batch_create(actor=admin, count=1, max_uses=None)[0].code
    client = APIClient()
    times = []
    for i in range(200):
        t = time.perf_counter()
        resp = client.post("/api/auth/guest", {"name": f"{run}-{i}", "invite_code": code}, format="json",
                           REMOTE_ADDR=f"10.{i // 250}.{i % 250}.9")
        times.append(time.perf_counter() - t)
        assert resp.status_code == 201, resp.content
    print("sign-up with invite code (HTTP stack, sequential):", _ms(times))

    # 2. 50 racers on a 10-use code
    code = services.invite_batch_create(actor=admin, count=1, max_uses=10)[0].code
    barrier = threading.Barrier(50)

    def racer(i):
        try:
            c = APIClient()
            barrier.wait()
            return c.post("/api/auth/guest", {"name": f"{run}-r{i}", "invite_code": code}, format="json",
                          REMOTE_ADDR=f"10.200.{i}.1").status_code
        finally:
            connection.close()

    t = time.perf_counter()
    with ThreadPoolExecutor(50) as pool:
        statuses = list(pool.map(racer, range(50)))
    print(f"50 racers on a 10-use code: {statuses.count(201)} succeeded, {statuses.count(409)} refused, "
          f"wall {(time.perf_counter() - t) * 1000:.0f} ms")

    # 3. queue priority lookup with many notifications in the table
    users = list(User.objects.filter(name__startswith=f"{run}-")[:200])
    link = ReferralLink.objects.create(token=f"{run}x", target=admin, created_by=users[0], created_at=clock.now())
    ReferralNotification.objects.bulk_create(
        [ReferralNotification(recipient=admin, link=link, introducer=users[0], referred_user=u, created_at=clock.now())
         for u in users]
    )
    times = []
    for u in users:
        t = time.perf_counter()
        selectors.queue_priority_user_ids(user_id=u.pk)
        times.append(time.perf_counter() - t)
    print(f"queue_priority_user_ids ({ReferralNotification.objects.count()} notifications in table):", _ms(times))

    # 4. USC scan (attempt recorded, lockout counted) — distinct ips
    times = []
    for i in range(200):
        t = time.perf_counter()
        services.usc_scan(raw=f"{7000000000 + i}", ip=f"10.250.{i // 250}.{i % 250}", device_id=f"d{i}")
        times.append(time.perf_counter() - t)
    print("usc_scan service (1 lockout query + lookup + insert):", _ms(times))

    InviteCode.objects.filter(created_by=admin).update(is_active=False)


if __name__ == "__main__":
    main()
