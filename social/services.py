"""Social writes: the room core — rooms (start, connect, disconnect, end), their bookkeeping, the
deadlines and their sweeper (timer, grace, leases, the torch rule) — and blocks.  Chat messages
(``social.messages``) build on it.

Rules enforced here:
- a user is in at most one live room — the partial unique constraint
  ``social_one_live_room_per_user`` decides, not a check-then-write;
- every deadline is a timestamp on the row (timer ``ends_at``, ``grace_deadline``, participant
  ``lease_expires_at`` and ``torch_deadline``), enforced when read (``Room.overdue_reason``,
  ``Room.objects.overdue``) and finalised by ``room_sweep`` in any process;
- torch rule (text rooms): each participant's ``last_message_at`` is on their row; silence longer
  than ``TORCH_IDLE_SECONDS`` sets ``torch_warned_at``/``torch_deadline`` (both are told
  ``room.inactivity_warning``), a message from that participant clears it, a passed deadline ends the
  room with reason ``inactivity`` (``torch_sweep``, called by ``room_sweep``, in whichever process
  runs first, so a restart neither resets nor loses the state);
- a room ends exactly once (``room_end_locked``, the one way every room ends): a conditional UPDATE under the room's row lock, and its
  bookkeeping (history per participant, pair cooldown, completions, timer totals) is written in
  the same transaction, backed by unique constraints;
- locks are always taken room first, participants second (no lock-order deadlocks);
- sockets are told only after commit (``config.events.send_after_commit``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import F

from accounts.models import User
from accounts.selectors import user_card
from accounts.services import user_timer_add
import presence
from config import clock, events
from config.aftercommit import after_commit
from audit.services import audit_record
from social import errors
from social.models import Block, CallHistory, Cooldown, Room, RoomParticipant, SessionCompletion
from social.selectors import live_room_user_ids, room_id_live_for_user, room_ids_live_for_users

logger = logging.getLogger(__name__)


def _lease() -> timedelta:
    return timedelta(seconds=settings.ROOM_LEASE_SECONDS)


def _grace() -> timedelta:
    return timedelta(seconds=settings.ROOM_GRACE_SECONDS)


def _restart_grace() -> timedelta:
    """The grace when the participant's *server* went away (not their fault): at least the
    user grace, so a reconnect storm after a restart never ends calls people come back to."""
    return max(_grace(), timedelta(seconds=settings.ROOM_RESTART_GRACE_SECONDS))


# --- what clients are told -----------------------------------------------------------------------
def room_payload(
    *, room: Room, user_id: int, participants: list[RoomParticipant], now: datetime | None = None
) -> events.RoomView:
    """The room as ``user_id`` sees it (``participants`` with ``user`` loaded)."""
    now = now or clock.now()
    me = next(p for p in participants if p.user_id == user_id)
    peer = next(p for p in participants if p.user_id != user_id)
    return {
        "id": str(room.pk),
        "mode": room.mode,
        "status": room.status,
        "duration_seconds": room.duration_seconds,
        "started_at": room.started_at.isoformat(),
        "ends_at": room.ends_at.isoformat(),
        "remaining_seconds": max(0, int((room.ends_at - now).total_seconds())),
        "grace_deadline": room.grace_deadline.isoformat() if room.grace_deadline else None,
        "peer": user_card(peer.user),
        "peer_connected": peer.connected,
        "you_connected": me.connected,
    }


def _lock_live(room_id, *, skip_locked: bool = False) -> Room | None:
    """The room's row, locked (room first, like every writer), if it is still live; inside the
    caller's transaction.  ``skip_locked`` for sweepers: a row another one holds is theirs."""
    return Room.objects.select_for_update(skip_locked=skip_locked).live().filter(pk=room_id).first()


def _participants(room: Room) -> list[RoomParticipant]:
    return list(RoomParticipant.objects.select_related("user").filter(room=room).order_by("id"))


