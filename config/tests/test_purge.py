from __future__ import annotations

import io
import json
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from accounts.models import Session
from config import clock, metrics, purge

pytestmark = pytest.mark.django_db


@pytest.fixture
def sessions(make_user, make_session):
    """10 live, 7 expired long ago, 3 expired recently, 4 revoked long ago, 2 revoked recently."""
    user = make_user()
    now = clock.now()
    made = {"live": [], "old_expired": [], "new_expired": [], "old_revoked": [], "new_revoked": []}
    for _ in range(10):
        made["live"].append(make_session(user)[0])
    for kind, count, field, age in (
        ("old_expired", 7, "expires_at", 8),
        ("new_expired", 3, "expires_at", 1),
        ("old_revoked", 4, "revoked_at", 31),
        ("new_revoked", 2, "revoked_at", 2),
    ):
        for _ in range(count):
            s = make_session(user)[0]
            Session.objects.filter(pk=s.pk).update(**{field: now - timedelta(days=age)})
            made[kind].append(s)
    return made


def test_dry_run_prints_counts_and_deletes_nothing(sessions):
    out = io.StringIO()
    call_command("purge", "--dry-run", stdout=out)
    text = out.getvalue()
    assert "sessions_expired         would purge 7" in text
    assert "sessions_revoked         would purge 4" in text
    assert Session.objects.count() == 26


def test_purge_deletes_in_batches_only_past_retention(sessions, django_assert_max_num_queries):
    metrics.reset()
    out = io.StringIO()
    call_command("purge", "--only", "sessions_expired", "sessions_revoked", "--batch-size", "3", stdout=out)
    assert "sessions_expired         purged 7" in out.getvalue()
    assert "sessions_revoked         purged 4" in out.getvalue()
    remaining = set(Session.objects.values_list("pk", flat=True))
    expected = {s.pk for k in ("live", "new_expired", "new_revoked") for s in sessions[k]}
    assert remaining == expected
    assert metrics.value("purge_rows_total", purger="sessions_expired") == 7
    # Running again finds nothing.
    assert purge.run(names=["sessions_expired", "sessions_revoked"]) == {"sessions_expired": 0, "sessions_revoked": 0}


def test_batches_are_primary_key_chunks(sessions, monkeypatch):
    """Each chunk is one short transaction deleting at most batch-size rows."""
    from django.db.models import QuerySet

    seen = []

    real_delete = QuerySet.delete

    def spy_delete(self):
        result = real_delete(self)
        seen.append(result[1].get("accounts.Session", 0))
        return result

    monkeypatch.setattr(QuerySet, "delete", spy_delete)
    purge.run(names=["sessions_expired"], batch_size=3)
    assert seen == [3, 3, 1]


def test_retention_comes_from_settings_and_clock(sessions, settings):
    settings.PURGE_SESSIONS_EXPIRED_DAYS = 0.5
    assert purge.run(names=["sessions_expired"], dry_run=True) == {"sessions_expired": 10}
    clock.advance(40 * 86400)  # 40 days on, every session (30-day TTL) expired over 7 days ago
    settings.PURGE_SESSIONS_EXPIRED_DAYS = 7
    assert purge.run(names=["sessions_expired"], dry_run=True)["sessions_expired"] == 26


def test_registry_accepts_other_apps_purgers_and_scrub_actions(make_user):
    from accounts.models import User

    for i in range(5):
        make_user(f"p{i}", bio="secret")

    purge.register(
        "test_scrub_bios",
        retention_setting="TEST_SCRUB_DAYS",
        default_days=0,
        description="scrub (not delete) — as message bodies of ended rooms will be",
        action=lambda qs: qs.update(bio=""),
    )(lambda *, now, retention: User.objects.exclude(bio=""))
    try:
        assert purge.run(names=["test_scrub_bios"], dry_run=True) == {"test_scrub_bios": 5}
        assert purge.run(names=["test_scrub_bios"], batch_size=2) == {"test_scrub_bios": 5}
        assert User.objects.filter(bio="").count() == 5
    finally:
        purge.unregister("test_scrub_bios")


def test_unknown_purger_is_a_clear_error():
    with pytest.raises(CommandError, match="unknown purger"):
        call_command("purge", "--only", "nope", stdout=io.StringIO())


def test_list_shows_settings():
    out = io.StringIO()
    call_command("purge", "--list", stdout=out)
    assert "PURGE_SESSIONS_REVOKED_DAYS=30d" in out.getvalue()


