"""Bundles shaped like the published R4 examples (HL7's AdverseEvent and Medication examples, the ICSR guide's
and HAPI's example Bundles): what they state in plain R4 either reaches the case file, E2B and the report, or
validation says it is not read (FHIR-NOT-READ) where it is, with where a reader takes the fact instead.

- AdverseEvent.severity, recorder, subjectMedicalHistory, resultingCondition, location, encounter and
  suspectEntity.causality.productRelatedness, and a causality author without a display, passed validation
  with no word while every reader left them out.
- Medication.form, amount, batch, manufacturer and ingredient.strength (a Ratio) likewise: the readers took
  the dose form, lot number and strength from this project's extensions only. They now read batch.lotNumber,
  form (text and EDQM code) and a strength Ratio per one unit into each dosage and substance, and say the rest
  (amount, manufacturer, the expiry date, a SNOMED CT form code, a strength with no amount per one unit).
"""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from reporter.e2b.export import export_bundles
from reporter.errors import E2BError
from reporter.fhir.read import BundleIndex
from reporter.fhir.to_case import bundle_to_case
from reporter.inputs import load_bundle
from reporter.validation import validate_bundle

REPO = Path(__file__).resolve().parents[1]
CASE = REPO / "examples" / "case1-anakinra-hepatitis.yaml"
RICH = REPO / "tests" / "e2b" / "data" / "rich-case.yaml"  # has medical history
UCUM = "http://unitsofmeasure.org"


def _entries(bundle: dict, rtype: str) -> list[tuple[int, dict]]:
    return [(n, e["resource"]) for n, e in enumerate(bundle["entry"]) if e["resource"]["resourceType"] == rtype]


def _not_read(bundle: dict) -> dict[str, tuple[str, str]]:
    return {i.location: (i.message, i.hint) for i in validate_bundle(bundle).issues if i.code == "FHIR-NOT-READ"}


def _ref(resource: dict) -> dict:
    return {"reference": f"urn:uuid:{resource['id']}"}


def _with_r4_event_elements() -> tuple[dict, int]:
    """The case with the elements of HL7's R4 AdverseEvent example on its first reaction."""
    bundle = copy.deepcopy(load_bundle(CASE))
    (n, event), *_ = _entries(bundle, "AdverseEvent")
    (_, patient), (_, role), (_, doc), (_, person) = (_entries(bundle, t)[0] for t in (
        "Patient", "PractitionerRole", "DocumentReference", "Practitioner"))
    asthma = {"resourceType": "Condition", "id": "3f1c0000-0000-4000-8000-000000000001", "subject": _ref(patient),
              "code": {"coding": [{"system": "http://snomed.info/sct", "code": "195967001"}], "text": "Asthma"}}
    bundle["entry"].append({"fullUrl": f"urn:uuid:{asthma['id']}", "resource": asthma})
    event |= {
        "severity": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/adverse-event-severity",
                                 "code": "severe"}]},
        "recorder": _ref(person), "contributor": [_ref(role)], "referenceDocument": [_ref(doc)],
        "subjectMedicalHistory": [_ref(asthma)], "resultingCondition": [_ref(asthma)],
        "location": {"display": "Ward 3"}, "encounter": {"display": "Inpatient stay"},
    }
    event["suspectEntity"][0]["causality"] = [{
        "assessment": {"text": "Probable"}, "productRelatedness": "related: improved on withdrawal",
        "author": _ref(person), "method": {"text": "WHO-UMC"}}]
    return bundle, n


def test_the_r4_adverse_event_examples_elements_no_reader_takes_are_said_not_read_where_they_are() -> None:
    bundle, n = _with_r4_event_elements()
    where = f"Bundle.entry[{n}].resource.ofType(AdverseEvent)."
    said = _not_read(bundle)
    assert set(said) == {where + e for e in (
        "severity", "recorder", "subjectMedicalHistory", "resultingCondition", "location", "encounter",
        "suspectEntity[0].causality[0].productRelatedness", "suspectEntity[0].causality[0].author")}
    assert "RelevantMedicalHistory" in said[where + "subjectMedicalHistory"][1]
    assert "causality.assessment" in said[where + "suspectEntity[0].causality[0].productRelatedness"][1]
    case = bundle_to_case(bundle)
    assert [h.term for h in case.patient.medical_history if h.term == "Asthma"] == []  # nothing made up either