def _tell_both(room: Room, event, participants: list[RoomParticipant] | None = None) -> None:
    """``event`` (a ``config.events`` constructor taking ``room``) to each participant, as they see the room."""
    participants = participants if participants is not None else _participants(room)
    now = clock.now()
    for p in participants:
        events.send_after_commit(
            users=p.user_id, message=event(room=room_payload(room=room, user_id=p.user_id, participants=participants, now=now))
        )


# --- start ------------------------------------------------------------------------------------
def room_start(*, inviter_id: int, invitee_id: int, mode: str, seconds: int) -> Room:
    """Create the room and both participants in one transaction; both users are then in call.

    ``AlreadyInCall`` / ``PeerInCall`` when either already has a live room (the constraint says so).
    """
    now = clock.now()
    try:
        with transaction.atomic():
            room = Room.objects.create(
                mode=mode,
                duration_seconds=seconds,
                started_at=now,
                ends_at=now + timedelta(seconds=seconds),
                inviter_id=inviter_id,
            )
            RoomParticipant.objects.bulk_create(
                [
                    RoomParticipant(room=room, user_id=uid, lease_expires_at=now + _lease(), last_message_at=now)
                    for uid in (inviter_id, invitee_id)
                ]
            )
            _tell_both(room, events.room_started)
            # the queue's derived set (presence.queue) mirrors the committed rooms
            after_commit(
                lambda: presence.queue_room_enter(user_ids=[inviter_id, invitee_id]), effect="presence.queue_room_enter"
            )
    except IntegrityError as exc:
        busy = live_room_user_ids(user_ids=[inviter_id, invitee_id])
        if invitee_id in busy:
            raise errors.AlreadyInCall() from exc
        raise errors.PeerInCall() from exc
    return room


# --- what a completed call unlocks (apps above social) -----------------------------------------
_completion_hooks: list[Callable[..., object]] = []


def on_calls_completed(hook: Callable[..., object]) -> Callable[..., object]:
    """Register ``hook(user_ids=[a, b])``, run by ``room_end_locked`` inside the transaction that
    records a completed call (``SessionCompletion``), once per room.  How an app above social (the
    earned invite code: ``invites.apps``) acts on it without social importing that app."""
    if hook not in _completion_hooks:
        _completion_hooks.append(hook)
    return hook


# --- end (exactly once) -----------------------------------------------------------------------
def room_end_locked(*, room: Room, reason: str, actor_id: int | None, now: datetime) -> None:
    """End a room whose row the caller has locked (``select_for_update``) and seen live, and write
    its bookkeeping in the caller's transaction: the one way every room ends (user, ban, deletion,
    timer, grace, torch rule, a message or reconnect after a deadline).  A call that lasted
    ``CALL_COMPLETION_MIN_SECONDS`` is recorded as completed for both, and the
    ``on_calls_completed`` hooks run in the same transaction."""
    updated = Room.objects.filter(pk=room.pk, status__in=Room.LIVE).update(
        status=Room.Status.ENDED, ended_at=now, end_reason=reason, ended_by_id=actor_id
    )
    if not updated:  # someone else ended it first
        return
    duration = room.call_seconds(now)  # while ``room`` still says whether it was in grace
    room.status, room.ended_at, room.end_reason, room.ended_by_id = Room.Status.ENDED, now, reason, actor_id
    participants = _participants(room)
    RoomParticipant.objects.filter(room=room, live=True).update(live=False)
    a, b = (p.user_id for p in participants)
    CallHistory.objects.bulk_create(
        [
            CallHistory(
                user_id=me, partner_id=other, room=room, mode=room.mode, started_at=room.started_at,
                ended_at=now, duration_seconds=duration, end_reason=reason, created_at=now,
            )
            for me, other in ((a, b), (b, a))
        ]
    )
    low, high = Cooldown.pair(a, b)
    Cooldown.objects.update_or_create(
        user_low_id=low,
        user_high_id=high,
        defaults={"until": now + timedelta(seconds=settings.CALL_COOLDOWN_SECONDS), "room": room, "created_at": now},
    )
    if duration >= settings.CALL_COMPLETION_MIN_SECONDS:
        SessionCompletion.objects.bulk_create(
            [SessionCompletion(user_id=uid, room=room, duration_seconds=duration, created_at=now) for uid in (a, b)]
        )
        for hook in _completion_hooks:
            hook(user_ids=[a, b])
    for uid in (a, b):
        user_timer_add(user_id=uid, seconds=duration)
    if reason in (Room.EndReason.BAN, Room.EndReason.ACCOUNT_DELETED):
        audit_record(actor=None, action="room.end", target=room, after={"reason": reason})
    for p in participants:
        p.live = False
    after_commit(lambda: presence.queue_room_leave(user_ids=[a, b]), effect="presence.queue_room_leave")
    cooldown_until = (now + timedelta(seconds=settings.CALL_COOLDOWN_SECONDS)).isoformat()
    for p in participants:
        events.send_after_commit(
            users=p.user_id,
            message=events.room_ended(
                room_id=str(room.pk), reason=reason, ended_by_you=actor_id == p.user_id,
                duration_seconds=duration, cooldown_until=cooldown_until,
            ),
        )


