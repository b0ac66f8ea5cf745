"""Retention for accounts data (registered with ``config.purge``; run by ``manage.py purge``)."""

from __future__ import annotations

from django.db.models import Q

from accounts.models import EmailVerification, Session, UserLocation
from config import purge


@purge.register(
    "sessions_expired",
    retention_setting="PURGE_SESSIONS_EXPIRED_DAYS",
    default_days=7,
    description="API sessions that expired more than the retention ago",
)
def sessions_expired(*, now, retention):
    return Session.objects.filter(expires_at__lt=now - retention)


@purge.register(
    "sessions_revoked",
    retention_setting="PURGE_SESSIONS_REVOKED_DAYS",
    default_days=30,
    description="API sessions revoked (logged out) more than the retention ago",
)
def sessions_revoked(*, now, retention):
    return Session.objects.filter(revoked_at__lt=now - retention)


@purge.register(
    "email_verifications",
    retention_setting="PURGE_EMAIL_VERIFICATIONS_DAYS",
    default_days=7,
    description="email verification codes expired or used more than the retention ago",
)
def email_verifications(*, now, retention):
    cutoff = now - retention
    return EmailVerification.objects.filter(Q(expires_at__lt=cutoff) | Q(consumed_at__lt=cutoff))


@purge.register(
    "admin_sessions",
    retention_setting="PURGE_ADMIN_SESSIONS_DAYS",
    default_days=0,
    description="expired Django admin (cookie) sessions",
)
def admin_sessions(*, now, retention):
    from django.contrib.sessions.models import Session as AdminSession

    return AdminSession.objects.filter(expire_date__lt=now - retention)


@purge.register(
    "locations_expired",
    retention_setting="PURGE_LOCATIONS_EXPIRED_DAYS",
    default_days=0,
    description="opt-in locations past their expiry (LOCATION_TTL_HOURS); already read as absent",
)
def locations_expired(*, now, retention):
    return UserLocation.objects.filter(expires_at__lt=now - retention)
