"""Observability: request metrics, the ``/metrics`` endpoint, and the slow-query log.

* ``MetricsMiddleware`` (outermost) counts every request and its latency by route *pattern*
  (``api/auth/sessions/<int:session_id>``, never the raw path, so cardinality stays bounded).
* ``metrics_view`` serves ``config.metrics.render()``: with ``METRICS_TOKEN`` set it needs
  ``Authorization: Bearer <token>``; without one, only a direct loopback client (no proxy
  header) may read it.
* The slow-query log is an ``execute_wrapper`` installed on every database connection when it
  is created: statements slower than ``SLOW_QUERY_MS`` (negative disables) are logged at WARNING
  on ``config.slow_query`` with their duration and SQL *shape* (placeholders, never parameter
  values — those may be personal data) and counted in ``db_slow_queries_total``.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import re
import time

from django.conf import settings
from django.db.backends.signals import connection_created
from django.http import HttpResponse, JsonResponse

from config import metrics
from config.api import error_body
from config.net import client_ip

slow_logger = logging.getLogger("config.slow_query")

_SPACES = re.compile(r"\s+")
_PLACEHOLDER_RUNS = re.compile(r"(?:%s\s*,\s*){2,}%s")
_SQL_MAX = 2000


def sql_shape(sql: str) -> str:
    """The statement without parameter values, whitespace collapsed, long IN-lists folded."""
    shape = _SPACES.sub(" ", str(sql)).strip()
    shape = _PLACEHOLDER_RUNS.sub("%s, …", shape)
    return shape if len(shape) <= _SQL_MAX else shape[:_SQL_MAX] + " …"


def slow_query_wrapper(execute, sql, params, many, context):
    start = time.perf_counter()
    try:
        return execute(sql, params, many, context)
    finally:
        threshold = getattr(settings, "SLOW_QUERY_MS", 200)
        elapsed_ms = (time.perf_counter() - start) * 1000
        if threshold >= 0 and elapsed_ms >= threshold:
            shape = sql_shape(sql)
            metrics.inc("db_slow_queries_total")
            slow_logger.warning(
                "slow query: %.1f ms (threshold %s ms): %s",
                elapsed_ms,
                threshold,
                shape,
                extra={"duration_ms": round(elapsed_ms, 1), "sql": shape, "many": bool(many)},
            )


def install_slow_query_log(sender=None, connection=None, **kwargs) -> None:
    """``connection_created`` receiver; idempotent (pooled connections reconnect often)."""
    if connection is not None and slow_query_wrapper not in connection.execute_wrappers:
        connection.execute_wrappers.append(slow_query_wrapper)


def connect_signals() -> None:
    connection_created.connect(install_slow_query_log, dispatch_uid="config.slow_query_log")
    # Connections opened before the app registry finished loading get it too.
    from django.db import connections

    for conn in connections.all(initialized_only=True):
        install_slow_query_log(connection=conn)


class MetricsMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        start = time.perf_counter()
        response = self.get_response(request)
        elapsed = time.perf_counter() - start
        match = getattr(request, "resolver_match", None)
        route = (match.route or match.view_name) if match is not None else "<unmatched>"
        metrics.inc("http_requests_total", method=request.method, route=route, status=response.status_code)
        metrics.observe("http_request_duration_seconds", elapsed, method=request.method, route=route)
        return response


def _is_loopback(ip: str | None) -> bool:
    try:
        return ip is not None and ipaddress.ip_address(ip).is_loopback
    except ValueError:
        return False


def metrics_view(request):
    if request.method != "GET":
        return JsonResponse(error_body("method_not_allowed", "Use GET."), status=405)
    token = getattr(settings, "METRICS_TOKEN", "")
    if token:
        header = request.META.get("HTTP_AUTHORIZATION", "")
        given = header[7:] if header.startswith("Bearer ") else ""
        if not hmac.compare_digest(given.encode(), token.encode()):
            resp = JsonResponse(error_body("not_authenticated", "A valid metrics token is required."), status=401)
            resp["WWW-Authenticate"] = 'Bearer realm="metrics"'
            return resp
    else:
        proxied = "HTTP_X_FORWARDED_FOR" in request.META or "HTTP_X_REAL_IP" in request.META
        if proxied or not _is_loopback(client_ip(request)):
            return JsonResponse(
                error_body("permission_denied", "Metrics are served to loopback only; set METRICS_TOKEN."),
                status=403,
            )
    return HttpResponse(metrics.render(), content_type=metrics.CONTENT_TYPE)


# --- connection pool (PostgreSQL) --------------------------------------------------------------
POOL_GAUGES = {
    # metric name: (psycopg_pool stat, scale, help)
    "db_pool_size": ("pool_size", 1, "connections the pool holds (in use + idle)"),
    "db_pool_available": ("pool_available", 1, "idle connections ready to lend"),
    "db_pool_requests_waiting": ("requests_waiting", 1, "requests waiting for a connection right now"),
    "db_pool_requests_wait_seconds": ("requests_wait_ms", 0.001,
                                      "cumulative seconds requests spent waiting for a connection (use rate())"),
    "db_pool_requests_errors": ("requests_errors", 1,
                                "cumulative requests that got no connection within DB_POOL_TIMEOUT (use increase())"),
}


def register_pool_gauges(alias: str = "default") -> None:
    """Pool waits, read from psycopg_pool's own statistics at scrape time (no query, no lock)."""
    from django.db import connections

    db = settings.DATABASES[alias]
    if not db["ENGINE"].endswith("postgresql") or "pool" not in (db.get("OPTIONS") or {}):
        return

    def stat(key: str, scale: float):
        return lambda: connections[alias].pool.get_stats().get(key, 0) * scale

    for name, (key, scale, help_text) in POOL_GAUGES.items():
        metrics.gauge_fn(name, stat(key, scale), help_text)
