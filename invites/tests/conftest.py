"""Fixtures for the invites tests.

``banned`` replaces only the ``moderation.selectors.user_ban_active`` contract; completed calls
are real (the root ``completed_calls`` fixture runs them through the room services).
"""

from __future__ import annotations

import pytest

from config import clock


@pytest.fixture
def make_code(db):
    from invites.models import InviteCode
    from invites.services import invite_code_generate

    def _make(max_uses=10, kind="admin", created_by=None, expires_at=None, is_active=True, **kw):
        return InviteCode.objects.create(
            code=invite_code_generate(), kind=kind, created_by=created_by, max_uses=max_uses,
            expires_at=expires_at, is_active=is_active, created_at=clock.now(), **kw,
        )

    return _make


@pytest.fixture
def banned(monkeypatch):
    """Mark users banned: ``banned.add(user.pk)``."""
    ids: set[int] = set()
    monkeypatch.setattr(
        "moderation.selectors.user_ban_active",
        lambda *, user_id: {"until": None, "reason": "test"} if user_id in ids else None,
    )
    return ids


@pytest.fixture
def closed_signup(settings):
    settings.OPEN_SIGNUP = False
    return settings

