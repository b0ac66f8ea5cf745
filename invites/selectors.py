"""Invites reads.  ``queue_priority_user_ids``, ``usc_card_registered`` and ``user_export_data`` are
contracts other apps call."""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.db.models import QuerySet

from invites import errors
from invites.models import (
    InviteCode,
    InviteRedemption,
    ReferralLink,
    ReferralNotification,
    UscCardRegistration,
    UscScanAttempt,
)


def queue_priority_user_ids(*, user_id: int) -> list[int]:
    """Users to show first in ``user_id``'s queue when available (the targets of referral intros).

    One query.  The queue decides availability; deleted targets are left out here.
    """
    return list(
        ReferralNotification.objects.filter(referred_user_id=user_id, recipient__deleted_at__isnull=True)
        .order_by("-created_at")
        .values_list("recipient_id", flat=True)
    )


@dataclass(frozen=True)
class MyInvite:
    calls_completed: int
    calls_required: int
    code: InviteCode | None

    @property
    def unlocked(self) -> bool:
        return self.code is not None

    @property
    def progress(self) -> str:
        done = min(self.calls_completed, self.calls_required)
        return f"{done} of {self.calls_required} calls"


def earned_code_for_user(*, user_id: int) -> InviteCode | None:
    """The user's own earned code, once minted (``invites.services.invite_codes_unlock``)."""
    return InviteCode.objects.filter(created_by_id=user_id, kind=InviteCode.Kind.USER).first()


def my_invite(*, user, code: InviteCode | None, calls_completed: int) -> MyInvite:
    return MyInvite(calls_completed=calls_completed, calls_required=settings.INVITE_UNLOCK_CALLS, code=code)


def referral_link_get(*, token: str) -> ReferralLink:
    """The active intro link behind ``token`` (``ReferralInvalid`` otherwise)."""
    link = (
        ReferralLink.objects.select_related("target", "created_by")
        .filter(token=(token or "").strip()[:32], is_active=True, target__deleted_at__isnull=True)
        .first()
    )
    if link is None:
        raise errors.ReferralInvalid(fields={"referral_token": [errors.ReferralInvalid.message]})
    return link


def notification_list_for_user(*, user, unread_only: bool = False) -> QuerySet[ReferralNotification]:
    qs = ReferralNotification.objects.filter(recipient=user).select_related("introducer", "referred_user")
    if unread_only:
        qs = qs.filter(read_at__isnull=True)
    return qs.order_by("-created_at", "-id")


def notification_unread_count(*, user) -> int:
    return ReferralNotification.objects.filter(recipient=user, read_at__isnull=True).count()


def usc_card_registered(*, user_id: int) -> bool:
    """Did this account register with a USC card?  (Such accounts need a student email.)"""
    return UscCardRegistration.objects.filter(user_id=user_id).exists()


def usc_registration_find(*, student_id: str) -> UscCardRegistration | None:
    """Moderators: the registration of a full student ID (looked up by its keyed hash)."""
    from invites.services import usc_card_hash, usc_card_parse

    parsed = usc_card_parse(student_id) or (student_id or "").strip()
    return UscCardRegistration.objects.select_related("user").filter(card_hash=usc_card_hash(parsed)).first()


def user_export_data(*, user_id: int) -> dict:
    """This app's part of ``GET /api/me/export`` (data about ``user_id`` only)."""
    own_code = InviteCode.objects.filter(created_by_id=user_id, kind=InviteCode.Kind.USER).first()
    redemption = InviteRedemption.objects.select_related("code").filter(user_id=user_id).first()
    card = UscCardRegistration.objects.filter(user_id=user_id).first()
    return {
        "invite_code": None
        if own_code is None
        else {
            "code": own_code.code,
            "max_uses": own_code.max_uses,
            "uses": own_code.uses,
            "is_active": own_code.is_active,
            "created_at": own_code.created_at,
            "people_invited": own_code.redemptions.count(),
        },
        "joined_with_invite": None
        if redemption is None
        else {"code": redemption.code.code, "redeemed_at": redemption.redeemed_at, "ip": redemption.ip},
        "referral_links_made": [
            {"token": link.token, "target_user_id": str(link.target.public_id), "created_at": link.created_at,
             "is_active": link.is_active}
            for link in ReferralLink.objects.filter(created_by_id=user_id).select_related("target")
        ],
        "introduced_via": [
            {"introduced_to_user_id": str(n.recipient.public_id), "by_user_id": str(n.introducer.public_id),
             "created_at": n.created_at}
            for n in ReferralNotification.objects.filter(referred_user_id=user_id).select_related("recipient", "introducer")
        ],
        "notifications": [
            {"id": n.pk, "text": f"{n.introducer.name} introduced {n.referred_user.name} to you",
             "created_at": n.created_at, "read_at": n.read_at}
            for n in ReferralNotification.objects.filter(recipient_id=user_id).select_related("introducer", "referred_user")
        ],
        "usc_card": None if card is None else {"last4": card.last4, "registered_at": card.registered_at},
        "usc_scan_attempts": [
            {"created_at": a.created_at, "ip": a.ip, "success": a.success, "failure_reason": a.failure_reason}
            for a in UscScanAttempt.objects.filter(user_id=user_id)
        ],
    }
