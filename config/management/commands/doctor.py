"""``manage.py doctor``: is this configuration able to serve, and what survives a restart?"""

from __future__ import annotations

from django.conf import settings
from django.core.management.base import CommandError

from config import dbtools, storage
from config.management.base import OperatorCommand


def _report_isolation(out) -> None:
    """What keeps this deployment apart from others on the same Redis server (config/isolation.py)."""
    from config.isolation import isolation_lines

    out.write("What isolates this deployment:")
    for line in isolation_lines():
        out.write(f"  - {line}")


class Command(OperatorCommand):
    help = "Check the database, migrations and Redis; say what survives a restart here."
    requires_database = False  # reporting on it is the point

    def handle(self, *args, **options):
        failures: list[str] = []
        self.stdout.write(storage.summary_line())

        import logging

        logging.getLogger("psycopg.pool").setLevel(logging.CRITICAL)
        problem = dbtools.connection_problem()
        db_ok = problem is None
        if db_ok:
            self.stdout.write(f"ok   database reachable ({storage.database_description()['where']})")
        else:
            failures.append(problem)

        if db_ok:
            from config.health import migrations_pending

            try:
                pending = migrations_pending()
                if pending:
                    failures.append(
                        f"migrations: {len(pending)} not applied (run `manage.py migrate`): "
                        + ", ".join(pending[:5])
                    )
                else:
                    self.stdout.write("ok   migrations applied")
            except Exception as exc:  # noqa: BLE001
                failures.append(f"migrations: cannot read migration state ({exc.__class__.__name__})")

        if settings.REDIS_URL:
            try:
                from django_redis import get_redis_connection

                conn = get_redis_connection("default")
                conn.ping()
                self.stdout.write(f"ok   redis reachable ({storage.cache_description()['where']})")
                if settings.NEAR_CACHE["enabled"]:
                    version = str(conn.info("server").get("redis_version", "0"))
                    if int(version.split(".")[0]) < 6:
                        failures.append(
                            f"REDIS_URL: Redis {version} has no CLIENT TRACKING; use Redis >= 6 or set NEAR_CACHE_ENABLED=0"
                        )
                    else:
                        self.stdout.write(f"ok   near cache: Redis {version} supports client-side caching")
            except Exception as exc:  # noqa: BLE001
                reason = "connection refused" if "refused" in str(exc).lower() else str(exc).splitlines()[0]
                failures.append(f"REDIS_URL: {reason} at {storage.cache_description()['where']}")
        else:
            self.stdout.write("info REDIS_URL unset: local-memory cache and in-memory channel layer")

        _report_isolation(self.stdout)

        from config import doctor_checks

        for level, message in doctor_checks.run_all():
            if level == "fail":
                failures.append(message)
            else:
                self.stdout.write(f"{level:<4} {message}")

        self.stdout.write("What survives a restart here:")
        for line in storage.survival_report():
            self.stdout.write(f"  - {line}")

        if failures:
            for reason in failures:
                self.stderr.write(f"FAIL {reason}")
            raise CommandError(f"{len(failures)} check(s) failed", returncode=1)
        self.stdout.write("all checks passed")
