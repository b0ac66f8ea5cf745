"""Durable social state: live rooms, their participants, and what a finished call leaves behind.

Every deadline of a room (timer end, grace deadline, connection lease) is a timestamp here, so
any process — or ``manage.py sweep`` — can finish what a dead process started.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from django.conf import settings
from django.db import models
from django.db.models import F, Q


class RoomQuerySet(models.QuerySet):
    def live(self) -> "RoomQuerySet":
        return self.filter(status__in=Room.LIVE)

    def overdue(self, *, now: datetime) -> "RoomQuerySet":
        """Live rooms whose timer or grace deadline has passed: ``Room.overdue_reason`` as a filter
        (the sweeper's; the torch deadline is the participants', swept apart)."""
        return self.filter(
            Q(status__in=Room.LIVE, ends_at__lte=now) | Q(status=Room.Status.GRACE, grace_deadline__lte=now)
        )


class RoomParticipantQuerySet(models.QuerySet):
    def live_for(self, *user_ids: int) -> "RoomParticipantQuerySet":
        """The participations of these users in their live room (at most one each: the
        ``social_one_live_room_per_user`` constraint)."""
        if len(user_ids) == 1:
            return self.filter(user_id=user_ids[0], live=True)
        return self.filter(user_id__in=user_ids, live=True)


class Room(models.Model):
    class Mode(models.TextChoices):
        VIDEO = "video", "Video"
        TEXT = "text", "Text"

    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        GRACE = "grace", "Grace (a participant is disconnected)"
        ENDED = "ended", "Ended"

    class EndReason(models.TextChoices):
        TIMER = "timer", "Timer ran out"
        USER = "user", "A participant ended it"
        DISCONNECT = "disconnect", "Disconnected past the grace period"
        BAN = "ban", "A participant was banned"
        ACCOUNT_DELETED = "account_deleted", "A participant deleted their account"
        INACTIVITY = "inactivity", "A participant stayed silent in a text room (torch rule)"

    LIVE = (Status.ACTIVE, Status.GRACE)

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    mode = models.CharField(max_length=8, choices=Mode.choices)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.ACTIVE)
    duration_seconds = models.PositiveIntegerField()
    started_at = models.DateTimeField()
    ends_at = models.DateTimeField(help_text="Timer deadline: started_at + duration.")
    grace_started_at = models.DateTimeField(null=True, blank=True)
    grace_deadline = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    end_reason = models.CharField(max_length=16, choices=EndReason.choices, blank=True, default="")
    ended_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    inviter = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")

    objects = RoomQuerySet.as_manager()

    class Meta:
        indexes = [
            models.Index(fields=["status", "grace_deadline"], name="social_room_grace_idx"),
            models.Index(fields=["status", "ends_at"], name="social_room_timer_idx"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=~Q(status="grace") | Q(grace_deadline__isnull=False), name="social_room_grace_has_deadline"
            ),
            models.CheckConstraint(condition=Q(ends_at__gt=F("started_at")), name="social_room_ends_after_start"),
        ]

    def __str__(self) -> str:
        return f"room {self.pk} ({self.mode}, {self.status})"

    @property
    def live(self) -> bool:
        return self.status in self.LIVE

    def call_seconds(self, until: datetime) -> int:
        """How long the call lasted up to ``until``: the timer caps it, and time spent in grace (a
        participant disconnected) doesn't count — the one duration history, completions, timers
        and report evidence use."""
        end = min(until, self.ends_at)
        if self.status == self.Status.GRACE and self.grace_started_at:
            end = min(end, self.grace_started_at)
        return max(0, int((end - self.started_at).total_seconds()))

    def overdue_reason(self, now: datetime, participants=()) -> str | None:
        """The end reason if this live room is past a deadline, else None (deadlines are enforced
        on read, and finalised by the sweeper): the timer (``timer``), the grace deadline
        (``disconnect``) and, when ``participants`` are given, a participant's torch deadline
        (``inactivity``).  The same rule as ``Room.objects.overdue`` (which has no torch part)."""
        if not self.live:
            return None
        if self.ends_at <= now:
            return self.EndReason.TIMER
        if self.status == self.Status.GRACE and self.grace_deadline is not None and self.grace_deadline <= now:
            return self.EndReason.DISCONNECT
        if any(p.torch_deadline is not None and p.torch_deadline <= now for p in participants):
            return self.EndReason.INACTIVITY
        return None


class RoomParticipant(models.Model):
    """One user in one room.  ``live`` mirrors "the room is not ended" so that the partial
    unique constraint can say: a user is in at most one live room."""

    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="participants")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="room_participations")
    live = models.BooleanField(default=True)
    connected = models.BooleanField(default=True)
    # Renewed by the process that holds one of the user's sockets; expiry = that process died.
    lease_expires_at = models.DateTimeField()
    disconnected_at = models.DateTimeField(null=True, blank=True)
    # Torch rule (text rooms, social/services.py): silence since ``last_message_at`` (the room start
    # until the first message) longer than TORCH_IDLE_SECONDS → warned; ``torch_deadline`` passed → ended.
    last_message_at = models.DateTimeField(null=True, blank=True)
    torch_warned_at = models.DateTimeField(null=True, blank=True)
    torch_deadline = models.DateTimeField(null=True, blank=True)

    objects = RoomParticipantQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["room", "user"], name="social_participant_once_per_room"),
            models.UniqueConstraint(
                fields=["user"], condition=Q(live=True), name="social_one_live_room_per_user"
            ),
        ]
        indexes = [
            models.Index(fields=["live", "connected", "lease_expires_at"], name="social_part_lease_idx"),
            models.Index(fields=["live", "torch_deadline"], name="social_part_torch_idx"),
        ]

    def __str__(self) -> str:
        return f"user #{self.user_id} in {self.room_id}"


class CallHistory(models.Model):
    """A finished call as one participant sees it (one row per participant, written once)."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="call_history")
    partner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="history")
    mode = models.CharField(max_length=8, choices=Room.Mode.choices)
    started_at = models.DateTimeField()
    ended_at = models.DateTimeField()
    duration_seconds = models.PositiveIntegerField()
    end_reason = models.CharField(max_length=16, choices=Room.EndReason.choices)
    created_at = models.DateTimeField()

    class Meta:
        verbose_name_plural = "call history"
        constraints = [models.UniqueConstraint(fields=["room", "user"], name="social_history_once_per_room_user")]
        indexes = [models.Index(fields=["user", "-created_at", "-id"], name="social_history_user_idx")]


