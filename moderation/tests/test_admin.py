"""Permission matrix for every admin screen and action: plain user, moderator, superuser."""

from datetime import timedelta

import pytest
from django.contrib.auth.models import Group
from django.test import Client

from accounts.models import Session
from moderation import services
from audit.models import AuditLog
from moderation.models import Ban, IpBan
from moderation.selectors import user_ban_active

pytestmark = pytest.mark.django_db


@pytest.fixture
def plain(make_user):
    return make_user(email="plain@example.com", password="plain-pass-1234", account_type="permanent")


@pytest.fixture
def as_(db):
    def _login(user):
        c = Client()
        c.force_login(user, backend="accounts.backends.EmailBackend")
        return c

    return _login


def _role(request, name):
    return request.getfixturevalue(name)


ROLES = ["plain", "moderator", "superuser"]


def test_moderators_group_has_exactly_the_needed_permissions(moderator):
    import importlib

    migration = importlib.import_module("moderation.migrations.0002_bans_reports")
    later = importlib.import_module("moderation.migrations.0003_cases_notes_warnings_appeals")
    # audit/migrations/0001 moved the audit log's content type (and its permissions) to ``audit``
    moved = {("moderation", "view_auditlog"): ("audit", "view_auditlog")}
    assert [moved.get(p, p) for p in migration.MODERATOR_PERMISSIONS] + [
        ("moderation", codename) for codename in later.NEW_MODERATOR_PERMISSIONS
    ] == services.MODERATOR_PERMISSIONS
    perms = {
        f"{p.content_type.app_label}.{p.codename}" for p in Group.objects.get(name="Moderators").permissions.all()
    }
    assert perms == moderator.get_all_permissions() == {
        "accounts.view_user", "accounts.view_session",
        "moderation.view_report", "moderation.change_report",
        "moderation.view_ban", "moderation.add_ban", "moderation.change_ban",
        "moderation.revoke_sessions", "moderation.view_dashboard",
        "moderation.view_ipban", "moderation.add_ipban", "moderation.change_ipban",
        "audit.view_auditlog",
        "moderation.view_strike", "moderation.change_strike", "moderation.view_appeal", "moderation.change_appeal",
        "moderation.view_warningpreset", "moderation.view_moderatornote", "moderation.add_moderatornote",
    }
    assert not any(p.endswith(("delete_auditlog", "change_auditlog", "change_user")) for p in perms)


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(
    "url",
    [
        "/admin/",
        "/admin/dashboard/",
        "/admin/moderation/report/",
        "/admin/moderation/ban/",
        "/admin/moderation/ipban/",
        "/admin/moderation/ipban/add/",
        "/admin/audit/auditlog/",
        "/admin/accounts/user/",
        "/admin/accounts/user/?banned=yes",
        "/admin/accounts/user/?q=someone",
    ],
)
def test_screens(request, as_, role, url):
    resp = as_(_role(request, role)).get(url)
    if role == "plain":
        assert resp.status_code == 302 and "/admin/login/" in resp["Location"]
    else:
        assert resp.status_code == 200, (url, resp.status_code)


@pytest.mark.parametrize("role", ROLES)
def test_report_page_shows_evidence_and_decide_buttons(request, as_, make_user, make_report, role, monkeypatch):
    import uuid

    import social.selectors

    monkeypatch.setattr(social.selectors, "room_evidence_for_reporter", lambda **kw: {
        "mode": "text", "duration": 95, "end_reason": "left",
        "users": [{"public_id": "a1", "name": "Alice"}, {"public_id": "b2", "name": "Bob"}],
        "messages": [{"sender": "b2", "body": "<b>nasty</b> words", "at": "2026-11-22T10:00:00Z"}],
    }, raising=False)
    report = make_report(room_id=uuid.uuid4())
    resp = as_(_role(request, role)).get(f"/admin/moderation/report/{report.pk}/change/")
    if role == "plain":
        assert resp.status_code == 302
        return
    html = resp.content.decode()
    assert resp.status_code == 200
    assert "Transcript" in html and "&lt;b&gt;nasty&lt;/b&gt; words" in html and "Bob" in html
    assert 'id="btn-ban-24h"' in html


