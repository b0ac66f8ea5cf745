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


ENDPOINTS = {"trivial": "/healthz", "me": "/api/me"}
LABELS = {"trivial": "unauthenticated /healthz", "me": "authenticated   /api/me "}


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of a process, all threads (Linux), or None where /proc is absent."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class CpuMeter:
    """Server CPU microseconds per request (None where /proc is absent)."""

    unit, scale = "us", 1e6

    def __init__(self):
        self.pid = self.before = None  # pid: set once the server runs

    def start(self) -> None:
        self.before = cpu_seconds(self.pid)

    def per_request(self, count: int) -> float | None:
        after = cpu_seconds(self.pid)
        return (after - self.before) / count if None not in (self.before, after) and count else None


class Callgrind:
    """The server under callgrind: instructions per request, read from a dump before and after."""

    unit, scale = "k instructions", 1e-3

    def __init__(self):
        self.dir = Path(tempfile.mkdtemp(prefix="bench-callgrind-"))
        self.wrapper = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={self.dir}/cg.%p", "--dump-instr=no"]
        self.pid = None  # set once the server runs

    def _dump(self) -> int:
        """Instructions since the previous dump (callgrind zeroes its counters on each)."""
        before = set(self.dir.glob(f"cg.{self.pid}.*"))
        subprocess.run(["callgrind_control", "--dump", str(self.pid)], capture_output=True, check=True)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:  # the dump is written by the server, after the command returns
            for path in set(self.dir.glob(f"cg.{self.pid}.*")) - before:
                found = re.search(r"^totals:\s+(\d+)", path.read_text(), re.M)
                if found:
                    return int(found.group(1))
            time.sleep(0.2)
        raise SystemExit("callgrind wrote no dump")

    def start(self) -> None:
        self._dump()

    def per_request(self, count: int) -> float:
        return self._dump() / count


def wrk_command(url: str, seconds: int, connections: int, token: str | None, cpu: int | None,
                timeout: str | None = None) -> list:
    cmd = ["wrk", "-t1" if cpu is not None else "-t2", f"-c{connections}", f"-d{seconds}s", url]
    if timeout:
        cmd[1:1] = ["--timeout", timeout]
    if token:
        cmd[1:1] = ["-H", f"Authorization: Bearer {token}"]
    if cpu is not None:
        cmd[:0] = ["taskset", "-c", str(cpu)]
    return cmd


def run_wrk(cmd: list, url: str) -> tuple[int, float]:
    """(requests completed, requests/s); any non-2xx answer stops the benchmark."""
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if non2xx:
        raise SystemExit(f"{url}: {non2xx.group(1)} non-2xx responses\n{out}")
    return int(re.search(r"(\d+) requests in", out).group(1)), float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))


def abba(rounds: int, measure) -> dict[str, list]:
    """Warm both endpoints up, then ``rounds`` rounds of both, in ABBA order."""
    for name in ("me", "trivial"):
        measure(name)
    results: dict[str, list] = {"trivial": [], "me": []}
    for i in range(rounds):
        for name in (("trivial", "me") if i % 2 == 0 else ("me", "trivial")):
            results[name].append(measure(name))
    return results


def _median_ratio(label: str, ratios: list[float], digits: int) -> str:
    quartiles = statistics.quantiles(ratios, n=4) if len(ratios) >= 2 else [ratios[0]] * 3
    return (f"{label} = {statistics.median(ratios):.{digits}f}x median "
            f"(quartiles {quartiles[0]:.{digits}f}-{quartiles[2]:.{digits}f}; target >= 0.80x), "
            f"per round {[round(r, digits) for r in ratios]}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, help="default 24; 4 with --instructions")
    parser.add_argument("--seconds", type=int, help="default 2; 8 with --instructions")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--no-pin", action="store_true")
    parser.add_argument("--instructions", action="store_true", help="count instructions per request under callgrind")
    args = parser.parse_args()
    tools = ["wrk"] + (["valgrind", "callgrind_control"] if args.instructions else [])
    for tool in tools:
        if not shutil.which(tool):
            raise SystemExit(f"{tool} not found: apt-get install {'wrk' if tool == 'wrk' else 'valgrind'}")
    rounds = args.rounds or (4 if args.instructions else 24)
    seconds = args.seconds or (8 if args.instructions else 2)
    storage = "PostgreSQL + Redis" if os.environ.get("REDIS_URL") else "embedded (SQLite + local memory)"
    if args.instructions:
        meter = Callgrind()
        server = BenchServer(env={"SWEEPER_INTERVAL_SECONDS": "3600", "IP_BAN_RECHECK_SECONDS": "3600"},
                             wrapper=meter.wrapper)
        server_cpu = load_cpu = None
        where, timeout = "server under callgrind", "60s"
    else:
        pin = not args.no_pin and shutil.which("taskset") and (os.cpu_count() or 1) >= 2
        server_cpu, load_cpu = (0, 1) if pin else (None, None)
        meter = CpuMeter()
        server = BenchServer(cpu=server_cpu)
        where, timeout = ("server pinned to CPU 0, wrk to CPU 1" if pin else "not pinned"), None
    with server:
        token = server.post("/api/auth/guest", {"name": "Bench", "gender": "unspecified"})["token"]
        meter.pid = server.proc.pid

        def measure(name: str) -> tuple[float, float | None]:
            url = server.url(ENDPOINTS[name])
            cmd = wrk_command(url, seconds, args.connections, token if name == "me" else None, load_cpu, timeout)
            meter.start()
            count, rps = run_wrk(cmd, url)
            return rps, meter.per_request(count)

        results = abba(rounds, measure)
    print(f"storage: {storage}; {where}; {rounds} rounds x {seconds}s x {args.connections} connections, ABBA order")
    trivial, me = results["trivial"], results["me"]
    if not args.instructions:  # under valgrind requests/s say nothing about the server
        for name, runs in results.items():
            rps = [r[0] for r in runs]
            print(f"{LABELS[name]}  req/s median {statistics.median(rps):8.1f}  rounds {[round(x) for x in rps]}")
        print(_median_ratio("ratio /api/me : /healthz", [m[0] / t[0] for m, t in zip(me, trivial)], 2))
    costs = [(t[1], m[1]) for t, m in zip(trivial, me) if t[1] and m[1]]
    if costs:
        for name, index in (("trivial", 0), ("me", 1)):
            values = [c[index] * meter.scale for c in costs]
            print(f"{LABELS[name]}  {meter.unit} per request median {statistics.median(values):8.0f}  "
                  f"rounds {[round(v) for v in values]}")
        label = "capacity ratio by " + ("instructions" if args.instructions else "server CPU")
        print(_median_ratio(label, [t / m for t, m in costs], 3 if args.instructions else 2))


if __name__ == "__main__":
    main()
