"""The AsyncAPI document (``GET /api/asyncapi.json``): valid AsyncAPI 3.0, in step with
docs/REALTIME.md, and true to the wire — a scripted two-user session over real sockets validates
every frame both ways against it."""

import json
import re
from datetime import datetime, timezone
from pathlib import Path

import jsonschema
import pytest
from django.conf import settings

from config import events
from realtime import asyncapi
from realtime.protocol import CLIENT_MESSAGES, ProtocolError, validate
from tests.wsclient import WsClient, signup, wait_until

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
# The official AsyncAPI 3.0.0 JSON Schema (npm @asyncapi/specs 6.11.1, schemas/3.0.0-without-$id.json, Apache-2.0)
META_SCHEMA = json.loads((HERE / "asyncapi-3.0.0.schema.json").read_text())


FORMATS = jsonschema.FormatChecker()  # every format jsonschema knows (uuid included) …


@FORMATS.checks("date-time", raises=ValueError)
def _date_time(value) -> bool:
    """… and RFC 3339 date-times with an offset (jsonschema checks them only with an extra package)."""
    if not isinstance(value, str):
        return True
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return "T" in value and parsed.tzinfo is not None


class Contract:
    """Validates frames against the document's message payloads (JSON Schema draft 7, with formats)."""

    def __init__(self, doc: dict):
        self.doc = doc
        self._validators: dict[str, jsonschema.Draft7Validator] = {}

    def validator(self, key: str) -> jsonschema.Draft7Validator:
        if key not in self._validators:
            root = {"$ref": f"#/components/messages/{key}/payload", "components": self.doc["components"]}
            self._validators[key] = jsonschema.Draft7Validator(root, format_checker=FORMATS)
        return self._validators[key]

    def errors(self, direction: str, frame) -> list[str]:
        mtype = frame.get("type") if isinstance(frame, dict) else None
        key = f"{direction}.{mtype}"
        if key not in self.doc["components"]["messages"]:
            return [f"no {direction} message {mtype!r} in the document"]
        return [f"{list(e.absolute_path)}: {e.message}" for e in self.validator(key).iter_errors(frame)]

    def check(self, direction: str, frame) -> None:
        problems = self.errors(direction, frame)
        assert not problems, f"{direction} frame {json.dumps(frame)[:300]} breaks the contract: {problems}"


@pytest.fixture(scope="module")
def contract() -> Contract:
    return Contract(asyncapi.document(host="testserver"))


# --- the document -----------------------------------------------------------------------------------
def test_the_document_is_valid_asyncapi_3(contract):
    validator = jsonschema.Draft7Validator(META_SCHEMA)
    problems = [f"{list(e.absolute_path)}: {e.message[:200]}" for e in validator.iter_errors(contract.doc)]
    assert not problems, problems
    assert contract.doc["asyncapi"] == "3.0.0"
    assert contract.doc["channels"]["ws"]["address"] == "/ws/"
    broken = {**contract.doc, "operations": {"x": {"action": "publish", "channel": {"$ref": "#/channels/ws"}}}}
    assert list(validator.iter_errors(broken)), "the meta-schema check can fail"


def test_every_message_pins_its_type_with_a_const(contract):
    messages = contract.doc["components"]["messages"]
    assert {k for k in messages if k.startswith("server.")} == {f"server.{t}" for t in events.SERVER_EVENTS}
    assert {k for k in messages if k.startswith("client.")} == {f"client.{t}" for t in CLIENT_MESSAGES}
    for key, message in messages.items():
        payload = message["payload"]
        assert payload["properties"]["type"] == {"type": "string", "const": message["name"]}, key
        assert "type" in payload["required"]
        if key.startswith("server."):
            assert payload["additionalProperties"] is False, key  # exactly the shape: drift fails


