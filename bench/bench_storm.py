"""The reconnect storm: N live text rooms (2N sockets) on one Daphne process,
``kill -9``, restart, every client reconnecting at once by REALTIME.md §7's rules (jittered
exponential backoff, the server's retry hint on 4429/4503) → how many rooms were resumed, how many
ended, how long until every socket is authenticated again.  In the same run, side by side on the
same process (``bench/storm_asgi.py``): our handshake + ``auth`` + ``auth.ok`` rate against a bare
Channels consumer's handshake + group join + reply; RSS per socket; idle CPU with every socket
heart-beating at the defaults.

    DATABASE_URL=postgresql://… REDIS_URL=redis://… .venv/bin/python bench/bench_storm.py \
        [--rooms 1000] [--processes 1|2] [--rate-sockets 1000] [--rate-rounds 6] [--idle-seconds 30]

The server is pinned to CPU 0 and this client to CPU 1 (with one process; with two, the servers
share CPU 0).  On a shared machine, read the ratios (same run, alternating order), not the
absolute rates.
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
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._server import DaphneProcess  # noqa: E402
from bench.bench_auth import cpu_seconds  # noqa: E402
from bench.bench_realtime import prepare  # noqa: E402
from tests.wsclient import reconnect_delay  # noqa: E402

ORIGIN = "http://127.0.0.1"


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


class Server(DaphneProcess):
    """A Daphne process on a fixed port (a restart reuses it), optionally pinned."""

    def __init__(self, env: dict, port: int | None = None, cpu: int | None = None):
        super().__init__("bench.storm_asgi:application", env, cpu)
        if port:
            self.port = port
        self.log = open(os.environ.get("STORM_SERVER_LOG", os.devnull), "ab")

    def spawn(self) -> None:
        """Start without waiting for readiness (the storm clock starts here)."""
        import subprocess

        from bench._server import BIN, ROOT, daphne_args

        pin = ["taskset", "-c", str(self.cpu)] if self.cpu is not None else []
        self.proc = subprocess.Popen(
            [*pin, BIN / "daphne", *daphne_args(self.port, self.app)],
            cwd=ROOT, env=self.env, stdout=self.log, stderr=subprocess.STDOUT,
        )

    def wait_ready(self, timeout: float = 60) -> float:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(self.url("/readyz"), timeout=1)
                return time.monotonic()
            except OSError:
                time.sleep(0.02)
        raise RuntimeError("server did not become ready")

    def __enter__(self):
        self.spawn()
        self.wait_ready()
        return self


# --- the documented client (REALTIME.md §7) --------------------------------------------------------
class Peer:
    """One user's socket that keeps itself connected and authenticated."""

    def __init__(self, token: str, room_id: str | None, urls: list[str], heartbeat: float = 20.0):
        self.token, self.room_id, self.urls, self.heartbeat = token, room_id, urls, heartbeat
        self.authed = asyncio.Event()
        self.auth_at: float | None = None
        self.open_at: float | None = None
        self.auth_room: str | None = None
        self.resumed = 0
        self.ended: list[dict] = []
        self.closes: list[int | None] = []
        self.errors: dict[str, int] = {}
        self.attempts = 0
        self.sticky = 0  # which server to try first (clients spread across processes)
        self.stop = False
        self.ws = None

    async def run(self):
        from websockets.asyncio.client import connect
        from websockets.exceptions import WebSocketException

        attempt, hint = 0, None
        while not self.stop:
            url = self.urls[(self.sticky + attempt) % len(self.urls)]
            self.attempts += 1
            try:
                async with connect(url, origin=ORIGIN, proxy=None, open_timeout=30, ping_interval=None,
                                   max_size=2**20, close_timeout=1) as ws:
                    self.ws = ws
                    self.open_at = time.monotonic()
                    await ws.send(json.dumps({"type": "auth", "token": self.token}))
                    next_beat = time.monotonic() + self.heartbeat * random.uniform(0.5, 1.0)
                    while True:
                        try:
                            raw = await asyncio.wait_for(ws.recv(), timeout=max(0.05, next_beat - time.monotonic()))
                        except asyncio.TimeoutError:
                            await ws.send('{"type":"heartbeat"}')
                            next_beat = time.monotonic() + self.heartbeat
                            continue
                        msg = json.loads(raw)
                        t = msg.get("type")
                        if t == "auth.ok":
                            attempt, hint = 0, None
                            self.auth_at = time.monotonic()
                            self.auth_room = (msg.get("room") or {}).get("id")
                            self.authed.set()
                        elif t == "room.resumed":
                            self.resumed += 1
                        elif t == "room.ended":
                            self.ended.append(msg)
                        elif t == "error":
                            self.errors[msg.get("code")] = self.errors.get(msg.get("code"), 0) + 1
                            if msg.get("code") == "unavailable" and not self.authed.is_set():
                                # REALTIME.md §1: the socket stays open; send auth again after retry_after
                                await asyncio.sleep(float(msg.get("retry_after") or 1))
                                await ws.send(json.dumps({"type": "auth", "token": self.token}))
                            elif msg.get("retry_after"):
                                hint = float(msg["retry_after"])
            except (WebSocketException, OSError, asyncio.TimeoutError) as exc:
                code = getattr(getattr(exc, "rcvd", None), "code", None)
                self.closes.append(code)
                if code in (4401, 4403):
                    return  # documented: don't retry with this token
                if self.stop:
                    return
                if code == 4503 and attempt == 0:
                    hint = hint or 0.25  # at once: 0.25–0.5 s
                delay = reconnect_delay(attempt, hint=hint, in_room=self.auth_room is not None)
                attempt, hint = attempt + 1, None
                await asyncio.sleep(delay)
            finally:
                self.ws = None

    async def close(self):
        self.stop = True
        if self.ws is not None:
            await self.ws.close()


