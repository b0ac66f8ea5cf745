"""Django settings: turns the environment (read once, in ``config.env``) into settings.

Embedded default (no environment): SQLite in WAL mode under ``var/``, local-memory cache and
in-memory channel layer — durable on one machine, one process.  With ``DATABASE_URL`` and
``REDIS_URL``: PostgreSQL through Django's native psycopg pool, django-redis and channels-redis —
any number of processes.  See docs/PERSISTENCE.md and docs/DEPLOYMENT.md.
"""

from __future__ import annotations

from datetime import timedelta

import dj_database_url

from config import env as _env_module
from config.env import BASE_DIR, VAR_DIR, ImproperlyConfiguredEnv
from config.isolation import channel_layer_prefix

ENV = _env_module.load()
X = ENV.extra

DJANGO_ENV = ENV.environment
PRODUCTION = ENV.production
SECRET_KEY = ENV.secret_key
DEBUG = ENV.debug
ALLOWED_HOSTS = ENV.allowed_hosts
CSRF_TRUSTED_ORIGINS = ENV.csrf_trusted_origins
TRUSTED_PROXY_COUNT = ENV.trusted_proxy_count
PUBLIC_BASE_URL = ENV.public_base_url

INSTALLED_APPS = [
    "daphne",
    "moderation.admin_config.CampusAdminConfig",  # django.contrib.admin with a rate-limited login
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "channels",
    "corsheaders",
    "config.apps.CoreConfig",
    "audit",
    "accounts",
    "social",
    "moderation",
    "invites",
    "realtime",
    "backoffice",  # the User admin (accounts + moderation + invites)
]

MIDDLEWARE = [
    "config.observability.MetricsMiddleware",  # ops: outermost, sees every final status
    "config.middleware.RequestIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "corsheaders.middleware.CorsMiddleware",  # before CommonMiddleware (answers preflights)
    "config.middleware.UnstorableTextMiddleware",  # NUL / lone surrogates anywhere -> 400 invalid (CORS headers on it)
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "config.resilience.DatabaseUnavailableMiddleware",  # ops: DB down in a plain view -> 503
]

ROOT_URLCONF = "config.urls"
ASGI_APPLICATION = "config.asgi.application"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------------
def _database(url: str) -> dict:
    if url.startswith("sqlite"):
        cfg = dj_database_url.parse(url)
        cfg["OPTIONS"] = {
            # WAL: readers never block the writer; synchronous=NORMAL is durable in WAL mode
            # against application crashes (a power loss may drop the last transactions).
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;",
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
        }
        cfg["TEST"] = {"NAME": str(VAR_DIR / "test_db.sqlite3")}
        return cfg
    if url.startswith(("postgres://", "postgresql://")):
        # dj_database_url keeps libpq options from the query string (sslmode, sslrootcert, ...)
        # in OPTIONS; Django's native psycopg pool replaces persistent connections.
        cfg = dj_database_url.parse(url, conn_max_age=0, conn_health_checks=True)
        cfg["ENGINE"] = "django.db.backends.postgresql"
        options = dict(cfg.get("OPTIONS") or {})
        options["pool"] = {
            "min_size": ENV.db_pool_min,
            "max_size": ENV.db_pool_max,
            "timeout": ENV.db_pool_timeout,
        }
        cfg["OPTIONS"] = options
        return cfg
    raise ImproperlyConfiguredEnv(
        "DATABASE_URL: only sqlite:///path and postgresql://… are supported"
    )


DATABASES = {"default": _database(ENV.database_url)}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Cache and channel layer -----------------------------------------------------------------
REDIS_URL = ENV.redis_url
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": X["CACHE_KEY_PREFIX"],
            "OPTIONS": {
                "CLIENT_CLASS": "django_redis.client.DefaultClient",
                "SOCKET_CONNECT_TIMEOUT": 2,
                "SOCKET_TIMEOUT": 2,
            },
        }
    }
    # Pub/sub ignores the database number: the prefix carries it (config/isolation.py).
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "config.channel_layer.RedisPubSubLayer",  # channels-redis pub/sub; survives outages
            "CONFIG": {
                "hosts": [REDIS_URL],
                "prefix": channel_layer_prefix(redis_url=REDIS_URL, key_prefix=X["CACHE_KEY_PREFIX"]),
            },
        }
    }
else:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "LOCATION": "campuschat",
            "OPTIONS": {"MAX_ENTRIES": 100_000},
        }
    }
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

# --- Auth ------------------------------------------------------------------------------------
AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = ["accounts.backends.EmailBackend"]
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 8}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# API sessions (our own, token hashed); admin uses Django's cookie sessions in the database.
SESSION_TTL = timedelta(days=X["SESSION_TTL_DAYS"])
SESSION_LAST_SEEN_INTERVAL = timedelta(minutes=5)
SESSION_CACHE_TTL_SECONDS = 300
# Process-local, Redis-invalidated copy of hot shared-cache entries (config/nearcache.py); only
# with REDIS_URL (without it the cache is process memory already).
NEAR_CACHE = {
    "enabled": X["NEAR_CACHE_ENABLED"],
    "ttl_seconds": X["NEAR_CACHE_TTL_SECONDS"],
    "max_entries": 50_000,
    "ping_seconds": 1.0,
    "stale_after_seconds": 3.0,
}
# Framework-internals switches: the one-hop ASGI handler (config/handlers.py) and the consumer's
# dispatch without a per-event thread hop (realtime/consumers.py).  Off = the framework's own path.
ASGI_ONE_HOP_HANDLER = X["ASGI_ONE_HOP_HANDLER"]
WS_LEAN_DISPATCH = X["WS_LEAN_DISPATCH"]
SESSION_ENGINE = "django.contrib.sessions.backends.db"
EMAIL_CODE_TTL = timedelta(minutes=15)
EMAIL_CODE_MAX_ATTEMPTS = 5

# --- Uploads ---------------------------------------------------------------------------------
MEDIA_URL = "/media/"
MEDIA_ROOT = ENV.media_root
STATIC_URL = "/static/"
STATIC_ROOT = ENV.static_root
STATICFILES_DIRS = [BASE_DIR / "static"]  # the student app and its SDK (static/campus/)
# Uploads go through Django's storage API (``default_storage``, FileField): MEDIA_ROOT on disk,
# served by nginx under /media/ (deploy/nginx.conf), or any storage backend named by the
# environment, e.g. S3-compatible object storage with django-storages:
#   MEDIA_STORAGE_BACKEND=storages.backends.s3.S3Storage
#   MEDIA_STORAGE_OPTIONS={"bucket_name": "chat-media", "endpoint_url": "https://s3.example.edu", ...}
STORAGES = {
    "default": {"BACKEND": ENV.media_storage_backend, "OPTIONS": ENV.media_storage_options},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if PRODUCTION
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
WHITENOISE_USE_FINDERS = not PRODUCTION
if not PRODUCTION:
    import os as _os

    _os.makedirs(STATIC_ROOT, exist_ok=True)
WHITENOISE_AUTOREFRESH = DEBUG
PHOTO_MAX_BYTES = 5 * 1024 * 1024
VIDEO_MAX_BYTES = 25 * 1024 * 1024
PHOTO_CONTENT_TYPES = ["image/jpeg", "image/png", "image/webp"]  # re-encoded with Pillow (accounts/images.py)
PHOTO_MAX_PIXELS = 40_000_000  # decoded size cap (a decompression bomb is a small file)
VIDEO_CONTENT_TYPES = ["video/mp4", "video/webm"]
DATA_UPLOAD_MAX_MEMORY_SIZE = 1024 * 1024  # non-file request bodies
FILE_UPLOAD_MAX_MEMORY_SIZE = 2_621_440

# --- Email -----------------------------------------------------------------------------------
EMAIL_BACKEND = ENV.email_backend
EMAIL_HOST = ENV.email_host
EMAIL_PORT = ENV.email_port
EMAIL_HOST_USER = ENV.email_host_user
EMAIL_HOST_PASSWORD = ENV.email_host_password
EMAIL_USE_TLS = ENV.email_use_tls
DEFAULT_FROM_EMAIL = ENV.default_from_email

# --- I18N ------------------------------------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- DRF / OpenAPI ---------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["accounts.authentication.BearerSessionAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": [
        "rest_framework.permissions.IsAuthenticated",
        "moderation.permissions.NotBanned",  # 403 "banned" except GET /api/me and /api/me/ban
    ],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],  # multipart: config.parsers
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "EXCEPTION_HANDLER": "config.api.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "config.openapi.AutoSchema",
    "UNAUTHENTICATED_USER": None,
    # No ``?format=`` override: every endpoint answers JSON (the QR code also SVG, by Accept), and an
    # unknown ``?format=`` was a 404 on every route.
    "URL_FORMAT_OVERRIDE": None,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Campus Chat API",
    "DESCRIPTION": (
        "REST API of the campus 1:1 video/text chat backend.\n\n"
        "Realtime protocol (WebSocket `/ws/`): the AsyncAPI 3.0 document at "
        "[/api/asyncapi.json](/api/asyncapi.json); prose in docs/REALTIME.md.\n\n"
        "Every 4xx body is `{\"error\": {\"code\", \"message\", \"fields\"}}` (codes: docs/ERRORS.md). Text no database can store — "
        "a NUL (U+0000) or an unpaired surrogate (U+D800–U+DFFF) — anywhere in a request (path, query string, "
        "header, JSON, form or multipart body) is refused with 400 `invalid` before any endpoint runs."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {},
    # bearerAuth comes from accounts.authentication's extension, per operation (no global entry:
    # it would be listed twice); the error envelope and error responses from config.openapi.
    "POSTPROCESSING_HOOKS": ["drf_spectacular.hooks.postprocess_schema_enums", "config.openapi.postprocess"],
}

