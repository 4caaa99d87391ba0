"""Reading E2B element values through the element locations table (mappings/e2b/locations.yaml).

`Reader` finds group instances and element values and records every (node, attribute) read into the case
model, so that the import report can list, by element, what was not read (reporter/e2b/coverage.py). The
helpers here are shared by the section readers (section_c ... section_h).
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
from reporter.e2b.dictionary import regional_arc, regional_elements
from reporter.e2b.diff import ACTS
from reporter.e2b.schemacheck import element_path
from reporter.e2b.xmlsafe import XSI, local
from reporter.paths import mappings_dir

MEDDRA = "2.16.840.1.113883.6.163"
CODE = "{urn:hl7-org:v3}code"
ORIGINAL_TEXT = "{urn:hl7-org:v3}originalText"


NULL_TO_ABSENT = {"MSK": "masked", "ASKU": "asked-unknown", "NASK": "not-asked", "UNK": "unknown",
                  "NI": "no-information", "NA": "not-applicable"}


_UUID = re.compile(r"^[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}$")
# the zone as +hhmm, or +hh (the hours only: HL7's schema allows it, and some senders write it)
_TS_RE = re.compile(r"^(\d{4})(\d{2})?(\d{2})?(?:(\d{2})(\d{2})?(\d{2})?(\.\d+)?)?([+-]\d{2}(?:\d{2})?)?$")


@cache
def locations_table() -> dict[str, Any]:
    return yaml.safe_load((mappings_dir() / "e2b" / "locations.yaml").read_text(encoding="utf-8"))


Finder = Callable[[etree._Element], list[etree._Element]]
_FINDERS: dict[str, Finder] = {}
_XPATHS: dict[str, etree.XPath] = {}


def compiled(path: str) -> etree.XPath:
    """An XPath with the table's namespaces (h:, xsi:), compiled once per path: `node.xpath(string)` compiles
    the string on every call, which costs more than evaluating it. Strings come back as plain str; the
    locations use no EXSLT regular expressions (re:), whose functions lxml would register on every call."""
    found = _XPATHS.get(path)
    if found is None:
        found = _XPATHS[path] = etree.XPath(path, namespaces=locations_table()["namespaces"], smart_strings=False,
                                            regexp=False)  # no EXSLT regexp functions set up on every call
    return found


def finder(path: str) -> Finder:
    """An element location of mappings/e2b/locations.yaml (relative to a node): its elements, by an XPath
    compiled once per path (see compiled)."""
    found = _FINDERS.get(path)
    if found is None:
        xpath = compiled(path)
        found = _FINDERS[path] = lambda node: [n for n in xpath(node) if isinstance(n, etree._Element)]
    return found


@cache
def code_systems() -> dict[str, str | None]:
    """The code system (OID) of each code list of mappings/codes.yaml."""
    data = yaml.safe_load((mappings_dir() / "codes.yaml").read_text(encoding="utf-8"))
    return {name: spec.get("oid") for name, spec in data.items()}


@cache
def code_keys() -> dict[str, dict[str, str]]:
    """E2B code -> case-file key, per code list of mappings/codes.yaml."""
    data = yaml.safe_load((mappings_dir() / "codes.yaml").read_text(encoding="utf-8"))
    return {name: {str(v["e2b"]): k for k, v in spec["codes"].items() if v.get("e2b") is not None}
            for name, spec in data.items()}


def ts_to_partial(value: str | None) -> str | None:
    """HL7 TS -> the model's partial date; None when the model cannot hold it. A time to the hour or the minute
    is held to the second (a FHIR dateTime has seconds: see `zero_filled`); a time without a zone is held as
    the local time it is."""
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
    if (frac and not s) or (s and not mi):
        return None
    text = f"{y}-{mo}-{d}T{h}:{mi or '00'}:{s or '00'}{frac or ''}"
    if not tz:
        return text
    zone = f"{tz[:3]}:{tz[3:] or '00'}"
    return text + zone if _FHIR_ZONE.fullmatch(zone) else None


_FHIR_ZONE = re.compile(r"[+-]((0\d|1[0-3]):[0-5]\d|14:00)")  # the offsets a FHIR dateTime allows


def zero_filled(value: str) -> str | None:
    """'the hour' or 'the minute' when ts_to_partial fills a TS's time out to the second, else None."""
    match = _TS_RE.match(value)
    if not match or match.group(4) is None or match.group(6) is not None:
        return None
    return "the minute" if match.group(5) else "the hour"


