"""Room chat and the torch rule (writes and reads).

Rules enforced here:
- a message is committed before it is acknowledged; its id and timestamp come from the server;
- ``(room, sender, client_id)`` is unique: a resend returns the stored message, never a second row;
- inserts take the room's row lock, so ids grow in commit order within a room and a replay of
  "everything after id N" never skips a message that committed late;
- torch rule (text rooms): each participant's ``last_message_at`` is on their row; silence longer
  than ``TORCH_IDLE_SECONDS`` sets ``torch_warned_at``/``torch_deadline`` (both are told
  ``room.inactivity_warning``), a message from that participant clears it, a passed deadline ends the
  room with reason ``inactivity``.  The sweeper (``torch_sweep``, called by ``room_sweep``) does
  it in whichever process runs first, so a restart neither resets nor loses the state.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from datetime import timezone as dt_timezone

from django.conf import settings
from django.db import connection, transaction
from django.utils.dateparse import parse_datetime

from config import clock, events
from config.errors import ApplicationError
from social import errors
from social.models import Room, RoomMessage, RoomParticipant


# --- shapes --------------------------------------------------------------------------------------
def message_payload(
    *, message_id: int, seq: int, room_id, sender_public_id, client_id: str, body: str, created_at, purged=False
) -> events.Message:
    return {
        "id": message_id,
        "seq": seq,
        "room_id": str(room_id),
        "sender": str(sender_public_id),
        "client_id": client_id,
        "body": body,
        "created_at": created_at.isoformat() if isinstance(created_at, datetime) else created_at,
        **({"purged": True} if purged else {}),
    }


def body_clean(body) -> str:
    """Trimmed, non-empty, at most ``ROOM_MESSAGE_MAX_CHARS``; ``invalid`` otherwise."""
    if not isinstance(body, str):
        raise ApplicationError("'body' must be a string.", code="invalid", fields={"body": ["Not a string."]})
    body = body.strip()
    if not body:
        raise ApplicationError("A message can't be empty.", code="invalid", fields={"body": ["Empty."]})
    limit = settings.ROOM_MESSAGE_MAX_CHARS
    if len(body) > limit:
        raise ApplicationError(
            f"A message is at most {limit} characters.", code="invalid", fields={"body": [f"Over {limit} characters."]}
        )
    return body


# --- sending -------------------------------------------------------------------------------------
_INSERT_SQL = None


def _insert_sql() -> str:
    global _INSERT_SQL
    if _INSERT_SQL is None:
        t = RoomMessage._meta.db_table
        # seq = the room's next number; safe because the caller holds the room's row lock
        _INSERT_SQL = (
            f'INSERT INTO {t} ("room_id", "sender_id", "client_id", "body", "created_at", "seq") '
            f'SELECT %s, %s, %s, %s, %s, COALESCE(MAX("seq"), 0) + 1 FROM {t} WHERE "room_id" = %s '
            f'ON CONFLICT ("room_id", "sender_id", "client_id") DO NOTHING RETURNING "id", "seq"'
        )
    return _INSERT_SQL


def _insert_params(room_id, user_id, client_id, body, now) -> list:
    f = RoomMessage._meta.get_field
    room = f("room").get_db_prep_value(room_id, connection)
    return [room, user_id, client_id, body, f("created_at").get_db_prep_value(now, connection), room]


class _Overdue(Exception):
    """The room's deadline passed: end it (its own transaction), then ``NotInRoom``."""

    def __init__(self, room_id, reason: str):
        super().__init__(reason)
        self.room_id, self.reason = room_id, reason


