"""Bounded memory per socket on a real Daphne process: a client that stops reading is
closed once more than its send budget is queued for it (its room enters grace like any
disconnect), the server's memory doesn't follow what its peer sends, and other rooms carry on.
Frames over the transport's own limit are refused with close 1009 and a reason.  These tests also
pin the framework internals ``realtime/backpressure.py`` leans on: they fail if an upgrade of
Daphne/autobahn/Twisted breaks them."""

from pathlib import Path

import pytest
from websockets.exceptions import ConnectionClosed

from social.models import Room, RoomParticipant
from tests.wsclient import WsClient, wait_until

from .test_restart_e2e import FAST, start_call

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

BUDGET = 256 * 1024
FRAME = "x" * (32 * 1024)  # under the 64 KB frame limit
FRAMES = 800  # ~26 MB relayed towards the stalled reader


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def test_a_stalled_reader_is_closed_at_its_budget_and_memory_stays_bounded(daphne_factory):
    server = daphne_factory(env={**FAST, "WS_SEND_BUDGET_BYTES": str(BUDGET), "ROOM_GRACE_SECONDS": "60"})
    a, b, ta, tb, room_id = start_call(server, server)  # B will stop reading
    c, d, _, _, _ = start_call(server, server)  # another room on the same process
    inviter = Room.objects.get(pk=room_id).inviter_id  # A invited B
    b_user = RoomParticipant.objects.exclude(user_id=inviter).get(room_id=room_id).user_id
    rss_before = rss_bytes(server.proc.pid)
    # B's client stops calling recv(): its library stops reading after a few frames, the kernel
    # buffers fill, and everything else would pile up in the server
    for i in range(FRAMES):
        a.send({"type": "room.relay", "data": FRAME})
        if i % 25 == 0:
            # A waits for the server to have handled what it sent (frames are handled in order):
            # what the server holds is then what it holds for B, not A's frames in flight
            a.send({"type": "heartbeat"})
            a.expect("heartbeat.ack")
        if i % 100 == 0:  # meanwhile, the other room is unaffected
            c.send({"type": "room.relay", "data": i})
            assert d.expect("room.relay")["data"] == i
    # the server closed B's socket (4409): B's room is in grace, A is told
    told = [m for m in a.seen if m.get("type") == "room.peer_disconnected"] or [a.expect("room.peer_disconnected")]
    assert told[0]["room"]["status"] == "grace"
    wait_until(
        lambda: not RoomParticipant.objects.get(room_id=room_id, user_id=b_user).connected,
        what="the stalled reader disconnected",
    )
    growth = rss_bytes(server.proc.pid) - rss_before
    # without a budget the server holds what B didn't read (~20+ MB here); with it, a few MB
    assert growth < 8 * 1024 * 1024, f"server RSS grew {growth / 2**20:.1f} MiB"
    with pytest.raises((ConnectionClosed, TimeoutError, AssertionError)):
        while True:  # B reads again: what was queued, then the end of the connection
            b.expect("never", timeout=5)
    # the other room still works, both ways
    d.send({"type": "room.relay", "data": "after"})
    assert c.expect("room.relay")["data"] == "after"
    # B comes back within the grace: the room resumes, like after any disconnect
    b2 = WsClient(server, tb)
    assert b2.auth()["room"]["id"] == room_id
    for client in (a, b2, c, d):
        client.close()


def test_frames_over_the_limits(daphne_factory):
    server = daphne_factory(env=FAST)
    client = WsClient(server, None)
    # over our 64 KB limit (and under the transport's 1 MiB): an error, the socket stays open
    client.conn.send('{"type": "heartbeat", "pad": "' + "x" * (100 * 1024) + '"}')
    assert client.expect("error")["code"] == "too_large"
    client.send({"type": "heartbeat"})
    assert client.expect("error")["code"] == "not_authenticated"  # still open
    # over the transport's own limit: closed with 1009 and a reason (not a dropped connection)
    client.conn.send("x" * (1024 * 1024 + 1))
    with pytest.raises(ConnectionClosed) as closed:
        while True:
            client.conn.recv(timeout=10)
    assert closed.value.rcvd is not None, "the TCP connection was dropped without a close frame"
    assert closed.value.rcvd.code == 1009
    assert closed.value.rcvd.reason
