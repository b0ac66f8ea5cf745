"""Realtime benchmark: N pairs on one Daphne process doing invite → accept → M relayed messages,
side by side with a bare Channels relay (``bench/relay_asgi.py``) on the same machine and layer.

    .venv/bin/python bench/bench_realtime.py [--pairs 50] [--messages 100] [--sequential]

Reports invite-to-room latency (``invite.send`` by A → ``room.started`` at A, which includes B's
``invite.received`` and ``invite.accept`` and the room transaction) p50/p99, and relayed
messages per second (each pair plays ping-pong: A→B, B→A, … M relays; all pairs at once).
Set DATABASE_URL / REDIS_URL (and CACHE_KEY_PREFIX) to measure PostgreSQL + Redis (channels-redis
pub/sub layer); without them: SQLite + in-memory layer.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


from bench._server import BIN, ROOT, DaphneProcess as Server  # noqa: E402


async def _open(url: str):
    from websockets.asyncio.client import connect

    return await connect(url, origin="http://127.0.0.1", proxy=None, max_size=2**20, ping_interval=None)


async def _expect(ws, mtype: str) -> dict:
    while True:
        msg = json.loads(await ws.recv())
        if msg.get("type") == mtype:
            return msg
        if msg.get("type") == "error":
            raise RuntimeError(msg)


async def open_pair(url: str, token_a: str, token_b: str):
    """Two authenticated sockets; B is available for invites."""
    a, b = await _open(url), await _open(url)
    for ws, t in ((a, token_a), (b, token_b)):
        await ws.send(json.dumps({"type": "auth", "token": t}))
        await _expect(ws, "auth.ok")
    await b.send(json.dumps({"type": "presence.set", "available": True}))
    await _expect(b, "presence.state")
    return a, b


async def _ping_pong(a, b, m: int) -> None:
    for i in range(m):
        sender, receiver = (a, b) if i % 2 == 0 else (b, a)
        await sender.send(json.dumps({"type": "room.relay", "data": i}))
        await _expect(receiver, "room.relay")


async def run_core(url: str, tokens: list[tuple[str, str, str]], m: int, sequential: bool = False) -> tuple[list[float], float]:
    socks = [(*await open_pair(url, ta, tb), idb) for ta, tb, idb in tokens]

    async def invite(a, b, idb) -> float:
        t0 = time.perf_counter()
        await a.send(json.dumps({"type": "invite.send", "to": idb, "mode": "text", "seconds": 600}))
        inv = await _expect(b, "invite.received")
        await b.send(json.dumps({"type": "invite.accept", "invite_id": inv["invite"]["id"]}))
        await _expect(a, "room.started")
        t1 = time.perf_counter()
        await _expect(b, "room.started")
        return t1 - t0

    if sequential:  # one invite at a time: the uncontended latency
        latencies = [await invite(*s) for s in socks]
    else:  # all pairs at once
        latencies = await asyncio.gather(*(invite(*s) for s in socks))
    t0 = time.perf_counter()
    await asyncio.gather(*(_ping_pong(a, b, m) for a, b, _ in socks))
    rate = len(socks) * m / (time.perf_counter() - t0)
    for a, b, _ in socks:
        await a.close()
        await b.close()
    return list(latencies), rate


async def run_bare(url: str, pairs: int, m: int) -> tuple[list[float], float]:
    socks = []
    for n in range(pairs):
        a, b = await _open(url), await _open(url)
        socks.append((a, b, n))

    async def join(a, b, n) -> float:
        t0 = time.perf_counter()
        for ws in (a, b):
            await ws.send(json.dumps({"type": "join", "pair": n}))
            await _expect(ws, "joined")
        return time.perf_counter() - t0

    latencies = await asyncio.gather(*(join(*s) for s in socks))
    t0 = time.perf_counter()
    await asyncio.gather(*(_ping_pong(a, b, m) for a, b, _ in socks))
    rate = len(socks) * m / (time.perf_counter() - t0)
    for a, b, _ in socks:
        await a.close()
        await b.close()
    return list(latencies), rate


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))] * 1000


def prepare(var_prefix: str, pairs: int, **overrides: str) -> tuple[dict, list[tuple[str, str, str]], str, str]:
    """Environment for the benchmark server (a throwaway SQLite under a temp VAR_DIR unless
    DATABASE_URL is set), migrated; ``pairs`` pairs of users with a session token each.
    Returns ``(env, [(token_a, token_b, public_id_b)], database label, channel layer label)``."""
    env = dict(os.environ, DJANGO_SETTINGS_MODULE="config.settings", DJANGO_ENV="development", DEBUG="0",
               LOG_LEVEL="WARNING", **overrides)
    if not env.get("DATABASE_URL"):
        env["VAR_DIR"] = tempfile.mkdtemp(prefix=var_prefix)
    os.environ.update(env)
    subprocess.run([BIN / "python", "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)

    import django

    django.setup()
    from accounts.models import User
    from accounts.services import session_create

    tokens = []
    for i in range(pairs):
        ua = User.objects.create_user(name=f"bench-a{i}")
        ub = User.objects.create_user(name=f"bench-b{i}")
        tokens.append((session_create(user=ua, ip=None)[1], session_create(user=ub, ip=None)[1], str(ub.public_id)))
    layer = "channels-redis pub/sub" if env.get("REDIS_URL") else "in-memory"
    db = "PostgreSQL" if env.get("DATABASE_URL", "").startswith("postgres") else "SQLite"
    return env, tokens, db, layer


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pairs", type=int, default=50)
    parser.add_argument("--messages", type=int, default=100)
    parser.add_argument("--sequential", action="store_true", help="invites one pair at a time (uncontended latency)")
    args = parser.parse_args()

    env, tokens, db, layer = prepare(
        "bench-rt-", args.pairs, INVITE_RATE_RECEIVER_PER_MINUTE="1000", INVITE_RATE_SENDER_PER_MINUTE="1000"
    )
    how = "one after another" if args.sequential else "all at once"
    print(f"{args.pairs} pairs (invites {how}), {args.messages} relayed messages per pair, one Daphne process, {db} + {layer} layer")
    with Server("bench.relay_asgi:application", env) as bare:
        asyncio.run(run_bare(bare.ws, 2, 10))  # warm-up
        bare_lat, bare_rate = asyncio.run(run_bare(bare.ws, args.pairs, args.messages))
    with Server("config.asgi:application", env) as core:
        core_lat, core_rate = asyncio.run(run_core(core.ws, tokens, args.messages, args.sequential))
    print(f"bare Channels relay : join p50 {pct(bare_lat, 50):7.1f} ms  p99 {pct(bare_lat, 99):7.1f} ms   relayed {bare_rate:8.0f} msg/s")
    print(f"realtime core       : invite→room p50 {pct(core_lat, 50):7.1f} ms  p99 {pct(core_lat, 99):7.1f} ms   relayed {core_rate:8.0f} msg/s")
    print(f"core / bare relay throughput: {core_rate / bare_rate:.2f}x; mean invite→room {statistics.mean(core_lat) * 1000:.1f} ms")


if __name__ == "__main__":
    main()
