"""The three places that lean on framework internals, each with a switch (docs/ARCHITECTURE.md):

* ``config.handlers`` — the one-hop ASGI handler (``ASGI_ONE_HOP_HANDLER``);
* ``config.nearcache`` — the Redis-tracked near cache (``NEAR_CACHE_ENABLED``);
* ``realtime.consumers.ClientConsumer.dispatch`` — no thread hop per event (``WS_LEAN_DISPATCH``).

Each module names the framework code it relies on (``RELIES_ON``); this test pins the source of
each.  A Django/asgiref/Channels/redis-py upgrade that changes any of it fails here: re-read the
changed code against the module's docstring, then update the fingerprint (or turn the switch off).
"""

from __future__ import annotations

import hashlib
import importlib
import inspect

import pytest

from config import handlers, nearcache
from realtime import consumers

PINNED = {
    # Django 5.2.19, asgiref (Django's pin), redis-py 8.1.0, Channels 4.3.2.  Regenerate with
    # `DJANGO_SETTINGS_MODULE=config.settings python -m config.tests.test_framework_internals`
    # after re-reading the changed code.
    "django.core.handlers.asgi.ASGIHandler.__call__": "f756809e9c9308dc",
    "django.core.handlers.asgi.ASGIHandler.handle": "98faeb5bef800331",
    "django.core.handlers.base.BaseHandler.get_response_async": "ad82c920df0cebbb",
    "django.core.handlers.base.BaseHandler.load_middleware": "a1fb7ee5f8586195",
    "asgiref.sync.ThreadSensitiveContext": "da8ec00f861b8bdf",
    "redis._parsers.resp3._RESP3Parser": "f11f453846157182",
    "redis._parsers.socket.SocketBuffer.unread_bytes": "0d60955e0e97d503",
    "redis.connection.AbstractConnection.read_response": "695c899843302e31",
    "redis.connection.AbstractConnection.can_read": "e439afce7d4f3eaa",
    "redis.connection.AbstractConnection.connect": "3efda598d10dfdeb",
    "channels.consumer.AsyncConsumer.dispatch": "39f34e7d4fb0f655",
    "channels.consumer.get_handler_name": "c88c7b7d8763fb61",
    "channels.db.aclose_old_connections": "9120822dad6c8e90",
    "channels.generic.websocket.AsyncWebsocketConsumer.websocket_disconnect": "10f38aa55fd51ff5",
}


def _resolve(dotted: str):
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for name in parts[cut:]:
            obj = getattr(obj, name)
        return obj
    raise LookupError(dotted)


def fingerprint(dotted: str) -> str:
    return hashlib.sha256(inspect.getsource(_resolve(dotted)).encode()).hexdigest()[:16]


RELIED_ON = (*handlers.RELIES_ON, *nearcache.RELIES_ON, *consumers.DISPATCH_RELIES_ON)


@pytest.mark.parametrize("dotted", RELIED_ON)
def test_framework_internals_are_the_ones_read(dotted):
    assert PINNED.get(dotted) == fingerprint(dotted), (
        f"{dotted} changed (framework upgrade?): re-read it against the module that relies on it, "
        "then update PINNED"
    )


def test_every_pin_is_still_relied_on():
    assert set(PINNED) == set(RELIED_ON)


def test_switches_off_give_the_framework_path(settings):
    """With each switch off the framework's own code runs: Django's ASGIHandler, Channels' dispatch
    (which closes old connections per event), and the near cache delegates to the shared cache."""
    from django.core.handlers.asgi import ASGIHandler

    settings.ASGI_ONE_HOP_HANDLER = False
    app = handlers.get_asgi_application()
    assert type(app) is ASGIHandler
    settings.ASGI_ONE_HOP_HANDLER = True
    assert type(handlers.get_asgi_application()) is handlers.SyncChainASGIHandler

    settings.NEAR_CACHE = {**settings.NEAR_CACHE, "enabled": False}
    assert not nearcache.NearCache.active()


async def test_lean_dispatch_switch(settings, monkeypatch):
    """``WS_LEAN_DISPATCH=false``: every event goes through Channels' dispatch (which closes old
    database connections first); on, it does not."""
    import channels.consumer

    closed = []

    async def counting_close():
        closed.append(1)

    monkeypatch.setattr(channels.consumer, "aclose_old_connections", counting_close)
    consumer = consumers.ClientConsumer()
    seen = []

    async def handler(message):
        seen.append(message)

    consumer.test_event = handler
    settings.WS_LEAN_DISPATCH = True
    await consumer.dispatch({"type": "test.event"})
    assert len(seen) == 1 and closed == []
    settings.WS_LEAN_DISPATCH = False
    await consumer.dispatch({"type": "test.event"})
    assert len(seen) == 2 and closed == [1]


if __name__ == "__main__":
    for dotted in RELIED_ON:
        print(f'    "{dotted}": "{fingerprint(dotted)}",')
