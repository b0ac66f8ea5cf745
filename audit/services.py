"""The audit log's one writer.  Every app calls ``audit_record`` inside the transaction of the
change it records, so the entry commits or rolls back with it."""

from __future__ import annotations

from typing import Any

from django.db import models

from audit.models import AuditLog
from config import clock


def _actor_type(actor) -> str:
    if actor is None:
        return AuditLog.ActorType.SYSTEM
    if getattr(actor, "is_staff", False):
        return AuditLog.ActorType.MODERATOR
    return AuditLog.ActorType.USER


def audit_record(
    *,
    actor,
    action: str,
    target: models.Model | None = None,
    target_type: str = "",
    target_id: str | int = "",
    target_label: str = "",
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    ip: str | None = None,
) -> AuditLog:
    """Append one audit entry.  Call it inside the transaction of the change it records."""
    if target is not None:
        target_type = target_type or target._meta.label_lower
        target_id = target_id or target.pk
        target_label = target_label or str(target)
    return AuditLog.objects.create(
        created_at=clock.now(),
        actor_type=_actor_type(actor),
        actor=actor if actor is not None and getattr(actor, "pk", None) else None,
        actor_label=str(actor)[:200] if actor is not None else "system",
        action=action,
        target_type=target_type,
        target_id=str(target_id),
        target_label=target_label[:200],
        before=before,
        after=after,
        ip=ip,
    )
