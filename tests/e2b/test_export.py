"""E2B export: golden files per demo case and receiver (XSD-valid), an independent reader, batches, CLI."""

from __future__ import annotations

import subprocess
import sys

import pytest
from lxml import etree

from reporter.e2b.export import build_batch, export_bundles, serialize
from tests.conftest import EXAMPLES, GOLDEN, REPO, check_golden
from tests.e2b.helpers import FIXED_BATCH, FIXED_TIME, RECEIVERS, bundle_for

NS = {"h": "urn:hl7-org:v3", "xsi": "http://www.w3.org/2001/XMLSchema-instance"}
DEMOS = sorted(EXAMPLES.glob("case*.yaml"))


@pytest.mark.parametrize("receiver", RECEIVERS)
@pytest.mark.parametrize("case", DEMOS, ids=lambda p: p.stem)
def test_golden_and_valid(case, receiver, e2b_schema_dir, update_golden):
    result = export_bundles([bundle_for(case)], receiver_name=receiver, batch_id=FIXED_BATCH,
                            creation_time=FIXED_TIME, schema_dir=e2b_schema_dir)
    assert result.check.xsd == "valid", result.check.text()
    assert result.check.ok, result.check.text()
    check_golden(GOLDEN / "e2b" / f"{case.stem}.{receiver}.xml", result.xml.decode("utf-8"), update_golden)


def test_three_demo_cases_make_one_batch_with_three_reports(e2b_schema_dir):
    result = export_bundles([bundle_for(c) for c in DEMOS], receiver_name="fda", schema_dir=e2b_schema_dir)
    assert result.check.ok, result.check.text()
    doc = etree.fromstring(result.xml)
    assert doc.tag == "{urn:hl7-org:v3}MCCI_IN200100UV01"
    assert len(doc.xpath("h:PORR_IN049016UV", namespaces=NS)) == 3
    assert [e for e in result.check.issues if e.code.startswith("R0")] == []


def test_batch_ids_are_unique_by_default():
    bundle = bundle_for(DEMOS[0])
    first, _ = build_batch([bundle])
    second, _ = build_batch([bundle])
    assert first.xpath("h:id/@extension", namespaces=NS) != second.xpath("h:id/@extension", namespaces=NS)
    assert first.xpath("h:creationTime/@value", namespaces=NS)[0][-5:] == "+0000"


def _independent_read(xml: bytes) -> dict:
    """A reader written from the ICH guide, not from the exporter: plain XPath over the message."""
    doc = etree.fromstring(xml)
    msg = doc.xpath("h:PORR_IN049016UV", namespaces=NS)[0]
    event = msg.xpath("h:controlActProcess/h:subject/h:investigationEvent", namespaces=NS)[0]
    role = event.xpath("h:component/h:adverseEventAssessment/h:subject1/h:primaryRole", namespaces=NS)[0]
    reactions = [(o.xpath("string(h:value/@code)", namespaces=NS), o.xpath("string(h:id/@root)", namespaces=NS))
                 for o in role.xpath("h:subjectOf2/h:observation[h:code/@code='29']", namespaces=NS)]
    drugs = {}
    for sa in role.xpath("h:subjectOf2/h:organizer[h:code/@code='4']/h:component/h:substanceAdministration",
                         namespaces=NS):
        drug_id = sa.xpath("string(h:id/@root)", namespaces=NS)
        name = sa.xpath("string(h:consumable/h:instanceOfKind/h:kindOfProduct/h:name)", namespaces=NS)
        role_code = event.xpath(
            f"string(.//h:causalityAssessment[h:code/@code='20'][h:subject2/h:productUseReference/h:id/@root="
            f"'{drug_id}']/h:value/@code)", namespaces=NS)
        drugs[name] = role_code
    labs = [(o.xpath("string(h:code/h:originalText)", namespaces=NS),
             o.xpath("string(h:value/h:center/@value)", namespaces=NS),
             o.xpath("string(h:value/h:center/@unit)", namespaces=NS))
            for o in role.xpath("h:subjectOf2/h:organizer[h:code/@code='3']/h:component/h:observation",
                                namespaces=NS)]
    return {"sex": role.xpath("string(h:player1/h:administrativeGenderCode/@code)", namespaces=NS),
            "age": role.xpath("string(h:subjectOf2/h:observation[h:code/@code='3']/h:value/@value)", namespaces=NS),
            "reactions": reactions, "drugs": drugs, "labs": labs}


