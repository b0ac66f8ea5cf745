"""Presence (filled in by the realtime core issue).  ``online_user_count`` is a contract the
moderation dashboard calls."""

from __future__ import annotations


def online_user_count() -> int:
    return 0
