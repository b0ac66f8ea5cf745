"""Invites reads.  Signatures below are contracts other apps call (filled in by the growth issue)."""

from __future__ import annotations


def queue_priority_user_ids(*, user_id: int) -> list[int]:
    """Users to show first in ``user_id``'s queue when available (the targets of referral intros)."""
    return []
