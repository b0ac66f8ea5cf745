"""Fixed-window rate limits in the shared cache (Redis INCR when configured: atomic across
processes; local memory on the embedded default)."""

from __future__ import annotations

import time

from django.core.cache import cache

from config.errors import RateLimited


def hit(key: str, *, limit: int, window: int) -> int:
    """Count one hit for ``key`` in the current window and return the count so far."""
    bucket = int(time.time() // window)
    full = f"rl:{key}:{bucket}"
    # add() is SET NX: only the first hit of a window creates the counter with its expiry.
    cache.add(full, 0, timeout=window + 1)
    try:
        return cache.incr(full)
    except ValueError:  # expired between add and incr
        cache.add(full, 1, timeout=window + 1)
        return 1


def check(key: str, *, limit: int, window: int, message: str | None = None) -> None:
    """Count a hit and raise ``RateLimited`` when it exceeds ``limit`` per ``window`` seconds."""
    count = hit(key, limit=limit, window=window)
    if count > limit:
        retry_after = window - int(time.time()) % window
        raise RateLimited(message, retry_after=retry_after)


def peek(key: str, *, window: int) -> int:
    bucket = int(time.time() // window)
    return int(cache.get(f"rl:{key}:{bucket}") or 0)
