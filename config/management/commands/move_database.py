"""``manage.py move_database --to postgresql://…``: copy the configured database (e.g. the
embedded SQLite file) into an empty PostgreSQL database.

Steps: refuse a target holding data; ``migrate`` the target with this code; empty the rows
``migrate`` seeds by itself (content types, permissions) so primary keys are copied verbatim;
copy every model's table — all apps, auto-created many-to-many tables and contrib tables, read
from ``apps.get_models()`` — in dependency order, in primary-key chunks, with a progress bar per
table on stderr (``--progress``; by default on a terminal), all in one target transaction (a failure leaves the target as it was); reset sequences;
compare row counts table by table (non-zero exit on any mismatch).

Values go through each field's own converters (read: ``from_db_value``; write:
``get_db_prep_save``), so booleans, datetimes, UUIDs and JSON change representation correctly,
and ``auto_now``/``auto_now_add`` fields keep their stored values (no ``save()`` is called).
Stop the application (or accept that writes after the start are not copied) before moving.
"""

from __future__ import annotations

import dj_database_url
from django.core.management import call_command
from django.core.management.base import CommandError
from django.core.management.color import no_style
from django.db import DEFAULT_DB_ALIAS, connections, transaction
from django.db.models import Model

from config import dbtools
from config.management.base import OperatorCommand

TARGET = "move_target"


def target_settings(url: str) -> dict:
    if not url.startswith(("postgres://", "postgresql://")):
        raise CommandError("--to must be a postgresql://… URL")
    cfg = dj_database_url.parse(url, conn_max_age=0)
    cfg["ENGINE"] = "django.db.backends.postgresql"
    # A single direct connection for a one-off command: no pool.
    cfg["OPTIONS"] = {k: v for k, v in (cfg.get("OPTIONS") or {}).items() if k != "pool"}
    return cfg


def register_target(url: str) -> None:
    cfg = target_settings(url)
    filled = connections.configure_settings({DEFAULT_DB_ALIAS: dict(cfg), TARGET: cfg})[TARGET]
    filled.setdefault("TEST", {})
    connections.settings[TARGET] = filled
    if hasattr(connections._connections, TARGET):
        delattr(connections._connections, TARGET)


class Command(OperatorCommand):
    help = "Copy the configured database into an empty PostgreSQL database, verifying row counts."
    progress_option = True

    def add_arguments(self, parser):
        parser.add_argument("--to", required=True, help="postgresql://user:pass@host:port/dbname[?sslmode=…]")
        parser.add_argument("--batch-size", type=int, default=2000)

    def handle(self, *args, **opts):
        source = DEFAULT_DB_ALIAS
        batch = max(1, opts["batch_size"])
        register_target(opts["to"])
        try:
            self._move(source, batch)
        finally:
            connections[TARGET].close()

    def _move(self, source: str, batch: int) -> None:
        src_conn, dst_conn = connections[source], connections[TARGET]
        try:
            dst_conn.ensure_connection()
        except Exception as exc:  # noqa: BLE001
            raise CommandError(f"cannot connect to the target: {exc.__class__.__name__}: {exc}".strip()) from exc
        if src_conn.settings_dict["NAME"] == dst_conn.settings_dict["NAME"] and src_conn.vendor == "postgresql" and (
            src_conn.settings_dict.get("HOST"),
            src_conn.settings_dict.get("PORT"),
        ) == (dst_conn.settings_dict.get("HOST"), dst_conn.settings_dict.get("PORT")):
            raise CommandError("the target is the configured database itself")
        pending = dbtools.pending_migrations(source)
        if pending:
            raise CommandError(f"the source has {len(pending)} unapplied migrations; run `manage.py migrate` first")
        occupied = dbtools.data_rows(TARGET)
        if occupied:
            raise CommandError(
                f"the target is not empty ({sum(occupied.values())} rows in {len(occupied)} tables); "
                "moving only goes into an empty database"
            )

        self.stdout.write(f"migrating the target {dst_conn.settings_dict['NAME']!r} …")
        call_command("migrate", database=TARGET, interactive=False, verbosity=0)
        models = dbtools.concrete_models()
        src_tables = dbtools.existing_tables(source)
        dst_tables = dbtools.existing_tables(TARGET)
        missing = [m._meta.db_table for m in models if m._meta.db_table in src_tables and m._meta.db_table not in dst_tables]
        if missing:
            raise CommandError(f"tables missing on the target after migrate: {', '.join(missing)}")
        models = [m for m in models if m._meta.db_table in src_tables]

        self.stdout.write(f"copying {len(models)} tables:")
        with transaction.atomic(using=TARGET), transaction.atomic(using=source):
            with dst_conn.cursor() as cursor:
                # Rows migrate seeded (content types, permissions) are replaced by the source's,
                # whose primary keys the copied foreign keys point at.
                quoted = ", ".join(dst_conn.ops.quote_name(m._meta.db_table) for m in models)
                cursor.execute(f"TRUNCATE {quoted} RESTART IDENTITY CASCADE")
            for model in models:
                self._copy(model, source, batch)
            sql = dst_conn.ops.sequence_reset_sql(no_style(), models)
            with dst_conn.cursor() as cursor:
                for statement in sql:
                    cursor.execute(statement)

        self.stdout.write("verifying row counts:")
        src_counts = dbtools.row_counts(models, source)
        dst_counts = dbtools.row_counts(models, TARGET)
        mismatches = []
        width = max(len(t) for t in src_counts) if src_counts else 10
        for table, n in src_counts.items():
            m = dst_counts.get(table)
            ok = m == n
            if not ok:
                mismatches.append(table)
            self.stdout.write(f"  {table:<{width}} {n:>10} → {m if m is not None else '-':>10}  {'ok' if ok else 'MISMATCH'}")
        if mismatches:
            raise CommandError(f"row counts differ in {len(mismatches)} tables: {', '.join(mismatches)}")
        self.stdout.write(
            f"moved {sum(src_counts.values())} rows in {len(src_counts)} tables. "
            "Now set DATABASE_URL to the target and restart the servers."
        )

    def _copy(self, model: type[Model], source: str, batch: int) -> None:
        dst_conn = connections[TARGET]
        fields = [f for f in model._meta.concrete_fields if not getattr(f, "generated", False)]
        table = dst_conn.ops.quote_name(model._meta.db_table)
        columns = ", ".join(dst_conn.ops.quote_name(f.column) for f in fields)
        placeholders = ", ".join(["%s"] * len(fields))
        insert = f"INSERT INTO {table} ({columns}) VALUES ({placeholders})"
        qs = model._base_manager.using(source).order_by("pk").values_list(*[f.attname for f in fields])
        progress = self.progress(total=qs.count(), desc=f"  {model._meta.db_table}", unit="row")
        rows: list[tuple] = []
        with dst_conn.cursor() as cursor:
            for values in qs.iterator(chunk_size=batch):
                rows.append(
                    tuple(f.get_db_prep_save(v, connection=dst_conn) for f, v in zip(fields, values))
                )
                if len(rows) >= batch:
                    cursor.executemany(insert, rows)
                    progress.update(len(rows))
                    rows = []
            if rows:
                cursor.executemany(insert, rows)
                progress.update(len(rows))
        progress.close()
