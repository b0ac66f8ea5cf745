"""The project's base API view answers as DRF's would, with its per-class set-up done once and
(for views that keep DRF's hooks) its one-method dispatch."""

from __future__ import annotations

import pytest
from django.urls import URLPattern, URLResolver, get_resolver
from rest_framework import views as drf_views
from rest_framework.test import APIClient, APIRequestFactory

from config import apiview
from config.apiview import APIView, Request

pytestmark = pytest.mark.django_db


def _api_views():
    def walk(patterns, prefix=""):
        for p in patterns:
            if isinstance(p, URLResolver):
                yield from walk(p.url_patterns, prefix + str(p.pattern))
            elif isinstance(p, URLPattern) and getattr(p.callback, "cls", None) is not None:
                yield prefix + str(p.pattern), p.callback.cls

    return [(route, cls) for route, cls in walk(get_resolver().url_patterns) if route.startswith("api/")]


def test_every_api_view_uses_the_project_base():
    views = _api_views()
    assert len(views) > 20
    others = [route for route, cls in views if not issubclass(cls, APIView)
              and not route.startswith(("api/schema", "api/docs"))]
    assert others == []


@pytest.mark.parametrize("route, cls", [v for v in _api_views() if issubclass(v[1], APIView)],
                         ids=lambda v: v if isinstance(v, str) else "")
def test_allow_header_and_policies_match_drf(route, cls):
    request = APIRequestFactory().get("/")
    view = cls()
    view.setup(request)
    assert view.default_response_headers == drf_views.APIView.default_response_headers.fget(view)
    assert view.default_response_headers == drf_views.APIView.default_response_headers.fget(view)  # cached
    for ours, drf in ((view.get_parsers(), drf_views.APIView.get_parsers(view)),
                      (view.get_authenticators(), drf_views.APIView.get_authenticators(view)),
                      (view.get_renderers(), drf_views.APIView.get_renderers(view)),
                      (view.get_permissions(), drf_views.APIView.get_permissions(view))):
        assert [type(x) for x in ours] == [type(x) for x in drf]
    assert view.get_throttles() == []  # throttles keep state per request: none may be shared


def test_policy_instances_are_built_once_and_follow_the_class_list():
    from rest_framework.permissions import AllowAny, IsAuthenticated

    class A(APIView):
        permission_classes = [IsAuthenticated]

    class B(APIView):
        permission_classes = [AllowAny]

    assert A().get_permissions() is A().get_permissions()
    assert [type(p) for p in B().get_permissions()] == [AllowAny]
    b = B()
    b.permission_classes = [IsAuthenticated, AllowAny]  # a per-instance change is honoured
    assert [type(p) for p in b.get_permissions()] == [IsAuthenticated, AllowAny]


def test_shared_policy_instances_keep_no_state(auth_api, api):
    """Sharing one instance between requests and threads is only right for stateless policies:
    after real requests (authenticated, anonymous, failing) none holds anything."""
    client = auth_api()
    assert client.get("/api/me").status_code == 200
    assert client.patch("/api/me", {"bio": "x"}, format="json").status_code == 200
    assert api.get("/api/me", HTTP_AUTHORIZATION="Bearer nope").status_code == 401
    assert api.post("/api/auth/guest", {"name": "N", "gender": "unspecified"}, format="json").status_code == 201
    instances = [i for plan in APIView._plans.values()
                 for group in (plan.parsers, plan.authenticators, plan.renderers, plan.permissions)
                 for i in group] + [plan.negotiator for plan in APIView._plans.values()]
    assert instances
    assert [(type(i).__name__, vars(i)) for i in instances if vars(i)] == []


# --- the one-method dispatch answers exactly as DRF's dispatch does --------------------------------

_VOLATILE = {"token", "id", "created_at", "last_seen_at", "expires_at"}


