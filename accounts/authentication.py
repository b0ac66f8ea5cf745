from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions

from accounts.services import session_authenticate


class BearerSessionAuthentication(authentication.BaseAuthentication):
    """``Authorization: Bearer <token>`` against our durable, hashed sessions (cache-aside)."""

    keyword = "Bearer"

    def authenticate(self, request):
        # META, not DRF's get_authorization_header(): that builds request.headers (a copy of every
        # header) on each call, a measurable share of the hottest path.
        header = request.META.get("HTTP_AUTHORIZATION", "")
        if not header:
            return None
        parts = header.encode("latin-1").split()
        if parts[0].lower() != b"bearer":
            return None
        if len(parts) != 2:
            raise exceptions.AuthenticationFailed("Malformed Authorization header.")
        try:
            token = parts[1].decode("ascii")
        except UnicodeDecodeError as exc:
            raise exceptions.AuthenticationFailed("Malformed Authorization header.") from exc
        result = session_authenticate(token=token)
        if result is None:
            raise exceptions.AuthenticationFailed("Invalid, expired or revoked session.")
        return result

    def authenticate_header(self, request):
        return 'Bearer realm="api"'


class BearerSessionAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = "accounts.authentication.BearerSessionAuthentication"
    name = "bearerAuth"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer"}