def _send_step(*, user_id: int, sender_public_id, client_id: str, body: str, now: datetime) -> tuple[dict, bool, list]:
    """One message inside the caller's transaction: ``(message, created, events)``.

    Raises (``NotInRoom``, ``_Overdue``) only before writing anything, so a batch transaction
    stays usable for the next message.  ``events`` are ``(user_ids, message)`` to send after commit."""
    # Both participants + the room, locking the room row only (room first, like every writer).
    rows = list(
        RoomParticipant.objects.select_for_update(of=("room",))
        .select_related("room")
        .filter(room__participants__user_id=user_id, room__participants__live=True)
    )
    me = next((p for p in rows if p.user_id == user_id), None)
    if me is None or not me.live:
        raise errors.NotInRoom()
    room = me.room
    reason = _overdue_reason(room, rows, now)
    if reason:
        raise _Overdue(room.pk, reason)
    with connection.cursor() as cur:
        cur.execute(_insert_sql(), _insert_params(room.pk, user_id, client_id, body, now))
        row = cur.fetchone()
    if row is None:  # a resend: the stored message, nobody told twice
        stored = RoomMessage.objects.get(room_id=room.pk, sender_id=user_id, client_id=client_id)
        return _payload_of(stored, sender_public_id), False, []
    changes = {"last_message_at": now}
    notices = []
    if me.torch_deadline is not None:
        changes.update(torch_warned_at=None, torch_deadline=None)
        notices.append(
            ([p.user_id for p in rows], events.room_inactivity_cleared(room_id=str(room.pk), user=str(sender_public_id)))
        )
    RoomParticipant.objects.filter(pk=me.pk).update(**changes)
    message = message_payload(
        message_id=row[0], seq=row[1], room_id=room.pk, sender_public_id=sender_public_id,
        client_id=client_id, body=body, created_at=now,
    )
    return message, True, notices


def _end_overdue(exc: _Overdue):
    from social.services import room_end

    room_end(room_id=exc.room_id, reason=exc.reason)
    raise errors.NotInRoom()


def room_message_send(*, user_id: int, sender_public_id, client_id: str, body: str) -> tuple[dict, bool]:
    """Store a chat message from ``user_id`` in their live room; returns ``(message, created)``.

    ``created`` is False for a resend of a ``client_id`` already stored (the stored message is
    returned, nobody is told twice).  ``NotInRoom`` without a live room (also when a deadline of
    the room passed: it is ended now — deadlines are enforced on read).  A message from a warned
    participant clears their torch warning (both are told ``room.inactivity_cleared``)."""
    body = body_clean(body)
    try:
        with transaction.atomic():
            message, created, notices = _send_step(
                user_id=user_id, sender_public_id=sender_public_id, client_id=client_id, body=body, now=clock.now()
            )
            for user_ids, event in notices:
                events.send_after_commit(users=user_ids, message=event)
    except _Overdue as exc:
        _end_overdue(exc)
    return message, created


class _RoomRow:
    """The room columns the batch needs (``room_overdue`` reads these)."""

    __slots__ = ("pk", "status", "ends_at", "grace_deadline")
    Status = Room.Status

    def __init__(self, pk, status, ends_at, grace_deadline):
        self.pk, self.status, self.ends_at, self.grace_deadline = pk, status, ends_at, grace_deadline

    @property
    def live(self) -> bool:
        return self.status in Room.LIVE


class _PartRow:
    __slots__ = ("pk", "room_id", "user_id", "torch_deadline", "room")

    def __init__(self, pk, room_id, user_id, torch_deadline, room):
        self.pk, self.room_id, self.user_id, self.torch_deadline, self.room = pk, room_id, user_id, torch_deadline, room


def _uuid(value):
    return value if isinstance(value, uuid.UUID) else uuid.UUID(value)


def _aware(value):
    """A datetime column read through the raw cursor (SQLite: naive UTC, or text) as an aware datetime."""
    if value is None or (isinstance(value, datetime) and value.tzinfo is not None):
        return value
    if isinstance(value, str):
        value = parse_datetime(value)
    return value.replace(tzinfo=dt_timezone.utc) if value.tzinfo is None else value


_BATCH_SQL: dict | None = None


def _batch_sql() -> dict:
    """Table/column names of the batch's statements (raw SQL through Django's connection: the
    ORM's per-object and per-query compile cost was most of the chat writer's CPU)."""
    global _BATCH_SQL
    if _BATCH_SQL is None:
        qn = connection.ops.quote_name
        _BATCH_SQL = {
            "P": qn(RoomParticipant._meta.db_table),
            "R": qn(Room._meta.db_table),
            "M": qn(RoomMessage._meta.db_table),
        }
    return _BATCH_SQL