# --- Product rules ---------------------------------------------------------------------------
OPEN_SIGNUP = X["OPEN_SIGNUP"]
PRESENCE_HEARTBEAT_SECONDS = X["PRESENCE_HEARTBEAT_SECONDS"]
PRESENCE_TIMEOUT_SECONDS = X["PRESENCE_TIMEOUT_SECONDS"]
ROOM_GRACE_SECONDS = X["ROOM_GRACE_SECONDS"]  # a user's last socket closed → the room waits this long
# ... and this long when the *server* went away (lease expired: process killed; or SIGTERM):
# counted from the moment a live process notices, so a reconnect storm never ends the calls
# people come back to (docs/REALTIME.md §7).
ROOM_RESTART_GRACE_SECONDS = X["ROOM_RESTART_GRACE_SECONDS"]
INVITE_TTL_SECONDS = X["INVITE_TTL_SECONDS"]
SWEEPER_INTERVAL_SECONDS = X["SWEEPER_INTERVAL_SECONDS"]
CALL_MIN_SECONDS = X["CALL_MIN_SECONDS"]
CALL_MAX_SECONDS = X["CALL_MAX_SECONDS"]
SHUTDOWN_GRACE_SECONDS = X["SHUTDOWN_GRACE_SECONDS"]
SLOW_QUERY_MS = X["SLOW_QUERY_MS"]
METRICS_TOKEN = X["METRICS_TOKEN"]

# --- realtime / social: rooms, calls, presence; see docs/REALTIME.md ---------------------------
WS_AUTH_TIMEOUT_SECONDS = X["WS_AUTH_TIMEOUT_SECONDS"]
WS_MAX_FRAME_BYTES = X["WS_MAX_FRAME_BYTES"]
# Bytes a socket may have queued beyond Twisted's 64 KiB transport buffer before it is closed
# (4409, slow reader); 0 = no budget.  realtime/backpressure.py
WS_SEND_BUDGET_BYTES = X["WS_SEND_BUDGET_BYTES"]
# Sockets authenticating at once per process before new ones are shed (4429 + retry_after); 0 = no limit.
WS_AUTH_MAX_PENDING = X["WS_AUTH_MAX_PENDING"]
# Frames over Daphne's 1 MiB limit: close 1009 with a reason instead of a dropped connection.
WS_OVERSIZE_CLOSE_1009 = X["WS_OVERSIZE_CLOSE_1009"]
# A connected participant's lease is renewed by the process holding its socket every third of
# this; a lease left to expire (process killed) puts the room into grace.
ROOM_LEASE_SECONDS = X["ROOM_LEASE_SECONDS"]
CALL_COOLDOWN_SECONDS = X["CALL_COOLDOWN_SECONDS"]
CALL_COMPLETION_MIN_SECONDS = X["CALL_COMPLETION_MIN_SECONDS"]
INVITE_RATE_SENDER_PER_MINUTE = X["INVITE_RATE_SENDER_PER_MINUTE"]
INVITE_RATE_RECEIVER_PER_MINUTE = X["INVITE_RATE_RECEIVER_PER_MINUTE"]
QUEUE_PAGE_SIZE = X["QUEUE_PAGE_SIZE"]
# The queue's derived Redis structure is rebuilt from presence + the database at least this often
# (presence.queue): a room or ban change whose after-commit step was lost heals within it.
QUEUE_REBUILD_SECONDS = X["QUEUE_REBUILD_SECONDS"]

