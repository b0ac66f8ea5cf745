"""Social writes.  Signatures below are contracts other apps call (filled in by the realtime core issue)."""

from __future__ import annotations


def room_end_for_user(*, user_id: int, reason: str) -> None:
    """End the user's live room, if any, with ``reason`` (e.g. "ban"); the peer is told."""
    return None
