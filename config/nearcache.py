"""Near cache: a process-local copy of hot entries of the shared (Redis) cache, kept coherent by
Redis itself, so a hot read costs no network round trip.

Used where a read happens on nearly every request and the value rarely changes: the bearer-session
lookup (``accounts.services.session_authenticate``).  Under Daphne a Redis GET on that path cost
more than the whole rest of an authenticated request.

How it stays correct — Redis client-side caching in broadcast mode:

* Each process holds one dedicated RESP3 connection that runs ``CLIENT TRACKING ON BCAST PREFIX p``
  for every registered prefix.  Redis then pushes an ``invalidate`` message naming every key under
  ``p`` that anyone writes, deletes, or that expires, and a null one on ``FLUSHDB``/``FLUSHALL``.
* Redis queues that push before it sends the reply to the command that changed the key.  Before a
  local copy is used, the reader drains whatever already sits on the tracking socket (a
  non-blocking poll).  So a revocation whose DEL had returned before this request began is
  applied first: a revoked token is refused at once by every process.
* A value fetched from Redis is kept only if no invalidation arrived between the start and the end of
  the fetch (an epoch counter), so a fetch racing a delete can't bring the old value back.
* Local copies are used only while tracking is known to work: a background thread pings the
  connection every ``ping_seconds``; an unanswered ping older than ``stale_after_seconds``, a broken
  connection or a failed reconnect drops every local copy, and none is used until tracking is
  re-established (then reads go to Redis as before).
* Every copy also has a TTL and the map is bounded.

Without ``REDIS_URL`` the cache is local memory already and this class just delegates to it.
A kept value is handed to every reader in this process, so callers must treat it as read-only
(the session entries are tuples of plain values; each request builds its own ``User`` from them).
"""

from __future__ import annotations

import logging
import os
import select
import socket
import threading
from typing import Any

from django.conf import settings
from django.core.cache import caches

from config import clock
from config.resilience import is_redis_unavailable, redis_state

logger = logging.getLogger(__name__)

_MISSING = object()

# redis-py internals the tracking link uses (pinned by config/tests/test_framework_internals.py):
# the RESP3 parser's push handler and buffer, the connection's socket, and a non-blocking
# ``read_response(push_request=True, timeout=0)``.  Switch: ``NEAR_CACHE_ENABLED=false``.
RELIES_ON = (
    "redis._parsers.resp3._RESP3Parser",
    "redis._parsers.socket.SocketBuffer.unread_bytes",
    "redis.connection.AbstractConnection.read_response",
    "redis.connection.AbstractConnection.can_read",
    "redis.connection.AbstractConnection.connect",
)


