import re

import pytest
from django.core import mail

from accounts.models import EmailVerification, Session, User
from config import clock
from audit.models import AuditLog

pytestmark = pytest.mark.django_db


def _guest(api, **extra):
    body = {"name": "Ann", "gender": "female", **extra}
    resp = api.post("/api/auth/guest", body, format="json")
    assert resp.status_code == 201, resp.content
    return resp.json()


def test_guest_signup_returns_token_and_user_and_accepts_unknown_fields(api):
    data = _guest(api, invite_code_from_the_future="x", referral="y")
    assert data["token"].startswith("cc_") and len(data["token"]) > 40
    assert data["user"]["name"] == "Ann"
    assert data["user"]["account_type"] == "guest"
    assert data["user"]["paid_status"] == "unpaid"
    # only the hash is stored
    assert not Session.objects.filter(token_hash=data["token"]).exists()
    assert Session.objects.count() == 1


@pytest.mark.parametrize(
    "body,field",
    [
        ({}, "name"),
        ({"name": ""}, "name"),
        ({"name": "x" * 51}, "name"),
        ({"name": "Ann", "gender": "robot"}, "gender"),
        ({"name": 12, "gender": ["female"]}, "gender"),
    ],
)
def test_guest_signup_validation_errors_use_one_shape(api, body, field):
    resp = api.post("/api/auth/guest", body, format="json")
    assert resp.status_code == 400
    err = resp.json()["error"]
    assert err["code"] == "invalid"
    assert field in err["fields"]
    assert err["message"]


def test_malformed_json_and_wrong_content_type_are_4xx(api):
    resp = api.generic("POST", "/api/auth/guest", "{not json", content_type="application/json")
    assert resp.status_code == 400 and resp.json()["error"]["code"] == "malformed_request"
    resp = api.generic("POST", "/api/auth/guest", "name=Ann", content_type="text/plain")
    assert resp.status_code == 415 and resp.json()["error"]["code"] == "unsupported_media_type"
    resp = api.generic("POST", "/api/auth/guest", "[1,2]", content_type="application/json")
    assert resp.status_code == 400
    resp = api.generic("POST", "/api/auth/guest", "null", content_type="application/json")
    assert resp.status_code == 400


