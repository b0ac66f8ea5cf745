"""Moderation services (writes).

Every moderator action below is one function: it checks the rule, changes the rows and writes
its audit entry (``audit.services.audit_record``) in one transaction, drops the affected cache entries (now, and again after commit so a concurrent miss cannot refill
them with pre-commit data) and sends realtime effects only after commit.
"""

from __future__ import annotations

import ipaddress
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import IntegrityError, transaction

import presence
from audit.services import audit_record
from config import clock, events, ratelimit
from config.aftercommit import after_commit
from config.errors import ApplicationError
from moderation import errors, selectors
from moderation.models import Ban, IpBan, Report


def _iso(value: datetime | None) -> str | None:
    return errors.iso(value)


def _forget(keys: list[str]) -> None:
    cache.delete_many(keys)
    after_commit(lambda: cache.delete_many(keys), effect="moderation.cache_forget")


def _check_may_act_on(*, user, actor) -> None:
    """Moderators (and the system) cannot act on staff or superusers; superusers can."""
    if (user.is_staff or user.is_superuser) and not (actor is not None and actor.is_superuser):
        raise errors.ProtectedAccount()


# --- user bans -----------------------------------------------------------------------------------
BAN_DURATIONS = {
    Report.Action.BAN_24H: timedelta(hours=24),
    Report.Action.BAN_7D: timedelta(days=7),
    Report.Action.BAN_PERMANENT: None,
}


@transaction.atomic
def ban_create(
    *,
    user,
    actor,
    reason: str,
    duration: timedelta | None,
    report: Report | None = None,
    automatic: bool = False,
    ip: str | None = None,
) -> Ban:
    """Ban ``user`` for ``duration`` (None: permanently).

    The ban takes effect for the next API call on every process (cache entry dropped), all the
    user's sockets are closed with 4403 after commit, and their live room ends with reason ``ban``.
    """
    from social.services import room_end_for_user

    reason = (reason or "").strip()
    if not reason:
        raise ApplicationError("A reason is required.", code="invalid", fields={"reason": ["A reason is required."]})
    if duration is not None and duration <= timedelta(0):
        raise ApplicationError("The duration must be positive.", code="invalid", fields={"duration": ["Must be positive."]})
    _check_may_act_on(user=user, actor=actor)
    now = clock.now()
    ban = Ban.objects.create(
        user=user,
        reason=reason[:500],
        created_at=now,
        created_by=actor,
        expires_at=now + duration if duration is not None else None,
        automatic=automatic,
        report=report,
        banned_email=(user.email or "").lower() if duration is None else "",
    )
    audit_record(
        actor=actor,
        action="ban.create",
        target=user,
        after={"ban_id": ban.pk, "until": _iso(ban.expires_at), "permanent": ban.permanent, "reason": ban.reason,
               "automatic": automatic, "report_id": report.pk if report else None},
        ip=ip,
    )
    _bans_changed()
    room_end_for_user(user_id=user.pk, reason="ban")
    rows = selectors.ban_active_qs(now=now).filter(user=user).values("expires_at", "reason", "created_at")
    effective = selectors.effective_ban(list(rows))
    effective = effective or {"until": ban.expires_at, "reason": ban.reason}
    _queue_ban_after_commit(user_id=user.pk, effective=effective)
    events.kick_after_commit(
        users=user.pk, code=events.CLOSE_BANNED, message=events.banned(until=_iso(effective["until"]), reason=effective["reason"])
    )
    return ban


def _queue_ban_after_commit(*, user_id: int, effective: dict | None) -> None:
    """The queue's derived set (presence.queue) mirrors the committed bans: out of every queue
    while ``effective`` (the ban that lasts longest) holds."""
    until = effective["until"].timestamp() if effective and effective["until"] else None
    after_commit(
        lambda: presence.queue_ban_set(user_id=user_id, until=until, banned=effective is not None),
        effect="presence.queue_ban_set",
    )


def _bans_changed() -> None:
    """Every process re-reads the ban table: a new version now (a Redis failure fails the change)
    and again after commit (a reader that loaded the table before the commit stored it under a
    version nobody reads any more)."""
    cache.set(selectors.BAN_VERSION_KEY, selectors.ban_table_version_new(), timeout=None)
    after_commit(
        lambda: cache.set(selectors.BAN_VERSION_KEY, selectors.ban_table_version_new(), timeout=None),
        effect="moderation.bans_changed",
    )


