"""``manage.py restore PATH [--force] [--migrate]``: bring back a backup made by ``backup``.

Refuses to overwrite a database that holds data unless ``--force``.  Restores the database with
the engine's own tools (``pg_restore`` + ``psql``, one transaction / SQLite's online backup API —
either way a restore that fails leaves the previous database as it was) and the media files, then checks
migrations: pending ones are listed (``--migrate`` applies them), migrations the code doesn't know
(a backup from newer code) are reported.  Stop the application servers first: a restore replaces
every table under them.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import tarfile
import tempfile
from pathlib import Path

from django.conf import settings
from django.core.cache import cache
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import connections

from config import dbtools
from config.management.oneline import one_line_errors


def _safe_members(tar: tarfile.TarFile):
    for member in tar.getmembers():
        name = member.name
        if name.startswith("/") or ".." in Path(name).parts:
            raise CommandError(f"refusing unsafe path in backup: {name}")
        if member.issym() or member.islnk():
            raise CommandError(f"refusing link in backup: {name}")
        yield member


def restore_database(alias: str, source: Path, engine: str) -> None:
    conn = connections[alias]
    if engine != conn.vendor:
        raise CommandError(
            f"this backup is a {engine} database but the configured database is {conn.vendor}; "
            "use move_database to change engines"
        )
    connections.close_all()
    if engine == "sqlite":
        src = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
        try:
            try:  # a damaged backup is refused before the live file is touched
                sound = src.execute("PRAGMA quick_check").fetchone() == ("ok",)
            except sqlite3.DatabaseError:
                sound = False
            if not sound:
                raise CommandError("the backup's database is damaged (database untouched)")
            dst = sqlite3.connect(str(conn.settings_dict["NAME"]), timeout=30)
            try:
                # Page-by-page copy into the live file, in one write transaction of it: other
                # connections see the restored content afterwards (no file swapped under them).
                src.backup(dst)
            finally:
                dst.close()
        finally:
            src.close()
        return
    _pg_restore_in_one_transaction(conn, source)


def _pg_restore_in_one_transaction(conn, source: Path) -> None:
    """Replace every table with the archive's, all or nothing.

    ``pg_restore --single-transaction`` can't include the DROP of the tables it replaces, and a
    DROP committed before it meant that a restore failing midway left an empty database.  So the
    archive is first turned into an SQL script (a damaged archive fails here, nothing touched),
    then ``psql --single-transaction`` runs the DROP and the script as one transaction with
    ``ON_ERROR_STOP``: any error rolls all of it back and the previous database stays exactly as
    it was."""
    conninfo, extra_env = dbtools.pg_conninfo(conn.settings_dict)
    env = dbtools.pg_tool_env(extra_env)
    with tempfile.TemporaryDirectory(prefix="restore-sql-") as tmp:
        script = Path(tmp) / "restore.sql"
        proc = subprocess.run(
            ["pg_restore", "--no-owner", "--no-privileges", "--exit-on-error", f"--file={script}", str(source)],
            env=env, capture_output=True, text=True,
        )
        if proc.returncode != 0:
            raise CommandError(f"pg_restore could not read the backup (database untouched): {proc.stderr.strip()}")
        with conn.cursor() as cursor:  # every table, ours and any left over
            tables = conn.introspection.table_names(cursor)
        connections.close_all()
        drop = Path(tmp) / "drop.sql"
        drop.write_text(
            f"DROP TABLE IF EXISTS {', '.join(conn.ops.quote_name(t) for t in tables)} CASCADE;\n" if tables else ""
        )
        proc = subprocess.run(
            [
                "psql", "--no-psqlrc", "--quiet", "--set=ON_ERROR_STOP=1", "--single-transaction",
                f"--dbname={conninfo}", f"--file={drop}", f"--file={script}",
            ],
            env=env, capture_output=True, text=True,
        )
        if proc.returncode != 0:
            raise CommandError(
                f"restore failed and was rolled back (database unchanged): {proc.stderr.strip()[-2000:]}"
            )


def restore_media(media_src: Path | None, media_root: Path) -> int:
    """Make ``media_root`` hold exactly the backup's files (the directory itself stays, so a
    mount point is fine).  Returns the number of files restored."""
    media_root.mkdir(parents=True, exist_ok=True)
    for child in media_root.iterdir():
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child)
        else:
            child.unlink()
    if media_src is None or not media_src.is_dir():
        return 0
    count = 0
    for item in media_src.rglob("*"):
        rel = item.relative_to(media_src)
        target = media_root / rel
        if item.is_dir():
            target.mkdir(parents=True, exist_ok=True)
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(item, target)
            count += 1
    return count


class Command(BaseCommand):
    help = "Restore a backup made by `backup` (refuses a non-empty database without --force)."

    def add_arguments(self, parser):
        parser.add_argument("path")
        parser.add_argument("--force", action="store_true", help="overwrite a database that holds data")
        parser.add_argument("--migrate", action="store_true", help="apply pending migrations afterwards")
        parser.add_argument("--database", default="default")

    @one_line_errors("restore")
    def handle(self, *args, **opts):
        alias = opts["database"]
        path = Path(opts["path"])
        if not path.is_file():
            raise CommandError(f"no such backup file: {path}")
        try:
            occupied = dbtools.data_rows(alias)
        except Exception as exc:  # noqa: BLE001 - an unreachable database: say so in one line
            raise CommandError(f"cannot read the configured database: {exc.__class__.__name__}: {exc}") from exc
        if occupied and not opts["force"]:
            total = sum(occupied.values())
            raise CommandError(
                f"database {dbtools.database_name(alias)!r} is not empty ({total} rows in {len(occupied)} tables); "
                "rerun with --force to replace its contents"
            )

        with tempfile.TemporaryDirectory(prefix="restore-") as tmp:
            tmpdir = Path(tmp)
            try:
                with tarfile.open(path, "r:gz") as tar:
                    tar.extractall(tmpdir, members=list(_safe_members(tar)))
            except (tarfile.TarError, OSError, EOFError) as exc:
                raise CommandError(f"not a readable backup file: {exc}") from exc
            manifest_path = tmpdir / "manifest.json"
            if not manifest_path.is_file():
                raise CommandError("not a backup made by `backup`: manifest.json missing")
            manifest = json.loads(manifest_path.read_text())
            db_file = tmpdir / manifest["db_member"]
            self.stdout.write(
                f"restoring {path.name}: {manifest['engine']} database from {manifest['created_at']}"
            )
            restore_database(alias, db_file, manifest["engine"])
            files = 0
            if manifest.get("media"):
                files = restore_media(tmpdir / "media", Path(settings.MEDIA_ROOT))
            self.stdout.write(f"media: {files} files restored into {settings.MEDIA_ROOT}")

        # Cached copies (sessions, users) describe the replaced data: drop them.
        if hasattr(cache, "delete_pattern"):
            cache.delete_pattern("*")
        else:
            cache.clear()
        connections.close_all()

        unknown = dbtools.unknown_applied_migrations(alias)
        if unknown:
            self.stderr.write(
                "warning: the backup has migrations this code doesn't know (made by newer code?): "
                + ", ".join(unknown)
            )
        pending = dbtools.pending_migrations(alias)
        if pending and opts["migrate"]:
            call_command("migrate", database=alias, interactive=False, verbosity=0)
            self.stdout.write(f"migrations: applied {len(pending)} pending")
        elif pending:
            self.stderr.write(
                f"warning: {len(pending)} migrations pending ({', '.join(pending)}); run `manage.py migrate`"
            )
        else:
            self.stdout.write("migrations: up to date")
        counts = dbtools.row_counts(dbtools.concrete_models(), alias)
        self.stdout.write(f"restore done: {sum(counts.values())} rows in {len(counts)} tables")
