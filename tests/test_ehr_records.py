"""`reporter pull` against sekmet-fhir on loopback loaded with records shaped like real EHR exports (Synthea R4,
Epic and Cerner FHIR APIs): prescriptions ended long ago with no end date, courses given as a duration, tapers in
several dosage instructions, an allergy recorded because of the reaction."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from tests import ehr_support as es

PID = "export-1"
SUBJECT = {"reference": f"Patient/{PID}"}
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
SNOMED = "http://snomed.info/sct"
UCUM = "http://unitsofmeasure.org"
ORAL = {"coding": [{"system": SNOMED, "code": "26643006", "display": "Oral route"}]}
AI_CLINICAL = "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical"


def rx(code: str, display: str) -> dict:
    return {"coding": [{"system": RXNORM, "code": code, "display": display}], "text": display}


def mg(value: float) -> dict:
    return {"value": value, "unit": "mg", "system": UCUM, "code": "mg"}


GLUCOSE = [110 + (n % 6) for n in range(30)]
GLUCOSE[14] = 388  # the peak, 2024-05-01 08:00
GLUCOSE[20] = 41   # the lowest, 2024-05-02 08:00


def request(rid: str, status: str, concept: dict, authored: str, *dosages: dict) -> dict:
    res = {"resourceType": "MedicationRequest", "id": f"{PID}-{rid}", "status": status, "intent": "order",
           "subject": SUBJECT, "medicationCodeableConcept": concept, "authoredOn": authored}
    if dosages:
        res["dosageInstruction"] = list(dosages)
    return res


def lab(oid: str, loinc: str, name: str, value: float, unit: str, low: float | None = None,
        high: float | None = None, comparator: str | None = None, when: str = "2024-05-04T06:00:00-04:00") -> dict:
    quantity: dict = {"value": value, "unit": unit}
    if comparator:
        quantity["comparator"] = comparator
    obs = {"resourceType": "Observation", "id": f"{PID}-{oid}", "status": "final", "subject": SUBJECT,
           "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category",
                                     "code": "laboratory"}]}],
           "code": {"coding": [{"system": "http://loinc.org", "code": loinc}], "text": name},
           "effectiveDateTime": when, "valueQuantity": quantity}
    bounds = {k: {"value": v, "unit": unit} for k, v in (("low", low), ("high", high)) if v is not None}
    if bounds:
        obs["referenceRange"] = [bounds]
    return obs


def without_none(resource: dict) -> dict:
    return {k: v for k, v in resource.items() if v is not None}


def sinusitis(year: int) -> dict:
    return {"resourceType": "Condition", "id": f"{PID}-sinusitis-{year}", "subject": SUBJECT,
            "clinicalStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
                                           "code": "resolved"}]},
            "code": {"coding": [{"system": SNOMED, "code": "444814009", "display": "Viral sinusitis (disorder)"}]},
            "onsetDateTime": f"{year}-02-10", "abatementDateTime": f"{year}-02-24"}


def allergy(aid: str, substance: dict, **fields: object) -> dict:
    return {"resourceType": "AllergyIntolerance", "id": f"{PID}-{aid}", "patient": SUBJECT, "type": "allergy",
            "category": ["medication"], "clinicalStatus": {"coding": [{"system": AI_CLINICAL, "code": "active"}]},
            "code": substance, **fields}


def records() -> list[dict]:
    """One patient's export: reaction (liver injury) on 2024-05-02, suspect amoxicillin-clavulanate."""
    return [
        {"resourceType": "Patient", "id": PID, "gender": "male", "birthDate": "1958-07-19",
         "name": [{"use": "official", "family": "Kertzmann", "given": ["Dominic"]}]},
        # Synthea: an as-needed prescription of 2019, status stopped, no end date anywhere
        request("apap-2019", "stopped", rx("313782", "Acetaminophen 325 MG Oral Tablet"),
                "2019-02-10T10:00:00-05:00", {"sequence": 1, "asNeededBoolean": True}),
        # Synthea: a statin taken since 2016 and still active
        request("simva", "active", rx("312961", "Simvastatin 20 MG Oral Tablet"), "2016-05-01T10:00:00-04:00",
                {"timing": {"repeat": {"frequency": 1, "period": 1, "periodUnit": "d"}}}),
        request("spiro", "active", rx("313096", "spironolactone 25 MG Oral Tablet"), "2022-01-10",
                {"timing": {"repeat": {"frequency": 1, "period": 1, "periodUnit": "d"}}}),
        # a 7-day course in November 2023, given as boundsDuration: over five months before the reaction
        request("cipro", "completed", rx("197511", "ciprofloxacin 500 MG Oral Tablet"), "2023-11-02T10:00:00-04:00",
                {"route": ORAL, "timing": {"repeat": {"boundsDuration": {"value": 7, "unit": "days", "system": UCUM,
                                                                          "code": "d"},
                                                      "frequency": 2, "period": 1, "periodUnit": "d"}},
                 "doseAndRate": [{"doseQuantity": mg(500)}]}),
        # the suspect: a 10-day course ending 2024-04-28
        request("augmentin", "completed", rx("562251", "amoxicillin 875 MG / clavulanate 125 MG Oral Tablet"),
                "2024-04-18T10:12:00-04:00",
                {"text": "1 tablet by mouth twice daily for 10 days", "route": ORAL,
                 "timing": {"repeat": {"boundsDuration": {"value": 10, "unit": "days", "system": UCUM, "code": "d"},
                                       "frequency": 2, "period": 1, "periodUnit": "d"}}}),
        # a heparin infusion ordered by rate only, and given (MedicationAdministration) at a rate
        request("heparin", "stopped", rx("1361615", "heparin sodium 100 UNT/ML Injectable Solution"), "2024-05-03",
                {"route": {"text": "Intravenous"},
                 "doseAndRate": [{"rateQuantity": {"value": 18, "unit": "U/kg/h", "system": UCUM,
                                                   "code": "U/kg/h"}}]}),
        {"resourceType": "MedicationAdministration", "id": f"{PID}-vanco-1", "status": "completed",
         "subject": SUBJECT, "effectivePeriod": {"start": "2024-05-03T08:00:00-04:00",
                                                 "end": "2024-05-03T10:00:00-04:00"},
         "medicationCodeableConcept": rx("1807516", "vancomycin 1000 MG Injection"),
         "dosage": {"dose": {"value": 1, "unit": "g", "system": UCUM, "code": "g"},
                    "rateQuantity": {"value": 250, "unit": "mL/h", "system": UCUM, "code": "mL/h"}}},
        # a taper after the reaction in two dosage instructions (Cerner)
        request("pred", "completed", rx("312617", "predniSONE 20 MG Oral Tablet"), "2024-05-05T10:00:00-04:00",
                {"sequence": 1, "text": "40 mg daily for 3 days", "route": ORAL,
                 "timing": {"repeat": {"boundsPeriod": {"start": "2024-05-05", "end": "2024-05-07"},
                                       "frequency": 1, "period": 1, "periodUnit": "d"}},
                 "doseAndRate": [{"doseQuantity": mg(40)}]},
                {"sequence": 2, "text": "20 mg daily for 3 days", "route": ORAL,
                 "timing": {"repeat": {"boundsPeriod": {"start": "2024-05-08", "end": "2024-05-10"},
                                       "frequency": 1, "period": 1, "periodUnit": "d"}},
                 "doseAndRate": [{"doseQuantity": mg(20)}]}),
        # labs as LIS interfaces send them: no UCUM system, units as the lab writes them
        lab("inr", "6301-6", "INR", 2.1, "ratio", low=0.8, high=1.2),
        lab("na", "2951-2", "Sodium", 128, "mEq/L", low=135, high=145),
        lab("pt", "5902-2", "Prothrombin time", 21.4, "sec"),
        lab("alp", "6768-6", "Alkaline phosphatase", 310, "IU/L", high=129, comparator=">"),
        {**lab("ana", "5048-4", "ANA titer", 0, "1"), "valueQuantity": None,
         "valueRatio": {"numerator": {"value": 1}, "denominator": {"value": 160}}},
        # ALT: quarterly before the drug, then only after the reaction within the 30-day window (peak)
        lab("alt-2023", "1742-6", "ALT", 22, "U/L", when="2023-12-20T08:00:00-05:00"),
        lab("alt-base", "1742-6", "ALT", 26, "U/L", when="2024-03-20T08:00:00-04:00"),
        lab("alt-peak", "1742-6", "ALT", 2140, "U/L", when="2024-05-04T06:00:00-04:00"),
        lab("alt-0510", "1742-6", "ALT", 730, "U/L", when="2024-05-10T06:00:00-04:00"),
        # AST: in the window only after the suspect was started (2024-04-18), already high
        lab("ast-base", "1920-8", "AST", 21, "U/L", when="2024-03-20T08:00:00-04:00"),
        lab("ast-0425", "1920-8", "AST", 96, "U/L", when="2024-04-25T08:00:00-04:00"),
        lab("ast-peak", "1920-8", "AST", 1810, "U/L", when="2024-05-04T06:00:00-04:00"),
        # creatinine has a result before the drug in the window: no older one is wanted
        lab("crea-base", "2160-0", "Creatinine", 0.9, "mg/dL", when="2024-03-20T08:00:00-04:00"),
        lab("crea-0410", "2160-0", "Creatinine", 0.97, "mg/dL", when="2024-04-10T08:00:00-04:00"),
        lab("crea-0504", "2160-0", "Creatinine", 1.5, "mg/dL", when="2024-05-04T06:00:00-04:00"),
        # point-of-care glucose every 4 hours from 2024-04-29 to 2024-05-03: 30 results
        *(lab(f"glu-{n}", "2345-7", "Glucose", GLUCOSE[n], "mg/dL",
              when=(dt.datetime(2024, 4, 29) + dt.timedelta(hours=4 * n)).strftime("%Y-%m-%dT%H:%M:%SZ"))
          for n in range(30)),
        # the reaction itself, diagnosed on the reaction day; and a condition of years later
        {"resourceType": "Condition", "id": f"{PID}-dili", "subject": SUBJECT,
         "code": {"coding": [{"system": SNOMED, "code": "197354009", "display": "Toxic liver disease (disorder)"}]},
         "onsetDateTime": "2024-05-02T16:00:00-04:00"},
        {"resourceType": "Condition", "id": f"{PID}-later", "subject": SUBJECT, "code": {"text": "Gout"},
         "onsetDateTime": "2025-09-01"},
        # Synthea: a Condition per episode, the same term year after year
        *(sinusitis(year) for year in (2019, 2021, 2023)),
        # allergies: one known for years, one written down because of this reaction (no onset, recorded after)
        allergy("sulfa", rx("10180", "sulfamethoxazole"), recordedDate="2005-06-01"),
        allergy("amox", rx("723", "amoxicillin"), recordedDate="2024-05-06T09:00:00-04:00"),
        allergy("latex", {"text": "latex"}, onsetDateTime="2010-01-01", recordedDate="2024-05-06"),
        allergy("clav", rx("48203", "clavulanate"), recordedDate="2024-04-01",
                reaction=[{"manifestation": [{"text": "hepatitis"}], "onset": "2024-05-02"}]),
    ]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):
    try:
        import sekmet  # noqa: F401
    except ImportError:
        if os.environ.get("CI"):
            pytest.fail("CI must install sekmet-fhir (the test FHIR server): pip install '.[test]'")
        pytest.skip("sekmet-fhir (the test FHIR server) is not installed (pip install '.[test]')")
    srv = es.start_server(tmp_path_factory.mktemp("sekmet-export"))
    try:
        for resource in records():
            response = srv.put(without_none(resource))
            assert response.status_code < 300, f"{resource['id']}: {response.text[:300]}"
        yield srv
    finally:
        srv.stop()


