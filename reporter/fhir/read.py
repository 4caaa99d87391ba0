"""Reading helpers for ICSR Bundles as plain JSON dicts: index, references, extensions, absent reasons,
relative times. Everything downstream of the Bundle (E2B export, report, API) reads through these."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from reporter.tables import code_list, ext, fhir_tables, system

Json = dict[str, Any]

_VALUE_KEYS_PREFIX = "value"


class BundleIndex:
    """Resources of one Bundle by fullUrl, id and type; resolves references inside the Bundle."""

    def __init__(self, bundle: Json) -> None:
        self.bundle = bundle
        self.by_url: dict[str, Json] = {}
        self.by_type: dict[str, list[Json]] = {}
        for entry in bundle.get("entry") or []:
            resource = entry.get("resource") if isinstance(entry, dict) else None
            if not isinstance(resource, dict):
                continue
            rtype = resource.get("resourceType", "")
            self.by_type.setdefault(rtype, []).append(resource)
            if full_url := entry.get("fullUrl"):
                self.by_url[full_url] = resource
            if rid := resource.get("id"):
                self.by_url.setdefault(f"{rtype}/{rid}", resource)

    def all(self, resource_type: str) -> list[Json]:
        return self.by_type.get(resource_type, [])

    def first(self, resource_type: str) -> Json | None:
        found = self.by_type.get(resource_type)
        return found[0] if found else None

    def resolve(self, reference: Json | str | None) -> Json | None:
        if isinstance(reference, dict):
            reference = reference.get("reference")
        if not reference:
            return None
        return self.by_url.get(reference)

    @property
    def composition(self) -> Json | None:
        return self.first("Composition")

    @property
    def patient(self) -> Json | None:
        comp = self.composition
        return self.resolve(comp.get("subject")) if comp else self.first("Patient")

    def section(self, key: str) -> list[Json]:
        """The resources listed in a Composition section, by its key in mappings/fhir.yaml."""
        section = self.section_element(key)
        if not section:
            return []
        return [r for r in (self.resolve(ref) for ref in section.get("entry") or []) if r is not None]

    def section_element(self, key: str) -> Json | None:
        comp = self.composition or {}
        code = section_code(key)
        for section in comp.get("section") or []:
            for coding in (section.get("code") or {}).get("coding") or []:
                if coding.get("code") == code:
                    return section
        return None


def section_code(key: str) -> str:
    for spec in fhir_tables().sections:
        if spec["key"] == key:
            return spec["code"]
    raise KeyError(key)


def extensions(element: Json | None, key: str) -> list[Json]:
    """Extensions of an element with the URL named `key` in mappings/fhir.yaml."""
    if not element:
        return []
    url = ext(key)
    return [e for e in element.get("extension") or [] if e.get("url") == url]


def extension(element: Json | None, key: str) -> Json | None:
    found = extensions(element, key)
    return found[0] if found else None


def value_of(ext_or_element: Json | None) -> Any:
    """The value[x] of an extension (or of a sub-extension), whatever its type."""
    if not ext_or_element:
        return None
    for k, v in ext_or_element.items():
        if k.startswith(_VALUE_KEYS_PREFIX) and k != "value":
            return v
    return ext_or_element.get("value")


def ext_value(element: Json | None, key: str) -> Any:
    return value_of(extension(element, key))


def sub_value(extension_: Json | None, name: str) -> Any:
    """Value of a named sub-extension of a complex extension."""
    for sub in (extension_ or {}).get("extension") or []:
        if sub.get("url") == name:
            return value_of(sub)
    return None


def absent_reason(extension_holder: Json | None) -> str | None:
    """E2B null flavor (MSK, ASKU, NASK, UNK, NI, NA) carried by an element's extensions, if any."""
    if not extension_holder:
        return None
    exts = extension_holder.get("extension") or []
    for e in exts:
        if e.get("url") == ext("null_flavor"):
            return e.get("valueCode")
    for e in exts:
        if e.get("url") == ext("data_absent_reason"):
            key = code_list("null_flavor").key_for_fhir(e.get("valueCode", ""))
            return code_list("null_flavor").codes[key].e2b if key else "UNK"
    return None


def primitive_absent(element: Json, field: str) -> str | None:
    """Null flavor of a primitive field, from its `_field` extensions."""
    return absent_reason(element.get(f"_{field}"))


@dataclass(frozen=True)
class Relative:
    """A time relative to a drug: value (negative = before) in a UCUM unit, from its first or last dose."""

    value: float
    unit: str
    drug_reference: str
    anchor: str  # "first-dose" | "last-dose"


def relative_from_extension(extension_: Json) -> Relative | None:
    if extension_.get("url") != ext("relative_time"):
        return None
    target = sub_value(extension_, "target") or {}
    relationship = sub_value(extension_, "relationship") or "after-start"
    offset = sub_value(extension_, "offset") or {}
    value = float(offset.get("value", 0))
    if relationship.startswith("before"):
        value = -value
    return Relative(
        value=value,
        unit=offset.get("code") or offset.get("unit") or "d",
        drug_reference=target.get("reference", ""),
        anchor="last-dose" if relationship.endswith("end") else "first-dose",
    )


def relative_time(element: Json | None, field: str | None = None) -> Relative | None:
    """The relative time on a primitive (`_field`) or inside a date-valued extension."""
    if not element:
        return None
    holder = element.get(f"_{field}") if field else element
    for e in (holder or {}).get("extension") or []:
        rel = relative_from_extension(e)
        if rel:
            return rel
    return None


def coding(concept: Json | None, system_key: str) -> Json | None:
    """The first coding of a CodeableConcept in a system named in mappings/fhir.yaml (or a full URI)."""
    if not concept:
        return None
    uri = system_key if ":" in system_key else system(system_key)
    for c in concept.get("coding") or []:
        if c.get("system") == uri:
            return c
    return None


def oid_coding(concept: Json | None, oid: str) -> Json | None:
    return coding(concept, f"urn:oid:{oid}")
