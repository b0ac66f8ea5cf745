"""Reconnects in batches (``room_participants_connected``): the same outcome as one call per user in
order — results, events per user, rows, bookkeeping — at a fixed number of statements per batch."""

from collections import defaultdict
from datetime import timedelta

import pytest
from django.db import transaction

from accounts.models import User
from config import clock
from social import selectors, services
from social.models import CallHistory, Cooldown, Room, RoomParticipant, SessionCompletion

pytestmark = pytest.mark.django_db


@pytest.fixture
def sent(monkeypatch):
    """Every event the services hand to ``send_after_commit`` / ``send_many_after_commit``, as
    ``(user id, message)``, in order."""
    out: list = []

    def send(*, users, message):
        out.extend((uid, message) for uid in ([users] if isinstance(users, int) else users))

    def send_many(*, messages):
        for users, message in messages:
            send(users=users, message=message)

    monkeypatch.setattr(services.events, "send_after_commit", send)
    monkeypatch.setattr(services.events, "send_many_after_commit", send_many)
    return out


def per_user(events_) -> dict:
    by: dict = defaultdict(list)
    for uid, message in events_:
        by[uid].append(message)
    return dict(by)


def snapshot() -> dict:
    """Everything a reconnect (or the end it may cause) writes."""
    return {
        "rooms": sorted(
            Room.objects.values_list("pk", "status", "grace_started_at", "grace_deadline", "ended_at", "end_reason")
        ),
        "participants": sorted(
            RoomParticipant.objects.values_list(
                "room_id", "user_id", "live", "connected", "lease_expires_at", "disconnected_at", "torch_deadline"
            )
        ),
        "history": sorted(CallHistory.objects.values_list("room_id", "user_id", "duration_seconds", "end_reason")),
        "cooldowns": sorted(Cooldown.objects.values_list("user_low_id", "user_high_id", "until", "room_id")),
        "completions": sorted(SessionCompletion.objects.values_list("room_id", "user_id", "duration_seconds")),
        "timers": sorted(User.objects.values_list("pk", "timer_total_seconds")),
    }


def outcome(run, sent) -> tuple:
    """``run()``'s result, events and writes, then rolled back (so a second way can start over)."""
    sid = transaction.savepoint()
    sent.clear()
    result = run()
    got = (result, per_user(sent), snapshot())
    transaction.savepoint_rollback(sid)
    return got


@pytest.fixture
def storm(make_user, settings, monkeypatch):
    """Rooms in every state a reconnect meets after a restart, and the order the users come back in.

    room1 A-B active; room2 C-D, D gone (grace); room3 E-F both gone (grace); room4 G-H timer passed;
    room5 I-J, J gone past the grace deadline; room6 K-L (text) past the torch deadline; M has no room.
    """
    u = {name: make_user(name) for name in "ABCDEFGHIJKLM"}

    def start(x, y, mode="video", seconds=3600):
        return services.room_start(inviter_id=u[x].pk, invitee_id=u[y].pk, mode=mode, seconds=seconds)

    rooms = {
        1: start("A", "B"), 2: start("C", "D"), 3: start("E", "F"), 4: start("G", "H", seconds=180),
        5: start("I", "J"), 6: start("K", "L", mode="text"),
    }
    clock.advance(settings.TORCH_IDLE_SECONDS)
    assert services.torch_sweep()["torch_warned"] == 2  # K and L, both silent
    clock.advance(180 - settings.TORCH_IDLE_SECONDS - settings.ROOM_GRACE_SECONDS)
    services.room_participant_disconnected(user_id=u["J"].pk)
    clock.advance(settings.ROOM_GRACE_SECONDS + 1)  # past room4's timer, J's grace, K and L's torch deadline
    for name in "DEF":
        services.room_participant_disconnected(user_id=u[name].pk)
    now = clock.now()
    monkeypatch.setattr(clock, "now", lambda: now)  # both ways see the same instant
    order = [u[n].pk for n in "ACKEDGMFLEIJHB"]
    return u, rooms, order


def test_a_batch_does_what_one_call_per_user_in_order_does(storm, sent):
    u, rooms, order = storm
    one_by_one = outcome(lambda: {uid: services.room_participant_connected(user_id=uid) for uid in order}, sent)
    batch = outcome(lambda: services.room_participants_connected(user_ids=order), sent)
    assert batch[0] == one_by_one[0]  # results
    assert batch[1] == one_by_one[1]  # each user's events, in order
    assert batch[2] == one_by_one[2]  # every row written, bookkeeping included