ACT_CASES = [
    ("ban_24h", "resolved", "ban_24h", timedelta(hours=24)),
    ("ban_7d", "resolved", "ban_7d", timedelta(days=7)),
    ("ban_permanent", "resolved", "ban_permanent", None),
    ("no_action", "resolved", "no_action", False),
    ("dismiss", "dismissed", "no_action", False),
]


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("do, status, action, duration", ACT_CASES)
def test_report_page_actions(request, as_, make_report, role, do, status, action, duration):
    report = make_report()
    actor = _role(request, role)
    # a permanent ban needs its confirmation box ticked (without it: refused, nothing happens)
    if do == "ban_permanent" and role != "plain":
        as_(actor).post(f"/admin/moderation/report/{report.pk}/act/", {"do": do, "reason": "Because"})
        report.refresh_from_db()
        assert report.status == "open" and not Ban.objects.exists()
    resp = as_(actor).post(f"/admin/moderation/report/{report.pk}/act/",
                           {"do": do, "reason": "Because", "confirm_permanent": "1"})
    report.refresh_from_db()
    if role == "plain":
        assert resp.status_code == 302 and "/admin/login/" in resp["Location"]
        assert report.status == "open" and not Ban.objects.exists()
        return
    assert resp.status_code == 302
    assert report.status == status and report.action_taken == action and report.resolved_by == actor
    entry = AuditLog.objects.get(action="case.decide")
    assert entry.actor == actor and entry.actor_type == "moderator"
    assert entry.before == {"open_reports": [report.pk]} and entry.after["decision"] == do
    if duration is False:
        assert not Ban.objects.exists()
    else:
        ban = Ban.objects.get()
        assert ban.report == report and ban.reason == "Because" and ban.created_by == actor
        assert (ban.expires_at - ban.created_at) == duration if duration else ban.expires_at is None
    # a second decision is refused, not applied twice
    as_(actor).post(f"/admin/moderation/report/{report.pk}/act/", {"do": "ban_7d"})
    assert Ban.objects.count() == (0 if duration is False else 1)


@pytest.mark.parametrize("role", ROLES)
def test_report_queue_bulk_actions_and_assign(request, as_, make_report, role):
    r1, r2 = make_report(), make_report()
    actor = _role(request, role)
    c = as_(actor)
    resp = c.post("/admin/moderation/report/", {"action": "assign_to_me", "_selected_action": [r1.pk, r2.pk]})
    r1.refresh_from_db()
    if role == "plain":
        assert resp.status_code == 302 and r1.assigned_to is None
        return
    assert r1.assigned_to == actor
    c.post("/admin/moderation/report/", {"action": "resolve_ban_24h", "_selected_action": [r1.pk]})
    c.post("/admin/moderation/report/", {"action": "dismiss", "_selected_action": [r2.pk]})
    r1.refresh_from_db(), r2.refresh_from_db()
    assert (r1.status, r1.action_taken, r2.status) == ("resolved", "ban_24h", "dismissed")
    assert user_ban_active(user_id=r1.reported_id) is not None


@pytest.mark.parametrize("role", ROLES)
def test_report_notes_are_a_thread_written_through_the_service(request, as_, make_report, role):
    from moderation.models import ModeratorNote

    report = make_report()
    actor = _role(request, role)
    resp = as_(actor).post(f"/admin/moderation/report/{report.pk}/change/", {"new_note": "checked logs"})
    if role == "plain":
        assert resp.status_code == 302 and not ModeratorNote.objects.exists()
        return
    assert resp.status_code == 302, resp.content[:2000]
    as_(actor).post(f"/admin/moderation/report/{report.pk}/change/", {"new_note": "second look"})
    notes = list(ModeratorNote.objects.filter(user=report.reported))
    assert [n.text for n in notes] == ["checked logs", "second look"]  # appended, never overwritten
    assert all(n.author == actor and n.report_id == report.pk for n in notes)
    assert AuditLog.objects.filter(action="note.add").count() == 2
    page = as_(actor).get(f"/admin/moderation/report/{report.pk}/change/").content.decode()
    assert "checked logs" in page and "second look" in page


