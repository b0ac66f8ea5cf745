"""The one clock.  Everything that compares against a deadline asks ``clock.now()``.

Tests move time with ``clock.advance(seconds)`` (and ``clock.reset()``) instead of sleeping.
The offset is process-local; tests that run real server processes use short configured
durations instead.
"""

from __future__ import annotations

import time as _time
from datetime import datetime, timedelta

from django.utils import timezone

_offset = timedelta(0)


def now() -> datetime:
    return timezone.now() + _offset


def time() -> float:
    """Seconds since the epoch, moved like ``now()`` (fixed windows, e.g. rate limits)."""
    return _time.time() + _offset.total_seconds()


def monotonic() -> float:
    return _time.monotonic() + _offset.total_seconds()


def advance(seconds: float) -> None:
    global _offset
    _offset += timedelta(seconds=seconds)


def reset() -> None:
    global _offset
    _offset = timedelta(0)


def offset() -> timedelta:
    return _offset
