"""Room chat benchmark: N concurrent text rooms exchanging persisted messages, side by side with
the same traffic on a bare Channels relay (``bench/relay_asgi.py``: no auth, no validation, no
database) in one run, one Daphne process each, same machine and channel layer.

    .venv/bin/python bench/bench_room.py [--rooms 50] [--messages 100]

Each room plays ping-pong: A sends a message, waits for its ack and for B to receive it, then B
answers, … ``--messages`` per room, all rooms at once.  Reported: persisted messages/s (all rooms)
and ack latency p50/p99 (send → ack; on the bare relay send → its ack after relaying).
Set DATABASE_URL / REDIS_URL (and CACHE_KEY_PREFIX) for PostgreSQL + Redis; without them SQLite
(throwaway file) + the in-memory layer.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.bench_realtime import Server, _expect, _open, open_pair, pct, prepare  # noqa: E402


async def _pingpong(a, b, m: int, frame, ack_type: str, recv_type: str, lat: list[float], tag: str) -> None:
    for i in range(m):
        sender, receiver = (a, b) if i % 2 == 0 else (b, a)
        t0 = time.perf_counter()
        await sender.send(json.dumps(frame(f"{tag}-{i}")))
        await _expect(sender, ack_type)
        lat.append(time.perf_counter() - t0)
        await _expect(receiver, recv_type)


async def run_core(url: str, tokens, m: int) -> tuple[list[float], float]:
    socks = []
    for ta, tb, idb in tokens:
        a, b = await open_pair(url, ta, tb)
        await a.send(json.dumps({"type": "invite.send", "to": idb, "mode": "text", "seconds": 600}))
        inv = await _expect(b, "invite.received")
        await b.send(json.dumps({"type": "invite.accept", "invite_id": inv["invite"]["id"]}))
        await _expect(a, "room.started")
        await _expect(b, "room.started")
        socks.append((a, b))
    lat: list[float] = []

    def frame(cid):
        return {"type": "room.message", "client_id": cid, "body": f"hello {cid}"}

    t0 = time.perf_counter()
    await asyncio.gather(
        *(_pingpong(a, b, m, frame, "room.message.ack", "room.message", lat, f"r{n}") for n, (a, b) in enumerate(socks))
    )
    rate = len(socks) * m / (time.perf_counter() - t0)
    for a, b in socks:
        await a.close()
        await b.close()
    return lat, rate


async def run_bare(url: str, rooms: int, m: int) -> tuple[list[float], float]:
    socks = []
    for n in range(rooms):
        a, b = await _open(url), await _open(url)
        for ws in (a, b):
            await ws.send(json.dumps({"type": "join", "pair": n}))
            await _expect(ws, "joined")
        socks.append((a, b))
    lat: list[float] = []

    def frame(cid):
        return {"type": "msg", "ack": True, "data": {"client_id": cid, "body": f"hello {cid}"}}

    t0 = time.perf_counter()
    await asyncio.gather(*(_pingpong(a, b, m, frame, "ack", "room.relay", lat, f"r{n}") for n, (a, b) in enumerate(socks)))
    rate = len(socks) * m / (time.perf_counter() - t0)
    for a, b in socks:
        await a.close()
        await b.close()
    return lat, rate


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rooms", type=int, default=50)
    parser.add_argument("--messages", type=int, default=100)
    args = parser.parse_args()

    env, tokens, db, layer = prepare(
        "bench-room-", args.rooms,
        INVITE_RATE_RECEIVER_PER_MINUTE="100000", INVITE_RATE_SENDER_PER_MINUTE="100000",
        ROOM_MESSAGE_RATE_PER_10S="1000000", TORCH_IDLE_SECONDS="3600",
    )
    from social.models import RoomMessage

    before = RoomMessage.objects.count()
    print(f"{args.rooms} text rooms at once, {args.messages} messages per room (ping-pong), one Daphne process, {db} + {layer} layer")
    with Server("bench.relay_asgi:application", env) as bare:
        asyncio.run(run_bare(bare.ws, 2, 10))  # warm-up
        bare_lat, bare_rate = asyncio.run(run_bare(bare.ws, args.rooms, args.messages))
    with Server("config.asgi:application", env) as core:
        core_lat, core_rate = asyncio.run(run_core(core.ws, tokens, args.messages))
    stored = RoomMessage.objects.count() - before
    assert stored == args.rooms * args.messages, f"{stored} stored, expected {args.rooms * args.messages}"
    print(f"bare Channels relay : ack p50 {pct(bare_lat, 50):7.1f} ms  p99 {pct(bare_lat, 99):7.1f} ms   {bare_rate:8.0f} msg/s")
    print(f"persisted room chat : ack p50 {pct(core_lat, 50):7.1f} ms  p99 {pct(core_lat, 99):7.1f} ms   {core_rate:8.0f} msg/s ({stored} rows)")
    print(f"persisted / bare relay throughput: {core_rate / bare_rate:.2f}x")


if __name__ == "__main__":
    main()
