"""The one rate-limit counter (``config.ratelimit``): windows follow the project clock, and a
batch of keys counts on the same counters as single checks."""

from __future__ import annotations

import uuid

import pytest

from config import clock, ratelimit
from config.errors import RateLimited


def key() -> str:
    return f"test:{uuid.uuid4().hex}"


def test_the_window_follows_the_project_clock():
    """Moving the clock past the window starts a new one (it read ``time.time()`` before)."""
    k = key()
    for _ in range(3):
        ratelimit.check(k, limit=3, window=60)
    with pytest.raises(RateLimited) as exc:
        ratelimit.check(k, limit=3, window=60)
    assert 1 <= exc.value.retry_after <= 60
    clock.advance(exc.value.retry_after)
    ratelimit.check(k, limit=3, window=60)  # a new window
    assert ratelimit.peek(k, window=60) == 1


def test_retry_after_is_the_rest_of_the_window():
    clock.advance(60 - clock.time() % 60 + 15)  # 15 s into a 60 s window
    assert ratelimit.retry_after(60) == 45


def test_a_batch_counts_on_the_same_counters_as_single_checks():
    a, b = key(), key()
    ratelimit.check(a, limit=3, window=10)
    over = ratelimit.check_many([a, b, a, a], limit=3, window=10, message="slow")
    assert [type(e).__name__ if e else None for e in over] == [None, None, None, "RateLimited"]
    assert over[3].code == "rate_limited" and over[3].message == "slow"
    assert ratelimit.peek(a, window=10) == 4 and ratelimit.peek(b, window=10) == 1
    with pytest.raises(RateLimited):
        ratelimit.check(a, limit=3, window=10)
    assert ratelimit.hit_many([], window=10) == []
