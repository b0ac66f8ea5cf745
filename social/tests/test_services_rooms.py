"""Room life cycle in the database: constraint-backed one-live-room, deadlines through the
clock helper, exactly-once bookkeeping (also with concurrent finalisers)."""

import threading
from datetime import timedelta

import pytest
from django.db import IntegrityError, connection, transaction

from config import clock
from social import errors, selectors, services
from social.models import CallHistory, Cooldown, Room, RoomParticipant, SessionCompletion


@pytest.fixture
def two(make_user):
    return make_user("A"), make_user("B")


@pytest.mark.django_db
def test_a_user_is_in_at_most_one_live_room_by_constraint(two, make_user):
    a, b = two
    c = make_user("C")
    room = services.room_start(inviter_id=a.pk, invitee_id=b.pk, mode="video", seconds=60)
    with pytest.raises(errors.PeerInCall):
        services.room_start(inviter_id=a.pk, invitee_id=c.pk, mode="video", seconds=60)
    with pytest.raises(errors.AlreadyInCall):
        services.room_start(inviter_id=c.pk, invitee_id=b.pk, mode="video", seconds=60)
    # the database itself refuses a second live participation (no check-then-write)
    other = Room.objects.create(
        mode="text", duration_seconds=60, started_at=clock.now(), ends_at=clock.now() + __import__("datetime").timedelta(seconds=60), inviter=c
    )
    with pytest.raises(IntegrityError), transaction.atomic():
        RoomParticipant.objects.create(room=other, user=a, lease_expires_at=clock.now())
    assert services.room_end(room_id=room.pk, reason="user", actor_id=a.pk)
    # after the end both are free again
    services.room_start(inviter_id=a.pk, invitee_id=c.pk, mode="video", seconds=60)


@pytest.mark.django_db
def test_end_is_exactly_once_and_writes_everything(two, settings):
    a, b = two
    room = services.room_start(inviter_id=a.pk, invitee_id=b.pk, mode="text", seconds=300)
    clock.advance(31)
    assert services.room_end(room_id=room.pk, reason="user", actor_id=b.pk) is True
    assert services.room_end(room_id=room.pk, reason="user", actor_id=a.pk) is False
    hist = {h.user_id: h for h in CallHistory.objects.filter(room=room)}
    assert set(hist) == {a.pk, b.pk}
    assert hist[a.pk].partner_id == b.pk and hist[b.pk].partner_id == a.pk
    assert hist[a.pk].mode == "text" and hist[a.pk].duration_seconds == 31 and hist[a.pk].end_reason == "user"
    assert SessionCompletion.objects.filter(room=room).count() == 2
    assert selectors.completed_calls_count(user_id=a.pk) == 1
    cd = Cooldown.objects.get()
    assert (cd.until - clock.now()).total_seconds() == pytest.approx(settings.CALL_COOLDOWN_SECONDS, abs=1)
    assert selectors.cooldown_until(user_id=a.pk, other_id=b.pk) == selectors.cooldown_until(user_id=b.pk, other_id=a.pk)
    a.refresh_from_db()
    assert a.timer_total_seconds == 31
    clock.advance(settings.CALL_COOLDOWN_SECONDS + 1)
    assert selectors.cooldown_until(user_id=a.pk, other_id=b.pk) is None


@pytest.mark.django_db
def test_short_call_is_no_completion(two):
    a, b = two
    room = services.room_start(inviter_id=a.pk, invitee_id=b.pk, mode="video", seconds=60)
    clock.advance(29)
    services.room_end(room_id=room.pk, reason="user", actor_id=a.pk)
    assert SessionCompletion.objects.count() == 0
    assert CallHistory.objects.count() == 2


