"""In-room traffic that goes through the consumer: chat (persisted, ``social.messages``), typing
and WebRTC signaling (ephemeral, relayed to the peer's sockets only).

Per-connection rate limits are fixed-window counters in the shared cache (``config.ratelimit``:
Redis INCR, atomic across processes); exceeding one answers ``rate_limited`` and keeps the socket.
"""

from __future__ import annotations

from django.conf import settings

from config import ratelimit
from social import messages

WINDOW = 10  # seconds


def chat_send(*, user_id: int, sender_public_id, connection_id: str, client_id: str, body: str) -> tuple[dict, bool]:
    """Rate-limit per connection, then store (``social.messages.room_message_send``)."""
    ratelimit.check(
        f"roommsg:{connection_id}", limit=settings.ROOM_MESSAGE_RATE_PER_10S, window=WINDOW,
        message="You are sending messages too fast.",
    )
    return messages.room_message_send(user_id=user_id, sender_public_id=sender_public_id, client_id=client_id, body=body)


def chat_replay(*, user_id: int, after_id: int) -> dict:
    return messages.room_messages_after_for_user(user_id=user_id, after_id=after_id)


def signal_check(*, connection_id: str) -> None:
    """One offer / answer / ice-candidate / typing frame from this connection (``rate_limited``)."""
    ratelimit.check(
        f"roomsig:{connection_id}", limit=settings.ROOM_SIGNAL_RATE_PER_10S, window=WINDOW,
        message="Too many signaling messages.",
    )