class _Tracker:
    """The process's tracking connection and the local maps it keeps coherent (one per process)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.conn = None
        self.poller = None
        self.healthy = False
        self.epoch = 0
        self.last_pong = 0.0
        self.ping_outstanding = False
        self.prefixes: dict[bytes, NearCache] = {}
        self.thread: threading.Thread | None = None
        self.launched = False  # the first read starts the background thread
        self.stop = threading.Event()
        self._wake_r, self._wake_w = socket.socketpair()  # wakes the background thread to stop
        self.ready = threading.Event()  # set while tracking is up (tests wait on it)
        self.stats = {"invalidations": 0, "flushes": 0, "reconnects": 0}

    # --- connection (all under self.lock) --------------------------------------------------
    def _connect(self) -> None:
        import redis

        pool = redis.ConnectionPool.from_url(
            settings.REDIS_URL, protocol=3, socket_timeout=2, socket_connect_timeout=2
        )
        conn = pool.make_connection()
        conn.connect()
        conn._parser.set_invalidation_push_handler(self._on_invalidate)
        poller = select.poll()
        poller.register(conn._sock, select.POLLIN)
        self.prefixes = {redis_key(near.key_prefix).encode(): near for near in _instances}
        conn.send_command("CLIENT", "SETNAME", f"near-cache-{os.getpid()}")
        conn.read_response()
        for prefix in self.prefixes:
            conn.send_command("CLIENT", "TRACKING", "ON", "BCAST", "PREFIX", prefix)
            if conn.read_response() not in (b"OK", "OK"):
                raise ConnectionError("CLIENT TRACKING refused")
        self.conn, self.poller = conn, poller
        self._flush_local()  # anything may have changed while we were not tracking
        self.last_pong = clock.monotonic()
        self.ping_outstanding = False
        self.healthy = True
        self.stats["reconnects"] += 1
        self.ready.set()

    def _drop(self, reason: str) -> None:
        if self.healthy:
            logger.warning("near cache disabled until tracking is back: %s", reason)
        self.healthy = False
        self.ready.clear()
        self._flush_local()
        if self.conn is not None:
            try:
                self.conn.disconnect()
            except Exception:  # noqa: BLE001 - already broken
                pass
            self.conn = None
            self.poller = None

    def _flush_local(self) -> None:
        self.epoch += 1
        for near in _instances:
            near._local.clear()

    def _on_invalidate(self, message) -> None:
        keys = message[1] if len(message) > 1 else None
        self.epoch += 1
        if keys is None:  # FLUSHDB / FLUSHALL
            self.stats["flushes"] += 1
            for near in _instances:
                near._local.clear()
            return
        self.stats["invalidations"] += len(keys)
        for key in keys:
            raw = key if isinstance(key, bytes) else str(key).encode()
            for prefix, near in self.prefixes.items():
                if raw.startswith(prefix):
                    near._local.pop(raw.decode(), None)

    def drain(self) -> None:
        """Apply every invalidation already received.  Caller holds ``self.lock``."""
        conn = self.conn
        if conn is None:
            return
        try:
            while self._pending(conn):
                reply = conn.read_response(push_request=True, timeout=0, disconnect_on_error=False)
                if reply is not None and self.ping_outstanding and not isinstance(reply, list):
                    self.ping_outstanding = False
                    self.last_pong = clock.monotonic()
        except Exception as exc:  # noqa: BLE001 - a broken tracking link must never fail a request
            self._drop(f"{exc.__class__.__name__}: {exc}")
            return
        if clock.monotonic() - self.last_pong > settings.NEAR_CACHE["stale_after_seconds"]:
            # no pong for too long (a dead link, or a starved pinger): trust nothing local
            self._drop("no answer from the tracking connection")

    def _pending(self, conn) -> bool:
        """Is there anything to read on the tracking link?  Bytes the parser has buffered already,
        or bytes (or a hang-up) on the socket: one ``poll(2)``.  redis-py's ``can_read(0)`` answers
        the same with a non-blocking ``recv`` between two socket-timeout changes, and an exception
        when there is nothing, which is almost always: this runs before every local hit."""
        buffer = getattr(conn._parser, "_buffer", None)
        if buffer is None or self.poller is None or not hasattr(buffer, "unread_bytes"):
            return conn.can_read(0)  # another parser: ask redis-py
        if buffer.unread_bytes():
            return True
        tls_pending = getattr(conn._sock, "pending", None)  # rediss://: bytes OpenSSL has decrypted
        if tls_pending is not None and tls_pending():
            return True
        return bool(self.poller.poll(0))

    def usable(self) -> bool:
        """Drain, then say whether local copies may be trusted.  Caller holds ``self.lock``."""
        if not self.healthy:
            return False
        self.drain()
        return self.healthy

    # --- background: pings, reconnects, prompt eviction ---------------------------------------
    def ensure_started(self) -> None:
        self.launched = True
        if self.thread is not None and self.thread.is_alive():
            return
        with self.lock:
            if self.thread is not None and self.thread.is_alive():
                return
            self.stop.clear()
            self.thread = threading.Thread(target=self._run, name="near-cache-tracking", daemon=True)
            self.thread.start()

    def _run(self) -> None:
        backoff = 0.1
        ping_every = settings.NEAR_CACHE["ping_seconds"]
        next_ping = 0.0
        while not self.stop.is_set():
            with self.lock:
                if self.conn is None:
                    try:
                        self._connect()
                        backoff = 0.1
                    except Exception as exc:  # noqa: BLE001
                        self._drop(f"connect failed: {exc.__class__.__name__}: {exc}")
                sock = getattr(self.conn, "_sock", None) if self.conn is not None else None
                if sock is not None:
                    self.drain()
                    now = clock.monotonic()
                    if self.conn is not None and not self.ping_outstanding and now >= next_ping:
                        try:
                            self.conn.send_command("PING")
                            self.ping_outstanding = True
                            next_ping = now + ping_every
                        except Exception as exc:  # noqa: BLE001
                            self._drop(f"ping failed: {exc.__class__.__name__}")
                    sock = getattr(self.conn, "_sock", None) if self.conn is not None else None
            if sock is None:
                self.stop.wait(backoff)
                backoff = min(backoff * 2, 5.0)
                continue
            try:  # wait for pushes without holding the lock; readers drain on their own too
                ready, _, _ = select.select([sock, self._wake_r], [], [], ping_every)
                if self._wake_r in ready:
                    self._wake_r.recv(64)
            except (OSError, ValueError):
                pass

    def stop_background(self) -> None:
        """Stop the background thread but keep the link: only readers drain from now on."""
        self.stop.set()
        self._wake_w.send(b"x")
        if self.thread is not None:
            self.thread.join(timeout=5)
        self.thread = None

    def shutdown(self) -> None:
        self.stop_background()
        with self.lock:
            self._drop("shutdown")


_tracker = _Tracker()
_instances: list[NearCache] = []
_backend: tuple | None = None  # (settings.CACHES it was built from, backend, key template)


def _shared_entry() -> tuple:
    """One cache backend for the process, and its key template.  ``django.core.cache.cache``
    builds a backend per asyncio context, i.e. per request under ASGI; locmem and django-redis
    backends are thread-safe, so the hot path reuses one (rebuilt if the settings change)."""
    global _backend
    if _backend is None or _backend[0] is not settings.CACHES:
        backend = caches.create_connection("default")
        _backend = (settings.CACHES, backend, backend.make_key("\0"))
    return _backend


def _shared() -> Any:
    return _shared_entry()[1]


def redis_key(key: str) -> str:
    """The Redis key of a cache key (``cache.make_key``), without building a backend per call."""
    return _shared_entry()[2].replace("\0", key)


def _shared_read(read, default: Any) -> Any:
    """A read through the process's backend.  A copy, not the truth: with Redis unreachable it is
    ``default`` (a miss) and the caller reads the database (``config.cacheaside``)."""
    if redis_state.skip_copies():
        return default
    try:
        value = read(_shared())
    except Exception as exc:
        if not is_redis_unavailable(exc):
            raise
        redis_state.failed(exc)
        return default
    if redis_state.last_failure:
        redis_state.recovered()
    return value


def _shared_get(key: str) -> Any:
    """``cache.get`` through the process's backend (None while Redis is unreachable)."""
    return _shared_read(lambda backend: backend.get(key), None)