def test_an_element_that_refers_to_what_is_read_anyway_is_not_said() -> None:
    """contributor names the Composition's author and referenceDocument the literature reference: both read."""
    bundle, n = _with_r4_event_elements()
    where = f"Bundle.entry[{n}].resource.ofType(AdverseEvent)."
    assert not {where + "contributor", where + "referenceDocument"} & set(_not_read(bundle))


def test_a_causality_author_with_a_display_is_read_as_its_source() -> None:
    bundle, n = _with_r4_event_elements()
    event = bundle["entry"][n]["resource"]
    event["suspectEntity"][0]["causality"][0]["author"]["display"] = "Reporter"
    assert f"Bundle.entry[{n}].resource.ofType(AdverseEvent).suspectEntity[0].causality[0].author" \
        not in _not_read(bundle)
    assert bundle_to_case(bundle).drugs[0].reactions[0].causality[0].source == "Reporter"


def _r4_medication(medication: dict) -> None:
    """The elements of HL7's R4 Medication examples (form, amount, strength as a Ratio, batch, manufacturer)."""
    ratio = {"numerator": {"value": 150, "system": UCUM, "code": "mg"},
             "denominator": {"value": 1, "system": UCUM, "code": "mL"}}
    medication |= {"form": {"coding": [{"system": "http://snomed.info/sct", "code": "385219001"}]},
                   "amount": ratio, "batch": {"lotNumber": "B12345X", "expirationDate": "2024-11-30"},
                   "manufacturer": {"display": "Acme Pharma"}}
    for ingredient in medication["ingredient"]:
        ingredient["strength"] = ratio


def test_the_r4_medication_examples_elements_are_said_not_read_in_an_entry_and_contained() -> None:
    bundle = copy.deepcopy(load_bundle(CASE))
    (n, medication), *_ = _entries(bundle, "Medication")
    _r4_medication(medication)
    (s, statement), *_ = [(k, r) for k, r in _entries(bundle, "MedicationStatement")
                          if r["medicationReference"]["reference"].endswith(_entries(bundle, "Medication")[1][1]["id"])]
    inside = copy.deepcopy(_entries(bundle, "Medication")[1][1])
    inside["id"] = "med"
    _r4_medication(inside)
    statement["contained"], statement["medicationReference"] = [inside], {"reference": "#med"}
    elements = ("form.coding[0]", "amount", "batch.expirationDate", "manufacturer")
    said = _not_read(bundle)
    entry, contained = (f"Bundle.entry[{n}].resource.ofType(Medication).",
                        f"Bundle.entry[{s}].resource.ofType(MedicationStatement).contained[0].")
    assert {entry + e for e in elements} <= set(said)
    assert {contained + e for e in elements} <= set(said)
    for read in ("batch", "batch.lotNumber", "form", "ingredient[0].strength", "ingredient.strength"):
        assert entry + read not in said and contained + read not in said
    assert "G.k.11" in said[entry + "batch.expirationDate"][1]
    assert "EDQM" in said[entry + "form.coding[0]"][0]
    case = bundle_to_case(bundle)
    for drug in (case.drugs[0], next(d for d in case.drugs if d.product == inside["code"]["text"])):
        assert drug.dosages and all(d.batch == "B12345X" and d.form is None for d in drug.dosages)
        assert [(x.strength.value, x.strength.unit) for x in drug.substances] == [(150, "mg/mL")]


