"""Per-process background work for a server process (started by ``config.asgi``).

Every ``SWEEPER_INTERVAL_SECONDS``:
- renew the connection leases of users whose sockets this process holds (every third of
  ``ROOM_LEASE_SECONDS``) — a process that dies stops renewing, and the sweeper of any process
  then moves its rooms into grace;
- run the sweeper (rooms whose deadlines passed) and expire 20 s invites;
- close sockets silent for longer than ``PRESENCE_TIMEOUT_SECONDS`` (4408).

The registry below is the only process memory involved, and it holds nothing authoritative: it is
the list of sockets this process is serving right now.
"""

from __future__ import annotations

import asyncio
import logging

from channels.db import database_sync_to_async
from django.conf import settings

from config import clock
from realtime.protocol import CLOSE_HEARTBEAT_TIMEOUT

logger = logging.getLogger(__name__)

_consumers: dict[str, object] = {}
_task: asyncio.Task | None = None
_stopping = False


def register(consumer) -> None:
    _consumers[consumer.channel_name] = consumer


def unregister(consumer) -> None:
    _consumers.pop(consumer.channel_name, None)


def local_user_ids() -> set[int]:
    return {c.user_id for c in list(_consumers.values()) if getattr(c, "user_id", None)}


def tick(*, user_ids: set[int], renew: bool) -> dict:
    """One round of background work (sync; runs in a worker thread)."""
    from realtime.calls import invites_expire
    from social.services import room_leases_renew, room_participant_connected, room_sweep

    result: dict = {}
    if renew and user_ids:
        for uid in room_leases_renew(user_ids=user_ids):
            room_participant_connected(user_id=uid)
    result.update(room_sweep())
    result["invites_expired"] = invites_expire()
    return result


async def _close_silent() -> None:
    limit = settings.PRESENCE_TIMEOUT_SECONDS
    now = clock.monotonic()
    for consumer in list(_consumers.values()):
        if now - getattr(consumer, "last_seen", now) > limit:
            try:
                await consumer.close(code=CLOSE_HEARTBEAT_TIMEOUT, reason="heartbeat timeout")
            except Exception:  # noqa: BLE001 - already gone
                pass


async def run_forever() -> None:
    interval = max(0.05, float(settings.SWEEPER_INTERVAL_SECONDS))
    renew_every = max(interval, float(settings.ROOM_LEASE_SECONDS) / 3)
    last_renew = 0.0
    loop = asyncio.get_running_loop()
    while not _stopping:
        try:
            now = loop.time()
            renew = now - last_renew >= renew_every
            if renew:
                last_renew = now
            await database_sync_to_async(tick)(user_ids=local_user_ids(), renew=renew)
            await _close_silent()
        except asyncio.CancelledError:
            raise
        except Exception:  # keep sweeping: a database blip must not stop the loop for good
            logger.exception("realtime background tick failed")
        await asyncio.sleep(interval)


def ensure_started() -> None:
    """Start the background loop once per process (idempotent; call from inside the event loop)."""
    global _task
    if _task is None or _task.done():
        _task = asyncio.get_running_loop().create_task(run_forever())
