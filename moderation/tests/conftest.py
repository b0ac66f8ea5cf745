from __future__ import annotations

import pytest
from django.contrib.auth.models import Group

from moderation import services


@pytest.fixture
def moderator(make_user):
    user = make_user(name="Mod Erator", email="mod@example.com", password="mod-pass-1234", is_staff=True,
                     account_type="permanent")
    # The data migration creates the group; a transactional test elsewhere may have flushed it since.
    user.groups.add(Group.objects.filter(name="Moderators").first() or services.moderators_group_ensure())
    return user


@pytest.fixture
def superuser(db):
    from accounts.models import User

    return User.objects.create_superuser(email="root@example.com", password="root-pass-1234", name="Root")


@pytest.fixture
def make_report(make_user):
    def _make(reporter=None, reported=None, category="harassment", details="", room_id=None):
        reporter = reporter or make_user()
        reported = reported or make_user()
        return services.report_create(
            reporter=reporter, reported_user_id=reported.public_id, category=category, details=details,
            room_id=room_id,
        )

    return _make
