"""One E2B(R3) ICSR message (PORR_IN049016UV) -> the case-file model, recording what was read.

Values are found through the element locations table (mappings/e2b/locations.yaml), the same table the
exporter's checks use. Every (node, attribute) read into the model is recorded in `Reader.used`; what
was not read is counted and listed by element in the import report (reporter/e2b/coverage.py), never
carried as XML. A block the model rejects (e.g. a drug without a name) is rolled back whole and listed.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import yaml
from lxml import etree
from pydantic import BaseModel, ValidationError

from reporter.casefile import model as m
from reporter.e2b.diff import ACTS
from reporter.e2b.xmlsafe import XSI, local
from reporter.paths import mappings_dir


@cache
def _compiled_xpath(path: str, namespaces: tuple[tuple[str, str], ...]) -> etree.XPath:
    """An element location compiled once (a string XPath is compiled again on every evaluation)."""
    return etree.XPath(path, namespaces=dict(namespaces))


MEDDRA = "2.16.840.1.113883.6.163"
NULL_TO_ABSENT = {"MSK": "masked", "ASKU": "asked-unknown", "NASK": "not-asked", "UNK": "unknown",
                  "NI": "no-information", "NA": "not-applicable"}
_TS_RE = re.compile(r"^(\d{4})(\d{2})?(\d{2})?(?:(\d{2})(\d{2})(\d{2})?(\.\d+)?)?([+-]\d{4})?$")


@cache
def _table() -> dict[str, Any]:
    return yaml.safe_load((mappings_dir() / "e2b" / "locations.yaml").read_text(encoding="utf-8"))


@cache
def _code_systems() -> dict[str, str | None]:
    """The code system (OID) of each code list of mappings/codes.yaml."""
    data = yaml.safe_load((mappings_dir() / "codes.yaml").read_text(encoding="utf-8"))
    return {name: spec.get("oid") for name, spec in data.items()}


@cache
def _codes() -> dict[str, dict[str, str]]:
    """E2B code -> case-file key, per code list of mappings/codes.yaml."""
    data = yaml.safe_load((mappings_dir() / "codes.yaml").read_text(encoding="utf-8"))
    return {name: {str(v["e2b"]): k for k, v in spec["codes"].items() if v.get("e2b") is not None}
            for name, spec in data.items()}


def ts_to_partial(value: str | None) -> str | None:
    """HL7 TS -> the model's partial date; None when the model cannot hold it at the same precision."""
    if not value:
        return None
    match = _TS_RE.match(value)
    if not match:
        return None
    y, mo, d, h, mi, s, frac, tz = match.groups()
    if mo is None:
        return None if (d or h or tz) else y
    if d is None:
        return None if (h or tz) else f"{y}-{mo}"
    if h is None:
        return None if tz else f"{y}-{mo}-{d}"
    if tz is None:
        return None  # a time without a zone: the model insists on a zone
    text = f"{y}-{mo}-{d}T{h}:{mi}" + (f":{s}" if s else "") + (frac or "")
    if frac and not s:
        return None
    return text + f"{tz[:3]}:{tz[3:]}"