def test_oversized_body_is_413(api, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    resp = api.generic("POST", "/api/auth/guest", '{"name": "' + "a" * 5000 + '"}', content_type="application/json")
    assert resp.status_code == 413
    assert resp.json()["error"]["code"] == "too_large"


def test_unknown_url_and_wrong_method_are_json(api, auth_api):
    resp = api.get("/api/nope")
    assert resp.status_code == 404 and resp.json()["error"]["code"] == "not_found"
    client = auth_api()
    resp = client.put("/api/me", {}, format="json")
    assert resp.status_code == 405 and resp.json()["error"]["code"] == "method_not_allowed"
    assert "error" in resp.json()


def test_me_requires_auth_and_bad_tokens_are_401(api):
    assert api.get("/api/me").status_code == 401
    for header in ["Bearer", "Bearer a b", "Bearer nope", "Bearer " + "x" * 500, "Bearer caf\u00e9"]:
        api.credentials(HTTP_AUTHORIZATION=header)
        resp = api.get("/api/me")
        assert resp.status_code == 401, header
        assert resp.json()["error"]["code"] == "not_authenticated"
        assert resp["WWW-Authenticate"].startswith("Bearer")


def test_me_get_and_patch(auth_api):
    client = auth_api(name="Bob")
    resp = client.get("/api/me")
    assert resp.status_code == 200
    assert resp.json()["name"] == "Bob"
    resp = client.patch(
        "/api/me", {"bio": "hi there", "instagram_handle": "@bob.b", "name": "  Bobby "}, format="json"
    )
    assert resp.status_code == 200, resp.content
    assert resp.json()["bio"] == "hi there"
    assert resp.json()["instagram_handle"] == "bob.b"
    assert resp.json()["name"] == "Bobby"
    # cached copy was refreshed: the next read sees the change
    assert client.get("/api/me").json()["name"] == "Bobby"
    # read-only fields are ignored, invalid values rejected
    resp = client.patch("/api/me", {"account_type": "permanent", "timer_total_seconds": 999}, format="json")
    assert resp.status_code == 200 and resp.json()["account_type"] == "guest"
    resp = client.patch("/api/me", {"instagram_handle": "no spaces allowed"}, format="json")
    assert resp.status_code == 400 and "instagram_handle" in resp.json()["error"]["fields"]


def _code_from_mail() -> str:
    return re.search(r"\b(\d{6})\b", mail.outbox[-1].body).group(1)


def test_make_permanent_then_login(auth_api, api, django_capture_on_commit_callbacks):
    client = auth_api(name="Cara")
    with django_capture_on_commit_callbacks(execute=True):
        resp = client.post(
            "/api/auth/make-permanent", {"email": "Cara@Example.com", "password": "correct horse battery"}, format="json"
        )
    assert resp.status_code == 202, resp.content
    assert len(mail.outbox) == 1 and mail.outbox[0].to == ["cara@example.com"]
    code = _code_from_mail()
    ver = EmailVerification.objects.get()
    assert code not in ver.code_hash and ver.code_hash != code
    resp = client.post("/api/auth/verify-email", {"code": code}, format="json")
    assert resp.status_code == 200, resp.content
    assert resp.json()["account_type"] == "permanent"
    assert resp.json()["email_verified"] is True
    assert client.get("/api/me").json()["email"] == "cara@example.com"
    user = User.objects.get(email="cara@example.com")
    assert user.password.startswith("argon2")
    assert AuditLog.objects.filter(action="account.make_permanent", target_id=str(user.pk)).exists()

    resp = api.post("/api/auth/login", {"email": "CARA@example.com", "password": "correct horse battery"}, format="json")
    assert resp.status_code == 200
    assert resp.json()["token"] != client.token
    assert AuditLog.objects.filter(action="auth.login").count() == 1

    wrong = api.post("/api/auth/login", {"email": "cara@example.com", "password": "nope nope nope"}, format="json")
    unknown = api.post("/api/auth/login", {"email": "nobody@example.com", "password": "nope nope nope"}, format="json")
    assert wrong.status_code == unknown.status_code == 400
    assert wrong.json() == unknown.json()  # no account enumeration
    assert wrong.json()["error"]["code"] == "invalid_credentials"

    resp = client.post("/api/auth/make-permanent", {"email": "x@example.com", "password": "another good one"}, format="json")
    assert resp.status_code == 409 and resp.json()["error"]["code"] == "already_permanent"


def test_make_permanent_rejects_weak_password_and_taken_email(auth_api, make_user):
    make_user(email="taken@example.com")
    client = auth_api()
    resp = client.post("/api/auth/make-permanent", {"email": "TAKEN@example.com", "password": "correct horse battery"}, format="json")
    assert resp.status_code == 409 and resp.json()["error"]["code"] == "email_taken"
    resp = client.post("/api/auth/make-permanent", {"email": "new@example.com", "password": "123"}, format="json")
    assert resp.status_code == 400 and resp.json()["error"]["code"] == "password_invalid"
    resp = client.post("/api/auth/make-permanent", {"email": "not-an-email", "password": "correct horse battery"}, format="json")
    assert resp.status_code == 400 and "email" in resp.json()["error"]["fields"]


def test_verify_code_five_tries_and_expiry(auth_api, django_capture_on_commit_callbacks):
    client = auth_api()
    with django_capture_on_commit_callbacks(execute=True):
        client.post("/api/auth/make-permanent", {"email": "d@example.com", "password": "correct horse battery"}, format="json")
    code = _code_from_mail()
    wrong = f"{(int(code) + 1) % 10**6:06d}"
    for i in range(5):
        resp = client.post("/api/auth/verify-email", {"code": wrong}, format="json")
        assert resp.status_code == 400 and resp.json()["error"]["code"] == "code_invalid"
        assert resp.json()["error"]["attempts_left"] == 4 - i
    resp = client.post("/api/auth/verify-email", {"code": code}, format="json")
    assert resp.json()["error"]["code"] == "code_expired"

    with django_capture_on_commit_callbacks(execute=True):
        client.post("/api/auth/make-permanent", {"email": "d@example.com", "password": "correct horse battery"}, format="json")
    code = _code_from_mail()
    clock.advance(15 * 60 + 1)
    resp = client.post("/api/auth/verify-email", {"code": code}, format="json")
    assert resp.status_code == 400 and resp.json()["error"]["code"] == "code_expired"
    resp = client.post("/api/auth/verify-email", {"code": "12ab"}, format="json")
    assert resp.status_code == 400 and "code" in resp.json()["error"]["fields"]


def test_password_change_signs_out_other_sessions(auth_api, make_user, make_session):
    from django.contrib.auth.hashers import make_password

    user = make_user(email="e@example.com", account_type="permanent")
    user.password = make_password("old password 123")
    user.save()
    a = auth_api(user=user)
    b = auth_api(user=user)
    resp = a.post("/api/auth/password", {"current_password": "old password 123", "new_password": "new password 456"}, format="json")
    assert resp.status_code == 204, resp.content
    assert a.get("/api/me").status_code == 200
    assert b.get("/api/me").status_code == 401
    resp = a.post("/api/auth/password", {"current_password": "wrong", "new_password": "new password 789"}, format="json")
    assert resp.status_code == 400


def test_me_payload_matches_documented_serializer(make_user):
    from accounts.serializers import MeSerializer, me_payload

    user = make_user(name="Same", bio="b", email="s@example.com")
    assert me_payload(user) == dict(MeSerializer(user).data)
