"""Invites, rooms, grace and bookkeeping through the real consumer (WebsocketCommunicator)."""

import time

import pytest
from channels.db import database_sync_to_async as sync_to_async  # closes its connection after

from config import clock
from realtime.runtime import local_user_ids, tick
from social.models import CallHistory, Cooldown, Room, SessionCompletion

pytestmark = pytest.mark.django_db(transaction=True)


async def available(c):
    state = await c.request({"type": "presence.set", "available": True}, "presence.state")
    assert state["state"] == "available"


async def pair(ws_user, clients):
    (a, ta), (b, tb) = await ws_user("Ann"), await ws_user("Bob")
    ca, cb = clients(ta), clients(tb)
    await ca.open()
    await cb.open()
    await available(ca)
    await available(cb)
    return a, b, ca, cb


async def start_room(ws_user, clients, seconds=120, mode="video"):
    a, b, ca, cb = await pair(ws_user, clients)
    await ca.send({"type": "invite.send", "to": str(b.public_id), "mode": mode, "seconds": seconds})
    sent = await ca.expect("invite.sent")
    got = await cb.expect("invite.received")
    assert got["invite"]["id"] == sent["invite"]["id"]
    assert got["invite"]["from"]["name"] == "Ann" and got["invite"]["seconds"] == seconds
    await cb.send({"type": "invite.accept", "invite_id": got["invite"]["id"]})
    ra, rb = await ca.expect("room.started"), await cb.expect("room.started")
    assert ra["room"]["id"] == rb["room"]["id"]
    assert ra["room"]["peer"]["name"] == "Bob" and rb["room"]["peer"]["name"] == "Ann"
    assert ra["room"]["remaining_seconds"] in (seconds, seconds - 1)
    return a, b, ca, cb, ra["room"]["id"]


def sweep():
    """One round of what each server process does in the background (leases of the sockets it
    holds renewed, deadlines finalised, invites expired)."""
    return tick(user_ids=local_user_ids(), renew=True)


async def test_invite_accept_room_relay_and_end_writes_bookkeeping_once(ws_user, clients):
    a, b, ca, cb, room_id = await start_room(ws_user, clients)
    # both in call: presence says so, the queue hides them
    assert (await ca.request({"type": "presence.set", "available": True}, "presence.state"))["state"] == "in_call"
    await ca.send({"type": "room.relay", "data": {"hello": 1}})
    assert (await cb.expect("room.relay"))["data"] == {"hello": 1}
    assert await ca.nothing()  # the sender doesn't get its own relay
    clock.advance(45)
    await cb.send({"type": "room.end"})
    ea, eb = await ca.expect("room.ended"), await cb.expect("room.ended")
    assert ea["reason"] == eb["reason"] == "user" and eb["ended_by_you"] and not ea["ended_by_you"]
    assert ea["duration_seconds"] == 45
    await cb.send({"type": "room.end"})
    assert (await cb.expect("error"))["code"] == "not_in_room"

    def check():
        assert CallHistory.objects.filter(room_id=room_id).count() == 2
        assert SessionCompletion.objects.filter(room_id=room_id).count() == 2
        assert Cooldown.objects.count() == 1
        a.refresh_from_db()
        b.refresh_from_db()
        assert a.timer_total_seconds == b.timer_total_seconds == 45
        assert Room.objects.get(pk=room_id).end_reason == "user"

    await sync_to_async(check)()
    # the pair can't invite each other during the cooldown, in either direction
    await available(ca)
    await available(cb)
    for sender, target in ((ca, b), (cb, a)):
        await sender.send({"type": "invite.send", "to": str(target.public_id), "mode": "text", "seconds": 60})
        err = await sender.expect("error")
        assert err["code"] == "cooldown" and err["cooldown_until"]


async def test_grace_then_reconnect_resumes_with_remaining_time(ws_user, clients):
    a, b, ca, cb, room_id = await start_room(ws_user, clients, seconds=300)
    real_start = time.monotonic()
    await cb.close()
    gone = await ca.expect("room.peer_disconnected")
    assert gone["room"]["status"] == "grace" and not gone["room"]["peer_connected"]
    clock.advance(9)
    await sync_to_async(sweep)()
    cb2 = clients(cb.token)
    ok = await cb2.open()
    assert ok["room"]["id"] == room_id and ok["presence"] == "in_call"
    resumed_b = await cb2.expect("room.resumed")
    resumed_a = await ca.expect("room.resumed")
    assert resumed_a["room"]["status"] == resumed_b["room"]["status"] == "active"
    # 9 s moved on the clock, plus the real seconds this took (more on a busy machine)
    real = time.monotonic() - real_start
    assert 291 - real - 1 <= resumed_a["room"]["remaining_seconds"] <= 291
    assert [m["type"] for m in cb2.seen[:2]] == ["auth.ok", "room.resumed"]
    # the resumed socket is in the room again
    await cb2.send({"type": "room.relay", "data": "back"})
    assert (await ca.expect("room.relay"))["data"] == "back"


