"""Our application and a bare Channels consumer in ONE process (``bench/bench_storm.py``):
``/ws/`` is ours, ``/bare/`` is the baseline — handshake, then ``{"type": "join", "pair": n}`` →
group join → ``{"type": "joined"}`` (``bench.relay_asgi.BareRelay``).  Same Daphne, same
reactor, same channel layer, so a connect-rate ratio between the two compares the work per
socket and nothing else."""

from channels.routing import URLRouter
from django.urls import path

from config.asgi import application as ours

from bench.relay_asgi import BareRelay

bare = URLRouter([path("bare/", BareRelay.as_asgi())])


async def application(scope, receive, send):
    if scope["type"] == "websocket" and scope["path"].startswith("/bare/"):
        return await bare(scope, receive, send)
    return await ours(scope, receive, send)
