"""Business rules: for every rule, a passing input (the rule applies and holds) and a failing one (it fires).

Inputs are the rich test case, with the facts it lacks added (gestation, time from first dose, a test
named only in MedDRA), exported per receiver; a rule whose condition needs other facts names a variant of
the case (amendment, no medical history, combination product, ...). The failing input is a variant Bundle
where one is natural (a spontaneous report that carries a study type, a concomitant drug listed first),
else the passing output with the rule's required element removed or made invalid. No rule is skipped.
Receiver ids other than the profile's (FDA premarket) come from Bundles imported from E2B, which keep the
ids they were sent with."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path

import pytest
from lxml import etree

from reporter.casefile.model import CaseFile
from reporter.casefile.parse import load_data, read_text
from reporter.e2b import rules, xmlsafe
from reporter.e2b.dictionary import dictionary, rule_set
from reporter.e2b.export import export_bundles
from reporter.e2b.importer import import_loaded
from reporter.fhir.build import build_bundle
from tests.e2b.helpers import FIXED_BATCH, FIXED_TIME

RICH = Path(__file__).parent / "data" / "rich-case.yaml"
NS = {"h": "urn:hl7-org:v3", "xsi": "http://www.w3.org/2001/XMLSchema-instance"}
SETS = {"ich": ("ich",), "fda": ("ich", "fda"), "ema": ("ich", "ema")}


def _extras(data: dict) -> None:
    """Facts the rich case does not carry, so that their pairing rules (R0031/32, R0081/82, R0088/89, R0064),
    FDA's code lists and FDA's required sender details apply."""
    data["patient"]["gestation_at_onset"] = {"value": 30, "unit": "wk"}
    ibu = data["drugs"][0]
    ibu["gestation_at_exposure"] = {"value": 12, "unit": "wk"}
    ibu["reactions"][0]["onset_after_first_dose"] = {"value": 16, "unit": "d"}
    data["tests"].append({"meddra": {"code": "10001551", "version": "26.1"}, "date": "2023-12-22",
                          "value": 900, "unit": "U/L"})
    data["patient"]["race"] = [{"code": "C41260"}]  # FDA's race and ethnicity codes (FDA-D.11.r.1/D.12-CODE)
    data["patient"]["ethnicity"] = {"code": "C41222"}
    data["reactions"][0]["seriousness"]["required_intervention"] = True  # FDA.E.i.3.2h (FDA-E.i.3.2h-REQUIRED)
    sender = data["sender"]  # all that FDA's regional table requires of the sender (FDA-C.3.x-REQUIRED)
    sender["person"]["title"] = "Dr."
    sender["address"].update(street="Beispielstraße 1", state="Berlin", postcode="10115")
    sender.update(phone="+49 30 1234567", fax="+49 30 1234568")
    parent = data["patient"]["parent"]  # the parent's coded history and past drug (R0052-R0057)
    parent["medical_history"] = [{"term": "Asthma", "meddra": {"code": "10003553", "version": "26.1"}}]
    ndc = [{"kind": "product-code", "code": "0093-0311-01", "system": "2.16.840.1.113883.6.69"}]  # FDA-*-LENGTH
    parent["past_drugs"] = [{"name": "Amoxicillin", "indication": {"code": "10037660", "version": "26.1"},
                             "reaction": {"code": "10037844", "version": "26.1"}, "identifiers": ndc}]
    data["patient"]["past_drugs"][0]["identifiers"] = ndc
    ibu["identifiers"] = ndc
    dosage = ibu["dosages"][0]  # EDQM dose form and parent route codes (FDA-G.k.4.r.9.2b/11.2b-LENGTH)
    dosage["form"].update(code="10221000", system="0.4.0.127.0.16.1.1.2.1", version="2014.10.30")
    dosage["parent_route"] = {"code": "oral", "text": "oral"}


def _report(**values) -> Callable[[dict], None]:
    return lambda data: data["report"].update(values)


def _no_history(data: dict) -> None:
    data["patient"]["medical_history"] = []


def _spontaneous(keep_study: bool) -> Callable[[dict], None]:
    def edit(data: dict) -> None:
        data["report"]["type"] = "spontaneous"
        if not keep_study:
            data.pop("study")
    return edit


def _concomitant_first(data: dict) -> None:
    data["drugs"].reverse()


def _study(**values) -> Callable[[dict], None]:
    """FDA study numbers: an IND number (FDA.C.5.5a) routes the case to FDA's premarket IND account."""
    return lambda data: data["study"].update(values)


