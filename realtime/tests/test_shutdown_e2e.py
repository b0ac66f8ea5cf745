"""Graceful shutdown (SIGTERM): sockets are told to reconnect (4503), rooms go to grace at once,
the process exits in bounded time, and a rolling restart of two processes loses no live room."""

import time

import pytest

from social.models import CallHistory, Room
from tests.wsclient import WsClient, wait_until

from .test_restart_e2e import FAST, start_call

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

# SIGTERM puts rooms into the *restart* grace (the server went away, not the users): long enough
# for the next process to start even on a busy test machine
SHUTDOWN = {**FAST, "SHUTDOWN_GRACE_SECONDS": "3", "ROOM_GRACE_SECONDS": "6", "ROOM_RESTART_GRACE_SECONDS": "60"}


def terminate_bounded(server) -> float:
    t0 = time.monotonic()
    server.terminate(timeout=10)
    return time.monotonic() - t0


def test_sigterm_tells_sockets_to_reconnect_and_rooms_resume_on_the_next_start(daphne_factory):
    p1 = daphne_factory(env=SHUTDOWN)
    a, b, ta, tb, room_id = start_call(p1, p1)
    took = terminate_bounded(p1)
    assert took < 5, took
    assert a.expect_closed() == 4503 and b.expect_closed() == 4503
    room = Room.objects.get(pk=room_id)
    assert room.status == "grace"  # marked at SIGTERM, not left to lease expiry
    assert (room.grace_deadline - room.grace_started_at).total_seconds() > 30  # the restart grace
    p2 = daphne_factory(env=SHUTDOWN)
    a2, b2 = WsClient(p2, ta), WsClient(p2, tb)
    assert a2.auth()["room"]["id"] == room_id
    assert b2.auth()["room"]["id"] == room_id
    wait_until(lambda: Room.objects.get(pk=room_id).status == "active", what="room active again")
    a2.send({"type": "room.relay", "data": 1})
    assert b2.expect("room.relay")["data"] == 1
    assert CallHistory.objects.filter(room_id=room_id).count() == 0
    for c in (a2, b2):
        c.close()


def test_rolling_restart_of_two_processes_loses_no_room(daphne_factory, settings):
    if not settings.REDIS_URL:
        pytest.skip("two processes need Redis (REDIS_URL)")
    p1 = daphne_factory(env=SHUTDOWN)
    p2 = daphne_factory(env=SHUTDOWN)
    a, b, ta, tb, room_id = start_call(p1, p2)
    # restart process 1: A is told to reconnect, goes to process 2, B never loses the room
    assert terminate_bounded(p1) < 5
    assert a.expect_closed() == 4503
    a = WsClient(p2, ta)
    assert a.auth()["room"]["id"] == room_id
    assert b.expect("room.resumed")["room"]["status"] == "active"
    p3 = daphne_factory(env=SHUTDOWN)
    # restart process 2: both are told, both move to process 3
    assert terminate_bounded(p2) < 5
    assert a.expect_closed() == 4503 and b.expect_closed() == 4503
    a, b = WsClient(p3, ta), WsClient(p3, tb)
    assert a.auth()["room"]["id"] == room_id and b.auth()["room"]["id"] == room_id
    wait_until(lambda: Room.objects.get(pk=room_id).status == "active", what="room active again")
    a.send({"type": "room.end"})
    assert b.expect("room.ended")["reason"] == "user"
    assert CallHistory.objects.filter(room_id=room_id).count() == 2
    for c in (a, b):
        c.close()
