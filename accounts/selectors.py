from __future__ import annotations

from django.db.models import QuerySet

from accounts.models import Session, User
from config import clock
from config.errors import NotFound


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
