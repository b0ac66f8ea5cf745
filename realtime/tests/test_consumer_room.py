"""In the room through the real consumer: chat (ack, peer delivery, resend, replay), typing, WebRTC
signaling, rate limits, the torch rule's messages."""

import pytest
from channels.db import database_sync_to_async as sync_to_async

from config import clock
from realtime.tests.test_consumer_calls import start_room, sweep
from social.models import Room, RoomMessage

pytestmark = pytest.mark.django_db(transaction=True)


async def test_chat_ack_to_sender_message_to_peer_resend_stored_once(ws_user, clients):
    a, b, ca, cb, room_id = await start_room(ws_user, clients, mode="text")
    ack = await ca.request({"type": "room.message", "client_id": "m-1", "body": "  hi Bob ", "ref": 7}, "room.message.ack")
    assert ack["ref"] == 7 and ack["client_id"] == "m-1"
    msg = ack["message"]
    assert msg["body"] == "hi Bob" and msg["seq"] == 1 and msg["sender"] == str(a.public_id) and msg["room_id"] == room_id
    got = await cb.expect("room.message")
    assert got["message"] == msg
    assert await ca.nothing()  # the sender gets the ack, not an echo
    # a resend (e.g. after a reconnect, the ack was lost) is acked with the same message, not relayed again
    again = await ca.request({"type": "room.message", "client_id": "m-1", "body": "hi Bob"}, "room.message.ack")
    assert again["message"] == msg
    assert await cb.nothing()
    assert await sync_to_async(RoomMessage.objects.filter(room_id=room_id).count)() == 1
    # the peer answers; replay from 0 gives both, in order
    reply = (await cb.request({"type": "room.message", "client_id": "x", "body": "hello Ann"}, "room.message.ack"))["message"]
    assert (await ca.expect("room.message"))["message"]["id"] == reply["id"]
    page = await cb.request({"type": "room.replay", "after_id": 0}, "room.messages")
    assert [m["id"] for m in page["messages"]] == [msg["id"], reply["id"]] and page["has_more"] is False
    page = await ca.request({"type": "room.replay", "after_id": msg["id"]}, "room.messages")
    assert [m["body"] for m in page["messages"]] == ["hello Ann"] and page["room_id"] == room_id


async def test_side_chat_in_video_rooms(ws_user, clients):
    a, b, ca, cb, room_id = await start_room(ws_user, clients, mode="video")
    await ca.request({"type": "room.message", "client_id": "1", "body": "can you hear me?"}, "room.message.ack")
    assert (await cb.expect("room.message"))["message"]["body"] == "can you hear me?"


async def test_chat_errors_keep_the_socket(ws_user, clients):
    (u, token) = await ws_user("Solo")
    c = clients(token)
    await c.open()
    for frame, code in (
        ({"type": "room.message", "client_id": "1", "body": "hi"}, "not_in_room"),
        ({"type": "room.message", "client_id": "1"}, "invalid"),
        ({"type": "room.message", "client_id": "", "body": "x"}, "invalid"),
        ({"type": "room.message", "client_id": "x" * 65, "body": "x"}, "invalid"),
        ({"type": "room.replay", "after_id": -1}, "invalid"),
        ({"type": "room.replay"}, "not_in_room"),
        ({"type": "offer", "sdp": "v=0"}, "not_in_room"),
        ({"type": "room.typing", "typing": True}, "not_in_room"),
    ):
        err = await c.request(frame, "error")
        assert err["code"] == code, (frame, err)
    assert (await c.request({"type": "heartbeat"}, "heartbeat.ack"))


async def test_empty_and_overlong_bodies(ws_user, clients, settings):
    settings.ROOM_MESSAGE_MAX_CHARS = 10
    a, b, ca, cb, room_id = await start_room(ws_user, clients, mode="text")
    for body in ("   ", "x" * 11):
        err = await ca.request({"type": "room.message", "client_id": "1", "body": body}, "error")
        assert err["code"] == "invalid" and "body" in err["fields"]
    assert await cb.nothing()


async def test_typing_is_relayed_and_not_stored(ws_user, clients):
    a, b, ca, cb, room_id = await start_room(ws_user, clients, mode="text")
    await ca.send({"type": "room.typing", "typing": True})
    assert await cb.expect("room.typing") == {"type": "room.typing", "typing": True, "room_id": room_id}
    assert await ca.nothing()
    assert await sync_to_async(RoomMessage.objects.count)() == 0


async def test_webrtc_signaling_to_the_peer_only_validated(ws_user, clients):
    a, b, ca, cb, room_id = await start_room(ws_user, clients, mode="video")
    (e, te) = await ws_user("Eve")
    ce = clients(te)
    await ce.open()
    await ca.send({"type": "offer", "sdp": "v=0 offer"})
    assert await cb.expect("offer") == {"type": "offer", "sdp": "v=0 offer", "room_id": room_id}
    await cb.send({"type": "answer", "sdp": "v=0 answer"})
    assert (await ca.expect("answer"))["sdp"] == "v=0 answer"
    cand = {"candidate": "candidate:1 1 udp 2122260223 10.0.0.1 5000 typ host", "sdpMid": "0", "sdpMLineIndex": 0, "extra": 1}
    await ca.send({"type": "ice-candidate", "candidate": cand})
    got = await cb.expect("ice-candidate")
    assert got["candidate"] == {**{k: v for k, v in cand.items() if k != "extra"}, "usernameFragment": None}
    await ca.send({"type": "ice-candidate", "candidate": None})  # end of candidates
    assert (await cb.expect("ice-candidate"))["candidate"] is None
    assert await ca.nothing() and await ce.nothing()  # not the sender, not an outsider
    for frame, code in (
        ({"type": "offer"}, "invalid"),
        ({"type": "offer", "sdp": 5}, "invalid"),
        ({"type": "offer", "sdp": "x" * 40_000}, "too_large"),
        ({"type": "ice-candidate"}, "invalid"),
        ({"type": "ice-candidate", "candidate": "nope"}, "invalid"),
        ({"type": "ice-candidate", "candidate": {"candidate": "c", "sdpMLineIndex": "0"}}, "invalid"),
        ({"type": "ice-candidate", "candidate": {"candidate": "c" * 5000}}, "too_large"),
    ):
        assert (await ca.request(frame, "error"))["code"] == code, frame
    assert await cb.nothing()


