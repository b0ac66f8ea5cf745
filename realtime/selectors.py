"""Realtime reads: the queue read model.

The queue is what a user sees when looking for someone to call: the users present and available
(``presence``) minus blocks, bans (``moderation``), cooldowns and live rooms (``social``), referral
intros (``invites``) first.  It reads every app below realtime, so it lives here, above them.
"""

from __future__ import annotations

import json
from datetime import datetime

from django.conf import settings
from django.db import connection

import presence
from accounts.location import distance_buckets_for_viewer, nearest_first
from accounts.models import User
from accounts.selectors import CARD_FIELDS, user_card_from_values
from config import clock
from invites import selectors as invite_selectors
from moderation import selectors as moderation_selectors
from moderation.models import Ban
from social import selectors as social_selectors
from social.models import Block, Cooldown, RoomParticipant


def _viewer_exclusions_sql() -> str:
    """The viewer's own exclusions in one statement: blocks either way (no end) and cooldowns in
    force (with their end).  Tens of rows per user, whatever the queue length."""
    block, cooldown = Block._meta.db_table, Cooldown._meta.db_table
    return f"""
        SELECT user_high_id, until FROM {cooldown} WHERE user_low_id = %(me)s AND until > %(now)s
        UNION ALL SELECT user_low_id, until FROM {cooldown} WHERE user_high_id = %(me)s AND until > %(now)s
        UNION ALL SELECT blocked_id, NULL FROM {block} WHERE blocker_id = %(me)s
        UNION ALL SELECT blocker_id, NULL FROM {block} WHERE blocked_id = %(me)s
    """


def _viewer_exclusions(user_id: int) -> tuple[set[int], dict[int, datetime]]:
    """``(blocked either way, {user in cooldown with me: until})``: one query."""
    blocked: set[int] = set()
    cooling: dict[int, datetime] = {}
    with connection.cursor() as cursor:
        cursor.execute(
            _viewer_exclusions_sql(), {"me": user_id, "now": connection.ops.adapt_datetimefield_value(clock.now())}
        )
        for uid, until in cursor.fetchall():
            if until is None:
                blocked.add(uid)
            else:
                cooling[uid] = _aware(until)
    return blocked, cooling


def queue_rebuild() -> bool:
    """Rebuild the queue's derived structure (``presence.queue``) from presence and the database:
    users in a live room, active bans (two queries, O(live rooms + bans)).  Retries when a room or
    ban change lands meanwhile; the last try applies anyway (the page check below covers it)."""
    for attempt in range(3):
        generation = presence.queue_generation() if attempt < 2 else None
        in_room = social_selectors.live_participant_user_ids_all()
        bans = moderation_selectors.ban_ends_all()
        if presence.queue_rebuild(
            in_room=in_room, bans={uid: (t.timestamp() if t else None) for uid, t in bans.items()}, generation=generation
        ):
            return True
    return False


_CARD_COLUMNS = ("id", *CARD_FIELDS)


def _page_users_sql(vendor: str) -> str:
    """The page's candidates with the database's word on each: account usable, in a live room,
    banned (the rule of ``moderation.selectors.ban_active_qs``).  One statement; the ids as one
    array parameter (PostgreSQL) or JSON (SQLite), not one placeholder per id."""
    ids = "u.id = ANY(%(ids)s::bigint[])" if vendor == "postgresql" else "u.id IN (SELECT value FROM json_each(%(ids)s))"
    user, part, ban = User._meta.db_table, RoomParticipant._meta.db_table, Ban._meta.db_table
    cols = ", ".join(f"u.{User._meta.get_field(f).column}" for f in _CARD_COLUMNS)
    return f"""
        SELECT {cols}, (u.is_active AND u.deleted_at IS NULL) AS usable,
          EXISTS (SELECT 1 FROM {part} p WHERE p.user_id = u.id AND p.live) AS in_room,
          EXISTS (SELECT 1 FROM {ban} b WHERE b.user_id = u.id AND b.lifted_at IS NULL
                  AND (b.expires_at IS NULL OR b.expires_at > %(now)s)) AS banned
        FROM {user} u WHERE {ids}
    """


