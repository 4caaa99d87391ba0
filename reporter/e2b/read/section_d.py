"""D: patient (with medical history, past drugs, death) and parent -> the case model."""

from __future__ import annotations

from typing import Any

from lxml import etree

from reporter.casefile import model as m
from reporter.e2b.read.reader import (
    NULL_TO_ABSENT,
    Reader,
    boolean,
    ncit,
    note_relationship,
    null_flavor_only,
    product_ids,
    to_number,
    ts_to_partial,
)


def _age_at_onset(r: Reader, pat: etree._Element, reactions: bool) -> m.Quantity | None:
    """D.2.2: the case holds the age at onset with its reactions (as FHIR does, on each AdverseEvent); a report
    without a reaction read (ICH refuses one without any) cannot keep it, and the import says so."""
    if reactions or r.node("D.2.2a", pat) is None:
        return r.quantity("D.2.2a", "D.2.2b", pat)
    r.deviations.append(("D.2.2a", "the report has no reaction (E.i) to hold the age at onset with: not kept"))
    return None


def read_patient(r: Reader, pat: etree._Element | None, reactions: bool = True) -> Any:
    """D: the patient. `reactions`: whether any reaction was read (the age at onset is held with them)."""
    if pat is None:
        return None
    point = r.checkpoint()
    initials = r.get("D.1", pat) or _name_parts(r, pat)
    data: dict[str, Any] = {
        "initials": initials,
        "sex": r.code("D.5", pat, "sex") or (s if isinstance(s := r.get("D.5", pat, null_flavor_only), m.Absent)
                                             else None),
        "birth_date": r.date("D.2.1", pat),
        "age_at_onset": _age_at_onset(r, pat, reactions),
        "gestation_at_onset": r.quantity("D.2.2.1a", "D.2.2.1b", pat),
        "age_group": r.code("D.2.3", pat, "age_group"),
        "weight_kg": r.value("D.3", pat, lambda v: to_number(v) if (r.raw("D.3", pat)[0] is not None and
                                                                  r.raw("D.3", pat)[0].get("unit") == "kg")
                             else None, transform="to_number"),
        "height_cm": r.value("D.4", pat, lambda v: to_number(v) if (r.raw("D.4", pat)[0] is not None and
                                                                  r.raw("D.4", pat)[0].get("unit") == "cm")
                             else None, transform="to_number"),
        "last_menstrual_period": r.get("D.6", pat, ts_to_partial),
        "race": [v for inst in r.instances("race")
                 if (v := ncit(r, "FDA.D.11.r.1", inst)) is not None],
        "ethnicity": ncit(r, "FDA.D.12", pat),
        "medical_history": [],
        "past_drugs": [],
    }
    for unit_el in ("D.3", "D.4"):
        node = r.raw(unit_el, pat)[0]
        if node is not None and data["weight_kg" if unit_el == "D.3" else "height_cm"] is not None:
            r.mark(node, "unit")
    organizer = r.one("history_organizer")
    if organizer is not None:
        data["history_text"] = r.get("D.7.2", organizer)
        data["concomitant_therapies"] = r.boolean("D.7.3", organizer)
    data["record_numbers"] = _record_numbers(r, pat)
    data["medical_history"] = _history(r, "history", "D.7.1.r")
    data["past_drugs"] = _past_drugs(r, "past_drug", "D.8.r")
    data["death"] = _death(r, pat)
    data["parent"] = _parent(r, r.one("parent"))
    if initials is None:
        r.rollback(point)
        return None
    return r.build(m.Patient, data, point)


_RECORD_SOURCES = {"D.1.1.1": "gp", "D.1.1.2": "specialist", "D.1.1.3": "hospital", "D.1.1.4": "investigation"}


def _name_parts(r: Reader, pat: etree._Element) -> dict[str, Any] | None:
    """D.1 given as a name in parts (prefix, given, family: an HL7 PN with parts) instead of text."""
    node = r.node("D.1", pat)
    if node is None or not r._nameable(node):
        return None
    parts: dict[str, list[etree._Element]] = {}
    for child in node:
        if isinstance(child.tag, str):
            parts.setdefault(etree.QName(child).localname, []).append(child)
    if not parts or set(parts) - {"prefix", "given", "family"} or len(parts.get("given", [])) > 2 or any(
            len(parts.get(k, [])) > 1 for k in ("prefix", "family")):
        return None  # another shape (suffixes, several families...) stays listed as not read
    out: dict[str, Any] = {}
    for key, tag, index in (("title", "prefix", 0), ("given", "given", 0), ("middle", "given", 1),
                            ("family", "family", 0)):
        nodes = parts.get(tag, [])
        if index < len(nodes):
            part = nodes[index]
            text = (part.text or "").strip()
            if text:
                out[key] = text
                r.mark(part, "#text")
            elif part.get("nullFlavor") in NULL_TO_ABSENT:
                out[key] = {"absent": NULL_TO_ABSENT[part.get("nullFlavor")]}
                r.mark(part, "nullFlavor")
    if out:
        r.applied("D.1", "name_parts")
    return out or None