def test_operations_cover_both_directions_and_name_replies(contract):
    ops = contract.doc["operations"]
    received = {o["messages"][0]["$ref"].rsplit("/", 1)[1] for o in ops.values() if o["action"] == "receive"}
    sent = {o["messages"][0]["$ref"].rsplit("/", 1)[1] for o in ops.values() if o["action"] == "send"}
    assert received == {f"client.{t}" for t in CLIENT_MESSAGES}
    assert sent == {f"server.{t}" for t in events.SERVER_EVENTS}
    replies = ops["receiveHeartbeat"]["reply"]["messages"]
    assert [r["$ref"] for r in replies] == ["#/channels/ws/messages/server.heartbeat.ack", "#/channels/ws/messages/server.error"]


def test_close_codes_auth_and_heartbeat_rules_are_in_the_document(contract):
    doc = contract.doc
    assert [c["code"] for c in doc["x-close-codes"]] == [4401, 4403, 4408, 4409, 4429, 4503]
    assert doc["x-heartbeat"]["every_seconds"] == settings.PRESENCE_HEARTBEAT_SECONDS
    assert doc["x-auth"]["within_seconds"] == settings.WS_AUTH_TIMEOUT_SECONDS
    for code in (4401, 4403, 4408, 4409, 4429, 4503):
        assert str(code) in doc["info"]["description"]


def _table_types(section: str) -> set[str]:
    """The message types in the first column of the table under ``## <section>`` of REALTIME.md."""
    text = (ROOT / "docs" / "REALTIME.md").read_text()
    body = text.split(f"## {section}", 1)[1].split("\n## ", 1)[0]
    found: set[str] = set()
    for line in body.splitlines():
        if line.startswith("| `"):
            first = line.split("|")[1]
            found |= set(re.findall(r"`([^`]+)`", first))
    return found


def test_realtime_md_and_the_document_name_the_same_types(contract):
    assert _table_types("3. Client → server") == set(CLIENT_MESSAGES)
    assert _table_types("4. Server → client") == set(events.SERVER_EVENTS)


def test_the_table_check_would_see_drift(tmp_path, monkeypatch):
    assert "room.ended" in _table_types("4. Server → client")
    assert "room.end" in _table_types("3. Client → server") and "room.end" not in _table_types("4. Server → client")


def test_served_at_api_asyncapi_json_and_linked_from_the_api_docs(client, db):
    resp = client.get("/api/asyncapi.json")
    assert resp.status_code == 200 and resp["Content-Type"].startswith("application/json")
    doc = resp.json()
    assert doc["asyncapi"] == "3.0.0" and doc["servers"]["this"]["host"] == "testserver"
    assert doc["servers"]["this"]["protocol"] == "ws"
    assert client.post("/api/asyncapi.json").status_code == 405
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    assert "/api/asyncapi.json" in schema["info"]["description"]
    assert "/api/asyncapi.json" in (ROOT / "docs" / "REALTIME.md").read_text()


def test_client_shapes_match_what_the_validators_return(contract):
    samples = {
        "auth": {"token": "cc_x"}, "heartbeat": {}, "presence.set": {"available": True},
        "queue.get": {"offset": 0, "limit": 5, "include_cooldown": True, "nearby": False},
        "queue.skip": {"user": "7c9e6679-7425-40de-944b-e07fc1f90ae7"},
        "invite.send": {"to": "7c9e6679-7425-40de-944b-e07fc1f90ae7", "mode": "text", "seconds": 60},
        "invite.accept": {"invite_id": "a" * 32}, "invite.decline": {"invite_id": "a" * 32},
        "invite.cancel": {"invite_id": "a" * 32}, "room.get": {}, "room.end": {}, "room.relay": {"data": [1]},
        "room.message": {"client_id": "c1", "body": "hi"}, "room.replay": {"after_id": 3},
        "room.typing": {"typing": False}, "offer": {"sdp": "v=0"}, "answer": {"sdp": "v=0"},
        "ice-candidate": {"candidate": {"candidate": "c", "sdpMid": "0", "sdpMLineIndex": 0, "usernameFragment": None}},
    }
    assert set(samples) == set(CLIENT_MESSAGES)
    for mtype, fields in samples.items():
        frame = {"type": mtype, "ref": 1, **fields}
        contract.check("client", frame)
        _, cleaned, ref = validate(frame)
        shape_keys = set(CLIENT_MESSAGES[mtype].shape.__annotations__) - {"ref"}
        assert set(cleaned) == shape_keys, mtype
        assert ref == 1
    # what the schema refuses, the server refuses too
    for frame in (
        {"type": "queue.skip", "user": "nobody"},
        {"type": "auth", "token": ""},
        {"type": "presence.set", "available": "yes"},
        {"type": "invite.send", "to": "7c9e6679-7425-40de-944b-e07fc1f90ae7", "mode": "audio", "seconds": 60},
        {"type": "room.message", "client_id": "", "body": "x"},
        {"type": "queue.get", "limit": 0},
        {"type": "room.relay"},
    ):
        assert contract.errors("client", frame), frame
        with pytest.raises(ProtocolError):
            validate(frame)


