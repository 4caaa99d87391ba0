"""ICSR Bundles as other producers (EHR exports, integration engines) build them.

Every reader (case file, E2B export, report) takes a case's reactions and drugs from the Composition sections
coded as the ICSR guide names them (ReactionEvent, DrugInformation). A document whose sections carry other codes
(LOINC 75321-0, 10160-0 ...) still lists its AdverseEvents and MedicationStatements, and once passed validation
with two warnings while the E2B export and the report had no reaction and no drug.
"""

from __future__ import annotations

import copy
from pathlib import Path

from reporter.fhir.read import BundleIndex
from reporter.inputs import load_bundle
from reporter.validation import validate_bundle

REPO = Path(__file__).resolve().parents[1]
CASE = REPO / "examples" / "case1-anakinra-hepatitis.yaml"
LOINC = {"ReactionEvent": "75321-0", "DrugInformation": "10160-0"}


def with_loinc_sections() -> dict:
    bundle = copy.deepcopy(load_bundle(CASE))
    for section in bundle["entry"][0]["resource"]["section"]:
        code = section["code"]["coding"][0]["code"]
        if code in LOINC:
            section["code"] = {"coding": [{"system": "http://loinc.org", "code": LOINC[code]}]}
    return bundle


def test_reactions_and_drugs_under_other_section_codes_are_errors_at_each_resource() -> None:
    bundle = with_loinc_sections()
    index = BundleIndex(bundle)
    assert index.section("reactions") == [] and index.all("AdverseEvent")  # what the readers would see
    found = [i for i in validate_bundle(bundle).issues if i.code == "BUNDLE-SECTION" and i.severity == "error"]
    types = {e["resource"]["resourceType"] for n, e in enumerate(bundle["entry"])
             if any(i.location == f"Bundle.entry[{n}].resource.ofType({e['resource']['resourceType']})"
                    for i in found)}
    assert types == {"AdverseEvent", "MedicationStatement"}
    assert len(found) == len(index.all("AdverseEvent")) + len(index.all("MedicationStatement"))
    said = found[0]
    assert "75321-0" in said.message and "ReactionEvent" in said.hint


def test_a_bundle_with_its_sections_coded_as_the_guide_says_has_no_such_error() -> None:
    assert not [i for i in validate_bundle(load_bundle(CASE)).issues if i.code == "BUNDLE-SECTION"]


def with_practitioner_contained() -> dict:
    """The primary source's Practitioner inside its PractitionerRole (`#p1`), as EHR exports often write it."""
    bundle = copy.deepcopy(load_bundle(CASE))
    entries = bundle["entry"]
    practitioner = next(e for e in entries if e["resource"]["resourceType"] == "Practitioner")
    role = next(e["resource"] for e in entries if e["resource"]["resourceType"] == "PractitionerRole")
    entries.remove(practitioner)
    role["contained"] = [{**practitioner["resource"], "id": "p1"}]
    role["practitioner"] = {"reference": "#p1"}
    return bundle


def test_a_contained_practitioner_reaches_the_case_the_e2b_and_the_report() -> None:
    from reporter.e2b.export import export_bundles
    from reporter.fhir.to_case import bundle_to_case
    from reporter.render.view import case_view

    plain, contained = load_bundle(CASE), with_practitioner_contained()
    case = bundle_to_case(contained)
    assert case.primary_sources[0].address.country == bundle_to_case(plain).primary_sources[0].address.country == "PT"
    xml = export_bundles([contained], receiver_name="fda", batch_id="B1").xml
    assert xml.count(b'code="PT"') == 1  # C.2.r.3, the reporter's country (FDA rule R0019 asked for it)
    assert not [i for i in validate_bundle(contained).issues if i.severity == "error"]
    assert case_view(contained).header.primary_sources == case_view(plain).header.primary_sources


def with_coded_causality() -> dict:
    """A causality assessment as another system sends it: result and method coded, no text, no author."""
    bundle = copy.deepcopy(load_bundle(CASE))
    event = next(e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "AdverseEvent")
    event["suspectEntity"][0]["causality"] = [{
        "assessment": {"coding": [{"system": "http://snomed.info/sct", "code": "385644000", "display": "Probable"}]},
        "method": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/adverse-event-causality-method",
                               "code": "Bayesian"}]}}]
    return bundle


def test_a_causality_coded_only_reaches_the_case_and_the_e2b() -> None:
    """Its result went to E2B as an empty G.k.9.i.2.r and the case file refused the Bundle ('an assessment needs
    a source, a method or a result') while validation found nothing."""
    from reporter.e2b.export import export_bundles
    from reporter.fhir.to_case import bundle_to_case

    bundle = with_coded_causality()
    (assessment,) = bundle_to_case(bundle).drugs[0].reactions[0].causality
    assert (assessment.result, assessment.method) == ("Probable", "Bayesian")
    xml = export_bundles([bundle], receiver_name="ich", batch_id="B1").xml
    assert b'<value xsi:type="ST">Probable</value>' in xml and b"<originalText>Bayesian</originalText>" in xml


