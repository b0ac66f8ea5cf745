"""Sign-up: a guest account, gated by an invite code or a USC card scan, introduced by an intro link."""

from __future__ import annotations

from django.conf import settings
from django.db import transaction

from accounts import services as account_services
from accounts.models import User
from config import ratelimit
from invites import services as invite_services
from invites.errors import InviteRequired


@transaction.atomic
def do_guest_signup(
    *, name: str, gender: str, ip: str | None, user_agent: str = "", device_name: str = "",
    invite_code: str = "", usc_scan_token: str = "", referral_token: str = "",
) -> tuple[User, str]:
    """Create a guest account and its first session.

    Gating (``OPEN_SIGNUP`` off): an invite code or a USC card scan is required.  An invite code
    is redeemed race-safely in this transaction (the user becomes paid status ``invited``); a card
    scan binds the card to the new account; a referral token introduces the user to its target.
    Any failure rolls all of it back, the code's use included.
    """
    ratelimit.check(
        f"signup:ip:{ip}", limit=30, window=3600, message="Too many sign-ups from this network.",
        on_outage=ratelimit.LOCAL,  # guest accounts guard no secret: sign-up keeps working
    )
    card = invite_services.usc_scan_token_read(token=usc_scan_token) if usc_scan_token else None
    if not settings.OPEN_SIGNUP and not invite_code and card is None:
        raise InviteRequired(fields={"invite_code": [InviteRequired.message]})
    invite = invite_services.invite_code_reserve(code=invite_code) if invite_code else None
    paid_status = User.PaidStatus.INVITED if invite is not None else User.PaidStatus.UNPAID
    user, token = account_services.guest_create(
        name=name, gender=gender, paid_status=paid_status, ip=ip, user_agent=user_agent, device_name=device_name
    )
    if invite is not None:
        invite_services.invite_redemption_record(invite=invite, user=user, ip=ip)
    if card is not None:
        invite_services.usc_card_register(user=user, card=card, ip=ip, user_agent=user_agent)
    if referral_token:
        invite_services.referral_accept(token=referral_token, user=user, ip=ip)
    return user, token
