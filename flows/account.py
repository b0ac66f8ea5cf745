"""The account's life cycle where it touches other apps: making it permanent (the student-email
rule of USC cards, permanently banned emails), deleting it (bans keep the email, invites retire,
the live room ends) and exporting everything stored about it."""

from __future__ import annotations

from django.conf import settings
from django.db import transaction

from accounts import selectors as account_selectors
from accounts import services as account_services
from accounts.models import EmailVerification, User
from config.aftercommit import after_commit
from invites import selectors as invite_selectors
from invites import services as invite_services
from invites.errors import StudentEmailRequired
from moderation import selectors as moderation_selectors
from moderation.errors import EmailBanned
from social import selectors as social_selectors
from social import services as social_services


# --- making an account permanent -----------------------------------------------------------
def _student_email_required(*, user: User, email: str) -> None:
    """Accounts registered with a USC card become permanent only with a student-domain email —
    checked when the code is requested and again when it is verified.  (The other direction, a
    card for an account that already has another email, is refused by ``usc_card_register``.)"""
    if invite_selectors.usc_card_registered(user_id=user.pk) and not invite_services.usc_email_allowed(email):
        message = f"Accounts registered with a USC card need an @{settings.USC_EMAIL_DOMAIN} email address."
        raise StudentEmailRequired(message, fields={"email": [message]})


def _banned_email_refused(email: str) -> None:
    # An email tied to a permanently banned account can't come back on a new account.
    if moderation_selectors.email_permanently_banned(email=email):
        raise EmailBanned(fields={"email": [EmailBanned.message]})


def do_make_permanent_request(*, user: User, email: str, password: str, ip: str | None = None) -> EmailVerification:
    """Step 1 of making a guest permanent (``accounts.services.make_permanent_request``) with the
    rules of the other apps on the email."""
    return account_services.make_permanent_request(
        user=user, email=email, password=password, ip=ip,
        student_email_check=_student_email_required, banned_email_check=_banned_email_refused,
    )


def do_email_verify(*, user: User, code: str, ip: str | None = None) -> User:
    """Step 2: the code confirmed, the email and password become the account's — the same rules again."""
    return account_services.email_verify(
        user=user, code=code, ip=ip,
        student_email_check=_student_email_required, banned_email_check=_banned_email_refused,
    )


# --- deletion -----------------------------------------------------------------------------
def do_account_delete(*, user: User, password: str = "", ip: str | None = None) -> None:
    """Anonymise the account: personal data goes, the row (and with it moderation records,
    audit rows, reports, bans, card registration and invite history) stays.

    Permanent accounts confirm with their password.  Every session is revoked; the user's own
    invite code and intro links stop working; a live room is ended after commit.
    """
    account_services.account_password_confirm(user=user, password=password)
    # A banned account keeps its email so the ban keeps holding that address (no fresh sign-up
    # with it); everyone else's email is erased and free to use again.
    keep_email = moderation_selectors.user_ban_active(user_id=user.pk) is not None
    user_id = user.pk
    with transaction.atomic():
        account_services.account_anonymise(user=user, keep_email=keep_email, ip=ip)
        invite_services.user_invites_retire(user=user)
        after_commit(  # the sweeper ends the room anyway (its lease lapses) if this fails
            lambda: social_services.room_end_for_user(user_id=user_id, reason="account_deleted"),
            effect="rooms.end_for_deleted_account",
        )
    user.refresh_from_db()


# --- export -------------------------------------------------------------------------------
def do_user_export(*, user: User) -> dict:
    """Everything stored about ``user``, as one JSON-ready document (``GET /api/me/export``):
    the account's part, then each app's ``user_export_data``."""
    doc = account_selectors.user_export(user=user)
    doc["social"] = social_selectors.user_export_data(user_id=user.pk)
    doc["moderation"] = moderation_selectors.user_export_data(user_id=user.pk)
    doc["invites"] = invite_selectors.user_export_data(user_id=user.pk)
    return doc
