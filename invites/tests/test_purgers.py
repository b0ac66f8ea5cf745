from datetime import timedelta

import pytest

from config import clock, purge
from invites.models import ReferralLink, ReferralNotification, UscScanAttempt

pytestmark = pytest.mark.django_db


def test_scan_attempts_purged_past_retention_never_inside_lockout_window(settings):
    now = clock.now()
    old = UscScanAttempt.objects.create(created_at=now - timedelta(days=31), ip="10.0.0.1", success=False)
    recent = UscScanAttempt.objects.create(created_at=now - timedelta(days=1), ip="10.0.0.1", success=False)
    assert purge.run(names=["usc_scan_attempts"], dry_run=True) == {"usc_scan_attempts": 1}
    assert UscScanAttempt.objects.count() == 2
    assert purge.run(names=["usc_scan_attempts"]) == {"usc_scan_attempts": 1}
    assert list(UscScanAttempt.objects.values_list("pk", flat=True)) == [recent.pk]
    assert not UscScanAttempt.objects.filter(pk=old.pk).exists()
    # a zero retention still keeps the rows inside the lockout window
    settings.PURGE_SCAN_ATTEMPTS_DAYS = 0
    inside = UscScanAttempt.objects.create(
        created_at=now - timedelta(seconds=settings.USC_SCAN_WINDOW_SECONDS - 60), ip="10.0.0.2", success=False
    )
    purge.run(names=["usc_scan_attempts"])
    assert UscScanAttempt.objects.filter(pk=inside.pk).exists()


def test_only_read_notifications_past_retention_are_purged(make_user):
    a, b = make_user(), make_user()
    now = clock.now()
    link = ReferralLink.objects.create(token="t" * 20, target=b, created_by=a, created_at=now)

    def note(**kw):
        return ReferralNotification.objects.create(
            recipient=b, link=link, introducer=a, referred_user=make_user(), **kw
        )

    unread = note(created_at=now - timedelta(days=60))
    read_old = note(created_at=now - timedelta(days=60), read_at=now - timedelta(days=40))
    read_new = note(created_at=now, read_at=now)
    assert purge.run(names=["read_notifications"]) == {"read_notifications": 1}
    left = set(ReferralNotification.objects.values_list("pk", flat=True))
    assert left == {unread.pk, read_new.pk}
    assert read_old.pk not in left
