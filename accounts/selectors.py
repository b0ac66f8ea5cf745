from __future__ import annotations

from django.db.models import QuerySet

from accounts.models import Session, User
from config import clock
from config.errors import NotFound


def _file_url(user: User, field: str) -> str | None:
    """``user.<field>.url if user.<field> else None``, without building the ``FieldFile`` (its
    descriptor wraps the stored name in one on every read of a fresh instance) when the stored name
    is empty, the usual case: an unset file is ``None`` or ``""`` in the instance's ``__dict__``
    (a deferred field is absent from it: the descriptor loads it)."""
    if not user.__dict__.get(field, True):
        return None
    file = getattr(user, field)
    return file.url if file else None


def user_card(user: User) -> dict:
    """The public card of a user: what other users may see (queue entries, invites, rooms, history).
    The one shape every app shows a user in (``me_payload`` extends it with the owner's fields)."""
    return {
        "id": str(user.public_id),
        "name": user.name,
        "gender": user.gender,
        "bio": user.bio,
        "instagram_handle": user.instagram_handle,
        "photo_url": _file_url(user, "photo"),
        "intro_video_url": _file_url(user, "intro_video"),
        "instagram_posts": list(user.instagram_posts or ()),
    }


def session_list_for_user(*, user: User) -> QuerySet[Session]:
    return Session.objects.filter(user=user, revoked_at__isnull=True, expires_at__gt=clock.now()).order_by(
        "-last_seen_at"
    )


def session_get_for_user(*, user: User, session_id: int) -> Session:
    session = session_list_for_user(user=user).filter(pk=session_id).first()
    if session is None:
        raise NotFound("No such session.")
    return session


def user_get_by_public_id(*, public_id) -> User:
    user = User.objects.filter(public_id=public_id, deleted_at__isnull=True).first()
    if user is None:
        raise NotFound("No such user.")
    return user


def user_export(*, user: User) -> dict:
    """This app's part of the data export (``GET /api/me/export``): ``flows.account.do_user_export``
    adds each other app's ``user_export_data``."""
    from accounts.models import EmailVerification

    doc: dict = {
        "exported_at": clock.now(),
        "profile": {
            "id": user.public_id,
            "name": user.name,
            "gender": user.gender,
            "bio": user.bio,
            "instagram_handle": user.instagram_handle,
            "instagram_posts": list(user.instagram_posts or ()),
            "email": user.email,
            "email_verified_at": user.email_verified_at,
            "account_type": user.account_type,
            "paid_status": user.paid_status,
            "timer_total_seconds": user.timer_total_seconds,
            "photo": user.photo.name or None,
            "intro_video": user.intro_video.name or None,
            "created_at": user.created_at,
        },
        "sessions": list(
            Session.objects.filter(user=user)
            .order_by("-created_at")
            .values("id", "device_name", "user_agent", "ip", "created_at", "last_seen_at", "expires_at", "revoked_at")
        ),
        "email_verifications": list(
            EmailVerification.objects.filter(user=user)
            .order_by("-created_at")
            .values("email", "purpose", "created_at", "expires_at", "consumed_at")
        ),
    }
    from accounts.location import location_export

    doc["location"] = location_export(user_id=user.pk)
    return doc
