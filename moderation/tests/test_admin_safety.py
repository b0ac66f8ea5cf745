"""Safer, clearer admin actions: IP-range bans ask for confirmation; evidence and audit
values read as a person would write them; buttons a moderator can't use are not shown; and the
permission matrix of the case / appeal / preset / IP-ban actions."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission
from django.test import Client, override_settings

import social.selectors
from accounts.models import User
from moderation import cases, services, strikes
from audit.models import AuditLog
from moderation.models import Appeal, Ban, IpBan, ModeratorNote, Report, Strike, WarningPreset

pytestmark = pytest.mark.django_db


def _client(user=None):
    c = Client()
    if user is not None:
        c.force_login(user, backend="accounts.backends.EmailBackend")
    return c


@pytest.fixture
def staff_without_group(make_user):
    return make_user(name="Staff Nogroup", email="staff@example.com", password="staff-pass-1234", is_staff=True,
                     account_type="permanent")


def _with_perms(user, *codenames):
    user.user_permissions.add(*Permission.objects.filter(content_type__app_label="moderation", codename__in=codenames))
    return User.objects.get(pk=user.pk)  # a fresh object: no cached permissions


def test_approving_a_ban_appeal_needs_the_permission_to_lift_the_ban(moderator, staff_without_group, make_user):
    appellant = make_user(name="Appellant")
    ban = services.ban_create(user=appellant, actor=moderator, reason="spam", duration=timedelta(days=7))
    appeal = strikes.appeal_create(user=appellant, text="It was not me.", ban_id=ban.pk)
    clerk = _with_perms(staff_without_group, "view_appeal", "change_appeal")  # may not change bans
    resp = _client(clerk).post("/admin/moderation/appeal/", {"action": "approve", "_selected_action": [appeal.pk]},
                               follow=True)
    assert "not approved" in resp.content.decode()
    assert Appeal.objects.get(pk=appeal.pk).status == Appeal.Status.PENDING
    assert Ban.objects.get(pk=ban.pk).lifted_at is None
    clerk = _with_perms(clerk, "change_ban")
    _client(clerk).post("/admin/moderation/appeal/", {"action": "approve", "_selected_action": [appeal.pk]})
    assert Appeal.objects.get(pk=appeal.pk).status == Appeal.Status.APPROVED


# --- IP bans covering more than one address ------------------------------------------------------
@pytest.mark.parametrize("network", ["198.51.100.0/24", "2001:db8::/64", "198.51.100.8/31"])
def test_a_range_ip_ban_asks_for_confirmation_first(moderator, network):
    c = _client(moderator)
    resp = c.post("/admin/moderation/ipban/add/", {"network": network, "reason": "abuse", "expires_in": "24h"})
    assert resp.status_code == 200 and not IpBan.objects.exists()
    page = resp.content.decode()
    assert "Tick the box to ban all of them" in page and 'name="confirm_range"' in page
    count = {"198.51.100.0/24": "256", "2001:db8::/64": "18,446,744,073,709,551,616", "198.51.100.8/31": "2"}[network]
    assert f"covers {count} addresses" in page

    resp = c.post("/admin/moderation/ipban/add/", {"network": network, "reason": "abuse", "expires_in": "24h",
                                                   "confirm_range": "on"})
    assert resp.status_code == 302
    assert IpBan.objects.get().network == network
    assert AuditLog.objects.filter(action="ipban.create", actor=moderator).count() == 1


@pytest.mark.parametrize("network", ["198.51.100.7", "198.51.100.7/32", "2001:db8::1/128"])
def test_a_single_address_ip_ban_needs_no_confirmation(moderator, network):
    resp = _client(moderator).post("/admin/moderation/ipban/add/", {"network": network, "reason": "abuse"})
    assert resp.status_code == 302, resp.content[:2000]
    assert IpBan.objects.count() == 1


# --- human-readable evidence and audit values ------------------------------------------------------
EVIDENCE = {
    "mode": "video", "start": "2026-11-22T10:00:00.123456+00:00", "duration": 184, "end_reason": None,
    "users": [], "messages": [
        {"sender": "x", "sender_name": "Alice Reporter", "body": "hi!", "at": "2026-11-22T10:00:05.654321+00:00"},
    ],
}


def _no_none(html: str) -> None:
    # "None" as a value anywhere in the page body (text between tags or a cell), never in a word.
    body = html[html.index("<body"):]
    assert not re.search(r">\s*None\s*<", body), re.findall(r".{80}>\s*None\s*<.{40}", body, re.S)[:3]
    assert "None</" not in body and ": None" not in body


@override_settings(TIME_ZONE="Europe/Berlin")
def test_case_page_shows_local_times_names_and_no_none(moderator, make_user, monkeypatch):
    monkeypatch.setattr(social.selectors, "room_evidence_for_reporter", lambda **kw: EVIDENCE, raising=False)
    reporter, reported = make_user(name="Alice Reporter"), make_user(name="Bob Reported")
    report = services.report_create(reporter=reporter, reported_user_id=reported.public_id, category="harassment",
                                    room_id=uuid.uuid4())
    cases.note_add(user=reported, actor=moderator, text="first look", report=report)
    cases.case_assign(user=reported, actor=moderator, assignee=moderator)
    html = _client(moderator).get(f"/admin/moderation/report/{report.pk}/change/").content.decode()
    # 10:00 UTC is 11:00 in Berlin in November; no microseconds anywhere.
    assert "2026-11-22 11:00:00 CET" in html and "2026-11-22 11:00:05 CET" in html
    assert ".123456" not in html.split("Raw snapshot")[0] and ".654321" not in html.split("Raw snapshot")[0]
    assert "3 min 4 s" in html  # the duration, not "184"
    assert "first look" in html and "Mod Erator" in html
    _no_none(html.split("Raw snapshot")[0])


@override_settings(TIME_ZONE="Europe/Berlin")
def test_audit_log_list_and_detail_read_as_field_old_to_new(moderator, make_user):
    reported = make_user(name="Bob Reported")
    services.report_create(reporter=make_user(), reported_user_id=reported.public_id, category="spam")
    cases.case_assign(user=reported, actor=moderator, assignee=moderator)
    entry = AuditLog.objects.get(action="case.assign")
    c = _client(moderator)

    listing = c.get("/admin/audit/auditlog/").content.decode()
    assert f"assigned to: — → Mod Erator (#{moderator.pk})" in listing
    assert re.search(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} CET", listing)
    _no_none(listing)

    detail = c.get(f"/admin/audit/auditlog/{entry.pk}/change/").content.decode()
    assert f"<strong>assigned to</strong>: — → Mod Erator (#{moderator.pk})" in detail
    assert "<strong>reports</strong>: 1" in detail
    assert re.search(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} CET", detail)
    assert not re.search(r"\d{2}:\d{2}:\d{2}\.\d{6}", detail)
    _no_none(detail)


@override_settings(TIME_ZONE="Europe/Berlin")
def test_user_page_history_and_ban_read_in_local_time_with_names(superuser, moderator, make_user):
    target = make_user(name="Bob Reported")
    cases.case_assign(user=target, actor=moderator, assignee=moderator)
    services.ban_create(user=target, actor=moderator, reason="spam", duration=timedelta(days=7))
    html = _client(superuser).get(f"/admin/accounts/user/{target.pk}/change/").content.decode()
    history = html[html.index('class="user-history"'):]
    assert f"Mod Erator (#{moderator.pk})" in history and "→" in history
    assert re.search(r"until \d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} CET", html)
    assert not re.search(r"\d{2}:\d{2}:\d{2}\.\d{6}", history)
    _no_none(html)


def test_display_helpers_never_say_none():
    from moderation import admin_display as d

    assert d.plain(None) == d.plain("") == d.plain([]) == "—"
    assert d.plain(True) == "yes" and d.plain([1, 2]) == "1, 2"
    assert d.changes_text({"assigned_to": [3]}, {"assigned_to": None}, {3: "Ann"}) == "assigned to: Ann (#3) → —"
    assert d.changes_text(None, {"ban_id": 4, "until": None}) == "ban: 4; until: —"
    assert d.when("not a time") == "not a time" and d.when(None) == "—"


# --- buttons a moderator can't use are not shown ------------------------------------------------
def test_report_page_shows_only_the_usable_buttons(moderator, staff_without_group, make_report):
    report = make_report()
    page = _client(moderator).get(f"/admin/moderation/report/{report.pk}/change/").content.decode()
    for button in ("btn-warn", "btn-ban-24h", "btn-ban-7d", "btn-ban-permanent", "btn-assign", 'name="new_note"'):
        assert button in page, button
    assert "btn-unassign" not in page  # nobody is assigned yet
    cases.case_assign(user=report.reported, actor=moderator, assignee=moderator)
    page = _client(moderator).get(f"/admin/moderation/report/{report.pk}/change/").content.decode()
    assert "btn-unassign" in page and "btn-assign" not in page  # already mine

    # Change without add_ban: decide, but no ban button.
    deciding = _with_perms(staff_without_group, "view_report", "change_report", "add_moderatornote")
    page = _client(deciding).get(f"/admin/moderation/report/{report.pk}/change/").content.decode()
    assert "btn-warn" in page and "btn-ban" not in page and 'name="new_note"' in page
    resp = _client(deciding).post(f"/admin/moderation/report/{report.pk}/act/", {"do": "ban_7d"})
    assert resp.status_code == 403 and not Ban.objects.exists()
    queue = _client(deciding).get("/admin/moderation/report/").content.decode()
    assert 'value="dismiss"' in queue and 'value="resolve_ban_24h"' not in queue  # the bulk ban too
    _client(deciding).post("/admin/moderation/report/", {"action": "resolve_ban_7d", "_selected_action": [report.pk]})
    assert not Ban.objects.exists()

    # View only: no decision form, no note box, no save buttons.
    viewer = _with_perms(make_report().reporter, "view_report")
    viewer.is_staff = True
    viewer.save(update_fields=["is_staff"])
    page = _client(viewer).get(f"/admin/moderation/report/{report.pk}/change/").content.decode()
    assert 'id="report-actions"' not in page and 'name="new_note"' not in page and 'name="_save"' not in page


def test_preset_and_appeal_pages_show_no_buttons_to_viewers(moderator, staff_without_group, make_user):
    preset = WarningPreset.objects.create(title="Be kind", text="Please be kind.")
    page = _client(moderator).get(f"/admin/moderation/warningpreset/{preset.pk}/change/").content.decode()
    assert 'name="_save"' not in page and 'name="title"' not in page  # moderators read presets
    appellant = make_user(name="Appellant")
    ban = services.ban_create(user=appellant, actor=moderator, reason="spam", duration=timedelta(days=7))
    strikes.appeal_create(user=appellant, text="It was not me.", ban_id=ban.pk)
    viewer = _with_perms(staff_without_group, "view_appeal")
    page = _client(viewer).get("/admin/moderation/appeal/").content.decode()
    assert 'value="approve"' not in page and 'value="reject"' not in page
    page = _client(moderator).get("/admin/moderation/appeal/").content.decode()
    assert 'value="approve"' in page and 'value="reject"' in page


def test_user_page_remove_buttons_only_for_those_who_may(moderator, staff_without_group, make_user):
    target = make_user(name="Insta User")
    User.objects.filter(pk=target.pk).update(instagram_posts=["https://www.instagram.com/p/Abc12345/"])
    viewer = staff_without_group
    viewer.user_permissions.add(Permission.objects.get(content_type__app_label="accounts", codename="view_user"))
    viewer = User.objects.get(pk=viewer.pk)
    page = _client(viewer).get(f"/admin/accounts/user/{target.pk}/change/").content.decode()
    assert "instagram.com/p/Abc12345" in page and 'name="post_url"' not in page
    assert "Set password" not in page and "user-action-ban" not in page
    page = _client(moderator).get(f"/admin/accounts/user/{target.pk}/change/").content.decode()
    assert 'name="post_url"' in page and "user-action-ban" in page


# --- the permission matrix of the new actions ------------------------------------------------------
ROLES = ["superuser", "moderator", "staff_without_group", "anonymous"]
ACTIONS = ["assign", "unassign", "warn", "ban_7d", "ban_permanent", "reopen", "note", "appeal_approve",
           "appeal_reject", "preset_edit", "ip_ban"]
MODERATOR_MAY = set(ACTIONS) - {"preset_edit"}  # presets are edited by superusers only


@pytest.fixture
def world(moderator, make_user, make_report):
    target = make_user(name="Target User", account_type="permanent")
    report = make_report(reported=target, category="spam")
    make_report(reported=target, category="harassment")
    closed = make_report(category="spam")
    cases.case_decide(user=closed.reported, actor=moderator, decision="dismiss")
    appellant = make_user(name="Appellant")
    ban = services.ban_create(user=appellant, actor=moderator, reason="spam", duration=timedelta(days=7))
    appeal = strikes.appeal_create(user=appellant, text="It was not me.", ban_id=ban.pk)
    preset = WarningPreset.objects.create(title="Be kind", text="Please be kind.")
    return {"target": target, "report": report, "closed": closed, "appeal": appeal, "preset": preset}


def _do(action: str, c: Client, w: dict, moderator):
    report = w["report"]
    act = f"/admin/moderation/report/{report.pk}/act/"
    if action == "unassign":
        cases.case_assign(user=w["target"], actor=moderator, assignee=moderator)
    if action in ("assign", "unassign"):
        return c.post(act, {"do": "assign_to_me" if action == "assign" else "unassign"})
    if action == "warn":
        return c.post(act, {"do": "warn", "preset": w["preset"].pk})
    if action in ("ban_7d", "ban_permanent"):
        return c.post(act, {"do": action, "reason": "spam", "confirm_permanent": "1"})
    if action == "reopen":
        return c.post(f"/admin/moderation/report/{w['closed'].pk}/act/", {"do": "reopen"})
    if action == "note":
        return c.post(f"/admin/moderation/report/{report.pk}/change/", {"new_note": "seen this before"})
    if action == "appeal_approve":
        return c.post("/admin/moderation/appeal/", {"action": "approve", "_selected_action": [w["appeal"].pk]})
    if action == "appeal_reject":
        return c.post("/admin/moderation/appeal/", {"action": "reject", "apply": "1", "reason": "No.",
                                                    "_selected_action": [w["appeal"].pk]})
    if action == "preset_edit":
        return c.post(f"/admin/moderation/warningpreset/{w['preset'].pk}/change/",
                      {"title": "Be kinder", "text": "Please.", "active": "on"})
    if action == "ip_ban":
        return c.post("/admin/moderation/ipban/add/", {"network": "192.0.2.0/24", "reason": "abuse",
                                                       "confirm_range": "on"})
    raise AssertionError(action)


def _happened(action: str, w: dict, actor) -> bool:
    target = w["target"]
    if action == "assign":
        return actor is not None and Report.objects.filter(reported=target, status="open", assigned_to=actor).count() == 2
    if action == "unassign":
        return not Report.objects.filter(reported=target, assigned_to__isnull=False).exists()
    if action == "warn":
        return Strike.objects.filter(user=target, preset=w["preset"]).exists()
    if action == "ban_7d":
        return Ban.objects.filter(user=target, expires_at__isnull=False).exists()
    if action == "ban_permanent":
        return Ban.objects.filter(user=target, expires_at__isnull=True).exists()
    if action == "reopen":
        return Report.objects.get(pk=w["closed"].pk).status == "open"
    if action == "note":
        return ModeratorNote.objects.filter(user=target, text="seen this before", author=actor).exists()
    if action == "appeal_approve":
        return Appeal.objects.get(pk=w["appeal"].pk).status == Appeal.Status.APPROVED
    if action == "appeal_reject":
        return Appeal.objects.get(pk=w["appeal"].pk).status == Appeal.Status.REJECTED
    if action == "preset_edit":
        return WarningPreset.objects.get(pk=w["preset"].pk).title == "Be kinder"
    if action == "ip_ban":
        return IpBan.objects.filter(network="192.0.2.0/24").exists()
    raise AssertionError(action)


@pytest.mark.parametrize("action", ACTIONS)
@pytest.mark.parametrize("role", ROLES)
def test_permission_matrix(request, world, moderator, role, action):
    actor = None if role == "anonymous" else request.getfixturevalue(role)
    resp = _do(action, _client(actor), world, moderator)
    if role == "anonymous":
        expected = "login"
        assert resp.status_code == 302 and resp["Location"].startswith("/admin/login/"), resp.status_code
    elif role == "superuser" or (role == "moderator" and action in MODERATOR_MAY):
        expected = "allowed"
        assert resp.status_code == 302 and not resp["Location"].startswith("/admin/login/"), resp.content[:1500]
    else:
        expected = "403"
        assert resp.status_code == 403
        assert b'id="site-name"' in resp.content  # an admin page, not raw JSON
    assert _happened(action, world, actor) is (expected == "allowed"), (role, action)