# --- side by side connect rate -------------------------------------------------------------------
async def connect_burst(url: str, kind: str, tokens: list[str], concurrency: int) -> float:
    """Open len(tokens) sockets (at most ``concurrency`` handshakes at once), each until its
    reply (``auth.ok`` / ``joined``); returns seconds.  The sockets are closed afterwards."""
    from websockets.asyncio.client import connect

    sem = asyncio.Semaphore(concurrency)
    opened = []
    failures: list = []

    from websockets.exceptions import WebSocketException

    async def one(i: int, token: str):
        async with sem:
            for attempt in range(10):  # an overloaded host may drop a handshake (Daphne's 5 s connect timeout)
                try:
                    ws = await connect(url, origin=ORIGIN, proxy=None, ping_interval=None, open_timeout=60)
                    break
                except (WebSocketException, OSError):
                    failures.append(1)
                    await asyncio.sleep(reconnect_delay(attempt))
            opened.append(ws)
            if kind == "ours":
                await ws.send(json.dumps({"type": "auth", "token": token}))
                want = "auth.ok"
            else:
                await ws.send(json.dumps({"type": "join", "pair": i}))
                want = "joined"
            while json.loads(await ws.recv()).get("type") != want:
                pass

    t0 = time.perf_counter()
    await asyncio.gather(*(one(i, t) for i, t in enumerate(tokens)))
    elapsed = time.perf_counter() - t0
    await asyncio.gather(*(ws.close() for ws in opened))
    if failures:
        print(f"  ({kind}: {len(failures)} handshakes failed and were retried)")
    return elapsed


async def rate_side_by_side(server: Server, tokens: list[str], rounds: int, concurrency: int) -> dict:
    base = f"ws://127.0.0.1:{server.port}"
    urls = {"ours": base + "/ws/", "bare": base + "/bare/"}
    await connect_burst(urls["bare"], "bare", tokens[:50], concurrency)  # warm-up
    await connect_burst(urls["ours"], "ours", tokens[:50], concurrency)
    out = {"ours": [], "bare": [], "ours_cpu": [], "bare_cpu": [], "ratio": []}
    for r in range(rounds):
        order = ("ours", "bare") if r % 2 == 0 else ("bare", "ours")  # ABBA
        got = {}
        for kind in order:
            await asyncio.sleep(0.5)  # let the previous round's closes settle
            c0 = cpu_seconds(server.proc.pid)
            secs = await connect_burst(urls[kind], kind, tokens, concurrency)
            c1 = cpu_seconds(server.proc.pid)
            got[kind] = len(tokens) / secs
            out[kind].append(got[kind])
            out[kind + "_cpu"].append((c1 - c0) / len(tokens) * 1000)
        out["ratio"].append(got["ours"] / got["bare"])
    return out


