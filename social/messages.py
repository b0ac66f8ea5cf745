"""Room chat (writes and reads), on the room core in ``social.services``.

Rules enforced here:
- a message is committed before it is acknowledged; its id and timestamp come from the server;
- ``(room, sender, client_id)`` is unique: a resend returns the stored message, never a second row;
- inserts take the room's row lock, so ids grow in commit order within a room and a replay of
  "everything after id N" never skips a message that committed late;
- a message records its sender's ``last_message_at`` and clears their torch warning (the torch
  rule's warnings and deadline are the room core's: ``social.services.torch_sweep``);
- a message to a room past a deadline (``Room.overdue_reason``) ends the room instead.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from datetime import timezone as dt_timezone

from django.conf import settings
from django.db import connection, transaction
from django.utils.dateparse import parse_datetime

from config import clock, events
from config.errors import ApplicationError
from social import errors
from social.models import Room, RoomMessage, RoomParticipant
from social.selectors import room_id_live_for_user
from social.services import room_end


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
# One path: a single message (``room_message_send``) is a batch of one (``room_messages_send_batch``);
# the chat writer (``realtime.signaling``) group-commits bigger batches through the same statements.
def room_message_send(*, user_id: int, sender_public_id, client_id: str, body: str) -> tuple[dict, bool]:
    """Store a chat message from ``user_id`` in their live room; returns ``(message, created)``.

    ``created`` is False for a resend of a ``client_id`` already stored (the stored message is
    returned, nobody is told twice).  ``NotInRoom`` without a live room (also when a deadline of
    the room passed: it is ended now — deadlines are enforced on read).  A message from a warned
    participant clears their torch warning (both are told ``room.inactivity_cleared``, after commit)."""
    [(ok, value, notices)] = room_messages_send_batch(
        items=[{"user_id": user_id, "sender_public_id": sender_public_id, "client_id": client_id, "body": body}]
    )
    if not ok:
        raise value
    for user_ids, event in notices:
        events.send_after_commit(users=user_ids, message=event)
    return value


class _RoomRow:
    """The room columns the batch reads, with ``Room``'s own ``live`` and ``overdue_reason``."""

    __slots__ = ("pk", "status", "ends_at", "grace_deadline")
    LIVE, Status, EndReason = Room.LIVE, Room.Status, Room.EndReason
    live = Room.live
    overdue_reason = Room.overdue_reason

    def __init__(self, pk, status, ends_at, grace_deadline):
        self.pk, self.status, self.ends_at, self.grace_deadline = pk, status, ends_at, grace_deadline


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


# One VALUES row per new message: room, sender, client id, body, time, position in the batch.
# PostgreSQL types the columns from the first row, so they are cast; SQLite takes them as they come.
_ROW = {"postgresql": "(%s::uuid, %s::bigint, %s::varchar, %s::text, %s::timestamptz, %s::integer)"}


def _insert_new_sql(M: str, rows: int) -> str:
    """One statement stores every new message of the batch: ``seq`` = the room's last + the
    message's rank among the batch's new messages of that room, computed by the statement itself
    after the room rows are locked (so it sees every earlier commit); rows whose
    ``(room, sender, client_id)`` is already stored are left out before ranking (a resend leaves
    no gap in ``seq``).  Joins, not per-row subqueries (measured: those cost PostgreSQL ~5 ms a
    batch of 64).  ``RETURNING`` says which rows went in, under which id and seq."""
    row = _ROW.get(connection.vendor, "(%s, %s, %s, %s, %s, %s)")
    return (
        f"WITH v (room_id, sender_id, client_id, body, created_at, pos) AS (VALUES {', '.join([row] * rows)}), "
        f"last (room_id, seq) AS (SELECT room_id, MAX(seq) FROM {M} WHERE room_id IN (SELECT room_id FROM v) "
        f"GROUP BY room_id) "
        f'INSERT INTO {M} ("room_id", "sender_id", "client_id", "body", "created_at", "seq") '
        f"SELECT v.room_id, v.sender_id, v.client_id, v.body, v.created_at, "
        f"COALESCE(last.seq, 0) + ROW_NUMBER() OVER (PARTITION BY v.room_id ORDER BY v.pos) "
        f"FROM v LEFT JOIN last ON last.room_id = v.room_id "
        f"LEFT JOIN {M} s ON s.room_id = v.room_id AND s.sender_id = v.sender_id AND s.client_id = v.client_id "
        f"WHERE s.id IS NULL ORDER BY v.pos "
        f'RETURNING "id", "room_id", "sender_id", "client_id", "seq"'
    )


def room_messages_send_batch(*, items: list[dict]) -> list[tuple[bool, object, list]]:
    """Store several messages (each a ``room_message_send`` keyword dict, plus an optional
    ``check`` callable run first, e.g. a rate limit) in one transaction with a fixed number of
    statements, whatever the batch size: rooms + participants (room rows locked, in room-id order
    in every batch and process: no lock-order deadlocks), one INSERT of the new messages
    (``_insert_new_sql``), one UPDATE of the senders' last message time (+ one clearing torch
    warnings, when any; + one read of the stored messages, when any item is a resend).  Plain SQL
    through Django's connection cursor (the ORM's statements, without its per-object cost).

    Returns, per item, ``(True, (message, created), events)`` or ``(False, exception, [])``; a
    room's messages are numbered in arrival order.  Items in a room past a deadline get
    ``NotInRoom`` and the room is ended after the batch commits (its own transaction).  If the
    transaction fails as a whole, every item of a bigger batch is retried alone (a batch of one).
    The caller sends ``events`` (``(user_ids, message)``) after this returns (they are about
    committed state)."""
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
    try:
        stored, overdue = _store(items, pending, now)
    except Exception as exc:  # noqa: BLE001 - the batch failed as a whole (e.g. a lost connection)
        if len(pending) == 1:
            results[pending[0]] = (False, exc, [])
            return results
        for i in pending:
            results[i] = _single(items[i])
        return results
    for i, result in stored.items():
        results[i] = result
    for (room_id, reason), waiting in overdue.items():
        try:
            room_end(room_id=room_id, reason=reason)  # deadlines are enforced on read
            outcome = (False, errors.NotInRoom(), [])
        except Exception as exc:  # noqa: BLE001 - reported to those items' senders
            outcome = (False, exc, [])
        for i in waiting:
            results[i] = outcome
    return results


