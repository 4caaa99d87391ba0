"""XSD-preserving mutations of E2B(R3) instances, for round-trip property tests.

A mutation changes one thing in one message's investigationEvent (C-H): it deletes an element (with its
subtree), removes an attribute, duplicates an element next to itself, rewrites a text (non-ASCII, long)
or changes the precision of a date. Most mutations of a valid instance keep it valid; those the XSD
rejects are discarded by the caller. Everything is drawn from a `random.Random`, so a seed gives the
same variants on every run.
"""

from __future__ import annotations

import copy
import random
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from lxml import etree

from reporter.e2b.xmlsafe import HL7, XSI, local

KINDS = ("delete", "attribute", "duplicate", "text", "date")
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


MUTATORS: dict[str, Callable[[random.Random, etree._ElementTree], str | None]] = {
    "delete": _delete, "attribute": _attribute, "duplicate": _duplicate, "text": _text, "date": _date}


def variants(sources: dict[str, bytes], seed: int, count: int, kinds: tuple[str, ...] = KINDS
             ) -> Iterator[Variant]:
    """`count` mutated documents (fewer when a source offers nothing to mutate), drawn deterministically."""
    rng = random.Random(seed)
    names = sorted(sources)
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, remove_blank_text=False)
    for i in range(count):
        name = names[i % len(names)] if i < len(names) else rng.choice(names)
        kind = kinds[i % len(kinds)]
        doc = etree.ElementTree(etree.fromstring(sources[name], parser))
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
    from reporter.e2b import diff, export, importer, xmlsafe

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
        differences = diff.compare(source, etree.fromstring(out.xml))
        if differences:
            return Outcome(variant, diff.table(differences, limit=12))
    except Exception as exc:
        return Outcome(variant, f"crash: {type(exc).__name__}: {exc}")
    return Outcome(variant, None)
