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
import collections
import json
import logging
import math
import os
import signal
import threading
import time

from django.conf import settings

from config import clock, events, metrics
from realtime.asyncdb import database_sync_to_async
from realtime.protocol import CLOSE_HEARTBEAT_TIMEOUT, CLOSE_SERVER_RESTART

logger = logging.getLogger(__name__)
_RESTARTING = json.dumps(events.server_restarting())

_consumers: dict[str, object] = {}
_task: asyncio.Task | None = None
_stopping = False


# --- a socket's life cycle, group-committed ------------------------------------------------------
# A reconnect storm brings every socket's ``auth`` at once, a crowd brings a heart-beat per socket
# every 20 s: the calls that arrive while a batch runs go together in the next one (one thread each,
# ``config.batching``), so a thousand sockets cost a few round trips, not a thousand thread hops
# and a thousand sets of queries.
HEARTBEAT_LINGER_SECONDS = 0.5


def _batchers():
    from config.batching import Batcher
    from realtime import services as rt

    return (
        Batcher("ws-auth", rt.sockets_authenticate),
        Batcher("ws-ready", rt.sockets_ready),
        Batcher("ws-closed", rt.sockets_closed),
        # a heart-beat's presence write may wait half a second for others (its ack with it): at
        # 2,000 sockets that is one pipeline per ~50 heart-beats instead of a thread hop each
        Batcher("ws-heartbeat", rt.sockets_heartbeat, linger=HEARTBEAT_LINGER_SECONDS),
    )


AUTHENTICATE, READY, CLOSED, HEARTBEAT = _batchers()


# --- admission under a reconnect storm ---------------------------------------------------------
_auth_pending = 0
_auth_finished: "collections.deque[float]" = collections.deque(maxlen=8192)  # when recent auths finished
RATE_WINDOW_SECONDS = 2.0
RATE_FLOOR_PER_SECOND = 200.0  # before anything was measured (a process just started): a batched auth rate seen on 2 cores


def auth_rate(now: float | None = None) -> float:
    """Auths this process finished per second lately (over ``RATE_WINDOW_SECONDS``)."""
    now = clock.monotonic() if now is None else now
    done = _auth_finished
    while done and done[0] < now - RATE_WINDOW_SECONDS:
        done.popleft()
    return len(done) / RATE_WINDOW_SECONDS


def auth_admit() -> int | None:
    """Take a slot for one ``auth`` (its session lookup, presence write and room reconnect), or
    say how long the client should wait first: when ``WS_AUTH_MAX_PENDING`` are already waiting,
    this socket is shed (``busy`` + close 4429, docs/REALTIME.md §7) instead of waiting behind all
    of them — the clients' jittered backoff spreads the load.  The hint is the time this process
    needs for the queue ahead at the rate it has just been serving, in whole seconds (1–30: the
    ``retry_after`` of the contract).  None = admitted
    (call ``auth_done()`` afterwards)."""
    global _auth_pending
    limit = settings.WS_AUTH_MAX_PENDING
    if limit and _auth_pending >= limit:
        rate = max(RATE_FLOOR_PER_SECOND, auth_rate())
        return max(1, min(30, math.ceil(_auth_pending / rate)))
    _auth_pending += 1
    return None


def auth_done() -> None:
    global _auth_pending
    _auth_pending = max(0, _auth_pending - 1)
    _auth_finished.append(clock.monotonic())


def register(consumer) -> None:
    _consumers[consumer.channel_name] = consumer


def unregister(consumer) -> None:
    _consumers.pop(consumer.channel_name, None)


def local_user_ids() -> set[int]:
    return {c.user_id for c in list(_consumers.values()) if getattr(c, "user_id", None)}


DIGEST_CHECK_SECONDS = 60.0
_next_digest_check = 0.0


