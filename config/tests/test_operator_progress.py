"""Progress bars of the long operator commands: on stderr, only on a terminal or with ``--progress``,
never mixed into what scripts read on stdout."""

from __future__ import annotations

import io
import json
import os
import pty
import subprocess
import sys

import pytest
from django.core.management import call_command

from config.tests.conftest import ROOT


def _read_all(fd: int) -> str:
    chunks = []
    while True:
        try:
            data = os.read(fd, 65536)
        except OSError:  # EIO: the other side is closed
            break
        if not data:
            break
        chunks.append(data)
    return b"".join(chunks).decode(errors="replace")


@pytest.fixture(scope="module")
def var_dir(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("progress")
    env = _env(tmp)
    done = subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return tmp


def _env(tmp) -> dict:
    env = {**os.environ, "DJANGO_ENV": "test", "VAR_DIR": str(tmp), "COLUMNS": "100"}
    env.pop("DATABASE_URL", None)
    env.pop("REDIS_URL", None)
    return env


def _purge_with_stderr_on_a_terminal(var_dir, *flags: str) -> tuple[subprocess.CompletedProcess, str]:
    primary, secondary = pty.openpty()
    try:
        done = subprocess.run([sys.executable, "manage.py", "purge", "--dry-run", "--json", *flags], cwd=ROOT,
                              env=_env(var_dir), stdout=subprocess.PIPE, stderr=secondary, text=True, timeout=180)
        os.close(secondary)
        secondary = None
        return done, _read_all(primary)
    finally:
        if secondary is not None:
            os.close(secondary)
        os.close(primary)


def test_bars_on_a_terminal_and_stdout_stays_json(var_dir):
    done, terminal = _purge_with_stderr_on_a_terminal(var_dir)
    assert done.returncode == 0, terminal
    report = json.loads(done.stdout)  # nothing but the JSON document on stdout
    assert report["dry_run"] is True and report["total"] == 0
    assert "sessions_expired (counting)" in terminal


def test_no_progress_silences_the_terminal(var_dir):
    done, terminal = _purge_with_stderr_on_a_terminal(var_dir, "--no-progress")
    assert done.returncode == 0, terminal
    assert json.loads(done.stdout)["total"] == 0
    assert terminal.strip() == ""


def test_no_bars_when_stderr_is_not_a_terminal(var_dir):
    done = subprocess.run([sys.executable, "manage.py", "purge", "--dry-run", "--json"], cwd=ROOT,
                          env=_env(var_dir), capture_output=True, text=True, timeout=180)
    assert done.returncode == 0 and done.stderr == "" and json.loads(done.stdout)["total"] == 0


@pytest.mark.django_db(transaction=True)
def test_backup_and_restore_progress_go_to_stderr(tmp_path, settings, make_user):
    media = tmp_path / "media"
    (media / "photos").mkdir(parents=True)
    (media / "photos" / "a.jpg").write_bytes(os.urandom(200_000))
    settings.MEDIA_ROOT = str(media)
    make_user("dora")
    out, err = io.StringIO(), io.StringIO()
    call_command("backup", "--output", str(tmp_path / "b"), "--progress", stdout=out, stderr=err)
    assert out.getvalue().startswith("backup written: ") and "archiving" not in out.getvalue()
    assert "backup: dumping the" in err.getvalue() and "backup: archiving" in err.getvalue()
    assert "100%" in err.getvalue()
    path = out.getvalue().split("backup written: ")[1].split(" (")[0]

    out, err = io.StringIO(), io.StringIO()
    call_command("restore", path, "--force", "--progress", stdout=out, stderr=err)
    assert "restore: reading" in err.getvalue() and "100%" in err.getvalue()
    assert "restore: reading" not in out.getvalue() and "restore done" in out.getvalue()

    out, err = io.StringIO(), io.StringIO()
    call_command("backup", "--output", str(tmp_path / "b"), stdout=out, stderr=err)  # not a terminal: quiet
    assert err.getvalue() == ""
