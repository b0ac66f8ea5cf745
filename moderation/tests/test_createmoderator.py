"""``manage.py createmoderator``: new or promoted staff account in the Moderators group, audited."""

from __future__ import annotations

import io

import pytest
from django.core.management import CommandError, call_command

from audit.models import AuditLog

pytestmark = pytest.mark.django_db


def _run(*args, stdin: str = ""):
    out = io.StringIO()
    import sys

    old = sys.stdin
    sys.stdin = io.StringIO(stdin)
    try:
        call_command("createmoderator", *args, stdout=out)
    finally:
        sys.stdin = old
    return out.getvalue()


def test_creates_a_staff_moderator_who_can_sign_in_to_the_admin(client):
    out = _run("--email", "Mod@Example.edu", "--name", "Mo", "--password-stdin", stdin="Str0ng-pass-xyz\n")
    assert "created moderator: mod@example.edu" in out
    from accounts.models import User

    user = User.objects.get(email="mod@example.edu")
    assert user.is_staff and not user.is_superuser and user.account_type == "permanent"
    assert list(user.groups.values_list("name", flat=True)) == ["Moderators"]
    assert user.has_perm("moderation.add_ban")
    assert AuditLog.objects.filter(action="moderation.moderator_create", target_id=str(user.pk)).exists()
    assert client.login(email="mod@example.edu", password="Str0ng-pass-xyz")
    assert client.get("/admin/").status_code == 200


def test_promotes_an_existing_account_keeping_its_password(make_user):
    user = make_user(email="lead@example.edu", password="Old-pass-123456", account_type="permanent")
    out = _run("--email", "lead@example.edu", "--no-password", "--superuser")
    assert "promoted superuser and moderator" in out
    user.refresh_from_db()
    assert user.is_staff and user.is_superuser and user.check_password("Old-pass-123456")


@pytest.mark.parametrize(
    "args, stdin, message",
    [
        (["--email", "new@example.edu", "--no-password"], "", "A new moderator needs a password."),
        (["--email", "new@example.edu", "--password-stdin"], "", "stdin was empty"),
        (["--email", "new@example.edu", "--password-stdin"], "123\n", "too short"),
        (["--email", "not-an-email", "--password-stdin"], "Str0ng-pass-xyz\n", "Enter an email address."),
        (["--email", "new@example.edu"], "", "no terminal to prompt for a password"),
    ],
)
def test_refusals_are_one_line(args, stdin, message):
    with pytest.raises(CommandError, match=message):
        _run(*args, stdin=stdin)
    from accounts.models import User

    assert not User.objects.filter(is_staff=True).exists()