@pytest.mark.parametrize("role", ROLES)
def test_user_actions(request, as_, make_user, make_session, role):
    actor = _role(request, role)
    target = make_user()
    make_session(target, ip="198.51.100.3")
    c = as_(actor)
    url = "/admin/accounts/user/"
    sel = {"_selected_action": [target.pk]}
    # the ban form, then the ban
    form = c.post(url, {"action": "ban_users", **sel})
    resp = c.post(url, {"action": "ban_users", "apply": "1", "duration": "7d", "reason": "spam", **sel})
    if role == "plain":
        assert form.status_code == 302 and resp.status_code == 302 and not Ban.objects.exists()
        c.post(url, {"action": "revoke_sessions", **sel})
        c.post(url, {"action": "ban_ips", "apply": "1", "reason": "x", "expires_in": "", **sel})
        assert Session.objects.filter(user=target, revoked_at__isnull=True).count() == 1
        assert not IpBan.objects.exists()
        return
    assert form.status_code == 200 and b"Ban users" in form.content
    ban = Ban.objects.get(user=target)
    assert ban.reason == "spam" and ban.created_by == actor
    c.post(url, {"action": "lift_bans", "apply": "1", "reason": "appeal", **sel})
    ban.refresh_from_db()
    assert ban.lifted_by == actor and ban.lift_reason == "appeal"
    c.post(url, {"action": "ban_ips", "apply": "1", "reason": "evasion", "expires_in": "7d", **sel})
    assert list(IpBan.objects.values_list("network", flat=True)) == ["198.51.100.3/32"]
    c.post(url, {"action": "revoke_sessions", **sel})
    assert not Session.objects.filter(user=target, revoked_at__isnull=True).exists()
    actions = set(AuditLog.objects.filter(actor=actor).values_list("action", flat=True))
    assert {"ban.create", "ban.lift", "ipban.create", "user.ban_ips", "moderation.revoke_sessions"} <= actions
    # the user page shows sessions, bans, reports and history
    page = c.get(f"/admin/accounts/user/{target.pk}/change/").content.decode()
    assert "198.51.100.3" in page and "Reports against this user" in page and "ban.create" in page


def test_moderator_cannot_edit_users_staff_or_permissions(as_, moderator, make_user, superuser):
    c = as_(moderator)
    victim = make_user(name="Victim")
    resp = c.post(f"/admin/accounts/user/{victim.pk}/change/", {"name": "Hacked", "is_staff": "on"})
    assert resp.status_code == 403
    victim.refresh_from_db()
    assert victim.name == "Victim" and not victim.is_staff
    assert c.get("/admin/auth/group/").status_code == 403
    assert c.get(f"/admin/accounts/user/{superuser.pk}/password/").status_code == 403
    # and cannot ban staff through the actions
    c.post("/admin/accounts/user/", {"action": "ban_users", "apply": "1", "duration": "24h", "reason": "x",
                                     "_selected_action": [superuser.pk]})
    assert not Ban.objects.exists()