def test_dry_run_totals_match_what_purge_deletes_when_purgers_overlap(sessions):
    # sessions both long expired and long revoked: both purgers select them, only one deletes them
    now = clock.now()
    both = [s.pk for s in sessions["old_revoked"][:3]]
    Session.objects.filter(pk__in=both).update(expires_at=now - timedelta(days=8))
    names = ["sessions_expired", "sessions_revoked"]
    planned = purge.run(names=names, dry_run=True)
    assert planned == {"sessions_expired": 10, "sessions_revoked": 1}  # not 10 + 4
    before = Session.objects.count()
    assert purge.run(names=names) == planned
    assert before - Session.objects.count() == sum(planned.values())


def test_dry_run_totals_match_when_an_earlier_purger_deletes_by_cascade(sessions, make_session):
    """A purger deleting users takes their sessions with it (CASCADE): the later sessions purger
    must not count them in the dry run, since the real run won't find them."""
    from accounts.models import User

    doomed = User.objects.create_user(name="doomed", bio="purge-me")
    now = clock.now()
    for _ in range(3):  # long expired: sessions_expired selects them too
        Session.objects.filter(pk=make_session(doomed)[0].pk).update(expires_at=now - timedelta(days=8))
    purge.register(
        "a_test_users", retention_setting="TEST_USERS_DAYS", default_days=0, description="users marked purge-me",
    )(lambda *, now, retention: User.objects.filter(bio="purge-me"))
    try:
        names = ["a_test_users", "sessions_expired"]
        planned = purge.run(names=names, dry_run=True)
        assert planned == {"a_test_users": 1, "sessions_expired": 7}
        assert purge.run(names=names) == planned
    finally:
        purge.unregister("a_test_users")


def test_json_on_stdout_progress_on_stderr(sessions):
    out, err = io.StringIO(), io.StringIO()
    call_command("purge", "--dry-run", "--json", "--progress", stdout=out, stderr=err)
    report = json.loads(out.getvalue())
    assert report["dry_run"] is True and report["purgers"]["sessions_expired"] == 7
    assert report["total"] == sum(report["purgers"].values())
    assert "sessions_expired (counting)" in err.getvalue()  # the bars went to stderr

    out, err = io.StringIO(), io.StringIO()
    call_command("purge", "--json", "--progress", stdout=out, stderr=err)
    assert json.loads(out.getvalue())["purgers"]["sessions_revoked"] == 4
    assert "sessions_revoked (purging)" in err.getvalue() and "4/4" in err.getvalue()

    out, err = io.StringIO(), io.StringIO()
    call_command("purge", "--dry-run", "--json", stdout=out, stderr=err)  # not a terminal: no bars
    assert err.getvalue() == "" and json.loads(out.getvalue())["total"] == 0


def test_dry_run_matches_the_real_run_for_every_purger_on_a_populated_database(settings, tmp_path, make_user,
                                                                              make_session):
    """The seeded demo (users, sessions, finished rooms with chat, reports, codes) plus revoked and
    expired sessions, a year later: every registered purger has work, and the dry run's counts —
    per purger and in total — are exactly what the real run then purges."""
    settings.MEDIA_ROOT = str(tmp_path)
    call_command("seed_demo", stdout=io.StringIO())
    user = make_user()
    now = clock.now()
    for i in range(6):  # revoked long ago, half of them also long expired: two purgers select them
        s = make_session(user)[0]
        Session.objects.filter(pk=s.pk).update(revoked_at=now, **({"expires_at": now} if i % 2 else {}))
    from django.test import Client

    from flows.account import do_make_permanent_request

    do_make_permanent_request(user=user, email="purge@example.com", password="correct horse battery")
    admin = Client()
    admin.login(email="demo-moderator@example.com", password="demo-pass-1234")  # a Django admin session row
    clock.advance(400 * 86400)
    planned = purge.run(dry_run=True)
    # a year on every session has expired: the revoked ones are counted once, by sessions_expired
    assert planned["sessions_expired"] >= 6 and planned["sessions_revoked"] == 0
    assert planned["room_message_bodies"] >= 24 and sum(1 for n in planned.values() if n) >= 4, planned
    assert purge.run(batch_size=7) == planned
    assert purge.run(dry_run=True) == {name: 0 for name in planned}
