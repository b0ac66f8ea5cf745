"""``queue.get`` as the queue grows: N available users (each a socket heart-beating at the
defaults, as in production) against a small queue, in the same run, on one Daphne process.

    DATABASE_URL=postgresql://… REDIS_URL=redis://… .venv/bin/python bench/bench_queue.py \
        [--available 2000] [--small 10] [--viewers 2] [--calls 300] [--rounds 4] [--limit 50]

Every socket stays connected and heart-beating the whole run; only how many of them are in the
queue changes: the "small" rounds leave ``--small`` of them available (the rest send
``presence.set`` ``available: false``), the "large" rounds make every one available again.  The
rounds alternate (ABBA), so a machine that speeds up or slows down favours neither size.  Each
viewer (connected, not in the queue) has blocks either way, cooldowns, skips of this visit and a
referral intro among the available users, and a few available users are in a live room, so the
exclusions are exercised; each answer's ``total`` is checked against the expected count.

Reports per size: ``queue.get`` → ``queue.list`` latency p50 / p99 (all viewers' calls), the ratio
of the p50s, and the server's CPU per call (``/proc``), gross and net of the idle CPU (heartbeats)
measured just before each round.  The server is pinned to CPU 0 and this client to CPU 1.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._server import DaphneProcess  # noqa: E402
from bench.bench_auth import cpu_seconds  # noqa: E402
from bench.bench_realtime import prepare  # noqa: E402
from bench.bench_storm import ORIGIN, pct  # noqa: E402
from tests.wsclient import reconnect_delay  # noqa: E402

BLOCKS, COOLDOWNS, SKIPS, IN_ROOMS = 6, 5, 5, 10  # per viewer / in all


# --- setup (in this process, on the server's database) ---------------------------------------------
def make_users(available: int, viewers: int) -> dict:
    """Users with sessions: ``available`` queue members and ``viewers``; per viewer blocks (half each
    way), cooldowns and an intro among the members; ``IN_ROOMS`` members in live text rooms.
    Returns tokens, public ids and, per viewer, who it must not see."""
    from accounts.models import User
    from accounts.services import session_create
    from config import clock
    from invites.models import ReferralLink, ReferralNotification
    from social.models import Block, Cooldown, Room, RoomParticipant

    from django.conf import settings
    from django.core.cache import cache

    if settings.REDIS_URL:  # an earlier run's sockets stay "available" until they expire
        for pattern in ("pres:*", "queue:*"):
            cache.delete_pattern(pattern)
    # a reused database: rooms left live by an earlier run would hide their users or be swept
    RoomParticipant.objects.filter(live=True).update(live=False)
    Room.objects.filter(status__in=Room.LIVE).update(status=Room.Status.ENDED, end_reason="user")
    now, run = clock.now(), random.randrange(10**9)
    users = [User(name=f"queue-{run}-{i}") for i in range(available + viewers)]
    for u in users:
        u.set_unusable_password()
    users = User.objects.bulk_create(users)
    tokens = [session_create(user=u, ip=None)[1] for u in users]
    members, viewer_users = users[:available], users[available:]
    rng = random.Random(run)
    # exclusions come from past the small queue, so the small queue is the same for every viewer
    pool = list(range(min(available, 10 + IN_ROOMS), available))
    rng.shuffle(pool)
    in_rooms = [members[i] for i in pool[:IN_ROOMS]]
    rooms = [
        Room(mode="text", duration_seconds=3600, started_at=now, ends_at=now + timedelta(hours=1), inviter=in_rooms[i])
        for i in range(0, len(in_rooms) - 1, 2)
    ]
    Room.objects.bulk_create(rooms)
    RoomParticipant.objects.bulk_create([
        RoomParticipant(room=room, user=u, lease_expires_at=now + timedelta(minutes=10), last_message_at=now + timedelta(hours=1))
        for i, room in enumerate(rooms) for u in in_rooms[2 * i: 2 * i + 2]
    ])
    per_viewer, cursor = [], IN_ROOMS
    for v in viewer_users:
        picks = [members[i] for i in pool[cursor: cursor + BLOCKS + COOLDOWNS + SKIPS + 1]]
        cursor += len(picks)
        blocks, cooldowns = picks[:BLOCKS], picks[BLOCKS: BLOCKS + COOLDOWNS]
        skips, intro = picks[BLOCKS + COOLDOWNS: -1], picks[-1]
        Block.objects.bulk_create([
            Block(blocker=v, blocked=u, created_at=now) if i % 2 else Block(blocker=u, blocked=v, created_at=now)
            for i, u in enumerate(blocks)
        ])
        Cooldown.objects.bulk_create([
            Cooldown(user_low_id=min(v.pk, u.pk), user_high_id=max(v.pk, u.pk), until=now + timedelta(hours=1), created_at=now)
            for u in cooldowns
        ])
        link = ReferralLink.objects.create(token=f"q{run}{v.pk}", target=intro, created_by=intro, created_at=now)
        ReferralNotification.objects.create(recipient=intro, link=link, introducer=intro, referred_user=v, created_at=now)
        per_viewer.append({"skips": [str(u.public_id) for u in skips], "intro": str(intro.public_id),
                           "hidden": BLOCKS + COOLDOWNS + SKIPS})
    return {"member_tokens": tokens[:available], "viewer_tokens": tokens[available:], "viewers": per_viewer,
            "in_rooms": IN_ROOMS}


# --- sockets ------------------------------------------------------------------------------------------
class Socket:
    """One authenticated socket that heart-beats at the server's interval and answers requests in
    order (one outstanding request per reply type)."""

    def __init__(self, url: str, token: str):
        self.url, self.token = url, token
        self.waiting: dict[str, asyncio.Future] = {}
        self.ws = self.tasks = None

    async def open(self) -> None:
        from websockets.asyncio.client import connect
        from websockets.exceptions import WebSocketException

        for attempt in range(20):  # a busy server sheds handshakes (4503 / busy): back off, retry
            try:
                ws = await connect(self.url, origin=ORIGIN, proxy=None, ping_interval=None, open_timeout=60, max_size=2**22)
                await ws.send(json.dumps({"type": "auth", "token": self.token}))
                while True:
                    msg = json.loads(await ws.recv())
                    if msg["type"] == "auth.ok":
                        self.ws, self.beat = ws, float(msg["heartbeat_seconds"])
                        self.tasks = [asyncio.ensure_future(self._read()), asyncio.ensure_future(self._heartbeat())]
                        return
                    if msg["type"] == "error" and msg.get("retry_after"):
                        await ws.close()
                        await asyncio.sleep(reconnect_delay(attempt, hint=float(msg["retry_after"])))
                        break
            except (WebSocketException, OSError):
                await asyncio.sleep(reconnect_delay(attempt))
        raise RuntimeError("socket could not authenticate")

    async def _heartbeat(self) -> None:
        await asyncio.sleep(self.beat * random.random())  # spread like real clients
        while True:
            await self.ws.send('{"type":"heartbeat"}')
            await asyncio.sleep(self.beat)

    async def _read(self) -> None:
        async for raw in self.ws:
            msg = json.loads(raw)
            fut = self.waiting.pop(msg["type"], None) if msg["type"] != "error" or "error" in self.waiting else None
            if fut is not None and not fut.done():
                fut.set_result(msg)

    async def request(self, body: dict, reply: str) -> dict:
        fut = asyncio.get_running_loop().create_future()
        self.waiting[reply] = self.waiting["error"] = fut
        await self.ws.send(json.dumps(body))
        msg = await fut
        self.waiting.pop("error", None)
        if msg["type"] == "error":
            raise RuntimeError(msg)
        return msg

    async def close(self) -> None:
        for t in self.tasks or ():
            t.cancel()
        if self.ws is not None:
            await self.ws.close()


async def gather_limited(coros, limit: int):
    sem = asyncio.Semaphore(limit)

    async def one(c):
        async with sem:
            return await c

    return await asyncio.gather(*(one(c) for c in coros))


async def set_available(members: list[Socket], available: bool) -> None:
    await gather_limited([m.request({"type": "presence.set", "available": available}, "presence.state") for m in members], 100)


async def skip(viewers: list[Socket], setup: dict) -> None:
    """The viewers' skips of this visit (again before every round: on ``main`` before issue 20 a
    skip expired 65 s after the viewer's last skip, visit or not)."""
    for v, info in zip(viewers, setup["viewers"]):
        for other in info["skips"]:
            await v.request({"type": "queue.skip", "user": other}, "queue.skipped")


