from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q


class Report(models.Model):
    """A user's report of another user, optionally about a room they shared (with evidence)."""

    class Category(models.TextChoices):
        HARASSMENT = "harassment", "Harassment"
        NUDITY = "nudity", "Nudity / sexual content"
        SPAM = "spam", "Spam / scam"
        UNDERAGE = "underage", "Underage"
        HATE = "hate", "Hate"
        VIOLENCE = "violence", "Violence"
        OTHER = "other", "Other"

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        RESOLVED = "resolved", "Resolved"
        DISMISSED = "dismissed", "Dismissed"

    class Action(models.TextChoices):
        NONE = "", "—"
        BAN_24H = "ban_24h", "Banned 24 hours"
        BAN_7D = "ban_7d", "Banned 7 days"
        BAN_PERMANENT = "ban_permanent", "Banned permanently"
        WARNED = "warned", "Warned"
        NO_ACTION = "no_action", "No action needed"

    reporter = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="reports_filed"
    )
    reported = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="reports_received"
    )
    category = models.CharField(max_length=16, choices=Category.choices)
    details = models.TextField(max_length=1000, blank=True, default="")
    # A ``social`` room; not a foreign key so moderation doesn't depend on social's schema.
    room_id = models.UUIDField(null=True, blank=True)
    # The seeds' ``reports.session_data``: a snapshot of the room taken when the report was filed.
    evidence = models.JSONField(null=True, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.OPEN)
    action_taken = models.CharField(max_length=16, choices=Action.choices, blank=True, default="")
    # Set on every open report of a user the system banned automatically: the queue shows them first.
    auto_banned = models.BooleanField(default=False)
    assigned_to = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(db_index=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["reporter", "reported", "room_id"],
                condition=Q(room_id__isnull=False),
                name="moderation_report_once_per_room",
            ),
            # Without a room: one open report per pair (a new one is possible after resolution).
            models.UniqueConstraint(
                fields=["reporter", "reported"],
                condition=Q(room_id__isnull=True, status="open"),
                name="moderation_report_once_open_without_room",
            ),
        ]
        indexes = [
            models.Index(fields=["status", "auto_banned", "created_at"]),
            models.Index(fields=["reported", "created_at"]),
        ]

    def __str__(self) -> str:
        return f"Report #{self.pk}: {self.get_category_display()} against {self.reported.name} (#{self.reported_id})"


class Ban(models.Model):
    """A user ban: temporary (``expires_at``) or permanent (no expiry).

    Active while not lifted and not expired; expiry is a timestamp compared on read, so a
    temporary ban lifts itself without any job.
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="bans")
    reason = models.CharField(max_length=500)
    created_at = models.DateTimeField()
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
        help_text="Empty: the system (automatic ban).",
    )
    expires_at = models.DateTimeField(null=True, blank=True, help_text="Empty: permanent.")
    automatic = models.BooleanField(default=False)
    report = models.ForeignKey(Report, null=True, blank=True, on_delete=models.SET_NULL, related_name="bans")
    # Copies of the identity at ban time, so a permanent ban keeps blocking the email after the
    # account is anonymised or changes address.
    banned_email = models.EmailField(max_length=254, blank=True, default="")
    lifted_at = models.DateTimeField(null=True, blank=True)
    lifted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    lift_reason = models.CharField(max_length=500, blank=True, default="")

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["user", "lifted_at"]),
            models.Index(fields=["banned_email"]),
            models.Index(fields=["created_at"]),
        ]
        permissions = [
            ("revoke_sessions", "Can revoke all sessions of a user"),
            ("view_dashboard", "Can view the moderation dashboard"),
        ]

    def __str__(self) -> str:
        kind = "permanent" if self.expires_at is None else f"until {self.expires_at:%Y-%m-%d %H:%M} UTC"
        return f"Ban #{self.pk} of user #{self.user_id} ({kind})"

    @property
    def permanent(self) -> bool:
        return self.expires_at is None

    def is_active(self, now) -> bool:
        return self.lifted_at is None and (self.expires_at is None or self.expires_at > now)


class IpBan(models.Model):
    """A network (CIDR, IPv4 or IPv6) refused on HTTP and WebSocket connect."""

    network = models.CharField(max_length=64, help_text="CIDR, e.g. 203.0.113.0/24 or 2001:db8::/48")
    reason = models.CharField(max_length=500)
    created_at = models.DateTimeField()
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    expires_at = models.DateTimeField(null=True, blank=True, help_text="Empty: no expiry.")
    source_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="ip_bans",
        help_text="Set when created by “ban this user's IPs”.",
    )
    lifted_at = models.DateTimeField(null=True, blank=True)
    lifted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "IP ban"
        indexes = [models.Index(fields=["lifted_at", "expires_at"])]

    def __str__(self) -> str:
        return f"IP ban {self.network}"

    def is_active(self, now) -> bool:
        return self.lifted_at is None and (self.expires_at is None or self.expires_at > now)


class ModeratorNote(models.Model):
    """One entry of the moderators' notes thread about a user (optionally written on a report of
    their case).  Append-only: notes are never edited or overwritten."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="moderation_notes")
    report = models.ForeignKey(Report, null=True, blank=True, on_delete=models.SET_NULL, related_name="notes")
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    author_label = models.CharField(max_length=200, blank=True, default="")
    text = models.TextField(max_length=5000)
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["user", "created_at"])]

    def __str__(self) -> str:
        return f"Note #{self.pk} on user #{self.user_id} by {self.author_label or 'system'}"


