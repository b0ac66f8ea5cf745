"""backup / restore against the database the suite runs on (SQLite or PostgreSQL)."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from accounts.models import Session, User
from accounts.services import session_authenticate

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def media_root(tmp_path, settings):
    root = tmp_path / "media"
    (root / "photos").mkdir(parents=True)
    settings.MEDIA_ROOT = str(root)
    return root


def _backup(tmp_path, *extra) -> Path:
    out = io.StringIO()
    call_command("backup", "--output", str(tmp_path / "backups"), *extra, stdout=out)
    line = out.getvalue().strip().splitlines()[0]
    assert line.startswith("backup written: ")
    return Path(line.split("backup written: ")[1].split(" (")[0])


def test_backup_change_restore_brings_original_rows_back(tmp_path, media_root, make_user, make_session):
    alice = make_user("alice", bio="original bio")
    bob = make_user("bob")
    _, token = make_session(alice)
    (media_root / "photos" / "a.jpg").write_bytes(b"jpeg-bytes")
    before_ids = sorted(User.objects.values_list("id", flat=True))

    path = _backup(tmp_path)
    assert path.parent == tmp_path / "backups" and path.name.startswith("backup-")
    with tarfile.open(path) as tar:
        names = tar.getnames()
        manifest = json.load(tar.extractfile("manifest.json"))
    assert manifest["engine"] == connection.vendor
    assert "media/photos/a.jpg" in names
    assert any(m.startswith("accounts.") for m in manifest["migrations"])

    # Change everything the backup holds.
    User.objects.filter(pk=alice.pk).update(bio="changed")
    bob.delete()
    make_user("mallory")
    Session.objects.all().delete()
    (media_root / "photos" / "a.jpg").unlink()
    (media_root / "photos" / "new.jpg").write_bytes(b"other")

    with pytest.raises(CommandError, match="not empty"):
        call_command("restore", str(path), stdout=io.StringIO())

    out = io.StringIO()
    call_command("restore", str(path), "--force", stdout=out, stderr=io.StringIO())
    assert "migrations: up to date" in out.getvalue()

    assert sorted(User.objects.values_list("id", flat=True)) == before_ids
    assert User.objects.get(pk=alice.pk).bio == "original bio"
    assert User.objects.filter(name="bob").exists()
    assert not User.objects.filter(name="mallory").exists()
    resolved = session_authenticate(token=token)
    assert resolved is not None and resolved[0].pk == alice.pk
    assert (media_root / "photos" / "a.jpg").read_bytes() == b"jpeg-bytes"
    assert not (media_root / "photos" / "new.jpg").exists()
    # Sequences came back too: a new row doesn't collide with restored ones.
    assert make_user("carol").pk not in before_ids


def test_restore_into_empty_database_needs_no_force(tmp_path, media_root, make_user):
    make_user("dora")
    path = _backup(tmp_path)
    User.objects.all().delete()
    call_command("restore", str(path), stdout=io.StringIO())
    assert User.objects.filter(name="dora").exists()


def test_keep_rotates_old_backups(tmp_path, media_root, make_user):
    make_user()
    first = _backup(tmp_path)
    second = _backup(tmp_path)
    third = _backup(tmp_path, "--keep", "2")
    remaining = sorted((tmp_path / "backups").glob("backup-*.tar.gz"))
    assert remaining == sorted([second, third])
    assert not first.exists()


def test_restore_rejects_garbage_file(tmp_path, media_root):
    bad = tmp_path / "nope.tar.gz"
    bad.write_bytes(b"not a tar")
    with pytest.raises(CommandError, match="not a readable backup"):
        call_command("restore", str(bad), stdout=io.StringIO())


@pytest.mark.slow
def test_backup_is_consistent_while_a_server_writes(tmp_path, media_root, daphne_factory):
    """A Daphne process keeps signing guests up while `backup` runs in another process: the
    backup is a valid database holding a prefix of the sign-ups, and restores."""
    import sqlite3
    import subprocess
    import threading

    from config.tests.conftest import manage
    from tests.servers import test_database_url

    server = daphne_factory()
    stop = threading.Event()
    created: list[int] = []

    def writer():
        i = 0
        while not stop.is_set():
            status, _ = server.request("POST", "/api/auth/guest", body={"name": f"w{i}", "gender": "unspecified"})
            if status == 201:
                created.append(i)
            i += 1

    thread = threading.Thread(target=writer, daemon=True)
    thread.start()
    try:
        deadline = 200
        while len(created) < 5 and deadline:  # some writes are committed before the backup starts
            stop.wait(0.05)
            deadline -= 1
        proc = manage(
            "backup", "--output", str(tmp_path / "live"),
            env={"DATABASE_URL": test_database_url(), "MEDIA_ROOT": str(media_root), "REDIS_URL": None},
        )
        during = len(created)
    finally:
        stop.set()
        thread.join(timeout=30)
    assert proc.returncode == 0, proc.stderr
    assert during >= 5
    path = Path(proc.stdout.split("backup written: ")[1].split(" (")[0])
    with tarfile.open(path) as tar:
        tar.extractall(tmp_path / "x")
    if connection.vendor == "sqlite":
        db = sqlite3.connect(tmp_path / "x" / "db.sqlite3")
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        backed_up = db.execute("SELECT count(*) FROM accounts_user WHERE name LIKE 'w%'").fetchone()[0]
        db.close()
    else:
        listing = subprocess.run(["pg_restore", "--list", str(tmp_path / "x" / "db.dump")], capture_output=True, text=True)
        assert listing.returncode == 0 and "TABLE DATA public accounts_user" in listing.stdout
        backed_up = None
    if backed_up is not None:
        assert 5 <= backed_up <= len(created)
    # And it restores over the live data.
    call_command("restore", str(path), "--force", stdout=io.StringIO(), stderr=io.StringIO())
    restored = User.objects.filter(name__startswith="w").count()
    assert 5 <= restored <= len(created)


def _state():
    """Everything the failing restores below must leave alone."""
    return sorted(User.objects.values_list("name", "bio")), Session.objects.count()


def _rewrite_db_member(path: Path, tmp_path: Path, change) -> Path:
    """A copy of the backup ``path`` whose database member went through ``change(bytes)``."""
    out = tmp_path / "changed.tar.gz"
    with tarfile.open(path) as src, tarfile.open(out, "w:gz") as dst:
        db_member = json.load(src.extractfile("manifest.json"))["db_member"]
        for member in src.getmembers():
            data = src.extractfile(member).read() if member.isfile() else None
            if member.name == db_member:
                data = change(data)
                member.size = len(data)
            dst.addfile(member, io.BytesIO(data) if data is not None else None)
    return out


def test_a_damaged_backup_leaves_the_database_as_it_was(tmp_path, media_root, make_user, make_session):
    make_session(make_user("alice", bio="kept"))
    path = _backup(tmp_path)
    make_user("after-the-backup")
    before = _state()
    damaged = _rewrite_db_member(path, tmp_path, lambda data: data[: len(data) * 2 // 3])
    with pytest.raises(CommandError, match="untouched"):
        call_command("restore", str(damaged), "--force", stdout=io.StringIO(), stderr=io.StringIO())
    assert _state() == before


def test_a_restore_that_fails_midway_leaves_the_database_as_it_was(tmp_path, media_root, make_user, make_session):
    """The restore starts (every table dropped, the first ones recreated) and then fails: all of
    it is rolled back — not one table lost."""
    if connection.vendor != "postgresql":
        pytest.skip("SQLite's backup API copies in one transaction of the destination")
    make_session(make_user("alice", bio="kept"))
    path = _backup(tmp_path)
    User.objects.filter(name="alice").update(bio="changed after the backup")
    make_user("bob")
    before = _state()
    # The archive creates objects in name order: an event trigger (a database-wide object no DROP
    # TABLE removes) makes CREATE TABLE social_room fail after accounts_* … exist again.
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE FUNCTION public.test_refuse_social_room() RETURNS event_trigger LANGUAGE plpgsql AS $$ "
            "DECLARE r record; BEGIN FOR r IN SELECT * FROM pg_catalog.pg_event_trigger_ddl_commands() LOOP "
            "IF r.object_identity = 'public.social_room' THEN RAISE EXCEPTION 'restore interrupted by the test'; "
            "END IF; END LOOP; END $$"
        )
        cursor.execute(
            "CREATE EVENT TRIGGER test_refuse_social_room ON ddl_command_end WHEN TAG IN ('CREATE TABLE') "
            "EXECUTE FUNCTION public.test_refuse_social_room()"
        )
    try:
        with pytest.raises(CommandError, match="rolled back"):
            call_command("restore", str(path), "--force", stdout=io.StringIO(), stderr=io.StringIO())
    finally:
        with connection.cursor() as cursor:
            cursor.execute("DROP EVENT TRIGGER IF EXISTS test_refuse_social_room")
            cursor.execute("DROP FUNCTION IF EXISTS public.test_refuse_social_room()")
    assert _state() == before
    assert "social_room" in connection.introspection.table_names()
    # and the same backup restores once the obstacle is gone
    call_command("restore", str(path), "--force", stdout=io.StringIO(), stderr=io.StringIO())
    assert User.objects.get(name="alice").bio == "kept" and not User.objects.filter(name="bob").exists()


# --- media: replaced by renames, all or nothing ------------------------------------------------
def _tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _fill_media(root: Path, tag: str, count: int = 24) -> None:
    import os as _os

    for i in range(count):  # incompressible: the archive's tail is media, not gzip'd zeros
        (root / "photos" / f"{tag}{i:02}.jpg").write_bytes(_os.urandom(40_000))


def _no_staging_left(media_root: Path) -> None:
    assert [p.name for p in media_root.parent.iterdir() if "restore" in p.name] == []
    assert [p.name for p in media_root.iterdir() if p.name.startswith(".")] == []


def test_restore_replaces_media_exactly(tmp_path, media_root, make_user):
    make_user("dora")
    _fill_media(media_root, "old", 3)
    path = _backup(tmp_path)
    expected = _tree(media_root)
    (media_root / "photos" / "old00.jpg").unlink()
    (media_root / "videos").mkdir()
    (media_root / "videos" / "new.mp4").write_bytes(b"after the backup")
    out = io.StringIO()
    call_command("restore", str(path), "--force", stdout=out, stderr=io.StringIO())
    assert "media: 3 files restored" in out.getvalue()
    assert _tree(media_root) == expected
    assert not (media_root / "videos").exists()
    _no_staging_left(media_root)


def test_a_truncated_archive_leaves_media_and_database_as_they_were(tmp_path, media_root, make_user):
    make_user("alice", bio="kept")
    _fill_media(media_root, "backup")
    path = _backup(tmp_path)
    for p in (media_root / "photos").iterdir():
        p.unlink()
    _fill_media(media_root, "live", 5)
    make_user("bob")
    before_media, before_db = _tree(media_root), _state()
    truncated = tmp_path / "truncated.tar.gz"
    data = path.read_bytes()
    truncated.write_bytes(data[: len(data) * 9 // 10])  # the database and most media extract, then EOF
    with pytest.raises(CommandError, match="not a readable backup file"):
        call_command("restore", str(truncated), "--force", stdout=io.StringIO(), stderr=io.StringIO())
    assert _tree(media_root) == before_media
    assert _state() == before_db
    _no_staging_left(media_root)


def test_a_failing_database_restore_leaves_media_as_it_was(tmp_path, media_root, make_user):
    """The whole archive (media included) is extracted, then the database restore fails: the media
    staged for the swap is thrown away, the live media is untouched."""
    make_user("alice", bio="kept")
    _fill_media(media_root, "backup", 4)
    path = _backup(tmp_path)
    (media_root / "photos" / "backup00.jpg").write_bytes(b"changed after the backup")
    (media_root / "photos" / "later.jpg").write_bytes(b"uploaded after the backup")
    before_media, before_db = _tree(media_root), _state()
    damaged = _rewrite_db_member(path, tmp_path, lambda data: data[: len(data) * 2 // 3])
    with pytest.raises(CommandError, match="untouched"):
        call_command("restore", str(damaged), "--force", stdout=io.StringIO(), stderr=io.StringIO())
    assert _tree(media_root) == before_media
    assert _state() == before_db
    _no_staging_left(media_root)


def test_a_symlinked_media_root_stays_a_symlink(tmp_path, settings, make_user):
    target = tmp_path / "volume" / "media"
    (target / "photos").mkdir(parents=True)
    (target / "photos" / "kept.jpg").write_bytes(b"in the backup")
    link = tmp_path / "media-link"
    link.symlink_to(target)
    settings.MEDIA_ROOT = str(link)
    make_user("dora")
    path = _backup(tmp_path)
    (target / "photos" / "later.jpg").write_bytes(b"after")
    call_command("restore", str(path), "--force", stdout=io.StringIO(), stderr=io.StringIO())
    assert link.is_symlink() and link.resolve() == target.resolve()
    assert _tree(target) == {"photos/kept.jpg": b"in the backup"}
    assert sorted(p.name for p in target.parent.iterdir()) == ["media"]


def test_media_swap_inside_a_mount_point_moves_entries(tmp_path):
    """When MEDIA_ROOT is a mount point (it can't be renamed) the staging directory lives inside it
    and the swap renames its entries; the result is the same exact tree."""
    from config.management.commands.restore import media_swap

    root = tmp_path / "media"
    (root / "photos").mkdir(parents=True)
    (root / "photos" / "old.jpg").write_bytes(b"old")
    (root / "stray.txt").write_bytes(b"stray")
    staging = root / ".restore-test"
    new = staging / "media"
    (new / "videos").mkdir(parents=True)
    (new / "videos" / "new.mp4").write_bytes(b"new")
    assert media_swap(new, root, staging) == 1
    assert {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file() and staging not in p.parents} == {
        "videos/new.mp4"}
    assert (staging / "previous" / "photos" / "old.jpg").read_bytes() == b"old"  # deleted with the staging dir
