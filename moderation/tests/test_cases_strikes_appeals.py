"""Cases (reports grouped by account), the notes thread, warnings (strikes) and appeals."""

from __future__ import annotations

from datetime import timedelta

import pytest

from config import clock
from moderation import cases, selectors, strikes
from audit.models import AuditLog
from moderation.models import Appeal, Ban, ModeratorNote, Report, Strike, WarningPreset
from moderation.selectors import user_ban_active

pytestmark = pytest.mark.django_db


@pytest.fixture
def four_reports(make_user, make_report):
    target = make_user("Target")
    reporters = [make_user(f"R{i}") for i in range(4)]
    reports = [make_report(reporter=r, reported=target, category=c)
               for r, c in zip(reporters, ["harassment", "spam", "harassment", "hate"])]
    return target, reporters, reports


def test_four_reports_are_one_case_in_the_queue(four_reports, make_report):
    target, reporters, reports = four_reports
    other = make_report()
    rows = list(cases.case_queue())
    assert len(rows) == 2
    row = next(r for r in rows if r["reported_id"] == target.pk)
    assert row["open_count"] == 4 and row["oldest"] == reports[0].created_at
    assert cases.case_categories(user_ids=[target.pk]) == {target.pk: ["harassment", "hate", "spam"]}
    assert cases.open_case_count() == 2
    assert [r["reported_id"] for r in cases.case_queue(category="spam")] == [target.pk]
    assert other.reported_id in {r["reported_id"] for r in cases.case_queue(unassigned=True)}


def test_a_decision_applies_to_every_report_and_each_reporter_is_told(four_reports, moderator, api, make_session):
    target, reporters, reports = four_reports
    decided = cases.case_decide(user=target, actor=moderator, decision="ban_7d", reason="Repeated harassment")
    assert len(decided) == 4
    assert Ban.objects.filter(user=target, automatic=False).count() == 1  # one ban for the case, not four
    # four reporters triggered an automatic ban pending review: the decision is that review
    assert not Ban.objects.filter(user=target, automatic=True, lifted_at__isnull=True).exists()
    for report in Report.objects.filter(reported=target):
        assert (report.status, report.action_taken, report.resolved_by) == ("resolved", "ban_7d", moderator)
    for reporter in reporters:
        _, token = make_session(reporter)
        api.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
        mine = api.get("/api/reports/mine").json()
        assert mine[0]["status"] == "resolved" and mine[0]["outcome"] == "We reviewed your report and suspended the account."
    entry = AuditLog.objects.get(action="case.decide")
    assert entry.before == {"open_reports": [r.pk for r in reports]} and entry.after["decision"] == "ban_7d"
    # decided once: a second decision finds no open report
    with pytest.raises(Exception) as exc:
        cases.case_decide(user=target, actor=moderator, decision="ban_24h")
    assert getattr(exc.value, "code", "") == "report_not_open"


def test_reopen_puts_a_report_back_in_the_case(four_reports, moderator):
    target, _, reports = four_reports
    cases.case_decide(user=target, actor=moderator, decision="dismiss")
    assert cases.open_case_count() == 0
    cases.report_reopen(report=reports[1], actor=moderator)
    assert [r["open_count"] for r in cases.case_queue()] == [1]
    assert AuditLog.objects.get(action="report.reopen").before == {"status": "dismissed", "action": "no_action"}


def test_assign_and_unassign_and_filters(four_reports, moderator, superuser):
    target, _, _ = four_reports
    assert cases.case_assign(user=target, actor=moderator, assignee=moderator) == 4
    assert [r["reported_id"] for r in cases.case_queue(assigned_to=moderator)] == [target.pk]
    assert list(cases.case_queue(assigned_to=superuser)) == []
    assert list(cases.case_queue(unassigned=True)) == []
    cases.case_assign(user=target, actor=moderator, assignee=None)
    assert [r["reported_id"] for r in cases.case_queue(unassigned=True)] == [target.pk]
    assert AuditLog.objects.filter(action__in=["case.assign", "case.unassign"]).count() == 2


