"""Process metrics in the Prometheus text format (``/metrics``), through ``prometheus_client``.

The whole API other apps need::

    from config import metrics

    metrics.inc("sweeper_runs_total")                      # counter += 1
    metrics.inc("ws_messages_total", type="room.message")  # with labels
    metrics.gauge_add("ws_connections", 1)                 # on connect; -1 on disconnect
    metrics.gauge_set("sweeper_last_run_timestamp_seconds", time.time())
    metrics.observe("sweeper_duration_seconds", 0.012)      # histogram
    metrics.gauge_fn("live_rooms", lambda: Room.objects.live().count())

A family's label names are fixed by its declaration (``labels=``) or, for an undeclared family, by
its first use; a call with other label names is logged and dropped (a metric never fails a
request).  ``gauge_fn`` is evaluated at scrape time (return a number, or ``{labels_tuple: value}``
with ``labels=(names…)``); a failing function is skipped, never breaks the scrape.

Values live in this process's memory (one ``CollectorRegistry``, with ``prometheus_client``'s
process and platform collectors): every Daphne process exposes its own numbers and Prometheus
scrapes each process (``instance`` label), the standard model for multi-process servers.  Declared
families without labels exist (at 0) before anything is counted.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import prometheus_client
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, PlatformCollector, ProcessCollector
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4, generate_latest

logger = logging.getLogger(__name__)

prometheus_client.disable_created_metrics()  # no ``*_created`` series: not part of our format

DEFAULT_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4

_KINDS = {"counter": Counter, "gauge": Gauge, "histogram": Histogram}

_lock = threading.Lock()
_declared: dict[str, tuple[str, str, tuple[float, ...] | None, tuple[str, ...] | None]] = {}
_families: dict[str, object] = {}  # name -> prometheus_client metric
_children: dict[tuple, object] = {}  # (name, label items) -> the labelled child (a dict hit per call)
_fns: dict[str, tuple[Callable, str, tuple[str, ...]]] = {}


class _ScrapeTimeGauges:
    """``gauge_fn`` families, computed when Prometheus scrapes (a custom collector)."""

    def describe(self):
        return []  # names are dynamic; collisions are avoided by ``gauge_fn`` itself

    def collect(self):
        with _lock:
            fns = dict(_fns)
        for name, (fn, help_text, label_names) in sorted(fns.items()):
            try:
                result = fn()
            except Exception:  # noqa: BLE001 - a broken gauge must not break the scrape
                logger.warning("metrics gauge %s failed", name, exc_info=True)
                continue
            family = GaugeMetricFamily(name, help_text, labels=label_names or None)
            if isinstance(result, dict):
                for key, v in result.items():
                    family.add_metric([str(k) for k in (key if isinstance(key, tuple) else (key,))], float(v))
            else:
                family.add_metric([], float(result))
            yield family


def _new_registry() -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=True)
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    registry.register(_ScrapeTimeGauges())
    return registry


REGISTRY = _new_registry()


def _create(name: str, kind: str, label_names: tuple[str, ...]):
    """The family object (caller holds ``_lock``)."""
    _, help_text, buckets, declared_labels = _declared.get(name, (kind, name.replace("_", " "), None, None))
    label_names = declared_labels if declared_labels is not None else label_names
    extra = {"buckets": buckets or DEFAULT_BUCKETS} if kind == "histogram" else {}
    metric = _KINDS[kind](name, help_text, labelnames=label_names, registry=REGISTRY, **extra)
    _families[name] = metric
    return metric


def declare(
    name: str, kind: str, help_text: str, buckets: tuple[float, ...] | None = None, labels: tuple[str, ...] = ()
) -> None:
    """Declare a family (``counter``, ``gauge``, ``histogram``) with its help text and label names."""
    assert kind in _KINDS
    with _lock:
        _declared[name] = (kind, help_text, tuple(buckets) if buckets else None, tuple(labels))
        if name not in _families and name not in _fns:
            _create(name, kind, tuple(labels))


def _child(kind: str, name: str, labels: dict):
    key = (name, *labels.items())
    child = _children.get(key)
    if child is not None:
        return child
    with _lock:
        metric = _families.get(name) or _create(name, kind, tuple(sorted(labels)))
        try:
            child = metric.labels(**labels) if labels or metric._labelnames else metric
        except ValueError:
            logger.warning("metric %s used with labels %s, declared with %s", name, sorted(labels), metric._labelnames)
            return None
        _children[key] = child
    return child


def inc(name: str, value: float = 1, **labels) -> None:
    child = _child("counter", name, labels)
    if child is not None:
        child.inc(value)


def gauge_set(name: str, value: float, **labels) -> None:
    child = _child("gauge", name, labels)
    if child is not None:
        child.set(value)


def gauge_add(name: str, delta: float, **labels) -> None:
    child = _child("gauge", name, labels)
    if child is not None:
        child.inc(delta)


def observe(name: str, value: float, **labels) -> None:
    child = _child("histogram", name, labels)
    if child is not None:
        child.observe(value)


def gauge_fn(name: str, fn: Callable, help_text: str = "", labels: tuple[str, ...] = ()) -> None:
    """Register a gauge computed at scrape time (e.g. live rooms counted in the database)."""
    with _lock:
        declared = _declared.get(name)
        help_text = help_text or (declared[1] if declared else name.replace("_", " "))
        metric = _families.pop(name, None)
        if metric is not None:  # declared as a plain gauge: the function replaces it
            REGISTRY.unregister(metric)
            for key in [k for k in _children if k[0] == name]:
                del _children[key]
        _fns[name] = (fn, help_text, tuple(labels))


def value(name: str, **labels) -> float:
    """Current value of a counter/gauge series (0 if never touched) — for tests and checks."""
    metric = _families.get(name)  # this family only: a scrape would also run every gauge_fn
    wanted = {k: str(v) for k, v in labels.items()}
    for family in metric.collect() if metric is not None else ():
        for sample in family.samples:
            if sample.name == name and sample.labels == wanted:
                return sample.value
    return 0


def reset() -> None:
    """Zero every series (tests).  Declarations and gauge functions stay."""
    with _lock:
        for metric in _families.values():
            REGISTRY.unregister(metric)
        _families.clear()
        _children.clear()
        for name, (kind, _, _, label_names) in _declared.items():
            if name not in _fns:
                _create(name, kind, label_names or ())


def render() -> str:
    """The Prometheus text exposition format, version 0.0.4 (``CONTENT_TYPE``)."""
    return generate_latest(REGISTRY).decode()


# --- the families this project exposes ---------------------------------------------------------
declare("http_requests_total", "counter", "HTTP requests by method, route pattern and status",
        labels=("method", "route", "status"))
declare("http_request_duration_seconds", "histogram", "HTTP request latency by method and route pattern",
        labels=("method", "route"))
declare("db_slow_queries_total", "counter", "SQL statements slower than SLOW_QUERY_MS")
declare("db_unavailable_total", "counter", "requests answered 503 because the database was unavailable")
declare("redis_unavailable_total", "counter", "operations that found Redis unreachable (degraded: database fallback or 503)")
declare("ws_connections", "gauge", "open WebSocket connections in this process (fed by realtime)")
declare("ws_connects_total", "counter", "WebSocket connections accepted (fed by realtime)")
declare("live_rooms", "gauge", "rooms currently live (fed by social via gauge_fn)")
declare("events_send_failed_total", "counter", "server→client events the channel layer failed to take (logged, not raised)")
declare("after_commit_failed_total", "counter",
        "effects after a committed write (cache invalidation, notices, mail, file cleanup) that failed; logged, "
        "never raised (config.aftercommit)", labels=("effect",))
declare("sweeper_runs_total", "counter", "sweeper passes completed (fed by realtime)")
declare("purge_rows_total", "counter", "rows purged by retention, by purger", labels=("purger",))
declare("purge_runs_total", "counter", "purge runs completed")
