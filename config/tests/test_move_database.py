"""move_database: a populated SQLite database → a fresh PostgreSQL database, then a real Daphne
process on the new database accepts a session token issued before the move."""

from __future__ import annotations

import json

import pytest

from config.tests.conftest import ROOT, manage

POPULATE = r"""
import json
from django.contrib.auth.models import Group, Permission
from accounts.models import User
from accounts.services import session_create
from audit.services import audit_record
mods = Group.objects.get_or_create(name="Moderators")[0]
mods.permissions.add(*Permission.objects.filter(codename__startswith="view_")[:3])
staff = User.objects.create_superuser("admin@example.edu", "s3cret-pass-word", name="Admin")
staff.groups.add(mods)
users = [User.objects.create_user(name=f"student{i}", bio=f"bio {i}") for i in range(25)]
User.objects.filter(pk=users[0].pk).update(timer_total_seconds=4321, paid_status="paid")
session, token = session_create(user=users[0], ip="10.0.0.1", user_agent="Mozilla (iPhone)")
audit_record(actor=staff, action="user.note", target=users[0], after={"note": "ünïcode ✓"})
print(json.dumps({"token": token, "user_id": users[0].pk, "public_id": str(users[0].public_id),
                  "created_at": users[0].created_at.isoformat()}))
"""


@pytest.mark.slow
def test_move_populated_sqlite_to_postgresql_keeps_sessions(tmp_path, throwaway_pg, daphne_factory):
    sqlite_url = f"sqlite:///{tmp_path / 'embedded.sqlite3'}"
    src_env = {"DATABASE_URL": sqlite_url, "REDIS_URL": None, "VAR_DIR": str(tmp_path / "var")}
    assert manage("migrate", "--noinput", env=src_env).returncode == 0
    populated = manage("shell", "-c", POPULATE, env=src_env)
    assert populated.returncode == 0, populated.stderr
    facts = json.loads(populated.stdout.strip().splitlines()[-1])

    target = throwaway_pg("move")
    moved = manage("move_database", "--to", target, env=src_env)
    assert moved.returncode == 0, moved.stdout + moved.stderr
    assert "accounts_user" in moved.stdout and "MISMATCH" not in moved.stdout
    assert "accounts_user_groups" in moved.stdout  # M2M through tables are copied too
    assert "django_content_type" in moved.stdout

    # Moving into a database that now holds data is refused, with a non-zero exit.
    again = manage("move_database", "--to", target, env=src_env)
    assert again.returncode != 0 and "not empty" in again.stderr

    # The operator switches DATABASE_URL: the old token still works on the new database.
    server = daphne_factory(env={"DATABASE_URL": target, "DB_POOL_MIN_SIZE": "1", "DB_POOL_MAX_SIZE": "2"})
    status, body = server.request("GET", "/api/me", token=facts["token"])
    assert status == 200, body
    assert body["name"] == "student0"
    # Sequences were reset: new rows get fresh ids on the target.
    status, body = server.request("POST", "/api/auth/guest", body={"name": "newcomer", "gender": "unspecified"})
    assert status in (200, 201), body

    check = manage(
        "shell", "-c",
        "import json; from accounts.models import User; from audit.models import AuditLog; "
        f"u = User.objects.get(pk={facts['user_id']}); a = AuditLog.objects.get(action='user.note'); "
        "print(json.dumps({'public_id': str(u.public_id), 'created_at': u.created_at.isoformat(), "
        "'timer': u.timer_total_seconds, 'paid': u.paid_status, 'note': a.after['note'], "
        "'admin_groups': list(User.objects.get(email='admin@example.edu').groups.values_list('name', flat=True)), "
        "'newest_id_gt': User.objects.order_by('-pk').first().pk > 26}))",
        env={"DATABASE_URL": target, "REDIS_URL": None},
    )
    assert check.returncode == 0, check.stderr
    got = json.loads(check.stdout.strip().splitlines()[-1])
    assert got == {
        "public_id": facts["public_id"],
        "created_at": facts["created_at"],
        "timer": 4321,
        "paid": "paid",
        "note": "ünïcode ✓",
        "admin_groups": ["Moderators"],
        "newest_id_gt": True,
    }


def test_move_refuses_non_postgresql_target():
    from io import StringIO

    from django.core.management import call_command
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="postgresql"):
        call_command("move_database", "--to", "sqlite:///tmp/x.sqlite3", stdout=StringIO())


SABOTAGED_MOVE = r"""
import sys, django
django.setup()
from django.core.management import call_command
from config.management.commands import move_database
real_copy = move_database.Command._copy
def lossy_copy(self, model, source, batch):  # lose one table; the verification must notice
    if model._meta.db_table != "accounts_session":
        real_copy(self, model, source, batch)
move_database.Command._copy = lossy_copy
call_command("move_database", "--to", sys.argv[1])
"""


@pytest.mark.slow
def test_move_exits_non_zero_when_a_table_does_not_match(tmp_path, throwaway_pg):
    import os
    import subprocess
    import sys

    src_env = {"DATABASE_URL": f"sqlite:///{tmp_path / 'src.sqlite3'}", "REDIS_URL": None, "VAR_DIR": str(tmp_path / "var")}
    assert manage("migrate", "--noinput", env=src_env).returncode == 0
    assert manage("shell", "-c", POPULATE, env=src_env).returncode == 0
    env = dict(os.environ, DJANGO_SETTINGS_MODULE="config.settings", DJANGO_ENV="test", **{k: v for k, v in src_env.items() if v})
    env.pop("REDIS_URL", None)
    proc = subprocess.run(
        [sys.executable, "-c", SABOTAGED_MOVE, throwaway_pg("mismatch")],
        env=env, capture_output=True, text=True, timeout=120, cwd=ROOT,
    )
    assert proc.returncode != 0
    assert "accounts_session" in proc.stdout and "MISMATCH" in proc.stdout
    assert "row counts differ in 1 tables: accounts_session" in proc.stderr
