"""Hostile text against a real Daphne process: raw requests and WebSocket frames carrying NUL or
a lone surrogate get 400 / ``invalid`` (never a 5xx, never a dropped socket)."""

from __future__ import annotations

import http.client
import json

import pytest

from tests.wsclient import WsClient, signup

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def _raw(server, method: str, target: str, body: bytes | None = None, headers: dict | None = None):
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        conn.request(method, target, body=body, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, resp.getheader("Content-Type"), resp.read()
    finally:
        conn.close()


def test_hostile_text_over_http_and_websocket(daphne_factory):
    server = daphne_factory()
    token, _ = signup(server, "Ann")
    auth = {"Authorization": f"Bearer {token}"}
    cases = [
        ("GET", "/api/referrals/%00", None, {}),
        ("GET", "/api/history?cursor=%00", None, auth),
        ("POST", "/api/auth/guest", b'{"name": "a\\u0000b"}', {"Content-Type": "application/json"}),
        ("POST", "/api/auth/guest", b'{"name": "\\ud800"}', {"Content-Type": "application/json"}),
        ("PATCH", "/api/me", b'{"bio": "\\udfff"}', {"Content-Type": "application/json", **auth}),
        ("POST", "/api/reports", b"details=%00", {"Content-Type": "application/x-www-form-urlencoded", **auth}),
    ]
    for method, target, body, headers in cases:
        status, ctype, raw = _raw(server, method, target, body, headers)
        assert status == 400 and ctype == "application/json", (target, status, raw[:200])
        assert json.loads(raw)["error"]["code"] == "invalid", (target, raw[:200])

    ws = WsClient(server, token)
    try:
        ws.auth()
        for frame in (
            {"type": "room.message", "client_id": "1", "body": "a\u0000b", "ref": 1},
            {"type": "room.message", "client_id": "2", "body": "\ud800", "ref": 2},
            {"type": "queue.get", "x": ["\u0000"], "ref": 3},
        ):
            ws.conn.send(json.dumps(frame))  # ASCII JSON: the escapes travel as text
            err = ws.expect("error")
            assert err["code"] == "invalid" and err["ref"] == frame["ref"], err
        ws.send({"type": "heartbeat"})
        ws.expect("heartbeat.ack")  # the socket carries on
    finally:
        ws.close()
