"""``/ws/``: transport only.  Authenticates the first message, validates every frame
(``realtime.protocol``), calls services through ``database_sync_to_async`` and forwards
channel-layer events.  Domain errors come back as ``{"type": "error", ...}``; the socket stays open.
"""

from __future__ import annotations

import asyncio
import json
import logging

from asgiref.sync import sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from channels.consumer import get_handler_name
from channels.exceptions import StopConsumer
from django.conf import settings

from config import clock, events, metrics
from config.errors import ApplicationError
from config.channel_layer import layer_receiving
from config.resilience import RETRY_AFTER_SECONDS, RedisUnavailable, is_unavailable, unavailable_body
from realtime import backpressure, calls, runtime, signaling
from realtime.asyncdb import database_sync_to_async
from realtime import services as rt
from realtime.protocol import (
    CLOSE_AUTH_FAILED,
    CLOSE_BUSY,
    CLOSE_HEARTBEAT_TIMEOUT,
    CLOSE_SERVER_RESTART,
    CLOSE_SLOW_READER,
    CLIENT_MESSAGES,
    ProtocolError,
    decode,
    validate,
)
from social import services as social

logger = logging.getLogger(__name__)


_ERROR_EXTRAS = events.Error.__optional_keys__


def _dumps(message: dict) -> str:
    return json.dumps(message, separators=(",", ":"), default=str)


# Channels internals the lean ``dispatch`` stands in for (what it skips and what it must still do).
DISPATCH_RELIES_ON = (
    "channels.consumer.AsyncConsumer.dispatch",
    "channels.consumer.get_handler_name",
    "channels.db.aclose_old_connections",
    "channels.generic.websocket.AsyncWebsocketConsumer.websocket_disconnect",
)


