"""Referral intros: durable links, notifications with read/unread, the target first in the queue."""

from __future__ import annotations

import pytest

from invites import selectors
from invites.models import ReferralLink, ReferralNotification
from invites.tests.helpers import signup
from audit.models import AuditLog

pytestmark = pytest.mark.django_db


def _intro(auth_api, make_user):
    target = make_user(name="Tara")
    introducer = auth_api(name="Ivan")
    resp = introducer.post("/api/referrals", {"target_user_id": str(target.public_id)}, format="json")
    assert resp.status_code == 201, resp.json()
    return target, introducer, resp.json()


def test_create_link_and_preview(auth_api, make_user, api, settings):
    settings.PUBLIC_BASE_URL = "https://chat.example.edu"
    target, introducer, body = _intro(auth_api, make_user)
    assert body["link"] == f"https://chat.example.edu/intro/{body['token']}"
    assert body["target_user_id"] == str(target.public_id)
    assert AuditLog.objects.filter(action="invites.referral_create").count() == 1
    preview = api.get(f"/api/referrals/{body['token']}")
    assert preview.status_code == 200 and preview.json() == {"introducer_name": "Ivan", "target_name": "Tara"}
    assert api.get("/api/referrals/nope").status_code == 400


def test_signup_through_link_notifies_target_and_prioritises_them(
    auth_api, make_user, make_session, api, django_capture_on_commit_callbacks
):
    target, introducer, body = _intro(auth_api, make_user)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        resp = signup(api, name="Bea", referral_token=body["token"])
    assert resp.status_code == 201
    assert callbacks, "the target's sockets are told after commit"
    new_user_id = ReferralNotification.objects.get().referred_user_id

    _, token = make_session(target)
    listed = api.get("/api/notifications", HTTP_AUTHORIZATION=f"Bearer {token}").json()
    assert listed["unread_count"] == 1
    (note,) = listed["results"]
    assert note["text"] == "Ivan introduced Bea to you"
    assert note["read"] is False and note["kind"] == "intro"

    assert selectors.queue_priority_user_ids(user_id=new_user_id) == [target.pk]
    assert selectors.queue_priority_user_ids(user_id=target.pk) == []

    read = api.post(f"/api/notifications/{note['id']}/read", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert read.status_code == 200 and read.json()["read"] is True
    listed = api.get("/api/notifications", HTTP_AUTHORIZATION=f"Bearer {token}").json()
    assert listed["unread_count"] == 0 and listed["results"][0]["read"] is True
    unread = api.get("/api/notifications?unread=1", HTTP_AUTHORIZATION=f"Bearer {token}").json()
    assert unread["results"] == []


def test_only_the_recipient_can_read_a_notification(auth_api, make_user, api):
    target, introducer, body = _intro(auth_api, make_user)
    signup(api, referral_token=body["token"])
    note = ReferralNotification.objects.get()
    resp = introducer.post(f"/api/notifications/{note.pk}/read")
    assert resp.status_code == 404
    note.refresh_from_db()
    assert note.read_at is None


def test_read_all(auth_api, make_user, api):
    target = make_user(name="T")
    target_client = auth_api(user=target)
    introducer = auth_api()
    for i in range(3):
        token = introducer.post("/api/referrals", {"target_user_id": str(target.public_id)}, format="json").json()["token"]
        assert signup(api, referral_token=token, ip=f"10.3.0.{i + 1}").status_code == 201
    assert target_client.get("/api/notifications").json()["unread_count"] == 3
    assert target_client.post("/api/notifications/read-all").json() == {"updated": 3}
    assert target_client.get("/api/notifications").json()["unread_count"] == 0


def test_bad_referral_requests(auth_api, make_user):
    client = auth_api()
    me = client.post("/api/referrals", {"target_user_id": str(client.user.public_id)}, format="json")
    assert me.status_code == 400 and me.json()["error"]["code"] == "referral_self"
    ghost = client.post("/api/referrals", {"target_user_id": "00000000-0000-0000-0000-000000000000"}, format="json")
    assert ghost.status_code == 404
    junk = client.post("/api/referrals", {"target_user_id": "junk"}, format="json")
    assert junk.status_code == 400 and "target_user_id" in junk.json()["error"]["fields"]


def test_queue_priority_is_one_query(auth_api, make_user, api, django_assert_num_queries):
    target, introducer, body = _intro(auth_api, make_user)
    signup(api, referral_token=body["token"])
    referred = ReferralNotification.objects.get().referred_user_id
    with django_assert_num_queries(1):
        assert selectors.queue_priority_user_ids(user_id=referred) == [target.pk]


def test_notification_list_query_count_is_constant(auth_api, make_user, api, django_assert_num_queries):
    target = make_user()
    target_client = auth_api(user=target)
    introducer = auth_api()
    for i in range(5):
        token = introducer.post("/api/referrals", {"target_user_id": str(target.public_id)}, format="json").json()["token"]
        signup(api, referral_token=token, ip=f"10.4.0.{i + 1}")
    target_client.get("/api/notifications")  # warm the session and ban-check caches
    with django_assert_num_queries(2):  # the page + the unread count; no per-row queries
        assert len(target_client.get("/api/notifications").json()["results"]) == 5


def test_deleted_target_link_stops_working(auth_api, make_user, api):
    target, introducer, body = _intro(auth_api, make_user)
    target_client = auth_api(user=target)
    assert target_client.delete("/api/me").status_code == 204
    assert ReferralLink.objects.get().is_active is False
    assert signup(api, referral_token=body["token"]).json()["error"]["code"] == "referral_invalid"