def test_independent_reader_finds_patient_reactions_drugs_and_labs():
    result = export_bundles([bundle_for(DEMOS[0])], receiver_name="ich")
    seen = _independent_read(result.xml)
    assert seen["sex"] == "1" and seen["age"] == "12"
    assert [code for code, _ in seen["reactions"]] == ["10019717", "10028813"]
    assert all(len(uid) == 36 for _, uid in seen["reactions"])
    assert seen["drugs"]["Anakinra"] == "1"
    assert seen["drugs"]["Aspirin"] == "2"
    assert ("ALT", "4065", "U/L") in seen["labs"]


def test_relative_times_become_interval_and_test_comment():
    doc = etree.fromstring(export_bundles([bundle_for(DEMOS[0])], receiver_name="ich").xml)
    interval = doc.xpath("//h:substanceAdministration/h:outboundRelationship1[@typeCode='SAS']/h:pauseQuantity",
                         namespaces=NS)
    assert interval and interval[0].get("value") == "20" and interval[0].get("unit") == "d"
    alt = doc.xpath("//h:organizer[h:code/@code='3']/h:component/h:observation"
                    "[h:value/h:center/@value='4065']", namespaces=NS)[0]
    assert alt.xpath("h:effectiveTime/@nullFlavor", namespaces=NS) == ["UNK"]
    assert "Day 21 after the first dose of Anakinra" in alt.xpath(
        "string(h:outboundRelationship2/h:observation[h:code/@code='10']/h:value)", namespaces=NS)
    additional = doc.xpath("string(//h:observation[h:code/@code='2']/h:value)", namespaces=NS)
    assert "Dechallenge" in additional


def test_a_relative_onset_is_sent_as_the_interval_when_no_drug_reaction_link_was_entered():
    """A case entered in the form with the onset "day 20 after the first anakinra dose" but no drug-reaction
    link (the form's drug 'Reactions' list left empty) exported neither E.i.4 nor G.k.9.i.3.1: the onset was
    dropped unsaid. It now goes to the pair's interval, as it does when the link is entered."""
    from reporter.casefile.model import CaseFile
    from reporter.fhir.build import build_bundle
    from tests.e2b.helpers import case_data

    data = case_data(DEMOS[0])
    for drug in data["drugs"]:
        drug.pop("reactions", None)
    data.pop("causality", None)
    result = export_bundles([build_bundle(CaseFile.model_validate(data))], receiver_name="ich")
    doc = etree.fromstring(result.xml)
    interval = doc.xpath("//h:substanceAdministration/h:outboundRelationship1[@typeCode='SAS']/h:pauseQuantity",
                         namespaces=NS)
    assert [(i.get("value"), i.get("unit")) for i in interval] == [("20", "d")] * 2  # hepatitis and nausea
    assert not [i for i in result.check.issues if i.severity == "error"]


def test_receivers_use_their_ids_and_route_code_systems():
    bundle = bundle_for(DEMOS[0])
    fda = etree.fromstring(export_bundles([bundle], receiver_name="fda").xml)
    ich = etree.fromstring(export_bundles([bundle], receiver_name="ich").xml)
    ema = etree.fromstring(export_bundles([bundle], receiver_name="ema").xml)
    assert fda.xpath("string(h:receiver/h:device/h:id/@extension)", namespaces=NS) == "ZZFDA"
    assert fda.xpath("string(h:PORR_IN049016UV/h:receiver/h:device/h:id/@extension)", namespaces=NS) == "CDER"
    assert ema.xpath("string(h:receiver/h:device/h:id/@extension)", namespaces=NS) == "EVHUMAN"
    assert ich.xpath("//h:routeCode/@codeSystem", namespaces=NS)[0] == "2.16.840.1.113883.3.989.2.1.1.14"
    assert fda.xpath("//h:observationEvent/h:code[@code='C54588']", namespaces=NS)
    assert not ich.xpath("//h:observationEvent/h:code[@code='C54588']", namespaces=NS)


