"""The one call site of reporter.validation for the service: a resource -> OperationOutcome dict."""

from __future__ import annotations

from reporter.web.outcome import issue, outcome


def validate_resource(resource: dict, receiver: str | None = None) -> dict:
    """Every problem at once, as an OperationOutcome ('information' only when there is none).

    ICSR Bundles get the full report (structure, integrity, terminology, ICSR rules); a single resource
    read on its own gets the structure layer. `receiver` (ich, fda, ema, all): also what the E2B export for
    that receiver would report."""
    if resource.get("resourceType") == "Bundle":
        from reporter.validation import validate_bundle

        return validate_bundle(resource, receiver=receiver).to_operation_outcome()
    from reporter.validation.fhir_r4 import check

    problems = check(resource)
    if not problems:
        return outcome([issue("information", "informational", "no problems found")])
    return outcome([issue("error", "structure", message, location) for location, message in problems])


def has_errors(report: dict) -> bool:
    return any(i.get("severity") in ("error", "fatal") for i in report.get("issue", []))
