"""The queue's derived structure (``presence.queue``) behind ``queue_list_for_user``: kept by room,
ban and presence writes after commit, rebuilt from presence + the database after a flush or when
old, never trusted for a page without the database's word, and a fixed number of queries."""

from __future__ import annotations

import random

import pytest
from django.core.cache import cache

import presence
from config import clock
from moderation import services as moderation_services
from realtime.selectors import queue_list_for_user
from social import services

pytestmark = pytest.mark.django_db


def available(*users):
    for u in users:
        clock.advance(0.001)  # a strict order: later = more recently active
        presence.socket_touch(user_id=u.pk, socket_id=f"s-{u.pk}", available=True)


def names(user_id, **kw):
    total, page = queue_list_for_user(user_id=user_id, **kw)
    return total, [e["card"]["name"] for e in page]


def shared_total(viewer_id):
    """What the derived structure alone says, without the database's check."""
    got = presence.queue_page(user_id=viewer_id, excluded=[viewer_id], priority=[], offset=0, limit=100)
    return None if got is None else got[0]


def flush():
    """What a Redis flush (or a restart of the embedded process's cache) does to it."""
    if hasattr(cache, "delete_pattern"):
        cache.delete_pattern("*")
    else:
        cache.clear()


@pytest.fixture
def crowd(make_user):
    me = make_user("Me")
    others = [make_user(f"U{i}") for i in range(6)]
    available(*others)
    return me, others


def test_rebuilt_after_a_flush_from_presence_and_the_database(crowd, make_user, django_capture_on_commit_callbacks):
    me, others = crowd
    with django_capture_on_commit_callbacks(execute=True):
        services.room_start(inviter_id=others[0].pk, invitee_id=others[1].pk, mode="video", seconds=60)
        moderation_services.ban_create(user=others[2], actor=make_user("Mod", is_staff=True), reason="spam", duration=None)
    assert names(me.pk) == (3, ["U5", "U4", "U3"])
    flush()
    available(*others)  # the clients heart-beat again (presence itself was flushed too)
    assert presence.queue_page(user_id=me.pk, excluded=[], priority=[], offset=0, limit=10) is None  # must rebuild
    assert names(me.pk) == (3, ["U5", "U4", "U3"])  # in room and banned: out again, from the database
    assert shared_total(me.pk) == 3


def test_room_start_and_end_move_both_users_out_and_back(crowd, django_capture_on_commit_callbacks):
    me, others = crowd
    assert names(me.pk)[0] == 6
    with django_capture_on_commit_callbacks(execute=True):
        room = services.room_start(inviter_id=others[4].pk, invitee_id=others[5].pk, mode="video", seconds=60)
    assert shared_total(me.pk) == 4
    assert names(me.pk) == (4, ["U3", "U2", "U1", "U0"])
    with django_capture_on_commit_callbacks(execute=True):
        services.room_end(room_id=room.pk, reason="user")
    assert shared_total(me.pk) == 6
    assert names(me.pk) == (6, ["U5", "U4", "U3", "U2", "U1", "U0"])


def test_ban_and_lift(crowd, make_user, django_capture_on_commit_callbacks):
    me, others = crowd
    names(me.pk)
    with django_capture_on_commit_callbacks(execute=True):
        ban = moderation_services.ban_create(user=others[3], actor=make_user("Mod", is_staff=True), reason="spam", duration=None)
    assert shared_total(me.pk) == 5 and "U3" not in names(me.pk)[1]
    available(others[3])  # (a banned user's sockets are closed; say one heart-beat anyway)
    assert shared_total(me.pk) == 5
    with django_capture_on_commit_callbacks(execute=True):
        moderation_services.ban_lift(ban=ban, actor=make_user("Mod2", is_staff=True), reason="appeal")
    assert shared_total(me.pk) == 6 and names(me.pk)[1][0] == "U3"


def test_blocks_either_way_cooldowns_and_skips_are_the_viewers_own(crowd, django_capture_on_commit_callbacks):
    me, others = crowd
    services.block_create(user=me, other=others[5])
    services.block_create(user=others[4], other=me)
    with django_capture_on_commit_callbacks(execute=True):
        room = services.room_start(inviter_id=me.pk, invitee_id=others[3].pk, mode="video", seconds=60)
        services.room_end(room_id=room.pk, reason="user")
    available(me)
    presence.skip_add(user_id=me.pk, other_id=others[2].pk)
    assert names(me.pk) == (2, ["U1", "U0"])
    total, page = queue_list_for_user(user_id=me.pk, include_cooldown=True)
    assert total == 3 and [(e["card"]["name"], e["cooldown_until"] is not None) for e in page] == [
        ("U3", True), ("U1", False), ("U0", False)
    ]
    # the others still see each other and me (my exclusions are mine; a block is either way)
    assert names(others[0].pk) == (6, ["Me", "U5", "U4", "U3", "U2", "U1"])
    assert names(others[5].pk) == (5, ["U4", "U3", "U2", "U1", "U0"])  # I blocked U5: U5 doesn't see me
    assert names(others[4].pk) == (5, ["U5", "U3", "U2", "U1", "U0"])  # U4 blocked me: nor does U4


