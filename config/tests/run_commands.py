"""Run several ``manage.py`` command lines in ONE process, as ``manage.py`` runs each (``manage.main``):
``python config/tests/run_commands.py < cases.json`` → JSON ``[{"code", "stdout", "stderr"}]``.

Starting Django costs seconds on a small machine; the operator-error tests run dozens of command lines
per environment through this instead of a process each.  An exception that escapes ``manage.main`` is
printed as Python would print it (a traceback), so the tests see it.
"""

import json
import os
import sys
import tempfile
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import manage  # noqa: E402


def run(argv: list[str]) -> dict:
    """One command line, its file descriptors 1 and 2 sent to files (log handlers bound to
    ``sys.stderr`` at start-up are captured too)."""
    code = 0
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        sys.stdout.flush()
        sys.stderr.flush()
        saved = os.dup(1), os.dup(2)
        os.dup2(out.fileno(), 1)
        os.dup2(err.fileno(), 2)
        try:
            sys.argv = ["manage.py", *argv]
            try:
                manage.main()
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
            except BaseException:  # noqa: BLE001 - what an operator would see
                traceback.print_exc()
                code = 1
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])
        out.seek(0)
        err.seek(0)
        return {"code": code, "stdout": out.read().decode(errors="replace"), "stderr": err.read().decode(errors="replace")}


if __name__ == "__main__":
    cases = json.load(sys.stdin)
    results = [run(argv) for argv in cases]
    sys.stdout.write(json.dumps(results))
