"""Two students in real browsers (Debian's Chromium through Playwright, fake camera and microphone)
against a real Daphne process: sign up, see each other, video call (WebRTC connected, frames
decoded), side chat both ways, a text room; the server is killed with SIGKILL mid-call and started
again, and both pages resume the same room by themselves with the timer running on and no message
lost or doubled; the calls show up in both histories.  Around that: the report dialog, skip,
block and unblock, the USC card step (typed ID: headless Chromium has no ``BarcodeDetector``),
revoking another device's session (that page is told to sign in again), the data export, account
deletion, invite outcomes, the torch rule and the ban screen.  Screenshots of every screen go to
``var/artifacts/web/``; the second user of each pair runs at phone width (390 × 844).

One Chromium serves the whole module (a context per user); each test starts its own Daphne with
the settings it needs."""

from __future__ import annotations

import json
import os
import struct
import time
import zlib
from pathlib import Path

import pytest
from django.conf import settings

from accounts.models import User
from invites.models import UscCardRegistration
from invites.services import invite_batch_create
from moderation.models import Report
from social.models import Room, RoomMessage

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[2] / "var" / "artifacts" / "web"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason=f"{CHROMIUM} is not installed (apt-get install chromium)"),
]

ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--no-first-run", "--disable-sync", "--disable-default-apps", "--metrics-recording-only",
    "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
    "--autoplay-policy=no-user-gesture-required",
]
SERVER_ENV = {
    "DEBUG": "1",  # serves uploaded photos under /media/ (the development default)
    "CALL_COOLDOWN_SECONDS": "0",  # the same two people call twice in this test
    # ROOM_GRACE_SECONDS and ROOM_RESTART_GRACE_SECONDS: the defaults (10 s and 30 s) — a kill -9 is
    # survived within them, on a loaded machine too (the restart grace runs from the new process's start)
    "CALL_COMPLETION_MIN_SECONDS": "1",  # both calls count towards the invite code, however short
}

# inbound video frames decoded and the peer connection's state, from the page
RTC_STATS = """async () => {
  const pc = window.campus.call && window.campus.call.pc;
  if (!pc) return {state: "none", frames: 0};
  const stats = await pc.getStats();
  let frames = 0;
  stats.forEach((r) => { if (r.type === "inbound-rtp" && r.kind === "video") frames += r.framesDecoded || 0; });
  return {state: pc.connectionState, frames};
}"""


def png(width: int = 64, height: int = 64) -> bytes:
    """A real PNG (a violet gradient): the server sniffs file types."""
    rows = b"".join(b"\x00" + bytes([120, 60 + y * 2, 240]) * width for y in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


def shot(page, name: str) -> None:
    """Save a screenshot of what the person sees — after checking no template slip shows."""
    import re

    text = page.locator("body").inner_text()
    slips = re.findall(r"\b(?:null|undefined|NaN)\b|\[object \w+\]", text)
    assert not slips, f"{name}: {slips} on the screen:\n{text}"
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=False)


PHONE = {
    "viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True,
    # what a phone's Chromium sends (the app names a device after it: "Browser on Android")
    "user_agent": "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
                  "Chrome/120.0.0.0 Mobile Safari/537.36",
}


@pytest.fixture(scope="module")
def browser():
    """One Chromium for the module: each test opens its own contexts (one per user) and closes them."""
    from playwright.sync_api import expect, sync_playwright

    # Playwright's sync API keeps its event loop on this thread between calls, and Django refuses
    # synchronous ORM calls where an event loop runs; the tests' own database work (factories,
    # assertions, the transactional flush) is synchronous and never touches that loop
    before = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    # a shared CI machine can be slow: assertions wait up to 15 s (still bounded) instead of 5 s
    expect.set_options(timeout=15_000)
    try:
        with sync_playwright() as pw:
            chromium = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
            try:
                yield chromium
            finally:
                chromium.close()
    finally:
        if before is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = before