def _number(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        return None


@dataclass
class Origin:
    """Where the model's items sat in the message: original ids of drugs and reactions (by case-file
    key) and the positions of the G.k.1 and G.k.9.i.2.r blocks, so a re-export keeps them."""

    ids: dict[str, str] = field(default_factory=dict)
    role_positions: dict[str, int] = field(default_factory=dict)
    causality_positions: dict[tuple[str, str], list[int]] = field(default_factory=dict)
    # (drug key, reaction key) -> position of the drug's first G.k.9.i.3 / G.k.9.i.4 block for the reaction
    link_positions: dict[tuple[str, str], int] = field(default_factory=dict)
    # sender's telecom kind (phone, fax, email) -> its position among the sender's elements (C.3.4.6-8)
    telecom_positions: dict[str, int] = field(default_factory=dict)
    # narrative section key (reporter_comments H.2, sender_comments H.4) -> position of its block
    comment_positions: dict[str, int] = field(default_factory=dict)
    # how many C.1.9.1.r other-case-id blocks (subjectOf1, like the sender's C.3) came before the sender's
    sender_rank: int | None = None
    # (test index, "low" / "high") -> position of the F.r.4 / F.r.5 referenceRange among the test's elements
    range_positions: dict[tuple[int, str], int] = field(default_factory=dict)


class Reader:
    """Reads E2B element values relative to group instances and records each (node, attribute) read."""

    def __init__(self, message: etree._Element) -> None:
        self.message = message
        table = _table()
        self.ns: dict[str, str] = table["namespaces"]
        self.groups: dict[str, dict[str, str]] = table["groups"]
        self.elements: dict[str, dict[str, str]] = table["elements"]
        self.used: list[tuple[etree._Element, str]] = []
        self.origin = Origin()
        # E2B elements the model needs a value for that the message does not give (in a form the model
        # can hold): the case gets a placeholder, and the exporter writes nothing of its own there.
        self.not_received: list[str] = []
        self.skipped: set[etree._Element] = set()  # blocks not to read from (see first_only)

    # -- bookkeeping -----------------------------------------------------------------------------

    def mark(self, node: etree._Element, *attrs: str) -> None:
        """Record attributes as read. The code (and code system) of every act on the way up is
        recorded too: it is structure that the exporter writes for the value to be where it is."""
        for attr in attrs:
            self.used.append((node, attr))
            if attr == "extension" and node.get("root"):  # an identifier's namespace goes with it
                self.used.append((node, "root"))
        current = node.getparent()
        while current is not None and current is not self.message:
            code = current.find("{urn:hl7-org:v3}code") if local(current) in ACTS else None
            if code is not None and code.get("codeSystem") == MEDDRA:
                # a MedDRA code (D.7.1.r, F.r.2.2) is the block's data, read (or not) as such; the exporter
                # writes the code system whatever the code
                self.used.append((code, "codeSystem"))
            elif code is not None and code is not node and code.get("nullFlavor") and not code.get("code"):
                self.used.append((code, "nullFlavor"))
            elif code is not None and code is not node and code.get("code") and code.get("codeSystem"):
                self.used += [(code, "code"), (code, "codeSystem")]
            current = current.getparent()

    def _nameable(self, node: etree._Element) -> bool:
        """Whether every act around `node` is named the way the exporter names it (a code with its code
        system, or a null flavor): a value inside a block named by a bare code stays as received."""
        current = node.getparent()
        while current is not None and current is not self.message:
            code = current.find("{urn:hl7-org:v3}code") if local(current) in ACTS else None
            if code is not None and code is not node and code.get("codeSystem") != MEDDRA and (
                    bool(code.get("code")) != bool(code.get("codeSystem"))
                    or not (code.get("code") or code.get("nullFlavor"))):
                return False
            current = current.getparent()
        return True

    def checkpoint(self) -> int:
        return len(self.used)

    def rollback(self, point: int) -> None:
        del self.used[point:]

    # -- finding ---------------------------------------------------------------------------------

    def instances(self, group: str, within: etree._Element | None = None) -> list[etree._Element]:
        """Instances of a group, all of them in the message or only those inside `within`."""
        if group == "message":
            return [self.message]
        if group == "batch":
            return [self.message.getparent() if self.message.getparent() is not None else self.message]
        spec = self.groups[group]
        if within is not None:
            return self._unskipped(self._xpath(within, spec["path"]))
        parent = spec.get("parent") or "message"
        parents = self.instances(parent)
        if parent in self.groups and self.groups[parent].get("once"):
            parents = parents[:1]
        found = []
        for node in parents:
            items = self._xpath(node, spec["path"])
            if spec.get("within"):
                first = self._xpath(node, spec["within"])[:1]
                items = [n for n in items if first and any(a is first[0] for a in n.iterancestors())]
            found.extend(items)
        return found

    def one(self, group: str, within: etree._Element | None = None) -> etree._Element | None:
        found = self.instances(group, within)
        return found[0] if found else None

    def _xpath(self, node: etree._Element, path: str) -> list[etree._Element]:
        compiled = _compiled_xpath(path, tuple(self.ns.items()))
        return [n for n in compiled(node) if isinstance(n, etree._Element)]

    def node(self, number: str, instance: etree._Element) -> etree._Element | None:
        hits = self._unskipped(self._xpath(instance, self.elements[number]["node"]))
        return hits[0] if hits else None

    def first_only(self, blocks: list[etree._Element]) -> None:
        """Read only the first of repeated blocks the model holds one of (a second approval, consumable,
        address, author of a primary source): the others go through as received, not mixed into the first."""
        self.skipped.update(blocks[1:])

    def _unskipped(self, nodes: list[etree._Element]) -> list[etree._Element]:
        if not self.skipped:
            return nodes
        return [n for n in nodes if n not in self.skipped and not any(a in self.skipped for a in n.iterancestors())]

    def raw(self, number: str, instance: etree._Element) -> tuple[etree._Element | None, str | None]:
        node = self.node(number, instance)
        if node is None or not self._nameable(node):
            return None, None
        where = self.elements[number].get("value", "text()")
        if where == "text()":
            return node, node.text.strip() if node.text and node.text.strip() else None
        attr = where.lstrip("@")
        if attr.startswith("xsi:"):
            attr = f"{{{XSI}}}{attr[4:]}"
        return node, node.get(attr)

    def _attr_key(self, number: str) -> str:
        where = self.elements[number].get("value", "text()")
        return "#text" if where == "text()" else where.lstrip("@")

    def get(self, number: str, instance: etree._Element | None,
            convert: Callable[[str], Any] | None = None) -> Any:
        """The value of an element (converted), or an Absent for a null flavor; None if not there or
        not convertible (then nothing is marked as read and the value is passed through)."""
        if instance is None:
            return None
        node, value = self.raw(number, instance)
        if node is None:
            return None
        if value is None:
            flavor = node.get("nullFlavor")
            if flavor in NULL_TO_ABSENT:
                self.mark(node, "nullFlavor")
                return m.Absent(absent=NULL_TO_ABSENT[flavor])  # type: ignore[arg-type]
            return None
        result = convert(value) if convert else value
        if result is None:
            return None
        self.mark(node, self._attr_key(number))
        return result

    def value(self, number: str, instance: etree._Element | None,
              convert: Callable[[str], Any] | None = None) -> Any:
        """Like get, but a null flavor gives None (and is listed as not mapped). A code is read with
        its code system (the exporter writes one): a bare code is left as received."""
        if instance is None:
            return None
        node, value = self.raw(number, instance)
        if node is None or value is None:
            return None
        coded = self._attr_key(number) == "code"
        if coded and not node.get("codeSystem"):
            return None
        result = convert(value) if convert else value
        if result is None:
            return None
        self.mark(node, self._attr_key(number), *(("codeSystem",) if coded else ()))
        return result

    def code(self, number: str, instance: etree._Element | None, table: str) -> str | None:
        """A code of one of our code lists; not read when the element names another code system."""
        system = _code_systems().get(table)
        if system and instance is not None:
            node = self.node(number, instance)
            if node is not None and self._attr_key(number) == "code" and node.get("codeSystem") != system:
                return None
        found = self.value(number, instance, lambda v: _codes()[table].get(v))
        if found is not None and system:
            node = self.node(number, instance)
            if node is not None and self._attr_key(number) == "code":
                self.mark(node, "codeSystem")
        return found

    def date(self, number: str, instance: etree._Element | None) -> Any:
        return self.get(number, instance, ts_to_partial)

    def boolean(self, number: str, instance: etree._Element | None) -> bool | None:
        return self.value(number, instance, lambda v: {"true": True, "false": False}.get(v))

    def meddra(self, code_el: str, version_el: str, instance: etree._Element | None) -> m.MedDRA | None:
        if instance is None:
            return None
        node, code = self.raw(code_el, instance)
        vnode, version = self.raw(version_el, instance)
        if node is None or not code or not version or node.get("codeSystem") != MEDDRA:
            return None
        self.mark(node, "code", "codeSystem")
        if vnode is not None:
            self.mark(vnode, "codeSystemVersion")
        return m.MedDRA(code=code, version=version)

    def quantity(self, value_el: str, unit_el: str, instance: etree._Element | None) -> m.Quantity | None:
        if instance is None:
            return None
        node, value = self.raw(value_el, instance)
        unode, unit = self.raw(unit_el, instance)
        number = _number(value)
        if node is None or number is None or not unit:
            return None
        self.mark(node, "value")
        if unode is not None:
            self.mark(unode, "unit")
        return m.Quantity(value=number, unit=unit)

    def build(self, cls: type[BaseModel], data: dict[str, Any], point: int,
              inst: etree._Element | None = None) -> Any:
        """Validate a block; on failure roll back what it read so that it is passed through whole. So too
        for a block `inst` whose own code (what names it in a message) was not read: the exporter could
        not write the block where it was."""
        try:
            item = cls.model_validate({k: v for k, v in data.items() if v is not None and v != []})
        except ValidationError:
            self.rollback(point)
            return None
        if inst is not None and not self._named(inst, point):
            self.rollback(point)
            return None
        return item

    def _named(self, inst: etree._Element, point: int) -> bool:
        """Whether the code that names a block (its own, or its single act's when it is a wrapper) was read
        since `point`: the exporter writes the block under that name."""
        acts = [inst] if local(inst) in ACTS else [c for c in inst if isinstance(c.tag, str) and local(c) in ACTS]
        if len(acts) != 1:
            return True
        code = acts[0].find("{urn:hl7-org:v3}code")
        if code is None:
            return True
        read = {attr for node, attr in self.used[point:] if node is code}
        return all(code.get(a) is None or a in read for a in ("code", "codeSystem", "nullFlavor"))


# ------------------------------------------------------------------------------------------------------
# The message -> case mapping, section by section. Each block reads what the model can hold.
# ------------------------------------------------------------------------------------------------------


def _report(r: Reader, report: etree._Element) -> dict[str, Any]:
    msg = r.message
    nullif = r.code("C.1.11.1", report, "nullification")
    reason = r.value("C.1.11.2", report)
    data: dict[str, Any] = {
        "type": r.code("C.1.3", report, "report_type"),
        "created": r.value("C.1.2", msg, ts_to_partial),
        "first_received": r.value("C.1.4", report, ts_to_partial),
        "most_recent": r.value("C.1.5", report, ts_to_partial),
        "worldwide_id": r.value("C.1.8.1", report),
        "first_sender": r.code("C.1.8.2", report, "first_sender"),
        "linked_reports": [v for inst in r.instances("linked_report")
                           if (v := r.value("C.1.10.r", inst)) is not None],
        "other_case_ids": [],
        "additional_documents": [],
        "expedited": r.boolean("C.1.7", report),
        "additional_documents_available": r.boolean("C.1.6.1", report),
        "previous_case_ids": r.get("C.1.9.1", report, lambda v: {"true": True, "false": False}.get(v)),
        "fda_report_type": r.code("FDA.C.1.7.1", report, "fda_report_type")
        if "FDA.C.1.7.1" in r.elements else None,
        "combination_product": r.boolean("FDA.C.1.12", report) if "FDA.C.1.12" in r.elements else None,
    }
    if nullif and reason:
        data["nullification"] = {"kind": nullif, "reason": reason}
    _placeholders(r, report, data)
    for inst in r.instances("other_case_id"):
        point = r.checkpoint()
        item = r.build(m.OtherCaseId, {"source": r.value("C.1.9.1.r.1", inst),
                                      "id": r.value("C.1.9.1.r.2", inst)}, point)
        if item:
            data["other_case_ids"].append(item)
    for inst in r.instances("document"):
        point = r.checkpoint()
        item = r.build(m.Document, {"description": r.value("C.1.6.1.r.1", inst)}, point, inst)
        if item:
            data["additional_documents"].append(item)
    return data


def _placeholders(r: Reader, report: etree._Element, data: dict[str, Any]) -> None:
    """Fill what the case model requires but the message does not give, noting each such element in
    `r.not_received`: a report date as not known (the case is then not ready to submit), 'not available to
    sender' for the type of report."""
    for number, key in (("C.1.4", "first_received"), ("C.1.5", "most_recent")):
        if data[key] is None:  # recorded as not known, never copied from another date
            r.not_received.append(number)
            data[key] = m.Absent(absent="unknown")
    if data["type"] is None:
        r.not_received.append("C.1.3")
        data["type"] = "not-available"
    for number, key in (("C.1.2", "created"), ("C.1.8.1", "worldwide_id"), ("C.1.8.2", "first_sender")):
        if data[key] is None:
            r.not_received.append(number)


def _person(r: Reader, inst: etree._Element, prefix: str) -> dict[str, Any]:
    return {"title": r.value(f"{prefix}.1", inst) if prefix == "C.2.r.1" else r.value("C.3.3.2", inst),
            "given": r.value(f"{prefix}.2", inst) if prefix == "C.2.r.1" else r.value("C.3.3.3", inst),
            "middle": r.value(f"{prefix}.3", inst) if prefix == "C.2.r.1" else r.value("C.3.3.4", inst),
            "family": r.value(f"{prefix}.4", inst) if prefix == "C.2.r.1" else r.value("C.3.3.5", inst)}


def _primary_source(r: Reader, inst: etree._Element) -> Any:
    # the model holds one author with one address per primary source
    r.first_only(inst.xpath("h:relatedInvestigation/h:subjectOf2", namespaces=r.ns))
    r.first_only(inst.xpath("h:relatedInvestigation/h:subjectOf2/h:controlActEvent/h:author/h:assignedEntity/h:addr",
                            namespaces=r.ns))
    point = r.checkpoint()
    qualification = r.code("C.2.r.4", inst, "qualification")
    if qualification is None:
        q = r.get("C.2.r.4", inst, lambda v: None)
        qualification = q if isinstance(q, m.Absent) else None
    name: Any = {k: v for k, v in _person(r, inst, "C.2.r.1").items() if v is not None}
    name_nodes = inst.xpath("h:relatedInvestigation/h:subjectOf2/h:controlActEvent/h:author/h:assignedEntity/"
                            "h:assignedPerson/h:name[@nullFlavor]", namespaces=r.ns)
    if not name and name_nodes and name_nodes[0].get("nullFlavor") in NULL_TO_ABSENT:  # the whole name withheld
        r.mark(name_nodes[0], "nullFlavor")
        name = m.Absent(absent=NULL_TO_ABSENT[name_nodes[0].get("nullFlavor")])  # type: ignore[arg-type]
    data = {
        "name": name,
        "organization": r.value("C.2.r.2.1", inst),
        "department": r.value("C.2.r.2.2", inst),
        "address": {k: v for k, v in {
            "street": r.value("C.2.r.2.3", inst), "city": r.value("C.2.r.2.4", inst),
            "state": r.value("C.2.r.2.5", inst), "postcode": r.value("C.2.r.2.6", inst),
            "country": r.value("C.2.r.3", inst)}.items() if v is not None},
        "phone": r.value("C.2.r.2.7", inst, lambda v: v[4:] if v.startswith("tel:") else None),
        "email": r.value("FDA.C.2.r.2.8", inst, lambda v: v[7:] if v.startswith("mailto:") else None),
        "qualification": qualification,
        "primary": r.value("C.2.r.5", inst, lambda v: v == "1" or None),
    }
    return r.build(m.PrimarySource, data, point, inst)


def _sender(r: Reader, inst: etree._Element | None) -> Any:
    if inst is None:
        return None
    r.first_only(inst.xpath("h:addr", namespaces=r.ns))  # the model holds one address
    point = r.checkpoint()
    data = {
        "id": r.value("N.2.r.2", r.message),
        "type": r.code("C.3.1", inst, "sender_type"),
        "organization": r.value("C.3.2", inst),
        "department": r.value("C.3.3.1", inst),
        "person": {k: v for k, v in _person(r, inst, "C.3.3").items() if v is not None},
        "address": {k: v for k, v in {
            "street": r.value("C.3.4.1", inst), "city": r.value("C.3.4.2", inst),
            "state": r.value("C.3.4.3", inst), "postcode": r.value("C.3.4.4", inst),
            "country": r.value("C.3.4.5", inst)}.items() if v is not None},
        "phone": r.value("C.3.4.6", inst, lambda v: v[4:] if v.startswith("tel:") else None),
        "fax": r.value("C.3.4.7", inst, lambda v: v[4:] if v.startswith("fax:") else None),
        "email": r.value("C.3.4.8", inst, lambda v: v[7:] if v.startswith("mailto:") else None),
    }
    report = r.one("report")
    if report is not None:
        here = _position_in(report, inst)
        r.origin.sender_rank = sum(_position_in(report, other) < here for other in r.instances("other_case_id"))
    elements = [c for c in inst if isinstance(c.tag, str)]
    for kind, number in (("phone", "C.3.4.6"), ("fax", "C.3.4.7"), ("email", "C.3.4.8")):
        node = r.raw(number, inst)[0]
        if data[kind] is not None and node is not None and node in elements:
            r.origin.telecom_positions[kind] = elements.index(node)
    return r.build(m.Sender, data, point)


def _patient(r: Reader, pat: etree._Element | None) -> Any:
    if pat is None:
        return None
    point = r.checkpoint()
    initials = r.get("D.1", pat)
    data: dict[str, Any] = {
        "initials": initials,
        "sex": r.code("D.5", pat, "sex") or (s if isinstance(s := r.get("D.5", pat, lambda v: None), m.Absent)
                                             else None),
        "birth_date": r.date("D.2.1", pat),
        "age_at_onset": r.quantity("D.2.2a", "D.2.2b", pat),
        "gestation_at_onset": r.quantity("D.2.2.1a", "D.2.2.1b", pat),
        "age_group": r.code("D.2.3", pat, "age_group"),
        "weight_kg": r.value("D.3", pat, lambda v: _number(v) if (r.raw("D.3", pat)[0] is not None and
                                                                  r.raw("D.3", pat)[0].get("unit") == "kg")
                             else None),
        "height_cm": r.value("D.4", pat, lambda v: _number(v) if (r.raw("D.4", pat)[0] is not None and
                                                                  r.raw("D.4", pat)[0].get("unit") == "cm")
                             else None),
        "last_menstrual_period": r.value("D.6", pat, ts_to_partial),
        "race": [v for inst in r.instances("race")
                 if (v := _ncit(r, "FDA.D.11.r.1", inst)) is not None],
        "ethnicity": _ncit(r, "FDA.D.12", pat),
        "medical_history": [],
        "past_drugs": [],
    }
    for unit_el in ("D.3", "D.4"):
        node = r.raw(unit_el, pat)[0]
        if node is not None and data["weight_kg" if unit_el == "D.3" else "height_cm"] is not None:
            r.mark(node, "unit")
    organizer = r.one("history_organizer")
    if organizer is not None:
        data["history_text"] = r.value("D.7.2", organizer)
        data["concomitant_therapies"] = r.boolean("D.7.3", organizer)
    data["medical_history"] = _history(r, "history", "D.7.1.r")
    data["past_drugs"] = _past_drugs(r, "past_drug", "D.8.r")
    data["death"] = _death(r, pat)
    data["parent"] = _parent(r, r.one("parent"))
    if initials is None:
        r.rollback(point)
        return None
    return r.build(m.Patient, data, point)


def _history(r: Reader, group: str, prefix: str) -> list[m.HistoryItem]:
    """D.7.1.r (patient) or D.10.7.1.r (parent): medical history items, the same shape under both."""
    out = []
    for inst in r.instances(group):
        p = r.checkpoint()
        family = f"{prefix}.6"
        item = r.build(m.HistoryItem, {
            "meddra": r.meddra(f"{prefix}.1b", f"{prefix}.1a", inst),
            "start": r.date(f"{prefix}.2", inst), "end": r.date(f"{prefix}.4", inst),
            "continuing": r.boolean(f"{prefix}.3", inst),
            "comments": r.value(f"{prefix}.5", inst) if _linked_as(r, f"{prefix}.5", inst, "COMP") else None,
            "family_history": r.boolean(family, inst) if family in r.elements else None,
        }, p, inst)
        if item:
            out.append(item)
    return out


def _past_drugs(r: Reader, group: str, prefix: str) -> list[m.PastDrug]:
    """D.8.r (patient) or D.10.8.r (parent): past drug history, the same shape under both."""
    out = []
    for inst in r.instances(group):
        p = r.checkpoint()
        item = r.build(m.PastDrug, {
            "name": r.value(f"{prefix}.1", inst), "start": r.date(f"{prefix}.4", inst),
            "end": r.date(f"{prefix}.5", inst),
            "identifiers": _product_ids(r, f"{prefix}.2b", f"{prefix}.2a", inst),
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
        "autopsy": r.get("D.9.3", autopsy, lambda v: {"true": True, "false": False}.get(v)),
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
        found = r.value(number, role, _number)
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
        "last_menstrual_period": r.value("D.10.3", role, ts_to_partial),
        "weight_kg": measure("D.10.4", "kg"),
        "height_cm": measure("D.10.5", "cm"),
        "sex": r.code("D.10.6", role, "sex") or (s if isinstance(s := r.get("D.10.6", role, lambda v: None),
                                                                m.Absent) else None),
    }
    return r.build(m.Parent, data, point, role)


def _study(r: Reader) -> Any:
    """C.5: study name, sponsor study number, study type, registrations."""
    inst = r.one("study")
    if inst is None:
        return None
    point = r.checkpoint()
    registrations = []
    for reg in r.instances("study_registration"):
        p = r.checkpoint()
        item = r.build(m.StudyRegistration, {"number": r.value("C.5.1.r.1", reg),
                                             "country": r.value("C.5.1.r.2", reg)}, p)
        if item:
            registrations.append(item)
    data = {"name": r.value("C.5.2", inst), "sponsor_number": r.value("C.5.3", inst),
            "type": r.code("C.5.4", inst, "study_type"), "registrations": registrations,
            "fda_ind": r.value("FDA.C.5.5a", inst), "fda_pre_anda": r.value("FDA.C.5.5b", inst),
            "fda_cross_reported_inds": [v for reg in r.instances("fda_cross_reported_ind")
                                        if (v := r.value("FDA.C.5.6.r", reg)) is not None]}
    return r.build(m.Study, data, point, inst)


_SERIOUS = {"death": "E.i.3.2a", "life_threatening": "E.i.3.2b", "hospitalisation": "E.i.3.2c",
            "disabling": "E.i.3.2d", "congenital_anomaly": "E.i.3.2e", "other_medically_important": "E.i.3.2f"}


def _reactions(r: Reader) -> tuple[list[m.Reaction], dict[str, str]]:
    """Reactions, and the map from each reaction's E2B id (UUID) to its case-file key."""
    out: list[m.Reaction] = []
    ids: dict[str, str] = {}
    for n, inst in enumerate(r.instances("reaction"), start=1):
        point = r.checkpoint()
        key = f"reaction-{n}"
        seriousness: dict[str, Any] = {}
        for name, number in _SERIOUS.items():
            # true, or a null flavor (not known); E2B cannot say "no", so an absent element is no claim
            flag = r.get(number, inst, lambda v: v == "true" or None)
            if flag is not None:
                seriousness[name] = flag
        if "FDA.E.i.3.2h" in r.elements:
            flag = r.get("FDA.E.i.3.2h", inst, lambda v: {"true": True, "false": False}.get(v))
            if flag is not None:
                seriousness["required_intervention"] = flag
        mark = r.checkpoint()
        received = r.value("E.i.3.1", inst, lambda v: v if v in ("1", "2", "3", "4") else None)
        highlighted = {"1": "yes", "3": "yes", "2": "no", "4": "no"}.get(received or "")
        if received and (received in ("3", "4")) != any(v is True for k, v in seriousness.items()
                                                        if k != "required_intervention"):
            # The code also says serious or not, and the exporter derives that from E.i.3.2: a code at
            # odds with the criteria is kept as received (passed through), not in the model.
            r.rollback(mark)
            highlighted = None
        # The exporter writes the native-language text (E.i.1.1a) with its language only; without one it
        # stays as received, and the text for translation (E.i.1.2) is what was reported.
        language = r.value("E.i.1.1b", inst)
        verbatim = r.value("E.i.1.1a", inst) if language else None
        translation = r.value("E.i.1.2", inst)
        if verbatim is None:  # no native-language text: the text for translation is what was reported
            verbatim, translation = translation, None
        data = {
            "id": key,
            "verbatim": verbatim,
            "language": language,
            "translation": translation,
            "meddra": r.meddra("E.i.2.1b", "E.i.2.1a", inst),
            "highlighted": highlighted,
            "seriousness": seriousness,
            **_reaction_time(r, inst),
            "outcome": r.code("E.i.7", inst, "outcome"),
            "medically_confirmed": r.boolean("E.i.8", inst),
            "country": r.value("E.i.9", inst),
        }
        reaction = r.build(m.Reaction, data, point, inst)
        if reaction is None:
            continue
        id_el = inst.find("{urn:hl7-org:v3}id")
        if id_el is not None and id_el.get("root") and id_el.get("root") not in ids:
            ids[id_el.get("root")] = key
            r.origin.ids[key] = id_el.get("root")
            r.mark(id_el, "root")
        out.append(reaction)
    return out, ids


def _time_type(inst: etree._Element) -> str | None:
    time = inst.find("{urn:hl7-org:v3}effectiveTime")
    return time.get(f"{{{XSI}}}type") if time is not None else None


def _time_shape(time: etree._Element) -> str:
    """The structure of an effectiveTime as a string: `IVL_TS(low,high)`, an SXPR_TS as its comps in
    brackets (`SXPR_TS[PIVL_TS(period)|IVL_TS:A(low,width)]`), an operator after a colon."""
    kind = time.get(f"{{{XSI}}}type") or ""
    children = [c for c in time if isinstance(c.tag, str)]
    operator = f":{time.get('operator')}" if time.get("operator") else ""
    if kind == "SXPR_TS":
        return f"{kind}{operator}[" + "|".join(_time_shape(c) if local(c) == "comp" else local(c)
                                                 for c in children) + "]"
    return f"{kind}{operator}(" + ",".join(local(c) for c in children) + ")"


# The effectiveTime shapes the exporter writes (reporter/e2b/sections_d.py, sections_g.py). Values in any
# other shape (a duration with an end, a third interval, a second period...) are not read: the model could
# hold them, but the exporter would write them differently; they are passed through as received.
_BOUNDS = r"(low|high|width|low,high|low,width)"
_DOSE_SHAPES = re.compile(rf"^(IVL_TS\({_BOUNDS}?\)|SXPR_TS\[PIVL_TS\(period\)(\|IVL_TS:A\({_BOUNDS}?\))?\])$")
_REACTION_SHAPES = re.compile(r"^(IVL_TS\((low|high|low,high)?\)|SXPR_TS\[(IVL_TS\((low|high|low,high)?\)\|)?"
                              r"IVL_TS:A\(width\)\])$")


def _time_written(inst: etree._Element, shapes: re.Pattern[str]) -> bool:
    time = inst.find("{urn:hl7-org:v3}effectiveTime")
    return time is not None and bool(shapes.match(_time_shape(time)))


def _reaction_time(r: Reader, inst: etree._Element) -> dict[str, Any]:
    """E.i.4-6 as the exporter writes them: start and end in an IVL_TS, or with the duration in an SXPR_TS.
    Another shape (or a duration that cannot be read) leaves the times as received."""
    r.first_only(inst.xpath("h:effectiveTime", namespaces=r.ns))  # the model holds one time per reaction
    shape = _time_type(inst)
    if not _time_written(inst, _REACTION_SHAPES):
        return {}
    duration = r.quantity("E.i.6a", "E.i.6b", inst) if shape == "SXPR_TS" else None
    if shape == "SXPR_TS" and duration is None:
        return {}
    return {"onset": r.date("E.i.4", inst), "end": r.date("E.i.5", inst), "duration": duration}


def _dose_time(r: Reader, dose: etree._Element) -> dict[str, Any]:
    """G.k.4.r.2-6 as the exporter writes them: an interval (IVL_TS), or a period with an interval
    (SXPR_TS). A period that cannot be read, or another shape, leaves the whole dosage time as received."""
    r.first_only(dose.xpath("h:effectiveTime", namespaces=r.ns))  # the model holds one time per dosage
    shape = _time_type(dose)
    if not _time_written(dose, _DOSE_SHAPES):
        return {}
    every = r.quantity("G.k.4.r.2", "G.k.4.r.3", dose) if shape == "SXPR_TS" else None
    if shape == "SXPR_TS" and every is None:
        return {}
    return {"every": every, "start": r.date("G.k.4.r.4", dose), "stop": r.date("G.k.4.r.5", dose),
            "duration": r.quantity("G.k.4.r.6a", "G.k.4.r.6b", dose)}


def _linked_as(r: Reader, number: str, inst: etree._Element, type_code: str) -> bool:
    """Whether the relationship holding an element's observation has the typeCode the exporter writes
    (otherwise the element stays as received: a relationship's type is a fact of the message too)."""
    node = r.node(number, inst)
    observation = node.getparent() if node is not None else None
    wrapper = observation.getparent() if observation is not None else None
    return wrapper is None or wrapper.get("typeCode") in (None, type_code)


def _tests(r: Reader) -> list[m.Test]:
    out = []
    for inst in r.instances("test"):
        point = r.checkpoint()
        data = {
            "name": r.value("F.r.2.1", inst) or (r.raw("F.r.2.2b", inst)[1] and None),
            "meddra": r.meddra("F.r.2.2b", "F.r.2.2a", inst),
            "date": r.date("F.r.1", inst),
            **_test_value(r, inst),
            "result": r.code("F.r.3.1", inst, "test_result"),
            "result_text": r.value("F.r.3.4", inst),
            "low": _range(r, "F.r.4", inst),
            "high": _range(r, "F.r.5", inst),
            "comments": r.value("F.r.6", inst) if _linked_as(r, "F.r.6", inst, "REFR") else None,
            "more_info": r.boolean("F.r.7", inst) if _linked_as(r, "F.r.7", inst, "REFR") else None,
        }
        item = r.build(m.Test, data, point, inst)
        if item:
            for bound, number in (("low", "F.r.4"), ("high", "F.r.5")):
                node = r.node(number, inst)
                if data[bound] is not None and node is not None:
                    r.origin.range_positions[(len(out), bound)] = _position_in(inst, node)
            out.append(item)
    return out


def _range(r: Reader, number: str, inst: etree._Element) -> float | None:
    """F.r.4 / F.r.5: the model holds the range in the unit of the result (F.r.3.3), so a bound in
    another unit (or none) is left as received."""
    node = r.node(number, inst)
    unit = r.raw("F.r.3.3", inst)[1]
    if node is None or not unit or node.get("unit") != unit:
        return None
    found = r.value(number, inst, _number)
    if found is not None:
        r.mark(node, "unit")
    return found


_OPEN = {("low", "true"): ">=", ("low", "false"): ">", ("high", "true"): "<=", ("high", "false"): "<"}


def _test_value(r: Reader, inst: etree._Element) -> dict[str, Any]:
    """F.r.3.2/3.3: a centre value, or one bound of an interval open on the other side (NINF / PINF),
    which is the value with a comparator ('<' ... '>=')."""
    value = inst.find("{urn:hl7-org:v3}value")
    if value is None or value.get(f"{{{XSI}}}type") != "IVL_PQ":
        return {}
    parts = {local(c): c for c in value if isinstance(c.tag, str)}
    if set(parts) == {"center"}:
        node, comparator = parts["center"], None
    elif set(parts) == {"low", "high"} and parts["high"].get("nullFlavor") == "PINF":
        node, open_end = parts["low"], parts["high"]
        comparator = _OPEN.get(("low", node.get("inclusive") or ""))
    elif set(parts) == {"low", "high"} and parts["low"].get("nullFlavor") == "NINF":
        node, open_end = parts["high"], parts["low"]
        comparator = _OPEN.get(("high", node.get("inclusive") or ""))
    else:
        return {}
    number = _number(node.get("value"))
    if number is None or not node.get("unit") or (local(node) != "center" and comparator is None):
        return {}
    r.mark(node, "value", "unit", *(("inclusive",) if comparator else ()))
    if comparator:
        r.mark(open_end, "nullFlavor")
    return {"value": number, "unit": node.get("unit"), "comparator": comparator}


def _coded(r: Reader, text_el: str, code_el: str, inst: etree._Element) -> m.Coded | None:
    text = r.value(text_el, inst)
    node, code = r.raw(code_el, inst)
    data: dict[str, Any] = {"text": text}
    if node is not None and code:
        data.update(code=code, system=node.get("codeSystem"), version=node.get("codeSystemVersion"))
        r.mark(node, "code", *(a for a in ("codeSystem", "codeSystemVersion") if node.get(a)))
    if not any(data.values()):
        return None
    return m.Coded(**data)


def _ncit(r: Reader, number: str, inst: etree._Element) -> m.Coded | m.Absent | None:
    """An FDA regional code (NCIt) with its display text, or its null flavor."""
    node = r.node(number, inst)
    if node is None:
        return None
    if node.get("nullFlavor") and not node.get("code"):
        return r.get(number, inst)
    code = r.value(number, inst)
    if code is None:
        return None
    if node.get("displayName"):
        r.mark(node, "displayName")
    return m.Coded(code=code, text=node.get("displayName"))


def _termid(r: Reader, code_el: str, version_el: str, inst: etree._Element) -> m.Coded | None:
    """A code with its code system OID and version (substance TermID, product identifier)."""
    node = r.node(code_el, inst)
    if node is None or not node.get("code") or not node.get("codeSystem"):
        return None
    code = r.value(code_el, inst)
    version = r.value(version_el, inst)
    return m.Coded(code=code, system=node.get("codeSystem"), version=version)


def _product_ids(r: Reader, code_el: str, version_el: str, inst: etree._Element) -> list[m.ProductId]:
    found = _termid(r, code_el, version_el, inst)
    if found is None or not found.code:
        return []
    return [m.ProductId(kind="product-code", code=found.code, system=found.system, version=found.version)]


def _position(inst: etree._Element) -> int:
    """The position of a block's wrapper (component) among its parent's elements."""
    wrapper = inst.getparent()
    parent = wrapper.getparent() if wrapper is not None else None
    if parent is None:
        return 0
    return [c for c in parent if isinstance(c.tag, str)].index(wrapper)


def _drugs(r: Reader, reaction_ids: dict[str, str]) -> list[m.Drug]:
    """Drugs with their role (G.k.1) and causality (G.k.9.i.2.r), linked by the drug's id. Where two drugs
    share an id, references name the first (the later one is passed through whole); a role or
    assessment naming no drug is passed through too."""
    out = []
    roles: dict[str, str] = {}
    role_position: dict[str, int] = {}
    marks: dict[str, list[tuple[etree._Element, str]]] = {}   # what each drug id's blocks read
    for inst in r.instances("role"):
        ref = inst.find("{urn:hl7-org:v3}subject2/{urn:hl7-org:v3}productUseReference/{urn:hl7-org:v3}id")
        if ref is None or (ref.get("root") or "") in roles:
            continue
        point = r.checkpoint()
        role = r.code("G.k.1", inst, "drug_role")
        if role:
            roles[ref.get("root") or ""] = role
            role_position[ref.get("root") or ""] = _position(inst)
            r.mark(ref, "root")
            marks.setdefault(ref.get("root") or "", []).extend(r.used[point:])
        else:
            r.rollback(point)
    drug_ids = [i.get("root") for d in r.instances("drug") if (i := d.find("{urn:hl7-org:v3}id")) is not None]
    causalities: dict[tuple[str, str], list[m.Causality]] = {}
    positions: dict[tuple[str, str], list[int]] = {}
    for inst in r.instances("causality"):
        point = r.checkpoint()
        drug_ref = inst.find("{urn:hl7-org:v3}subject2/{urn:hl7-org:v3}productUseReference/{urn:hl7-org:v3}id")
        reac_ref = inst.find("{urn:hl7-org:v3}subject1/{urn:hl7-org:v3}adverseEffectReference/{urn:hl7-org:v3}id")
        item = r.build(m.Causality, {"source": r.value("G.k.9.i.2.r.1", inst),
                                     "method": r.value("G.k.9.i.2.r.2", inst),
                                     "result": r.value("G.k.9.i.2.r.3", inst)}, point, inst)
        if (item and drug_ref is not None and reac_ref is not None and reac_ref.get("root") in reaction_ids
                and drug_ref.get("root") in roles and drug_ref.get("root") in drug_ids):
            r.mark(drug_ref, "root")
            r.mark(reac_ref, "root")
            key = (drug_ref.get("root") or "", reac_ref.get("root") or "")
            causalities.setdefault(key, []).append(item)
            positions.setdefault(key, []).append(_position(inst))
            marks.setdefault(key[0], []).extend(r.used[point:])
        elif item:
            r.rollback(point)
    claimed: set[str] = set()
    for n, inst in enumerate(r.instances("drug"), start=1):
        point = r.checkpoint()
        id_el = inst.find("{urn:hl7-org:v3}id")
        uuid = id_el.get("root") if id_el is not None else None
        if uuid not in roles or uuid in claimed:
            continue
        # the model holds one product (G.k.2) with one authorisation (G.k.3) per drug
        r.first_only(inst.xpath("h:consumable", namespaces=r.ns))
        r.first_only(inst.xpath("h:consumable/h:instanceOfKind/h:kindOfProduct/h:asManufacturedProduct/"
                                "h:subjectOf[h:approval]", namespaces=r.ns))
        substances = []
        for sub in r.instances("substance", inst):
            p = r.checkpoint()
            s = r.build(m.Substance, {"name": r.value("G.k.2.3.r.1", sub),
                                      "termid": _termid(r, "G.k.2.3.r.2b", "G.k.2.3.r.2a", sub),
                                      "strength": r.quantity("G.k.2.3.r.3a", "G.k.2.3.r.3b", sub)}, p)
            if s:
                substances.append(s)
        dosages = []
        for dose in r.instances("dosage", inst):
            p = r.checkpoint()
            d = r.build(m.Dosage, {
                "dose": r.quantity("G.k.4.r.1a", "G.k.4.r.1b", dose),
                **_dose_time(r, dose),
                "batch": r.value("G.k.4.r.7", dose), "text": r.value("G.k.4.r.8", dose),
                "form": _coded(r, "G.k.4.r.9.1", "G.k.4.r.9.2b", dose),
                "route": _coded(r, "G.k.4.r.10.1", "G.k.4.r.10.2b", dose),
            }, p, dose)
            if d:
                dosages.append(d)
        indications = []
        for ind in r.instances("indication", inst):
            p = r.checkpoint()
            # the exporter writes the indication's value with the MedDRA code system, text only or not
            value_node = ind.find("{urn:hl7-org:v3}value")
            meddra_value = value_node is not None and value_node.get("codeSystem") == MEDDRA
            i = r.build(m.Indication, {"text": r.value("G.k.7.r.1", ind) if meddra_value else None,
                                       "meddra": r.meddra("G.k.7.r.2b", "G.k.7.r.2a", ind)}, p, ind)
            if i:
                indications.append(i)
        per_reaction: dict[str, dict[str, Any]] = {}
        for (drug_uuid, reac_uuid), items in causalities.items():
            if drug_uuid == uuid:
                per_reaction[reac_uuid] = {"causality": items}
                r.origin.causality_positions[(f"drug-{n}", reaction_ids[reac_uuid])] = \
                    positions[(drug_uuid, reac_uuid)]
        for reac_uuid, found in _drug_reaction_facts(r, inst, reaction_ids).items():
            position = found.pop("position")
            per_reaction.setdefault(reac_uuid, {}).update(found)
            if found:
                r.origin.link_positions[(f"drug-{n}", reaction_ids[reac_uuid])] = position
        links = [m.DrugReaction(reaction=reaction_ids[k], **v) for k, v in per_reaction.items()]
        data = {
            "id": f"drug-{n}",
            "role": roles[uuid],
            "product": r.value("G.k.2.2", inst),
            "identifiers": _product_ids(r, "G.k.2.1.1b", "G.k.2.1.1a", inst),
            "country_obtained": r.value("G.k.2.4", inst),
            "substances": substances,
            "blinded": r.boolean("G.k.2.5", inst),
            "dosages": dosages,
            "cumulative_dose": r.quantity("G.k.5a", "G.k.5b", inst),
            "gestation_at_exposure": r.quantity("G.k.6a", "G.k.6b", inst),
            "indications": indications,
            "action_taken": r.code("G.k.8", inst, "action_taken"),
            "reactions": links,
            **_additional_info(r, inst),
            "additional_text": r.value("G.k.11", inst),
        }
        auth = {"number": r.value("G.k.3.1", inst), "country": r.value("G.k.3.2", inst),
                "holder": r.value("G.k.3.3", inst)}
        if any(auth.values()):
            data["authorisation"] = auth
        drug = r.build(m.Drug, data, point, inst)
        if drug is None:
            continue
        if id_el is not None:
            r.mark(id_el, "root")
        claimed.add(uuid or "")
        r.origin.ids[f"drug-{n}"] = uuid or ""
        r.origin.role_positions[f"drug-{n}"] = role_position[uuid or ""]
        out.append(drug)
    unread = {id(pair) for uuid, pairs in marks.items() if uuid not in claimed for pair in pairs}
    if unread:  # roles and assessments of a drug the model could not hold go through with it
        r.used = [pair for pair in r.used if id(pair) not in unread]
    return out


def _additional_info(r: Reader, drug: etree._Element) -> dict[str, Any]:
    """G.k.10.r coded additional information, or the null flavor sent instead of codes (FDA.G.k.10a NA)."""
    codes, absent = [], None
    for inst in r.instances("additional_info", drug):
        code = r.code("G.k.10.r", inst, "additional_info")
        if code is not None:
            codes.append(code)
        elif absent is None and not codes:
            found = r.get("G.k.10.r", inst, lambda v: None)
            absent = found if isinstance(found, m.Absent) else None
    return {"additional_info": codes, "additional_info_absent": None if codes else absent}


def _drug_reaction_facts(r: Reader, drug: etree._Element, reaction_ids: dict[str, str]
                         ) -> dict[str, dict[str, Any]]:
    """G.k.9.i.3.1/.2 onset intervals and G.k.9.i.4 rechallenge of one drug, per reaction id, each with the
    `position` of its first such block among the drug's elements (the order they were received in)."""
    out: dict[str, dict[str, Any]] = {}

    def place(target: str, node: etree._Element) -> None:
        position = _position_in(drug, node)
        found = out.setdefault(target, {})
        found["position"] = min(found.get("position", position), position)
    for rel in r.instances("drug_reaction", drug):
        ref = rel.find("{urn:hl7-org:v3}actReference/{urn:hl7-org:v3}id")
        target = ref.get("root") if ref is not None else None
        if target not in reaction_ids:
            continue
        for field_, a, b in (("onset_after_first_dose", "G.k.9.i.3.1a", "G.k.9.i.3.1b"),
                             ("onset_after_last_dose", "G.k.9.i.3.2a", "G.k.9.i.3.2b")):
            point = r.checkpoint()
            quantity = r.quantity(a, b, rel)
            if quantity is not None and field_ not in out.get(target, {}):
                out.setdefault(target, {})[field_] = quantity
                place(target, rel)
                r.mark(ref, "root")
            else:
                r.rollback(point)
    for obs in r.instances("rechallenge", drug):
        ref = obs.find("{urn:hl7-org:v3}outboundRelationship1/{urn:hl7-org:v3}actReference/{urn:hl7-org:v3}id")
        target = ref.get("root") if ref is not None else None
        if target not in reaction_ids or "rechallenge" in out.get(target, {}):
            continue
        point = r.checkpoint()
        code = r.code("G.k.9.i.4", obs, "rechallenge")
        if code:
            out.setdefault(target, {})["rechallenge"] = code
            place(target, obs)
            r.mark(ref, "root")
        else:
            r.rollback(point)
    return out


def _narrative(r: Reader, report: etree._Element) -> Any:
    point = r.checkpoint()
    assessment = r.one("assessment")
    summaries = []
    for inst in r.instances("summary"):
        p = r.checkpoint()
        s = r.build(m.Summary, {"text": r.value("H.5.r.1a", inst), "language": r.value("H.5.r.1b", inst)}, p, inst)
        if s:
            summaries.append(s)
    data = {
        "text": r.value("H.1", report),
        "reporter_comments": r.value("H.2", assessment) if assessment is not None else None,
        "sender_comments": r.value("H.4", assessment) if assessment is not None else None,
        "sender_diagnoses": [d for inst in r.instances("sender_diagnosis")
                             if (d := r.meddra("H.3.r.1b", "H.3.r.1a", inst)) is not None],
        "summaries": summaries,
    }
    if assessment is not None:
        for key, number in (("reporter_comments", "H.2"), ("sender_comments", "H.4")):
            node = r.raw(number, assessment)[0]
            if data[key] is not None and node is not None:
                r.origin.comment_positions[key] = _position_in(assessment, node)
    return r.build(m.Narrative, data, point)


def _position_in(ancestor: etree._Element, node: etree._Element) -> int:
    """The position among ancestor's elements of the child of ancestor that holds node."""
    while node.getparent() is not None and node.getparent() is not ancestor:
        node = node.getparent()
    children = [c for c in ancestor if isinstance(c.tag, str)]
    # a node outside ancestor (a moved block in a malformed file) comes after all of its children
    return children.index(node) if node in children else len(children)


def message_to_case(message: etree._Element) -> tuple[m.CaseFile | None, Reader, str | None]:
    """Read one PORR_IN049016UV. Returns the case (None if even C.1 cannot be read), the reader
    (what was read) and, when there is no case, why."""
    r = Reader(message)
    report = r.one("report")
    if report is None:
        return None, r, "no investigationEvent (C.1) in this message"
    case_id = r.value("C.1.1", report)
    if not case_id:  # the message id, else the worldwide id, stands in for it
        r.not_received.append("C.1.1")
        case_id = next((str(v) for v in (*r.message.xpath("h:id/@extension", namespaces=r.ns),
                                          r.raw("C.1.8.1", report)[1]) if v), None)
        if not case_id:
            return None, r, "no sender's safety report unique identifier (C.1.1) nor any other id of the report"
    report_data = _report(r, report)
    reactions, reaction_ids = _reactions(r)
    data: dict[str, Any] = {
        "case_id": case_id,
        "report": {k: v for k, v in report_data.items() if v is not None and v != []},
        "primary_sources": [p for inst in r.instances("primary_source") if (p := _primary_source(r, inst))],
        "sender": _sender(r, r.one("sender")),
        "literature": [],
        "study": _study(r),
        "patient": _patient(r, r.one("patient")),
        "reactions": reactions,
        "tests": _tests(r),
        "drugs": _drugs(r, reaction_ids),
        "narrative": _narrative(r, report),
    }
    for inst in r.instances("literature"):
        p = r.checkpoint()
        lit = r.build(m.Literature, {"citation": r.value("C.4.r.1", inst)}, p, inst)
        if lit:
            data["literature"].append(lit)
    try:
        case = m.CaseFile.model_validate({k: v for k, v in data.items() if v is not None and v != []})
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(x) for x in first["loc"])
        return None, r, f"cannot be read into the case model: {where}: {first['msg']}"
    r.mark(report, *())
    return case, r, None
