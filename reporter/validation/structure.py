"""Layer 1: structure, by the FHIR R4B models (required elements, types, formats)."""

from __future__ import annotations

from typing import Any

from reporter.fhir.models import structure_errors
from reporter.validation.report import Issue


def check_structure(bundle: dict[str, Any]) -> list[Issue]:
    issues = []
    for location, message in structure_errors(bundle):
        issues.append(Issue("error", "FHIR-STRUCTURE", location, message,
                            "fix the element so that it matches the FHIR R4 definition", "structure"))
    return issues
