"""docs/ERRORS.md is the one table of error codes (REST and WebSocket): every code the code base can
answer is in it, with the HTTP status its error class carries, and nothing else is."""

import importlib
import re
from pathlib import Path

from config.errors import ApplicationError

ROOT = Path(__file__).resolve().parent.parent.parent
APPS = ("config", "accounts", "social", "moderation", "invites", "realtime", "audit", "flows", "backoffice")
# Literal codes in source: error classes, ApplicationError(code=...), the DRF/Django handlers'
# error_body(...), the WebSocket protocol's ProtocolError(...) and the consumer's _error(...).
PATTERNS = [
    re.compile(r'\bcode\s*=\s*"([a-z_]+)"'),
    re.compile(r'ProtocolError\(\s*"([a-z_]+)"'),
    re.compile(r'error_body\(\s*"([a-z_]+)"'),
    re.compile(r'_error\(\s*"([a-z_]+)"'),
]
NOT_ANSWERED = {"error"}  # ApplicationError's placeholder default; every raised error names its own


def _sources():
    for app in APPS:
        for path in (ROOT / app).rglob("*.py") if (ROOT / app).is_dir() else ():
            if "tests" in path.parts or "migrations" in path.parts:
                continue
            if path.name == "admin.py":  # Django admin forms: their codes stay on an HTML page
                continue
            yield path


def codes_in_code() -> set[str]:
    from config.api import _DRF_CODES

    found = set(_DRF_CODES.values())
    for path in _sources():
        text = path.read_text()
        for rx in PATTERNS:
            found |= set(rx.findall(text))
    return found - NOT_ANSWERED


def table() -> dict[str, str]:
    """code → HTTP column of docs/ERRORS.md."""
    rows = {}
    for line in (ROOT / "docs" / "ERRORS.md").read_text().splitlines():
        m = re.match(r"\| `([a-z_]+)` \| ([^|]+) \|", line)
        if m:
            assert m.group(1) not in rows, f"{m.group(1)} is documented twice"
            rows[m.group(1)] = m.group(2).strip()
    return rows


def test_every_code_is_documented_once_and_every_documented_code_exists():
    documented, used = set(table()), codes_in_code()
    assert used - documented == set(), "codes missing from docs/ERRORS.md"
    assert documented - used == set(), "docs/ERRORS.md lists codes nothing answers"


def _all_subclasses(cls):
    for sub in cls.__subclasses__():
        yield sub
        yield from _all_subclasses(sub)


def test_the_http_column_is_the_status_of_the_error_classes():
    for app in APPS:
        try:
            importlib.import_module(f"{app}.errors")
        except ModuleNotFoundError:
            pass
    rows = table()
    for cls in _all_subclasses(ApplicationError):
        if cls.__module__.split(".")[0] in APPS and "tests" not in cls.__module__ and cls.code not in NOT_ANSWERED:
            assert rows[cls.code] == str(cls.status), f"{cls.__module__}.{cls.__name__}: {cls.code} is {cls.status}"


def test_the_check_sees_a_missing_code(monkeypatch):
    monkeypatch.setattr("config.tests.test_error_codes.table", lambda: {"invalid": "400"})
    try:
        test_every_code_is_documented_once_and_every_documented_code_exists()
    except AssertionError:
        return
    raise AssertionError("a missing code went unnoticed")


def test_realtime_md_points_to_the_table_instead_of_repeating_it():
    text = (ROOT / "docs" / "REALTIME.md").read_text()
    assert "docs/ERRORS.md" in text or "(ERRORS.md)" in text
    assert "| `bad_frame` |" not in text
