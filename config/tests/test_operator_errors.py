"""Every operator command of this project, given bad input, prints ONE line ``error: …`` on stderr
and exits non-zero — never a traceback, never an argparse usage block (config/management/base.py).

The commands are discovered, not listed: a new command is checked by the first two tests at once.
Everything runs as an operator would run it — through ``manage.main`` with the process's real stdout
and stderr — one subprocess per environment (``run_commands.py``), so the suite stays fast.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import SimpleNamespace

import pytest
from django.apps import apps
from django.core.management import find_commands, load_command_class

from config.management.base import OperatorCommand
from config.tests.conftest import ROOT


def project_commands() -> dict[str, str]:
    """``{command: app}`` for the commands defined in this repository's apps."""
    found = {}
    for config in apps.get_app_configs():
        path = Path(config.path)
        if ROOT in path.parents and ".venv" not in path.parts:
            for name in find_commands(str(path / "management")):
                found[name] = config.name
    return dict(sorted(found.items()))


COMMANDS = project_commands()
NEEDS_DATABASE = [name for name, app in COMMANDS.items() if load_command_class(app, name).requires_database]
REFUSED_PG = "postgresql://postgres@127.0.0.1:1/nope"  # nothing listens on port 1
# Arguments that make each command's line valid (so the case tests only the one thing wrong).
VALID_ARGS = {
    "move_database": ["--to", "postgresql://postgres@127.0.0.1:1/t"],
    "invitecodes": ["list"],
    "createmoderator": ["--email", "m@example.edu", "--no-password"],
    "restore": ["/dev/null"],
}


def test_the_project_has_the_operator_commands():
    assert {"backup", "restore", "purge", "move_database", "doctor", "wipe_data", "seed_demo", "invitecodes",
            "createmoderator", "sweep", "asyncapi"} <= set(COMMANDS)


@pytest.mark.parametrize("name", list(COMMANDS))
def test_every_command_is_an_operator_command(name):
    assert isinstance(load_command_class(COMMANDS[name], name), OperatorCommand)


# Each case: (id, argv, env overrides, expected start of the one line).  "{tmp}" is a scratch
# directory whose SQLite database is migrated; "{garbage}" is a file that is not a backup.
CASES = [
    *[(f"{name}-unknown-flag", [name, *VALID_ARGS.get(name, []), "--no-such-flag"], {},
       f"error: {name}: unrecognized arguments: --no-such-flag") for name in COMMANDS],
    *[(f"{name}-wrong-database-url", [name, *VALID_ARGS.get(name, [])], {"DATABASE_URL": REFUSED_PG},
       "error: DATABASE_URL: connection refused at 127.0.0.1:1") for name in NEEDS_DATABASE],
    ("asyncapi-unwritable-file", ["asyncapi", "--file", "/proc/nope/asyncapi.json"], {},
     "error: asyncapi: No such file or directory: /proc/nope/asyncapi.json"),
    ("sqlite-in-missing-directory", ["purge", "--dry-run"], {"DATABASE_URL": "sqlite:////nonexistent-dir/x.sqlite3"},
     "error: DATABASE_URL: cannot open SQLite file /nonexistent-dir/x.sqlite3"),
    ("unsupported-database-url", ["backup"], {"DATABASE_URL": "mysql://x/y"}, "error: configuration: DATABASE_URL:"),
    ("backup-unwritable-output", ["backup", "--output", "/proc/nope"], {}, "error: backup: No such file or directory: /proc/nope"),
    ("backup-bad-keep", ["backup", "--keep", "many"], {}, "error: backup: argument --keep: invalid int value: 'many'"),
    ("backup-unknown-database-alias", ["backup", "--database", "nope"], {}, "error: backup: --database: The connection 'nope' doesn't exist"),
    ("restore-missing-file", ["restore", "/nonexistent/backup.tar.gz"], {}, "error: no such backup file: /nonexistent/backup.tar.gz"),
    ("restore-not-a-backup", ["restore", "{garbage}", "--force"], {}, "error: not a readable backup file (nothing changed)"),
    ("restore-no-path", ["restore"], {}, "error: restore: the following arguments are required: path"),
    ("purge-unknown-purger", ["purge", "--only", "nope"], {}, "error: unknown purger(s): nope; known: "),
    ("purge-bad-batch", ["purge", "--batch-size", "0"], {}, "error: --batch-size must be at least 1"),
    ("purge-progress-and-no-progress", ["purge", "--progress", "--no-progress"], {}, "error: purge: argument --no-progress: not allowed with argument --progress"),
    ("move-database-not-postgresql", ["move_database", "--to", "sqlite:///x.sqlite3"], {}, "error: --to must be a postgresql://… URL"),
    ("move-database-target-refused", ["move_database", "--to", "postgresql://postgres@127.0.0.1:1/t"], {}, "error: cannot connect to the target: "),
    ("invitecodes-no-action", ["invitecodes"], {}, "error: invitecodes: the following arguments are required: action"),
    ("invitecodes-bad-expiry", ["invitecodes", "create", "--expires", "yesterday"], {}, "error: --expires: expected 30d"),
    ("invitecodes-bad-count", ["invitecodes", "create", "--count", "0"], {}, "error: "),
    ("invitecodes-unwritable-output", ["invitecodes", "list", "--output", "/proc/nope/codes.csv"], {}, "error: --output: cannot write /proc/nope/codes.csv"),
    ("createmoderator-no-email", ["createmoderator"], {}, "error: --email is required when not interactive"),
    ("createmoderator-no-password", ["createmoderator", "--email", "m@example.edu"], {}, "error: no terminal to prompt for a password"),
    ("wipe-data-wrong-confirmation", ["wipe_data", "--yes-i-mean-it", "--database-name", "nope"], {}, "error: --database-name must be"),
    ("wipe-data-unconfirmed", ["wipe_data"], {}, "error: confirmation did not match; nothing deleted"),
    ("seed-demo-production", ["seed_demo"], {"DJANGO_ENV": "production", "SECRET_KEY": "Zq8v1Lw0Ym4s-Rk2Tn7uPj5Xc3Hb6Ga9Df_Ee1Kk4Mm7Nn0Pp2Qq5",
                                             "ALLOWED_HOSTS": "chat.example.edu"},
     "error: seed_demo refuses to run with DJANGO_ENV=production"),
]


