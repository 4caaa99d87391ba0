"""What the store indexes of a Bundle: one entry per resource, with its search values.

Reads Bundles as plain JSON dicts. References inside a document Bundle usually point at fullUrls
(`urn:uuid:...`); they are resolved to `Type/id` here so that `patient=Patient/<id>` finds them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from reporter.store.fhirdates import parse_range

# Which element carries each searchable value, per resource type.
_PATIENT_PATH = {
    "AdverseEvent": "subject", "Observation": "subject", "MedicationStatement": "subject",
    "Condition": "subject", "Composition": "subject",
}
_DATE_PATHS = {
    "AdverseEvent": ("date", "detected"),
    "Observation": ("effectiveDateTime", "effectiveInstant", "effectivePeriod", "issued"),
    "MedicationStatement": ("effectiveDateTime", "effectivePeriod", "dateAsserted"),
    "Condition": ("onsetDateTime", "recordedDate"),
    "Composition": ("date",),
    "Patient": ("birthDate",),
    "Bundle": ("timestamp",),
}
_CODE_PATHS = {
    "AdverseEvent": ("event",),
    "Observation": ("code",),
    "MedicationStatement": ("medicationCodeableConcept",),
    "Condition": ("code",),
    "Composition": ("type",),
}


@dataclass
class IndexEntry:
    resource_type: str
    resource_id: str
    resource: dict
    patient: str | None = None
    date_start: datetime | None = None
    date_end: datetime | None = None
    tokens: list[tuple[str, str, str]] = field(default_factory=list)  # (param, system, code)


def _codings(concept: object) -> list[tuple[str, str]]:
    if not isinstance(concept, dict):
        return []
    return [(str(c.get("system") or ""), str(c["code"])) for c in concept.get("coding") or []
            if isinstance(c, dict) and c.get("code")]


def _identifiers(value: object) -> list[tuple[str, str]]:
    items = value if isinstance(value, list) else [value]
    return [(str(i.get("system") or ""), str(i["value"])) for i in items
            if isinstance(i, dict) and i.get("value")]


def _date_range(resource: dict, paths: tuple[str, ...]) -> tuple[datetime | None, datetime | None]:
    for path in paths:
        value = resource.get(path)
        try:
            if isinstance(value, str):
                return parse_range(value)
            if isinstance(value, dict) and (value.get("start") or value.get("end")):
                start = parse_range(value["start"])[0] if value.get("start") else None
                end = parse_range(value["end"])[1] if value.get("end") else None
                return start, end
        except ValueError:
            continue  # a malformed date is the validator's business; it is just not searchable
    return None, None


def reference_map(bundle: dict) -> dict[str, str]:
    """fullUrl -> 'Type/id' for every entry whose resource has an id."""
    mapping: dict[str, str] = {}
    for entry in bundle.get("entry") or []:
        resource = entry.get("resource") if isinstance(entry, dict) else None
        if isinstance(resource, dict) and resource.get("id") and entry.get("fullUrl"):
            mapping[str(entry["fullUrl"])] = f"{resource.get('resourceType')}/{resource['id']}"
    return mapping


def resolve(reference: object, refs: dict[str, str]) -> str | None:
    if not isinstance(reference, dict) or not isinstance(reference.get("reference"), str):
        return None
    ref = reference["reference"]
    return refs.get(ref, ref)


def composition(bundle: dict) -> dict | None:
    entries = bundle.get("entry") or []
    first = entries[0].get("resource") if entries and isinstance(entries[0], dict) else None
    return first if isinstance(first, dict) and first.get("resourceType") == "Composition" else None


def index_bundle(bundle: dict) -> list[IndexEntry]:
    """Index entries for the Bundle itself and every entry resource that has an id."""
    refs = reference_map(bundle)
    by_url = {str(e.get("fullUrl")): e.get("resource") for e in bundle.get("entry") or []
              if isinstance(e, dict) and isinstance(e.get("resource"), dict)}
    comp = composition(bundle) or {}
    out: list[IndexEntry] = []
    bundle_entry = IndexEntry("Bundle", str(bundle["id"]), bundle, patient=resolve(comp.get("subject"), refs))
    bundle_entry.date_start, bundle_entry.date_end = _date_range(bundle, _DATE_PATHS["Bundle"])
    bundle_entry.tokens += [("identifier", s, c) for s, c in _identifiers(bundle.get("identifier"))]
    bundle_entry.tokens += [("identifier", s, c) for s, c in _identifiers(comp.get("identifier"))]
    out.append(bundle_entry)
    for entry in bundle.get("entry") or []:
        resource = entry.get("resource") if isinstance(entry, dict) else None
        if not isinstance(resource, dict) or not resource.get("id") or not resource.get("resourceType"):
            continue
        rtype = str(resource["resourceType"])
        item = IndexEntry(rtype, str(resource["id"]), resource)
        if rtype == "Patient":
            item.patient = f"Patient/{resource['id']}"
        elif rtype in _PATIENT_PATH:
            item.patient = resolve(resource.get(_PATIENT_PATH[rtype]), refs)
        item.date_start, item.date_end = _date_range(resource, _DATE_PATHS.get(rtype, ()))
        for path in _CODE_PATHS.get(rtype, ()):
            item.tokens += [("code", s, c) for s, c in _codings(resource.get(path))]
        if rtype == "MedicationStatement" and isinstance(resource.get("medicationReference"), dict):
            medication = by_url.get(str(resource["medicationReference"].get("reference")))
            if isinstance(medication, dict) and medication.get("resourceType") == "Medication":
                item.tokens += [("code", s, c) for s, c in _codings(medication.get("code"))]
        if rtype == "AdverseEvent":
            item.tokens += [("seriousness", s, c) for s, c in _codings(resource.get("seriousness"))]
        item.tokens += [("identifier", s, c) for s, c in _identifiers(resource.get("identifier"))]
        out.append(item)
    return out
