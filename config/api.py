"""One error body for every 4xx: ``{"error": {"code", "message", "fields"}}``."""

from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig
from django.db import InterfaceError, OperationalError
from django.http import Http404, JsonResponse
from rest_framework import exceptions as drf_exceptions
from rest_framework import serializers
from rest_framework.response import Response

from config.errors import ApplicationError

logger = logging.getLogger(__name__)

_DRF_CODES = {
    drf_exceptions.ParseError: "malformed_request",
    drf_exceptions.AuthenticationFailed: "not_authenticated",
    drf_exceptions.NotAuthenticated: "not_authenticated",
    drf_exceptions.PermissionDenied: "permission_denied",
    drf_exceptions.NotFound: "not_found",
    drf_exceptions.MethodNotAllowed: "method_not_allowed",
    drf_exceptions.NotAcceptable: "not_acceptable",
    drf_exceptions.UnsupportedMediaType: "unsupported_media_type",
    drf_exceptions.Throttled: "rate_limited",
}


def error_body(code: str, message: str, fields: dict | None = None, **extra: Any) -> dict:
    body = {"code": code, "message": message, "fields": fields or {}}
    body.update(extra)
    return {"error": body}


def _flatten(detail: Any) -> Any:
    if isinstance(detail, dict):
        return {key: _flatten(value) for key, value in detail.items()}
    if isinstance(detail, list):
        return [_flatten(item) for item in detail]
    return str(detail)


def exception_handler(exc: Exception, context: dict) -> Response | None:
    headers: dict[str, str] = {}
    if isinstance(exc, ApplicationError):
        if hasattr(exc, "retry_after"):
            headers["Retry-After"] = str(exc.retry_after)
        return Response({"error": exc.as_dict()}, status=exc.status, headers=headers)
    if isinstance(exc, serializers.ValidationError):
        fields = _flatten(exc.detail)
        if not isinstance(fields, dict):
            fields = {"non_field_errors": fields if isinstance(fields, list) else [fields]}
        first = next(iter(fields.values()), ["Invalid input."])
        first_msg = first[0] if isinstance(first, list) and first and isinstance(first[0], str) else "Invalid input."
        return Response(error_body("invalid", first_msg, fields), status=400)
    if isinstance(exc, RequestDataTooBig):
        return Response(error_body("too_large", "The request body is too large."), status=413)
    if isinstance(exc, Http404):
        return Response(error_body("not_found", "Not found."), status=404)
    if isinstance(exc, DjangoPermissionDenied):
        return Response(error_body("permission_denied", "You may not do that."), status=403)
    if isinstance(exc, (OperationalError, InterfaceError)) or _is_pool_timeout(exc):
        from config import metrics

        metrics.inc("db_unavailable_total")
        logger.warning("database unavailable: %s", exc.__class__.__name__)
        return Response(
            error_body("unavailable", "The database is temporarily unavailable; retry shortly."),
            status=503,
            headers={"Retry-After": "5"},
        )
    if _is_redis_unavailable(exc):  # what needs Redis while it is unreachable (config/resilience.py)
        from config.resilience import RETRY_AFTER_SECONDS, unavailable_body

        return Response(unavailable_body(exc), status=503, headers={"Retry-After": str(RETRY_AFTER_SECONDS)})
    if isinstance(exc, drf_exceptions.APIException):
        code = _DRF_CODES.get(type(exc))
        if code is None:
            for cls, candidate in _DRF_CODES.items():
                if isinstance(exc, cls):
                    code = candidate
                    break
        code = code or (exc.default_code if isinstance(exc.default_code, str) else "error")
        if isinstance(exc, drf_exceptions.Throttled) and exc.wait:
            headers["Retry-After"] = str(int(exc.wait))
        auth_header = getattr(exc, "auth_header", None)
        if auth_header:
            headers["WWW-Authenticate"] = auth_header
        message = exc.detail if isinstance(exc.detail, str) else "Request failed."
        return Response(error_body(code, str(message)), status=exc.status_code, headers=headers)
    return None  # anything else is a real bug: Django's 500 handler answers (json_500)


def _is_redis_unavailable(exc: Exception) -> bool:
    from config.resilience import is_redis_unavailable

    return is_redis_unavailable(exc)


def _is_pool_timeout(exc: Exception) -> bool:
    from config.resilience import is_database_unavailable

    return is_database_unavailable(exc)


# Django-level handlers, for errors raised outside DRF views (unknown URLs, CSRF, ...).
def json_400(request, exception=None):
    return JsonResponse(error_body("bad_request", "Bad request."), status=400)


def _admin_page(request, status: int, title: str, text: str):
    """Inside the admin, errors are admin pages (a moderator never sees the API's raw JSON)."""
    from django.contrib import admin
    from django.template.response import TemplateResponse

    context = {**admin.site.each_context(request), "title": title, "error_text": text}
    response = TemplateResponse(request, "admin/error_page.html", context, status=status)
    return response.render()


def _in_admin(request) -> bool:
    from django.urls import reverse

    try:
        return request.path.startswith(reverse("admin:index"))
    except Exception:  # noqa: BLE001 - no admin mounted
        return False


def json_403(request, exception=None):
    if _in_admin(request):
        return _admin_page(request, 403, "Not allowed",
                           "Your account can't do this. Ask a superuser if you need this permission.")
    return JsonResponse(error_body("permission_denied", "Forbidden."), status=403)


def json_404(request, exception=None):
    if _in_admin(request):
        return _admin_page(request, 404, "Not found", "There is nothing at this address (it may have been removed).")
    return JsonResponse(error_body("not_found", "Not found."), status=404)


def json_500(request):
    # Raised inside middleware (sessions, auth) while the database or Redis is down: a 503, not a 500.
    import sys

    from config.resilience import is_unavailable, unavailable_response

    current = sys.exc_info()[1]
    if is_unavailable(current):
        return unavailable_response(current)
    return JsonResponse(error_body("server_error", "Something went wrong on our side."), status=500)