def room_end(*, room_id, reason: str, actor_id: int | None = None) -> bool:
    """End a live room now (idempotent).  True when this call ended it."""
    with transaction.atomic():
        room = _lock_live(room_id)
        if room is None:
            return False
        room_end_locked(room=room, reason=reason, actor_id=actor_id, now=clock.now())
        return True


def room_end_by_user(*, user_id: int) -> None:
    """A participant hangs up.  ``NotInRoom`` when they have no live room."""
    room_id = room_id_live_for_user(user_id=user_id)
    if room_id is None or not room_end(room_id=room_id, reason=Room.EndReason.USER, actor_id=user_id):
        raise errors.NotInRoom()


def room_end_for_user(*, user_id: int, reason: str) -> None:
    """End the user's live room, if any, with ``reason`` (e.g. "ban"); the peer is told."""
    room_id = room_id_live_for_user(user_id=user_id)
    if room_id is not None:
        room_end(room_id=room_id, reason=reason, actor_id=None)


def _end_if_overdue_locked(room: Room, now: datetime, participants=()) -> str | None:
    """End the locked room if a deadline passed (``Room.overdue_reason``); returns the end reason, if so."""
    reason = room.overdue_reason(now, participants)
    if reason:
        room_end_locked(room=room, reason=reason, actor_id=None, now=now)
    return reason


def rooms_finish_overdue(*, user_ids) -> dict[int, Room]:
    """Each of these users' live room, deadlines enforced on read: an overdue one is ended now
    (``Room.overdue_reason``) and left out.  One query when nothing is overdue."""
    now = clock.now()
    live = {p.user_id: p.room for p in RoomParticipant.objects.live_for(*user_ids).select_related("room")}
    for room in {room.pk: room for room in live.values() if room.overdue_reason(now)}.values():
        with transaction.atomic():
            locked = _lock_live(room.pk)
            if locked is not None:
                _end_if_overdue_locked(locked, now)
    return {uid: room for uid, room in live.items() if not room.overdue_reason(now)}


# --- connection state -----------------------------------------------------------------------------
def _lock_rooms(room_ids, now: datetime) -> tuple[dict, dict]:
    """Inside the caller's transaction: lock these rooms if live, in room-id order (like every
    multi-room lock — the sweeper, chat batches —, so batches never deadlock), end those past their
    timer or grace deadline, and read the others' participants (users loaded, in id order): two
    statements.  ``({room pk: room}, {room pk: [participant, …]})``."""
    locked = Room.objects.select_for_update().live().filter(pk__in=set(room_ids)).order_by("pk")
    rooms = {room.pk: room for room in locked if not _end_if_overdue_locked(room, now)}
    parts_of: dict = {}
    if rooms:
        for p in RoomParticipant.objects.select_related("user").filter(room_id__in=list(rooms)).order_by("id"):
            parts_of.setdefault(p.room_id, []).append(p)
    return rooms, parts_of


