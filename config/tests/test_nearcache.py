"""The near cache against a real Redis: every change made by *another* client (another process)
is seen by the very next read, and local copies are never trusted without a live tracking link."""

from __future__ import annotations

import pytest
import redis
from django.conf import settings
from django.core.cache import cache

from config import clock, nearcache
from config.nearcache import NearCache

pytestmark = pytest.mark.skipif(not settings.REDIS_URL, reason="the near cache only exists in front of Redis")

near = NearCache("test:near:")


@pytest.fixture
def other_process():
    """A separate Redis client, standing in for another server process."""
    client = redis.Redis.from_url(settings.REDIS_URL)
    yield client
    client.close()


@pytest.fixture(autouse=True)
def tracking():
    assert nearcache.wait_until_tracking(timeout=5), "tracking connection did not come up"
    yield
    nearcache._tracker.ensure_started()


@pytest.fixture
def readers_only():
    """No background thread: an invalidation can only reach the local copy through the reader's
    own drain, so these tests fail if a read trusts memory without draining first."""
    nearcache._tracker.stop_background()


def _warm(key: str, value) -> None:
    cache.set(key, value, timeout=60)
    assert near.get(key) == value  # from Redis; kept locally
    hits = near.stats["hits"]
    assert near.get(key) == value
    assert near.stats["hits"] == hits + 1, "second read should be served locally"


def test_a_hit_costs_no_redis_round_trip(other_process):
    _warm("test:near:a", ("v", 1))
    before = other_process.info("commandstats").get("cmdstat_get", {}).get("calls", 0)
    for _ in range(20):
        assert near.get("test:near:a") == ("v", 1)
    after = other_process.info("commandstats").get("cmdstat_get", {}).get("calls", 0)
    assert after == before


def test_a_delete_by_another_process_is_seen_by_the_next_read(other_process, readers_only):
    _warm("test:near:b", "live")
    assert other_process.delete(cache.make_key("test:near:b")) == 1
    assert near.get("test:near:b") is None  # no wait: the invalidation was drained before the read


def test_an_overwrite_by_another_process_is_seen_by_the_next_read(other_process, readers_only):
    _warm("test:near:c", "old")
    raw_new = cache.client.encode("new")
    other_process.set(cache.make_key("test:near:c"), raw_new)
    assert near.get("test:near:c") == "new"


def test_invalidations_that_arrive_together_are_all_applied(other_process, readers_only):
    """Two pushes that reach the socket before a read land in one recv: the second waits in the
    parser's buffer, where no poll of the socket can see it.  The reader must apply both."""
    _warm("test:near:b1", "one")
    _warm("test:near:b2", "two")
    assert other_process.delete(cache.make_key("test:near:b1")) == 1  # two separate commands:
    assert other_process.delete(cache.make_key("test:near:b2")) == 1  # two invalidation messages
    assert near.get("test:near:b1") is None
    assert near.get("test:near:b2") is None


class _CountingPoller:
    def __init__(self, real):
        self.real, self.polls = real, []

    def poll(self, timeout):
        self.polls.append(timeout)
        return self.real.poll(timeout)


def test_a_hit_with_nothing_pending_polls_the_socket_once(other_process, readers_only, monkeypatch):
    _warm("test:near:p", "x")
    conn = nearcache._tracker.conn
    monkeypatch.setattr(conn, "can_read", lambda *a, **k: pytest.fail("redis-py's can_read: 3 syscalls"))
    poller = _CountingPoller(nearcache._tracker.poller)
    monkeypatch.setattr(nearcache._tracker, "poller", poller)
    assert near.get("test:near:p") == "x"
    assert poller.polls == [0]


def test_expiry_in_redis_reaches_the_local_copy(other_process, readers_only):
    _warm("test:near:e", "soon gone")
    other_process.pexpire(cache.make_key("test:near:e"), 1)
    # An expired key is invalidated when Redis notices it is gone; reading it makes Redis notice.
    while other_process.exists(cache.make_key("test:near:e")):
        pass
    assert near.get("test:near:e") is None


def test_a_flush_drops_every_local_copy(other_process, readers_only):
    _warm("test:near:f", "x")
    other_process.flushdb()
    assert near.get("test:near:f") is None


def test_a_read_that_races_a_delete_is_not_kept(other_process, readers_only, monkeypatch):
    cache.set("test:near:g", "racing", timeout=60)
    backend = nearcache._shared()
    real_get = backend.get

    def get_then_deleted_elsewhere(key, *args, **kwargs):
        value = real_get(key, *args, **kwargs)
        other_process.delete(cache.make_key(key))  # lands while our read is in flight
        return value

    monkeypatch.setattr(backend, "get", get_then_deleted_elsewhere)
    assert near.get("test:near:g") == "racing"  # the value that was current when read
    monkeypatch.setattr(backend, "get", real_get)
    assert near.get("test:near:g") is None  # ... but it was not kept


def test_a_broken_tracking_link_stops_local_use(other_process, readers_only):
    _warm("test:near:h", "x")
    killed = None
    for client in other_process.client_list():
        if client.get("name", "").startswith("near-cache-"):
            killed = other_process.execute_command("CLIENT", "KILL", "ID", client["id"])
    assert killed
    # While the link is down nobody tells us about writes; the next read must not trust memory.
    other_process.set(cache.make_key("test:near:h"), cache.client.encode("changed"))
    assert near.get("test:near:h") == "changed"
    assert nearcache.wait_until_tracking(timeout=5)  # and it comes back on its own
    assert near.get("test:near:h") == "changed"


def test_a_silent_link_stops_local_use(readers_only):
    _warm("test:near:i", "x")
    hits = near.stats["hits"]
    clock.advance(settings.NEAR_CACHE["stale_after_seconds"] + 1)  # no pong for too long
    assert near.get("test:near:i") == "x"  # read from Redis ...
    assert near.stats["hits"] == hits  # ... not from memory
    assert nearcache.status()["healthy"] is False


def test_local_copies_expire_on_their_own(readers_only, settings):
    # Only the TTL may end these copies here: the link is never considered silent.
    settings.NEAR_CACHE = {**settings.NEAR_CACHE, "stale_after_seconds": 10 * settings.NEAR_CACHE["ttl_seconds"]}
    _warm("test:near:j", "x")
    hits = near.stats["hits"]
    clock.advance(settings.NEAR_CACHE["ttl_seconds"] - 1)
    near.get("test:near:j")
    assert near.stats["hits"] == hits + 1  # still a local copy just before its TTL
    clock.advance(2)
    near.get("test:near:j")
    assert near.stats["hits"] == hits + 1  # and not after


def test_local_copies_are_bounded(settings):
    settings.NEAR_CACHE = {**settings.NEAR_CACHE, "max_entries": 3}
    for i in range(6):
        cache.set(f"test:near:k{i}", i, timeout=60)
        near.get(f"test:near:k{i}")
    assert len(near._local) <= 3
    assert len(near._local) == 3 and cache.make_key("test:near:k5") in near._local  # the newest are kept