class ClientConsumer(AsyncWebsocketConsumer):
    user = None
    user_id: int | None = None
    room_id: str | None = None
    room_mode: str | None = None
    available = False
    _auth_timer: asyncio.TimerHandle | None = None
    _authing = False
    _budget: backpressure.SendBudget | None = None
    _slow = False
    session_id: int | None = None
    _refused = False  # closed for an invalid session: later frames are dropped unread

    async def dispatch(self, message):
        # Channels' default runs ``close_old_connections()`` on the shared sync thread before every
        # event: a thread hop per frame and per channel-layer event (the biggest single cost of a
        # chat message on the event loop).  This consumer never uses the database on that thread:
        # every call runs on a pool thread that hands its connection back when it returns
        # (``realtime.asyncdb``, ``realtime.signaling``), so there is nothing to clean up here.
        # Relies on ``DISPATCH_RELIES_ON`` (pinned by config/tests/test_framework_internals.py);
        # ``WS_LEAN_DISPATCH=false`` goes through Channels' own dispatch.
        if not settings.WS_LEAN_DISPATCH:
            return await super().dispatch(message)
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError("No handler for message type %s" % message["type"])
        await handler(message)

    async def websocket_disconnect(self, message):
        # Channels' version leaves ``self.groups`` (none here), calls ``disconnect`` and then
        # ``aclose_old_connections()`` — the same per-event thread hop ``dispatch`` skips, once per
        # closed socket.  ``WS_LEAN_DISPATCH=false`` goes through it.
        if not settings.WS_LEAN_DISPATCH:
            return await super().websocket_disconnect(message)
        await self.disconnect(message["code"])
        raise StopConsumer()

    # --- life cycle ------------------------------------------------------------------------
    async def connect(self):
        self.last_seen = clock.monotonic()
        if runtime.stopping():  # shutting down: the client reconnects to another process
            await self.close(code=CLOSE_SERVER_RESTART)
            return
        await self.accept()
        self._budget = backpressure.attach(self.base_send, settings.WS_SEND_BUDGET_BYTES)
        metrics.inc("ws_connects_total")
        metrics.gauge_add("ws_connections", 1)
        self._counted = True
        self._auth_deadline(settings.WS_AUTH_TIMEOUT_SECONDS)

    def _auth_deadline(self, seconds: float, code: int = CLOSE_AUTH_FAILED, reason="auth timeout") -> None:
        """Close the socket (``code``) if it is still not authenticated ``seconds`` from now (a
        timer, not a task per socket: most never fire)."""
        self._auth_deadline_cancel()
        self._auth_timer = asyncio.get_running_loop().call_later(seconds, self._auth_deadline_passed, code, reason)

    def _auth_unavailable(self) -> None:
        """``auth`` could not be served (the database or Redis unreachable): the socket stays open
        and unauthenticated for the client to send ``auth`` again after ``retry_after`` — closed
        only if it then stays silent like any silent socket (4408), never as a bad token (4401),
        after which a client would give up (docs/REALTIME.md §1)."""
        self._authing = False
        self._auth_deadline(settings.PRESENCE_TIMEOUT_SECONDS, code=CLOSE_HEARTBEAT_TIMEOUT, reason="heartbeat timeout")

    def _auth_deadline_cancel(self) -> None:
        if self._auth_timer is not None:
            self._auth_timer.cancel()
            self._auth_timer = None

    def _auth_deadline_passed(self, code: int, reason: str) -> None:
        self._auth_timer = None
        if self.user_id is None:
            asyncio.ensure_future(self.close(code=code, reason=reason))

    async def disconnect(self, code):
        self._auth_deadline_cancel()
        if getattr(self, "_counted", False):
            self._counted = False
            metrics.gauge_add("ws_connections", -1)
        if self.user_id is None:
            return
        runtime.unregister(self)
        await self._discard(events.user_group(self.user_id))
        if self.room_id:
            await self._discard(events.room_group(self.room_id))
        if getattr(self, "released", False):  # graceful shutdown already released this user
            return
        try:
            await runtime.CLOSED.call((self.user_id, self.channel_name))
        except Exception:  # the sweeper's lease expiry covers a failure here
            logger.exception("socket_closed failed for user %s", self.user_id)

    async def send(self, text_data=None, bytes_data=None, close=False):
        # A client that stopped reading: past its budget the socket is closed (4409), never
        # buffered for without bound; its disconnect puts the room into grace as usual.
        if self._slow:
            return
        if self._budget is not None and text_data is not None and self._budget.over(len(text_data)):
            self._slow = True
            metrics.inc("ws_slow_reader_closes_total")
            logger.warning("closing a slow reader (user %s): send budget exceeded", self.user_id)
            await self.close(code=CLOSE_SLOW_READER)
            return
        await super().send(text_data=text_data, bytes_data=bytes_data, close=close)

    # --- inbound -----------------------------------------------------------------------------
    async def receive(self, text_data=None, bytes_data=None):
        self.last_seen = clock.monotonic()
        ref = None
        try:
            if self.user_id is not None and not await self._session_valid():
                return  # the session was revoked or expired: the socket is being closed (4401)
            data = decode(text_data, max_bytes=settings.WS_MAX_FRAME_BYTES)
            ref = data.get("ref") if isinstance(data.get("ref"), (str, int)) else None
            mtype, fields, ref = validate(data)
            if self.user_id is None:
                if mtype != "auth":
                    raise ProtocolError("not_authenticated", "Send {'type': 'auth', 'token': ...} first.")
                await self._auth(fields["token"])
                return
            if mtype == "auth":
                raise ProtocolError("already_authenticated", "This socket is already authenticated.")
            if not CLIENT_MESSAGES[mtype].replies and not layer_receiving(self.channel_layer):
                # answered only through the channel layer, which isn't subscribed again yet after
                # a Redis outage: the answer would be lost, so say "retry" (config/channel_layer.py)
                raise RedisUnavailable()
            handler = getattr(self, "on_" + mtype.replace(".", "_").replace("-", "_"))
            reply = await handler(**fields)
            if reply is not None:
                if ref is not None:
                    reply["ref"] = ref
                await self.send(text_data=_dumps(reply))
        except ProtocolError as exc:
            await self._error(exc.code, exc.message, exc.ref if ref is None else ref, fields=exc.fields)
        except ApplicationError as exc:
            await self._error(exc.code, exc.message, ref, fields=exc.fields, **exc.extra)
        except Exception as exc:
            if is_unavailable(exc):  # Redis (or the database) unreachable: degraded, socket kept
                error = unavailable_body(exc)["error"]  # logged and counted like an HTTP 503
                await self._error(error["code"], error["message"], ref, retry_after=RETRY_AFTER_SECONDS)
                return
            logger.exception("websocket handler failed")
            await self._error("server_error", "Something went wrong on our side.", ref)

    async def _discard(self, group: str) -> None:
        """Leave a group; with Redis unreachable there is nothing to leave (the subscription went
        with the connection), and the socket's clean-up must go on."""
        try:
            await self.channel_layer.group_discard(group, self.channel_name)
        except Exception as exc:
            if not is_unavailable(exc):
                raise

    async def _error(self, code: str, message: str, ref=None, **extra):
        # only the extras the ``error`` event declares (``retry_after``, ``cooldown_until`` …)
        extra = {k: v for k, v in extra.items() if v and k in _ERROR_EXTRAS}
        if ref is not None:
            extra["ref"] = ref
        await self.send(text_data=_dumps(events.error(code=code, message=message, **extra)))

    async def _session_valid(self) -> bool:
        """Every frame of an authenticated socket: is its session still valid?  This process's
        copy of the session cache answers without I/O; only a miss asks in a pool thread (the
        shared cache, then the database).  Invalid → close 4401."""
        if self._refused:
            return False
        if rt.socket_session_live_here(token_hash=self._token_hash):
            return True
        if await database_sync_to_async(rt.socket_session_valid)(token=self._token, user_id=self.user_id):
            return True
        self._refused = True
        await self.close(code=CLOSE_AUTH_FAILED, reason="session revoked")
        return False

    async def _auth(self, token: str):
        if self._authing:
            raise ProtocolError("already_authenticated", "Authentication is in progress.")
        self._authing = True
        # The deadline is for the client to send ``auth``; once it has, a reconnect storm that
        # makes our answer slow must not close the socket as if the token were bad.
        self._auth_deadline_cancel()
        retry_after = runtime.auth_admit()
        if retry_after is not None:  # a reconnect storm: come back later (the client backs off)
            await self._error("busy", "Too many reconnects at once; retry later.", retry_after=retry_after)
            await self.close(code=CLOSE_BUSY)
            return
        try:
            await self._auth_admitted(token)
        finally:
            runtime.auth_done()

    async def _auth_admitted(self, token: str):
        try:
            result = await runtime.AUTHENTICATE.call(token)
        except Exception:  # e.g. the database is down: ``unavailable``, the client sends ``auth`` again
            self._auth_unavailable()
            raise
        if result.user is None:
            await self.close(code=result.close_code, reason=result.reason)
            return
        # The user's group and presence need Redis: while it is unreachable the socket stays open
        # and unauthenticated (``unavailable``; its token was valid), and the client sends ``auth``
        # again after ``retry_after``; one that stays silent is closed like any silent socket.
        # A revocation closes every socket of the session or of the user (through the user's
        # group) after its commit; one that committed before this join is caught by the check.
        try:
            await self.channel_layer.group_add(events.user_group(result.user.pk), self.channel_name)
            self.user, self.user_id = result.user, result.user.pk
            self.session_id, self._token, self._token_hash = result.session_id, token, result.token_hash
            # the session is checked again now that the socket is in its user's group (a
            # revocation that committed before the join could not reach it): in the READY batch,
            # unless this process's copy of the session answers at once
            live_here = rt.socket_session_live_here(token_hash=self._token_hash)
            ok = await runtime.READY.call((self.user, self.channel_name, None if live_here else token))
            if ok is None:
                self._refused = True
                await self.close(code=CLOSE_AUTH_FAILED, reason="session revoked")
                return
            # registered (its lease renewed by this process) once connected: a renewal between
            # would find the participant still disconnected and reconnect it a second time
            runtime.register(self)
        except Exception:
            runtime.unregister(self)
            self.user = self.user_id = None
            await self._discard(events.user_group(result.user.pk))
            self._auth_unavailable()
            raise
        if ok["room"]:
            await self._join_room(ok["room"]["id"], mode=ok["room"].get("mode"))
        await self.send(text_data=_dumps(ok))

    # --- handlers: one per inbound type ----------------------------------------------------------
    async def on_heartbeat(self):
        # ``receive`` has just checked the session (every frame is checked), so the token is not
        # checked again; the presence write goes with the other sockets' in one round trip.
        await runtime.HEARTBEAT.call((self.user_id, self.channel_name, self.available))
        return events.heartbeat_ack(server_time=clock.now().isoformat())

    async def on_presence_set(self, available: bool):
        self.available = available
        state = await database_sync_to_async(rt.socket_presence_set)(
            user_id=self.user_id, socket_id=self.channel_name, available=available
        )
        return events.presence_state(state=state, available=available)

    async def on_queue_get(self, offset: int, limit: int, include_cooldown: bool, nearby: bool):
        page = await database_sync_to_async(rt.queue_page)(
            user_id=self.user_id, offset=offset, limit=limit, include_cooldown=include_cooldown, nearby=nearby
        )
        return events.queue_list(**page)

    async def on_queue_skip(self, user: str):
        await database_sync_to_async(rt.queue_skip)(user_id=self.user_id, other_public_id=user)
        return events.queue_skipped(user=user)

    async def on_invite_send(self, to: str, mode: str, seconds: int):
        await database_sync_to_async(calls.invite_send)(sender=self.user, to_public_id=to, mode=mode, seconds=seconds)
        return None  # the sender's sockets all get invite.sent

    async def on_invite_accept(self, invite_id: str):
        await database_sync_to_async(calls.invite_accept)(user=self.user, invite_id=invite_id)
        return None  # both sides get room.started

    async def on_invite_decline(self, invite_id: str):
        await database_sync_to_async(calls.invite_decline)(user=self.user, invite_id=invite_id)

    async def on_invite_cancel(self, invite_id: str):
        await database_sync_to_async(calls.invite_cancel)(user=self.user, invite_id=invite_id)

    async def on_room_get(self):
        room = await database_sync_to_async(rt.room_state)(user_id=self.user_id)
        return events.room_state(room=room)

    async def on_room_end(self):
        await database_sync_to_async(social.room_end_by_user)(user_id=self.user_id)
        return None  # both sides get room.ended

    async def on_room_relay(self, data):
        # Ephemeral, opaque payload to the peer's sockets (the transport that room chat and
        # WebRTC signaling build on).  No database: the room id is known from room events.
        if self.room_id is None:
            raise ProtocolError("not_in_room", "You are not in a call.")
        await events.publish(
            message=events.room_relay(room_id=self.room_id, data=data), room_id=self.room_id,
            skip_user=self.user_id, ephemeral=True, layer=self.channel_layer,
        )

    # --- in the room: chat (persisted), typing and WebRTC signaling (relayed) ---------------------
    async def on_room_message(self, client_id: str, body: str):
        message, created, notices = await signaling.chat_send(
            user_id=self.user_id, sender_public_id=self.user.public_id, connection_id=self.channel_name,
            client_id=client_id, body=body,
        )
        if created:  # committed: the peer's sockets (and my other ones) get it
            await events.publish(
                message=events.room_message(message=message), room_id=message["room_id"],
                skip_channel=self.channel_name, layer=self.channel_layer,
            )
        for user_ids, event in notices:  # committed too: e.g. room.inactivity_cleared, to both
            await events.publish(message=event, users=user_ids, layer=self.channel_layer)
        return events.room_message_ack(client_id=client_id, message=message)

    async def on_room_replay(self, after_id: int):
        page = await database_sync_to_async(signaling.chat_replay)(user_id=self.user_id, after_id=after_id)
        return events.room_messages(**page)

    async def _signal(self, event, *, video_only: bool = True, **fields):
        """``event`` (a ``config.events`` constructor) with ``fields`` to the peer's sockets."""
        if self.room_id is None:
            raise ProtocolError("not_in_room", "You are not in a call.")
        if video_only and self.room_mode != "video":
            raise ProtocolError("not_video_room", "WebRTC signaling is for video rooms.")
        await sync_to_async(signaling.signal_check, thread_sensitive=False)(connection_id=self.channel_name)
        await events.publish(
            message=event(room_id=self.room_id, **fields), room_id=self.room_id,
            skip_user=self.user_id, ephemeral=True, layer=self.channel_layer,
        )

    async def on_room_typing(self, typing: bool):
        await self._signal(events.room_typing, video_only=False, typing=typing)

    async def on_offer(self, sdp: str):
        await self._signal(events.offer, sdp=sdp)

    async def on_answer(self, sdp: str):
        await self._signal(events.answer, sdp=sdp)

    async def on_ice_candidate(self, candidate):
        await self._signal(events.ice_candidate, candidate=candidate)

    # --- channel-layer events ----------------------------------------------------------------
    async def client_send(self, event):
        message = event["message"]
        mtype = message.get("type")
        if mtype in ("room.started", "room.resumed"):
            await self._join_room(message["room"]["id"], mode=message["room"].get("mode"))
        elif mtype == "room.ended" and self.room_id == message.get("room_id"):
            await self.channel_layer.group_discard(events.room_group(self.room_id), self.channel_name)
            self.room_id = None
        await self.send(text_data=_dumps(message))

    async def client_kick(self, event):
        sessions = event.get("sessions")
        if sessions is not None and self.session_id not in sessions:
            return  # another session of the same user was revoked
        if event.get("message"):
            await self.send(text_data=_dumps(event["message"]))
        await self.close(code=event.get("code") or 4000, reason=event.get("reason") or None)

    async def room_event(self, event):
        """``config.events.room_envelope``: relays, typing, signaling (not to the sender's own
        sockets) and committed chat (not to the sending socket)."""
        if (
            event["room_id"] == self.room_id
            and event["skip_user"] != self.user_id
            and event["skip_channel"] != self.channel_name
        ):
            await self.send(text_data=_dumps(event["message"]))

    async def _join_room(self, room_id: str, mode: str | None = None):
        self.room_mode = mode or self.room_mode
        if self.room_id == room_id:
            return
        if self.room_id:
            await self.channel_layer.group_discard(events.room_group(self.room_id), self.channel_name)
        self.room_id = room_id
        await self.channel_layer.group_add(events.room_group(room_id), self.channel_name)
