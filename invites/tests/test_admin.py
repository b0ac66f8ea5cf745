"""Admin screens: batches + CSV, read-only history, search by full student ID, "invited by" inline."""

from __future__ import annotations

import csv
import io

import pytest
from django.contrib import admin as django_admin
from django.urls import reverse

from accounts.models import User
from invites.admin import InvitedByInline
from invites.models import InviteCode, InviteRedemption, ReferralLink, ReferralNotification, UscCardRegistration, UscScanAttempt
from invites.tests.helpers import signup
from audit.models import AuditLog

pytestmark = pytest.mark.django_db


def _csv(resp) -> list[dict]:
    return list(csv.DictReader(io.StringIO(resp.content.decode())))


def test_batch_create_and_csv_export(admin_client, admin_user, settings):
    settings.PUBLIC_BASE_URL = "https://chat.example.edu"
    url = reverse("admin:invites_invitecode_batch")
    assert admin_client.get(url).status_code == 200
    resp = admin_client.post(url, {"count": 12, "max_uses": 3, "expires_at": "2030-01-31 23:59", "note": "fair"})
    assert resp.status_code == 302
    codes = InviteCode.objects.all()
    assert codes.count() == 12 and {c.max_uses for c in codes} == {3}
    batch = codes[0].batch
    assert batch in resp["Location"]
    entry = AuditLog.objects.get(action="invites.batch_create")
    assert entry.actor == admin_user and entry.after["count"] == 12

    rows = _csv(admin_client.get(reverse("admin:invites_invitecode_batch_csv", args=[batch])))
    assert len(rows) == 12
    assert rows[0]["join_link"] == f"https://chat.example.edu/join/{rows[0]['code']}"
    assert {r["uses_left"] for r in rows} == {"3"}

    # the changelist action exports the selection
    picked = list(codes.values_list("pk", flat=True)[:2])
    resp = admin_client.post(
        reverse("admin:invites_invitecode_changelist"), {"action": "export_csv", "_selected_action": picked}
    )
    assert resp["Content-Type"].startswith("text/csv") and len(_csv(resp)) == 2

    # unlimited when uses left empty; bad counts are form errors, not 500s
    admin_client.post(url, {"count": 1, "max_uses": ""})
    assert InviteCode.objects.filter(max_uses__isnull=True).count() == 1
    assert admin_client.post(url, {"count": 0}).status_code == 200
    assert admin_client.post(url, {"count": 5000}).status_code == 200


def test_deactivate_action_goes_through_service(admin_client, make_code):
    code = make_code()
    admin_client.post(
        reverse("admin:invites_invitecode_changelist"), {"action": "deactivate", "_selected_action": [code.pk]}
    )
    code.refresh_from_db()
    assert code.is_active is False
    assert AuditLog.objects.filter(action="invites.code_deactivate").count() == 1


def test_every_screen_renders_and_history_is_read_only(admin_client, api, auth_api, make_user, make_code):
    code = make_code()
    signup(api, invite_code=code.code)
    target = make_user()
    token = auth_api().post("/api/referrals", {"target_user_id": str(target.public_id)}, format="json").json()["token"]
    signup(api, referral_token=token, ip="10.20.0.2")
    scan = api.post("/api/usc/scan", {"raw": "1234567890"}, format="json").json()["scan_token"]
    signup(api, usc_scan_token=scan, ip="10.20.0.3")
    for model in (InviteCode, InviteRedemption, ReferralLink, ReferralNotification, UscCardRegistration, UscScanAttempt):
        info = model._meta.app_label, model._meta.model_name
        obj = model.objects.first()
        assert admin_client.get(reverse("admin:%s_%s_changelist" % info)).status_code == 200
        assert admin_client.get(reverse("admin:%s_%s_change" % info, args=[obj.pk])).status_code == 200
        model_admin = django_admin.site._registry[model]
        request = type("R", (), {"user": User.objects.get(email="admin@example.com")})()
        assert not model_admin.has_delete_permission(request, obj)
        assert not model_admin.has_add_permission(request)
        if model is not InviteCode:
            assert not model_admin.has_change_permission(request, obj)
    # card hashes are never shown
    reg = UscCardRegistration.objects.get()
    page = admin_client.get(reverse("admin:invites_usccardregistration_change", args=[reg.pk])).content.decode()
    assert reg.card_hash not in page


def test_search_card_registrations_by_full_student_id(admin_client, api):
    for i, raw in enumerate(["1234567890", "5555555555"]):
        scan = api.post("/api/usc/scan", {"raw": raw}, format="json").json()["scan_token"]
        signup(api, usc_scan_token=scan, name=f"Card{i}", ip=f"10.21.0.{i + 1}")
    url = reverse("admin:invites_usccardregistration_changelist")
    page = admin_client.get(url, {"q": "1234567890"}).content.decode()
    assert "Card0" in page and "Card1" not in page
    page = admin_client.get(url, {"q": "5555"}).content.decode()  # last 4 still works
    assert "Card1" in page and "Card0" not in page


def test_invited_by_inline_in_user_admin(admin_client, api, make_user, make_code, monkeypatch):
    inviter = make_user(name="Olivia Inviter")
    code = make_code(created_by=inviter)
    body = signup(api, invite_code=code.code, name="Newcomer").json()
    user = User.objects.get(public_id=body["user"]["id"])
    # How backoffice/admin.py hooks it in: UserAdmin.inlines = [..., InvitedByInline, UscCardInline]
    user_admin = django_admin.site._registry[User]
    monkeypatch.setattr(user_admin, "inlines", [*user_admin.inlines, InvitedByInline])
    page = admin_client.get(reverse("admin:accounts_user_change", args=[user.pk])).content.decode()
    assert "Invited by" in page and "Olivia Inviter" in page and code.code in page
