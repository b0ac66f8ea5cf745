"""Warnings (strikes) and appeals.

* A moderator may **warn** instead of ban (a preset or free text, linked to the case's report).
  The user sees their warnings (``GET /api/me/warnings``), gets a ``warning.received`` notice on
  every open socket (any process) after commit, and acknowledges them.  Standing (not withdrawn)
  warnings count in the user's record.
* A warned or banned user may **appeal** each ban or warning once, within
  ``MODERATION_APPEAL_WINDOW_DAYS`` (20) of it, with a text of at most 2,000 characters — banned
  users included (the appeal routes are open to them).  A moderator approves (the ban is lifted
  on every process / the warning withdrawn) or rejects with a reason; the user is told either way
  (``appeal.decided`` on their sockets and on ``GET /api/appeals/mine``).

Every write is audited with before/after in its own transaction; notices go after commit.
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import QuerySet

from config import clock, events
from config.errors import ApplicationError, Conflict, NotFound
from moderation.models import Appeal, Ban, Report, Strike, WarningPreset
from audit.services import audit_record
from moderation.services import ban_lift

APPEAL_MAX_CHARS = 2000


def _iso(value):
    return value.isoformat().replace("+00:00", "Z") if value is not None else None


def appeal_window() -> timedelta:
    return timedelta(days=settings.MODERATION_APPEAL_WINDOW_DAYS)


# --- payloads (what the user may see) -----------------------------------------------------------
def strike_payload(strike: Strike, appeal: Appeal | None = None) -> events.ModerationWarning:
    return {
        "id": strike.pk,
        "text": strike.text,
        "created_at": _iso(strike.created_at),
        "acknowledged_at": _iso(strike.acknowledged_at),
        "withdrawn": strike.withdrawn_at is not None,
        "withdrawn_at": _iso(strike.withdrawn_at),
        "appealable_until": _iso(strike.created_at + appeal_window()),
        "appeal": appeal_payload(appeal) if appeal else None,
    }


def appeal_payload(appeal: Appeal) -> events.Appeal:
    return {
        "id": appeal.pk,
        "subject": "ban" if appeal.ban_id else "warning",
        "ban_id": appeal.ban_id,
        "warning_id": appeal.strike_id,
        "text": appeal.text,
        "status": appeal.status,
        "created_at": _iso(appeal.created_at),
        "decided_at": _iso(appeal.decided_at),
        "decision_reason": appeal.decision_reason if appeal.status == Appeal.Status.REJECTED else "",
    }


# --- selectors -------------------------------------------------------------------------------
def strikes_for_user(*, user_id: int) -> list[dict]:
    strikes = list(Strike.objects.filter(user_id=user_id).order_by("-created_at", "-id")[:200])
    appeals = {a.strike_id: a for a in Appeal.objects.filter(strike__in=strikes)}
    return [strike_payload(s, appeals.get(s.pk)) for s in strikes]


def appeals_for_user(*, user_id: int) -> QuerySet[Appeal]:
    return Appeal.objects.filter(user_id=user_id).order_by("-created_at", "-id")


def ban_appeal_for(*, ban_id: int) -> Appeal | None:
    return Appeal.objects.filter(ban_id=ban_id).first()


# --- warnings --------------------------------------------------------------------------------
@transaction.atomic
def strike_create(
    *, user, actor, text: str = "", preset: WarningPreset | None = None, report: Report | None = None,
    ip: str | None = None,
) -> Strike:
    """Warn ``user`` (a preset's text, or free text; free text wins when both are given)."""
    body = (text or "").strip() or (preset.text if preset else "")
    if not body:
        raise ApplicationError("Choose a preset or write the warning.", code="invalid",
                               fields={"text": ["A preset or a text is required."]})
    if len(body) > 2000:
        raise ApplicationError("At most 2,000 characters.", code="invalid", fields={"text": ["At most 2,000 characters."]})
    strike = Strike.objects.create(user=user, text=body, preset=preset, report=report, created_at=clock.now(),
                                   created_by=actor)
    audit_record(actor=actor, action="warning.create", target=user,
                 after={"warning_id": strike.pk, "preset": preset.title if preset else None,
                        "report_id": report.pk if report else None, "text": body[:200]}, ip=ip)
    events.send_after_commit(users=user.pk, message=events.warning_received(warning=strike_payload(strike)))
    return strike


@transaction.atomic
def strike_acknowledge(*, user, strike_id: int) -> Strike:
    strike = Strike.objects.select_for_update().filter(pk=strike_id, user_id=user.pk).first()
    if strike is None:
        raise NotFound("No such warning.")
    if strike.acknowledged_at is None:
        strike.acknowledged_at = clock.now()
        strike.save(update_fields=["acknowledged_at"])
        audit_record(actor=user, action="warning.acknowledge", target=user, after={"warning_id": strike.pk})
    return strike


@transaction.atomic
def strike_withdraw(*, strike: Strike, actor, reason: str, ip: str | None = None) -> bool:
    """Withdraw a warning (it no longer counts).  False when it was already withdrawn."""
    reason = (reason or "").strip() or "Withdrawn by a moderator."
    now = clock.now()
    n = Strike.objects.filter(pk=strike.pk, withdrawn_at__isnull=True).update(
        withdrawn_at=now, withdrawn_by=actor, withdraw_reason=reason[:500]
    )
    if not n:
        return False
    strike.refresh_from_db()
    audit_record(actor=actor, action="warning.withdraw", target=strike.user, before={"warning_id": strike.pk,
                 "withdrawn": False}, after={"withdrawn": True, "reason": reason[:200]}, ip=ip)
    return True


# --- appeals ---------------------------------------------------------------------------------
class AppealNotAllowed(ApplicationError):
    code = "appeal_not_allowed"
    status = 403
    message = "This can't be appealed."


class AlreadyAppealed(Conflict):
    code = "already_appealed"
    message = "You already appealed this."


class AppealWindowClosed(ApplicationError):
    code = "appeal_window_closed"
    status = 403
    message = "The time to appeal this has passed."


def appeal_create(*, user, text: str, ban_id: int | None = None, warning_id: int | None = None,
                  ip: str | None = None) -> Appeal:
    """File an appeal of one of the user's own bans or warnings (once each, within the window)."""
    if (ban_id is None) == (warning_id is None):
        raise ApplicationError("Appeal either a ban or a warning.", code="invalid",
                               fields={"ban_id": ["Give exactly one of ban_id and warning_id."]})
    text = (text or "").strip()
    if not text:
        raise ApplicationError("Tell us why.", code="invalid", fields={"text": ["Required."]})
    if len(text) > APPEAL_MAX_CHARS:
        raise ApplicationError("At most 2,000 characters.", code="invalid", fields={"text": ["At most 2,000 characters."]})
    now = clock.now()
    if ban_id is not None:
        subject = Ban.objects.filter(pk=ban_id, user_id=user.pk).first()
        if subject is None:
            raise NotFound("No such ban.")
        if not subject.is_active(now):
            raise AppealNotAllowed("This ban is no longer in force.")
    else:
        subject = Strike.objects.filter(pk=warning_id, user_id=user.pk).first()
        if subject is None:
            raise NotFound("No such warning.")
        if subject.withdrawn_at is not None:
            raise AppealNotAllowed("This warning was withdrawn.")
    if now > subject.created_at + appeal_window():
        raise AppealWindowClosed(extra={"appealable_until": _iso(subject.created_at + appeal_window())})
    try:
        with transaction.atomic():
            appeal = Appeal.objects.create(
                user=user, ban=subject if ban_id is not None else None,
                strike=subject if warning_id is not None else None, text=text, created_at=now,
            )
            audit_record(actor=user, action="appeal.create", target=user,
                         after={"appeal_id": appeal.pk, "ban_id": ban_id, "warning_id": warning_id}, ip=ip)
    except IntegrityError as exc:
        raise AlreadyAppealed() from exc
    return appeal


def _lock_pending(appeal: Appeal) -> Appeal:
    # Lock the appeal row only (PostgreSQL can't lock the nullable side of the ban/strike joins).
    locked = Appeal.objects.select_for_update(of=("self",)).select_related("ban", "strike", "user").get(pk=appeal.pk)
    if locked.status != Appeal.Status.PENDING:
        raise Conflict("This appeal was already decided.", code="appeal_decided")
    return locked


@transaction.atomic
def appeal_approve(*, appeal: Appeal, actor, reason: str = "", ip: str | None = None) -> Appeal:
    """Approve: the ban is lifted (at once, on every process) or the warning withdrawn."""
    appeal = _lock_pending(appeal)
    note = (reason or "").strip() or f"Appeal #{appeal.pk} approved."
    if appeal.ban_id:
        ban_lift(ban=appeal.ban, actor=actor, reason=note, ip=ip)
    else:
        strike_withdraw(strike=appeal.strike, actor=actor, reason=note, ip=ip)
    return _decide(appeal, actor=actor, status=Appeal.Status.APPROVED, reason=note, ip=ip)


@transaction.atomic
def appeal_reject(*, appeal: Appeal, actor, reason: str, ip: str | None = None) -> Appeal:
    """Reject with a reason the user is shown."""
    reason = (reason or "").strip()
    if not reason:
        raise ApplicationError("Give the user a reason.", code="invalid", fields={"reason": ["Required."]})
    appeal = _lock_pending(appeal)
    return _decide(appeal, actor=actor, status=Appeal.Status.REJECTED, reason=reason, ip=ip)


def _decide(appeal: Appeal, *, actor, status: str, reason: str, ip: str | None) -> Appeal:
    appeal.status = status
    appeal.decided_at = clock.now()
    appeal.decided_by = actor
    appeal.decision_reason = reason[:1000]
    appeal.save(update_fields=["status", "decided_at", "decided_by", "decision_reason"])
    audit_record(actor=actor, action=f"appeal.{'approve' if status == Appeal.Status.APPROVED else 'reject'}",
                 target=appeal.user, before={"appeal_id": appeal.pk, "status": "pending"},
                 after={"status": status, "reason": reason[:200]}, ip=ip)
    events.send_after_commit(users=appeal.user_id, message=events.appeal_decided(appeal=appeal_payload(appeal)))
    return appeal