async def measure(server, viewers: list[Socket], expected: list[int], calls: int, limit: int) -> tuple[list[float], float, float]:
    """``calls`` ``queue.get`` per viewer (the viewers at once, each one after another); returns
    (latencies in s, server CPU ms per call gross, net of the idle rate just before)."""
    c0, t0 = cpu_seconds(server.proc.pid), time.monotonic()
    await asyncio.sleep(2)
    idle_rate = (cpu_seconds(server.proc.pid) - c0) / (time.monotonic() - t0)
    latencies: list[float] = []

    async def run(v: Socket, want: int):
        for _ in range(calls):
            # the first page: what a waiting user refreshes (with 10 available there is no second)
            s = time.perf_counter()
            msg = await v.request({"type": "queue.get", "limit": limit}, "queue.list")
            latencies.append(time.perf_counter() - s)
            if msg["total"] != want:
                raise SystemExit(f"queue.get total {msg['total']}, expected {want}")

    c0, t0 = cpu_seconds(server.proc.pid), time.monotonic()
    await asyncio.gather(*(run(v, want) for v, want in zip(viewers, expected)))
    cpu, dt = cpu_seconds(server.proc.pid) - c0, time.monotonic() - t0
    n = calls * len(viewers)
    return latencies, cpu / n * 1000, (cpu - idle_rate * dt) / n * 1000


