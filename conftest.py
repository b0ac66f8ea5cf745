"""Project-wide fixtures.  App-specific fixtures live in each app's tests/conftest.py."""

from __future__ import annotations

import pytest
from django.core.cache import cache
from rest_framework.test import APIClient

from config import clock


@pytest.fixture(autouse=True)
def _clean_shared_state():
    """Each test starts with an empty cache (our key prefix only) and an unmoved clock."""
    _clear_cache()
    clock.reset()
    yield
    clock.reset()


def _clear_cache() -> None:
    from config.nearcache import forget_local
    from moderation.selectors import ip_ban_local_forget

    if hasattr(cache, "delete_pattern"):
        cache.delete_pattern("*")
    else:
        cache.clear()
    ip_ban_local_forget()  # the process-local copy of the IP-ban list follows the shared cache
    from config.resilience import redis_state

    redis_state.recovered()  # a test that broke the channel layer on purpose leaves no outage window behind
    forget_local()  # and so do the near-cache copies (Redis would invalidate them too)


@pytest.fixture
def api():
    return APIClient()


@pytest.fixture
def make_user(db):
    from accounts.models import User

    counter = {"n": 0}

    def _make(name: str | None = None, **extra) -> User:
        counter["n"] += 1
        extra.setdefault("gender", User.Gender.UNSPECIFIED)
        return User.objects.create_user(name=name or f"user{counter['n']}", **extra)

    return _make


@pytest.fixture
def make_session(db):
    from accounts.services import session_create

    def _make(user, ip="127.0.0.1", user_agent="pytest"):
        session, token = session_create(user=user, ip=ip, user_agent=user_agent)
        return session, token

    return _make


@pytest.fixture
def auth_api(make_user, make_session):
    """An APIClient already signed in as a fresh guest; ``.user``/``.token``/``.session`` set."""

    def _make(user=None, **kw) -> APIClient:
        user = user or make_user(**kw)
        session, token = make_session(user)
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
        client.user, client.token, client.api_session = user, token, session
        return client

    return _make


@pytest.fixture
def completed_calls(make_user, settings):
    """Give users completed calls, for real: ``completed_calls({user.pk: 3})`` runs 3 calls per
    user (each with a fresh partner) long enough to count, through the room services — so what a
    completed call unlocks (the earned invite code) happens as it does in production."""
    from config import clock
    from social import services as social_services

    def _give(mapping: dict[int, int]) -> None:
        for user_id, n in mapping.items():
            for _ in range(n):
                room = social_services.room_start(
                    inviter_id=user_id, invitee_id=make_user().pk, mode="text",
                    seconds=settings.CALL_COMPLETION_MIN_SECONDS + 60,
                )
                clock.advance(settings.CALL_COMPLETION_MIN_SECONDS)
                social_services.room_end(room_id=room.pk, reason="user", actor_id=user_id)

    return _give


@pytest.fixture
def daphne_factory():
    """Start real Daphne processes; every one started is SIGKILLed at teardown."""
    from tests.servers import DaphneServer

    started: list[DaphneServer] = []

    def _start(**kw) -> DaphneServer:
        server = DaphneServer(**kw)
        started.append(server)  # before start(): one that never gets ready is killed too
        return server.start()

    yield _start
    for server in started:
        server.kill()
