"""Two deployments on one Redis server see nothing of each other.

Two real Daphne processes, each with its own database (so both have users #1 and #2), on ONE
redis-server of the test's own: databases 1 and 2, the default ``CACHE_KEY_PREFIX``.  Pub/sub
ignores database numbers, so without a channel-layer prefix that carries the database number the
users of one deployment receive the other's invites, room events and chat (user groups are named
by row id).  Each flow runs in one deployment while every socket of the other one is open and
listening; afterwards each socket has seen exactly its own deployment's frames."""

from __future__ import annotations

import shutil
import sqlite3

import pytest

from config.isolation import channel_layer_prefix, redis_db
from config.tests.conftest import manage
from tests.servers import RedisServer
from tests.wsclient import WsClient, signup


def test_channel_layer_prefix_carries_database_and_key_prefix():
    assert redis_db("redis://127.0.0.1:6379/2") == 2
    assert redis_db("rediss://:pw@cache.example.com:6380") == 0
    assert redis_db("unix:///run/redis.sock?db=5") == 5
    names = {
        channel_layer_prefix(redis_url=url, key_prefix=prefix)
        for url in ("redis://h/1", "redis://h/2")
        for prefix in ("cc", "other")
    }
    assert len(names) == 4


def test_doctor_says_what_isolates_this_deployment(tmp_path):
    proc = manage(
        "doctor",
        env={"DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}", "REDIS_URL": "redis://127.0.0.1:1/2",
             "CACHE_KEY_PREFIX": "campus"},
    )
    assert "What isolates this deployment:" in proc.stdout, proc.stdout + proc.stderr
    assert "cache keys: Redis database 2, key prefix 'campus'" in proc.stdout
    assert "pub/sub names start with 'campus-db2-asgi'" in proc.stdout
    assert "Traceback" not in proc.stderr


@pytest.fixture
def redis_server():
    reason = RedisServer.unavailable()
    if reason:
        pytest.skip(reason)
    server = RedisServer().start()
    yield server
    server.stop()


def _deployment_db(tmp_path, template, name: str) -> str:
    path = tmp_path / f"{name}.sqlite3"
    shutil.copyfile(template, path)
    return str(path)


def _flow(server) -> tuple[WsClient, WsClient, str]:
    """Sign up users #1 and #2 and authenticate a socket for each; (sockets, #2's public id)."""
    ta, _ = signup(server, "Ann")
    tb, idb = signup(server, "Bob")
    a, b = WsClient(server, ta), WsClient(server, tb)
    a.auth()
    b.auth()
    return a, b, idb


def _talk(a: WsClient, b: WsClient, idb: str) -> None:
    """#1 invites #2, #2 accepts, #1 writes in the room."""
    b.send({"type": "presence.set", "available": True})
    b.expect("presence.state")
    a.send({"type": "invite.send", "to": idb, "mode": "text", "seconds": 120})
    a.expect("invite.sent")
    invite = b.expect("invite.received")["invite"]
    b.send({"type": "invite.accept", "invite_id": invite["id"]})
    a.expect("room.started")
    b.expect("room.started")
    a.send({"type": "room.message", "client_id": "hello-1", "body": "private words"})
    a.expect("room.message.ack")
    assert b.expect("room.message")["message"]["body"] == "private words"


def _frames_until_ack(client: WsClient) -> list[dict]:
    """Everything the socket receives before the answer to a heartbeat sent now."""
    mark = len(client.seen)
    client.send({"type": "heartbeat"})
    client.expect("heartbeat.ack")
    return [m for m in client.seen[mark:] if m.get("type") != "heartbeat.ack"]


@pytest.mark.slow
def test_two_deployments_on_one_redis_server_exchange_no_frames(tmp_path, daphne_factory, redis_server):
    template = tmp_path / "template.sqlite3"
    migrated = manage("migrate", "--noinput", env={"DATABASE_URL": f"sqlite:///{template}", "REDIS_URL": None})
    assert migrated.returncode == 0, migrated.stderr

    servers = {}
    for name, db in (("x", 1), ("y", 2)):
        servers[name] = daphne_factory(
            env={
                "DATABASE_URL": f"sqlite:///{_deployment_db(tmp_path, template, name)}",
                "REDIS_URL": redis_server.url(db),
                "CACHE_KEY_PREFIX": "cc",  # the default, on both
            },
            log_name=f"isolation-{name}",
        )
    clients = {name: _flow(server) for name, server in servers.items()}
    for name in servers:  # the same row ids on both sides: user groups have the same names
        with sqlite3.connect(tmp_path / f"{name}.sqlite3") as db:
            assert [row[0] for row in db.execute("SELECT id FROM accounts_user ORDER BY id")] == [1, 2]

    xa, xb, x_idb = clients["x"]
    ya, yb, y_idb = clients["y"]
    _talk(xa, xb, x_idb)
    assert [_frames_until_ack(c) for c in (ya, yb)] == [[], []], "deployment y received x's frames"
    _talk(ya, yb, y_idb)
    assert [_frames_until_ack(c) for c in (xa, xb)] == [[], []], "deployment x received y's frames"

    for c in (xa, xb, ya, yb):
        c.close()
