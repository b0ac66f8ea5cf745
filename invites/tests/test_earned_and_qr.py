"""Earned invites: progress before K completed calls, the user's own code after, QR SVG that decodes.

``social.selectors.completed_calls_count`` is the realtime core issue's contract (a stub on this
branch); the ``completed_calls`` fixture replaces only that selector.
"""

from __future__ import annotations

import re

import pytest

from invites.models import InviteCode
from invites.tests.helpers import signup
from moderation.models import AuditLog

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