def test_notes_are_appended_never_overwritten(four_reports, moderator):
    target, _, reports = four_reports
    cases.note_add(user=target, actor=moderator, text="first", report=reports[0])
    cases.note_add(user=target, actor=moderator, text="second")
    assert [n.text for n in cases.notes_for_user(user_id=target.pk)] == ["first", "second"]
    with pytest.raises(Exception):
        cases.note_add(user=target, actor=moderator, text="   ")
    assert ModeratorNote.objects.count() == 2


# --- warnings ----------------------------------------------------------------------------------

def test_warn_with_a_preset_the_user_sees_and_acknowledges_it(four_reports, moderator, auth_api):
    target, _, _ = four_reports
    preset = WarningPreset.objects.create(title="Be kind", text="Please keep calls respectful.")
    cases.case_decide(user=target, actor=moderator, decision="warn", preset=preset)
    assert Report.objects.filter(reported=target, action_taken="warned").count() == 4
    assert {selectors.report_outcome_text(r) for r in Report.objects.filter(reported=target)} == {
        "We reviewed your report and warned the account."}
    client = auth_api(user=target)
    body = client.get("/api/me/warnings").json()
    assert body["standing"] == 1 and body["unacknowledged"] == 1
    warning = body["results"][0]
    assert warning["text"] == "Please keep calls respectful." and warning["acknowledged_at"] is None
    assert client.post(f"/api/me/warnings/{warning['id']}/ack").status_code == 200
    assert client.get("/api/me/warnings").json()["unacknowledged"] == 0
    assert cases.strikes_count(user_id=target.pk) == 1
    # someone else's warning is not theirs to acknowledge
    other = auth_api()
    assert other.post(f"/api/me/warnings/{warning['id']}/ack").status_code == 404


# --- appeals ---------------------------------------------------------------------------------

def test_a_banned_user_appeals_and_approval_unbans_at_once(four_reports, moderator, auth_api):
    target, _, _ = four_reports
    cases.case_decide(user=target, actor=moderator, decision="ban_permanent", reason="Hate")
    client = auth_api(user=target)
    assert client.get("/api/queue").status_code == 403  # banned everywhere else
    ban = client.get("/api/me/ban").json()
    assert ban["banned"] and ban["ban_id"] and ban["appeal"] is None
    resp = client.post("/api/appeals", {"ban_id": ban["ban_id"], "text": "It was my brother."}, format="json")
    assert resp.status_code == 201, resp.content
    assert client.post("/api/appeals", {"ban_id": ban["ban_id"], "text": "again"}, format="json").json()["error"][
        "code"] == "already_appealed"
    assert client.get("/api/appeals/mine").json()[0]["status"] == "pending"
    appeal = Appeal.objects.get()
    strikes.appeal_approve(appeal=appeal, actor=moderator)
    assert user_ban_active(user_id=target.pk) is None
    assert client.get("/api/queue").status_code == 200
    assert client.get("/api/appeals/mine").json()[0]["status"] == "approved"
    assert set(AuditLog.objects.filter(action__startswith="appeal.").values_list("action", flat=True)) == {
        "appeal.create", "appeal.approve"}
    assert AuditLog.objects.filter(action="ban.lift").exists()


def test_reject_needs_a_reason_the_user_sees(make_user, moderator, auth_api):
    target = make_user("T")
    strike = strikes.strike_create(user=target, actor=moderator, text="No spam")
    client = auth_api(user=target)
    client.post("/api/appeals", {"warning_id": strike.pk, "text": "I didn't"}, format="json")
    appeal = Appeal.objects.get()
    with pytest.raises(Exception):
        strikes.appeal_reject(appeal=appeal, actor=moderator, reason="")
    strikes.appeal_reject(appeal=appeal, actor=moderator, reason="The logs show 40 links.")
    mine = client.get("/api/appeals/mine").json()[0]
    assert mine["status"] == "rejected" and mine["decision_reason"] == "The logs show 40 links."
    assert Strike.objects.get().withdrawn_at is None
    with pytest.raises(Exception):
        strikes.appeal_approve(appeal=appeal, actor=moderator)  # decided once


