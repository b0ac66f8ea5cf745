"""The ASGI handler for Django's HTTP side: the sync middleware chain and the sync view run in
one worker-thread hop.

Stock ``ASGIHandler`` builds an async middleware chain.  Every middleware here is sync (Django's
own included), so it adapts at both ends: one hop into a worker thread for the outer middlewares,
one back to the event loop at the innermost (``async_to_sync``), one more into the thread for the
view, and one more for ``response.render()`` of a DRF/template response.  Each hop is a handoff
between threads through the event loop, which under load costs more than a small view itself.

Here the chain is built in sync mode — exactly as under WSGI — and the whole of it (middlewares,
view, deferred rendering) runs in a single ``sync_to_async`` call on the request's thread-sensitive
executor.  Async views still work: the sync chain runs them with ``async_to_sync``, as WSGI does.
"""

from __future__ import annotations

import django
from asgiref.sync import sync_to_async
from django.core.handlers.asgi import ASGIHandler
from django.core.handlers.base import BaseHandler


class SyncChainASGIHandler(ASGIHandler):
    def __init__(self):
        BaseHandler.__init__(self)
        self.load_middleware(is_async=False)

    async def get_response_async(self, request):
        return await sync_to_async(self.get_response, thread_sensitive=True)(request)


def get_asgi_application() -> SyncChainASGIHandler:
    """``django.core.asgi.get_asgi_application`` with the one-hop handler."""
    django.setup(set_prefix=False)
    return SyncChainASGIHandler()

