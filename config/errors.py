"""One application error type.  Services raise subclasses with a stable ``code``; the DRF
exception handler and the WebSocket consumer render them in one shape each."""

from __future__ import annotations

from typing import Any


class ApplicationError(Exception):
    code = "error"
    status = 400
    message = "The request could not be completed."

    def __init__(
        self,
        message: str | None = None,
        *,
        code: str | None = None,
        status: int | None = None,
        fields: dict[str, Any] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        self.message = message or self.message
        if code:
            self.code = code
        if status:
            self.status = status
        self.fields = fields or {}
        self.extra = extra or {}
        super().__init__(self.message)

    def as_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"code": self.code, "message": self.message, "fields": self.fields}
        body.update(self.extra)
        return body


class NotFound(ApplicationError):
    code = "not_found"
    status = 404
    message = "Not found."


class PermissionDenied(ApplicationError):
    code = "permission_denied"
    status = 403
    message = "You may not do that."


class Conflict(ApplicationError):
    code = "conflict"
    status = 409
    message = "That conflicts with the current state."


class RateLimited(ApplicationError):
    code = "rate_limited"
    status = 429
    message = "Too many requests; slow down."

    def __init__(self, message: str | None = None, *, retry_after: int = 1, **kw: Any) -> None:
        self.retry_after = max(1, int(retry_after))
        super().__init__(message, extra={"retry_after": self.retry_after}, **kw)


class ServiceUnavailable(ApplicationError):
    code = "unavailable"
    status = 503
    message = "The service is temporarily unavailable; retry shortly."
