"""ASGI entry point: HTTP through Django, WebSockets through Channels on ``/ws/``.

The realtime background loop (lease renewal, the room sweeper, invite expiry: ``realtime.runtime``)
starts when Daphne's reactor runs, or at the first event served under another ASGI server.
"""

import gc
import logging
import os
import sys

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

from config.handlers import get_asgi_application  # noqa: E402

django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import OriginValidator  # noqa: E402
from django.conf import settings  # noqa: E402

from config.storage import summary_line  # noqa: E402
from moderation.middleware import IpBanMiddleware  # noqa: E402
from realtime import runtime  # noqa: E402
from realtime.routing import websocket_urlpatterns  # noqa: E402

logging.getLogger("config.startup").info(summary_line())

# IP bans are enforced at the edge, for HTTP requests and WebSocket connects alike.
router = IpBanMiddleware(
    ProtocolTypeRouter(
        {
            "http": django_asgi_app,
            # the page's own host (ALLOWED_HOSTS) or another front-end allowed by CORS_ALLOWED_ORIGINS
            "websocket": OriginValidator(
                URLRouter(websocket_urlpatterns), [*settings.ALLOWED_HOSTS, *settings.CORS_ALLOWED_ORIGINS]
            ),
        }
    )
)


async def application(scope, receive, send):
    runtime.ensure_started()
    return await router(scope, receive, send)


def _start_with_the_server() -> None:
    # Under Daphne (Twisted's asyncio reactor, already installed when this module is imported)
    # start the background loop as soon as the server runs, not at the first request: after a
    # restart the sweeper must finish rooms even if nobody connects.
    reactor = sys.modules.get("twisted.internet.reactor")
    if reactor is not None and hasattr(reactor, "callWhenRunning"):
        # startup triggers fire before the asyncio loop spins: hop onto the running loop first
        reactor.callWhenRunning(lambda: reactor.callLater(0, runtime.ensure_started))


_start_with_the_server()

from config.autobahn_debug import defer_debug_formatting  # noqa: E402

defer_debug_formatting()  # autobahn's per-connection debug arguments: formatted only if logged

if settings.WS_OVERSIZE_CLOSE_1009:
    from realtime.backpressure import close_oversized_frames_with_1009

    close_oversized_frames_with_1009()


def _freeze_startup_objects() -> None:
    """Move everything loaded at startup (modules, models, URL patterns, settings: ~250k objects)
    out of the cyclic garbage collector's sight.  Every Django request leaves cyclic garbage (the
    request and its messages storage, lazy user, response closers point at each other), so full
    collections run every few thousand requests; without this each one re-scans the whole startup
    heap (~100 ms here, about a fifth of the CPU under load).  Nothing frozen is ever freed, and
    nothing loaded at startup is meant to be."""
    from django.urls import get_resolver

    get_resolver().url_patterns  # import every view module now, so it is frozen too
    gc.collect()
    gc.freeze()


_freeze_startup_objects()
