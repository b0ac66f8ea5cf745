"""The project's base for every API view (``config.api`` holds the rest of the API conventions;
this lives apart because DRF's ``rest_framework.views`` reads the REST_FRAMEWORK settings, which
name classes in ``config.api``, when it is imported).

DRF spends more on its own set-up around a small view than the view itself costs: per request it
instantiates every policy class, works out the ``Allow`` header (nine ``hasattr`` probes), and walks
some twenty small overridable hooks (``initial``, ``get_format_suffix``, ``determine_version``,
``check_throttles``, ``get_renderer_context``, …), and its ``Request.user`` looks a missing
attribute up through two failed lookups and a context manager.  Here the parts that depend only on
the view's classes are worked out once (a ``_Plan``), and a view that keeps DRF's hooks as they are
(every view here) is dispatched in one method that does exactly what those hooks would.  A view that
overrides any hook, uses throttle or versioning classes, or its own ``settings`` goes through
DRF's ``dispatch`` unchanged.  Tests run the API both ways and compare the answers.
"""

from __future__ import annotations

from django.http.response import HttpResponseBase
from django.utils.cache import patch_vary_headers
from rest_framework import request as drf_request
from rest_framework import views
from rest_framework.compat import split_header_value
from rest_framework.response import Response
from rest_framework.settings import api_settings

_UNSET = object()


def _authenticated(name: str) -> property:
    """DRF's ``Request.user``/``Request.auth``: the first read authenticates; a write also sets
    the attribute on the Django request, so middleware sees it."""
    attr = "_" + name

    def read(self):
        value = self.__dict__.get(attr, _UNSET)
        if value is _UNSET:
            self._authenticate_wrapped()
            value = self.__dict__[attr]
        return value

    def write(self, value):
        self.__dict__[attr] = value
        setattr(self._request, name, value)

    return property(read, write)


class Request(drf_request.Request):
    """DRF's ``Request`` with ``user`` and ``auth`` read straight from the instance.

    DRF asks ``hasattr(self, "_user")`` on every read; before authentication that lookup fails
    through ``Request.__getattr__`` (two ``AttributeError``\\ s), and authentication runs inside a
    generator-based context manager.  The answers are the same: the first read authenticates,
    an ``AttributeError`` raised while authenticating is re-raised as DRF's
    ``WrappedAttributeError`` (so it cannot pass for a missing attribute).
    """

    user = _authenticated("user")
    auth = _authenticated("auth")

    def _authenticate_wrapped(self) -> None:
        try:
            self._authenticate()
        except AttributeError as exc:
            raise drf_request.WrappedAttributeError(str(exc)).with_traceback(exc.__traceback__)


# DRF hooks the one-method dispatch does the work of; a view overriding any of them is dispatched
# by DRF itself, so the override is honoured.
_HOOKS = (
    "dispatch", "initialize_request", "initial", "finalize_response", "get_parser_context",
    "get_renderer_context", "get_format_suffix", "perform_content_negotiation", "determine_version",
    "perform_authentication", "check_permissions", "check_throttles", "get_parsers",
    "get_authenticators", "get_renderers", "get_permissions", "get_throttles", "get_content_negotiator",
    "default_response_headers",
)


def _keeps_drf_hooks(view: APIView) -> bool:
    """Whether the one-method dispatch does for ``view`` exactly what DRF's would."""
    cls = type(view)
    return (
        not view.throttle_classes
        and view.versioning_class is None
        and view.settings is api_settings
        and all(getattr(cls, hook) is getattr(APIView, hook) for hook in _HOOKS)
    )


class _Plan:
    """What a view's classes decide once: shared policy instances, response headers, and whether
    the one-method dispatch may stand in for DRF's."""

    __slots__ = ("parsers", "authenticators", "renderers", "permissions", "negotiator", "headers", "lean")

    def __init__(self, view: APIView):
        # Ours are stateless (they keep nothing on ``self`` between calls), so one instance of
        # each serves every request and thread.  Throttles keep per-request state in DRF and are
        # built per request (none is configured: rate limits live in ``config.ratelimit``).
        self.parsers = [klass() for klass in view.parser_classes]
        self.authenticators = [klass() for klass in view.authentication_classes]
        self.renderers = [klass() for klass in view.renderer_classes]
        self.permissions = [klass() for klass in view.permission_classes]
        self.negotiator = view.content_negotiation_class()
        self.headers = {"Allow": ", ".join(view.allowed_methods)}
        if len(view.renderer_classes) > 1:
            self.headers["Vary"] = "Accept"
        self.lean = _keeps_drf_hooks(view)