IND = {"fda_ind": "123456", "fda_cross_reported_inds": ["222222"]}


def _ind_case(report_type: str, study_type: bool) -> Callable[[dict], None]:
    def edit(data: dict) -> None:
        data["study"].update(IND)
        data["report"]["type"] = report_type
        if not study_type:
            data["study"].pop("type")
    return edit


def _patient_kind(initials: str | dict, race_na: bool = True) -> Callable[[dict], None]:
    """An aggregate report (D.1 AGGREGATE) or one without a patient (D.1 nullFlavor NA), race and ethnicity NA
    (else the rich case's codes)."""
    def edit(data: dict) -> None:
        data["study"].update(IND)
        data["patient"]["initials"] = initials
        if race_na:
            data["patient"].update(race=[{"absent": "not-applicable"}], ethnicity={"absent": "not-applicable"})
    return edit


def _device(report_type: str | None, expedited: bool, **device) -> Callable[[dict], None]:
    """A combination product report whose first drug has a device part."""
    def edit(data: dict) -> None:
        data["report"].update(combination_product=True, expedited=expedited)
        if report_type:
            data["report"]["fda_report_type"] = report_type
        data["drugs"][0]["devices"] = [device]
    return edit


def _no_adverse_event(initials: str | dict) -> Callable[[dict], None]:
    """A malfunction report without an adverse event (MedDRA 10067482): D.1 must be nullFlavor NA (R0027)."""
    def edit(data: dict) -> None:
        _device(None, False, product_code="FMF", malfunction=True, problem_codes=["1546"])(data)
        data["patient"].update(initials=initials, race=[{"absent": "not-applicable"}],
                               ethnicity={"absent": "not-applicable"})
        data["reactions"][1]["meddra"] = {"code": "10067482", "version": "26.1"}
    return edit


MALFUNCTION = {"product_code": "FMF", "malfunction": True, "problem_codes": ["1546"], "usage": "1", "operator": "1",
               "follow_up_types": ["2"]}


# variant name -> edit of the case data (after _extras)
VARIANTS: dict[str, Callable[[dict], None]] = {
    "base": lambda data: None,
    "amendment": _report(nullification={"kind": "amendment", "reason": "Dosis berichtigt"}),
    "no-history": _no_history,
    "combination": _report(combination_product=True),
    "combination-not-expedited": _report(combination_product=True, expedited=False),
    "not-expedited": _report(expedited=False),
    "spontaneous": _spontaneous(keep_study=False),
    "spontaneous-with-study": _spontaneous(keep_study=True),
    "concomitant-first": _concomitant_first,
    "ind": _ind_case("study", study_type=True),
    "ind-spontaneous": _ind_case("spontaneous", study_type=False),
    "ind-spontaneous-typed": _ind_case("spontaneous", study_type=True),
    "ind-other": _ind_case("other", study_type=True),
    "ind-7-day": lambda data: (_ind_case("study", True)(data), data["report"].update(fda_report_type="7-day")),
    "ind-alone": _study(fda_ind="123456"),
    "other-study": _study(type="other"),
    "anda": _study(fda_pre_anda="654321"),
    "aggregate": _patient_kind("AGGREGATE"),
    "no-patient": _patient_kind({"absent": "not-applicable"}),
    "aggregate-race-known": _patient_kind("AGGREGATE", race_na=False),
    "no-patient-race-known": _patient_kind({"absent": "not-applicable"}, race_na=False),
    "device": _device("30-day", False, **MALFUNCTION),
    "device-5-day": _device("5-day", True, **MALFUNCTION, remedial_actions=["1"]),
    "device-unnamed": _device("30-day", False, malfunction=True, problem_codes=["1546"]),
    "no-adverse-event": _no_adverse_event({"absent": "not-applicable"}),
    "no-adverse-event-named": _no_adverse_event("AB"),
}


def _addressed(batch_receiver: str, message_receiver: str) -> Callable[[etree._Element], None]:
    """An edit of an exported batch: sent to other receiver ids (N.1.4, N.2.r.3)."""
    def edit(doc: etree._Element) -> None:
        doc.find("h:receiver/h:device/h:id", NS).set("extension", batch_receiver)
        for node in doc.findall("h:PORR_IN049016UV/h:receiver/h:device/h:id", NS):
            node.set("extension", message_receiver)
    return edit


