"""The shipped nginx site (deploy/nginx.conf) on Debian's nginx, in front of two production-mode
Daphne processes on PostgreSQL + Redis, checked over HTTPS as a browser would see it.

Clients connect from chosen loopback addresses (127.0.0.1, 127.0.0.2) so the app's idea of the
client IP — taken from the X-Forwarded-For entry nginx appends — can be checked against an IP ban.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import re
import socket
import ssl
import subprocess
import sys
import tempfile
import urllib.request
import uuid
from pathlib import Path

import pytest
from django.conf import settings
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from config.management.commands.seed_demo import png
from tests import nginx as ng
from tests.servers import ROOT, DaphneServer
from tests.wsclient import wait_until

pytestmark = pytest.mark.skipif(ng.NGINX is None, reason="nginx is not installed (.ci/run installs Debian's)")

PNG = png((52, 152, 219))  # a real image: uploads are decoded, not just sniffed


@pytest.fixture
def scratch():
    # world-traversable (0755), like /srv/campuschat/var: nginx's workers run as an unprivileged user
    path = Path(tempfile.mkdtemp(prefix="campuschat-nginx-"))
    path.chmod(0o755)
    yield path
    import shutil

    shutil.rmtree(path, ignore_errors=True)


def _site(scratch: Path, upstream_ports=(8001, 8002)):
    cert, key = ng.self_signed_certificate(scratch)
    ports = {"http": ng.free_port(), "https": ng.free_port()}
    site = ng.adapt(http_port=ports["http"], https_port=ports["https"], upstream_ports=list(upstream_ports),
                    cert=cert, key=key, static_root=scratch / "static", media_root=scratch / "media")
    return ng.Nginx(scratch / "nginx", site), ports, cert


def test_shipped_config_passes_nginx_t(scratch):
    server, _, _ = _site(scratch)
    result = server.test_config()
    assert result.returncode == 0, result.stderr
    assert "syntax is ok" in result.stderr


# --- the whole stack ---------------------------------------------------------------------------
class Client:
    """HTTPS (or plain HTTP) to nginx from a chosen loopback source address, Host: chat.example.edu."""

    def __init__(self, ports: dict, cert: Path, source: str = "127.0.0.1"):
        self.ports, self.source = ports, source
        self.ctx = ssl.create_default_context(cafile=str(cert))

    def request(self, method: str, path: str, *, body: bytes | None = None, headers: dict | None = None,
                token: str | None = None, scheme: str = "https"):
        headers = {"Host": ng.HOSTNAME, **(headers or {})}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        if scheme == "https":
            conn = self.https()
        else:
            conn = http.client.HTTPConnection("127.0.0.1", self.ports["http"], timeout=15,
                                              source_address=(self.source, 0))
        try:
            conn.request(method, path, body=body, headers=headers)
            resp = conn.getresponse()
            return resp.status, resp.headers, resp.read()  # headers: case-insensitive
        finally:
            conn.close()

    def https(self) -> http.client.HTTPSConnection:
        """A connection whose certificate is verified against the public name, as a browser would."""
        conn = http.client.HTTPSConnection("127.0.0.1", self.ports["https"], context=self.ctx, timeout=15)
        raw = socket.create_connection(("127.0.0.1", self.ports["https"]), 15, (self.source, 0))
        conn.sock = self.ctx.wrap_socket(raw, server_hostname=ng.HOSTNAME)
        return conn

    def json(self, method: str, path: str, payload=None, headers: dict | None = None, **kw):
        headers = {**({"Content-Type": "application/json"} if payload is not None else {}), **(headers or {})}
        status, hdrs, raw = self.request(method, path, body=json.dumps(payload).encode() if payload is not None
                                         else None, headers=headers, **kw)
        return status, (json.loads(raw) if raw and hdrs.get("Content-Type", "").startswith("application/json")
                        else raw)

    @contextlib.contextmanager
    def websocket(self):
        raw = socket.create_connection(("127.0.0.1", self.ports["https"]), 15, (self.source, 0))
        with connect(f"wss://{ng.HOSTNAME}:{self.ports['https']}/ws/", sock=raw, ssl=self.ctx,
                     server_hostname=ng.HOSTNAME, origin=f"https://{ng.HOSTNAME}", open_timeout=10,
                     proxy=None) as ws:
            yield ws


def _multipart(field: str, filename: str, content: bytes, content_type: str) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    body = (
        f"--{boundary}\r\nContent-Disposition: form-data; name=\"{field}\"; filename=\"{filename}\"\r\n"
        f"Content-Type: {content_type}\r\n\r\n"
    ).encode() + content + f"\r\n--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


def _ws_auth(ws, token: str) -> dict:
    ws.send(json.dumps({"type": "auth", "token": token}))
    while True:
        msg = json.loads(ws.recv(timeout=10))
        if msg.get("type") in {"auth.ok", "error"}:
            return msg


def _gauge(server: DaphneServer, name: str) -> float:
    """A gauge read straight from one process, as Prometheus scrapes it (loopback, no proxy)."""
    with urllib.request.urlopen(server.base_url + "/metrics", timeout=10) as resp:
        text = resp.read().decode()
    match = re.search(rf"^{name}(?:{{[^}}]*}})? ([0-9.e+-]+)$", text, re.M)
    return float(match.group(1)) if match else 0.0


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_nginx_in_front_of_two_production_processes(scratch):
    if not settings.REDIS_URL or settings.DATABASES["default"]["ENGINE"].endswith("sqlite3"):
        pytest.skip("production behind nginx means PostgreSQL + Redis (the second CI pass)")
    from accounts.models import User
    from invites import services as invite_services
    from moderation import services as moderation_services

    static_root, media_root = scratch / "static", scratch / "media"
    media_root.mkdir(mode=0o755)
    production = {
        "DJANGO_ENV": "production",
        "SECRET_KEY": "nginx-test-" + uuid.uuid4().hex + uuid.uuid4().hex,
        "ALLOWED_HOSTS": f"{ng.HOSTNAME},127.0.0.1",
        "CSRF_TRUSTED_ORIGINS": f"https://{ng.HOSTNAME}",
        "PUBLIC_BASE_URL": f"https://{ng.HOSTNAME}",
        "TRUSTED_PROXY_COUNT": "1",
        "STATIC_ROOT": str(static_root),
        "MEDIA_ROOT": str(media_root),
        "EMAIL_BACKEND": "django.core.mail.backends.locmem.EmailBackend",
        "LOG_JSON": "0",
    }
    first = DaphneServer(env=production, log_name="nginx-daphne")
    collect = subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput", "-v", "0"], cwd=ROOT, env=first.env(),
        capture_output=True, text=True, timeout=180,
    )
    assert collect.returncode == 0, collect.stderr
    daphnes = [first, DaphneServer(env=production, log_name="nginx-daphne")]
    server, ports, cert = _site(scratch, [d.port for d in daphnes])
    try:
        for d in daphnes:
            d.start()
        checked = server.test_config()
        assert checked.returncode == 0, checked.stderr
        server.start(ports["https"])
        _check_stack(Client(ports, cert), Client(ports, cert, source="127.0.0.2"), daphnes, media_root,
                     User, invite_services, moderation_services)
    finally:
        server.stop()
        for d in daphnes:
            d.kill()
    assert "[emerg]" not in server.error_log() and "[crit]" not in server.error_log(), server.error_log()


def _check_stack(client, other, daphnes, media_root, User, invite_services, moderation_services):
    # plain HTTP is sent to HTTPS
    status, headers, _ = client.request("GET", "/api/me?x=1", scheme="http")
    assert status == 301 and headers["Location"] == f"https://{ng.HOSTNAME}/api/me?x=1"

    # liveness; the app saw https (no redirect loop) and our Host (no 400 DisallowedHost)
    status, headers, body = client.request("GET", "/healthz")
    assert status == 200, body
    assert headers.get("Strict-Transport-Security", "").startswith("max-age=")

    # invite-only sign-up (production), then /api/me with the token
    root = User.objects.create_superuser(email="root@example.com", password="root-pass-1234", name="Root")
    code = invite_services.invite_batch_create(actor=root, count=1, max_uses=10)[0].code
    status, body = client.json("POST", "/api/auth/guest", {"name": "Ada", "invite_code": code})
    assert status == 201, body
    token = body["token"]
    status, body = client.json("POST", "/api/auth/guest", {"name": "Bob", "invite_code": code})
    assert status == 201, body
    other_token = body["token"]
    status, headers, raw = client.request("GET", "/api/me", token=token)
    assert status == 200 and json.loads(raw)["name"] == "Ada", raw
    assert re.fullmatch(r"[0-9a-f]{32}", headers.get("X-Request-ID", "")), headers  # nginx's $request_id reached the app

    # WebSockets authenticate through nginx, on both upstream processes (least_conn spreads them)
    with client.websocket() as ws1, client.websocket() as ws2:
        assert _ws_auth(ws1, token)["type"] == "auth.ok"
        assert _ws_auth(ws2, other_token)["type"] == "auth.ok"
        wait_until(lambda: all(_gauge(d, "ws_connections") >= 1 for d in daphnes), timeout=10,
                   what="one authenticated socket on each Daphne process")

    # uploaded media: stored by the app, served by nginx from MEDIA_ROOT with the right type
    body, ctype = _multipart("file", "me.png", PNG, "image/png")
    status, headers, raw = client.request("PUT", "/api/me/photo", body=body, headers={"Content-Type": ctype},
                                          token=token)
    assert status == 200, raw
    photo_url = json.loads(raw)["photo_url"]
    assert photo_url.startswith("/media/photos/") and photo_url.endswith(".png"), photo_url
    status, headers, raw = client.request("GET", photo_url)
    assert status == 200 and raw.startswith(b"\x89PNG")
    assert raw == (media_root / photo_url.removeprefix("/media/")).read_bytes()  # the file in MEDIA_ROOT
    assert headers["Content-Type"] == "image/png"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert "Server" in headers and headers["Server"].startswith("nginx")  # nginx, not Django, served it
    assert client.request("GET", "/media/photos/nope.png")[0] == 404

    # admin static files (collectstatic's hashed names, as the admin page links them)
    status, _, page = client.request("GET", "/admin/login/")
    assert status == 200, page[:500]
    css = re.search(rb'href="(/static/admin/css/[^"]+\.css)"', page)
    assert css, page[:2000]
    status, headers, _ = client.request("GET", css.group(1).decode())
    assert status == 200 and headers["Content-Type"] == "text/css"

    # /metrics is not public (but each process still answers Prometheus on loopback)
    assert client.request("GET", "/metrics")[0] == 404
    assert _gauge(daphnes[0], "process_start_time_seconds") > 0

    # a body over client_max_body_size: 413 in the API's error shape, before the app sees it
    conn = client.https()
    conn.putrequest("PUT", "/api/me/video", skip_host=True)
    conn.putheader("Host", ng.HOSTNAME)
    conn.putheader("Authorization", f"Bearer {token}")
    conn.putheader("Content-Type", "video/mp4")
    conn.putheader("Content-Length", str(31 * 1024 * 1024))
    conn.endheaders(b"\0" * 1024)
    resp = conn.getresponse()
    assert resp.status == 413
    assert json.loads(resp.read())["error"]["code"] == "too_large"
    conn.close()

    # the app sees the real client IP: ban 127.0.0.2 and only that source is refused
    moderation_services.ip_ban_create(network="127.0.0.2", reason="abuse", actor=root)
    as_nginx_would = {"X-Forwarded-For": "127.0.0.2", "X-Forwarded-Proto": "https"}
    wait_until(lambda: all(d.request("GET", "/api/me", headers=as_nginx_would)[0] == 403 for d in daphnes),
               timeout=10, what="the IP ban to reach both processes")
    for _ in daphnes:  # least_conn alternates idle upstreams: ask more than once
        status, body = other.json("GET", "/api/me", token=token)
        assert status == 403 and body["error"]["code"] == "ip_banned", body
        # a forged X-Forwarded-For written by the client is ignored
        status, body = other.json("GET", "/api/me", token=token, headers={"X-Forwarded-For": "198.51.100.7"})
        assert status == 403 and body["error"]["code"] == "ip_banned", body
        with other.websocket() as ws:  # accepted only to say why, then closed 4403
            assert json.loads(ws.recv(timeout=10))["code"] == "ip_banned"
            with pytest.raises(ConnectionClosed):
                ws.recv(timeout=10)
            assert ws.close_code == 4403
        # ... and claiming the banned address from an allowed one doesn't hurt that client
        status, body = client.json("GET", "/api/me", token=token, headers={"X-Forwarded-For": "127.0.0.2"})
        assert status == 200, body
        with client.websocket() as ws:
            assert _ws_auth(ws, token)["type"] == "auth.ok"