def test_a_medications_lot_form_and_strength_reach_the_case_e2b_and_the_report() -> None:
    """A contained Medication with batch.lotNumber, an EDQM form with text and a strength of 500 mg per tablet:
    the case file, the E2B export (G.k.4.r.7, G.k.4.r.9, G.k.2.3.r.3) and the report hold them; a dosage's own
    lot number wins over the Medication's."""
    from reporter.render.output import render_html
    from reporter.render.view import case_view

    bundle = copy.deepcopy(load_bundle(CASE))
    (n, medication), *_ = _entries(bundle, "Medication")
    medication["batch"] = {"lotNumber": "LOT-77"}
    medication["form"] = {"coding": [{"system": "http://standardterms.edqm.eu", "code": "10219000",
                                      "display": "Tablet"}], "text": "tablet"}
    medication["ingredient"][0]["strength"] = {
        "numerator": {"value": 500, "system": UCUM, "code": "mg"},
        "denominator": {"value": 1, "system": "http://terminology.hl7.org/CodeSystem/v3-orderableDrugForm",
                        "code": "TAB"}}
    assert not [k for k in _not_read(bundle) if k.startswith(f"Bundle.entry[{n}].")]
    drug = bundle_to_case(bundle).drugs[0]
    assert {(d.batch, d.form.text, d.form.code) for d in drug.dosages} == {("LOT-77", "tablet", "10219000")}
    assert (drug.substances[0].strength.value, drug.substances[0].strength.unit) == (500, "mg")
    xml = export_bundles([bundle], receiver_name="ema", batch_id="B1").xml.decode()
    assert xml.count("<lotNumberText>LOT-77</lotNumberText>") == len(drug.dosages)
    assert 'code="10219000"' in xml and '<numerator value="500" unit="mg"/>' in xml
    assert "LOT-77" in render_html(case_view(bundle))
    statement = next(r for _, r in _entries(bundle, "MedicationStatement") if r["medicationReference"]["reference"]
                     .endswith(medication["id"]))
    statement["dosage"][0].setdefault("extension", []).append(
        {"url": "http://fhir-ae-reporter.org/StructureDefinition/batch-number", "valueString": "OWN-1"})
    assert bundle_to_case(bundle).drugs[0].dosages[0].batch == "OWN-1"


@pytest.mark.parametrize(("ratio", "why"), [
    ({"numerator": {"value": 100, "system": UCUM, "code": "mg"}, "denominator": {"value": 3, "system": UCUM,
                                                                                 "code": "mL"}},
     "no exact amount per one mL"),
    ({"numerator": {"value": 5, "unit": "mg"}, "denominator": {"value": 1, "system": UCUM, "code": "mL"}},
     "numerator needs a value and a UCUM unit"),
    ({"numerator": {"value": 5, "system": UCUM, "code": "mg"}, "denominator": {"value": 1, "unit": "mL"}},
     "cannot be told apart"),
])
def test_a_strength_with_no_amount_per_one_unit_is_said_not_read(ratio: dict, why: str) -> None:
    bundle = copy.deepcopy(load_bundle(CASE))
    (n, medication), *_ = _entries(bundle, "Medication")
    medication["ingredient"][0]["strength"] = ratio
    said = _not_read(bundle)[f"Bundle.entry[{n}].resource.ofType(Medication).ingredient[0].strength"]
    assert why in said[0]
    assert bundle_to_case(bundle).drugs[0].substances[0].strength is None


def test_250_mg_per_5_ml_is_read_as_50_mg_per_ml() -> None:
    from reporter.fhir.read import strength_of_ratio

    ratio = {"numerator": {"value": 250, "system": UCUM, "code": "mg"},
             "denominator": {"value": 5, "system": UCUM, "code": "mL"}}
    found, why = strength_of_ratio(ratio)
    assert why is None and (found["value"], found["code"]) == (50, "mg/mL")


def test_a_suspect_named_by_a_logical_reference_only_is_said_not_read() -> None:
    """A suspectEntity.instance with an identifier (or display) and no reference: no error, no drug, no word."""
    bundle = copy.deepcopy(load_bundle(CASE))
    (n, event), *_ = _entries(bundle, "AdverseEvent")
    event["suspectEntity"].append({"instance": {
        "type": "MedicationStatement", "identifier": {"system": "http://acme.org/medstatement", "value": "ms-77"},
        "display": "ibuprofen"}})
    k = len(event["suspectEntity"]) - 1
    said = {i.location: i.message for i in validate_bundle(bundle).issues if i.code == "BUNDLE-SUSPECT-ENTITY"}
    where = f"Bundle.entry[{n}].resource.ofType(AdverseEvent).suspectEntity[{k}].instance"
    assert "by identifier only" in said[where] and "not read" in said[where]
    assert "ibuprofen" not in {d.product for d in bundle_to_case(bundle).drugs}


