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

from reporter.fhir.read import ext_value, extensions, most_recent
from reporter.validation.rules import ends_before

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
    """How `new` relates to earlier (label, Bundle) pairs, as the store will take it (a case is its C.1.1):
    'follow-up of ...', 'amendment of ...', 'nullification of ...'; 'older than ...' when its C.1.5 comes before
    the latest earlier report's (the store refuses it as the current version); another sender's report of the
    same worldwide case (C.1.8.1), which is a case of its own; or None."""
    case_id, worldwide, kind = ids(new)
    pairs = list(earlier)
    same = [(label, old) for label, old in pairs if case_id and ids(old)[0] == case_id]
    if same:
        label, old = same[-1]
        new_date, old_date = most_recent(new), most_recent(old)
        if new_date and old_date and ends_before(new_date, old_date):
            return f"older than {case_id} ({label}): its C.1.5 {new_date} comes before {old_date}"
        return f"{kind or 'follow-up'} of {case_id} ({label})"
    other = [(label, old) for label, old in pairs if worldwide and worldwide in ids(old)[:2]]
    if other:
        label = other[-1][0]
        return f"another sender's report of the worldwide case {worldwide} ({label}): a case of its own"
    return None


def refusal(new: Json, earlier: Iterable[tuple[str, Json]]) -> tuple[str, str] | None:
    """(E2B element, why) when `new` must not take the place of the latest earlier Bundle with its C.1.1, as the
    store refuses it: older news by C.1.5, or a report of a case that was nullified (one takes no further
    versions); None when it may."""
    case_id = ids(new)[0]
    same = [(label, old) for label, old in earlier if case_id and ids(old)[0] == case_id]
    if not same:
        return None
    label, old = same[-1]
    if ids(old)[2] == "nullification" and ids(new)[2] != "nullification":  # the nullification re-sent: no harm
        return "C.1.1", f"{case_id} was nullified ({label}): a nullified case takes no further reports"
    new_date, old_date = most_recent(new), most_recent(old)
    if new_date and old_date and ends_before(new_date, old_date):
        return "C.1.5", (f"the report's most recent information ({new_date}) is older than that of {case_id} "
                         f"({label}, {old_date}): not put in its place")
    return None


def of_unknown_case(new: Json, line: int | None, where: str) -> str | None:
    """The warning for a nullification or amendment (C.1.11.1) of a case `where` did not hold: it becomes a case
    of its own (a nullified one takes no further reports), which the sender may not have meant."""
    case_id, _, kind = ids(new)
    if kind is None:
        return None
    at = f" (line {line})" if line else ""
    after = "; nullified, it takes no further reports" if kind == "nullification" else ""
    return f"C.1.11.1{at}: {kind} of {case_id}, a case {where} did not hold: kept as a new case{after}"


def bundle_at(path: Path) -> list[tuple[str, Json]]:
    """The Bundle already at `path` (a folder's file of a C.1.1) as an earlier (label, Bundle), or none."""
    bundle = _bundle_in(path)
    return [(path.name, bundle)] if bundle is not None else []


def stored_bundles(directory: Path) -> list[tuple[str, Json]]:
    """Previously imported Bundles in a directory (files that are not Bundles are skipped)."""
    if not directory.is_dir():
        return []
    return [(path.name, bundle) for path in sorted(directory.glob("*.json"))
            if (bundle := _bundle_in(path)) is not None]


def _bundle_in(path: Path) -> Json | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and data.get("resourceType") == "Bundle" and data.get("entry") else None


def stored_reason(bundle: Json, related: str | None, file_name: str) -> str:
    """The reason a stored version of a received report gives: the amendment's or nullification's own
    (C.1.11.2), else how it relates to what was read before, else where it came from. Given the file name
    first, an amendment's reason was lost (CIOMS box 25a printed the file name)."""
    from reporter.store.repository import declared_kind

    _, declared = declared_kind(bundle)
    return declared or related or f"E2B report received in {file_name}"