async def test_signaling_is_for_video_rooms(ws_user, clients):
    a, b, ca, cb, room_id = await start_room(ws_user, clients, mode="text")
    assert (await ca.request({"type": "offer", "sdp": "v=0"}, "error"))["code"] == "not_video_room"


async def test_rate_limits_per_connection_answer_an_error_and_keep_the_socket(ws_user, clients, settings):
    settings.ROOM_MESSAGE_RATE_PER_10S = 3
    settings.ROOM_SIGNAL_RATE_PER_10S = 2
    a, b, ca, cb, room_id = await start_room(ws_user, clients, mode="video")
    for i in range(3):
        await ca.request({"type": "room.message", "client_id": str(i), "body": "x"}, "room.message.ack")
    err = await ca.request({"type": "room.message", "client_id": "4", "body": "x"}, "error")
    assert err["code"] == "rate_limited" and err["retry_after"] >= 1
    assert await sync_to_async(RoomMessage.objects.count)() == 3
    await ca.send({"type": "offer", "sdp": "1"})
    await ca.send({"type": "offer", "sdp": "2"})
    assert (await ca.request({"type": "offer", "sdp": "3"}, "error"))["code"] == "rate_limited"
    # another connection has its own budget; the limited socket stays open
    await cb.request({"type": "room.message", "client_id": "b", "body": "mine"}, "room.message.ack")
    assert await ca.request({"type": "heartbeat"}, "heartbeat.ack")


async def test_torch_warning_clear_and_inactivity_end_over_the_socket(ws_user, clients, settings):
    settings.TORCH_IDLE_SECONDS = 120
    settings.TORCH_WARNING_SECONDS = 60
    a, b, ca, cb, room_id = await start_room(ws_user, clients, mode="text", seconds=600)
    await ca.request({"type": "room.message", "client_id": "1", "body": "hi"}, "room.message.ack")
    await cb.expect("room.message")
    clock.advance(100)
    await cb.request({"type": "room.message", "client_id": "1", "body": "hey"}, "room.message.ack")
    await ca.expect("room.message")
    clock.advance(21)  # A silent for 121 s, B for 21 s
    await sync_to_async(sweep)()
    wa, wb = await ca.expect("room.inactivity_warning"), await cb.expect("room.inactivity_warning")
    assert wa["user"] == wb["user"] == str(a.public_id) and wa["you"] and not wb["you"]
    assert wa["deadline"] == wb["deadline"]
    await ca.request({"type": "room.message", "client_id": "2", "body": "still here"}, "room.message.ack")
    cleared = await cb.expect("room.inactivity_cleared")
    assert cleared["user"] == str(a.public_id)
    clock.advance(100)  # B silent for 121 s
    await sync_to_async(sweep)()
    assert (await ca.expect("room.inactivity_warning"))["user"] == str(b.public_id)
    clock.advance(60)
    await sync_to_async(sweep)()
    ea, eb = await ca.expect("room.ended"), await cb.expect("room.ended")
    assert ea["reason"] == eb["reason"] == "inactivity"
    room = await sync_to_async(Room.objects.get)(pk=room_id)
    assert room.end_reason == "inactivity"


@pytest.mark.parametrize("body", ["a\u0000b", "a\ud800b", "\udfff"])
async def test_unstorable_chat_text_is_invalid_at_the_edge_and_disturbs_no_other_room(ws_user, clients, monkeypatch, body):
    """A NUL or a lone surrogate never reaches the group-committing writer: the sender gets
    ``invalid`` (its ref echoed), the socket stays, and another room's message sent at the same
    moment is stored in its batch as usual (no batch failure, no one-by-one retry)."""
    from social import messages

    a, b, ca, cb, room_1 = await start_room(ws_user, clients, mode="text")
    c, d, cc, cd, room_2 = await start_room(ws_user, clients, mode="text")
    batches, singles = [], []
    real_batch, real_single = messages.room_messages_send_batch, messages._single

    def spy_batch(*, items):
        batches.append([it["body"] for it in items])
        return real_batch(items=items)

    def spy_single(item):
        singles.append(item["body"])
        return real_single(item)

    monkeypatch.setattr(messages, "room_messages_send_batch", spy_batch)
    monkeypatch.setattr(messages, "_single", spy_single)
    await ca.send({"type": "room.message", "client_id": "h-1", "body": body, "ref": "r1"})
    await cc.send({"type": "room.message", "client_id": "ok-1", "body": "hello"})
    err = await ca.expect("error")
    assert err["code"] == "invalid" and err["ref"] == "r1" and list(err["fields"]) == ["body"]
    assert (await cc.expect("room.message.ack"))["message"]["body"] == "hello"
    assert (await cd.expect("room.message"))["message"]["body"] == "hello"
    assert batches == [["hello"]] and singles == []
    assert await cb.nothing()
    assert await sync_to_async(RoomMessage.objects.filter(room_id=room_1).count)() == 0
    # the socket carries on
    ack = await ca.request({"type": "room.message", "client_id": "h-2", "body": "fine"}, "room.message.ack")
    assert ack["message"]["body"] == "fine"