def _record_numbers(r: Reader, pat: etree._Element) -> list[dict[str, Any]]:
    """D.1.1.1-4 medical record numbers (or MSK: withheld); the id's root says which kind, its entity's code
    repeats it."""
    out = []
    for number, source in _RECORD_SOURCES.items():
        value = r.get(number, pat)
        node = r.node(number, pat)
        if value is None or node is None:
            continue
        code = node.getparent().find("{urn:hl7-org:v3}code")
        if code is not None and code.get("code") == number[-1]:
            r.mark(code, *(a for a in ("code", "codeSystem") if code.get(a)))
        out.append({"source": source, "value": value})
    return out


def _history(r: Reader, group: str, prefix: str) -> list[m.HistoryItem]:
    """D.7.1.r (patient) or D.10.7.1.r (parent): medical history items, the same shape under both."""
    out = []
    for inst in r.instances(group):
        p = r.checkpoint()
        family = f"{prefix}.6"
        note_relationship(r, f"{prefix}.5", inst, "COMP")
        coded = r.meddra(f"{prefix}.1b", f"{prefix}.1a", inst)
        item = r.build(m.HistoryItem, {
            "term": None if coded else _term_in_words(r, inst, prefix, len(out) + 1),
            "meddra": coded,
            "start": r.date(f"{prefix}.2", inst), "end": r.date(f"{prefix}.4", inst),
            "continuing": r.get(f"{prefix}.3", inst, boolean),
            "comments": r.value(f"{prefix}.5", inst),
            "family_history": r.boolean(family, inst) if family in r.elements else None,
        }, p, inst)
        if item:
            out.append(item)
    return out


def _term_in_words(r: Reader, inst: etree._Element, prefix: str, n: int) -> str | None:
    """A history item some senders name in words only (the original text of D.7.1.r.1, no MedDRA code): the case
    keeps the words as the item's term, which an export says it cannot send (E2B takes only the code)."""
    node = inst.find("{urn:hl7-org:v3}code/{urn:hl7-org:v3}originalText")
    words = (node.text or "").strip() if node is not None and len(node) == 0 else ""
    if not words:
        return None
    r.mark(node, "#text")
    r.deviations.append((f"{prefix}.1b", f"history item {n} ({words!r}) came in words only, without its MedDRA code: "
                                         "kept as its term, which an export cannot send there"))
    return words


def _past_drugs(r: Reader, group: str, prefix: str) -> list[m.PastDrug]:
    """D.8.r (patient) or D.10.8.r (parent): past drug history, the same shape under both."""
    out = []
    for inst in r.instances(group):
        p = r.checkpoint()
        item = r.build(m.PastDrug, {
            "name": r.get(f"{prefix}.1", inst), "start": r.date(f"{prefix}.4", inst),
            "end": r.date(f"{prefix}.5", inst),
            "identifiers": product_ids(r, f"{prefix}.2b", f"{prefix}.2a", inst),
            "indication": r.meddra(f"{prefix}.6b", f"{prefix}.6a", inst),
            "reaction": r.meddra(f"{prefix}.7b", f"{prefix}.7a", inst),
        }, p, inst)
        if item:
            out.append(item)
    return out


def _cause(r: Reader, inst: etree._Element, prefix: str) -> Any:
    p = r.checkpoint()
    return r.build(m.CauseOfDeath, {"meddra": r.meddra(f"{prefix}.1b", f"{prefix}.1a", inst),
                                    "text": r.value(f"{prefix}.2", inst)}, p, inst)


def _death(r: Reader, pat: etree._Element) -> Any:
    """D.9: date of death, reported causes, autopsy and its causes."""
    point = r.checkpoint()
    autopsy = r.one("autopsy")
    data = {
        "date": r.date("D.9.1", pat),
        "reported_causes": [c for inst in r.instances("death_cause") if (c := _cause(r, inst, "D.9.2.r"))],
        "autopsy": r.get("D.9.3", autopsy, boolean),
        "autopsy_causes": [c for inst in r.instances("autopsy_cause") if (c := _cause(r, inst, "D.9.4.r"))],
    }
    if all(v is None or v == [] for v in data.values()):
        return None
    return r.build(m.Death, data, point)


def _parent(r: Reader, role: etree._Element | None) -> Any:
    """D.10 parent: identification, birth date and age, LMP, weight, height, sex."""
    if role is None:
        return None
    point = r.checkpoint()

    def measure(number: str, unit: str) -> float | None:
        node = r.node(number, role)
        if node is None or node.get("unit") != unit:
            return None
        found = r.value(number, role, to_number)
        if found is not None:
            r.mark(node, "unit")
        return found

    organizer = r.one("parent_history_organizer")
    data = {
        "history_text": r.value("D.10.7.2", organizer) if organizer is not None else None,
        "medical_history": _history(r, "parent_history", "D.10.7.1.r"),
        "past_drugs": _past_drugs(r, "parent_past_drug", "D.10.8.r"),
        "identification": r.get("D.10.1", role),
        "birth_date": r.date("D.10.2.1", role),
        "age": r.quantity("D.10.2.2a", "D.10.2.2b", role),
        "last_menstrual_period": r.get("D.10.3", role, ts_to_partial),
        "weight_kg": measure("D.10.4", "kg"),
        "height_cm": measure("D.10.5", "cm"),
        "sex": r.code("D.10.6", role, "sex") or (s if isinstance(s := r.get("D.10.6", role, null_flavor_only),
                                                                m.Absent) else None),
    }
    return r.build(m.Parent, data, point, role)