def to_number(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        return None


# A telecom sent as a null flavor may still give its scheme ("tel:", "mailto"): it says which element it is.
SCHEME_ONLY = re.compile(r"(tel|fax|mailto):?")


# Value transforms by name (the `transform` column of mappings/e2b/locations.yaml names them; the reader
# records which one it applied to each element, and tests/e2b/test_element_table.py compares the two).
def boolean(value: str) -> bool | None:
    """HL7 BL: true or false."""
    return {"true": True, "false": False}.get(value)


def true_only(value: str) -> bool | None:
    """A BL E2B allows only as true (or a null flavor): E.i.3.2 seriousness criteria."""
    return value == "true" or None


def null_flavor_only(value: str) -> None:
    """The element is read here only for its null flavor (its value is read by another transform)."""
    return None


def tel(value: str) -> str | None:
    return value[4:] if value.startswith("tel:") else None


def fax(value: str) -> str | None:
    return value[4:] if value.startswith("fax:") else None


def mailto(value: str) -> str | None:
    return value[7:] if value.startswith("mailto:") else None


def first_priority(value: str) -> bool | None:
    """C.2.r.5: priority number 1 marks the primary source for regulatory purposes."""
    return value == "1" or None


def term_highlighted(value: str) -> str | None:
    """E.i.3.1 as received (ICH codes 1-4), kept to compare with the seriousness criteria."""
    return value if value in ("1", "2", "3", "4") else None


# (code, the (node, attribute) pairs a value inside its act marks as read, MedDRA's, bare): see _act_codes
ActCode = tuple[etree._Element, tuple[tuple[etree._Element, str], ...], bool, bool]


def _act_code(code: etree._Element) -> ActCode:
    value, system, flavor = code.get("code"), code.get("codeSystem"), code.get("nullFlavor")
    if system == MEDDRA:
        return code, ((code, "codeSystem"),), True, False
    # a code holding its text only (a test named in words, F.r.2.1) is a value, not a block's bare name
    text_only = not (value or system or flavor) and code.find(ORIGINAL_TEXT) is not None
    bare = bool(value) != bool(system) or not (value or flavor or text_only)
    if flavor and not value:
        return code, ((code, "nullFlavor"),), False, bare
    if value and system:
        return code, ((code, "code"), (code, "codeSystem")), False, bare
    return code, (), False, bare


@dataclass
class Origin:
    """The message's own ids of drugs and reactions (by case-file key), so that a re-export links its blocks
    with the same ids. Where blocks sat is not kept: order inside a repeating group is no fact, and an export
    writes ICH's canonical order."""

    ids: dict[str, str] = field(default_factory=dict)


class Reader:
    """Reads E2B element values relative to group instances and records each (node, attribute) read."""

    def __init__(self, message: etree._Element) -> None:
        self.message = message
        table = locations_table()
        self.ns: dict[str, str] = table["namespaces"]
        self.groups: dict[str, dict[str, str]] = table["groups"]
        self.elements: dict[str, dict[str, str]] = table["elements"]
        self.used: list[tuple[etree._Element, str]] = []
        self.origin = Origin()
        # E2B elements the model needs a value for that the message does not give (in a form the model
        # can hold): the case gets a placeholder, and the exporter writes nothing of its own there.
        self.not_received: list[str] = []
        self.skipped: set[etree._Element] = set()  # blocks not to read from (see first_only)
        # (element, text): values read although sent in a way the ICH/regional tables do not say (warnings)
        self.deviations: list[tuple[str, str]] = []
        self.transforms: dict[str, set[str]] = {}  # E2B element -> the value transforms applied to it
        self._codes: dict[etree._Element | None, tuple[ActCode, ...]] = {}  # see _act_codes
        self._hits: dict[tuple[str, etree._Element], list[etree._Element]] = {}  # see _xpath
        self._instances: dict[str, list[etree._Element]] = {}  # group -> all its instances (see instances)
        self._regional: set[etree._Element] | None = None  # see regional_nodes

    def applied(self, number: str, transform: str) -> None:
        """Record that an element's value went through a transform (see the `transform` column)."""
        self.transforms.setdefault(number, set()).add(transform)

    # -- bookkeeping -----------------------------------------------------------------------------

    def mark(self, node: etree._Element, *attrs: str) -> None:
        """Record attributes as read. The code (and code system) of every act on the way up is
        recorded too: it is structure that the exporter writes for the value to be where it is."""
        used = self.used
        for attr in attrs:
            used.append((node, attr))
            if attr == "extension" and node.get("root"):  # an identifier's namespace goes with it
                used.append((node, "root"))
        for code, marks, meddra, _ in self._act_codes(node.getparent()):
            # a MedDRA code (D.7.1.r, F.r.2.2) is the block's data, read (or not) as such; the exporter
            # writes the code system whatever the code
            if meddra or code is not node:
                used += marks

    def _nameable(self, node: etree._Element) -> bool:
        """Whether every act around `node` is named the way the exporter names it (a code with its code
        system, or a null flavor): a value inside a block named by a bare code stays as received."""
        return all(not bare or code is node for code, _, _, bare in self._act_codes(node.getparent()))

    def _act_codes(self, parent: etree._Element | None) -> tuple[ActCode, ...]:
        """The codes of the acts from `parent` up to the message (not included), nearest first, each with
        what reading a value inside its act marks as read, whether it is MedDRA's and whether it is bare
        (a code without its code system or the reverse, or neither code nor null flavor). Found once per
        node: every value read inside a block asks for the same ones."""
        found = self._codes.get(parent)
        if found is None:
            found = ()
            if parent is not None and parent is not self.message:
                found = self._act_codes(parent.getparent())
                code = parent.find(CODE) if local(parent) in ACTS else None
                if code is not None:
                    found = (_act_code(code), *found)
            self._codes[parent] = found
        return found

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
            return list(self._unskipped(self._xpath(within, spec["path"])))
        found = self._instances.get(group)
        if found is None:  # all of them: found once per reader (skipped blocks do not change which)
            parent = spec.get("parent") or "message"
            parents = self.instances(parent)
            if parent in self.groups and self.groups[parent].get("once"):
                parents = parents[:1]
            found = self._instances[group] = []
            for node in parents:
                items = self._xpath(node, spec["path"])
                if spec.get("within"):
                    first = self._xpath(node, spec["within"])[:1]
                    items = [n for n in items if first and any(a is first[0] for a in n.iterancestors())]
                found.extend(items)
        return list(found)

    def one(self, group: str, within: etree._Element | None = None) -> etree._Element | None:
        found = self.instances(group, within)
        return found[0] if found else None

    def _xpath(self, node: etree._Element, path: str) -> list[etree._Element]:
        """The elements at `path` from `node`, found once per reader (the message is not changed while it is
        read; section readers ask for the same element several times)."""
        key = (path, node)
        hits = self._hits.get(key)
        if hits is None:
            hits = self._hits[key] = finder(path)(node)
        return hits

    def node(self, number: str, instance: etree._Element) -> etree._Element | None:
        hits = self._unskipped(self._xpath(instance, self.elements[number]["node"]))
        if hits and not number.startswith(regional_elements()):
            if self._regional is None:
                self._regional = regional_nodes(self.message)
            if self._regional:
                hits = [h for h in hits if h not in self._regional]
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
            convert: Callable[[str], Any] | None = None, transform: str | None = None) -> Any:
        """The value of an element (converted), or an Absent for a null flavor; None if not there or
        not convertible (then nothing is marked as read and the value is passed through)."""
        if instance is None:
            return None
        node, value = self.raw(number, instance)
        if node is None:
            return None
        if value is None or (node.get("nullFlavor") and SCHEME_ONLY.fullmatch(value)):
            flavor = node.get("nullFlavor")
            if flavor in NULL_TO_ABSENT:
                self.mark(node, "nullFlavor")
                self.applied(number, "null_flavor")
                return m.Absent(absent=NULL_TO_ABSENT[flavor])  # type: ignore[arg-type]
            return None
        result = convert(value) if convert else value
        if result is None:
            return None
        coded = self._attr_key(number) == "code" and node.get("codeSystem")
        self.mark(node, self._attr_key(number), *(("codeSystem",) if coded else ()))
        self.applied(number, transform or (convert.__name__ if convert else "text"))
        self._rootless(number, node)
        if convert is ts_to_partial:
            self._to_the_second(number, value)
        return result

    def value(self, number: str, instance: etree._Element | None,
              convert: Callable[[str], Any] | None = None, transform: str | None = None) -> Any:
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
        self.applied(number, transform or (convert.__name__ if convert else "text"))
        self._rootless(number, node)
        if convert is ts_to_partial:
            self._to_the_second(number, value)
        return result

    def _to_the_second(self, number: str, value: str) -> None:
        """A time sent to the hour or the minute: held to the second, and said (once per element), since an
        export writes it with zero seconds (the same moment, at a precision the sender did not give)."""
        precision = zero_filled(value)
        if precision and not any(n == number for n, _ in self.deviations):
            self.deviations.append((number, f"a time to {precision} ({value}) is held to the second, as a FHIR "
                                            "dateTime is: an export writes it with zero seconds"))

    def _rootless(self, number: str, node: etree._Element) -> None:
        """An id read by its place that came without its root (ICH names each id's namespace by an OID): the
        value is kept, and the import says that an export writes it under ICH's root (once per element)."""
        if node.get("root") is None and self._attr_key(number) == "extension" and not any(
                n == number for n, _ in self.deviations):
            self.deviations.append((number, "an id sent without its root OID: read by its place; an export "
                                            "writes it under ICH's root for this element"))

    def code(self, number: str, instance: etree._Element | None, table: str) -> str | None:
        """A code of one of our code lists; not read when the element names another code system."""
        system = code_systems().get(table)
        if system and instance is not None:
            node = self.node(number, instance)
            if node is not None and self._attr_key(number) == "code" and node.get("codeSystem") != system:
                return None
        found = self.value(number, instance, lambda v: code_keys()[table].get(v), transform=f"code:{table}")
        if found is not None and system:
            node = self.node(number, instance)
            if node is not None and self._attr_key(number) == "code":
                self.mark(node, "codeSystem")
        return found

    def date(self, number: str, instance: etree._Element | None) -> Any:
        return self.get(number, instance, ts_to_partial)

    def boolean(self, number: str, instance: etree._Element | None) -> bool | None:
        return self.value(number, instance, boolean)

    def meddra(self, code_el: str, version_el: str, instance: etree._Element | None) -> m.MedDRA | None:
        if instance is None:
            return None
        node, code = self.raw(code_el, instance)
        vnode, version = self.raw(version_el, instance)
        if node is None or not code or not version or node.get("codeSystem") != MEDDRA:
            return None
        self.mark(node, "code", "codeSystem")
        self.applied(code_el, "meddra_code")
        if vnode is not None:
            self.mark(vnode, "codeSystemVersion")
            self.applied(version_el, "meddra_version")
        return m.MedDRA(code=code, version=version)

    def quantity(self, value_el: str, unit_el: str, instance: etree._Element | None) -> m.Quantity | None:
        if instance is None:
            return None
        node, value = self.raw(value_el, instance)
        unode, unit = self.raw(unit_el, instance)
        number = to_number(value)
        if node is None or number is None or not unit:
            return None
        self.mark(node, "value")
        self.applied(value_el, "to_number")
        if unode is not None:
            self.mark(unode, "unit")
            self.applied(unit_el, "unit")
        return m.Quantity(value=number, unit=unit)

    def build(self, cls: type[BaseModel], data: dict[str, Any], point: int,
              inst: etree._Element | None = None) -> Any:
        """Validate a block; on failure roll back what it read so that it is passed through whole. So too
        for a block `inst` whose own code (what names it in a message) was not read: the exporter could
        not write the block where it was."""
        try:
            item = cls.model_validate({k: v for k, v in data.items() if v is not None and v != []})
        except ValidationError as exc:
            self.rollback(point)
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first.get("loc", ())) or "the block"
            line = block_place(inst)
            self.deviations.append((f"[{cls.__name__}]", f"a block{line} was not read into the case model "
                                                         f"({where}: {first.get('msg', 'not valid')}); its values are "
                                                         "listed as not mapped"))
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
        if code is None or code.get("codeSystem") == MEDDRA:
            # a MedDRA code (D.7.1.r, F.r.2.2) is the block's data, not its name: one the reader could not
            # take (no version) is listed as not mapped, and the rest of the block is still read
            return True
        read = {attr for node, attr in self.used[point:] if node is code}
        return all(code.get(a) is None or a in read for a in ("code", "codeSystem", "nullFlavor"))


