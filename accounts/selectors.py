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


# The stored columns a card is made of (``user_card_from_values``), by attribute name.
CARD_FIELDS = ("public_id", "name", "gender", "bio", "instagram_handle", "photo", "intro_video", "instagram_posts")


def user_card_from_values(values: dict) -> dict:
    """``user_card`` from the stored values of ``CARD_FIELDS`` (as the ORM converts them), without
    a ``User`` instance: the queue builds up to 100 cards per call from one row each, and the
    instance was most of a card's cost.  A file's URL is its field storage's URL of the stored
    name, as ``FieldFile.url``."""
    photo, video = values["photo"], values["intro_video"]
    return {
        "id": str(values["public_id"]),
        "name": values["name"],
        "gender": values["gender"],
        "bio": values["bio"],
        "instagram_handle": values["instagram_handle"],
        "photo_url": _PHOTO.storage.url(photo) if photo else None,
        "intro_video_url": _VIDEO.storage.url(video) if video else None,
        "instagram_posts": list(values["instagram_posts"] or ()),
    }


_PHOTO, _VIDEO = User._meta.get_field("photo"), User._meta.get_field("intro_video")


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
