"""``GET /api/me`` is a plain Django view (``flows.apis.me_view``); ``MeApi`` (DRF) answers the
other methods and documents the schema.  Both must answer GET identically."""

from __future__ import annotations

import json

import pytest
from django.test import RequestFactory

from flows import apis
from config import clock

pytestmark = pytest.mark.django_db


def _both(**headers):
    """The plain view's and DRF's ``MeApi.get`` answers to the same request."""
    answers = []
    for view in (apis.me_view, apis.MeApi.as_view()):
        request = RequestFactory().get("/api/me", **headers)
        response = view(request)
        if hasattr(response, "render"):
            response.render()
        answers.append(
            (response.status_code, json.loads(response.content), response.get("WWW-Authenticate"),
             response["Content-Type"], response.get("Allow") if response.status_code == 200 else None)
        )
    return answers


def test_signed_in_answer_matches_drf(make_user, make_session):
    user = make_user(name="Ann")
    _, token = make_session(user)
    plain, drf = _both(HTTP_AUTHORIZATION=f"Bearer {token}")
    assert plain == drf
    assert plain[0] == 200 and plain[1]["name"] == "Ann"


@pytest.mark.parametrize(
    "header",
    [None, "Bearer", "Bearer a b", "Bearer cc_not_a_token", "Basic abc", "Bearer \u00e9t\u00e9"],
)
def test_errors_match_drf_in_the_one_shape(header):
    plain, drf = _both(**({} if header is None else {"HTTP_AUTHORIZATION": header}))
    assert plain == drf
    assert plain[0] == 401 and set(plain[1]["error"]) >= {"code", "message", "fields"}
    assert plain[2] == 'Bearer realm="api"'


def test_expired_session_is_refused(make_user, make_session):
    _, token = make_session(make_user())
    clock.advance(seconds=10_000_000)
    plain, drf = _both(HTTP_AUTHORIZATION=f"Bearer {token}")
    assert plain == drf and plain[0] == 401


def test_other_methods_go_through_drf(auth_api):
    client = auth_api(name="Bo")
    resp = client.patch("/api/me", {"bio": "hi"}, format="json")
    assert resp.status_code == 200 and resp.json()["bio"] == "hi"
    assert client.get("/api/me").json()["bio"] == "hi"
    resp = client.post("/api/me", {}, format="json")
    assert resp.status_code == 405 and resp.json()["error"]["code"] == "method_not_allowed"


def test_schema_still_documents_get_me():
    from drf_spectacular.generators import SchemaGenerator

    schema = SchemaGenerator().get_schema(request=None, public=True)
    assert {"get", "patch", "delete"} <= set(schema["paths"]["/api/me"])