@transaction.atomic
def ban_lift(*, ban: Ban, actor, reason: str, ip: str | None = None) -> bool:
    """Lift one ban early.  Returns False when it was already lifted (idempotent)."""
    reason = (reason or "").strip() or "Lifted by a moderator."
    now = clock.now()
    updated = Ban.objects.filter(pk=ban.pk, lifted_at__isnull=True).update(
        lifted_at=now, lifted_by=actor, lift_reason=reason[:500]
    )
    if not updated:
        return False
    ban.refresh_from_db()
    audit_record(
        actor=actor,
        action="ban.lift",
        target=ban.user,
        before={"ban_id": ban.pk, "until": _iso(ban.expires_at), "permanent": ban.permanent},
        after={"lifted_at": _iso(now), "reason": ban.lift_reason},
        ip=ip,
    )
    _bans_changed()
    rows = selectors.ban_active_qs(now=now).filter(user_id=ban.user_id).values("expires_at", "reason", "created_at")
    _queue_ban_after_commit(user_id=ban.user_id, effective=selectors.effective_ban(list(rows)))
    return True


@transaction.atomic
def user_bans_lift(*, user, actor, reason: str, ip: str | None = None) -> int:
    """Lift every active ban of ``user``; returns how many were lifted."""
    lifted = 0
    for ban in selectors.ban_active_qs().filter(user=user).select_for_update():
        lifted += ban_lift(ban=ban, actor=actor, reason=reason, ip=ip)
    return lifted


# --- IP bans -------------------------------------------------------------------------------------
def network_normalize(network: str) -> str:
    try:
        net = ipaddress.ip_network((network or "").strip(), strict=False)
    except ValueError as exc:
        raise errors.InvalidNetwork(fields={"network": [errors.InvalidNetwork.message]}) from exc
    if net.prefixlen == 0:
        raise errors.InvalidNetwork(
            "That network covers every address.", fields={"network": ["That network covers every address."]}
        )
    return str(net)


def _ip_bans_forget() -> None:
    _forget([selectors.IP_BANS_VERSION_KEY])
    selectors.ip_ban_local_forget()
    after_commit(selectors.ip_ban_local_forget, effect="moderation.ip_bans_forget")


@transaction.atomic
def ip_ban_create(
    *,
    network: str,
    reason: str,
    actor,
    expires_at: datetime | None = None,
    source_user=None,
    ip: str | None = None,
) -> IpBan:
    """Ban a network (CIDR; a bare address is a /32 or /128).  Enforced on the next HTTP request and
    WebSocket connect on every process (the shared list is invalidated)."""
    cidr = network_normalize(network)
    reason = (reason or "").strip()
    if not reason:
        raise ApplicationError("A reason is required.", code="invalid", fields={"reason": ["A reason is required."]})
    if expires_at is not None and expires_at <= clock.now():
        raise ApplicationError("The expiry must be in the future.", code="invalid", fields={"expires_at": ["Must be in the future."]})
    ban = IpBan.objects.create(
        network=cidr, reason=reason[:500], created_at=clock.now(), created_by=actor, expires_at=expires_at,
        source_user=source_user,
    )
    audit_record(
        actor=actor,
        action="ipban.create",
        target=ban,
        after={"network": cidr, "until": _iso(expires_at), "reason": ban.reason,
               "source_user_id": source_user.pk if source_user else None},
        ip=ip,
    )
    _ip_bans_forget()
    return ban


@transaction.atomic
def ip_ban_lift(*, ip_ban: IpBan, actor, ip: str | None = None) -> bool:
    now = clock.now()
    updated = IpBan.objects.filter(pk=ip_ban.pk, lifted_at__isnull=True).update(lifted_at=now, lifted_by=actor)
    if not updated:
        return False
    ip_ban.refresh_from_db()
    audit_record(actor=actor, action="ipban.lift", target=ip_ban, before={"network": ip_ban.network},
                 after={"lifted_at": _iso(now)}, ip=ip)
    _ip_bans_forget()
    return True