# --- the wire ---------------------------------------------------------------------------------------
class CheckedClient(WsClient):
    """A real WebSocket client that validates every frame it sends against the document (and records
    every frame it receives, validated at the end)."""

    def __init__(self, server, token, contract: Contract, log: dict):
        super().__init__(server, token)
        self.contract, self.log = contract, log

    def send(self, message: dict) -> None:
        self.contract.check("client", message)
        self.log["sent"].add(message["type"])
        super().send(message)

    def send_raw(self, data) -> None:
        self.conn.send(data)

    def close(self) -> None:
        super().close()
        self.log["received"].extend(self.seen)


SESSION = {
    "INVITE_TTL_SECONDS": "5", "SWEEPER_INTERVAL_SECONDS": "0.2", "CALL_COOLDOWN_SECONDS": "2",
    "TORCH_IDLE_SECONDS": "1", "TORCH_WARNING_SECONDS": "60", "SHUTDOWN_GRACE_SECONDS": "2",
}


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_scripted_two_user_session_validates_every_frame_both_ways(daphne_factory, contract):
    server = daphne_factory(env=SESSION)
    log: dict = {"sent": set(), "received": []}
    ta, ida = signup(server, "Ann")
    tb, idb = signup(server, "Bob")

    def connect(token):
        return CheckedClient(server, token, contract, log)

    a, b = connect(ta), connect(tb)
    # before auth: an error, the socket stays
    b.send({"type": "heartbeat", "ref": "early"})
    assert b.expect("error")["code"] == "not_authenticated"
    a.auth()
    b.auth()
    a.send({"type": "heartbeat", "ref": "h1"})
    assert a.expect("heartbeat.ack")["ref"] == "h1"

    # presence and the queue
    for c in (a, b):
        c.send({"type": "presence.set", "available": True})
        assert c.expect("presence.state")["state"] == "available"
    a.send({"type": "queue.get", "limit": 10, "ref": 2})
    assert idb in [u["id"] for u in a.expect("queue.list")["results"]]
    a.send({"type": "queue.skip", "user": idb})
    assert a.expect("queue.skipped")["user"] == idb
    a.send({"type": "queue.get", "include_cooldown": True})
    assert idb not in [u["id"] for u in a.expect("queue.list")["results"]]

    # bad frames: each answered with an error, the socket stays open
    a.send_raw(b"\x00\x01")
    assert a.expect("error")["code"] == "bad_frame"
    a.send_raw("not json")
    assert a.expect("error")["code"] == "bad_json"
    a.send_raw("[1, 2]")
    assert a.expect("error")["code"] == "bad_message"
    for frame, code in (  # frames the document refuses: the server refuses them too
        ({"type": "no.such.type", "ref": 9}, "unknown_type"),
        ({"type": "invite.send", "to": "nobody", "mode": "text", "seconds": 60}, "invalid"),
    ):
        assert contract.errors("client", frame), frame
        a.send_raw(json.dumps(frame))
        assert a.expect("error")["code"] == code
    for frame, code in (  # valid frames at the wrong moment
        ({"type": "auth", "token": "again"}, "already_authenticated"),
        ({"type": "room.relay", "data": 1}, "not_in_room"),
    ):
        a.send(frame)
        assert a.expect("error")["code"] == code
    a.send({"type": "invite.send", "to": ida, "mode": "text", "seconds": 60})
    assert a.expect("error")["code"] == "invalid_target"

    # invite → decline; invite → cancel; invite → expire
    a.send({"type": "invite.send", "to": idb, "mode": "text", "seconds": 60})
    invite = b.expect("invite.received")["invite"]
    assert a.expect("invite.sent")["invite"]["id"] == invite["id"]
    b.send({"type": "invite.decline", "invite_id": invite["id"]})
    assert a.expect("invite.declined")["invite_id"] == invite["id"] == b.expect("invite.declined")["invite_id"]
    a.send({"type": "invite.send", "to": idb, "mode": "text", "seconds": 60})
    invite = a.expect("invite.sent")["invite"]
    a.send({"type": "invite.cancel", "invite_id": invite["id"]})
    assert b.expect("invite.cancelled")["invite_id"] == invite["id"] == a.expect("invite.cancelled")["invite_id"]
    a.send({"type": "invite.send", "to": idb, "mode": "text", "seconds": 60})
    invite = a.expect("invite.sent")["invite"]
    assert b.expect("invite.expired", timeout=15)["invite_id"] == invite["id"]
    a.expect("invite.expired")

    # a video room: signaling, typing, relay, chat, replay, a reconnect, the end
    a.send({"type": "invite.send", "to": idb, "mode": "video", "seconds": 120})
    invite = b.expect("invite.received")["invite"]
    b.send({"type": "invite.accept", "invite_id": invite["id"]})
    room = a.expect("room.started")["room"]
    assert b.expect("room.started")["room"]["id"] == room["id"]
    a.send({"type": "offer", "sdp": "v=0 offer"})
    assert b.expect("offer")["sdp"] == "v=0 offer"
    b.send({"type": "answer", "sdp": "v=0 answer"})
    assert a.expect("answer")["sdp"] == "v=0 answer"
    candidate = {"candidate": "candidate:1 1 udp 1 10.0.0.1 9 typ host", "sdpMid": "0", "sdpMLineIndex": 0,
                 "usernameFragment": "abc"}
    a.send({"type": "ice-candidate", "candidate": candidate})
    assert b.expect("ice-candidate")["candidate"] == candidate
    a.send({"type": "ice-candidate", "candidate": None})
    assert b.expect("ice-candidate")["candidate"] is None
    a.send({"type": "room.typing", "typing": True})
    assert b.expect("room.typing")["typing"] is True
    a.send({"type": "room.relay", "data": {"any": ["json", 1]}})
    assert b.expect("room.relay")["data"] == {"any": ["json", 1]}
    a.send({"type": "room.message", "client_id": "c1", "body": " hello "})
    ack = a.expect("room.message.ack")
    assert b.expect("room.message")["message"] == ack["message"]
    a.send({"type": "room.message", "client_id": "c1", "body": " hello ", "ref": "again"})
    assert a.expect("room.message.ack")["message"]["id"] == ack["message"]["id"]
    b.send({"type": "room.message", "client_id": "b1", "body": "hi Ann"})
    assert a.expect("room.message")["message"]["body"] == "hi Ann"
    a.send({"type": "room.replay", "after_id": 0})
    replay = a.expect("room.messages")
    assert [m["body"] for m in replay["messages"]] == ["hello", "hi Ann"] and replay["has_more"] is False
    a.send({"type": "room.get"})
    assert a.expect("room.state")["room"]["id"] == room["id"]
    b.close()
    assert a.expect("room.peer_disconnected")["room"]["status"] == "grace"
    b = connect(tb)
    assert b.auth()["room"]["id"] == room["id"]
    assert a.expect("room.resumed")["room"]["status"] == "active"
    b.expect("room.resumed")
    b.send({"type": "presence.set", "available": True})  # availability belongs to a socket
    b.expect("presence.state")
    a.send({"type": "room.end"})
    ended = a.expect("room.ended")
    assert ended["reason"] == "user" and ended["ended_by_you"] is True
    assert b.expect("room.ended")["ended_by_you"] is False

    # the cooldown, then a text room: the torch rule's warning and clearing
    a.send({"type": "invite.send", "to": idb, "mode": "text", "seconds": 60})
    until = datetime.fromisoformat(a.expect("error")["cooldown_until"])
    wait_until(lambda: datetime.now(timezone.utc) > until, timeout=10, what="the cooldown to pass")
    a.send({"type": "invite.send", "to": idb, "mode": "text", "seconds": 60})
    invite = b.expect("invite.received")["invite"]
    b.send({"type": "invite.accept", "invite_id": invite["id"]})
    a.expect("room.started")
    warned: set = set()
    while ida not in warned:  # both are silent: both are warned (each in its own transaction)
        warned.add(a.expect("room.inactivity_warning")["user"])
    a.send({"type": "room.message", "client_id": "t1", "body": "still here"})
    a.expect("room.message.ack")
    assert b.expect("room.inactivity_cleared")["user"] == ida
    a.send({"type": "offer", "sdp": "v=0"})
    assert a.expect("error")["code"] == "not_video_room"
    b.send({"type": "room.end"})
    assert a.expect("room.ended")["ended_by_you"] is False

    # the server restarts: told, then closed with 4503
    server.terminate()
    for c in (a, b):
        c.expect("server.restarting")
        assert c.expect_closed() == events.CLOSE_SERVER_RESTART
        c.close()

    # every frame received validates; the session covered both directions
    for frame in log["received"]:
        contract.check("server", frame)
    received = {f["type"] for f in log["received"]}
    # checked in-process below (the first three); the moderation notices are not validated on the wire yet
    not_in_session = {"invite.failed", "banned", "notification.new", "warning.received", "appeal.decided"}
    assert received == set(events.SERVER_EVENTS) - not_in_session, set(events.SERVER_EVENTS) - not_in_session - received
    assert log["sent"] == set(CLIENT_MESSAGES)


