"""In-room traffic that goes through the consumer: chat (persisted, ``social.messages``), typing
and WebRTC signaling (ephemeral, relayed to the peer's sockets only).

Per-connection rate limits are ``config.ratelimit`` counters (Redis INCR, atomic); exceeding one
answers ``rate_limited`` and keeps the socket.
"""

from __future__ import annotations

import asyncio
import threading
import weakref
from concurrent.futures import ThreadPoolExecutor

from asgiref.sync import SyncToAsync
from django.conf import settings
from django.db import connections

from config import ratelimit
from config.errors import RateLimited
from social import messages

WINDOW = 10  # seconds

# --- the chat writers ------------------------------------------------------------------------------
# Chat is the hottest write path, so it is group-committed: messages that arrive while a batch is
# being written wait for the next one, and each batch is one transaction (``room_messages_send_batch``)
# on a dedicated writer thread (``ROOM_CHAT_WRITERS``, default 1) that keeps its database
# connection while work is queued and hands it back once idle.  Acks still go out only after the
# batch committed.  Replays (reads) run on the same thread.
MAX_BATCH = 64
_pool: ThreadPoolExecutor | None = None
_lock = threading.Lock()
_loops: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopState]" = weakref.WeakKeyDictionary()


class _LoopState:
    def __init__(self):
        self.queue: list = []
        self.draining = 0


def _writers() -> int:
    configured = int(getattr(settings, "ROOM_CHAT_WRITERS", 0) or 0)
    if configured > 0:
        return configured
    return 1  # one group-committing writer per process measured best (bigger batches, no GIL fight)


def _executor() -> ThreadPoolExecutor:
    global _pool
    if _pool is None:
        with _lock:
            if _pool is None:
                _pool = ThreadPoolExecutor(max_workers=_writers(), thread_name_prefix="chat-writer")
    return _pool


def _raiser(exc: RateLimited):
    def check():
        raise exc

    return check


def _rate_check_batch(items: list[dict]) -> None:
    """Count one hit per message on its connection's counter (``config.ratelimit.check_many``: one
    Redis round trip for the whole batch); a message over the limit is answered ``rate_limited``."""
    over = ratelimit.check_many(
        [f"roommsg:{it['connection_id']}" for it in items],
        limit=settings.ROOM_MESSAGE_RATE_PER_10S, window=WINDOW, message="You are sending messages too fast.",
        on_outage=ratelimit.LOCAL,  # per connection: exact in this process
    )
    for it, exc in zip(items, over):
        if exc is not None:
            it["check"] = _raiser(exc)


def _write(items: list[dict], state: _LoopState) -> list:
    try:
        _rate_check_batch(items)
        return messages.room_messages_send_batch(items=items)
    finally:
        if not state.queue:  # idle: hand the connection back (to the pool on PostgreSQL)
            connections.close_all()


async def _drain(state: _LoopState) -> None:
    state.draining += 1
    try:
        while state.queue:
            batch = state.queue[:MAX_BATCH]
            del state.queue[:MAX_BATCH]
            try:
                results = await SyncToAsync(_write, thread_sensitive=False, executor=_executor())(
                    [item for item, _ in batch], state
                )
            except Exception as exc:  # noqa: BLE001 - every waiting sender hears of it
                connections.close_all()
                results = [(False, exc, [])] * len(batch)
            for (_, fut), result in zip(batch, results):
                if not fut.done():
                    fut.set_result(result)
    finally:
        state.draining -= 1


async def chat_submit(**item):
    """Store one message through the group-committing writers; ``(message, created, events)``.
    Raises what storing it raised (``rate_limited``, ``invalid``, ``not_in_room`` …)."""
    loop = asyncio.get_running_loop()
    state = _loops.get(loop)
    if state is None:
        state = _loops[loop] = _LoopState()
    fut = loop.create_future()
    state.queue.append((item, fut))
    if state.draining < _writers():
        loop.create_task(_drain(state))
    ok, value, events = await fut
    if not ok:
        raise value
    message, created = value
    return message, created, events


async def chat_call(func, **kwargs):
    """Run another chat call (replay) on the chat writers."""
    return await SyncToAsync(_call, thread_sensitive=False, executor=_executor())(func, kwargs)


def _call(func, kwargs):
    try:
        return func(**kwargs)
    finally:
        connections.close_all()


async def chat_send(*, user_id: int, sender_public_id, connection_id: str, client_id: str, body: str):
    """Rate-limit per connection, then store (group commit); ``(message, created, events)``."""
    return await chat_submit(
        user_id=user_id, sender_public_id=sender_public_id, client_id=client_id, body=body, connection_id=connection_id
    )


def chat_replay(*, user_id: int, after_id: int) -> dict:
    return messages.room_messages_after_for_user(user_id=user_id, after_id=after_id)


def signal_check(*, connection_id: str) -> None:
    """One offer / answer / ice-candidate / typing frame from this connection (``rate_limited``)."""
    ratelimit.check(
        f"roomsig:{connection_id}", limit=settings.ROOM_SIGNAL_RATE_PER_10S, window=WINDOW,
        message="Too many signaling messages.",
        on_outage=ratelimit.LOCAL,  # per connection: exact in this process
    )
