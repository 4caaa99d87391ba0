"""Recognise follow-ups: a report whose C.1.1 or C.1.8.1 matches an earlier one is a follow-up of that
case, or an amendment / nullification of it when C.1.11.1 says so.

`relation(new, earlier)` is the function a case store calls with the new Bundle and the stored Bundles
of the case (newest last); it returns None for an unrelated report, else a short note.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from reporter.fhir.read import ext_value, extensions

Json = dict[str, Any]


def ids(bundle: Json) -> tuple[str | None, str | None, str | None]:
    """(C.1.1, C.1.8.1, C.1.11.1 kind) of a Bundle."""
    comp = bundle["entry"][0]["resource"]
    case_id = (comp.get("identifier") or {}).get("value")
    worldwide = (ext_value(comp, "case_identifier") or {}).get("value")
    kind = None
    for ext in extensions(comp, "report_amendment"):
        for sub in ext.get("extension", []):
            if sub.get("url") == "amendmentType":
                codes = [c.get("code") for c in sub["valueCodeableConcept"].get("coding", [])]
                kind = "nullification" if "1" in codes else "amendment" if "2" in codes else None
    return case_id, worldwide, kind


def relation(new: Json, earlier: Iterable[tuple[str, Json]]) -> str | None:
    """How `new` relates to earlier (label, Bundle) pairs: 'follow-up of ...', 'amendment of ...',
    'nullification of ...', or None."""
    case_id, worldwide, kind = ids(new)
    for label, old in earlier:
        old_case, old_world, _ = ids(old)
        keys = {k for k in (case_id, worldwide) if k}
        if keys & {k for k in (old_case, old_world) if k}:
            return f"{kind or 'follow-up'} of {old_world or old_case} ({label})"
    return None


def stored_bundles(directory: Path) -> list[tuple[str, Json]]:
    """Previously imported Bundles in a directory (files that are not Bundles are skipped)."""
    found: list[tuple[str, Json]] = []
    if not directory.is_dir():
        return found
    for path in sorted(directory.glob("*.json")):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(data, dict) and data.get("resourceType") == "Bundle" and data.get("entry"):
            found.append((path.name, data))
    return found
