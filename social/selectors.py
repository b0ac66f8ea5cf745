"""Social reads.  ``completed_calls_count(s)`` are a contract the invites app calls."""

from __future__ import annotations

import uuid
from datetime import datetime

from django.db import connection
from django.db.models import Count, Q, QuerySet

from accounts.models import User
from config import clock
from config.errors import NotFound
from social.models import Block, CallHistory, Cooldown, Room, RoomMessage, RoomParticipant, SessionCompletion


def completed_calls_count(*, user_id: int) -> int:
    """How many session completions (calls that lasted at least the minimum) the user has."""
    return SessionCompletion.objects.filter(user_id=user_id).count()


def completed_calls_counts(*, user_ids) -> dict[int, int]:
    """``completed_calls_count`` for several users at once (one query; users with none are absent)."""
    rows = SessionCompletion.objects.filter(user_id__in=list(user_ids)).values("user_id").annotate(n=Count("id"))
    return dict(rows.values_list("user_id", "n"))


def user_ids_by_public_ids(*, public_ids) -> dict:
    """public id → internal id for live accounts (one query)."""
    rows = User.objects.filter(public_id__in=list(public_ids), is_active=True, deleted_at__isnull=True)
    return {pid: pk for pid, pk in rows.values_list("public_id", "pk")}


def room_id_live_for_user(*, user_id: int) -> uuid.UUID | None:
    """The id of the user's live room (active or grace), whatever its deadlines say (callers
    enforce them: ``Room.overdue_reason``).  One indexed query, through the connection's cursor:
    every socket's connect and close asks (a connect burst's profile, issue 20, had the ORM's
    per-query cost here at ~7 % of the server's CPU); at most one row (the
    ``social_one_live_room_per_user`` constraint)."""
    with connection.cursor() as cursor:
        cursor.execute(_LIVE_ROOM_SQL, [user_id, True])
        row = cursor.fetchone()
    return Room._meta.pk.to_python(row[0]) if row else None


_LIVE_ROOM_SQL = (
    f"SELECT room_id FROM {RoomParticipant._meta.db_table} WHERE user_id = %s AND live = %s LIMIT 1"
)


def room_ids_live_for_users(*, user_ids) -> dict[int, uuid.UUID]:
    """``room_id_live_for_user`` for several users at once: user id → live room id, for those in
    one.  One statement whatever the number of users (a reconnect storm's batches ask)."""
    ids = list(dict.fromkeys(user_ids))
    if not ids:
        return {}
    with connection.cursor() as cursor:
        cursor.execute(_LIVE_ROOMS_SQL.format(marks=", ".join(["%s"] * len(ids))), [*ids, True])
        rows = cursor.fetchall()
    to_python = Room._meta.pk.to_python
    return {user_id: to_python(room_id) for user_id, room_id in rows}


_LIVE_ROOMS_SQL = (
    f"SELECT user_id, room_id FROM {RoomParticipant._meta.db_table} WHERE user_id IN ({{marks}}) AND live = %s"
)


def room_live_for_user(*, user_id: int) -> Room | None:
    """The user's live room itself (see ``room_id_live_for_user``)."""
    part = RoomParticipant.objects.live_for(user_id).select_related("room").first()
    return part.room if part else None


def room_live_count() -> int:
    """Rooms currently live (active or in grace): the moderation dashboard and the metrics gauge."""
    return Room.objects.live().count()


def live_room_user_ids(*, user_ids) -> set[int]:
    """Those of ``user_ids`` who are in a live room."""
    return set(RoomParticipant.objects.live_for(*user_ids).values_list("user_id", flat=True))


def live_participant_user_ids_all() -> list[int]:
    """Every user in a live room (one query over the partial index; the queue's rebuild)."""
    return list(RoomParticipant.objects.filter(live=True).values_list("user_id", flat=True))


def cooldown_until(*, user_id: int, other_id: int) -> datetime | None:
    low, high = Cooldown.pair(user_id, other_id)
    return (
        Cooldown.objects.filter(user_low_id=low, user_high_id=high, until__gt=clock.now())
        .values_list("until", flat=True)
        .first()
    )


def blocked_either_way(*, user_id: int, other_id: int) -> bool:
    return Block.objects.filter(
        Q(blocker_id=user_id, blocked_id=other_id) | Q(blocker_id=other_id, blocked_id=user_id)
    ).exists()


def cooldowns_for_user(*, user_id: int) -> QuerySet[Cooldown]:
    now = clock.now()
    return (
        Cooldown.objects.filter(Q(user_low_id=user_id) | Q(user_high_id=user_id), until__gt=now)
        .select_related("user_low", "user_high")
        .order_by("until", "id")
    )


def history_for_user(*, user_id: int) -> QuerySet[CallHistory]:
    return CallHistory.objects.filter(user_id=user_id).select_related("partner")


def blocks_for_user(*, user_id: int) -> QuerySet[Block]:
    return Block.objects.filter(blocker_id=user_id).select_related("blocked").order_by("-created_at", "-id")


