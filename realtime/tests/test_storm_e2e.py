"""A reduced reconnect storm (the full one is ``bench/bench_storm.py``): 50 live rooms on
a real Daphne process, ``kill -9``, a new process, and all 100 clients reconnecting at once with
REALTIME.md §7's jittered backoff.  Not a timing test: it pins that every room is resumed (none
ended by the storm) and that every room's bookkeeping is still written exactly once afterwards.
Every wait is on an event or a database row, with a deadline."""

from __future__ import annotations

import asyncio
import json

import pytest

from accounts.models import User
from accounts.services import session_create
from social import services
from social.models import CallHistory, Cooldown, Room, RoomParticipant
from tests.wsclient import reconnect_delay, wait_until

from .test_restart_e2e import FAST

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

ROOMS = 50
# the user grace is shorter than the storm may take on a busy machine; a server failure gets
# the restart grace (counted from when the new process notices), which the storm fits in
# (the default 6 s lease: a 2 s one expires under a storm on a busy test machine, and a live
# process's rooms would flap between grace and active)
STORM = {**FAST, "ROOM_LEASE_SECONDS": "6", "ROOM_GRACE_SECONDS": "2", "ROOM_RESTART_GRACE_SECONDS": "60"}


class Client:
    def __init__(self, token: str, room_id: str):
        self.token, self.room_id = token, room_id
        self.ws = None
        self.ok: dict | None = None
        self.seen: list[dict] = []

    async def connect(self, url: str, *, retry: bool) -> None:
        from websockets.asyncio.client import connect
        from websockets.exceptions import WebSocketException

        attempt = 0
        while True:
            try:
                self.ws = await connect(url, origin="http://127.0.0.1", proxy=None, open_timeout=30, ping_interval=None)
                await self.ws.send(json.dumps({"type": "auth", "token": self.token}))
                self.ok = await self.expect("auth.ok", timeout=60)
                return
            except (WebSocketException, OSError):
                if not retry:
                    raise
                await asyncio.sleep(reconnect_delay(attempt, in_room=True))
                attempt += 1

    async def expect(self, mtype: str, timeout: float = 30) -> dict:
        async with asyncio.timeout(timeout):
            while True:
                msg = json.loads(await self.ws.recv())
                self.seen.append(msg)
                if msg.get("type") == mtype:
                    return msg

    async def drain_until_closed(self) -> None:
        try:
            while True:
                self.seen.append(json.loads(await asyncio.wait_for(self.ws.recv(), 15)))
        except Exception:  # noqa: BLE001 - closed (what we wait for) or nothing more
            pass


def make_rooms() -> list[tuple[str, str]]:
    """(token, room id) for both participants of ``ROOMS`` live text rooms."""
    out = []
    for i in range(ROOMS):
        a = User.objects.create_user(name=f"storm-a{i}")
        b = User.objects.create_user(name=f"storm-b{i}")
        room = services.room_start(inviter_id=a.pk, invitee_id=b.pk, mode="text", seconds=600)
        out += [(session_create(user=a, ip=None)[1], str(room.pk)), (session_create(user=b, ip=None)[1], str(room.pk))]
    return out


def test_storm_after_sigkill_resumes_every_room_and_writes_bookkeeping_once(daphne_factory):
    pairs = make_rooms()
    room_ids = sorted({rid for _, rid in pairs})
    first = daphne_factory(env=STORM)
    clients = [Client(token, rid) for token, rid in pairs]
    in_thread = asyncio.to_thread  # the ORM and process control are sync-only

    async def scenario():
        sem = asyncio.Semaphore(20)

        async def one(c):
            async with sem:
                await c.connect(first.ws_url, retry=False)

        await asyncio.gather(*(one(c) for c in clients))
        assert all(c.ok["room"]["id"] == c.room_id for c in clients)
        await in_thread(first.kill)
        await asyncio.gather(*(c.drain_until_closed() for c in clients))  # the old sockets are gone
        # the new process notices the dead leases: every room in grace, none ended
        second = await in_thread(daphne_factory, env=STORM)
        await in_thread(
            wait_until,
            lambda: Room.objects.filter(pk__in=room_ids, status="grace").count() == ROOMS,
            timeout=60, what="every room in grace after the restart",
        )
        # everybody at once, with the documented jittered backoff
        await asyncio.gather(*(c.connect(second.ws_url, retry=True) for c in clients))
        assert [c.ok["room"]["id"] if c.ok["room"] else None for c in clients] == [c.room_id for c in clients]

        async def until_active(c):
            msg = await c.expect("room.resumed", timeout=60)
            while msg["room"]["status"] != "active":
                msg = await c.expect("room.resumed", timeout=60)

        await asyncio.gather(*(until_active(c) for c in clients))
        await in_thread(check_resumed)
        # one participant per room hangs up: each room ends exactly once, both sides told once
        await asyncio.gather(*(c.ws.send(json.dumps({"type": "room.end"})) for c in clients[::2]))
        ended = await asyncio.gather(*(c.expect("room.ended") for c in clients))
        assert {e["room_id"] for e in ended} == set(room_ids)
        await asyncio.gather(*(c.ws.close() for c in clients))

    def check_resumed():
        wait_until(  # resumed, none ended
            lambda: Room.objects.filter(pk__in=room_ids, status="active").count() == ROOMS,
            timeout=30, what="every room active",
        )
        assert not CallHistory.objects.filter(room_id__in=room_ids).exists()
        assert RoomParticipant.objects.filter(room_id__in=room_ids, connected=True).count() == 2 * ROOMS

    asyncio.run(scenario())
    assert Room.objects.filter(pk__in=room_ids, status="ended", end_reason="user").count() == ROOMS
    assert CallHistory.objects.filter(room_id__in=room_ids).count() == 2 * ROOMS
    assert Cooldown.objects.filter(room_id__in=room_ids).count() == ROOMS
    for c in clients:
        assert sum(1 for m in c.seen if m.get("type") == "room.ended") == 1