@pytest.fixture
def open_page(browser):
    """``open_page(phone=False, **context_options)`` → a page in a fresh context (its own
    sessionStorage: its own user); every context is closed when the test ends."""
    contexts = []

    def _open(*, phone: bool = False, timeout: float = 30_000, **options):
        ctx = browser.new_context(**({**PHONE, **options} if phone else {"viewport": {"width": 1280, "height": 860}, **options}))
        contexts.append(ctx)
        page = ctx.new_page()
        page.set_default_timeout(timeout)  # bounded, but generous: CI machines are shared
        page.on("dialog", lambda d: d.accept())  # confirm(): "End the call for both of you?", "Block …?"
        return page

    yield _open
    for ctx in contexts:
        ctx.close()


def sign_up(page, base_url: str, name: str, *, photo: str, shots: str = "") -> None:
    page.goto(base_url + "/")
    page.get_by_label("Your first name").fill(name)
    page.get_by_role("button", name="Start chatting").click()
    page.get_by_role("heading", name="Add a photo").wait_for()
    if photo == "camera":
        page.wait_for_function("() => { const v = document.querySelector('video.selfie'); return v && v.videoWidth > 0; }")
        page.get_by_role("button", name="Take photo").click()
    else:
        page.get_by_label("Choose a photo file").set_input_files(
            {"name": "me.png", "mimeType": "image/png", "buffer": png()}
        )
    page.get_by_role("button", name="Use this photo").click()
    page.get_by_role("heading", name="Say hi in a short video").wait_for()
    if shots:
        page.wait_for_function("() => { const v = document.querySelector('video.selfie'); return v && v.videoWidth > 0; }")
        shot(page, shots)
    page.get_by_role("link", name="Skip for now").click()
    page.get_by_role("heading", name="People around").wait_for()


def messages(page) -> list[str]:
    return page.locator("#messages li.msg:not(.pending) .body").all_inner_texts()


def wait_messages(page, expected: list[str]) -> None:
    page.wait_for_function(
        """(exp) => {
          const got = [...document.querySelectorAll('#messages li.msg:not(.pending) .body')].map((e) => e.textContent);
          return JSON.stringify(got) === JSON.stringify(exp);
        }""",
        arg=expected,
    )


def rtc_stats(page, until, timeout: float = 45.0) -> dict:
    """Poll the page's RTCPeerConnection stats until ``until(stats)`` (bounded by ``timeout``)."""
    deadline = time.monotonic() + timeout
    while True:
        stats = page.evaluate(RTC_STATS)
        if until(stats):
            return stats
        if time.monotonic() > deadline:
            log = page.evaluate("() => window.campus.call ? window.campus.call.log : []")
            raise AssertionError(f"WebRTC never got there: {stats}\n" + "\n".join(log))
        page.wait_for_timeout(250)  # polling the browser's stats, bounded by the deadline


def video_flowing(stats: dict, more_than: int = 0) -> bool:
    return stats["state"] == "connected" and stats["frames"] > more_than


def restart(server, t_kill: float, pages) -> None:
    """Start the killed server again; both pages must be back by themselves, promptly: the SDK
    retries every 1–2 s while in a room, so once the server answers they are back within seconds."""
    t_start = time.monotonic()
    server.start(timeout=60)
    t_ready = time.monotonic()
    for page in pages:
        page.wait_for_function("() => window.campus.session.state === 'open'", timeout=30_000)
    back = time.monotonic() - t_ready
    print(f"kill -9 → restart: server down {t_start - t_kill:.1f} s, Daphne start {t_ready - t_start:.1f} s, "
          f"both pages resumed {back:.1f} s after it was ready ({time.monotonic() - t_kill:.1f} s after the kill)")
    assert back < 10, f"the pages took {back:.1f} s to reconnect to a running server"


def in_thread(fn):
    """Run code that sends realtime events outside Playwright's event loop (asgiref's
    async_to_sync refuses to run on a thread where an event loop runs)."""
    from concurrent.futures import ThreadPoolExecutor

    from django.db import connection

    def run():
        try:
            return fn()
        finally:
            connection.close()  # that thread's own connection (it would hold the test database open)

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(run).result()


def toast(page):
    return page.locator("#toasts")


