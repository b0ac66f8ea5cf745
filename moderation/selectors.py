"""Moderation reads.

Ban checks are hot (every API request, every socket auth, every queue listing), so the active bans
are one versioned table each process holds a copy of (``_ban_table``); every ban change writes a new
version now and again after commit (``moderation.services``).  Expiry is compared on read with the
clock helper, so a cached temporary ban lifts itself on time without any job or invalidation.
"""

from __future__ import annotations

import ipaddress
import time
import uuid
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection
from django.db.models import Case, Count, IntegerField, OuterRef, Q, QuerySet, Subquery, Value, When
from django.db.models.functions import Coalesce

from config import cacheaside, clock, net
from config.nearcache import NearCache
from moderation.models import Appeal, Ban, IpBan, Report
from social.selectors import room_live_count

# --- user bans -----------------------------------------------------------------------------------
def ban_active_qs(*, now: datetime | None = None) -> QuerySet[Ban]:
    now = now or clock.now()
    return Ban.objects.filter(lifted_at__isnull=True).filter(Q(expires_at__isnull=True) | Q(expires_at__gt=now))


def effective_ban(rows: list[dict]) -> dict | None:
    """Of several overlapping active bans, the one that lasts longest decides."""
    if not rows:
        return None
    permanent = [r for r in rows if r["expires_at"] is None]
    if permanent:
        best = max(permanent, key=lambda r: r["created_at"])
    else:
        best = max(rows, key=lambda r: r["expires_at"])
    return {"until": best["expires_at"], "reason": best["reason"]}


# The active user bans, as one table: every socket auth and authenticated API call asks "is this
# user banned?", and active bans are few, so each process keeps the table it last read and checks
# it against a shared version token (near-cached: a new token is pushed to every process before the
# change that wrote it returns).  A ban change writes a NEW token (now, and again after commit); a
# reader stores the table it loaded under the token it read BEFORE loading, so a table read from
# before a change can only ever sit under a token nobody reads any more.  Asking about a user this
# process has never seen costs nothing more than asking about one it has.
BAN_VERSION_KEY = "ban:ver"
_BAN_TABLE_KEY = "ban:table:"
_ban_version = NearCache(BAN_VERSION_KEY)
# (version, table, when read by the clock's monotonic time), replaced as one object
_ban_local: tuple[str | None, dict[int, dict], float] = (None, {}, 0.0)


def ban_table_version_new() -> str:
    """A fresh version token (``moderation.services`` writes one on every ban change)."""
    return uuid.uuid4().hex


def _ban_table_from_db() -> dict[int, dict]:
    rows: dict[int, list[dict]] = {}
    for row in ban_active_qs().order_by().values("user_id", "expires_at", "reason", "created_at"):
        rows.setdefault(row["user_id"], []).append(row)
    return {uid: effective_ban(found) for uid, found in rows.items()}


def _ban_table() -> dict[int, dict]:
    """``{user id: effective ban}`` for every user with an active ban (temporary bans that ran
    out meanwhile are filtered by the reader).  No I/O while this process holds the current
    version, read less than ``MODERATION_BAN_CACHE_SECONDS`` ago; else one cache read, or one
    query on a miss.  While Redis is unreachable, or with that setting at 0: one query."""
    global _ban_local
    ttl = settings.MODERATION_BAN_CACHE_SECONDS
    if ttl <= 0:  # no copies at all (e.g. processes that share no cache)
        return _ban_table_from_db()
    version = _ban_version.get(BAN_VERSION_KEY)
    if version is None:
        if cacheaside.add(BAN_VERSION_KEY, ban_table_version_new(), timeout=None) is None:
            return _ban_table_from_db()  # Redis unreachable: no shared version to hang a copy on
        version = _ban_version.get(BAN_VERSION_KEY)
        if version is None:
            return _ban_table_from_db()
    local, now = _ban_local, clock.monotonic()
    if local[0] == version and now - local[2] < ttl:
        return local[1]
    table = cacheaside.get(_BAN_TABLE_KEY + version)
    if table is None:
        table = _ban_table_from_db()
        cacheaside.set(_BAN_TABLE_KEY + version, table, timeout=ttl)
    _ban_local = (version, table, now)
    return table