def _env(tmp: Path, overrides: dict) -> dict:
    env = {**os.environ, "DJANGO_ENV": "test", "VAR_DIR": str(tmp)}
    for key in ("DATABASE_URL", "REDIS_URL"):
        env.pop(key, None)  # the embedded configuration, in the scratch VAR_DIR
    env.update(overrides)
    return env


def _run_many(argvs: list[list[str]], env: dict) -> list[dict]:
    """The command lines in one process (``run_commands.py``): ``[{"code", "stdout", "stderr"}]``."""
    done = subprocess.run([sys.executable, str(ROOT / "config/tests/run_commands.py")], cwd=ROOT, env=env,
                          input=json.dumps(argvs), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("operator-errors")
    garbage = tmp / "garbage.tar.gz"
    garbage.write_bytes(b"this is not a backup")
    groups: dict[str, list] = {}
    for case in CASES:
        groups.setdefault(json.dumps(case[2], sort_keys=True), []).append(case)

    def one_env(key):
        cases = groups[key]
        env = _env(tmp, json.loads(key))
        argvs = [[a.replace("{garbage}", str(garbage)) for a in argv] for _, argv, _, _ in cases]
        if key == "{}":  # the embedded database, migrated first
            argvs.insert(0, ["migrate", "--noinput", "-v", "0"])
        out = _run_many(argvs, env)
        if key == "{}":
            assert out.pop(0)["code"] == 0
        return {case[0]: SimpleNamespace(returncode=r["code"], stdout=r["stdout"], stderr=r["stderr"])
                for case, r in zip(cases, out)}

    merged = {}
    with ThreadPoolExecutor(max_workers=2) as pool:
        for part in pool.map(one_env, list(groups)):
            merged.update(part)
    return merged


@pytest.mark.parametrize("case_id, argv, overrides, expected", CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_one_line_on_stderr(results, case_id, argv, overrides, expected):
    done = results[case_id]
    assert done.returncode != 0, done.stdout
    assert "Traceback" not in done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith(expected), done.stderr
    assert done.returncode == (2 if ": argument" in lines[0] or "arguments" in lines[0] else done.returncode)