class Cooldown(models.Model):
    """A pair that may not call again before ``until`` (both directions: ``user_low < user_high``)."""

    user_low = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    user_high = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    until = models.DateTimeField()
    room = models.ForeignKey(Room, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user_low", "user_high"], name="social_cooldown_pair_unique"),
            models.CheckConstraint(condition=Q(user_low__lt=F("user_high")), name="social_cooldown_ordered_pair"),
        ]
        indexes = [models.Index(fields=["user_high", "until"], name="social_cooldown_high_idx")]

    @staticmethod
    def pair(a: int, b: int) -> tuple[int, int]:
        """``(user_low, user_high)`` of two user ids, whichever order they come in."""
        return (a, b) if a < b else (b, a)


class SessionCompletion(models.Model):
    """A call that lasted at least ``CALL_COMPLETION_MIN_SECONDS`` (counted by the invites app)."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="completions")
    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="completions")
    duration_seconds = models.PositiveIntegerField()
    created_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["room", "user"], name="social_completion_once_per_room_user")]


class Block(models.Model):
    blocker = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="blocks_made")
    blocked = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="blocks_received")
    created_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["blocker", "blocked"], name="social_block_unique"),
            models.CheckConstraint(condition=~Q(blocker=F("blocked")), name="social_block_not_self"),
        ]
        indexes = [models.Index(fields=["blocked"], name="social_block_blocked_idx")]


class RoomMessage(models.Model):
    """A chat message in a room (text rooms, side chat of video rooms), stored before it is acked.

    ``client_id`` is the sender's idempotency key: a resend (e.g. after a reconnect) hits the
    unique constraint and gets the stored message back instead of a second row.  Ids and ``seq``
    grow in commit order within a room (inserts take the room's row lock), so "everything after
    id N" is a complete replay.  Bodies are blanked after the retention (``body_purged_at``)."""

    id = models.BigAutoField(primary_key=True)
    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="messages")
    sender = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    # 1, 2, 3 … within the room: a client that sees a gap knows a message is still on its way
    seq = models.PositiveIntegerField()
    client_id = models.CharField(max_length=64)
    body = models.TextField()
    created_at = models.DateTimeField()
    body_purged_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["room", "sender", "client_id"], name="social_message_client_id_once"),
            models.UniqueConstraint(fields=["room", "seq"], name="social_message_seq_once"),
        ]
        indexes = [
            models.Index(fields=["created_at"], name="social_message_created_idx"),
        ]

    def __str__(self) -> str:
        return f"message {self.pk} in {self.room_id}"