# -- Patient.identifier of another organisation (the R4 Patient example's MR number) --------------------------

MR = {"use": "usual", "type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "MR"}]},
      "system": "urn:oid:1.2.36.146.595.217.0.1", "value": "12345", "assigner": {"display": "Acme Healthcare"}}


def _with_identifiers(*identifiers: dict) -> tuple[dict, int]:
    bundle = copy.deepcopy(load_bundle(CASE))
    (n, patient), *_ = _entries(bundle, "Patient")
    patient["identifier"] = [copy.deepcopy(i) for i in identifiers]
    return bundle, n


def test_another_organisations_record_number_is_said_not_read_and_not_sent_as_a_hospital_record() -> None:
    """It went to E2B as a hospital record number (D.1.1.3) under the other organisation's root, while the case
    file left it out: a kind of record nobody stated."""
    hospital = {"system": "urn:oid:2.16.840.1.113883.3.989.2.1.3.9", "value": "H-77"}
    bundle, n = _with_identifiers(MR, hospital)
    said = _not_read(bundle)
    assert set(said) == {f"Bundle.entry[{n}].resource.ofType(Patient).identifier[0]"}
    assert "2.16.840.1.113883.3.989.2.1.3.9" in said[f"Bundle.entry[{n}].resource.ofType(Patient).identifier[0]"][1]
    assert [(r.source, r.value) for r in bundle_to_case(bundle).patient.record_numbers] == [("hospital", "H-77")]
    xml = export_bundles([bundle], receiver_name="ich", batch_id="B1").xml.decode()
    assert "12345" not in xml and "1.2.36.146.595.217.0.1" not in xml
    assert xml.count("<asIdentifiedEntity") == 1 and 'extension="H-77"' in xml


def test_a_patient_known_only_by_another_organisations_number_is_not_identifiable() -> None:
    bundle, _ = _with_identifiers(MR)
    (_, patient), *_ = _entries(bundle, "Patient")
    for key in ("name", "gender", "_gender", "birthDate", "_birthDate"):
        patient.pop(key, None)
    for _, event in _entries(bundle, "AdverseEvent"):
        event["extension"] = [e for e in event.get("extension", []) if not e["url"].endswith("ageattimeofonset")]
    bundle["entry"] = [e for e in bundle["entry"] if not (
        e["resource"]["resourceType"] == "Observation"
        and any(c.get("code") == "46251-5" for c in e["resource"]["code"].get("coding", [])))]
    assert "ICSR-MIN-PATIENT" in {i.code for i in validate_bundle(bundle).issues if i.severity == "error"}


# -- a searchset as a server returns `GET Bundle?_id=...` --------------------------------------------------------

def test_a_searchset_holding_the_document_names_it_once_instead_of_every_reference_inside() -> None:
    """HAPI's searchset: the document as a match entry, an OperationOutcome as an outcome entry, paging links.
    It gave 86 errors (every reference inside the document 'does not resolve', no reaction, no patient...)."""
    document = copy.deepcopy(load_bundle(CASE))
    server = "https://hapi.fhir.example.org/baseR4/"
    searchset = {"resourceType": "Bundle", "type": "searchset", "total": 1,
                 "link": [{"relation": "self", "url": f"{server}Bundle?_id=doc-55"},
                          {"relation": "next", "url": f"{server}?_getpages=abc&_getpagesoffset=1"}],
                 "entry": [{"fullUrl": f"{server}Bundle/doc-55", "resource": document, "search": {"mode": "match"}},
                           {"resource": {"resourceType": "OperationOutcome", "issue": [
                               {"severity": "information", "code": "informational"}]},
                            "search": {"mode": "outcome"}}]}
    issues = validate_bundle(searchset, receiver="all").issues
    assert [(i.severity, i.code, i.location) for i in issues] == [
        ("error", "BUNDLE-WRAPPED", "Bundle.entry[0].resource")]
    assert "send the document Bundle itself" in issues[0].hint and "'searchset'" in issues[0].message
    assert validate_bundle(document).ok


