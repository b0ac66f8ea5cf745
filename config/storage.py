"""What storage this process uses, said in words (startup log line, ``manage.py doctor``)."""

from __future__ import annotations

from django.conf import settings


def database_description() -> dict:
    db = settings.DATABASES["default"]
    engine = db["ENGINE"].rsplit(".", 1)[-1]
    if engine == "sqlite3":
        return {
            "engine": "sqlite",
            "where": str(db["NAME"]),
            "durable": True,
            "shared": False,
            "note": "durable on this machine (WAL); one machine only",
        }
    host = db.get("HOST") or "localhost"
    port = db.get("PORT") or 5432
    return {
        "engine": "postgresql",
        "where": f"{host}:{port}/{db.get('NAME')}",
        "durable": True,
        "shared": True,
        "note": "durable and shared by every process (connection pool)",
    }


def cache_description() -> dict:
    backend = settings.CACHES["default"]["BACKEND"]
    if "redis" in backend.lower():
        return {"engine": "redis", "durable": False, "shared": True, "where": _redis_where()}
    return {"engine": "locmem", "durable": False, "shared": False, "where": "process memory"}


def channel_layer_description() -> dict:
    backend = settings.CHANNEL_LAYERS["default"]["BACKEND"]
    if "redis" in backend.lower():
        return {"engine": "channels-redis", "durable": False, "shared": True, "where": _redis_where()}
    return {"engine": "in-memory", "durable": False, "shared": False, "where": "process memory"}


def _redis_where() -> str:
    from urllib.parse import urlsplit

    parts = urlsplit(settings.REDIS_URL)
    return f"{parts.hostname or 'localhost'}:{parts.port or 6379}{parts.path or ''}"


def _fmt(name: str, d: dict) -> str:
    durable = "durable" if d["durable"] else "ephemeral"
    shared = "shared" if d["shared"] else "this process only"
    return f"{name}={d['engine']}({d['where']}; {durable}, {shared})"


def summary_line() -> str:
    return "storage: " + ", ".join(
        [
            _fmt("database", database_description()),
            _fmt("cache", cache_description()),
            _fmt("channel_layer", channel_layer_description()),
        ]
    )


def survival_report() -> list[str]:
    shared = cache_description()["shared"]
    lines = [
        "accounts, sessions, rooms, messages, history, cooldowns, reports, bans, invites: "
        "kept across an app restart (database)",
    ]
    if shared:
        lines.append(
            "presence, pending 20 s call invites, rate limits: kept across an app restart "
            "(Redis), rebuilt by reconnects after a Redis flush"
        )
        lines.append("several server processes may run at once (shared cache and channel layer)")
        if settings.NEAR_CACHE["enabled"]:
            lines.append(
                "hot session and ban-check entries are also copied into each process's memory, kept coherent by "
                "Redis client-side caching (lost on restart, dropped on a Redis flush)"
            )
    else:
        lines.append(
            "presence, pending 20 s call invites, rate limits: lost on restart (process memory); "
            "clients rebuild presence by reconnecting"
        )
        lines.append("run exactly ONE server process with this configuration (no REDIS_URL)")
    return lines
