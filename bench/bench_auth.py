"""Authenticated ``GET /api/me`` vs an unauthenticated trivial view (``/healthz``) on the same
Daphne process, interleaved rounds, one run.  Needs ``wrk`` (Debian package).

    .venv/bin/python bench/bench_auth.py [--rounds 3] [--seconds 5] [--connections 16]

Set DATABASE_URL / REDIS_URL to measure the PostgreSQL + Redis configuration.
"""

from __future__ import annotations

import argparse
import re
import shutil
import statistics
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _server import BenchServer  # noqa: E402


def wrk(url: str, seconds: int, connections: int, token: str | None = None) -> float:
    cmd = ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", url]
    if token:
        cmd[1:1] = ["-H", f"Authorization: Bearer {token}"]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if non2xx:
        raise SystemExit(f"{url}: {non2xx.group(1)} non-2xx responses\n{out}")
    return float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--connections", type=int, default=16)
    args = parser.parse_args()
    if not shutil.which("wrk"):
        raise SystemExit("wrk not found: apt-get install wrk")
    with BenchServer() as server:
        token = server.post("/api/auth/guest", {"name": "Bench", "gender": "unspecified"})["token"]
        wrk(server.url("/api/me"), 1, 4, token)  # warm-up
        trivial, me = [], []
        for _ in range(args.rounds):
            trivial.append(wrk(server.url("/healthz"), args.seconds, args.connections))
            me.append(wrk(server.url("/api/me"), args.seconds, args.connections, token))
        t, m = statistics.median(trivial), statistics.median(me)
        print(f"unauthenticated /healthz   req/s median {t:8.1f}  rounds {[round(x) for x in trivial]}")
        print(f"authenticated   /api/me    req/s median {m:8.1f}  rounds {[round(x) for x in me]}")
        print(f"ratio /api/me : /healthz = {m / t:.2f}x  (target >= 0.80x)")


if __name__ == "__main__":
    main()
