"""Reports racing each other on real connections: the auto-ban threshold is crossed exactly once,
and a duplicate report is a 409, never a second row or a 500."""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from moderation import errors, services
from moderation.models import Ban, Report

pytestmark = pytest.mark.django_db(transaction=True)


def _race(fns):
    barrier = threading.Barrier(len(fns))
    results: list = [None] * len(fns)

    def run(i, fn):
        try:
            barrier.wait(timeout=10)
            results[i] = fn()
        except Exception as exc:  # collected and asserted on by the test
            results[i] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i, fn)) for i, fn in enumerate(fns)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    return results


def test_parallel_reports_cross_the_auto_ban_threshold_once(make_user, settings):
    settings.MODERATION_AUTO_BAN_REPORTERS = 3
    bad = make_user()
    reporters = [make_user() for _ in range(6)]
    results = _race([
        (lambda r=r: services.report_create(reporter=r, reported_user_id=bad.public_id, category="spam"))
        for r in reporters
    ])
    assert all(isinstance(r, Report) for r in results), results
    assert Ban.objects.filter(user=bad, automatic=True).count() == 1
    assert set(Report.objects.filter(reported=bad).values_list("auto_banned", flat=True)) == {True}


def test_parallel_duplicate_reports_make_one_row(make_user):
    reporter, bad = make_user(), make_user()
    results = _race([
        (lambda: services.report_create(reporter=reporter, reported_user_id=bad.public_id, category="spam"))
        for _ in range(4)
    ])
    assert sum(isinstance(r, Report) for r in results) == 1
    assert all(isinstance(r, (Report, errors.AlreadyReported)) for r in results), results
    assert Report.objects.filter(reporter=reporter, reported=bad).count() == 1