def test_a_message_bundle_is_told_to_send_its_document_not_to_move_a_composition_it_has() -> None:
    """The ICSR guide's message (MessageHeader first, its focus the Composition), as `reporter fhir --message`
    writes it: the hints said 'set Bundle.type to document' and 'move the Composition to the first entry'."""
    from reporter.fhir.message import build_message

    message = build_message(load_bundle(CASE))
    issues = validate_bundle(message, receiver="all").issues
    assert [(i.severity, i.code, i.location) for i in issues] == [("error", "BUNDLE-MESSAGE", "Bundle.type")]
    assert "Bundle.entry[1]" in issues[0].hint and "without the MessageHeader" in issues[0].hint


def test_a_studys_identifiers_of_other_systems_are_said_not_read() -> None:
    """A ResearchStudy as registries and sponsors write it: an NCT number under clinicaltrials.gov's URL and the
    sponsor's own system; E2B reads C.5.1.r.1 and C.5.3 by their ICH OIDs only."""
    bundle = copy.deepcopy(load_bundle(CASE))
    study = {"resourceType": "ResearchStudy", "id": "rs1", "status": "completed", "title": "MAS registry",
             "identifier": [{"system": "https://clinicaltrials.gov", "value": "NCT01234567"},
                            {"system": "urn:oid:2.16.840.1.113883.3.989.2.1.3.5", "value": "SP-11"}]}
    bundle["entry"].append({"fullUrl": "https://hapi.fhir.example.org/baseR4/ResearchStudy/rs1", "resource": study})
    for _, event in _entries(bundle, "AdverseEvent"):
        event["study"] = [{"reference": "ResearchStudy/rs1"}]
    n = len(bundle["entry"]) - 1
    said = _not_read(bundle)
    assert set(said) == {f"Bundle.entry[{n}].resource.ofType(ResearchStudy).identifier[0]"}
    assert "urn:oid:2.16.840.1.113883.3.989.2.1.3.6" in next(iter(said.values()))[1]
    case = bundle_to_case(bundle)
    assert case.study is not None and case.study.sponsor_number == "SP-11" and case.study.registrations == []


def test_a_searchset_of_resources_without_a_composition_is_told_to_add_one_not_to_move_it() -> None:
    """`AdverseEvent?_include=*` as a server returns it: the case's resources, no Composition."""
    document = load_bundle(CASE)
    searchset = {"resourceType": "Bundle", "type": "searchset", "entry": [
        {"fullUrl": e["fullUrl"], "resource": e["resource"],
         "search": {"mode": "match" if e["resource"]["resourceType"] == "AdverseEvent" else "include"}}
        for e in document["entry"][1:]]}
    said = {i.code: i for i in validate_bundle(searchset).issues if i.severity == "error"}
    assert "no Composition" in said["BUNDLE-COMPOSITION"].message
    assert "85893-6" in said["BUNDLE-COMPOSITION"].hint and "move" not in said["BUNDLE-COMPOSITION"].hint


def test_an_extension_no_reader_knows_is_said_not_read_where_it_is() -> None:
    """US Core's race on the Patient, as US EHRs send it, and an EHR's own extension on a dosage: dropped
    unsaid (FDA's race is read from its own extension, NCIt-coded)."""
    bundle = copy.deepcopy(load_bundle(CASE))
    (n, patient), *_ = _entries(bundle, "Patient")
    race = "http://hl7.org/fhir/us/core/StructureDefinition/us-core-race"
    patient.setdefault("extension", []).append({"url": race, "extension": [
        {"url": "ombCategory", "valueCoding": {"system": "urn:oid:2.16.840.1.113883.6.238", "code": "2106-3"}},
        {"url": "text", "valueString": "White"}]})
    (s, statement), *_ = _entries(bundle, "MedicationStatement")
    statement["dosage"][0]["extension"] = [{"url": "http://ehr.example.org/fhir/infusion-pump", "valueString": "P-7"}]
    said = _not_read(bundle)
    k = len(patient["extension"]) - 1
    assert set(said) == {f"Bundle.entry[{n}].resource.ofType(Patient).extension[{k}]",
                         f"Bundle.entry[{s}].resource.ofType(MedicationStatement).dosage[0].extension[0]"}
    assert race in said[f"Bundle.entry[{n}].resource.ofType(Patient).extension[{k}]"][0]


