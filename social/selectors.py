"""Social reads.  Signatures below are contracts other apps call (filled in by the realtime core issue)."""

from __future__ import annotations


def completed_calls_count(*, user_id: int) -> int:
    """How many session completions (calls that lasted at least the minimum) the user has."""
    return 0
