"""The WebSocket protocol's inbound side: one shape and one validator per client→server type.

Each inbound type has a ``TypedDict`` (typed like the server→client events of ``config.events``,
with the same ``Annotated[..., Schema(...)]`` bounds) and the validator that enforces it, plus the
direct replies it gets (``CLIENT_MESSAGES``).  ``realtime.asyncapi`` builds the AsyncAPI document
from both sides; docs/REALTIME.md is the prose, and tests keep the three in step.
"""

# No ``from __future__ import annotations``: the ``TypedDict`` shapes need ``NotRequired`` evaluated.
import json
import uuid
from typing import Annotated, Any, Callable, NamedTuple, NotRequired, TypedDict

from config.events import (
    CLOSE_AUTH_FAILED as CLOSE_AUTH_FAILED,
    CLOSE_BANNED as CLOSE_BANNED,
    CLOSE_BUSY as CLOSE_BUSY,
    CLOSE_SLOW_READER as CLOSE_SLOW_READER,
    CLOSE_HEARTBEAT_TIMEOUT as CLOSE_HEARTBEAT_TIMEOUT,
    CLOSE_SERVER_RESTART as CLOSE_SERVER_RESTART,
    IceCandidate,
    InviteId,
    Mode,
    Schema,
    Uuid,
)

from config import unstorable


