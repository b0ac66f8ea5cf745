"""Fixed-window rate limits in the shared cache (Redis INCR when configured: atomic across
processes; local memory on the embedded default).  The one counter: every limit in the project —
one key at a time (``check``) or a group-committed batch of keys in one round trip
(``check_many``, the chat writer) — counts here, and windows follow the project clock
(``config.clock``), so tests move them with ``clock.advance`` instead of sleeping.

While Redis is unreachable each limit does what its call site chose (``on_outage``; the choices are
listed in docs/DEPLOYMENT.md, "Redis outage"):

* ``CLOSED`` (the default): the request is refused with 503 ``unavailable`` and ``Retry-After``.
  For limits that guard a secret or a cost (logins, card scans, email codes): a per-process count
  would multiply the budget by the number of processes and restart from zero with each process.
* ``LOCAL``: counted in this process's memory instead (same limit and window).  Exact for a
  per-connection limit (a socket lives in one process); elsewhere at most N × limit for N processes.
* ``OPEN``: not counted.
"""

from __future__ import annotations

import threading

from django.core.cache import cache

from config import clock
from config.errors import RateLimited
from config.resilience import RedisUnavailable, is_redis_unavailable, redis_state

CLOSED = "closed"
LOCAL = "local"
OPEN = "open"

_LOCAL_MAX_KEYS = 100_000
_local: dict[str, tuple[int, int]] = {}  # key -> (bucket, count)
_local_lock = threading.Lock()


def _bucket(window: int) -> int:
    return int(clock.time() // window)


def retry_after(window: int) -> int:
    """Seconds until the current window ends (at least 1)."""
    return window - int(clock.time()) % window


def _redis_client():
    """The django-redis client when the cache is Redis (one pipeline for many keys), else None."""
    try:
        return cache.client.get_client(write=True)
    except AttributeError:  # local memory (embedded default)
        return None


def _shared_hits(keys: list[str], window: int) -> list[int]:
    client = _redis_client()
    if client is None:
        counts = []
        for full in keys:
            # add() is SET NX: only the first hit of a window creates the counter with its expiry.
            cache.add(full, 0, timeout=window + 1)
            try:
                counts.append(cache.incr(full))
            except ValueError:  # expired between add and incr
                cache.add(full, 1, timeout=window + 1)
                counts.append(1)
        return counts
    # One round trip: INCR creates the counter, EXPIRE NX gives only a new one its expiry.  The
    # keys are the cache's own (``make_key``), so ``peek`` reads them through the cache.
    pipe = client.pipeline(transaction=False)
    for full in keys:
        made = cache.make_key(full)
        pipe.incr(made)
        pipe.expire(made, window + 1, nx=True)
    return [int(n) for n in pipe.execute()[::2]]


def local_hit(key: str, *, window: int) -> int:
    """Count one hit for ``key`` in this process's memory; returns the count in this window."""
    bucket = _bucket(window)
    with _local_lock:
        seen = _local.get(key)
        count = seen[1] + 1 if seen is not None and seen[0] == bucket else 1
        if seen is None and len(_local) >= _LOCAL_MAX_KEYS:
            _local.pop(next(iter(_local)))  # oldest first; a lost counter only forgives
        _local[key] = (bucket, count)
    return count


def hit_many(keys: list[str], *, window: int, on_outage: str = CLOSED) -> list[int]:
    """Count one hit for each of ``keys`` in the current window; the counts so far, in order."""
    bucket = _bucket(window)
    try:
        return _shared_hits([f"rl:{key}:{bucket}" for key in keys], window)
    except Exception as exc:
        if not is_redis_unavailable(exc):
            raise
        redis_state.failed(exc)
        if on_outage == LOCAL:
            return [local_hit(key, window=window) for key in keys]
        if on_outage == OPEN:
            return [0] * len(keys)
        raise RedisUnavailable("This is rate limited and the limiter is unavailable; retry shortly.") from exc


def hit(key: str, *, limit: int, window: int, on_outage: str = CLOSED) -> int:
    """Count one hit for ``key`` in the current window and return the count so far."""
    return hit_many([key], window=window, on_outage=on_outage)[0]


def check_many(
    keys: list[str], *, limit: int, window: int, message: str | None = None, on_outage: str = CLOSED
) -> list[RateLimited | None]:
    """Count a hit for each key (one round trip); per key, the ``RateLimited`` to raise when it
    exceeds ``limit`` per ``window`` seconds, else None."""
    counts = hit_many(keys, window=window, on_outage=on_outage)
    if all(count <= limit for count in counts):
        return [None] * len(keys)
    wait = retry_after(window)
    return [RateLimited(message, retry_after=wait) if count > limit else None for count in counts]


def check(key: str, *, limit: int, window: int, message: str | None = None, on_outage: str = CLOSED) -> None:
    """Count a hit and raise ``RateLimited`` when it exceeds ``limit`` per ``window`` seconds."""
    [exc] = check_many([key], limit=limit, window=window, message=message, on_outage=on_outage)
    if exc is not None:
        raise exc


def peek(key: str, *, window: int) -> int:
    return int(cache.get(f"rl:{key}:{_bucket(window)}") or 0)
