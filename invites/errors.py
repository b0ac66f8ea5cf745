from config.errors import ApplicationError, Conflict, NotFound, PermissionDenied, RateLimited


class InviteRequired(PermissionDenied):
    code = "invite_required"
    message = "Sign-up is by invitation: enter an invite code or scan your USC card."


class InviteInvalid(ApplicationError):
    code = "invite_invalid"
    message = "That invite code does not exist."


class InviteInactive(ApplicationError):
    code = "invite_inactive"
    message = "That invite code has been switched off."


class InviteExpired(ApplicationError):
    code = "invite_expired"
    message = "That invite code has expired."


class InviteUsedUp(Conflict):
    code = "invite_used_up"
    message = "That invite code has no uses left."


class InviteLocked(PermissionDenied):
    code = "invite_locked"
    message = "Complete more calls to unlock your invite code."


class ReferralInvalid(ApplicationError):
    code = "referral_invalid"
    message = "That intro link does not exist or no longer works."


class ReferralSelf(ApplicationError):
    code = "referral_self"
    message = "You can't introduce someone to yourself."


class NotificationNotFound(NotFound):
    code = "not_found"
    message = "No such notification."


class CardUnreadable(ApplicationError):
    code = "card_unreadable"
    message = "That doesn't look like a USC card: scan the barcode on the back again."


class CardTaken(Conflict):
    code = "card_taken"
    message = "This card is already registered to another account."


class CardBanned(PermissionDenied):
    code = "card_banned"
    message = "This card can't be used to register."


class CardAlreadyRegistered(Conflict):
    code = "card_already_registered"
    message = "Your account already has a different USC card."


class ScanTokenInvalid(ApplicationError):
    code = "scan_token_invalid"
    message = "That card scan has expired or is invalid; scan the card again."


class ScanLockedOut(RateLimited):
    code = "scan_locked_out"
    message = "Too many failed scans; try again later."


class StudentEmailRequired(ApplicationError):
    code = "student_email_required"
    message = "Accounts registered with a USC card need a student email address."