def test_two_students_call_survive_kill9_and_find_it_in_history(daphne_factory, open_page):
    from playwright.sync_api import expect

    server = daphne_factory(env=SERVER_ENV)
    ann, ben = open_page(), open_page(phone=True)

    ann.goto(server.base_url + "/")
    expect(ann.get_by_role("heading", name="Meet someone new on campus")).to_be_visible()
    shot(ann, "01-welcome")
    sign_up(ann, server.base_url, "Ann", photo="camera")
    sign_up(ben, server.base_url, "Ben", photo="file", shots="03-intro-video-step-phone")
    shot(ben, "03-queue-empty-phone")

    # both go available and see each other
    for page in (ann, ben):
        page.get_by_text("Available for calls").click()
    expect(ann.locator("article.person", has_text="Ben")).to_be_visible()
    expect(ben.locator("article.person", has_text="Ann")).to_be_visible()
    shot(ann, "04-queue")
    shot(ben, "04-queue-phone")

    # a video call: invite with its countdown, accept
    ann.locator("article.person", has_text="Ben").get_by_role("button", name="Video call").click()
    expect(ben.locator(".invite-dialog")).to_contain_text("Ann wants a video call")
    expect(ann.locator(".invite-dialog")).to_contain_text("Calling Ben")
    shot(ben, "05-invite-incoming-phone")
    shot(ann, "05-invite-outgoing")
    ben.get_by_role("button", name="Accept").click()
    expect(ann.locator("section.video-room")).to_be_visible()
    expect(ben.locator("section.video-room")).to_be_visible()
    video_room = ann.locator("section.room").get_attribute("data-room")
    for page in (ann, ben):
        rtc_stats(page, video_flowing)

    # side chat both ways
    ann.get_by_label("Message").fill("hi Ben, can you hear me?")
    ann.get_by_role("button", name="Send").click()
    wait_messages(ben, ["hi Ben, can you hear me?"])
    ben.get_by_label("Message").fill("loud and clear")
    ben.keyboard.press("Enter")
    wait_messages(ann, ["hi Ben, can you hear me?", "loud and clear"])
    shot(ann, "06-video-room")
    shot(ben, "06-video-room-phone")

    # kill -9 mid-video-call: both pages come back to the same room, video renegotiated
    server.kill()
    t_kill = time.monotonic()
    expect(ann.locator("#banner")).to_contain_text("Reconnecting", timeout=20_000)
    shot(ann, "07-video-reconnecting")
    restart(server, t_kill, (ann, ben))
    for page in (ann, ben):
        expect(page.locator("#banner")).to_be_hidden()
        assert page.locator("section.room").get_attribute("data-room") == video_room
    for page in (ann, ben):
        before = rtc_stats(page, lambda s: s["state"] == "connected")["frames"]
        rtc_stats(page, lambda s, n=before: video_flowing(s, n))  # frames still being decoded
    print(f"video flowing again {time.monotonic() - t_kill:.1f} s after the kill")
    ann.get_by_role("button", name="End call").click()
    for page in (ann, ben):
        expect(page.get_by_role("heading", name="Call ended")).to_be_visible()
    expect(ann.locator("main")).to_contain_text("You ended the call.")
    expect(ben.locator("main")).to_contain_text("Ann ended the call.")
    shot(ben, "08-call-ended-phone")

    # a text room
    for page in (ann, ben):
        page.get_by_role("link", name="Back to people").click()
    ben.locator("article.person", has_text="Ann").get_by_role("button", name="Text chat").click()
    ann.get_by_role("button", name="Accept").click()
    expect(ann.locator("section.text-room")).to_be_visible()
    expect(ben.locator("section.text-room")).to_be_visible()
    text_room = ben.locator("section.room").get_attribute("data-room")
    ben.get_by_label("Message").fill("text mode now")
    ben.get_by_role("button", name="Send").click()
    ann.get_by_label("Message").type("typing…")
    expect(ben.locator("#typing")).to_contain_text("Ann is typing")
    ann.get_by_label("Message").fill("nice")
    ann.keyboard.press("Enter")
    for i in range(3):
        ben.get_by_label("Message").fill(f"ben {i}")
        ben.keyboard.press("Enter")
    expected = ["text mode now", "nice", "ben 0", "ben 1", "ben 2"]
    wait_messages(ann, expected)
    wait_messages(ben, expected)
    shot(ann, "09-text-room")
    shot(ben, "09-text-room-phone")
    ends_at = ann.evaluate("() => window.campus.session.room.ends_at")
    remaining_before = ann.evaluate("() => window.campus.session.remainingSeconds()")

    # kill -9 again, and this time the server stays down longer than the user grace
    # (ROOM_GRACE_SECONDS): the room survives on the restart grace, which runs from the new
    # process's start; a message written while the server is down waits in the outbox
    server.kill()
    t_kill = time.monotonic()
    expect(ben.locator("#banner")).to_contain_text("Reconnecting", timeout=20_000)
    ann.get_by_label("Message").fill("written while the server was down")
    ann.keyboard.press("Enter")
    expect(ann.locator("#messages li.pending")).to_contain_text("written while the server was down")
    shot(ann, "10-text-reconnecting")
    outage = settings.ROOM_GRACE_SECONDS + 1 - (time.monotonic() - t_kill)
    if outage > 0:
        ann.wait_for_timeout(outage * 1000)  # the outage itself (the scenario), not a synchronisation
    restart(server, t_kill, (ann, ben))
    expected.append("written while the server was down")
    for page in (ann, ben):
        wait_messages(page, expected)
        assert page.locator("section.room").get_attribute("data-room") == text_room
        assert page.evaluate("() => window.campus.session.room.ends_at") == ends_at
        remaining = page.evaluate("() => window.campus.session.remainingSeconds()")
        assert 0 < remaining < remaining_before, (remaining, remaining_before)
    expect(ann.locator("#messages li.pending")).to_have_count(0)
    ben.get_by_label("Message").fill("back!")
    ben.keyboard.press("Enter")
    expected.append("back!")
    wait_messages(ann, expected)
    wait_messages(ben, expected)
    shot(ben, "11-text-resumed-phone")

    # Ben reloads the page mid-call: a fresh page (nothing in memory) gets the room back, with
    # the whole conversation replayed, within the user grace
    ben.reload()
    expect(ben.locator("section.text-room")).to_be_visible()
    assert ben.locator("section.room").get_attribute("data-room") == text_room
    wait_messages(ben, expected)
    expect(ann.locator("#banner")).to_be_hidden()

    ben.get_by_role("button", name="End call").click()
    for page in (ann, ben):
        expect(page.get_by_role("heading", name="Call ended")).to_be_visible()

    # history on both sides, with the transcript
    for page, other in ((ann, "Ben"), (ben, "Ann")):
        page.get_by_role("link", name="History").first.click()
        items = page.locator("li.history-item")
        expect(items).to_have_count(2)
        expect(items.first).to_contain_text(other)
        expect(items.first).to_contain_text("Text")
        expect(items.nth(1)).to_contain_text("Video")
        items.first.get_by_role("button", name="Messages").click()
        expect(items.first.locator(".transcript li")).to_have_count(len(expected))
    shot(ann, "12-history")
    shot(ben, "12-history-phone")

    # Ben reports the text chat from his history (without blocking): the report names the room
    ben.locator("li.history-item").first.get_by_role("button", name="Report").click()
    dialog = ben.get_by_role("dialog")
    expect(dialog.get_by_role("heading", name="Report Ann")).to_be_visible()
    dialog.get_by_label("What happened?").select_option("spam")
    dialog.get_by_label("Details").fill("Kept sending me links.")
    dialog.get_by_label("Also block them").uncheck()
    shot(ben, "12-report-dialog-phone")
    dialog.get_by_role("button", name="Send report").click()
    expect(toast(ben)).to_contain_text("Thanks — a moderator will look at it.")
    expect(ben.get_by_role("dialog")).to_have_count(0)
    report = Report.objects.get(reporter__name="Ben")
    assert (report.reported.name, report.category, report.details, str(report.room_id)) == (
        "Ann", "spam", "Kept sending me links.", text_room)

    ann.get_by_role("link", name="Me", exact=True).click()
    expect(ann.get_by_role("heading", name="Your invite code")).to_be_visible()
    expect(ann.locator("main")).to_contain_text("2 of 4 calls")
    expect(ann.locator(".me-head img.avatar")).to_have_js_property("complete", True)
    shot(ann, "13-me")

    # Ann skips Ben: gone from her list for this visit (Ben still sees her: not blocked)
    ann.get_by_role("link", name="People").click()
    ben.get_by_role("link", name="People").click()
    expect(ben.locator("article.person", has_text="Ann")).to_be_visible()
    ann.locator("article.person", has_text="Ben").get_by_role("button", name="Skip").click()
    expect(ann.locator("article.person", has_text="Ben")).to_have_count(0)
    ann.get_by_role("link", name="History").first.click()  # and back: the list is fetched again
    ann.get_by_role("link", name="People").click()
    expect(ann.locator(".empty")).to_contain_text("Nobody is available right now.")
    expect(ben.locator("article.person", has_text="Ann")).to_be_visible()

    # Ben deletes his (guest) account: signed out, and nobody can find him any more
    ben.get_by_role("link", name="Me", exact=True).click()
    expect(ben.get_by_role("heading", name="Your invite code")).to_be_visible()
    expect(ben.locator(".me-head img.avatar")).to_have_js_property("complete", True)
    shot(ben, "13-me-phone")
    ben.get_by_role("button", name="Delete my account").click()
    expect(ben.get_by_role("heading", name="Meet someone new on campus")).to_be_visible()
    expect(toast(ben)).to_contain_text("Your account was deleted.")
    expect(toast(ben)).not_to_contain_text("Sign in again")
    shot(ben, "13-account-deleted-phone")
    assert ben.evaluate("() => sessionStorage.getItem('campus.token')") is None
    deleted = User.objects.get(pk=report.reporter_id)
    assert deleted.deleted_at is not None and deleted.name == "Deleted user"

    # (the database as the server left it)
    stored = list(RoomMessage.objects.filter(room_id=text_room).order_by("seq").values_list("body", flat=True))
    assert stored == expected, "each message stored once, in order"
    assert Room.objects.filter(pk__in=[video_room, text_room], status="ended").count() == 2