def _marks(n: int) -> str:
    return ", ".join(["%s"] * n)


def room_messages_send_batch(*, items: list[dict]) -> list[tuple[bool, object, list]]:
    """Group commit: store several messages (each a ``room_message_send`` keyword dict, plus an
    optional ``check`` callable run first, e.g. a rate limit) in one transaction with a fixed
    number of statements, whatever the batch size: rooms + participants (room rows locked, in
    room-id order in every batch and process: no lock-order deadlocks), the rooms' last ``seq``,
    already stored ``client_id``s, one multi-row INSERT, one UPDATE of the senders' last message
    time (+ one clearing torch warnings, when any).  Plain SQL through Django's connection cursor
    (same statements the ORM would send, without its per-object cost).

    Returns, per item, ``(True, (message, created), events)`` or ``(False, exception, [])``; a
    room's messages are numbered in arrival order.  If the transaction fails as a whole, every
    item is retried on its own.  The caller sends ``events`` (``(user_ids, message)``) after this
    returns (they are about committed state)."""
    now = clock.now()
    results: list = [None] * len(items)
    pending: list[int] = []
    for i, item in enumerate(items):
        try:
            if item.get("check"):
                item["check"]()
            items[i] = {**item, "body": body_clean(item["body"]), "check": None}
            pending.append(i)
        except ApplicationError as exc:
            results[i] = (False, exc, [])
    if not pending:
        return results
    later: list[int] = []
    sql = _batch_sql()
    P, R, M = sql["P"], sql["R"], sql["M"]
    prep_room = Room._meta.pk.get_db_prep_value
    prep_time = RoomMessage._meta.get_field("created_at").get_db_prep_value
    try:
        with transaction.atomic(), connection.cursor() as cur:
            user_ids = list({items[i]["user_id"] for i in pending})
            lock = f" FOR UPDATE OF {R}" if connection.features.has_select_for_update_of else ""
            cur.execute(
                f"SELECT {P}.id, {P}.room_id, {P}.user_id, {P}.torch_deadline, {R}.status, {R}.ends_at, "
                f"{R}.grace_deadline FROM {P} INNER JOIN {R} ON ({R}.id = {P}.room_id) "
                f"WHERE {P}.room_id IN (SELECT q.room_id FROM {P} q WHERE q.user_id IN ({_marks(len(user_ids))}) "
                f"AND q.live = %s) ORDER BY {P}.room_id, {P}.id{lock}",
                [*user_ids, True],
            )
            rooms: dict = {}
            by_room: dict = {}
            by_user: dict = {}
            for pk, room_id, user_id, torch_deadline, status, ends_at, grace_deadline in cur.fetchall():
                room_id = _uuid(room_id)
                room = rooms.get(room_id)
                if room is None:
                    room = rooms[room_id] = _RoomRow(room_id, status, _aware(ends_at), _aware(grace_deadline))
                p = _PartRow(pk, room_id, user_id, _aware(torch_deadline), room)
                by_room.setdefault(room_id, []).append(p)
                by_user[user_id] = p
            overdue = {rid for rid, ps in by_room.items() if _overdue_reason(rooms[rid], ps, now)}
            todo = []
            for i in pending:
                me = by_user.get(items[i]["user_id"])
                if me is None:
                    results[i] = (False, errors.NotInRoom(), [])
                elif me.room_id in overdue:
                    later.append(i)  # ended by room_message_send on its own, after this commit
                else:
                    todo.append(i)
            if todo:
                room_ids = list({by_user[items[i]["user_id"]].room_id for i in todo})
                room_params = [prep_room(r, connection) for r in room_ids]
                cur.execute(
                    f"SELECT room_id, MAX(seq) FROM {M} WHERE room_id IN ({_marks(len(room_ids))}) GROUP BY room_id",
                    room_params,
                )
                seqs = {_uuid(r): last for r, last in cur.fetchall()}
                senders_ = list({items[i]["user_id"] for i in todo})
                cids = list({items[i]["client_id"] for i in todo})
                cur.execute(
                    f"SELECT id, room_id, sender_id, client_id, seq, body, created_at, body_purged_at FROM {M} "
                    f"WHERE room_id IN ({_marks(len(room_ids))}) AND sender_id IN ({_marks(len(senders_))}) "
                    f"AND client_id IN ({_marks(len(cids))})",
                    [*room_params, *senders_, *cids],
                )
                stored = {(_uuid(r[1]), r[2], r[3]): r for r in cur.fetchall()}
                new: dict = {}  # key → [index, seq, id]
                dup_of: dict[int, tuple] = {}
                for i in todo:
                    it = items[i]
                    me = by_user[it["user_id"]]
                    key = (me.room_id, me.user_id, it["client_id"])
                    if key in stored:
                        m_id, _, _, cid, seq, body, created_at, purged_at = stored[key]
                        results[i] = (True, (message_payload(
                            message_id=m_id, seq=seq, room_id=me.room_id, sender_public_id=it["sender_public_id"],
                            client_id=cid, body=body, created_at=_aware(created_at), purged=purged_at is not None,
                        ), False), [])
                    elif key in new:
                        dup_of[i] = key  # the same message twice in one batch
                    else:
                        seq = (seqs.get(me.room_id) or 0) + 1
                        seqs[me.room_id] = seq
                        new[key] = [i, seq, None]
                if new:
                    when = prep_time(now, connection)
                    params: list = []
                    for (room_id, user_id, client_id), (i, seq, _) in new.items():
                        params += [prep_room(room_id, connection), user_id, client_id, items[i]["body"], when, seq]
                    cur.execute(
                        f'INSERT INTO {M} ("room_id", "sender_id", "client_id", "body", "created_at", "seq") '
                        f"VALUES {', '.join(['(%s, %s, %s, %s, %s, %s)'] * len(new))} "
                        f'RETURNING "id", "room_id", "sender_id", "client_id"',
                        params,
                    )
                    # Neither PostgreSQL nor SQLite promises RETURNING rows in VALUES order: each
                    # row says whose it is, by the unique key it was inserted under.
                    returned = cur.fetchall()
                    for m_id, room_id, user_id, client_id in returned:
                        new[(_uuid(room_id), user_id, client_id)][2] = m_id
                    if len(returned) != len(new) or any(entry[2] is None for entry in new.values()):
                        raise RuntimeError("the chat batch INSERT did not return every row")  # → one by one
                    senders = {by_user[items[i]["user_id"]] for i, _, _ in new.values()}
                    cur.execute(
                        f"UPDATE {P} SET last_message_at = %s WHERE id IN ({_marks(len(senders))})",
                        [prep_time(now, connection), *[p.pk for p in senders]],
                    )
                    warned = {p.user_id for p in senders if p.torch_deadline is not None}
                    if warned:
                        pks = [p.pk for p in senders if p.user_id in warned]
                        cur.execute(
                            f"UPDATE {P} SET torch_warned_at = NULL, torch_deadline = NULL WHERE id IN ({_marks(len(pks))})",
                            pks,
                        )
                    told: set[int] = set()
                    for (room_id, user_id, client_id), (i, seq, m_id) in new.items():
                        it = items[i]
                        notices = []
                        if user_id in warned and user_id not in told:
                            told.add(user_id)
                            notices.append((
                                [p.user_id for p in by_room[room_id]],
                                events.room_inactivity_cleared(room_id=str(room_id), user=str(it["sender_public_id"])),
                            ))
                        message = message_payload(
                            message_id=m_id, seq=seq, room_id=room_id, sender_public_id=it["sender_public_id"],
                            client_id=client_id, body=it["body"], created_at=now,
                        )
                        results[i] = (True, (message, True), notices)
                for i, key in dup_of.items():
                    first = results[new[key][0]][1][0]
                    results[i] = (True, ({**first, "sender": str(items[i]["sender_public_id"])}, False), [])
    except Exception:  # noqa: BLE001 - the batch failed as a whole (e.g. a lost connection): one by one
        for i in pending:
            results[i] = _single(items[i])
        return results
    for i in later:
        results[i] = _single(items[i])
    return results


