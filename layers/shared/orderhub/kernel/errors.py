"""Domain errors. Each carries its HTTP status and code; it becomes an HTTP answer (status and
JSON body) in exactly one place, orderhub.kernel.http.error_status_body."""

from __future__ import annotations


class OrderhubError(Exception):
    status = 400
    code = "bad_request"

    def __init__(self, message: str, field: str | None = None, **details):
        super().__init__(message)
        self.message = message
        self.field = field
        self.details = details

    def to_body(self) -> dict:
        err = {"code": self.code, "message": self.message}
        if self.field is not None:
            err["field"] = self.field
        err.update(self.details)
        return {"error": err}


class ValidationFailed(OrderhubError):
    """A field of a request the user sent breaks a rule."""

    status = 400
    code = "validation_failed"


class MalformedPayload(ValidationFailed):
    """A signed webhook whose body does not follow the marketplace's format."""

    code = "malformed_payload"


class SignatureInvalid(OrderhubError):
    status = 401
    code = "invalid_signature"


class Unauthorized(OrderhubError):
    status = 401
    code = "unauthorized"


class Forbidden(OrderhubError):
    status = 403
    code = "forbidden"


class NotFound(OrderhubError):
    status = 404
    code = "not_found"


class Conflict(OrderhubError):
    """A state rule refuses the action (409 with the current state and allowed actions)."""

    status = 409
    code = "conflict"


class RuleRefused(Conflict):
    """A business rule other than the status table refuses the action."""

    code = "rule_refused"


class PayloadTooLarge(OrderhubError):
    status = 413
    code = "payload_too_large"


class Unprocessable(OrderhubError):
    status = 422
    code = "unprocessable"


class ConcurrentUpdate(Exception):
    """A version-checked write lost a race; the caller re-reads and retries."""


class DuplicateDelivery(Exception):
    """The delivery id was already processed."""