# --- setup ----------------------------------------------------------------------------------------
def make_rooms(rooms: int, extra_users: int) -> tuple[list[tuple[str, str]], list[str], list[str]]:
    """``rooms`` live text rooms with both participants connected (as if just started), sessions
    for everybody, and ``extra_users`` users in no room (the connect-rate test).  Returns
    ``([(token, room id)], [extra tokens], [room ids])``."""
    from datetime import timedelta

    from accounts.models import User
    from accounts.services import session_create
    from config import clock
    from social.models import Room, RoomParticipant

    # a throwaway database: rooms left live by an earlier run would be swept during this one
    RoomParticipant.objects.filter(live=True).update(live=False)
    Room.objects.filter(status__in=Room.LIVE).update(status=Room.Status.ENDED, end_reason="user")
    now = clock.now()
    peers, extra, room_ids = [], [], []
    users = [User(name=f"storm-{i}") for i in range(2 * rooms + extra_users)]
    for u in users:
        u.set_unusable_password()
    users = User.objects.bulk_create(users)
    tokens = [session_create(user=u, ip=None)[1] for u in users]
    room_rows = [
        Room(mode="text", duration_seconds=3600, started_at=now, ends_at=now + timedelta(hours=1), inviter=users[2 * i])
        for i in range(rooms)
    ]
    Room.objects.bulk_create(room_rows)
    parts = []
    for i, room in enumerate(room_rows):
        for u in (users[2 * i], users[2 * i + 1]):
            # a long first lease: the bench's clients take a while to connect the first time
            parts.append(RoomParticipant(room=room, user=u, lease_expires_at=now + timedelta(minutes=10), last_message_at=now + timedelta(hours=1)))
        room_ids.append(str(room.pk))
        peers += [(tokens[2 * i], str(room.pk)), (tokens[2 * i + 1], str(room.pk))]
    RoomParticipant.objects.bulk_create(parts)
    extra = tokens[2 * rooms:]
    return peers, extra, room_ids


def room_outcome(room_ids: list[str]) -> dict:
    from django.db.models import Count

    from social.models import Room

    rows = Room.objects.filter(pk__in=room_ids).values("status", "end_reason").annotate(n=Count("id"))
    return {f"{r['status']}{'/' + r['end_reason'] if r['end_reason'] else ''}": r["n"] for r in rows}


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


async def connect_all(peers: list[Peer], concurrency: int = 200, timeout: float = 120) -> float:
    t0 = time.monotonic()
    tasks = []
    sem = asyncio.Semaphore(concurrency)

    async def start(p: Peer):
        async with sem:
            tasks.append(asyncio.ensure_future(p.run()))
            await asyncio.wait_for(p.authed.wait(), timeout)

    results = await asyncio.gather(*(start(p) for p in peers), return_exceptions=True)
    failed = sum(1 for r in results if isinstance(r, BaseException))
    if failed:
        print(f"  {failed} sockets did not authenticate within {timeout:.0f} s (closes: {[p.closes for p in peers if not p.authed.is_set()][:5]})")
    return time.monotonic() - t0