def test_a_modifier_extension_not_understood_is_an_error_at_its_place() -> None:
    """A vendor's 'not given' modifier on a drug was read past: the drug went to E2B as given."""
    bundle = copy.deepcopy(load_bundle(CASE))
    n, statement = next((n, e["resource"]) for n, e in enumerate(bundle["entry"])
                        if e["resource"]["resourceType"] == "MedicationStatement")
    statement["modifierExtension"] = [{"url": "http://vendor.example/not-given", "valueBoolean": True}]
    found = [i for i in validate_bundle(bundle).issues if i.code == "BUNDLE-MODIFIER"]
    assert [(i.severity, i.location) for i in found] == [
        ("error", f"Bundle.entry[{n}].resource.ofType(MedicationStatement).modifierExtension[0]")]
    assert "http://vendor.example/not-given" in found[0].message


def test_a_suspect_entity_that_is_no_listed_medication_statement_is_said_not_read() -> None:
    """A vaccine given as an Immunization, a dose as a MedicationAdministration: the link went nowhere, silently."""
    bundle = copy.deepcopy(load_bundle(CASE))
    n, event = next((n, e["resource"]) for n, e in enumerate(bundle["entry"])
                    if e["resource"]["resourceType"] == "AdverseEvent")
    bundle["entry"].append({"fullUrl": "urn:uuid:0b1c2d3e-0000-4000-8000-000000000001", "resource": {
        "resourceType": "Immunization", "id": "0b1c2d3e-0000-4000-8000-000000000001", "status": "completed",
        "vaccineCode": {"text": "COVID-19 mRNA"}, "patient": event["subject"], "occurrenceDateTime": "2023-07-30"}})
    event["suspectEntity"].append({"instance": {"reference": "urn:uuid:0b1c2d3e-0000-4000-8000-000000000001"}})
    found = [i for i in validate_bundle(bundle).issues if i.code == "BUNDLE-SUSPECT-ENTITY"]
    k = len(event["suspectEntity"]) - 1
    assert [(i.severity, i.location) for i in found] == [
        ("warning", f"Bundle.entry[{n}].resource.ofType(AdverseEvent).suspectEntity[{k}].instance")]
    assert "Immunization" in found[0].message and "not read" in found[0].message
    assert not [i for i in validate_bundle(load_bundle(CASE)).issues if i.code == "BUNDLE-SUSPECT-ENTITY"]


def test_a_dose_given_twice_a_day_as_frequency_and_period_is_every_12_hours_everywhere() -> None:
    """Timing.repeat {frequency 2, period 1 d} (how EHRs code BID) was read as 'every 1 d': half the daily dose
    in the case file, E2B (G.k.4.r.2/3), the report and the line listing."""
    from reporter.e2b.export import export_bundles
    from reporter.fhir.to_case import bundle_to_case
    from reporter.render.view import case_view

    bundle = copy.deepcopy(load_bundle(CASE))
    statement = next(e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "MedicationStatement")
    repeat = statement["dosage"][0]["timing"]["repeat"]
    repeat |= {"frequency": 2, "period": 1, "periodUnit": "d"}
    (dosage, *_) = bundle_to_case(bundle).drugs[0].dosages
    assert (dosage.every.value, dosage.every.unit) == (12, "h")
    xml = export_bundles([bundle], receiver_name="ich", batch_id="B1").xml
    assert b'<period value="12" unit="h"/>' in xml and b'<period value="1" unit="d"/>' not in xml
    (drug, *_) = case_view(bundle).drugs
    assert "12" in str(drug.dosages[0]) and "every 1 d" not in str(drug.dosages[0])


def test_dosage_elements_no_reader_takes_are_said_not_read_where_they_are() -> None:
    """A dose range, a rate, BID as timing.code, 'as needed': all dropped from the case, E2B and the report."""
    bundle = copy.deepcopy(load_bundle(CASE))
    n, statement = next((n, e["resource"]) for n, e in enumerate(bundle["entry"])
                        if e["resource"]["resourceType"] == "MedicationStatement")
    dosage = statement["dosage"][0]
    dosage["timing"]["code"] = {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-GTSAbbreviation",
                                            "code": "BID"}]}
    dosage["asNeededBoolean"] = True
    dosage["doseAndRate"][0]["rateQuantity"] = {"value": 200, "unit": "mL/h"}
    dosage["timing"]["repeat"] |= {"frequency": 2, "period": 1, "periodUnit": "mo"}
    found = {i.location for i in validate_bundle(bundle).issues if i.code == "FHIR-NOT-READ"}
    where = f"Bundle.entry[{n}].resource.ofType(MedicationStatement).dosage[0]."
    assert found == {where + p for p in ("timing.code", "asNeededBoolean", "doseAndRate.rateQuantity",
                                         "timing.repeat.frequency")}
    assert not [i for i in validate_bundle(load_bundle(CASE)).issues if i.code == "FHIR-NOT-READ"]