# --- the queue ------------------------------------------------------------------------------------
def user_export_data(*, user_id: int) -> dict:
    """This app's part of ``GET /api/me/export`` (data about ``user_id`` only)."""
    now = clock.now()
    return {
        "call_history": [
            {
                "partner_id": str(h.partner.public_id),
                "partner_name": h.partner.name,
                "mode": h.mode,
                "started_at": h.started_at,
                "ended_at": h.ended_at,
                "duration_seconds": h.duration_seconds,
                "end_reason": h.end_reason,
            }
            for h in history_for_user(user_id=user_id).order_by("-created_at", "-id")
        ],
        "cooldowns": [
            {"with_user_id": str((c.user_high if c.user_low_id == user_id else c.user_low).public_id), "until": c.until}
            for c in cooldowns_for_user(user_id=user_id)
        ],
        "blocks": [
            {"user_id": str(b.blocked.public_id), "created_at": b.created_at} for b in blocks_for_user(user_id=user_id)
        ],
        "completed_calls": completed_calls_count(user_id=user_id),
        "transcripts": transcripts_for_export(user_id=user_id),
        "live_room": _live_room_export(user_id=user_id, now=now),
    }


def _live_room_export(*, user_id: int, now: datetime) -> dict | None:
    room = room_live_for_user(user_id=user_id)
    if room is None or room.overdue_reason(now):  # past a deadline: not live, whatever the row says yet
        return None
    return {"room_id": str(room.pk), "mode": room.mode, "started_at": room.started_at, "ends_at": room.ends_at}


# --- in the room: transcripts, evidence -----------------------------------------------------------
def _uuid_or_none(value) -> uuid.UUID | None:
    try:
        return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))
    except (ValueError, TypeError, AttributeError):
        return None


def transcript_room_id_for_user(*, user_id: int, history_id: int | None = None, room_id=None) -> uuid.UUID:
    """The room whose transcript ``user_id`` may read — by their history entry or by the room id.
    ``NotFound`` (404) for anybody who was not a participant: the room's existence is not revealed."""
    if history_id is not None:
        found = CallHistory.objects.filter(pk=history_id, user_id=user_id).values_list("room_id", flat=True).first()
    else:
        rid = _uuid_or_none(room_id)
        found = (
            RoomParticipant.objects.filter(room_id=rid, user_id=user_id).values_list("room_id", flat=True).first()
            if rid
            else None
        )
    if found is None:
        raise NotFound("No such conversation.")
    return found


def room_messages_for_transcript(*, room_id) -> QuerySet[RoomMessage]:
    return RoomMessage.objects.filter(room_id=room_id).select_related("sender").only(
        "id", "seq", "room_id", "client_id", "body", "created_at", "body_purged_at", "sender__public_id", "sender__name"
    )


def message_row(m: RoomMessage) -> dict:
    return {
        "id": m.pk,
        "seq": m.seq,
        "sender": str(m.sender.public_id),
        "body": m.body,
        "created_at": m.created_at.isoformat(),
        "purged": m.body_purged_at is not None,
    }


def room_evidence_for_reporter(*, room_id, reporter) -> dict:
    """A JSON snapshot of a room for a report by ``reporter`` (who must have been in it): mode,
    start, duration, both users (public ids and names), the last 50 messages, end reason.
    ``NotFound`` when the room doesn't exist or the reporter was not a participant."""
    rid = _uuid_or_none(room_id)
    room = Room.objects.filter(pk=rid).first() if rid else None
    participants = list(RoomParticipant.objects.filter(room_id=rid).select_related("user").order_by("id")) if room else []
    reporter_id = getattr(reporter, "pk", reporter)
    if room is None or reporter_id not in {p.user_id for p in participants}:
        raise NotFound("No such room (or you were not in it).")
    now = clock.now()
    if room.status == Room.Status.ENDED:
        duration = (
            CallHistory.objects.filter(room=room).values_list("duration_seconds", flat=True).first()
            if room.ended_at
            else None
        )
        if duration is None:
            duration = max(0, int((min(room.ended_at or now, room.ends_at) - room.started_at).total_seconds()))
    else:
        duration = room.call_seconds(now)
    last = list(room_messages_for_transcript(room_id=room.pk).order_by("-id")[:50])[::-1]
    return {
        "room_id": str(room.pk),
        "mode": room.mode,
        "status": room.status,
        "started_at": room.started_at.isoformat(),
        "ended_at": room.ended_at.isoformat() if room.ended_at else None,
        "duration_seconds": duration,
        "end_reason": room.end_reason or None,
        "participants": [
            {"id": str(p.user.public_id), "name": p.user.name, "is_reporter": p.user_id == reporter_id}
            for p in participants
        ],
        "messages": [{**message_row(m), "sender_name": m.sender.name} for m in last],
        "captured_at": now.isoformat(),
    }


def transcripts_for_export(*, user_id: int) -> list[dict]:
    """Every room the user took part in that has messages, with its messages (both sides'), oldest first."""
    room_ids = list(RoomParticipant.objects.filter(user_id=user_id).values_list("room_id", flat=True))
    by_room: dict = {}
    rows = (
        RoomMessage.objects.filter(room_id__in=room_ids)
        .select_related("sender", "room")
        .order_by("room__started_at", "room_id", "id")
    )
    for m in rows:
        entry = by_room.setdefault(
            m.room_id, {"room_id": str(m.room_id), "mode": m.room.mode, "started_at": m.room.started_at, "messages": []}
        )
        entry["messages"].append({**message_row(m), "from_you": m.sender_id == user_id})
    return list(by_room.values())