async def main_async(args, env, setup) -> None:
    with DaphneProcess("config.asgi:application", env, cpu=0 if len(os.sched_getaffinity(0)) > 1 else None) as server:
        members = [Socket(server.ws, t) for t in setup["member_tokens"]]
        viewers = [Socket(server.ws, t) for t in setup["viewer_tokens"]]
        t0 = time.monotonic()
        await gather_limited([s.open() for s in members + viewers], 50)
        await set_available(members, True)
        print(f"{len(members)} sockets authenticated and available in {time.monotonic() - t0:.1f} s", flush=True)
        await skip(viewers, setup)
        for v, info in zip(viewers, setup["viewers"]):
            first = await v.request({"type": "queue.get", "limit": 1}, "queue.list")
            assert first["results"][0]["id"] == info["intro"], "the referral intro comes first"
        small, large = args.small, len(members)
        expected = {
            small: [small] * len(viewers),
            large: [large - setup["in_rooms"] - info["hidden"] for info in setup["viewers"]],
        }
        await measure(server, viewers, expected[large], 20, args.limit)  # warm-up
        results = {small: ([], [], []), large: ([], [], [])}
        round_p50: dict[int, dict[int, float]] = {}
        per_round = max(1, args.calls // args.rounds)
        now_large = True
        for r in range(args.rounds):
            for size in ((small, large) if r % 2 == 0 else (large, small)):
                if (size == large) != now_large:
                    await set_available(members[small:], size == large)
                    now_large = size == large
                await skip(viewers, setup)
                lat, gross, net = await measure(server, viewers, expected[size], per_round, args.limit)
                results[size][0].extend(lat)
                round_p50.setdefault(r, {})[size] = pct(lat, 50)
                results[size][1].append(gross)
                results[size][2].append(net)
                print(f"  round {r + 1}: {size:5d} available  p50 {pct(lat, 50) * 1000:6.1f} ms  p99 {pct(lat, 99) * 1000:6.1f} ms"
                      f"  CPU/call {gross:5.2f} ms (net of idle {net:5.2f})", flush=True)
        print(f"queue.get, {len(viewers)} viewer(s) x {per_round * args.rounds} calls per size, limit {args.limit}, "
              f"{len(members)} sockets heart-beating every {viewers[0].beat:.0f} s:")
        p50 = {}
        for size, (lat, gross, net) in results.items():
            p50[size] = pct(lat, 50)
            print(f"  {size:5d} available: p50 {p50[size] * 1000:6.1f} ms  p99 {pct(lat, 99) * 1000:6.1f} ms "
                  f"(p99/p50 {pct(lat, 99) / p50[size]:.2f}x)  server CPU/call {statistics.median(gross):5.2f} ms, "
                  f"net of idle {statistics.median(net):5.2f} ms")
        ratios = [r[large] / r[small] for r in round_p50.values()]
        print(f"  p50 ratio {large}/{small}: {p50[large] / p50[small]:.2f}x over all calls; median of the rounds' ratios "
              f"{statistics.median(ratios):.2f}x (rounds {', '.join(f'{x:.2f}' for x in ratios)}) "
              f"(goal <= 1.5x; p99 <= 3x p50)")
        await asyncio.gather(*(s.close() for s in members + viewers), return_exceptions=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--available", type=int, default=2000)
    parser.add_argument("--small", type=int, default=10)
    parser.add_argument("--viewers", type=int, default=2)
    parser.add_argument("--calls", type=int, default=300, help="queue.get per viewer and size, over all rounds")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--limit", type=int, default=50)
    args = parser.parse_args()
    if len(os.sched_getaffinity(0)) > 1:
        os.sched_setaffinity(0, {1})  # the clients; the server gets CPU 0

    t0 = time.monotonic()
    env, _, db, layer = prepare("bench-queue-", 0)
    setup = make_users(args.available, args.viewers)
    print(f"(setup {time.monotonic() - t0:.1f} s) {args.available} available users against {args.small}, {args.viewers} viewer(s), one Daphne process, "
          f"{db} + {layer} layer", flush=True)
    asyncio.run(main_async(args, env, setup))


if __name__ == "__main__":
    main()
