"""The project's base for every API view (``config.api`` holds the rest of the API conventions;
this lives apart because DRF's ``rest_framework.views`` reads the REST_FRAMEWORK settings, which
name classes in ``config.api``, when it is imported)."""

from __future__ import annotations

from rest_framework import views


class APIView(views.APIView):
    """DRF's ``APIView`` with the parts of its per-request set-up that depend only on the view
    class done once: the project's base for every API view.

    DRF instantiates the view's parser, authentication, renderer and permission classes and
    works out its ``Allow`` header (nine ``hasattr`` probes) on every request.  Ours are stateless
    (they keep nothing on ``self`` between calls), so one instance of each serves every request
    and thread; the instances are keyed by the class list itself, so a view that changes its
    classes still gets its own.  Throttles keep per-request state in DRF, so they are still built
    per request (none is configured: rate limits live in ``config.ratelimit``).
    """

    _policy_instances: dict[tuple, list] = {}
    _allow_headers: dict[type, str] = {}

    @classmethod
    def _instances(cls, classes) -> list:
        key = tuple(classes)
        instances = cls._policy_instances.get(key)
        if instances is None:
            instances = cls._policy_instances[key] = [klass() for klass in key]
        return instances

    def get_parsers(self):
        return self._instances(self.parser_classes)

    def get_authenticators(self):
        return self._instances(self.authentication_classes)

    def get_renderers(self):
        return self._instances(self.renderer_classes)

    def get_permissions(self):
        return self._instances(self.permission_classes)

    @property
    def default_response_headers(self):
        allow = self._allow_headers.get(type(self))
        if allow is None:
            allow = self._allow_headers[type(self)] = ", ".join(self.allowed_methods)
        headers = {"Allow": allow}
        if len(self.renderer_classes) > 1:
            headers["Vary"] = "Accept"
        return headers
