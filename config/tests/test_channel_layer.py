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
    loop_layer = layer._get_layer()
    assert channel in loop_layer.channels  # its queue exists: receive() waits on it
    # no Redis I/O for a consumer's own channel (nothing is ever sent to it): no subscription
    assert all(shard._subscribed_to == set() and shard._pubsub is None for shard in loop_layer._shards)

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


def test_redis_py_and_channels_redis_internals_for_receiving_still_exist():
    from channels_redis.pubsub import RedisPubSubLoopLayer, RedisSingleShardConnection
    from redis.asyncio.connection import Connection

    layer = RedisPubSubLayer(hosts=["redis://127.0.0.1:1/0"], prefix="p")
    assert layer._layers == {} and layer.receiving() is True  # nothing subscribed: nothing to lose
    loop_layer = RedisPubSubLoopLayer(hosts=["redis://127.0.0.1:1/0"], prefix="p")
    shard = loop_layer._shards[0]
    assert isinstance(shard, RedisSingleShardConnection)
    assert shard._subscribed_to == set() and shard._pubsub is None
    assert "_reader" in Connection.__slots__ and callable(Connection.register_connect_callback)


async def test_receiving_is_false_from_a_redis_restart_until_resubscribed():
    """Against a redis-server of the test's own: subscribed → receiving; SIGKILL → not receiving
    (a publish now would reach nobody); started again → receiving once redis-py has re-subscribed,
    and from then on a group message is delivered."""
    import asyncio

    from tests.servers import RedisServer

    reason = RedisServer.unavailable()
    if reason:
        pytest.skip(reason)
    server = RedisServer().start()
    layer = RedisPubSubLayer(hosts=[server.url(1)], prefix="t-db1-asgi")
    try:
        channel = await layer.new_channel()
        await layer.group_add("user.1", channel)
        assert layer.receiving()

        async def until(state: bool, timeout: float = 10) -> None:
            deadline = asyncio.get_running_loop().time() + timeout
            while layer.receiving() is not state:
                assert asyncio.get_running_loop().time() < deadline, f"receiving() never became {state}"
                await asyncio.sleep(0.02)  # let the layer's receive loop run; bounded by the deadline

        server.stop()
        await until(False)
        server.start()
        await until(True)
        await layer.group_send("user.1", {"type": "client.send", "n": 1})
        assert (await asyncio.wait_for(layer.receive(channel), 5))["n"] == 1
    finally:
        await layer.flush()
        server.stop()


@pytest.mark.skipif(not __import__("os").environ.get("REDIS_URL"), reason="needs the real Redis (REDIS_URL)")
async def test_sync_code_publishes_a_batch_that_group_members_receive():
    """``publish_many_sync`` (sync code's one-pipeline ``group_send``) uses the names and the
    serializer ``group_send`` does: a group member of another layer instance (another process)
    receives every message, in order; a group nobody joined gets nothing."""
    import asyncio
    import os
    import uuid

    prefix = f"t-sync-{uuid.uuid4().hex[:8]}"
    receiver = RedisPubSubLayer(hosts=[os.environ["REDIS_URL"]], prefix=prefix)
    sender = RedisPubSubLayer(hosts=[os.environ["REDIS_URL"]], prefix=prefix)
    assert sender.can_publish_sync()
    try:
        channel = await receiver.new_channel()
        await receiver.group_add("user.7", channel)
        messages = [{"type": "client.send", "message": {"n": i}} for i in range(3)]
        await asyncio.to_thread(sender.publish_many_sync, [("user.8", {"type": "x"})] + [("user.7", m) for m in messages])
        got = [await asyncio.wait_for(receiver.receive(channel), timeout=10) for _ in messages]
        assert got == messages
    finally:
        await receiver.flush()


@pytest.mark.skipif(not __import__("os").environ.get("REDIS_URL"), reason="needs the real Redis (REDIS_URL)")
async def test_a_group_left_by_its_last_member_stays_subscribed_for_a_while_then_is_unsubscribed():
    """A group's Redis subscription outlives its last local member for ``IDLE_GROUP_SECONDS``: a
    member rejoining meanwhile needs no SUBSCRIBE and receives again; after that, a later discard
    unsubscribes the idle groups (and only those: a group with a member keeps its subscription)."""
    import asyncio
    import os
    import uuid

    from config import channel_layer, clock

    prefix = f"t-idle-{uuid.uuid4().hex[:8]}"
    layer = RedisPubSubLayer(hosts=[os.environ["REDIS_URL"]], prefix=prefix)
    sender = RedisPubSubLayer(hosts=[os.environ["REDIS_URL"]], prefix=prefix)
    try:
        a, b = await layer.new_channel(), await layer.new_channel()
        await layer.group_add("user.1", a)
        await layer.group_add("user.2", b)
        loop_layer = layer._get_layer()
        shard = loop_layer._shards[0]
        g1, g2 = loop_layer._get_group_channel_name("user.1"), loop_layer._get_group_channel_name("user.2")
        await layer.group_discard("user.1", a)
        assert g1 in shard._subscribed_to  # kept: idle, not unsubscribed
        a2 = await layer.new_channel()  # the same user reconnects
        await layer.group_add("user.1", a2)
        await sender.group_send("user.1", {"type": "hello"})
        assert await asyncio.wait_for(layer.receive(a2), timeout=10) == {"type": "hello"}

        await layer.group_discard("user.1", a2)
        clock.advance(channel_layer.IDLE_GROUP_SECONDS + 1)
        layer._next_idle_sweep = 0.0
        c = await layer.new_channel()
        await layer.group_add("user.3", c)
        await layer.group_discard("user.3", c)  # any discard sweeps what has been idle long enough
        assert g1 not in shard._subscribed_to and g1 not in loop_layer.groups
        assert g2 in shard._subscribed_to  # still has a member
        await layer.group_add("user.1", a2)  # back after the sweep: subscribed again
        assert g1 in shard._subscribed_to
        await sender.group_send("user.1", {"type": "again"})
        assert await asyncio.wait_for(layer.receive(a2), timeout=10) == {"type": "again"}
    finally:
        clock.reset()
        await layer.flush()
        await sender.flush()
