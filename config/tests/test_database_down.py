"""Database connections: libpq options from DATABASE_URL, and 503 + self-healing when the
database goes away — tested against a PostgreSQL server of our own that the test stops."""

from __future__ import annotations

import http.client
import json
import threading
import time

import pytest

from config.tests import pgcluster
from config.tests.conftest import manage

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def cluster():
    reason = pgcluster.available()
    if reason:
        pytest.skip(reason)
    c = pgcluster.PgCluster().init()
    c.start()
    yield c
    c.destroy()


def test_sslmode_from_database_url_reaches_options_and_the_pool_works(cluster, django_db_blocker):
    from django.db import connections
    from django.db.backends.postgresql.base import DatabaseWrapper

    from config.settings import _database

    cfg = _database(cluster.url("postgres", "sslmode=require&application_name=ops-ssl-test"))
    assert cfg["OPTIONS"]["sslmode"] == "require"
    assert cfg["OPTIONS"]["application_name"] == "ops-ssl-test"
    assert set(cfg["OPTIONS"]["pool"]) == {"min_size", "max_size", "timeout"}

    filled = connections.configure_settings({"default": dict(cfg), "ssl_probe": cfg})["ssl_probe"]
    wrapper = DatabaseWrapper(filled, alias="ssl_probe")
    # Our own server, not the test database: pytest-django's blocker doesn't apply.
    with django_db_blocker.unblock():
        _probe(wrapper)


def _probe(wrapper) -> None:
    try:
        for _ in range(3):  # through the pool each time: connection handed back and reused
            with wrapper.cursor() as cursor:
                cursor.execute(
                    "SELECT s.ssl, a.application_name FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) "
                    "WHERE pid = pg_backend_pid()"
                )
                assert cursor.fetchone() == (True, "ops-ssl-test")
            wrapper.close()
        assert wrapper.pool is not None
    finally:
        wrapper.close()
        wrapper.close_pool()


SEED = r"""
import json
from accounts.models import User
from accounts.services import session_create
u = User.objects.create_user(name="steady")
s, token = session_create(user=u, ip="127.0.0.1")
print(json.dumps({"token": token}))
"""


class Load:
    """Worker threads hitting DB-backed endpoints (DRF and plain Django) in a loop."""

    def __init__(self, port: int, token: str):
        self.port, self.token = port, token
        self.results: list[tuple[str, int, dict, str]] = []
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self._loop, args=(p,), daemon=True) for p in self.paths()]

    def paths(self):
        return [
            ("/api/auth/sessions", {"Authorization": f"Bearer {self.token}"}),  # DRF, always queries
            ("/api/me", {"Authorization": f"Bearer {self.token}"}),  # DRF, cache-aside
            ("/admin/", {"Cookie": "sessionid=abcdefghijklmnopqrstuvwxyz012345"}),  # plain Django view
            ("/readyz", {}),
        ]

    def _one(self, path, headers):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=15)
        try:
            conn.request("GET", path, headers=headers)
            resp = conn.getresponse()
            return resp.status, dict(resp.getheaders()), resp.read().decode(errors="replace")
        finally:
            conn.close()

    def _loop(self, spec):
        path, headers = spec
        while not self.stop.is_set():
            try:
                status, hdrs, body = self._one(path, headers)
            except OSError as exc:
                status, hdrs, body = -1, {}, repr(exc)
            with self.lock:
                self.results.append((path, status, hdrs, body))

    def start(self):
        for t in self.threads:
            t.start()

    def finish(self):
        self.stop.set()
        for t in self.threads:
            t.join(timeout=30)

    def count(self) -> int:
        with self.lock:
            return len(self.results)

    def since(self, mark: int):
        with self.lock:
            return list(self.results[mark:])

    def wait_for(self, predicate, mark: int, timeout: float) -> int:
        """Wait (bounded) until a result after ``mark`` satisfies ``predicate``; returns its index."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for i, r in enumerate(self.since(mark)):
                if predicate(r):
                    return mark + i
            self.stop.wait(0.05)  # bounded poll of results produced by the workers
        raise AssertionError(f"timed out; last results: {[(p, s) for p, s, _, _ in self.since(mark)[-12:]]}")


def _seeded_database(cluster, name: str) -> tuple[str, str]:
    """A fresh migrated database with one user; its URL and that user's token."""
    url = cluster.createdb(name)
    env = {"DATABASE_URL": url, "REDIS_URL": None}
    assert manage("migrate", "--noinput", env=env).returncode == 0
    seeded = manage("shell", "-c", SEED, env=env)
    assert seeded.returncode == 0, seeded.stderr
    return url, json.loads(seeded.stdout.strip().splitlines()[-1])["token"]