def _still_active(entry, now: datetime) -> dict | None:
    if entry is None:
        return None
    if entry["until"] is not None and entry["until"] <= now:
        return None  # expired: lifts itself, cached or not
    return {"until": entry["until"], "reason": entry["reason"]}


def user_ban_active(*, user_id: int) -> dict | None:
    """The active ban of a user as ``{"until": datetime|None, "reason": str}``, or None.

    ``until`` None means permanent.  Usually no I/O (``_ban_table``).
    """
    return _still_active(_ban_table().get(user_id), clock.now())


def ban_ends_all() -> dict[int, datetime | None]:
    """Every banned user and when their ban ends (None: permanent; the longest ban decides, as in
    the ban table).  One query; active bans are few.  The queue's rebuild
    (``realtime.selectors.queue_rebuild``)."""
    return {uid: ban["until"] for uid, ban in _ban_table_from_db().items()}


def banned_user_ids(*, user_ids) -> set[int]:
    """Which of ``user_ids`` are banned right now (``_ban_table``: usually no I/O)."""
    table = _ban_table()
    if not table:
        return set()
    now = clock.now()
    return {int(uid) for uid in user_ids if _still_active(table.get(int(uid)), now) is not None}


def user_permanently_banned(*, user_id: int) -> bool:
    """True when the account has an active permanent ban (its USC card may not sign up again)."""
    return ban_active_qs().filter(user_id=user_id, expires_at__isnull=True).exists()


def email_permanently_banned(*, email: str) -> bool:
    """True when ``email`` belonged to an account at the time it was banned permanently."""
    email = (email or "").strip().lower()
    if not email:
        return False
    return ban_active_qs().filter(banned_email__iexact=email, expires_at__isnull=True).exists()


def ban_list_for_user(*, user_id: int) -> QuerySet[Ban]:
    return Ban.objects.filter(user_id=user_id).select_related("created_by", "lifted_by").order_by("-created_at")


# --- IP bans -------------------------------------------------------------------------------------
# The shared cache holds a version token and, under that token, the list of active bans.  Each
# process keeps the list it last parsed (an index by prefix length) with the token it came from, so
# a check is one small cache read and a few set lookups, however many networks are banned.  A ban
# change deletes the token: every process reloads (one query for the first one, a cache read for
# the others).  Process memory is only a copy, always checked against the shared token.
IP_BANS_VERSION_KEY = "ipban:ver"
_IP_BANS_LIST_KEY = "ipban:list:"
_local: tuple[str | None, dict] = (None, {})  # (version, index), replaced as one object: threads read it unlocked
# When this process last compared its copy with the shared version token.  Within
# IP_BAN_RECHECK_SECONDS the copy is used as is: the check is then pure CPU (no cache read, no thread
# hop at the ASGI edge), and a change made on another process takes effect here within that time.
# Changes made by this process take effect at once (``ip_ban_local_forget``).
_checked_at = 0.0


def _ip_ban_entries_from_db() -> list[dict]:
    now = clock.now()
    return [
        {"id": b.pk, "network": b.network, "until": b.expires_at}
        for b in IpBan.objects.filter(lifted_at__isnull=True).filter(Q(expires_at__isnull=True) | Q(expires_at__gt=now))
    ]


def _ip_ban_state() -> tuple[str, list[dict] | None]:
    """(version token, entries or None when this process already holds that version)."""
    # While Redis is unreachable the reads miss and the fills are skipped: the list comes from the
    # database once per IP_BAN_RECHECK_SECONDS per process (config/cacheaside.py).
    version = cacheaside.get(IP_BANS_VERSION_KEY)
    if version is not None:
        if version == _local[0]:
            return version, None
        entries = cacheaside.get(_IP_BANS_LIST_KEY + version)
        if entries is not None:
            return version, entries
    entries = _ip_ban_entries_from_db()
    version = uuid.uuid4().hex
    ttl = settings.MODERATION_BAN_CACHE_SECONDS
    cacheaside.set(_IP_BANS_LIST_KEY + version, entries, timeout=ttl + 60)
    cacheaside.set(IP_BANS_VERSION_KEY, version, timeout=ttl)
    return version, entries


