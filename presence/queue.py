"""The queue's derived structure: who may appear in anybody's queue, most recently active first.

"Queueable" = available (presence) minus users in a live room minus banned users, scored like the
available set (the expiry of the user's freshest available socket, so the order is "most
recently active" for free).  Shared by every viewer and kept by the writes that change it:

- presence writes (``socket_touch`` / ``socket_remove``: the same Lua script, so never half done);
- a room start / end, after its commit (``queue_room_enter`` / ``queue_room_leave``, from social);
- a ban / lift, after its commit (``queue_ban_set``, from moderation).

It is derived, never authoritative: the database decides rooms and bans.  It is rebuilt from
presence + the database (``queue_rebuild``, by ``realtime.selectors``) when its marker is missing
(a Redis flush or restart, a cleared local cache) or older than ``QUEUE_REBUILD_SECONDS`` (so a
change whose after-commit step was lost — a crash between commit and Redis — heals by itself),
and the queue checks the page's candidates against the database before showing them.

A page (``queue_page``) costs O(log N · (page + exclusions)): a walk of the sorted set that skips
the viewer's own exclusions (blocks, cooldowns, skips: small per-user sets), and ``total`` =
the live members − the excluded ones present.  Redis: one Lua script per page; the embedded
default (one process) computes the same thing in memory.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.conf import settings

import presence
from presence import BANNED, BUILT, GENERATION, IN_ROOM, QUEUEABLE, REBUILDING, _now

PERMANENT = 1e12  # a ban without an end (epoch seconds, year ~33,000)

_PAGE = """
-- KEYS: queueable, viewer's skips, built marker, rebuild lock
-- ARGV: now, offset, limit, number of excluded ids, excluded ids..., intro ids (in order)...
-- Returns {-1} when the structure must be rebuilt first (this caller got the lock), else
-- {total, id, id, ...}: the intros present first, then the rest most recently active first.
local now = ARGV[1]
local built = redis.call('GET', KEYS[3])
if (not built or tonumber(built) <= tonumber(now)) and redis.call('SET', KEYS[4], '1', 'NX', 'EX', 10) then
  return {-1}
end
local offset, limit, nx = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local live = redis.call('ZCOUNT', KEYS[1], '(' .. now, '+inf')
local skip, ranks, excluded = {}, {}, 0
local function rank(m)
  local r = redis.call('ZREVRANK', KEYS[1], m)
  if r and r < live then return r end  -- ranks past ``live`` are expired entries
  return nil
