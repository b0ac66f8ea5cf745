from __future__ import annotations

from django.conf import settings
from django.db import models


class AuditLog(models.Model):
    """Append-only record of security events and moderator actions.

    Written by ``audit.services.audit_record`` inside the same transaction as the change it
    describes.  ``target_label`` is a readable copy of the target so the entry still reads well
    after the target is deleted.  The table keeps the name it had when the model lived in
    ``moderation`` (moved by a state-only migration: no row moved).
    """

    class ActorType(models.TextChoices):
        USER = "user", "User"
        MODERATOR = "moderator", "Moderator"
        SYSTEM = "system", "System"

    created_at = models.DateTimeField(db_index=True)
    actor_type = models.CharField(max_length=16, choices=ActorType.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor_label = models.CharField(max_length=200, blank=True, default="")
    action = models.CharField(max_length=64, db_index=True)
    target_type = models.CharField(max_length=64, blank=True, default="")
    target_id = models.CharField(max_length=64, blank=True, default="")
    target_label = models.CharField(max_length=200, blank=True, default="")
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)

    class Meta:
        db_table = "moderation_auditlog"
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["target_type", "target_id"], name="moderation__target__f4e8ea_idx")]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M:%S} {self.actor_label or self.actor_type} {self.action} {self.target_label}"
