"""Earned invites: progress before K completed calls, the user's own code after (minted when the
K-th call is recorded, never by a read), QR SVG that decodes.  ``completed_calls`` runs real calls.
"""

from __future__ import annotations

import re

import pytest

from invites.models import InviteCode
from invites.tests.helpers import signup
from audit.models import AuditLog

pytestmark = pytest.mark.django_db


def decode_qr_svg(svg: bytes) -> str:
    """Rasterise the qrcode library's SVG path (unit squares) and decode it with zxing-cpp."""
    import zxingcpp

    text = svg.decode()
    size = int(re.search(r'viewBox="0 0 (\d+) \d+"', text).group(1))
    scale = 4
    width = size * scale
    pixels = bytearray([255]) * (width * width)
    cells = re.findall(r"M(\d+),(\d+)H(\d+)V(\d+)H(\d+)z", text)
    assert cells, "no modules in the SVG"
    for x0, y0, x1, y1, _ in cells:
        x0, y0, x1, y1 = int(x0), int(y0), int(x1), int(y1)
        for y in range(y0 * scale, y1 * scale):
            row = y * width
            pixels[row + x0 * scale : row + x1 * scale] = b"\x00" * ((x1 - x0) * scale)
    found = zxingcpp.read_barcodes(memoryview(bytes(pixels)).cast("B", (width, width)))
    assert found, "zxing found no barcode"
    return found[0].text


def test_progress_before_unlock(auth_api, completed_calls, settings):
    client = auth_api()
    completed_calls({client.user.pk: 2})
    body = client.get("/api/invites/mine").json()
    assert body["unlocked"] is False
    assert body["progress"] == "2 of 4 calls"
    assert body["calls_completed"] == 2 and body["calls_required"] == settings.INVITE_UNLOCK_CALLS == 4
    assert body["code"] is None and body["join_link"] is None
    assert not InviteCode.objects.exists()
    resp = client.get("/api/invites/mine/qr.svg")
    assert resp.status_code == 403 and resp.json()["error"]["code"] == "invite_locked"
    # asked for the image: the error is still JSON, and labelled so (not image/svg+xml)
    for accept in ("image/svg+xml", "image/svg+xml, application/json;q=0.5", "*/*"):
        resp = client.get("/api/invites/mine/qr.svg", HTTP_ACCEPT=accept)
        assert resp.status_code == 403 and resp["Content-Type"] == "application/json", accept
        assert resp.json()["error"]["code"] == "invite_locked"


def test_unlock_after_k_calls_gives_code_link_and_decodable_qr(auth_api, completed_calls, settings):
    settings.PUBLIC_BASE_URL = "https://chat.example.edu"
    client = auth_api()
    completed_calls({client.user.pk: 4})
    body = client.get("/api/invites/mine").json()
    assert body["unlocked"] is True and body["progress"] == "4 of 4 calls"
    code = body["code"]
    assert body["max_uses"] == settings.INVITE_EARNED_USES == 4 and body["uses_left"] == 4
    assert body["join_link"] == f"https://chat.example.edu/join/{code}"
    assert body["qr_svg_url"].endswith("/api/invites/mine/qr.svg")
    invite = InviteCode.objects.get(code=code)
    assert invite.kind == "user" and invite.created_by == client.user
    assert AuditLog.objects.filter(action="invites.code_unlock").count() == 1

    resp = client.get("/api/invites/mine/qr.svg", HTTP_ACCEPT="image/svg+xml")
    assert resp.status_code == 200 and resp["Content-Type"] == "image/svg+xml"
    assert resp.content.startswith(b"<svg") or b"<svg" in resp.content[:200]
    assert decode_qr_svg(resp.content) == body["join_link"]
    # default Accept works too
    assert client.get("/api/invites/mine/qr.svg").status_code == 200

    # idempotent: the same code every time, however many reads
    assert client.get("/api/invites/mine").json()["code"] == code
    assert InviteCode.objects.filter(created_by=client.user).count() == 1


