"""In the room across a real SIGKILL: chat replay loses and duplicates nothing; the torch rule's
warning and end survive a restart.  Real Daphne processes, real WebSocket clients; short durations
through the environment; every wait is on an event (a message, a database row) with a deadline."""

import pytest

from social.models import Room, RoomMessage, RoomParticipant
from tests.wsclient import WsClient, signup, wait_until

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

FAST = {
    "ROOM_LEASE_SECONDS": "2",
    "ROOM_GRACE_SECONDS": "20",
    "ROOM_RESTART_GRACE_SECONDS": "20",
    "SWEEPER_INTERVAL_SECONDS": "0.2",
    "ROOM_MESSAGE_RATE_PER_10S": "1000",
}


def start_text_room(server, seconds=300):
    ta, ida = signup(server, "Ann")
    tb, idb = signup(server, "Bob")
    a, b = WsClient(server, ta), WsClient(server, tb)
    a.auth()
    b.auth()
    b.send({"type": "presence.set", "available": True})
    b.expect("presence.state")
    a.send({"type": "invite.send", "to": idb, "mode": "text", "seconds": seconds})
    invite = b.expect("invite.received")["invite"]
    b.send({"type": "invite.accept", "invite_id": invite["id"]})
    room = a.expect("room.started")["room"]
    b.expect("room.started")
    return a, b, ta, tb, room["id"]


def collect(client, mtype, out: dict, until=lambda: False, timeout=10):
    """Read frames of ``mtype`` into ``out`` (by id) until ``until()``."""
    import time

    deadline = time.monotonic() + timeout
    while not until():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out collecting {mtype}")
        msg = client.expect(mtype, timeout=max(0.1, deadline - time.monotonic()))
        m = msg["message"]
        out[m["id"]] = m


def test_chat_survives_sigkill_replay_has_every_committed_message_once_in_order(daphne_factory):
    first = daphne_factory(env=FAST)
    a, b, ta, tb, room_id = start_text_room(first)
    acked: dict[str, dict] = {}
    b_seen: dict[int, dict] = {}
    # a conversation with acks
    for i in range(10):
        sender = a if i % 2 == 0 else b
        sender.send({"type": "room.message", "client_id": f"{'a' if sender is a else 'b'}-{i}", "body": f"msg {i}"})
        ack = sender.expect("room.message.ack")
        acked[ack["client_id"] + ("@a" if sender is a else "@b")] = ack["message"]
        if sender is a:
            b_seen[ack["message"]["id"]] = b.expect("room.message")["message"]
        else:
            b_seen[ack["message"]["id"]] = ack["message"]
    # A fires a burst without waiting; the process is SIGKILLed mid-stream
    burst = [f"a-burst-{i}" for i in range(40)]
    for cid in burst:
        a.send({"type": "room.message", "client_id": cid, "body": cid})
    a.expect("room.message.ack")  # at least the first one is in
    first.kill()
    for c in (a, b):
        try:
            c.expect_closed(timeout=10)
        except AssertionError:
            pass
    for m in a.seen + b.seen:
        if m.get("type") == "room.message.ack":
            acked.setdefault(m["client_id"] + "@a", m["message"])
    for m in b.seen:
        if m.get("type") == "room.message":
            b_seen[m["message"]["id"]] = m["message"]
    committed = list(RoomMessage.objects.filter(room_id=room_id).order_by("id").values_list("id", "client_id", "body"))
    committed_ids = [row[0] for row in committed]
    # every acknowledged message was committed (ack after commit)
    assert {m["id"] for m in acked.values()} <= set(committed_ids)

    second = daphne_factory(env=FAST)
    a2, b2 = WsClient(second, ta), WsClient(second, tb)
    assert a2.auth()["room"]["id"] == room_id
    assert b2.auth()["room"]["id"] == room_id
    # B replays from the last id it saw: exactly the committed messages after it, in order
    last = max(b_seen)
    b2.send({"type": "room.replay", "after_id": last})
    page = b2.expect("room.messages")
    replayed = [m["id"] for m in page["messages"]]
    assert replayed == [i for i in committed_ids if i > last] and not page["has_more"]
    assert not set(replayed) & set(b_seen)  # nothing twice
    full = sorted(set(b_seen) | set(replayed))
    assert full == committed_ids  # nothing lost
    seqs = [m["seq"] for m in page["messages"]]
    assert seqs == sorted(seqs)
    # A resends its whole burst with the same client ids: the committed ones are acked with their
    # stored ids (no second row), the lost ones are stored now and reach B
    stored_before = {cid: mid for mid, cid, _ in committed}
    for cid in burst:
        a2.send({"type": "room.message", "client_id": cid, "body": cid})
    new_ids = []
    for cid in burst:
        ack = a2.expect("room.message.ack")
        if ack["client_id"] in stored_before:
            assert ack["message"]["id"] == stored_before[ack["client_id"]]
        else:
            new_ids.append(ack["message"]["id"])
    got = {}
    collect(b2, "room.message", got, until=lambda: len(got) >= len(new_ids))
    assert sorted(got) == sorted(new_ids)
    rows = list(RoomMessage.objects.filter(room_id=room_id).values_list("sender_id", "client_id"))
    assert len(rows) == len(set(rows)) == 10 + len(burst)  # every message exactly once
    b2.send({"type": "room.replay", "after_id": 0})
    everything = b2.expect("room.messages")["messages"]
    assert [m["seq"] for m in everything] == list(range(1, 11 + len(burst)))
    for c in (a2, b2):
        c.close()


