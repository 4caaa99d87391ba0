"""The E2B element a problem in an imported Bundle is at, from its FHIRPath.

`reporter import` names a validation error by the E2B element and line of the received value; `reporter
validate` and `reporter e2b` given the imported Bundle named only its FHIRPath. Here the concrete FHIRPath
(`Bundle.entry[4].resource.ofType(AdverseEvent).extension[1].valueAge.code`) is made generic in the notation of
mappings/e2b/locations.yaml's `fhir` column (`AdverseEvent.extension(age_at_onset).valueAge.code`: an extension
by its mappings/fhir.yaml key, a sub-extension by its url, a patient observation and a Composition section by
their keys, no list indexes) and looked up there; a path several elements share (a patient's and a parent's
birth date) names none.
"""

from __future__ import annotations

import re
from functools import cache
from typing import Any

from reporter.e2b.dictionary import dictionary
from reporter.fhir import read
from reporter.tables import fhir_tables, load_yaml

Json = dict[str, Any]
_ENTRY = re.compile(r"Bundle\.entry\[(\d+)\]\.resource(?:\.ofType\((\w+)\))?((?:\.\w+(?:\[\d+\])?)*)")
_STEP = re.compile(r"\.(\w+)(?:\[(\d+)\])?")


@cache
def _by_fhir_path() -> dict[str, tuple[str, ...]]:
    out: dict[str, tuple[str, ...]] = {}
    for number, spec in (load_yaml("e2b/locations.yaml").get("elements") or {}).items():
        column = spec.get("fhir") or ()
        for path in [column] if isinstance(column, str) else column:
            out[path] = (*out.get(path, ()), number)
    return out


@cache
def _names() -> tuple[dict[str, str], dict[str, str], dict[str, str]]:
    """Extension url -> key, patient observation code -> key, Composition section code -> key."""
    tables = fhir_tables()
    return ({url: key for key, url in tables.extensions.items()},
            {spec["code"]: key for key, spec in tables.patient_observations.items()},
            {s["code"]: s["key"] for s in tables.sections})


def _resource_name(resource: Json) -> str:
    kind = str(resource.get("resourceType"))
    if kind == "Observation":
        codes = [c.get("code") for c in read.as_list((resource.get("code") or {}).get("coding"))
                 if isinstance(c, dict)]
        key = next((_names()[1][c] for c in codes if c in _names()[1]), None)
        return f"Observation({key})" if key else kind
    return kind


def _step_name(name: str, item: Any, in_extension: bool) -> str:
    if name in ("extension", "modifierExtension") and isinstance(item, dict):
        url = str(item.get("url") or "")
        return f"{name}({_names()[0].get(url, url) if not in_extension else url})"
    if name == "section" and isinstance(item, dict):
        codes = [c.get("code") for c in read.as_list((item.get("code") or {}).get("coding")) if isinstance(c, dict)]
        key = next((_names()[2][c] for c in codes if c in _names()[2]), None)
        return f"section({key})" if key else name
    return name


def generic_path(bundle: Json, location: str) -> str | None:
    """The `fhir` column's form of a concrete Bundle location; None when it names no entry of the Bundle."""
    found = _ENTRY.search(location)
    entries = read.as_list(bundle.get("entry"))
    index = int(found.group(1)) if found else len(entries)
    resource = entries[index].get("resource") if index < len(entries) and isinstance(entries[index], dict) else None
    if not isinstance(resource, dict):
        return None
    parts, value, in_extension = [_resource_name(resource)], resource, False
    for name, position in _STEP.findall(found.group(3)):
        item = value.get(name) if isinstance(value, dict) else None
        if position and isinstance(item, list):
            item = item[int(position)] if int(position) < len(item) else None
        parts.append(_step_name(name, item, in_extension))
        in_extension = in_extension or name in ("extension", "modifierExtension")
        value = item
    return ".".join(parts)


def element_of(bundle: Json, location: str) -> str | None:
    """The one E2B element whose `fhir` location the problem is at (None: none, or several). The patient's and
    the parent's (D.10) elements share their FHIR places: the resource's subject tells them apart."""
    path = generic_path(bundle, location)
    numbers = _by_fhir_path().get(path or "", ())
    if len({n.startswith(PARENT) for n in numbers}) > 1:
        parent = _about_the_parent(bundle, int(_ENTRY.search(location).group(1)))
        numbers = tuple(n for n in numbers if n.startswith(PARENT) == parent)
    return numbers[0] if len(numbers) == 1 and numbers[0] in dictionary().elements else None


PARENT = "D.10."  # E2B's parent block: its elements repeat the patient's (D.2.1 / D.10.2.1 ...)


def _about_the_parent(bundle: Json, index: int) -> bool:
    """Whether the entry is, or is about, a Patient other than the Composition's subject (the parent)."""
    entry = read.as_list(bundle.get("entry"))[index]
    resource = entry.get("resource") or {}
    patient = ((read.composition_of(bundle) or {}).get("subject") or {}).get("reference")
    if resource.get("resourceType") == "Patient":
        return bool(patient) and entry.get("fullUrl") != patient
    about = (resource.get("subject") or resource.get("patient") or {}).get("reference")
    return bool(patient and about) and about != patient


def with_element(bundle: Json, location: str) -> str:
    """`G.k.6b; Bundle.entry[...]...` for a problem of an imported Bundle at an element's place, as `reporter
    import` lists it (without the line: the received file is not at hand); other locations as they are."""
    if read.extension(read.composition_of(bundle) or {}, "e2b_transmission") is None:
        return location
    found = _ENTRY.search(location)
    number = element_of(bundle, location) if found else None
    return f"{location[:found.start()]}{number}; {location[found.start():]}" if found and number else location
