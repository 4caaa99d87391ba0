"""The one call site of reporter.validation for the service: a Bundle -> OperationOutcome dict."""

from __future__ import annotations

from reporter.web.outcome import issue, outcome


def validate_resource(bundle: dict) -> dict:
    """Validate a resource; an OperationOutcome with every problem, or one 'information' issue if none.

    Uses the R4B structure layer for now; switches to reporter.validation's full report once on main."""
    from reporter.fhir.models import structure_errors

    problems = structure_errors(bundle)
    if not problems:
        return outcome([issue("information", "informational", "no problems found")])
    return outcome([issue("error", "structure", message, location) for location, message in problems])


def has_errors(report: dict) -> bool:
    return any(i.get("severity") in ("error", "fatal") for i in report.get("issue", []))