def _normalise(value):
    if isinstance(value, dict):
        return {k: "*" if k in _VOLATILE else _normalise(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_normalise(v) for v in value]
    return value


def _answer(resp) -> tuple:
    headers = {k: v for k, v in resp.items() if k != "X-Request-ID"}
    body = resp.content
    if body and resp.get("Content-Type", "").startswith("application/json"):
        body = _normalise(resp.json())
    return resp.status_code, headers, body


def _cases(auth_api, make_user):
    from moderation import services as moderation_services

    client = auth_api()
    anonymous = APIClient()
    banned = auth_api()
    moderation_services.ban_create(user=banned.user, actor=make_user(is_staff=True), reason="spam", duration=None)

    def bad_token(path):
        c = APIClient()
        c.credentials(HTTP_AUTHORIZATION="Bearer not-a-token")
        return c.get(path)

    return [
        ("me", lambda: client.get("/api/me")),
        ("me anonymous", lambda: anonymous.get("/api/me")),
        ("me bad token", lambda: bad_token("/api/me")),
        ("me malformed header", lambda: anonymous.get("/api/me", HTTP_AUTHORIZATION="Bearer a b")),
        ("me html", lambda: client.get("/api/me", HTTP_ACCEPT="text/html")),
        ("me indent", lambda: client.get("/api/me", HTTP_ACCEPT="application/json; indent=2")),
        ("me format json", lambda: client.get("/api/me?format=json")),
        ("me format xml", lambda: client.get("/api/me?format=xml")),
        ("me head", lambda: client.head("/api/me")),
        ("me options", lambda: client.options("/api/me")),
        ("me put", lambda: client.put("/api/me", {"bio": "x"}, format="json")),
        ("me patch", lambda: client.patch("/api/me", {"bio": "hello"}, format="json")),
        ("me patch invalid", lambda: client.patch("/api/me", {"name": ""}, format="json")),
        ("me patch malformed", lambda: client.generic("PATCH", "/api/me", b"{nope", content_type="application/json")),
        ("me patch text", lambda: client.generic("PATCH", "/api/me", b"bio=x", content_type="text/plain")),
        ("guest signup", lambda: anonymous.post("/api/auth/guest", {"name": "N", "gender": "unspecified"},
                                                format="json")),
        ("sessions", lambda: client.get("/api/auth/sessions")),
        ("banned me", lambda: banned.get("/api/me")),
        ("banned sessions", lambda: banned.get("/api/auth/sessions")),
        ("me patch back", lambda: client.patch("/api/me", {"bio": ""}, format="json")),  # the next pass starts alike
    ]


def test_lean_dispatch_answers_as_drf(auth_api, make_user, monkeypatch):
    cases = _cases(auth_api, make_user)
    with monkeypatch.context() as stock:  # every view dispatched by DRF itself, with DRF's own Request
        stock.setattr(APIView, "_plans", {})
        stock.setattr(apiview, "_keeps_drf_hooks", lambda view: False)
        stock.setattr(APIView, "initialize_request", drf_views.APIView.initialize_request)
        expected = [(name, _answer(call())) for name, call in cases]
        assert APIView._plans and not any(plan.lean for plan in APIView._plans.values())
    monkeypatch.setattr(APIView, "_plans", {})
    got = [(name, _answer(call())) for name, call in cases]
    assert all(plan.lean for plan in APIView._plans.values())
    assert got == expected
    statuses = {name: answer[0] for name, answer in got}
    assert statuses == {  # the table covers what it is meant to
        "me": 200, "me anonymous": 401, "me bad token": 401, "me malformed header": 401, "me html": 406,
        "me indent": 200, "me format json": 200, "me format xml": 404, "me head": 200, "me options": 200,
        "me put": 405, "me patch": 200, "me patch invalid": 400, "me patch malformed": 400,
        "me patch text": 415, "guest signup": 201, "sessions": 200, "banned me": 200, "banned sessions": 403,
        "me patch back": 200,
    }


def test_a_view_overriding_a_hook_is_dispatched_by_drf(rf):
    from rest_framework.permissions import AllowAny
    from rest_framework.response import Response
    from rest_framework.throttling import BaseThrottle

    calls = []

    class Plain(APIView):
        authentication_classes: list = []
        permission_classes = [AllowAny]

        def get(self, request):
            return Response({"ok": True})

    class Hooked(Plain):
        def check_permissions(self, request):
            calls.append("check_permissions")
            super().check_permissions(request)

    class NoThrottle(BaseThrottle):
        def allow_request(self, request, view):
            calls.append("throttle")
            return True

    class Throttled(Plain):
        throttle_classes = [NoThrottle]

    for view, lean in ((Plain, True), (Hooked, False), (Throttled, False)):
        response = view.as_view()(rf.get("/x"))
        response.render()
        assert response.status_code == 200 and response.data == {"ok": True}
        plan = next(p for key, p in APIView._plans.items() if key[0] is view)
        assert plan.lean is lean
    assert calls == ["check_permissions", "throttle"]


class _Authenticator:
    def __init__(self, result=None, error=None):
        self.result, self.error, self.calls = result, error, 0

    def authenticate(self, request):
        self.calls += 1
        if self.error:
            raise self.error
        return self.result

    def authenticate_header(self, request):
        return "Bearer"


def test_request_user_authenticates_once_and_wraps_attribute_errors(rf):
    from rest_framework.request import WrappedAttributeError

    ok = _Authenticator(result=("the user", "the auth"))
    request = Request(rf.get("/"), authenticators=[ok])
    assert (request.auth, request.user, request.user, request.auth) == ("the auth", "the user", "the user", "the auth")
    assert ok.calls == 1
    assert request._request.user == "the user" and request._request.auth == "the auth"
    request.user = "someone else"
    assert request.user == request._request.user == "someone else"

    broken = Request(rf.get("/"), authenticators=[_Authenticator(error=AttributeError("typo in authenticator"))])
    with pytest.raises(WrappedAttributeError, match="typo in authenticator"):
        broken.user
    nobody = Request(rf.get("/"), authenticators=[_Authenticator()])
    assert nobody.user is None and nobody.auth is None  # UNAUTHENTICATED_USER is None here
