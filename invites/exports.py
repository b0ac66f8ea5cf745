"""Invite codes as CSV rows: one format for the admin's batch download and ``manage.py invitecodes``."""

from __future__ import annotations

from invites import services
from invites.models import InviteCode

CSV_COLUMNS = ["code", "kind", "max_uses", "uses", "uses_left", "expires_at", "is_active", "batch", "note",
               "join_link", "created_at"]


def code_row(c: InviteCode) -> list:
    return [
        c.code, c.kind, "" if c.max_uses is None else c.max_uses, c.uses,
        "unlimited" if c.uses_left is None else c.uses_left,
        c.expires_at.isoformat() if c.expires_at else "", c.is_active, c.batch, c.note,
        services.join_link(c.code), c.created_at.isoformat(),
    ]