@transaction.atomic
def user_ips_ban(
    *, user, actor, reason: str, expires_at: datetime | None = None, ip: str | None = None
) -> list[IpBan]:
    """“Ban this user's IPs”: one IP ban per distinct address their sessions were opened from
    (addresses already covered by an active IP ban are skipped)."""
    from accounts.models import Session

    _check_may_act_on(user=user, actor=actor)
    addresses = sorted(
        {ipaddress.ip_address(a) for a in Session.objects.filter(user=user, ip__isnull=False).values_list("ip", flat=True)},
        key=lambda a: (a.version, a),
    )
    now = clock.now()
    # Read from the database, not the shared cache: inside this transaction a cache fill would
    # publish uncommitted rows to other processes.
    networks = [
        ipaddress.ip_network(n)
        for n in IpBan.objects.filter(lifted_at__isnull=True)
        .exclude(expires_at__lte=now)
        .values_list("network", flat=True)
    ]
    created = []
    for address in addresses:
        if any(net.version == address.version and address in net for net in networks):
            continue
        ban = ip_ban_create(
            network=str(address), reason=reason, actor=actor, expires_at=expires_at, source_user=user, ip=ip
        )
        networks.append(ipaddress.ip_network(ban.network))
        created.append(ban)
    audit_record(actor=actor, action="user.ban_ips", target=user,
                 after={"networks": [b.network for b in created]}, ip=ip)
    return created


@transaction.atomic
def user_sessions_revoke(*, user, actor, ip: str | None = None) -> int:
    """Sign the user out everywhere (audited by the accounts service)."""
    from accounts.services import session_revoke_all

    _check_may_act_on(user=user, actor=actor)
    return session_revoke_all(user=user, actor=actor, ip=ip, action="moderation.revoke_sessions")


# --- reports -------------------------------------------------------------------------------------
def _evidence(*, room_id, reporter) -> dict | None:
    """The room's snapshot as the reporter saw it (``social.selectors.room_evidence_for_reporter``)."""
    from social import selectors as social_selectors

    return social_selectors.room_evidence_for_reporter(room_id=room_id, reporter=reporter)


def report_create(
    *,
    reporter,
    reported_user_id,
    category: str,
    details: str = "",
    room_id=None,
    ip: str | None = None,
) -> Report:
    """File a report.  One per reporter, reported user and room (without a room: one open per pair);
    rate limited per reporter.  Reports from ``MODERATION_AUTO_BAN_REPORTERS`` distinct reporters
    within the window ban the reported user temporarily, pending review (actor: system)."""
    from accounts.models import User
    from accounts.selectors import user_get_by_public_id

    ratelimit.check(
        f"report:user:{reporter.pk}",
        limit=settings.MODERATION_REPORTS_PER_HOUR,
        window=3600,
        message="Too many reports; try again later.",
        on_outage=ratelimit.LOCAL,  # a report must be possible during an outage
    )
    reported = user_get_by_public_id(public_id=reported_user_id)
    if reported.pk == reporter.pk:
        raise errors.CannotReportSelf()
    details = (details or "").strip()
    if category == Report.Category.OTHER and not details:
        raise ApplicationError(
            "Describe what happened.", code="invalid", fields={"details": ["Required for the category “other”."]}
        )
    evidence = _evidence(room_id=room_id, reporter=reporter) if room_id else None
    now = clock.now()
    try:
        with transaction.atomic():
            # Serialises reports against one user, so the auto-ban threshold is crossed exactly once.
            User.objects.select_for_update().filter(pk=reported.pk).first()
            dup = Report.objects.filter(reporter=reporter, reported=reported)
            dup = dup.filter(room_id=room_id) if room_id else dup.filter(room_id__isnull=True, status=Report.Status.OPEN)
            if dup.exists():
                raise errors.AlreadyReported()
            report = Report.objects.create(
                reporter=reporter, reported=reported, category=category, details=details[:1000],
                room_id=room_id, evidence=evidence, created_at=now,
            )
            audit_record(
                actor=reporter, action="report.create", target=report,
                after={"reported_user_id": reported.pk, "category": category, "room_id": str(room_id) if room_id else None},
                ip=ip,
            )
            _auto_ban_check(reported=reported, now=now)
    except IntegrityError as exc:  # a concurrent duplicate
        raise errors.AlreadyReported() from exc
    report.refresh_from_db(fields=["auto_banned"])
    return report


