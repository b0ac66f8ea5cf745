"""Every environment variable the code reads is in docs/DEPLOYMENT.md's table, and every row there
is read (config/env.py is the one place the environment is read; the test scans it)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
READERS = re.compile(r"""(?:_bool|_int|_float|_list|_str|_json_object|os\.environ\.get|os\.getenv)\(\s*["']([A-Z][A-Z0-9_]*)["']""")
# Read by Django/ASGI bootstrapping, not configuration of this app.
NOT_SETTINGS = {"DJANGO_SETTINGS_MODULE"}


def names_read() -> set[str]:
    found = set(READERS.findall((ROOT / "config" / "env.py").read_text()))
    # "Nothing else in the tree reads os.environ": hold the rest of the code to that too
    for path in ROOT.glob("*/**/*.py"):
        rel = path.relative_to(ROOT)
        if rel.parts[0] in {".venv", "var", "tests", "bench"} or "tests" in rel.parts or rel == Path("config/env.py"):
            continue
        found |= set(READERS.findall(path.read_text(errors="replace")))
    return found - NOT_SETTINGS


def names_documented() -> set[str]:
    text = (ROOT / "docs" / "DEPLOYMENT.md").read_text()
    section = text.split("## Environment variables", 1)[1].split("\n## ", 1)[0]
    names = set()
    for line in section.splitlines():
        if line.startswith("|") and not line.startswith("|---"):
            first_cell = line.split("|")[1]
            names |= set(re.findall(r"`([A-Z][A-Z0-9_]*)`", first_cell))
    return names


def test_every_setting_read_is_documented_and_every_documented_one_is_read():
    read, documented = names_read(), names_documented()
    assert read, "the scan found nothing: config/env.py changed shape"
    assert not read - documented, f"read but missing from DEPLOYMENT.md's environment table: {sorted(read - documented)}"
    assert not documented - read, f"in DEPLOYMENT.md's table but never read: {sorted(documented - read)}"


def test_env_example_only_sets_settings_that_exist():
    keys = set(re.findall(r"(?m)^#? ?([A-Z][A-Z0-9_]*)=", (ROOT / "deploy" / "env.example").read_text()))
    assert keys and not keys - names_read(), sorted(keys - names_read())
