"""Nearest-first ordering of the queue (``accounts.location.nearest_first``) as the queue grows.

Builds a throwaway test database (SQLite by default; set DATABASE_URL for PostgreSQL), gives N
users a live location spread over ~60 km around campus, and times ordering all N candidates for
one viewer (what ``GET /api/queue?nearby=true`` adds to the plain queue: one query that computes
the distance in the database and returns ids only).

    python bench/bench_nearby.py [--sizes 10,2000,10000] [--repeat 50]
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("DJANGO_ENV", "test")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10,2000,10000")
    parser.add_argument("--repeat", type=int, default=50)
    args = parser.parse_args()

    import django

    django.setup()
    from django.db import connection

    from accounts import location
    from accounts.models import User, UserLocation
    from config import clock

    connection.creation.create_test_db(verbosity=0, autoclobber=True)
    try:
        rng = random.Random(7)
        viewer = User.objects.create_user(name="viewer")
        location.location_set(user=viewer, lat=34.0224, lon=-118.2851, accuracy_m=10, consent=True)
        made = 0
        print(f"database: {connection.vendor}")
        print(f"{'candidates':>10}  {'p50 ms':>8}  {'p99 ms':>8}  queries")
        for size in [int(s) for s in args.sizes.split(",")]:
            users = User.objects.bulk_create([User(name=f"u{made + i}") for i in range(size - made)])
            now = clock.now()
            UserLocation.objects.bulk_create(
                [
                    UserLocation(
                        user=u, lat=round(34.02 + rng.uniform(-0.3, 0.3), 6), lon=round(-118.28 + rng.uniform(-0.3, 0.3), 6),
                        accuracy_m=500, consented_at=now, updated_at=now, expires_at=now + timedelta(hours=24),
                    )
                    for u in users
                ]
            )
            made = size
            ids = list(User.objects.exclude(pk=viewer.pk).values_list("pk", flat=True))
            timings = []
            from django.test.utils import CaptureQueriesContext

            for _ in range(args.repeat):
                with CaptureQueriesContext(connection) as q:
                    t0 = time.perf_counter()
                    ordered = location.nearest_first(viewer_id=viewer.pk, user_ids=ids)
                    timings.append((time.perf_counter() - t0) * 1000)
                assert len(ordered) == len(ids)
            timings.sort()
            p99 = timings[min(len(timings) - 1, int(len(timings) * 0.99))]
            print(f"{size:>10}  {statistics.median(timings):>8.2f}  {p99:>8.2f}  {len(q.captured_queries)}")
    finally:
        connection.creation.destroy_test_db(connection.settings_dict["NAME"], verbosity=0)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