def test_database_down_gives_503_then_heals(cluster, daphne_factory):
    url, token = _seeded_database(cluster, "app_down")

    server = daphne_factory(
        env={"DATABASE_URL": url, "DB_POOL_TIMEOUT": "1", "DB_POOL_MIN_SIZE": "1", "DB_POOL_MAX_SIZE": "4"}
    )
    load = Load(server.port, token)
    load.start()
    try:
        load.wait_for(lambda r: r[0] == "/api/auth/sessions" and r[1] == 200, 0, 30)
        load.wait_for(lambda r: r[0] == "/admin/" and r[1] == 302, 0, 30)

        down_mark = load.count()
        cluster.stop("fast")  # under load
        load.wait_for(lambda r: r[0] == "/api/auth/sessions" and r[1] == 503, down_mark, 30)
        load.wait_for(lambda r: r[0] == "/admin/" and r[1] == 503, down_mark, 30)
        load.wait_for(lambda r: r[0] == "/readyz" and r[1] == 503, down_mark, 30)

        up_mark = load.count()
        cluster.start()
        started = time.monotonic()
        healed_sessions = load.wait_for(lambda r: r[0] == "/api/auth/sessions" and r[1] == 200, up_mark, 60)
        healed_admin = load.wait_for(lambda r: r[0] == "/admin/" and r[1] == 302, up_mark, 60)
        load.wait_for(lambda r: r[0] == "/readyz" and r[1] == 200, up_mark, 60)
        print(f"recovered {time.monotonic() - started:.2f}s after the database came back")
        # Once healed it stays healed: nothing after the recovery point fails.
        settled = max(healed_sessions, healed_admin)
        tail_mark = load.count()
        load.wait_for(lambda r: r[0] == "/api/auth/sessions", tail_mark, 30)
    finally:
        load.finish()

    results = load.results
    statuses = {s for _, s, _, _ in results}
    assert 500 not in statuses, [r for r in results if r[1] == 500][:3]
    assert statuses <= {200, 302, 503}, statuses
    unavailable = [r for r in results if r[1] == 503]
    assert unavailable
    for path, _, headers, body in unavailable:
        assert headers.get("Retry-After") == "5", (path, headers)
        data = json.loads(body)
        if path == "/readyz":
            assert data["status"] == "not_ready"
        else:
            assert data["error"]["code"] == "unavailable" and set(data["error"]) >= {"code", "message", "fields"}
            assert "Traceback" not in body
    after = [r for r in results[settled + 1 :] if r[0] in ("/api/auth/sessions", "/admin/")]
    assert after and all(r[1] in (200, 302) for r in after), [(p, s) for p, s, _, _ in after if s not in (200, 302)]


def test_pool_exhausted_gives_503_and_recovers(cluster, daphne_factory):
    """Two pooled connections, both stuck behind a lock held outside the app: further requests
    wait DB_POOL_TIMEOUT for a connection, then get 503; when the lock goes, everything is 200."""
    import psycopg
    from concurrent.futures import ThreadPoolExecutor

    url, token = _seeded_database(cluster, "app_pool")
    server = daphne_factory(
        env={"DATABASE_URL": url, "DB_POOL_TIMEOUT": "0.5", "DB_POOL_MIN_SIZE": "1", "DB_POOL_MAX_SIZE": "2"}
    )
    load = Load(server.port, token)
    headers = {"Authorization": f"Bearer {token}"}
    assert load._one("/api/auth/sessions", headers)[0] == 200

    blocker = psycopg.connect(url)
    blocker.execute("LOCK TABLE accounts_session IN ACCESS EXCLUSIVE MODE")  # held until rollback
    try:
        with ThreadPoolExecutor(max_workers=8) as pool:
            stuck = [pool.submit(load._one, "/api/auth/sessions", headers) for _ in range(2)]
            # Wait (bounded) until both pooled connections are waiting on the lock.
            deadline = time.monotonic() + 20
            with psycopg.connect(url, autocommit=True) as probe:
                while time.monotonic() < deadline:
                    waiting = probe.execute(
                        "SELECT count(*) FROM pg_locks WHERE NOT granted AND relation = 'accounts_session'::regclass"
                    ).fetchone()[0]
                    if waiting >= 2:
                        break
                    time.sleep(0.05)  # bounded poll of the server's lock table
                assert waiting >= 2
            extra = [pool.submit(load._one, path, hdrs) for path, hdrs in load.paths()[:3] for _ in range(2)]
            answers = [f.result(timeout=30) for f in extra]
            blocker.rollback()
            released = [f.result(timeout=30) for f in stuck]
    finally:
        blocker.close()

    for status, hdrs, body in answers:
        if status == 200:
            continue  # served without a database connection (cached session on /api/me)
        assert status == 503, (status, body)
        assert hdrs.get("Retry-After") == "5"
        assert json.loads(body)["error"]["code"] == "unavailable"
    assert sum(1 for s, _, _ in answers if s == 503) >= 4
    assert [s for s, _, _ in released] == [200, 200]
    assert load._one("/api/auth/sessions", headers)[0] == 200
    assert load._one("/admin/", {"Cookie": "sessionid=abcdefghijklmnopqrstuvwxyz012345"})[0] == 302


def test_a_socket_whose_auth_meets_the_database_down_is_kept_for_its_retry(cluster, daphne_factory):
    """``auth`` while the database is unreachable: ``unavailable`` with ``retry_after``, and the
    socket stays open for the retry (docs/REALTIME.md §1) — not closed 4401 as if the token were
    bad, after which a client gives up and signs out.  The auth deadline (0.2 s) is far shorter
    than the outage, so a socket closed by it is seen before the database is back."""
    from tests.wsclient import WsClient, wait_until

    url, token = _seeded_database(cluster, "ws_down")
    server = daphne_factory(
        env={"DATABASE_URL": url, "DB_POOL_TIMEOUT": "1", "DB_POOL_MIN_SIZE": "1", "DB_POOL_MAX_SIZE": "4",
             "WS_AUTH_TIMEOUT_SECONDS": "0.2"}
    )
    cluster.stop("fast")
    try:
        ws = WsClient(server, token)
        ws.send({"type": "auth", "token": token})
        err = ws.expect("error", timeout=30)
        assert err["code"] == "unavailable" and err["retry_after"] >= 1
    finally:
        cluster.start()
    wait_until(lambda: server.request("GET", "/readyz")[0] == 200, timeout=60, what="ready again")
    ok = ws.auth()  # the same socket, after the outage
    assert ok["type"] == "auth.ok"
    ws.close()
