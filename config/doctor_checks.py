"""``manage.py doctor``'s configuration checks, one function each: ``(level, message)`` results.

``fail`` makes doctor exit 1 (the migrate unit runs it before the web processes start), ``warn``
is printed and passes, ``ok`` is printed.  Checks that only matter in production say so.
"""

from __future__ import annotations

import os
import socket
import tempfile
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from pathlib import Path

from django.conf import settings

Result = tuple[str, str]


def check_secret_key() -> list[Result]:
    """Production: ``SECRET_KEY`` passes the one rule the settings enforce at start-up
    (``config.env.secret_key_problem``: not a placeholder, long, random-looking)."""
    if not settings.PRODUCTION:
        return []
    from config.env import secret_key_problem

    problem = secret_key_problem(settings.SECRET_KEY or "")
    if problem:
        return [("fail", f"SECRET_KEY: {problem}")]
    return [("ok", "secret key set (not a placeholder, long and random-looking)")]


def _writable(path: Path) -> bool:
    try:
        with tempfile.NamedTemporaryFile(dir=path, prefix=".doctor-"):
            return True
    except OSError:
        return False


def check_media_and_static() -> list[Result]:
    """MEDIA_ROOT exists and this process can write it (when media is on disk); in production
    collectstatic has filled STATIC_ROOT (the manifest the pages' static URLs come from)."""
    from django.core.files.storage import FileSystemStorage, default_storage

    results: list[Result] = []
    if isinstance(default_storage, FileSystemStorage):
        media = Path(settings.MEDIA_ROOT)
        if not media.is_dir():
            parent = next((p for p in media.parents if p.exists()), None)
            if parent is not None and parent.is_dir() and _writable(parent):
                results.append(("ok", f"media root {media} will be created by the first upload"))
            else:
                results.append(("fail", f"MEDIA_ROOT: {media} does not exist and cannot be created (uploads would fail)"))
        elif not _writable(media):
            results.append(("fail", f"MEDIA_ROOT: {media} is not writable by this user (uid {os.getuid()})"))
        else:
            results.append(("ok", f"media root writable ({media}; nginx serves it at {settings.MEDIA_URL})"))
    else:
        backend = settings.STORAGES["default"]["BACKEND"]
        results.append(("ok", f"media in {backend} (its own URLs; not MEDIA_ROOT)"))
    if settings.PRODUCTION:
        static = Path(settings.STATIC_ROOT)
        if not (static / "staticfiles.json").exists():
            results.append(("fail", f"STATIC_ROOT: {static} has no collectstatic manifest; run "
                                    "`manage.py collectstatic --noinput` (admin pages answer 500 without it)"))
        else:
            results.append(("ok", f"static files collected ({static}; nginx serves it at {settings.STATIC_URL})"))
    return results


def check_turn() -> list[Result]:
    """Video calls between two strict NATs need a TURN relay; text rooms don't (a warning)."""
    if settings.TURN_URLS and settings.TURN_SECRET:
        return [("ok", f"TURN relay configured ({len(settings.TURN_URLS)} URL(s))")]
    if settings.TURN_URLS or settings.TURN_SECRET:
        return [("warn", "TURN: set both TURN_URLS and TURN_SECRET (one of them is empty)")]
    if settings.PRODUCTION:
        return [("warn", "TURN: no TURN_URLS/TURN_SECRET; video calls fail between users behind strict NATs "
                         "(campus Wi-Fi, mobile carriers) — run coturn (use-auth-secret)")]
    return []


NON_DELIVERING_BACKENDS = {
    "django.core.mail.backends.console.EmailBackend": "prints mail to the log",
    "django.core.mail.backends.locmem.EmailBackend": "keeps mail in memory",
    "django.core.mail.backends.dummy.EmailBackend": "drops every mail",
    "django.core.mail.backends.filebased.EmailBackend": "writes mail to files",
}


def _smtp_greeting(host: str, port: int, timeout: float) -> str:
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.settimeout(timeout)
        return sock.recv(512).decode(errors="replace").strip()


def check_mail(timeout: float = 3.0) -> list[Result]:
    """Production: the backend delivers (verification codes reach people) and the SMTP server
    answers.  A backend that doesn't deliver fails; an SMTP server that doesn't answer warns
    (it may be down for a moment; the app keeps running)."""
    if not settings.PRODUCTION:
        return []
    backend = settings.EMAIL_BACKEND
    if backend in NON_DELIVERING_BACKENDS:
        return [("fail", f"EMAIL_BACKEND: {backend.rsplit('.', 2)[-2]} {NON_DELIVERING_BACKENDS[backend]}; "
                         "verification codes never reach anyone (use SMTP: EMAIL_HOST, EMAIL_PORT, …)")]
    if backend != "django.core.mail.backends.smtp.EmailBackend":
        return [("ok", f"mail backend {backend} (not probed)")]
    host, port = settings.EMAIL_HOST, int(settings.EMAIL_PORT)
    # DNS resolution is not covered by socket timeouts: bound the whole probe
    pool = ThreadPoolExecutor(max_workers=1)
    try:
        greeting = pool.submit(_smtp_greeting, host, port, timeout).result(timeout=timeout + 1)
    except FutureTimeout:
        return [("warn", f"EMAIL_HOST: no answer from {host}:{port} within {timeout:.0f} s")]
    except OSError as exc:
        return [("warn", f"EMAIL_HOST: cannot reach {host}:{port} ({exc.strerror or exc})")]
    finally:
        pool.shutdown(wait=False)
    if not greeting.startswith("220"):
        return [("warn", f"EMAIL_HOST: {host}:{port} did not greet like an SMTP server ({greeting[:60]!r})")]
    return [("ok", f"SMTP server answers ({host}:{port})")]


PRODUCTION_CHECKS = [check_secret_key, check_media_and_static, check_turn, check_mail]


def run_all() -> list[Result]:
    results: list[Result] = []
    for check in PRODUCTION_CHECKS:
        results.extend(check())
    return results