def room_participant_connected(*, user_id: int) -> dict | None:
    """One of the user's sockets is (re)connected on this process: a batch of one
    (``room_participants_connected``, the one code path).

    Returns the room state for that user (``None`` when no live room).  If the room was in grace
    and now has both participants connected, it is active again; both sides get ``room.resumed``.
    An overdue room is ended instead (its deadline passed while nobody looked).
    """
    return room_participants_connected(user_ids=[user_id])[user_id]


def room_participants_connected(*, user_ids: list[int]) -> dict[int, dict | None]:
    """``room_participant_connected`` for each of ``user_ids`` in that order (a reconnect storm's
    group commit), with a fixed number of statements whatever the batch size: one lookup of the
    users' live rooms, then in one transaction: the rooms locked in room-id order (like the
    sweeper and the chat batches: no lock-order deadlocks), one read of their participants, one
    UPDATE of the connecting participants, one UPDATE of the rooms that go from grace to active
    (when any).  Only a room past a deadline costs more: it is ended (``room_end_locked``, its
    bookkeeping once) — a timer or grace deadline before anything is written for it, the torch
    deadline after its first connecting user's row is, as for a single call.

    The same user twice is a second socket of theirs: the second time only that user hears
    ``room.resumed`` (the first time both do).  Returns user id → their room payload as of their
    last occurrence (``None``: no live room, or it was just ended).  Events go out after commit;
    if the transaction fails, nothing is sent and the exception propagates (for every user)."""
    result: dict[int, dict | None] = dict.fromkeys(user_ids)
    room_of = room_ids_live_for_users(user_ids=user_ids)
    if not room_of:
        return result
    now = clock.now()
    lease_end = now + _lease()
    with transaction.atomic():
        rooms, parts_of = _lock_rooms(room_of.values(), now)
        # each user in order, on the locked rows in memory: what the calls one by one would do
        connect: dict[int, None] = {}  # participant pks, in order
        torch_ended: dict = {}  # room pk → room, in order
        activate: list = []
        sends: list[tuple[int, dict]] = []
        for uid in user_ids:
            room = rooms.get(room_of.get(uid))
            if room is None or room.pk in torch_ended:  # no live room, or its end is decided
                result[uid] = None
                continue
            participants = parts_of[room.pk]
            me = next(p for p in participants if p.user_id == uid)
            was_connected = me.connected
            me.connected, me.lease_expires_at, me.disconnected_at = True, lease_end, None
            connect[me.pk] = None
            if room.overdue_reason(now, participants):
                # the torch rule's deadline passed while nobody swept (e.g. across a restart)
                torch_ended[room.pk] = room  # ended below, after the UPDATE (as in a single call)
                result[uid] = None
                continue
            if room.status == Room.Status.GRACE and all(p.connected for p in participants):
                room.status, room.grace_deadline, room.grace_started_at = Room.Status.ACTIVE, None, None
                activate.append(room.pk)
            # another socket of an already connected user: only that user's sockets hear of it
            for p in [me] if was_connected else participants:
                payload = room_payload(room=room, user_id=p.user_id, participants=participants, now=now)
                sends.append((p.user_id, events.room_resumed(room=payload)))
            result[uid] = room_payload(room=room, user_id=uid, participants=participants, now=now)
        if connect:
            RoomParticipant.objects.filter(pk__in=list(connect)).update(
                connected=True, lease_expires_at=lease_end, disconnected_at=None
            )
        for room in torch_ended.values():
            _end_if_overdue_locked(room, now, parts_of[room.pk])
        if activate:
            Room.objects.filter(pk__in=activate).update(status=Room.Status.ACTIVE, grace_deadline=None, grace_started_at=None)
        events.send_many_after_commit(messages=sends)  # one hop to the event loop for the batch
    return result


