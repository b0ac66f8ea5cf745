"""A moderator's night, in a real browser (Debian's Chromium through Playwright) against real Daphne
processes, with the users driven through the HTTP API and a WebSocket:

four users report Bob (one of them from a room they shared, so the case carries its transcript) and
one reports Carl → the queue at 1366 px shows TWO cases, Bob's with 4 reports, the age and assignee
columns inside the viewport → Bob's case: evidence, two notes (both stay) → warn with a preset →
Bob's open socket gets ``warning.received`` → "next case" lands on Carl → ban 7 days → Carl appeals
through the API → the appeal queue → approve → Carl is unbanned, also on a second Daphne process
(with Redis; the embedded configuration has no shared cache or channel layer, so there the socket
and the check use the one process).

The automatic ban at 4 distinct reporters is raised to 5 for this run (``MODERATION_AUTO_BAN_REPORTERS``)
so Bob's socket stays open until the warning; the automatic ban is tested in test_cases_strikes_appeals.
Screenshots of every screen: ``var/artifacts/moderation/``."""

from __future__ import annotations

import contextlib
import json
import os
import time
from pathlib import Path

import pytest

from audit.models import AuditLog
from moderation.models import Appeal, Ban, ModeratorNote, Report, Strike, WarningPreset

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[2] / "var" / "artifacts" / "moderation"
WIDTH = 1366

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason=f"{CHROMIUM} is not installed (apt-get install chromium)"),
]

SERVER_ENV = {"MODERATION_AUTO_BAN_REPORTERS": "5"}


def _room_with_transcript(alice, bob):
    """A real ended text room between Alice and Bob with three messages (what the report snapshots)."""
    from social import services as social_services
    from social.messages import room_message_send

    room = social_services.room_start(inviter_id=alice.pk, invitee_id=bob.pk, mode="text", seconds=300)
    for i, (who, body) in enumerate([(alice, "hi!"), (bob, "send me pics or else"), (alice, "bye")]):
        room_message_send(user_id=who.pk, sender_public_id=who.public_id, client_id=f"m{i}", body=body)
    social_services.room_end(room_id=room.pk, reason="user", actor_id=alice.pk)
    return room


def _recv_until(ws, wanted: str, timeout: float = 5.0) -> dict:
    """The first frame of type ``wanted`` within ``timeout`` (other frames are skipped)."""
    deadline = time.monotonic() + timeout
    seen = []
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError(f"no {wanted} within {timeout}s; saw {seen}")
        frame = json.loads(ws.recv(timeout=left))
        if frame.get("type") == wanted:
            return frame
        seen.append(frame.get("type"))


def _columns_fit(page, table: str, headers: list[str]) -> dict:
    """Whether the table fits its container and the named columns' cells lie inside the viewport."""
    return page.evaluate(
        """([sel, headers]) => {
            const t = document.querySelector(sel);
            const heads = [...t.querySelectorAll('thead th')].map(th => th.textContent.trim());
            const out = {scroll: t.scrollWidth, client: t.parentElement.clientWidth,
                         page: document.documentElement.scrollWidth, vw: window.innerWidth, cells: {}};
            for (const h of headers) {
                const i = heads.findIndex(x => x === h || x.endsWith(h));
                out.cells[h] = [...t.querySelectorAll('tr')].map(r => r.children[i]).filter(Boolean)
                    .map(c => { const b = c.getBoundingClientRect(); return [b.left, b.right, c.scrollWidth <= c.clientWidth + 1]; });
            }
            return out;
        }""",
        [table, headers],
    )


def _assert_fits(page, table: str, headers: list[str]) -> None:
    fit = _columns_fit(page, table, headers)
    assert fit["scroll"] <= fit["client"] and fit["page"] <= fit["vw"], fit
    for column, cells in fit["cells"].items():
        assert cells, (column, fit)
        for left, right, no_overflow in cells:
            assert 0 <= left and right <= WIDTH and no_overflow, (column, fit)


