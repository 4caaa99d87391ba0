"""Layer 1: structure, by rule tables generated from the official FHIR R4 StructureDefinitions
(reporter.validation.fhir_r4: strict JSON types, regexes, cardinality, choice types, required bindings,
unknown and empty elements), the FHIR invariants that matter here (invariants.py: ele-1, ext-1, obs-3, obs-6,
dom-2, dom-3, bdl-7) and the project's own narrower code lists (mappings/fhir.yaml: required_codes).

The R4B models (reporter.fhir.models.structure_errors) check the same ground more slowly and more
leniently; the test suite keeps them as a cross-check (tests/test_fhir_r4_structure.py)."""

from __future__ import annotations

from typing import Any

from reporter.tables import fhir_tables
from reporter.validation import fhir_r4
from reporter.validation.invariants import any_bad_extension_in, check_resource_invariants
from reporter.validation.report import Issue
from reporter.validation.walk import BundleWalk


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
    by_type: dict[Any, list[tuple[str | None, dict[str, Any]]]] = {bundle.get("resourceType"): [(None, bundle)]}
    for i, entry in enumerate(bundle.get("entry") or []):
        if isinstance(entry, dict) and isinstance(resource := entry.get("resource"), dict):
            by_type.setdefault(resource.get("resourceType"), []).append((f"Bundle.entry[{i}].resource", resource))
    for target, allowed in fhir_tables().required_codes.items():
        rtype, *parts = target.split(".")
        for root, resource in by_type.get(rtype, ()):
            if len(parts) == 1 and (value := resource.get(parts[0])).__class__ is str and value in allowed:
                continue  # most targets name one field (status, gender): an allowed code needs no walk
            for path, value in _values(resource, parts, f"{root}.ofType({rtype})" if root else "Bundle"):
                if isinstance(value, str) and value not in allowed:
                    issues.append(Issue("error", "FHIR-CODE", path, f"{value!r} is not a valid code here",
                                        f"use one of: {', '.join(allowed)}", "structure"))
    return issues


def _r4_issues(resource: dict[str, Any]) -> list[Issue]:
    return _r4_checked(resource)[0]


def _r4_checked(resource: dict[str, Any]) -> tuple[list[Issue], bool]:
    """The R4 tables' issues, and whether the compiled schema found none (then no extension breaks ext-1)."""
    issues = []
    errors, empties, valid = fhir_r4.checked(resource)
    for location, message in errors:
        issues.append(Issue("error", "FHIR-STRUCTURE", location, message,
                            "fix the element so that it matches the FHIR R4 definition", "structure"))
    # ele-1: every element has a value or children; an empty one is refused (it would lose a fact silently)
    for location, message in empties:
        issues.append(Issue("error", "FHIR-EMPTY", location, message, "remove the empty element, or fill it",
                            "structure"))
    return issues, valid


def check_resource(resource: dict[str, Any]) -> list[Issue]:
    """Layer 1 for any resource or non-ICSR Bundle (the API's $validate and writes), located from the
    resource's own root: the R4 tables, and the R4B models with every required binding of HL7's R4
    definitions (mappings/fhir_required_bindings.yaml: codings inside CodeableConcepts too) and reference
    target types, each problem once."""
    from reporter.fhir.models import BINDING_PREFIX, structure_errors

    issues = _r4_issues(resource)
    reported = {i.location for i in issues}
    for location, message in structure_errors(resource):
        if location in reported:
            continue
        reported.add(location)
        if message.startswith(BINDING_PREFIX):
            issues.append(Issue("error", "FHIR-CODE", location, message.removeprefix(BINDING_PREFIX),
                                "use a code of the element's required value set (FHIR R4)", "structure"))
        else:
            issues.append(Issue("error", "FHIR-STRUCTURE", location, message,
                                "fix the element so that it matches the FHIR R4 definition", "structure"))
    return issues + check_resource_invariants(resource, str(resource.get("resourceType")))


def check_structure(bundle: dict[str, Any], walk: BundleWalk | None = None) -> list[Issue]:
    """`walk`: the Bundle's walk (reporter.validation.walk), when the caller has it. A Bundle the compiled
    schema finds valid has no extension that breaks ext-1; for another, one pass over the walk tells whether
    any resource needs the located ext-1 pass."""
    issues, valid = _r4_checked(bundle)
    reported = {i.location for i in issues}  # an R4 binding already refused the code: say it once
    issues.extend(i for i in check_required_codes(bundle) if i.location not in reported)
    reported = {i.location for i in issues}
    entries_ok = valid or (walk is not None and not any_bad_extension_in(walk.nodes))
    issues.extend(i for i in check_resource_invariants(bundle, "Bundle", ext_ok=valid, entries_ext_ok=entries_ok)
                  if i.location not in reported)
    return issues
