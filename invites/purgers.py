"""Retention for invites data (registered with ``config.purge``; run by ``manage.py purge``)."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings

from config import purge
from invites.models import ReferralNotification, UscScanAttempt


@purge.register(
    "usc_scan_attempts",
    retention_setting="PURGE_SCAN_ATTEMPTS_DAYS",
    default_days=30,
    description="USC card scan attempts older than the retention (never inside the lockout window)",
)
def usc_scan_attempts(*, now, retention):
    # The lockout counts failures from these rows: never delete inside its window.
    window = timedelta(seconds=settings.USC_SCAN_WINDOW_SECONDS)
    return UscScanAttempt.objects.filter(created_at__lt=now - max(retention, window))


@purge.register(
    "read_notifications",
    retention_setting="PURGE_READ_NOTIFICATIONS_DAYS",
    default_days=30,
    description="intro notifications read more than the retention ago",
)
def read_notifications(*, now, retention):
    return ReferralNotification.objects.filter(read_at__lt=now - retention)