@pytest.mark.django_db(transaction=True)
def test_events_outside_the_session_validate_as_the_services_send_them(make_user, contract):
    """``banned``, ``invite.failed`` and ``notification.new``, produced by the real services and
    taken off the real channel layer."""
    import asyncio
    from datetime import timedelta

    from asgiref.sync import async_to_sync
    from channels.layers import get_channel_layer

    from invites import services as invites
    from moderation import services as moderation
    import presence
    from realtime import calls
    from social import services as social
    from social.errors import PeerInCall

    ann, bob, cid, dan = make_user("Ann"), make_user("Bob"), make_user("Cid"), make_user("Dan")
    layer = get_channel_layer()

    async def scenario():
        channels = {}
        for user in (ann, dan, cid):
            channels[user.pk] = await layer.new_channel()
            await layer.group_add(events.user_group(user.pk), channels[user.pk])

        async def take(user, mtype):
            while True:
                envelope = await asyncio.wait_for(layer.receive(channels[user.pk]), timeout=5)
                if envelope["message"]["type"] == mtype:
                    return envelope["message"]

        def fail_an_accept():
            presence.socket_touch(user_id=bob.pk, socket_id="b", available=True)
            invite = calls.invite_send(sender=ann, to_public_id=bob.public_id, mode="text", seconds=60)
            social.room_start(inviter_id=cid.pk, invitee_id=ann.pk, mode="text", seconds=60)  # Ann is busy now
            with pytest.raises(PeerInCall):
                calls.invite_accept(user=bob, invite_id=invite["id"])

        from channels.db import database_sync_to_async

        await database_sync_to_async(fail_an_accept)()
        failed = await take(ann, "invite.failed")
        link = await database_sync_to_async(invites.referral_create)(actor=cid, target=dan)
        await database_sync_to_async(invites.referral_accept)(token=link.token, user=bob)
        note = await take(dan, "notification.new")
        await database_sync_to_async(moderation.ban_create)(
            user=cid, actor=None, reason="spam", duration=timedelta(hours=1), automatic=True
        )
        while True:
            envelope = await asyncio.wait_for(layer.receive(channels[cid.pk]), timeout=5)
            if envelope["type"] == "client.kick":
                break
        return failed, note, envelope

    failed, note, kick = async_to_sync(scenario)()
    assert failed["code"] == "peer_in_call"
    assert kick["code"] == events.CLOSE_BANNED and kick["message"]["type"] == "banned"
    for frame in (failed, note, kick["message"]):
        contract.check("server", frame)
