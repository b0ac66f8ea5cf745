"""Moderation errors (stable codes)."""

from __future__ import annotations

from datetime import datetime

from config.errors import ApplicationError, Conflict


def iso(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value is not None else None


class Banned(ApplicationError):
    code = "banned"
    status = 403
    message = "Your account is banned."

    def __init__(self, *, until: datetime | None, reason: str) -> None:
        message = "Your account is banned permanently." if until is None else f"Your account is banned until {iso(until)}."
        super().__init__(message, extra={"until": iso(until), "reason": reason})


class IpBanned(ApplicationError):
    code = "ip_banned"
    status = 403
    message = "Connections from your network are blocked."


class AlreadyReported(Conflict):
    code = "already_reported"
    message = "You already reported this user for this."


class CannotReportSelf(ApplicationError):
    code = "cannot_report_self"
    message = "You cannot report yourself."


class ReportNotOpen(Conflict):
    code = "report_not_open"
    message = "This report was already handled."


class ProtectedAccount(ApplicationError):
    code = "protected_account"
    status = 403
    message = "Staff and superuser accounts can only be acted on by a superuser."


class InvalidNetwork(ApplicationError):
    code = "invalid_network"
    message = "Enter a network in CIDR form, e.g. 203.0.113.0/24 or 2001:db8::/48."


class EmailBanned(ApplicationError):
    code = "email_banned"
    status = 403
    message = "That email address belongs to a permanently banned account."
