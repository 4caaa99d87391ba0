"""Layer 1: structure, by the FHIR R4B models (required elements, types, formats, strict JSON types, reference
target types, empty elements) plus the required bindings of every R4 element (mappings/fhir_required_bindings.yaml,
generated from HL7's definitions by tools/required_bindings.py) and the invariants in invariants.py."""

from __future__ import annotations

from typing import Any

from reporter.fhir.models import BINDING_PREFIX, structure_errors
from reporter.validation.invariants import check_resource_invariants
from reporter.validation.report import Issue


def check_resource(resource: dict[str, Any]) -> list[Issue]:
    """Layer 1 for any resource or non-ICSR Bundle: the R4 structure (strict JSON types included) and the
    required codes, located from the resource's own root."""
    return _structure_issues(resource) + check_resource_invariants(resource, str(resource.get("resourceType")))


def _structure_issues(resource: dict[str, Any]) -> list[Issue]:
    issues = []
    for location, message in structure_errors(resource):
        if message.startswith(BINDING_PREFIX):
            issues.append(Issue("error", "FHIR-CODE", location, message.removeprefix(BINDING_PREFIX),
                                "use a code of the element's required value set (FHIR R4)", "structure"))
        else:
            issues.append(Issue("error", "FHIR-STRUCTURE", location, message,
                                "fix the element so that it matches the FHIR R4 definition", "structure"))
    return issues


def check_structure(bundle: dict[str, Any]) -> list[Issue]:
    return _structure_issues(bundle) + check_resource_invariants(bundle, "Bundle")