def test_a_moderators_night(daphne_factory, moderator, make_user, make_session, settings):
    from playwright.sync_api import expect, sync_playwright
    from websockets.sync.client import connect

    started = time.monotonic()
    two_processes = bool(settings.REDIS_URL)
    alice, bob, carl = make_user(name="Alice Reporter"), make_user(name="Bob Reported"), make_user(name="Carl Second")
    reporters = [alice, make_user(name="Dana Reporter"), make_user(name="Eve Reporter"), make_user(name="Finn Reporter")]
    tokens = {u.pk: make_session(u)[1] for u in [*reporters, bob, carl]}
    room = _room_with_transcript(alice, bob)
    preset = WarningPreset.objects.create(title="Respect others", text="Threats are not allowed here. Be respectful.")

    server = daphne_factory(env=SERVER_ENV, log_name="daphne-night")
    other = daphne_factory(env=SERVER_ENV, log_name="daphne-night") if two_processes else server
    for i, reporter in enumerate(reporters):
        body = {"reported_user_id": str(bob.public_id), "category": "harassment" if i % 2 == 0 else "spam",
                "details": f"report {i + 1}"}
        if reporter == alice:
            body["room_id"] = str(room.pk)
        status, answer = server.request("POST", "/api/reports", body, token=tokens[reporter.pk])
        assert status == 201, answer
    status, answer = server.request("POST", "/api/reports", {"reported_user_id": str(carl.public_id),
                                                            "category": "spam"}, token=tokens[alice.pk])
    assert status == 201, answer
    assert not Ban.objects.exists()  # below the (raised) automatic-ban threshold

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shots = []

    def shot(page, name):
        path = ARTIFACTS / f"{len(shots) + 1:02d}-{name}.png"
        page.screenshot(path=str(path), full_page=True)
        shots.append(path)

    with contextlib.ExitStack() as stack:
        # Bob's app is open (on the other process when there are two): it will hear the warning.
        bob_ws = stack.enter_context(connect(other.ws_url, origin=other.base_url, open_timeout=5, proxy=None))
        bob_ws.send(json.dumps({"type": "auth", "token": tokens[bob.pk]}))
        _recv_until(bob_ws, "auth.ok")

        pw = stack.enter_context(sync_playwright())
        browser = pw.chromium.launch(
            executable_path=CHROMIUM, headless=True,
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--no-first-run"],
        )
        stack.callback(browser.close)
        page = browser.new_page(viewport={"width": WIDTH, "height": 800})
        page.set_default_timeout(15_000)

        page.goto(f"{server.base_url}/admin/login/?next=/admin/")
        page.fill("#id_username", "mod@example.com")
        page.fill("#id_password", "mod-pass-1234")
        page.click("input[type=submit]")
        expect(page.locator("#open-cases")).to_contain_text("Open cases: 2")

        # The queue: one row per case; Bob's four reports are one case.
        page.click("#open-cases")
        rows = page.locator("#case-list tbody tr")
        expect(rows).to_have_count(2)
        bob_row = rows.filter(has_text="Bob Reported")
        expect(bob_row.locator("td").nth(1)).to_have_text("4")
        expect(bob_row).to_contain_text("Harassment")
        _assert_fits(page, "#case-list", ["Waiting", "Assigned"])
        shot(page, "case-queue-1366px")

        # Bob's case: the room's transcript, readable.
        bob_row.locator("a").first.click()
        expect(page.locator("#case-summary")).to_contain_text("4 open reports about this user")
        expect(page.locator(".evidence-transcript")).to_contain_text("send me pics or else")
        expect(page.locator(".evidence-transcript")).not_to_contain_text("None")
        shot(page, "case-evidence")

        # Two notes; the second doesn't replace the first.
        for text in ("Seen before in October.", "Alice's transcript matches the other reports."):
            page.fill("#id_new_note", text)
            page.click("input[name=_continue]")
            expect(page.locator("ul.messagelist")).to_be_visible()
        expect(page.locator(".notes-thread li")).to_have_count(2)
        expect(page.locator(".notes-thread")).to_contain_text("Seen before in October.")
        shot(page, "case-two-notes")

        # Warn with a preset: the decision covers all four reports; Bob's socket hears it at once.
        page.select_option("#id_preset", label="Respect others")
        page.click("#btn-warn")
        expect(page.locator("ul.messagelist")).to_contain_text("Case decided: warned (4 reports")
        warning = _recv_until(bob_ws, "warning.received")
        assert "Threats are not allowed here" in json.dumps(warning)
        status, mine = other.request("GET", "/api/me/warnings", token=tokens[bob.pk])
        assert status == 200 and "Threats are not allowed here" in json.dumps(mine)

        # "Next case" took us to Carl's.
        expect(page.locator("#case-summary")).to_contain_text("Carl Second")
        shot(page, "next-case")
        page.click("#btn-ban-7d")
        expect(page.locator("ul.messagelist")).to_contain_text("Case decided: banned 7 days")
        expect(page.locator("#open-cases")).to_contain_text("Open cases: 0")
        expect(page.locator("#content-main")).to_contain_text("No open case")  # back on the (empty) queue
        shot(page, "queue-empty-after-ban")
        # The per-report list (every report, decided ones too) fits as well.
        page.goto(f"{server.base_url}/admin/moderation/report/")
        _assert_fits(page, "#result_list", ["Assigned", "Filed"])
        shot(page, "reports-list-1366px")

        # Carl is banned on every process and appeals through the API (the one route left to him).
        status, body = other.request("GET", "/api/reports/mine", token=tokens[carl.pk])
        assert status == 403 and body["error"]["code"] == "banned", body
        status, ban = other.request("GET", "/api/me/ban", token=tokens[carl.pk])
        assert status == 200 and ban["banned"] is True and ban["ban_id"], ban
        status, appeal = server.request("POST", "/api/appeals", {"ban_id": ban["ban_id"],
                                                                 "text": "It was a misunderstanding; sorry."},
                                        token=tokens[carl.pk])
        assert status == 201, appeal

        # The appeal queue → approve.
        page.goto(f"{server.base_url}/admin/moderation/appeal/")
        expect(page.locator("#result_list")).to_contain_text("Carl Second")
        shot(page, "appeal-queue")
        page.locator(f"#result_list input[name=_selected_action][value='{appeal['id']}']").check()
        page.select_option("select[name=action]", "approve")
        page.click("button[name=index]")
        expect(page.locator("ul.messagelist")).to_contain_text("Approved 1 appeal; the user is told.")
        _assert_fits(page, "#result_list", ["Filed", "Decided by"])
        shot(page, "appeal-approved")

    # Unbanned, on the process that had him cached as banned too.
    status, body = other.request("GET", "/api/reports/mine", token=tokens[carl.pk])
    assert status == 200, body
    assert server.request("GET", "/api/me/ban", token=tokens[carl.pk])[1]["banned"] is False

    assert Report.objects.filter(reported=bob, status="resolved", action_taken="warned").count() == 4
    assert Strike.objects.filter(user=bob, preset=preset).count() == 1
    assert ModeratorNote.objects.filter(user=bob).count() == 2
    assert Appeal.objects.get(pk=appeal["id"]).status == Appeal.Status.APPROVED
    story = list(AuditLog.objects.filter(actor=moderator).order_by("id").values_list("action", flat=True))
    assert story == ["admin.login", "note.add", "note.add", "warning.create", "case.decide", "ban.create",
                     "case.decide", "ban.lift", "appeal.approve"], story
    assert all(p.stat().st_size > 10_000 for p in shots) and len(shots) == 8
    print(f"\nmoderator's night: {time.monotonic() - started:.1f} s, two processes: {two_processes}")