def _run(*args, env_schema=None):
    import os
    env = dict(os.environ, PYTHONPATH=str(REPO))
    if env_schema:
        env["REPORTER_E2B_SCHEMA_DIR"] = str(env_schema)
    else:
        env.pop("REPORTER_E2B_SCHEMA_DIR", None)
    return subprocess.run([sys.executable, "-m", "reporter.cli", "e2b", *args], capture_output=True, text=True,
                          env=env, cwd=REPO, timeout=120)


def test_cli_writes_valid_batch(tmp_path, e2b_schema_dir):
    out = tmp_path / "batch.xml"
    proc = _run("--receiver", "ich", *map(str, DEMOS), "-o", str(out), env_schema=e2b_schema_dir)
    assert proc.returncode == 0, proc.stderr
    assert "XSD: valid" in proc.stderr
    assert len(etree.parse(str(out)).xpath("h:PORR_IN049016UV", namespaces=NS)) == 3


def test_cli_refuses_invalid_output_unless_forced(tmp_path):
    out = tmp_path / "dup.xml"
    proc = _run(str(DEMOS[0]), str(DEMOS[0]), "-o", str(out))
    assert proc.returncode == 1 and "E2B-DUPLICATE-MESSAGE" in proc.stderr and not out.exists()
    assert "XSD validation skipped" in proc.stderr
    proc = _run("--force", str(DEMOS[0]), str(DEMOS[0]), "-o", str(out))
    assert proc.returncode == 1 and out.exists()  # written as asked, but the exit code says it has errors
    assert "written with --force, but the batch fails validation" in proc.stderr


def test_cli_bad_input_is_a_clear_error(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"resourceType": "Patient"}')
    proc = _run(str(bad))
    assert proc.returncode == 2 and "found a Patient" in proc.stderr and "Traceback" not in proc.stderr


def test_serialization_is_utf8_with_declaration():
    batch, _ = build_batch([bundle_for(DEMOS[0])], batch_id=FIXED_BATCH, creation_time=FIXED_TIME)
    assert serialize(batch).startswith(b"<?xml version='1.0' encoding='UTF-8'?>")


def test_blinded_investigational_product_is_written_and_read_back(tmp_path, e2b_schema_dir):
    """G.k.2.5 sits at substanceAdministration/outboundRelationship2/observation[code 6] (ICH/MFDS XPath)."""
    import json

    from reporter import yaml12
    from reporter.casefile import parse_case
    from reporter.e2b.importer import import_file
    from reporter.fhir import read
    from reporter.fhir.build import build_bundle

    data = yaml12.load(DEMOS[0].read_text(encoding="utf-8"))
    data["drugs"][0]["blinded"] = True
    out = export_bundles([build_bundle(parse_case(json.dumps(data)))], receiver_name="ich", schema_dir=e2b_schema_dir)
    assert out.check.xsd == "valid" and not out.check.errors
    doc = etree.fromstring(out.xml)
    ns = {"h": "urn:hl7-org:v3"}
    values = doc.xpath("//h:substanceAdministration/h:outboundRelationship2[@typeCode='PERT']"
                       "/h:observation[h:code/@code='6']/h:value/@value", namespaces=ns)
    assert values == ["true"]
    path = tmp_path / "blinded.xml"
    path.write_bytes(out.xml)
    (report,) = import_file(path).reports
    medications = read.BundleIndex(report.bundle).all("Medication")
    assert any(read.ext_value(m, "blinded") is True for m in medications)


