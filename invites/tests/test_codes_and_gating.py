"""Invite codes: alphabet, rules of redemption, sign-up gating, paid status, "invited by"."""

from __future__ import annotations

from datetime import timedelta

import pytest

from accounts.models import User
from config import clock
from invites import services
from invites.models import InviteCode, InviteRedemption
from invites.tests.helpers import signup
from audit.models import AuditLog

pytestmark = pytest.mark.django_db


def test_codes_avoid_look_alikes_and_have_configured_length(settings):
    codes = {services.invite_code_generate() for _ in range(300)}
    assert len(codes) == 300
    joined = "".join(codes)
    for bad in "0O1lIL":
        assert bad not in joined
    assert all(len(c) == settings.INVITE_CODE_LENGTH for c in codes)
    assert 10 <= settings.INVITE_CODE_LENGTH <= 16
    settings.INVITE_CODE_LENGTH = 14
    assert len(services.invite_code_generate()) == 14


def test_typed_code_is_normalised():
    assert services.invite_code_normalize(" abcd-efgh jkmn ") == "ABCDEFGHJKMN"


def test_invite_only_signup_without_code_is_refused_with_a_clear_message(api, closed_signup):
    resp = signup(api)
    assert resp.status_code == 403
    err = resp.json()["error"]
    assert err["code"] == "invite_required"
    assert "invite code" in err["message"] and "USC card" in err["message"]
    assert User.objects.count() == 0


def test_open_signup_needs_no_code(api, settings):
    settings.OPEN_SIGNUP = True
    resp = signup(api)
    assert resp.status_code == 201
    assert resp.json()["user"]["paid_status"] == "unpaid"


def test_signup_with_code_works_uses_drop_and_links_inviter(api, closed_signup, make_code, make_user):
    inviter = make_user(name="Inviter")
    code = make_code(max_uses=3, created_by=inviter)
    resp = signup(api, invite_code=code.code.lower(), ip="10.1.0.9")
    assert resp.status_code == 201, resp.json()
    assert resp.json()["user"]["paid_status"] == "invited"
    code.refresh_from_db()
    assert code.uses == 1 and code.uses_left == 2
    user = User.objects.get(public_id=resp.json()["user"]["id"])
    redemption = InviteRedemption.objects.get(user=user)
    assert redemption.code == code and redemption.code.created_by == inviter and redemption.ip == "10.1.0.9"
    assert AuditLog.objects.filter(action="invites.redeem", target_id=str(code.pk)).exists()
    # the new account's token works
    token = resp.json()["token"]
    assert api.get("/api/me", HTTP_AUTHORIZATION=f"Bearer {token}").status_code == 200


@pytest.mark.parametrize(
    "setup,status,code",
    [
        ({"max_uses": 1, "uses": 1}, 409, "invite_used_up"),
        ({"is_active": False}, 400, "invite_inactive"),
        ({"expires_in": -1}, 400, "invite_expired"),
    ],
)
def test_unusable_codes_are_refused_clearly(api, closed_signup, make_code, setup, status, code):
    expires = clock.now() + timedelta(seconds=setup.pop("expires_in")) if "expires_in" in setup else None
    invite = make_code(expires_at=expires, **{k: v for k, v in setup.items() if k != "uses"})
    if "uses" in setup:
        InviteCode.objects.filter(pk=invite.pk).update(uses=setup["uses"])
    resp = signup(api, invite_code=invite.code)
    assert resp.status_code == status
    body = resp.json()["error"]
    assert body["code"] == code and body["fields"]["invite_code"]
    assert User.objects.count() == 0


def test_unknown_code_is_400(api, closed_signup):
    resp = signup(api, invite_code="NOPE-NOPE-NOPE")
    assert resp.status_code == 400 and resp.json()["error"]["code"] == "invite_invalid"


def test_code_expiry_follows_the_clock(api, closed_signup, make_code):
    invite = make_code(expires_at=clock.now() + timedelta(hours=1))
    assert signup(api, invite_code=invite.code, ip="10.1.0.2").status_code == 201
    clock.advance(3601)
    assert signup(api, invite_code=invite.code, ip="10.1.0.3").json()["error"]["code"] == "invite_expired"


def test_unlimited_admin_code(api, closed_signup, make_code):
    invite = make_code(max_uses=None)
    for i in range(5):
        assert signup(api, invite_code=invite.code, ip=f"10.1.1.{i}").status_code == 201
    invite.refresh_from_db()
    assert invite.uses == 5 and invite.uses_left is None


def test_only_admin_codes_may_be_unlimited_and_uses_never_exceed_max(make_code, make_user):
    from django.db import IntegrityError, transaction

    with pytest.raises(IntegrityError), transaction.atomic():
        make_code(kind="user", max_uses=None, created_by=make_user())
    invite = make_code(max_uses=2)
    with pytest.raises(IntegrityError), transaction.atomic():
        InviteCode.objects.filter(pk=invite.pk).update(uses=3)


def test_failed_signup_gives_the_use_back(api, closed_signup, make_code):
    invite = make_code(max_uses=1)
    resp = signup(api, invite_code=invite.code, referral_token="no-such-link")
    assert resp.status_code == 400 and resp.json()["error"]["code"] == "referral_invalid"
    invite.refresh_from_db()
    assert invite.uses == 0 and User.objects.count() == 0
    assert signup(api, invite_code=invite.code).status_code == 201


def test_code_in_open_mode_still_counts_and_marks_invited(api, settings, make_code):
    settings.OPEN_SIGNUP = True
    invite = make_code(max_uses=2)
    resp = signup(api, invite_code=invite.code)
    assert resp.status_code == 201 and resp.json()["user"]["paid_status"] == "invited"


def test_deactivate_is_audited(make_code, make_user):
    admin = make_user(is_staff=True)
    invite = make_code()
    services.invite_code_set_active(actor=admin, invite=invite, active=False)
    invite.refresh_from_db()
    assert invite.is_active is False
    entry = AuditLog.objects.get(action="invites.code_deactivate")
    assert entry.actor == admin and entry.after == {"is_active": False}


def test_batch_create(make_user):
    admin = make_user(is_staff=True)
    codes = services.invite_batch_create(actor=admin, count=25, max_uses=5, note="fair")
    assert len({c.code for c in codes}) == 25
    assert {c.batch for c in codes} == {codes[0].batch}
    assert all(c.kind == "admin" and c.max_uses == 5 for c in codes)
    assert AuditLog.objects.filter(action="invites.batch_create", target_id=codes[0].batch).count() == 1
    with pytest.raises(Exception) as exc:
        services.invite_batch_create(actor=admin, count=0, max_uses=5)
    assert getattr(exc.value, "code", "") == "invalid"
