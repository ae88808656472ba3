"""The service's exception hierarchy and its rendering as FHIR OperationOutcome.

Every non-2xx response carries an OperationOutcome (cds-hooks.md, Errors). A
view raises one of the ``ServiceError`` subclasses; the app's error handler
turns it into the response. Messages describe the request's shape, never its
values: they must not echo patient data back into logs.

    ServiceError                  status  issue code
    ├── BadRequest                400     invalid / structure
    ├── Unauthorized              401     login (bare: no reason to the caller)
    ├── Forbidden                 403     forbidden
    ├── NotFound                  404     not-found
    ├── MethodNotAllowed          405     not-supported
    ├── PreconditionFailed        412     incomplete (required data unobtainable)
    ├── PayloadTooLarge           413     too-costly
    ├── UnsupportedMediaType      415     not-supported
    ├── UnprocessableEntity       422     processing (well-formed, but cannot be used)
    └── ServiceUnavailable        503     transient
    ConfigurationError            (start-up only: bad settings)
"""

from __future__ import annotations

from typing import Any, ClassVar


class ConfigurationError(Exception):
    """The settings are unusable; raised at start-up, never during a request."""


class ServiceError(Exception):
    status: ClassVar[int] = 500
    issue_code: ClassVar[str] = "exception"

    def __init__(self, diagnostics: str, *, expression: tuple[str, ...] = ()) -> None:
        super().__init__(diagnostics)
        self.diagnostics = diagnostics
        self.expression = expression

    def to_operation_outcome(self) -> dict[str, Any]:
        return operation_outcome(self.diagnostics, code=self.issue_code, expression=self.expression)


class BadRequest(ServiceError):
    status = 400
    issue_code = "invalid"


class Unauthorized(ServiceError):
    status = 401
    issue_code = "login"


class Forbidden(ServiceError):
    status = 403
    issue_code = "forbidden"


class NotFound(ServiceError):
    status = 404
    issue_code = "not-found"


class MethodNotAllowed(ServiceError):
    status = 405
    issue_code = "not-supported"


class PreconditionFailed(ServiceError):
    status = 412
    issue_code = "incomplete"


class PayloadTooLarge(ServiceError):
    status = 413
    issue_code = "too-costly"


class UnsupportedMediaType(ServiceError):
    status = 415
    issue_code = "not-supported"


class UnprocessableEntity(ServiceError):
    status = 422
    issue_code = "processing"


class ServiceUnavailable(ServiceError):
    status = 503
    issue_code = "transient"


def operation_outcome(
    diagnostics: str,
    *,
    code: str,
    severity: str = "error",
    expression: tuple[str, ...] = (),
) -> dict[str, Any]:
    """A FHIR R4 OperationOutcome with one issue."""
    issue: dict[str, Any] = {"severity": severity, "code": code, "diagnostics": diagnostics}
    if expression:
        issue["expression"] = list(expression)
    return {"resourceType": "OperationOutcome", "issue": [issue]}
