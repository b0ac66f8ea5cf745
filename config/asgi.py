"""ASGI entry point: HTTP through Django, WebSockets through Channels on ``/ws/``."""

import logging
import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

from django.core.asgi import get_asgi_application  # noqa: E402

django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402

from config.storage import summary_line  # noqa: E402
from moderation.middleware import IpBanMiddleware  # noqa: E402
from realtime.routing import websocket_urlpatterns  # noqa: E402

logging.getLogger("config.startup").info(summary_line())

# IP bans are enforced at the edge, for HTTP requests and WebSocket connects alike.
application = IpBanMiddleware(
    ProtocolTypeRouter(
        {
            "http": django_asgi_app,
            "websocket": AllowedHostsOriginValidator(URLRouter(websocket_urlpatterns)),
        }
    )
)
