"""Helpers for consumer tests: real consumer app, real channel layer, real cache."""

from __future__ import annotations

import asyncio

import pytest
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator

from realtime.routing import websocket_urlpatterns

APP = URLRouter(websocket_urlpatterns)


class Client:
    """A WebSocket client of the consumer with a message inbox."""

    def __init__(self, token: str | None):
        self.token = token
        self.comm = WebsocketCommunicator(APP, "/ws/")
        self.seen: list[dict] = []

    async def open(self, auth: bool = True) -> dict | None:
        connected, _ = await self.comm.connect()
        assert connected
        if auth:
            await self.send({"type": "auth", "token": self.token})
            return await self.expect("auth.ok")
        return None

    async def send(self, message: dict) -> None:
        await self.comm.send_json_to(message)

    async def send_text(self, text: str) -> None:
        await self.comm.send_to(text_data=text)

    async def recv(self, timeout: float = 3) -> dict:
        out = await self.comm.receive_output(timeout)
        if out["type"] == "websocket.close":
            raise ConnectionClosed(out.get("code"))
        import json

        msg = json.loads(out["text"])
        self.seen.append(msg)
        return msg

    async def expect(self, mtype: str, timeout: float = 3) -> dict:
        """Next message of ``mtype`` (other types in between are kept in ``seen``)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise AssertionError(f"no {mtype!r} within {timeout}s; saw {[m.get('type') for m in self.seen]}")
            msg = await self.recv(remaining)
            if msg.get("type") == mtype:
                return msg
            if msg.get("type") == "error" and mtype != "error":
                raise AssertionError(f"error while waiting for {mtype}: {msg}")

    async def expect_close(self, timeout: float = 3) -> int | None:
        while True:
            out = await self.comm.receive_output(timeout)
            if out["type"] == "websocket.close":
                return out.get("code")

    async def request(self, message: dict, reply: str, timeout: float = 3) -> dict:
        await self.send(message)
        return await self.expect(reply, timeout)

    async def nothing(self, timeout: float = 0.2) -> bool:
        return await self.comm.receive_nothing(timeout)

    async def close(self) -> None:
        await self.comm.disconnect()


class ConnectionClosed(Exception):
    pass


@pytest.fixture
def ws_user(make_user, make_session):
    """``await ws_user(name)`` → (user, token), created in a worker thread (ORM is sync-only)."""
    from channels.db import database_sync_to_async as sync_to_async  # closes its connection after

    def _make(name: str | None = None, **kw):
        user = make_user(name, **kw)
        _, token = make_session(user)
        return user, token

    async def _amake(name: str | None = None, **kw):
        return await sync_to_async(_make)(name, **kw)

    return _amake


@pytest.fixture
async def clients():
    """Clients opened in a test are closed at its end."""
    opened: list[Client] = []

    def _client(token):
        c = Client(token)
        opened.append(c)
        return c

    yield _client
    for c in opened:
        try:
            await c.close()
        except Exception:  # noqa: BLE001 - already closed by the server
            pass