def _single(item: dict):
    try:
        if item.get("check"):
            item["check"]()
        kwargs = {k: item[k] for k in ("user_id", "sender_public_id", "client_id", "body")}
        return (True, room_message_send(**kwargs), [])
    except Exception as exc:  # noqa: BLE001 - reported to that item's sender
        return (False, exc, [])


def _payload_of(m: RoomMessage, sender_public_id) -> dict:
    return message_payload(
        message_id=m.pk, seq=m.seq, room_id=m.room_id, sender_public_id=sender_public_id, client_id=m.client_id,
        body=m.body, created_at=m.created_at, purged=m.body_purged_at is not None,
    )


def _overdue_reason(room: Room, participants: list[RoomParticipant], now: datetime) -> str | None:
    from social.selectors import room_overdue

    reason = room_overdue(room=room, now=now)
    if reason:
        return reason
    if room.live and any(p.torch_deadline is not None and p.torch_deadline <= now for p in participants):
        return Room.EndReason.INACTIVITY
    return None


def _public_ids(participants: list[RoomParticipant]) -> dict[int, str]:
    from accounts.models import User

    return {pk: str(pid) for pk, pid in User.objects.filter(pk__in=[p.user_id for p in participants]).values_list("pk", "public_id")}


# --- replay / transcript reads -----------------------------------------------------------------
def room_messages_after_for_user(*, user_id: int, after_id: int = 0, limit: int | None = None) -> dict:
    """Messages of the user's live room with id > ``after_id``, in order (``NotInRoom`` without one)."""
    limit = limit or settings.ROOM_REPLAY_LIMIT
    room_id = RoomParticipant.objects.filter(user_id=user_id, live=True).values_list("room_id", flat=True).first()
    if room_id is None:
        raise errors.NotInRoom()
    rows = list(
        RoomMessage.objects.filter(room_id=room_id, id__gt=after_id)
        .select_related("sender")
        .only("id", "seq", "room_id", "client_id", "body", "created_at", "body_purged_at", "sender__public_id")
        .order_by("id")[: limit + 1]
    )
    return {
        "room_id": str(room_id),
        "messages": [_payload_of(m, m.sender.public_id) for m in rows[:limit]],
        "has_more": len(rows) > limit,
    }