@pytest.mark.django_db
def test_lease_expiry_puts_room_in_grace_from_the_sweep_then_ends_it(two, settings):
    a, b = two
    room = services.room_start(inviter_id=a.pk, invitee_id=b.pk, mode="video", seconds=600)
    clock.advance(settings.ROOM_LEASE_SECONDS - 1)
    assert services.room_sweep()["lease_expired"] == 0
    clock.advance(20)  # the process holding both sockets died long ago
    before = clock.now()
    assert services.room_sweep()["lease_expired"] == 2
    after = clock.now()
    room.refresh_from_db()
    assert room.status == "grace"
    # the server died, not the users: the restart grace, counted from the sweep's own "now"
    grace = timedelta(seconds=settings.ROOM_RESTART_GRACE_SECONDS)
    assert grace > timedelta(seconds=settings.ROOM_GRACE_SECONDS)
    assert before + grace <= room.grace_deadline <= after + grace
    # one comes back within the window: still grace (the other is missing), deadline unchanged
    clock.advance(5)
    state = services.room_participant_connected(user_id=a.pk)
    assert state["status"] == "grace" and state["remaining_seconds"] == 600 - 26 - 5 + 1 - 1
    clock.advance(settings.ROOM_GRACE_SECONDS)  # past the user grace: a server failure waits longer
    assert services.room_sweep()["grace_ended"] == 0
    clock.advance(settings.ROOM_RESTART_GRACE_SECONDS - settings.ROOM_GRACE_SECONDS)
    assert services.room_sweep()["grace_ended"] == 1
    room.refresh_from_db()
    assert room.status == "ended" and room.end_reason == "disconnect"
    assert CallHistory.objects.filter(room=room).count() == 2
    # the call is counted up to the dead process's last lease renewal (its start, here), not
    # through the downtime
    assert {h.duration_seconds for h in CallHistory.objects.filter(room=room)} == {0}


@pytest.mark.django_db
def test_deadlines_are_enforced_on_read_without_a_sweeper(two):
    a, b = two
    room = services.room_start(inviter_id=a.pk, invitee_id=b.pk, mode="video", seconds=60)
    services.room_participant_disconnected(user_id=b.pk)
    clock.advance(11)
    assert services.room_participant_connected(user_id=b.pk) is None  # too late
    room.refresh_from_db()
    assert room.end_reason == "disconnect"
    assert CallHistory.objects.filter(room=room).count() == 2


@pytest.mark.django_db
def test_room_end_for_user_contract(two):
    a, b = two
    services.room_end_for_user(user_id=a.pk, reason="ban")  # no room: nothing happens
    room = services.room_start(inviter_id=a.pk, invitee_id=b.pk, mode="video", seconds=60)
    services.room_end_for_user(user_id=a.pk, reason="ban")
    room.refresh_from_db()
    assert room.end_reason == "ban"


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_sweepers_finalise_once(two):
    """Real concurrency: several threads (own connections) sweep the same overdue rooms."""
    a, b = two
    rooms = [services.room_start(inviter_id=a.pk, invitee_id=b.pk, mode="video", seconds=60)]
    services.room_end(room_id=rooms[0].pk, reason="user")
    rooms = []
    from accounts.models import User

    users = [User.objects.create_user(name=f"u{i}") for i in range(10)]
    for i in range(0, 10, 2):
        rooms.append(services.room_start(inviter_id=users[i].pk, invitee_id=users[i + 1].pk, mode="video", seconds=60))
    clock.advance(61)
    barrier = threading.Barrier(4)
    results, failures = [], []

    def sweeper():
        try:
            barrier.wait(timeout=10)
            results.append(services.room_sweep())
        except Exception as exc:  # noqa: BLE001
            failures.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=sweeper) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert not failures, failures
    assert sum(r["timer_ended"] for r in results) == 5
    for room in rooms:
        assert CallHistory.objects.filter(room=room).count() == 2
    assert Cooldown.objects.count() == 6
    for u in users:
        u.refresh_from_db()
        assert u.timer_total_seconds == 60


