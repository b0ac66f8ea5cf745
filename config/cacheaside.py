"""Reads and fills of cache-aside copies that ride out a Redis outage.

A cached session or ban entry is a copy of database rows (docs/DESIGN.md): while Redis can't be
reached, a read is a miss and a fill is skipped, so the caller answers from the database — slower,
never wrong, never a 500.  Invalidations (``cache.delete``) are deliberately NOT here: a delete that
fails must fail the change that needed it (it answers 503 and rolls back), or a copy that survives
the outage would outlive the revocation or ban it was meant to drop.
"""

from __future__ import annotations

from typing import Any

from django.core.cache import cache

from config.resilience import is_redis_unavailable, redis_state


def get(key: str) -> Any:
    try:
        return cache.get(key)
    except Exception as exc:
        if not is_redis_unavailable(exc):
            raise
        redis_state.failed(exc)
        return None


def get_many(keys: list[str]) -> dict:
    try:
        return cache.get_many(keys)
    except Exception as exc:
        if not is_redis_unavailable(exc):
            raise
        redis_state.failed(exc)
        return {}


def set(key: str, value: Any, timeout: float | None) -> None:  # noqa: A001 - the cache's own verb
    try:
        cache.set(key, value, timeout=timeout)
    except Exception as exc:
        if not is_redis_unavailable(exc):
            raise
        redis_state.failed(exc)


def set_many(mapping: dict, timeout: float | None) -> None:
    try:
        cache.set_many(mapping, timeout=timeout)
    except Exception as exc:
        if not is_redis_unavailable(exc):
            raise
        redis_state.failed(exc)
