"""The AsyncAPI 3.0 document of ``/ws/``, generated from the definitions the server runs on:
server→client events from ``config.events``, client→server messages from ``realtime.protocol``.

The document describes the server: it *receives* the client's messages and *sends* events.
Message keys are ``client.<type>`` and ``server.<type>`` (some types, e.g. ``room.message`` and
``offer``, exist in both directions with different payloads); each message's ``name`` is the
wire ``type``, and its payload pins ``type`` with a ``const``.
"""

from __future__ import annotations

import copy
from functools import lru_cache

from django.conf import settings

from config import events
from realtime.protocol import CLIENT_MESSAGES

SCHEMAS = "#/components/schemas/"
CHANNEL = "ws"


def _key(direction: str, mtype: str) -> str:
    return f"{direction}.{mtype}"


def _op_id(direction: str, mtype: str) -> str:
    words = mtype.replace("-", ".").split(".")
    return ("receive" if direction == "client" else "send") + "".join(w[:1].upper() + w[1:] for w in words)


def _description() -> str:
    return f"""\
The realtime protocol of the campus chat backend: one WebSocket per tab/device at `/ws/`, JSON text
frames, each a JSON object with a string `type` (at most {settings.WS_MAX_FRAME_BYTES} bytes; binary
frames are answered with `error` `bad_frame`). This document describes the **server**: it
*receives* the client's messages and *sends* events. Prose, examples and the reconnect rules:
docs/REALTIME.md. Error codes (shared with the REST API): docs/ERRORS.md.

**Auth.** No token in the URL. The `Origin` header must name a host in the server's allowed hosts
(else HTTP 403 at the handshake). Within {settings.WS_AUTH_TIMEOUT_SECONDS} s of opening send
`auth {{token}}` (a session token from `POST /api/auth/guest` or `/api/auth/login`). Answer:
`auth.ok`, or close 4401 (bad/expired/revoked token, or no `auth` in time) or 4403 (banned).
Anything else before `auth.ok` gets `error` `not_authenticated`.

**Heartbeat.** Send `heartbeat` every `heartbeat_seconds` ({settings.PRESENCE_HEARTBEAT_SECONDS} s,
from `auth.ok`); the answer is `heartbeat.ack`, or close 4401 once the session was revoked or
expired. A socket that sends nothing for `offline_timeout_seconds`
({settings.PRESENCE_TIMEOUT_SECONDS} s) is closed with 4408 and counts as offline.

**Errors and `ref`.** Problems never close the socket: they come back as `error`. Any message may
carry `ref` (string or integer, at most 64 characters); the direct reply, or the `error` it caused,
echoes it. Unknown fields in client messages are ignored; clients must ignore unknown event types.

**Close codes.** {"; ".join(f"{code}: {text}" for code, text in events.CLOSE_CODES.items())}
Any other close (1006 …): reconnect with backoff."""


@lru_cache(maxsize=1)
def _static_document() -> dict:
    schemas: dict = {}
    messages: dict = {}
    operations: dict = {}
    channel_messages: dict = {}

    def ref_message(key: str) -> dict:
        return {"$ref": f"#/channels/{CHANNEL}/messages/{key}"}

    for mtype, spec in events.SERVER_EVENTS.items():
        key = _key("server", mtype)
        messages[key] = {
            "name": mtype,
            "title": mtype,
            "summary": spec.when,
            "contentType": "application/json",
            "payload": events.object_schema(spec.shape, schemas, ref_prefix=SCHEMAS, const_type=mtype),
        }
    for mtype, spec in CLIENT_MESSAGES.items():
        key = _key("client", mtype)
        payload = events.object_schema(spec.shape, schemas, ref_prefix=SCHEMAS, const_type=mtype, closed=False)
        payload["description"] = "Unknown fields are ignored."
        messages[key] = {
            "name": mtype,
            "title": mtype,
            "summary": spec.doc,
            "contentType": "application/json",
            "payload": payload,
        }
    for key in messages:
        channel_messages[key] = {"$ref": f"#/components/messages/{key}"}

    for mtype, spec in CLIENT_MESSAGES.items():
        op = {
            "action": "receive",
            "channel": {"$ref": f"#/channels/{CHANNEL}"},
            "summary": spec.doc,
            "messages": [ref_message(_key("client", mtype))],
        }
        if mtype != "auth" or spec.replies:
            replies = [*spec.replies, "error"] if mtype != "auth" else list(spec.replies)
            op["reply"] = {"channel": {"$ref": f"#/channels/{CHANNEL}"},
                           "messages": [ref_message(_key("server", r)) for r in replies]}
        operations[_op_id("client", mtype)] = op
    for mtype, spec in events.SERVER_EVENTS.items():
        operations[_op_id("server", mtype)] = {
            "action": "send",
            "channel": {"$ref": f"#/channels/{CHANNEL}"},
            "summary": spec.when,
            "messages": [ref_message(_key("server", mtype))],
        }

    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "Campus Chat realtime protocol",
            "version": settings.SPECTACULAR_SETTINGS["VERSION"],
            "description": _description(),
        },
        "defaultContentType": "application/json",
        "channels": {
            CHANNEL: {
                "address": "/ws/",
                "title": "The client's WebSocket",
                "description": "One socket per tab/device; every message of the protocol flows over it.",
                "messages": channel_messages,
                "bindings": {"ws": {"bindingVersion": "0.1.0"}},
            }
        },
        "operations": operations,
        "components": {
            "messages": messages,
            "schemas": schemas,
        },
        "x-close-codes": [{"code": code, "meaning": text} for code, text in events.CLOSE_CODES.items()],
        "x-heartbeat": {
            "send": "heartbeat",
            "every_seconds": settings.PRESENCE_HEARTBEAT_SECONDS,
            "offline_after_seconds": settings.PRESENCE_TIMEOUT_SECONDS,
            "close_code": events.CLOSE_HEARTBEAT_TIMEOUT,
        },
        "x-auth": {
            "send": "auth",
            "within_seconds": settings.WS_AUTH_TIMEOUT_SECONDS,
            "ok": "auth.ok",
            "close_codes": [events.CLOSE_AUTH_FAILED, events.CLOSE_BANNED],
        },
    }


def document(*, host: str | None = None, secure: bool = True) -> dict:
    """The AsyncAPI document; with ``host``, a ``servers`` entry for it (``wss``/``ws``)."""
    doc = copy.deepcopy(_static_document())
    if host:
        doc["servers"] = {
            "this": {
                "host": host,
                "protocol": "wss" if secure else "ws",
                "description": "The server that served this document.",
            }
        }
        doc["channels"][CHANNEL]["servers"] = [{"$ref": "#/servers/this"}]
    return doc