def room_participant_disconnected(*, user_id: int, server_going_away: bool = False) -> None:
    """The user's last socket closed: their room (if any) enters grace; the peer is told.  A batch
    of one (``room_participants_disconnected``, the one code path).

    ``server_going_away``: the socket was closed by its server shutting down (SIGTERM), not by
    the user — the room gets the restart grace (``ROOM_RESTART_GRACE_SECONDS``)."""
    room_participants_disconnected(user_ids=[user_id], server_going_away=server_going_away)


def room_participants_disconnected(*, user_ids: list[int], server_going_away: bool = False) -> None:
    """``room_participant_disconnected`` for each of ``user_ids`` (users whose last socket closed)
    in that order, with a fixed number of statements whatever the batch size: one lookup of their
    live rooms, then in one transaction: the rooms locked in room-id order, one read of their
    participants, one UPDATE of the leaving participants, one UPDATE of the rooms that go from
    active to grace (deadline now + the user grace, or the restart grace with
    ``server_going_away``, for the whole batch).  A room past its timer or grace deadline is
    ended instead (``room_end_locked``), once.  Each time a participant leaves, the other one is
    told ``room.peer_disconnected`` (the room as of then), after commit."""
    room_of = room_ids_live_for_users(user_ids=user_ids)
    if not room_of:
        return
    now = clock.now()
    deadline = now + (_restart_grace() if server_going_away else _grace())
    with transaction.atomic():
        rooms, parts_of = _lock_rooms(room_of.values(), now)
        gone: dict[int, None] = {}  # participant pks, in order
        to_grace: list = []
        sends: list[tuple[int, dict]] = []
        for uid in user_ids:
            room = rooms.get(room_of.get(uid))
            if room is None:
                continue
            participants = parts_of[room.pk]
            me = next(p for p in participants if p.user_id == uid)
            me.connected, me.disconnected_at = False, now
            gone[me.pk] = None
            if room.status == Room.Status.ACTIVE:
                room.status, room.grace_started_at, room.grace_deadline = Room.Status.GRACE, now, deadline
                to_grace.append(room.pk)
            for p in participants:
                if p.user_id != uid:
                    payload = room_payload(room=room, user_id=p.user_id, participants=participants, now=now)
                    sends.append((p.user_id, events.room_peer_disconnected(room=payload)))
        if gone:
            RoomParticipant.objects.filter(pk__in=list(gone)).update(connected=False, disconnected_at=now)
        if to_grace:
            Room.objects.filter(pk__in=to_grace).update(status=Room.Status.GRACE, grace_started_at=now, grace_deadline=deadline)
        events.send_many_after_commit(messages=sends)  # one hop to the event loop for the batch


def room_leases_renew(*, user_ids) -> list[int]:
    """Renew the connection leases of users whose sockets this process holds (one UPDATE).

    Returns those among them marked disconnected (e.g. by a sweeper during a stall) so the
    caller can reconnect them properly.
    """
    ids = sorted(set(user_ids))
    if not ids:
        return []
    # Every process runs this every couple of seconds for every socket it holds (thousands of
    # ids): plain SQL with the ids as one array (PostgreSQL) or one list of placeholders, not
    # the ORM's per-value lookup preparation (most of an idle process's CPU at 2,000 sockets).
    table = RoomParticipant._meta.db_table
    if connection.vendor == "postgresql":
        match, params = "user_id = ANY(%s::bigint[])", [ids]
    else:
        match, params = f"user_id IN ({', '.join(['%s'] * len(ids))})", ids
    lease_end = connection.ops.adapt_datetimefield_value(clock.now() + _lease())
    with connection.cursor() as cursor:
        cursor.execute(f"UPDATE {table} SET lease_expires_at = %s WHERE live AND connected AND {match}", [lease_end, *params])
        cursor.execute(f"SELECT user_id FROM {table} WHERE live AND NOT connected AND {match}", params)
        return [row[0] for row in cursor.fetchall()]


