"""Fixed-window rate limits in the shared cache (Redis INCR when configured: atomic across
processes; local memory on the embedded default).

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
import time

from django.core.cache import cache

from config.errors import RateLimited
from config.resilience import RedisUnavailable, is_redis_unavailable, redis_state

CLOSED = "closed"
LOCAL = "local"
OPEN = "open"

_LOCAL_MAX_KEYS = 100_000
_local: dict[str, tuple[int, int]] = {}  # key -> (bucket, count)
_local_lock = threading.Lock()


def _shared_hit(full: str, window: int) -> int:
    # add() is SET NX: only the first hit of a window creates the counter with its expiry.
    cache.add(full, 0, timeout=window + 1)
    try:
        return cache.incr(full)
    except ValueError:  # expired between add and incr
        cache.add(full, 1, timeout=window + 1)
        return 1


def local_hit(key: str, *, window: int) -> int:
    """Count one hit for ``key`` in this process's memory; returns the count in this window."""
    bucket = int(time.time() // window)
    with _local_lock:
        seen = _local.get(key)
        count = seen[1] + 1 if seen is not None and seen[0] == bucket else 1
        if seen is None and len(_local) >= _LOCAL_MAX_KEYS:
            _local.pop(next(iter(_local)))  # oldest first; a lost counter only forgives
        _local[key] = (bucket, count)
    return count


def hit(key: str, *, limit: int, window: int, on_outage: str = CLOSED) -> int:
    """Count one hit for ``key`` in the current window and return the count so far."""
    bucket = int(time.time() // window)
    try:
        return _shared_hit(f"rl:{key}:{bucket}", window)
    except Exception as exc:
        if not is_redis_unavailable(exc):
            raise
        redis_state.failed(exc)
        if on_outage == LOCAL:
            return local_hit(key, window=window)
        if on_outage == OPEN:
            return 0
        raise RedisUnavailable("This is rate limited and the limiter is unavailable; retry shortly.") from exc


def check(key: str, *, limit: int, window: int, message: str | None = None, on_outage: str = CLOSED) -> None:
    """Count a hit and raise ``RateLimited`` when it exceeds ``limit`` per ``window`` seconds."""
    count = hit(key, limit=limit, window=window, on_outage=on_outage)
    if count > limit:
        retry_after = window - int(time.time()) % window
        raise RateLimited(message, retry_after=retry_after)


def peek(key: str, *, window: int) -> int:
    bucket = int(time.time() // window)
    return int(cache.get(f"rl:{key}:{bucket}") or 0)
