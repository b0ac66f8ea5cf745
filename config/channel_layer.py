"""The channel layer: channels-redis's pub/sub layer, plus one thing it lacks — a socket can be
opened while Redis is unreachable.

Channels asks the layer for the consumer's own channel before the WebSocket handshake is answered;
channels-redis subscribes to it on Redis right away, so with Redis down the handshake fails with
HTTP 500.  Here the channel is only registered in the process (its queue), never subscribed:
nothing in this project sends to a consumer's own channel — every event goes to a group — so the
subscription bought nothing but a Redis round trip per socket.  The handshake succeeds with Redis
down, and the consumer answers what needs Redis with ``unavailable`` (its groups are joined on
``auth``, which the client retries).

And one thing it doesn't say — whether this process is receiving.  Pub/sub delivers to whoever is
subscribed at the moment of the publish.  After Redis comes back (empty), redis-py re-subscribes
this process's channels and groups only when channels-redis's receive loop reconnects (it sleeps
1 s after each failure), so for up to a second or two a notice published to a socket of this
process is lost while every other Redis call already works.  ``receiving()`` is False in that
window; the consumer answers what is delivered through the layer with ``unavailable`` (retry)
instead of leaving it silent, and ``/readyz`` reports Redis degraded until it is True.  What it
can't see: a Redis restart that completes before channels-redis's receive loop has polled the dead
connection (it reads with a 0.1 s timeout) — the old connection still looks alive.  Closing that
would need a round trip through the subscription (publish a probe to ourselves) after every failure
any other Redis call of the process sees.

Sync code publishes a batch of events itself (``publish_many_sync``: group channel ``<prefix>__group__<group>``,
the layer's own ``serialize``).  Leans on channels-redis internals (``RedisPubSubChannelLayer._get_layer`` and ``._layers``,
``RedisPubSubLoopLayer.prefix``, ``.channels`` (channel → queue), ``.groups`` (group channel → members), ``._shards``,
``._get_group_channel_name`` and ``._get_shard``; ``RedisSingleShardConnection._subscribed_to``, ``._lock`` and ``._pubsub``) and on
redis-py's ``PubSub.connection`` (``is_connected``, ``_reader``, ``register_connect_callback`` —
callbacks run in registration order, after ``PubSub.on_connect``); ``config/tests/test_channel_layer.py``
fails if they change.
"""

from __future__ import annotations

import asyncio
import threading
import uuid

from channels_redis.pubsub import RedisPubSubChannelLayer
from channels_redis.utils import decode_hosts

from config import clock



IDLE_GROUP_SECONDS = 30.0  # how long a group's subscription outlives its last local member


