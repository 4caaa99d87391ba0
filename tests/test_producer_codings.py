"""Codes as other producers send them: a drug, reaction or indication coded in RxNorm or SNOMED CT with its name as
the coding's display and no text, as HAPI- and Firely-based systems and EHR exports write them.

Such a Bundle passed validation and the API stored it (201) while the case file refused it ('drugs.1.product:
Field required'), so the case page could not open it for editing; E2B sent no product name (G.k.2.2) and no
indication, and the report labelled SNOMED CT codes as MedDRA terms.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path

import pytest

from reporter.e2b.export import export_bundles
from reporter.errors import InputError
from reporter.fhir.to_case import bundle_to_case
from reporter.inputs import load_bundle
from reporter.render.output import render_html
from reporter.render.view import case_view
from reporter.validation import validate_bundle

REPO = Path(__file__).resolve().parents[1]
CASE = REPO / "examples" / "case1-anakinra-hepatitis.yaml"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
SNOMED = "http://snomed.info/sct"


def _entries(bundle: dict, rtype: str) -> list[tuple[int, dict]]:
    return [(n, e["resource"]) for n, e in enumerate(bundle["entry"]) if e["resource"]["resourceType"] == rtype]


def _codes(bundle: dict, code: str) -> list[tuple[str, str]]:
    return [(i.severity, i.location) for i in validate_bundle(bundle).issues if i.code == code]


def _xml(bundle: dict) -> str:
    return export_bundles([bundle], receiver_name="ich", batch_id="B1").xml.decode()


def _text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def with_coded_drug(display: str | None) -> tuple[dict, int]:
    """The last drug as `medicationCodeableConcept` coded in RxNorm only (no Medication, no text)."""
    bundle = copy.deepcopy(load_bundle(CASE))
    _, statement = _entries(bundle, "MedicationStatement")[-1]
    medication = statement.pop("medicationReference")["reference"]
    bundle["entry"] = [e for e in bundle["entry"] if e["fullUrl"] != medication]
    coding = {"system": RXNORM, "code": "29046"} | ({"display": display} if display else {})
    statement["medicationCodeableConcept"] = {"coding": [coding]}
    return bundle, next(k for k, e in enumerate(bundle["entry"]) if e["resource"] is statement)


def test_a_drug_named_only_by_its_coding_display_is_named_everywhere() -> None:
    bundle, _ = with_coded_drug("lisinopril")
    assert not _codes(bundle, "ICSR-DRUG-NAME")
    assert bundle_to_case(bundle).drugs[-1].product == "lisinopril"
    xml = _xml(bundle)
    assert "<name>lisinopril</name>" in xml
    assert "G.k.2.2" not in " ".join(i.location for i in export_bundles(
        [bundle], receiver_name="ich", batch_id="B1").check.issues)
    assert any(d.product == "lisinopril" for d in case_view(bundle).drugs)


def test_a_drug_with_no_name_at_all_is_an_error_at_its_place() -> None:
    """Only a code: no reader can name the drug; validation said nothing and the case file refused it."""
    bundle, n = with_coded_drug(None)
    assert _codes(bundle, "ICSR-DRUG-NAME") == [
        ("error", f"Bundle.entry[{n}].resource.ofType(MedicationStatement).medicationCodeableConcept")]
    with pytest.raises(InputError) as refused:
        bundle_to_case(bundle)
    assert refused.value.location == f"Bundle.entry[{n}].resource.ofType(MedicationStatement)"
    assert "drugs." in refused.value.message  # the case-file field as well


def test_an_indication_coded_in_snomed_reaches_the_case_and_e2b_in_words() -> None:
    """reasonCode SNOMED CT 'Sinusitis' without text became an empty indication ({}), which the case file then
    refused (ele-1), and E2B sent no G.k.7.r.1; the report showed it."""
    bundle = copy.deepcopy(load_bundle(CASE))
    _, statement = _entries(bundle, "MedicationStatement")[0]
    statement["reasonCode"] = [{"coding": [{"system": SNOMED, "code": "36971009", "display": "Sinusitis"}]}]
    (indication,) = bundle_to_case(bundle).drugs[0].indications
    assert indication.text == "Sinusitis" and indication.meddra is None
    assert "<originalText>Sinusitis</originalText>" in _xml(bundle)


def with_reaction(event_concept: dict) -> tuple[dict, int]:
    bundle = copy.deepcopy(load_bundle(CASE))
    n, event = _entries(bundle, "AdverseEvent")[-1]
    event["event"] = event_concept
    return bundle, n


def test_a_reaction_coded_in_snomed_is_read_in_its_words_and_never_shown_as_meddra() -> None:
    bundle, n = with_reaction({"coding": [{"system": SNOMED, "code": "18165001", "display": "Jaundice"}]})
    reaction = bundle_to_case(bundle).reactions[-1]
    assert (reaction.verbatim, reaction.meddra) == ("Jaundice", None)
    view = case_view(bundle).reactions[-1]
    assert view.verbatim == "Jaundice" and view.term is None
    page = _text(render_html(case_view(bundle)))
    assert "MedDRA 18165001" not in page and "18165001" not in page
    assert _codes(bundle, "ICSR-REACTION-MEDDRA") == [
        ("warning", f"Bundle.entry[{n}].resource.ofType(AdverseEvent).event")]
    assert not _codes(bundle, "ICSR-REACTION-TERM")


def test_a_medical_history_code_of_another_system_is_not_shown_as_meddra() -> None:
    bundle = copy.deepcopy(load_bundle(REPO / "tests" / "e2b" / "data" / "rich-case.yaml"))
    section = next(s for s in bundle["entry"][0]["resource"]["section"]
                   if s["code"]["coding"][0]["code"] == "RelevantMedicalHistory")
    target = section["entry"][0]["reference"]
    condition = next(e["resource"] for e in bundle["entry"] if e["fullUrl"] == target)
    condition["code"] = {"coding": [{"system": SNOMED, "code": "38341003", "display": "Hypertension"}]}
    (item, *_) = case_view(bundle).patient.history
    assert item.term.text == "Hypertension" and item.term.code is None and item.term.system is None


@pytest.mark.parametrize("concept", [{"coding": [{"system": SNOMED, "code": "18165001"}]}, {}],
                         ids=["code-only", "no-event"])
def test_a_reaction_nobody_can_name_is_an_error_at_its_place(concept: dict) -> None:
    """A SNOMED code without a display, or no event at all (the reaction only in the narrative): validation
    warned of a missing MedDRA code and the API stored a case the case file then refused."""
    bundle, n = with_reaction(concept)
    if not concept:
        bundle["entry"][n]["resource"].pop("event")
        bundle["entry"][n]["resource"]["text"] = {
            "status": "additional", "div": '<div xmlns="http://www.w3.org/1999/xhtml">Pruritus</div>'}
    where = f"Bundle.entry[{n}].resource.ofType(AdverseEvent)"
    assert _codes(bundle, "ICSR-REACTION-TERM") == [("error", f"{where}.event")]
    assert not _codes(bundle, "ICSR-REACTION-MEDDRA")
    with pytest.raises(InputError) as refused:
        bundle_to_case(bundle)
    assert refused.value.location == where


def test_a_suspect_medication_contained_in_the_event_is_said_not_read() -> None:
    """suspectEntity.instance '#m1', a Medication contained in the AdverseEvent: the drug went nowhere unsaid (the
    check resolved the local reference without its container)."""
    bundle = copy.deepcopy(load_bundle(CASE))
    n, event = _entries(bundle, "AdverseEvent")[0]
    event["contained"] = [{"resourceType": "Medication", "id": "m1", "code": {"text": "Ibuprofen 400 mg"}}]
    event["suspectEntity"].append({"instance": {"reference": "#m1"}})
    k = len(event["suspectEntity"]) - 1
    assert _codes(bundle, "BUNDLE-SUSPECT-ENTITY") == [
        ("warning", f"Bundle.entry[{n}].resource.ofType(AdverseEvent).suspectEntity[{k}].instance")]


def test_a_past_drug_named_only_by_its_coding_display_keeps_its_name() -> None:
    bundle = copy.deepcopy(load_bundle(REPO / "tests" / "e2b" / "data" / "rich-case.yaml"))
    section = next(s for s in bundle["entry"][0]["resource"]["section"]
                   if s["code"]["coding"][0]["code"] == "RelevantPastDrugHistory")
    target = section["entry"][0]["reference"]
    statement = next(e["resource"] for e in bundle["entry"] if e["fullUrl"] == target)
    statement["medicationCodeableConcept"] = {"coding": [{"system": RXNORM, "code": "723", "display": "Amoxicillin"}]}
    assert bundle_to_case(bundle).patient.past_drugs[0].name == "Amoxicillin"
    assert "<name>Amoxicillin</name>" in _xml(bundle)


def test_a_unit_that_is_no_ucum_in_a_quantity_without_its_system_is_an_error_where_it_is() -> None:
    """`valueQuantity {value: 180, unit: IU/L}` (no system, as producers write a unit for people): validation passed
    while E2B sent unit="IU/L" and the case file read from the Bundle failed validation (TERM-UCUM)."""
    from reporter.casefile.model import CaseFile
    from reporter.fhir.build import build_bundle

    bundle = copy.deepcopy(load_bundle(CASE))
    n, obs = next((n, o) for n, o in _entries(bundle, "Observation") if "valueQuantity" in o)
    obs["valueQuantity"] = {"value": 180, "unit": "IU/L"}
    found = [i for i in validate_bundle(bundle).issues if i.code == "TERM-UCUM"]
    assert [(i.severity, i.location) for i in found] == [
        ("error", f"Bundle.entry[{n}].resource.ofType(Observation).valueQuantity.unit")]
    assert "'[IU]/L'" in found[0].hint
    case = CaseFile.model_validate(bundle_to_case(bundle).model_dump(mode="json", exclude_none=True))
    assert [i.code for i in validate_bundle(build_bundle(case)).issues if i.code == "TERM-UCUM"] == ["TERM-UCUM"]
    obs["valueQuantity"] = {"value": 180, "unit": "IU/L", "system": "http://unitsofmeasure.org", "code": "[IU]/L"}
    assert not [i for i in validate_bundle(bundle).issues if i.code == "TERM-UCUM"]


def test_a_route_coded_in_snomed_goes_in_its_words_and_its_code_is_said_not_read() -> None:
    """SNOMED CT 26643006 'Oral route': E2B wrote an empty <routeCode/>, and the case file held the code under the
    system 'http://snomed.info/sct', which a Bundle built from it wrote as urn:oid:http://snomed.info/sct."""
    from reporter.fhir.build import build_bundle

    bundle = copy.deepcopy(load_bundle(CASE))
    n, statement = _entries(bundle, "MedicationStatement")[0]
    statement["dosage"][0]["route"] = {"coding": [{"system": SNOMED, "code": "26643006", "display": "Oral route"}]}
    route = bundle_to_case(bundle).drugs[0].dosages[0].route
    assert route is not None and (route.text, route.code, route.system) == ("Oral route", None, None)
    xml = _xml(bundle)
    assert re.search(r"<routeCode>\s*<originalText>Oral route</originalText>\s*</routeCode>", xml)
    assert ("warning", f"Bundle.entry[{n}].resource.ofType(MedicationStatement).dosage[0].route.coding[0]") in \
        _codes(bundle, "FHIR-NOT-READ")
    assert "urn:oid:http" not in str(build_bundle(bundle_to_case(bundle)))
