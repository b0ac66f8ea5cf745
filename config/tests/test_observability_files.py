"""deploy/prometheus/ (scrape config, alert rules, Grafana dashboard) and DEPLOYMENT.md's metric
table name only metrics the app exposes; the scrape targets are the processes nginx proxies to."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from config import metrics, observability

ROOT = Path(__file__).resolve().parents[2]
PROM = ROOT / "deploy" / "prometheus"
CALLS = re.compile(r"""metrics\.(?:inc|gauge_add|gauge_set|gauge_fn|observe|declare)\(\s*["']([a-z_][a-z0-9_]*)["']""")
PROMQL_WORDS = {"sum", "rate", "increase", "by", "le", "histogram_quantile", "clamp_min", "topk", "max", "time",
                "changes", "and", "offset", "job", "instance", "route", "status", "up", "on", "or"}


def exposed_families() -> set[str]:
    names = set(observability.POOL_GAUGES)
    names |= {line.split()[2] for line in metrics.render().splitlines() if line.startswith("# TYPE")}
    for path in ROOT.glob("*/**/*.py"):
        rel = path.relative_to(ROOT)
        if rel.parts[0] in {".venv", "var", "bench"} or "tests" in rel.parts:
            continue
        names |= set(CALLS.findall(path.read_text(errors="replace")))
    with_suffixes = set(names)
    for name in names:
        with_suffixes |= {f"{name}_bucket", f"{name}_sum", f"{name}_count"}
    return with_suffixes | {"up"}


def metric_names(expr: str) -> set[str]:
    expr = re.sub(r'"[^"]*"', '""', expr)  # label values
    expr = re.sub(r"\{[^}]*\}", "", expr)  # selectors
    expr = re.sub(r"\[[^\]]*\]", "", expr)  # ranges
    words = set(re.findall(r"\b([a-z_][a-z0-9_]*)\b", expr))
    return {w for w in words if "_" in w or w == "up"} - PROMQL_WORDS


def test_alert_rules_and_dashboard_use_existing_metrics():
    known = exposed_families()
    rules = yaml.safe_load((PROM / "alerts.yml").read_text())
    exprs = [rule["expr"] for group in rules["groups"] for rule in group["rules"]]
    dashboard = json.loads((PROM / "grafana-dashboard.json").read_text())
    exprs += [t["expr"].replace("$__rate_interval", "5m").replace("$job", "campuschat")
              for panel in dashboard["panels"] for t in panel["targets"]]
    used = set().union(*(metric_names(e) for e in exprs))
    assert used and not used - known, f"unknown metrics: {sorted(used - known)}"
    # the dashboard covers what an operator asks first
    for family in ("http_requests_total", "http_request_duration_seconds_bucket", "ws_connections", "live_rooms",
                   "sweeper_last_run_timestamp_seconds", "db_pool_requests_waiting"):
        assert family in used, family


def test_scrape_targets_are_the_nginx_upstreams():
    config = yaml.safe_load((PROM / "prometheus.yml").read_text())
    (job,) = config["scrape_configs"]
    targets = {t for sc in job["static_configs"] for t in sc["targets"]}
    upstreams = set(re.findall(r"server (127\.0\.0\.1:\d+)", (ROOT / "deploy" / "nginx.conf").read_text()))
    assert targets == upstreams and job["metrics_path"] == "/metrics"
    assert job["authorization"]["type"] == "Bearer"


def test_deployment_md_metric_table_names_existing_metrics():
    text = (ROOT / "docs" / "DEPLOYMENT.md").read_text()
    section = text.split("## What to watch", 1)[1]
    names = set()
    for line in section.splitlines():
        if line.strip().startswith("| `"):
            names |= set(re.findall(r"`([a-z_][a-z0-9_]*)(?:\{[^`]*\})?`", line.split("|")[1]))
    assert names and not names - exposed_families(), sorted(names - exposed_families())


@pytest.mark.django_db
def test_pool_gauges_report_the_postgresql_pool(settings):
    if not settings.DATABASES["default"]["ENGINE"].endswith("postgresql"):
        pytest.skip("the connection pool exists with PostgreSQL only")
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    text = metrics.render()
    values = {m.group(1): float(m.group(2)) for m in re.finditer(r"^(db_pool_[a-z_]+) ([0-9.e+-]+)$", text, re.M)}
    assert set(values) == set(observability.POOL_GAUGES), values
    assert values["db_pool_size"] >= 1 and values["db_pool_size"] >= values["db_pool_available"]