class WarningPreset(models.Model):
    """A ready-made warning text moderators pick from (editable in the admin)."""

    title = models.CharField(max_length=100, unique=True)
    text = models.TextField(max_length=2000)
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["title"]

    def __str__(self) -> str:
        return self.title


class Strike(models.Model):
    """A warning (strike) a moderator gave a user instead of, or before, a ban.  The user sees it
    (``GET /api/me/warnings``), acknowledges it, and may appeal it once within the window."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="strikes")
    text = models.TextField(max_length=2000)
    preset = models.ForeignKey(WarningPreset, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    report = models.ForeignKey(Report, null=True, blank=True, on_delete=models.SET_NULL, related_name="strikes")
    created_at = models.DateTimeField()
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    withdrawn_at = models.DateTimeField(null=True, blank=True)
    withdrawn_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    withdraw_reason = models.CharField(max_length=500, blank=True, default="")

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "warning"
        indexes = [models.Index(fields=["user", "created_at"])]

    def __str__(self) -> str:
        return f"Warning #{self.pk} to user #{self.user_id}"


class Appeal(models.Model):
    """A user's appeal of one ban or one warning: at most one per strike, within the window."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        APPROVED = "approved", "Approved"
        REJECTED = "rejected", "Rejected"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="appeals")
    ban = models.ForeignKey(Ban, null=True, blank=True, on_delete=models.PROTECT, related_name="appeals")
    strike = models.ForeignKey(Strike, null=True, blank=True, on_delete=models.PROTECT, related_name="appeals")
    text = models.TextField(max_length=2000)
    created_at = models.DateTimeField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    decided_at = models.DateTimeField(null=True, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    decision_reason = models.CharField(max_length=1000, blank=True, default="")

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["ban"], condition=Q(ban__isnull=False), name="moderation_appeal_once_per_ban"),
            models.UniqueConstraint(
                fields=["strike"], condition=Q(strike__isnull=False), name="moderation_appeal_once_per_strike"
            ),
            models.CheckConstraint(
                condition=(Q(ban__isnull=False) & Q(strike__isnull=True)) | (Q(ban__isnull=True) & Q(strike__isnull=False)),
                name="moderation_appeal_one_subject",
            ),
        ]
        indexes = [models.Index(fields=["status", "created_at"])]

    def __str__(self) -> str:
        subject = f"ban #{self.ban_id}" if self.ban_id else f"warning #{self.strike_id}"
        return f"Appeal #{self.pk} of {subject} ({self.get_status_display()})"


class CaseDigestSubscription(models.Model):
    """A moderator who asked for an e-mail digest of new cases (at most every
    ``MODERATION_DIGEST_MINUTES``).  ``last_sent_at`` is the cut-off of the last digest."""

    moderator = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                                     related_name="case_digest")
    created_at = models.DateTimeField()
    last_sent_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"case digest for user #{self.moderator_id}"