def test_torch_warning_and_end_survive_a_sigkill(daphne_factory):
    env = {**FAST, "TORCH_IDLE_SECONDS": "1.5", "TORCH_WARNING_SECONDS": "6"}
    first = daphne_factory(env=env)
    a, b, ta, tb, room_id = start_text_room(first)
    a.send({"type": "room.message", "client_id": "1", "body": "hello?"})
    a.expect("room.message.ack")
    # nobody says anything more: both are warned (B first: silent since the start)
    warning = a.expect("room.inactivity_warning", timeout=10)
    assert warning["room_id"] == room_id and warning["deadline"]
    first.kill()
    parts = list(RoomParticipant.objects.filter(room_id=room_id).values_list("torch_deadline", flat=True))
    deadlines = [d for d in parts if d is not None]
    assert deadlines, "the warning is in the database"
    earliest = min(deadlines)
    # the restarted process neither resets nor forgets the warning: the room ends on time
    second = daphne_factory(env=env)
    a2 = WsClient(second, ta)
    ok = a2.auth()
    if ok["room"] is not None:  # still live (grace after the restart): the end reaches the socket
        assert a2.expect("room.ended", timeout=15)["reason"] == "inactivity"
    room = wait_until(
        lambda: Room.objects.filter(pk=room_id, status="ended").first(), timeout=15, what="room ended by the torch rule"
    )
    assert room.end_reason == "inactivity"
    assert earliest <= room.ended_at <= earliest + __import__("datetime").timedelta(seconds=3)
    assert room.history.count() == 2
    a2.close()


def test_chat_across_two_processes_and_a_killed_one(daphne_factory, settings):
    if not settings.REDIS_URL:
        pytest.skip("two processes share the channel layer through Redis (REDIS_URL)")
    p1, p2 = daphne_factory(env=FAST), daphne_factory(env=FAST)
    ta, ida = signup(p1, "Ann")
    tb, idb = signup(p2, "Bob")
    a, b = WsClient(p1, ta), WsClient(p2, tb)
    a.auth()
    b.auth()
    b.send({"type": "presence.set", "available": True})
    b.expect("presence.state")
    a.send({"type": "invite.send", "to": idb, "mode": "video", "seconds": 300})
    b.send({"type": "invite.accept", "invite_id": b.expect("invite.received")["invite"]["id"]})
    room_id = a.expect("room.started")["room"]["id"]
    # side chat and signaling across processes
    a.send({"type": "room.message", "client_id": "1", "body": "from process 1"})
    sent = a.expect("room.message.ack")["message"]
    assert b.expect("room.message")["message"] == sent
    b.send({"type": "offer", "sdp": "v=0"})
    assert a.expect("offer")["sdp"] == "v=0"
    b.send({"type": "room.message", "client_id": "1", "body": "from process 2"})
    reply = b.expect("room.message.ack")["message"]
    a.expect("room.message")
    p1.kill()
    a2 = WsClient(p2, ta)  # A comes back on the surviving process
    assert a2.auth()["room"]["id"] == room_id
    a2.send({"type": "room.replay", "after_id": sent["id"]})
    assert [m["id"] for m in a2.expect("room.messages")["messages"]] == [reply["id"]]
    a2.send({"type": "room.message", "client_id": "1", "body": "from process 1"})  # a resend: same id
    assert a2.expect("room.message.ack")["message"]["id"] == sent["id"]
    assert RoomMessage.objects.filter(room_id=room_id).count() == 2
    for c in (a2, b):
        c.close()