# --- profile extras: Instagram posts, opt-in location (accounts.location) ----------------------
INSTAGRAM_POSTS_MAX = X["INSTAGRAM_POSTS_MAX"]
LOCATION_GRID_METERS = X["LOCATION_GRID_METERS"]  # stored coordinates are this grid's cell centres
LOCATION_TTL_HOURS = X["LOCATION_TTL_HOURS"]  # a location not refreshed for this long is gone

# --- in the room: chat, torch rule, signaling; see docs/REALTIME.md ---------------------------
TORCH_IDLE_SECONDS = X["TORCH_IDLE_SECONDS"]  # text rooms: silence before the inactivity warning
TORCH_WARNING_SECONDS = X["TORCH_WARNING_SECONDS"]  # warning → room ends (reason "inactivity")
ROOM_MESSAGE_MAX_CHARS = X["ROOM_MESSAGE_MAX_CHARS"]
ROOM_MESSAGE_RATE_PER_10S = X["ROOM_MESSAGE_RATE_PER_10S"]  # per connection
ROOM_SIGNAL_RATE_PER_10S = X["ROOM_SIGNAL_RATE_PER_10S"]  # offer/answer/ice-candidate/typing, per connection
ROOM_SIGNAL_MAX_BYTES = X["ROOM_SIGNAL_MAX_BYTES"]  # an SDP or candidate payload
ROOM_REPLAY_LIMIT = X["ROOM_REPLAY_LIMIT"]  # messages per room.replay answer (has_more pages on)
STUN_URLS = X["STUN_URLS"]
TURN_URLS = X["TURN_URLS"]
TURN_SECRET = X["TURN_SECRET"]  # shared with the TURN server (coturn use-auth-secret)
TURN_CREDENTIAL_TTL_SECONDS = X["TURN_CREDENTIAL_TTL_SECONDS"]
PURGE_ROOM_MESSAGES_DAYS = X["PURGE_ROOM_MESSAGES_DAYS"]  # message bodies blanked after (ended rooms)

# --- invites: codes, earned invites, referral intros, USC card registration -------------------
INVITE_CODE_LENGTH = X["INVITE_CODE_LENGTH"]
INVITE_UNLOCK_CALLS = X["INVITE_UNLOCK_CALLS"]  # completed calls before a user's own code unlocks
INVITE_EARNED_USES = X["INVITE_EARNED_USES"]  # uses of that earned code
USC_CARD_ID_PATTERN = X["USC_CARD_ID_PATTERN"]  # regex; group 1 (or the whole match) is the student ID
# Keyed hash of student IDs.  Set it explicitly in production: rotating SECRET_KEY must not make
# every registered card unfindable (and free to register again).
USC_CARD_HASH_KEY = X["USC_CARD_HASH_KEY"] or SECRET_KEY
USC_SCAN_MAX_FAILURES = X["USC_SCAN_MAX_FAILURES"]  # per ip and per device, within the window
USC_SCAN_WINDOW_SECONDS = X["USC_SCAN_WINDOW_SECONDS"]
USC_SCAN_TOKEN_TTL_SECONDS = X["USC_SCAN_TOKEN_TTL_SECONDS"]
USC_EMAIL_DOMAIN = X["USC_EMAIL_DOMAIN"]  # card accounts become permanent only with an email here
# --- Moderation (moderation app) ------------------------------------------------------------
MODERATION_AUTO_BAN_REPORTERS = X["MODERATION_AUTO_BAN_REPORTERS"]  # distinct reporters ...
MODERATION_AUTO_BAN_WINDOW_HOURS = X["MODERATION_AUTO_BAN_WINDOW_HOURS"]  # ... within this window
MODERATION_AUTO_BAN_HOURS = X["MODERATION_AUTO_BAN_HOURS"]  # length of the automatic ban
MODERATION_REPORTS_PER_HOUR = X["MODERATION_REPORTS_PER_HOUR"]  # per reporter
MODERATION_BAN_CACHE_SECONDS = X["MODERATION_BAN_CACHE_SECONDS"]
MODERATION_APPEAL_WINDOW_DAYS = X["MODERATION_APPEAL_WINDOW_DAYS"]  # a ban or warning may be appealed this long
MODERATION_DIGEST_MINUTES = X["MODERATION_DIGEST_MINUTES"]  # at most one new-cases e-mail per this, per moderator
# How long a process trusts its copy of the IP-ban list before comparing it with the shared
# version (changes made on another process take effect within this time).
IP_BAN_RECHECK_SECONDS = X["IP_BAN_RECHECK_SECONDS"]  # ban / IP-ban cache entries (invalidated on change)
ADMIN_LOGIN_ATTEMPTS_PER_5_MIN = X["ADMIN_LOGIN_ATTEMPTS_PER_5_MIN"]  # per IP and per username
# Requests allowed to a banned user (URL names, GET only).
MODERATION_BAN_EXEMPT_URL_NAMES = ["me", "me-ban", "me-warnings"]

