"""The "First installation" steps of docs/DEPLOYMENT.md, run for real: ``deploy/install.sh`` into a
scratch root (a real system user, a real env file, real permissions), then the documented
``campuschat-manage`` steps as that user in production mode.  Plus: ``deploy/env.example`` parses
in a shell (the helper sources it) and the systemd units pass ``systemd-analyze verify``."""

from __future__ import annotations

import hashlib
import os
import pwd
import grp
import re
import shutil
import stat
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

import pytest

from tests.servers import ROOT

ENV_EXAMPLE = ROOT / "deploy" / "env.example"
UNITS = ROOT / "deploy" / "systemd"


def _sh(script: str, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(["sh", "-c", script], capture_output=True, text=True, timeout=60, **kw)


@pytest.mark.parametrize("uncomment", [False, True], ids=["as-shipped", "optional-lines-uncommented"])
def test_env_example_sources_cleanly_in_a_shell(tmp_path, uncomment):
    text = ENV_EXAMPLE.read_text()
    if uncomment:  # the commented examples (S3 media, TURN) must parse too once switched on
        text = re.sub(r"(?m)^# ([A-Z][A-Z0-9_]*=)", r"\1", text)
    path = tmp_path / "env"
    path.write_text(text)
    result = _sh(f'set -eu; set -a; . "{path}"; set +a; env -0', env={"PATH": os.environ["PATH"]})
    assert result.returncode == 0 and not result.stderr, result.stderr
    env = dict(item.split("=", 1) for item in result.stdout.split("\0") if "=" in item)
    assert env["DEFAULT_FROM_EMAIL"] == "Campus Chat <chat@example.edu>"
    assert env["DJANGO_ENV"] == "production"
    if uncomment:
        import json

        assert json.loads(env["MEDIA_STORAGE_OPTIONS"])["bucket_name"] == "chat-media"
    # every KEY=value line in the file came out as that variable (nothing swallowed by quoting)
    keys = re.findall(r"(?m)^([A-Z][A-Z0-9_]*)=", text)
    assert keys and all(k in env for k in keys)


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze not available")
def test_systemd_units_pass_systemd_analyze_verify(tmp_path):
    # paths swapped into a scratch root where the executables exist (verify checks ExecStart=)
    root = tmp_path / "root"
    for exe in ("python", "daphne"):
        target = root / "srv/campuschat/.venv/bin" / exe
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text("#!/bin/sh\n")
        target.chmod(0o755)
    (root / "etc/campuschat").mkdir(parents=True)
    (root / "etc/campuschat/env").write_text("DJANGO_ENV=production\n")
    units = tmp_path / "units"
    units.mkdir()
    for unit in UNITS.iterdir():
        text = unit.read_text().replace("/srv/campuschat", f"{root}/srv/campuschat")
        text = text.replace("/etc/campuschat/env", f"{root}/etc/campuschat/env")
        (units / unit.name).write_text(text)
    (units / "campuschat@8001.service").write_text((units / "campuschat@.service").read_text())
    names = [str(p) for p in sorted(units.iterdir()) if p.name != "campuschat@.service"]
    result = subprocess.run(["systemd-analyze", "verify", *names], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip() == "", result.stderr  # unknown keys are only warnings: none allowed


# --- the install script, for real ----------------------------------------------------------------
def _service_venv(user: str) -> Path | None:
    """A virtualenv the service user can execute.  The test's own may live under /root (0700);
    then one is built once from Debian's python3 into /var/tmp and reused while requirements.txt holds."""
    own = Path(sys.prefix)
    probe = subprocess.run(["runuser", "-u", user, "--", str(own / "bin" / "python"), "-c", "import django"],
                           capture_output=True, timeout=60)
    if probe.returncode == 0:
        return own
    base = shutil.which("python3", path="/usr/bin")
    if base is None:
        return None
    digest = hashlib.sha256((ROOT / "requirements.txt").read_bytes()).hexdigest()[:12]
    venv = Path("/var/tmp") / f"campuschat-install-test-venv-{digest}"  # outside the tree, kept between runs
    if not (venv / ".complete").exists():
        for stale in venv.parent.glob("campuschat-install-test-venv-*"):  # older requirements
            shutil.rmtree(stale, ignore_errors=True)
        try:
            subprocess.run([base, "-m", "venv", str(venv)], check=True, timeout=300, capture_output=True)
            subprocess.run([str(venv / "bin/python"), "-m", "pip", "install", "--quiet", "-r",
                            str(ROOT / "requirements.txt")], check=True, timeout=1200, capture_output=True)
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired):
            return None  # no python3-venv, no package index: nothing the service user could run
        (venv / ".complete").touch()
    for path in [venv, *venv.rglob("*")]:  # readable (and traversable) by the service user
        mode = path.lstat().st_mode
        if not stat.S_ISLNK(mode):
            path.chmod(mode | stat.S_IROTH | (stat.S_IXOTH if mode & stat.S_IXUSR else 0))
    for parent in venv.parents:
        if not parent.stat().st_mode & stat.S_IXOTH:
            return None
    return venv


@pytest.mark.slow
@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("useradd") is None or shutil.which("runuser") is None,
                    reason="needs root with useradd/runuser (creates and removes a real system user)")
