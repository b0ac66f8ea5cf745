"""USC card registration: parse rule, every attempt recorded, lockout, one account per card, bans,
keyed hash + last 4, moderator lookup by full ID, student-domain email for card accounts.

``banned`` replaces only the ``moderation.selectors.user_ban_active`` contract.
"""

from __future__ import annotations

import pytest
from django.db import connection

from accounts.models import User
from config import clock
from invites import selectors, services
from invites.models import UscCardRegistration, UscScanAttempt
from invites.tests.helpers import signup
from audit.models import AuditLog

pytestmark = pytest.mark.django_db

CARD = ";1234567890?"  # what a magstripe/barcode reader might hand us
STUDENT_ID = "1234567890"


def scan(api, raw=CARD, ip="10.5.0.1", device_id="", token=None):
    headers = {"REMOTE_ADDR": ip, "HTTP_USER_AGENT": "CardScanner/1.0"}
    if token:
        headers["HTTP_AUTHORIZATION"] = f"Bearer {token}"
    body = {"raw": raw}
    if device_id:
        body["device_id"] = device_id
    return api.post("/api/usc/scan", body, format="json", **headers)


@pytest.mark.parametrize(
    "raw,expected",
    [
        ("1234567890", "1234567890"),
        (";1234567890?", "1234567890"),
        ("USC 1234567890 STUDENT", "1234567890"),
        ("123456789", None),  # 9 digits
        ("12345678901", None),  # 11 digits is not a 10-digit ID
        ("", None),
        ("abcdefghij", None),
    ],
)
def test_default_format_rule(raw, expected):
    assert services.usc_card_parse(raw) == expected


def test_format_rule_is_a_setting(settings):
    settings.USC_CARD_ID_PATTERN = r"^U(\d{8})$"
    assert services.usc_card_parse("U12345678") == "12345678"
    assert services.usc_card_parse("1234567890") is None


def test_scan_then_signup_in_invite_only_mode_binds_the_card(api, closed_signup):
    resp = scan(api, device_id="phone-1")
    assert resp.status_code == 200, resp.json()
    assert resp.json()["last4"] == "7890"
    attempt = UscScanAttempt.objects.get()
    assert attempt.success and attempt.ip == "10.5.0.1" and attempt.user_agent == "CardScanner/1.0"
    assert attempt.device_id == "phone-1" and attempt.last4 == "7890" and attempt.created_at is not None

    created = signup(api, usc_scan_token=resp.json()["scan_token"])
    assert created.status_code == 201, created.json()
    user = User.objects.get(public_id=created.json()["user"]["id"])
    reg = UscCardRegistration.objects.get(user=user)
    assert reg.last4 == "7890"
    # stored as a keyed hash: the full ID appears in no column of either table
    assert reg.card_hash == services.usc_card_hash(STUDENT_ID) and STUDENT_ID not in reg.card_hash
    with connection.cursor() as cur:
        for table in ("invites_usccardregistration", "invites_uscscanattempt"):
            cur.execute(f"SELECT * FROM {table}")
            assert STUDENT_ID not in repr(cur.fetchall())
    assert AuditLog.objects.filter(action="usc.card_register").count() == 1


def test_card_cannot_be_registered_twice(api, auth_api, closed_signup):
    token = scan(api).json()["scan_token"]
    assert signup(api, usc_scan_token=token).status_code == 201
    # a second scan of the same card is refused (409) and recorded
    again = scan(api, ip="10.5.0.2")
    assert again.status_code == 409 and again.json()["error"]["code"] == "card_taken"
    assert UscScanAttempt.objects.filter(failure_reason="taken").count() == 1
    # replaying the old scan token can't bind it to another account either
    assert signup(api, usc_scan_token=token, ip="10.5.0.3").json()["error"]["code"] == "card_taken"
    other = auth_api()
    resp = other.post("/api/usc/finalize-registration", {"scan_token": token}, format="json")
    assert resp.status_code == 409 and resp.json()["error"]["code"] == "card_taken"
    assert UscCardRegistration.objects.count() == 1


def test_finalize_registration_binds_to_current_account(api, auth_api):
    client = auth_api()
    token = scan(api, token=client.token).json()["scan_token"]
    assert UscScanAttempt.objects.get().user == client.user
    resp = client.post("/api/usc/finalize-registration", {"scan_token": token}, format="json")
    assert resp.status_code == 200 and resp.json()["last4"] == "7890"
    # idempotent for the same card and account
    assert client.post("/api/usc/finalize-registration", {"scan_token": token}, format="json").status_code == 200
    # the owner re-scanning their own card is fine
    assert scan(api, token=client.token).status_code == 200
    # a different card for the same account is refused
    other = scan(api, raw="5555555555").json()["scan_token"]
    resp = client.post("/api/usc/finalize-registration", {"scan_token": other}, format="json")
    assert resp.status_code == 409 and resp.json()["error"]["code"] == "card_already_registered"


