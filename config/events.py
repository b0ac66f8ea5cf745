"""Every server→client WebSocket event, and the one way to send them.

Shared infrastructure below every app (it imports no app): services, flows and the consumer build
events only with the constructors here and send them only with the emitters here.

- **Shapes.** Each event is a ``TypedDict`` (its fields named once, typed); nested shapes
  (``Card``, ``Invite``, ``RoomView``, ``Message``) too.  ``Annotated[..., Schema(...)]`` adds
  JSON Schema keywords (formats, bounds).  ``realtime.asyncapi`` turns these into the AsyncAPI
  document served at ``/api/asyncapi.json``; tests validate real frames against it.
- **Constructors.** ``server_event("room.ended", RoomEnded)`` makes ``room_ended(*, room_id, …)``:
  a function with exactly the shape's keyword-only parameters (generated once at import, the way
  ``dataclasses`` makes ``__init__``) that returns the plain dict — a missing or unknown field is a
  ``TypeError`` at the call, and building an event costs one dict literal (the relay hot path).
- **Emitters.** ``send_after_commit`` / ``kick_after_commit`` (sync code: services, flows) run when
  the current transaction commits (at once outside one); ``publish`` is the same for async code
  that has already committed (the chat group commit) and for ephemeral room traffic.  A failing
  channel layer is logged and counted (``events_send_failed_total``), never raised: the write
  behind an event has committed, and a socket that misses an event recovers by replay/reconnect.
"""

# No ``from __future__ import annotations``: ``TypedDict`` computes ``__required_keys__`` from
# ``NotRequired``, which Python 3.11 does not see inside string annotations.
import keyword
import logging
import types
from typing import (
    Annotated, Any, Callable, Iterable, Literal, NotRequired, Required, TypedDict, Union, get_args, get_origin,
    get_type_hints, is_typeddict,
)

from asgiref.sync import async_to_sync
from config.aftercommit import after_commit
from config.channel_layer import RedisPubSubLayer

logger = logging.getLogger(__name__)


class Schema:
    """JSON Schema keywords for an ``Annotated`` field (``Annotated[str, Schema(format="uuid")]``)."""

    __slots__ = ("keywords",)

    def __init__(self, **keywords: Any) -> None:
        self.keywords = keywords


Uuid = Annotated[str, Schema(format="uuid")]
DateTime = Annotated[str, Schema(format="date-time", description="ISO 8601, UTC")]
InviteId = Annotated[str, Schema(pattern="^[0-9a-f]{32}$")]
Ref = Annotated[str | int, Schema(description="the `ref` of the message this answers (≤ 64 chars)")]
Mode = Literal["video", "text"]
Gender = Literal["female", "male", "nonbinary", "other", "unspecified"]
EndReason = Literal["user", "timer", "disconnect", "inactivity", "ban", "account_deleted"]
PresenceState = Literal["available", "online", "in_call"]


# --- close codes ---------------------------------------------------------------------------------
CLOSE_AUTH_FAILED = 4401
CLOSE_BANNED = 4403
CLOSE_HEARTBEAT_TIMEOUT = 4408
CLOSE_SLOW_READER = 4409
CLOSE_BUSY = 4429
CLOSE_SERVER_RESTART = 4503
CLOSE_CODES: dict[int, str] = {
    CLOSE_AUTH_FAILED: "authentication failed: bad, expired or revoked token, no `auth` within the deadline, "
    "or (answering a `heartbeat`) the session was revoked or expired meanwhile. Sign in again.",
    CLOSE_BANNED: "the account is banned (at auth, or later when a ban lands; `banned` may precede it). Don't reconnect.",
    CLOSE_HEARTBEAT_TIMEOUT: "no frame received for `offline_timeout_seconds` (heartbeats missing). Reconnect.",
    CLOSE_SLOW_READER: "the client stopped reading: more than WS_SEND_BUDGET_BYTES queued for it. Reconnect.",
    CLOSE_BUSY: "reconnect storm: too many sockets authenticating here (`error` `busy` with `retry_after` precedes it). "
    "Retry after that long.",
    CLOSE_SERVER_RESTART: "this server process is shutting down (`server.restarting` precedes it). Reconnect at once.",
}


