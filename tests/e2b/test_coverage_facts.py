"""The value facts the import report counts (reporter/e2b/coverage.py) are found in one tuned pass; they must
be exactly those of the definition applied to every node and attribute one by one, here written plainly, on
our inputs, the golden exports and seeded mutations of them (deleted, duplicated, rewritten, re-dated...)."""

from __future__ import annotations

from pathlib import Path

from lxml import etree

from reporter.e2b import coverage, to_case
from reporter.e2b.coverage import (
    ICH_LISTS,
    REGENERATED,
    STRUCTURAL,
    STRUCTURE_SYSTEMS,
    WRAPPER_ELEMENTS,
    _is_naming_code,
    _is_role_code,
)
from reporter.e2b.diff import content
from reporter.e2b.read.reader import SCHEME_ONLY
from reporter.e2b.xmlsafe import HL7, local
from tests.e2b import mutations

INPUTS = Path(__file__).parent / "inputs"
GOLDEN = Path(__file__).parents[1] / "golden" / "e2b"


def _is_fact(node: etree._Element, attr: str, value: str) -> bool:
    """Whether one attribute of one node is a value fact, by the rules of coverage.py's docstring."""
    name, parent = local(node), node.getparent()
    system = node.get("codeSystem") or ""
    if name in WRAPPER_ELEMENTS or (parent is not None and (local(parent), name) in REGENERATED):
        return False
    if name == "code" and system.startswith(STRUCTURE_SYSTEMS):
        return False
    if name == "interpretationCode" or (name == "code" and (_is_naming_code(node) or _is_role_code(node))):
        return False
    if attr in STRUCTURAL or (attr == "unit" and value == "1"):
        return False
    if attr == "codeSystemVersion" and system.startswith((ICH_LISTS, *STRUCTURE_SYSTEMS)):
        return False
    if attr in ("codeSystem", "codeSystemVersion") and not node.get("code"):
        return False
    return not (attr == "value" and name == "telecom" and "nullFlavor" in node.attrib
                and SCHEME_ONLY.fullmatch(value))


def _facts_one_by_one(message: etree._Element) -> list[tuple[etree._Element, str, str]]:
    out = []
    for node in message.iter():
        if not isinstance(node.tag, str) or etree.QName(node).namespace != HL7:
            continue
        out += [(node, attr, value) for attr, value in node.attrib.items() if _is_fact(node, attr, value)]
        name, parent = local(node), node.getparent()
        skipped = name in WRAPPER_ELEMENTS or (parent is not None and (local(parent), name) in REGENERATED)
        if content(node) and not skipped:
            out.append((node, "#text", content(node)))
    return out


def _documents() -> list[tuple[str, bytes]]:
    sources = {p.name: p.read_bytes() for p in sorted([*INPUTS.glob("*.xml"), *GOLDEN.glob("*.xml")])}
    kinds = ("delete", "attribute", "duplicate", "text", "date", "reorder", "add")
    return [*sources.items(), *((f"{v.source} ({v.what})", v.xml) for v in mutations.variants(sources, 5, 120, kinds))]


def test_value_facts_are_those_of_the_definition_node_by_node() -> None:
    checked = 0
    for name, xml in _documents():
        for message in etree.fromstring(xml).iter(f"{{{HL7}}}PORR_IN049016UV"):
            fast = coverage.value_facts(message)
            assert fast == _facts_one_by_one(message), name
            checked += len(fast)
    assert checked > 20_000


def test_measure_counts_each_fact_once_as_read_or_listed() -> None:
    for name, xml in _documents()[:60]:
        for message in etree.fromstring(xml).iter(f"{{{HL7}}}PORR_IN049016UV"):
            reader = to_case.message_to_case(message)[1]
            found = coverage.measure(message, reader.used)
            read = {(id(node), attr) for node, attr in reader.used}
            facts = _facts_one_by_one(message)
            assert found.total == len(facts), name
            assert found.mapped == sum((id(node), attr) in read for node, attr, _ in facts), name
            assert found.total - found.mapped == sum(found.not_mapped.values()), name
