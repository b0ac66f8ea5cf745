"""Operator commands end with one line, never a traceback, when the machine says no."""

from __future__ import annotations

import functools

from django.core.management.base import CommandError


def one_line_errors(verb: str):
    """Decorate ``handle``: an ``OSError`` (unwritable path, missing directory, full disk …) becomes
    ``CommandError("<verb>: <reason>: <path>")`` — Django prints that as one line and exits 1."""

    def decorate(handle):
        @functools.wraps(handle)
        def wrapper(*args, **kwargs):
            try:
                return handle(*args, **kwargs)
            except OSError as exc:
                where = f": {exc.filename}" if exc.filename else ""
                raise CommandError(f"{verb}: {exc.strerror or exc}{where}") from exc

        return wrapper

    return decorate
