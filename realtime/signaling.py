"""In-room traffic that goes through the consumer: chat (persisted, ``social.messages``), typing
and WebRTC signaling (ephemeral, relayed to the peer's sockets only).

Per-connection rate limits are fixed-window counters in the shared cache (``config.ratelimit``:
Redis INCR, atomic across processes); exceeding one answers ``rate_limited`` and keeps the socket.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from asgiref.sync import SyncToAsync
from django.conf import settings
from django.db import connection, connections

from config import ratelimit
from social import messages

WINDOW = 10  # seconds

# --- the chat writers ------------------------------------------------------------------------------
# Chat is the hottest write path.  The general ``realtime.asyncdb`` helper hands its connection back
# after every call (right for rare calls; on SQLite a reconnect costs more than the message).  Chat
# writes run on a small dedicated pool instead whose threads keep their connection while work is
# queued and hand it back once idle — so a busy process reuses connections and an idle one holds
# none.  One writer on SQLite (writes are serialised by the file lock anyway), a few on PostgreSQL.
_pool: ThreadPoolExecutor | None = None
_pending = 0
_lock = threading.Lock()


def _writers() -> int:
    configured = int(getattr(settings, "ROOM_CHAT_WRITERS", 0) or 0)
    if configured > 0:
        return configured
    return 1 if connection.vendor == "sqlite" else 4


def _executor() -> ThreadPoolExecutor:
    global _pool
    if _pool is None:
        with _lock:
            if _pool is None:
                _pool = ThreadPoolExecutor(max_workers=_writers(), thread_name_prefix="chat-writer")
    return _pool


def _run(func, kwargs):
    global _pending
    try:
        return func(**kwargs)
    except Exception:
        connections.close_all()  # a broken connection must not be reused
        raise
    finally:
        with _lock:
            _pending -= 1
            idle = _pending == 0
        if idle:
            connections.close_all()


async def chat_call(func, **kwargs):
    """Run a chat service call on the chat writers (from the event loop)."""
    global _pending
    with _lock:
        _pending += 1  # counted down by the writer (a call cancelled before it starts only keeps a connection)
    return await SyncToAsync(_run, thread_sensitive=False, executor=_executor())(func, kwargs)


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