# variant name -> (variant, edit of its export, the receiver of that export), imported back: Bundles that carry
# received ids
Edit = Callable[[etree._Element], None]
IMPORTED: dict[str, tuple[str, Edit] | tuple[str, Edit, str]] = {
    "trial-to-evhuman": ("base", _addressed("EVHUMAN", "EVHUMAN"), "ema"),
    "premarket": ("ind", _addressed("ZZFDA_PREMKT", "CDER_IND")),
    "premarket-to-cder": ("ind", _addressed("ZZFDA_PREMKT", "CDER")),
    "ind-to-postmarket": ("ind", _addressed("ZZFDA", "CDER")),
    "anda-to-postmarket": ("anda", _addressed("ZZFDA", "CDER")),
}


# rule id -> (variant for the passing input, variant for the failing input or None: break the passing one)
PLAN: dict[str, tuple[str, str | None]] = {
    "ICH-C.1.11.2": ("amendment", None),
    "ICH-D.7.2": ("no-history", None),
    "R0035": ("no-history", None),
    "R0007": ("premarket", "premarket-to-cder"),
    "R0012": ("combination", None),
    "R0013": ("combination-not-expedited", None),
    "R0015": ("not-expedited", None),
    "R0103": ("spontaneous", "spontaneous-with-study"),
    "W0005": ("base", "concomitant-first"),
    # premarket: IND safety reports (CDER_IND) and IND-exempt BA/BE reports (CDER_IND_EXEMPT_BA_BE)
    "R0008": ("ind", None),
    "R0016": ("ind", None),
    "R0024": ("ind", None),
    "R0026": ("ind", None),
    "R0041": ("ind", None),
    "R0070": ("ind", None),
    "R0085": ("ind", None),
    "R0086": ("ind", None),
    "R0087": ("ind", None),
    "R0102": ("ind", None),
    "R0110": ("ind-spontaneous", None),
    "R0112": ("ind", "ind-other"),
    "R0113": ("ind-spontaneous", "ind-spontaneous-typed"),
    "R0107": ("base", "ind-to-postmarket"),
    "R0108": ("base", "anda-to-postmarket"),
    "R0109": ("base", "ind-to-postmarket"),
    "R0025": ("anda", None),
    "R0071": ("anda", None),
    "R0111": ("anda", None),
    "W0001": ("aggregate", None),
    "W0002": ("aggregate", None),
    "W0003": ("aggregate", "aggregate-race-known"),
    "W0004": ("aggregate", "aggregate-race-known"),
    "W0010": ("aggregate", "ind"),
    # device parts of a combination product
    "R0027": ("no-adverse-event", "no-adverse-event-named"),
    "R0092": ("device", None),
    "R0093": ("device", None),
    "R0094": ("device", "device-unnamed"),
    "R0096": ("device", None),
    "W0007": ("device-5-day", None),
    "FDA-C.1.12-REQUIRED": ("combination", None),
    "EMA-C.5.4-EVPM": ("other-study", "trial-to-evhuman"),
    "EMA-C.1.3-EVPM": ("other-study", None),
    "FDA-G.k.12.r.2.r-CODE": ("device", None),
    "FDA-G.k.12.r.8-CODE": ("device", None),
    "FDA-G.k.12.r.10-CODE": ("device", None),
    "FDA-G.k.12.r.11.r-CODE": ("device-5-day", None),
}


class Exports:
    """Exported variants per receiver, each built once per test module."""

    def __init__(self) -> None:
        self.cache: dict[tuple[str, str], etree._Element] = {}

    def get(self, variant: str, receiver: str) -> etree._Element:
        key = (variant, receiver)
        if key not in self.cache:
            self.cache[key] = etree.fromstring(export_bundles(
                [self.bundle(variant)], receiver_name=receiver, batch_id=FIXED_BATCH, creation_time=FIXED_TIME).xml)
        return copy.deepcopy(self.cache[key])

    def bundle(self, variant: str) -> dict:
        if variant in IMPORTED:
            source, edit, *receiver = IMPORTED[variant]
            doc = self.get(source, receiver[0] if receiver else "fda")
            edit(doc)
            imported = import_loaded(xmlsafe.parse_bytes(etree.tostring(doc), variant)).reports[0]
            assert imported.bundle is not None, imported.problems
            return imported.bundle
        data = load_data(read_text(RICH), str(RICH))
        _extras(data)
        VARIANTS[variant](data)
        return build_bundle(CaseFile.model_validate(data))