def tick(*, user_ids: set[int], renew: bool) -> dict:
    """One round of background work (sync; runs in a worker thread)."""
    from realtime.calls import invites_expire
    from social.services import room_leases_renew, room_participants_connected, room_sweep

    started = time.monotonic()
    result: dict = {}
    if renew and user_ids and not _stopping:
        lost = room_leases_renew(user_ids=user_ids)  # marked disconnected meanwhile (e.g. a stall)
        if lost and not _stopping:  # shutting down meanwhile: these users were just released
            room_participants_connected(user_ids=lost)
    result.update(room_sweep())
    result["invites_expired"] = invites_expire()
    global _next_digest_check
    if started >= _next_digest_check:  # moderators' new-case e-mails: due ones, about once a minute
        from moderation.digest import digest_send_due

        _next_digest_check = started + DIGEST_CHECK_SECONDS
        result["digests_sent"] = digest_send_due()
    metrics.inc("sweeper_runs_total")
    metrics.observe("sweeper_duration_seconds", time.monotonic() - started)
    metrics.gauge_set("sweeper_last_run_timestamp_seconds", time.time())
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
        except Exception as exc:  # keep sweeping: a database blip must not stop the loop for good
            from config.resilience import is_redis_unavailable, redis_state

            if is_redis_unavailable(exc):
                redis_state.failed(exc)  # one log line per outage, not one per tick
            else:
                logger.exception("realtime background tick failed")
        await asyncio.sleep(interval)


def ensure_started() -> None:
    """Start the background loop once per process (idempotent; call from inside the event loop)
    and take over SIGTERM for a graceful shutdown."""
    global _task
    if _task is None or _task.done():
        loop = asyncio.get_running_loop()
        _task = loop.create_task(run_forever())
        _install_sigterm(loop)
        logger.info("realtime background loop started (pid %s)", os.getpid())


def stopping() -> bool:
    return _stopping


# --- graceful shutdown (SIGTERM) -------------------------------------------------------------
_previous_sigterm = None


def _install_sigterm(loop: asyncio.AbstractEventLoop) -> None:
    global _previous_sigterm
    if threading.current_thread() is not threading.main_thread() or _previous_sigterm is not None:
        return
    _previous_sigterm = signal.getsignal(signal.SIGTERM)

    def on_sigterm(signum, frame):
        loop.call_soon_threadsafe(lambda: loop.create_task(shutdown()))

    signal.signal(signal.SIGTERM, on_sigterm)


def release_users(*, user_ids: set[int]) -> None:
    """Sync: this process is going away — its users' rooms go to grace now (peers are told),
    instead of waiting for their leases to expire."""
    import presence
    from social.services import room_participants_disconnected

    sockets = [(c.user_id, c.channel_name) for c in list(_consumers.values()) if getattr(c, "user_id", None)]
    remaining: dict[int, int] = dict(zip((uid for uid, _ in sockets), presence.sockets_remove(items=sockets)))
    # users with a socket on another process keep their room connected
    gone = sorted(uid for uid in user_ids if remaining.get(uid, 0) == 0)
    try:
        room_participants_disconnected(user_ids=gone, server_going_away=True)
    except Exception:  # noqa: BLE001 - the lease expiry covers these users
        logger.exception("release of %d users failed", len(gone))


async def shutdown() -> None:
    """Stop accepting sockets and renewing leases, put this process's users' rooms into grace,
    tell every socket to reconnect elsewhere (close 4503), then let the server stop — all within
    ``SHUTDOWN_GRACE_SECONDS``."""
    global _stopping
    if _stopping:
        return
    _stopping = True
    logger.warning("SIGTERM: graceful shutdown of %d sockets", len(_consumers))
    loop = asyncio.get_running_loop()
    deadline = loop.time() + max(0.5, float(settings.SHUTDOWN_GRACE_SECONDS))
    if _task is not None:
        _task.cancel()
    try:
        await asyncio.wait_for(
            database_sync_to_async(release_users)(user_ids=local_user_ids()),
            timeout=max(0.1, deadline - loop.time() - 0.3),
        )
    except Exception:  # noqa: BLE001 - leases expire anyway; keep shutting down
        logger.exception("graceful release failed")
    for consumer in list(_consumers.values()):
        try:
            consumer.released = True
            await consumer.send(text_data=_RESTARTING)
            await consumer.close(code=CLOSE_SERVER_RESTART, reason="server restarting")
        except Exception:  # noqa: BLE001
            pass
    # give the close frames a moment to flush, bounded by the deadline
    await asyncio.sleep(min(0.2, max(0.0, deadline - loop.time())))
    _stop_server()


def _stop_server() -> None:
    previous = _previous_sigterm
    if callable(previous):
        previous(signal.SIGTERM, None)  # Twisted's own handler: reactor.stop()
    else:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGTERM)
