"""Fuzzing the REST API: schemathesis against the live schema of a real Daphne, with valid tokens.

0 server errors, 0 undocumented status codes or content types, 0 responses that break their schema.
The run is the command line in ``schemathesis.toml`` (seed, derandomized generation, 10 cases per
operation and phase; about a minute, 44 operations, ~1,400 cases), so a failure here reproduces with
``st run`` against ``make run`` (docs/CLIENT.md, "Fuzzing the API").

It runs in both CI passes: SQLite and PostgreSQL refuse different inputs (an integer past 2**63 in a
path, a NUL in text), and a 500 that only one database raises is exactly what this is for.
"""

import json
import os
import resource
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

ROOT = Path(__file__).resolve().parent.parent
ST = str(Path(sys.executable).with_name("st"))
SPARE_TOKENS = 120  # one per session the run ends (DELETE /api/me, logout …); ~20 in practice


def _mint_tokens(n: int) -> list[str]:
    """Bearer tokens of ``n`` fresh guests, each its own user: a killed token takes no other with it."""
    from accounts.models import User
    from accounts.services import session_create

    tokens = []
    for i in range(n):
        user = User.objects.create_user(name=f"fuzz{i}", gender=User.Gender.UNSPECIFIED)
        tokens.append(session_create(user=user, ip="127.0.0.1", user_agent="schemathesis")[1])
    return tokens


def _cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a live process (load-independent, unlike the wall time)."""
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_schemathesis_finds_nothing(daphne_factory, tmp_path):
    server = daphne_factory(log_name="daphne-schemathesis")
    token_file = tmp_path / "tokens.txt"
    token_file.write_text("\n".join(_mint_tokens(SPARE_TOKENS)))
    report = tmp_path / "report.json"
    env = dict(
        server.env(), CAMPUS_FUZZ_TOKENS=str(token_file), NO_COLOR="1",
        HYPOTHESIS_STORAGE_DIRECTORY=str(ROOT / "var" / "hypothesis"),  # not ./.hypothesis
    )
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    proc = subprocess.run(
        [ST, "run", f"{server.base_url}/api/schema/?format=json", "--report", "json", "--report-json-path", str(report)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600,
    )
    output = proc.stdout + proc.stderr
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    st_cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    server_cpu = _cpu_seconds(server.proc.pid)
    assert report.exists(), f"schemathesis wrote no report (exit {proc.returncode}):\n{output[-4000:]}"
    run = json.loads(report.read_text())
    ops, cases = run["operations"], run["test_cases"]
    print(
        f"schemathesis: {ops['tested']}/{ops['total']} operations, {cases['generated']} cases, "
        f"{len(run['failures'])} failures, {len(run['errors'])} errors, {run['auth']['reauth_count']} re-auths, "
        f"{run['running_time']:.1f}s (CPU: schemathesis {st_cpu:.1f}s, daphne {server_cpu:.1f}s)"
    )
    assert run["failures"] == [] and run["errors"] == [], (
        f"{json.dumps(run['failures'] + run['errors'], indent=1)[:6000]}\n--- st output\n{output[-6000:]}"
        f"\n--- daphne\n{server.log_tail(80)}"
    )
    assert proc.returncode == 0, output[-4000:]
    # the run reached every operation with a live token, and it was a real run
    assert ops["tested"] == ops["total"] >= 40, ops
    assert cases["generated"] >= 40 * 10 and cases["errored"] == 0, cases
    assert run["complete"] and not run["auth"]["reauth_broke"], run["auth"]