@pytest.fixture(scope="module")
def exports() -> Exports:
    return Exports()


@pytest.fixture(scope="module")
def exported(exports) -> dict[str, etree._Element]:
    return {receiver: exports.get("base", receiver) for receiver in SETS}


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
        elif ("in" in cond and not cond.get("not")) or ("not_in" in cond and cond.get("not")):
            if spec.startswith("@"):
                node.set(spec[1:], "X-INVALID")
            else:
                node.text = "X-INVALID"
        elif "max_length" in cond:
            if spec.startswith("@"):
                node.set(spec[1:], "9" * (cond["max_length"] + 1))
            else:
                node.text = "9" * (cond["max_length"] + 1)
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
    for name in SETS:
        for index, rule in enumerate(rule_set(name)["rules"]):
            yield pytest.param(name, index, id=f"{rule['id']}-{index}")


# (rule id, index among the rules of that id) -> plan, for a rule id given twice with different conditions
PLAN_BY_INDEX: dict[tuple[str, int], tuple[str, str | None]] = {
    ("R0008", 1): ("anda", None),
    ("W0003", 1): ("no-patient", "no-patient-race-known"),
    ("W0004", 1): ("no-patient", "no-patient-race-known"),
}


def plan(set_name: str, index: int) -> tuple[str, str | None]:
    rule_id = rule_set(set_name)["rules"][index]["id"]
    nth = sum(r["id"] == rule_id for r in rule_set(set_name)["rules"][:index])
    return PLAN_BY_INDEX.get((rule_id, nth)) or PLAN.get(rule_id, ("base", None))


@pytest.mark.parametrize(("set_name", "index"), all_rules())
def test_rule_passes_and_fails(exports, set_name, index):
    rule = rule_set(set_name)["rules"][index]
    sets = SETS[set_name]
    pass_variant, fail_variant = plan(set_name, index)
    passing = exports.get(pass_variant, set_name)
    assert applies(passing, rule, sets), f"the passing input ({pass_variant}) does not meet {rule.get('when')}"
    assert rule["id"] not in fired(passing, sets), "the passing input must not trigger the rule"
    if fail_variant is not None:
        failing = exports.get(fail_variant, set_name)
    else:
        failing = copy.deepcopy(passing)
        targets = [rule["then"]] if rule.get("then") else list(rule.get("then_any") or [])
        assert all(break_condition(failing, c) for c in targets), f"nothing in {pass_variant} to break"
    assert rule["id"] in fired(failing, sets)


def test_every_rule_has_a_plan_that_exists():
    ids = {rule["id"] for name in SETS for rule in rule_set(name)["rules"]}
    assert set(PLAN) | {rule_id for rule_id, _ in PLAN_BY_INDEX} <= ids
    assert all(v in VARIANTS or v in IMPORTED for pair in [*PLAN.values(), *PLAN_BY_INDEX.values()]
               for v in pair if v is not None)


# failing inputs, and cases ICH itself refuses (D.1 nullFlavor NA, which only FDA takes)
NOT_CLEAN = {"spontaneous-with-study", "concomitant-first", "ind-spontaneous-typed", "ind-other",
             "anda-to-postmarket", "trial-to-evhuman", "device-unnamed", "no-adverse-event-named", "no-patient",
             "no-adverse-event", "ind-to-postmarket", "aggregate-race-known", "no-patient-race-known"}


@pytest.mark.parametrize("variant", sorted((set(VARIANTS) | {"premarket"}) - NOT_CLEAN))
def test_passing_variants_export_cleanly(exports, variant):
    """The variants used as passing inputs are valid cases: no error from any receiver's rules."""
    for receiver, sets in SETS.items():
        errors = [i for i in rules.check(exports.get(variant, receiver), sets) if i.severity == "error"]
        assert errors == [], (variant, receiver, [str(i.__dict__) for i in errors])


