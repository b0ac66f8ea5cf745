"""The project's base API view answers as DRF's would, with its per-class set-up done once."""

from __future__ import annotations

import pytest
from django.urls import URLPattern, URLResolver, get_resolver
from rest_framework import views as drf_views
from rest_framework.test import APIRequestFactory

from config.apiview import APIView

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
    instances = [i for group in APIView._policy_instances.values() for i in group]
    assert instances
    assert [(type(i).__name__, vars(i)) for i in instances if vars(i)] == []