def test_a_batch_resumes_ends_and_tells_each_user_what_a_call_of_their_own_would(storm, sent):
    u, rooms, order = storm
    pk = {name: user.pk for name, user in u.items()}
    result = services.room_participants_connected(user_ids=order)
    got = per_user(sent)
    kinds = {name: [(m["type"], m.get("room", {}).get("status")) for m in got.get(pk[name], [])] for name in u}
    # already connected: only their own sockets hear room.resumed
    assert kinds["A"] == [("room.resumed", "active")] and kinds["B"] == [("room.resumed", "active")]
    # C (connected) first: only C; then D comes back: both, the room active again (once)
    assert kinds["C"] == [("room.resumed", "grace"), ("room.resumed", "active")]
    assert kinds["D"] == [("room.resumed", "active")]
    # E back (F still gone): both told, still grace; F back: both, active; E's second socket: E only
    assert kinds["E"] == [("room.resumed", "grace"), ("room.resumed", "active"), ("room.resumed", "active")]
    assert kinds["F"] == [("room.resumed", "grace"), ("room.resumed", "active")]
    # overdue rooms: ended once, each side told once; nobody resumed
    for name in "GHIJKL":
        assert [m["type"] for m in got[pk[name]]] == ["room.ended"], name
    assert kinds["M"] == []
    assert {n: (r or {}).get("status") for n, r in ((n, result[pk[n]]) for n in u)} == {
        "A": "active", "B": "active", "C": "grace", "D": "active", "E": "active", "F": "active",  # C: as of C's turn
        "G": None, "H": None, "I": None, "J": None, "K": None, "L": None, "M": None,
    }
    assert result[pk["A"]]["peer"]["id"] == str(u["B"].public_id) and result[pk["A"]]["you_connected"]
    state = {n: Room.objects.get(pk=r.pk) for n, r in rooms.items()}
    assert [state[n].status for n in (1, 2, 3)] == ["active"] * 3
    assert all(state[n].grace_deadline is None for n in (1, 2, 3))
    assert [(state[n].status, state[n].end_reason) for n in (4, 5, 6)] == [
        ("ended", "timer"), ("ended", "disconnect"), ("ended", "inactivity")
    ]
    for n in (4, 5, 6):  # bookkeeping exactly once
        assert CallHistory.objects.filter(room=rooms[n]).count() == 2
        assert SessionCompletion.objects.filter(room=rooms[n]).count() == 2
    assert Cooldown.objects.count() == 3
    assert all(p.connected for p in RoomParticipant.objects.filter(live=True))
    timers = snapshot()["timers"]
    # again (a second socket each): nothing more is ended or written twice
    sent.clear()
    again = services.room_participants_connected(user_ids=order)
    assert {uid for uid, r in again.items() if r and r["status"] == "active"} == {pk[n] for n in "ABCDEF"}
    assert CallHistory.objects.count() == 6 and Cooldown.objects.count() == 3 and snapshot()["timers"] == timers
    assert {m["type"] for _, m in sent} == {"room.resumed"} and len(sent) == 6 + 1  # E twice


def test_nobody_in_a_room_is_one_query_and_no_transaction(make_user, django_assert_num_queries):
    users = [make_user() for _ in range(3)]
    with django_assert_num_queries(1):
        assert services.room_participants_connected(user_ids=[u.pk for u in users]) == dict.fromkeys(u.pk for u in users)
    assert services.room_participants_connected(user_ids=[]) == {}


def test_a_batch_costs_the_same_statements_for_2_users_as_for_50(make_user, django_assert_num_queries):
    pairs = [(make_user(), make_user()) for _ in range(26)]
    for a, b in pairs:
        services.room_start(inviter_id=a.pk, invitee_id=b.pk, mode="video", seconds=600)
        for user in (a, b):
            services.room_participant_disconnected(user_id=user.pk)  # both gone: every room in grace
    small = [u.pk for u in pairs[0]]
    big = [u.pk for pair in pairs[1:] for u in pair]
    assert len(big) == 50
    # live rooms of the users; (savepoint: the test runs in a transaction) rooms locked in id order,
    # participants with their users, one UPDATE of the participants, one of the rooms grace → active,
    # (release)
    with django_assert_num_queries(7):
        small_out = services.room_participants_connected(user_ids=small)
    with django_assert_num_queries(7):
        big_out = services.room_participants_connected(user_ids=big)
    # each pair's first sees grace (the peer not back yet), the second active
    assert [r["status"] for r in [*small_out.values(), *big_out.values()]] == ["grace", "active"] * 26
    # nothing going back to active: no rooms UPDATE
    with django_assert_num_queries(6):
        services.room_participants_connected(user_ids=big)
    # one user is a batch of one: the same statements
    services.room_participant_disconnected(user_id=small[0])
    with django_assert_num_queries(7):
        assert services.room_participant_connected(user_id=small[0])["status"] == "active"


def test_room_ids_live_for_users_is_one_query(make_user, django_assert_num_queries):
    a, b, c = make_user(), make_user(), make_user()
    room = services.room_start(inviter_id=a.pk, invitee_id=b.pk, mode="text", seconds=60)
    with django_assert_num_queries(1):
        got = selectors.room_ids_live_for_users(user_ids=[a.pk, b.pk, c.pk, a.pk])
    assert got == {a.pk: room.pk, b.pk: room.pk} and isinstance(got[a.pk], type(room.pk))
    services.room_end(room_id=room.pk, reason="user", actor_id=a.pk)
    assert selectors.room_ids_live_for_users(user_ids=[a.pk, b.pk]) == {}