@pytest.fixture(scope="module")
def draft(server, tmp_path_factory: pytest.TempPathFactory) -> dict:
    from reporter.cli import main

    out = tmp_path_factory.mktemp("draft") / "draft.yaml"
    result = CliRunner().invoke(main, ["pull", "--server", server.base, "--token", es.TOKEN, "--patient", PID,
                                       "--suspect", "amoxicillin", "--reaction-date", "2024-05-02",
                                       "--reaction", "drug-induced liver injury", "-o", str(out),
                                       "--bundle", str(out.parent / "draft-bundle.json")],
                                catch_exceptions=False)
    assert result.exit_code == 1, result.output  # a draft that needs completing, no traceback
    data = yaml.safe_load(Path(out).read_text())
    data["bundle_path"] = out.parent / "draft-bundle.json"
    return data


def drugs_of(draft: dict) -> dict[str, dict]:
    return {d["product"]: d for d in draft["case"]["drugs"]}


def test_an_allergy_recorded_from_the_reaction_on_is_not_history(draft: dict) -> None:
    history = [h["term"] for h in draft["case"]["patient"]["medical_history"]]
    # the amoxicillin allergy was written down four days after the reaction: it may be the reaction itself, and
    # as history it would say the patient was known allergic to the suspect before taking it
    assert history == ["Viral sinusitis (disorder)", "Allergy to sulfamethoxazole", "Allergy to latex"]
    assert any(f"AllergyIntolerance/{PID}-amox" in h and "may be this reaction" in h for h in draft["hints"])
    # nor one whose reaction began on the reaction date, whenever it was entered
    assert any(f"AllergyIntolerance/{PID}-clav" in h for h in draft["hints"])
    assert not any(s["resource"].startswith(f"AllergyIntolerance/{PID}-amox") for s in draft["sources"])