def test_a_stale_entry_is_never_shown_and_is_corrected(crowd, make_user):
    me, others = crowd
    names(me.pk)  # built
    # committed without their after-commit steps (as if the process died in between)
    services.room_start(inviter_id=others[5].pk, invitee_id=others[0].pk, mode="video", seconds=60)
    moderation_services.ban_create(user=others[4], actor=make_user("Mod", is_staff=True), reason="spam", duration=None)
    others[3].is_active = False
    others[3].save(update_fields=["is_active"])
    assert shared_total(me.pk) == 6  # the structure does not know yet
    # the page is filled past the stale ones, which are out of the structure from now on; U0's
    # room is not known before a page reaches U0 (or the next rebuild): counted meanwhile
    assert names(me.pk, limit=2) == (3, ["U2", "U1"])
    assert shared_total(me.pk) == 3
    assert names(me.pk) == (2, ["U2", "U1"])
    assert shared_total(me.pk) == 2


def test_a_lost_room_end_heals_at_the_periodic_rebuild(crowd, settings, django_capture_on_commit_callbacks):
    me, others = crowd
    with django_capture_on_commit_callbacks(execute=True):
        room = services.room_start(inviter_id=others[5].pk, invitee_id=others[4].pk, mode="video", seconds=60)
    assert names(me.pk)[0] == 4
    services.room_end(room_id=room.pk, reason="user")  # its after-commit step is lost
    assert names(me.pk)[0] == 4
    clock.advance(settings.QUEUE_REBUILD_SECONDS + 1)
    available(*others)
    assert names(me.pk) == (6, ["U5", "U4", "U3", "U2", "U1", "U0"])


def test_a_rebuild_that_saw_an_older_generation_retries(crowd, django_capture_on_commit_callbacks):
    me, others = crowd
    names(me.pk)
    seen = presence.queue_generation()
    with django_capture_on_commit_callbacks(execute=True):
        services.room_start(inviter_id=others[5].pk, invitee_id=others[4].pk, mode="video", seconds=60)
    assert presence.queue_rebuild(in_room=[], bans={}, generation=seen) is False  # would re-add them
    assert shared_total(me.pk) == 4


def test_pages_total_and_intros_match_the_plain_definition(make_user, monkeypatch):
    """The walk that skips exclusions, against a brute-force list, over every page boundary."""
    rng = random.Random(20)
    me = make_user("Me")
    users = [make_user(f"U{i}") for i in range(40)]
    rng.shuffle(users)
    available(*users)
    ranked = list(reversed(users))  # most recently active first
    hidden = set(rng.sample(range(40), 9))
    for i in sorted(hidden)[:4]:
        services.block_create(user=me, other=ranked[i])
    for i in sorted(hidden)[4:]:
        presence.skip_add(user_id=me.pk, other_id=ranked[i].pk)
    intros = [ranked[i].pk for i in (30, 2, sorted(hidden)[0])]  # one of them hidden: not shown
    import invites.selectors

    monkeypatch.setattr(invites.selectors, "queue_priority_user_ids", lambda *, user_id: intros)
    rest = [u.name for i, u in enumerate(ranked) if i not in hidden and u.pk not in intros]
    expected = [ranked[30].name, ranked[2].name] + rest
    for limit in (1, 3, 7, 50):
        got = []
        for offset in range(0, 45, limit):
            total, page = names(me.pk, offset=offset, limit=limit)
            assert total == 31
            got += page
        assert got == expected, limit


def test_fixed_queries_and_two_more_to_rebuild(crowd, make_user, django_assert_num_queries, django_capture_on_commit_callbacks):
    me, others = crowd
    with django_capture_on_commit_callbacks(execute=True):
        services.room_start(inviter_id=others[5].pk, invitee_id=others[4].pk, mode="video", seconds=60)
    services.block_create(user=me, other=others[0])
    # rebuild (live participants + active bans) + my blocks and cooldowns + intros + the page's
    # users checked + their distance buckets
    with django_assert_num_queries(6):
        assert names(me.pk)[0] == 3
    with django_assert_num_queries(4):
        assert names(me.pk)[0] == 3
    available(*[make_user(f"V{i}") for i in range(120)])
    with django_assert_num_queries(4):
        total, page = queue_list_for_user(user_id=me.pk, limit=100)
        assert total == 123 and len(page) == 100
    flush()
    available(*others)
    with django_assert_num_queries(6):
        assert names(me.pk)[0] == 3


def test_the_queue_card_is_the_user_card(crowd):
    """The queue builds its cards from the row (``user_card_from_values``): the same as
    ``user_card`` of the instance, files and posts included."""
    from accounts.models import User
    from accounts.selectors import user_card

    me, others = crowd
    u = others[5]
    u.photo.name, u.intro_video.name = "photos/2026/12/a.jpg", "videos/2026/12/b.mp4"
    u.bio, u.instagram_handle, u.instagram_posts = "hi", "handle", ["https://www.instagram.com/p/Abc12345/"]
    u.save()
    total, page = queue_list_for_user(user_id=me.pk)
    assert page[0]["card"] == user_card(User.objects.get(pk=u.pk))
    assert page[0]["card"]["photo_url"] and page[0]["card"]["intro_video_url"]
    assert page[1]["card"] == user_card(User.objects.get(pk=others[4].pk))


def test_a_temporary_ban_stops_counting_when_it_ends(crowd, make_user, django_capture_on_commit_callbacks, settings):
    from datetime import timedelta

    settings.QUEUE_REBUILD_SECONDS = 10**6  # no periodic rebuild: the ban's own end lets the user back
    me, others = crowd
    with django_capture_on_commit_callbacks(execute=True):
        moderation_services.ban_create(
            user=others[5], actor=make_user("Mod", is_staff=True), reason="spam", duration=timedelta(hours=1)
        )
    assert names(me.pk)[0] == 5
    clock.advance(3601)
    available(*others)  # the ban's end is its score: the next presence write lets the user back
    assert shared_total(me.pk) == 6
