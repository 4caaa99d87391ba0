"""XSD-preserving mutations of E2B(R3) instances, for round-trip property tests.

A mutation changes one thing in one message's investigationEvent (C-H): it deletes an element (with its
subtree), removes an attribute, duplicates an element next to itself, rewrites a text (non-ASCII, long),
changes the precision of a date, swaps two repeated sibling blocks (`reorder`), grafts a block another
source has at the same place (`graft`), adds an optional block the standard defines and the sources may
lack (`add`, tests/e2b/data/optional-blocks.yaml), or replaces a value by a null flavor the ICH element
table allows for that element (`nullflavor`). Most mutations of a valid instance keep it valid; those the
XSD rejects are discarded by the caller. Everything is drawn from a `random.Random`, so a seed gives the
same variants on every run.
"""

from __future__ import annotations

import copy
import csv
import random
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import yaml
from lxml import etree

from reporter.e2b.xmlsafe import HL7, XSI, local
from tests.conftest import shared_path

KINDS = ("delete", "attribute", "duplicate", "text", "date", "reorder", "graft", "add", "nullflavor")
NS = {"h": HL7, "xsi": XSI}
STRUCTURAL = {"classCode", "moodCode", "typeCode", "determinerCode", f"{{{XSI}}}type"}
TEXTS = (
    "Ärztin berichtet: Übelkeit, Erbrechen – 嘔吐 – рвота; «très» sévère ✓",
    "Ω≈ç√∫ " * 200 + "end",               # long (1400 characters), non-ASCII
    "x",                                   # very short
    "line one\nline two\n\tindented & <escaped> \"quoted\" 'apostrophe'",
)
_TS = re.compile(r"^\d{4}(\d{2}(\d{2}(\d{2}(\d{2}(\d{2}(\.\d+)?)?)?)?)?)?([+-]\d{4})?$")


@dataclass(frozen=True)
class Variant:
    source: str          # file name
    kind: str            # one of KINDS
    what: str            # the mutation, readable (element path and change)
    xml: bytes


def _path(el: etree._Element) -> str:
    steps = []
    node: etree._Element | None = el
    while node is not None and local(node) != "investigationEvent":
        steps.append(local(node))
        node = node.getparent()
    return "/".join(reversed(steps))


def _under_event(doc: etree._ElementTree) -> list[etree._Element]:
    """Elements below any investigationEvent, in document order."""
    out: list[etree._Element] = []
    for event in doc.iter(f"{{{HL7}}}investigationEvent"):
        out.extend(e for e in event.iterdescendants() if isinstance(e.tag, str))
    return out


def _delete(rng: random.Random, doc: etree._ElementTree) -> str | None:
    target = rng.choice(_under_event(doc))
    target.getparent().remove(target)
    return f"delete {_path(target)}"


def _attribute(rng: random.Random, doc: etree._ElementTree) -> str | None:
    choices = [(e, a) for e in _under_event(doc) for a in e.attrib if a not in STRUCTURAL]
    if not choices:
        return None
    # Favour the attributes a sender may well leave out, but try any.
    preferred = [c for c in choices if c[1] in ("displayName", "codeSystemVersion", "nullFlavor", "language",
                                                  "assigningAuthorityName", "unit", "inclusive")]
    el, attr = rng.choice(preferred if preferred and rng.random() < 0.7 else choices)
    del el.attrib[attr]
    return f"remove {_path(el)}/@{attr}"


def _duplicate(rng: random.Random, doc: etree._ElementTree) -> str | None:
    # A repeating block: an element with a sibling of the same name, or any element (the XSD decides).
    elements = _under_event(doc)
    repeating = [e for e in elements if any(s is not e and s.tag == e.tag for s in e.itersiblings())
                 or any(s.tag == e.tag for s in e.itersiblings(preceding=True))]
    target = rng.choice(repeating if repeating and rng.random() < 0.6 else elements)
    target.addnext(copy.deepcopy(target))
    return f"duplicate {_path(target)}"


def _text(rng: random.Random, doc: etree._ElementTree) -> str | None:
    holders = [e for e in _under_event(doc) if (e.text or "").strip() and len(e) == 0]
    if not holders:
        return None
    el = rng.choice(holders)
    el.text = rng.choice(TEXTS)
    return f"text {_path(el)} = {el.text[:20]!r}"


