"""Authenticated ``GET /api/me`` vs an unauthenticated trivial view (``/healthz``) on the same
Daphne process, side by side in one run.  Needs ``wrk`` (Debian package).

    .venv/bin/python bench/bench_auth.py [--rounds 7] [--seconds 3] [--connections 16] [--no-pin]

Set DATABASE_URL / REDIS_URL to measure the PostgreSQL + Redis configuration.

Each round measures both endpoints back to back; the result is the median of the per-round
ratios, so a slow spell on a shared machine moves both sides of a ratio instead of one.  With two
or more CPUs the server is pinned to CPU 0 and wrk to CPU 1 (``--no-pin`` to let them float):
one Daphne process uses one core (the GIL), and pinning keeps the two from trading places.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _server import BenchServer  # noqa: E402


def wrk(url: str, seconds: int, connections: int, token: str | None = None, cpu: int | None = None) -> float:
    cmd = ["wrk", "-t1" if cpu is not None else "-t2", f"-c{connections}", f"-d{seconds}s", url]
    if token:
        cmd[1:1] = ["-H", f"Authorization: Bearer {token}"]
    if cpu is not None:
        cmd[:0] = ["taskset", "-c", str(cpu)]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if non2xx:
        raise SystemExit(f"{url}: {non2xx.group(1)} non-2xx responses\n{out}")
    return float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--seconds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--no-pin", action="store_true")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        raise SystemExit("wrk not found: apt-get install wrk")
    pin = not args.no_pin and shutil.which("taskset") and (os.cpu_count() or 1) >= 2
    server_cpu, load_cpu = (0, 1) if pin else (None, None)
    storage = "PostgreSQL + Redis" if os.environ.get("REDIS_URL") else "embedded (SQLite + local memory)"
    with BenchServer(cpu=server_cpu) as server:
        token = server.post("/api/auth/guest", {"name": "Bench", "gender": "unspecified"})["token"]
        wrk(server.url("/api/me"), 1, 4, token, load_cpu)  # warm-up
        trivial, me = [], []
        for _ in range(args.rounds):
            trivial.append(wrk(server.url("/healthz"), args.seconds, args.connections, cpu=load_cpu))
            me.append(wrk(server.url("/api/me"), args.seconds, args.connections, token, load_cpu))
        ratios = [m / t for m, t in zip(me, trivial)]
        print(f"storage: {storage}; server {'pinned to CPU 0, wrk to CPU 1' if pin else 'not pinned'}; "
              f"{args.rounds} rounds x {args.seconds}s x {args.connections} connections")
        print(f"unauthenticated /healthz   req/s median {statistics.median(trivial):8.1f}  rounds {[round(x) for x in trivial]}")
        print(f"authenticated   /api/me    req/s median {statistics.median(me):8.1f}  rounds {[round(x) for x in me]}")
        print(f"ratio /api/me : /healthz per round {[round(r, 2) for r in ratios]}")
        print(f"ratio /api/me : /healthz = {statistics.median(ratios):.2f}x median (target >= 0.80x)")


if __name__ == "__main__":
    main()
