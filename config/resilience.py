"""Database down or pool exhausted, or Redis unreachable → 503 with ``Retry-After`` and the one
error body.

Three places cover every request: the DRF exception handler (``config.api``) for API views,
``DatabaseUnavailableMiddleware.process_exception`` for plain Django views (admin, …), and
``config.api.json_500`` (handler500) for errors raised inside middleware (sessions, auth).  No
state is kept: each request asks the pool again, so service resumes as soon as the database does
(the pool's health check drops dead connections; ``DB_POOL_TIMEOUT`` bounds the wait).

Redis holds copies and ephemeral state (docs/DESIGN.md).  Reads of copies (sessions, ban checks)
fall back to the database (``config.cacheaside``); what truly needs Redis — presence, pending call
invites, the channel layer, the rate limits that fail closed (``config.ratelimit``) — raises, and
the same three places answer 503 ``unavailable`` (the WebSocket consumer answers
``{"type": "error", "code": "unavailable"}`` and keeps the socket).  ``/readyz`` checks Redis itself
and answers 200 ``degraded``.  redis-py reconnects on the next command, so service heals by itself.
"""

from __future__ import annotations

import logging
import threading

from django.db import InterfaceError, OperationalError
from django.http import JsonResponse

from config import clock, metrics
from config.errors import ServiceUnavailable

logger = logging.getLogger("config.database")
redis_logger = logging.getLogger("config.redis")

RETRY_AFTER_SECONDS = 5
# Failures closer together than this are one outage: logged once.
REDIS_DEGRADED_SECONDS = 10.0
# For this long after a failure, reads and fills of cached copies don't try Redis at all (the
# database answers): an unreachable host that drops packets would otherwise cost every request a
# connect timeout per cache read.  The next try after that heals the path.
REDIS_SKIP_COPIES_SECONDS = 1.0


def is_database_unavailable(exc: BaseException | None) -> bool:
    if exc is None:
        return False
    if isinstance(exc, (OperationalError, InterfaceError)):
        return True
    try:
        from psycopg_pool import PoolTimeout, TooManyRequests
    except ImportError:  # pragma: no cover
        return False
    return isinstance(exc, (PoolTimeout, TooManyRequests))


def is_redis_unavailable(exc: BaseException | None) -> bool:
    """Redis could not be reached (refused, reset, timed out, still loading), from django-redis,
    redis-py or channels-redis."""
    if exc is None:
        return False
    import socket

    import redis.exceptions as rex
    from django_redis.exceptions import ConnectionInterrupted

    if isinstance(exc, RedisUnavailable):
        return True
    if isinstance(exc, ConnectionInterrupted):
        exc = exc.__cause__ or exc
        if isinstance(exc, ConnectionInterrupted):
            return True
    return isinstance(exc, (rex.ConnectionError, rex.TimeoutError, socket.timeout, ConnectionError))


def is_unavailable(exc: BaseException | None) -> bool:
    return is_database_unavailable(exc) or is_redis_unavailable(exc)


class RedisUnavailable(ServiceUnavailable):
    """What needs Redis can't be done right now (503; ``unavailable`` on a WebSocket)."""

    message = "This is temporarily unavailable (Redis); retry shortly."

    def __init__(self, message: str | None = None, **kw):
        self.retry_after = RETRY_AFTER_SECONDS
        super().__init__(message, extra={"retry_after": RETRY_AFTER_SECONDS}, **kw)


class _RedisState:
    """When this process last failed to reach Redis (one log line per outage; the short window in
    which copies skip Redis)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.last_failure = 0.0  # monotonic
        self.last_reason = ""
        self.failures = 0

    def failed(self, exc: BaseException) -> None:
        now = clock.monotonic()
        with self.lock:
            quiet = now - self.last_failure < REDIS_DEGRADED_SECONDS
            self.last_failure = now
            self.last_reason = describe_failure(exc)
            self.failures += 1
        metrics.inc("redis_unavailable_total")
        if not quiet:  # one line per outage, not one per request
            redis_logger.warning("redis unavailable: %s (degraded until it answers)", self.last_reason)

    def recovered(self) -> None:
        """Redis answered (a read of a copy, or /readyz's check)."""
        with self.lock:
            was_down = self.last_failure != 0.0
            self.last_failure = 0.0
        if was_down:
            redis_logger.warning("redis reachable again")

    def skip_copies(self) -> bool:
        """True shortly after a failure: cache-aside reads and fills go straight to the database."""
        last = self.last_failure
        return bool(last) and clock.monotonic() - last < REDIS_SKIP_COPIES_SECONDS


redis_state = _RedisState()


def describe_failure(exc: BaseException) -> str:
    cause = exc.__cause__ if exc.__cause__ is not None else exc
    text = str(cause).splitlines()[0] if str(cause) else ""
    return f"{cause.__class__.__name__}: {text}"[:200]


def unavailable_body(exc: BaseException) -> dict:
    """The 503 body for ``exc`` (database or Redis unreachable); logs and counts it."""
    from config.api import error_body

    if is_redis_unavailable(exc) and not is_database_unavailable(exc):
        if not isinstance(exc, RedisUnavailable):
            redis_state.failed(exc)
        message = RedisUnavailable.message
    else:
        metrics.inc("db_unavailable_total")
        logger.warning(
            "database unavailable: %s: %s", exc.__class__.__name__, str(exc).splitlines()[0] if str(exc) else ""
        )
        message = "The database is temporarily unavailable; retry shortly."
    return error_body("unavailable", message)


def unavailable_response(exc: BaseException) -> JsonResponse:
    resp = JsonResponse(unavailable_body(exc), status=503)
    resp["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return resp


class DatabaseUnavailableMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if is_unavailable(exception):
            return unavailable_response(exception)
        return None
