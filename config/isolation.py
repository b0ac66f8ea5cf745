"""What keeps this deployment's Redis traffic apart from another deployment's on the same server.

Two deployments may share one Redis server (docs/DEPLOYMENT.md).  Cache keys are separated by the
Redis database number in ``REDIS_URL`` and by ``CACHE_KEY_PREFIX``.  Channel-layer groups are
Redis pub/sub channels, and pub/sub ignores the database number: a ``PUBLISH`` on database 2
reaches subscribers on database 1.  Since user groups are named by row id (``user.1``), a shared
pub/sub name would deliver one deployment's ``invite.received``, ``room.started`` and private
``room.message`` frames to the other deployment's user #1.  So the channel-layer prefix carries both
things that separate the caches — the database number and the key prefix — and two deployments
whose cache keys cannot meet cannot exchange frames either.

Near-cache invalidations (``CLIENT TRACKING … BCAST PREFIX``) match key names on every database of
the server: a deployment sharing the key prefix sees the other's invalidations as extra local
misses (one more Redis read), never as data.
"""

from __future__ import annotations


def redis_db(url: str) -> int:
    """The database number a Redis URL selects (``redis://h:6379/3``, ``unix:///s.sock?db=3``; 0 if none)."""
    from redis.connection import parse_url

    return int(parse_url(url).get("db") or 0)


def channel_layer_prefix(*, redis_url: str, key_prefix: str) -> str:
    """The channel-layer prefix for this deployment: unique per (database, key prefix) pair."""
    return f"{key_prefix}-db{redis_db(redis_url)}-asgi"


def isolation_lines() -> list[str]:
    """For ``doctor``: what separates this deployment from another one on the same Redis server."""
    from django.conf import settings

    if not settings.REDIS_URL:
        return ["nothing shared: local-memory cache and in-memory channel layer (this process only)"]
    db = redis_db(settings.REDIS_URL)
    key_prefix = settings.CACHES["default"].get("KEY_PREFIX") or ""
    layer_prefix = settings.CHANNEL_LAYERS["default"]["CONFIG"]["prefix"]
    return [
        f"cache keys: Redis database {db}, key prefix {key_prefix!r}",
        f"channel layer: pub/sub names start with {layer_prefix!r} (pub/sub ignores database numbers; "
        "this prefix carries the database number and the key prefix)",
        "another deployment on this Redis server is isolated from this one unless it uses BOTH "
        f"database {db} and CACHE_KEY_PREFIX={key_prefix!r}",
    ]