def test_first_drug_rule_reads_the_first_drugs_own_role(exports):
    """W0005 looks at the G.k.1 of the first drug block (roles point at drugs by id), not at any drug."""
    doc = exports.get("concomitant-first", "fda")
    issue = next(i for i in rules.check(doc, SETS["fda"]) if i.code == "W0005")
    assert issue.severity == "warning" and issue.location.startswith("G.k.1 (case 1, drug 1)")


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
    # a second outcome (E.i.7) in one reaction: the ICH table allows one per reaction
    "E2B-CARDINALITY": lambda d: [n.addnext(copy.deepcopy(n)) for n in d.xpath(
        "//h:observation[h:code/@code='29']/h:outboundRelationship2[h:observation/h:code/@code='27']",
        namespaces=NS)[:1]] and d,
}


@pytest.mark.parametrize("code", sorted(ELEMENT_CASES))
def test_element_checks(exported, code):
    base = exported["ich"]
    assert code not in fired(base, ("ich",))
    broken = ELEMENT_CASES[code](copy.deepcopy(base))
    assert code in fired(broken, ("ich",))


def test_a_date_less_precise_than_ich_says_how_to_mend_it(exported):
    """'Date of Birth 201103 must be precise to the day' came with no hint; a birth date known to the month
    cannot be made precise, so the hint says what E2B takes instead."""
    broken = copy.deepcopy(exported["ich"])
    births = broken.xpath("//h:primaryRole/h:player1/h:birthTime", namespaces=NS)
    assert births, "the demo export gives a birth date (D.2.1)"
    births[0].set("value", "201103")
    issue = next(i for i in rules.check(broken, ("ich",)) if i.code == "E2B-DATE-PRECISION")
    assert issue.hint.startswith("give it to the day") and "age at onset (D.2.2)" in issue.hint


def test_locations_name_the_e2b_element_and_case(exported):
    broken = ELEMENT_CASES["E2B-VALUE"](copy.deepcopy(exported["ich"]))
    issue = next(i for i in rules.check(broken, ("ich",)) if i.code == "E2B-VALUE")
    assert issue.location.startswith("E.i.7 (case 1, reaction 1)")
    assert issue.layer == "e2b"


@pytest.mark.parametrize("name", ["1", "2", "3", "4", "5-1", "5-2", "5-3"])
def test_fda_examples_pass_fda_rules(shared_dir, monkeypatch, name):
    """FDA's own instances: postmarket (1), a combination product with a malfunction (2), IND safety reports
    (3, and 4 an aggregate one) and IND-exempt BA/BE reports (5-x): no error and no warning."""
    monkeypatch.setenv("REPORTER_TODAY", "2026-01-01")
    doc = etree.parse(str(shared_dir / f"e2b/examples/fda-faers-2022/FAERS2022Scenario{name}.xml"))
    assert rules.check(doc, ("ich", "fda")) == []


def test_a_premarket_7_day_report_is_not_held_to_postmarket_codes(exports):
    """R0012-R0015 are FDA's postmarket rules: a 7-day IND safety report (FDA.C.1.7.1 = 6) met R0016 but
    R0014 refused it ('must be 1')."""
    doc = exports.get("ind-7-day", "fda")
    assert doc.xpath("//h:observationEvent[h:code/@code='C54588']/h:value/@code", namespaces=NS) == ["6"]
    assert not fired(doc, SETS["fda"]) & {"R0012", "R0013", "R0014", "R0015", "R0016"}
    _addressed("ZZFDA", "CDER")(doc)  # the same code sent to the postmarket route: R0014 holds it
    assert "R0014" in fired(doc, SETS["fda"])


def test_meddra_version_spellings_of_one_release_are_not_mixed(shared_dir, monkeypatch):
    """The ICH example writes MedDRA "15" and "15.0": one release, spelled two ways. A real mix is caught."""
    monkeypatch.setenv("REPORTER_TODAY", "2026-01-01")
    doc = etree.parse(str(shared_dir / "e2b/examples/ich-derived/ich-style-HC-followup-MAH.xml"))
    assert "E2B-MEDDRA-VERSION" not in {i.code for i in rules.check(doc, ("ich",))}
    mixed = etree.parse(str(shared_dir / "e2b/examples/ich-derived/ich-style-HC-followup-MAH.xml"))
    reaction = "//h:observation[h:code/@code='29']/h:value[@codeSystem='2.16.840.1.113883.6.163']"
    for coded in mixed.xpath(reaction, namespaces={"h": "urn:hl7-org:v3"})[:1]:
        coded.set("codeSystemVersion", "16.0")
    assert "E2B-MEDDRA-VERSION" in {i.code for i in rules.check(mixed, ("ich",))}


