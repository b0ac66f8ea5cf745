"""The moderators' e-mail digest of new cases, admin error pages, and buttons moderators can't use."""

from __future__ import annotations

import pytest
from django.core import mail

from config import clock
from moderation import digest
from audit.models import AuditLog
from moderation.models import CaseDigestSubscription

pytestmark = pytest.mark.django_db


def test_digest_is_opt_in_at_most_every_n_minutes_and_only_when_there_is_news(
    moderator, make_report, settings, client
):
    settings.MODERATION_DIGEST_MINUTES = 30
    make_report()
    assert digest.digest_send_due() == 0  # nobody subscribed
    client.force_login(moderator)
    assert client.post("/admin/cases/digest/", {"on": "1"}).status_code == 302
    assert CaseDigestSubscription.objects.filter(moderator=moderator).exists()
    assert AuditLog.objects.filter(action="digest.subscribe").count() == 1
    assert digest.digest_send_due() == 0  # the report above predates the subscription
    clock.advance(1)
    make_report(category="spam")
    make_report(category="hate")
    assert digest.digest_send_due() == 1
    assert len(mail.outbox) == 1 and "2 new cases" in mail.outbox[0].subject
    assert mail.outbox[0].to == [moderator.email] and "/admin/cases/" in mail.outbox[0].body
    clock.advance(60)
    make_report()
    assert digest.digest_send_due() == 0  # within 30 minutes of the last digest
    clock.advance(30 * 60)
    assert digest.digest_send_due() == 1 and "1 new case" in mail.outbox[1].subject
    clock.advance(31 * 60)
    assert digest.digest_send_due() == 0  # nothing new: no mail
    client.post("/admin/cases/digest/", {"on": "0"})
    assert not CaseDigestSubscription.objects.exists()


def test_admin_403_and_404_are_admin_pages_not_json(moderator, make_user, client):
    target = make_user("T")
    client.force_login(moderator)
    resp = client.get(f"/admin/accounts/user/{target.pk}/password/")
    assert resp.status_code == 403
    assert resp["Content-Type"].startswith("text/html") and "Not allowed" in resp.content.decode()
    resp = client.get("/admin/no/such/page/")
    assert resp.status_code == 404 and resp["Content-Type"].startswith("text/html")
    # the API keeps its JSON errors
    assert client.get("/api/no-such-route").json()["error"]["code"] == "not_found"


def test_moderators_see_no_set_password_button(moderator, superuser, make_user, client):
    target = make_user("T", email="t@example.com", password="pw-long-enough-1")
    client.force_login(moderator)
    assert "password/" not in client.get(f"/admin/accounts/user/{target.pk}/change/").content.decode()
    client.force_login(superuser)
    assert "password/" in client.get(f"/admin/accounts/user/{target.pk}/change/").content.decode()
