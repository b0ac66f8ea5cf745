"""The OpenAPI schema is one a client can be generated from: every operation has a summary, a real
description of its own, tags and its error responses in the one error shape; no warnings; no
duplicate security entries."""

import io

import pytest
from django.core.management import call_command
from drf_spectacular.generators import SchemaGenerator
from rest_framework.views import APIView

from config import openapi

METHODS = ("get", "post", "put", "patch", "delete")


@pytest.fixture(scope="module")
def schema():
    return SchemaGenerator().get_schema(request=None, public=True)


def operations(schema):
    for path, item in schema["paths"].items():
        for method in METHODS:
            if method in item:
                yield f"{method.upper()} {path}", item[method]


def test_the_schema_generates_without_warnings():
    out = io.StringIO()
    call_command("spectacular", "--validate", "--fail-on-warn", stdout=out)


def test_every_operation_has_a_summary_a_description_and_tags(schema):
    for name, op in operations(schema):
        assert op.get("summary"), f"{name}: no summary"
        assert op.get("description"), f"{name}: no description"
        assert op["description"] != op["summary"], name
        assert op.get("tags"), f"{name}: no tags"


def test_no_operation_shows_a_base_class_docstring(schema):
    """Framework base classes' docstrings (DRF's APIView, any shared base view) never describe an
    operation: only the view's own docstring or ``@extend_schema`` does."""
    inherited = {" ".join((APIView.__doc__ or "").split())}
    for name, op in operations(schema):
        text = " ".join((op.get("description", "") + " " + op.get("summary", "")).split())
        assert "APIView" not in text and "dispatch" not in text.lower(), f"{name}: {text[:120]}"
        assert all(doc not in text for doc in inherited if doc), name


def test_the_description_mechanism_ignores_inherited_docstrings():
    class Base(APIView):
        """Internal base class: per-class set-up, hot-path details."""

    class Child(Base):
        def get(self, request):
            return None

    class Documented(Base):
        """Read something.

        What it answers, in detail."""

        def get(self, request):
            return None

    def describe(view_cls):
        auto = openapi.AutoSchema()
        auto.view = view_cls()
        auto.method = "GET"
        return auto.get_summary(), auto.get_description()

    assert describe(Child) == (None, "")
    assert describe(Documented) == ("Read something.", "What it answers, in detail.")


def _statuses(op) -> set[int]:
    return {int(s) for s in op["responses"] if s[0] in "45"}


def test_every_operation_documents_its_errors_in_the_one_shape(schema):
    assert schema["components"]["schemas"]["ErrorResponse"]["required"] == ["error"]
    for name, op in operations(schema):
        statuses = _statuses(op)
        assert statuses, f"{name}: no error responses"
        assert {403, 503} <= statuses, name  # ip_banned and unavailable: everywhere
        for status, response in op["responses"].items():
            if status[0] not in "45":
                continue
            content = response["content"]["application/json"]["schema"]
            assert content == {"$ref": "#/components/schemas/ErrorResponse"}, (name, status)
            assert response["x-error-codes"], (name, status)
            if status in ("429", "503"):
                assert "Retry-After" in response["headers"], (name, status)
        # a token that is sent is checked, also where none is needed (POST /api/usc/scan): 401
        if {"bearerAuth": []} in op.get("security", []):
            assert 401 in statuses, name
        if "requestBody" in op:
            assert {400, 413, 415} <= statuses, name
        if "{" in name:
            assert 404 in statuses, name


def test_error_codes_are_where_they_belong(schema):
    ops = dict(operations(schema))
    codes = lambda name, status: ops[name]["responses"][str(status)]["x-error-codes"]  # noqa: E731
    assert "banned" in codes("GET /api/queue", 403) and "ip_banned" in codes("GET /api/queue", 403)
    assert "banned" not in codes("GET /api/me", 403)  # allowed while banned
    assert "banned" not in codes("GET /api/me/ban", 403)
    assert "email_taken" in codes("POST /api/auth/make-permanent", 409)
    assert "rate_limited" in codes("POST /api/auth/login", 429)
    assert "invalid" in codes("POST /api/auth/guest", 400)
    assert "file_too_large" in codes("PUT /api/me/photo", 413)
    assert "unsupported_file_type" in codes("PUT /api/me/photo", 415)
    assert 401 not in _statuses(ops["POST /api/auth/guest"])


def test_security_is_listed_once_per_operation(schema):
    assert "security" not in schema  # no global entry on top of the per-operation ones
    for name, op in operations(schema):
        security = op.get("security", [])
        assert len(security) == len({tuple(sorted(s)) for s in security}), f"{name}: {security}"
    assert schema["components"]["securitySchemes"] == {"bearerAuth": {"type": "http", "scheme": "bearer"}}


@pytest.mark.django_db
def test_a_dead_token_on_an_operation_that_needs_none_is_a_documented_401(schema, api, auth_api):
    """POST /api/usc/scan is open to visitors but records a signed-in caller: a revoked token is
    refused (401), not ignored — and the schema says so (schemathesis found it undocumented)."""
    client = auth_api()
    assert client.post("/api/auth/logout").status_code == 204
    resp = client.post("/api/usc/scan", {"raw": "1234567890"}, format="json")
    assert resp.status_code == 401, resp.content
    op = dict(operations(schema))["POST /api/usc/scan"]
    assert {"bearerAuth": []} in op["security"] and {} in op["security"]
    assert "not_authenticated" in op["responses"]["401"]["x-error-codes"]
    assert "401" not in dict(operations(schema))["POST /api/auth/guest"]["responses"]  # tokens ignored there