async def main_async(args, env, peer_rows, extra_tokens, room_ids) -> None:
    single = args.processes == 1
    servers = [Server(env, cpu=0 if single else None) for _ in range(args.processes)]
    for s in servers:
        s.__enter__()
    try:
        report: dict = {}
        if args.rate_rounds:
            rate = await rate_side_by_side(servers[0], extra_tokens, args.rate_rounds, args.rate_concurrency)
            report["rate"] = rate
            print(f"connect rate, {len(extra_tokens)} sockets x {args.rate_rounds} rounds (ABBA), {args.rate_concurrency} handshakes at once:")
            print(f"  ours  handshake+auth+auth.ok  : {statistics.median(rate['ours']):7.0f}/s  "
                  f"(rounds {', '.join(f'{x:.0f}' for x in rate['ours'])}); server CPU {statistics.median(rate['ours_cpu']):.2f} ms/socket")
            print(f"  bare  handshake+join+reply    : {statistics.median(rate['bare']):7.0f}/s  "
                  f"(rounds {', '.join(f'{x:.0f}' for x in rate['bare'])}); server CPU {statistics.median(rate['bare_cpu']):.2f} ms/socket")
            print(f"  ratio ours/bare: median {statistics.median(rate['ratio']):.2f}x  (rounds {', '.join(f'{x:.2f}' for x in rate['ratio'])})", flush=True)

        # RSS per socket, ours against the bare consumer (each on a fresh process)
        if args.rss and single:
            with Server(env, cpu=0) as fresh:
                # each process serves a few sockets first, so what is measured is the sockets, not
                # the first connection's one-off set-up (lazy imports, pools, caches)
                await connect_burst(f"ws://127.0.0.1:{fresh.port}/bare/", "bare", extra_tokens[:50] or ["-"] * 50, 50)
                await asyncio.sleep(1)
                before = rss_kib(fresh.proc.pid)
                from websockets.asyncio.client import connect

                bare_socks = []
                for i in range(len(peer_rows)):
                    ws = await connect(f"ws://127.0.0.1:{fresh.port}/bare/", origin=ORIGIN, proxy=None, ping_interval=None)
                    await ws.send(json.dumps({"type": "join", "pair": i // 2}))
                    bare_socks.append(ws)
                for ws in bare_socks:
                    await ws.recv()
                await asyncio.sleep(1)
                bare_rss = (rss_kib(fresh.proc.pid) - before) / len(bare_socks)
                await asyncio.gather(*(ws.close() for ws in bare_socks))
            print(f"RSS per socket: bare {bare_rss:.1f} KiB", flush=True)
        else:
            bare_rss = None
        if args.rate_rounds and args.rss and single:
            # ours on a fresh process too: the rate test's bursts left the heap grown (freed memory
            # is reused by the next sockets), which would make ours look smaller than it is
            port = servers[0].port
            servers[0].__exit__(None, None, None)
            servers[0] = Server(env, port=port, cpu=0).__enter__()
            await connect_burst(servers[0].ws, "ours", extra_tokens[:50], 50)
            await asyncio.sleep(1)

        urls = [f"ws://127.0.0.1:{s.port}/ws/" for s in servers]
        peers = [Peer(tok, rid, urls) for tok, rid in peer_rows]
        for i, p in enumerate(peers):
            p.sticky = (i // 2) % len(urls) if args.split == "rooms" else i % len(urls)
        rss0 = [rss_kib(s.proc.pid) for s in servers]
        secs = await connect_all(peers)
        wrong = sum(1 for p in peers if p.auth_room != p.room_id)
        print(f"{len(peers)} sockets ({len(room_ids)} rooms) authenticated in {secs:.1f} s; wrong/missing room: {wrong}", flush=True)
        await asyncio.sleep(3)
        if single:
            per = (rss_kib(servers[0].proc.pid) - rss0[0]) / len(peers)
            print(f"RSS per socket: ours {per:.1f} KiB" + (f" (bare {bare_rss:.1f} KiB, {per / bare_rss:.2f}x)" if bare_rss else ""), flush=True)

        if args.idle_seconds:
            c0 = [cpu_seconds(s.proc.pid) for s in servers]
            t0 = time.monotonic()
            await asyncio.sleep(args.idle_seconds)
            dt = time.monotonic() - t0
            cpu = [(cpu_seconds(s.proc.pid) - c) / dt * 100 for s, c in zip(servers, c0)]
            print(f"idle, {len(peers)} sockets heart-beating every 20 s: server CPU {', '.join(f'{c:.1f} %' for c in cpu)} of a core over {dt:.0f} s", flush=True)

        print(f"before the kill: {await asyncio.to_thread(room_outcome, room_ids)}", flush=True)
        victim = servers[0]
        for p in peers:
            p.authed.clear()
            p.resumed = 0
        killed_at = time.monotonic()
        victim.proc.kill()
        victim.proc.wait()
        victim.spawn()
        ready_at = victim.wait_ready()
        print(f"kill -9 → /readyz again in {ready_at - killed_at:.2f} s", flush=True)
        # every socket of the killed process must authenticate again
        affected = [p for p in peers if urls[p.sticky % len(urls)] == urls[0]] if not single else peers
        deadline = time.monotonic() + args.storm_timeout
        while time.monotonic() < deadline and not all(p.authed.is_set() for p in affected):
            await asyncio.sleep(0.05)
        done = [p for p in affected if p.authed.is_set()]
        last = max((p.auth_at for p in done), default=killed_at)
        times = [p.auth_at - killed_at for p in done]
        opened = [p.open_at - killed_at for p in done if p.open_at]
        print(f"storm: handshakes done p50 {pct(opened, 50):.1f} s p99 {pct(opened, 99):.1f} s after the kill "
              f"(auth.ok is what follows)", flush=True)
        print(f"storm: {len(done)}/{len(affected)} sockets authenticated again; last {last - killed_at:.1f} s after the kill "
              f"({last - ready_at:.1f} s after /readyz); p50 {pct(times, 50):.1f} s p99 {pct(times, 99):.1f} s; "
              f"connect attempts {sum(p.attempts for p in affected) - len(affected)} for {len(affected)} sockets", flush=True)
        closes = {}
        for p in peers:
            for c in p.closes:
                closes[c] = closes.get(c, 0) + 1
        errors: dict = {}
        for p in peers:
            for code, n in p.errors.items():
                errors[code] = errors.get(code, 0) + n
        print(f"close codes seen by clients: {closes}; error frames: {errors}")
        # past every deadline that could end a room: lease + grace (+ the restart grace) + sweeps
        settle = float(env.get("ROOM_LEASE_SECONDS", 6)) + float(env.get("ROOM_RESTART_GRACE_SECONDS", 30)) + 5
        await asyncio.sleep(settle)
        outcome = await asyncio.to_thread(room_outcome, room_ids)
        live = outcome.get("active", 0) + outcome.get("grace", 0)
        ended = sum(v for k, v in outcome.items() if k.startswith("ended"))
        wrong = sum(1 for p in done if p.auth_room != p.room_id)
        print(f"{settle:.0f} s later: {outcome} → {live * 100 / len(room_ids):.1f} % of rooms live, {ended} ended; "
              f"sockets back with the wrong/no room: {wrong}; room.ended seen by clients: {sum(len(p.ended) for p in peers)}", flush=True)
        await asyncio.gather(*(p.close() for p in peers), return_exceptions=True)
    finally:
        for s in servers:
            s.__exit__(None, None, None)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rooms", type=int, default=1000)
    parser.add_argument("--processes", type=int, default=1, choices=(1, 2))
    parser.add_argument("--split", choices=("rooms", "sockets"), default="sockets",
                        help="with 2 processes: both people of a room on one process, or alternate sockets")
    # 1,000 sockets a round (~1.5 s): with 400 (~0.4 s) a full collection of the cyclic garbage
    # Daphne leaves per connection (~80 ms), landing in one round or the other, moved single
    # rounds from 0.5x to 1.2x and the median of six by a tenth between runs
    parser.add_argument("--rate-sockets", type=int, default=1000)
    parser.add_argument("--rate-rounds", type=int, default=6)
    parser.add_argument("--rate-concurrency", type=int, default=50)
    parser.add_argument("--idle-seconds", type=float, default=30)
    parser.add_argument("--no-rss", dest="rss", action="store_false")
    parser.add_argument("--storm-timeout", type=float, default=180)
    args = parser.parse_args()
    if len(os.sched_getaffinity(0)) > 1:
        os.sched_setaffinity(0, {1})  # the clients; the server gets CPU 0

    env, _, db, layer = prepare("bench-storm-", 0)
    peer_rows, extra, room_ids = make_rooms(args.rooms, args.rate_sockets if args.rate_rounds else 0)
    print(f"{args.rooms} live text rooms, {len(peer_rows)} sockets, {args.processes} Daphne process(es), {db} + {layer} layer", flush=True)
    asyncio.run(main_async(args, env, peer_rows, extra, room_ids))


if __name__ == "__main__":
    main()
