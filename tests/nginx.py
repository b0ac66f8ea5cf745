"""Debian's nginx as a test subprocess, running the shipped ``deploy/nginx.conf``.

The site file is used as shipped except for mechanical swaps — listen ports, upstream ports, the
certificate and the static/media paths — each of which must be found exactly once, so a change to
the shipped file's shape fails the test instead of silently testing something else.  nginx runs in
the foreground (``daemon off``) with its own prefix, pid file, logs and temp paths in a scratch
directory; the main ``nginx.conf`` around the site mirrors Debian's ``/etc/nginx/nginx.conf``.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

from tests.servers import ROOT, free_port

SHIPPED = ROOT / "deploy" / "nginx.conf"
NGINX = shutil.which("nginx") or ("/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx") else None)
HOSTNAME = "chat.example.edu"


def self_signed_certificate(directory: Path) -> tuple[Path, Path]:
    cert, key = directory / "fullchain.pem", directory / "privkey.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", f"/CN={HOSTNAME}",
         "-addext", f"subjectAltName=DNS:{HOSTNAME}", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True, timeout=60,
    )
    return cert, key


def _swap(text: str, old: str, new: str) -> str:
    assert text.count(old) == 1, f"deploy/nginx.conf no longer contains {old!r} exactly once"
    return text.replace(old, new)


def adapt(*, http_port: int, https_port: int, upstream_ports: list[int], cert: Path, key: Path,
          static_root: Path, media_root: Path) -> str:
    text = SHIPPED.read_text()
    text = _swap(text, "listen 80;", f"listen 127.0.0.1:{http_port};")
    text = _swap(text, "listen 443 ssl http2;", f"listen 127.0.0.1:{https_port} ssl http2;")
    text = _swap(text, "server 127.0.0.1:8001 max_fails=0;\n    server 127.0.0.1:8002 max_fails=0;",
                 "\n    ".join(f"server 127.0.0.1:{p} max_fails=0;" for p in upstream_ports))
    text = _swap(text, "/etc/letsencrypt/live/chat.example.edu/fullchain.pem", str(cert))
    text = _swap(text, "/etc/letsencrypt/live/chat.example.edu/privkey.pem", str(key))
    text = _swap(text, "alias /srv/campuschat/var/static/;", f"alias {static_root}/;")
    text = _swap(text, "alias /srv/campuschat/var/media/;", f"alias {media_root}/;")
    return text


MAIN_CONF = """\
# Debian's /etc/nginx/nginx.conf, reduced to what matters here, with its paths under {prefix}.
worker_processes 1;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log;
events {{ worker_connections 256; }}
http {{
    sendfile on;
    tcp_nopush on;
    types_hash_max_size 2048;
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_prefer_server_ciphers on;
    access_log {prefix}/access.log;
    gzip on;
    client_body_temp_path {prefix}/tmp/body;
    proxy_temp_path {prefix}/tmp/proxy;
    fastcgi_temp_path {prefix}/tmp/fastcgi;
    uwsgi_temp_path {prefix}/tmp/uwsgi;
    scgi_temp_path {prefix}/tmp/scgi;
    include {prefix}/sites-enabled/*;
}}
"""


class Nginx:
    def __init__(self, prefix: Path, site: str):
        self.prefix = prefix
        (prefix / "sites-enabled").mkdir(parents=True)
        (prefix / "tmp").mkdir()
        (prefix / "sites-enabled" / "campuschat").write_text(site)
        self.conf = prefix / "nginx.conf"
        self.conf.write_text(MAIN_CONF.format(prefix=prefix))
        self.proc: subprocess.Popen | None = None

    def _cmd(self, *extra: str) -> list[str]:
        return [NGINX, "-p", str(self.prefix), "-c", str(self.conf), "-e", str(self.prefix / "error.log"), *extra]

    def test_config(self) -> subprocess.CompletedProcess:
        return subprocess.run(self._cmd("-t"), capture_output=True, text=True, timeout=30)

    def start(self, port: int, timeout: float = 15.0) -> None:
        self.proc = subprocess.Popen(self._cmd("-g", "daemon off;"), stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"nginx exited with {self.proc.returncode}:\n{self.error_log()}")
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.05)  # polling the listening socket, bounded by the deadline
        raise TimeoutError(f"nginx not listening on {port}:\n{self.error_log()}")

    def error_log(self) -> str:
        path = self.prefix / "error.log"
        return path.read_text(errors="replace")[-4000:] if path.exists() else ""

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGQUIT)  # graceful; SIGKILL the group if it lingers
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)


__all__ = ["NGINX", "HOSTNAME", "Nginx", "adapt", "self_signed_certificate", "free_port"]
