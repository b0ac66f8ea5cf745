"""The channel layer: channels-redis's pub/sub layer, plus one thing it lacks — a socket can be
opened while Redis is unreachable.

Channels asks the layer for the consumer's own channel before the WebSocket handshake is answered;
channels-redis subscribes to it right away, so with Redis down the handshake fails with HTTP 500.
Here the channel is registered in the process (its queue) even when that subscription fails: the
handshake succeeds, and the consumer answers what needs Redis with ``unavailable`` (its groups are
joined on ``auth``, which the client retries).  Nothing in this project sends to a consumer's own
channel — every event goes to a group — so the missing subscription loses nothing.

Leans on channels-redis internals (``RedisPubSubChannelLayer._get_layer``,
``RedisPubSubLoopLayer.prefix`` and ``._subscribe_to_channel``, which registers the queue before it
subscribes); ``config/tests/test_channel_layer.py`` fails if they change.
"""

from __future__ import annotations

import uuid

from channels_redis.pubsub import RedisPubSubChannelLayer

from config.resilience import is_redis_unavailable, redis_state


class RedisPubSubLayer(RedisPubSubChannelLayer):
    async def new_channel(self, prefix: str = "specific.") -> str:
        layer = self._get_layer()
        channel = f"{layer.prefix}{prefix}{uuid.uuid4().hex}"
        try:
            await layer._subscribe_to_channel(channel)
        except Exception as exc:
            if not is_redis_unavailable(exc) or channel not in layer.channels:
                raise
            redis_state.failed(exc)
        return channel