def _reference_reading(doc: etree._Element) -> dict[str, list[tuple[int, str | None, str | None]]]:
    """Every element's (instance number, value, nullFlavor), read the plain way: each group instance from
    its enclosing instance, each element from each instance."""
    d = dictionary()
    instances: dict[str, list[etree._Element]] = {}

    def of(group: str) -> list[etree._Element]:
        if group not in instances:
            spec = d.groups[group]
            instances[group] = doc.xpath(spec.path, namespaces=d.namespaces) if spec.parent is None else \
                [n for outer in of(spec.parent) for n in outer.xpath(spec.path, namespaces=d.namespaces)]
        return instances[group]

    return {e.number: [(i, rules.value_of(n, e), n.get("nullFlavor"))
                       for i, inst in enumerate(of(e.group)) for n in inst.xpath(e.node, namespaces=d.namespaces)]
            for e in d.elements.values() if e.group and e.node}


def _batch_reading(doc: etree._Element) -> dict[str, list[tuple[int, str | None, str | None]]]:
    loc = rules.Locator(doc)
    out = {}
    for e in loc.d.elements.values():
        if e.group and e.node:
            numbers = {id(inst): i for i, inst in enumerate(loc.instances(e.group))}
            out[e.number] = [(numbers[id(loc.owner(n, e))], v, f) for n, v, f in loc.found(e)]
    return out


def test_batch_reading_equals_per_instance_reading(exports, shared_dir):
    """The checker reads each element once per batch; that must give exactly what reading every instance
    on its own gives (rich case per receiver, a three-case batch, FDA's example files)."""
    docs = [exports.get("base", receiver) for receiver in SETS]
    batch = exports.get("base", "fda")
    for message in exports.get("no-history", "fda").findall("h:PORR_IN049016UV", NS) + \
            exports.get("concomitant-first", "fda").findall("h:PORR_IN049016UV", NS):
        batch.find("h:PORR_IN049016UV", NS).addnext(message)
    docs.append(batch)
    docs += [etree.parse(str(p)).getroot() for p in sorted((shared_dir / "e2b/examples").rglob("*.xml"))[:12]]
    for doc in docs:
        assert _batch_reading(doc) == _reference_reading(doc)


def test_set_checked_rules_agree_with_per_block_evaluation(exports, shared_dir):
    """Rules on one block's own elements are checked with set operations; on every rule's failing input
    and on FDA's examples they must fail on exactly the blocks that evaluating each block finds."""
    docs: list[tuple[etree._Element, tuple[str, ...]]] = []
    for name, sets in SETS.items():
        for index, rule in enumerate(rule_set(name)["rules"]):
            broken = exports.get(plan(name, index)[0], name)
            for cond in [rule["then"]] if rule.get("then") else list(rule.get("then_any") or []):
                break_condition(broken, cond)
            docs.append((broken, sets))
    docs += [(etree.parse(str(p)).getroot(), SETS["fda"])
             for p in sorted((shared_dir / "e2b/examples").rglob("*.xml"))[:12]]
    local_rules = 0
    for doc, sets in docs:
        checker = rules.Checker(doc, sets)
        for data in checker.sets:
            for rule in data["rules"]:
                if not rules._is_local(rule, checker.d):
                    continue
                local_rules += 1
                scope = rule["scope"]
                expected = [inst for inst in checker.loc.instances(scope)
                            if all(checker.holds(c, inst, scope) for c in rule.get("when") or ())
                            and not ((rule.get("then") is None or checker.holds(rule["then"], inst, scope))
                                     and (not rule.get("then_any")
                                          or any(checker.holds(c, inst, scope) for c in rule["then_any"])))]
                assert checker._failing_local(rule, scope) == expected, rule["id"]
    assert local_rules > 1000


def _flavored_additional_info(doc: etree._Element) -> etree._Element:
    """A document whose first drug has G.k.10.r as nullFlavor NA (FDA adds it to ICH's, which has none) and
    as UNK (neither allows it)."""
    info = doc.xpath("//h:substanceAdministration/h:outboundRelationship2[h:observation/h:code/@code='9']",
                     namespaces=NS)[0]
    for flavor in ("UNK", "NA"):
        extra = copy.deepcopy(info)
        value = extra.find("h:observation/h:value", NS)
        for attr in [a for a in value.attrib if a != f"{{{NS['xsi']}}}type"]:
            del value.attrib[attr]
        value.set("nullFlavor", flavor)
        info.addnext(extra)
    return doc


