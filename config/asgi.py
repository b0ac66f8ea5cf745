"""ASGI entry point: HTTP through Django, WebSockets through Channels on ``/ws/``.

The first event the process serves (a health probe, a request, a socket) starts the realtime
background loop: lease renewal, the room sweeper and invite expiry (``realtime.runtime``).
"""

import logging
import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

from django.core.asgi import get_asgi_application  # noqa: E402

django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402

from config.storage import summary_line  # noqa: E402
from realtime import runtime  # noqa: E402
from realtime.routing import websocket_urlpatterns  # noqa: E402

logging.getLogger("config.startup").info(summary_line())

router = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": AllowedHostsOriginValidator(URLRouter(websocket_urlpatterns)),
    }
)


async def application(scope, receive, send):
    runtime.ensure_started()
    return await router(scope, receive, send)
