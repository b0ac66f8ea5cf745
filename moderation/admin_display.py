"""How the admin shows evidence and audit values to a person: times in the current time zone
(``settings.TIME_ZONE`` unless a moderator's zone is activated) without microseconds, user names
beside their ids, "—" instead of ``None``, and audit before/after as ``field: old → new``.

Pure formatting: reads user names (one query per page) and nothing else."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
import re
from datetime import datetime, timezone as dt_timezone

from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

EMPTY = "—"

# Audit keys whose values are user ids (a single id or a list of them).
USER_KEYS = frozenset({"user_id", "assigned_to", "reported_user_id", "source_user_id", "invited_by",
                       "referred_user_id", "actor_id", "author_id"})
LABELS = {"until": "until", "ban_id": "ban", "warning_id": "warning", "appeal_id": "appeal", "report_id": "report",
          "note_id": "note", "reported_user_id": "reported user", "source_user_id": "source user",
          "referred_user_id": "referred user", "user_id": "user", "assigned_to": "assigned to",
          "open_reports": "open reports", "duration_seconds": "duration", "room_id": "room", "is_staff": "staff", "is_superuser": "superuser", "is_active": "active"}


def when(value, *, seconds: bool = True) -> str:
    """A moment as ``2026-11-22 11:00:05 CET`` in the current time zone; "—" for nothing.
    Accepts datetimes and ISO-8601 strings (what evidence snapshots and audit JSON hold)."""
    if value in (None, ""):
        return EMPTY
    if isinstance(value, str):
        parsed = _parse_moment(value)
        if parsed is None:
            return value
        value = parsed
    if timezone.is_naive(value):
        value = timezone.make_aware(value, dt_timezone.utc)
    local = timezone.localtime(value)
    return f"{local:%Y-%m-%d %H:%M:%S} {local.tzname()}" if seconds else f"{local:%Y-%m-%d %H:%M} {local.tzname()}"


_MOMENT = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}")


def _parse_moment(text: str) -> datetime | None:
    if not _MOMENT.match(text):
        return None
    try:
        return parse_datetime(text)
    except ValueError:
        return None


def duration(value) -> str:
    """Seconds as ``3 min 4 s``."""
    try:
        total = int(value)
    except (TypeError, ValueError):
        return plain(value)
    minutes, secs = divmod(total, 60)
    hours, minutes = divmod(minutes, 60)
    if hours:
        return f"{hours} h {minutes} min {secs} s"
    return f"{minutes} min {secs} s" if minutes else f"{secs} s"


def plain(value, names: Mapping[int, str] | None = None, *, user: bool = False) -> str:
    """One value as text: "—" for None/empty, yes/no for booleans, local times for ISO strings,
    ``Name (#id)`` for user ids (``user=True``), lists joined with commas."""
    if value is None or value == "" or value == []:
        return EMPTY
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (list, tuple)):
        return ", ".join(plain(v, names, user=user) for v in value)
    if isinstance(value, dict):
        return "; ".join(f"{label(k)}: {plain(v, names, user=k in USER_KEYS)}" for k, v in value.items())
    if user and isinstance(value, int) and not isinstance(value, bool):
        name = (names or {}).get(value)
        return f"{name} (#{value})" if name else f"user #{value}"
    if isinstance(value, datetime):
        return when(value)
    if isinstance(value, str) and _parse_moment(value) is not None:
        return when(value)
    return str(value)


def label(key: str) -> str:
    return LABELS.get(key) or key.removesuffix("_id").replace("_", " ")


def user_ids_in(entries: Iterable) -> set[int]:
    """Every user id mentioned under a user key of the entries' before/after."""
    ids: set[int] = set()
    for entry in entries:
        for data in (entry.before, entry.after):
            for key, value in (data or {}).items() if isinstance(data, dict) else ():
                if key not in USER_KEYS:
                    continue
                for v in value if isinstance(value, (list, tuple)) else [value]:
                    if isinstance(v, int) and not isinstance(v, bool):
                        ids.add(v)
    return ids


def user_names(ids: Iterable[int]) -> dict[int, str]:
    from django.contrib.auth import get_user_model

    ids = set(ids)
    if not ids:
        return {}
    return dict(get_user_model().objects.filter(pk__in=ids).values_list("pk", "name"))


def changes(before, after, names: Mapping[int, str] | None = None) -> list[tuple[str, str, str | None]]:
    """``(field, old, new)`` per key; ``old`` is None when "before" doesn't have the key (a
    creation, or a value only the result has), so it reads ``field: new``."""
    before = before if isinstance(before, dict) else ({} if before is None else {"value": before})
    after = after if isinstance(after, dict) else ({} if after is None else {"value": after})
    rows = []
    for key in [*before, *(k for k in after if k not in before)]:
        is_user = key in USER_KEYS
        old = plain(before[key], names, user=is_user) if key in before else None
        new = plain(after.get(key), names, user=is_user) if key in after else None
        rows.append((label(key), old, new))
    return rows


def changes_html(before, after, names: Mapping[int, str] | None = None) -> SafeString:
    rows = changes(before, after, names)
    if not rows:
        return format_html("{}", EMPTY)
    items = []
    for key, old, new in rows:
        if old is None:
            items.append(format_html("<li><strong>{}</strong>: {}</li>", key, new))
        elif new is None:
            items.append(format_html("<li><strong>{}</strong>: {}</li>", key, old))
        elif old == new:
            items.append(format_html("<li><strong>{}</strong>: {} (unchanged)</li>", key, new))
        else:
            items.append(format_html("<li><strong>{}</strong>: {} → {}</li>", key, old, new))
    return format_html('<ul class="audit-changes">{}</ul>', format_html_join("", "{}", ((i,) for i in items)))


def changes_text(before, after, names: Mapping[int, str] | None = None) -> str:
    parts = []
    for key, old, new in changes(before, after, names):
        if old is None or new is None:
            parts.append(f"{key}: {new if old is None else old}")
        else:
            parts.append(f"{key}: {old} → {new}" if old != new else f"{key}: {new}")
    return "; ".join(parts) or EMPTY