# --- nested shapes --------------------------------------------------------------------------------
class Card(TypedDict):
    """A user's public card."""

    id: Uuid
    name: str
    gender: Gender
    bio: str
    instagram_handle: str
    photo_url: str | None
    intro_video_url: str | None
    instagram_posts: list[Annotated[str, Schema(format="uri")]]


class QueueCard(Card):
    """A queue entry: a card, until when you two are in cooldown (with ``include_cooldown``), and
    a distance bucket (e.g. "< 1 km") when both of you share a live location."""

    cooldown_until: DateTime | None
    distance: str | None


# ``from`` is a Python keyword: the functional syntax spells it.
Invite = TypedDict(
    "Invite",
    {"id": InviteId, "mode": Mode, "seconds": int, "expires_at": DateTime, "from": Card, "to": Card},
)
Invite.__doc__ = "A pending 20 s call invite."


class RoomView(TypedDict):
    """A live room as one participant sees it (``remaining_seconds``: the timer left)."""

    id: Uuid
    mode: Mode
    status: Literal["active", "grace"]
    duration_seconds: int
    started_at: DateTime
    ends_at: DateTime
    remaining_seconds: Annotated[int, Schema(minimum=0)]
    grace_deadline: DateTime | None
    peer: Card
    peer_connected: bool
    you_connected: bool


class Message(TypedDict):
    """A stored room chat message (``id`` grows in commit order; ``seq`` is 1, 2, 3 … per room)."""

    id: Annotated[int, Schema(minimum=1)]
    seq: Annotated[int, Schema(minimum=1)]
    room_id: Uuid
    sender: Uuid
    client_id: str
    body: str
    created_at: DateTime
    purged: NotRequired[Literal[True]]


class IceCandidate(TypedDict):
    """An RTCIceCandidateInit (unknown keys dropped)."""

    candidate: Annotated[str, Schema(maxLength=4096)]
    sdpMid: str | None
    sdpMLineIndex: int | None
    usernameFragment: str | None


# --- events -----------------------------------------------------------------------------------------
class _Reply(TypedDict):
    """A direct reply: echoes the ``ref`` of the message it answers, if that had one."""

    ref: NotRequired[Ref]


class AuthOk(TypedDict):
    user: Card
    heartbeat_seconds: int
    offline_timeout_seconds: int
    presence: Literal["online", "in_call"]
    room: RoomView | None


class Error(_Reply):
    code: str
    message: str
    fields: NotRequired[dict[str, Any]]
    retry_after: NotRequired[Annotated[int, Schema(minimum=1)]]
    cooldown_until: NotRequired[DateTime]
    until: NotRequired[DateTime | None]
    reason: NotRequired[str]


class HeartbeatAck(_Reply):
    server_time: DateTime


class PresenceStateReply(_Reply):
    state: PresenceState
    available: bool


class QueueList(_Reply):
    total: int
    offset: int
    limit: int
    results: list[QueueCard]


class QueueSkipped(_Reply):
    user: Uuid


class InviteEvent(TypedDict):
    invite: Invite


class InviteDone(TypedDict):
    invite_id: InviteId


class InviteFailed(TypedDict):
    invite_id: InviteId
    code: str
    message: str


class RoomEvent(TypedDict):
    room: RoomView


class RoomEnded(TypedDict):
    room_id: Uuid
    reason: EndReason
    ended_by_you: bool
    duration_seconds: int
    cooldown_until: DateTime


class RoomRelay(TypedDict):
    room_id: Uuid
    data: Any


class RoomMessageAck(_Reply):
    client_id: str
    message: Message


class RoomMessage(TypedDict):
    message: Message


class RoomMessages(_Reply):
    room_id: Uuid
    messages: list[Message]
    has_more: bool


class RoomTyping(TypedDict):
    room_id: Uuid
    typing: bool


