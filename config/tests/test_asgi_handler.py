"""The one-hop ASGI handler: the whole sync middleware chain, the view and DRF's deferred
rendering run in one worker thread, and everything still behaves as under Django's stock handler."""

from __future__ import annotations

import json

import pytest
from channels.testing import HttpCommunicator

from config.handlers import SyncChainASGIHandler
from config.tests import urls_handler

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def handler(settings):
    settings.ROOT_URLCONF = "config.tests.urls_handler"
    settings.MIDDLEWARE = ["config.tests.urls_handler.ThreadRecordingMiddleware", *settings.MIDDLEWARE]
    urls_handler.SEEN.clear()
    return SyncChainASGIHandler()


async def _get(app, path: str, headers=()):
    comm = HttpCommunicator(app, "GET", path, headers=[(b"host", b"testserver"), *headers])
    resp = await comm.get_response(timeout=5)
    return resp["status"], resp["body"]


def test_the_chain_is_built_sync(handler):
    from asgiref.sync import iscoroutinefunction

    assert not iscoroutinefunction(handler._middleware_chain)


async def test_middleware_and_view_share_one_thread(handler):
    status, body = await _get(handler, "/t/sync")
    assert status == 200 and json.loads(body) == {"view": "sync"}
    assert urls_handler.SEEN["middleware"] == urls_handler.SEEN["view"]


async def test_drf_responses_are_rendered(handler):
    status, body = await _get(handler, "/t/drf")
    assert status == 200 and json.loads(body) == {"view": "drf"}
    assert urls_handler.SEEN["middleware"] == urls_handler.SEEN["view"]


async def test_a_requests_thread_is_kept_for_the_next_request(handler):
    await _get(handler, "/t/sync")
    first = urls_handler.SEEN["view_thread"]
    await _get(handler, "/t/sync")
    assert urls_handler.SEEN["view_thread"] is first  # a warm thread, not a new one per request


async def test_concurrent_requests_run_on_threads_of_their_own(handler):
    import asyncio

    urls_handler.BARRIER.reset()
    (s1, b1), (s2, b2) = await asyncio.gather(_get(handler, "/t/rendezvous"), _get(handler, "/t/rendezvous"))
    assert s1 == s2 == 200  # a shared thread could never have both requests inside the view
    assert json.loads(b1)["thread"] != json.loads(b2)["thread"]


async def test_async_views_still_work(handler):
    status, body = await _get(handler, "/t/async")
    assert status == 200 and json.loads(body) == {"view": "async"}


async def test_errors_keep_the_one_error_shape(handler):
    status, body = await _get(handler, "/api/me")
    assert status == 401 and json.loads(body)["error"]["code"] == "not_authenticated"
    status, body = await _get(handler, "/nowhere")
    assert status == 404 and json.loads(body)["error"]["code"] == "not_found"


def test_the_served_application_uses_it():
    from config import asgi

    assert isinstance(asgi.django_asgi_app, SyncChainASGIHandler)


def test_startup_objects_are_frozen_out_of_the_collector():
    import gc

    from config import asgi  # noqa: F401 - importing the application freezes what startup loaded

    assert gc.get_freeze_count() > 10_000
