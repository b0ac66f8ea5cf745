"""In-room traffic that goes through the consumer: chat (persisted, ``social.messages``), typing
and WebRTC signaling (ephemeral, relayed to the peer's sockets only).

Per-connection rate limits are ``config.ratelimit`` counters (Redis INCR, atomic); exceeding one
answers ``rate_limited`` and keeps the socket.
"""

from __future__ import annotations

from django.conf import settings

from config import ratelimit
from config.batching import Batcher
from config.errors import RateLimited
from social import messages

WINDOW = 10  # seconds


# --- the chat writer -------------------------------------------------------------------------------
# Chat is the hottest write path, so it is group-committed (``config.batching.Batcher``): messages
# that arrive while a batch is being written make up the next one, and each batch is one transaction
# (``room_messages_send_batch``) on the writer's dedicated thread, which keeps its database
# connection while work is queued and hands it back once idle.  Acks go out only after the batch
# committed.  One writer per process measured best (bigger batches, no GIL fight).
def _raiser(exc: RateLimited):
    def check():
        raise exc

    return check


def _rate_check_batch(items: list[dict]) -> None:
    """Count one hit per message on its connection's counter (``config.ratelimit.check_many``: one
    Redis round trip for the whole batch); a message over the limit is answered ``rate_limited``.
    The outcome stays on the item (``check``), so an item already counted is not counted again."""
    fresh = [it for it in items if "check" not in it]
    if not fresh:
        return
    over = ratelimit.check_many(
        [f"roommsg:{it['connection_id']}" for it in fresh],
        limit=settings.ROOM_MESSAGE_RATE_PER_10S, window=WINDOW, message="You are sending messages too fast.",
        on_outage=ratelimit.LOCAL,  # per connection: exact in this process
    )
    for it, exc in zip(fresh, over):
        it["check"] = None if exc is None else _raiser(exc)


def _write(items: list[dict]) -> list:
    """One batch: per item ``(message, created, events)``, or the exception storing it raised.

    If this raises, ``Batcher`` runs each item again alone.  That is safe: the rate limit counts
    an item once (its outcome stays on the item), and a message is stored at most once because
    ``(room, sender, client_id)`` is unique — a retried item whose message the failed attempt did
    commit is answered as a resend (the stored message, ``created`` False), never a second row.
    ``room_messages_send_batch`` raises only before its transaction begins (a failed transaction
    it answers itself, item by item), so that resend case does not arise today."""
    _rate_check_batch(items)
    # a copy: the batch replaces its list's entries with cleaned ones; a retry starts from the originals
    stored = messages.room_messages_send_batch(items=list(items))
    return [(*value, events) if ok else value for ok, value, events in stored]


WRITER = Batcher("chat-writer", _write, max_batch=64)


async def chat_send(*, user_id: int, sender_public_id, connection_id: str, client_id: str, body: str):
    """Rate-limit per connection, then store (group commit); ``(message, created, events)``.
    Raises what storing it raised (``rate_limited``, ``invalid``, ``not_in_room`` …)."""
    return await WRITER.call({
        "user_id": user_id, "sender_public_id": sender_public_id, "client_id": client_id, "body": body,
        "connection_id": connection_id,
    })


def chat_replay(*, user_id: int, after_id: int) -> dict:
    return messages.room_messages_after_for_user(user_id=user_id, after_id=after_id)


def signal_check(*, connection_id: str) -> None:
    """One offer / answer / ice-candidate / typing frame from this connection (``rate_limited``)."""
    ratelimit.check(
        f"roomsig:{connection_id}", limit=settings.ROOM_SIGNAL_RATE_PER_10S, window=WINDOW,
        message="Too many signaling messages.",
        on_outage=ratelimit.LOCAL,  # per connection: exact in this process
    )