class InactivityWarning(TypedDict):
    room_id: Uuid
    user: Uuid
    you: bool
    warning_started_at: DateTime
    deadline: DateTime


class InactivityCleared(TypedDict):
    room_id: Uuid
    user: Uuid


class Sdp(TypedDict):
    room_id: Uuid
    sdp: str


class IceCandidateEvent(TypedDict):
    room_id: Uuid
    candidate: IceCandidate | None


class RoomState(_Reply):
    room: RoomView | None


class Empty(TypedDict):
    pass


class BannedEvent(TypedDict):
    until: DateTime | None
    reason: str


class NotificationNew(TypedDict):
    id: int
    text: str


Appeal = TypedDict(
    "Appeal",
    {
        "id": int, "subject": Literal["ban", "warning"], "ban_id": int | None, "warning_id": int | None,
        "text": str, "status": Literal["pending", "approved", "rejected"], "created_at": DateTime,
        "decided_at": DateTime | None, "decision_reason": str,
    },
)
Appeal.__doc__ = "An appeal of a ban or a warning, as its author sees it."


# "Warning" on the wire and in the schema; not shadowing Python's ``Warning`` here.
ModerationWarning = TypedDict(
    "Warning",
    {
        "id": int, "text": str, "created_at": DateTime, "acknowledged_at": DateTime | None, "withdrawn": bool,
        "withdrawn_at": DateTime | None, "appealable_until": DateTime, "appeal": Appeal | None,
    },
)
ModerationWarning.__doc__ = "A moderator's warning (strike), as the warned user sees it."


class WarningReceived(TypedDict):
    warning: ModerationWarning


class AppealDecided(TypedDict):
    appeal: Appeal


# --- the registry and the constructors --------------------------------------------------------------
class EventSpec:
    __slots__ = ("type", "shape", "when", "constructor")

    def __init__(self, type_: str, shape: type, when: str, constructor: Callable[..., dict]) -> None:
        self.type, self.shape, self.when, self.constructor = type_, shape, when, constructor


SERVER_EVENTS: dict[str, EventSpec] = {}
_MISSING: Any = object()


def server_event(type_: str, shape: type, *, when: str) -> Callable[..., dict]:
    """Register ``type_`` with its shape; return its constructor (keyword-only, one per field)."""
    if type_ in SERVER_EVENTS:
        raise ValueError(f"event {type_!r} is defined twice")
    keys = list(shape.__annotations__)
    required = [k for k in keys if k in shape.__required_keys__]
    optional = [k for k in keys if k not in shape.__required_keys__]
    for key in keys:
        if not key.isidentifier() or keyword.iskeyword(key) or key == "type":
            raise ValueError(f"{shape.__name__}.{key} can't be a parameter name")
    name = type_.replace(".", "_").replace("-", "_")
    params = [*required, *(f"{k}=_MISSING" for k in optional)]
    items = ", ".join([f"'type': {type_!r}", *(f"{k!r}: {k}" for k in required)])
    lines = [f"def {name}({'*, ' if params else ''}{', '.join(params)}):", f"    d = {{{items}}}"]
    lines += [f"    if {k} is not _MISSING: d[{k!r}] = {k}" for k in optional]
    lines.append("    return d")
    namespace: dict[str, Any] = {}
    exec("\n".join(lines), {"_MISSING": _MISSING}, namespace)  # noqa: S102 - generated from the shape only
    constructor = namespace[name]
    constructor.__qualname__ = name
    constructor.__module__ = __name__
    constructor.__doc__ = f"``{type_}`` ({shape.__name__}): {when}"
    SERVER_EVENTS[type_] = EventSpec(type_, shape, when, constructor)
    return constructor


