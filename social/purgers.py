"""Retention for room chat (registered with ``config.purge``; run by ``manage.py purge``).

Message bodies are blanked — not the rows — ``PURGE_ROOM_MESSAGES_DAYS`` (default 30) after they
were sent, and only in ended rooms: the transcript keeps its shape (who wrote when) without the
words.  Reports keep their own evidence snapshot (``moderation``), taken when they were filed.
"""

from __future__ import annotations

from config import purge, clock
from social.models import Room, RoomMessage


def _blank(qs) -> int:
    return qs.update(body="", body_purged_at=clock.now())


@purge.register(
    "room_message_bodies",
    retention_setting="PURGE_ROOM_MESSAGES_DAYS",
    default_days=30,
    description="Bodies of room chat messages older than the retention (ended rooms), blanked",
    action=_blank,
)
def room_message_bodies(*, now, retention):
    return RoomMessage.objects.filter(
        created_at__lt=now - retention, body_purged_at__isnull=True, room__status=Room.Status.ENDED
    )