end
local function exclude(m)
  if skip[m] then return end
  skip[m] = true
  local r = rank(m)
  if r then ranks[#ranks + 1] = r; excluded = excluded + 1 end
end
for i = 1, nx do exclude(ARGV[4 + i]) end
for _, m in ipairs(redis.call('SMEMBERS', KEYS[2])) do exclude(m) end
local out = {live - excluded}
local intros = {}
for i = 5 + nx, #ARGV do
  local m = ARGV[i]
  if not skip[m] then
    skip[m] = true
    local r = rank(m)
    if r then intros[#intros + 1] = m; ranks[#ranks + 1] = r end
  end
end
for i = offset + 1, math.min(#intros, offset + limit) do out[#out + 1] = intros[i] end
local need = limit - (#out - 1)
if need > 0 then
  -- the rank of the first wanted member of the rest: step over the skipped ranks before it
  table.sort(ranks)
  local r = math.max(0, offset - #intros)
  for _, s in ipairs(ranks) do if s <= r then r = r + 1 else break end end
  if r < live then
    for _, m in ipairs(redis.call('ZREVRANGE', KEYS[1], r, math.min(live - 1, r + need + #ranks - 1))) do
      if not skip[m] then
        out[#out + 1] = m
        need = need - 1
        if need == 0 then break end
      end
    end
  end
end
return out
"""

_REBUILD = """
-- KEYS: queueable, in room, banned, built marker, rebuild lock, generation, available
-- ARGV: generation seen before reading the database ('' = apply anyway), now, built until,
--       number of in-room ids, in-room ids..., (banned id, ban end) pairs...
-- Whole-set commands and chunked arguments only (no call per member): at 10,000 available this
-- blocks Redis for milliseconds, not tens of them.
if ARGV[1] ~= '' and (redis.call('GET', KEYS[6]) or '0') ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[2], KEYS[3])
redis.call('ZUNIONSTORE', KEYS[1], 1, KEYS[7])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[2])
local nr = tonumber(ARGV[4])
for i = 5, 4 + nr, 1000 do
  local j = math.min(4 + nr, i + 999)
  redis.call('SADD', KEYS[2], unpack(ARGV, i, j))
  redis.call('ZREM', KEYS[1], unpack(ARGV, i, j))
end
for i = 5 + nr, #ARGV, 2 do
  redis.call('ZADD', KEYS[3], ARGV[i + 1], ARGV[i])
  if tonumber(ARGV[i + 1]) > tonumber(ARGV[2]) then redis.call('ZREM', KEYS[1], ARGV[i]) end
end
redis.call('SET', KEYS[4], ARGV[3])
redis.call('DEL', KEYS[5])
return 1
"""

_ROOM = """
-- KEYS: queueable, in room, banned, available, generation
-- ARGV: enter (1) or leave (0), now, user ids...
for i = 3, #ARGV do
  local m = ARGV[i]
  if ARGV[1] == '1' then
    redis.call('SADD', KEYS[2], m)
    redis.call('ZREM', KEYS[1], m)
  else
    redis.call('SREM', KEYS[2], m)
    local best, ban = redis.call('ZSCORE', KEYS[4], m), redis.call('ZSCORE', KEYS[3], m)
    if best and tonumber(best) > tonumber(ARGV[2]) and not (ban and tonumber(ban) > tonumber(ARGV[2])) then
      redis.call('ZADD', KEYS[1], best, m)
    end
  end
end
redis.call('INCR', KEYS[5])
"""

_BAN = """
-- KEYS: queueable, in room, banned, available, generation
-- ARGV: user id, ban end ('' = not banned), now
local m = ARGV[1]
if ARGV[2] ~= '' then
  redis.call('ZADD', KEYS[3], ARGV[2], m)
  redis.call('ZREM', KEYS[1], m)
else
  redis.call('ZREM', KEYS[3], m)
  local best = redis.call('ZSCORE', KEYS[4], m)
  if best and tonumber(best) > tonumber(ARGV[3]) and redis.call('SISMEMBER', KEYS[2], m) == 0 then
    redis.call('ZADD', KEYS[1], best, m)
  end
end
redis.call('INCR', KEYS[5])
"""


class _RedisQueue:
    def __init__(self, store) -> None:
        self.s, self.r = store, store.r
        self._page = self.r.register_script(_PAGE)
        self._rebuild = self.r.register_script(_REBUILD)
        self._room = self.r.register_script(_ROOM)
        self._ban = self.r.register_script(_BAN)

    def _k(self, *names: str) -> list[str]:
        return [self.s.k(n) for n in names]

    def page(self, user_id, excluded, priority, offset, limit):
        res = self._page(
            keys=self._k(QUEUEABLE, f"pres:skip:{user_id}", BUILT, REBUILDING),
            args=[_now(), offset, limit, len(excluded), *excluded, *priority],
        )
        if res[0] == -1:
            return None
        return int(res[0]), [int(x) for x in res[1:]]

    def generation(self) -> str:
        return (self.r.get(self.s.k(GENERATION)) or b"0").decode()

    def rebuild(self, in_room, bans, generation) -> bool:
        now = _now()
        pairs = [x for uid, until in bans.items() for x in (uid, until)]
        return bool(self._rebuild(
            keys=self._k(QUEUEABLE, IN_ROOM, BANNED, BUILT, REBUILDING, GENERATION, "pres:available"),
            args=[generation or "", now, now + settings.QUEUE_REBUILD_SECONDS, len(in_room), *in_room, *pairs],
        ))

    def room(self, user_ids, enter: bool) -> None:
        self._room(keys=self._k(QUEUEABLE, IN_ROOM, BANNED, "pres:available", GENERATION),
                   args=[1 if enter else 0, _now(), *user_ids])

    def ban(self, user_id, until) -> None:
        self._ban(keys=self._k(QUEUEABLE, IN_ROOM, BANNED, "pres:available", GENERATION),
                  args=[user_id, "" if until is None else until, _now()])

    def forget(self, user_ids) -> None:
        self.r.zrem(self.s.k(QUEUEABLE), *user_ids)


class _LocalQueue:
    """The same for one process: the derived sets in memory, the queueable order computed from the
    available users on each read (the embedded default is small)."""

    def __init__(self, store) -> None:
        self.s = store

    def _state(self):
        self.s._check_generation()
        return self.s.qstate

    def page(self, user_id, excluded, priority, offset, limit):
        now = _now()
        with self.s.lock:
            st = self._state()
            if st["built_until"] <= now:
                return None
            skips = set(self.s.skip.get(user_id, set()))
            able = [
                uid for uid in self.s.available_ids()
                if uid not in st["in_room"] and st["banned"].get(uid, 0) <= now and uid not in st["forgotten"]
            ]
        hidden = set(excluded) | skips
        rest = [uid for uid in able if uid not in hidden]
        present = set(rest)
        intros = [uid for uid in dict.fromkeys(priority) if uid in present]
        ordered = intros + [uid for uid in rest if uid not in set(intros)]
        return len(rest), ordered[offset : offset + limit]

    def generation(self) -> str:
        with self.s.lock:
            return str(self._state()["generation"])

    def rebuild(self, in_room, bans, generation) -> bool:
        with self.s.lock:
            st = self._state()
            if generation and str(st["generation"]) != generation:
                return False
            st.update(in_room=set(in_room), banned=dict(bans), forgotten=set(),
                      built_until=_now() + settings.QUEUE_REBUILD_SECONDS)
            return True

    def room(self, user_ids, enter: bool) -> None:
        with self.s.lock:
            st = self._state()
            (st["in_room"].update if enter else st["in_room"].difference_update)(user_ids)
            st["generation"] += 1

    def ban(self, user_id, until) -> None:
        with self.s.lock:
            st = self._state()
            if until is None:
                st["banned"].pop(user_id, None)
            else:
                st["banned"][user_id] = until
            st["generation"] += 1

    def forget(self, user_ids) -> None:
        # a stale entry the database refused (account gone): hidden until the next rebuild
        with self.s.lock:
            self._state()["forgotten"].update(user_ids)


_queue = None


def _q():
    global _queue
    store = presence.store()
    if _queue is None or _queue.s is not store:
        _queue = _RedisQueue(store) if hasattr(store, "r") else _LocalQueue(store)
    return _queue


# --- the API ------------------------------------------------------------------------------------
def queue_page(
    *, user_id: int, excluded: Iterable[int], priority: Iterable[int], offset: int, limit: int
) -> tuple[int, list[int]] | None:
    """``(total, ids)``: the queueable users minus ``excluded`` and the viewer's skips, ``priority``
    (those of them present) first, then the most recently active; the page ``[offset, offset+limit)``.
    None when the structure must be rebuilt first (``queue_rebuild``), by this caller."""
    return _q().page(user_id, [int(x) for x in excluded], [int(x) for x in priority], offset, limit)


def queue_generation() -> str:
    """Read before the database when rebuilding: a room or ban change in between makes the
    rebuild retry instead of applying an older picture."""
    return _q().generation()


def queue_rebuild(*, in_room: Iterable[int], bans: dict[int, float | None], generation: str | None) -> bool:
    """Replace the structure: ``in_room`` (users in a live room), ``bans`` (user → ban end, epoch
    seconds; None = permanent), from the database; queueable = available minus both.  False (and
    nothing changed) when a room or ban change happened since ``generation`` was read; None
    applies anyway."""
    return _q().rebuild(
        [int(x) for x in in_room], {int(u): PERMANENT if t is None else float(t) for u, t in bans.items()}, generation
    )


def queue_room_enter(*, user_ids: Iterable[int]) -> None:
    """After a room start commits: its users leave the queue."""
    _q().room([int(x) for x in user_ids], True)


def queue_room_leave(*, user_ids: Iterable[int]) -> None:
    """After a room end commits: its users are queueable again if available and not banned."""
    _q().room([int(x) for x in user_ids], False)


def queue_ban_set(*, user_id: int, until: float | None, banned: bool = True) -> None:
    """After a ban or a lift commits: ``banned`` with its end (epoch seconds; None = permanent),
    or not banned (``banned=False``: queueable again if available and not in a room)."""
    _q().ban(int(user_id), (PERMANENT if until is None else float(until)) if banned else None)


def queue_forget(*, user_ids: Iterable[int]) -> None:
    """Drop stale entries the database refused (e.g. a deactivated account) until their next
    presence write or the next rebuild."""
    ids = [int(x) for x in user_ids]
    if ids:
        _q().forget(ids)
