"""Real server processes for restart and multi-process tests.

``DaphneServer`` starts ``daphne config.asgi:application`` as a subprocess on a free loopback
port, pointed at the *test* database and the same Redis as the test process, and waits (with a
deadline, not a sleep) until ``/readyz`` answers.  ``kill()`` is SIGKILL: nothing gets to clean up.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from django.conf import settings
from django.db import connection

ROOT = Path(__file__).resolve().parent.parent
DAPHNE = str(Path(sys.executable).with_name("daphne"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_database_url() -> str:
    """A DATABASE_URL naming the database the test process is using right now."""
    db = settings.DATABASES["default"]
    name = connection.settings_dict["NAME"]
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{name}"
    user = db.get("USER") or ""
    password = db.get("PASSWORD") or ""
    auth = f"{user}:{password}@" if password else (f"{user}@" if user else "")
    return f"postgresql://{auth}{db.get('HOST') or '127.0.0.1'}:{db.get('PORT') or 5432}/{name}"


class DaphneServer:
    def __init__(self, port: int | None = None, env: dict | None = None, log_name: str = "daphne"):
        self.port = port or free_port()
        self.extra_env = env or {}
        self.proc: subprocess.Popen | None = None
        self.log_path = ROOT / "var" / f"{log_name}-{self.port}.log"
        self.log_offset = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws/"

    def env(self) -> dict:
        env = dict(os.environ)
        env.update(
            {
                "DJANGO_SETTINGS_MODULE": "config.settings",
                "DJANGO_ENV": "test",
                "DATABASE_URL": test_database_url(),
                "SECRET_KEY": settings.SECRET_KEY,
                "CACHE_KEY_PREFIX": settings.CACHES["default"].get("KEY_PREFIX", "cc"),
                "PYTHONUNBUFFERED": "1",
            }
        )
        if settings.REDIS_URL:
            env["REDIS_URL"] = settings.REDIS_URL
        else:
            env.pop("REDIS_URL", None)
        env.update({k: str(v) for k, v in self.extra_env.items()})
        return env

    def start(self, timeout: float = 30.0) -> "DaphneServer":
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        # the log file is appended to; remember where this start begins so log_tail() shows only it
        self.log_offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [DAPHNE, "-e", f"tcp:port={self.port}:interface=127.0.0.1:backlog=4096", "config.asgi:application"],
            cwd=ROOT,
            env=self.env(),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.wait_ready(timeout)
        return self

    def wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"daphne exited with {self.proc.returncode}:\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(self.base_url + "/readyz", timeout=1) as resp:
                    if resp.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, OSError):
                pass
            time.sleep(0.05)  # polling a readiness probe, bounded by the deadline
        raise TimeoutError(f"daphne on {self.port} not ready in {timeout}s:\n{self.log_tail()}")

    def log_tail(self, n: int = 40) -> str:
        """The last ``n`` lines this start of the server wrote."""
        try:
            with open(self.log_path, "rb") as fh:
                fh.seek(self.log_offset)
                text = fh.read().decode(errors="replace")
            return "\n".join(text.splitlines()[-n:])
        except OSError:
            return ""

    def kill(self) -> None:
        """SIGKILL: the process gets no chance to clean up."""
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)

    def terminate(self, timeout: float = 15.0) -> int:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            return self.proc.wait(timeout=timeout)
        return self.proc.returncode if self.proc else 0

    def stop(self) -> None:
        self.kill()

    # --- tiny HTTP client (stdlib; real sockets) ---------------------------------------
    def request(self, method: str, path: str, body: dict | None = None, token: str | None = None, headers=None):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.base_url + path, data=data, method=method)
        if body is not None:
            req.add_header("Content-Type", "application/json")
        if token:
            req.add_header("Authorization", f"Bearer {token}")
        for k, v in (headers or {}).items():
            req.add_header(k, v)
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                raw = resp.read()
                return resp.status, (json.loads(raw) if raw else None)
        except urllib.error.HTTPError as err:
            raw = err.read()
            try:
                return err.code, json.loads(raw) if raw else None
            except ValueError:
                return err.code, raw.decode(errors="replace")


class RedisServer:
    """A ``redis-server`` of the test's own on a free loopback port, which the test may stop and
    start again (the shared one on 6379 is never touched).  No persistence: a restart is empty."""

    BINARY = "redis-server"

    def __init__(self, port: int | None = None):
        self.port = port or free_port()
        self.proc: subprocess.Popen | None = None
        self.log_path = ROOT / "var" / f"redis-{self.port}.log"

    @classmethod
    def unavailable(cls) -> str | None:
        """Why no server can be started here, or None."""
        import shutil

        return None if shutil.which(cls.BINARY) else f"{cls.BINARY} not found"

    def url(self, db: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    def start(self, timeout: float = 10.0) -> "RedisServer":
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen(
            [self.BINARY, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--logfile", str(self.log_path), "--dir", str(self.log_path.parent)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        import redis

        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"redis-server exited with {self.proc.returncode}; see {self.log_path}")
            try:
                if redis.Redis(port=self.port, socket_connect_timeout=0.5).ping():
                    return self
            except redis.RedisError:
                if time.monotonic() > deadline:
                    raise
            time.sleep(0.02)  # polling the server's own readiness, bounded by the deadline

    def stop(self) -> None:
        """SIGKILL: connections drop at once, every key is gone (as after a crash)."""
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)