class APIView(views.APIView):
    """DRF's ``APIView``, dispatched with its per-class set-up done once: the project's base for
    every API view (see the module docstring)."""

    # keyed by everything a plan is built from, so a view (or instance) that changes its classes
    # gets its own
    _plans: dict[tuple, _Plan] = {}

    def _plan(self) -> _Plan:
        key = (type(self), self.settings, self.content_negotiation_class, self.versioning_class,
               *self.parser_classes, None, *self.authentication_classes, None, *self.renderer_classes,
               None, *self.permission_classes, None, *self.throttle_classes)
        plan = self._plans.get(key)
        if plan is None:
            plan = self._plans[key] = _Plan(self)
        return plan

    # DRF's hooks, answered from the plan (DRF's own dispatch calls them for views that are not lean)

    def get_parsers(self):
        return self._plan().parsers

    def get_authenticators(self):
        return self._plan().authenticators

    def get_renderers(self):
        return self._plan().renderers

    def get_permissions(self):
        return self._plan().permissions

    def get_content_negotiator(self):
        return self._plan().negotiator

    @property
    def default_response_headers(self):
        return dict(self._plan().headers)

    def initialize_request(self, request, *args, **kwargs):
        return Request(
            request,
            parsers=self.get_parsers(),
            authenticators=self.get_authenticators(),
            negotiator=self.get_content_negotiator(),
            parser_context=self.get_parser_context(request),
        )

    def dispatch(self, request, *args, **kwargs):
        """DRF's ``dispatch`` with ``initialize_request``, ``initial`` and ``finalize_response``
        written out for a lean plan: the same steps in the same order, minus the hook calls."""
        plan = self._plan()
        if not plan.lean:
            return super().dispatch(request, *args, **kwargs)
        self.args = args
        self.kwargs = kwargs
        method = request.method
        request = Request(
            request,
            parsers=plan.parsers,
            authenticators=plan.authenticators,
            negotiator=plan.negotiator,
            parser_context={"view": self, "args": args, "kwargs": kwargs},
        )
        self.request = request
        self.headers = dict(plan.headers)
        try:
            # initial(): format suffix, content negotiation, version (no versioning class),
            # authentication, permissions, throttles (none)
            suffix_kwarg = api_settings.FORMAT_SUFFIX_KWARG
            self.format_kwarg = kwargs.get(suffix_kwarg) if suffix_kwarg else None
            request.accepted_renderer, request.accepted_media_type = plan.negotiator.select_renderer(
                request, plan.renderers, self.format_kwarg
            )
            request.version = request.versioning_scheme = None
            request.user  # noqa: B018 - authenticates
            for permission in plan.permissions:
                if not permission.has_permission(request, self):
                    self.permission_denied(
                        request, message=getattr(permission, "message", None), code=getattr(permission, "code", None)
                    )
            name = method.lower()
            if name in self.http_method_names:
                handler = getattr(self, name, self.http_method_not_allowed)
            else:
                handler = self.http_method_not_allowed
            response = handler(request, *args, **kwargs)
        except Exception as exc:
            response = self.handle_exception(exc)
        renderer = request.__dict__.get("accepted_renderer")
        if renderer is None or not isinstance(response, HttpResponseBase):
            # negotiation failed (DRF renders the error with the first renderer) or the view
            # returned something else (DRF's assertion says what)
            self.response = super().finalize_response(request, response, *args, **kwargs)
            return self.response
        # finalize_response()
        if isinstance(response, Response):
            response.accepted_renderer = renderer
            response.accepted_media_type = request.accepted_media_type
            response.renderer_context = {"view": self, "args": args, "kwargs": kwargs, "request": request}
        headers = self.headers
        vary = headers.pop("Vary", None)
        if vary is not None:
            patch_vary_headers(response, list(split_header_value(vary)))
        for key, value in headers.items():
            response[key] = value
        self.response = response
        return response
