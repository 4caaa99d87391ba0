"""Layer 1: structure, by rule tables generated from the official FHIR R4 StructureDefinitions
(reporter.validation.fhir_r4: types, regexes, cardinality, choice types, required bindings, unknown
elements), plus the project's own narrower code lists (mappings/fhir.yaml: required_codes).

The R4B models (reporter.fhir.models.structure_errors) check the same ground more slowly and more
leniently; the test suite keeps them as a cross-check (tests/test_fhir_r4_structure.py)."""

from __future__ import annotations

from typing import Any

from reporter.tables import fhir_tables
from reporter.validation import fhir_r4
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
        (f"Bundle.entry[{i}].resource.ofType({e['resource'].get('resourceType')})", e.get("resource"))
        for i, e in enumerate(bundle.get("entry") or [])
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


def check_structure(bundle: dict[str, Any]) -> list[Issue]:
    issues = []
    errors, warnings = fhir_r4.check_with_warnings(bundle)
    for location, message in errors:
        issues.append(Issue("error", "FHIR-STRUCTURE", location, message,
                            "fix the element so that it matches the FHIR R4 definition", "structure"))
    for location, message in warnings:
        issues.append(Issue("warning", "FHIR-EMPTY", location, message, "remove the empty element", "structure"))
    reported = {i.location for i in issues}  # an R4 binding already refused the code: say it once
    issues.extend(i for i in check_required_codes(bundle) if i.location not in reported)
    return issues
