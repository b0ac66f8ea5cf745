"""``config.events``: one constructor per server→client event, one way to send after commit."""

import asyncio

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from channels.layers import get_channel_layer
from django.db import transaction

from config import events, metrics
from tests.servers import free_port


def test_constructors_take_exactly_the_shape_fields():
    assert events.room_ended(
        room_id="r", reason="user", ended_by_you=True, duration_seconds=3, cooldown_until="t"
    ) == {"type": "room.ended", "room_id": "r", "reason": "user", "ended_by_you": True, "duration_seconds": 3,
          "cooldown_until": "t"}
    with pytest.raises(TypeError):
        events.room_ended(room_id="r")  # missing fields
    with pytest.raises(TypeError):
        events.room_typing(room_id="r", typing=True, extra=1)  # unknown field
    with pytest.raises(TypeError):
        events.room_typing("r", True)  # keyword-only
    # optional fields are left out unless given
    assert events.error(code="invalid", message="m") == {"type": "error", "code": "invalid", "message": "m"}
    assert events.heartbeat_ack(server_time="t", ref=1)["ref"] == 1
    assert events.server_restarting() == {"type": "server.restarting"}


def test_every_registered_event_has_its_constructor_in_the_module():
    for mtype, spec in events.SERVER_EVENTS.items():
        assert getattr(events, mtype.replace(".", "_").replace("-", "_")) is spec.constructor
    with pytest.raises(ValueError):
        events.server_event("room.ended", events.RoomEnded, when="twice")


def test_replies_that_echo_ref_are_the_documented_ones():
    assert events.REPLY_TYPES == {
        "error", "heartbeat.ack", "presence.state", "queue.list", "queue.skipped", "room.state",
        "room.message.ack", "room.messages",
    }


def _failed_count() -> float:
    return metrics.value("events_send_failed_total")


@pytest.fixture
def broken_layer(settings):
    """A real channels-redis layer pointed at a port nobody listens on: every send fails."""
    settings.CHANNEL_LAYERS = {
        "default": {"BACKEND": "channels_redis.core.RedisChannelLayer", "CONFIG": {"hosts": [("127.0.0.1", free_port())]}}
    }
    yield get_channel_layer()


def test_a_failing_channel_layer_never_fails_a_committed_write(make_user, broken_layer, django_capture_on_commit_callbacks):
    from social import services
    from social.models import Room

    a, b = make_user(), make_user()
    before = _failed_count()
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        room = services.room_start(inviter_id=a.pk, invitee_id=b.pk, mode="text", seconds=60)
    assert callbacks  # room.started to both, after commit — and no exception
    assert Room.objects.filter(pk=room.pk).exists()
    assert _failed_count() == before + 2


def test_nothing_is_sent_when_the_transaction_rolls_back(make_user, django_capture_on_commit_callbacks):
    user = make_user()
    layer = get_channel_layer()

    def write():
        with django_capture_on_commit_callbacks(execute=True):
            try:
                with transaction.atomic():
                    events.send_after_commit(users=user.pk, message=events.notification_new(id=1, text="never"))
                    raise RuntimeError("rolled back")
            except RuntimeError:
                pass
            events.send_after_commit(users=[user.pk], message=events.notification_new(id=2, text="sent"))

    async def scenario():
        # one event loop for the listening side (the Redis layer is per loop), like a consumer
        channel = await layer.new_channel()
        await layer.group_add(events.user_group(user.pk), channel)
        await sync_to_async(write)()
        event = await asyncio.wait_for(layer.receive(channel), timeout=5)
        await layer.group_discard(events.user_group(user.pk), channel)
        return event

    event = async_to_sync(scenario)()
    assert event == {"type": "client.send", "message": {"type": "notification.new", "id": 2, "text": "sent"}}


def test_ephemeral_publish_raises_and_committed_publish_does_not(broken_layer):
    before = _failed_count()
    message = events.room_typing(room_id="r", typing=True)
    async_to_sync(events.publish)(message=message, room_id="r", skip_user=1)
    assert _failed_count() == before + 1
    with pytest.raises(Exception):
        async_to_sync(events.publish)(message=message, room_id="r", skip_user=1, ephemeral=True)
