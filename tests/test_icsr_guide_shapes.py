"""Bundles in the shapes of HL7's ICSR guide (hl7.fhir.us.icsr-ae-reporting 1.0.1, STU1 technical correction):
its profiles code MedDRA as http://meddra.org and give each seriousness criterion as an extension
(icsr-ext-eventseriousness) on AdverseEvent.seriousness. Such a Bundle's reactions had no MedDRA code and a serious
reaction no criterion (refused: ICSR-SERIOUS-CRITERIA) where the same facts in this project's form were read."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from click.testing import CliRunner
from lxml import etree

from reporter.cli import main
from reporter.e2b.export import export_bundles
from reporter.fhir.to_case import bundle_to_case
from reporter.inputs import load_bundle
from reporter.tables import ext, system
from reporter.validation import validate_bundle

REPO = Path(__file__).resolve().parents[1]
CASE = REPO / "examples" / "case1-anakinra-hepatitis.yaml"
GUIDE_MEDDRA = "http://meddra.org"
ICH_CRITERIA = "urn:oid:2.16.840.1.113883.3.989.2.1.1.19"


def _recode_meddra(node: Any) -> None:
    if isinstance(node, dict):
        if node.get("system") == system("meddra"):
            node["system"] = GUIDE_MEDDRA
        for value in node.values():
            _recode_meddra(value)
    elif isinstance(node, list):
        for value in node:
            _recode_meddra(value)


def _guide_seriousness(event: dict) -> None:
    """The criteria that hold as the guide gives them; this project's criterion extensions dropped."""
    ours = [e for e in event.get("extension", []) if e["url"] == ext("seriousness_criterion")]
    event["extension"] = [e for e in event.get("extension", []) if e not in ours]
    present = [next(s["valueCoding"]["code"] for s in e["extension"] if s["url"] == "criterionCode")
               for e in ours if {"url": "criterionPresent", "valueBoolean": True} in e["extension"]]
    serious = "serious" if present else "non-serious"
    event["seriousness"] = {"coding": [{"system": system("ae_seriousness"), "code": serious}]}
    if present:
        event["seriousness"]["extension"] = [
            {"url": ext("event_seriousness"), "valueCodeableConcept": {"coding": [{"system": ICH_CRITERIA,
                                                                                 "code": code}]}}
            for code in present]


def _guide_form(bundle: dict) -> dict:
    out = copy.deepcopy(bundle)
    _recode_meddra(out)
    for entry in out["entry"]:
        if entry["resource"]["resourceType"] == "AdverseEvent":
            _guide_seriousness(entry["resource"])
    return out


def _present(reaction: Any) -> set[str]:
    return {k for k, v in (reaction.seriousness.model_dump(exclude_none=True)).items() if v is True}


def test_guide_meddra_and_seriousness_are_read_as_ours() -> None:
    ours = load_bundle(CASE)
    guide = _guide_form(ours)
    assert GUIDE_MEDDRA in str(guide) and ext("seriousness_criterion") not in str(guide)
    found = validate_bundle(guide).issues
    assert not [i for i in found if i.severity == "error"], [str(i) for i in found if i.severity == "error"]
    assert not [i for i in found if i.code in ("ICSR-REACTION-MEDDRA", "FHIR-NOT-READ")]
    mine, theirs = bundle_to_case(ours), bundle_to_case(guide)
    assert [r.meddra for r in theirs.reactions] == [r.meddra for r in mine.reactions]
    assert [_present(r) for r in theirs.reactions] == [_present(r) for r in mine.reactions]
    assert any(_present(r) for r in theirs.reactions)
    assert [h.meddra for h in theirs.patient.medical_history] == [h.meddra for h in mine.patient.medical_history]
    assert _sent(guide) == _sent(ours) and _sent(ours)[1]