def test_ended_prescriptions_without_an_end_date_are_not_taken_as_ongoing(draft: dict) -> None:
    drugs = drugs_of(draft)
    # the 2019 acetaminophen (stopped, no end date) and the November 2023 ciprofloxacin (7 days) ended long before
    # the 90-day window: listing them as concomitant said the patient took them at the reaction
    assert set(drugs) == {"Simvastatin 20 MG Oral Tablet", "amoxicillin 875 MG / clavulanate 125 MG Oral Tablet",
                          "predniSONE 20 MG Oral Tablet", "spironolactone 25 MG Oral Tablet",
                          "heparin sodium 100 UNT/ML Injectable Solution", "vancomycin 1000 MG Injection"}
    assert drugs["Simvastatin 20 MG Oral Tablet"]["role"] == "concomitant"
    suspect = drugs["amoxicillin 875 MG / clavulanate 125 MG Oral Tablet"]
    # the course's length is kept as its duration (G.k.4.r.6), no stop date invented from it
    assert suspect["role"] == "suspect" and suspect["dosages"] == [
        {"every": {"value": 12.0, "unit": "h"}, "duration": {"value": 10.0, "unit": "d"},
         "start": "2024-04-18T10:12:00-04:00", "text": "1 tablet by mouth twice daily for 10 days",
         "route": {"text": "Oral route"}}]


