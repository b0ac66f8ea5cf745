"""``LocalMemoryCache.get_read_only`` answers exactly as ``get`` would, whatever happened to the key
since the value was last unpickled: each test fails if the memo is trusted without its identity
check, or survives a delete, an expiry, a cull or a clear."""

from __future__ import annotations

import time

import pytest

from config import cache as cache_module
from config.cache import LocalMemoryCache


@pytest.fixture
def local():
    backend = LocalMemoryCache("test-read-only", {"OPTIONS": {"MAX_ENTRIES": 100}})
    backend.clear()
    yield backend
    backend.clear()


def test_reads_as_get_and_unpickles_once_per_write(local):
    local.set("k", ("a", 1))
    first = local.get_read_only("k")
    assert first == local.get("k") == ("a", 1)
    assert local.get_read_only("k") is first  # the memo: no second unpickling
    assert local.get("k") is not first  # plain get still hands out its own copy


def test_a_write_is_seen_at_once(local):
    local.set("k", ("old",))
    assert local.get_read_only("k") == ("old",)
    local.set("k", ("new",))
    assert local.get_read_only("k") == ("new",)
    local.set_many({"k": ("many",)})
    assert local.get_read_only("k") == ("many",)


def test_incr_is_seen(local):
    local.set("n", 1)
    assert local.get_read_only("n") == 1
    local.incr("n")
    assert local.get_read_only("n") == 2


def test_delete_and_delete_many_are_seen(local):
    local.set("k", ("v",))
    assert local.get_read_only("k") == ("v",)
    local.delete("k")
    assert local.get_read_only("k") is None
    local.set("k", ("v",))
    local.get_read_only("k")
    local.delete_many(["k"])
    assert local.get_read_only("k", default="gone") == "gone"


def test_expiry_is_seen(local):
    local.set("k", ("v",), timeout=60)
    assert local.get_read_only("k") == ("v",)
    local._expire_info[local.make_key("k")] = time.time() - 1  # the entry's time is up
    assert local.get_read_only("k") is None
    assert local.make_key("k") not in local._memo


def test_a_cull_is_seen(local):
    """LocMemCache culls without calling delete(): the stored pickle is gone, so is the answer."""
    local.set("k", ("v",))
    assert local.get_read_only("k") == ("v",)
    for i in range(150):  # past MAX_ENTRIES: culls evict the oldest-touched entries, "k" among them
        local.set(f"filler{i}", i)
    assert local.get("k") is None
    assert local.get_read_only("k") is None


def test_clear_is_seen(local):
    local.set("k", ("v",))
    local.get_read_only("k")
    local.clear()
    assert local.get_read_only("k") is None


def test_the_memo_is_shared_by_every_backend_object_of_a_location(local):
    other = LocalMemoryCache("test-read-only", {})
    local.set("k", ("v",))
    assert other.get_read_only("k") is local.get_read_only("k")
    other.set("k", ("w",))
    assert local.get_read_only("k") == ("w",)


def test_the_memo_is_bounded(local, monkeypatch):
    monkeypatch.setattr(cache_module, "MEMO_MAX_ENTRIES", 3)
    for i in range(10):
        local.set(f"k{i}", (i,))
        assert local.get_read_only(f"k{i}") == (i,)
    assert len(local._memo) <= 3
    assert local.make_key("k9") in local._memo  # the newest are the ones kept


def test_the_embedded_configuration_reads_hot_entries_without_unpickling(settings):
    """The configured backend is this one, and the near cache's hot reads (sessions, ban checks)
    go through ``get_read_only``: two reads of an unchanged entry are the same object."""
    if settings.REDIS_URL:
        pytest.skip("the embedded configuration only")
    from django.core.cache import cache, caches

    from accounts.services import _session_cache

    assert isinstance(caches["default"], LocalMemoryCache)
    cache.set("auth:s:read-only-test", ("row",), timeout=60)
    assert _session_cache.get("auth:s:read-only-test") is _session_cache.get("auth:s:read-only-test")