def _sent(bundle: dict) -> tuple[list[str], list[str]]:
    """The E2B export's reaction MedDRA codes (E.i.2.1b) and the seriousness criteria it sends as true."""
    root = etree.fromstring(export_bundles([bundle]).xml)
    ns = {"h": "urn:hl7-org:v3"}
    terms = root.xpath("//h:observation[h:code/@code='29']/h:value/@code", namespaces=ns)
    criteria = [c for c in ("34", "21", "33", "35", "12", "26") for _ in root.xpath(
        f"//h:observation[h:code/@code='{c}' and h:code/@codeSystem='{ICH_CRITERIA[8:]}' "
        "and h:value/@value='true']", namespaces=ns)]
    return terms, criteria


def test_a_criterion_of_another_list_is_said_not_read() -> None:
    guide = _guide_form(load_bundle(CASE))
    entry = next(n for n, e in enumerate(guide["entry"]) if e["resource"]["resourceType"] == "AdverseEvent")
    seriousness = guide["entry"][entry]["resource"]["seriousness"]
    n = len(seriousness["extension"])
    seriousness["extension"].append({"url": ext("event_seriousness"), "valueCodeableConcept": {
        "coding": [{"system": "http://ncimeta.nci.nih.gov", "code": "C53513", "display": "Emergency Room"}]}})
    (issue,) = [i for i in validate_bundle(guide).issues if i.code == "FHIR-NOT-READ"]
    assert issue.location == f"Bundle.entry[{entry}].resource.ofType(AdverseEvent).seriousness.extension[{n}]"
    assert "C53513" in issue.message and "E.i.3.2" in issue.message


def _with_administration(bundle: dict) -> tuple[dict, int]:
    """The document with a concomitant drug added as the guide gives it: a MedicationAdministration listed in
    the DrugInformation section (its one dosage an object, not a list), linked from the first AdverseEvent."""
    out = copy.deepcopy(bundle)
    url = "urn:uuid:7c1d6a52-5d0c-4d57-9f55-3d2f0e3a9b11"
    out["entry"].append({"fullUrl": url, "resource": {
        "resourceType": "MedicationAdministration", "status": "completed",
        "medicationCodeableConcept": {"coding": [{"system": "http://www.nlm.nih.gov/research/umls/rxnorm",
                                                  "code": "3498", "display": "Diphenhydramine"}]},
        "subject": out["entry"][0]["resource"]["subject"], "effectiveDateTime": "2019-06-02",
        "dosage": {"text": "25 mg IV", "dose": {"value": 25, "unit": "mg", "system": "http://unitsofmeasure.org",
                                                 "code": "mg"}}}})
    section = next(s for s in out["entry"][0]["resource"]["section"] if s["code"]["coding"][0]["code"]
                   == "DrugInformation")
    section["entry"].append({"reference": url})
    event = next(e["resource"] for e in out["entry"] if e["resource"]["resourceType"] == "AdverseEvent")
    event["suspectEntity"].append({"instance": {"reference": url}})
    return out, len(out["entry"]) - 1


def test_a_drug_listed_as_the_guide_s_medication_administration_is_refused_at_its_entry(tmp_path: Path) -> None:
    ours = load_bundle(CASE)
    guide, n = _with_administration(ours)
    where = f"Bundle.entry[{n}].resource.ofType(MedicationAdministration)"
    found = [i for i in validate_bundle(guide).issues if i.code == "BUNDLE-SECTION-TYPE"]
    assert [(i.severity, i.location) for i in found] == [("error", where)]
    assert "DrugInformation" in found[0].message and "MedicationStatement" in found[0].message
    assert "drug-role" in found[0].hint and "boundsPeriod" in found[0].hint
    assert not [i for i in validate_bundle(guide).issues if i.location.startswith(where + ".")]
    assert bundle_to_case(guide).drugs == bundle_to_case(ours).drugs
    path = tmp_path / "guide.json"
    path.write_text(json.dumps(guide), encoding="utf-8")
    result = CliRunner().invoke(main, ["e2b", str(path), "-o", str(tmp_path / "out.xml")])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert f"{where}: this MedicationAdministration" in result.output


