"""A moderator in a real browser (Debian's Chromium through Playwright, never a downloaded browser):
log in, open the report queue, read the evidence, ban the reported user for 24 h from the report
page; then that user's API calls get 403 "banned" and the audit log tells the story."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest

import social.selectors
from moderation import services
from audit.models import AuditLog
from moderation.models import Ban

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason=f"{CHROMIUM} is not installed (apt-get install chromium)"),
]


def test_moderator_bans_reported_user_from_the_report_page(daphne_factory, moderator, make_user, make_session,
                                                           monkeypatch):
    from playwright.sync_api import expect, sync_playwright

    reporter = make_user(name="Alice Reporter")
    reported = make_user(name="Bob Reported")
    _, reported_token = make_session(reported)
    monkeypatch.setattr(social.selectors, "room_evidence_for_reporter", lambda **kw: {
        "mode": "video", "start": "2026-11-22T10:00:00Z", "duration": 184, "end_reason": "reported",
        "users": [{"public_id": str(reporter.public_id), "name": reporter.name},
                  {"public_id": str(reported.public_id), "name": reported.name}],
        "messages": [
            {"sender": str(reporter.public_id), "body": "hi!", "at": "2026-11-22T10:00:05Z"},
            {"sender": str(reported.public_id), "body": "send me pics or else", "at": "2026-11-22T10:00:20Z"},
        ],
    }, raising=False)
    report = services.report_create(reporter=reporter, reported_user_id=reported.public_id, category="harassment",
                                    details="threats in chat", room_id=uuid.uuid4())
    server = daphne_factory()
    assert server.request("GET", "/api/reports/mine", token=reported_token)[0] == 200

    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--no-first-run"],
        )
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 1400})
            page.set_default_timeout(15_000)
            page.goto(f"{server.base_url}/admin/login/?next=/admin/")
            page.fill("#id_username", "mod@example.com")
            page.fill("#id_password", "mod-pass-1234")
            page.click("input[type=submit]")
            expect(page.locator("#moderation-dashboard-link")).to_be_visible()

            page.click("text=Open reports (queue)")
            expect(page.locator("#result_list")).to_contain_text("Bob Reported")
            page.click(f"#result_list a[href*='/moderation/report/{report.pk}/change/']")
            expect(page.locator(".evidence-transcript")).to_contain_text("send me pics or else")
            page.fill("#id_ban_reason", "Harassment in a video call")
            page.click("#btn-ban-24h")
            expect(page.locator("ul.messagelist")).to_contain_text("banned 24 h")
            page.screenshot(path=str(ARTIFACTS / "moderation-ban-from-report.png"), full_page=True)

            page.goto(f"{server.base_url}/admin/dashboard/")
            expect(page.locator("#bans-24h")).to_have_text("1")
            page.screenshot(path=str(ARTIFACTS / "moderation-dashboard.png"), full_page=True)
        finally:
            browser.close()

    status, body = server.request("GET", "/api/reports/mine", token=reported_token)
    assert status == 403, body
    assert body["error"]["code"] == "banned" and body["error"]["reason"] == "Harassment in a video call"
    assert body["error"]["until"] is not None
    status, me_ban = server.request("GET", "/api/me/ban", token=reported_token)
    assert status == 200 and me_ban["banned"] is True
    ban = Ban.objects.get(user=reported)
    assert ban.created_by == moderator and ban.report_id == report.pk
    story = list(AuditLog.objects.filter(actor=moderator).order_by("id").values_list("action", flat=True))
    assert story[:3] == ["admin.login", "ban.create", "case.decide"]  # the decision covers the whole case
    assert (ARTIFACTS / "moderation-ban-from-report.png").stat().st_size > 10_000
