"""Authenticated ``GET /api/me`` vs an unauthenticated trivial view (``/healthz``) on the same
Daphne process, side by side in one run.  Needs ``wrk`` (Debian package).

    .venv/bin/python bench/bench_auth.py [--rounds 24] [--seconds 2] [--connections 16] [--no-pin]
    .venv/bin/python bench/bench_auth.py --instructions [--rounds 4] [--seconds 8]

Set DATABASE_URL / REDIS_URL to measure the PostgreSQL + Redis configuration.

Each round measures both endpoints back to back, in alternating order (ABBA: a machine that is
speeding up or slowing down favours neither side); the result is the median of the per-round
ratios, so a slow spell on a shared machine moves both sides of a ratio instead of one.  With two
or more CPUs the server is pinned to CPU 0 and wrk to CPU 1 (``--no-pin`` to let them float):
one Daphne process uses one core (the GIL), and pinning keeps the two from trading places.

Beside requests/s, each round reads the server's CPU time (``/proc/<pid>/stat``, all threads) and
reports CPU per request: the same ratio with time the machine gave to other tenants left out, a
cross-check on a noisy shared host.

``--instructions`` runs the server under valgrind's callgrind instead and reports instructions per
request (the same ABBA rounds, far fewer requests: valgrind runs ~50x slower).  Instruction counts
do not depend on what else the machine is doing; they still move a few percent from round to round
(how requests interleave changes the work of thread hand-offs), where requests/s swing by ±15 %.
They do not see cache misses.  Needs valgrind (Debian package).  The server's
once-a-second jobs (the background sweep, the IP-ban list recheck) run once an hour there: at
valgrind's speed (~20 requests/s) a second's job would be charged to 20 requests instead of the
~1,000 it is shared by in a real run.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _server import BenchServer  # noqa: E402


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of a process, all threads (Linux), or None where /proc is absent."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wrk(url: str, seconds: int, connections: int, token: str | None = None, cpu: int | None = None,
        server_pid: int | None = None) -> tuple[float, float | None]:
    """(requests/s, server CPU microseconds per request or None)."""
    cmd = ["wrk", "-t1" if cpu is not None else "-t2", f"-c{connections}", f"-d{seconds}s", url]
    if token:
        cmd[1:1] = ["-H", f"Authorization: Bearer {token}"]
    if cpu is not None:
        cmd[:0] = ["taskset", "-c", str(cpu)]
    before = cpu_seconds(server_pid) if server_pid else None
    count, rps = _run_wrk(cmd, url)
    after = cpu_seconds(server_pid) if server_pid else None
    per_request = (after - before) / count * 1e6 if before is not None and after is not None and count else None
    return rps, per_request


def _run_wrk(cmd: list, url: str) -> tuple[int, float]:
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if non2xx:
        raise SystemExit(f"{url}: {non2xx.group(1)} non-2xx responses\n{out}")
    return int(re.search(r"(\d+) requests in", out).group(1)), float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))


class Callgrind:
    """The server under callgrind; ``count()`` = instructions since the previous call."""

    def __init__(self):
        self.dir = Path(tempfile.mkdtemp(prefix="bench-callgrind-"))
        self.wrapper = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={self.dir}/cg.%p", "--dump-instr=no"]

    def count(self, pid: int) -> int:
        before = set(self.dir.glob(f"cg.{pid}.*"))
        subprocess.run(["callgrind_control", "--dump", str(pid)], capture_output=True, check=True)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:  # the dump is written by the server, after the command returns
            for path in set(self.dir.glob(f"cg.{pid}.*")) - before:
                found = re.search(r"^totals:\s+(\d+)", path.read_text(), re.M)
                if found:
                    return int(found.group(1))
            time.sleep(0.2)
        raise SystemExit("callgrind wrote no dump")


def instructions(args, storage: str) -> None:
    for tool in ("valgrind", "callgrind_control"):
        if not shutil.which(tool):
            raise SystemExit(f"{tool} not found: apt-get install valgrind")
    grind = Callgrind()
    env = {"SWEEPER_INTERVAL_SECONDS": "3600", "IP_BAN_RECHECK_SECONDS": "3600"}
    with BenchServer(env=env, wrapper=grind.wrapper) as server:
        pid = server.proc.pid
        token = server.post("/api/auth/guest", {"name": "Bench", "gender": "unspecified"})["token"]
        endpoints = {"trivial": ("/healthz", None), "me": ("/api/me", token)}
        per_request: dict[str, list[float]] = {"trivial": [], "me": []}

        def measure(name: str) -> float:
            path, auth = endpoints[name]
            cmd = ["wrk", "-t1", f"-c{args.connections}", f"-d{args.seconds}s", "--timeout", "60s", server.url(path)]
            if auth:
                cmd[1:1] = ["-H", f"Authorization: Bearer {auth}"]
            grind.count(pid)
            count, _ = _run_wrk(cmd, path)
            return grind.count(pid) / count

        for name in ("me", "trivial"):  # warm-up
            measure(name)
        for i in range(args.rounds):
            for name in (("trivial", "me") if i % 2 == 0 else ("me", "trivial")):  # ABBA
                per_request[name].append(measure(name))
    trivial, me = per_request["trivial"], per_request["me"]
    ratios = [t / m for t, m in zip(trivial, me)]
    print(f"storage: {storage}; server under callgrind; {args.rounds} rounds x {args.seconds}s x "
          f"{args.connections} connections, ABBA order")
    print(f"unauthenticated /healthz  instructions/request median {statistics.median(trivial) / 1e3:8.0f}k  "
          f"rounds {[round(x / 1e3) for x in trivial]}")
    print(f"authenticated   /api/me   instructions/request median {statistics.median(me) / 1e3:8.0f}k  "
          f"rounds {[round(x / 1e3) for x in me]}")
    print(f"ratio /api/me : /healthz (capacity, by instructions) = {statistics.median(ratios):.3f}x median, "
          f"rounds {[round(r, 3) for r in ratios]}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=24)
    parser.add_argument("--seconds", type=int, default=2)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--no-pin", action="store_true")
    parser.add_argument("--instructions", action="store_true",
                        help="count instructions per request under callgrind (defaults: 4 rounds x 8s)")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        raise SystemExit("wrk not found: apt-get install wrk")
    storage = "PostgreSQL + Redis" if os.environ.get("REDIS_URL") else "embedded (SQLite + local memory)"
    if args.instructions:
        if "--rounds" not in sys.argv:
            args.rounds = 4
        if "--seconds" not in sys.argv:
            args.seconds = 8
        instructions(args, storage)
        return
    pin = not args.no_pin and shutil.which("taskset") and (os.cpu_count() or 1) >= 2
    server_cpu, load_cpu = (0, 1) if pin else (None, None)
    with BenchServer(cpu=server_cpu) as server:
        token = server.post("/api/auth/guest", {"name": "Bench", "gender": "unspecified"})["token"]
        pid = server.proc.pid
        wrk(server.url("/api/me"), 1, 4, token, load_cpu)  # warm-up
        wrk(server.url("/healthz"), 1, 4, None, load_cpu)
        trivial, me = [], []
        for i in range(args.rounds):
            runs = {
                "trivial": lambda: trivial.append(
                    wrk(server.url("/healthz"), args.seconds, args.connections, None, load_cpu, pid)),
                "me": lambda: me.append(
                    wrk(server.url("/api/me"), args.seconds, args.connections, token, load_cpu, pid)),
            }
            for name in (("trivial", "me") if i % 2 == 0 else ("me", "trivial")):  # ABBA
                runs[name]()
        ratios = [m[0] / t[0] for m, t in zip(me, trivial)]
        print(f"storage: {storage}; server {'pinned to CPU 0, wrk to CPU 1' if pin else 'not pinned'}; "
              f"{args.rounds} rounds x {args.seconds}s x {args.connections} connections, ABBA order")
        for label, runs in (("unauthenticated /healthz", trivial), ("authenticated   /api/me ", me)):
            rps = [r[0] for r in runs]
            print(f"{label}  req/s median {statistics.median(rps):8.1f}  rounds {[round(x) for x in rps]}")
        print(f"ratio /api/me : /healthz per round {[round(r, 2) for r in ratios]}")
        quartiles = statistics.quantiles(ratios, n=4) if len(ratios) >= 2 else [ratios[0]] * 3
        print(f"ratio /api/me : /healthz = {statistics.median(ratios):.2f}x median "
              f"(quartiles {quartiles[0]:.2f}-{quartiles[2]:.2f}; target >= 0.80x)")
        cpu_pairs = [(t[1], m[1]) for t, m in zip(trivial, me) if t[1] and m[1]]
        if cpu_pairs:
            cpu_ratios = [t / m for t, m in cpu_pairs]
            print(f"server CPU per request: /healthz {statistics.median(t for t, _ in cpu_pairs):.0f} us, "
                  f"/api/me {statistics.median(m for _, m in cpu_pairs):.0f} us; "
                  f"capacity ratio {statistics.median(cpu_ratios):.2f}x median")


if __name__ == "__main__":
    main()
