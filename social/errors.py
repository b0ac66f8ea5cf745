"""Social / call errors.  Codes are part of the API (docs/REALTIME.md lists them)."""

from config.errors import ApplicationError, Conflict, NotFound, PermissionDenied


class InvalidTarget(ApplicationError):
    code = "invalid_target"
    message = "You can't do that with yourself."


class NotAvailable(Conflict):
    code = "not_available"
    message = "That user is not available right now."


class AlreadyInCall(Conflict):
    code = "already_in_call"
    message = "You are already in a call."


class PeerInCall(Conflict):
    code = "peer_in_call"
    message = "That user is already in a call."


class InvitePending(Conflict):
    code = "invite_pending"
    message = "There is already a pending invite for you or that user."


class InCooldown(Conflict):
    code = "cooldown"
    message = "You two talked recently; try again after the cooldown."


class Blocked(PermissionDenied):
    code = "blocked"
    message = "You can't call this user."


class Banned(PermissionDenied):
    code = "banned"
    message = "This account is banned."


class InviteNotFound(NotFound):
    code = "invite_not_found"
    message = "That invite is gone (expired, cancelled or answered)."


class NotInRoom(Conflict):
    code = "not_in_room"
    message = "You are not in a call."


class UserNotFound(NotFound):
    code = "user_not_found"
    message = "No such user."