def test_join_link_and_usc_card_start_invite_only_sign_up(daphne_factory, make_user, open_page):
    """Invite-only sign-up: the join link of an invite QR code starts sign-up with its code; a
    student without a code signs up with the typed ID of their USC card instead."""
    from playwright.sync_api import expect

    owner = make_user(name="Owner")
    (code,) = invite_batch_create(actor=owner, count=1, max_uses=3)
    server = daphne_factory(env={"OPEN_SIGNUP": "false"})
    page = open_page(phone=True, timeout=15_000)
    page.goto(f"{server.base_url}/join/{code.code}")
    field = page.get_by_label("Invite code")
    expect(field).to_have_value(code.code)
    assert page.url.endswith("/#/welcome"), page.url
    page.get_by_label("Your first name").fill("Newbie")
    shot(page, "02-join-link-phone")
    page.get_by_role("button", name="Start chatting").click()
    expect(page.get_by_role("heading", name="Add a photo")).to_be_visible()
    page.wait_for_function("() => { const v = document.querySelector('video.selfie'); return v && v.videoWidth > 0; }")
    shot(page, "02-photo-step-phone")

    # without a code, invite-only sign-up says what is missing
    other = open_page(timeout=15_000)
    other.goto(server.base_url + "/")
    other.get_by_label("Your first name").fill("NoCode")
    other.get_by_role("button", name="Start chatting").click()
    expect(other.locator(".field-error, .form-error")).to_contain_text("invite")
    shot(other, "02-invite-required")

    # … or the USC card: headless Chromium has no BarcodeDetector, so the ID is typed
    student = open_page(phone=True, timeout=15_000)
    student.goto(server.base_url + "/")
    student.get_by_role("link", name="Sign up with your USC card").click()
    expect(student.get_by_role("heading", name="Your USC card")).to_be_visible()
    assert student.evaluate("() => 'BarcodeDetector' in window") is False
    expect(student.locator("main")).to_contain_text("This browser can't read barcodes with the camera, so type the ID.")
    expect(student.get_by_role("button", name="Scan the barcode with the camera")).to_have_count(0)
    student.get_by_label("Student ID (10 digits)").fill("12345")
    student.get_by_role("button", name="Check my card").click()
    expect(student.locator(".field-error")).to_have_text("That isn't a student ID: type the 10 digits printed on your card.")
    shot(student, "02-usc-card-unreadable-phone")
    student.get_by_label("Student ID (10 digits)").fill("1234567890")
    student.get_by_role("button", name="Check my card").click()
    expect(student.locator(".ok-note")).to_have_text("USC card ending 7890 checked ✓")
    student.get_by_label("Your first name").fill("Trojan")
    shot(student, "02-usc-card-checked-phone")
    student.get_by_role("button", name="Start chatting").click()
    expect(student.get_by_role("heading", name="Add a photo")).to_be_visible()

    code.refresh_from_db()
    assert code.uses == 1
    card = UscCardRegistration.objects.get()
    assert (card.user.name, card.last4) == ("Trojan", "7890")