def test_earned_code_admits_its_uses_then_stops(auth_api, completed_calls, api, closed_signup, settings):
    settings.INVITE_EARNED_USES = 2
    client = auth_api()
    completed_calls({client.user.pk: 9})
    code = client.get("/api/invites/mine").json()["code"]
    assert signup(api, invite_code=code, ip="10.2.0.1").status_code == 201
    assert client.get("/api/invites/mine").json()["uses_left"] == 1
    assert signup(api, invite_code=code, ip="10.2.0.2").status_code == 201
    assert signup(api, invite_code=code, ip="10.2.0.3").json()["error"]["code"] == "invite_used_up"
    assert client.get("/api/invites/mine").json()["uses_left"] == 0


def test_unlock_threshold_is_a_setting(auth_api, completed_calls, settings):
    settings.INVITE_UNLOCK_CALLS = 2
    client = auth_api()
    completed_calls({client.user.pk: 2})
    assert client.get("/api/invites/mine").json()["unlocked"] is True


def test_one_earned_code_per_user_is_a_constraint(make_user):
    from django.db import IntegrityError, transaction

    from config import clock

    user = make_user()
    InviteCode.objects.create(code="AAAAAAAAAAAA", kind="user", created_by=user, max_uses=4, created_at=clock.now())
    with pytest.raises(IntegrityError), transaction.atomic():
        InviteCode.objects.create(code="BBBBBBBBBBBB", kind="user", created_by=user, max_uses=4, created_at=clock.now())


def test_mine_requires_auth(api):
    assert api.get("/api/invites/mine").status_code == 401
    assert api.get("/api/invites/mine/qr.svg").status_code == 401
    resp = api.get("/api/invites/mine/qr.svg", HTTP_ACCEPT="image/svg+xml")
    assert resp.status_code == 401 and resp["Content-Type"] == "application/json"
    assert resp.json()["error"]["code"] == "not_authenticated"


# --- minted when the completing call is recorded; reads never write --------------------------------
def _writes(queries) -> list[str]:
    return [q["sql"] for q in queries if not q["sql"].lstrip().upper().startswith(("SELECT", "SAVEPOINT", "RELEASE"))]