def _page_users(ids: list[int]) -> tuple[dict[int, dict], list[int]]:
    """The page's candidates that the database still allows (one query): their cards, and the ids
    a stale derived entry let through (in a live room, banned, deactivated or deleted), which are
    corrected in the derived structure on the way."""
    if not ids:
        return {}, []
    now = clock.now()
    pg = connection.vendor == "postgresql"
    params = {"ids": ids if pg else json.dumps(ids), "now": connection.ops.adapt_datetimefield_value(now)}
    cards, in_room, banned = {}, [], []
    convert = []  # what the ORM's compiler does to a column (UUID on SQLite, JSON, ...)
    for i, name in enumerate(_CARD_COLUMNS):
        field = User._meta.get_field(name)
        col = field.get_col(User._meta.db_table)
        for fn in connection.ops.get_db_converters(col) + field.get_db_converters(connection):
            convert.append((i, fn, col))
    with connection.cursor() as cursor:
        cursor.execute(_page_users_sql(connection.vendor), params)
        rows = cursor.fetchall()
    n = len(_CARD_COLUMNS)
    for row in rows:
        uid, (usable, live, ban) = row[0], row[n:]
        if live:
            in_room.append(uid)
        elif ban:
            banned.append(uid)
        elif usable:
            values = list(row[:n])
            for i, fn, col in convert:
                values[i] = fn(values[i], col, connection)
            cards[uid] = user_card_from_values(dict(zip(_CARD_COLUMNS, values)))
    gone = [uid for uid in ids if uid not in cards and uid not in in_room and uid not in banned]
    if in_room:
        presence.queue_room_enter(user_ids=in_room)
    for uid in banned:  # its end is the rebuild's to know; until then, out
        presence.queue_ban_set(user_id=uid, until=now.timestamp() + settings.QUEUE_REBUILD_SECONDS)
    presence.queue_forget(user_ids=gone)
    return cards, in_room + banned + gone


def queue_list_for_user(
    *, user_id: int, offset: int = 0, limit: int = 50, include_cooldown: bool = False, nearby: bool = False
) -> tuple[int, list[dict]]:
    """Available users for ``user_id``: ``(total, page)`` where each entry is
    ``{"card": user card (accounts.selectors.user_card), "cooldown_until": datetime|None,
    "distance": bucket|None}``.

    Excludes: me, users I blocked or who blocked me, users in a live room, banned users,
    deactivated or deleted accounts, users I skipped this visit and (unless ``include_cooldown``)
    users in cooldown with me.  Referral intros (``invites.selectors.queue_priority_user_ids``)
    come first, then the most recently active.

    The shared part (available, minus live rooms, minus bans, ordered) is precomputed
    (``presence.queue``); per call the work is O(page + my exclusions), not O(queue): my blocks and
    cooldowns (one query), my intros (one query), one walk of the shared sorted set skipping my
    exclusions (one Redis script, which also gives ``total``), then the page's users, checked
    against the database (one query: a stale derived entry is never shown, and is corrected), and
    their distance buckets (one query).  Four queries whatever the queue length; a page that the
    check shortened is filled again (a stale structure only).

    With ``nearby``, after the referral intros the users with a live location come nearest first
    (``accounts.location.nearest_first``): this opt-in mode reads the whole filtered queue, O(queue).
    """
    blocked, cooling = _viewer_exclusions(user_id)
    excluded = {user_id, *blocked, *([] if include_cooldown else cooling)}
    priority = invite_selectors.queue_priority_user_ids(user_id=user_id)
    want_offset, want_limit = (0, 10**6) if nearby else (offset, limit)
    total, cards, ids = 0, {}, []
    for _attempt in range(4):
        got = presence.queue_page(user_id=user_id, excluded=excluded, priority=priority, offset=want_offset, limit=want_limit)
        if got is None:
            queue_rebuild()
            continue
        total, ids = got
        if nearby:
            prio = set(priority)
            first = [uid for uid in ids if uid in prio]
            ids = (first + nearest_first(viewer_id=user_id, user_ids=[uid for uid in ids if uid not in prio]))[
                offset : offset + limit
            ]
        cards, stale = _page_users(ids)
        if not stale:
            break
        # the structure was stale for these: they are out of it now; the walk fills the page again
        excluded.update(stale)
        total -= len(stale)
    ids = [uid for uid in ids if uid in cards]
    distances = distance_buckets_for_viewer(viewer_id=user_id, user_ids=ids)
    page = [
        {"card": cards[uid], "cooldown_until": cooling.get(uid), "distance": distances.get(uid)}
        for uid in ids
    ]
    return total, page


def _aware(value):
    """A timestamp from raw SQL as the ORM would return it (SQLite gives text)."""
    if value is None or isinstance(value, datetime):
        return value
    from datetime import timezone

    from django.utils.dateparse import parse_datetime

    parsed = parse_datetime(value)  # stored in UTC (USE_TZ)
    return parsed.replace(tzinfo=timezone.utc) if parsed is not None and parsed.tzinfo is None else parsed
