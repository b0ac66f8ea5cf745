"""After-commit effects (cache invalidation, notices, mail) never turn a committed write into an error.

These tests commit for real (``transaction=True``): the effects run at the commit inside the request,
as in production, so an effect that raised would reach the view and answer 5xx.
"""

from __future__ import annotations

import logging
import re

import pytest
from django.core import mail
from django.db import transaction
from django.test import override_settings

from config import metrics
from config.aftercommit import after_commit
from config.tests.conftest import ROOT

BROKEN_CACHE = {"default": {"BACKEND": "config.tests.failing_backends.CacheDownAfterCommit", "LOCATION": "aftercommit"}}


def _failed(effect: str) -> float:
    return metrics.value("after_commit_failed_total", effect=effect)


@pytest.fixture
def cache_down_after_commit(settings):
    settings.CACHES = BROKEN_CACHE
    settings.NEAR_CACHE = {**settings.NEAR_CACHE, "enabled": False}  # copies live in the broken backend only
    yield


def test_no_bare_on_commit_in_the_source_tree():
    """One mechanism: every after-commit effect goes through ``config.aftercommit.after_commit``."""
    offenders = []
    for path in ROOT.rglob("*.py"):
        rel = path.relative_to(ROOT)
        if rel.parts[0].startswith(".") or "tests" in rel.parts or "migrations" in rel.parts or rel.parts[0] in {"bench"}:
            continue
        if rel.as_posix() == "config/aftercommit.py":
            continue
        for n, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
            if re.search(r"\bon_commit\(", line):
                offenders.append(f"{rel}:{n}: {line.strip()}")
    assert offenders == []


@pytest.mark.django_db(transaction=True)
def test_effect_failure_is_logged_and_counted_never_raised(caplog):
    before = _failed("test.boom")

    def boom():
        raise ValueError("boom")

    with caplog.at_level(logging.ERROR, logger="config.aftercommit"):
        with transaction.atomic():
            after_commit(boom, effect="test.boom")
    assert _failed("test.boom") == before + 1
    assert any("test.boom failed" in r.getMessage() and r.exc_info for r in caplog.records)


@pytest.mark.django_db(transaction=True)
def test_effect_never_runs_after_a_rollback():
    ran = []
    with pytest.raises(RuntimeError):
        with transaction.atomic():
            after_commit(lambda: ran.append(1), effect="test.rollback")
            raise RuntimeError("rolled back")
    assert ran == []


@pytest.mark.django_db(transaction=True)
def test_session_revoke_commits_and_answers_204_when_the_cache_dies_after_commit(auth_api, cache_down_after_commit):
    from accounts.models import Session

    a = auth_api()
    b = auth_api(user=a.user)
    before = _failed("sessions.cache_forget")
    resp = a.delete(f"/api/auth/sessions/{b.api_session.pk}")
    assert resp.status_code == 204, resp.content
    assert Session.objects.get(pk=b.api_session.pk).revoked_at is not None
    assert _failed("sessions.cache_forget") == before + 1
    assert b.get("/api/me").status_code == 401  # the pre-commit invalidation did its job

    resp = a.post("/api/auth/logout-others")
    assert resp.status_code == 200 and resp.json() == {"revoked": 0}


@pytest.mark.django_db(transaction=True)
def test_logout_commits_when_the_cache_dies_after_commit(auth_api, cache_down_after_commit, caplog):
    from accounts.models import Session

    a = auth_api()
    before = _failed("sessions.cache_forget")
    with caplog.at_level(logging.WARNING):
        assert a.post("/api/auth/logout").status_code == 204
    assert Session.objects.get(pk=a.api_session.pk).revoked_at is not None
    assert _failed("sessions.cache_forget") == before + 1
    assert any("sessions.cache_forget" in r.getMessage() for r in caplog.records) or any(
        "redis unavailable" in r.getMessage() for r in caplog.records
    )


@pytest.mark.django_db(transaction=True)
def test_ban_and_ip_ban_commit_when_the_cache_dies_after_commit(make_user, cache_down_after_commit):
    from moderation import services
    from moderation.models import Ban, IpBan

    user = make_user()
    before = _failed("moderation.bans_changed"), _failed("moderation.cache_forget")
    ban = services.ban_create(user=user, actor=None, reason="spam", duration=None)
    assert Ban.objects.filter(pk=ban.pk).exists()
    ip_ban = services.ip_ban_create(network="203.0.113.7", reason="abuse", actor=None)
    assert IpBan.objects.filter(pk=ip_ban.pk).exists()
    assert (_failed("moderation.bans_changed"), _failed("moderation.cache_forget")) == (before[0] + 1, before[1] + 1)


@pytest.mark.django_db(transaction=True)
@override_settings(EMAIL_BACKEND="config.tests.failing_backends.RefusingSMTP")
def test_verification_mail_failure_keeps_the_request_and_answers_202(auth_api):
    from accounts.models import EmailVerification

    client = auth_api(name="Cara")
    before = _failed("mail.verification_code")
    resp = client.post(
        "/api/auth/make-permanent", {"email": "cara@example.com", "password": "correct horse battery"}, format="json"
    )
    assert resp.status_code == 202, resp.content
    assert EmailVerification.objects.filter(user=client.user, email="cara@example.com").exists()
    assert _failed("mail.verification_code") == before + 1
    assert mail.outbox == []