# --- CORS: other front-ends on other origins (docs/CLIENT.md) ---------------------------------
# Bearer tokens, no cookies: credentials are never allowed cross-origin.  The WebSocket's origin
# check (config/asgi.py) accepts the same origins besides ALLOWED_HOSTS.
CORS_ALLOWED_ORIGINS = X["CORS_ALLOWED_ORIGINS"]
CORS_URLS_REGEX = r"^/api/.*$"
CORS_ALLOW_CREDENTIALS = False
CORS_EXPOSE_HEADERS = ["Retry-After", "X-Request-ID"]
CORS_PREFLIGHT_MAX_AGE = 3600

# --- Security --------------------------------------------------------------------------------
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
SECURE_REFERRER_POLICY = "same-origin"
if PRODUCTION:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = True
    SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = 60 * 60 * 24 * 365
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True

# --- Logging ---------------------------------------------------------------------------------
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "request_id": {"()": "config.logging.RequestIdFilter"},
        "redis_outage": {"()": "config.logging.RedisOutageFilter"},
    },
    "formatters": {
        "json": {"()": "config.logging.JsonFormatter"},
        "text": {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "json" if ENV.log_json else "text",
            "filters": ["request_id"],
        }
    },
    "root": {"handlers": ["console"], "level": ENV.log_level},
    "loggers": {
        "django": {"handlers": ["console"], "level": "INFO", "propagate": False},
        "django.db.backends": {"level": "INFO"},
        "daphne": {"level": "WARNING"},
        # its receive loop logs a traceback per second while Redis is down (config.redis logs one line)
        "channels_redis.pubsub": {"filters": ["redis_outage"]},
    },
}

# --- Operations (config: backup/restore/purge/metrics) -----------------------------------------
# Retention (days) read by the purgers registered in <app>/purgers.py; see config/purge.py.
PURGE_BATCH_SIZE = X["PURGE_BATCH_SIZE"]
PURGE_SESSIONS_EXPIRED_DAYS = X["PURGE_SESSIONS_EXPIRED_DAYS"]
PURGE_SESSIONS_REVOKED_DAYS = X["PURGE_SESSIONS_REVOKED_DAYS"]
PURGE_EMAIL_VERIFICATIONS_DAYS = X["PURGE_EMAIL_VERIFICATIONS_DAYS"]
PURGE_ADMIN_SESSIONS_DAYS = X["PURGE_ADMIN_SESSIONS_DAYS"]
PURGE_SCAN_ATTEMPTS_DAYS = X["PURGE_SCAN_ATTEMPTS_DAYS"]
PURGE_READ_NOTIFICATIONS_DAYS = X["PURGE_READ_NOTIFICATIONS_DAYS"]
PURGE_LOCATIONS_EXPIRED_DAYS = X["PURGE_LOCATIONS_EXPIRED_DAYS"]
LOGGING["loggers"]["config.slow_query"] = {"level": "WARNING"}
if PRODUCTION:
    # Prometheus scrapes each process directly over HTTP on the internal network.
    SECURE_REDIRECT_EXEMPT = [*SECURE_REDIRECT_EXEMPT, r"^metrics$"]
