"""Business rules: for every rule, a passing input (the rich test case, exported) and a failing one (the
same output with the rule's required element removed or made invalid). Plus per-element ICH checks."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
from lxml import etree

from reporter.e2b import rules
from reporter.e2b.dictionary import dictionary, rule_set
from reporter.e2b.export import export_bundles
from reporter.inputs import load_bundle as load_input
from tests.e2b.helpers import FIXED_BATCH, FIXED_TIME

RICH = Path(__file__).parent / "data" / "rich-case.yaml"
NS = {"h": "urn:hl7-org:v3", "xsi": "http://www.w3.org/2001/XMLSchema-instance"}


@pytest.fixture(scope="module")
def exported() -> dict[str, etree._Element]:
    bundle = load_input(RICH)
    out = {}
    for receiver in ("ich", "fda", "ema"):
        result = export_bundles([bundle], receiver_name=receiver, batch_id=FIXED_BATCH, creation_time=FIXED_TIME)
        assert result.check.ok, result.check.text()
        out[receiver] = etree.fromstring(result.xml)
    return out


def fired(doc: etree._Element, sets: tuple[str, ...]) -> set[str]:
    return {i.code for i in rules.check(doc, sets)}


def element_nodes(doc: etree._Element, number: str) -> list[tuple[etree._Element, str]]:
    element = dictionary().element(number)
    loc = rules.Locator(doc)
    return [(n, element.value or "text()") for inst in loc.instances(element.group)
            for n in inst.xpath(element.node, namespaces=NS)]


def break_condition(doc: etree._Element, cond: dict) -> bool:
    """Make `cond` false in doc; False when the document gives nothing to break."""
    if "group" in cond:
        found = rules.Locator(doc).instances(cond["group"])
        for node in found:
            node.getparent().remove(node)
        return bool(found) and cond.get("present") is True
    nodes = element_nodes(doc, cond["element"])
    if not nodes:
        return False
    for node, spec in nodes:
        if cond.get("present") is True or cond.get("same_as"):
            if spec.startswith("@"):
                node.attrib.pop(spec[1:], None)
            elif node.getparent() is not None:
                node.getparent().remove(node)
        elif "in" in cond and not cond.get("not"):
            if spec.startswith("@"):
                node.set(spec[1:], "X-INVALID")
            else:
                node.text = "X-INVALID"
        elif cond.get("not") and "null_flavor" in cond:
            node.attrib.pop("value", None)
            node.set("nullFlavor", cond["null_flavor"][0])
        else:
            return False
    return True


def applies(doc: etree._Element, rule: dict, sets: tuple[str, ...]) -> bool:
    checker = rules.Checker(doc, sets)
    return any(all(checker.holds(c, inst, rule["scope"]) for c in rule.get("when") or ())
               for inst in checker.loc.instances(rule["scope"]))


def all_rules():
    for name, receiver in (("ich", "ich"), ("fda", "fda"), ("ema", "ema")):
        for index, rule in enumerate(rule_set(name)["rules"]):
            yield pytest.param(name, receiver, index, id=f"{rule['id']}-{index}")


@pytest.mark.parametrize(("set_name", "receiver", "index"), all_rules())
def test_rule_passes_and_fails(exported, set_name, receiver, index):
    rule = rule_set(set_name)["rules"][index]
    sets = (set_name,) if set_name == "ich" else ("ich", set_name)
    base = exported[receiver]
    assert rule["id"] not in fired(base, sets), "passing input must not trigger the rule"
    broken = copy.deepcopy(base)
    targets = [rule["then"]] if rule.get("then") else list(rule.get("then_any") or [])
    if not all(break_condition(broken, c) for c in targets):
        pytest.skip(f"{rule['id']}: the test case has no {targets} to break")
    if not applies(broken, rule, sets):
        pytest.skip(f"{rule['id']}: the test case does not meet the rule's condition {rule.get('when')}")
    assert rule["id"] in fired(broken, sets)


def test_every_rule_set_rule_is_covered(exported):
    """At least the large majority of rules are exercised with a failing input (not skipped)."""
    covered = 0
    total = 0
    for name in ("ich", "fda", "ema"):
        receiver = name
        sets = (name,) if name == "ich" else ("ich", name)
        for rule in rule_set(name)["rules"]:
            total += 1
            broken = copy.deepcopy(exported[receiver])
            targets = [rule["then"]] if rule.get("then") else list(rule.get("then_any") or [])
            if all(break_condition(broken, c) for c in targets) and rule["id"] in fired(broken, sets):
                covered += 1
    assert covered >= total * 0.6, f"only {covered} of {total} rules exercised"


# -- per-element ICH checks: one failing input each (the passing input is the rich export) --------------

def _set(doc, xpath, **attrs):
    node = doc.xpath(xpath, namespaces=NS)[0]
    for key, value in attrs.items():
        if value is None:
            node.attrib.pop(key, None)
        else:
            node.set(key, value)
    return doc


ELEMENT_CASES = {
    "E2B-MANDATORY": lambda d: [n.getparent().remove(n) for n in d.xpath(
        "//h:observation[h:code/@code='29']/h:outboundRelationship2[h:observation/h:code/@code='27']",
        namespaces=NS)] and d,
    "E2B-NULLFLAVOR": lambda d: _set(d, "//h:observation[h:code/@code='29']/h:outboundRelationship2/"
                                        "h:observation[h:code/@code='34']/h:value", nullFlavor="UNK"),
    "E2B-VALUE": lambda d: _set(d, "//h:outboundRelationship2/h:observation[h:code/@code='27']/h:value",
                                code="7"),
    "E2B-LENGTH": lambda d: [setattr(n, "text", "x" * 251) for n in d.xpath(
        "//h:organizer[h:code/@code='4']//h:kindOfProduct/h:name", namespaces=NS)] and d,
    "E2B-DATE-PRECISION": lambda d: _set(d, "//h:controlActProcess/h:effectiveTime", value="20240110"),
    "E2B-FUTURE-DATE": lambda d: _set(d, "//h:investigationEvent/h:availabilityTime", value="29990101"),
    "E2B-DATE": lambda d: _set(d, "//h:investigationEvent/h:availabilityTime", value="2024-01-09"),
    "E2B-MEDDRA-VERSION": lambda d: _set(d, "//h:observation[h:code/@code='29']/h:value", codeSystemVersion="27.0"),
    "E2B-DUPLICATE-MESSAGE": lambda d: d.insert(5, copy.deepcopy(d.xpath("h:PORR_IN049016UV",
                                                                           namespaces=NS)[0])) or d,
}


@pytest.mark.parametrize("code", sorted(ELEMENT_CASES))
def test_element_checks(exported, code):
    base = exported["ich"]
    assert code not in fired(base, ("ich",))
    broken = ELEMENT_CASES[code](copy.deepcopy(base))
    assert code in fired(broken, ("ich",))


def test_locations_name_the_e2b_element_and_case(exported):
    broken = ELEMENT_CASES["E2B-VALUE"](copy.deepcopy(exported["ich"]))
    issue = next(i for i in rules.check(broken, ("ich",)) if i.code == "E2B-VALUE")
    assert issue.location.startswith("E.i.7 (case 1, reaction 1)")
    assert issue.layer == "e2b"


def test_fda_examples_pass_fda_rules(shared_dir, monkeypatch):
    monkeypatch.setenv("REPORTER_TODAY", "2026-01-01")
    doc = etree.parse(str(shared_dir / "e2b/examples/fda-faers-2022/FAERS2022Scenario1.xml"))
    assert [i for i in rules.check(doc, ("ich", "fda")) if i.severity == "error"] == []


def test_ich_example_mixed_meddra_versions_are_caught(shared_dir, monkeypatch):
    monkeypatch.setenv("REPORTER_TODAY", "2026-01-01")
    doc = etree.parse(str(shared_dir / "e2b/examples/ich-derived/ich-style-HC-followup-MAH.xml"))
    assert "E2B-MEDDRA-VERSION" in {i.code for i in rules.check(doc, ("ich",))}