def test_one_account_per_card_is_a_database_constraint(make_user):
    from django.db import IntegrityError, transaction

    a, b = make_user(), make_user()
    UscCardRegistration.objects.create(user=a, card_hash="h" * 64, last4="7890", registered_at=clock.now())
    with pytest.raises(IntegrityError), transaction.atomic():
        UscCardRegistration.objects.create(user=b, card_hash="h" * 64, last4="7890", registered_at=clock.now())


def test_bad_and_expired_scan_tokens(auth_api, api, settings):
    client = auth_api()
    bad = client.post("/api/usc/finalize-registration", {"scan_token": "forged"}, format="json")
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "scan_token_invalid"
    token = scan(api).json()["scan_token"]
    settings.USC_SCAN_TOKEN_TTL_SECONDS = -1  # already expired (signing uses the wall clock)
    resp = client.post("/api/usc/finalize-registration", {"scan_token": token}, format="json")
    assert resp.status_code == 400 and resp.json()["error"]["code"] == "scan_token_invalid"


def test_unreadable_scan_is_400_and_recorded(api):
    resp = scan(api, raw="hello")
    assert resp.status_code == 400 and resp.json()["error"]["code"] == "card_unreadable"
    assert UscScanAttempt.objects.get().failure_reason == "format"
    assert api.post("/api/usc/scan", {}, format="json").status_code == 400
    assert api.post("/api/usc/scan", {"raw": "x" * 600}, format="json").status_code == 400


def test_lockout_after_10_failures_per_ip(api, settings):
    for _ in range(settings.USC_SCAN_MAX_FAILURES):
        assert scan(api, raw="bad", ip="10.6.0.1").status_code == 400
    locked = scan(api, ip="10.6.0.1")  # even a good card is refused now
    assert locked.status_code == 429 and locked.json()["error"]["code"] == "scan_locked_out"
    assert locked["Retry-After"]
    assert UscScanAttempt.objects.filter(failure_reason="locked_out").count() == 1
    # another network is unaffected
    assert scan(api, ip="10.6.0.2").status_code == 200
    # after the window the ip may try again
    clock.advance(settings.USC_SCAN_WINDOW_SECONDS + 1)
    assert scan(api, ip="10.6.0.1").status_code == 200


def test_lockout_per_device_across_networks(api, settings):
    for i in range(settings.USC_SCAN_MAX_FAILURES):
        scan(api, raw="bad", ip=f"10.7.0.{i + 1}", device_id="dev-x")
    assert scan(api, ip="10.7.1.1", device_id="dev-x").status_code == 429
    assert scan(api, ip="10.7.1.1", device_id="dev-y").status_code == 200


def test_lockout_survives_a_cache_flush(api, settings):
    from django.core.cache import cache

    for _ in range(settings.USC_SCAN_MAX_FAILURES):
        scan(api, raw="bad", ip="10.6.9.1")
    cache.clear()
    assert scan(api, ip="10.6.9.1").status_code == 429  # counted from the database


def test_card_tied_to_banned_account_is_refused(api, make_user, banned, closed_signup):
    token = scan(api).json()["scan_token"]
    owner = User.objects.get(public_id=signup(api, usc_scan_token=token).json()["user"]["id"])
    banned.add(owner.pk)
    resp = scan(api, ip="10.5.1.1")
    assert resp.status_code == 403 and resp.json()["error"]["code"] == "card_banned"
    assert UscScanAttempt.objects.filter(failure_reason="banned").count() == 1
    # deleting the banned account does not free the card
    User.objects.filter(pk=owner.pk).update(deleted_at=clock.now())
    assert scan(api, ip="10.5.1.2").json()["error"]["code"] == "card_banned"
    assert signup(api, usc_scan_token=token, ip="10.5.1.3").json()["error"]["code"] == "card_banned"


def test_card_of_deleted_unbanned_account_can_register_again(api, auth_api, closed_signup):
    client = auth_api()
    token = scan(api, token=client.token).json()["scan_token"]
    client.post("/api/usc/finalize-registration", {"scan_token": token}, format="json")
    assert client.delete("/api/me").status_code == 204
    fresh = scan(api, ip="10.5.2.1").json()["scan_token"]
    created = signup(api, usc_scan_token=fresh, ip="10.5.2.1")
    assert created.status_code == 201
    assert UscCardRegistration.objects.get().user.public_id.hex == created.json()["user"]["id"].replace("-", "")
    assert AuditLog.objects.filter(action="usc.card_released").count() == 1


def test_moderator_finds_account_by_full_id(api, closed_signup):
    token = scan(api).json()["scan_token"]
    signup(api, usc_scan_token=token, name="Carded")
    found = selectors.usc_registration_find(student_id=STUDENT_ID)
    assert found is not None and found.user.name == "Carded"
    assert selectors.usc_registration_find(student_id="9999999999") is None