auth_ok = server_event("auth.ok", AuthOk, when="after `auth`")
error = server_event("error", Error, when="after a bad message (the socket stays open)")
heartbeat_ack = server_event("heartbeat.ack", HeartbeatAck, when="after `heartbeat`")
presence_state = server_event("presence.state", PresenceStateReply, when="after `presence.set`")
queue_list = server_event("queue.list", QueueList, when="after `queue.get`")
queue_skipped = server_event("queue.skipped", QueueSkipped, when="after `queue.skip`")
invite_sent = server_event("invite.sent", InviteEvent, when="on all the sender's sockets")
invite_received = server_event("invite.received", InviteEvent, when="on all the target's sockets")
invite_declined = server_event("invite.declined", InviteDone, when="both sides")
invite_cancelled = server_event("invite.cancelled", InviteDone, when="both sides")
invite_expired = server_event("invite.expired", InviteDone, when="both sides, 20 s after sending")
invite_failed = server_event(
    "invite.failed", InviteFailed, when="the inviter, when the accept could not create the room"
)
room_started = server_event("room.started", RoomEvent, when="both, when an invite is accepted")
room_resumed = server_event(
    "room.resumed", RoomEvent, when="you reconnected while your room was live; both when a participant came back"
)
room_peer_disconnected = server_event(
    "room.peer_disconnected", RoomEvent, when="the peer's last socket went away (the room is in grace)"
)
room_ended = server_event("room.ended", RoomEnded, when="both, exactly once per room")
room_relay = server_event("room.relay", RoomRelay, when="the peer relayed something")
room_message_ack = server_event(
    "room.message.ack", RoomMessageAck, when="after your `room.message`, once it is committed"
)
room_message = server_event("room.message", RoomMessage, when="the peer (or another socket of yours) sent a message")
room_messages = server_event("room.messages", RoomMessages, when="after `room.replay`")
room_typing = server_event("room.typing", RoomTyping, when="the peer is (not) typing")
room_inactivity_warning = server_event(
    "room.inactivity_warning", InactivityWarning, when="both, text rooms: `user` has been silent too long"
)
room_inactivity_cleared = server_event(
    "room.inactivity_cleared", InactivityCleared, when="both: the warned user sent a message"
)
offer = server_event("offer", Sdp, when="WebRTC signaling from the peer")
answer = server_event("answer", Sdp, when="WebRTC signaling from the peer")
ice_candidate = server_event("ice-candidate", IceCandidateEvent, when="WebRTC signaling from the peer")
room_state = server_event("room.state", RoomState, when="after `room.get`")
server_restarting = server_event(
    "server.restarting", Empty, when="just before a 4503 close: this process is shutting down"
)
banned = server_event("banned", BannedEvent, when="just before a 4403 close: a ban landed")
notification_new = server_event(
    "notification.new", NotificationNew, when="a durable notification (e.g. a referral intro) was created for you"
)
warning_received = server_event(
    "warning.received", WarningReceived, when="every socket of yours, when a moderator warns you"
)
appeal_decided = server_event(
    "appeal.decided", AppealDecided, when="every socket of yours, when a moderator decides your appeal"
)

# Direct replies that may echo ``ref`` (``docs/REALTIME.md`` §2).
REPLY_TYPES = frozenset(t for t, spec in SERVER_EVENTS.items() if "ref" in spec.shape.__annotations__)


# --- channel-layer groups (the one place their names are spelled) -----------------------------------
def user_group(user_id: int) -> str:
    """Every socket of one user, on every process."""
    return f"user.{user_id}"


def room_group(room_id) -> str:
    """Both participants' sockets of a live room."""
    return f"room.{room_id}"


# --- channel-layer envelopes (what ``realtime.consumers`` handles) -----------------------------------
def user_envelope(message: dict) -> dict:
    """``client.send``: forward ``message`` to the socket (joining/leaving room groups on the way)."""
    return {"type": "client.send", "message": message}


def kick_envelope(code: int, message: dict | None, reason: str = "", sessions: list[int] | None = None) -> dict:
    """``client.kick``: send ``message`` if any, then close with ``code`` (and ``reason``).  With
    ``sessions``, only the sockets authenticated with one of those API sessions close (it goes to
    the user's group: one subscription per socket instead of one per user and one per session)."""
    return {"type": "client.kick", "code": code, "message": message, "reason": reason, "sessions": sessions}