class RedisPubSubLayer(RedisPubSubChannelLayer):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._watchers: dict[int, _Resubscribed] = {}  # id(pub/sub connection) → its watcher
        hosts = decode_hosts(kwargs.get("hosts"))
        # one Redis URL (this project's configuration): sync code can publish itself
        self._sync_address = hosts[0]["address"] if len(hosts) == 1 and set(hosts[0]) == {"address"} else None
        self._group_prefix = f"{kwargs.get('prefix', 'asgi')}__group__"
        self._sync_redis = None
        self._sync_lock = threading.Lock()
        self._idle: dict[int, dict[str, float]] = {}  # id(loop layer) → group channel → idle since
        self._next_idle_sweep = 0.0

    def can_publish_sync(self) -> bool:
        return self._sync_address is not None

    def publish_many_sync(self, sends: list[tuple[str, dict]]) -> None:
        """``group_send`` for several ``(group, message)`` at once from sync code (a worker thread):
        one pipeline of PUBLISH on a connection of its own — the same channel names and serializer
        as ``group_send``, so every process's receive loop delivers them as usual — instead of a
        hop to the event loop and one awaited round trip per message, serialized behind the
        shard's lock with every SUBSCRIBE of the process (a reconnect storm publishes thousands
        of ``room.resumed``).  Raises what Redis raises (the caller logs it per message)."""
        if self._sync_redis is None:
            with self._sync_lock:
                if self._sync_redis is None:
                    import redis

                    self._sync_redis = redis.Redis.from_url(self._sync_address)
        pipe = self._sync_redis.pipeline(transaction=False)
        for group, message in sends:
            pipe.publish(self._group_prefix + group, self.serialize(message))
        pipe.execute()

    async def new_channel(self, prefix: str = "specific.") -> str:
        """The consumer's own channel: its in-process queue only, no Redis ``SUBSCRIBE``.  Every
        event reaches a socket through a group (which the receive loop fans out to these queues),
        never through its own channel, so subscribing it on Redis — one round trip per socket on
        connect and another on close, ~7 % of the server's CPU in a connect burst (py-spy) —
        bought nothing.  No I/O: a handshake also succeeds while Redis is unreachable.
        (channels-redis's cleanup in ``receive`` unsubscribes only what was subscribed.)"""
        layer = self._get_layer()
        channel = f"{layer.prefix}{prefix}{uuid.uuid4().hex}"
        layer.channels[channel] = asyncio.Queue()
        return channel

    async def group_add(self, group: str, channel: str) -> None:
        layer = self._get_layer()  # the parent proxies every call to its per-loop layer
        await layer.group_add(group, channel)
        self._watch(layer)

    async def group_discard(self, group: str, channel: str) -> None:
        """Leave a group.  When the group's last socket in this process leaves, its Redis
        subscription is kept for ``IDLE_GROUP_SECONDS`` (a user who reconnects — the common case:
        a network change, a reload, a reconnect storm — rejoins it without a SUBSCRIBE) and
        unsubscribed afterwards, many at once, by a later discard.  channels-redis would send an
        UNSUBSCRIBE per closing socket (and its receive loop parse the confirmation): ~0.5 ms of
        server CPU per socket, a fifth of a connect burst's (bench/bench_storm.py).  Messages to
        an idle group reach this process and are dropped, as for any group with no member here."""
        layer = self._get_layer()
        group_channel = layer._get_group_channel_name(group)
        members = layer.groups.get(group_channel)
        if not members or channel not in members:
            return
        members.discard(channel)
        idle = self._idle.setdefault(id(layer), {})
        if not members:
            idle[group_channel] = clock.monotonic()
        await self._unsubscribe_idle(layer, idle)

    async def _unsubscribe_idle(self, layer, idle: dict) -> None:
        now = clock.monotonic()
        if not idle or now < self._next_idle_sweep:
            return
        self._next_idle_sweep = now + IDLE_GROUP_SECONDS / 4
        due = [gc for gc, since in idle.items() if now - since >= IDLE_GROUP_SECONDS]
        by_shard: dict = {}
        for gc in due:
            del idle[gc]
            if not layer.groups.get(gc):  # nobody rejoined meanwhile
                by_shard.setdefault(layer._get_shard(gc), []).append(gc)
        for shard, names in by_shard.items():
            async with shard._lock:
                names = [gc for gc in names if not layer.groups.get(gc) and gc in shard._subscribed_to]
                if names:
                    try:
                        await shard._pubsub.unsubscribe(*names)
                    except BaseException:
                        for gc in names:  # still subscribed: try again at a later sweep
                            idle.setdefault(gc, now - IDLE_GROUP_SECONDS)
                        raise
                    shard._subscribed_to.difference_update(names)
            for gc in names:
                if not layer.groups.get(gc):  # a group_add meanwhile keeps its (re-subscribed) set
                    layer.groups.pop(gc, None)

    def _watch(self, loop_layer) -> None:
        """Right after a subscribe went through, every subscription of the shard is live on its
        connection: start watching that connection's reconnects from here (watching only at a
        later look could take a connection caught mid-reconnect for a live one)."""
        for shard in loop_layer._shards:
            connection = shard._pubsub.connection if shard._pubsub is not None else None
            if connection is None or not connection.is_connected:
                continue
            watcher = self._watchers.get(id(connection))
            if watcher is None or watcher.connection is not connection:
                self._watchers[id(connection)] = _Resubscribed(connection)

    def receiving(self) -> bool:
        """Is every subscription of this process live on Redis?  False from the moment the
        receive connection drops until it has reconnected *and* sent its re-subscription
        (redis-py's ``PubSub.on_connect``, which runs before our own connect callback).  Reads
        attributes only (safe from a worker thread, no I/O): cheap enough for every inbound frame."""
        for loop_layer in list(self._layers.values()):
            for shard in loop_layer._shards:
                if not shard._subscribed_to:
                    continue  # nothing to receive on this shard (e.g. a publish-only loop)
                connection = shard._pubsub.connection if shard._pubsub is not None else None
                if connection is None or not connection.is_connected:
                    return False
                watcher = self._watchers.get(id(connection))
                if watcher is None or watcher.connection is not connection:
                    return False  # subscribed by a path that isn't watched: can't tell, so no
                if watcher.reader is not connection._reader:
                    return False  # reconnected; the re-subscription hasn't been sent yet
        return True


class _Resubscribed:
    """Remembers the stream of the pub/sub connection's latest completed (re)subscription.
    redis-py keeps connect callbacks as weak methods, so the layer holds this object."""

    def __init__(self, connection) -> None:
        self.connection = connection
        self.reader = connection._reader
        connection.register_connect_callback(self.resubscribed)

    async def resubscribed(self, connection) -> None:
        self.reader = connection._reader


def layer_receiving(layer) -> bool:
    """``receiving()`` of ``layer``; layers without the notion (in-memory) always receive."""
    receiving = getattr(layer, "receiving", None)
    return True if receiving is None else receiving()
