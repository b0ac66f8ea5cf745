from config.errors import ApplicationError, Conflict


class InvalidCredentials(ApplicationError):
    code = "invalid_credentials"
    status = 400
    message = "Email or password is incorrect."


class EmailTaken(Conflict):
    code = "email_taken"
    message = "That email address is already in use."


class AlreadyPermanent(Conflict):
    code = "already_permanent"
    message = "This account is already permanent."


class CodeInvalid(ApplicationError):
    code = "code_invalid"
    message = "That code is not correct."


class CodeExpired(ApplicationError):
    code = "code_expired"
    message = "That code has expired or was used too many times; request a new one."


class UploadInvalid(ApplicationError):
    code = "unsupported_file_type"
    status = 415
    message = "That file type is not accepted."


class ImageInvalid(ApplicationError):
    code = "image_invalid"
    status = 400
    message = "That image could not be read; upload a JPEG, PNG or WebP photo."


class UploadTooLarge(ApplicationError):
    code = "file_too_large"
    status = 413
    message = "That file is too large."