def test_a_reaction_coded_in_snomed_ct_only_is_told_it_has_no_meddra_code() -> None:
    """HL7's R4 AdverseEvent example codes its event in SNOMED CT: validation passed with no word, and the E2B
    export then failed on E.i.2.1b without naming the FHIR element."""
    bundle = copy.deepcopy(load_bundle(CASE))
    (n, event), *_ = _entries(bundle, "AdverseEvent")
    event["event"] = {"coding": [{"system": "http://snomed.info/sct", "code": "304386008"}], "text": "itchy rash"}
    said = {i.location: i for i in validate_bundle(bundle).issues if i.code == "ICSR-REACTION-MEDDRA"}
    issue = said[f"Bundle.entry[{n}].resource.ofType(AdverseEvent).event"]
    assert "http://snomed.info/sct" in issue.message and "https://www.meddra.org" in issue.hint


def test_the_r4_medication_statement_examples_elements_are_said_not_read_on_a_drug() -> None:
    """R4's MedicationStatement example dates the drug with effectivePeriod and names its source and reason by
    reference: the case file, E2B and the report take a drug's dates from its dosages only."""
    bundle = copy.deepcopy(load_bundle(CASE))
    (n, statement), *_ = _entries(bundle, "MedicationStatement")
    statement |= {"effectivePeriod": {"start": "2023-03-01", "end": "2023-03-20"}, "dateAsserted": "2023-03-22",
                  "informationSource": {"display": "mother"}, "reasonReference": [{"display": "Kawasaki disease"}]}
    where = f"Bundle.entry[{n}].resource.ofType(MedicationStatement)."
    said = _not_read(bundle)
    assert {where + e for e in ("effectivePeriod", "dateAsserted", "informationSource", "reasonReference")} \
        == set(said)
    assert "boundsPeriod" in said[where + "effectivePeriod"][1]


def test_a_products_ndc_or_snomed_code_is_said_not_read_in_a_statement_and_a_medication() -> None:
    """R4's examples code a product in NDC or SNOMED CT: the case file keeps ATC, RxNorm and MPID/PhPID only."""
    bundle = copy.deepcopy(load_bundle(CASE))
    (n, medication), *_ = _entries(bundle, "Medication")
    medication["code"]["coding"].append({"system": "http://snomed.info/sct", "code": "386871006"})
    other = _entries(bundle, "MedicationStatement")[1][1]
    other.pop("medicationReference")
    other["medicationCodeableConcept"] = {"coding": [{"system": "http://hl7.org/fhir/sid/ndc", "code": "0069-2587-10"}],
                                          "text": "Prednisone 5 mg"}
    k = next(k for k, r in _entries(bundle, "MedicationStatement") if r is other)
    said = _not_read(bundle)
    last = len(medication["code"]["coding"]) - 1
    assert {f"Bundle.entry[{n}].resource.ofType(Medication).code.coding[{last}]",
            f"Bundle.entry[{k}].resource.ofType(MedicationStatement).medicationCodeableConcept.coding[0]"} == set(said)
    assert "Prednisone 5 mg" in {d.product for d in bundle_to_case(bundle).drugs}


def test_a_history_conditions_onset_in_words_or_as_an_age_is_said_not_read() -> None:
    """R4's Condition examples give the onset as onsetString ("approximately November 2012") or onsetAge and the
    end as abatementString: the case file, E2B (D.7.1.r.2/4) and the report take dates only."""
    bundle = copy.deepcopy(load_bundle(RICH))
    (n, condition), *_ = [(k, r) for k, r in _entries(bundle, "Condition")
                          if any(r is c for c in BundleIndex(bundle).section("history"))]
    for key in ("onsetDateTime", "_onsetDateTime", "abatementDateTime", "_abatementDateTime"):
        condition.pop(key, None)
    condition |= {"onsetString": "approximately November 2012", "abatementString": "around April 2013",
                  "severity": {"text": "mild"}}
    where = f"Bundle.entry[{n}].resource.ofType(Condition)."
    said = _not_read(bundle)
    assert {where + e for e in ("onsetString", "abatementString", "severity")} <= set(said)
    assert "onsetDateTime" in said[where + "onsetString"][1]


