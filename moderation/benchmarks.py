"""Micro-benchmarks of the moderation hot paths (run: ``python -m moderation.benchmarks``).

Uses the configured database and cache (so run it with DATABASE_URL/REDIS_URL to measure the
production setup).  Everything it writes is rolled back; the cache keys it touches are dropped.
"""

from __future__ import annotations

import os
import time

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django  # noqa: E402

django.setup()

from django.core.cache import cache  # noqa: E402
from django.db import connection, transaction  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402

from accounts.models import User  # noqa: E402
from moderation import selectors, services  # noqa: E402


def _per_call(fn, n: int) -> float:
    start = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - start) / n * 1e6


class _Rollback(Exception):
    pass


def main() -> None:
    print(f"database={connection.vendor} cache={cache.__class__.__name__}")
    try:
        with transaction.atomic():
            users = [User.objects.create_user(name=f"bench{i}") for i in range(200)]
            banned = users[0]
            services.ban_create(user=banned, actor=None, reason="bench", duration=None)
            cache.delete(selectors.BAN_VERSION_KEY)  # a cold table
            ids = [u.pk for u in users]

            with CaptureQueriesContext(connection) as q:
                selectors.user_ban_active(user_id=users[1].pk)
            print(f"user_ban_active, table not held: {len(q)} query")
            with CaptureQueriesContext(connection) as q:
                us = _per_call(lambda: selectors.user_ban_active(user_id=users[1].pk), 2000)
            print(f"user_ban_active, table held: {us:.1f} µs/call, {len(q)} queries in 2000 calls")

            cache.delete(selectors.BAN_VERSION_KEY)  # a ban changed: the table is read again
            with CaptureQueriesContext(connection) as q:
                selectors.banned_user_ids(user_ids=ids)
            print(f"banned_user_ids(200 ids) cold: {len(q)} query")
            with CaptureQueriesContext(connection) as q:
                us = _per_call(lambda: selectors.banned_user_ids(user_ids=ids), 200)
            print(f"banned_user_ids(200 ids) warm: {us:.1f} µs/call, {len(q)} queries")

            for count in (0, 100, 1000):
                have = len(selectors.ip_ban_list())
                for i in range(have, count):
                    services.ip_ban_create(network=f"10.{i // 250}.{i % 250}.0/24", reason="bench", actor=None)
                cache.delete(selectors.IP_BANS_VERSION_KEY)
                selectors.ip_ban_list()
                with CaptureQueriesContext(connection) as q:
                    us = _per_call(lambda: selectors.ip_ban_match(ip="192.0.2.1"), 500)
                print(f"ip_ban_match with {count} IP bans (cache hit, no match): {us:.1f} µs/call, {len(q)} queries")
            raise _Rollback
    except _Rollback:
        pass
    finally:
        cache.delete(selectors.IP_BANS_VERSION_KEY)


if __name__ == "__main__":
    main()