# --- the disconnect side ------------------------------------------------------------------------------
@pytest.fixture
def leaving(make_user, settings, monkeypatch):
    """room1 A-B and room2 C-D active; room3 E-F, F gone (grace); room4 G-H timer passed; room5 I-J,
    J gone past the grace deadline; M has no room.  The order their last sockets close in."""
    u = {name: make_user(name) for name in "ABCDEFGHIJM"}

    def start(x, y, seconds=3600):
        return services.room_start(inviter_id=u[x].pk, invitee_id=u[y].pk, mode="video", seconds=seconds)

    rooms = {1: start("A", "B"), 2: start("C", "D"), 3: start("E", "F"), 4: start("G", "H", seconds=180), 5: start("I", "J")}
    clock.advance(180 - settings.ROOM_GRACE_SECONDS - 1)
    services.room_participant_disconnected(user_id=u["J"].pk)
    clock.advance(settings.ROOM_GRACE_SECONDS + 2)  # past room4's timer and J's grace deadline
    services.room_participant_disconnected(user_id=u["F"].pk)
    clock.advance(1)
    now = clock.now()
    monkeypatch.setattr(clock, "now", lambda: now)
    order = [u[n].pk for n in "ACEGMBICJH"]
    return u, rooms, order


@pytest.mark.parametrize("server_going_away", [False, True])
def test_a_disconnect_batch_does_what_one_call_per_user_in_order_does(leaving, sent, server_going_away):
    u, rooms, order = leaving
    one_by_one = outcome(
        lambda: [services.room_participant_disconnected(user_id=uid, server_going_away=server_going_away) for uid in order],
        sent,
    )
    batch = outcome(lambda: services.room_participants_disconnected(user_ids=order, server_going_away=server_going_away), sent)
    assert batch[1] == one_by_one[1]  # each user's events, in order
    assert batch[2] == one_by_one[2]  # every row written, bookkeeping included


def test_a_disconnect_batch_puts_rooms_in_grace_once_and_tells_the_peers(leaving, sent, settings):
    u, rooms, order = leaving
    pk = {name: user.pk for name, user in u.items()}
    grace3 = Room.objects.get(pk=rooms[3].pk).grace_deadline
    services.room_participants_disconnected(user_ids=order)
    got = per_user(sent)
    told = {name: [(m["type"], m.get("room", {}).get("you_connected"), m.get("room", {}).get("peer_connected"))
                   for m in got.get(pk[name], [])] for name in u}
    # A leaves: B told (B still there); then B leaves: A told (nobody there) — as two calls would
    assert told["B"] == [("room.peer_disconnected", True, False)]
    assert told["A"] == [("room.peer_disconnected", False, False)]
    # C's two closes: D told each time (today's rule for a second call); F told E left
    assert told["D"] == [("room.peer_disconnected", True, False)] * 2 and told["C"] == []
    assert told["F"] == [("room.peer_disconnected", False, False)] and told["E"] == []
    for name in "GHIJ":  # overdue: ended once, each side told once
        assert [m["type"] for m in got[pk[name]]] == ["room.ended"], name
    assert told["M"] == []
    state = {n: Room.objects.get(pk=r.pk) for n, r in rooms.items()}
    now = clock.now()
    for n in (1, 2):
        assert (state[n].status, state[n].grace_started_at) == ("grace", now)
        assert state[n].grace_deadline == now + timedelta(seconds=settings.ROOM_GRACE_SECONDS)
    assert state[3].status == "grace" and state[3].grace_deadline == grace3  # already in grace: unchanged
    assert [(state[n].status, state[n].end_reason) for n in (4, 5)] == [("ended", "timer"), ("ended", "disconnect")]
    for n in (4, 5):
        assert CallHistory.objects.filter(room=rooms[n]).count() == 2
    assert Cooldown.objects.count() == 2
    assert list(RoomParticipant.objects.filter(live=True, connected=True).values_list("user_id", flat=True)) == [pk["D"]]


def test_a_disconnect_batch_costs_the_same_statements_for_2_users_as_for_50(make_user, django_assert_num_queries):
    pairs = [(make_user(), make_user()) for _ in range(26)]
    for a, b in pairs:
        services.room_start(inviter_id=a.pk, invitee_id=b.pk, mode="video", seconds=600)
    small = [u.pk for u in pairs[0]]
    big = [u.pk for pair in pairs[1:] for u in pair]
    # live rooms of the users; (savepoint) rooms locked in id order, participants with their users,
    # one UPDATE of the participants, one of the rooms active → grace, (release)
    with django_assert_num_queries(7):
        services.room_participants_disconnected(user_ids=small)
    with django_assert_num_queries(7):
        services.room_participants_disconnected(user_ids=big)
    assert Room.objects.filter(status="grace").count() == 26
    with django_assert_num_queries(6):  # already in grace: no rooms UPDATE
        services.room_participants_disconnected(user_ids=big)
    services.room_participant_connected(user_id=small[0])
    services.room_participant_connected(user_id=small[1])
    with django_assert_num_queries(7):  # one user is a batch of one
        services.room_participant_disconnected(user_id=small[0])
