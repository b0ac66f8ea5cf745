"""Presence in the shared cache (Redis with REDIS_URL, process memory otherwise): best of a
user's sockets, entries that expire on their own, the online count contract."""

import pytest

from config import clock
import presence


@pytest.fixture(autouse=True)
def _db(db):
    pass


def test_best_of_sockets_and_removal():
    presence.socket_touch(user_id=1, socket_id="tab1", available=False)
    presence.socket_touch(user_id=1, socket_id="tab2", available=True)
    presence.socket_touch(user_id=2, socket_id="x", available=False)
    assert presence.user_states(user_ids=[1, 2, 3]) == {1: "available", 2: "online", 3: "offline"}
    assert presence.user_states(user_ids=[1, 2], in_call_ids=[2]) == {1: "available", 2: "in_call"}
    assert presence.available_user_ids() == [1]
    assert presence.online_user_count() == 2
    assert presence.socket_remove(user_id=1, socket_id="tab2") == 1  # tab1 is still there
    assert presence.user_states(user_ids=[1]) == {1: "online"}
    assert presence.available_user_ids() == []
    assert presence.socket_remove(user_id=1, socket_id="tab1") == 0
    assert presence.user_states(user_ids=[1]) == {1: "offline"}
    assert presence.online_user_count() == 1


def test_entries_expire_on_their_own_no_ghosts(settings):
    presence.socket_touch(user_id=7, socket_id="s", available=True)
    clock.advance(settings.PRESENCE_TIMEOUT_SECONDS - 1)
    assert presence.user_states(user_ids=[7]) == {7: "available"}
    presence.socket_touch(user_id=8, socket_id="s", available=True)
    clock.advance(2)  # 7's process died without a word: it simply ages out
    assert presence.user_states(user_ids=[7, 8]) == {7: "offline", 8: "available"}
    assert presence.available_user_ids() == [8]
    assert presence.online_user_count() == 1
    # a heartbeat on a known socket keeps it alive
    presence.socket_touch(user_id=8, socket_id="s", available=True)
    clock.advance(settings.PRESENCE_TIMEOUT_SECONDS - 1)
    assert presence.available_user_ids() == [8]


def test_skips_last_for_the_visit():
    presence.socket_touch(user_id=1, socket_id="a", available=True)
    presence.skip_add(user_id=1, other_id=2)
    assert presence.skipped_ids(user_id=1) == {2}
    presence.socket_remove(user_id=1, socket_id="a")
    assert presence.skipped_ids(user_id=1) == set()


def test_deadline_queue_pops_each_member_once():
    store = presence.store()
    store.due_add("t", "a", 10.0)
    store.due_add("t", "b", 20.0)
    assert store.due_pop("t", 15.0) == ["a"]
    assert store.due_pop("t", 15.0) == []
    store.due_remove("t", "b")
    assert store.due_pop("t", 30.0) == []


def test_a_skip_lasts_as_long_as_the_visit(settings):
    """Every presence write of the user refreshes the skip set's expiry (on Redis it expired a
    fixed time after the last skip, while the user was still there)."""
    if not settings.REDIS_URL:
        pytest.skip("process memory: skips are dropped with the last socket, no expiry")
    store = presence.store()
    presence.socket_touch(user_id=1, socket_id="a", available=True)
    presence.skip_add(user_id=1, other_id=2)
    key = store.k("pres:skip:1")
    store.r.expire(key, 1)
    presence.socket_touch(user_id=1, socket_id="a", available=True)  # a heartbeat
    assert store.r.ttl(key) > settings.PRESENCE_TIMEOUT_SECONDS
    assert presence.skipped_ids(user_id=1) == {2}