def _with_guide_report_type(code: str) -> tuple[dict, str]:
    """The document whose FDA report type (FDA.C.1.7.1) is said as the guide says it: an NCIt code in the
    localCriteriaReportType of its expedited-report extension; this project's own extension dropped."""
    bundle = copy.deepcopy(load_bundle(CASE))
    comp = bundle["entry"][0]["resource"]
    comp["extension"] = [e for e in comp["extension"] if e["url"] != ext("fda_report_type")]
    outer = next((n for n, e in enumerate(comp["extension"]) if e["url"] == ext("expedited_report")), None)
    if outer is None:
        comp["extension"].append({"url": ext("expedited_report"), "extension": [
            {"url": "localCriteriaFlag", "valueBoolean": True}]})
        outer = len(comp["extension"]) - 1
    subs = comp["extension"][outer]["extension"]
    subs[:] = [s for s in subs if s["url"] != "localCriteriaReportType"] + [
        {"url": "localCriteriaReportType", "valueCodeableConcept": {"coding": [
            {"system": "urn:oid:2.16.840.1.113883.3.989.2.1.1.1003", "code": code}]}}]
    return bundle, f"Bundle.entry[0].resource.ofType(Composition).extension[{outer}].extension[{len(subs) - 1}]"


def test_the_guide_s_local_criteria_report_type_is_fda_c_1_7_1() -> None:
    bundle, _ = _with_guide_report_type("C53573")  # 5-day
    assert bundle_to_case(bundle).report.fda_report_type == "5-day"
    root = etree.fromstring(export_bundles([bundle], receiver_name="fda").xml)
    sent = root.xpath("//h:observationEvent[h:code/@code='C54588']/h:value/@code", namespaces={"h": "urn:hl7-org:v3"})
    assert sent == ["4"]
    assert not [i for i in validate_bundle(bundle).issues if i.code == "FHIR-NOT-READ"]


def test_a_local_criteria_report_type_of_no_known_code_is_said_not_read() -> None:
    bundle, where = _with_guide_report_type("C156385")  # malfunction only: no FDA.C.1.7.1 value of FDA's list
    assert bundle_to_case(bundle).report.fda_report_type is None
    (issue,) = [i for i in validate_bundle(bundle).issues if i.code == "FHIR-NOT-READ"]
    assert issue.location == where and "C156385" in issue.message and "C.1.7.1" in issue.message


def test_a_related_person_author_is_said_not_read_at_its_place() -> None:
    """The guide's consumer reporter (author a RelatedPerson) beside a PractitionerRole author: the case kept the
    PractitionerRole only and said nothing of the other."""
    bundle = copy.deepcopy(load_bundle(CASE))
    comp = bundle["entry"][0]["resource"]
    patient = comp["subject"]
    bundle["entry"].append({"fullUrl": "urn:uuid:3b0f0a4e-8a51-4f4e-a7c0-6a7e1c2d9f10", "resource": {
        "resourceType": "RelatedPerson", "patient": patient, "name": [{"family": "Moreau", "given": ["Lise"]}]}})
    comp["author"].append({"reference": "urn:uuid:3b0f0a4e-8a51-4f4e-a7c0-6a7e1c2d9f10"})
    n = len(comp["author"]) - 1
    (issue,) = [i for i in validate_bundle(bundle).issues if i.code == "FHIR-NOT-READ"]
    assert issue.location == f"Bundle.entry[0].resource.ofType(Composition).author[{n}]"
    assert "RelatedPerson" in issue.message and "C.2.r" in issue.message and "Consumer" in issue.hint


def test_a_damaged_coding_system_names_no_system() -> None:
    """A system that is no string (a list, a number: damaged input) is no MedDRA and no other system: reading
    and the report go on. Matching a system's aliases by set membership had raised 'unhashable type' on it."""
    from reporter.fhir import read
    from reporter.tables import in_system

    concept = {"coding": [{"system": ["http://meddra.org"], "code": "10019717", "display": "Hepatitis"}]}
    assert not in_system(["http://meddra.org"], "meddra") and not in_system(7, "meddra")
    assert in_system("http://meddra.org", "meddra")
    assert read.coding(concept, "meddra") is None
    assert read.concept_text(concept) == "Hepatitis"