def test_one_pass_for_ich_and_receiver_equals_two_checks(exports, shared_dir):
    """The import checks a received report against ICH's set and its receiver's in one pass: that gives
    exactly the issues (same order) of checking each, on every rule's failing input, every element check's
    failing input, a null flavor only FDA accepts, and FDA's examples (values longer than ICH allows)."""
    docs: list[etree._Element] = []
    for name in SETS:
        for index, rule in enumerate(rule_set(name)["rules"]):
            broken = exports.get(plan(name, index)[0], name)
            for cond in [rule["then"]] if rule.get("then") else list(rule.get("then_any") or []):
                break_condition(broken, cond)
            docs.append(broken)
        docs += [case(exports.get("base", name)) for case in ELEMENT_CASES.values()]
        docs.append(_flavored_additional_info(exports.get("base", name)))
    docs += [etree.parse(str(p)).getroot() for p in sorted((shared_dir / "e2b/examples").rglob("*.xml"))[:12]]
    lifted: set[str] = set()
    for doc in docs:
        for sets in SETS.values():
            ich, receiver = rules.check_with_receiver(doc, sets)
            assert ich == rules.check(doc, ("ich",))
            assert receiver == rules.check(doc, sets)
            lifted |= {i.code for i in ich if i not in receiver}
    assert lifted == {"E2B-NULLFLAVOR", "E2B-LENGTH"}


def _reference_given(doc: etree._Element) -> dict[str, list[tuple[int, list[tuple[str | None, str | None]]]]]:
    """Per element, each instance of its group (by number) with its (value, nullFlavor) pairs, read the plain
    way, for the instances that hold any: what Locator.by_instance and Locator.given must agree with."""
    out: dict[str, list[tuple[int, list[tuple[str | None, str | None]]]]] = {}
    for number, reading in _reference_reading(doc).items():
        pairs: dict[int, list[tuple[str | None, str | None]]] = {}
        for i, value, flavor in reading:
            pairs.setdefault(i, []).append((value, flavor))
        out[number] = sorted(pairs.items())
    return out


def test_per_instance_values_on_mutated_documents(exports, shared_dir):
    """On seeded mutations of exported and received documents (elements deleted, duplicated, null-flavored,
    rewritten, reordered, added), the checker's per-instance values (which instance holds each node: found
    one to three levels up inline, or walked) and the instances where an element is given are exactly what
    reading every instance on its own gives; the issues are those of checking each document afresh."""
    from tests.e2b import mutations

    sources = {f"{name}.xml": etree.tostring(exports.get(variant, name)) for name in SETS
               for variant in ("base", "no-history")}
    sources |= {p.name: p.read_bytes() for p in sorted((shared_dir / "e2b/examples").rglob("*.xml"))[:12]}
    kinds = tuple(k for k in mutations.KINDS if k != "graft")
    checked = 0
    for variant in mutations.variants(sources, 20261128, 120, kinds):
        doc = etree.fromstring(variant.xml)
        loc = rules.Locator(doc)
        reading = {}
        for e in loc.d.elements.values():
            if not (e.group and e.node):
                continue
            numbers = {id(inst): i for i, inst in enumerate(loc.instances(e.group))}
            reading[e.number] = sorted((numbers[id(inst)], pairs) for inst, pairs in loc.by_instance(e).items())
            given = sorted(numbers[id(inst)] for inst in loc.given(e))
            assert given == [i for i, pairs in reading[e.number]
                             if any(v is not None or f for v, f in pairs)], (variant.what, e.number)
        assert reading == _reference_given(doc), variant.what
        assert rules.check(doc, SETS["fda"], loc) == rules.check(etree.fromstring(variant.xml), SETS["fda"])
        checked += 1
    assert checked > 80


def test_the_message_is_created_when_the_report_is(exported):
    """ICH: N.2.r.4 (date of message creation) is the same as C.1.2 (MFDS rejects a batch where they differ):
    the export writes C.1.2 there, and the rule catches a message that says otherwise."""
    base = exported["ich"]
    message_time = base.xpath("//h:PORR_IN049016UV/h:creationTime/@value", namespaces=NS)
    assert message_time == base.xpath("//h:controlActProcess/h:effectiveTime/@value", namespaces=NS)
    assert "ICH-N.2.r.4" not in fired(base, ("ich",))
    broken = _set(copy.deepcopy(base), "//h:PORR_IN049016UV/h:creationTime", value="20240115120000+0000")
    assert "ICH-N.2.r.4" in fired(broken, ("ich",))