def room_envelope(room_id: str, message: dict, *, skip_user: int | None = None, skip_channel: str | None = None) -> dict:
    """``room.event``: to the sockets in the room group that are in room ``room_id`` — except the
    sender's own sockets (``skip_user``: relays, typing, signaling) or the sending socket
    (``skip_channel``: chat, which the sender's other sockets do get)."""
    return {"type": "room.event", "room_id": room_id, "message": message, "skip_user": skip_user, "skip_channel": skip_channel}


# --- emitters ----------------------------------------------------------------------------------------
def _failed(group: str, event: dict, exc: Exception) -> None:
    from config import metrics
    from config.resilience import is_redis_unavailable, redis_state

    metrics.inc("events_send_failed_total")
    message = event.get("message") or {}
    if is_redis_unavailable(exc):
        # a Redis outage loses the notice (sockets resynchronise through ``auth.ok`` / ``room.get``
        # once it is back), never the committed write it announces
        redis_state.failed(exc)
        logger.warning("channel layer unavailable: %s to %s not sent", message.get("type"), group)
    else:
        logger.exception("channel layer send to %s failed (%s)", group, message.get("type"))


def _layer():
    from channels.layers import get_channel_layer

    return get_channel_layer()


def _send_now(sends: list[tuple[str, dict]]) -> None:
    """Publish ``sends`` from sync code: one hop to the event loop for all of them (a batch of a
    thousand reconnects publishes its ``room.resumed`` events together), each failure logged alone."""
    layer = _layer()
    if layer is None or not sends:
        return
    try:
        if isinstance(layer, RedisPubSubLayer) and layer.can_publish_sync():
            layer.publish_many_sync(sends)  # one pipeline, no hop (config/channel_layer.py)
        else:
            async_to_sync(_publish_all)(layer, sends)
    except Exception as exc:  # noqa: BLE001 - the write committed; never turn it into an error
        for group, event in sends:
            _failed(group, event, exc)


async def _publish_all(layer, sends: list[tuple[str, dict]]) -> None:
    for group, event in sends:
        try:
            await layer.group_send(group, event)
        except Exception as exc:  # noqa: BLE001 - see _send_now
            _failed(group, event, exc)


def _user_ids(users: int | Iterable[int]) -> list[int]:
    return [users] if isinstance(users, int) else list(users)


def send_after_commit(*, users: int | Iterable[int], message: dict) -> None:
    """Deliver ``message`` to every socket of ``users`` (one id or several) on every process, once
    the current transaction commits (at once outside a transaction; never if it rolls back)."""
    sends = [(user_group(uid), user_envelope(message)) for uid in _user_ids(users)]
    after_commit(lambda: _send_now(sends), effect="events.send")


def send_many_after_commit(*, messages: Iterable[tuple[int | Iterable[int], dict]]) -> None:
    """``send_after_commit`` for many ``(users, message)`` at once: one after-commit effect, one
    hop to the event loop for all of them (a batch's events)."""
    sends = [(user_group(uid), user_envelope(message)) for users, message in messages for uid in _user_ids(users)]
    if sends:
        after_commit(lambda: _send_now(sends), effect="events.send")


def kick_after_commit(*, users: int | Iterable[int], code: int, message: dict | None = None, reason: str = "") -> None:
    """After commit: send ``message`` (if any) to every socket of ``users``, then close them with ``code``."""
    sends = [(user_group(uid), kick_envelope(code, message, reason)) for uid in _user_ids(users)]
    after_commit(lambda: _send_now(sends), effect="events.kick")


def kick_sessions_after_commit(*, user: int, sessions: Iterable[int], code: int, reason: str = "") -> None:
    """After commit: close every socket of ``user`` authenticated with one of ``sessions``
    (revocation: 4401)."""
    sessions = sorted(sessions)
    sends = [(user_group(user), kick_envelope(code, None, reason, sessions=sessions))] if sessions else []
    if sends:
        after_commit(lambda: _send_now(sends), effect="events.kick")