# descendant, not //: from a message, "//" would search the whole batch for every report
_REGIONAL_CODES = etree.XPath("descendant::h:code[starts-with(@codeSystem, $arc)]",
                              namespaces={"h": "urn:hl7-org:v3"})


def regional_nodes(root: etree._Element) -> set[etree._Element]:
    """The nodes of a document whose nearest act named by a code (themselves or one holding them) is named in a
    region's own list: a region's item under a small code ICH also uses (PMDA's J2 items coded 1, 2, 4 in PMDA's
    lists where ICH's C.1.3, C.1.9.1, C.1.11.2 are) is not that ICH element; it is listed as not mapped. Found
    once per document or message, inside `root` only: one XPath for the acts whose own code is regional (none in
    most messages), then each act's subtree down to the nested acts named by a code of their own."""
    found: set[etree._Element] = set()

    def add(node: etree._Element, act: etree._Element) -> None:
        found.add(node)
        for child in node:
            if not isinstance(child.tag, str):
                continue
            if child is not act and local(child) in ACTS and child.find(CODE) is not None:
                continue  # an act of its own name is answered by its own code
            add(child, act)

    for code in _REGIONAL_CODES(root, arc=regional_arc()):
        act = code.getparent()
        if act is not None and local(act) in ACTS and act.find(CODE) is code:
            add(act, act)
    return found