def test_appeal_window_length_and_ownership(make_user, moderator, auth_api, settings):
    settings.MODERATION_APPEAL_WINDOW_DAYS = 20
    target, other = make_user("T"), make_user("O")
    strike = strikes.strike_create(user=target, actor=moderator, text="No spam")
    client = auth_api(user=target)
    too_long = client.post("/api/appeals", {"warning_id": strike.pk, "text": "x" * 2001}, format="json")
    assert too_long.status_code == 400 and "text" in too_long.json()["error"]["fields"]
    both = client.post("/api/appeals", {"warning_id": strike.pk, "ban_id": 1, "text": "x"}, format="json")
    assert both.status_code == 400
    assert auth_api(user=other).post("/api/appeals", {"warning_id": strike.pk, "text": "x"},
                                     format="json").status_code == 404
    clock.advance(timedelta(days=20, seconds=1).total_seconds())
    late = client.post("/api/appeals", {"warning_id": strike.pk, "text": "x"}, format="json")
    assert late.status_code == 403 and late.json()["error"]["code"] == "appeal_window_closed"
    assert not Appeal.objects.exists()


# --- admin -------------------------------------------------------------------------------------

def test_case_page_decides_everything_and_goes_to_the_next_case(client, four_reports, make_report, moderator):
    target, _, reports = four_reports
    nxt = make_report()
    client.force_login(moderator)
    page = client.get(f"/admin/moderation/report/{reports[2].pk}/change/").content.decode()
    assert "4 open reports" in page and 'id="open-cases"' in page
    resp = client.post(f"/admin/moderation/report/{reports[2].pk}/act/", {"do": "warn", "warning_text": "Calm down"})
    assert resp.status_code == 302 and resp["Location"].endswith(f"/admin/moderation/report/{nxt.pk}/change/")
    assert Report.objects.filter(reported=target, status="open").count() == 0
    assert Strike.objects.get(user=target).text == "Calm down"


def test_cases_list_groups_and_filters(client, four_reports, make_report, moderator):
    target, _, _ = four_reports
    make_report()
    client.force_login(moderator)
    html = client.get("/admin/cases/").content.decode()
    assert html.count("<td><a href=\"/admin/moderation/report/") == 2 and "Target" in html
    assert "Target" in client.get("/admin/cases/?category=hate").content.decode()
    assert "Target" not in client.get("/admin/cases/?filter=mine").content.decode()


@pytest.mark.parametrize("role,allowed", [("plain", False), ("moderator", True), ("superuser", True)])
def test_permission_matrix_for_appeal_decisions(client, make_user, moderator, superuser, role, allowed):
    target = make_user("T")
    strike = strikes.strike_create(user=target, actor=superuser, text="x")
    appeal = strikes.appeal_create(user=target, warning_id=strike.pk, text="please")
    actor = {"plain": make_user("P", is_staff=False), "moderator": moderator, "superuser": superuser}[role]
    client.force_login(actor)
    client.post("/admin/moderation/appeal/", {"action": "approve", "_selected_action": [appeal.pk]})
    appeal.refresh_from_db()
    assert (appeal.status == "approved") is allowed


def test_next_case_prefers_mine_or_unassigned_in_a_fixed_number_of_queries(
    make_user, make_report, moderator, superuser, django_assert_num_queries
):
    first, other, second, third = make_report(), make_report(), make_report(), make_report()
    for r in (first, other):  # someone else's cases, oldest
        cases.case_assign(user=r.reported, actor=superuser, assignee=superuser)
    cases.case_assign(user=third.reported, actor=moderator, assignee=moderator)
    with django_assert_num_queries(2):  # not one query per case skipped
        assert cases.next_case_user_id(moderator=moderator) == second.reported_id
    assert cases.next_case_user_id(after_user_id=second.reported_id, moderator=moderator) == third.reported_id
    assert cases.next_case_user_id(moderator=None) == first.reported_id