def _build_index(entries: list[dict]) -> dict:
    index: dict[tuple[int, int], dict[int, list[dict]]] = {}
    for entry in entries:
        net = ipaddress.ip_network(entry["network"], strict=False)
        shift = net.max_prefixlen - net.prefixlen
        index.setdefault((net.version, net.prefixlen), {}).setdefault(
            int(net.network_address) >> shift, []
        ).append(entry)
    return index


def ip_ban_index_fresh() -> bool:
    """True when ``ip_ban_match`` will answer from process memory alone (no I/O)."""
    return _local[0] is not None and time.monotonic() - _checked_at < settings.IP_BAN_RECHECK_SECONDS


def ip_ban_local_forget() -> None:
    """Make the next check in this process compare with the shared version token."""
    global _checked_at
    _checked_at = 0.0


def _current_index() -> dict:
    global _local, _checked_at
    if ip_ban_index_fresh():
        return _local[1]
    version, entries = _ip_ban_state()
    _checked_at = time.monotonic()
    if entries is None:
        return _local[1]
    index = _build_index(entries)
    _local = (version, index)
    return index


def ip_ban_list() -> list[dict]:
    """Active IP bans (from the shared cache; one query on a miss)."""
    return [e for buckets in _current_index().values() for group in buckets.values() for e in group]


def ip_bans_exist() -> bool:
    """Whether any IP ban is active (the edge skips working out the client's address when none is)."""
    return bool(_current_index())


def _address(ip: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    addr = net.ip_address(ip)
    if addr is not None and addr.version == 6 and addr.ipv4_mapped is not None:
        addr = addr.ipv4_mapped  # ::ffff:203.0.113.5 is 203.0.113.5
    return addr


def ip_ban_match(*, ip: str | None) -> dict | None:
    """The active IP ban covering ``ip``, or None.  Cost: one cache read, no query on a hit."""
    if not ip:
        return None
    index = _current_index()
    if not index:
        return None
    addr = _address(ip)
    if addr is None:
        return None
    now = clock.now()
    value = int(addr)
    for (version, prefixlen), buckets in index.items():
        if version != addr.version:
            continue
        for entry in buckets.get(value >> (addr.max_prefixlen - prefixlen), ()):
            if entry["until"] is None or entry["until"] > now:  # expired ones lift themselves
                return entry
    return None


# --- reports -------------------------------------------------------------------------------------
OUTCOME_TEXT = {
    (Report.Status.OPEN, ""): "We received your report and are reviewing it.",
    (Report.Status.RESOLVED, Report.Action.BAN_24H): "We reviewed your report and suspended the account.",
    (Report.Status.RESOLVED, Report.Action.BAN_7D): "We reviewed your report and suspended the account.",
    (Report.Status.RESOLVED, Report.Action.BAN_PERMANENT): "We reviewed your report and banned the account.",
    (Report.Status.RESOLVED, Report.Action.WARNED): "We reviewed your report and warned the account.",
    (Report.Status.RESOLVED, Report.Action.NO_ACTION): "We reviewed your report; no action was needed.",
    (Report.Status.DISMISSED, Report.Action.NO_ACTION): "We reviewed your report and found no rule was broken.",
}


def report_outcome_text(report: Report) -> str:
    if report.status == Report.Status.OPEN:
        return OUTCOME_TEXT[(Report.Status.OPEN, "")]
    return OUTCOME_TEXT.get((report.status, report.action_taken), "We reviewed your report.")


def report_list_for_reporter(*, reporter) -> QuerySet[Report]:
    return Report.objects.filter(reporter=reporter).select_related("reported").order_by("-created_at")


def report_queue() -> QuerySet[Report]:
    """The moderators' queue: open first, automatic bans on top, then oldest first; each row with
    the count of other reports against the same user."""
    prior = (
        Report.objects.filter(reported=OuterRef("reported"))
        .exclude(pk=OuterRef("pk"))
        .order_by()
        .values("reported")
        .annotate(n=Count("pk"))
        .values("n")
    )
    status_rank = Case(When(status=Report.Status.OPEN, then=Value(0)), default=Value(1), output_field=IntegerField())
    return (
        Report.objects.select_related("reporter", "reported", "assigned_to")
        .annotate(prior_reports=Coalesce(Subquery(prior), 0), status_rank=status_rank)
        .order_by("status_rank", "-auto_banned", "created_at")
    )


def distinct_reporters_since(*, reported_id: int, since: datetime) -> int:
    return (
        Report.objects.filter(reported_id=reported_id, created_at__gte=since)
        .exclude(status=Report.Status.DISMISSED)
        .values("reporter_id")
        .distinct()
        .count()
    )


# --- dashboard -----------------------------------------------------------------------------------
def db_table_stats() -> list[dict]:
    """The seeds' “db stats”: per table, rows and size.  PostgreSQL: from its statistics (row
    counts are the planner's estimates, no table scans).  SQLite: exact counts."""
    rows: list[dict] = []
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "SELECT relname, n_live_tup, pg_total_relation_size(relid) FROM pg_stat_user_tables "
                "ORDER BY pg_total_relation_size(relid) DESC, relname"
            )
            for name, count, size in cursor.fetchall():
                rows.append({"table": name, "rows": int(count), "bytes": int(size)})
            return rows
        for name in sorted(connection.introspection.table_names(cursor)):
            cursor.execute(f"SELECT COUNT(*) FROM {connection.ops.quote_name(name)}")  # noqa: S608 (introspected names)
            count = cursor.fetchone()[0]
            size = None
            if connection.vendor == "sqlite":
                try:
                    cursor.execute("SELECT SUM(pgsize) FROM dbstat WHERE name = %s", [name])
                    size = cursor.fetchone()[0]
                except Exception:  # dbstat is an optional SQLite extension
                    size = None
            rows.append({"table": name, "rows": int(count), "bytes": size})
    return rows


