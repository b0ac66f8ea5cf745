"""Invites writes: invite codes, earned invites, referral intros, USC card registration.

Rules live here; APIs and the admin only call these functions.  Every change that a moderator
would want to trace writes an audit row in the same transaction.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.core import signing
from django.db import IntegrityError, transaction
from django.db.models import Count, F, Q

from accounts.models import User
from config import clock, events, ratelimit
from invites import errors, selectors
from invites.models import (
    InviteCode,
    InviteRedemption,
    ReferralLink,
    ReferralNotification,
    UscCardRegistration,
    UscScanAttempt,
)
from moderation import selectors as moderation_selectors
from audit.services import audit_record
from social import selectors as social_selectors

# No look-alikes: no 0/O, 1/I/L; upper case only (input is upper-cased before lookup).
CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
_CODE_CLEAN = re.compile(r"[\s\-_]")


# --- invite codes ------------------------------------------------------------------------------
def invite_code_generate() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(settings.INVITE_CODE_LENGTH))


def invite_code_normalize(raw: str) -> str:
    """What a person typed → the stored form (case, spaces and dashes don't matter)."""
    return _CODE_CLEAN.sub("", raw or "").upper()[:32]


def join_link(code: str) -> str:
    return f"{settings.PUBLIC_BASE_URL}/join/{code}"


def _create_code(**fields) -> InviteCode:
    # 30^12 codes: a collision is astronomically unlikely, but the unique constraint decides.
    for _ in range(5):
        try:
            with transaction.atomic():
                return InviteCode.objects.create(code=invite_code_generate(), created_at=clock.now(), **fields)
        except IntegrityError:
            if "created_by" in fields and fields.get("kind") == InviteCode.Kind.USER:
                raise
            continue
    raise RuntimeError("could not generate a unique invite code")


@transaction.atomic
def invite_batch_create(
    *, actor: User, count: int, max_uses: int | None, expires_at: datetime | None = None, note: str = "",
    ip: str | None = None,
) -> list[InviteCode]:
    """Admin codes in one batch (one audit row).  ``max_uses=None`` means unlimited."""
    if not 1 <= count <= 1000:
        raise errors.ApplicationError("Create between 1 and 1000 codes at once.", code="invalid", fields={"count": ["1–1000"]})
    if max_uses is not None and max_uses < 1:
        raise errors.ApplicationError("Uses must be at least 1 (or unlimited).", code="invalid", fields={"max_uses": [">= 1"]})
    batch = f"{clock.now():%Y%m%d-%H%M%S}-{secrets.token_hex(2)}"
    codes = [
        _create_code(
            kind=InviteCode.Kind.ADMIN, created_by=actor, max_uses=max_uses, expires_at=expires_at, batch=batch,
            note=note[:200],
        )
        for _ in range(count)
    ]
    audit_record(
        actor=actor,
        action="invites.batch_create",
        target_type="invites.invitecode",
        target_id=batch,
        target_label=f"batch {batch} ({count} codes)",
        after={"count": count, "max_uses": max_uses, "expires_at": expires_at.isoformat() if expires_at else None},
        ip=ip,
    )
    return codes


@transaction.atomic
def invite_code_set_active(*, actor: User | None, invite: InviteCode, active: bool, ip: str | None = None) -> InviteCode:
    if invite.is_active != active:
        InviteCode.objects.filter(pk=invite.pk).update(is_active=active)
        invite.is_active = active
        audit_record(
            actor=actor, action="invites.code_activate" if active else "invites.code_deactivate", target=invite,
            before={"is_active": not active}, after={"is_active": active}, ip=ip,
        )
    return invite


def invite_code_reserve(*, code: str) -> InviteCode:
    """Take one use of ``code`` — race-safe: one conditional UPDATE decides.

    ``UPDATE … SET uses = uses + 1 WHERE active AND not expired AND uses < max_uses``: concurrent
    redeemers of the same row queue on its row lock and each re-checks the condition against the
    committed count, so a 10-use code admits exactly 10 however many race.  Must run inside the
    sign-up transaction so a failure later in sign-up gives the use back.
    """
    assert transaction.get_connection().in_atomic_block, "invite_code_reserve needs the sign-up transaction"
    normalized = invite_code_normalize(code)
    now = clock.now()
    taken = (
        InviteCode.objects.filter(code=normalized, is_active=True)
        .filter(Q(expires_at__isnull=True) | Q(expires_at__gt=now))
        .filter(Q(max_uses__isnull=True) | Q(uses__lt=F("max_uses")))
        .update(uses=F("uses") + 1)
    )
    invite = InviteCode.objects.filter(code=normalized).first()
    if taken:
        return invite
    # Only now work out why, for a clear message.
    if invite is None:
        raise errors.InviteInvalid(fields={"invite_code": [errors.InviteInvalid.message]})
    if not invite.is_active:
        raise errors.InviteInactive(fields={"invite_code": [errors.InviteInactive.message]})
    if invite.expires_at is not None and invite.expires_at <= now:
        raise errors.InviteExpired(fields={"invite_code": [errors.InviteExpired.message]})
    raise errors.InviteUsedUp(fields={"invite_code": [errors.InviteUsedUp.message]})


def invite_redemption_record(*, invite: InviteCode, user: User, ip: str | None) -> InviteRedemption:
    redemption = InviteRedemption.objects.create(code=invite, user=user, redeemed_at=clock.now(), ip=ip)
    audit_record(
        actor=user, action="invites.redeem", target=invite,
        after={"user_id": user.pk, "invited_by": invite.created_by_id, "uses": invite.uses}, ip=ip,
    )
    return redemption


def invite_codes_unlock(*, user_ids) -> list[InviteCode]:
    """Mint the earned code of each of ``user_ids`` who has ``INVITE_UNLOCK_CALLS`` completed calls
    and no code yet; returns the codes minted now.

    Called (``social.services.on_calls_completed``, registered in ``InvitesConfig.ready``) inside the
    transaction that records completed calls — the room's end — so the code exists from the commit
    that completes the K-th call and reading it (``GET /api/invites/mine``) never writes.  Exactly
    once per user: the partial unique constraint ``invites_code_one_earned_per_user`` decides; a
    repeated or concurrent call finds the code there (two queries when nobody is due).
    """
    ids = list(user_ids)
    have = set(
        InviteCode.objects.filter(created_by_id__in=ids, kind=InviteCode.Kind.USER).values_list("created_by_id", flat=True)
    )
    counts = social_selectors.completed_calls_counts(user_ids=[uid for uid in ids if uid not in have])
    due = [uid for uid, n in counts.items() if n >= settings.INVITE_UNLOCK_CALLS]
    minted = []
    for user in User.objects.filter(pk__in=due).order_by("pk"):
        try:
            with transaction.atomic():
                invite = _create_code(kind=InviteCode.Kind.USER, created_by=user, max_uses=settings.INVITE_EARNED_USES)
                audit_record(actor=user, action="invites.code_unlock", target=invite, after={"max_uses": invite.max_uses})
        except IntegrityError:  # a concurrent transaction minted it first
            continue
        minted.append(invite)
    return minted


# --- referral intros ---------------------------------------------------------------------------
def intro_link(token: str) -> str:
    return f"{settings.PUBLIC_BASE_URL}/intro/{token}"


@transaction.atomic
def referral_create(*, actor: User, target: User, ip: str | None = None) -> ReferralLink:
    """An intro link: whoever signs up through it is introduced to ``target``."""
    if target.pk == actor.pk:
        raise errors.ReferralSelf(fields={"target_user_id": [errors.ReferralSelf.message]})
    link = ReferralLink.objects.create(
        token=secrets.token_urlsafe(12), target=target, created_by=actor, created_at=clock.now()
    )
    audit_record(actor=actor, action="invites.referral_create", target=link, after={"target_id": target.pk}, ip=ip)
    return link


def referral_accept(*, token: str, user: User, ip: str | None = None) -> ReferralNotification:
    """Inside sign-up: introduce the new ``user`` to the link's target (durable notification)."""
    link = selectors.referral_link_get(token=token)
    note = ReferralNotification.objects.create(
        recipient=link.target, link=link, introducer=link.created_by, referred_user=user, created_at=clock.now()
    )
    audit_record(actor=user, action="invites.referral_accept", target=link, after={"referred_user_id": user.pk}, ip=ip)
    events.send_after_commit(users=link.target_id, message=events.notification_new(id=note.pk, text=notification_text(note)))
    return note


def notification_text(note: ReferralNotification) -> str:
    return f"{note.introducer.name} introduced {note.referred_user.name} to you"


def notification_mark_read(*, user: User, notification_id: int) -> ReferralNotification:
    note = ReferralNotification.objects.filter(pk=notification_id, recipient=user).first()
    if note is None:
        raise errors.NotificationNotFound()
    if note.read_at is None:
        ReferralNotification.objects.filter(pk=note.pk, read_at__isnull=True).update(read_at=clock.now())
        note.refresh_from_db(fields=["read_at"])
    return note


def notifications_mark_all_read(*, user: User) -> int:
    return ReferralNotification.objects.filter(recipient=user, read_at__isnull=True).update(read_at=clock.now())


# --- USC cards ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class ScannedCard:
    card_hash: str
    last4: str


def usc_card_parse(raw: str) -> str | None:
    """The student ID in scanned barcode text, by the ``USC_CARD_ID_PATTERN`` rule."""
    match = re.search(settings.USC_CARD_ID_PATTERN, (raw or "")[:512])
    if match is None:
        return None
    return match.group(1) if match.groups() else match.group(0)


def usc_card_hash(student_id: str) -> str:
    """Keyed hash: a plain hash of a 10-digit ID is reversible by enumerating 10^10 values."""
    return hmac.new(
        settings.USC_CARD_HASH_KEY.encode(), f"usc-card:{student_id}".encode(), hashlib.sha256
    ).hexdigest()


_SCAN_SALT = "invites.usc-scan"


def _ban_active(user_id: int) -> bool:
    return moderation_selectors.user_ban_active(user_id=user_id) is not None


def _scan_failures(*, ip: str | None, device_id: str) -> int:
    """Failures in the window for this ip and for this device — the larger of the two counts
    (the limit applies to each key separately, not to their sum).  One query."""
    keys = {}
    if ip:
        keys["ip"] = Q(ip=ip)
    if device_id:
        keys["device"] = Q(device_id=device_id)
    if not keys:
        return 0
    since = clock.now() - timedelta(seconds=settings.USC_SCAN_WINDOW_SECONDS)
    who = Q()
    for q in keys.values():
        who |= q
    counts = (
        UscScanAttempt.objects.filter(who, created_at__gt=since, success=False)
        .exclude(failure_reason=UscScanAttempt.Failure.LOCKED_OUT)
        .aggregate(**{name: Count("pk", filter=q) for name, q in keys.items()})
    )
    return max(v or 0 for v in counts.values())


def usc_scan(
    *, raw: str, ip: str | None, user_agent: str = "", device_id: str = "", user: User | None = None
) -> tuple[str, str]:
    """Check a scanned card; record the attempt; return ``(scan_token, last4)``.

    Refused: after ``USC_SCAN_MAX_FAILURES`` failures per ip or per device within the window
    (429), unreadable text (400), a card registered to another account (409) or to a banned one
    (403).  The token (signed, short-lived) is what sign-up / finalize-registration take.
    """
    device_id = (device_id or "")[:100]
    # Successful scans aren't failures, but they still answer "is this ID registered?": cap them.
    ratelimit.check(
        f"usc-scan:ip:{ip}", limit=60, window=3600, message="Too many card scans; try again later.",
        on_outage=ratelimit.CLOSED,  # guards card numbers against enumeration
    )
    attempt = {"ip": ip, "device_id": device_id, "user_agent": (user_agent or "")[:300], "user": user}

    def record(success: bool, reason: str = "", card_hash: str = "", last4: str = "") -> None:
        UscScanAttempt.objects.create(
            created_at=clock.now(), success=success, failure_reason=reason, card_hash=card_hash, last4=last4, **attempt
        )

    if _scan_failures(ip=ip, device_id=device_id) >= settings.USC_SCAN_MAX_FAILURES:
        record(False, UscScanAttempt.Failure.LOCKED_OUT)
        raise errors.ScanLockedOut(retry_after=settings.USC_SCAN_WINDOW_SECONDS)
    student_id = usc_card_parse(raw)
    if student_id is None:
        record(False, UscScanAttempt.Failure.FORMAT)
        raise errors.CardUnreadable(fields={"raw": [errors.CardUnreadable.message]})
    card = ScannedCard(card_hash=usc_card_hash(student_id), last4=student_id[-4:])
    owner = (
        UscCardRegistration.objects.filter(card_hash=card.card_hash).values_list("user_id", "user__deleted_at").first()
    )
    if owner is not None and (user is None or owner[0] != user.pk):
        if _ban_active(owner[0]):
            record(False, UscScanAttempt.Failure.BANNED, card.card_hash, card.last4)
            raise errors.CardBanned()
        if owner[1] is None:
            record(False, UscScanAttempt.Failure.TAKEN, card.card_hash, card.last4)
            raise errors.CardTaken()
    record(True, "", card.card_hash, card.last4)
    token = signing.dumps({"h": card.card_hash, "l": card.last4}, salt=_SCAN_SALT, compress=True)
    return token, card.last4


def usc_scan_token_read(*, token: str) -> ScannedCard:
    try:
        data = signing.loads(token or "", salt=_SCAN_SALT, max_age=settings.USC_SCAN_TOKEN_TTL_SECONDS)
        return ScannedCard(card_hash=str(data["h"]), last4=str(data["l"]))
    except (signing.BadSignature, KeyError, TypeError) as exc:
        raise errors.ScanTokenInvalid(fields={"usc_scan_token": [errors.ScanTokenInvalid.message]}) from exc


def usc_card_register(
    *, user: User, card: ScannedCard, ip: str | None = None, user_agent: str = ""
) -> UscCardRegistration:
    """Bind ``card`` to ``user`` — one account per card (unique constraint), one card per account.

    A card whose account was deleted (and isn't banned) is released to the new account; a card
    tied to a banned account never is.  A card account's email is a student one
    (``usc_email_allowed``): a permanent account with another email can't register a card.  The
    user's row lock orders this against ``email_verify``, which checks the same rule the other way.
    """
    with transaction.atomic():
        email, account_type = (
            User.objects.select_for_update().filter(pk=user.pk).values_list("email", "account_type").get()
        )
        if account_type == User.AccountType.PERMANENT and not usc_email_allowed(email or ""):
            raise errors.StudentEmailRequired(
                f"A USC card can only be registered to an account with an @{settings.USC_EMAIL_DOMAIN} email address."
            )
        existing = (
            UscCardRegistration.objects.select_for_update().select_related("user").filter(card_hash=card.card_hash).first()
        )
        if existing is not None:
            if existing.user_id == user.pk:
                return existing
            if _ban_active(existing.user_id):
                raise errors.CardBanned()
            if existing.user.deleted_at is None:
                raise errors.CardTaken()
            audit_record(actor=user, action="usc.card_released", target=existing, before={"user_id": existing.user_id}, ip=ip)
            existing.delete()
        if UscCardRegistration.objects.filter(user=user).exists():
            raise errors.CardAlreadyRegistered()
        try:
            with transaction.atomic():
                registration = UscCardRegistration.objects.create(
                    user=user, card_hash=card.card_hash, last4=card.last4, registered_at=clock.now(), ip=ip,
                    user_agent=(user_agent or "")[:300],
                )
        except IntegrityError as exc:  # a concurrent registration of the same card (or same user) won
            raise errors.CardTaken() from exc
        audit_record(actor=user, action="usc.card_register", target=registration, after={"last4": card.last4}, ip=ip)
    return registration


def usc_card_finalize(*, user: User, scan_token: str, ip: str | None = None, user_agent: str = "") -> UscCardRegistration:
    card = usc_scan_token_read(token=scan_token)
    return usc_card_register(user=user, card=card, ip=ip, user_agent=user_agent)


def usc_email_allowed(email: str) -> bool:
    """Is ``email`` in the student domain (``USC_EMAIL_DOMAIN`` or one of its subdomains)?"""
    domain = (email or "").rsplit("@", 1)[-1].strip().lower()
    wanted = settings.USC_EMAIL_DOMAIN
    return domain == wanted or domain.endswith("." + wanted)


# --- account deletion --------------------------------------------------------------------------
def user_invites_retire(*, user: User) -> None:
    """On account deletion: the user's codes and intro links stop working.  History stays."""
    InviteCode.objects.filter(created_by=user, kind=InviteCode.Kind.USER).update(is_active=False)
    ReferralLink.objects.filter(Q(created_by=user) | Q(target=user)).update(is_active=False)