def _shared_get_many(keys: list[str]) -> dict[str, Any]:
    """``cache.get_many`` through the process's backend ({} while Redis is unreachable)."""
    return _shared_read(lambda backend: backend.get_many(keys), {})


class NearCache:
    """A coherent process-local copy of the shared-cache entries under one key prefix.

    ``get(key)`` has the meaning of ``cache.get(key)``; writes go through ``cache`` as usual.
    """

    def __init__(self, key_prefix: str):
        self.key_prefix = key_prefix
        self._local: dict[str, tuple[Any, float]] = {}
        self.stats = {"hits": 0, "misses": 0}
        with _tracker.lock:
            _instances.append(self)
            if _tracker.conn is not None:  # a prefix added to a live link: track it too
                _tracker._drop("new prefix")

    @staticmethod
    def active() -> bool:
        return bool(settings.REDIS_URL) and settings.NEAR_CACHE["enabled"]

    def get(self, key: str) -> Any:
        if not self.active():
            # The embedded configuration's local-memory cache is this process's own: nothing to
            # keep coherent (with NEAR_CACHE_ENABLED=0 this is a Redis read).
            return _shared_get(key)
        if not _tracker.launched:
            _tracker.ensure_started()
        rkey = redis_key(key)
        now = clock.monotonic()
        with _tracker.lock:
            if _tracker.usable():
                hit = self._local.get(rkey)
                if hit is not None and hit[1] > now:
                    self.stats["hits"] += 1
                    return hit[0]
            epoch = _tracker.epoch
        self.stats["misses"] += 1
        value = _shared_get(key)  # local copies are off while Redis is unreachable (tracking is down)
        if value is None:
            return None
        with _tracker.lock:
            if _tracker.usable() and _tracker.epoch == epoch:
                local = self._local
                if len(local) >= settings.NEAR_CACHE["max_entries"]:
                    local.pop(next(iter(local)))  # oldest first
                local[rkey] = (value, now + settings.NEAR_CACHE["ttl_seconds"])
        return value

    def get_many(self, keys: list[str]) -> dict[str, Any]:
        """``get`` for several keys: the local copies, then one shared-cache read (MGET) for the
        rest — kept under the same rule as ``get`` (no invalidation arrived meanwhile)."""
        if not keys:
            return {}
        if not self.active():
            return _shared_get_many(keys)
        if not _tracker.launched:
            _tracker.ensure_started()
        now = clock.monotonic()
        found: dict[str, Any] = {}
        rkeys = {key: redis_key(key) for key in keys}
        with _tracker.lock:
            if _tracker.usable():
                for key, rkey in rkeys.items():
                    hit = self._local.get(rkey)
                    if hit is not None and hit[1] > now:
                        found[key] = hit[0]
            epoch = _tracker.epoch
        self.stats["hits"] += len(found)
        rest = [key for key in rkeys if key not in found]
        if not rest:
            return found
        self.stats["misses"] += len(rest)
        fetched = _shared_get_many(rest)
        with _tracker.lock:
            if fetched and _tracker.usable() and _tracker.epoch == epoch:
                local, limit = self._local, settings.NEAR_CACHE["max_entries"]
                expires = now + settings.NEAR_CACHE["ttl_seconds"]
                for key, value in fetched.items():
                    if len(local) >= limit:
                        local.pop(next(iter(local)))  # oldest first
                    local[rkeys[key]] = (value, expires)
        found.update(fetched)
        return found

    def peek(self, key: str) -> Any:
        """``get(key)`` answered from this process's memory only, or None ("ask ``get``").

        Never does network I/O, so it may run on an event loop: the local copy (invalidations
        drained first, as ``get`` does), or the embedded configuration's local-memory cache.
        """
        if not self.active():
            if settings.REDIS_URL:
                return None  # the shared cache is remote and nothing is tracked: no local answer
            return _shared().get(key)  # the embedded configuration: local memory
        if not _tracker.launched:
            _tracker.ensure_started()
        with _tracker.lock:
            if _tracker.usable():
                hit = self._local.get(redis_key(key))
                if hit is not None and hit[1] > clock.monotonic():
                    return hit[0]
        return None


def wait_until_tracking(timeout: float) -> bool:
    """Start tracking if needed and wait for it (tests; a cold process just reads Redis meanwhile)."""
    _tracker.ensure_started()
    return _tracker.ready.wait(timeout)


def status() -> dict:
    """For ``doctor``/tests: is tracking up, and the counters."""
    return {"healthy": _tracker.healthy, "epoch": _tracker.epoch, **_tracker.stats}


def forget_local() -> None:
    """Drop every local copy in this process (tests start each case from the shared cache)."""
    with _tracker.lock:
        _tracker._flush_local()
