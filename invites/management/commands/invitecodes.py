"""``manage.py invitecodes``: admin invite codes from the command line (the admin's batch page,
for scripts and the first day, when nobody can sign up yet).

    manage.py invitecodes create --count 50 --uses 1 --expires 2027-01-31 --note "orientation week" > codes.csv
    manage.py invitecodes create --count 1 --unlimited --expires 30d --output /root/launch-code.csv
    manage.py invitecodes list --batch 20261203-141500-ab12

CSV columns are the admin download's (code, kind, max_uses, uses, uses_left, expires_at, is_active,
batch, note, join_link, created_at).  Codes are made by ``invites.services.invite_batch_create``
(one audit row, actor "system").
"""

from __future__ import annotations

import csv
import re
from datetime import datetime, time, timedelta, timezone

from django.core.management.base import CommandError
from django.utils.dateparse import parse_date, parse_datetime

from config import clock
from config.errors import ApplicationError
from config.management.base import OperatorCommand
from invites import services
from invites.exports import CSV_COLUMNS, code_row

_DURATION = re.compile(r"^(\d+)([hdw])$")


def parse_expires(raw: str | None) -> datetime | None:
    """``30d``/``12h``/``2w`` from now, a date (end of that day, UTC) or an ISO datetime (UTC if naive)."""
    if not raw:
        return None
    raw = raw.strip()
    match = _DURATION.match(raw)
    if match:
        unit = {"h": "hours", "d": "days", "w": "weeks"}[match.group(2)]
        return clock.now() + timedelta(**{unit: int(match.group(1))})
    try:
        day = parse_date(raw)  # a bare date means the end of that day (fromisoformat would say midnight)
        when = datetime.combine(day, time(23, 59, 59)) if day else parse_datetime(raw)
    except ValueError:
        when = None
    if when is None:
        raise CommandError(f"--expires: expected 30d, 12h, 2w, 2027-01-31 or 2027-01-31T18:00, got {raw!r}")
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    if when <= clock.now():
        raise CommandError(f"--expires: {when.isoformat()} is in the past")
    return when


class Command(OperatorCommand):
    help = "Create or list admin invite codes (CSV out)."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        create = sub.add_parser("create", help="create one batch of admin codes")
        create.add_argument("--count", type=int, default=1, help="codes in the batch (1–1000, default 1)")
        uses = create.add_mutually_exclusive_group()
        uses.add_argument("--uses", type=int, default=1, help="sign-ups per code (default 1)")
        uses.add_argument("--unlimited", action="store_true", help="no limit on sign-ups per code")
        create.add_argument("--expires", help="30d, 12h, 2w, a date (end of day UTC) or an ISO datetime; default never")
        create.add_argument("--note", default="", help="kept with the batch (shown in the admin)")
        create.add_argument("--output", help="write the CSV here (default: stdout)")
        listing = sub.add_parser("list", help="print codes as CSV")
        listing.add_argument("--batch", help="only this batch")
        listing.add_argument("--output", help="write the CSV here (default: stdout)")

    def handle(self, *args, **opts):
        if opts["action"] == "create":
            expires = parse_expires(opts["expires"])
            try:
                codes = services.invite_batch_create(
                    actor=None, count=opts["count"], max_uses=None if opts["unlimited"] else opts["uses"],
                    expires_at=expires, note=opts["note"],
                )
            except ApplicationError as exc:
                raise CommandError(exc.message + (f" ({exc.fields})" if exc.fields else "")) from exc
            self._write(codes, opts["output"])
            self.stderr.write(f"created {len(codes)} code(s) in batch {codes[0].batch}"
                              + (f", written to {opts['output']}" if opts["output"] else ""))
        else:
            from invites.models import InviteCode

            codes = InviteCode.objects.filter(kind=InviteCode.Kind.ADMIN).order_by("created_at", "pk")
            if opts["batch"]:
                codes = codes.filter(batch=opts["batch"])
            self._write(list(codes), opts["output"])

    def _write(self, codes, output: str | None) -> None:
        try:
            fh = open(output, "w", newline="", encoding="utf-8") if output else None
        except OSError as exc:
            raise CommandError(f"--output: cannot write {output}: {exc.strerror}") from exc
        stream = fh or self.stdout
        writer = csv.writer(stream if fh else _Lines(stream))
        writer.writerow(CSV_COLUMNS)
        for code in codes:
            writer.writerow(code_row(code))
        if fh:
            fh.close()


class _Lines:
    """csv.writer → OutputWrapper without the wrapper adding a second line ending."""

    def __init__(self, out):
        self.out = out

    def write(self, text: str) -> None:
        self.out.write(text, ending="")
