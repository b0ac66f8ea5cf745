"""Real Daphne processes, real WebSocket clients, SIGKILL.  Short durations come in through the
environment (lease 2 s, grace 4 s, sweeper 0.2 s) so each test runs in seconds, no sleeps for
synchronisation: every wait is on an event (a message, a database row) with a deadline."""

import pytest

from social.models import CallHistory, Cooldown, Room, SessionCompletion
from tests.servers import DaphneServer
from tests.wsclient import WsClient, signup, wait_until

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

FAST = {
    "ROOM_LEASE_SECONDS": "2",
    "ROOM_GRACE_SECONDS": "4",
    "ROOM_RESTART_GRACE_SECONDS": "6",
    "SWEEPER_INTERVAL_SECONDS": "0.2",
}


def start_call(pa, pb, seconds=300):
    ta, ida = signup(pa, "Ann")
    tb, idb = signup(pb, "Bob")
    a, b = WsClient(pa, ta), WsClient(pb, tb)
    a.auth()
    b.auth()
    b.send({"type": "presence.set", "available": True})
    b.expect("presence.state")
    a.send({"type": "invite.send", "to": idb, "mode": "video", "seconds": seconds})
    invite = b.expect("invite.received")["invite"]
    b.send({"type": "invite.accept", "invite_id": invite["id"]})
    room = a.expect("room.started")["room"]
    assert b.expect("room.started")["room"]["id"] == room["id"]
    return a, b, ta, tb, room["id"]


def room_row(room_id):
    return Room.objects.get(pk=room_id)


def assert_written_once(room_id, reason):
    room = room_row(room_id)
    assert room.status == "ended" and room.end_reason == reason
    assert CallHistory.objects.filter(room_id=room_id).count() == 2
    assert Cooldown.objects.filter(room_id=room_id).count() == 1
    assert SessionCompletion.objects.filter(room_id=room_id).count() in (0, 2)


def test_sigkill_every_process_then_both_resume_then_one_leaves(daphne_factory, settings):
    first = daphne_factory(env=FAST)
    second = daphne_factory(env=FAST) if settings.REDIS_URL else first
    a, b, ta, tb, room_id = start_call(first, second)
    for server in {first, second}:
        server.kill()
    a.expect_closed()
    b.expect_closed()
    # the next start: rooms whose participants' leases died are in grace from now on
    fresh = daphne_factory(env=FAST)
    wait_until(lambda: room_row(room_id).status == "grace", what="room in grace after restart")
    a2, b2 = WsClient(fresh, ta), WsClient(fresh, tb)
    ok_a = a2.auth()
    assert ok_a["room"]["id"] == room_id
    ok_b = b2.auth()
    resumed = a2.expect("room.resumed")
    while resumed["room"]["status"] != "active":  # first A alone (still grace), then B is back
        resumed = a2.expect("room.resumed")
    assert 0 < resumed["room"]["remaining_seconds"] <= 300 and resumed["room"]["peer_connected"]
    assert b2.expect("room.resumed")["room"]["id"] == room_id and ok_b["room"]["id"] == room_id
    a2.send({"type": "room.relay", "data": "still here"})
    assert b2.expect("room.relay")["data"] == "still here"
    # B leaves for good: A is told, and after the grace deadline the room ends once
    b2.close()
    assert a2.expect("room.peer_disconnected")["room"]["status"] == "grace"
    ended = a2.expect("room.ended", timeout=15)
    assert ended["reason"] == "disconnect"
    assert_written_once(room_id, "disconnect")
    # the pair can't call again: cooldown, both directions
    b3 = WsClient(fresh, tb)
    b3.auth()
    a2.send({"type": "presence.set", "available": True})
    a2.expect("presence.state")
    b3.send({"type": "invite.send", "to": ok_a["user"]["id"], "mode": "text", "seconds": 60})
    assert b3.expect("error")["code"] == "cooldown"
    for c in (a2, b3):
        c.close()


class UnprobedServer(DaphneServer):
    """Started without a single request (no readiness probe): nothing but the process itself."""

    def wait_ready(self, timeout: float) -> None:
        pass


def test_rooms_nobody_returns_to_end_after_restart(daphne_factory):
    first = daphne_factory(env=FAST)
    a, b, ta, tb, room_id = start_call(first, first)
    first.kill()
    # nobody reconnects and nobody sends a request: the new process's own sweeper ends the room
    second = UnprobedServer(env=FAST).start()
    try:
        wait_until(lambda: room_row(room_id).status == "ended", timeout=30, what="room ended by the sweeper")
    finally:
        second.kill()
    assert_written_once(room_id, "disconnect")


def test_scale_out_kill_one_process_reconnect_to_the_other(daphne_factory, settings):
    if not settings.REDIS_URL:
        pytest.skip("two processes share presence and the channel layer through Redis (REDIS_URL)")
    p1 = daphne_factory(env=FAST)
    p2 = daphne_factory(env=FAST)
    a, b, ta, tb, room_id = start_call(p1, p2)  # A on process 1 invites B on process 2
    a.send({"type": "room.relay", "data": {"across": "processes"}})
    assert b.expect("room.relay")["data"] == {"across": "processes"}
    p1.kill()
    a.expect_closed()
    a2 = WsClient(p2, ta)
    ok = a2.auth()  # within the grace period, on the other process
    assert ok["room"]["id"] == room_id
    a2.expect("room.resumed")
    a2.send({"type": "room.relay", "data": "resumed"})
    assert b.expect("room.relay")["data"] == "resumed"
    a2.send({"type": "room.end"})
    assert b.expect("room.ended")["reason"] == "user"
    assert a2.expect("room.ended")["reason"] == "user"
    assert_written_once(room_id, "user")
    # nothing more gets written later by either sweeper
    p3 = daphne_factory(env=FAST)
    assert p3.request("GET", "/readyz")[0] == 200
    assert CallHistory.objects.filter(room_id=room_id).count() == 2
    for c in (a2, b):
        c.close()


def test_real_server_malformed_and_oversized_frames_keep_the_socket(daphne_factory):
    server = daphne_factory(env=FAST)
    token, _ = signup(server, "Frames")
    c = WsClient(server, token)
    c.auth()
    for frame, code in (("{nope", "bad_json"), ('{"type": "x"}', "unknown_type"), ('{"type": "heartbeat", "p": "' + "x" * 70_000 + '"}', "too_large")):
        c.conn.send(frame)
        assert c.expect("error")["code"] == code
    c.conn.send(b"\x00" * 10)
    assert c.expect("error")["code"] == "bad_frame"
    c.send({"type": "heartbeat"})
    assert c.expect("heartbeat.ack")
    c.close()
    # a socket from a foreign origin is refused at the handshake
    from websockets.exceptions import InvalidStatus
    from websockets.sync.client import connect

    with pytest.raises(InvalidStatus):
        with connect(server.ws_url, origin="http://evil.example", proxy=None):
            pass
