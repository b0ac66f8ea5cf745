"""``manage.py restore PATH [--force] [--migrate]``: bring back a backup made by ``backup``.

Refuses to overwrite a database that holds data unless ``--force``.  Restores the database with
the engine's own tools (``pg_restore`` + ``psql``, one transaction / SQLite's online backup API —
either way a restore that fails leaves the previous database as it was) and the media files — extracted
into a staging directory on MEDIA_ROOT's filesystem and swapped in by renames once the database
restore succeeded, so a failed restore leaves the previous media exactly as it was — then checks
migrations: pending ones are listed (``--migrate`` applies them), migrations the code doesn't know
(a backup from newer code) are reported.  Stop the application servers first: a restore replaces
every table under them.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import tarfile
import tempfile
import zlib
from pathlib import Path

from django.conf import settings
from django.core.cache import cache
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connections

from config import dbtools
from config.management.base import OperatorCommand


def _check_member(member: tarfile.TarInfo) -> None:
    name = member.name
    if name.startswith("/") or ".." in Path(name).parts:
        raise CommandError(f"refusing unsafe path in backup: {name}")
    if member.issym() or member.islnk():
        raise CommandError(f"refusing link in backup: {name}")


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


MEDIA_PREFIX = "media"


class _Counted:
    """A file read once from start to end (a tar stream), counting bytes into a progress bar."""

    def __init__(self, raw, bar):
        self.raw, self.bar = raw, bar

    def read(self, size: int = -1) -> bytes:
        data = self.raw.read(size)
        self.bar.update(len(data))
        return data


def _is_media(name: str) -> bool:
    return name == MEDIA_PREFIX or name.startswith(MEDIA_PREFIX + "/")


def media_staging(media_root: Path) -> Path:
    """A new, empty directory on MEDIA_ROOT's filesystem to extract the backup's media into, so the
    swap is a rename: next to MEDIA_ROOT, or inside it when MEDIA_ROOT is a mount point (or its parent
    can't be written) — then the swap renames its entries instead of the directory."""
    media_root.mkdir(parents=True, exist_ok=True)
    if not os.path.ismount(media_root):
        try:
            return Path(tempfile.mkdtemp(prefix=f".{media_root.name}-restore-", dir=media_root.parent))
        except PermissionError:
            pass
    return Path(tempfile.mkdtemp(prefix=".restore-", dir=media_root))


def media_swap(new_tree: Path, media_root: Path, staging: Path) -> int:
    """Make ``media_root`` hold exactly ``new_tree`` by renames (the previous tree goes into
    ``staging``, which the caller deletes).  All or nothing: a failing rename puts back what moved.
    Returns the number of files now in ``media_root``."""
    previous = staging / "previous"
    if staging.parent == media_root.parent:  # next to MEDIA_ROOT: swap the directory itself
        mode = media_root.stat().st_mode & 0o7777
        os.rename(media_root, previous)
        try:
            os.rename(new_tree, media_root)
        except OSError:
            os.rename(previous, media_root)
            raise
        os.chmod(media_root, mode)
    else:  # MEDIA_ROOT is a mount point: swap its entries (the staging directory lives inside it)
        previous.mkdir()
        moved_out: list[str] = []
        moved_in: list[str] = []
        try:
            for child in sorted(media_root.iterdir()):
                if child != staging:
                    os.rename(child, previous / child.name)
                    moved_out.append(child.name)
            for child in sorted(new_tree.iterdir()):
                os.rename(child, media_root / child.name)
                moved_in.append(child.name)
        except OSError:
            for name in moved_in:
                os.rename(media_root / name, new_tree / name)
            for name in moved_out:
                os.rename(previous / name, media_root / name)
            raise
    return sum(1 for p in media_root.rglob("*") if p.is_file() and staging not in p.parents)


class Command(OperatorCommand):
    help = "Restore a backup made by `backup` (refuses a non-empty database without --force)."
    progress_option = True

    def add_arguments(self, parser):
        parser.add_argument("path")
        parser.add_argument("--force", action="store_true", help="overwrite a database that holds data")
        parser.add_argument("--migrate", action="store_true", help="apply pending migrations afterwards")
        parser.add_argument("--database", default="default")

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

        # a symlinked MEDIA_ROOT stays a symlink: the swap happens where it points
        media_root = Path(settings.MEDIA_ROOT).resolve()
        staging: Path | None = None
        try:
            with tempfile.TemporaryDirectory(prefix="restore-") as tmp:
                tmpdir = Path(tmp)
                # One pass over the archive: the database parts into a temporary directory, the media
                # into a staging directory on MEDIA_ROOT's filesystem.  Nothing live is touched
                # until the whole archive has been read.
                try:
                    with path.open("rb") as raw, self.progress(
                        total=path.stat().st_size, desc="restore: reading", unit="B", unit_scale=True
                    ) as bar, tarfile.open(fileobj=_Counted(raw, bar), mode="r|gz") as tar:
                        for member in tar:
                            _check_member(member)
                            if _is_media(member.name):
                                if staging is None:
                                    staging = media_staging(media_root)
                                tar.extract(member, staging, filter="data")
                            else:
                                tar.extract(member, tmpdir, filter="data")
                except (tarfile.TarError, EOFError, zlib.error) as exc:
                    raise CommandError(f"not a readable backup file (nothing changed): {exc}") from exc
                manifest_path = tmpdir / "manifest.json"
                if not manifest_path.is_file():
                    raise CommandError("not a backup made by `backup`: manifest.json missing")
                manifest = json.loads(manifest_path.read_text())
                db_file = tmpdir / manifest["db_member"]
                self.stdout.write(
                    f"restoring {path.name}: {manifest['engine']} database from {manifest['created_at']}"
                )
                self.note("restore: replacing the database (one transaction) …")
                restore_database(alias, db_file, manifest["engine"])
                if manifest.get("media"):
                    if staging is None:  # MEDIA_ROOT was empty when the backup was made
                        staging = media_staging(media_root)
                    new_tree = staging / MEDIA_PREFIX
                    new_tree.mkdir(exist_ok=True)
                    files = media_swap(new_tree, media_root, staging)
                    self.stdout.write(f"media: {files} files restored into {media_root}")
                else:
                    self.stdout.write("media: not in this backup (left as it is)")
        finally:
            if staging is not None:  # the extracted tree of a failed restore, or the replaced media
                shutil.rmtree(staging, ignore_errors=True)

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