def block_place(inst: etree._Element | None) -> str:
    """" at line N" for a block in a warning, and its path when the line does not tell it from the blocks
    around it (many senders write the whole batch on one line)."""
    if inst is None or not inst.sourceline:
        return ""
    root = inst.getroottree().getroot()
    shared = root.sourceline == inst.sourceline or any(
        sibling.sourceline == inst.sourceline for sibling in inst.itersiblings(preceding=True))
    return f" at line {inst.sourceline}" + (f" ({element_path(inst)})" if shared else "")


def ii_key(node: etree._Element | None) -> str | None:
    """The identity of an HL7 II, for matching an id with the references to it: its root, with its extension
    when it has one (ICH writes reaction and drug ids as a UUID root; a sender may write an OID root with an
    extension per item, which must not make every item one). A UUID is read in lower case: its hex digits
    name the same id in either case (HL7 asks for upper, ICH's examples use lower). None without a root."""
    root = node.get("root") if node is not None else None
    if not root:
        return None
    if _UUID.match(root):
        root = root.lower()
    extension = node.get("extension")
    return root if extension is None else f"{root} {extension}"


def ii_read(r: Reader, node: etree._Element) -> None:
    """Mark the parts of an II that ii_key read (Reader.mark takes an extension's root with it)."""
    r.mark(node, "extension" if node.get("extension") is not None else "root")


