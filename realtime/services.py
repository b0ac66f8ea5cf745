"""What the consumer calls (through ``database_sync_to_async``): the socket's life cycle, presence
and the queue.  The consumer itself stays transport only."""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings

from accounts.models import User
from accounts.services import session_authenticate, session_live_here
from config import events
import presence
from realtime import selectors as queue_selectors
from realtime.protocol import CLOSE_AUTH_FAILED, CLOSE_BANNED
from social import errors, selectors, services
from accounts.selectors import user_card


@dataclass
class SocketAuth:
    user: User | None
    close_code: int | None = None
    reason: str = ""
    session_id: int | None = None
    token_hash: str = ""


def socket_authenticate(*, token: str) -> SocketAuth:
    """Token → user; 4401 when unknown/expired/revoked, 4403 when banned."""
    from moderation.selectors import user_ban_active

    result = session_authenticate(token=token)
    if result is None:
        return SocketAuth(user=None, close_code=CLOSE_AUTH_FAILED, reason="invalid, expired or revoked token")
    user, info = result
    if user_ban_active(user_id=user.pk):
        return SocketAuth(user=None, close_code=CLOSE_BANNED, reason="banned")
    return SocketAuth(user=user, session_id=info.session_id, token_hash=info.token_hash)


def socket_session_live_here(*, token_hash: str) -> bool:
    """Is the socket's session known live from this process's memory?  No I/O: the consumer asks
    for every inbound frame.  False only means "ask ``socket_session_valid``"."""
    return session_live_here(token_hash=token_hash)


def socket_session_valid(*, token: str, user_id: int) -> bool:
    """Is the socket's session still valid (not revoked, not expired, account usable)?  Reads the
    shared cache, then the database on a miss (and caches the answer)."""
    result = session_authenticate(token=token)
    return result is not None and result[0].pk == user_id


def socket_ready(*, user: User, socket_id: str) -> events.AuthOk:
    """The socket is authenticated and subscribed: it counts for presence, and its user's room
    (if any) is connected again — both sides get ``room.resumed``.  Returns the ``auth.ok`` body."""
    presence.socket_touch(user_id=user.pk, socket_id=socket_id, available=False)
    room = services.room_participant_connected(user_id=user.pk)
    return events.auth_ok(
        user=user_card(user),
        heartbeat_seconds=settings.PRESENCE_HEARTBEAT_SECONDS,
        offline_timeout_seconds=settings.PRESENCE_TIMEOUT_SECONDS,
        presence=presence.IN_CALL if room else presence.ONLINE,
        room=room,
    )


def socket_closed(*, user_id: int, socket_id: str) -> None:
    """Forget the socket; if it was the user's last one anywhere, their room enters grace."""
    remaining = presence.socket_remove(user_id=user_id, socket_id=socket_id)
    if remaining == 0:
        services.room_participant_disconnected(user_id=user_id)


def socket_heartbeat(*, user_id: int, socket_id: str, available: bool, token: str | None = None) -> bool:
    """Refresh the socket's presence.  With ``token``: False when the session was revoked or
    expired meanwhile (a cache hit costs no query), so the consumer closes the socket (4401)."""
    if token is not None and not socket_session_valid(token=token, user_id=user_id):
        return False
    presence.socket_touch(user_id=user_id, socket_id=socket_id, available=available)
    return True


def presence_state(*, user_id: int) -> str:
    in_call = selectors.live_room_user_ids(user_ids=[user_id])
    return presence.user_states(user_ids=[user_id], in_call_ids=in_call)[user_id]


def queue_page(
    *, user_id: int, offset: int = 0, limit: int = 50, include_cooldown: bool = False, nearby: bool = False
) -> dict:
    total, page = queue_selectors.queue_list_for_user(
        user_id=user_id, offset=offset, limit=limit, include_cooldown=include_cooldown, nearby=nearby
    )
    return {
        "total": total,
        "offset": offset,
        "limit": limit,
        "results": [
            {
                **user_card(entry["user"]),
                "cooldown_until": entry["cooldown_until"].isoformat() if entry["cooldown_until"] else None,
                "distance": entry["distance"],
            }
            for entry in page
        ],
    }


def queue_skip(*, user_id: int, other_public_id) -> None:
    ids = selectors.user_ids_by_public_ids(public_ids=[other_public_id])
    other = next(iter(ids.values()), None)
    if other is None:
        raise errors.UserNotFound()
    presence.skip_add(user_id=user_id, other_id=other)


def room_state(*, user_id: int) -> dict | None:
    """The user's live room as they see it (ending it first if a deadline passed)."""
    room = services.rooms_finish_overdue(user_ids=[user_id]).get(user_id)
    if room is None:
        return None
    participants = list(room.participants.select_related("user").order_by("id"))
    return services.room_payload(room=room, user_id=user_id, participants=participants)
