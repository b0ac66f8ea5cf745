"""FastContentNegotiation answers exactly as DRF's DefaultContentNegotiation, only faster."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from uuid import UUID

import pytest
from drf_spectacular.renderers import OpenApiJsonRenderer, OpenApiYamlRenderer
from django.http import Http404
from rest_framework import exceptions
from rest_framework.renderers import BrowsableAPIRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.test import APIRequestFactory

from rest_framework.negotiation import DefaultContentNegotiation

from config.api import FastContentNegotiation

ACCEPTS = [None, "", "*/*", "application/json", "application/json; indent=4", "text/html", "application/*",
           "text/html, application/json;q=0.9", "application/xml", "application/vnd.oai.openapi"]
QUERIES = ["", "format=json", "format=api", "format=yaml", "x=1"]
RENDERERS = [[JSONRenderer()], [JSONRenderer(), BrowsableAPIRenderer()],
             [OpenApiYamlRenderer(), OpenApiJsonRenderer()]]


def _answer(negotiator, accept, query, renderers, suffix):
    headers = {} if accept is None else {"HTTP_ACCEPT": accept}
    request = Request(APIRequestFactory().get("/x" + (f"?{query}" if query else ""), **headers))
    try:
        renderer, media_type = negotiator.select_renderer(request, renderers, suffix)
        return type(renderer).__name__, media_type
    except (exceptions.NotFound, Http404):
        return "404"
    except exceptions.NotAcceptable:
        return "406"


@pytest.mark.parametrize("renderers", RENDERERS, ids=["json", "json+browsable", "openapi"])
@pytest.mark.parametrize("query", QUERIES)
@pytest.mark.parametrize("accept", ACCEPTS)
@pytest.mark.parametrize("suffix", [None, "json"])
def test_same_answer_as_drf(accept, query, renderers, suffix):
    fast = _answer(FastContentNegotiation(), accept, query, renderers, suffix)
    assert fast == _answer(DefaultContentNegotiation(), accept, query, renderers, suffix)


def test_it_is_the_configured_negotiator(settings):
    assert settings.REST_FRAMEWORK["DEFAULT_CONTENT_NEGOTIATION_CLASS"] == "config.api.FastContentNegotiation"


@pytest.mark.parametrize("accepted", [None, "", "application/json", "application/json; indent=4",
                                      "application/json;indent=2", "application/json; indent=x",
                                      "application/json; indent=0", "application/json; charset=utf-8"])
@pytest.mark.parametrize("context", [{}, {"indent": 2}])
def test_json_renderer_indents_exactly_as_drf(accepted, context):
    from config.api import JSONRenderer as OurJSONRenderer

    assert OurJSONRenderer().get_indent(accepted, context) == JSONRenderer().get_indent(accepted, context)
    for data in ({"a": [1, "é"], "b": None}, None, "plain", [{"when": datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
                 "id": UUID(int=7), "price": Decimal("1.50"), "text": "line\u2028break\u2029end"}]):
        assert OurJSONRenderer().render(data, accepted, context) == JSONRenderer().render(data, accepted, context)


def test_json_renderer_refuses_nan_as_drf_does():
    from config.api import JSONRenderer as OurJSONRenderer

    for renderer in (OurJSONRenderer(), JSONRenderer()):
        with pytest.raises(ValueError):
            renderer.render({"x": float("nan")}, "application/json", {})


def test_json_renderer_builds_one_encoder_per_configuration(monkeypatch):
    """Without an indent every response is encoded by the same encoder (``json.dumps`` built one per
    call); with an indent DRF's path runs, so its encoder is not the shared one."""
    from config.api import JSONRenderer as OurJSONRenderer

    built = []

    class CountingEncoder(OurJSONRenderer.encoder_class):
        def __init__(self, *args, **kwargs):
            built.append(self)
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(OurJSONRenderer, "encoder_class", CountingEncoder)
    monkeypatch.setattr(OurJSONRenderer, "_encoders", {})
    for n in range(3):
        assert OurJSONRenderer().render({"n": n}, "application/json", {}) == b'{"n":%d}' % n
    assert len(built) == 1
    OurJSONRenderer().render({"n": 0}, "application/json; indent=2", {})
    assert len(built) == 2