def _date(rng: random.Random, doc: etree._ElementTree) -> str | None:
    dates = [e for e in _under_event(doc) if _TS.match(e.get("value") or "") and len(e.get("value") or "") >= 4
             and (local(e) in ("low", "high", "birthTime", "deceasedTime", "effectiveTime", "availabilityTime")
                  or e.get(f"{{{XSI}}}type") == "TS")]
    if not dates:
        return None
    el = rng.choice(dates)
    year = (el.get("value") or "")[:4]
    new = rng.choice([year, year + "07", year + "0704", year + "07041230", year + "0704123059",
                      year + "0704123059+0200", year + "0704123059-0500", year + "0704+0100",
                      year + "0704123059.5+0000"])
    el.set("value", new)
    return f"date {_path(el)} = {new}"


def _reorder(rng: random.Random, doc: etree._ElementTree) -> str | None:
    """Swap two sibling blocks of the same name (the XSD's sequences allow any order within a run)."""
    pairs = []
    for el in _under_event(doc):
        same = [s for s in el.itersiblings() if s.tag == el.tag]
        pairs += [(el, s) for s in same if etree.tostring(s) != etree.tostring(el)]
    if not pairs:
        return None
    first, second = rng.choice(pairs)
    marker = etree.Comment("swap")
    first.addprevious(marker)
    second.addprevious(first)
    marker.addprevious(second)
    marker.getparent().remove(marker)
    return f"swap {_path(first)} with a later sibling"


def _insert(parent: etree._Element, new: etree._Element, after: list[str]) -> None:
    """Put `new` after the last child of parent named in `after` (schema order), or first."""
    anchor = None
    for child in parent:
        if isinstance(child.tag, str) and local(child) in after:
            anchor = child
    if anchor is None:
        parent.insert(0, new)
    else:
        anchor.addnext(new)


def _graft(rng: random.Random, doc: etree._ElementTree, donors: dict[str, etree._Element]) -> str | None:
    """Copy a block another source holds at the same place (same chain of parent names) into this one."""
    here: dict[tuple[str, ...], list[etree._Element]] = {}
    for el in _under_event(doc):
        here.setdefault((*tuple(local(a) for a in el.iterancestors())[::-1], local(el)), []).append(el)
    name = rng.choice(sorted(donors))
    candidates = []
    for event in donors[name].iter(f"{{{HL7}}}investigationEvent"):
        for el in event.iterdescendants():
            if not isinstance(el.tag, str) or el.getparent() is None:
                continue
            key = (*tuple(local(a) for a in el.getparent().iterancestors())[::-1], local(el.getparent()))
            if key in here:
                candidates.append((el, key))
    if not candidates:
        return None
    donor, key = rng.choice(candidates)
    parent = rng.choice(here[key])
    before = [local(s) for s in donor.itersiblings(preceding=True) if isinstance(s.tag, str)]
    _insert(parent, copy.deepcopy(donor), [*before, local(donor)])
    return f"graft {_path(donor)} from {name}"


@cache
def _blocks() -> list[dict]:
    data = yaml.safe_load((Path(__file__).parent / "data" / "optional-blocks.yaml").read_text(encoding="utf-8"))
    return data["blocks"]


def _add(rng: random.Random, doc: etree._ElementTree) -> str | None:
    """An optional block of tests/e2b/data/optional-blocks.yaml, where the standard puts it."""
    events = list(doc.iter(f"{{{HL7}}}investigationEvent"))
    block = rng.choice(_blocks())
    targets = [t for e in events for t in e.xpath(block["at"], namespaces=NS) if isinstance(t, etree._Element)]
    if not targets:
        return None
    target = rng.choice(targets)
    if "set" in block:
        for attr, value in block["set"].items():
            target.set(attr, value)
        return f"add {block['name']} at {_path(target)}"
    new = etree.fromstring(f'<wrap xmlns="{HL7}" xmlns:xsi="{XSI}">{block["xml"]}</wrap>')[0]
    for node in new.iter():
        node.tail = None
    old = target.xpath(block["replace"], namespaces=NS) if block.get("replace") else []
    if old:
        old[0].getparent().replace(old[0], new)
    else:
        _insert(target, new, block.get("after") or [])
    return f"add {block['name']} at {_path(target)}"


@cache
def _null_flavors() -> dict[str, list[str]]:
    """E2B element number -> the null flavors the ICH element table allows for it."""
    path = shared_path() / "e2b" / "codes" / "ich-core-data-elements-v1.csv"
    rows = list(csv.reader(path.read_text(encoding="utf-8-sig").splitlines(keepends=True)))
    header = rows[1]
    columns = [i for i, h in enumerate(header) if h.strip() in ("NI", "MSK", "UNK", "NA", "ASKU", "NASK",
                                                                "NINF", "PINF")]
    out = {}
    for row in rows[2:]:
        allowed = [header[i].strip() for i in columns if i < len(row) and row[i].strip().lower().startswith("yes")]
        if allowed:
            out[row[2].strip()] = allowed
    return out