def test_invite_outcomes_torch_rule_block_devices_and_ban(daphne_factory, make_user, open_page):
    """Every invite outcome is shown, the torch warning counts down and clears, block and unblock,
    a guest becomes permanent with the e-mailed code, revoking another device signs that page
    out, the data export downloads, a ban closes the app to the ban screen, and a permanent
    account is deleted with its password."""
    import re
    from datetime import timedelta

    from playwright.sync_api import expect

    from moderation.services import ban_create

    moderator = make_user(name="Mod", is_staff=True)
    env = {**SERVER_ENV, "INVITE_TTL_SECONDS": "4", "TORCH_IDLE_SECONDS": "3"}
    if not settings.REDIS_URL:
        # embedded: the server's cache is its own memory, so a ban written by this test process
        # could not invalidate its cached ban check; don't cache it
        env["MODERATION_BAN_CACHE_SECONDS"] = "0"
    server = daphne_factory(env=env)
    usc = {"latitude": 34.0224, "longitude": -118.2851}
    cat = open_page(viewport={"width": 1100, "height": 800}, permissions=["geolocation"], geolocation=usc, timeout=20_000)
    dan = open_page(phone=True, permissions=["geolocation"], timeout=20_000,
                    geolocation={**usc, "longitude": usc["longitude"] + 0.003})
    for page, name in ((cat, "Cat"), (dan, "Dan")):
        page.goto(server.base_url + "/")
        page.get_by_label("Your first name").fill(name)
        page.get_by_role("button", name="Start chatting").click()
        page.get_by_role("link", name="Skip for now").click()
        page.get_by_role("link", name="Skip for now").click()
        page.get_by_text("Available for calls").click()
    dan_card = cat.locator("article.person", has_text="Dan")

    # both share their approximate area: cards show a distance bucket, never coordinates
    expect(dan_card).to_be_visible()
    expect(dan_card.locator(".distance")).to_have_count(0)
    for page in (cat, dan):
        page.get_by_role("button", name="Show distances").click()
        expect(page.get_by_role("button", name="Stop sharing my area")).to_be_visible()
    expect(dan_card.locator(".distance")).to_have_text("< 1 km away", timeout=15_000)
    shot(cat, "14-queue-distance")

    # declined
    dan_card.get_by_role("button", name="Text chat").click()
    dan.get_by_role("button", name="Decline").click()
    expect(toast(cat)).to_contain_text("Dan declined your invite.")
    expect(cat.locator(".invite-dialog")).to_have_count(0)
    # cancelled
    dan_card.get_by_role("button", name="Text chat").click()
    expect(dan.locator(".invite-dialog")).to_be_visible()
    cat.get_by_role("button", name="Cancel").click()
    expect(toast(dan)).to_contain_text("Cat cancelled the invite.")
    # expired (INVITE_TTL_SECONDS=4): the countdown runs out on both sides
    dan_card.get_by_role("button", name="Video call").click()
    expect(dan.locator(".invite-dialog .countdown-num")).to_have_text(re.compile(r"^[1-4]$"))
    expect(toast(cat)).to_contain_text("Dan didn't answer in time.", timeout=15_000)
    expect(toast(dan)).to_contain_text("You missed Cat's invite.")
    shot(dan, "14-invite-missed-phone")

    # a text room where nobody writes: both get the torch warning with a countdown
    dan_card.get_by_role("button", name="Text chat").click()
    dan.get_by_role("button", name="Accept").click()
    expect(cat.locator(".torch[data-you=true]")).to_contain_text("You've been quiet", timeout=15_000)
    expect(cat.locator(".torch[data-you=false]")).to_contain_text("Dan has been quiet")
    left = int(cat.locator(".torch[data-you=true] .torch-left").inner_text())
    assert 0 < left <= 60
    shot(cat, "15-torch-warning")
    shot(dan, "15-torch-warning-phone")
    cat.get_by_label("Message").fill("still here!")
    cat.keyboard.press("Enter")
    expect(cat.locator(".torch[data-you=true]")).to_have_count(0)  # cleared (until 3 s of silence again)
    expect(dan.locator(".torch[data-you=true]")).to_contain_text("You've been quiet")
    dan.get_by_role("button", name="End call").click()
    expect(cat.locator("main")).to_contain_text("Dan ended the call.")

    # Dan blocks Cat from the list: they are gone from each other's lists …
    dan.get_by_role("link", name="Back to people").click()
    cat.get_by_role("link", name="Back to people").click()
    dan.locator("article.person", has_text="Cat").get_by_role("button", name="Block").click()
    expect(dan.locator("article.person", has_text="Cat")).to_have_count(0)
    expect(toast(dan)).to_contain_text("Cat is blocked.")
    expect(cat.locator("article.person", has_text="Dan")).to_have_count(0, timeout=15_000)
    # … until he unblocks her on his "Me" page
    dan.get_by_role("link", name="Me", exact=True).click()
    blocked = dan.get_by_role("region", name="Blocked")
    expect(blocked).to_contain_text("Cat")
    blocked.scroll_into_view_if_needed()
    shot(dan, "16-blocked-phone")
    blocked.get_by_role("button", name="Unblock").click()
    expect(toast(dan)).to_contain_text("Cat is unblocked.")
    expect(blocked).to_contain_text("You haven't blocked anyone.")
    # (and, signed in, registers his USC card from there: no BarcodeDetector, so typed)
    dan.get_by_role("link", name="Register your USC card").click()
    dan.get_by_label("Student ID (10 digits)").fill("5550001234")
    dan.get_by_role("button", name="Register my card").click()
    expect(toast(dan)).to_contain_text("USC card ending 1234 registered.")
    expect(dan.get_by_role("heading", name="Your invite code")).to_be_visible()  # back on "Me"
    assert UscCardRegistration.objects.get(user__name="Dan").last4 == "1234"
    dan.get_by_role("link", name="People").click()
    expect(dan.locator("article.person", has_text="Cat")).to_be_visible()
    expect(cat.locator("article.person", has_text="Dan")).to_be_visible(timeout=15_000)

    # Cat makes her account permanent with the code from the e-mail (console backend: the log)
    cat.get_by_role("link", name="Me", exact=True).click()
    cat.get_by_label("E-mail", exact=True).fill("cat@example.edu")
    cat.get_by_label("Password", exact=True).fill("purr-purr-2026")
    cat.get_by_role("button", name="Send me a code").click()
    expect(cat.get_by_label("6-digit code from the e-mail")).to_be_visible()
    deadline = time.monotonic() + 15
    code = None
    while code is None and time.monotonic() < deadline:
        found = re.findall(r"Your code is (\d{6})\.", server.log_tail(400))
        code = found[-1] if found else None
        if code is None:
            cat.wait_for_timeout(200)  # polling the server's log, bounded by the deadline
    assert code, server.log_tail()
    cat.get_by_label("6-digit code from the e-mail").fill(code)
    cat.get_by_role("button", name="Make my account permanent").click()
    expect(cat.locator(".me-head")).to_contain_text("Permanent account")
    expect(cat.locator("main")).to_contain_text("Signed in as cat@example.edu ✓")
    devices = cat.get_by_role("region", name="Devices")
    expect(devices).to_contain_text("this device")

    # she logs in on a second device (a phone), then signs that device out from the first one:
    # the phone's socket is closed (4401) and the page asks to sign in again
    phone = open_page(phone=True, timeout=20_000)
    phone.goto(server.base_url + "/#/login")
    phone.get_by_label("E-mail").fill("cat@example.edu")
    phone.get_by_label("Password").fill("purr-purr-2026")
    shot(phone, "16-login-phone")
    phone.get_by_role("button", name="Log in").click()
    expect(phone.get_by_role("heading", name="People around")).to_be_visible()
    phone.wait_for_function("() => window.campus.session && window.campus.session.state === 'open'")
    phone.evaluate("() => { window.closedWith = []; window.campus.session.on('signed_out', (e) => window.closedWith.push(e.code)); }")
    cat.get_by_role("link", name="Me", exact=True).click()  # the devices list, read again
    expect(devices.locator("li")).to_have_count(2)
    expect(devices.locator("li", has_text="Browser on Android")).to_contain_text("Sign out")
    devices.scroll_into_view_if_needed()
    shot(cat, "16-devices")
    devices.locator("li", has_text="Browser on Android").get_by_role("button", name="Sign out").click()
    expect(devices.locator("li")).to_have_count(1)
    expect(phone.get_by_role("heading", name="Meet someone new on campus")).to_be_visible()
    expect(toast(phone)).to_contain_text("You were signed out. Sign in again.")
    assert phone.evaluate("() => window.closedWith") == [4401]
    assert phone.evaluate("() => sessionStorage.getItem('campus.token')") is None
    shot(phone, "16-signed-out-phone")

    # her data, as a JSON download
    with cat.expect_download() as dl:
        cat.get_by_role("button", name="Download my data").click()
    assert dl.value.suggested_filename == "my-data.json"
    data = json.loads(Path(dl.value.path()).read_text())
    assert (data["profile"]["name"], data["profile"]["email"]) == ("Cat", "cat@example.edu")
    assert data["profile"]["account_type"] == "permanent"
    shot(cat, "16-me-permanent")

    # a moderator bans Dan: with Redis his socket is closed (4403) at once, from this process;
    # the embedded configuration is one process by design (its channel layer is that process's
    # memory), so there the ban is found when the app opens again
    in_thread(lambda: ban_create(user=User.objects.get(name="Dan"), actor=moderator, reason="Spam in the queue",
                                 duration=timedelta(hours=24)))
    if not settings.REDIS_URL:
        dan.reload()
    expect(dan.get_by_role("heading", name="You can't use Campus Chat right now")).to_be_visible()
    expect(dan.locator("main")).to_contain_text("Spam in the queue")
    shot(dan, "17-banned-phone")

    # Cat deletes her permanent account: the password is asked for, a wrong one is refused
    delete = cat.get_by_role("button", name="Delete my account")
    cat.get_by_label("Your password (to delete the account)").fill("wrong-password")
    delete.click()
    expect(cat.locator("main .form-error, main .field-error")).to_contain_text("password")
    assert cat.evaluate("() => window.campus.session.state") == "open"
    cat.get_by_label("Your password (to delete the account)").fill("purr-purr-2026")
    delete.click()
    expect(cat.get_by_role("heading", name="Meet someone new on campus")).to_be_visible()
    expect(toast(cat)).to_contain_text("Your account was deleted.")
    expect(toast(cat)).not_to_contain_text("Sign in again")
    gone = User.objects.get(email__isnull=True, deleted_at__isnull=False)
    assert gone.name == "Deleted user"