async def test_grace_expiry_ends_room_once_with_reason_disconnect(ws_user, clients):
    a, b, ca, cb, room_id = await start_room(ws_user, clients, seconds=300)
    clock.advance(40)
    await cb.close()
    await ca.expect("room.peer_disconnected")
    clock.advance(11)
    first = await sync_to_async(sweep)()
    second = await sync_to_async(sweep)()
    assert first["grace_ended"] == 1 and second["grace_ended"] == 0
    ended = await ca.expect("room.ended")
    assert ended["reason"] == "disconnect" and ended["duration_seconds"] == 40  # grace time not counted
    assert await sync_to_async(CallHistory.objects.filter(room_id=room_id).count)() == 2


async def test_room_timer_ends_the_room(ws_user, clients):
    a, b, ca, cb, room_id = await start_room(ws_user, clients, seconds=60)
    clock.advance(61)
    await sync_to_async(sweep)()
    for c in (ca, cb):
        ended = await c.expect("room.ended")
        assert ended["reason"] == "timer" and ended["duration_seconds"] == 60


async def test_second_socket_keeps_the_room_connected(ws_user, clients):
    a, b, ca, cb, room_id = await start_room(ws_user, clients)
    ca2 = clients(ca.token)
    assert (await ca2.open())["room"]["id"] == room_id
    await ca.close()
    assert await cb.nothing(0.3)  # A still has a socket: no grace
    assert await sync_to_async(lambda: Room.objects.get(pk=room_id).status)() == "active"


async def test_decline_cancel_and_expiry_tell_both_sides(ws_user, clients):
    a, b, ca, cb = await pair(ws_user, clients)
    invite = {"type": "invite.send", "to": str(b.public_id), "mode": "text", "seconds": 60}
    await ca.send(invite)
    iid = (await cb.expect("invite.received"))["invite"]["id"]
    await cb.send({"type": "invite.decline", "invite_id": iid})
    assert (await ca.expect("invite.declined"))["invite_id"] == iid
    await cb.expect("invite.declined")

    await ca.send(invite)
    iid = (await cb.expect("invite.received"))["invite"]["id"]
    await cb.send({"type": "invite.cancel", "invite_id": iid})  # not B's to cancel
    assert (await cb.expect("error"))["code"] == "invite_not_found"
    await ca.send({"type": "invite.cancel", "invite_id": iid})
    assert (await cb.expect("invite.cancelled"))["invite_id"] == iid

    await ca.send(invite)
    iid = (await cb.expect("invite.received"))["invite"]["id"]
    clock.advance(19)
    assert (await sync_to_async(sweep)())["invites_expired"] == 0
    clock.advance(2)
    assert (await sync_to_async(sweep)())["invites_expired"] == 1
    assert (await ca.expect("invite.expired"))["invite_id"] == iid
    assert (await cb.expect("invite.expired"))["invite_id"] == iid
    await cb.send({"type": "invite.accept", "invite_id": iid})
    assert (await cb.expect("error"))["code"] == "invite_not_found"


async def test_invite_refusals_have_clear_codes(ws_user, clients, settings):
    a, b, ca, cb = await pair(ws_user, clients)
    c_user, tc = await ws_user("Cy")
    cc = clients(tc)
    await cc.open()

    async def refused(client, to, code, **kw):
        msg = {"type": "invite.send", "to": str(to), "mode": "video", "seconds": 60, **kw}
        await client.send(msg)
        err = await client.expect("error")
        assert err["code"] == code, err
        return err

    await refused(ca, a.public_id, "invalid_target")
    await refused(ca, "6f1c2a8e-0000-4000-8000-000000000000", "user_not_found")
    await refused(ca, c_user.public_id, "not_available")  # online, not in the queue
    await refused(ca, b.public_id, "invalid", seconds=30)
    await refused(ca, b.public_id, "invalid", seconds=601)
    await ca.send({"type": "invite.send", "to": str(b.public_id), "mode": "video", "seconds": 60})
    await cb.expect("invite.received")
    await refused(ca, b.public_id, "invite_pending")
    await available(cc)
    await refused(cc, b.public_id, "invite_pending")  # B already has one incoming

    # blocks, both directions
    from social.services import block_create

    await sync_to_async(block_create)(user=c_user, other=a)
    await refused(ca, c_user.public_id, "blocked")


async def test_invite_rate_limits_per_sender_and_receiver(ws_user, clients, settings):
    settings.INVITE_RATE_SENDER_PER_MINUTE = 2
    a, b, ca, cb = await pair(ws_user, clients)
    for _ in range(2):
        await ca.send({"type": "invite.send", "to": str(b.public_id), "mode": "video", "seconds": 60})
        iid = (await ca.expect("invite.sent"))["invite"]["id"]
        await ca.send({"type": "invite.cancel", "invite_id": iid})
        await ca.expect("invite.cancelled")
    await ca.send({"type": "invite.send", "to": str(b.public_id), "mode": "video", "seconds": 60})
    err = await ca.expect("error")
    assert err["code"] == "rate_limited" and err["retry_after"] >= 1