def _single(item: dict):
    """An item of a batch that failed as a whole, retried alone."""
    return room_messages_send_batch(items=[item])[0]


def _store(items: list[dict], pending: list[int], now: datetime) -> tuple[dict, dict]:
    """The batch's transaction: ``({index: result}, {(room_id, reason): [index, …]})`` — the
    second for the items whose room is past a deadline (nothing written for them)."""
    results: dict = {}
    overdue: dict = {}
    sql = _batch_sql()
    P, R, M = sql["P"], sql["R"], sql["M"]
    prep_room = Room._meta.pk.get_db_prep_value
    prep_time = RoomMessage._meta.get_field("created_at").get_db_prep_value
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
        reasons = {rid: rooms[rid].overdue_reason(now, ps) for rid, ps in by_room.items()}
        new: dict = {}  # (room_id, user_id, client_id) → [index, seq, id]; arrival order
        dup_of: dict[int, tuple] = {}
        for i in pending:
            me = by_user.get(items[i]["user_id"])
            if me is None:
                results[i] = (False, errors.NotInRoom(), [])
            elif reasons[me.room_id]:
                overdue.setdefault((me.room_id, reasons[me.room_id]), []).append(i)
            else:
                key = (me.room_id, me.user_id, items[i]["client_id"])
                if key in new:
                    dup_of[i] = key  # the same message twice in one batch
                else:
                    new[key] = [i, None, None]
        if not new:
            return results, overdue
        when = prep_time(now, connection)
        params: list = []
        for pos, ((room_id, user_id, client_id), (i, _, _)) in enumerate(new.items()):
            params += [prep_room(room_id, connection), user_id, client_id, items[i]["body"], when, pos]
        cur.execute(_insert_new_sql(M, len(new)), params)
        # Neither PostgreSQL nor SQLite promises RETURNING rows in VALUES order: each row says
        # whose it is, by the unique key it was inserted under.
        for m_id, room_id, user_id, client_id, seq in cur.fetchall():
            entry = new[(_uuid(room_id), user_id, client_id)]
            entry[1], entry[2] = seq, m_id
        resent = [key for key, entry in new.items() if entry[2] is None]
        if resent:  # already stored before this batch: the stored message, nobody told twice
            room_ids = list({key[0] for key in resent})
            senders_ = list({key[1] for key in resent})
            cids = list({key[2] for key in resent})
            cur.execute(
                f"SELECT id, room_id, sender_id, client_id, seq, body, created_at, body_purged_at FROM {M} "
                f"WHERE room_id IN ({_marks(len(room_ids))}) AND sender_id IN ({_marks(len(senders_))}) "
                f"AND client_id IN ({_marks(len(cids))})",
                [*[prep_room(r, connection) for r in room_ids], *senders_, *cids],
            )
            rows = {(_uuid(r[1]), r[2], r[3]): r for r in cur.fetchall()}
            for key in resent:
                i = new[key][0]
                m_id, _, _, cid, seq, body, created_at, purged_at = rows[key]
                results[i] = (True, (message_payload(
                    message_id=m_id, seq=seq, room_id=key[0], sender_public_id=items[i]["sender_public_id"],
                    client_id=cid, body=body, created_at=_aware(created_at), purged=purged_at is not None,
                ), False), [])
        inserted = {key: entry for key, entry in new.items() if entry[2] is not None}
        if inserted:
            senders = {by_user[key[1]] for key in inserted}
            cur.execute(
                f"UPDATE {P} SET last_message_at = %s WHERE id IN ({_marks(len(senders))})",
                [when, *[p.pk for p in senders]],
            )
            warned = {p.user_id for p in senders if p.torch_deadline is not None}
            if warned:
                pks = [p.pk for p in senders if p.user_id in warned]
                cur.execute(
                    f"UPDATE {P} SET torch_warned_at = NULL, torch_deadline = NULL WHERE id IN ({_marks(len(pks))})",
                    pks,
                )
            told: set[int] = set()
            for (room_id, user_id, client_id), (i, seq, m_id) in inserted.items():
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
    return results, overdue


def _payload_of(m: RoomMessage, sender_public_id) -> dict:
    return message_payload(
        message_id=m.pk, seq=m.seq, room_id=m.room_id, sender_public_id=sender_public_id, client_id=m.client_id,
        body=m.body, created_at=m.created_at, purged=m.body_purged_at is not None,
    )


# --- replay / transcript reads -----------------------------------------------------------------
def room_messages_after_for_user(*, user_id: int, after_id: int = 0, limit: int | None = None) -> dict:
    """Messages of the user's live room with id > ``after_id``, in order (``NotInRoom`` without one)."""
    limit = limit or settings.ROOM_REPLAY_LIMIT
    room_id = room_id_live_for_user(user_id=user_id)
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