def time_type(inst: etree._Element) -> str | None:
    time = inst.find("{urn:hl7-org:v3}effectiveTime")
    return time.get(f"{{{XSI}}}type") if time is not None else None


def time_shape(time: etree._Element) -> str:
    """The structure of an effectiveTime as a string: `IVL_TS(low,high)`, an SXPR_TS as its comps in
    brackets (`SXPR_TS[PIVL_TS(period)|IVL_TS:A(low,width)]`), an operator after a colon."""
    kind = time.get(f"{{{XSI}}}type") or ""
    children = [c for c in time if isinstance(c.tag, str)]
    operator = f":{time.get('operator')}" if time.get("operator") else ""
    if kind == "SXPR_TS":
        return f"{kind}{operator}[" + "|".join(time_shape(c) if local(c) == "comp" else local(c)
                                                 for c in children) + "]"
    return f"{kind}{operator}(" + ",".join(local(c) for c in children) + ")"


def time_written(inst: etree._Element, shapes: re.Pattern[str]) -> bool:
    time = inst.find("{urn:hl7-org:v3}effectiveTime")
    return time is not None and bool(shapes.match(time_shape(time)))


def note_relationship(r: Reader, number: str, inst: etree._Element, type_code: str) -> None:
    """An element's observation is read whatever relationship holds it (its own code says which element it
    is); where that relationship has another typeCode than the one ICH gives (and the exporter writes), the
    import warns that an export writes ICH's."""
    node = r.node(number, inst)
    observation = node.getparent() if node is not None else None
    wrapper = observation.getparent() if observation is not None else None
    if wrapper is not None and wrapper.get("typeCode") not in (None, type_code):
        r.deviations.append((number, f"sent in a relationship of type {wrapper.get('typeCode')} where ICH has "
                                     f"{type_code}: read, and an export writes {type_code}"))


