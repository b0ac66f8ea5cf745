"""A real WebSocket client (the ``websockets`` library) for tests against real Daphne processes."""

from __future__ import annotations

import json
import random
import time

from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect


class WsClient:
    def __init__(self, server, token: str | None):
        self.server = server
        self.token = token
        self.seen: list[dict] = []
        # Browsers send Origin; the server only accepts origins whose host is in ALLOWED_HOSTS.
        self._cm = connect(server.ws_url, origin=f"http://127.0.0.1:{server.port}", proxy=None, open_timeout=10)
        self.conn = self._cm.__enter__()

    def auth(self) -> dict:
        self.send({"type": "auth", "token": self.token})
        return self.expect("auth.ok")

    def send(self, message: dict) -> None:
        self.conn.send(json.dumps(message))

    def expect(self, mtype: str, timeout: float = 10) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"no {mtype!r} within {timeout}s; saw {[m.get('type') for m in self.seen]}")
            try:
                raw = self.conn.recv(timeout=remaining)
            except TimeoutError:
                continue
            msg = json.loads(raw)
            self.seen.append(msg)
            if msg.get("type") == mtype:
                return msg

    def expect_any(self, timeout: float = 10) -> dict:
        """The next frame, whatever its type."""
        msg = json.loads(self.conn.recv(timeout=timeout))
        self.seen.append(msg)
        return msg

    def expect_closed(self, timeout: float = 10) -> int | None:
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline:
                self.seen.append(json.loads(self.conn.recv(timeout=max(0.01, deadline - time.monotonic()))))
        except ConnectionClosed as exc:
            return exc.rcvd.code if exc.rcvd else None
        except TimeoutError:
            pass
        raise AssertionError("socket still open")

    def close(self) -> None:
        try:
            self.conn.close()
        except Exception:  # noqa: BLE001
            pass


def signup(server, name: str) -> tuple[str, str]:
    """(token, public id) of a fresh guest, through the real HTTP API."""
    status, body = server.request("POST", "/api/auth/guest", {"name": name, "gender": "unspecified"})
    assert status == 201, body
    return body["token"], body["user"]["id"]


def wait_until(predicate, timeout: float = 15, what: str = "condition"):
    """Poll ``predicate`` (a database read, a probe) until true, bounded by ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)  # polling an external process's effect, bounded by the deadline
    raise AssertionError(f"timed out waiting for {what}")


def reconnect_delay(attempt: int, *, hint: float | None = None, in_room: bool = False) -> float:
    """Seconds to wait before reconnect attempt ``attempt`` (0, 1, 2 …), by REALTIME.md §7 — the
    rule the SDK's ``backoffDelay`` follows: between half and all of min(cap, 0.5 s × 2**attempt),
    the cap 8 s, or 2 s while in a room; a server hint (4429's ``retry_after``) instead spread over
    [hint, 2 × hint].  The Python clients of the tests and benchmarks use this one."""
    if hint is not None:
        return hint * (1 + random.random())
    ceiling = min(2.0 if in_room else 8.0, 0.5 * 2**attempt)
    return ceiling / 2 + random.random() * ceiling / 2