def test_every_dosage_instruction_of_a_request_is_a_dosage_line(draft: dict) -> None:
    taper = drugs_of(draft)["predniSONE 20 MG Oral Tablet"]["dosages"]
    assert [(d["dose"]["value"], d["start"], d["stop"], d["text"]) for d in taper] == [
        (40.0, "2024-05-05", "2024-05-07", "40 mg daily for 3 days"),
        (20.0, "2024-05-08", "2024-05-10", "20 mg daily for 3 days")]


def test_lab_units_sent_without_ucum_become_ucum_or_stay_as_written(draft: dict) -> None:
    tests = {t["name"]: t for t in draft["case"]["tests"]}
    assert tests["INR"] == {"name": "INR", "loinc": "6301-6", "date": "2024-05-04T06:00:00-04:00", "value": 2.1,
                            "unit": "1", "low": 0.8, "high": 1.2}
    assert (tests["Alkaline phosphatase"]["unit"], tests["Alkaline phosphatase"]["comparator"],
            tests["Alkaline phosphatase"]["high"]) == ("[IU]/L", ">", 129.0)
    assert (tests["Sodium"]["value"], tests["Sodium"]["unit"], tests["Sodium"]["low"]) == (128.0, "meq/L", 135.0)
    # no UCUM code known for these spellings: the result as written, no invalid unit, no number changed
    assert tests["Prothrombin time"]["result_text"] == "21.4 sec" and "unit" not in tests["Prothrombin time"]
    # and what still needs completing speaks of the case, not of Bundle entries with units UCUM refuses
    assert not [n for n in draft["still_needed"] if "UCUM" in n["message"]], draft["still_needed"]