@pytest.mark.parametrize("role", ROLES)
def test_ip_ban_add_and_lift(request, as_, role):
    actor = _role(request, role)
    c = as_(actor)
    resp = c.post("/admin/moderation/ipban/add/", {"network": "203.0.113.0/24", "reason": "abuse", "expires_in": "24h",
                                                   "confirm_range": "on"})
    if role == "plain":
        assert resp.status_code == 302 and not IpBan.objects.exists()
        return
    assert resp.status_code == 302, resp.content[:3000]
    ban = IpBan.objects.get()
    assert ban.created_by == actor and ban.expires_at is not None
    assert c.post("/admin/moderation/ipban/add/", {"network": "nope", "reason": "x"}).status_code == 200
    c.post("/admin/moderation/ipban/", {"action": "lift", "_selected_action": [ban.pk]})
    ban.refresh_from_db()
    assert ban.lifted_by == actor
    assert c.post(f"/admin/moderation/ipban/{ban.pk}/delete/").status_code == 403


@pytest.mark.parametrize("role", ROLES)
def test_ban_list_lift_action(request, as_, make_user, moderator, role):
    ban = services.ban_create(user=make_user(), actor=moderator, reason="x", duration=None)
    actor = _role(request, role)
    c = as_(actor)
    c.post("/admin/moderation/ban/", {"action": "lift", "apply": "1", "reason": "ok", "_selected_action": [ban.pk]})
    ban.refresh_from_db()
    assert (ban.lifted_by == actor) == (role != "plain")
    if role != "plain":
        assert c.post(f"/admin/moderation/ban/{ban.pk}/delete/").status_code == 403


@pytest.mark.parametrize("role", ["moderator", "superuser"])
def test_audit_log_is_append_only_for_everyone(as_, request, make_user, moderator, role):
    services.ban_create(user=make_user(), actor=moderator, reason="x", duration=None)
    entry = AuditLog.objects.get(action="ban.create")
    c = as_(_role(request, role))
    assert c.get(f"/admin/audit/auditlog/{entry.pk}/change/").status_code == 200  # view only
    assert c.post(f"/admin/audit/auditlog/{entry.pk}/change/", {"action": "edited"}).status_code == 403
    assert c.post(f"/admin/audit/auditlog/{entry.pk}/delete/", {"post": "yes"}).status_code == 403
    assert c.get("/admin/audit/auditlog/add/").status_code == 403
    c.post("/admin/audit/auditlog/", {"action": "delete_selected", "_selected_action": [entry.pk], "post": "yes"})
    assert AuditLog.objects.filter(pk=entry.pk, action="ban.create").exists()
    page = c.get(f"/admin/audit/auditlog/{entry.pk}/change/").content
    assert b'name="_save"' not in page and b"deletelink" not in page


def test_dashboard_shows_counts_and_table_stats(as_, moderator, make_user, make_report):
    make_report()
    services.ban_create(user=make_user(), actor=moderator, reason="x", duration=timedelta(hours=1))
    html = as_(moderator).get("/admin/dashboard/").content.decode()
    assert 'id="open-reports">1 ' in html
    assert 'id="bans-24h">1<' in html
    assert 'id="users-online">0<' in html
    assert "moderation_report" in html and "accounts_user" in html
    assert 'id="live-rooms">0<' in html


def test_dashboard_counts_live_rooms(as_, moderator, make_user):
    from social.services import room_end, room_start

    rooms = [room_start(inviter_id=make_user().pk, invitee_id=make_user().pk, mode="text", seconds=600) for _ in range(3)]
    room_end(room_id=rooms[0].pk, reason="user")
    assert 'id="live-rooms">2<' in as_(moderator).get("/admin/dashboard/").content.decode()


def test_admin_login_is_rate_limited_and_audited(moderator, settings):
    settings.ADMIN_LOGIN_ATTEMPTS_PER_5_MIN = 3
    c = Client()
    ok = c.post("/admin/login/?next=/admin/", {"username": "mod@example.com", "password": "mod-pass-1234"})
    assert ok.status_code == 302
    assert AuditLog.objects.filter(action="admin.login", actor=moderator).count() == 1
    c = Client()
    for _ in range(2):
        assert c.post("/admin/login/", {"username": "mod@example.com", "password": "wrong"}).status_code == 200
    resp = c.post("/admin/login/", {"username": "mod@example.com", "password": "mod-pass-1234"})
    assert resp.status_code == 429 and "Retry-After" in resp
    # other addresses are limited for this username too (credential stuffing from many IPs)
    resp = Client(REMOTE_ADDR="192.0.2.50").post("/admin/login/", {"username": "mod@example.com", "password": "x"})
    assert resp.status_code == 429