def test_get_mine_never_writes_and_costs_a_fixed_number_of_queries(auth_api, completed_calls, settings):
    """``GET /api/invites/mine`` (and the QR) used to mint the code on the first read after the K-th
    call: a GET that wrote.  Now two reads with no completed call create nothing."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client = auth_api()
    client.get("/api/invites/mine")  # warm the session cache
    codes, audits = InviteCode.objects.count(), AuditLog.objects.count()
    with CaptureQueriesContext(connection) as ctx:
        first = client.get("/api/invites/mine").json()
        second = client.get("/api/invites/mine").json()
        assert client.get("/api/invites/mine/qr.svg").status_code == 403
    assert first == second and first["unlocked"] is False and first["code"] is None
    assert _writes(ctx.captured_queries) == []
    # per GET: the earned code, the completed calls (the session comes from the cache)
    assert len(ctx.captured_queries) == 2 + 2 + 1, [q["sql"] for q in ctx.captured_queries]
    assert (InviteCode.objects.count(), AuditLog.objects.count()) == (codes, audits)

    # with the code already minted (by the K-th call), reading it still writes nothing
    completed_calls({client.user.pk: settings.INVITE_UNLOCK_CALLS})
    client.get("/api/invites/mine")  # the calls moved the clock: warm the session cache again
    with CaptureQueriesContext(connection) as ctx:
        body = client.get("/api/invites/mine").json()
        assert client.get("/api/invites/mine/qr.svg").status_code == 200
    assert body["unlocked"] is True and _writes(ctx.captured_queries) == []
    assert len(ctx.captured_queries) == 2 + 1


def test_the_kth_completed_call_mints_the_code_in_its_own_transaction(make_user, completed_calls, settings):
    from django.db import transaction

    from config import clock
    from social import services as social_services

    user = make_user()
    completed_calls({user.pk: settings.INVITE_UNLOCK_CALLS - 1})
    assert not InviteCode.objects.filter(created_by=user).exists()
    room = social_services.room_start(inviter_id=user.pk, invitee_id=make_user().pk, mode="video", seconds=600)
    clock.advance(settings.CALL_COMPLETION_MIN_SECONDS)

    class Abort(Exception):
        pass

    with pytest.raises(Abort), transaction.atomic():  # the call's bookkeeping rolls back: so does the code
        social_services.room_end(room_id=room.pk, reason="user", actor_id=user.pk)
        assert InviteCode.objects.filter(created_by=user, kind="user").count() == 1
        raise Abort
    assert not InviteCode.objects.filter(created_by=user).exists()
    social_services.room_end(room_id=room.pk, reason="user", actor_id=user.pk)
    assert InviteCode.objects.filter(created_by=user, kind="user").count() == 1
    completed_calls({user.pk: 1})  # a later call mints nothing more
    assert InviteCode.objects.filter(created_by=user).count() == 1
    assert AuditLog.objects.filter(action="invites.code_unlock", actor=user).count() == 1


def test_a_short_call_does_not_count(make_user, completed_calls, settings):
    from config import clock
    from social import services as social_services

    user = make_user()
    completed_calls({user.pk: settings.INVITE_UNLOCK_CALLS - 1})
    room = social_services.room_start(inviter_id=user.pk, invitee_id=make_user().pk, mode="video", seconds=600)
    clock.advance(settings.CALL_COMPLETION_MIN_SECONDS - 5)
    social_services.room_end(room_id=room.pk, reason="user", actor_id=user.pk)
    assert not InviteCode.objects.filter(created_by=user).exists()


@pytest.mark.django_db(transaction=True)
def test_recording_the_completion_twice_or_concurrently_mints_once(make_user, settings):
    """The mint runs in the completing call's transaction; repeated or concurrent runs for the same
    user (each in its own transaction and connection) leave one code and one audit row."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    from datetime import timedelta

    from django.db import connection, transaction

    from config import clock
    from invites.services import invite_codes_unlock
    from social.models import Room, SessionCompletion

    user = make_user()
    now = clock.now()
    for _ in range(settings.INVITE_UNLOCK_CALLS):
        room = Room.objects.create(
            mode="video", duration_seconds=60, started_at=now, ends_at=now + timedelta(seconds=60),
            status="ended", inviter=user,
        )
        SessionCompletion.objects.create(user=user, room=room, duration_seconds=60, created_at=now)
    racers = 8
    barrier = threading.Barrier(racers)

    def racer(_):
        try:
            barrier.wait(timeout=30)
            with transaction.atomic():
                return len(invite_codes_unlock(user_ids=[user.pk]))
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=racers) as pool:
        minted = list(pool.map(racer, range(racers)))
    assert sum(minted) == 1, minted
    assert invite_codes_unlock(user_ids=[user.pk]) == []  # and once more, afterwards
    assert InviteCode.objects.filter(created_by=user).count() == 1
    assert AuditLog.objects.filter(action="invites.code_unlock").count() == 1


def test_backfill_mints_the_codes_earned_before_minting_moved_to_the_call(make_user, make_code, settings):
    """Users who reached K completed calls before (when the first GET minted) and never opened the
    page get their code from the migration; nobody else does."""
    import importlib
    from datetime import timedelta
    from types import SimpleNamespace

    from django.apps import apps
    from django.db import connection

    from config import clock
    from social.models import Room, SessionCompletion

    backfill = importlib.import_module("invites.migrations.0002_earned_codes_backfill").backfill
    now = clock.now()
    due, short, gone, has = make_user(), make_user(), make_user(), make_user()
    gone.deleted_at = now
    gone.save(update_fields=["deleted_at"])
    make_code(kind="user", created_by=has, max_uses=4)
    k = settings.INVITE_UNLOCK_CALLS
    for user, n in ((due, k), (short, k - 1), (gone, k), (has, k)):
        for _ in range(n):
            room = Room.objects.create(
                mode="video", duration_seconds=60, started_at=now, ends_at=now + timedelta(seconds=60),
                status="ended", inviter=user,
            )
            SessionCompletion.objects.create(user=user, room=room, duration_seconds=60, created_at=now)
    backfill(apps, SimpleNamespace(connection=connection))
    backfill(apps, SimpleNamespace(connection=connection))  # idempotent
    assert sorted(InviteCode.objects.filter(kind="user").values_list("created_by_id", flat=True)) == sorted([due.pk, has.pk])
    minted = InviteCode.objects.get(created_by=due)
    assert minted.max_uses == settings.INVITE_EARNED_USES and len(minted.code) == settings.INVITE_CODE_LENGTH
