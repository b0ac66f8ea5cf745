"""The ASGI handler for Django's HTTP side: the sync middleware chain and the sync view run in
one worker-thread hop.

Stock ``ASGIHandler`` builds an async middleware chain.  Every middleware here is sync (Django's
own included), so it adapts at both ends: one hop into a worker thread for the outer middlewares,
one back to the event loop at the innermost (``async_to_sync``), one more into the thread for the
view, and one more for ``response.render()`` of a DRF/template response.  Each hop is a handoff
between threads through the event loop, which under load costs more than a small view itself.

Here the chain is built in sync mode — exactly as under WSGI — and the whole of it (middlewares,
view, deferred rendering) runs in a single ``sync_to_async`` call on the request's thread-sensitive
executor, a warm thread lent for the request (``_RequestThreads``).  Async views still work: the
sync chain runs them with ``async_to_sync``, as WSGI does.

Framework internals this relies on (``RELIES_ON``; ``config/tests/test_framework_internals.py``
pins their source, so a Django or asgiref upgrade that changes them fails that test until they are
re-read): ``ASGIHandler.__call__`` (replaced here, minus its ``ThreadSensitiveContext()`` per
request), ``ASGIHandler.handle`` (calls ``get_response_async``), ``BaseHandler.get_response_async``
(replaced here by one ``sync_to_async(get_response)``), ``BaseHandler.load_middleware`` (built with
``is_async=False``) and ``asgiref.sync.ThreadSensitiveContext`` (accepts an ``executor``).

Switch: ``ASGI_ONE_HOP_HANDLER=false`` serves HTTP through Django's stock ``ASGIHandler``.
"""

from __future__ import annotations

import django
from concurrent.futures import ThreadPoolExecutor

from asgiref.sync import ThreadSensitiveContext, sync_to_async
from django.core.handlers.asgi import ASGIHandler
from django.core.handlers.base import BaseHandler


RELIES_ON = (
    "django.core.handlers.asgi.ASGIHandler.__call__",
    "django.core.handlers.asgi.ASGIHandler.handle",
    "django.core.handlers.base.BaseHandler.get_response_async",
    "django.core.handlers.base.BaseHandler.load_middleware",
    "asgiref.sync.ThreadSensitiveContext",
)


class _RequestThreads:
    """Single-thread executors lent to one request at a time and then kept for the next.

    Stock Django opens a ``ThreadSensitiveContext()`` per request, which starts a new OS thread for
    it and joins it afterwards; each request then also rebuilds every per-thread object it touches
    (cache backend and client, database wrapper, asgiref locals).  A thread lent from here keeps
    Django's rule (a request's sync code runs on one thread that no other request uses meanwhile)
    and is warm, as under a threaded WSGI server.  Only the event loop touches the pool.
    """

    def __init__(self, keep: int = 64):
        self.keep = keep
        self._idle: list[ThreadPoolExecutor] = []

    def acquire(self) -> ThreadPoolExecutor:
        if self._idle:
            return self._idle.pop()
        return ThreadPoolExecutor(max_workers=1, thread_name_prefix="django-request")

    def release(self, executor: ThreadPoolExecutor) -> None:
        if len(self._idle) < self.keep:
            self._idle.append(executor)
        else:
            executor.shutdown(wait=False)


class SyncChainASGIHandler(ASGIHandler):
    def __init__(self):
        BaseHandler.__init__(self)
        self.load_middleware(is_async=False)
        self._threads = _RequestThreads()

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            raise ValueError(f"Django can only handle ASGI/HTTP connections, not {scope['type']}.")
        executor = self._threads.acquire()
        try:
            async with ThreadSensitiveContext(executor=executor):
                await self.handle(scope, receive, send)
        finally:
            self._threads.release(executor)

    async def get_response_async(self, request):
        return await sync_to_async(self.get_response, thread_sensitive=True)(request)


def get_asgi_application() -> ASGIHandler:
    """``django.core.asgi.get_asgi_application`` with the one-hop handler (or Django's own when
    ``ASGI_ONE_HOP_HANDLER`` is off)."""
    django.setup(set_prefix=False)
    from django.conf import settings

    if not settings.ASGI_ONE_HOP_HANDLER:
        return ASGIHandler()
    return SyncChainASGIHandler()

