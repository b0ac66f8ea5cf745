from __future__ import annotations

import io
import json
import logging
import os
import re
import subprocess
import sys

import pytest
from django.db import connection

from config import metrics
from config.logging import JsonFormatter, RequestIdFilter
from config.observability import slow_query_wrapper, sql_shape


@pytest.fixture
def slow_log():
    """The slow-query logger, formatted as in production (JSON + request id filter)."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(RequestIdFilter())
    logger = logging.getLogger("config.slow_query")
    logger.addHandler(handler)
    yield stream
    logger.removeHandler(handler)


def _lines(stream) -> list[dict]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]


# --- /metrics ------------------------------------------------------------------------------
@pytest.mark.django_db
def test_metrics_counts_requests_by_route_and_exposes_declared_families(auth_api, client):
    metrics.reset()
    me = auth_api()
    for _ in range(3):
        assert me.get("/api/me").status_code == 200
    assert client.get("/nope/at/all").status_code == 404
    resp = client.get("/metrics")
    assert resp.status_code == 200
    assert resp["Content-Type"].startswith("text/plain; version=0.0.4")
    text = resp.content.decode()
    assert 'http_requests_total{method="GET",route="api/me",status="200"} 3.0' in text
    assert 'http_requests_total{method="GET",route="<unmatched>",status="404"} 1.0' in text
    assert 'http_request_duration_seconds_count{method="GET",route="api/me"} 3.0' in text
    assert 'http_request_duration_seconds_bucket{le="+Inf",method="GET",route="api/me"} 3.0' in text
    for family in ("ws_connections", "live_rooms", "sweeper_runs_total", "db_slow_queries_total"):
        assert f"# TYPE {family} " in text
    assert "process_start_time_seconds " in text  # prometheus_client's process collector
    assert "# TYPE process_cpu_seconds_total counter" in text


def test_metrics_api_for_other_apps():
    metrics.reset()
    metrics.inc("sweeper_runs_total")
    metrics.inc("sweeper_runs_total")
    metrics.gauge_add("ws_connections", 2)
    metrics.gauge_add("ws_connections", -1)
    metrics.gauge_fn("live_rooms", lambda: 4)
    metrics.gauge_fn("rooms_by_mode", lambda: {("video",): 2, ("text",): 1}, "rooms by mode", labels=("mode",))
    metrics.gauge_fn("broken_gauge", lambda: 1 / 0)
    text = metrics.render()
    assert "\nsweeper_runs_total 2.0\n" in text
    assert "\nws_connections 1.0\n" in text
    assert "\nlive_rooms 4.0\n" in text
    assert 'rooms_by_mode{mode="video"} 2.0' in text
    assert "broken_gauge" not in text  # a failing gauge is skipped, the scrape still works


@pytest.mark.django_db
def test_metrics_protection(client, settings):
    settings.METRICS_TOKEN = ""
    assert client.get("/metrics").status_code == 200  # test client = loopback
    resp = client.get("/metrics", HTTP_X_FORWARDED_FOR="203.0.113.9")
    assert resp.status_code == 403 and resp.json()["error"]["code"] == "permission_denied"
    assert client.get("/metrics", REMOTE_ADDR="203.0.113.9").status_code == 403

    settings.METRICS_TOKEN = "s3cret-token"
    resp = client.get("/metrics")
    assert resp.status_code == 401 and resp["WWW-Authenticate"].startswith("Bearer")
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 401
    ok = client.get("/metrics", HTTP_AUTHORIZATION="Bearer s3cret-token", REMOTE_ADDR="203.0.113.9")
    assert ok.status_code == 200


# --- slow-query log ------------------------------------------------------------------------
def test_sql_shape_drops_values_and_folds_in_lists():
    assert sql_shape("SELECT  *\n FROM t WHERE id IN (%s, %s, %s, %s) AND x = %s") == (
        "SELECT * FROM t WHERE id IN (%s, …) AND x = %s"
    )


@pytest.mark.django_db
def test_slow_queries_logged_with_shape_duration_and_request_id(auth_api, settings, slow_log):
    me = auth_api(name="zz-private-name")
    assert slow_query_wrapper in connection.execute_wrappers  # installed by connection_created
    metrics.reset()
    settings.SLOW_QUERY_MS = 0  # every statement counts as slow
    resp = me.get("/api/me", HTTP_X_REQUEST_ID="req-abc-123")
    assert resp.status_code == 200 and resp["X-Request-ID"] == "req-abc-123"
    lines = _lines(slow_log)
    assert lines, "no slow-query lines logged"
    for line in lines:
        assert line["logger"] == "config.slow_query" and line["level"] == "WARNING"
        assert line["request_id"] == "req-abc-123"
        assert isinstance(line["duration_ms"], (int, float))
        assert line["sql"].startswith(("SELECT", "UPDATE", "INSERT", "SAVEPOINT", "RELEASE"))
    text = slow_log.getvalue()
    assert me.token not in text and "zz-private-name" not in text  # shapes, never values
    assert metrics.value("db_slow_queries_total") == len(lines)


@pytest.mark.django_db
def test_fast_queries_not_logged(make_user, settings, slow_log):
    settings.SLOW_QUERY_MS = 10_000
    make_user()
    assert slow_log.getvalue() == ""
    settings.SLOW_QUERY_MS = -1  # disabled
    make_user()
    assert slow_log.getvalue() == ""


@pytest.mark.django_db
def test_really_slow_postgresql_query_is_logged(settings, slow_log):
    if connection.vendor != "postgresql":
        pytest.skip("pg_sleep needs PostgreSQL")
    settings.SLOW_QUERY_MS = 50
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.execute("SELECT pg_sleep(%s)", [0.08])
    lines = _lines(slow_log)
    assert [line["sql"] for line in lines] == ["SELECT pg_sleep(%s)"]
    assert lines[0]["duration_ms"] >= 50


# --- logging configuration -----------------------------------------------------------------
@pytest.mark.parametrize(
    "env,expected",
    [({"DJANGO_ENV": "production", "SECRET_KEY": "k3y-" + "0123456789abcdef" * 4, "ALLOWED_HOSTS": "example.com"}, "json"),
     ({"DJANGO_ENV": "development"}, "text")],
)
def test_json_logs_in_production_readable_in_development(env, expected, tmp_path):
    code = (
        "import django, logging; django.setup(); from django.conf import settings; "
        "print(settings.LOGGING['handlers']['console']['formatter']); "
        "logging.getLogger('probe').warning('hello %s', 'world')"
    )
    full = dict(os.environ, DJANGO_SETTINGS_MODULE="config.settings", VAR_DIR=str(tmp_path), **env)
    full.pop("REDIS_URL", None)
    full.pop("LOG_JSON", None)
    proc = subprocess.run([sys.executable, "-c", code], env=full, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == expected
    last = proc.stderr.strip().splitlines()[-1]
    if expected == "json":
        record = json.loads(last)
        assert record["msg"] == "hello world" and record["request_id"] == "-" and record["level"] == "WARNING"
    else:
        assert "WARNING probe [-] hello world" in last


# --- library-backed formats (prometheus_client, python-json-logger) -------------------------
def test_metric_label_values_are_escaped_and_wrong_labels_never_raise():
    metrics.reset()
    metrics.inc("http_requests_total", method="GET", route='a"b\\c\nd', status=200)
    text = metrics.render()
    assert 'route="a\\"b\\\\c\\nd"' in text
    metrics.inc("http_requests_total", verb="GET")  # not its label names: logged and dropped
    assert metrics.value("http_requests_total", method="GET", route='a"b\\c\nd', status=200) == 1


def test_json_log_line_has_utc_millisecond_timestamp_extras_and_traceback():
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(RequestIdFilter())
    probe = logging.getLogger("probe.json")
    probe.addHandler(handler)
    try:
        probe.warning("took %s", "long", extra={"duration_ms": 12.5, "route": "api/me", "status": 200})
        try:
            raise ValueError("boom")
        except ValueError:
            probe.exception("failed")
    finally:
        probe.removeHandler(handler)
    first, second = _lines(stream)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", first["ts"])
    assert first["msg"] == "took long" and first["level"] == "WARNING" and first["logger"] == "probe.json"
    assert first["request_id"] == "-"
    assert (first["duration_ms"], first["route"], first["status"]) == (12.5, "api/me", 200)
    assert second["level"] == "ERROR" and "ValueError: boom" in second["exc"]
