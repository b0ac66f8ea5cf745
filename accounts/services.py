"""Account and session services (writes).

Sessions are durable (database) with a cache-aside copy so the hot path — authenticating a
bearer token — costs no database query on a cache hit.  Every write that changes what the cache
holds (revocation, profile or status changes) deletes the affected cache entries in the same
call, so no process accepts a revoked token or serves a stale account afterwards.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import uuid
from dataclasses import dataclass
from typing import Callable, Protocol
from datetime import datetime

from django.conf import settings
from django.contrib.auth import password_validation
from django.contrib.auth.hashers import make_password
from django.core.cache import cache
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.db.models import F, signals
from django.db.models.base import ModelState
from django.db.models.fields.files import FieldFile

from accounts import errors
from accounts.images import image_reencode
from accounts.models import EmailVerification, Session, User, UserLocation
from config import cacheaside, clock, ratelimit
from config.aftercommit import after_commit
from config.errors import ApplicationError
from config.nearcache import NearCache
from audit.services import audit_record

logger = logging.getLogger(__name__)

TOKEN_PREFIX = "cc_"
_CACHE_PREFIX = "auth:s:"


# --- tokens --------------------------------------------------------------------------------
def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)  # 256 random bits


def _cache_key(hash_: str) -> str:
    return _CACHE_PREFIX + hash_


# Hits served from process memory while Redis keeps every process's copy coherent (a revocation's
# DEL reaches every process before it returns; see config/nearcache.py).  Entries are immutable
# tuples, so one copy can serve every thread; each request builds its own User from the row.
_session_cache = NearCache(_CACHE_PREFIX)


@dataclass(frozen=True)
class AuthInfo:
    """What ``request.auth`` holds for a bearer-authenticated request."""

    session_id: int
    token_hash: str
    expires_at: datetime


# --- sessions ------------------------------------------------------------------------------
def session_create(
    *, user: User, ip: str | None, user_agent: str = "", device_name: str = ""
) -> tuple[Session, str]:
    """Open a session; returns it and the token (shown once, never stored)."""
    now = clock.now()
    token = _new_token()
    session = Session.objects.create(
        user=user,
        token_hash=token_hash(token),
        created_at=now,
        last_seen_at=now,
        expires_at=now + settings.SESSION_TTL,
        ip=ip,
        user_agent=(user_agent or "")[:300],
        device_name=(device_name or _device_from_user_agent(user_agent))[:100],
    )
    # The app opens its socket right after signing in: its first ``auth`` finds the session in the
    # shared cache instead of reading the database.  After commit, so a rolled-back sign-in leaves
    # no usable copy (a later change to the account busts it as for any cached session).
    after_commit(
        lambda: _cache_put(session.token_hash, session.pk, user, session.expires_at, session.last_seen_at),
        effect="sessions.cache_fill",
    )
    return session, token


def _device_from_user_agent(ua: str) -> str:
    ua = ua or ""
    for needle, label in (
        ("iPhone", "iPhone"),
        ("iPad", "iPad"),
        ("Android", "Android"),
        ("Macintosh", "Mac"),
        ("Windows", "Windows"),
        ("Linux", "Linux"),
    ):
        if needle in ua:
            return label
    return "Unknown device"


# The cached user is its row (plain values), not a pickled model: cheaper to read, immutable, and
# tagged with the field list so a process running another version of the model treats it as a miss.
_USER_FIELDS = tuple(f.attname for f in User._meta.concrete_fields)
_USER_SCHEMA = hashlib.sha256(",".join(_USER_FIELDS).encode()).hexdigest()[:12]


def _user_row(user: User) -> tuple:
    """The user's column values as loaded (a file field's value is its name)."""
    values = user.__dict__  # every column is loaded: the user comes from select_related or a save
    return tuple(
        value.name if isinstance(value, FieldFile) else value for value in (values[n] for n in _USER_FIELDS)
    )


def _user_from_row(row: tuple) -> User:
    """The ``User`` a cached row stands for, as ``User.from_db`` builds it.

    ``Model.__init__`` walks every field to assign the values one by one and sends
    ``pre_init``/``post_init``; with no receivers for ``User`` (none here: no field needs them), the
    same instance is built by assigning the row to the new object's ``__dict__`` at once, about a
    quarter of the cost on the hottest path.  Should a receiver ever be connected, ``from_db`` runs.
    """
    if (signals.pre_init.receivers or signals.post_init.receivers) and (  # none at all: skip the per-sender lookup
        signals.pre_init.has_listeners(User) or signals.post_init.has_listeners(User)
    ):
        return User.from_db("default", _USER_FIELDS, row)
    user = User.__new__(User)
    user.__dict__.update(zip(_USER_FIELDS, row))
    state = user._state = ModelState()
    state.adding = False
    state.db = "default"
    return user


def _cache_put(hash_: str, session_id: int, user: User, expires_at: datetime, last_seen: datetime) -> None:
    """Cache a session for at most SESSION_CACHE_TTL_SECONDS and never past its expiry."""
    ttl = int(min(settings.SESSION_CACHE_TTL_SECONDS, (expires_at - clock.now()).total_seconds()))
    if ttl > 0:
        entry = (session_id, _USER_SCHEMA, _user_row(user), expires_at, last_seen)
        cacheaside.set(_cache_key(hash_), entry, timeout=ttl)  # skipped while Redis is unreachable


def _cache_put_many(fills: list[tuple]) -> None:
    """``_cache_put`` for several sessions: one write for those that live longer than the cache
    TTL (nearly all), one each for the few that expire sooner."""
    full = settings.SESSION_CACHE_TTL_SECONDS
    now = clock.now()
    together = {}
    for fill in fills:
        hash_, session_id, user, expires_at, last_seen = fill
        if (expires_at - now).total_seconds() > full:
            together[_cache_key(hash_)] = (session_id, _USER_SCHEMA, _user_row(user), expires_at, last_seen)
        else:
            _cache_put(*fill)
    if together:
        cacheaside.set_many(together, timeout=full)  # skipped while Redis is unreachable


def session_authenticate(*, token: str) -> tuple[User, AuthInfo] | None:
    """Resolve a bearer token to its user, or ``None`` when unknown, expired or revoked.

    Cache hit: no query.  Miss: one query, then cached for at most the session's remaining life.
    ``last_seen_at`` (and with it the sliding expiry) is written at most once per interval.
    """
    if not token or len(token) > 200:
        return None
    hash_ = token_hash(token)
    return _session_resolve(hash_, _session_cache.get(_cache_key(hash_)), None)


def sessions_authenticate(*, tokens: list[str]) -> list[tuple[User, AuthInfo] | None]:
    """``session_authenticate`` for many tokens at once (a reconnect storm's ``auth`` batch): one
    shared-cache read for the entries this process holds no copy of, one query for the misses;
    the rare ``last_seen_at`` write stays one per session due."""
    hashes = [token_hash(t) if t and len(t) <= 200 else None for t in tokens]
    entries = _session_cache.get_many([_cache_key(h) for h in hashes if h])
    missing = sorted({h for h in hashes if h and _usable_entry(entries.get(_cache_key(h))) is None})
    rows: dict[str, Session] = {}
    if missing:
        rows = {
            s.token_hash: s
            for s in Session.objects.select_related("user").filter(
                token_hash__in=missing, revoked_at__isnull=True, expires_at__gt=clock.now()
            )
        }
    fills: list[tuple] = []
    out = [_session_resolve(h, entries.get(_cache_key(h)), rows, fills) if h else None for h in hashes]
    _cache_put_many(fills)
    return out


def _usable_entry(entry):
    # an entry written by another version of the model: read the row afresh
    return entry if entry is not None and entry[1] == _USER_SCHEMA else None


def _session_resolve(
    hash_: str, entry, rows: dict[str, Session] | None, fills: list[tuple] | None = None
) -> tuple[User, AuthInfo] | None:
    """The session behind ``hash_`` from its cache ``entry``, or on a miss from ``rows`` (already
    read) or one query.  With ``fills``, a miss's cache fill is left there for one write of all."""
    now = clock.now()
    entry = _usable_entry(entry)
    if entry is None:
        if rows is not None:
            session = rows.get(hash_)
        else:
            session = (
                Session.objects.select_related("user")
                .filter(token_hash=hash_, revoked_at__isnull=True, expires_at__gt=now)
                .first()
            )
        if session is None or not _user_may_authenticate(session.user):
            return None
        fill = (session.token_hash, session.pk, session.user, session.expires_at, session.last_seen_at)
        if fills is not None:
            fills.append(fill)
        else:
            _cache_put(*fill)
        session_id, user, expires_at, last_seen = session.pk, session.user, session.expires_at, session.last_seen_at
    else:
        session_id, _schema, row, expires_at, last_seen = entry
        user = _user_from_row(row)
        if expires_at <= now:
            cache.delete(_cache_key(hash_))
            return None
    if now - last_seen >= settings.SESSION_LAST_SEEN_INTERVAL:
        expires_at = now + settings.SESSION_TTL
        updated = Session.objects.filter(pk=session_id, revoked_at__isnull=True).update(
            last_seen_at=now, expires_at=expires_at
        )
        if not updated:  # revoked meanwhile by a path that could not reach this cache
            cache.delete(_cache_key(hash_))
            return None
        _cache_put(hash_, session_id, user, expires_at, now)
    return user, AuthInfo(session_id=session_id, token_hash=hash_, expires_at=expires_at)


def _user_may_authenticate(user: User) -> bool:
    return user.is_active and user.deleted_at is None


def _forget(hashes: list[str]) -> None:
    if hashes:
        cache.delete_many([_cache_key(h) for h in hashes])


def _forget_now_and_on_commit(hashes: list[str]) -> None:
    # Now, so this process stops at once; after commit, so no concurrent miss can refill the
    # cache with the pre-commit row.
    _forget(hashes)
    after_commit(lambda: _forget(hashes), effect="sessions.cache_forget")


def user_cache_bust(*, user_id: int) -> None:
    """Drop every cached session of a user (their cached account copy is stale)."""
    hashes = list(
        Session.objects.filter(user_id=user_id, revoked_at__isnull=True).values_list("token_hash", flat=True)
    )
    _forget_now_and_on_commit(hashes)


def session_live_here(*, token_hash: str) -> bool:
    """True when this process's own copy of the session cache holds the session, unexpired.

    No I/O (see ``NearCache.peek``), so an open socket asks it for every frame; False means only
    "not known here": ask ``session_authenticate``, which reads the shared cache, then the database.
    A revocation deletes the entry on every process before it returns (and again after commit).
    """
    entry = _session_cache.peek(_cache_key(token_hash))
    return entry is not None and entry[1] == _USER_SCHEMA and entry[3] > clock.now()


def _sockets_close_on_commit(*, user_id: int, session_ids: list[int], whole_account: bool = False) -> None:
    """After commit, close (4401) every socket of ``user_id`` authenticated with one of these
    sessions — with ``whole_account``, every socket of that user — on every process.  A failing
    channel layer never undoes the commit."""
    from config.events import kick_after_commit, kick_sessions_after_commit

    kick_sessions_after_commit(user=user_id, sessions=session_ids, code=4401, reason="session revoked")
    if whole_account:
        kick_after_commit(users=user_id, code=4401, reason="account closed")


@transaction.atomic
def session_revoke(
    *, session: Session, actor: User | None, ip: str | None = None, action: str = "session.revoke"
) -> None:
    """Revoke one session: REST answers 401 for its token at once, and its sockets are closed
    (4401) on every process after commit.  Audited."""
    now = clock.now()
    revoked = Session.objects.filter(pk=session.pk, revoked_at__isnull=True).update(revoked_at=now)
    session.revoked_at = now
    _forget_now_and_on_commit([session.token_hash])
    _sockets_close_on_commit(user_id=session.user_id, session_ids=[session.pk])
    if revoked:
        audit_record(
            actor=actor, action=action, target_type="accounts.user", target_id=session.user_id,
            target_label=f"user #{session.user_id}", after={"session_id": session.pk}, ip=ip,
        )


@transaction.atomic
def session_revoke_all(
    *, user: User, actor: User | None, except_session_id: int | None = None, ip: str | None = None,
    action: str = "sessions.revoke_all",
) -> int:
    """Revoke every live session of ``user`` (optionally keeping one); their sockets are closed
    (4401) on every process after commit.  Audited."""
    qs = Session.objects.filter(user=user, revoked_at__isnull=True)
    if except_session_id is not None:
        qs = qs.exclude(pk=except_session_id)
    rows = list(qs.values_list("pk", "token_hash"))
    # exactly the sessions read above: what is forgotten and kicked is what was revoked
    count = Session.objects.filter(pk__in=[pk for pk, _ in rows], revoked_at__isnull=True).update(
        revoked_at=clock.now()
    )
    _forget_now_and_on_commit([h for _, h in rows])
    _sockets_close_on_commit(user_id=user.pk, session_ids=[pk for pk, _ in rows])
    audit_record(actor=actor, action=action, target=user, after={"revoked": count}, ip=ip)
    return count


# --- sign-up, login ------------------------------------------------------------------------
@transaction.atomic
def guest_create(
    *, name: str, gender: str, paid_status: str, ip: str | None, user_agent: str = "", device_name: str = ""
) -> tuple[User, str]:
    """A guest account and its first session, audited.  Who may sign up (invite codes, USC cards,
    intro links) is the sign-up flow's business: ``flows.signup.do_guest_signup``."""
    user = User.objects.create_user(name=name.strip(), gender=gender, paid_status=paid_status)
    _, token = session_create(user=user, ip=ip, user_agent=user_agent, device_name=device_name)
    audit_record(actor=user, action="account.signup_guest", target=user, ip=ip)
    return user, token


def login(
    *, email: str, password: str, ip: str | None, user_agent: str = "", device_name: str = ""
) -> tuple[User, str]:
    """Open a new session for a permanent account.  One generic error for every failure."""
    email = (email or "").strip().lower()
    ratelimit.check(
        f"login:ip:{ip}", limit=20, window=300, message="Too many login attempts; wait a few minutes.",
        on_outage=ratelimit.CLOSED,  # password guessing: no per-process budgets
    )
    ratelimit.check(
        f"login:email:{email}", limit=10, window=300, message="Too many login attempts; wait a few minutes.",
        on_outage=ratelimit.CLOSED,
    )
    user = User.objects.filter(email__iexact=email).first()
    if user is None:
        make_password(password)  # same work as a real check: no timing oracle for enumeration
        raise errors.InvalidCredentials()
    if not user.check_password(password) or not _user_may_authenticate(user):
        raise errors.InvalidCredentials()
    with transaction.atomic():
        _, token = session_create(user=user, ip=ip, user_agent=user_agent, device_name=device_name)
        audit_record(actor=user, action="auth.login", target=user, ip=ip)
    return user, token


class EmailCheck(Protocol):
    """A rule of another app on the email an account is made permanent with: raises to refuse."""

    def __call__(self, *, user: User, email: str) -> None: ...


# --- making an account permanent -----------------------------------------------------------
def _code_hash(verification_user_id: int, code: str) -> str:
    # Keyed: a plain SHA-256 of a 6-digit code is reversible by enumeration.
    return hmac.new(
        settings.SECRET_KEY.encode(), f"email-code:{verification_user_id}:{code}".encode(), hashlib.sha256
    ).hexdigest()


def _validate_password(password: str, user: User) -> None:
    try:
        password_validation.validate_password(password, user)
    except DjangoValidationError as exc:
        raise ApplicationError(
            exc.messages[0], code="password_invalid", fields={"password": list(exc.messages)}
        ) from exc


def email_normalize(email: str) -> str:
    return (email or "").strip().lower()


def make_permanent_request(
    *, user: User, email: str, password: str, ip: str | None = None,
    student_email_check: EmailCheck, banned_email_check: Callable[[str], None],
) -> EmailVerification:
    """Start making a guest permanent: check the email and password, mail a 6-digit code.

    The code is stored hashed, valid for ``EMAIL_CODE_TTL`` and ``EMAIL_CODE_MAX_ATTEMPTS`` tries;
    a new request supersedes older codes.  The other apps' rules on the email come in as
    ``student_email_check`` (USC cards) and ``banned_email_check`` (bans), from
    ``flows.account.do_make_permanent_request``; both are required so no caller can skip them.
    """
    email = email_normalize(email)
    if user.account_type == User.AccountType.PERMANENT:
        raise errors.AlreadyPermanent()
    student_email_check(user=user, email=email)
    ratelimit.check(
        f"mkperm:user:{user.pk}", limit=5, window=3600, message="Too many codes requested; try later.",
        on_outage=ratelimit.CLOSED,  # each one sends an email
    )
    if User.objects.filter(email__iexact=email).exclude(pk=user.pk).exists():
        raise errors.EmailTaken(fields={"email": ["That email address is already in use."]})
    banned_email_check(email)
    _validate_password(password, user)
    code = f"{secrets.randbelow(10**6):06d}"
    now = clock.now()
    with transaction.atomic():
        EmailVerification.objects.filter(user=user, consumed_at__isnull=True).update(consumed_at=now)
        verification = EmailVerification.objects.create(
            user=user,
            email=email,
            password_hash=make_password(password),
            code_hash=_code_hash(user.pk, code),
            created_at=now,
            expires_at=now + settings.EMAIL_CODE_TTL,
        )
        audit_record(actor=user, action="account.make_permanent_requested", target=user, after={"email": email}, ip=ip)
        after_commit(lambda: _send_code(email, code), effect="mail.verification_code")
    return verification


def _send_code(email: str, code: str) -> None:
    minutes = int(settings.EMAIL_CODE_TTL.total_seconds() // 60)
    send_mail(
        subject="Your verification code",
        message=f"Your code is {code}. It expires in {minutes} minutes.",
        from_email=None,
        recipient_list=[email],
        fail_silently=False,
    )


def email_verify(
    *, user: User, code: str, ip: str | None = None,
    student_email_check: EmailCheck, banned_email_check: Callable[[str], None],
) -> User:
    """Check a code; on success the pending email and password become the account's (the email
    checked again by the rules ``make_permanent_request`` took)."""
    code = (code or "").strip()
    now = clock.now()
    verification = (
        EmailVerification.objects.filter(user=user, consumed_at__isnull=True).order_by("-created_at").first()
    )
    if verification is None or verification.expires_at <= now or verification.attempts >= settings.EMAIL_CODE_MAX_ATTEMPTS:
        raise errors.CodeExpired()
    banned_email_check(verification.email)  # banned after the code was sent
    # Count the try first, atomically, so parallel guesses can't exceed the limit.
    counted = EmailVerification.objects.filter(
        pk=verification.pk, consumed_at__isnull=True, attempts__lt=settings.EMAIL_CODE_MAX_ATTEMPTS
    ).update(attempts=F("attempts") + 1)
    if not counted:
        raise errors.CodeExpired()
    if not hmac.compare_digest(verification.code_hash, _code_hash(user.pk, code)):
        left = settings.EMAIL_CODE_MAX_ATTEMPTS - verification.attempts - 1
        raise errors.CodeInvalid(extra={"attempts_left": max(0, left)})
    try:
        with transaction.atomic():
            # The user's row lock orders this against a card registration (which takes it too):
            # a card registered after the code was requested still needs a student email.
            User.objects.select_for_update().filter(pk=user.pk).values_list("pk").first()
            student_email_check(user=user, email=verification.email)
            consumed = EmailVerification.objects.filter(pk=verification.pk, consumed_at__isnull=True).update(
                consumed_at=now
            )
            if not consumed:
                raise errors.CodeExpired()
            before = {"account_type": user.account_type, "email": user.email}
            User.objects.filter(pk=user.pk).update(
                email=verification.email,
                password=verification.password_hash,
                email_verified_at=now,
                account_type=User.AccountType.PERMANENT,
            )
            user.refresh_from_db()
            audit_record(
                actor=user,
                action="account.make_permanent",
                target=user,
                before=before,
                after={"account_type": user.account_type, "email": user.email},
                ip=ip,
            )
            user_cache_bust(user_id=user.pk)
    except IntegrityError as exc:
        raise errors.EmailTaken() from exc
    return user


@transaction.atomic
def password_change(
    *, user: User, current_password: str, new_password: str, keep_session_id: int | None, ip: str | None = None
) -> None:
    """Change the password and sign out every other session."""
    if not user.has_usable_password() or not user.check_password(current_password):
        raise errors.InvalidCredentials("The current password is incorrect.")
    _validate_password(new_password, user)
    user.set_password(new_password)
    user.save(update_fields=["password"])
    audit_record(actor=user, action="auth.password_change", target=user, ip=ip)
    session_revoke_all(user=user, actor=user, except_session_id=keep_session_id, ip=ip, action="auth.logout_others")
    user_cache_bust(user_id=user.pk)


# --- staff edits (the Django admin's user pages) ------------------------------------------
def _audit_value(value):
    """A field value as the audit log stores it (JSON): files by name, related rows by label."""
    if isinstance(value, FieldFile):
        return value.name or None
    if hasattr(value, "all") and callable(value.all):  # a many-to-many manager or a queryset
        return sorted(str(item) for item in value.all())
    if isinstance(value, (list, tuple, set, frozenset)):
        return sorted(str(item) for item in value)
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


def _m2m_names() -> frozenset[str]:
    return frozenset(f.name for f in User._meta.many_to_many)


@transaction.atomic
def user_admin_update(*, user_id: int, actor: User, changes: dict, ip: str | None = None) -> User:
    """A staff edit of an account: ``changes`` maps field names (many-to-many included) to values.

    One audit entry with the changed fields before and after; the cached account copy is dropped
    on every process, so the next request sees the edit.  Deactivating an account (``is_active``
    off) revokes every session and closes every socket of the user (4401) after commit.
    """
    user = User.objects.select_for_update().get(pk=user_id)
    m2m = _m2m_names()
    before = {name: _audit_value(getattr(user, name)) for name in changes}
    columns = []
    for name, value in changes.items():
        if name in m2m:
            getattr(user, name).set(value)
        else:
            setattr(user, name, value)
            columns.append(name)
    if columns:
        user.save(update_fields=columns)
    after = {name: _audit_value(getattr(user, name)) for name in changes}
    if before != after:
        audit_record(actor=actor, action="account.admin_update", target=user, before=before, after=after, ip=ip)
    user_cache_bust(user_id=user.pk)
    if before.get("is_active") is True and after.get("is_active") is False:
        session_revoke_all(user=user, actor=actor, ip=ip, action="account.deactivate_sessions")
        _sockets_close_on_commit(user_id=user.pk, session_ids=[], whole_account=True)
    return user


@transaction.atomic
def user_admin_create(*, user: User, actor: User, ip: str | None = None) -> User:
    """Save an account a staff member filled in (the admin's add page).  Audited."""
    user.save()
    audit_record(
        actor=actor, action="account.admin_create", target=user,
        after={"email": user.email, "name": user.name, "is_staff": user.is_staff}, ip=ip,
    )
    return user


@transaction.atomic
def user_admin_password_set(*, user_id: int, actor: User, password: str | None, ip: str | None = None) -> User:
    """A staff member sets (or, with ``None``, disables) an account's password: every session of
    the account is revoked and its sockets closed, as after a password change.  Audited (without
    the password)."""
    user = User.objects.select_for_update().get(pk=user_id)
    if password is None:
        user.set_unusable_password()
    else:
        user.set_password(password)
    user.save(update_fields=["password"])
    audit_record(
        actor=actor, action="account.admin_password_set", target=user,
        after={"usable_password": user.has_usable_password()}, ip=ip,
    )
    session_revoke_all(user=user, actor=actor, ip=ip, action="account.admin_password_sessions")
    user_cache_bust(user_id=user.pk)
    return user


# --- profile -------------------------------------------------------------------------------
PROFILE_FIELDS = ("name", "gender", "bio", "instagram_handle")


@transaction.atomic
def profile_update(*, user: User, data: dict) -> User:
    changed = {k: v for k, v in data.items() if k in PROFILE_FIELDS and getattr(user, k) != v}
    if changed:
        for key, value in changed.items():
            setattr(user, key, value)
        user.save(update_fields=list(changed))
        user_cache_bust(user_id=user.pk)
    return user


def _sniff(head: bytes) -> str | None:
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    if head[4:8] == b"ftyp":
        return "video/mp4"
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return "video/webm"
    return None


_EXT = {"image/jpeg": "jpg", "image/png": "png", "image/webp": "webp", "video/mp4": "mp4", "video/webm": "webm"}


def media_set(*, user: User, kind: str, upload) -> User:
    """Store a selfie photo or intro video after sniffing its real type and checking its size;
    a photo is stored re-encoded (``accounts.images``): never the uploaded bytes."""
    if kind == "photo":
        allowed, limit, field = settings.PHOTO_CONTENT_TYPES, settings.PHOTO_MAX_BYTES, "photo"
    else:
        allowed, limit, field = settings.VIDEO_CONTENT_TYPES, settings.VIDEO_MAX_BYTES, "intro_video"
    if upload.size > limit:
        raise errors.UploadTooLarge(
            f"The file is {upload.size} bytes; the limit is {limit} bytes.", extra={"max_bytes": limit}
        )
    upload.seek(0)
    head = upload.read(16)
    upload.seek(0)
    sniffed = _sniff(head)
    if sniffed not in allowed:
        raise errors.UploadInvalid(
            f"Accepted types: {', '.join(allowed)}.", extra={"accepted": list(allowed)}
        )
    content = upload.read()
    if sniffed.startswith("image/"):
        content = image_reencode(data=content, content_type=sniffed)  # only the pixels are stored
    name = f"{kind}s/{user.public_id}/{uuid.uuid4().hex}.{_EXT[sniffed]}"
    stored = default_storage.save(name, ContentFile(content))
    old = getattr(user, field).name
    with transaction.atomic():
        setattr(user, field, stored)
        user.save(update_fields=[field])
        user_cache_bust(user_id=user.pk)
        if old:
            after_commit(lambda: default_storage.delete(old), effect="media.delete_replaced")  # a stray file at worst
    return user


# --- call time (written by social's room bookkeeping) ----------------------------------------
def user_timer_add(*, user_id: int, seconds: int) -> None:
    """Add a finished call's seconds to the user's ``timer_total_seconds`` (atomic increment).

    Call inside the transaction that records the call; the cached account copy is dropped.
    """
    if seconds <= 0:
        return
    User.objects.filter(pk=user_id).update(timer_total_seconds=F("timer_total_seconds") + int(seconds))
    user_cache_bust(user_id=user_id)


# --- account deletion (anonymisation) ------------------------------------------------------
DELETED_NAME = "Deleted user"


def account_password_confirm(*, user: User, password: str = "") -> None:
    """Permanent accounts confirm their deletion with their password."""
    if user.has_usable_password() and not user.check_password(password or ""):
        raise errors.InvalidCredentials("Enter your password to delete your account.")


def account_anonymise(*, user: User, keep_email: bool, ip: str | None = None) -> None:
    """This app's part of deleting an account (``flows.account.do_account_delete``): personal data
    goes, the row stays; every session is revoked and every socket closed after commit.
    ``keep_email``: a banned account keeps its email so the ban keeps holding that address."""
    old_files = [f.name for f in (user.photo, user.intro_video) if f]
    with transaction.atomic():
        user_id = user.pk
        User.objects.filter(pk=user_id).update(
            name=DELETED_NAME,
            gender=User.Gender.UNSPECIFIED,
            bio="",
            instagram_handle="",
            instagram_posts=[],
            email=user.email if keep_email else None,
            email_verified_at=user.email_verified_at if keep_email else None,
            photo="",
            intro_video="",
            password=make_password(None),
            is_active=False,
            deleted_at=clock.now(),
        )
        EmailVerification.objects.filter(user_id=user_id).delete()
        UserLocation.objects.filter(user_id=user_id).delete()
        session_revoke_all(user=user, actor=user, ip=ip, action="account.delete_sessions")
        _sockets_close_on_commit(user_id=user_id, session_ids=[], whole_account=True)  # every socket of the account
        # Keep ip (moderation may need it); drop what only described the person's devices.
        Session.objects.filter(user_id=user_id).update(user_agent="", device_name="")
        audit_record(
            actor=user, action="account.delete", target_type="accounts.user", target_id=user_id,
            target_label=f"{DELETED_NAME} #{user_id}", ip=ip,
        )
        user_cache_bust(user_id=user_id)
        for name in old_files:
            after_commit(lambda name=name: default_storage.delete(name), effect="media.delete_account")
