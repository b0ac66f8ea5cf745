"""``database_sync_to_async`` on the thread pool.

Channels' helper runs every call on one shared thread (``thread_sensitive``), so a slow query of
one socket — or a Django view — delays every other socket and the lease renewals.  Our services
are safe to run concurrently (transactions, row locks, constraints), so they run on the pool;
each call hands its connection back afterwards (to the psycopg pool on PostgreSQL).
"""

from __future__ import annotations

from channels.db import DatabaseSyncToAsync
from django.db import connections


class _PoolThreadSyncToAsync(DatabaseSyncToAsync):
    def thread_handler(self, loop, *args, **kwargs):
        try:
            return super().thread_handler(loop, *args, **kwargs)
        finally:
            connections.close_all()


def database_sync_to_async(func):
    return _PoolThreadSyncToAsync(func, thread_sensitive=False)