def test_onset_interval_is_worked_out_from_dates(e2b_schema_dir) -> None:
    """A drug started 2005-08-01 and a reaction on 2005-10-25: G.k.9.i.3.1 = 85 d; a month-precision onset
    gives a range, which E2B cannot carry, so nothing is written rather than a rounded number."""
    from reporter.casefile import model as m
    from reporter.fhir.build import build_bundle

    def export_onset(onset: str) -> list[tuple[str, str]]:
        case = m.CaseFile(
            case_id="XX-TEST-085", report=m.Report(type="spontaneous", first_received="2005-11-01",
                                                  most_recent="2005-11-01"),
            patient=m.Patient(initials="AB"),
            reactions=[m.Reaction(id="rash", verbatim="rash", onset=onset)],
            drugs=[m.Drug(id="d", role="suspect", product="Drug X",
                          dosages=[m.Dosage(start="2005-08-01")], reactions=[m.DrugReaction(reaction="rash")])])
        out = export_bundles([build_bundle(case)], receiver_name="ich", schema_dir=e2b_schema_dir)
        assert out.check.xsd == "valid"
        doc = etree.fromstring(out.xml)
        return [(q.get("value"), q.get("unit")) for q in doc.iter("{urn:hl7-org:v3}pauseQuantity")
                if q.getparent().get("typeCode") == "SAS"]

    assert export_onset("2005-10-25") == [("85", "d")]
    assert export_onset("2005-10") == []


def test_what_the_case_holds_for_another_region_is_said_not_sent(shared_dir, e2b_schema_dir, monkeypatch) -> None:
    """FDA's regional elements a case holds (an imported FAERS report: race, ethnicity, devices, the reporter's
    email...) have no place for ICH or EMA: the export says which it leaves out and who would take them, and
    says nothing of them for FDA, which gets them all."""
    from reporter.e2b import importer

    monkeypatch.setenv("REPORTER_E2B_SCHEMA_DIR", str(e2b_schema_dir))
    [report] = importer.import_file(shared_dir / "e2b" / "examples" / "fda-faers-2022" /
                                    "FAERS2022Scenario2.xml").reports
    held = {"FDA.D.11.r", "FDA.D.12", "FDA.G.k.12.r", "FDA.C.1.7.1", "FDA.C.1.12", "FDA.C.2.r.2.8"}
    for name in ("ich", "ema"):
        said = [i for i in export_bundles([report.bundle], receiver_name=name).check.issues
                if i.code == "E2B-NOT-SENT"]
        assert {i.location.split(" ")[0] for i in said} == held, name
        assert all(i.severity == "information" and "--receiver fda" in (i.hint or "") for i in said)
        assert any(i.message.startswith("the case holds Patient Race (FDA.D.11.r)") for i in said)
    assert not [i for i in export_bundles([report.bundle], receiver_name="fda").check.issues
                if i.code == "E2B-NOT-SENT"]


def test_times_held_relative_to_a_drug_where_e2b_takes_a_date_are_said_not_sent() -> None:
    """A dosage's start and stop and a reaction's end given as 'day 10 of therapy' have no E2B element (they
    take dates): the export says so for each, naming the drug, instead of dropping them unsaid."""
    from reporter.casefile.model import CaseFile
    from reporter.e2b.export import export_bundles
    from reporter.fhir.build import build_bundle
    from tests.assess.support import case_data

    relative = case_data(start={"value": 0, "unit": "d", "drug": "x"}, stop={"value": 9, "unit": "d", "drug": "x"},
                         end={"value": 3, "unit": "wk", "drug": "x", "anchor": "last-dose"})
    issues = export_bundles([build_bundle(CaseFile.model_validate(relative))]).check.issues
    said = {i.location.split(" ")[0]: i.message for i in issues if i.code == "E2B-NOT-SENT"}
    assert set(said) == {"G.k.4.r.4", "G.k.4.r.5", "E.i.5"}
    assert "Day 9 after the first dose of Drugex" in said["G.k.4.r.5"] and said["E.i.5"].endswith("not sent")
    dated = case_data(start="2024-01-01", stop="2024-01-10", end="2024-02-01")
    issues = export_bundles([build_bundle(CaseFile.model_validate(dated))]).check.issues
    assert not [i for i in issues if i.code == "E2B-NOT-SENT"]