def test_card_accounts_need_a_student_email(api, closed_signup, settings):
    token = scan(api).json()["scan_token"]
    auth = signup(api, usc_scan_token=token).json()["token"]
    headers = {"HTTP_AUTHORIZATION": f"Bearer {auth}"}
    body = {"email": "me@gmail.com", "password": "a-Long-passphrase-42"}
    resp = api.post("/api/auth/make-permanent", body, format="json", **headers)
    assert resp.status_code == 400 and resp.json()["error"]["code"] == "student_email_required"
    assert "@usc.edu" in resp.json()["error"]["message"]
    body["email"] = "trojan@usc.edu"
    assert api.post("/api/auth/make-permanent", body, format="json", **headers).status_code == 202
    body["email"] = "trojan@cs.usc.edu"  # a subdomain of the student domain counts
    assert api.post("/api/auth/make-permanent", body, format="json", **headers).status_code == 202
    settings.USC_EMAIL_DOMAIN = "example.edu"
    body["email"] = "trojan@usc.edu"
    assert api.post("/api/auth/make-permanent", body, format="json", **headers).status_code == 400


def test_accounts_without_card_may_use_any_email(auth_api):
    client = auth_api()
    body = {"email": "me@gmail.com", "password": "a-Long-passphrase-42"}
    assert client.post("/api/auth/make-permanent", body, format="json").status_code == 202


def test_successful_scans_are_capped_per_network(api):
    for i in range(60):
        assert scan(api, raw=f"{i:010d}", ip="10.8.8.8").status_code == 200
    resp = scan(api, raw="9999999999", ip="10.8.8.8")
    assert resp.status_code == 429 and resp.json()["error"]["code"] == "rate_limited"


def _code():
    import re

    from django.core import mail

    return re.search(r"\b(\d{6})\b", mail.outbox[-1].body).group(1)


def _make_permanent(api, headers, email, django_capture_on_commit_callbacks):
    body = {"email": email, "password": "a-Long-passphrase-42"}
    with django_capture_on_commit_callbacks(execute=True):
        assert api.post("/api/auth/make-permanent", body, format="json", **headers).status_code == 202
    return _code()


def test_a_permanent_account_with_another_email_cannot_register_a_card(api, auth_api, django_capture_on_commit_callbacks):
    """The student-email rule the other way round: gmail first, card afterwards → refused."""
    client = auth_api()
    headers = {"HTTP_AUTHORIZATION": f"Bearer {client.token}"}
    code = _make_permanent(api, headers, "me@gmail.com", django_capture_on_commit_callbacks)
    assert api.post("/api/auth/verify-email", {"code": code}, format="json", **headers).status_code == 200
    token = scan(api).json()["scan_token"]
    resp = api.post("/api/usc/finalize-registration", {"scan_token": token}, format="json", **headers)
    assert resp.status_code == 400 and resp.json()["error"]["code"] == "student_email_required"
    assert "@usc.edu" in resp.json()["error"]["message"]
    assert not UscCardRegistration.objects.exists()
    # a permanent student account may
    student = auth_api()
    headers = {"HTTP_AUTHORIZATION": f"Bearer {student.token}"}
    code = _make_permanent(api, headers, "trojan@usc.edu", django_capture_on_commit_callbacks)
    assert api.post("/api/auth/verify-email", {"code": code}, format="json", **headers).status_code == 200
    resp = api.post("/api/usc/finalize-registration", {"scan_token": token}, format="json", **headers)
    assert resp.status_code == 200, resp.content


def test_a_code_for_another_email_requested_before_the_card_is_refused_after_it(
    api, auth_api, django_capture_on_commit_callbacks
):
    client = auth_api()
    headers = {"HTTP_AUTHORIZATION": f"Bearer {client.token}"}
    code = _make_permanent(api, headers, "me@gmail.com", django_capture_on_commit_callbacks)
    token = scan(api).json()["scan_token"]
    assert api.post("/api/usc/finalize-registration", {"scan_token": token}, format="json", **headers).status_code == 200
    resp = api.post("/api/auth/verify-email", {"code": code}, format="json", **headers)
    assert resp.status_code == 400 and resp.json()["error"]["code"] == "student_email_required"
    user = User.objects.get(pk=client.user.pk)
    assert user.account_type == User.AccountType.GUEST and not user.email
    # a student address works from there
    code = _make_permanent(api, headers, "trojan@usc.edu", django_capture_on_commit_callbacks)
    assert api.post("/api/auth/verify-email", {"code": code}, format="json", **headers).status_code == 200
    assert User.objects.get(pk=client.user.pk).email == "trojan@usc.edu"