def coded(r: Reader, text_el: str, code_el: str, inst: etree._Element) -> m.Coded | None:
    text = r.value(text_el, inst)
    node, code = r.raw(code_el, inst)
    data: dict[str, Any] = {"text": text}
    # a bare code is left as received, as Reader.value leaves it (the case's code without a system is one of
    # our own keys, which a received code is not): the import lists it as not mapped
    if node is not None and code and node.get("codeSystem"):
        data.update(code=code, system=node.get("codeSystem"), version=node.get("codeSystemVersion"))
        r.mark(node, "code", *(a for a in ("codeSystem", "codeSystemVersion") if node.get(a)))
        r.applied(code_el, "code_with_system")
    if not any(data.values()):
        return None
    return m.Coded(**data)


def ncit(r: Reader, number: str, inst: etree._Element) -> m.Coded | m.Absent | None:
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


def termid(r: Reader, code_el: str, version_el: str, inst: etree._Element) -> m.Coded | None:
    """A code with its code system OID and version (substance TermID, product identifier)."""
    node = r.node(code_el, inst)
    if node is None or not node.get("code") or not node.get("codeSystem"):
        return None
    code = r.value(code_el, inst)
    version = r.value(version_el, inst)
    return m.Coded(code=code, system=node.get("codeSystem"), version=version)


def product_ids(r: Reader, code_el: str, version_el: str, inst: etree._Element) -> list[m.ProductId]:
    found = termid(r, code_el, version_el, inst)
    if found is None or not found.code:
        return []
    return [m.ProductId(kind="product-code", code=found.code, system=found.system, version=found.version)]