def test_a_dosage_from_day_3_to_day_10_of_therapy_sends_its_duration_8_days() -> None:
    """The relative start and stop have no E2B element (said not sent), but the overall duration of
    administration (G.k.4.r.6) they give does: both days counted, as ICH's literature example counts E.i.6 (9
    October to 1 December 2008: 54 d) and CIOMS box 19 counts days. An 'about' or a last-dose time gives none."""
    from reporter.casefile.model import CaseFile
    from reporter.fhir.build import build_bundle
    from tests.assess.support import case_data

    def width(start: dict, stop: dict) -> list[tuple[str, str]]:
        result = export_bundles([build_bundle(CaseFile.model_validate(case_data(start=start, stop=stop)))])
        assert {i.location.split(" ")[0] for i in result.check.issues if i.code == "E2B-NOT-SENT"} >= {
            "G.k.4.r.4", "G.k.4.r.5"}
        assert result.check.xsd == "valid"  # a width alone is a valid IVL_TS
        doc = etree.fromstring(result.xml)
        return [(w.get("value"), w.get("unit")) for w in doc.xpath(
            "//h:substanceAdministration/h:outboundRelationship2/h:substanceAdministration/h:effectiveTime"
            "//h:width", namespaces=NS)]

    day = {"unit": "d", "drug": "x"}
    assert width({"value": 3, **day}, {"value": 10, **day}) == [("8", "d")]
    assert width({"value": 0, **day}, {"value": 2, "unit": "wk", "drug": "x"}) == [("15", "d")]
    assert width({"value": 3, **day}, {"value": 10, **day, "qualifier": "about"}) == []
    assert width({"value": 3, **day}, {"value": 10, **day, "anchor": "last-dose"}) == []


def test_a_drug_reaction_link_that_states_nothing_e2b_carries_is_said_not_sent() -> None:
    """A suspect linked to a reaction with no time, causality, de- or rechallenge (a literature case that
    names the pairing only): E2B has no drug-reaction entry to carry it, so it was dropped unsaid; an import
    then paired the drug with every reaction."""
    from reporter.casefile.model import CaseFile
    from reporter.e2b.export import export_bundles
    from reporter.fhir.build import build_bundle
    from tests.assess.support import case_data

    bare = case_data(onset=None, dechallenge=None, rechallenge=None)
    issues = export_bundles([build_bundle(CaseFile.model_validate(bare))]).check.issues
    said = [i for i in issues if i.code == "E2B-NOT-SENT"]
    assert [i.location.split(" ")[0] for i in said] == ["G.k.9.i.1"]
    assert "the link of Drugex to 'Hepatitis'" in said[0].message
    for stated in (case_data(onset=None, rechallenge=None), case_data(dechallenge=None, rechallenge=None)):
        issues = export_bundles([build_bundle(CaseFile.model_validate(stated))]).check.issues
        assert not [i for i in issues if i.code == "E2B-NOT-SENT"]


def test_a_history_item_without_its_meddra_code_is_said_not_sent() -> None:
    """'Kidney transplant' as a medical history term with no MedDRA code: D.7.1.r takes only the code, so the
    condition left the E2B file unsaid (an empty code element). The export now says so for the patient's and
    the parent's history, naming the term and the case-file field, with what to do."""
    from reporter.casefile.model import CaseFile
    from reporter.e2b.export import export_bundles
    from reporter.e2b.readiness import case_path
    from reporter.fhir.build import build_bundle
    from tests.assess.support import case_data

    data = case_data()
    data["patient"]["medical_history"] = [
        {"term": "Hypertension", "meddra": {"code": "10020772", "version": "27.1"}},
        {"term": "Kidney transplant", "continuing": True}]
    data["patient"]["parent"] = {"sex": "female", "medical_history": [{"term": "Chronic hypertension"}]}
    issues = export_bundles([build_bundle(CaseFile.model_validate(data))]).check.issues
    said = sorted((i for i in issues if i.code == "E2B-NOT-SENT"), key=lambda i: len(i.location))
    assert [i.location for i in said] == ["D.7.1.r.1b (case 1, history 2)",
                                          "D.10.7.1.r.1b (case 1, parent history 1)"]
    assert "'Kidney transplant'" in said[0].message and "'Chronic hypertension'" in said[1].message
    assert all("MedDRA" in (i.hint or "") and i.severity == "information" for i in said)
    assert case_path(said[0].location) == "patient.medical_history[1]"
    assert case_path(said[1].location) == "patient.parent.medical_history[0]"