def test_install_script_and_first_steps_in_a_scratch_root():
    user = f"cc{uuid.uuid4().hex[:8]}"
    scratch = Path(tempfile.mkdtemp(prefix="campuschat-install-"))
    scratch.chmod(0o755)
    app, etc = scratch / "srv/campuschat", scratch / "etc/campuschat"
    manage = scratch / "usr/local/bin/campuschat-manage"
    try:
        subprocess.run(["useradd", "--system", "--user-group", "--no-create-home", "--shell", "/usr/sbin/nologin",
                        user], check=True, timeout=60)  # only to probe the venv; install.sh finds it
        venv = _service_venv(user)
        if venv is None:
            pytest.skip("no virtualenv the service user can execute")
        subprocess.run(["userdel", user], check=True, timeout=60)
        env = {**os.environ, "PREFIX": str(scratch), "APP_USER": user, "VENV": str(venv)}
        result = subprocess.run(["sh", str(ROOT / "deploy/install.sh")], env=env, capture_output=True, text=True,
                                timeout=300)
        assert result.returncode == 0, result.stdout + result.stderr

        # 1. the service user: system account, home = the app directory, no login shell
        account = pwd.getpwnam(user)
        assert account.pw_dir == str(app) and account.pw_shell == "/usr/sbin/nologin" and account.pw_uid < 1000
        group = grp.getgrnam(user).gr_gid
        # 2. code root-owned and read-only to the service; var/ its own; media/static readable by nginx
        as_user = lambda *cmd: subprocess.run(["runuser", "-u", user, "--", *cmd], capture_output=True, timeout=60)  # noqa: E731
        assert (app / "manage.py").stat().st_uid == 0
        assert as_user("touch", str(app / "manage.py")).returncode != 0
        assert as_user("touch", str(app / "var/probe")).returncode == 0
        for sub in ("media", "static"):
            assert (app / "var" / sub).stat().st_mode & 0o777 == 0o755
        assert (app / "var/backups").stat().st_mode & 0o777 == 0o700
        # 4. env file: 640 root:<service group>, readable by the service, fresh secrets
        info = (etc / "env").stat()
        assert (info.st_mode & 0o777, info.st_uid, info.st_gid) == (0o640, 0, group)
        assert as_user("cat", str(etc / "env")).returncode == 0
        text = (etc / "env").read_text()
        secret = re.search(r"(?m)^SECRET_KEY=(.*)$", text).group(1)
        assert len(secret) >= 50 and "change-me" not in secret
        assert "another-long-random-string" not in text
        # 5. units and the nginx site in place
        assert (scratch / "etc/systemd/system/campuschat@.service").exists()
        assert (scratch / "etc/nginx/sites-available/campuschat").read_text() == (ROOT / "deploy/nginx.conf").read_text()

        # the operator's edit: here SQLite in var/ and no Redis (one process), mail to a local relay
        text = re.sub(r"(?m)^DATABASE_URL=.*$", f"DATABASE_URL=sqlite:///{app}/var/db.sqlite3", text)
        text = re.sub(r"(?m)^REDIS_URL=.*$", "", text)
        (etc / "env").write_text(text)

        def run(*args, stdin=None):
            done = subprocess.run([str(manage), *args], input=stdin, capture_output=True, text=True, timeout=300)
            assert done.returncode == 0, f"campuschat-manage {' '.join(args)}:\n{done.stdout}\n{done.stderr}"
            return done.stdout

        run("migrate", "--noinput")
        run("collectstatic", "--noinput")
        doctor = run("doctor")
        assert "all checks passed" in doctor
        assert "created moderator: mod@example.edu" in run("createmoderator", "--email", "mod@example.edu",
                                                           "--password-stdin", stdin="Str0ng-pass-xyz\n")
        codes = run("invitecodes", "create", "--count", "2", "--uses", "1", "--expires", "30d").splitlines()
        assert codes[0].startswith("code,kind,") and len(codes) == 3
        assert (app / "var/db.sqlite3").stat().st_uid == account.pw_uid
        assert list((app / "var/static/admin/css").glob("base.*.css"))  # hashed names (manifest storage)

        # running it again upgrades code/units but keeps the edited env file
        again = subprocess.run(["sh", str(ROOT / "deploy/install.sh")], env=env, capture_output=True, text=True,
                               timeout=300)
        assert again.returncode == 0, again.stderr
        assert (etc / "env").read_text() == text
    finally:
        subprocess.run(["userdel", user], capture_output=True, timeout=60)
        subprocess.run(["groupdel", user], capture_output=True, timeout=60)
        shutil.rmtree(scratch, ignore_errors=True)
