"""Liveness and readiness probes."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.http import JsonResponse
from django.views.decorators.http import require_GET

_migrations_ok = False


def database_ok() -> tuple[bool, str]:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
        return True, "ok"
    except Exception as exc:  # noqa: BLE001 - any failure means "not ready"
        return False, exc.__class__.__name__


def cache_ok() -> tuple[bool, str]:
    try:
        key = f"readyz:{uuid.uuid4().hex}"
        cache.set(key, "1", timeout=5)
        ok = cache.get(key) == "1"
        cache.delete(key)
        return ok, "ok" if ok else "read-back failed"
    except Exception as exc:  # noqa: BLE001
        from config.resilience import describe_failure, is_redis_unavailable, redis_state

        if is_redis_unavailable(exc):
            redis_state.failed(exc)
            return False, describe_failure(exc)
        return False, exc.__class__.__name__


def migrations_pending() -> list[str]:
    from django.db.migrations.executor import MigrationExecutor

    executor = MigrationExecutor(connection)
    plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    return [f"{m.app_label}.{m.name}" for m, _ in plan]


def migrations_ok() -> tuple[bool, str]:
    global _migrations_ok
    if _migrations_ok:
        return True, "ok"
    try:
        pending = migrations_pending()
    except Exception as exc:  # noqa: BLE001
        return False, exc.__class__.__name__
    if pending:
        return False, f"{len(pending)} unapplied"
    _migrations_ok = True
    return True, "ok"


@require_GET
def healthz(request):
    return JsonResponse({"status": "ok"})


# What a Redis outage takes away (the rest keeps working on the database; docs/DEPLOYMENT.md).
REDIS_DEGRADED_IMPACT = (
    "sessions and ban checks are read from the database; presence, the queue, call invites, realtime "
    "events and the rate limits that fail closed (login, admin login, card scans, email codes, call "
    "invites) answer 503 / unavailable until Redis is back"
)


def channel_layer_receiving() -> bool:
    from channels.layers import get_channel_layer

    from config.channel_layer import layer_receiving

    layer = get_channel_layer()
    return layer is None or layer_receiving(layer)


@require_GET
def readyz(request):
    """200 ``ready``; 200 ``degraded`` while only Redis is unreachable (the process still serves: a
    load balancer must keep it); 503 ``not_ready`` without the database or with migrations pending."""
    from config.resilience import redis_state

    checks = {}
    db_ok, checks["database"] = database_ok()
    c_ok, checks["cache"] = cache_ok()
    m_ok, checks["migrations"] = migrations_ok() if db_ok else (False, "database down")
    degraded = []
    if settings.REDIS_URL:
        # the channel layer's subscriptions: gone with the connection, back only once re-sent
        checks["channel_layer"] = "receiving" if channel_layer_receiving() else "re-subscribing"
    if not c_ok and settings.REDIS_URL:
        degraded.append({"component": "redis", "reason": checks["cache"], "impact": REDIS_DEGRADED_IMPACT})
    elif c_ok and settings.REDIS_URL:
        redis_state.recovered()
        if checks["channel_layer"] != "receiving":  # Redis is back; not re-subscribed yet
            degraded.append({"component": "redis", "reason": "channel layer re-subscribing", "impact": REDIS_DEGRADED_IMPACT})
    ready = db_ok and m_ok and (c_ok or bool(degraded))
    status = ("degraded" if degraded else "ready") if ready else "not_ready"
    resp = JsonResponse({"status": status, "checks": checks, "degraded": degraded}, status=200 if ready else 503)
    if not ready:
        resp["Retry-After"] = "5"
    return resp
