"""``manage.py seed_demo``: a populated demo through the services; refused in production and twice."""

from __future__ import annotations

import io

import pytest
from django.core.management import CommandError, call_command

pytestmark = pytest.mark.django_db


def test_seed_demo_fills_users_history_reports_live_room_and_codes(settings, tmp_path, client):
    settings.MEDIA_ROOT = str(tmp_path)
    out = io.StringIO()
    call_command("seed_demo", stdout=out)
    from accounts.models import User
    from invites.models import InviteCode
    from moderation.models import Report
    from social.models import CallHistory, Room, RoomMessage

    guests = User.objects.filter(is_staff=False)
    assert guests.count() == 8 and all(u.photo for u in guests)
    assert all((tmp_path / u.photo.name).read_bytes().startswith(b"\x89PNG") for u in guests)
    assert Room.objects.filter(status="ended").count() == 6 and RoomMessage.objects.count() >= 24
    assert CallHistory.objects.exists()
    assert Room.objects.filter(status__in=["active", "grace"]).count() == 1
    reports = Report.objects.all()
    assert reports.count() == 3 and sum(1 for r in reports if r.evidence) == 2
    assert InviteCode.objects.filter(note="seed_demo").count() == 3
    assert any(u.timer_total_seconds > 0 for u in guests)  # finished calls counted
    assert "demo-moderator@example.com / demo-pass-1234" in out.getvalue()
    assert client.login(email="demo-moderator@example.com", password="demo-pass-1234")
    assert client.get("/admin/moderation/report/").status_code == 200
    with pytest.raises(CommandError, match="already holds the demo"):
        call_command("seed_demo", stdout=io.StringIO())


def test_seed_demo_refuses_production(settings):
    settings.PRODUCTION = True
    with pytest.raises(CommandError, match="refuses to run with DJANGO_ENV=production"):
        call_command("seed_demo", stdout=io.StringIO())
    from accounts.models import User

    assert not User.objects.exists()
