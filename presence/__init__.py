"""Presence, queue skips and deadline queues in the shared cache tier.

One module hides which store is used:

- ``REDIS_URL`` set: Redis sorted sets through django-redis's raw client, updated by small Lua
  scripts so that concurrent processes never see half an update.  Keys carry the cache key
  prefix, so a test run's ``delete_pattern("*")`` clears them too.
- otherwise (embedded default, one process): the same structures in process memory behind a
  lock, reset whenever the local-memory cache is cleared.

Model: every socket has an entry ``(socket id → expiry)`` in its user's set and, when the socket
asked to be in the queue, in the user's "available" set.  Per user, the best socket wins:
``in_call`` (decided by the database: a live room) > ``available`` > ``online`` > offline.  The
global sets hold each user's latest expiry, so the queue and the online count are range reads.
Nothing is ever left behind by a crash: every entry has an expiry and reads ignore past ones.
"""

from __future__ import annotations

import threading
from typing import Iterable

from django.conf import settings
from django.core.cache import cache

from config import clock

# The queue's derived structure (``presence.queue``): keys in the shared cache.
QUEUEABLE = "queue:able"  # sorted set: user → presence expiry (available, not in a room, not banned)
IN_ROOM = "queue:in-room"  # set: users in a live room (the database decides; this mirrors it)
BANNED = "queue:banned"  # sorted set: user → ban end (epoch seconds; far future when permanent)
BUILT = "queue:built"  # the time (epoch seconds) until which the structure counts as built
REBUILDING = "queue:rebuilding"  # one process rebuilds at a time (SET NX, expires)
GENERATION = "queue:generation"  # bumped by every room / ban change: a rebuild that saw an older one retries

ONLINE = "online"
AVAILABLE = "available"
IN_CALL = "in_call"
OFFLINE = "offline"


def _now() -> float:
    return clock.now().timestamp()


def _ttl() -> float:
    return float(settings.PRESENCE_TIMEOUT_SECONDS)


# --- Redis --------------------------------------------------------------------------------------
# The queue's derived set (``presence.queue``) follows the user's entry in the global available
# set: in it, with the same score, unless the user is in a live room or banned.
_QUEUEABLE = """
redis.call('ZREMRANGEBYSCORE', KEYS[5], '-inf', %(now)s)
local best = redis.call('ZSCORE', KEYS[4], %(user)s)
local ban = redis.call('ZSCORE', KEYS[7], %(user)s)
if best and redis.call('SISMEMBER', KEYS[6], %(user)s) == 0 and not (ban and tonumber(ban) > tonumber(%(now)s)) then
  redis.call('ZADD', KEYS[5], best, %(user)s)
else
  redis.call('ZREM', KEYS[5], %(user)s)
end
return out
"""

_TOUCH = """
-- KEYS: user sockets, user available, global online, global available, queueable, in room, banned, skips
-- ARGV: socket id, available (1/0), expiry, now, key ttl (s), user id
redis.call('ZADD', KEYS[1], ARGV[3], ARGV[1])
if ARGV[2] == '1' then redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1]) else redis.call('ZREM', KEYS[2], ARGV[1]) end
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', ARGV[4])
redis.call('ZREMRANGEBYSCORE', KEYS[4], '-inf', ARGV[4])
local out = {}
for i = 1, 2 do
  redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', ARGV[4])
  local top = redis.call('ZRANGE', KEYS[i], -1, -1, 'WITHSCORES')
  if top[2] then
    redis.call('ZADD', KEYS[i + 2], top[2], ARGV[6])
    redis.call('EXPIRE', KEYS[i], ARGV[5])
  else
    redis.call('ZREM', KEYS[i + 2], ARGV[6])
  end
  out[i] = redis.call('ZCARD', KEYS[i])
end
redis.call('EXPIRE', KEYS[8], ARGV[5])  -- this visit's skips last as long as the visit
""" + _QUEUEABLE % {"user": "ARGV[6]", "now": "ARGV[4]"}

