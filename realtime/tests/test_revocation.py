"""A revoked session loses its sockets at once: the revocation's channel-layer event closes every
socket of that session (4401) without waiting for a frame, and any frame reaching a socket whose
session is no longer valid — revoked by a path whose event never arrived, or expired — is refused
with 4401 whatever its type.  (Two real processes: ``test_revocation_e2e.py``.)"""

import pytest
from channels.db import database_sync_to_async as sync_to_async  # closes its connection after
from rest_framework.test import APIClient

from accounts.models import Session
from accounts.services import session_revoke
from config import clock
from realtime.protocol import CLOSE_AUTH_FAILED

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def second_session(make_session):
    @sync_to_async
    def _make(user):
        return make_session(user)[1]

    return _make


def _api(token: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


@sync_to_async
def _revoke(token: str) -> None:
    from accounts.services import token_hash

    session = Session.objects.get(token_hash=token_hash(token))
    session_revoke(session=session, actor=session.user)


async def test_revoking_a_session_closes_its_sockets_without_waiting_for_a_frame(ws_user, clients, second_session):
    user, token = await ws_user()
    other = await second_session(user)
    first, second, kept = clients(token), clients(token), clients(other)
    for c in (first, second, kept):
        await c.open()
    await _revoke(token)
    assert await first.expect_close() == CLOSE_AUTH_FAILED
    assert await second.expect_close() == CLOSE_AUTH_FAILED
    # a socket of another session of the same user is not touched
    assert await kept.request({"type": "heartbeat"}, "heartbeat.ack")


async def test_deleting_the_account_closes_every_socket_of_the_user(ws_user, clients, second_session):
    user, token = await ws_user()
    other = await second_session(user)
    sockets = [clients(token), clients(other)]
    for c in sockets:
        await c.open()
    resp = await sync_to_async(_api(token).delete)("/api/me", {}, format="json")
    assert resp.status_code == 204
    for c in sockets:
        assert await c.expect_close() == CLOSE_AUTH_FAILED


@pytest.fixture
def dead_channel_layer(settings):
    """Call it to make services publish, from then on, to a channel layer whose Redis is not there
    (a real refused connection); sockets already open keep the layer they were opened with."""
    from tests.servers import free_port

    def _kill():
        settings.CHANNEL_LAYERS = {
            "default": {
                "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
                "CONFIG": {"hosts": [f"redis://127.0.0.1:{free_port()}/0"]},
            }
        }

    return _kill


FRAMES = [
    {"type": "queue.get"},
    {"type": "invite.send", "to": "00000000-0000-0000-0000-000000000000", "mode": "text", "seconds": 60},
    {"type": "room.relay", "data": "x"},
    {"type": "presence.set", "available": True},
    {"type": "no.such.type"},
]


@pytest.mark.parametrize("frame", FRAMES, ids=[f["type"] for f in FRAMES])
async def test_any_frame_on_a_socket_whose_revocation_event_was_lost_is_refused_4401(
    ws_user, clients, dead_channel_layer, frame
):
    user, token = await ws_user()
    c = clients(token)
    await c.open()
    dead_channel_layer()
    # logout commits although its socket event cannot be published (the layer is down) ...
    resp = await sync_to_async(_api(token).post)("/api/auth/logout")
    assert resp.status_code == 204
    assert await sync_to_async(Session.objects.filter(user=user, revoked_at__isnull=False).count)() == 1
    assert await c.nothing(0.2)  # ... so the socket is still open
    # and the next frame, whatever it is, closes it instead of being served
    seen = len(c.seen)
    await c.send(frame)
    assert await c.expect_close() == CLOSE_AUTH_FAILED
    assert len(c.seen) == seen


async def test_a_bad_frame_on_an_expired_session_is_refused_4401_too(ws_user, clients, settings):
    _, token = await ws_user()
    c = clients(token)
    await c.open()
    clock.advance(settings.SESSION_TTL.total_seconds() + 1)
    seen = len(c.seen)
    await c.send_text("{not json")
    assert await c.expect_close() == CLOSE_AUTH_FAILED
    assert len(c.seen) == seen  # no bad_json error: refused before it is read
