"""Backends that fail the way production's do, for the after-commit tests (``test_aftercommit.py``)."""

from __future__ import annotations

import smtplib

import redis.exceptions
from django.core.cache.backends.base import DEFAULT_TIMEOUT
from django.core.cache.backends.locmem import LocMemCache
from django.core.mail.backends.base import BaseEmailBackend
from django.db import connection


class CacheDownAfterCommit(LocMemCache):
    """Redis that dies between a service's own invalidation (inside its transaction) and the commit:
    deletes and writes work inside a transaction and raise redis-py's ``ConnectionError`` outside
    one — which is where after-commit effects run."""

    def _check(self) -> None:
        if not connection.in_atomic_block:
            raise redis.exceptions.ConnectionError("Error 111 connecting to 127.0.0.1:1. Connection refused.")

    def delete(self, key, version=None):
        self._check()
        return super().delete(key, version=version)

    def delete_many(self, keys, version=None):
        self._check()
        return super().delete_many(keys, version=version)

    def set(self, key, value, timeout=DEFAULT_TIMEOUT, version=None):
        self._check()
        return super().set(key, value, timeout=timeout, version=version)


class RefusingSMTP(BaseEmailBackend):
    """An SMTP server that refuses the message."""

    def send_messages(self, email_messages):
        raise smtplib.SMTPServerDisconnected("Connection unexpectedly closed")
