"""Throwaway Daphne processes for the benchmarks, killed afterwards.

``DaphneProcess`` serves any ASGI app with the environment it is given (the realtime benchmarks
run ours and a bare relay side by side); ``BenchServer`` is ours on its own migrated ``VAR_DIR``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def daphne_args(port: int, app: str) -> list[str]:
    """Daphne's arguments as shipped (deploy/systemd, Procfile, ``make run``): the socket named as a
    Twisted endpoint with a listen queue of 4096 (docs/DEPLOYMENT.md, "The listen queue")."""
    return ["-e", f"tcp:port={port}:interface=127.0.0.1:backlog=4096", app]


class DaphneProcess:
    def __init__(self, app: str, env: dict, cpu: int | None = None, wrapper: list | None = None):
        self.app, self.env, self.port = app, env, free_port()
        self.cpu = cpu  # pin the server to one CPU (and leave the others to the load generator)
        self.wrapper = wrapper  # run the server under a tool (valgrind): the interpreter is named
        self.proc = None

    def __enter__(self):
        pin = ["taskset", "-c", str(self.cpu)] if self.cpu is not None else []
        program = [*self.wrapper, BIN / "python", BIN / "daphne"] if self.wrapper else [BIN / "daphne"]
        self.proc = subprocess.Popen(
            [*pin, *program, *daphne_args(self.port, self.app)],
            cwd=ROOT, env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + (600 if self.wrapper else 30)
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(self.url("/readyz"), timeout=60 if self.wrapper else 1)
                return self
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"{self.app} did not start")

    def __exit__(self, *exc):
        if self.proc:
            self.proc.kill()
            self.proc.wait()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    @property
    def ws(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws/"

    def post(self, path: str, body: dict, token: str | None = None) -> dict:
        req = urllib.request.Request(self.url(path), data=json.dumps(body).encode(), method="POST")
        req.add_header("Content-Type", "application/json")
        if token:
            req.add_header("Authorization", f"Bearer {token}")
        with urllib.request.urlopen(req, timeout=10) as resp:
            return json.loads(resp.read())


class BenchServer(DaphneProcess):
    """Our application on a fresh ``VAR_DIR`` (migrated first)."""

    def __init__(self, env: dict | None = None, cpu: int | None = None, wrapper: list | None = None):
        self.tmp = tempfile.mkdtemp(prefix="bench-")
        full = dict(os.environ, VAR_DIR=self.tmp, DJANGO_ENV="development", DEBUG="0", LOG_LEVEL="WARNING")
        full.update(env or {})
        super().__init__("config.asgi:application", full, cpu, wrapper)

    def __enter__(self):
        subprocess.run([BIN / "python", "manage.py", "migrate", "-v0"], cwd=ROOT, env=self.env, check=True)
        return super().__enter__()