# --- the sweeper ----------------------------------------------------------------------------------
def room_sweep(*, limit: int = 500) -> dict:
    """Finalise every passed deadline.  Idempotent; safe with any number of concurrent sweepers
    (rows locked by another sweeper are skipped, every transition is conditional).

    1. connection leases that expired (their process died) → participant disconnected, room in
       grace from *now* for the restart grace (so after a restart the window starts at the
       restart, and is long enough for a reconnect storm); in batches, a fixed number of
       statements per batch of rooms;
    2. grace deadlines passed → ended, reason ``disconnect``;
    3. timers run out → ended, reason ``timer``.
    """
    now = clock.now()
    counts = {"lease_expired": 0, "grace_ended": 0, "timer_ended": 0}
    _sweep_expired_leases(now=now, limit=limit, counts=counts)
    overdue = list(Room.objects.overdue(now=now).values_list("pk", flat=True)[:limit])
    for room_id in overdue:
        with transaction.atomic():
            room = _lock_live(room_id, skip_locked=True)
            if room is None:
                continue
            reason = _end_if_overdue_locked(room, now)
            if reason:
                counts["timer_ended" if reason == Room.EndReason.TIMER else "grace_ended"] += 1
    counts.update(torch_sweep(now=now, limit=limit))
    return counts


# --- the torch rule ------------------------------------------------------------------------------
def torch_sweep(*, now: datetime | None = None, limit: int = 500) -> dict:
    """Finalise the torch rule's deadlines and start warnings (idempotent, any number of sweepers).

    1. a participant's ``torch_deadline`` passed → the room ends with reason ``inactivity``;
    2. a participant of a live text room silent for ``TORCH_IDLE_SECONDS`` and not yet warned →
       warned now, deadline now + ``TORCH_WARNING_SECONDS``; both get ``room.inactivity_warning``.
    """
    now = now or clock.now()
    counts = {"torch_ended": 0, "torch_warned": 0}
    due = list(
        RoomParticipant.objects.filter(live=True, torch_deadline__lte=now).values_list("room_id", flat=True).distinct()[:limit]
    )
    for room_id in due:
        with transaction.atomic():
            room = _lock_live(room_id, skip_locked=True)
            if room is None:
                continue
            reason = _end_if_overdue_locked(room, now, list(RoomParticipant.objects.filter(room=room)))
            counts["torch_ended"] += reason == Room.EndReason.INACTIVITY
    cut = now - timedelta(seconds=settings.TORCH_IDLE_SECONDS)
    idle = list(
        RoomParticipant.objects.filter(
            live=True, torch_deadline__isnull=True, room__mode=Room.Mode.TEXT, last_message_at__lte=cut
        ).values_list("room_id", "pk")[:limit]
    )
    deadline = now + timedelta(seconds=settings.TORCH_WARNING_SECONDS)
    for room_id, part_pk in idle:
        with transaction.atomic():
            room = _lock_live(room_id, skip_locked=True)
            if room is None:
                continue
            warned = RoomParticipant.objects.filter(
                pk=part_pk, live=True, torch_deadline__isnull=True, last_message_at__lte=cut
            ).update(torch_warned_at=now, torch_deadline=deadline)
            if not warned:
                continue  # they spoke meanwhile, or another sweeper was first
            participants = list(RoomParticipant.objects.filter(room=room))
            ids = _public_ids(participants)
            who = next(p for p in participants if p.pk == part_pk)
            for p in participants:
                events.send_after_commit(
                    users=p.user_id,
                    message=events.room_inactivity_warning(
                        room_id=str(room.pk), user=ids[who.user_id], you=p.user_id == who.user_id,
                        warning_started_at=now.isoformat(), deadline=deadline.isoformat(),
                    ),
                )
            counts["torch_warned"] += 1
    return counts


def _public_ids(participants: list[RoomParticipant]) -> dict[int, str]:
    return {pk: str(pid) for pk, pid in User.objects.filter(pk__in=[p.user_id for p in participants]).values_list("pk", "public_id")}