class ProtocolError(Exception):
    def __init__(self, code: str, message: str, fields: dict | None = None, ref: Any = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.fields = fields or {}
        self.ref = ref  # the frame's correlation value, when it was refused before ``validate``


def decode(text: str | None, *, max_bytes: int) -> dict:
    """Parse one text frame into a dict with a string ``type``; ``ProtocolError`` otherwise —
    ``invalid`` when any string in it (keys included) holds text no column can store
    (``config.unstorable``: NUL, lone surrogates), whatever the message type."""
    if text is None:
        raise ProtocolError("bad_frame", "Only text frames carrying JSON are accepted.")
    if len(text) > max_bytes or len(text.encode("utf-8", "surrogatepass")) > max_bytes:
        raise ProtocolError("too_large", f"Frames are limited to {max_bytes} bytes.")
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        raise ProtocolError("bad_json", "The frame is not valid JSON.") from None
    if not isinstance(data, dict):
        raise ProtocolError("bad_message", "A message is a JSON object.")
    mtype = data.get("type")
    if not isinstance(mtype, str) or not mtype:
        raise ProtocolError("bad_message", "A message needs a string 'type'.", {"type": ["Required."]})
    if unstorable.json_text_hint(text):  # rare: only then is the decoded frame walked
        where = unstorable.find(data, "frame")
        if where is not None:
            raise ProtocolError("invalid", unstorable.MESSAGE, {where: [unstorable.MESSAGE]}, ref=_ref(data))
    return data


def _ref(data: dict) -> Any:
    """The optional client correlation value, when it is a short string or an integer."""
    ref = data.get("ref")
    if ref is not None and not (isinstance(ref, (str, int)) and not isinstance(ref, bool) and len(str(ref)) <= 64):
        return None
    return ref


# --- field helpers ---------------------------------------------------------------------------
def _missing(name: str) -> ProtocolError:
    return ProtocolError("invalid", f"'{name}' is required.", {name: ["Required."]})


def _str(data: dict, name: str, *, max_len: int = 200, required: bool = True) -> str | None:
    value = data.get(name)
    if value is None:
        if required:
            raise _missing(name)
        return None
    if not isinstance(value, str) or not value or len(value) > max_len:
        raise ProtocolError("invalid", f"'{name}' must be a non-empty string.", {name: ["Invalid."]})
    return value


def _uuid(data: dict, name: str) -> str:
    value = _str(data, name, max_len=64)
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise ProtocolError("invalid", f"'{name}' must be an id.", {name: ["Not an id."]}) from None


def _invite_id(data: dict) -> str:
    value = _str(data, "invite_id", max_len=64)
    if not all(c in "0123456789abcdef" for c in value):
        raise ProtocolError("invalid", "'invite_id' is not an invite id.", {"invite_id": ["Invalid."]})
    return value


def _int(data: dict, name: str, *, required: bool = True, default: int | None = None, lo: int = 0, hi: int = 10**9) -> int:
    value = data.get(name)
    if value is None:
        if required:
            raise _missing(name)
        return default
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise ProtocolError("invalid", f"'{name}' must be an integer in [{lo}, {hi}].", {name: ["Invalid."]})
    return value


def _bool(data: dict, name: str) -> bool:
    value = data.get(name)
    if not isinstance(value, bool):
        raise ProtocolError("invalid", f"'{name}' must be true or false.", {name: ["Invalid."]})
    return value


# --- one validator per inbound type ----------------------------------------------------------
def _auth(d: dict) -> dict:
    return {"token": _str(d, "token", max_len=4096)}


def _empty(d: dict) -> dict:
    return {}


def _presence_set(d: dict) -> dict:
    return {"available": _bool(d, "available")}


def _queue_get(d: dict) -> dict:
    return {
        "offset": _int(d, "offset", required=False, default=0, hi=100_000),
        "limit": _int(d, "limit", required=False, default=50, lo=1, hi=100),
        "include_cooldown": bool(d.get("include_cooldown") is True),
        "nearby": bool(d.get("nearby") is True),
    }


def _queue_skip(d: dict) -> dict:
    return {"user": _uuid(d, "user")}


def _invite_send(d: dict) -> dict:
    mode = _str(d, "mode", max_len=8)
    if mode not in ("video", "text"):
        raise ProtocolError("invalid", "'mode' must be 'video' or 'text'.", {"mode": ["Invalid."]})
    return {"to": _uuid(d, "to"), "mode": mode, "seconds": _int(d, "seconds", lo=1, hi=86_400)}


def _invite_answer(d: dict) -> dict:
    return {"invite_id": _invite_id(d)}


def _room_relay(d: dict) -> dict:
    if "data" not in d:
        raise _missing("data")
    return {"data": d["data"]}


# --- in the room: chat, typing, WebRTC signaling ---------------------------------------------
def _room_message(d: dict) -> dict:
    body = d.get("body")
    if not isinstance(body, str):
        raise ProtocolError("invalid", "'body' must be a string.", {"body": ["Required."]})
    return {"client_id": _str(d, "client_id", max_len=64), "body": body}


def _room_replay(d: dict) -> dict:
    return {"after_id": _int(d, "after_id", required=False, default=0, hi=2**62)}


def _room_typing(d: dict) -> dict:
    return {"typing": _bool(d, "typing")}


def _signal_max() -> int:
    from django.conf import settings

    return settings.ROOM_SIGNAL_MAX_BYTES


def _sdp(d: dict) -> dict:
    sdp = d.get("sdp")
    if not isinstance(sdp, str) or not sdp:
        raise ProtocolError("invalid", "'sdp' must be a non-empty string.", {"sdp": ["Required."]})
    if len(sdp) > _signal_max():
        raise ProtocolError("too_large", f"'sdp' is limited to {_signal_max()} characters.", {"sdp": ["Too large."]})
    return {"sdp": sdp}


def _ice_candidate(d: dict) -> dict:
    """``candidate`` is an RTCIceCandidateInit object, or null for end-of-candidates."""
    if "candidate" not in d:
        raise _missing("candidate")
    c = d["candidate"]
    if c is None:
        return {"candidate": None}
    bad = ProtocolError("invalid", "'candidate' must be an RTCIceCandidateInit object or null.", {"candidate": ["Invalid."]})
    if not isinstance(c, dict) or not isinstance(c.get("candidate"), str):
        raise bad
    if len(c["candidate"]) > min(4096, _signal_max()):
        raise ProtocolError("too_large", "'candidate' is too large.", {"candidate": ["Too large."]})
    clean = {"candidate": c["candidate"]}
    for key, types, cap in (("sdpMid", (str,), 64), ("sdpMLineIndex", (int,), 65535), ("usernameFragment", (str,), 256)):
        value = c.get(key)
        if value is None:
            clean[key] = None
        elif isinstance(value, bool) or not isinstance(value, types) or (
            len(value) > cap if isinstance(value, str) else not 0 <= value <= cap
        ):
            raise bad
        else:
            clean[key] = value
    return {"candidate": clean}


# --- the shapes --------------------------------------------------------------------------------
Ref = Annotated[str | int, Schema(maxLength=64, description="echoed in the direct reply or error")]


class _In(TypedDict):
    ref: NotRequired[Ref]


class AuthIn(_In):
    token: Annotated[str, Schema(minLength=1, maxLength=4096, description="the session token (POST /api/auth/guest or /api/auth/login)")]


class EmptyIn(_In):
    pass


class PresenceSetIn(_In):
    available: bool


class QueueGetIn(_In):
    offset: NotRequired[Annotated[int, Schema(minimum=0, maximum=100_000, default=0)]]
    limit: NotRequired[Annotated[int, Schema(minimum=1, maximum=100, default=50)]]
    include_cooldown: NotRequired[Annotated[bool, Schema(default=False)]]
    nearby: NotRequired[Annotated[bool, Schema(default=False, description="nearest first")]]


class QueueSkipIn(_In):
    user: Uuid


class InviteSendIn(_In):
    to: Uuid
    mode: Mode
    seconds: Annotated[int, Schema(minimum=1, maximum=86_400, description="CALL_MIN_SECONDS–CALL_MAX_SECONDS (default 60–600)")]


class InviteAnswerIn(_In):
    invite_id: InviteId


class RoomRelayIn(_In):
    data: Annotated[Any, Schema(description="any JSON; relayed to the peer's sockets, not stored")]


class RoomMessageIn(_In):
    client_id: Annotated[str, Schema(minLength=1, maxLength=64, description="unique per message of yours in this room")]
    body: Annotated[str, Schema(description="trimmed; 1–2,000 characters (ROOM_MESSAGE_MAX_CHARS)")]


class RoomReplayIn(_In):
    after_id: NotRequired[Annotated[int, Schema(minimum=0, default=0)]]


class RoomTypingIn(_In):
    typing: bool


class SdpIn(_In):
    sdp: Annotated[str, Schema(minLength=1, maxLength=32_768, description="≤ ROOM_SIGNAL_MAX_BYTES (32 KB)")]


class IceCandidateIn(_In):
    candidate: Annotated[IceCandidate | None, Schema(description="null: end of candidates")]


class ClientMessage(NamedTuple):
    shape: type
    validate: Callable[[dict], dict]
    replies: tuple[str, ...]  # server→client types that answer it directly (``error`` always may)
    doc: str


CLIENT_MESSAGES: dict[str, ClientMessage] = {
    "auth": ClientMessage(AuthIn, _auth, ("auth.ok",), "the first message; within WS_AUTH_TIMEOUT_SECONDS of opening"),
    "heartbeat": ClientMessage(EmptyIn, _empty, ("heartbeat.ack",), "every `heartbeat_seconds`"),
    "presence.set": ClientMessage(PresenceSetIn, _presence_set, ("presence.state",), "join or leave the queue from this socket"),
    "queue.get": ClientMessage(QueueGetIn, _queue_get, ("queue.list",), "a page of the queue, as you see it"),
    "queue.skip": ClientMessage(QueueSkipIn, _queue_skip, ("queue.skipped",), "hide a user from your queue for this visit"),
    "invite.send": ClientMessage(InviteSendIn, _invite_send, (), "invite a user to a call (your sockets get `invite.sent`)"),
    "invite.accept": ClientMessage(InviteAnswerIn, _invite_answer, (), "accept an invite (both get `room.started`)"),
    "invite.decline": ClientMessage(InviteAnswerIn, _invite_answer, (), "decline an invite (both get `invite.declined`)"),
    "invite.cancel": ClientMessage(InviteAnswerIn, _invite_answer, (), "cancel your invite (both get `invite.cancelled`)"),
    "room.get": ClientMessage(EmptyIn, _empty, ("room.state",), "your live room, if any"),
    "room.end": ClientMessage(EmptyIn, _empty, (), "end your live room (both get `room.ended`)"),
    "room.relay": ClientMessage(RoomRelayIn, _room_relay, (), "ephemeral data to the peer's sockets"),
    "room.message": ClientMessage(RoomMessageIn, _room_message, ("room.message.ack",), "a chat message (stored, then acked)"),
    "room.replay": ClientMessage(RoomReplayIn, _room_replay, ("room.messages",), "the room's messages after `after_id`"),
    "room.typing": ClientMessage(RoomTypingIn, _room_typing, (), "typing indicator to the peer's sockets"),
    "offer": ClientMessage(SdpIn, _sdp, (), "WebRTC offer to the peer's sockets (video rooms)"),
    "answer": ClientMessage(SdpIn, _sdp, (), "WebRTC answer to the peer's sockets (video rooms)"),
    "ice-candidate": ClientMessage(IceCandidateIn, _ice_candidate, (), "a trickled ICE candidate to the peer's sockets"),
}
VALIDATORS: dict[str, Callable[[dict], dict]] = {t: m.validate for t, m in CLIENT_MESSAGES.items()}


def validate(data: dict) -> tuple[str, dict, Any]:
    """``(type, cleaned fields, ref)`` for a decoded message; ``ProtocolError`` when invalid.

    ``ref`` is an optional client correlation value echoed in the direct reply or error.
    """
    mtype = data["type"]
    validator = VALIDATORS.get(mtype)
    ref = _ref(data)
    if validator is None:
        raise ProtocolError("unknown_type", f"Unknown message type {mtype[:40]!r}.")
    return mtype, validator(data), ref
