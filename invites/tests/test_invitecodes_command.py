"""``manage.py invitecodes``: admin codes from the command line, CSV out, usable for sign-up."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command

from config import clock
from invites.exports import CSV_COLUMNS
from invites.models import InviteCode
from audit.models import AuditLog

pytestmark = pytest.mark.django_db


def _csv(text: str) -> list[dict]:
    return list(csv.DictReader(io.StringIO(text)))


def test_create_prints_a_csv_batch_and_audits_it():
    out, err = io.StringIO(), io.StringIO()
    call_command("invitecodes", "create", "--count", "3", "--uses", "2", "--expires", "30d", "--note", "launch",
                 stdout=out, stderr=err)
    text = out.getvalue()
    assert text.splitlines()[0] == ",".join(CSV_COLUMNS)
    rows = _csv(text)
    assert len(rows) == 3 and {r["max_uses"] for r in rows} == {"2"} and {r["note"] for r in rows} == {"launch"}
    codes = InviteCode.objects.filter(code__in=[r["code"] for r in rows])
    assert codes.count() == 3 and {c.kind for c in codes} == {"admin"}
    expires = codes.first().expires_at
    assert abs(expires - (clock.now() + timedelta(days=30))) < timedelta(minutes=1)
    assert f"created 3 code(s) in batch {rows[0]['batch']}" in err.getvalue()
    log = AuditLog.objects.get(action="invites.batch_create")
    assert log.actor_label == "system" and log.after["count"] == 3


def test_created_code_signs_up_when_sign_up_is_invite_only(api, settings, tmp_path):
    settings.OPEN_SIGNUP = False
    target = tmp_path / "codes.csv"
    call_command("invitecodes", "create", "--unlimited", "--expires", "2099-01-31", "--output", str(target),
                 stdout=io.StringIO(), stderr=io.StringIO())
    (row,) = _csv(target.read_text())
    assert row["max_uses"] == "" and row["uses_left"] == "unlimited" and row["expires_at"].startswith("2099-01-31T23:59:59")
    assert api.post("/api/auth/guest", {"name": "Ada"}, format="json").status_code in {400, 403}
    resp = api.post("/api/auth/guest", {"name": "Ada", "invite_code": row["code"].lower()}, format="json")
    assert resp.status_code == 201, resp.content


def test_list_filters_by_batch():
    out = io.StringIO()
    call_command("invitecodes", "create", "--count", "2", stdout=out, stderr=io.StringIO())
    batch = _csv(out.getvalue())[0]["batch"]
    call_command("invitecodes", "create", "--count", "1", stdout=io.StringIO(), stderr=io.StringIO())
    listed = io.StringIO()
    call_command("invitecodes", "list", "--batch", batch, stdout=listed)
    assert len(_csv(listed.getvalue())) == 2


@pytest.mark.parametrize(
    "args, message",
    [
        (["--count", "0"], "between 1 and 1000"),
        (["--uses", "0"], "at least 1"),
        (["--expires", "yesterday"], "--expires: expected"),
        (["--expires", "2001-01-01"], "is in the past"),
        (["--output", "/proc/nope/codes.csv"], "--output: cannot write"),
    ],
)
def test_bad_input_is_one_line(args, message):
    with pytest.raises(CommandError, match=message):
        call_command("invitecodes", "create", *args, stdout=io.StringIO(), stderr=io.StringIO())
