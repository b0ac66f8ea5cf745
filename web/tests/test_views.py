"""The app shell, its join / intro landing pages, the static SDK, and CORS for other front-ends."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from django.test import Client

ROOT = Path(__file__).resolve().parents[2]


def _config(resp) -> dict:
    html = resp.content.decode()
    m = re.search(r'<script id="campus-config" type="application/json">(.*?)</script>', html, re.S)
    assert m, html[:500]
    return json.loads(m.group(1))


@pytest.mark.django_db
def test_root_serves_the_app_shell():
    resp = Client().get("/")
    assert resp.status_code == 200
    assert resp["Content-Type"].startswith("text/html")
    html = resp.content.decode()
    assert '<script type="module" src="/static/campus/app.js"></script>' in html
    assert '<meta name="viewport"' in html and '<html lang="en">' in html
    config = _config(resp)
    assert config["invite_code"] == "" and config["referral_token"] == ""
    assert config["call_min_seconds"] == 60 and config["invite_ttl_seconds"] == 20


@pytest.mark.django_db
def test_join_link_fills_in_the_invite_code(settings):
    settings.OPEN_SIGNUP = False
    config = _config(Client().get("/join/ABCD2345EFGH"))
    assert config["invite_code"] == "ABCD2345EFGH"
    assert config["open_signup"] is False


@pytest.mark.django_db
def test_intro_link_fills_in_the_referral_token():
    assert _config(Client().get("/intro/tok_123-abc"))["referral_token"] == "tok_123-abc"


@pytest.mark.django_db
def test_a_strange_code_is_dropped_not_echoed():
    resp = Client().get("/join/%3Cscript%3Ealert(1)%3C%5Cscript%3E")
    assert resp.status_code == 200
    assert _config(resp)["invite_code"] == ""
    assert b"<script>alert" not in resp.content


@pytest.mark.django_db
def test_shell_is_get_only():
    assert Client().post("/").status_code == 405


@pytest.mark.django_db
def test_the_sdk_and_app_modules_are_served():
    for name in ("sdk.js", "call.js", "app.js", "app.css"):
        resp = Client().get(f"/static/campus/{name}")
        assert resp.status_code == 200, name
        body = b"".join(resp.streaming_content) if resp.streaming else resp.content
        assert len(body) > 1000


@pytest.mark.django_db
def test_unknown_api_paths_still_answer_json_404():
    resp = Client().get("/api/nope")
    assert resp.status_code == 404 and resp.json()["error"]["code"] == "not_found"


@pytest.mark.django_db
def test_cors_allows_only_the_configured_origins(settings):
    settings.CORS_ALLOWED_ORIGINS = ["http://app.example.test:5173"]
    c = Client()
    pre = c.options("/api/me", HTTP_ORIGIN="http://app.example.test:5173",
                    HTTP_ACCESS_CONTROL_REQUEST_METHOD="GET", HTTP_ACCESS_CONTROL_REQUEST_HEADERS="authorization")
    assert pre.status_code == 200
    assert pre["Access-Control-Allow-Origin"] == "http://app.example.test:5173"
    assert "authorization" in pre["Access-Control-Allow-Headers"]
    assert "Access-Control-Allow-Credentials" not in pre
    resp = c.get("/api/me", HTTP_ORIGIN="http://app.example.test:5173")
    assert resp.status_code == 401 and resp["Access-Control-Allow-Origin"] == "http://app.example.test:5173"
    foreign = c.options("/api/me", HTTP_ORIGIN="http://evil.example", HTTP_ACCESS_CONTROL_REQUEST_METHOD="GET")
    assert "Access-Control-Allow-Origin" not in foreign
    # only the API: the app shell is for its own origin
    assert "Access-Control-Allow-Origin" not in c.get("/", HTTP_ORIGIN="http://app.example.test:5173")


def test_cors_origins_come_from_the_environment(monkeypatch):
    from config import env

    monkeypatch.setenv("CORS_ALLOWED_ORIGINS", "https://a.example.edu, http://localhost:5173")
    assert env.load().extra["CORS_ALLOWED_ORIGINS"] == ["https://a.example.edu", "http://localhost:5173"]
    monkeypatch.delenv("CORS_ALLOWED_ORIGINS")
    assert env.load().extra["CORS_ALLOWED_ORIGINS"] == []


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_websocket_origin_check_follows_the_cors_list(daphne_factory, make_user, make_session):
    from websockets.exceptions import InvalidStatus
    from websockets.sync.client import connect

    server = daphne_factory(env={"CORS_ALLOWED_ORIGINS": "http://app.example.test:5173"})
    _, token = make_session(make_user(name="Cory"))

    def attempt(origin: str):
        with connect(server.ws_url, origin=origin, proxy=None, open_timeout=10) as ws:
            ws.send(json.dumps({"type": "auth", "token": token}))
            return json.loads(ws.recv(timeout=10))["type"]

    assert attempt("http://app.example.test:5173") == "auth.ok"  # another front-end, allowed
    assert attempt(f"http://127.0.0.1:{server.port}") == "auth.ok"  # the server's own host
    for foreign in ("http://evil.example", "http://app.example.test:5174", "https://app.example.test:5173"):
        with pytest.raises(InvalidStatus) as exc:
            attempt(foreign)
        assert exc.value.response.status_code == 403, foreign
    status, _ = server.request("OPTIONS", "/api/me", headers={
        "Origin": "http://app.example.test:5173", "Access-Control-Request-Method": "GET"})
    assert status == 200


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_sdk_logic_under_node():
    """Outbox, replay merge, gap detection, backoff, close codes: web/tests/js/sdk.test.mjs."""
    proc = subprocess.run(["node", "--test", "web/tests/js/"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert "# fail 0" in proc.stdout
