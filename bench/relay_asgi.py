"""The baseline: a bare Channels relay on the same stack (Daphne, same channel layer settings),
no auth, no validation, no database.  ``{"type": "join", "pair": n}`` then any frame is relayed
to the other sockets of the pair's group (and acked to the sender when the frame says ``"ack": true``)."""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django  # noqa: E402

django.setup()

import json  # noqa: E402

from channels.generic.websocket import AsyncWebsocketConsumer  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.core.asgi import get_asgi_application  # noqa: E402
from django.urls import path  # noqa: E402


class BareRelay(AsyncWebsocketConsumer):
    group = None

    async def receive(self, text_data=None, bytes_data=None):
        data = json.loads(text_data)
        if data.get("type") == "join":
            self.group = f"bench.{data['pair']}"
            await self.channel_layer.group_add(self.group, self.channel_name)
            await self.send(text_data='{"type":"joined"}')
            return
        await self.channel_layer.group_send(
            self.group, {"type": "relay", "from": self.channel_name, "data": data.get("data")}
        )
        if data.get("ack"):  # bench_room.py: the same reply a persisted room message gets, minus the database
            await self.send(text_data=json.dumps({"type": "ack", "data": data.get("data")}))

    async def relay(self, event):
        if event["from"] != self.channel_name:
            await self.send(text_data=json.dumps({"type": "room.relay", "data": event["data"]}))


application = ProtocolTypeRouter(
    {"http": get_asgi_application(), "websocket": URLRouter([path("ws/", BareRelay.as_asgi())])}
)
