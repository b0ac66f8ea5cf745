"""Moderation reads.  Ban checks are hot (every request, every socket) and cached by the
moderation issue; these signatures are the contract other apps use."""

from __future__ import annotations


def user_ban_active(*, user_id: int) -> dict | None:
    """The active ban of a user as ``{"until": datetime|None, "reason": str}``, or None.

    Placeholder until the moderation issue lands: nobody is banned.
    """
    return None


def banned_user_ids(*, user_ids) -> set[int]:
    """Which of ``user_ids`` are banned right now (one query / cache read, never one per user)."""
    return set()