_REMOVE = """
-- KEYS: user sockets, user available, global online, global available, queueable, in room, banned, skips
-- ARGV: socket id, now, user id
local out = {}
for i = 1, 2 do
  redis.call('ZREM', KEYS[i], ARGV[1])
  redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', ARGV[2])
  local top = redis.call('ZRANGE', KEYS[i], -1, -1, 'WITHSCORES')
  if top[2] then redis.call('ZADD', KEYS[i + 2], top[2], ARGV[3]) else redis.call('ZREM', KEYS[i + 2], ARGV[3]) end
  out[i] = redis.call('ZCARD', KEYS[i])
end
""" + _QUEUEABLE % {"user": "ARGV[3]", "now": "ARGV[2]"}

_POP_DUE = """
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, 500)
if #due > 0 then redis.call('ZREM', KEYS[1], unpack(due)) end
return due
"""


class _RedisStore:
    def __init__(self) -> None:
        from django_redis import get_redis_connection

        self.r = get_redis_connection("default")
        self._touch = self.r.register_script(_TOUCH)
        self._remove = self.r.register_script(_REMOVE)
        self._pop_due = self.r.register_script(_POP_DUE)

    @staticmethod
    def k(name: str) -> str:
        return cache.make_key(name)

    def _keys(self, user_id: int) -> list[str]:
        return [
            self.k(f"pres:u:{user_id}"), self.k(f"pres:a:{user_id}"), self.k("pres:online"), self.k("pres:available"),
            self.k(QUEUEABLE), self.k(IN_ROOM), self.k(BANNED), self.k(f"pres:skip:{user_id}"),
        ]

    def touch(self, user_id: int, socket_id: str, available: bool) -> tuple[int, int]:
        now = _now()
        res = self._touch(
            keys=self._keys(user_id),
            args=[socket_id, 1 if available else 0, now + _ttl(), now, int(_ttl()) + 5, user_id],
        )
        return int(res[0]), int(res[1])

    def remove(self, user_id: int, socket_id: str) -> tuple[int, int]:
        res = self._remove(keys=self._keys(user_id), args=[socket_id, _now(), user_id])
        return int(res[0]), int(res[1])

    def touch_many(self, items: list[tuple[int, str, bool]]) -> None:
        """``touch`` for many sockets: the same script for each, in one round trip."""
        now, ttl = _now(), _ttl()
        pipe = self.r.pipeline(transaction=False)
        for user_id, socket_id, available in items:
            self._touch(
                keys=self._keys(user_id), args=[socket_id, 1 if available else 0, now + ttl, now, int(ttl) + 5, user_id],
                client=pipe,
            )
        pipe.execute()

    def remove_many(self, items: list[tuple[int, str]]) -> list[int]:
        """``remove`` for many sockets in one round trip; each user's remaining socket count."""
        now = _now()
        pipe = self.r.pipeline(transaction=False)
        for user_id, socket_id in items:
            self._remove(keys=self._keys(user_id), args=[socket_id, now, user_id], client=pipe)
        return [int(res[0]) for res in pipe.execute()]

    def user_sockets(self, user_id: int) -> int:
        return int(self.r.zcount(self.k(f"pres:u:{user_id}"), _now(), "+inf"))

    def states(self, user_ids: list[int]) -> dict[int, str]:
        now = _now()
        pipe = self.r.pipeline(transaction=False)
        for uid in user_ids:
            pipe.zscore(self.k("pres:available"), uid)
            pipe.zscore(self.k("pres:online"), uid)
        res = pipe.execute()
        out = {}
        for i, uid in enumerate(user_ids):
            av, on = res[2 * i], res[2 * i + 1]
            out[uid] = AVAILABLE if av and av > now else (ONLINE if on and on > now else OFFLINE)
        return out

    def available_ids(self) -> list[int]:
        """Available users, most recently refreshed first."""
        return [int(x) for x in self.r.zrevrangebyscore(self.k("pres:available"), "+inf", _now())]

    def online_count(self) -> int:
        return int(self.r.zcount(self.k("pres:online"), _now(), "+inf"))

    # skips (this visit only)
    def skip_add(self, user_id: int, other_id: int) -> None:
        key = self.k(f"pres:skip:{user_id}")
        pipe = self.r.pipeline()
        pipe.sadd(key, other_id)
        pipe.expire(key, int(_ttl()) + 5)
        pipe.execute()

    def skips(self, user_id: int) -> set[int]:
        return {int(x) for x in self.r.smembers(self.k(f"pres:skip:{user_id}"))}

    def skips_clear(self, user_id: int) -> None:
        self.skips_clear_many([user_id])

    def skips_clear_many(self, user_ids) -> None:
        self.r.delete(*[self.k(f"pres:skip:{uid}") for uid in user_ids])

    # deadline queues
    def due_add(self, queue: str, member: str, when: float) -> None:
        self.r.zadd(self.k(f"due:{queue}"), {member: when})

    def due_remove(self, queue: str, member: str) -> None:
        self.r.zrem(self.k(f"due:{queue}"), member)

    def due_pop(self, queue: str, now: float) -> list[str]:
        """Members whose time has come; each is returned to exactly one caller."""
        return [m.decode() if isinstance(m, bytes) else m for m in self._pop_due(keys=[self.k(f"due:{queue}")], args=[now])]


