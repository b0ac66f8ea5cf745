"""Operator commands fail with one line (exit status 1), never a traceback."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from config.tests.conftest import ROOT


@pytest.mark.parametrize(
    "args, expected",
    [
        (["backup", "--output", "/proc/nope"], "CommandError: backup: No such file or directory: /proc/nope"),
    ],
)
def test_unwritable_output_is_one_line(tmp_path, args, expected):
    env = {**os.environ, "DJANGO_ENV": "test", "VAR_DIR": str(tmp_path)}
    env.pop("DATABASE_URL", None)
    env.pop("REDIS_URL", None)
    done = subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith(expected), done.stderr
