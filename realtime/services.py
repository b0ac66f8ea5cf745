"""What the consumer calls (through ``database_sync_to_async``): the socket's life cycle, presence
and the queue.  The consumer itself stays transport only."""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings

from accounts.models import User
from accounts.services import session_authenticate, session_live_here, sessions_authenticate
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


# --- a socket's life cycle, in batches ----------------------------------------------------------------
# A reconnect storm brings thousands of the same small calls at once; the consumer hands them over
# through ``realtime.runtime``'s group-committing batchers, so each function below takes a list and
# costs a fixed number of round trips per batch (one item under a light load).
def sockets_authenticate(tokens: list[str]) -> list[SocketAuth]:
    """Token → user, per token: 4401 when unknown/expired/revoked, 4403 when banned.  One shared
    cache read for the sessions (one query for the misses) and one for the bans."""
    from moderation.selectors import banned_user_ids

    found = sessions_authenticate(tokens=tokens)
    banned = banned_user_ids(user_ids=[hit[0].pk for hit in found if hit is not None])
    out = []
    for hit in found:
        if hit is None:
            out.append(SocketAuth(user=None, close_code=CLOSE_AUTH_FAILED, reason="invalid, expired or revoked token"))
        elif hit[0].pk in banned:
            out.append(SocketAuth(user=None, close_code=CLOSE_BANNED, reason="banned"))
        else:
            user, info = hit
            out.append(SocketAuth(user=user, session_id=info.session_id, token_hash=info.token_hash))
    return out


def socket_session_live_here(*, token_hash: str) -> bool:
    """Is the socket's session known live from this process's memory?  No I/O: the consumer asks
    for every inbound frame.  False only means "ask ``socket_session_valid``"."""
    return session_live_here(token_hash=token_hash)


def socket_session_valid(*, token: str, user_id: int) -> bool:
    """Is the socket's session still valid (not revoked, not expired, account usable)?  Reads the
    shared cache, then the database on a miss (and caches the answer)."""
    result = session_authenticate(token=token)
    return result is not None and result[0].pk == user_id


def sockets_ready(items: list[tuple[User, str, str | None]]) -> list[events.AuthOk | None]:
    """``(user, socket id, token or None)``: the socket is authenticated and subscribed — it counts
    for presence, and its user's room (if any) is connected again (both sides get
    ``room.resumed``).  Returns each socket's ``auth.ok`` body, or None when its session was
    revoked meanwhile (the consumer closes it, 4401): a revocation that committed before the
    socket joined its user's group could not reach it.  The consumer leaves the token out when
    this process's copy of the session already answered (``socket_session_live_here``).  One
    shared-cache read for the sessions to check, one presence round trip, the room core's batch."""
    check = [i for i, item in enumerate(items) if item[2] is not None]
    valid = [True] * len(items)
    if check:
        found = sessions_authenticate(tokens=[items[i][2] for i in check])
        for i, hit in zip(check, found):
            valid[i] = hit is not None and hit[0].pk == items[i][0].pk
    ready = [(user, socket_id) for (user, socket_id, _), ok in zip(items, valid) if ok]
    presence.sockets_touch(items=[(user.pk, socket_id, False) for user, socket_id in ready])
    rooms_of = services.room_participants_connected(user_ids=[user.pk for user, _ in ready])
    return [
        events.auth_ok(
            user=user_card(user),
            heartbeat_seconds=settings.PRESENCE_HEARTBEAT_SECONDS,
            offline_timeout_seconds=settings.PRESENCE_TIMEOUT_SECONDS,
            presence=presence.IN_CALL if rooms_of[user.pk] else presence.ONLINE,
            room=rooms_of[user.pk],
        )
        if ok
        else None
        for (user, _, _), ok in zip(items, valid)
    ]


def sockets_closed(items: list[tuple[int, str]]) -> list[None]:
    """``(user id, socket id)``: forget the sockets; users left with none anywhere have their room
    enter grace."""
    remaining = presence.sockets_remove(items=items)
    gone = list(dict.fromkeys(uid for (uid, _), left in zip(items, remaining) if left == 0))
    if gone:
        services.room_participants_disconnected(user_ids=gone)
    return [None] * len(items)


def sockets_heartbeat(items: list[tuple[int, str, bool]]) -> list[None]:
    """``(user id, socket id, available)``: refresh the sockets' presence (one round trip).  The
    consumer has already checked the frame's session (every inbound frame is checked)."""
    presence.sockets_touch(items=items)
    return [None] * len(items)


def socket_heartbeat(*, user_id: int, socket_id: str, available: bool) -> None:
    """One socket's ``sockets_heartbeat``."""
    sockets_heartbeat([(user_id, socket_id, available)])


def socket_presence_set(*, user_id: int, socket_id: str, available: bool) -> str:
    """``presence.set``: the socket's availability, then the user's presence state."""
    socket_heartbeat(user_id=user_id, socket_id=socket_id, available=available)
    return presence_state(user_id=user_id)


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
                **entry["card"],
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
