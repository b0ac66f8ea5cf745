"""Helpers the operations commands share: which tables exist, in which order, how many rows,
and how to reach a PostgreSQL database with the command-line tools.

Everything is computed from ``apps.get_models()`` so models other apps add later (including
auto-created many-to-many tables and contrib tables) are covered without editing this file.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

from django.apps import apps
from django.db import connections
from django.db.models import Model

# Tables that ``migrate`` fills by itself (post_migrate signal).  A database holding only these
# rows counts as empty.
MIGRATE_SEEDED = {"contenttypes.contenttype", "auth.permission"}


def is_postgresql(alias: str = "default") -> bool:
    return connections[alias].vendor == "postgresql"


def is_sqlite(alias: str = "default") -> bool:
    return connections[alias].vendor == "sqlite"


def database_name(alias: str = "default") -> str:
    """The name an operator types to confirm a destructive command: the PostgreSQL database
    name, or the SQLite file's base name."""
    name = str(connections[alias].settings_dict["NAME"])
    if is_sqlite(alias):
        return os.path.basename(name)
    return name


def concrete_models() -> list[type[Model]]:
    """Every model with its own table (auto-created M2M through tables included), in
    dependency order: a model comes after every model its foreign keys point to."""
    candidates = [
        m
        for m in apps.get_models(include_auto_created=True)
        if m._meta.managed and not m._meta.proxy and not m._meta.swapped
    ]
    by_label = {m._meta.label_lower: m for m in candidates}
    deps: dict[str, set[str]] = {}
    for m in candidates:
        targets = set()
        for f in m._meta.concrete_fields:
            if f.is_relation and f.remote_field is not None:
                target = f.remote_field.model._meta.concrete_model._meta.label_lower
                if target != m._meta.label_lower and target in by_label:
                    targets.add(target)
        deps[m._meta.label_lower] = targets
    ordered: list[type[Model]] = []
    done: set[str] = set()
    visiting: set[str] = set()

    def visit(label: str) -> None:
        if label in done:
            return
        if label in visiting:  # a cycle: foreign keys are deferred to commit, any order works
            return
        visiting.add(label)
        for dep in sorted(deps[label]):
            visit(dep)
        visiting.discard(label)
        done.add(label)
        ordered.append(by_label[label])

    for label in sorted(by_label):
        visit(label)
    return ordered


def existing_tables(alias: str = "default") -> set[str]:
    with connections[alias].cursor() as cursor:
        return set(connections[alias].introspection.table_names(cursor))


def row_counts(models: Iterable[type[Model]], alias: str = "default") -> dict[str, int]:
    """``{table: rows}`` for the given models whose tables exist on ``alias``."""
    tables = existing_tables(alias)
    counts = {}
    for m in models:
        if m._meta.db_table in tables:
            counts[m._meta.db_table] = m._base_manager.using(alias).count()
    return counts


def data_rows(alias: str = "default") -> dict[str, int]:
    """Non-zero row counts of tables holding data (rows ``migrate`` creates by itself excluded)."""
    models = [m for m in concrete_models() if m._meta.label_lower not in MIGRATE_SEEDED]
    return {t: n for t, n in row_counts(models, alias).items() if n}


def pending_migrations(alias: str = "default") -> list[str]:
    from django.db.migrations.executor import MigrationExecutor

    executor = MigrationExecutor(connections[alias])
    plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    return [f"{m.app_label}.{m.name}" for m, _ in plan]


def unknown_applied_migrations(alias: str = "default") -> list[str]:
    """Migrations recorded in the database that this code does not have (a newer backup)."""
    from django.db.migrations.loader import MigrationLoader

    loader = MigrationLoader(connections[alias], ignore_no_migrations=True)
    return sorted(f"{a}.{n}" for a, n in loader.applied_migrations if (a, n) not in loader.disk_migrations)


# --- PostgreSQL command-line tools -----------------------------------------------------------
_LIBPQ_OPTIONS = {
    "sslmode",
    "sslrootcert",
    "sslcert",
    "sslkey",
    "sslcrl",
    "sslpassword",
    "connect_timeout",
    "application_name",
    "options",
    "target_session_attrs",
    "channel_binding",
    "gssencmode",
    "keepalives",
    "keepalives_idle",
    "service",
    "passfile",
}


def pg_conninfo(settings_dict: dict) -> tuple[str, dict[str, str]]:
    """``(conninfo, extra_env)`` for ``pg_dump``/``pg_restore``/``psql``.  The password goes in
    the environment (``PGPASSWORD``), never on the command line where ``ps`` would show it.
    libpq options from ``DATABASE_URL`` (``?sslmode=require`` …) are kept."""
    from psycopg.conninfo import make_conninfo

    params: dict[str, str] = {"dbname": str(settings_dict["NAME"])}
    if settings_dict.get("HOST"):
        params["host"] = str(settings_dict["HOST"])
    if settings_dict.get("PORT"):
        params["port"] = str(settings_dict["PORT"])
    if settings_dict.get("USER"):
        params["user"] = str(settings_dict["USER"])
    for key, value in (settings_dict.get("OPTIONS") or {}).items():
        if key in _LIBPQ_OPTIONS and value not in (None, ""):
            params[key] = str(value)
    env = {}
    if settings_dict.get("PASSWORD"):
        env["PGPASSWORD"] = str(settings_dict["PASSWORD"])
    return make_conninfo(**params), env


def pg_tool_env(extra: dict[str, str]) -> dict[str, str]:
    env = dict(os.environ)
    env.update(extra)
    return env


def _probe_postgresql(settings_dict: dict) -> None:
    """One direct connection with a short timeout: a precise reason, fast (the pool would only say
    that it timed out, after ``DB_POOL_TIMEOUT``)."""
    import psycopg

    options = {k: v for k, v in (settings_dict.get("OPTIONS") or {}).items() if k not in {"pool", "server_side_binding"}}
    params = {
        "host": settings_dict.get("HOST") or None,
        "port": settings_dict.get("PORT") or None,
        "dbname": settings_dict.get("NAME"),
        "user": settings_dict.get("USER") or None,
        "password": settings_dict.get("PASSWORD") or None,
        "connect_timeout": 3,
        **options,
    }
    psycopg.connect(**{k: v for k, v in params.items() if v is not None}).close()


def describe_connection_failure(exc: BaseException) -> str:
    """One line for ``DATABASE_URL`` that doesn't answer (``doctor``, every operator command)."""
    from config import storage

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


def connection_problem(alias: str = "default") -> str | None:
    """None when the database answers ``SELECT 1``; else one line saying why."""
    conn = connections[alias]
    try:
        if conn.vendor == "postgresql":
            _probe_postgresql(conn.settings_dict)
        conn.ensure_connection()
        with conn.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception as exc:  # noqa: BLE001 - reported as one line
        return describe_connection_failure(exc)
    return None


def human_size(n: int) -> str:
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"