async def test_accepting_while_in_a_call_is_refused_by_the_constraint(ws_user, clients):
    a, b, ca, cb, room_id = await start_room(ws_user, clients)
    d_user, td = await ws_user("Dee")
    cd = clients(td)
    await cd.open()
    await available(cd)
    await ca.send({"type": "invite.send", "to": str(d_user.public_id), "mode": "video", "seconds": 60})
    assert (await ca.expect("error"))["code"] == "already_in_call"
    await cd.send({"type": "invite.send", "to": str(b.public_id), "mode": "video", "seconds": 60})
    assert (await cd.expect("error"))["code"] == "peer_in_call"


async def test_queue_over_websocket_and_skip(ws_user, clients):
    a, b, ca, cb = await pair(ws_user, clients)
    page = await ca.request({"type": "queue.get"}, "queue.list")
    assert [e["name"] for e in page["results"]] == ["Bob"] and page["total"] == 1
    await ca.request({"type": "queue.skip", "user": str(b.public_id)}, "queue.skipped")
    assert (await ca.request({"type": "queue.get"}, "queue.list"))["results"] == []
    # skips last for this visit only: after A's last socket closes they're forgotten
    await ca.close()
    ca2 = clients(ca.token)
    await ca2.open()
    assert [e["name"] for e in (await ca2.request({"type": "queue.get"}, "queue.list"))["results"]] == ["Bob"]
    # B leaves the queue: gone
    await cb.request({"type": "presence.set", "available": False}, "presence.state")
    assert (await ca2.request({"type": "queue.get"}, "queue.list"))["results"] == []


async def test_ban_ends_the_room_via_contract(ws_user, clients):
    from social.services import room_end_for_user

    a, b, ca, cb, room_id = await start_room(ws_user, clients)
    await sync_to_async(room_end_for_user)(user_id=a.pk, reason="ban")
    assert (await cb.expect("room.ended"))["reason"] == "ban"


async def test_receiver_rate_limit_and_banned_target(ws_user, clients, settings, monkeypatch):
    settings.INVITE_RATE_RECEIVER_PER_MINUTE = 1
    a, b, ca, cb = await pair(ws_user, clients)
    c_user, tc = await ws_user("Cy")
    cc = clients(tc)
    await cc.open()
    await ca.send({"type": "invite.send", "to": str(b.public_id), "mode": "video", "seconds": 60})
    iid = (await ca.expect("invite.sent"))["invite"]["id"]
    await ca.send({"type": "invite.cancel", "invite_id": iid})
    await ca.expect("invite.cancelled")
    await cc.send({"type": "invite.send", "to": str(b.public_id), "mode": "video", "seconds": 60})
    assert (await cc.expect("error"))["code"] == "rate_limited"  # B got its one invite this minute

    import moderation.selectors

    monkeypatch.setattr(
        moderation.selectors, "user_ban_active", lambda *, user_id: {"until": None, "reason": "x"} if user_id == a.pk else None
    )
    await cc.send({"type": "invite.send", "to": str(a.public_id), "mode": "video", "seconds": 60})
    assert (await cc.expect("error"))["code"] == "not_available"  # a banned target is not available
    await ca.send({"type": "invite.send", "to": str(c_user.public_id), "mode": "video", "seconds": 60})
    assert (await ca.expect("error"))["code"] == "banned"


async def test_a_real_ban_ends_the_room_kicks_the_sockets_and_blocks_reconnects(ws_user, clients):
    """Moderation's ban_create → room ends (reason ban, bookkeeping once), 4403 on every socket,
    a new socket of the banned user is refused with 4403."""
    from accounts.models import User
    from moderation.services import ban_create

    a, b, ca, cb, room_id = await start_room(ws_user, clients)

    def ban():
        mod = User.objects.create_superuser(email="mod@example.com", password="a-long-password-1")
        ban_create(user=a, actor=mod, reason="abuse", duration=None)

    await sync_to_async(ban)()
    assert (await cb.expect("room.ended"))["reason"] == "ban"
    assert (await ca.expect("room.ended"))["reason"] == "ban"
    assert (await ca.expect("banned"))["reason"] == "abuse"
    assert await ca.expect_close() == 4403
    assert await sync_to_async(CallHistory.objects.filter(room_id=room_id).count)() == 2
    again = clients(ca.token)
    await again.open(auth=False)
    await again.send({"type": "auth", "token": ca.token})
    assert await again.expect_close() == 4403
    # even with a (stale) available socket entry somewhere, the banned user stays out of queues
    import presence

    await sync_to_async(presence.socket_touch)(user_id=a.pk, socket_id="stale-elsewhere", available=True)
    await available(cb)
    assert (await cb.request({"type": "queue.get"}, "queue.list"))["results"] == []