def test_product_identifiers_e2b_has_no_place_for_are_said_not_sent() -> None:
    """E2B has one code element per product and it needs a code system OID: an MPID the case holds without
    one, or a second identifier, was left out of the export without a word."""
    from reporter.casefile.model import CaseFile
    from reporter.fhir.build import build_bundle
    from tests.helpers import load_example

    data = load_example()
    ndc = {"kind": "product-code", "code": "0002-1234", "system": "2.16.840.1.113883.6.69"}
    data["drugs"][0]["identifiers"] = [{"kind": "mpid", "code": "MPID-1", "version": "1"}, ndc,
                                       {"kind": "phpid", "code": "PH-2", "system": "TBD-PhPID"}]
    data["patient"]["past_drugs"] = [{"name": "Valproate", "identifiers": [{"kind": "phpid", "code": "PH-1"}]}]
    out = export_bundles([build_bundle(CaseFile.model_validate(data))])
    said = sorted((i.location.split(" ")[0], i.message) for i in out.check.issues if i.code == "E2B-NOT-SENT"
                  and "identifier" in i.message)
    assert [(number, message.split(":")[0]) for number, message in said] == [
        ("D.8.r.3b", "the product identifier PH-1 (phpid) of past drug 1 (Valproate)"),
        ("G.k.2.1.1b", "the product identifier MPID-1 (mpid) of Anakinra"),
        ("G.k.2.1.2b", "the product identifier PH-2 (phpid) of Anakinra")]
    [code] = etree.fromstring(out.xml).xpath("//h:organizer[h:code/@code='4']/h:component[1]//h:kindOfProduct/h:code",
                                              namespaces={"h": "urn:hl7-org:v3"})
    assert code.get("code") == "0002-1234"


def test_the_parent_route_is_where_ich_places_it(e2b_schema_dir):
    """G.k.4.r.11 sits in an inboundRelationship (REFR) of the dosage, as the ICH, MFDS and QVIS element tables
    give it; written as an outboundRelationship2 (PERT), receivers found no parent route in our files."""
    from reporter.e2b import importer, xmlsafe
    from reporter.inputs import load_bundle

    bundle = load_bundle(REPO / "tests" / "data" / "literature" / "case8-parent-child.yaml")
    xml = export_bundles([bundle], receiver_name="ich", schema_dir=e2b_schema_dir).xml
    dosage = ("//h:organizer[h:code/@code='4']/h:component/h:substanceAdministration/h:outboundRelationship2"
              "[@typeCode='COMP']/h:substanceAdministration")
    routes = etree.fromstring(xml).xpath(
        f"{dosage}/h:inboundRelationship[@typeCode='REFR']/h:observation[h:code/@code='28'"
        " and h:code/@codeSystem='2.16.840.1.113883.3.989.2.1.1.19']/h:value/@code", namespaces={"h": "urn:hl7-org:v3"})
    assert len(routes) == 2
    [report] = importer.import_loaded(xmlsafe.parse_bytes(xml, "t.xml")).reports
    assert not report.coverage.not_mapped, report.coverage.not_mapped
    again = export_bundles([report.bundle], receiver_name="ich", schema_dir=e2b_schema_dir).xml
    assert etree.fromstring(again).xpath(f"{dosage}/h:inboundRelationship/h:observation/h:value/@code",
                                         namespaces={"h": "urn:hl7-org:v3"}) == routes


@pytest.mark.parametrize("receiver", ["ich", "ema"])
def test_a_dose_form_code_is_written_with_its_list(receiver, e2b_schema_dir):
    """G.k.4.r.9.2: a dose form's TermID goes with the OID of the list it comes from. For the ICH profile, which
    has no list of its own, the code was dropped without a word and only the text was sent."""
    from reporter.casefile.model import CaseFile
    from reporter.fhir.build import build_bundle
    from tests.helpers import load_example

    data = load_example()
    data["drugs"][0]["dosages"][0]["form"] = {"text": "film-coated tablet", "code": "10221000",
                                             "system": "0.4.0.127.0.16.1.1.2.1", "version": "2.0"}
    xml = export_bundles([build_bundle(CaseFile.model_validate(data))], receiver_name=receiver,
                         schema_dir=e2b_schema_dir).xml
    [form] = etree.fromstring(xml).xpath("//h:kindOfProduct/h:formCode", namespaces={"h": "urn:hl7-org:v3"})
    assert (form.get("code"), form.get("codeSystem")) == ("10221000", "0.4.0.127.0.16.1.1.2.1")


