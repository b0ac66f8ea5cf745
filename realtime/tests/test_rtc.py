"""GET /api/rtc-config: ICE servers from settings, TURN REST credentials."""

import base64
import hashlib
import hmac

import pytest

from config import clock

pytestmark = pytest.mark.django_db


def test_stun_only_without_turn(auth_api, settings):
    settings.STUN_URLS = ["stun:stun.example.org:3478"]
    settings.TURN_URLS = []
    body = auth_api().get("/api/rtc-config").json()
    assert body["ice_servers"] == [{"urls": ["stun:stun.example.org:3478"]}]


def test_turn_credentials_follow_the_turn_rest_convention(auth_api, settings):
    settings.STUN_URLS = ["stun:stun.example.org"]
    settings.TURN_URLS = ["turn:turn.example.org:3478?transport=udp", "turns:turn.example.org:5349"]
    settings.TURN_SECRET = "s3cret"
    settings.TURN_CREDENTIAL_TTL_SECONDS = 600
    client = auth_api()
    now = int(clock.now().timestamp())
    body = client.get("/api/rtc-config").json()
    assert body["ttl_seconds"] == 600
    turn = body["ice_servers"][1]
    assert turn["urls"] == settings.TURN_URLS
    expiry, user_id = turn["username"].split(":", 1)
    assert user_id == str(client.user.public_id)
    assert now + 600 <= int(expiry) <= now + 602
    expected = base64.b64encode(hmac.new(b"s3cret", turn["username"].encode(), hashlib.sha1).digest()).decode()
    assert turn["credential"] == expected
    clock.advance(100)
    later = client.get("/api/rtc-config").json()["ice_servers"][1]
    assert int(later["username"].split(":")[0]) >= int(expiry) + 100  # fresh credentials each time


def test_turn_without_secret_has_no_credentials(auth_api, settings):
    settings.TURN_URLS = ["turn:turn.example.org"]
    settings.TURN_SECRET = ""
    servers = auth_api().get("/api/rtc-config").json()["ice_servers"]
    assert servers[-1] == {"urls": ["turn:turn.example.org"]}


def test_rtc_config_needs_a_session(api):
    resp = api.get("/api/rtc-config")
    assert resp.status_code == 401 and resp.json()["error"]["code"]
