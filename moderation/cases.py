"""Cases: the open reports about one account, handled together; and the moderators' notes thread.

A *case* is not a table: it is the set of open reports whose ``reported`` is the same user.  The
queue lists one row per case (``case_queue``); a decision (``case_decide``) closes every open
report of the case in one transaction with one action — one ban, or one warning — and every
reporter sees the outcome on their report (``GET /api/reports/mine``).  A closed report can be
reopened (``report_reopen``) and joins the user's case again.

Every write here is audited with before/after, in the transaction of the change.
"""

from __future__ import annotations

from datetime import timedelta

from django.db import IntegrityError, transaction
from django.db.models import Count, Max, Min, Q, QuerySet

from config import clock
from config.errors import ApplicationError
from moderation import errors
from moderation.models import ModeratorNote, Report, Strike, WarningPreset
from moderation.selectors import ban_active_qs
from audit.services import audit_record
from moderation.services import BAN_DURATIONS, ban_create, ban_lift

NOTE_MAX_CHARS = 5000

# What a decision on a case can be (the admin's buttons and the API of the service).
CASE_DECISIONS = {
    "ban_24h": Report.Action.BAN_24H,
    "ban_7d": Report.Action.BAN_7D,
    "ban_permanent": Report.Action.BAN_PERMANENT,
    "warn": Report.Action.WARNED,
    "no_action": Report.Action.NO_ACTION,
    "dismiss": Report.Action.NO_ACTION,
}


# --- selectors -------------------------------------------------------------------------------
def open_reports_for(*, user_id: int) -> QuerySet[Report]:
    return Report.objects.filter(reported_id=user_id, status=Report.Status.OPEN).order_by("created_at", "id")


def case_queue(
    *,
    assigned_to=None,
    unassigned: bool = False,
    category: str | None = None,
    auto_banned: bool | None = None,
) -> QuerySet:
    """One row per open case: ``reported_id``, ``open_count``, ``newest``, ``oldest``,
    ``auto_banned_count``, ``assigned_count`` — auto-banned cases first, then the oldest waiting.

    Filters: ``assigned_to`` (a moderator: cases with a report assigned to them), ``unassigned``
    (no report of the case assigned), ``category`` (the case has an open report of it),
    ``auto_banned`` (the user was banned automatically pending review)."""
    qs = Report.objects.filter(status=Report.Status.OPEN)
    if category:
        qs = qs.filter(reported_id__in=Report.objects.filter(status=Report.Status.OPEN, category=category)
                       .values("reported_id"))
    rows = (
        qs.order_by()
        .values("reported_id")
        .annotate(
            open_count=Count("pk"),
            newest=Max("created_at"),
            oldest=Min("created_at"),
            auto_banned_count=Count("pk", filter=Q(auto_banned=True)),
            assigned_count=Count("pk", filter=Q(assigned_to__isnull=False)),
            mine_count=Count("pk", filter=Q(assigned_to=assigned_to)) if assigned_to is not None else Count("pk"),
        )
    )
    if assigned_to is not None:
        rows = rows.filter(mine_count__gt=0)
    if unassigned:
        rows = rows.filter(assigned_count=0)
    if auto_banned is True:
        rows = rows.filter(auto_banned_count__gt=0)
    elif auto_banned is False:
        rows = rows.filter(auto_banned_count=0)
    return rows.order_by("-auto_banned_count", "oldest", "reported_id")


def case_categories(*, user_ids) -> dict[int, list[str]]:
    """The categories of each case's open reports (one query for a page of cases)."""
    out: dict[int, list[str]] = {}
    for uid, category in (
        Report.objects.filter(status=Report.Status.OPEN, reported_id__in=list(user_ids))
        .order_by("category")
        .values_list("reported_id", "category")
        .distinct()
    ):
        out.setdefault(uid, []).append(category)
    return out


def open_case_count() -> int:
    """How many accounts have at least one open report (the admin header's count)."""
    return Report.objects.filter(status=Report.Status.OPEN).values("reported_id").distinct().count()


def next_case_user_id(*, after_user_id: int | None = None, moderator=None) -> int | None:
    """The case to open after deciding one: the first in queue order that isn't ``after_user_id``,
    preferring cases assigned to ``moderator`` or to nobody (two queries whatever the queue)."""
    rows = list((case_queue().exclude(reported_id=after_user_id) if after_user_id else case_queue())[:50])
    if not rows:
        return None
    if moderator is not None:
        mine = set(
            Report.objects.filter(status=Report.Status.OPEN, assigned_to=moderator,
                                  reported_id__in=[r["reported_id"] for r in rows]).values_list("reported_id", flat=True)
        )
        for row in rows:
            if row["assigned_count"] == 0 or row["reported_id"] in mine:
                return row["reported_id"]
    return rows[0]["reported_id"]


def notes_for_user(*, user_id: int) -> QuerySet[ModeratorNote]:
    return ModeratorNote.objects.filter(user_id=user_id).select_related("report").order_by("created_at", "id")


def strikes_count(*, user_id: int) -> int:
    """Warnings that stand (not withdrawn): part of the user's record."""
    return Strike.objects.filter(user_id=user_id, withdrawn_at__isnull=True).count()


