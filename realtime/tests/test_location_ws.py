"""Location privacy over the WebSocket: ``queue.get`` with ``nearby`` shows distance buckets, and
no frame about another user (queue, invite, room) ever carries their coordinates."""

import json

import pytest
from channels.db import database_sync_to_async as sync_to_async

from accounts import location
from accounts.models import UserLocation
from realtime.tests.test_consumer_calls import start_room

pytestmark = pytest.mark.django_db(transaction=True)

USC = (34.0223519, -118.2850919)
NEAR = (34.0260, -118.2800)


@sync_to_async
def share(user, point):
    location.location_set(user=user, lat=point[0], lon=point[1], accuracy_m=5, consent=True)


@sync_to_async
def coordinate_strings(user):
    loc = UserLocation.objects.get(user=user)
    return [repr(loc.lat), repr(loc.lon), f"{loc.lat:.4f}", f"{loc.lon:.4f}"]


async def test_frames_carry_a_bucket_never_coordinates(ws_user, clients):
    a, b, ca, cb, room_id = await start_room(ws_user, clients)
    await share(a, USC)
    await share(b, NEAR)
    # B's coordinates must not appear in anything A received (invite, room.started, queue pages)
    page = await ca.request({"type": "queue.get", "nearby": True, "include_cooldown": True}, "queue.list")
    assert page["type"] == "queue.list"
    needles = await coordinate_strings(b)
    for frame in ca.seen:
        text = json.dumps(frame)
        for needle in needles:
            assert needle not in text, frame


async def test_queue_get_nearby_over_websocket(ws_user, clients):
    from realtime.tests.test_consumer_calls import pair

    a, b, ca, cb = await pair(ws_user, clients)
    await share(a, USC)
    await share(b, NEAR)
    page = await ca.request({"type": "queue.get", "nearby": True}, "queue.list")
    assert [(e["name"], e["distance"]) for e in page["results"]] == [("Bob", "< 1 km")]
    assert not {"lat", "lon"} & set(page["results"][0])
