"""The embedded configuration's cache backend: Django's local-memory cache, plus one read for hot
read-only entries that skips unpickling.

``LocMemCache`` stores every value pickled and unpickles it on every ``get`` — right for a cache
whose callers may mutate what they read, and the largest part of a bearer-session lookup here
(a session entry, a tuple of ~25 plain values, took ≈ 8 µs of a ≈ 14 µs ``get``).  ``get_read_only``
hands back the value unpickled the last time, as long as the stored pickle is still the very same
object:

* every write (``set``, ``add``, ``incr``, ``set_many``) stores a new pickle object, and the memo keeps
  a reference to the old one, so an identity match means nothing has been written since;
* a delete, an expiry or a cull removes the stored pickle, so nothing can match it;
* expiry is checked by ``LocMemCache`` exactly as in ``get``.

So ``get_read_only`` returns exactly what ``get`` would, shared between callers: only for values the
caller treats as read-only (``config.nearcache.NearCache`` uses it; its entries are tuples of
plain values).  The memo is per cache location like the store itself, and bounded.
"""

from __future__ import annotations

import pickle

from django.core.cache.backends.locmem import LocMemCache

MEMO_MAX_ENTRIES = 10_000

# location -> {key: (pickled bytes, value)}; like LocMemCache's own store, shared by every backend
# object of a location (Django builds one per asyncio context under ASGI).
_memos: dict[str, dict[str, tuple[bytes, object]]] = {}


class LocalMemoryCache(LocMemCache):
    def __init__(self, name, params):
        super().__init__(name, params)
        self._memo = _memos.setdefault(name, {})

    def get_read_only(self, key, default=None, version=None):
        """``get(key)`` for a value no caller will mutate: unpickled once per stored write."""
        key = self.make_key(key, version=version)  # validated when it was written
        with self._lock:
            if self._has_expired(key):
                self._delete(key)
                self._memo.pop(key, None)
                return default
            pickled = self._cache[key]
            self._cache.move_to_end(key, last=False)
        memo = self._memo.get(key)
        if memo is not None and memo[0] is pickled:
            return memo[1]
        value = pickle.loads(pickled)
        if key not in self._memo and len(self._memo) >= MEMO_MAX_ENTRIES:
            try:
                self._memo.pop(next(iter(self._memo)))  # oldest first
            except (StopIteration, KeyError, RuntimeError):  # another thread got there first
                pass
        self._memo[key] = (pickled, value)
        return value

    def delete(self, key, version=None):
        self._memo.pop(self.make_key(key, version=version), None)
        return super().delete(key, version=version)

    def clear(self):
        super().clear()
        self._memo.clear()