async def publish(
    *, message: dict, users: Iterable[int] = (), room_id: str | None = None,
    skip_user: int | None = None, skip_channel: str | None = None, ephemeral: bool = False, layer=None,
) -> None:
    """From async code, now: ``message`` to every socket of ``users`` and/or to room ``room_id``
    (``room_envelope``).  Callers that wrote something call it only after their commit; their
    send never raises.  ``ephemeral`` traffic (relays, typing, signaling: nothing was written)
    lets a channel-layer failure propagate, so the sender hears that it was not delivered."""
    layer = layer or _layer()
    if layer is None:
        return
    sends = [(user_group(uid), user_envelope(message)) for uid in users]
    if room_id is not None:
        sends.insert(0, (room_group(room_id), room_envelope(room_id, message, skip_user=skip_user, skip_channel=skip_channel)))
    for group, event in sends:
        try:
            await layer.group_send(group, event)
        except Exception as exc:
            if ephemeral:
                raise
            _failed(group, event, exc)  # see the module docstring


# --- JSON Schema of the shapes (for ``realtime.asyncapi``) ----------------------------------------------
def json_schema(tp: Any, defs: dict[str, Any], *, ref_prefix: str = "#/components/schemas/") -> dict:
    """The JSON Schema of a type annotation.  Named ``TypedDict`` shapes go into ``defs`` (by class
    name) and are referenced; everything else is inlined."""
    origin = get_origin(tp)
    if origin is Annotated:
        base, *meta = get_args(tp)
        schema = dict(json_schema(base, defs, ref_prefix=ref_prefix))
        for m in meta:
            if isinstance(m, Schema):
                schema.update(m.keywords)
        return schema
    if origin in (NotRequired, Required):
        return json_schema(get_args(tp)[0], defs, ref_prefix=ref_prefix)
    if tp is Any:
        return {}
    if tp is None or tp is type(None):
        return {"type": "null"}
    simple = {str: "string", bool: "boolean", int: "integer", float: "number"}
    if tp in simple:
        return {"type": simple[tp]}
    if origin is Literal:
        values = list(get_args(tp))
        return {"const": values[0]} if len(values) == 1 else {"enum": values}
    if origin in (Union, types.UnionType):
        return {"anyOf": [json_schema(a, defs, ref_prefix=ref_prefix) for a in get_args(tp)]}
    if origin is list:
        return {"type": "array", "items": json_schema(get_args(tp)[0], defs, ref_prefix=ref_prefix)}
    if origin is dict:
        return {"type": "object", "additionalProperties": json_schema(get_args(tp)[1], defs, ref_prefix=ref_prefix)}
    if is_typeddict(tp):
        name = tp.__name__
        if name not in defs:
            defs[name] = {}  # placeholder: a shape that contains itself still terminates
            defs[name] = object_schema(tp, defs, ref_prefix=ref_prefix)
        return {"$ref": ref_prefix + name}
    raise TypeError(f"no JSON Schema for {tp!r}")


def object_schema(shape: type, defs: dict[str, Any], *, ref_prefix: str = "#/components/schemas/",
                  const_type: str | None = None, closed: bool = True) -> dict:
    """A ``TypedDict`` as a JSON object schema (``const_type``: a ``type`` property with that const;
    ``closed``: no other properties — what the server sends is exactly its shape)."""
    hints = get_type_hints(shape, include_extras=True)
    properties: dict[str, Any] = {}
    required: list[str] = []
    if const_type is not None:
        properties["type"] = {"type": "string", "const": const_type}
        required.append("type")
    for key, tp in hints.items():
        properties[key] = json_schema(tp, defs, ref_prefix=ref_prefix)
        if key in shape.__required_keys__:
            required.append(key)
    schema: dict[str, Any] = {"type": "object", "properties": properties, "required": required}
    if closed:
        schema["additionalProperties"] = False
    doc = shape.__dict__.get("__doc__")
    if doc:
        schema["description"] = " ".join(doc.split())
    return schema