def test_cases_received_for_different_receivers_go_to_one_in_a_batch(e2b_schema_dir):
    """Two imported cases, received for PMDA and for MFDS, exported together to ICH: the batch receiver (N.1.4)
    falls back to the profile's, and so does each message receiver (N.2.r.3); they were kept as received, and
    the batch named one receiver while its messages named others."""
    from reporter.e2b import importer, xmlsafe
    from reporter.inputs import load_bundle

    ns = {"h": "urn:hl7-org:v3"}
    bundles = []
    for path, receiver in ((EXAMPLES / "case1-anakinra-hepatitis.yaml", "PMDA"),
                           (EXAMPLES / "case2-anakinra-transaminitis.yaml", "MFDS")):
        doc = etree.fromstring(export_bundles([load_bundle(path)], receiver_name="ich").xml)
        for node in doc.xpath("h:receiver/h:device/h:id | h:PORR_IN049016UV/h:receiver/h:device/h:id",
                              namespaces=ns):
            node.set("extension", receiver)
        [report] = importer.import_loaded(xmlsafe.parse_bytes(etree.tostring(doc), "x.xml")).reports
        bundles.append(report.bundle)
    together = etree.fromstring(export_bundles(bundles, receiver_name="ich", schema_dir=e2b_schema_dir).xml)
    batch = together.xpath("h:receiver/h:device/h:id/@extension", namespaces=ns)
    messages = together.xpath("h:PORR_IN049016UV/h:receiver/h:device/h:id/@extension", namespaces=ns)
    assert len(messages) == 2 and set(messages) == set(batch) and batch != ["PMDA"]
    alone = etree.fromstring(export_bundles(bundles[:1], receiver_name="ich").xml)  # one: kept as received
    assert alone.xpath("h:PORR_IN049016UV/h:receiver/h:device/h:id/@extension", namespaces=ns) == ["PMDA"]


def _receivers(xml: bytes) -> tuple[str, str]:
    doc = etree.fromstring(xml)
    return (doc.xpath("h:receiver/h:device/h:id/@extension", namespaces=NS)[0],
            doc.xpath("h:PORR_IN049016UV/h:receiver/h:device/h:id/@extension", namespaces=NS)[0])


def test_an_ind_safety_report_goes_by_the_premarket_route_whether_imported_or_made_here(e2b_schema_dir, shared_dir):
    """FDA Scenario 3 (an IND safety report) re-exported kept ZZFDA_PREMKT / CDER_IND only while its received ids
    were carried; once edited (made anew from the case: the form, `reporter case`), it went to the postmarket
    ZZFDA / CDER. The route now follows the case's IND number where the AE occurred (FDA.C.5.5a)."""
    from reporter.e2b.importer import import_file
    from reporter.fhir.build import build_bundle
    from reporter.fhir.to_case import bundle_to_case

    plain = export_bundles([bundle_for(DEMOS[0])], receiver_name="fda", schema_dir=e2b_schema_dir)
    assert _receivers(plain.xml) == ("ZZFDA", "CDER")
    source = shared_dir / "e2b" / "examples" / "fda-faers-2022" / "FAERS2022Scenario3.xml"
    [report] = import_file(source).reports
    case = bundle_to_case(report.bundle)
    assert case.study and case.study.fda_ind
    case.reactions[0].verbatim = (case.reactions[0].verbatim or "") + " (edited)"
    edited = export_bundles([build_bundle(case)], receiver_name="fda", schema_dir=e2b_schema_dir)
    assert edited.check.ok, edited.check.text()
    assert _receivers(edited.xml) == ("ZZFDA_PREMKT", "CDER_IND")
    assert _receivers(export_bundles([report.bundle], receiver_name="fda").xml) == ("ZZFDA_PREMKT", "CDER_IND")