# --- blocks -----------------------------------------------------------------------------------
def block_create(*, user: User, other: User) -> tuple[Block, bool]:
    """Block ``other`` (idempotent).  Returns the block and whether it was created now."""
    if user.pk == other.pk:
        raise errors.InvalidTarget("You can't block yourself.")
    with transaction.atomic():
        block, created = Block.objects.get_or_create(
            blocker=user, blocked=other, defaults={"created_at": clock.now()}
        )
        if created:
            audit_record(actor=user, action="block.create", target=other)
    return block, created


def block_delete(*, user: User, other: User) -> bool:
    with transaction.atomic():
        deleted, _ = Block.objects.filter(blocker=user, blocked=other).delete()
        if deleted:
            audit_record(actor=user, action="block.delete", target=other)
    return bool(deleted)


_LEASE_BATCH = 100  # rooms per transaction


def _sweep_expired_leases(*, now: datetime, limit: int, counts: dict) -> None:
    """Participants whose lease expired (their server died): disconnected, their rooms in grace
    until now + the restart grace; the peers still connected are told.  After a crash this is
    every live room at once, so it works on batches of rooms with a fixed number of statements
    each (lock the rooms, read the lost participants, one UPDATE of them, one UPDATE of the rooms
    per distinct last-renewal time — one per dead process —, one read for the payloads)."""
    room_ids = list(
        RoomParticipant.objects.filter(live=True, connected=True, lease_expires_at__lt=now)
        .order_by("room_id").values_list("room_id", flat=True).distinct()[:limit]
    )
    deadline = now + _restart_grace()
    for start in range(0, len(room_ids), _LEASE_BATCH):
        chunk = room_ids[start : start + _LEASE_BATCH]
        with transaction.atomic():
            # room ids in order, like every other multi-room lock (no deadlocks between sweepers)
            rooms = list(
                Room.objects.select_for_update(skip_locked=True).live().filter(pk__in=chunk).order_by("pk")
            )
            by_id: dict = {}
            for room in rooms:
                reason = _end_if_overdue_locked(room, now)
                if reason:
                    counts["timer_ended" if reason == Room.EndReason.TIMER else "grace_ended"] += 1
                else:
                    by_id[room.pk] = room
            if not by_id:
                continue
            lost = list(
                RoomParticipant.objects.filter(room_id__in=list(by_id), live=True, connected=True, lease_expires_at__lt=now)
                .values_list("pk", "room_id", "lease_expires_at")
            )
            if not lost:
                continue
            since_by_room: dict = {}
            for _pk, room_id, lease_end in lost:
                since = min(now, lease_end - _lease())  # the dead process's last renewal
                since_by_room[room_id] = min(since, since_by_room.get(room_id, since))
            RoomParticipant.objects.filter(pk__in=[row[0] for row in lost]).update(
                connected=False, disconnected_at=F("lease_expires_at") - _lease()
            )
            to_grace: dict = {}
            for room_id, since in since_by_room.items():
                room = by_id[room_id]
                if room.status == Room.Status.ACTIVE:
                    to_grace.setdefault(since, []).append(room_id)
                    room.status, room.grace_started_at, room.grace_deadline = Room.Status.GRACE, since, deadline
            for since, ids in to_grace.items():
                Room.objects.filter(pk__in=ids).update(status=Room.Status.GRACE, grace_started_at=since, grace_deadline=deadline)
            counts["lease_expired"] += len(lost)
            participants: dict = {}
            for p in RoomParticipant.objects.select_related("user").filter(room_id__in=list(since_by_room)).order_by("id"):
                participants.setdefault(p.room_id, []).append(p)
            for room_id, parts in participants.items():
                for p in parts:
                    if p.connected:  # the lost ones have no socket to tell
                        events.send_after_commit(
                            users=p.user_id,
                            message=events.room_peer_disconnected(
                                room=room_payload(room=by_id[room_id], user_id=p.user_id, participants=parts, now=now)
                            ),
                        )