def test_a_test_seen_only_after_the_reaction_gets_its_baseline(draft: dict) -> None:
    tests = draft["case"]["tests"]
    alt = [(t["date"][:10], t["value"]) for t in tests if t.get("loinc") == "1742-6"]
    # the latest ALT before the 30-day window (43 days before the reaction), not the one of December
    assert alt == [("2024-03-20", 26.0), ("2024-05-04", 2140.0), ("2024-05-10", 730.0)]
    index = next(i for i, t in enumerate(tests) if t.get("loinc") == "1742-6")
    assert {"path": f"tests[{index}]", "resource": f"Observation/{PID}-alt-base/_history/1",
            "codes": [{"system": "http://loinc.org", "code": "1742-6"}]} in draft["sources"]
    # AST's result in the window is after the suspect was started: the one before the drug is the baseline
    ast = [(t["date"][:10], t["value"]) for t in tests if t.get("loinc") == "1920-8"]
    assert ast == [("2024-03-20", 21.0), ("2024-04-25", 96.0), ("2024-05-04", 1810.0)]
    crea = [t["date"][:10] for t in tests if t.get("loinc") == "2160-0"]
    assert crea == ["2024-04-10", "2024-05-04"]
    assert draft["pulled"]["windows_days"]["labs_baseline"] == 365


def test_the_draft_bundle_cites_its_sources_without_unresolvable_references(draft: dict) -> None:
    from reporter.validation import validate_file

    _, report = validate_file(draft["bundle_path"])
    # before: every Provenance pointed at a URL on the EHR, each one an error "does not resolve inside the
    # Bundle" burying what the person must still add
    assert not [i for i in report.issues if i.code == "BUNDLE-REFERENCE"]
    errors = {i.code for i in report.issues if i.severity in ("error", "fatal")}
    assert errors == {"ICSR-MIN-REPORTER"}, errors


def test_a_condition_recorded_per_episode_is_one_history_item(draft: dict) -> None:
    history = draft["case"]["patient"]["medical_history"]
    assert history[0] == {"term": "Viral sinusitis (disorder)", "start": "2023-02-10", "end": "2023-02-24",
                          "continuing": False,
                          "comments": "3 episodes recorded, the first from 2019-02-10; the dates are the latest one's"}
    cited = {s["resource"] for s in draft["sources"] if s["path"] == "patient.medical_history[0]"}
    assert cited == {f"Condition/{PID}-sinusitis-{y}/_history/1" for y in (2019, 2021, 2023)}


def test_a_test_measured_hourly_keeps_the_results_that_tell_its_course(draft: dict) -> None:
    glucose = [(t["date"], t["value"]) for t in draft["case"]["tests"] if t.get("loinc") == "2345-7"]
    # 30 results would bury the case (an ICU stay gives thousands): the last before the reaction, the first on
    # the reaction day, the highest, the lowest, the last
    assert glucose == [("2024-05-01T08:00:00Z", 388.0), ("2024-05-01T20:00:00Z", 115.0),
                       ("2024-05-02T00:00:00Z", 110.0), ("2024-05-02T08:00:00Z", 41.0),
                       ("2024-05-03T20:00:00Z", 115.0)]
    assert any(h.startswith("Glucose: 30 results in the lab window; 5 kept") for h in draft["hints"])


