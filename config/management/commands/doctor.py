"""``manage.py doctor``: is this configuration able to serve, and what survives a restart?"""

from __future__ import annotations

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from config import storage


def _db_reason(exc: Exception) -> str:
    desc = storage.database_description()
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else exc.__class__.__name__
    lowered = text.lower()
    if "refused" in lowered:
        return f"DATABASE_URL: connection refused at {desc['where'].split('/')[0]}"
    if "does not exist" in lowered:
        return f"DATABASE_URL: database does not exist ({desc['where']})"
    if "unable to open" in lowered:
        return f"DATABASE_URL: cannot open SQLite file {desc['where']}"
    return f"DATABASE_URL: {text}"


def _probe_direct() -> None:
    """For PostgreSQL, one direct connection with a short timeout: a precise reason, fast
    (the pool would only say it timed out)."""
    db = settings.DATABASES["default"]
    if not db["ENGINE"].endswith("postgresql"):
        return
    import psycopg

    options = {k: v for k, v in (db.get("OPTIONS") or {}).items() if k not in {"pool", "server_side_binding"}}
    params = {
        "host": db.get("HOST") or None,
        "port": db.get("PORT") or None,
        "dbname": db.get("NAME"),
        "user": db.get("USER") or None,
        "password": db.get("PASSWORD") or None,
        "connect_timeout": 3,
        **options,
    }
    psycopg.connect(**{k: v for k, v in params.items() if v is not None}).close()


def _report_isolation(out) -> None:
    """What keeps this deployment apart from others on the same Redis server (config/isolation.py)."""
    from config.isolation import isolation_lines

    out.write("What isolates this deployment:")
    for line in isolation_lines():
        out.write(f"  - {line}")


class Command(BaseCommand):
    help = "Check the database, migrations and Redis; say what survives a restart here."

    def handle(self, *args, **options):
        failures: list[str] = []
        self.stdout.write(storage.summary_line())

        import logging

        from django.db import connection

        logging.getLogger("psycopg.pool").setLevel(logging.CRITICAL)
        db_ok = False
        try:
            _probe_direct()
            connection.ensure_connection()
            with connection.cursor() as cursor:
                cursor.execute("SELECT 1")
            db_ok = True
            self.stdout.write(f"ok   database reachable ({storage.database_description()['where']})")
        except Exception as exc:  # noqa: BLE001 - report, never a traceback
            failures.append(_db_reason(exc))

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
