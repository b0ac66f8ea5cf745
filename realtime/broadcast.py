"""Send to sockets from services — only after the transaction commits (``*_on_commit``).

Contract used by every app:
- ``user_send_on_commit(user_id=, message=)`` delivers ``message`` (a client-facing dict with a
  ``type``) to every socket of that user on every process.
- ``user_kick_on_commit(user_id=, code=, message=)`` sends ``message`` then closes every socket
  of that user with ``code`` (e.g. 4403 when banned).

A notice is sent after the write it tells of has committed, so it must never turn that write into an
error: every ``*_on_commit`` callback is ``robust`` (a failing channel layer is logged by Django and
the request, and the other callbacks, carry on).  Clients catch up from the database on reconnect.
"""

from __future__ import annotations

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

from config.resilience import is_redis_unavailable, redis_state
from realtime.groups import room_group, user_group


def _group_send(group: str, event: dict) -> None:
    layer = get_channel_layer()
    if layer is not None:
        try:
            async_to_sync(layer.group_send)(group, event)
        except Exception as exc:
            # Sent after commit: a Redis outage loses the notice (sockets resynchronise through
            # ``auth.ok``/``room.get`` once it is back), never the committed write it announces.
            if not is_redis_unavailable(exc):
                raise
            redis_state.failed(exc)


def user_send(*, user_id: int, message: dict) -> None:
    _group_send(user_group(user_id), {"type": "client.send", "message": message})


def user_send_on_commit(*, user_id: int, message: dict) -> None:
    transaction.on_commit(lambda: user_send(user_id=user_id, message=message), robust=True)


def user_kick(*, user_id: int, code: int, message: dict | None = None) -> None:
    _group_send(user_group(user_id), {"type": "client.kick", "code": code, "message": message})


def user_kick_on_commit(*, user_id: int, code: int, message: dict | None = None) -> None:
    transaction.on_commit(lambda: user_kick(user_id=user_id, code=code, message=message), robust=True)


def room_send_on_commit(*, room_id, message: dict) -> None:
    transaction.on_commit(
        lambda: _group_send(room_group(room_id), {"type": "client.send", "message": message}), robust=True
    )