def test_the_parents_meddra_terms_count_in_the_one_version_rule(exported):
    """One MedDRA version per case covers the parent's history and past drugs (D.10.7.1.r.1a, D.10.8.r.6a/7a)
    too: a parent's term coded in another release was not caught."""
    broken = copy.deepcopy(exported["ich"])
    nodes = broken.xpath("//h:role[h:code/@code='PRN']//h:substanceAdministration/h:outboundRelationship2/"
                         "h:observation/h:value", namespaces=NS)
    assert nodes, "the rich export gives the parent's past drug with MedDRA terms"
    nodes[0].set("codeSystemVersion", "27.0")
    assert "E2B-MEDDRA-VERSION" in fired(broken, ("ich",))


def test_an_ind_report_without_cross_reported_inds_says_so(exports):
    """FDA rejects an IND safety report whose FDA.C.5.6.r (cross-reported IND) is neither given nor nullFlavor NA
    (R0026): the export wrote nothing for a case with no cross-reported IND; it writes NA, which the import reads
    back as none."""
    doc = exports.get("ind-alone", "fda")
    ids = doc.xpath("//h:studyRegistration/h:id[@root='2.16.840.1.113883.3.989.5.1.2.2.1.2.3']", namespaces=NS)
    assert [(i.get("nullFlavor"), i.get("extension")) for i in ids] == [("NA", None)]
    assert [i for i in rules.check(doc, SETS["fda"]) if i.severity == "error"] == []
    imported = import_loaded(xmlsafe.parse_bytes(etree.tostring(doc), "ind-alone")).reports[0]
    study = next(e["resource"] for e in imported.bundle["entry"] if e["resource"]["resourceType"] == "ResearchStudy")
    assert [i.get("value") for i in study["identifier"] if i["system"].endswith("fda-ind")] == ["123456"]
    assert not any("cross-reported" in i["system"] for i in study["identifier"])
    assert imported.problems == []


def test_fda_takes_no_patient_as_nullflavor_na(exports):
    """D.1 nullFlavor NA (no patient: a malfunction without an adverse event) is FDA's own addition to ICH's null
    flavors and what R0027 requires: the FDA export has no error, a plain ICH one still refuses it."""
    assert [i for i in rules.check(exports.get("no-adverse-event", "fda"), SETS["fda"]) if i.severity == "error"] == []
    assert "E2B-NULLFLAVOR" in fired(exports.get("no-adverse-event", "ich"), SETS["ich"])


def test_a_clinical_trial_report_goes_to_eudravigilances_clinical_trials_module(exports):
    """EudraVigilance's post-authorisation module (EVHUMAN) refuses a report from a clinical trial (C.5.4 = 1):
    the EMA export addresses it to EVCTMPROD, and a study of another kind to EVHUMAN."""
    receivers = "h:receiver/h:device/h:id/@extension"
    trial, other = exports.get("base", "ema"), exports.get("other-study", "ema")
    assert trial.xpath(receivers, namespaces=NS) == ["EVCTMPROD"]
    assert trial.xpath(f"h:PORR_IN049016UV/{receivers}", namespaces=NS) == ["EVCTMPROD"]
    assert other.xpath(receivers, namespaces=NS) == ["EVHUMAN"]
    assert not fired(trial, SETS["ema"]) & {"EMA-C.5.4-EVPM", "EMA-C.1.3-EVPM"}


def test_fda_takes_a_shorter_mpid_than_ich(exported):
    """FDA's MPID (G.k.2.1.1b) is an NDC code of at most 20 characters; ICH takes 1000: a 23-character EU
    product identifier passes ICH and is refused for FDA."""
    doc = copy.deepcopy(exported["fda"])
    mpid = doc.xpath("//h:organizer[h:code/@code='4']//h:kindOfProduct/h:code", namespaces=NS)[0]
    mpid.set("code", "EU-1-23-4567-890-123456")
    assert "FDA-G.k.2.1.1b-LENGTH" in fired(doc, SETS["fda"])
    assert "E2B-LENGTH" not in fired(doc, SETS["ich"])
