"""Query counts of the per-socket hot paths, pinned."""

import pytest

from realtime import calls
from realtime import services as rt
from social import services


@pytest.mark.django_db
def test_heartbeat_costs_no_query(make_user, django_assert_num_queries):
    """The frame's session was checked by the consumer (from this process's copy); the heartbeat
    itself is one presence write."""
    import presence

    user = make_user()
    with django_assert_num_queries(0):
        rt.socket_heartbeat(user_id=user.pk, socket_id="s", available=True)
    assert presence.user_socket_count(user_id=user.pk) == 1


@pytest.mark.django_db
def test_every_frame_checks_its_session_without_a_query_on_a_cache_hit(
    make_user, make_session, django_assert_num_queries, settings
):
    from accounts.services import session_revoke, token_hash
    from config import nearcache

    if settings.REDIS_URL:
        assert nearcache.wait_until_tracking(5)  # local copies only while tracking is up
    user = make_user()
    session, token = make_session(user)
    hash_ = token_hash(token)
    assert rt.socket_session_valid(token=token, user_id=user.pk)  # the miss: reads the row, caches it
    assert rt.socket_session_valid(token=token, user_id=user.pk)  # (Redis: brings a copy into the process)
    with django_assert_num_queries(0):
        for _ in range(3):
            assert rt.socket_session_live_here(token_hash=hash_)
    session_revoke(session=session, actor=user)
    # revoked: this process knows at once, and the full check (what the consumer asks next) says so
    assert not rt.socket_session_live_here(token_hash=hash_)
    assert not rt.socket_session_valid(token=token, user_id=user.pk)


@pytest.mark.django_db
def test_lease_renewal_is_two_queries_for_any_number_of_users(make_user, django_assert_num_queries):
    users = [make_user() for _ in range(6)]
    for i in range(0, 6, 2):
        services.room_start(inviter_id=users[i].pk, invitee_id=users[i + 1].pk, mode="video", seconds=60)
    with django_assert_num_queries(2):
        assert services.room_leases_renew(user_ids={u.pk for u in users}) == []


@pytest.mark.django_db
def test_lease_renewal_moves_the_connected_leases_and_names_the_disconnected(make_user):
    from config import clock
    from social.models import RoomParticipant

    a, b, c, d, lone = (make_user() for _ in range(5))
    services.room_start(inviter_id=a.pk, invitee_id=b.pk, mode="video", seconds=600)
    services.room_start(inviter_id=c.pk, invitee_id=d.pk, mode="video", seconds=600)
    RoomParticipant.objects.filter(user=d).update(connected=False)  # e.g. a sweeper during a stall
    before = dict(RoomParticipant.objects.values_list("user_id", "lease_expires_at"))
    clock.advance(5)
    try:
        assert services.room_leases_renew(user_ids=[a.pk, c.pk, d.pk, lone.pk, a.pk]) == [d.pk]
        after = dict(RoomParticipant.objects.values_list("user_id", "lease_expires_at"))
        assert after[a.pk] > before[a.pk] and after[c.pk] > before[c.pk]  # renewed
        assert after[b.pk] == before[b.pk] and after[d.pk] == before[d.pk]  # not asked / not connected
    finally:
        clock.reset()


@pytest.mark.django_db
def test_sweep_with_nothing_due_is_four_queries(make_user, django_assert_num_queries):
    a, b = make_user(), make_user()
    services.room_start(inviter_id=a.pk, invitee_id=b.pk, mode="video", seconds=60)
    # leases, overdue rooms, torch deadlines, torch idle participants
    with django_assert_num_queries(4):
        assert services.room_sweep() == {
            "lease_expired": 0, "grace_ended": 0, "timer_ended": 0, "torch_ended": 0, "torch_warned": 0
        }


@pytest.mark.django_db
def test_invite_send_and_accept_query_counts(make_user, django_assert_num_queries):
    import presence

    a, b = make_user("A"), make_user("B")
    presence.socket_touch(user_id=b.pk, socket_id="b", available=True)
    from moderation.selectors import user_ban_active

    user_ban_active(user_id=a.pk), user_ban_active(user_id=b.pk)  # ban checks are cached (0 queries when warm)
    # target lookup, live rooms (deadlines enforced on the same rows), blocks, cooldown
    with django_assert_num_queries(4):
        invite = calls.invite_send(sender=a, to_public_id=b.public_id, mode="video", seconds=60)
    # (savepoint: the test runs in a transaction) room, both participants, participants with
    # their users for the two room.started messages, (release)
    with django_assert_num_queries(5):
        calls.invite_accept(user=b, invite_id=invite["id"])


@pytest.mark.django_db
def test_ready_checks_the_sessions_not_known_here_and_refuses_the_revoked(
    make_user, make_session, django_assert_num_queries
):
    """The check after a socket joins its user's group rides in the READY batch: a session revoked
    before the join gets None (the consumer closes 4401) and is neither present nor reconnected."""
    import presence
    from accounts.services import session_revoke

    a, b = make_user(), make_user()
    _, token_a = make_session(a)
    session_b, token_b = make_session(b)
    rt.sockets_authenticate([token_a, token_b])  # both valid when they sent ``auth``
    session_revoke(session=session_b, actor=b)  # … then b's is revoked before the group join
    # a's session from the cache; b's gone from it, so one query says revoked; one for a's room
    with django_assert_num_queries(2):
        out = rt.sockets_ready([(a, "sock-a", token_a), (b, "sock-b", token_b), (a, "sock-a2", None)])
    assert out[0]["type"] == "auth.ok" and out[2]["type"] == "auth.ok" and out[1] is None
    assert out[0]["user"]["name"] == a.name
    assert presence.user_socket_count(user_id=a.pk) == 2
    assert presence.user_socket_count(user_id=b.pk) == 0
