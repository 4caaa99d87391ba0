"""One error shape for the API: every failure is an OperationOutcome with a fitting HTTP status."""

from __future__ import annotations

from reporter.errors import (
    AuthError,
    Gone,
    InputError,
    NotFound,
    PreconditionRequired,
    ReporterError,
    StoreConflict,
    StoreError,
    VersionConflict,
)
from reporter.fhir.issue_location import place

# HTTP status -> OperationOutcome issue code (http://hl7.org/fhir/issue-type)
_ISSUE_CODE = {
    400: "invalid", 401: "login", 403: "forbidden", 404: "not-found", 405: "not-supported",
    406: "not-supported", 409: "conflict", 410: "deleted", 412: "conflict", 413: "too-costly",
    415: "not-supported", 422: "processing", 428: "required", 429: "throttled", 500: "exception",
    503: "transient",
}


def outcome(issues: list[dict]) -> dict:
    return {"resourceType": "OperationOutcome", "issue": issues}


def issue(severity: str, code: str, diagnostics: str, location: str | None = None) -> dict:
    return place({"severity": severity, "code": code, "diagnostics": diagnostics}, location)


def error_outcome(status: int, message: str, location: str | None = None, hint: str | None = None) -> dict:
    text = f"{message} (hint: {hint})" if hint else message
    return outcome([issue("error", _ISSUE_CODE.get(status, "processing"), text, location)])


def status_for(exc: ReporterError) -> int:
    if isinstance(exc, AuthError):
        return exc.status
    if isinstance(exc, Gone):
        return 410
    if isinstance(exc, PreconditionRequired):
        return 428
    if isinstance(exc, NotFound):
        return 404
    if isinstance(exc, VersionConflict):
        return 412
    if isinstance(exc, StoreConflict):
        return 409
    if isinstance(exc, StoreError):
        return 503
    if isinstance(exc, InputError):
        return 400
    return 422


class UnprocessableBundle(ReporterError):
    """The Bundle parsed but failed validation: carries the validation OperationOutcome."""

    def __init__(self, report: dict) -> None:
        super().__init__("the Bundle failed validation")
        self.report = report