def room_messages_queryset(*, room_id):
    return RoomMessage.objects.filter(room_id=room_id).select_related("sender")


# --- the torch rule ------------------------------------------------------------------------------
def torch_sweep(*, now: datetime | None = None, limit: int = 500) -> dict:
    """Finalise the torch rule's deadlines and start warnings (idempotent, any number of sweepers).

    1. a participant's ``torch_deadline`` passed → the room ends with reason ``inactivity``;
    2. a participant of a live text room silent for ``TORCH_IDLE_SECONDS`` and not yet warned →
       warned now, deadline now + ``TORCH_WARNING_SECONDS``; both get ``room.inactivity_warning``.
    """
    from social.services import _end_locked

    now = now or clock.now()
    counts = {"torch_ended": 0, "torch_warned": 0}
    due = list(
        RoomParticipant.objects.filter(live=True, torch_deadline__lte=now).values_list("room_id", flat=True).distinct()[:limit]
    )
    for room_id in due:
        with transaction.atomic():
            room = Room.objects.select_for_update(skip_locked=True).filter(pk=room_id, status__in=Room.LIVE).first()
            if room is None:
                continue
            participants = list(RoomParticipant.objects.filter(room=room))
            reason = _overdue_reason(room, participants, now)
            if reason:
                _end_locked(room, reason=reason, actor_id=None, now=now)
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
            room = Room.objects.select_for_update(skip_locked=True).filter(pk=room_id, status__in=Room.LIVE).first()
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