def dashboard_stats() -> dict:
    from presence import online_user_count

    now = clock.now()
    return {
        "users_online": online_user_count(),
        "live_rooms": room_live_count(),
        "open_reports": Report.objects.filter(status=Report.Status.OPEN).count(),
        "auto_banned_open_reports": Report.objects.filter(status=Report.Status.OPEN, auto_banned=True).count(),
        "bans_last_24h": Ban.objects.filter(created_at__gte=now - timedelta(hours=24)).count(),
        "active_bans": ban_active_qs(now=now).values("user_id").distinct().count(),
        "active_ip_bans": IpBan.objects.filter(lifted_at__isnull=True).filter(
            Q(expires_at__isnull=True) | Q(expires_at__gt=now)
        ).count(),
        "tables": db_table_stats(),
        "database_vendor": connection.vendor,
        "generated_at": now,
    }


def user_export_data(*, user_id: int) -> dict:
    """This app's part of ``GET /api/me/export``: reports the user filed (with their outcome, never
    the moderator) and bans on the account."""
    reports = Report.objects.filter(reporter_id=user_id).select_related("reported").order_by("created_at")
    bans = Ban.objects.filter(user_id=user_id).order_by("created_at")
    return {
        "reports_filed": [
            {
                "id": r.pk,
                "reported_user_id": str(r.reported.public_id),
                "category": r.category,
                "details": r.details,
                "room_id": str(r.room_id) if r.room_id else None,
                "status": r.status,
                "outcome": report_outcome_text(r),
                "created_at": r.created_at,
            }
            for r in reports
        ],
        "bans": [
            {"reason": b.reason, "created_at": b.created_at, "expires_at": b.expires_at, "lifted_at": b.lifted_at}
            for b in bans
        ],
        # warnings and appeals are the user's own record (moderator notes are not theirs to see)
        "warnings": _warnings_export(user_id),
        "appeals": [_appeal_export(a) for a in Appeal.objects.filter(user_id=user_id).order_by("created_at")],
    }


def _warnings_export(user_id: int) -> list[dict]:
    from moderation.strikes import strikes_for_user

    return strikes_for_user(user_id=user_id)


def _appeal_export(appeal) -> dict:
    from moderation.strikes import appeal_payload

    return appeal_payload(appeal)
