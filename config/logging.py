"""Log formatting: readable lines in development, one JSON object per line in production
(``python-json-logger``)."""

from __future__ import annotations

import contextvars
import logging
from datetime import UTC, datetime

from pythonjsonlogger.json import JsonFormatter as _LibraryJsonFormatter

request_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get()
        return True


class JsonFormatter(_LibraryJsonFormatter):
    """One JSON object per record: ``ts`` (UTC, milliseconds, ``Z``), ``level``, ``logger``, ``msg``,
    ``request_id``, then every ``extra=`` field the caller passed (``duration_ms``, ``sql``,
    ``route``, ``status``, …), and ``exc`` with the traceback when there is one."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("fmt", ["levelname", "name", "message", "request_id"])
        kwargs.setdefault(
            "rename_fields", {"levelname": "level", "name": "logger", "message": "msg", "exc_info": "exc"}
        )
        kwargs.setdefault("json_default", str)
        super().__init__(*args, **kwargs)

    def add_fields(self, log_data, record, message_dict) -> None:
        log_data["ts"] = (
            datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        )
        super().add_fields(log_data, record, message_dict)
        if log_data.get("request_id") is None:  # a handler without RequestIdFilter
            log_data["request_id"] = "-"


class RedisOutageFilter(logging.Filter):
    """Drops a library's "lost the connection to Redis" errors (channels-redis logs one with a
    traceback every second while Redis is down): the outage is counted and logged once by
    ``config.redis`` (``config.resilience.redis_state``).  Any other record passes."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if exc is None:
            return True
        from config.resilience import is_redis_unavailable, redis_state

        if not is_redis_unavailable(exc):
            return True
        redis_state.failed(exc)
        return False
