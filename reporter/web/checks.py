"""The one call site of reporter.validation for the service: a resource -> OperationOutcome dict."""

from __future__ import annotations

from reporter.tables import fhir_tables
from reporter.web.outcome import issue, outcome

ICSR_PROFILE_MARK = "/icsr-ae-reporting/StructureDefinition/"


def claims_icsr(resource: dict) -> bool:
    """A Bundle claims to be an ICSR by an ICSR profile in meta.profile or by its Composition's type."""
    if resource.get("resourceType") != "Bundle":
        return False
    profiles = (resource.get("meta") or {}).get("profile") if isinstance(resource.get("meta"), dict) else None
    if isinstance(profiles, list) and any(isinstance(p, str) and ICSR_PROFILE_MARK in p for p in profiles):
        return True
    entries = resource.get("entry")
    first = entries[0].get("resource") if isinstance(entries, list) and entries and isinstance(entries[0], dict) \
        else None
    if not isinstance(first, dict) or first.get("resourceType") != "Composition":
        return False
    wanted = fhir_tables().composition["type"]
    codings = (first.get("type") or {}).get("coding") if isinstance(first.get("type"), dict) else None
    return any(isinstance(c, dict) and c.get("system") == wanted["system"] and c.get("code") == wanted["code"]
               for c in codings or [])


def validate_resource(resource: dict, *, icsr: bool | None = None, receiver: str | None = None) -> dict:
    """Every problem at once, as an OperationOutcome ('information' only when there is none).

    The same structure checks (R4 models, strict JSON types, required codes) run on every resource; the ICSR
    layers (Bundle integrity, terminology, ICSR rules) run on a Bundle that claims to be an ICSR, or when
    `icsr` is True (a case written to the store, `$validate?profile=` an ICSR profile). `receiver` (ich, fda,
    ema, all): also what the E2B export for that receiver would report."""
    if icsr is None:
        icsr = claims_icsr(resource)
    if icsr and resource.get("resourceType") == "Bundle":
        from reporter.validation import validate_bundle

        return validate_bundle(resource, receiver=receiver).to_operation_outcome()
    from reporter.validation.report import ValidationReport
    from reporter.validation.structure import check_resource

    report = ValidationReport()
    report.extend(check_resource(resource))
    if not report.issues:
        return outcome([issue("information", "informational", "no problems found")])
    return report.to_operation_outcome()


def has_errors(report: dict) -> bool:
    return any(i.get("severity") in ("error", "fatal") for i in report.get("issue", []))