def test_a_suspect_named_by_a_brand_the_ehr_does_not_write_points_at_the_drugs_pulled(server, tmp_path: Path) -> None:
    from reporter.cli import main

    out = tmp_path / "draft.yaml"
    result = CliRunner().invoke(main, ["pull", "--server", server.base, "--token", es.TOKEN, "--patient", PID,
                                       "--suspect", "Augmentin", "--reaction-date", "2024-05-02", "-o", str(out)],
                                catch_exceptions=False)
    assert result.exit_code == 1, result.output
    draft = yaml.safe_load(out.read_text())
    # the EHR codes the generic (RxNorm SCD) only: the brand is not matched, and nothing is guessed
    assert drugs_of(draft)["amoxicillin 875 MG / clavulanate 125 MG Oral Tablet"]["role"] == "concomitant"
    (needed,) = [n for n in draft["still_needed"] if n["path"] == "drugs"]
    assert "'Augmentin' was not found" in needed["message"]
    assert "amoxicillin 875 MG / clavulanate 125 MG Oral Tablet" in needed["hint"]
    assert "mark that one suspect" in needed["hint"]
    assert "(hint: if 'Augmentin' is one of the drugs pulled" in result.output  # said where it is read


def test_a_suspect_name_matches_whole_words_only(server, tmp_path: Path) -> None:
    from reporter.cli import main

    out = tmp_path / "draft.yaml"
    result = CliRunner().invoke(main, ["pull", "--server", server.base, "--token", es.TOKEN, "--patient", PID,
                                       "--suspect", "iron", "--reaction-date", "2024-05-02", "-o", str(out)],
                                catch_exceptions=False)
    assert result.exit_code == 1, result.output
    draft = yaml.safe_load(out.read_text())
    # 'iron' is inside 'spironolactone': that made the diuretic the suspect and found the iron
    assert drugs_of(draft)["spironolactone 25 MG Oral Tablet"]["role"] == "concomitant"
    assert [d["product"] for d in draft["case"]["drugs"] if d["role"] == "suspect"] == ["iron"]
    assert any("'iron' was not found" in n["message"] for n in draft["still_needed"])


def test_a_titre_is_kept_as_written(draft: dict) -> None:
    (ana,) = [t for t in draft["case"]["tests"] if t.get("loinc") == "5048-4"]
    assert ana["result_text"] == "1:160" and "value" not in ana  # was dropped: valueRatio was not read


def test_an_infusion_rate_is_kept_in_the_dosage_text(draft: dict) -> None:
    drugs = drugs_of(draft)
    (heparin,) = drugs["heparin sodium 100 UNT/ML Injectable Solution"]["dosages"]
    assert heparin["text"] == "rate 18 U/kg/h" and "dose" not in heparin
    (vancomycin,) = drugs["vancomycin 1000 MG Injection"]["dosages"]
    assert vancomycin["dose"] == {"value": 1.0, "unit": "g"}
    assert vancomycin["text"] == "1 administration(s) recorded; rate 250 mL/h"


def test_a_condition_from_the_reaction_day_on_is_not_history(draft: dict) -> None:
    terms = [h["term"] for h in draft["case"]["patient"]["medical_history"]]
    # diagnosed the day of the reaction: the reaction itself, which as history would be its own risk factor
    assert "Toxic liver disease (disorder)" not in terms and "Gout" not in terms
    assert any(f"Condition/{PID}-dili" in h and "may be the reaction" in h for h in draft["hints"])
    assert not any(f"Condition/{PID}-later" in h for h in draft["hints"])  # a year later: not a hint either
