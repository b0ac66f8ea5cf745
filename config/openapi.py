"""The OpenAPI schema a client can be generated from (drf-spectacular).

- ``AutoSchema`` (``DEFAULT_SCHEMA_CLASS``): an operation's summary and description come from its
  ``@extend_schema`` or from the docstring of the view method (or, failing that, of the view class
  itself) — first paragraph the summary, the rest the description.  A docstring a view merely
  *inherits* is never used: drf-spectacular's ``get_doc`` falls back on base classes, which is how
  a framework base class's docstring ended up describing most operations.
- Every operation documents its error responses in the one error shape (``ErrorResponse``):
  generic ones by rule (400 on input, 401 wherever a token is checked, 403 ``ip_banned`` always and
  ``banned`` where the ban gate applies, 404 on path ids, 413/415 on request bodies, 503
  ``unavailable`` with ``Retry-After`` everywhere) and the view's own domain errors, declared with
  ``raises(...)`` next to its ``@extend_schema`` (their status and code come from the error
  classes, e.g. 409 ``email_taken``, 429 ``rate_limited`` with ``Retry-After``).
"""

from __future__ import annotations

import inspect
from collections import defaultdict
from typing import Any

from django.conf import settings
from django.urls import NoReverseMatch, reverse
from django.utils.module_loading import import_string
from drf_spectacular.openapi import AutoSchema as SpectacularAutoSchema
from rest_framework.permissions import AllowAny

from config.errors import ApplicationError

ERROR_REF = {"$ref": "#/components/schemas/ErrorResponse"}
RETRY_AFTER = {"Retry-After": {"schema": {"type": "integer", "minimum": 1}, "description": "seconds to wait before retrying"}}

ERROR_COMPONENT = {
    "type": "object",
    "description": "The one error shape of the API (REST and WebSocket share the codes: docs/ERRORS.md).",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message", "fields"],
            "properties": {
                "code": {"type": "string", "description": "stable, machine-readable (docs/ERRORS.md)"},
                "message": {"type": "string", "description": "human readable"},
                "fields": {
                    "type": "object",
                    "additionalProperties": True,
                    "description": "per-field messages for `invalid`; empty otherwise",
                },
            },
            "additionalProperties": True,  # some codes add data: retry_after, until, cooldown_until …
        }
    },
}

# Generic errors (status → [(code, meaning)]) that the rules below attach.
_INVALID = (400, "invalid", "a field is missing or wrong (see `fields`)")
_MALFORMED = (400, "malformed_request", "the body is not valid JSON")
_NOT_AUTHENTICATED = (401, "not_authenticated", "no, an invalid, an expired or a revoked session token")
_DEAD_TOKEN = (401, "not_authenticated", "a session token was sent and is invalid, expired or revoked (none is needed)")
_IP_BANNED = (403, "ip_banned", "requests from your network are blocked")
_BANNED = (403, "banned", "your account is banned (`until`, `reason`)")
_NOT_FOUND = (404, "not_found", "no such object, or not yours")
_TOO_LARGE = (413, "too_large", "the request body is too large")
_MEDIA_TYPE = (415, "unsupported_media_type", "the body is not `application/json`")
_UNAVAILABLE = (503, "unavailable", "the database (or another dependency) is briefly unavailable; retry after `Retry-After`")

_STATUS_TITLES = {
    400: "Bad request", 401: "Not authenticated", 403: "Forbidden", 404: "Not found", 409: "Conflict",
    413: "Payload too large", 415: "Unsupported media type", 429: "Too many requests", 503: "Service unavailable",
}


def raises(*errors: type[ApplicationError] | str | tuple[int, str, str]) -> dict:
    """``@extend_schema(extensions=raises(EmailTaken, RateLimited))``: the domain errors a view can
    answer, documented from the error classes (status, code, default message).  An error class of
    another app may be named by its dotted path (a flow's view; resolved when the schema is built,
    so the app graph stays one-way)."""
    return {"x-raises": list(errors)}


def _error_row(err) -> tuple[int, str, str]:
    if isinstance(err, tuple):
        return err
    if isinstance(err, str):
        err = import_string(err)
    return err.status, err.code, err.message


def _own_doc(obj) -> str:
    """``obj``'s own docstring — never one inherited from a base class."""
    if obj is None:
        return ""
    doc = obj.__dict__.get("__doc__") if inspect.isclass(obj) else getattr(obj, "__doc__", None)
    return inspect.cleandoc(doc) if doc else ""


class AutoSchema(SpectacularAutoSchema):
    def _docstring(self) -> tuple[str, str]:
        method = getattr(self.view, getattr(self.view, "action", self.method.lower()), None)
        doc = _own_doc(method) or _own_doc(self.view.__class__)
        summary, _, description = doc.partition("\n\n")
        return " ".join(summary.split()), description.strip()

    def get_description(self) -> str:
        return self._docstring()[1]

    def get_summary(self) -> str | None:
        return self._docstring()[0] or None

    def _authenticated(self) -> bool:
        return not any(isinstance(p, AllowAny) for p in self.view.get_permissions())

    def _checks_tokens(self) -> bool:
        """Whether a token that is sent is checked: every view with authenticators, also an
        ``AllowAny`` one (a bad token is a 401 there too; views that ignore tokens have none)."""
        return bool(self.view.get_authenticators())

    def _ban_gated(self) -> bool:
        if not self._authenticated() or getattr(self.view, "allowed_while_banned", False):
            return False
        if self.method == "GET":
            exempt = set()
            for name in settings.MODERATION_BAN_EXEMPT_URL_NAMES:
                try:
                    exempt.add(reverse(name))
                except NoReverseMatch:
                    pass
            if self.path in exempt:
                return False
        return any(type(p).__name__ == "NotBanned" for p in self.view.get_permissions())

    def get_operation(self, path, path_regex, path_prefix, method, registry):
        operation = super().get_operation(path, path_regex, path_prefix, method, registry)
        if operation is None:
            return None
        errors: dict[int, list[tuple[str, str]]] = defaultdict(list)

        def add(status: int, code: str, meaning: str) -> None:
            if code not in [c for c, _ in errors[status]]:
                errors[status].append((code, meaning))

        has_body = "requestBody" in operation
        if has_body or any(p.get("in") == "query" for p in operation.get("parameters", [])):
            add(*_INVALID)
        if has_body:
            add(*_MALFORMED)
            add(*_TOO_LARGE)
            add(*_MEDIA_TYPE)
        if self._authenticated():
            add(*_NOT_AUTHENTICATED)
        elif self._checks_tokens():
            add(*_DEAD_TOKEN)
        add(*_IP_BANNED)
        if self._ban_gated():
            add(*_BANNED)
        if "{" in path:
            add(*_NOT_FOUND)
        for err in operation.pop("x-raises", []):
            add(*_error_row(err))
        add(*_UNAVAILABLE)
        responses = operation.setdefault("responses", {})
        for status in sorted(errors):
            codes = errors[status]
            response: dict[str, Any] = {
                "description": f"{_STATUS_TITLES.get(status, 'Error')}: "
                + "; ".join(f"`{code}` — {meaning}" for code, meaning in codes),
                "content": {"application/json": {"schema": ERROR_REF}},
                "x-error-codes": [code for code, _ in codes],
            }
            if status in (429, 503):
                response["headers"] = RETRY_AFTER
            responses.setdefault(str(status), response)
        return operation


def postprocess(result, generator, request, public):
    """``POSTPROCESSING_HOOKS``: the error envelope as a component (every error response refers to it)."""
    result.setdefault("components", {}).setdefault("schemas", {})["ErrorResponse"] = ERROR_COMPONENT
    return result