def test_a_coded_test_result_reaches_the_case_the_e2b_and_the_report_in_words() -> None:
    """Observation.valueCodeableConcept (SNOMED 'Negative') was read by nobody: E2B then refused the test as
    having no result (ICH F.r.3) while the Bundle had one."""
    from reporter.e2b.export import export_bundles
    from reporter.fhir.to_case import bundle_to_case
    from reporter.render.view import case_view

    bundle = copy.deepcopy(load_bundle(CASE))
    obs = next(e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Observation"
               and "valueQuantity" in e["resource"])
    obs.pop("valueQuantity")
    obs["valueCodeableConcept"] = {"coding": [{"system": "http://snomed.info/sct", "code": "260385009",
                                               "display": "Negative"}]}
    name = obs["code"]["text"]
    (test,) = [t for t in bundle_to_case(bundle).tests if t.name == name]
    assert test.result_text == "Negative"
    assert b'<value xsi:type="ED">Negative</value>' in export_bundles([bundle], receiver_name="ich", batch_id="B").xml
    assert "Negative" in str(case_view(bundle).labs)


def test_test_result_elements_no_reader_takes_are_said_not_read_where_they_are() -> None:
    """A blood pressure panel's components and a reference range in words only vanished from every output."""
    bundle = copy.deepcopy(load_bundle(CASE))
    n, obs = next((n, e["resource"]) for n, e in enumerate(bundle["entry"])
                  if e["resource"]["resourceType"] == "Observation" and "valueQuantity" in e["resource"])
    obs["referenceRange"] = [{"text": "< 40 U/L"}]
    obs["component"] = [{"code": {"coding": [{"system": "http://loinc.org", "code": "8480-6"}]},
                         "valueQuantity": {"value": 85, "unit": "mmHg"}}]
    found = {i.location for i in validate_bundle(bundle).issues if i.code == "FHIR-NOT-READ"}
    where = f"Bundle.entry[{n}].resource.ofType(Observation)."
    assert found == {where + "referenceRange.text", where + "component"}


def test_a_criterion_said_only_by_the_r4_seriousness_code_is_read_everywhere() -> None:
    """AdverseEvent.seriousness SeriousResultsInHospitalization (R4's own code) without the criterion extensions:
    validation refused it as 'serious but no criterion' and E2B sent E.i.3.2c false."""
    from reporter.e2b.export import export_bundles
    from reporter.fhir.to_case import bundle_to_case
    from reporter.render.view import case_view
    from reporter.tables import ext

    bundle = copy.deepcopy(load_bundle(CASE))
    for entry in bundle["entry"]:
        event = entry["resource"]
        if event["resourceType"] == "AdverseEvent":
            event["extension"] = [e for e in event["extension"] if e["url"] != ext("seriousness_criterion")]
            event["seriousness"] = {"coding": [{
                "system": "http://terminology.hl7.org/CodeSystem/adverse-event-seriousness",
                "code": "SeriousResultsInHospitalization"}]}
    assert not [i for i in validate_bundle(bundle).issues if i.code == "ICSR-SERIOUS-CRITERIA"]
    assert bundle_to_case(bundle).reactions[0].seriousness.hospitalisation is True
    xml = export_bundles([bundle], receiver_name="ich", batch_id="B").xml.decode()
    hospital = xml.split('code="33"')[1][:200]
    assert 'value="true"' in hospital
    assert case_view(bundle).reactions[0].criteria == ("Caused or prolonged inpatient hospitalisation",)


def test_serious_without_a_criterion_is_told_in_fhir_terms() -> None:
    """The hint said only 'tick the criterion', the case form's words, to an integration engineer."""
    from reporter.tables import ext

    bundle = copy.deepcopy(load_bundle(CASE))
    event = next(e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "AdverseEvent")
    event["extension"] = [e for e in event["extension"] if e["url"] != ext("seriousness_criterion")]
    (said,) = [i for i in validate_bundle(bundle).issues if i.code == "ICSR-SERIOUS-CRITERIA"]
    assert "SeriousResultsInDeath" in said.hint and ext("seriousness_criterion") in said.hint


def test_a_death_said_only_on_the_patient_reaches_the_case_file() -> None:
    """Patient.deceasedDateTime without an InCaseOfDeath section: E2B (D.9.1) and the report had the date, the
    case file (and so the case page's editor) had no death at all."""
    from reporter.fhir.to_case import bundle_to_case

    bundle = copy.deepcopy(load_bundle(CASE))
    patient = next(e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Patient")
    patient["deceasedDateTime"] = "2023-09-01T04:00:00+01:00"
    death = bundle_to_case(bundle).patient.death
    assert death is not None and str(death.date).startswith("2023-09-01")
    patient.pop("deceasedDateTime")
    assert bundle_to_case(bundle).patient.death is None