# --- services --------------------------------------------------------------------------------
@transaction.atomic
def note_add(*, user, actor, text: str, report: Report | None = None, ip: str | None = None) -> ModeratorNote:
    """Append a note to the moderators' thread about ``user`` (never edits an earlier one)."""
    text = (text or "").strip()
    if not text:
        raise ApplicationError("Write the note first.", code="invalid", fields={"text": ["Required."]})
    if len(text) > NOTE_MAX_CHARS:
        raise ApplicationError(f"At most {NOTE_MAX_CHARS} characters.", code="invalid",
                               fields={"text": [f"At most {NOTE_MAX_CHARS} characters."]})
    note = ModeratorNote.objects.create(
        user=user, report=report, author=actor, author_label=str(actor)[:200] if actor else "system",
        text=text, created_at=clock.now(),
    )
    audit_record(actor=actor, action="note.add", target=user,
                 after={"note_id": note.pk, "report_id": report.pk if report else None, "text": text[:200]}, ip=ip)
    return note


@transaction.atomic
def case_assign(*, user, actor, assignee, ip: str | None = None) -> int:
    """Assign (or, with ``assignee=None``, unassign) every open report of the user's case."""
    reports = list(open_reports_for(user_id=user.pk).select_for_update())
    before = sorted({r.assigned_to_id for r in reports if r.assigned_to_id})
    n = Report.objects.filter(pk__in=[r.pk for r in reports]).update(assigned_to=assignee)
    audit_record(actor=actor, action="case.assign" if assignee else "case.unassign", target=user,
                 before={"assigned_to": before}, after={"assigned_to": assignee.pk if assignee else None,
                                                        "reports": n}, ip=ip)
    return n


@transaction.atomic
def case_decide(
    *,
    user,
    actor,
    decision: str,
    reason: str = "",
    warning_text: str = "",
    preset: WarningPreset | None = None,
    ip: str | None = None,
) -> list[Report]:
    """Decide the case of ``user``: every open report gets the same outcome in one transaction.

    ``ban_24h`` / ``ban_7d`` / ``ban_permanent``: one ban (linked to the oldest report);
    ``warn``: one warning (a preset or free text) linked to the oldest report; ``no_action``:
    resolved without action; ``dismiss``: dismissed as not a violation.  An automatic ban pending
    review is lifted (audited) whatever the decision.  Each reporter sees the
    outcome on their report.  Refused (409) when the case has no open report (decided meanwhile).
    """
    from moderation import strikes

    if decision not in CASE_DECISIONS:
        raise ApplicationError("Unknown decision.", code="invalid", fields={"decision": ["Unknown decision."]})
    reports = list(open_reports_for(user_id=user.pk).select_for_update())
    if not reports:
        raise errors.ReportNotOpen("This case has no open report (it was decided meanwhile).")
    first = reports[0]
    # The decision is the review an automatic ban was pending: that ban ends here (a ban decided
    # now replaces it; a warning or no action clears the user).
    for auto in ban_active_qs().filter(user=user, automatic=True).select_for_update():
        ban_lift(ban=auto, actor=actor, reason=f"Reviewed: case decided ({decision}).", ip=ip)
    if decision in BAN_DURATIONS:
        ban_reason = (reason or "").strip() or (
            f"Reports #{', #'.join(str(r.pk) for r in reports)}: "
            + ", ".join(sorted({r.get_category_display() for r in reports}))
        )
        ban_create(user=user, actor=actor, reason=ban_reason[:500], duration=BAN_DURATIONS[decision], report=first,
                   ip=ip)
    elif decision == "warn":
        strikes.strike_create(user=user, actor=actor, text=warning_text, preset=preset, report=first, ip=ip)
    now = clock.now()
    status = Report.Status.DISMISSED if decision == "dismiss" else Report.Status.RESOLVED
    Report.objects.filter(pk__in=[r.pk for r in reports]).update(
        status=status, action_taken=CASE_DECISIONS[decision], resolved_at=now, resolved_by=actor
    )
    audit_record(
        actor=actor, action="case.decide", target=user,
        before={"open_reports": [r.pk for r in reports]},
        after={"decision": decision, "status": status, "reason": (reason or "")[:200]}, ip=ip,
    )
    for r in reports:
        r.status, r.action_taken, r.resolved_at, r.resolved_by = status, CASE_DECISIONS[decision], now, actor
    return reports


@transaction.atomic
def report_reopen(*, report: Report, actor, ip: str | None = None) -> Report:
    """Put a closed report back in its user's case (a ban or warning it led to stays; lift or
    withdraw those separately)."""
    locked = Report.objects.select_for_update().get(pk=report.pk)
    if locked.status == Report.Status.OPEN:
        raise errors.ReportNotOpen("This report is already open.")
    before = {"status": locked.status, "action": locked.action_taken}
    locked.status = Report.Status.OPEN
    locked.action_taken = Report.Action.NONE
    locked.resolved_at = None
    locked.resolved_by = None
    try:
        with transaction.atomic():
            locked.save(update_fields=["status", "action_taken", "resolved_at", "resolved_by"])
    except IntegrityError as exc:  # the same reporter has a newer open report about this user
        raise errors.AlreadyReported("The reporter has a newer open report about this user.") from exc
    audit_record(actor=actor, action="report.reopen", target=locked, before=before, after={"status": "open"}, ip=ip)
    return locked


def case_age(oldest) -> timedelta:
    return clock.now() - oldest
