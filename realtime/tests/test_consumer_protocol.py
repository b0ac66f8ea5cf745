"""Socket auth, protocol validation and the broadcast contract (client.send / client.kick)."""

import json

import pytest
from channels.db import database_sync_to_async as sync_to_async  # closes its connection after

from config import events
from realtime.protocol import CLOSE_AUTH_FAILED, CLOSE_BANNED

pytestmark = pytest.mark.django_db(transaction=True)


async def test_auth_ok_carries_card_and_timing(ws_user, clients):
    user, token = await ws_user("Ada")
    c = clients(token)
    ok = await c.open()
    assert ok["user"]["id"] == str(user.public_id) and ok["user"]["name"] == "Ada"
    assert ok["heartbeat_seconds"] == 20 and ok["offline_timeout_seconds"] == 60
    assert ok["room"] is None and ok["presence"] == "online"
    assert (await c.request({"type": "heartbeat", "ref": 7}, "heartbeat.ack"))["ref"] == 7


@pytest.mark.parametrize("token", ["nope", "cc_" + "x" * 43, "y" * 500])
async def test_bad_token_closes_4401(db, clients, token):
    c = clients(token)
    await c.open(auth=False)
    await c.send({"type": "auth", "token": token})
    assert await c.expect_close() == CLOSE_AUTH_FAILED


async def test_revoked_token_cannot_authenticate(ws_user, clients):
    user, token = await ws_user()

    def revoke():
        from accounts.models import Session
        from accounts.services import session_revoke

        session_revoke(session=Session.objects.get(user=user), actor=user)

    await sync_to_async(revoke)()
    c = clients(token)
    await c.open(auth=False)
    await c.send({"type": "auth", "token": token})
    assert await c.expect_close() == CLOSE_AUTH_FAILED


async def test_no_auth_in_time_closes_4401(db, clients, settings):
    settings.WS_AUTH_TIMEOUT_SECONDS = 0.2
    c = clients(None)
    await c.open(auth=False)
    assert await c.expect_close(timeout=3) == CLOSE_AUTH_FAILED


async def test_banned_user_closes_4403(ws_user, clients):
    from accounts.models import User
    from moderation.services import ban_create

    user, token = await ws_user()
    other, other_token = await ws_user()
    mod = await sync_to_async(User.objects.create_user)(name="mod", is_staff=True)
    await sync_to_async(ban_create)(user=user, actor=mod, reason="abuse", duration=None)
    c, ok = clients(token), clients(other_token)
    await c.open(auth=False)
    await ok.open(auth=False)
    # in one batch with a user who is not banned: only the banned one is refused
    await c.send({"type": "auth", "token": token})
    await ok.send({"type": "auth", "token": other_token})
    assert await c.expect_close() == CLOSE_BANNED
    await ok.expect("auth.ok")


async def test_messages_before_auth_get_an_error_and_the_socket_stays(ws_user, clients):
    user, token = await ws_user()
    c = clients(token)
    await c.open(auth=False)
    err = await c.request({"type": "heartbeat"}, "error")
    assert err["code"] == "not_authenticated"
    await c.send({"type": "auth", "token": token})
    await c.expect("auth.ok")


BAD_FRAMES = [
    ("{not json", "bad_json"),
    ("[1, 2]", "bad_message"),
    ('"hello"', "bad_message"),
    ("{}", "bad_message"),
    ('{"type": 5}', "bad_message"),
    ('{"type": "nope"}', "unknown_type"),
    ('{"type": "invite.send"}', "invalid"),
    ('{"type": "invite.send", "to": "x", "mode": "video", "seconds": 60}', "invalid"),
    ('{"type": "invite.send", "to": "6f1c2a8e-0000-4000-8000-000000000000", "mode": "fax", "seconds": 60}', "invalid"),
    ('{"type": "invite.send", "to": "6f1c2a8e-0000-4000-8000-000000000000", "mode": "text", "seconds": "60"}', "invalid"),
    ('{"type": "invite.accept", "invite_id": "../../etc"}', "invalid"),
    ('{"type": "presence.set", "available": "yes"}', "invalid"),
    ('{"type": "queue.get", "limit": 100000}', "invalid"),
    ('{"type": "auth", "token": "again"}', "already_authenticated"),
    ('{"type": "room.relay", "data": 1}', "not_in_room"),
    ('{"type": "room.end"}', "not_in_room"),
    ('{"type": "invite.accept", "invite_id": "abc123"}', "invite_not_found"),
    ("[" * 100_000 + "]" * 100_000, "too_large"),
    (json.dumps({"type": "heartbeat", "pad": "x" * (64 * 1024)}), "too_large"),
    # text no column can store, anywhere in any frame (config.unstorable): refused before validation
    ('{"type": "heartbeat", "x": "\\ud800"}', "invalid"),
    ('{"type": "heartbeat", "x": "\ud800"}', "invalid"),  # a raw lone surrogate in the text
    ('{"type": "room.relay", "data": {"deep": ["\\u0000"]}}', "invalid"),
    ('{"type": "queue.get", "\\u0000": 1}', "invalid"),
    ('{"type": "presence.set", "available": true, "ref": "\\udc00"}', "invalid"),
]