# --- local memory (one process) -----------------------------------------------------------------
class _LocalStore:
    _GEN_KEY = "pres:local-generation"

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self._reset()

    def _reset(self) -> None:
        self.sockets: dict[int, dict[str, float]] = {}
        self.avail: dict[int, dict[str, float]] = {}
        self.skip: dict[int, set[int]] = {}
        self.due: dict[str, dict[str, float]] = {}
        # the queue's derived sets (presence.queue); missing "built" after a reset: rebuilt on read
        self.qstate: dict = {"in_room": set(), "banned": {}, "forgotten": set(), "built_until": 0.0, "generation": 0}

    def _check_generation(self) -> None:
        # Clearing the local-memory cache (tests do, between cases) clears presence with it.
        if cache.get(self._GEN_KEY) is None:
            self._reset()
            cache.set(self._GEN_KEY, 1, timeout=None)

    @staticmethod
    def _prune(entries: dict[str, float], now: float) -> None:
        for sid in [s for s, exp in entries.items() if exp <= now]:
            del entries[sid]

    def touch(self, user_id: int, socket_id: str, available: bool) -> tuple[int, int]:
        now = _now()
        with self.lock:
            self._check_generation()
            socks = self.sockets.setdefault(user_id, {})
            av = self.avail.setdefault(user_id, {})
            socks[socket_id] = now + _ttl()
            self.qstate["forgotten"].discard(user_id)
            if available:
                av[socket_id] = now + _ttl()
            else:
                av.pop(socket_id, None)
            self._prune(socks, now)
            self._prune(av, now)
            return len(socks), len(av)

    def remove(self, user_id: int, socket_id: str) -> tuple[int, int]:
        now = _now()
        with self.lock:
            self._check_generation()
            socks = self.sockets.get(user_id, {})
            av = self.avail.get(user_id, {})
            socks.pop(socket_id, None)
            av.pop(socket_id, None)
            self._prune(socks, now)
            self._prune(av, now)
            return len(socks), len(av)

    def touch_many(self, items: list[tuple[int, str, bool]]) -> None:
        for user_id, socket_id, available in items:
            self.touch(user_id, socket_id, available)

    def remove_many(self, items: list[tuple[int, str]]) -> list[int]:
        return [self.remove(user_id, socket_id)[0] for user_id, socket_id in items]

    def user_sockets(self, user_id: int) -> int:
        now = _now()
        with self.lock:
            self._check_generation()
            return sum(1 for exp in self.sockets.get(user_id, {}).values() if exp > now)

    def _best(self, table: dict[int, dict[str, float]], user_id: int, now: float) -> float:
        return max((exp for exp in table.get(user_id, {}).values() if exp > now), default=0.0)

    def states(self, user_ids: list[int]) -> dict[int, str]:
        now = _now()
        with self.lock:
            self._check_generation()
            out = {}
            for uid in user_ids:
                if self._best(self.avail, uid, now):
                    out[uid] = AVAILABLE
                elif self._best(self.sockets, uid, now):
                    out[uid] = ONLINE
                else:
                    out[uid] = OFFLINE
            return out

    def available_ids(self) -> list[int]:
        now = _now()
        with self.lock:
            self._check_generation()
            scored = [(self._best(self.avail, uid, now), uid) for uid in self.avail]
        return [uid for score, uid in sorted(scored, reverse=True) if score > 0]

    def online_count(self) -> int:
        now = _now()
        with self.lock:
            self._check_generation()
            return sum(1 for uid in self.sockets if self._best(self.sockets, uid, now))

    def skip_add(self, user_id: int, other_id: int) -> None:
        with self.lock:
            self._check_generation()
            self.skip.setdefault(user_id, set()).add(other_id)

    def skips(self, user_id: int) -> set[int]:
        with self.lock:
            self._check_generation()
            return set(self.skip.get(user_id, set()))

    def skips_clear(self, user_id: int) -> None:
        self.skips_clear_many([user_id])

    def skips_clear_many(self, user_ids) -> None:
        with self.lock:
            for uid in user_ids:
                self.skip.pop(uid, None)

    def due_add(self, queue: str, member: str, when: float) -> None:
        with self.lock:
            self._check_generation()
            self.due.setdefault(queue, {})[member] = when

    def due_remove(self, queue: str, member: str) -> None:
        with self.lock:
            self.due.get(queue, {}).pop(member, None)

    def due_pop(self, queue: str, now: float) -> list[str]:
        with self.lock:
            self._check_generation()
            q = self.due.get(queue, {})
            out = [m for m, when in q.items() if when <= now]
            for m in out:
                del q[m]
            return out


