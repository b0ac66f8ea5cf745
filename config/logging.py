"""Log formatting: readable lines in development, one JSON object per line in production."""

from __future__ import annotations

import contextvars
import json
import logging

request_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get()
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        payload = {
            "ts": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
            "request_id": getattr(record, "request_id", "-"),
        }
        for key in ("duration_ms", "sql", "route", "status"):
            if hasattr(record, key):
                payload[key] = getattr(record, key)
        if record.exc_info:
            payload["exc"] = self.formatException(record.exc_info)
        return json.dumps(payload, default=str)


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