def test_user_search_by_exact_usc_id_uses_the_growth_lookup(as_, moderator, make_user):
    from invites.services import ScannedCard, usc_card_hash, usc_card_register

    carded = make_user(name="Carded")
    make_user(name="Zed Uncarded")
    usc_card_register(user=carded, card=ScannedCard(card_hash=usc_card_hash("1234567890"), last4="7890"))
    html = as_(moderator).get("/admin/accounts/user/?q=1234567890").content.decode()
    assert "Carded" in html and "Zed Uncarded" not in html


def test_user_list_banned_filter_and_column(as_, moderator, make_user):
    banned, free = make_user(name="Banned Person"), make_user(name="Free Person")
    services.ban_create(user=banned, actor=moderator, reason="x", duration=timedelta(days=1))
    c = as_(moderator)
    html = c.get("/admin/accounts/user/?banned=yes").content.decode()
    assert "Banned Person" in html and "Free Person" not in html
    html = c.get("/admin/accounts/user/?banned=no").content.decode()
    assert "Banned Person" not in html and "Free Person" in html
    html = c.get("/admin/moderation/report/?reported__id__exact=%d" % banned.pk)
    assert html.status_code == 200


def test_staff_without_the_group_sees_nothing(as_, make_user, make_report):
    staff = make_user(is_staff=True, email="staff@example.com")
    report = make_report()
    c = as_(staff)
    assert c.get("/admin/dashboard/").status_code == 403
    assert c.get("/admin/moderation/report/").status_code == 403
    assert c.post(f"/admin/moderation/report/{report.pk}/act/", {"do": "ban_24h"}).status_code == 403
    assert c.get("/admin/accounts/user/").status_code == 403
    assert not Ban.objects.exists()


@pytest.mark.parametrize("role", ROLES)
def test_user_page_buttons(request, as_, make_user, make_session, role):
    actor = _role(request, role)
    target = make_user()
    make_session(target, ip="198.51.100.44")
    c = as_(actor)
    base = f"/admin/accounts/user/{target.pk}"
    page = c.get(f"{base}/change/")
    if role == "plain":
        assert page.status_code == 302
        assert c.post(f"{base}/moderate/ban/", {"apply": "1", "duration": "24h", "reason": "x"}).status_code == 302
        assert not Ban.objects.exists()
        return
    assert all(f'id="user-action-{w}"' in page.content.decode() for w in ("ban", "lift", "ban-ips", "revoke"))
    assert c.get(f"{base}/moderate/ban/").status_code == 200
    resp = c.post(f"{base}/moderate/ban/", {"apply": "1", "duration": "24h", "reason": "from the user page"})
    assert resp.status_code == 302 and resp["Location"].endswith(f"{base}/change/")
    assert Ban.objects.get(user=target).reason == "from the user page"
    assert c.post(f"{base}/moderate/ban/", {"apply": "1", "duration": "24h", "reason": ""}).status_code == 200
    c.post(f"{base}/moderate/lift/", {"apply": "1", "reason": "ok"})
    assert user_ban_active(user_id=target.pk) is None
    c.post(f"{base}/moderate/ban-ips/", {"apply": "1", "reason": "x", "expires_in": ""})
    assert IpBan.objects.filter(network="198.51.100.44/32").exists()
    assert c.get(f"{base}/moderate/revoke/").status_code == 200
    c.post(f"{base}/moderate/revoke/", {"apply": "1"})
    assert not Session.objects.filter(user=target, revoked_at__isnull=True).exists()
    assert c.get(f"{base}/moderate/nope/").status_code == 404
