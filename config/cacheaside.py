"""Reads and fills of cache-aside copies that ride out a Redis outage.

A cached session or ban entry is a copy of database rows (docs/DESIGN.md): while Redis can't be
reached, a read is a miss and a fill is skipped, so the caller answers from the database — slower,
never wrong, never a 500.  Invalidations (``cache.delete``) are deliberately NOT here: a delete that
fails must fail the change that needed it (it answers 503 and rolls back), or a copy that survives
the outage would outlive the revocation or ban it was meant to drop.

For ``REDIS_SKIP_COPIES_SECONDS`` after a failure these don't try Redis at all
(``config.resilience.redis_state.skip_copies``), so a host that drops packets costs one connect
timeout per second, not one per read.
"""

from __future__ import annotations

from typing import Any

from django.core.cache import cache

from config.resilience import is_redis_unavailable, redis_state


def get(key: str) -> Any:
    if redis_state.skip_copies():
        return None
    try:
        value = cache.get(key)
    except Exception as exc:
        if not is_redis_unavailable(exc):
            raise
        redis_state.failed(exc)
        return None
    if redis_state.last_failure:
        redis_state.recovered()
    return value


def get_many(keys: list[str]) -> dict:
    if redis_state.skip_copies():
        return {}
    try:
        return cache.get_many(keys)
    except Exception as exc:
        if not is_redis_unavailable(exc):
            raise
        redis_state.failed(exc)
        return {}


def add(key: str, value: Any, timeout: float | None) -> bool | None:
    """``cache.add``: True when stored, False when the key was there, None while Redis is unreachable."""
    if redis_state.skip_copies():
        return None
    try:
        return cache.add(key, value, timeout=timeout)
    except Exception as exc:
        if not is_redis_unavailable(exc):
            raise
        redis_state.failed(exc)
        return None


def set(key: str, value: Any, timeout: float | None) -> None:  # noqa: A001 - the cache's own verb
    if redis_state.skip_copies():
        return
    try:
        cache.set(key, value, timeout=timeout)
    except Exception as exc:
        if not is_redis_unavailable(exc):
            raise
        redis_state.failed(exc)


def set_many(mapping: dict, timeout: float | None) -> None:
    if redis_state.skip_copies():
        return
    try:
        cache.set_many(mapping, timeout=timeout)
    except Exception as exc:
        if not is_redis_unavailable(exc):
            raise
        redis_state.failed(exc)