def _auto_ban_check(*, reported, now: datetime) -> None:
    if reported.is_staff or reported.is_superuser:
        return
    active = selectors.ban_active_qs(now=now).filter(user=reported)
    if active.filter(automatic=False).exists():
        return  # a moderator already decided
    if not active.exists():
        window = timedelta(hours=settings.MODERATION_AUTO_BAN_WINDOW_HOURS)
        reporters = selectors.distinct_reporters_since(reported_id=reported.pk, since=now - window)
        if reporters < settings.MODERATION_AUTO_BAN_REPORTERS:
            return
        ban_create(
            user=reported,
            actor=None,
            reason=(f"Automatic: reported by {reporters} people within "
                    f"{settings.MODERATION_AUTO_BAN_WINDOW_HOURS} h; pending review."),
            duration=timedelta(hours=settings.MODERATION_AUTO_BAN_HOURS),
            automatic=True,
        )
    # Pending review: every open report against an automatically banned user goes to the top.
    Report.objects.filter(reported=reported, status=Report.Status.OPEN, auto_banned=False).update(auto_banned=True)


def _lock_open(report: Report) -> Report:
    locked = Report.objects.select_for_update().select_related("reported").get(pk=report.pk)
    if locked.status != Report.Status.OPEN:
        raise errors.ReportNotOpen()
    return locked


@transaction.atomic
def report_resolve(
    *, report: Report, actor, action: str, reason: str = "", ip: str | None = None
) -> Report:
    """Close a report with the action taken: a 24 h / 7 day / permanent ban of the reported user,
    or no action."""
    if action not in (*BAN_DURATIONS, Report.Action.NO_ACTION):
        raise ApplicationError("Unknown action.", code="invalid", fields={"action": ["Unknown action."]})
    report = _lock_open(report)
    if action in BAN_DURATIONS:
        reason = (reason or "").strip() or f"Report #{report.pk}: {report.get_category_display()}"
        ban_create(user=report.reported, actor=actor, reason=reason, duration=BAN_DURATIONS[action], report=report, ip=ip)
    now = clock.now()
    report.status = Report.Status.RESOLVED
    report.action_taken = action
    report.resolved_at = now
    report.resolved_by = actor
    report.save(update_fields=["status", "action_taken", "resolved_at", "resolved_by"])
    audit_record(actor=actor, action="report.resolve", target=report, before={"status": "open"},
                 after={"status": report.status, "action": action}, ip=ip)
    return report


@transaction.atomic
def report_dismiss(*, report: Report, actor, ip: str | None = None) -> Report:
    """Close a report as not a violation (an automatic ban, if any, stays until lifted or expired)."""
    report = _lock_open(report)
    report.status = Report.Status.DISMISSED
    report.action_taken = Report.Action.NO_ACTION
    report.resolved_at = clock.now()
    report.resolved_by = actor
    report.save(update_fields=["status", "action_taken", "resolved_at", "resolved_by"])
    audit_record(actor=actor, action="report.dismiss", target=report, before={"status": "open"},
                 after={"status": report.status}, ip=ip)
    return report


@transaction.atomic
def report_assign(*, report: Report, actor, assignee, ip: str | None = None) -> Report:
    report = Report.objects.select_for_update().get(pk=report.pk)
    before = report.assigned_to_id
    report.assigned_to = assignee
    report.save(update_fields=["assigned_to"])
    audit_record(actor=actor, action="report.assign", target=report, before={"assigned_to": before},
                 after={"assigned_to": assignee.pk if assignee else None}, ip=ip)
    return report


