"""Who may join and how they vouch for each other.

Everything here is durable (database): invite codes and their redemptions, referral intro links
and the notifications they produce, USC card registrations and every scan attempt.  Counters that
must not overshoot under concurrency (``InviteCode.uses``) are changed only by conditional
``UPDATE`` statements in ``invites.services`` and guarded by check constraints.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import F, Q


class InviteCode(models.Model):
    class Kind(models.TextChoices):
        USER = "user", "User (earned)"
        ADMIN = "admin", "Admin"

    code = models.CharField(max_length=16, unique=True)
    kind = models.CharField(max_length=8, choices=Kind.choices)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="invite_codes"
    )
    # NULL = unlimited (admin codes only; see the check constraint).
    max_uses = models.PositiveIntegerField(null=True, blank=True)
    uses = models.PositiveIntegerField(default=0)
    expires_at = models.DateTimeField(null=True, blank=True)
    is_active = models.BooleanField(default=True)
    batch = models.CharField(max_length=64, blank=True, default="", db_index=True)
    note = models.CharField(max_length=200, blank=True, default="")
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(max_uses__isnull=True) | Q(uses__lte=F("max_uses")), name="invites_code_uses_within_max"
            ),
            models.CheckConstraint(
                condition=Q(kind="admin") | Q(max_uses__isnull=False), name="invites_code_unlimited_only_admin"
            ),
            # One earned code per user: unlocking twice concurrently can't mint two.
            models.UniqueConstraint(
                fields=["created_by"], condition=Q(kind="user"), name="invites_code_one_earned_per_user"
            ),
        ]

    def __str__(self) -> str:
        return self.code

    @property
    def uses_left(self) -> int | None:
        return None if self.max_uses is None else max(0, self.max_uses - self.uses)


class InviteRedemption(models.Model):
    """One account joined with one code.  ``code.created_by`` is who invited ``user``."""

    code = models.ForeignKey(InviteCode, on_delete=models.PROTECT, related_name="redemptions")
    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="invite_redemption")
    redeemed_at = models.DateTimeField()
    ip = models.GenericIPAddressField(null=True, blank=True)

    class Meta:
        ordering = ["-redeemed_at", "-id"]

    def __str__(self) -> str:
        return f"{self.code} → user #{self.user_id}"


class ReferralLink(models.Model):
    """An intro link: "``created_by`` wants ``target`` to meet whoever signs up through this"."""

    token = models.CharField(max_length=32, unique=True)
    target = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="referrals_targeting")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="referrals_made")
    created_at = models.DateTimeField()
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"intro {self.token} → user #{self.target_id}"


class ReferralNotification(models.Model):
    """"``introducer`` introduced ``referred_user`` to you" — sent to the link's target."""

    recipient = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications")
    link = models.ForeignKey(ReferralLink, on_delete=models.CASCADE, related_name="notifications")
    introducer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    referred_user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="referred_via")
    created_at = models.DateTimeField()
    read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            # A new account is introduced through at most one link.
            models.UniqueConstraint(fields=["referred_user"], name="invites_referral_once_per_user"),
        ]
        indexes = [models.Index(fields=["recipient", "read_at"])]

    def __str__(self) -> str:
        return f"intro of #{self.referred_user_id} to #{self.recipient_id}"


class UscCardRegistration(models.Model):
    """A USC card bound to one account.  The student ID is kept only as a keyed hash + last 4."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="usc_card")
    card_hash = models.CharField(max_length=64, unique=True)
    last4 = models.CharField(max_length=4)
    registered_at = models.DateTimeField()
    ip = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=300, blank=True, default="")

    class Meta:
        ordering = ["-registered_at", "-id"]
        verbose_name = "USC card registration"

    def __str__(self) -> str:
        return f"card …{self.last4} (user #{self.user_id})"


class UscScanAttempt(models.Model):
    """Every scan, successful or not (lockout counts failures from here: survives restarts)."""

    class Failure(models.TextChoices):
        FORMAT = "format", "Unreadable / wrong format"
        TAKEN = "taken", "Registered to another account"
        BANNED = "banned", "Tied to a banned account"
        LOCKED_OUT = "locked_out", "Locked out"

    created_at = models.DateTimeField()
    ip = models.GenericIPAddressField(null=True, blank=True)
    device_id = models.CharField(max_length=100, blank=True, default="")
    user_agent = models.CharField(max_length=300, blank=True, default="")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="usc_scan_attempts"
    )
    success = models.BooleanField()
    failure_reason = models.CharField(max_length=16, choices=Failure.choices, blank=True, default="")
    card_hash = models.CharField(max_length=64, blank=True, default="")
    last4 = models.CharField(max_length=4, blank=True, default="")

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "USC scan attempt"
        indexes = [
            models.Index(fields=["ip", "created_at"]),
            models.Index(fields=["device_id", "created_at"]),
        ]

    def __str__(self) -> str:
        return f"scan {'ok' if self.success else self.failure_reason} from {self.ip}"
