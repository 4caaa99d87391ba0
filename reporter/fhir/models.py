"""The only module that imports fhir.resources, and only its R4B models (wire-identical to R4 for every
resource this project uses; the package's default models are R5 and must not be used)."""

from __future__ import annotations

from typing import Any

from fhir.resources.R4B import get_fhir_model_class
from pydantic import ValidationError


def structure_errors(resource: dict[str, Any]) -> list[tuple[str, str]]:
    """Parse a resource (a Bundle parses all its entries) with the R4B models.

    Returns (FHIRPath-like location, message) for every structural problem: unknown or misspelt
    elements, wrong types, malformed dates/codes, missing required elements."""
    resource_type = resource.get("resourceType")
    if not isinstance(resource_type, str):
        return [("resourceType", "missing or not a string")]
    try:
        model = get_fhir_model_class(resource_type)
    except (KeyError, ValueError, AttributeError):
        return [("resourceType", f"{resource_type!r} is not an R4 resource type")]
    try:
        model.model_validate(resource)
    except ValidationError as exc:
        problems = []
        for err in exc.errors(include_url=False):
            loc = _fhirpath(resource_type, err["loc"])
            problems.append((loc, err["msg"].removeprefix("Value error, ")))
        return problems
    except (TypeError, ValueError) as exc:  # the models raise plain errors for some malformed input
        return [(resource_type, str(exc))]
    return []


def _fhirpath(root: str, loc: tuple[Any, ...]) -> str:
    path = root
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{str(part).removesuffix('__ext')}"
    return path
