"""The channel layer with Redis unreachable (a loopback port nothing listens on): a consumer's own
channel is still handed out (so a WebSocket handshake succeeds), while what needs Redis raises an
error that ``config.resilience`` classifies as "unavailable".  Also pins the channels-redis
internals ``config.channel_layer`` leans on."""

from __future__ import annotations

import pytest

from config.channel_layer import RedisPubSubLayer
from config.resilience import is_redis_unavailable
from tests.servers import free_port


@pytest.fixture
async def layer():
    layer = RedisPubSubLayer(hosts=[f"redis://127.0.0.1:{free_port()}/0"], prefix="t-db0-asgi")
    yield layer
    await layer.flush()


async def test_new_channel_survives_redis_being_unreachable(layer):
    channel = await layer.new_channel()
    assert channel.startswith("t-db0-asgispecific.")
    assert channel in layer._get_layer().channels  # its queue exists: receive() waits on it

    with pytest.raises(Exception) as caught:
        await layer.group_add("user.1", channel)
    assert is_redis_unavailable(caught.value)
    with pytest.raises(Exception) as caught:
        await layer.group_send("user.1", {"type": "client.send", "message": {}})
    assert is_redis_unavailable(caught.value)


def test_channels_redis_internals_still_exist():
    from channels_redis.pubsub import RedisPubSubChannelLayer, RedisPubSubLoopLayer

    assert callable(RedisPubSubChannelLayer._get_layer)
    assert callable(RedisPubSubLoopLayer._subscribe_to_channel)
    loop_layer = RedisPubSubLoopLayer(hosts=["redis://127.0.0.1:1/0"], prefix="p")
    assert loop_layer.prefix == "p" and loop_layer.channels == {}
