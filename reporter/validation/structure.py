"""Layer 1: structure, by the FHIR R4B models (required elements, types, formats), plus the codes with a
required binding that the models leave unchecked (mappings/fhir.yaml: required_codes)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from reporter.fhir.models import structure_errors
from reporter.tables import fhir_tables
from reporter.validation.report import Issue


def _values(node: Any, parts: list[str], path: str):
    """Values at a dotted path, walking into lists; yields (FHIRPath, value)."""
    if not parts:
        yield path, node
        return
    if isinstance(node, list):
        for i, item in enumerate(node):
            yield from _values(item, parts, f"{path}[{i}]")
        return
    if isinstance(node, dict) and parts[0] in node:
        yield from _values(node[parts[0]], parts[1:], f"{path}.{parts[0]}")


def check_required_codes(bundle: dict[str, Any]) -> list[Issue]:
    issues = []
    resources = [("Bundle", bundle)] + [
        (f"Bundle.entry[{i}].resource", e.get("resource")) for i, e in enumerate(bundle.get("entry") or [])
        if isinstance(e, dict) and isinstance(e.get("resource"), dict)]
    for target, allowed in fhir_tables().required_codes.items():
        rtype, *parts = target.split(".")
        for root, resource in resources:
            if resource.get("resourceType") != rtype:
                continue
            for path, value in _values(resource, parts, root):
                if isinstance(value, str) and value not in allowed:
                    issues.append(Issue("error", "FHIR-CODE", path, f"{value!r} is not a valid code here",
                                        f"use one of: {', '.join(allowed)}", "structure"))
    return issues


def check_resource(resource: dict[str, Any]) -> list[Issue]:
    """Layer 1 for any resource or non-ICSR Bundle: the R4 structure (strict JSON types included) and the
    required codes, located from the resource's own root."""
    issues = [Issue("error", "FHIR-STRUCTURE", location, message,
                    "fix the element so that it matches the FHIR R4 definition", "structure")
              for location, message in structure_errors(resource)]
    if resource.get("resourceType") == "Bundle":
        return issues + check_required_codes(resource)
    root = str(resource.get("resourceType"))
    for issue in check_required_codes({"resourceType": "Bundle", "entry": [{"resource": resource}]}):
        if issue.location.startswith("Bundle.entry[0].resource"):
            issues.append(replace(issue, location=root + issue.location.removeprefix("Bundle.entry[0].resource")))
    return issues


def check_structure(bundle: dict[str, Any]) -> list[Issue]:
    issues = []
    for location, message in structure_errors(bundle):
        issues.append(Issue("error", "FHIR-STRUCTURE", location, message,
                            "fix the element so that it matches the FHIR R4 definition", "structure"))
    issues.extend(check_required_codes(bundle))
    return issues
