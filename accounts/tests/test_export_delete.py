"""GET /api/me/export (everything about the caller) and DELETE /api/me (anonymise, keep moderation)."""

from __future__ import annotations

import pytest

from accounts.models import Session, User
from invites.models import InviteCode, InviteRedemption, UscCardRegistration
from audit.models import AuditLog

pytestmark = pytest.mark.django_db


def test_export_contains_what_was_done(api, auth_api, make_user, settings, completed_calls):
    settings.OPEN_SIGNUP = False
    inviter = auth_api(name="Inviter")
    completed_calls({inviter.user.pk: settings.INVITE_UNLOCK_CALLS})
    code = inviter.get("/api/invites/mine").json()["code"]
    scan = api.post("/api/usc/scan", {"raw": "1234567890"}, format="json").json()
    created = api.post(
        "/api/auth/guest", {"name": "Exporter", "invite_code": code, "usc_scan_token": scan["scan_token"]},
        format="json",
    ).json()
    headers = {"HTTP_AUTHORIZATION": f"Bearer {created['token']}"}
    target = make_user(name="Target")
    api.post("/api/referrals", {"target_user_id": str(target.public_id)}, format="json", **headers)
    api.patch("/api/me", {"bio": "hello"}, format="json", **headers)

    resp = api.get("/api/me/export", **headers)
    assert resp.status_code == 200
    assert "attachment" in resp["Content-Disposition"]
    doc = resp.json()
    assert doc["profile"]["name"] == "Exporter" and doc["profile"]["bio"] == "hello"
    assert doc["profile"]["paid_status"] == "invited"
    assert len(doc["sessions"]) == 1 and doc["sessions"][0]["ip"]
    inv = doc["invites"]
    assert inv["joined_with_invite"]["code"] == code
    assert inv["usc_card"]["last4"] == "7890"
    assert inv["referral_links_made"][0]["target_user_id"] == str(target.public_id)
    assert "1234567890" not in resp.content.decode()  # the full student ID is never stored

    # the inviter's export shows their code and that one person joined with it
    mine = inviter.get("/api/me/export").json()["invites"]["invite_code"]
    assert mine["code"] == code and mine["people_invited"] == 1


def test_export_requires_auth(api):
    assert api.get("/api/me/export").status_code == 401


def test_delete_anonymises_and_keeps_moderation_records(api, auth_api, settings, completed_calls):
    client = auth_api(name="Leaver", email="leaver@example.com")
    completed_calls({client.user.pk: settings.INVITE_UNLOCK_CALLS})
    User.objects.filter(pk=client.user.pk).update(bio="bio", instagram_handle="leaver")
    code = client.get("/api/invites/mine").json()["code"]
    scan = api.post("/api/usc/scan", {"raw": "1234567890"}, format="json", HTTP_AUTHORIZATION=f"Bearer {client.token}")
    client.post("/api/usc/finalize-registration", {"scan_token": scan.json()["scan_token"]}, format="json")
    audit_before = AuditLog.objects.count()

    resp = client.delete("/api/me")
    assert resp.status_code == 204

    user = User.objects.get(pk=client.user.pk)
    assert user.name == "Deleted user" and user.email is None and user.bio == "" and user.instagram_handle == ""
    assert user.deleted_at is not None and not user.is_active and not user.has_usable_password()
    # signed out everywhere, immediately (cache busted)
    assert client.get("/api/me").status_code == 401
    assert not Session.objects.filter(user=user, revoked_at__isnull=True).exists()
    # own invite code stops working; card registration (card bans) and audit history are kept
    assert InviteCode.objects.get(code=code).is_active is False
    assert UscCardRegistration.objects.filter(user=user).exists()
    assert AuditLog.objects.count() > audit_before
    entry = AuditLog.objects.get(action="account.delete")
    assert "Leaver" not in entry.target_label and "leaver@example.com" not in str(entry.after)
    # the email address is free again
    assert not User.objects.filter(email="leaver@example.com").exists()


def test_delete_permanent_account_requires_password(auth_api):
    user_client = auth_api(email="perm@example.com", password="a-Long-passphrase-42", account_type="permanent")
    resp = user_client.delete("/api/me", {"password": "wrong"}, format="json")
    assert resp.status_code == 400 and resp.json()["error"]["code"] == "invalid_credentials"
    assert User.objects.get(pk=user_client.user.pk).deleted_at is None
    assert user_client.delete("/api/me", {"password": "a-Long-passphrase-42"}, format="json").status_code == 204


def test_invited_user_deletion_keeps_redemption_history(api, settings):
    from invites.services import invite_code_generate
    from config import clock

    settings.OPEN_SIGNUP = False
    invite = InviteCode.objects.create(code=invite_code_generate(), kind="admin", max_uses=2, created_at=clock.now())
    body = api.post("/api/auth/guest", {"name": "Inv", "invite_code": invite.code}, format="json").json()
    api.delete("/api/me", HTTP_AUTHORIZATION=f"Bearer {body['token']}")
    assert InviteRedemption.objects.filter(code=invite).count() == 1
    invite.refresh_from_db()
    assert invite.uses == 1


def test_banned_account_keeps_its_email_after_deletion(auth_api, monkeypatch):
    client = auth_api(email="banned@example.com")
    # only moderation's ban contract (``user_ban_active``) is replaced
    monkeypatch.setattr(
        "moderation.selectors.user_ban_active",
        lambda *, user_id: {"until": None, "reason": "abuse"} if user_id == client.user.pk else None,
    )
    assert client.delete("/api/me").status_code == 204
    user = User.objects.get(pk=client.user.pk)
    assert user.deleted_at is not None and user.name == "Deleted user"
    assert user.email == "banned@example.com"  # the email ban keeps holding this address


def test_export_includes_every_app_that_provides_a_section(auth_api, monkeypatch):
    # Contract: <app>.selectors.user_export_data(*, user_id) -> dict (social: history and
    # transcripts; moderation: reports filed).  Simulated here until those apps define it.
    monkeypatch.setattr(
        "social.selectors.user_export_data", lambda *, user_id: {"history": [{"with": "x"}]}, raising=False
    )
    client = auth_api()
    doc = client.get("/api/me/export").json()
    assert doc["social"] == {"history": [{"with": "x"}]}
    assert "invites" in doc and "profile" in doc