def _nullflavor(rng: random.Random, doc: etree._ElementTree) -> str | None:
    """Replace one element's value by a null flavor the ICH table allows for that element."""
    from reporter.e2b.to_case import Reader

    choices = []
    for message in doc.iter(f"{{{HL7}}}PORR_IN049016UV"):
        reader = Reader(message)
        for number, flavors in _null_flavors().items():
            spec = reader.elements.get(number)
            if spec is None:
                continue
            for instance in reader.instances(spec["group"]):
                node = reader.node(number, instance)
                if node is not None:
                    choices += [(number, node, flavor) for flavor in flavors if node.get("nullFlavor") != flavor]
    if not choices:
        return None
    number, node, flavor = rng.choice(choices)
    for attr in ("value", "code", "displayName", "codeSystemVersion", "extension", "language"):
        node.attrib.pop(attr, None)
    if local(node) in ("code", "value") and rng.random() < 0.5:
        node.attrib.pop("codeSystem", None)
    if local(node) == "telecom":
        node.set("value", "tel")
    node.text = None
    for child in list(node):
        node.remove(child)
    node.set("nullFlavor", flavor)
    return f"nullFlavor {flavor} for {number} at {_path(node)}"


Mutator = Callable[[random.Random, etree._ElementTree], str | None]
MUTATORS: dict[str, Mutator] = {
    "delete": _delete, "attribute": _attribute, "duplicate": _duplicate, "text": _text, "date": _date,
    "reorder": _reorder, "add": _add, "nullflavor": _nullflavor}


def variants(sources: dict[str, bytes], seed: int, count: int, kinds: tuple[str, ...] = KINDS
             ) -> Iterator[Variant]:
    """`count` mutated documents (fewer when a source offers nothing to mutate), drawn deterministically."""
    rng = random.Random(seed)
    names = sorted(sources)
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, remove_blank_text=False)
    donors = {name: etree.fromstring(sources[name], parser) for name in names} if "graft" in kinds else {}
    for i in range(count):
        name = names[i % len(names)] if i < len(names) else rng.choice(names)
        kind = kinds[i % len(kinds)]
        doc = etree.ElementTree(etree.fromstring(sources[name], parser))
        if kind == "graft":
            what = _graft(rng, doc, {n: d for n, d in donors.items() if n != name} or donors)
        else:
            what = MUTATORS[kind](rng, doc)
        if what is None:
            continue
        yield Variant(name, kind, what, etree.tostring(doc, xml_declaration=True, encoding="UTF-8"))


@dataclass
class Outcome:
    variant: Variant
    failure: str | None      # None: imported, exported XSD-valid, zero differences


def round_trip(variant: Variant, schema_dir: str) -> Outcome:
    """Import -> Bundle -> export -> compare a (valid) variant; the failure, described, or None."""
    from reporter.e2b import coverage, diff, export, importer, xmlsafe

    try:
        result = importer.import_loaded(xmlsafe.parse_bytes(variant.xml, variant.source))
        rejected = [f"report {r.index}: {r.problems}" for r in result.reports if not r.ok]
        if rejected or result.batch_problems:
            return Outcome(variant, f"not imported: {rejected or result.batch_problems}")
        out = export.export_bundles([r.bundle for r in result.reports if r.bundle], schema_dir=schema_dir)
        if out.check.xsd != "valid":
            errors = [i.message for i in out.check.issues if i.layer == "xsd"][:3]
            return Outcome(variant, f"export not XSD-valid: {errors}")
        source = xmlsafe.parse_bytes(variant.xml).root
        differences = coverage.unexplained(diff.compare_unordered(source, etree.fromstring(out.xml)),
                                           [r.coverage for r in result.reports if r.coverage])
        # what the export says it leaves out for this receiver (another region's elements) is announced too
        not_sent = tuple(i.location.split(" ")[0] for i in out.check.issues if i.code == "E2B-NOT-SENT")
        differences = [d for d in differences
                       if not any(d.element == n or str(d.element).startswith(f"{n}.") for n in not_sent)]
        if differences:
            return Outcome(variant, diff.table(differences, limit=12))
    except Exception as exc:
        return Outcome(variant, f"crash: {type(exc).__name__}: {exc}")
    return Outcome(variant, None)
