"""Notices sent after commit never turn a committed write into an error: with a channel layer
that fails (a real Redis that is down), the write stands and its caller gets its normal answer."""

from __future__ import annotations

import subprocess
import time

import pytest
import redis
from channels.db import database_sync_to_async as sync_to_async

from realtime.tests.test_consumer_calls import start_room
from social.models import RoomMessage
from tests.servers import free_port

pytestmark = pytest.mark.django_db(transaction=True)


def _layer(port: int) -> dict:
    return {
        "default": {
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            "CONFIG": {"hosts": [f"redis://127.0.0.1:{port}/0"], "prefix": "after-commit-test"},
        }
    }


@pytest.fixture
def redis_server():
    """A redis-server of this test's own on a free port (never the shared 6379); stopped at the end."""
    port = free_port()
    proc = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    client = redis.Redis(port=port, socket_connect_timeout=0.2)
    deadline = time.monotonic() + 10
    while True:
        try:
            client.ping()
            break
        except redis.ConnectionError:
            if time.monotonic() > deadline or proc.poll() is not None:
                proc.kill()
                raise
    yield port, proc
    proc.kill()
    proc.wait(timeout=10)


def test_a_rest_write_whose_notice_fails_is_still_a_success(auth_api, make_user, api, settings):
    """Sign-up through a referral link tells the target's sockets after commit; the layer is down."""
    from invites.models import ReferralNotification
    from invites.tests.helpers import signup

    target = make_user(name="Tara")
    link = auth_api(name="Ivan").post("/api/referrals", {"target_user_id": str(target.public_id)}, format="json")
    assert link.status_code == 201
    settings.CHANNEL_LAYERS = _layer(free_port())  # nothing listens there
    resp = signup(api, name="Bea", referral_token=link.json()["token"])  # Django logs the failed notice
    assert resp.status_code == 201, resp.content
    assert ReferralNotification.objects.filter(recipient=target).count() == 1


async def test_a_chat_message_stored_while_the_layer_fails_is_acked(ws_user, clients, settings, redis_server):
    port, proc = redis_server
    settings.CHANNEL_LAYERS = _layer(port)
    a, b, ca, cb, room_id = await start_room(ws_user, clients, mode="text")
    proc.kill()  # the channel layer's Redis goes away mid-call
    proc.wait(timeout=10)
    ack = await ca.request({"type": "room.message", "client_id": "m-1", "body": "still here?"}, "room.message.ack")
    assert ack["message"]["body"] == "still here?"
    stored = await sync_to_async(list)(RoomMessage.objects.filter(room_id=room_id).values_list("id", "body"))
    assert stored == [(ack["message"]["id"], "still here?")]
