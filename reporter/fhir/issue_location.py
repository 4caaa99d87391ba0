"""Where an OperationOutcome issue says its problem is.

`issue.expression` holds FHIRPath (R4: rooted at the resource the outcome is about), so a location is put there
only when it is one: it starts with a resource type ("Bundle.entry[2].resource.birthDate"). The other places a
problem can be (an E2B element such as C.1.5 or G.k.4.r.11, a case-file path with its line, an HTTP header or
the URL) go in the project's issue-location extension and at the end of the text, so a client that reads
`expression` as FHIRPath is not given something else, and a person still sees where."""

from __future__ import annotations

import re
from functools import cache
from typing import Any

from reporter.tables import ext

_PATH = re.compile(r"([A-Z][A-Za-z]+)(?:[.\[][^\s/]*)?")


@cache
def _resource_types() -> frozenset[str]:
    from reporter.validation.fhir_r4 import _table_data

    return frozenset(_table_data()["resources"])


def is_fhirpath(location: str) -> bool:
    match = _PATH.fullmatch(location)
    return match is not None and match.group(1) in _resource_types()


def place(item: dict[str, Any], location: str | None) -> dict[str, Any]:
    """`item` (an issue, its text in `details.text` or else `diagnostics`) with `location` put where it
    belongs; returns the item."""
    if not location:
        return item
    if is_fhirpath(location):
        item["expression"] = [location]
        return item
    item.setdefault("extension", []).append({"url": ext("issue_location"), "valueString": location})
    details = item.get("details")
    if isinstance(details, dict) and details.get("text"):
        details["text"] = f"{details['text']} (at {location})"
    elif item.get("diagnostics"):
        item["diagnostics"] = f"{item['diagnostics']} (at {location})"
    return item


def location_of(item: dict[str, Any]) -> str | None:
    """Where an issue says its problem is: its FHIRPath, or the location in the issue-location extension."""
    if item.get("expression"):
        return item["expression"][0]
    return next((e.get("valueString") for e in item.get("extension", []) if e.get("url") == ext("issue_location")),
                None)
