from __future__ import annotations

import io

import pytest
from django.contrib.auth.models import Group, Permission
from django.core.cache import cache
from django.core.management import call_command
from django.core.management.base import CommandError

from accounts.models import Session, User
from config import dbtools
from audit.models import AuditLog

pytestmark = pytest.mark.django_db


@pytest.fixture
def populated(make_user, make_session):
    staff = make_user("staffer", is_staff=True)
    mods = Group.objects.get_or_create(name="Moderators")[0]  # created by a data migration
    other = Group.objects.create(name="Beta testers")
    staff.groups.add(mods, other)
    users = [make_user(f"u{i}") for i in range(3)]
    for u in users:
        make_session(u)
        u.groups.add(other)
    make_session(staff)
    AuditLog.objects.create(created_at="2026-01-01T00:00:00Z", actor_type="system", action="earlier.event")
    cache.set("presence:online:1", "yes")
    cache.set("rl:login:1.2.3.4:1", 3)
    return {"staff": staff, "mods": mods, "users": users}


def _name():
    return dbtools.database_name()


def test_dry_run_shows_counts_per_table_and_deletes_nothing(populated):
    out = io.StringIO()
    call_command("wipe_data", "--dry-run", stdout=out)
    text = out.getvalue()
    assert f"{User._meta.db_table}" in text and f"{Session._meta.db_table}" in text
    user_line = next(line for line in text.splitlines() if line.strip().startswith(User._meta.db_table + " "))
    assert user_line.split()[-1] == "3"  # staff kept
    assert User.objects.count() == 4 and Session.objects.count() == 4


def test_refuses_without_typed_confirmation(populated):
    with pytest.raises(CommandError, match="did not match"):
        call_command("wipe_data", stdout=io.StringIO())
    with pytest.raises(CommandError, match="--database-name must be"):
        call_command("wipe_data", "--yes-i-mean-it", "--database-name", "wrong", stdout=io.StringIO())
    with pytest.raises(CommandError, match="--database-name must be"):
        call_command("wipe_data", "--yes-i-mean-it", stdout=io.StringIO())
    assert User.objects.count() == 4


def test_refuses_in_production_unless_allowed(populated, settings):
    settings.PRODUCTION = True
    with pytest.raises(CommandError, match="production"):
        call_command("wipe_data", "--yes-i-mean-it", "--database-name", _name(), stdout=io.StringIO())
    assert User.objects.count() == 4
    call_command(
        "wipe_data", "--yes-i-mean-it", "--database-name", _name(), "--allow-production", stdout=io.StringIO()
    )
    assert User.objects.count() == 1


def test_wipe_keeps_staff_moderators_and_audit_log_and_clears_cache(populated):
    mods_permissions = Group.objects.get(name="Moderators").permissions.count()
    assert mods_permissions > 0
    call_command("wipe_data", "--yes-i-mean-it", "--database-name", _name(), stdout=io.StringIO())
    staff = populated["staff"]
    assert list(User.objects.values_list("pk", flat=True)) == [staff.pk]
    assert list(Group.objects.values_list("name", flat=True)) == ["Moderators"]
    assert list(User.objects.get(pk=staff.pk).groups.values_list("name", flat=True)) == ["Moderators"]
    assert Group.objects.get(name="Moderators").permissions.count() == mods_permissions
    assert Session.objects.count() == 0
    assert Permission.objects.exists()
    assert AuditLog.objects.filter(action="earlier.event").exists()
    entry = AuditLog.objects.get(action="data.wipe")
    assert entry.actor_type == "system" and entry.target_id == _name()
    assert entry.after["deleted"][User._meta.db_table] == 3
    assert cache.get("presence:online:1") is None and cache.get("rl:login:1.2.3.4:1") is None


def test_interactive_confirmation_by_typing_the_name(populated, monkeypatch):
    monkeypatch.setattr("builtins.input", lambda prompt="": _name())
    call_command("wipe_data", stdout=io.StringIO())
    assert User.objects.count() == 1


def test_include_flags_remove_staff_and_group(populated):
    call_command(
        "wipe_data", "--yes-i-mean-it", "--database-name", _name(),
        "--include-staff", "--include-moderators-group", "--include-audit-log", stdout=io.StringIO(),
    )
    assert User.objects.count() == 0 and Group.objects.count() == 0
    assert list(AuditLog.objects.values_list("action", flat=True)) == ["data.wipe"]


def test_wipe_covers_models_other_apps_add(populated, make_user):
    """Invites' tables (PROTECT foreign keys to users, codes created by staff) go too."""
    from django.apps import apps

    from config import clock

    if not apps.is_installed("invites") or "InviteCode" not in {m.__name__ for m in apps.get_app_config("invites").get_models()}:
        pytest.skip("invites models not merged yet")
    from invites.models import InviteCode, InviteRedemption, UscScanAttempt

    now = clock.now()
    staff = populated["staff"]
    code = InviteCode.objects.create(code="ABCDEFGHJKLM", kind="user", max_uses=4, created_by=staff, created_at=now)
    newcomer = make_user("newcomer")
    InviteRedemption.objects.create(code=code, user=newcomer, redeemed_at=now)
    UscScanAttempt.objects.create(created_at=now, success=False, user=newcomer, ip="10.0.0.9")
    call_command("wipe_data", "--yes-i-mean-it", "--database-name", _name(), stdout=io.StringIO())
    assert not InviteCode.objects.exists() and not InviteRedemption.objects.exists()
    assert not UscScanAttempt.objects.exists()
    assert list(User.objects.values_list("pk", flat=True)) == [staff.pk]