@pytest.mark.django_db(transaction=True)
def test_concurrent_user_end_and_sweeper_end_once(two):
    a, b = two
    room = services.room_start(inviter_id=a.pk, invitee_id=b.pk, mode="video", seconds=60)
    clock.advance(60)
    barrier = threading.Barrier(3)
    out = []

    def run(fn):
        try:
            barrier.wait(timeout=10)
            out.append(fn())
        finally:
            connection.close()

    threads = [
        threading.Thread(target=run, args=(lambda: services.room_end(room_id=room.pk, reason="user", actor_id=a.pk),)),
        threading.Thread(target=run, args=(lambda: services.room_end(room_id=room.pk, reason="user", actor_id=b.pk),)),
        threading.Thread(target=run, args=(services.room_sweep,)),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert CallHistory.objects.filter(room=room).count() == 2
    assert SessionCompletion.objects.filter(room=room).count() == 2
    a.refresh_from_db()
    assert a.timer_total_seconds == 60


@pytest.mark.django_db
def test_export_section_and_account_deleted_reason(two):
    a, b = two
    services.block_create(user=a, other=b)
    room = services.room_start(inviter_id=a.pk, invitee_id=b.pk, mode="video", seconds=120)
    clock.advance(40)
    services.room_end_for_user(user_id=b.pk, reason="account_deleted")
    data = selectors.user_export_data(user_id=a.pk)
    assert [h["partner_name"] for h in data["call_history"]] == ["B"]
    assert data["call_history"][0]["end_reason"] == "account_deleted"
    assert data["cooldowns"][0]["with_user_id"] == str(b.public_id)
    assert data["blocks"][0]["user_id"] == str(b.public_id)
    assert data["completed_calls"] == 1 and data["live_room"] is None
    room.refresh_from_db()
    assert room.end_reason == "account_deleted"


@pytest.mark.django_db
def test_export_live_room_follows_the_overdue_rule(two, settings):
    """The export's ``live_room`` is the room as every other reader sees it: gone once its grace
    deadline passed (it used to look at the timer only), even before anybody swept."""
    a, b = two
    room = services.room_start(inviter_id=a.pk, invitee_id=b.pk, mode="video", seconds=600)
    assert selectors.user_export_data(user_id=a.pk)["live_room"]["room_id"] == str(room.pk)
    services.room_participant_disconnected(user_id=b.pk)
    clock.advance(settings.ROOM_GRACE_SECONDS - 1)
    assert selectors.user_export_data(user_id=a.pk)["live_room"] is not None
    clock.advance(2)
    assert Room.objects.get(pk=room.pk).status == "grace"  # nobody swept yet
    assert selectors.user_export_data(user_id=a.pk)["live_room"] is None


@pytest.mark.django_db
def test_metrics_live_rooms_gauge(two, client):
    from config import metrics

    a, b = two
    services.room_start(inviter_id=a.pk, invitee_id=b.pk, mode="video", seconds=120)
    lines = metrics.render().splitlines()
    assert "live_rooms 1.0" in lines and "# TYPE online_users gauge" in lines


@pytest.mark.django_db
def test_the_end_of_a_completed_call_costs_a_fixed_number_of_queries(two, django_assert_num_queries):
    """The room's end with its bookkeeping (+ what a completed call unlocks: the earned code check,
    two reads when nobody is due) — pinned so the hooks can't grow it unnoticed."""
    a, b = two
    room = services.room_start(inviter_id=a.pk, invitee_id=b.pk, mode="text", seconds=300)
    clock.advance(31)
    # lock, end, participants, not live, history, cooldown (update_or_create: 5 with its
    # savepoints), completions, the hooks (earned codes, completion counts), each user's timer and
    # session-cache keys (2 × 2); + savepoint/release (the test runs in a transaction)
    with django_assert_num_queries(20):
        services.room_end(room_id=room.pk, reason="user", actor_id=b.pk)


@pytest.mark.django_db
def test_rooms_finish_overdue_ends_what_is_past_and_returns_the_live_rooms(make_user, django_assert_num_queries):
    a, b, c, d, e = (make_user() for _ in range(5))
    short = services.room_start(inviter_id=a.pk, invitee_id=b.pk, mode="video", seconds=60)
    long = services.room_start(inviter_id=c.pk, invitee_id=d.pk, mode="video", seconds=600)
    with django_assert_num_queries(1):  # nothing overdue: one read
        live = services.rooms_finish_overdue(user_ids=[a.pk, c.pk, e.pk])
    assert {uid: r.pk for uid, r in live.items()} == {a.pk: short.pk, c.pk: long.pk}
    clock.advance(61)
    live = services.rooms_finish_overdue(user_ids=[a.pk, b.pk, c.pk])
    assert {uid: r.pk for uid, r in live.items()} == {c.pk: long.pk}
    short.refresh_from_db()
    assert short.status == "ended" and short.end_reason == "timer"
    assert services.rooms_finish_overdue(user_ids=[a.pk, b.pk]) == {}


@pytest.mark.django_db
def test_room_id_live_for_user_is_one_query_and_follows_the_live_flag(two, make_user, django_assert_num_queries):
    a, b = two
    c = make_user("C")
    room = services.room_start(inviter_id=a.pk, invitee_id=b.pk, mode="text", seconds=60)
    with django_assert_num_queries(1):
        got = selectors.room_id_live_for_user(user_id=a.pk)
    assert got == room.pk and isinstance(got, type(room.pk))  # a UUID on both databases
    assert selectors.room_id_live_for_user(user_id=c.pk) is None
    services.room_end(room_id=room.pk, reason="user", actor_id=a.pk)
    assert selectors.room_id_live_for_user(user_id=a.pk) is None
    assert selectors.room_id_live_for_user(user_id=b.pk) is None