async def test_malformed_frames_never_kill_the_socket(ws_user, clients):
    _, token = await ws_user()
    c = clients(token)
    await c.open()
    for frame, code in BAD_FRAMES:
        await c.send_text(frame)
        err = await c.expect("error")
        assert err["code"] == code, (frame[:60], err)
        assert err["message"]
    # look-alikes that are storable pass: a surrogate pair, an escaped backslash before "u0000"
    ack = await c.request({"type": "heartbeat", "x": "\U0001f600", "y": "\\u0000", "ref": 1}, "heartbeat.ack")
    assert ack["ref"] == 1
    await c.comm.send_to(bytes_data=b"\x00\x01")
    assert (await c.expect("error"))["code"] == "bad_frame"
    # deeply nested but small: still just an error
    await c.send_text('{"type": "heartbeat", "x": ' + "[" * 5000 + "]" * 5000 + "}")
    assert (await c.recv())["type"] in {"error", "heartbeat.ack"}
    assert (await c.request({"type": "heartbeat"}, "heartbeat.ack"))["type"] == "heartbeat.ack"


async def test_broadcast_contract_send_and_kick_reach_every_socket(ws_user, clients):
    user, token = await ws_user()
    first, second = clients(token), clients(token)
    await first.open()
    await second.open()
    # outside a transaction "after commit" is now
    await sync_to_async(events.send_after_commit)(users=user.pk, message=events.notification_new(id=1, text="hi"))
    assert (await first.expect("notification.new"))["text"] == "hi"
    assert (await second.expect("notification.new"))["text"] == "hi"
    await sync_to_async(events.kick_after_commit)(users=user.pk, code=4403, message=events.banned(until=None, reason="r"))
    for c in (first, second):
        assert (await c.expect("banned"))["reason"] == "r"
        assert await c.expect_close() == 4403


async def test_silent_socket_is_closed_by_the_process_loop(ws_user, clients, settings):
    from config import clock
    from realtime import runtime
    from realtime.protocol import CLOSE_HEARTBEAT_TIMEOUT

    _, token = await ws_user()
    c = clients(token)
    await c.open()
    clock.advance(61)
    await runtime._close_silent()
    assert await c.expect_close() == CLOSE_HEARTBEAT_TIMEOUT


async def test_connection_metrics(ws_user, clients):
    from config import metrics

    before = metrics.value("ws_connections")
    connects = metrics.value("ws_connects_total")
    _, token = await ws_user()
    c = clients(token)
    await c.open()
    assert metrics.value("ws_connections") == before + 1
    assert metrics.value("ws_connects_total") == connects + 1
    await c.close()
    assert metrics.value("ws_connections") == before


async def test_a_storm_sheds_auth_with_busy_and_4429_and_a_retry_hint(ws_user, clients, settings):
    from realtime import runtime
    from realtime.protocol import CLOSE_BUSY

    _, token = await ws_user("Ann")
    settings.WS_AUTH_MAX_PENDING = 2
    held = [runtime.auth_admit(), runtime.auth_admit()]  # two sockets authenticating right now
    assert held == [None, None]
    try:
        c = clients(token)
        await c.open(auth=False)
        await c.send({"type": "auth", "token": token})
        busy = await c.expect("error")
        assert busy["code"] == "busy" and busy["retry_after"] >= 1
        assert await c.expect_close() == CLOSE_BUSY
    finally:
        runtime.auth_done()
        runtime.auth_done()
    # with room again, the same token is admitted
    assert (await clients(token).open())["type"] == "auth.ok"


def test_the_retry_hint_is_the_queue_ahead_at_the_rate_just_served(settings):
    """4429's ``retry_after``: pending auths ÷ the auths finished per second over the last 2 s
    (whole seconds, 1–30); a floor of 200/s before anything was measured (a process just started)."""
    from config import clock
    from realtime import runtime

    settings.WS_AUTH_MAX_PENDING = 1000
    runtime._auth_finished.clear()
    held = [runtime.auth_admit() for _ in range(1000)]
    try:
        assert held == [None] * 1000
        assert runtime.auth_admit() == 5  # nothing measured yet: 1000 / 200 per second
        for _ in range(1200):  # 1,200 finished within the window: 600 per second
            runtime._auth_finished.append(clock.monotonic())
        assert runtime.auth_rate() == 600
        assert runtime.auth_admit() == 2  # ceil(1000 / 600)
        clock.advance(runtime.RATE_WINDOW_SECONDS + 0.1)  # the window moved past them
        assert runtime.auth_rate() == 0 and runtime.auth_admit() == 5
    finally:
        clock.reset()
        for _ in range(1000):
            runtime.auth_done()
        runtime._auth_finished.clear()
