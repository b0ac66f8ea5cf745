"""Staff edits on the Django admin's user pages go through the accounts services: audited with
before/after, the cached account dropped at once, and deactivation (or a password set by staff)
revokes the sessions.  Sockets closing on two real processes: realtime/tests/test_revocation_e2e.py."""

from __future__ import annotations

import pytest
from django import forms
from django.contrib.auth.models import Group
from django.test import Client
from rest_framework.test import APIClient

from accounts.models import Session, User
from audit.models import AuditLog

pytestmark = pytest.mark.django_db


@pytest.fixture
def root(db):
    return User.objects.create_superuser(email="root@example.com", password="root-pass-1234", name="Root")


@pytest.fixture
def admin_as(root):
    c = Client()
    c.force_login(root, backend="accounts.backends.EmailBackend")
    return c


def change_form_data(client: Client, user: User | None) -> dict:
    """What a browser posts back from the user's change page (``None``: the add page) unchanged,
    the inlines' management forms included."""
    resp = client.get(f"/admin/accounts/user/{user.pk}/change/" if user else "/admin/accounts/user/add/")
    assert resp.status_code == 200
    form = resp.context["adminform"].form
    data: dict = {}
    for name, field in form.fields.items():
        if field.disabled:
            continue
        value = form[name].value()
        if value is None or value is False or isinstance(field, forms.FileField):
            continue  # unticked box, empty value or an unchanged file: browsers send nothing
        data[name] = "on" if value is True else value
    for inline in resp.context["inline_admin_formsets"]:
        management = inline.formset.management_form
        for key in management.fields:
            data[f"{inline.formset.prefix}-{key}"] = management[key].value()
    return data


def _api(token: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


def test_deactivating_in_the_admin_is_audited_and_the_token_stops_at_once(admin_as, root, make_user, make_session):
    user = make_user(name="Dee")
    _, token = make_session(user)
    _, other = make_session(user)
    assert _api(token).get("/api/me").status_code == 200  # the session is cached now
    data = change_form_data(admin_as, user)
    del data["is_active"]  # the superuser un-ticks "active"
    resp = admin_as.post(f"/admin/accounts/user/{user.pk}/change/", data)
    assert resp.status_code == 302, resp.context["adminform"].form.errors if resp.context else resp
    entry = AuditLog.objects.get(action="account.admin_update", target_id=str(user.pk))
    assert entry.actor == root and entry.before == {"is_active": True} and entry.after == {"is_active": False}
    assert AuditLog.objects.filter(action="account.deactivate_sessions", target_id=str(user.pk)).exists()
    assert not Session.objects.filter(user=user, revoked_at__isnull=True).exists()
    for t in (token, other):
        assert _api(t).get("/api/me").status_code == 401


def test_a_profile_edit_in_the_admin_is_audited_and_seen_at_once(admin_as, make_user, make_session):
    user = make_user(name="Old")
    _, token = make_session(user)
    assert _api(token).get("/api/me").json()["name"] == "Old"  # cached
    data = change_form_data(admin_as, user)
    data.update(name="New", bio="hello")
    assert admin_as.post(f"/admin/accounts/user/{user.pk}/change/", data).status_code == 302
    entry = AuditLog.objects.get(action="account.admin_update", target_id=str(user.pk))
    assert entry.before == {"name": "Old", "bio": ""} and entry.after == {"name": "New", "bio": "hello"}
    assert _api(token).get("/api/me").json()["name"] == "New"
    assert Session.objects.filter(user=user, revoked_at__isnull=True).count() == 1  # not a deactivation


def test_groups_and_staff_changes_are_audited(admin_as, make_user):
    group, _ = Group.objects.get_or_create(name="Moderators")
    user = make_user(name="Mo")
    data = change_form_data(admin_as, user)
    data.update(is_staff="on", groups=[group.pk])
    assert admin_as.post(f"/admin/accounts/user/{user.pk}/change/", data).status_code == 302
    entry = AuditLog.objects.get(action="account.admin_update", target_id=str(user.pk))
    assert entry.before == {"is_staff": False, "groups": []}
    assert entry.after == {"is_staff": True, "groups": ["Moderators"]}
    user.refresh_from_db()
    assert user.is_staff and list(user.groups.all()) == [group]


def test_an_unchanged_save_writes_no_audit_entry(admin_as, make_user):
    user = make_user(name="Same")
    assert admin_as.post(f"/admin/accounts/user/{user.pk}/change/", change_form_data(admin_as, user)).status_code == 302
    assert not AuditLog.objects.filter(target_id=str(user.pk)).exists()


def test_a_password_set_in_the_admin_is_audited_and_revokes_the_sessions(admin_as, make_user, make_session):
    user = make_user(name="Pat", email="pat@example.com", password="old-pass-1234", account_type="permanent")
    _, token = make_session(user)
    assert _api(token).get("/api/me").status_code == 200
    resp = admin_as.post(
        f"/admin/accounts/user/{user.pk}/password/",
        {"password1": "A-new-pass-5678", "password2": "A-new-pass-5678", "usable_password": "true"},
    )
    assert resp.status_code == 302
    user.refresh_from_db()
    assert user.check_password("A-new-pass-5678")
    entry = AuditLog.objects.get(action="account.admin_password_set", target_id=str(user.pk))
    assert entry.after == {"usable_password": True} and "A-new" not in str(entry.after)
    assert _api(token).get("/api/me").status_code == 401


def test_an_account_added_in_the_admin_is_audited(admin_as):
    data = change_form_data(admin_as, None)
    data.update(email="new@example.com", name="Newbie", password1="A-new-pass-5678", password2="A-new-pass-5678",
                usable_password="true")
    resp = admin_as.post("/admin/accounts/user/add/", data)
    assert resp.status_code == 302, resp.context["adminform"].form.errors if resp.context else resp
    user = User.objects.get(email="new@example.com")
    entry = AuditLog.objects.get(action="account.admin_create", target_id=str(user.pk))
    assert entry.after["email"] == "new@example.com"


def test_accounts_cannot_be_hard_deleted_in_the_admin(admin_as, make_user, make_session):
    user = make_user(name="Stay")
    _, token = make_session(user)
    assert admin_as.post(f"/admin/accounts/user/{user.pk}/delete/", {"post": "yes"}).status_code == 403
    admin_as.post("/admin/accounts/user/", {"action": "delete_selected", "_selected_action": [user.pk], "post": "yes"})
    assert User.objects.filter(pk=user.pk).exists() and _api(token).get("/api/me").status_code == 200
