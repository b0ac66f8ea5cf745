"""``manage.py backup [--output PATH] [--keep N]``: database + uploaded media in one file.

The file is a gzip'd tar holding ``manifest.json``, the database (``db.dump`` from
``pg_dump -Fc`` for PostgreSQL, ``db.sqlite3`` from SQLite's online backup API) and ``media/``.
Both database methods take a consistent snapshot while the server keeps running.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import tarfile
import tempfile
from pathlib import Path

from django.conf import settings
from django.core.files.storage import FileSystemStorage, default_storage
from django.core.management.base import CommandError
from django.db import connections

from config import clock, dbtools
from config.env import VAR_DIR
from config.management.base import OperatorCommand

FORMAT_VERSION = 1
PREFIX = "backup-"
SUFFIX = ".tar.gz"


def default_dir() -> Path:
    return VAR_DIR / "backups"


def _applied_migrations(alias: str) -> list[str]:
    from django.db.migrations.recorder import MigrationRecorder

    return sorted(f"{a}.{n}" for a, n in MigrationRecorder(connections[alias]).applied_migrations())


def dump_database(alias: str, dest_dir: Path) -> str:
    """Write the database into ``dest_dir``; returns the member name."""
    conn = connections[alias]
    if dbtools.is_sqlite(alias):
        target = dest_dir / "db.sqlite3"
        src = sqlite3.connect(str(conn.settings_dict["NAME"]))
        dst = sqlite3.connect(str(target))
        try:
            # The online backup API copies a consistent snapshot page by page while other
            # connections keep reading and writing (WAL).
            src.backup(dst)
        finally:
            dst.close()
            src.close()
        return "db.sqlite3"
    if dbtools.is_postgresql(alias):
        target = dest_dir / "db.dump"
        conninfo, extra_env = dbtools.pg_conninfo(conn.settings_dict)
        proc = subprocess.run(
            ["pg_dump", "--format=custom", "--no-owner", "--no-privileges", f"--file={target}", f"--dbname={conninfo}"],
            env=dbtools.pg_tool_env(extra_env),
            capture_output=True,
            text=True,
        )
        if proc.returncode != 0:
            raise CommandError(f"pg_dump failed: {proc.stderr.strip()}")
        return "db.dump"
    raise CommandError(f"backup: unsupported database engine {conn.vendor}")


def _tree_entries(root: Path, arcroot: str) -> list[tuple[Path, str]]:
    """``(path, name in the archive)`` for ``root`` and everything below it, directories first, in
    name order (what ``tar.add(root)`` would add, listed so progress can be counted)."""
    entries = [(root, arcroot)]
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        here = Path(dirpath)
        rel = here.relative_to(root).as_posix()
        prefix = arcroot if rel == "." else f"{arcroot}/{rel}"
        for name in dirnames + sorted(filenames):
            entries.append((here / name, f"{prefix}/{name}"))
    return entries


def rotate(directory: Path, keep: int) -> list[Path]:
    """Delete all but the ``keep`` newest backups in ``directory`` (names sort by time)."""
    if keep <= 0:
        return []
    files = sorted(p for p in directory.glob(f"{PREFIX}*{SUFFIX}") if p.is_file())
    doomed = files[:-keep] if len(files) > keep else []
    for path in doomed:
        path.unlink()
    return doomed


class Command(OperatorCommand):
    help = "Back up the database and uploaded media into one timestamped file (var/backups/ by default)."
    progress_option = True

    def add_arguments(self, parser):
        parser.add_argument("--output", help="a directory, or the backup file's path (default var/backups/)")
        parser.add_argument("--keep", type=int, default=0, help="keep only the N newest backups in the directory")
        parser.add_argument("--database", default="default")
        parser.add_argument("--no-media", action="store_true", help="leave MEDIA_ROOT out")

    def handle(self, *args, **opts):
        alias = opts["database"]
        stamp = clock.now().strftime("%Y%m%dT%H%M%S%fZ")
        output = Path(opts["output"]) if opts["output"] else default_dir()
        if output.name.endswith(SUFFIX) and not output.is_dir():
            path = output
        else:
            path = output / f"{PREFIX}{stamp}{SUFFIX}"
        path.parent.mkdir(parents=True, exist_ok=True)
        media_root = Path(settings.MEDIA_ROOT).resolve()  # a symlinked MEDIA_ROOT: archive what it points at
        # Media in object storage (MEDIA_STORAGE_BACKEND) is not on this disk: back it up there
        # (bucket versioning/replication); only MEDIA_ROOT is copied into the file.
        media_on_disk = isinstance(default_storage, FileSystemStorage)
        include_media = not opts["no_media"] and media_on_disk

        with tempfile.TemporaryDirectory(prefix="backup-", dir=path.parent) as tmp:
            tmpdir = Path(tmp)
            self.note(f"backup: dumping the {connections[alias].vendor} database …")
            member = dump_database(alias, tmpdir)
            manifest = {
                "format": FORMAT_VERSION,
                "created_at": clock.now().isoformat(),
                "engine": connections[alias].vendor,
                "database": dbtools.database_name(alias),
                "db_member": member,
                "migrations": _applied_migrations(alias),
                "media": include_media,
            }
            (tmpdir / "manifest.json").write_text(json.dumps(manifest, indent=2))
            partial = tmpdir / "partial.tar.gz"
            entries = [(tmpdir / "manifest.json", "manifest.json"), (tmpdir / member, member)]
            if include_media and media_root.is_dir():
                entries += _tree_entries(media_root, "media")
            total = sum(p.stat().st_size for p, _ in entries if p.is_file())
            with tarfile.open(partial, "w:gz") as tar, self.progress(
                total=total, desc="backup: archiving", unit="B", unit_scale=True
            ) as bar:
                for source, arcname in entries:
                    tar.add(source, arcname=arcname, recursive=False)
                    if source.is_file():
                        bar.update(source.stat().st_size)
            # Rename into place only when complete: a crash never leaves a half-written backup
            # that rotation would count as good.
            shutil.move(str(partial), str(path))

        removed = rotate(path.parent, opts["keep"]) if opts["keep"] else []
        size = path.stat().st_size
        self.stdout.write(f"backup written: {path} ({dbtools.human_size(size)}, {manifest['engine']})")
        if not media_on_disk and not opts["no_media"]:
            self.stdout.write(f"media: not included — it lives in {settings.STORAGES['default']['BACKEND']}")
        for old in removed:
            self.stdout.write(f"rotated out: {old}")
        return None