def test_a_test_dated_by_a_period_or_naming_its_specimen_is_said_not_read() -> None:
    """R4's Observation examples date a result with effectivePeriod and name its specimen, method and body site:
    the case file, E2B (F.r.1) and the report take effectiveDateTime only."""
    bundle = copy.deepcopy(load_bundle(CASE))
    n, obs = next((n, o) for n, o in _entries(bundle, "Observation") if "valueQuantity" in o)
    when = obs.pop("effectiveDateTime", None)
    obs |= {"effectivePeriod": {"start": when or "2023-04-01", "end": when or "2023-04-01"},
            "specimen": {"display": "Serum"}, "method": {"text": "IFCC"}, "bodySite": {"text": "left arm"}}
    where = f"Bundle.entry[{n}].resource.ofType(Observation)."
    said = _not_read(bundle)
    assert {where + e for e in ("effectivePeriod", "specimen", "method", "bodySite")} <= set(said)
    assert "effectiveDateTime" in said[where + "effectivePeriod"][1]


def test_every_note_reaches_the_case_file_as_e2b_and_the_report_join_them() -> None:
    """EHRs write each remark as a note of its own: E2B (G.k.11, F.r.6) and the report joined them all, while
    the case file (`reporter case`, the page editor) kept the first and dropped the rest unsaid."""
    bundle = copy.deepcopy(load_bundle(CASE))
    (_, statement), *_ = _entries(bundle, "MedicationStatement")
    statement["note"] = [{"text": "given at home by the mother"}, {"text": "stopped by the GP"}]
    obs = next(o for _, o in _entries(bundle, "Observation") if "valueQuantity" in o)
    obs["note"] = [{"text": "haemolysed sample"}, {"text": "repeated next day"}]
    case = bundle_to_case(bundle)
    assert case.drugs[0].additional_text == "given at home by the mother; stopped by the GP"
    assert "haemolysed sample; repeated next day" in {t.comments for t in case.tests}
    xml = export_bundles([bundle], receiver_name="ich", batch_id="B1").xml.decode()
    assert "stopped by the GP" in xml and "repeated next day" in xml


def test_a_potential_adverse_event_is_not_read_as_a_reaction_the_patient_had() -> None:
    """R4's AdverseEvent.actuality potential (a near miss) was read by every reader as a reaction that occurred;
    its category (product-use-error, medication-mishap) was dropped unsaid."""
    bundle = copy.deepcopy(load_bundle(CASE))
    (n, event), *_ = _entries(bundle, "AdverseEvent")
    event["actuality"] = "potential"
    event["category"] = [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/adverse-event-category",
                                      "code": "product-use-error"}]}]
    issues = {(i.code, i.location): i for i in validate_bundle(bundle).issues}
    where = f"Bundle.entry[{n}].resource.ofType(AdverseEvent)."
    assert issues[("ICSR-POTENTIAL-EVENT", where + "actuality")].severity == "error"
    assert ("FHIR-NOT-READ", where + "category") in issues


def test_the_e2b_export_of_a_searchset_names_the_document_inside_not_a_missing_case_id() -> None:
    """`reporter e2b` on a server's searchset said the Composition had no C.1.1 (there was no Composition)."""
    searchset = {"resourceType": "Bundle", "type": "searchset", "entry": [
        {"fullUrl": "https://hapi.fhir.example.org/baseR4/Bundle/doc-55", "resource": load_bundle(CASE),
         "search": {"mode": "match"}}]}
    with pytest.raises(E2BError) as raised:
        export_bundles([searchset], receiver_name="ich", batch_id="B1")
    assert raised.value.location == "Bundle.entry[0].resource" and "send the document" in (raised.value.hint or "")


def test_a_medications_lot_with_no_dosage_to_hold_it_is_said_not_read() -> None:
    bundle = copy.deepcopy(load_bundle(CASE))
    (n, medication), *_ = _entries(bundle, "Medication")
    medication["batch"] = {"lotNumber": "LOT-77"}
    for _, statement in _entries(bundle, "MedicationStatement"):
        if statement["medicationReference"]["reference"].endswith(medication["id"]):
            statement.pop("dosage", None)
    said = _not_read(bundle)[f"Bundle.entry[{n}].resource.ofType(Medication).batch.lotNumber"]
    assert "the drug has none" in said[0]