# --- the Moderators group ------------------------------------------------------------------------
MODERATORS_GROUP = "Moderators"
# Same list as the data migration 0002 (which keeps its own frozen copy, as migrations must).
MODERATOR_PERMISSIONS = [
    ("accounts", "view_user"),
    ("accounts", "view_session"),
    ("moderation", "view_report"),
    ("moderation", "change_report"),
    ("moderation", "view_ban"),
    ("moderation", "add_ban"),
    ("moderation", "change_ban"),
    ("moderation", "revoke_sessions"),
    ("moderation", "view_dashboard"),
    ("moderation", "view_ipban"),
    ("moderation", "add_ipban"),
    ("moderation", "change_ipban"),
    ("audit", "view_auditlog"),
    ("moderation", "view_strike"),
    ("moderation", "change_strike"),
    ("moderation", "view_appeal"),
    ("moderation", "change_appeal"),
    ("moderation", "view_warningpreset"),
    ("moderation", "view_moderatornote"),
    ("moderation", "add_moderatornote"),
]


def moderators_group_ensure():
    """(Re)create the "Moderators" group with exactly its permissions, e.g. after a database flush."""
    from django.contrib.auth.models import Group, Permission

    group, _ = Group.objects.get_or_create(name=MODERATORS_GROUP)
    group.permissions.set(
        [Permission.objects.get(content_type__app_label=a, codename=c) for a, c in MODERATOR_PERMISSIONS]
    )
    return group


@transaction.atomic
def moderator_create(*, email: str, name: str = "", password: str | None = None, superuser: bool = False,
                     actor=None) -> tuple[Any, bool]:
    """Make ``email`` a moderator: a permanent staff account in the "Moderators" group (with
    ``superuser`` also a superuser).  An existing account is promoted (its password replaced only
    when one is given); a new one needs a password.  Returns ``(user, created)``; audited."""
    from django.contrib.auth.password_validation import validate_password
    from django.core.exceptions import ValidationError

    from accounts.models import User

    email = User.objects.normalize_email(email or "").strip().lower()
    if "@" not in email:
        raise ApplicationError("Enter an email address.", code="invalid", fields={"email": ["Required."]})
    user = User.objects.select_for_update().filter(email=email).first()
    created = user is None
    if created and not password:
        raise ApplicationError("A new moderator needs a password.", code="invalid", fields={"password": ["Required."]})
    if user is not None and user.deleted_at is not None:
        raise ApplicationError("That account was deleted.", code="invalid", fields={"email": ["Deleted account."]})
    candidate = user or User(email=email, name=name or email.split("@")[0])
    if password:
        try:
            validate_password(password, user=candidate)
        except ValidationError as exc:
            raise ApplicationError(" ".join(exc.messages), code="invalid", fields={"password": exc.messages}) from exc
    before = None if created else {"is_staff": user.is_staff, "is_superuser": user.is_superuser}
    if created:
        user = User.objects.create_user(email=email, password=password, name=name or email.split("@")[0],
                                        account_type=User.AccountType.PERMANENT, is_staff=True,
                                        is_superuser=superuser)
    else:
        if password:
            user.set_password(password)
        if name:
            user.name = name
        user.is_staff = True
        user.is_superuser = user.is_superuser or superuser
        user.account_type = User.AccountType.PERMANENT
        user.save()
    user.groups.add(moderators_group_ensure())
    audit_record(actor=actor, action="moderation.moderator_create", target_type="accounts.user", target_id=user.pk,
                 target_label=str(user), before=before,
                 after={"is_staff": True, "is_superuser": user.is_superuser, "group": MODERATORS_GROUP})
    from accounts.services import user_cache_bust

    user_cache_bust(user_id=user.pk)
    return user, created


# --- profile content a moderator acts on (the rules live in accounts.location) --------------------
@transaction.atomic
def profile_instagram_post_remove(*, user, url: str, actor, ip: str | None = None) -> bool:
    """A moderator removes one Instagram post from a user's card (audited).  False when it wasn't there."""
    from accounts.location import instagram_post_drop

    remaining = instagram_post_drop(user=user, url=url)
    if remaining is None:
        return False
    audit_record(actor=actor, action="profile.instagram_post_remove", target=user, before={"post": url},
                 after={"remaining": remaining}, ip=ip)
    return True


@transaction.atomic
def profile_location_reveal(*, user, actor, ip: str | None = None) -> dict | None:
    """A superuser looks at a user's stored (coarsened) location; the look is audited."""
    from accounts.location import location_export

    data = location_export(user_id=user.pk)
    audit_record(actor=actor, action="profile.location_view", target=user, after={"live": data is not None}, ip=ip)
    return data