_store = None
_store_lock = threading.Lock()


def store():
    global _store
    if _store is None:
        with _store_lock:
            if _store is None:
                _store = _RedisStore() if settings.REDIS_URL else _LocalStore()
    return _store


# --- the API the rest of the code uses -----------------------------------------------------------
def socket_touch(*, user_id: int, socket_id: str, available: bool) -> None:
    """Refresh one socket's entry (on connect, heartbeat and queue join/leave)."""
    store().touch(user_id, socket_id, available)


def socket_remove(*, user_id: int, socket_id: str) -> int:
    """Forget one socket; returns how many live sockets the user still has (any process).

    When the last one goes, this visit's skips are forgotten.
    """
    return sockets_remove(items=[(user_id, socket_id)])[0]


def sockets_touch(*, items: list[tuple[int, str, bool]]) -> None:
    """``socket_touch`` for many ``(user_id, socket_id, available)`` at once (one round trip)."""
    if items:
        store().touch_many(items)


def sockets_remove(*, items: list[tuple[int, str]]) -> list[int]:
    """``socket_remove`` for many ``(user_id, socket_id)`` at once (one round trip, plus one for
    the skips of users left with no socket); how many live sockets each user still has."""
    if not items:
        return []
    remaining = store().remove_many(items)
    gone = {uid for (uid, _), left in zip(items, remaining) if left == 0}
    if gone:
        store().skips_clear_many(sorted(gone))
    return remaining


def user_socket_count(*, user_id: int) -> int:
    return store().user_sockets(user_id)


def user_states(*, user_ids: Iterable[int], in_call_ids: Iterable[int] = ()) -> dict[int, str]:
    """Presence of several users at once (``in_call_ids`` comes from the database)."""
    ids = list(user_ids)
    states = store().states(ids) if ids else {}
    for uid in in_call_ids:
        if uid in states:
            states[uid] = IN_CALL
    return states


def available_user_ids() -> list[int]:
    return store().available_ids()


def online_user_count() -> int:
    """Users with at least one live socket (contract: the moderation dashboard)."""
    return store().online_count()


def skip_add(*, user_id: int, other_id: int) -> None:
    store().skip_add(user_id, other_id)


def skipped_ids(*, user_id: int) -> set[int]:
    return store().skips(user_id)


# The queue's derived structure (after the store: it uses it).
from presence.queue import (  # noqa: E402
    queue_ban_set,
    queue_forget,
    queue_generation,
    queue_page,
    queue_rebuild,
    queue_room_enter,
    queue_room_leave,
)

