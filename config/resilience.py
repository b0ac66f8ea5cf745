"""Database down or pool exhausted → 503 with ``Retry-After`` and the one error body.

Three places cover every request: the DRF exception handler (``config.api``) for API views,
``DatabaseUnavailableMiddleware.process_exception`` for plain Django views (admin, …), and
``config.api.json_500`` (handler500) for errors raised inside middleware (sessions, auth).  No
state is kept: each request asks the pool again, so service resumes as soon as the database does
(the pool's health check drops dead connections; ``DB_POOL_TIMEOUT`` bounds the wait).
"""

from __future__ import annotations

import logging

from django.db import InterfaceError, OperationalError
from django.http import JsonResponse

from config import metrics

logger = logging.getLogger("config.database")

RETRY_AFTER_SECONDS = 5


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


def unavailable_response(exc: BaseException) -> JsonResponse:
    from config.api import error_body

    metrics.inc("db_unavailable_total")
    logger.warning("database unavailable: %s: %s", exc.__class__.__name__, str(exc).splitlines()[0] if str(exc) else "")
    resp = JsonResponse(
        error_body("unavailable", "The database is temporarily unavailable; retry shortly."), status=503
    )
    resp["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return resp


class DatabaseUnavailableMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if is_database_unavailable(exception):
            return unavailable_response(exception)
        return None
