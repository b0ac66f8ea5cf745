"""Realtime reads: the queue read model.

The queue is what a user sees when looking for someone to call: the users present and available
(``presence``) minus blocks, bans (``moderation``), cooldowns and live rooms (``social``), referral
intros (``invites``) first.  It reads every app below realtime, so it lives here, above them.
"""

from __future__ import annotations

import json
from datetime import datetime

from django.db import connection

import presence
from accounts.location import distance_buckets_for_viewer, nearest_first
from accounts.models import User
from config import clock
from invites import selectors as invite_selectors
from moderation import selectors as moderation_selectors
from social.models import Block, Cooldown, RoomParticipant


def _queue_sql(vendor: str) -> str:
    """One statement: the available candidates (an array, most recently active first) minus
    users in a live room, blocks either way, bans and (unless included) cooldowns; referral
    intros first; the window's total with the page.  PostgreSQL takes the arrays as arrays,
    SQLite as JSON (the embedded default: one process, small)."""
    if vendor == "postgresql":
        cands = "unnest(string_to_array(%(cands)s, ',')::bigint[]) WITH ORDINALITY AS c(id, ord)"
        prio = "unnest(%(prio)s::bigint[]) WITH ORDINALITY AS pr(id, pos)"
        banned = "c.id <> ALL(%(banned)s::bigint[])"
        skipped = "c.id <> ALL(%(skipped)s::bigint[])"
    else:
        cands = "(SELECT CAST(value AS INTEGER) AS id, key AS ord FROM json_each('[' || %(cands)s || ']')) AS c"
        prio = "(SELECT CAST(value AS INTEGER) AS id, key AS pos FROM json_each(%(prio)s)) AS pr"
        banned = "c.id NOT IN (SELECT CAST(value AS INTEGER) FROM json_each(%(banned)s))"
        skipped = "c.id NOT IN (SELECT CAST(value AS INTEGER) FROM json_each(%(skipped)s))"
    user, part = User._meta.db_table, RoomParticipant._meta.db_table
    block, cooldown = Block._meta.db_table, Cooldown._meta.db_table
    return f"""
        SELECT c.id, cd.until, COUNT(*) OVER () AS total
        FROM {cands}
        JOIN {user} u ON u.id = c.id AND u.is_active AND u.deleted_at IS NULL
        LEFT JOIN {cooldown} cd ON cd.until > %(now)s AND (
            (cd.user_low_id = %(me)s AND cd.user_high_id = c.id) OR (cd.user_high_id = %(me)s AND cd.user_low_id = c.id))
        LEFT JOIN {prio} ON pr.id = c.id
        WHERE c.id <> %(me)s AND {banned} AND {skipped}
          AND (%(include_cooldown)s OR cd.until IS NULL)
          AND NOT EXISTS (SELECT 1 FROM {part} p WHERE p.user_id = c.id AND p.live)
          AND NOT EXISTS (SELECT 1 FROM {block} b WHERE
                (b.blocker_id = %(me)s AND b.blocked_id = c.id) OR (b.blocked_id = %(me)s AND b.blocker_id = c.id))
        ORDER BY (pr.pos IS NULL), pr.pos, c.ord
        LIMIT %(limit)s OFFSET %(offset)s
    """


def queue_list_for_user(
    *, user_id: int, offset: int = 0, limit: int = 50, include_cooldown: bool = False, nearby: bool = False
) -> tuple[int, list[dict]]:
    """Available users for ``user_id``: ``(total, page)`` where each entry is
    ``{"user": User, "cooldown_until": datetime|None, "distance": bucket|None}``.

    With ``nearby``, after the referral intros the users with a live location come nearest
    first (``accounts.location.nearest_first``: one query, the distance computed by the database;
    this mode reads the whole filtered list, not only the page).

    Excludes: me, users I blocked or who blocked me, users in a live room, banned users,
    deactivated or deleted accounts, users I skipped this visit and (unless ``include_cooldown``)
    users in cooldown with me.  Referral intros (``invites.selectors.queue_priority_user_ids``)
    come first, then the most recently active.  A fixed number of queries whatever the queue
    length (active bans, intros, one statement for the filtering, ordering, total and page, the
    page's users, their distance buckets); the per-candidate work is in the database, not in
    Python (docs/REALTIME.md §6).
    """
    candidates = presence.available_user_ids_csv()  # most recently active first
    if not candidates or candidates == str(user_id):
        return 0, []
    skipped = sorted(presence.skipped_ids(user_id=user_id))
    banned = sorted(moderation_selectors.banned_user_ids_all())
    priority = invite_selectors.queue_priority_user_ids(user_id=user_id)
    pg = connection.vendor == "postgresql"
    params = {
        "cands": candidates,
        "skipped": skipped if pg else json.dumps(skipped),
        "prio": priority if pg else json.dumps(priority),
        "banned": banned if pg else json.dumps(banned),
        "me": user_id,
        "now": connection.ops.adapt_datetimefield_value(clock.now()),
        "include_cooldown": bool(include_cooldown),
        "limit": limit,
        "offset": offset,
    }
    if nearby:  # the whole filtered list, reordered by distance after the intros
        params.update(limit=10**9, offset=0)
    with connection.cursor() as cursor:
        cursor.execute(_queue_sql(connection.vendor), params)
        rows = cursor.fetchall()
    if nearby and rows:
        prio = set(priority)
        until = {uid: cd for uid, cd, _ in rows}
        first = [uid for uid, _, _ in rows if uid in prio]
        rest = nearest_first(viewer_id=user_id, user_ids=[uid for uid, _, _ in rows if uid not in prio])
        rows = [(uid, until[uid], len(until)) for uid in (first + rest)[offset : offset + limit]]
        if not rows:
            return len(until), []
    if not rows:
        if offset == 0 or nearby:
            return 0, []
        # past the end: the total still counts (one more, rare, query)
        params.update(limit=1, offset=0)
        with connection.cursor() as cursor:
            cursor.execute(_queue_sql(connection.vendor), params)
            first_row = cursor.fetchone()
        return (first_row[2] if first_row else 0), []
    total = rows[0][2]
    users = {
        u.pk: u
        for u in User.objects.filter(pk__in=[r[0] for r in rows]).only(
            "id", "public_id", "name", "gender", "bio", "instagram_handle", "instagram_posts", "photo",
            "intro_video", "account_type",
        )
    }
    distances = distance_buckets_for_viewer(viewer_id=user_id, user_ids=list(users))
    page = [
        {"user": users[uid], "cooldown_until": _aware(until), "distance": distances.get(uid)}
        for uid, until, _ in rows
        if uid in users
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
