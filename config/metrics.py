"""Process-local metrics in the Prometheus text format (``/metrics``).

The whole API other apps need::

    from config import metrics

    metrics.inc("sweeper_runs_total")                      # counter += 1
    metrics.inc("ws_messages_total", type="room.message")  # with labels
    metrics.gauge_add("ws_connections", 1)                 # on connect; -1 on disconnect
    metrics.gauge_set("sweeper_last_run_timestamp_seconds", time.time())
    metrics.observe("sweeper_duration_seconds", 0.012)      # histogram
    metrics.gauge_fn("live_rooms", lambda: Room.objects.filter(ended_at=None).count())

``gauge_fn`` is evaluated at scrape time (return a number, or ``{labels_tuple: value}`` with
``labels=(names…)``); a failing function is skipped, never breaks the scrape.

Values live in this process's memory: every Daphne process exposes its own numbers and Prometheus
scrapes each process (``instance`` label), which is the standard model for multi-process servers.
Names and help texts are declared below so the families exist (at 0) before anything is counted.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable

logger = logging.getLogger(__name__)

DEFAULT_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

_lock = threading.Lock()
_meta: dict[str, tuple[str, str]] = {}  # name -> (type, help)
_values: dict[str, dict[tuple, float]] = {}  # counters and gauges: name -> {labels: value}
_hist: dict[str, dict[tuple, list]] = {}  # name -> {labels: [bucket counts…, sum, count]}
_buckets: dict[str, tuple[float, ...]] = {}
_fns: dict[str, tuple[Callable, tuple[str, ...]]] = {}
_started = time.time()


def declare(name: str, kind: str, help_text: str, buckets: tuple[float, ...] | None = None) -> None:
    """Declare a family (``counter``, ``gauge``, ``histogram``) with its help text."""
    assert kind in {"counter", "gauge", "histogram"}
    with _lock:
        _meta[name] = (kind, help_text)
        if kind == "histogram":
            _buckets[name] = tuple(buckets or DEFAULT_BUCKETS)
            _hist.setdefault(name, {})
        else:
            _values.setdefault(name, {})


def _key(labels: dict) -> tuple:
    return tuple(sorted((k, str(v)) for k, v in labels.items()))


def _add(kind: str, name: str, delta: float, labels: dict) -> None:
    with _lock:
        _meta.setdefault(name, (kind, name.replace("_", " ")))
        series = _values.setdefault(name, {})
        k = _key(labels)
        series[k] = series.get(k, 0) + delta


def inc(name: str, value: float = 1, **labels) -> None:
    _add("counter", name, value, labels)


def gauge_set(name: str, value: float, **labels) -> None:
    with _lock:
        _meta.setdefault(name, ("gauge", name.replace("_", " ")))
        _values.setdefault(name, {})[_key(labels)] = value


def gauge_add(name: str, delta: float, **labels) -> None:
    _add("gauge", name, delta, labels)


def gauge_fn(name: str, fn: Callable, help_text: str = "", labels: tuple[str, ...] = ()) -> None:
    """Register a gauge computed at scrape time (e.g. live rooms counted in the database)."""
    with _lock:
        _meta[name] = ("gauge", help_text or _meta.get(name, ("gauge", name.replace("_", " ")))[1])
        _values.pop(name, None)
        _fns[name] = (fn, tuple(labels))


def observe(name: str, value: float, **labels) -> None:
    with _lock:
        if name not in _meta:
            _meta[name] = ("histogram", name.replace("_", " "))
            _buckets[name] = DEFAULT_BUCKETS
        buckets = _buckets[name]
        series = _hist.setdefault(name, {})
        k = _key(labels)
        row = series.get(k)
        if row is None:
            row = series[k] = [0] * (len(buckets) + 2)
        for i, bound in enumerate(buckets):
            if value <= bound:
                row[i] += 1
        row[-2] += value
        row[-1] += 1


def value(name: str, **labels) -> float:
    """Current value of a counter/gauge series (0 if never touched) — for tests and checks."""
    with _lock:
        return _values.get(name, {}).get(_key(labels), 0)


def reset() -> None:
    """Zero every series (tests).  Declarations and gauge functions stay."""
    with _lock:
        for series in _values.values():
            series.clear()
        for series in _hist.values():
            series.clear()


# --- exposition ----------------------------------------------------------------------------
def _esc(v: str) -> str:
    return v.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(pairs: tuple, extra: tuple = ()) -> str:
    items = list(pairs) + list(extra)
    if not items:
        return ""
    return "{" + ",".join(f'{k}="{_esc(str(v))}"' for k, v in items) + "}"


def _num(v: float) -> str:
    if isinstance(v, float) and math.isinf(v):
        return "+Inf" if v > 0 else "-Inf"
    if float(v).is_integer():
        return str(int(v))
    return repr(float(v))


def render() -> str:
    """The Prometheus text exposition format, version 0.0.4."""
    with _lock:
        meta = dict(_meta)
        values = {k: dict(v) for k, v in _values.items()}
        hist = {k: {lk: list(row) for lk, row in v.items()} for k, v in _hist.items()}
        buckets = dict(_buckets)
        fns = dict(_fns)
    for name, (fn, label_names) in fns.items():
        try:
            result = fn()
        except Exception:  # noqa: BLE001 - a broken gauge must not break the scrape
            logger.warning("metrics gauge %s failed", name, exc_info=True)
            continue
        if isinstance(result, dict):
            values[name] = {tuple(zip(label_names, map(str, k if isinstance(k, tuple) else (k,)))): v for k, v in result.items()}
        else:
            values[name] = {(): float(result)}
    lines: list[str] = []
    for name in sorted(meta):
        kind, help_text = meta[name]
        if kind == "histogram":
            series = hist.get(name, {})
            lines.append(f"# HELP {name} {help_text}")
            lines.append(f"# TYPE {name} histogram")
            for lk, row in sorted(series.items()):
                for i, bound in enumerate(buckets[name]):
                    lines.append(f"{name}_bucket{_labels(lk, (('le', _num(bound)),))} {_num(row[i])}")
                lines.append(f"{name}_bucket{_labels(lk, (('le', '+Inf'),))} {_num(row[-1])}")
                lines.append(f"{name}_sum{_labels(lk)} {_num(row[-2])}")
                lines.append(f"{name}_count{_labels(lk)} {_num(row[-1])}")
            continue
        if name not in values:
            continue  # a gauge function that failed this time
        series = values.get(name) or {(): 0}
        lines.append(f"# HELP {name} {help_text}")
        lines.append(f"# TYPE {name} {kind}")
        for lk, v in sorted(series.items()):
            lines.append(f"{name}{_labels(lk)} {_num(v)}")
    return "\n".join(lines) + "\n"


# --- the families this project exposes ---------------------------------------------------------
declare("http_requests_total", "counter", "HTTP requests by method, route pattern and status")
declare("http_request_duration_seconds", "histogram", "HTTP request latency by method and route pattern")
declare("db_slow_queries_total", "counter", "SQL statements slower than SLOW_QUERY_MS")
declare("db_unavailable_total", "counter", "requests answered 503 because the database was unavailable")
declare("redis_unavailable_total", "counter", "operations that found Redis unreachable (degraded: database fallback or 503)")
declare("ws_connections", "gauge", "open WebSocket connections in this process (fed by realtime)")
declare("ws_connects_total", "counter", "WebSocket connections accepted (fed by realtime)")
declare("live_rooms", "gauge", "rooms currently live (fed by social via gauge_fn)")
declare("sweeper_runs_total", "counter", "sweeper passes completed (fed by realtime)")
declare("purge_rows_total", "counter", "rows purged by retention, by purger")
declare("purge_runs_total", "counter", "purge runs completed")
gauge_fn("process_start_time_seconds", lambda: _started, "start time of this process (unix seconds)")
