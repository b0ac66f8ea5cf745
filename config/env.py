"""The one place the process environment is read.

Every setting that may differ between machines comes from here; ``config.settings`` only
turns these values into Django settings. Nothing else in the tree reads ``os.environ``.
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("VAR_DIR", BASE_DIR / "var"))


class ImproperlyConfiguredEnv(RuntimeError):
    """Raised when the environment cannot produce a safe configuration."""


def _bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    return raw.strip().lower() in {"1", "true", "yes", "on"}


def _int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ImproperlyConfiguredEnv(f"{name}: expected an integer, got {raw!r}") from exc


def _float(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return float(raw)
    except ValueError as exc:
        raise ImproperlyConfiguredEnv(f"{name}: expected a number, got {raw!r}") from exc


def _list(name: str, default: list[str]) -> list[str]:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return list(default)
    return [item.strip() for item in raw.split(",") if item.strip()]


def _str(name: str, default: str = "") -> str:
    return os.environ.get(name, default) or default


SECRET_KEY_MIN_LENGTH = 50  # Django's own deploy check (security.W009) uses the same bar
# Values that appear in our docs and examples, and Django's generated-for-development prefix.
_PLACEHOLDER_MARKS = ("change-me", "changeme", "replace-me", "your-secret", "django-insecure-", "secret_key")


def secret_key_problem(key: str) -> str | None:
    """Why ``key`` is unfit to sign tokens and cookies in production, or None."""
    lowered = key.lower()
    if any(mark in lowered for mark in _PLACEHOLDER_MARKS):
        return "is a placeholder (e.g. the one in deploy/env.example); generate one: python -c 'import secrets; print(secrets.token_urlsafe(50))'"
    if len(key) < SECRET_KEY_MIN_LENGTH:
        return f"is {len(key)} characters; at least {SECRET_KEY_MIN_LENGTH} random ones are required"
    if len(set(key)) < 5:
        return "has fewer than 5 distinct characters: not random"
    return None


def _json_object(name: str) -> dict:
    raw = os.environ.get(name, "")
    if not raw.strip():
        return {}
    try:
        value = json.loads(raw)
    except ValueError as exc:
        raise ImproperlyConfiguredEnv(f"{name}: expected a JSON object, got {raw[:60]!r} ({exc})") from exc
    if not isinstance(value, dict):
        raise ImproperlyConfiguredEnv(f"{name}: expected a JSON object, got {type(value).__name__}")
    return value


def _secret_key(production: bool) -> str:
    key = os.environ.get("SECRET_KEY", "")
    if production:
        if not key:
            raise ImproperlyConfiguredEnv(
                "SECRET_KEY: required when DJANGO_ENV=production (refusing to start without it)"
            )
        problem = secret_key_problem(key)
        if problem:
            raise ImproperlyConfiguredEnv(f"SECRET_KEY: {problem} (refusing to start with it)")
        return key
    if key:
        return key
    # Development: generate once and keep it, so session cookies, signed values and
    # keyed hashes stay valid across restarts.
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    path = VAR_DIR / "secret_key"
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_urlsafe(50))
    return path.read_text().strip()


@dataclass(frozen=True)
class Env:
    environment: str
    debug: bool
    secret_key: str
    database_url: str
    redis_url: str
    allowed_hosts: list[str]
    csrf_trusted_origins: list[str]
    trusted_proxy_count: int
    email_backend: str
    email_host: str
    email_port: int
    email_host_user: str
    email_host_password: str
    email_use_tls: bool
    default_from_email: str
    public_base_url: str
    media_root: str
    static_root: str
    media_storage_backend: str
    media_storage_options: dict
    db_pool_min: int
    db_pool_max: int
    db_pool_timeout: float
    log_level: str
    log_json: bool
    extra: dict = field(default_factory=dict)

    @property
    def production(self) -> bool:
        return self.environment == "production"


def load() -> Env:
    environment = _str("DJANGO_ENV", "development").lower()
    if environment not in {"development", "production", "test"}:
        raise ImproperlyConfiguredEnv(
            f"DJANGO_ENV: expected development, production or test, got {environment!r}"
        )
    production = environment == "production"
    debug = _bool("DEBUG", environment == "development")
    if production and debug:
        raise ImproperlyConfiguredEnv("DEBUG: must be off when DJANGO_ENV=production")
    allowed_hosts = _list(
        "ALLOWED_HOSTS", [] if production else ["localhost", "127.0.0.1", "[::1]", "testserver"]
    )
    if production and not allowed_hosts:
        raise ImproperlyConfiguredEnv("ALLOWED_HOSTS: required when DJANGO_ENV=production")
    if "*" in allowed_hosts and production:
        raise ImproperlyConfiguredEnv("ALLOWED_HOSTS: '*' is refused in production")
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    return Env(
        environment=environment,
        debug=debug,
        secret_key=_secret_key(production),
        database_url=_str("DATABASE_URL", f"sqlite:///{VAR_DIR / 'db.sqlite3'}"),
        redis_url=_str("REDIS_URL", ""),
        allowed_hosts=allowed_hosts,
        csrf_trusted_origins=_list("CSRF_TRUSTED_ORIGINS", []),
        trusted_proxy_count=_int("TRUSTED_PROXY_COUNT", 0),
        email_backend=_str(
            "EMAIL_BACKEND",
            "django.core.mail.backends.smtp.EmailBackend"
            if production
            else "django.core.mail.backends.console.EmailBackend",
        ),
        email_host=_str("EMAIL_HOST", "localhost"),
        email_port=_int("EMAIL_PORT", 25),
        email_host_user=_str("EMAIL_HOST_USER", ""),
        email_host_password=_str("EMAIL_HOST_PASSWORD", ""),
        email_use_tls=_bool("EMAIL_USE_TLS", False),
        default_from_email=_str("DEFAULT_FROM_EMAIL", "no-reply@localhost"),
        public_base_url=_str("PUBLIC_BASE_URL", "http://127.0.0.1:8000").rstrip("/"),
        media_root=_str("MEDIA_ROOT", str(VAR_DIR / "media")),
        static_root=_str("STATIC_ROOT", str(VAR_DIR / "static")),
        media_storage_backend=_str("MEDIA_STORAGE_BACKEND", "django.core.files.storage.FileSystemStorage"),
        media_storage_options=_json_object("MEDIA_STORAGE_OPTIONS"),
        db_pool_min=_int("DB_POOL_MIN_SIZE", 2),
        db_pool_max=_int("DB_POOL_MAX_SIZE", 10),
        db_pool_timeout=_float("DB_POOL_TIMEOUT", 10.0),
        log_level=_str("LOG_LEVEL", "INFO").upper(),
        log_json=_bool("LOG_JSON", production),
        extra={
            "SESSION_TTL_DAYS": _int("SESSION_TTL_DAYS", 30),
            # other front-ends (another origin) allowed to call /api/ and open /ws/: full origins,
            # e.g. "https://app.example.edu,http://localhost:5173"
            "CORS_ALLOWED_ORIGINS": _list("CORS_ALLOWED_ORIGINS", []),
            "OPEN_SIGNUP": _bool("OPEN_SIGNUP", not production),
            "PRESENCE_HEARTBEAT_SECONDS": _int("PRESENCE_HEARTBEAT_SECONDS", 20),
            "PRESENCE_TIMEOUT_SECONDS": _int("PRESENCE_TIMEOUT_SECONDS", 60),
            "ROOM_GRACE_SECONDS": _float("ROOM_GRACE_SECONDS", 10.0),
            "ROOM_RESTART_GRACE_SECONDS": _float("ROOM_RESTART_GRACE_SECONDS", 30.0),
            "INVITE_TTL_SECONDS": _float("INVITE_TTL_SECONDS", 20.0),
            "SWEEPER_INTERVAL_SECONDS": _float("SWEEPER_INTERVAL_SECONDS", 1.0),
            "TORCH_IDLE_SECONDS": _float("TORCH_IDLE_SECONDS", 120.0),
            "TORCH_WARNING_SECONDS": _float("TORCH_WARNING_SECONDS", 60.0),
            "CALL_MIN_SECONDS": _int("CALL_MIN_SECONDS", 60),
            "CALL_MAX_SECONDS": _int("CALL_MAX_SECONDS", 600),
            "SHUTDOWN_GRACE_SECONDS": _float("SHUTDOWN_GRACE_SECONDS", 5.0),
            "TURN_SECRET": _str("TURN_SECRET", ""),
            "TURN_URLS": _list("TURN_URLS", []),
            "STUN_URLS": _list("STUN_URLS", ["stun:stun.l.google.com:19302"]),
            "METRICS_TOKEN": _str("METRICS_TOKEN", ""),
            "SLOW_QUERY_MS": _int("SLOW_QUERY_MS", 200),
            "CACHE_KEY_PREFIX": _str("CACHE_KEY_PREFIX", "cc"),
            "NEAR_CACHE_ENABLED": _bool("NEAR_CACHE_ENABLED", True),
            "NEAR_CACHE_TTL_SECONDS": _float("NEAR_CACHE_TTL_SECONDS", 60.0),
            # switches for the three places that lean on framework internals (docs/ARCHITECTURE.md)
            "ASGI_ONE_HOP_HANDLER": _bool("ASGI_ONE_HOP_HANDLER", True),
            "WS_LEAN_DISPATCH": _bool("WS_LEAN_DISPATCH", True),
            # realtime core: rooms, calls, presence
            "WS_AUTH_TIMEOUT_SECONDS": _float("WS_AUTH_TIMEOUT_SECONDS", 5.0),
            "WS_MAX_FRAME_BYTES": _int("WS_MAX_FRAME_BYTES", 64 * 1024),
            "WS_SEND_BUDGET_BYTES": _int("WS_SEND_BUDGET_BYTES", 256 * 1024),
            "WS_AUTH_MAX_PENDING": _int("WS_AUTH_MAX_PENDING", 5000),
            "WS_OVERSIZE_CLOSE_1009": _bool("WS_OVERSIZE_CLOSE_1009", True),
            "ROOM_LEASE_SECONDS": _float("ROOM_LEASE_SECONDS", 6.0),
            "CALL_COOLDOWN_SECONDS": _int("CALL_COOLDOWN_SECONDS", 24 * 3600),
            "CALL_COMPLETION_MIN_SECONDS": _int("CALL_COMPLETION_MIN_SECONDS", 30),
            "INVITE_RATE_SENDER_PER_MINUTE": _int("INVITE_RATE_SENDER_PER_MINUTE", 10),
            "INVITE_RATE_RECEIVER_PER_MINUTE": _int("INVITE_RATE_RECEIVER_PER_MINUTE", 20),
            "QUEUE_PAGE_SIZE": _int("QUEUE_PAGE_SIZE", 50),
            "QUEUE_REBUILD_SECONDS": _int("QUEUE_REBUILD_SECONDS", 60),
            # profile extras: Instagram posts on the card, opt-in coarse location
            "INSTAGRAM_POSTS_MAX": _int("INSTAGRAM_POSTS_MAX", 6),
            "LOCATION_GRID_METERS": _int("LOCATION_GRID_METERS", 500),
            "LOCATION_TTL_HOURS": _float("LOCATION_TTL_HOURS", 24.0),
            # invites (growth and verification)
            "INVITE_CODE_LENGTH": _int("INVITE_CODE_LENGTH", 12),
            "INVITE_UNLOCK_CALLS": _int("INVITE_UNLOCK_CALLS", 4),
            "INVITE_EARNED_USES": _int("INVITE_EARNED_USES", 4),
            "USC_CARD_ID_PATTERN": _str("USC_CARD_ID_PATTERN", r"(?<!\d)(\d{10})(?!\d)"),
            "USC_CARD_HASH_KEY": _str("USC_CARD_HASH_KEY", ""),
            "USC_SCAN_MAX_FAILURES": _int("USC_SCAN_MAX_FAILURES", 10),
            "USC_SCAN_WINDOW_SECONDS": _int("USC_SCAN_WINDOW_SECONDS", 3600),
            "USC_SCAN_TOKEN_TTL_SECONDS": _int("USC_SCAN_TOKEN_TTL_SECONDS", 900),
            "USC_EMAIL_DOMAIN": _str("USC_EMAIL_DOMAIN", "usc.edu").strip().lower().lstrip("@"),
            # ops: retention (days) and purge batch size
            "PURGE_BATCH_SIZE": _int("PURGE_BATCH_SIZE", 1000),
            "PURGE_LOCATIONS_EXPIRED_DAYS": _float("PURGE_LOCATIONS_EXPIRED_DAYS", 0.0),
            "PURGE_SESSIONS_EXPIRED_DAYS": _float("PURGE_SESSIONS_EXPIRED_DAYS", 7.0),
            "PURGE_SESSIONS_REVOKED_DAYS": _float("PURGE_SESSIONS_REVOKED_DAYS", 30.0),
            "PURGE_EMAIL_VERIFICATIONS_DAYS": _float("PURGE_EMAIL_VERIFICATIONS_DAYS", 7.0),
            "PURGE_ADMIN_SESSIONS_DAYS": _float("PURGE_ADMIN_SESSIONS_DAYS", 0.0),
            "PURGE_SCAN_ATTEMPTS_DAYS": _float("PURGE_SCAN_ATTEMPTS_DAYS", 30.0),
            "PURGE_READ_NOTIFICATIONS_DAYS": _float("PURGE_READ_NOTIFICATIONS_DAYS", 30.0),
            # in the room: chat, torch rule, signaling, retention
            "ROOM_MESSAGE_MAX_CHARS": _int("ROOM_MESSAGE_MAX_CHARS", 2000),
            "ROOM_MESSAGE_RATE_PER_10S": _int("ROOM_MESSAGE_RATE_PER_10S", 20),
            "ROOM_SIGNAL_RATE_PER_10S": _int("ROOM_SIGNAL_RATE_PER_10S", 200),
            "ROOM_SIGNAL_MAX_BYTES": _int("ROOM_SIGNAL_MAX_BYTES", 32 * 1024),
            "ROOM_REPLAY_LIMIT": _int("ROOM_REPLAY_LIMIT", 500),
            "TURN_CREDENTIAL_TTL_SECONDS": _int("TURN_CREDENTIAL_TTL_SECONDS", 3600),
            "PURGE_ROOM_MESSAGES_DAYS": _float("PURGE_ROOM_MESSAGES_DAYS", 30.0),
            # moderation
            "MODERATION_AUTO_BAN_REPORTERS": _int("MODERATION_AUTO_BAN_REPORTERS", 4),
            "MODERATION_AUTO_BAN_WINDOW_HOURS": _int("MODERATION_AUTO_BAN_WINDOW_HOURS", 24),
            "MODERATION_AUTO_BAN_HOURS": _int("MODERATION_AUTO_BAN_HOURS", 24),
            "MODERATION_REPORTS_PER_HOUR": _int("MODERATION_REPORTS_PER_HOUR", 10),
            "MODERATION_BAN_CACHE_SECONDS": _int("MODERATION_BAN_CACHE_SECONDS", 300),
            "MODERATION_APPEAL_WINDOW_DAYS": _int("MODERATION_APPEAL_WINDOW_DAYS", 20),
            "MODERATION_DIGEST_MINUTES": _int("MODERATION_DIGEST_MINUTES", 60),
            "IP_BAN_RECHECK_SECONDS": _float("IP_BAN_RECHECK_SECONDS", 1.0),
            "ADMIN_LOGIN_ATTEMPTS_PER_5_MIN": _int("ADMIN_LOGIN_ATTEMPTS_PER_5_MIN", 10),
        },
    )
