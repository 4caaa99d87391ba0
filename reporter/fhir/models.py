"""The only module that imports fhir.resources, and only its R4B models (wire-identical to R4 for every
resource this project uses; the package's default models are R5 and must not be used)."""

from __future__ import annotations

from typing import Any

from fhir.resources.R4B import get_fhir_model_class
from pydantic import ValidationError


def _validate(resource: dict[str, Any], root: str) -> list[tuple[str, str]]:
    resource_type = resource.get("resourceType")
    if not isinstance(resource_type, str):
        return [(f"{root}.resourceType", "missing or not a string")]
    try:
        model = get_fhir_model_class(resource_type)
    except (KeyError, ValueError, AttributeError):
        return [(f"{root}.resourceType", f"{resource_type!r} is not an R4 resource type")]
    try:
        model.model_validate(resource)
    except ValidationError as exc:
        return [(_fhirpath(root, err["loc"]), err["msg"].removeprefix("Value error, "))
                for err in exc.errors(include_url=False)]
    except (TypeError, ValueError) as exc:  # the models raise plain errors for some malformed input
        return [(root, str(exc))]
    return []


def structure_errors(resource: dict[str, Any]) -> list[tuple[str, str]]:
    """Parse a resource with the R4B models; a Bundle's entries are parsed one by one (faster than the
    Bundle as a whole, and each problem is located at its entry).

    Returns (FHIRPath-like location, message) for every structural problem: unknown or misspelt
    elements, wrong types, malformed dates/codes, missing required elements."""
    if resource.get("resourceType") != "Bundle" or not isinstance(resource.get("entry"), list):
        return _validate(resource, str(resource.get("resourceType", "Resource")))
    shell = {**resource, "entry": []}
    problems = []
    for i, entry in enumerate(resource["entry"]):
        if isinstance(entry, dict):
            shell["entry"].append({k: v for k, v in entry.items() if k != "resource"})
            if isinstance(entry.get("resource"), dict):
                rtype = entry["resource"].get("resourceType", "?")
                problems += _validate(entry["resource"], f"Bundle.entry[{i}].resource.ofType({rtype})")
        else:
            shell["entry"].append(entry)
    return _validate(shell, "Bundle") + problems


def _fhirpath(root: str, loc: tuple[Any, ...]) -> str:
    path = root
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{str(part).removesuffix('__ext')}"
    return path
