"""Facts a posted Bundle states in plain R4 that no reader took and nobody said: each now either reaches the case
file, E2B and the report alike, or validation says it is not read (FHIR-NOT-READ) where it is.

- Patient.gender `other`: E2B D.5/D.10.6 hold male or female only. It went to E2B as UNK and vanished from the
  case file, unsaid; `unknown` vanished from the case file too and from the parent's D.10.6.
- Patient.deceasedBoolean true without a date: the report said the patient died, the case file did not.
- AdverseEvent.detected / recordedDate: no onset, no E2B element, dropped by every reader unsaid.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import yaml
from click.testing import CliRunner

from reporter.casefile import load_case
from reporter.cli import main
from reporter.e2b.export import export_bundles
from reporter.fhir.build import build_bundle
from reporter.fhir.to_case import bundle_to_case
from reporter.inputs import load_bundle
from reporter.render.view import case_view
from reporter.validation import validate_bundle

REPO = Path(__file__).resolve().parents[1]
CASE = REPO / "examples" / "case1-anakinra-hepatitis.yaml"
RICH = REPO / "tests" / "e2b" / "data" / "rich-case.yaml"  # has a parent (D.10)
V3 = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"
SNOMED = "http://snomed.info/sct"


def _resources(bundle: dict, rtype: str) -> list[tuple[int, dict]]:
    return [(n, e["resource"]) for n, e in enumerate(bundle["entry"]) if e["resource"]["resourceType"] == rtype]


def _not_read(bundle: dict) -> dict[str, str]:
    return {i.location: i.message for i in validate_bundle(bundle).issues if i.code == "FHIR-NOT-READ"}


def _xml(bundle: dict) -> str:
    return export_bundles([bundle], receiver_name="ich", batch_id="B1").xml.decode()


def _gendered(path: Path, gender: str) -> dict:
    bundle = copy.deepcopy(load_bundle(path))
    for _, person in _resources(bundle, "Patient"):
        person.pop("_gender", None)
        person["gender"] = gender
    return bundle


# -- Patient.gender -----------------------------------------------------------------------------------

def test_gender_other_goes_as_unknown_everywhere_and_is_said_not_read() -> None:
    bundle = _gendered(RICH, "other")
    case = bundle_to_case(bundle)
    assert case.patient.sex is not None and case.patient.sex.absent == "unknown"
    assert case.patient.parent.sex is not None and case.patient.parent.sex.absent == "unknown"
    xml = _xml(bundle)
    assert xml.count('<administrativeGenderCode nullFlavor="UNK"/>') == 2  # D.5 and D.10.6
    assert "1.0.5218" not in xml
    said = _not_read(bundle)
    (patient_at, _), (parent_at, _) = _resources(bundle, "Patient")
    where = {f"Bundle.entry[{n}].resource.ofType(Patient).gender" for n in (patient_at, parent_at)}
    assert where <= set(said)
    patient_says = said[f"Bundle.entry[{patient_at}].resource.ofType(Patient).gender"]
    assert "D.5" in patient_says and "UNK" in patient_says
    assert case_view(bundle).patient.sex == "other"  # the report shows what was sent


def test_gender_unknown_is_held_as_unknown_and_needs_no_word() -> None:
    bundle = _gendered(RICH, "unknown")
    case = bundle_to_case(bundle)
    assert (case.patient.sex.absent, case.patient.parent.sex.absent) == ("unknown", "unknown")
    assert _xml(bundle).count('<administrativeGenderCode nullFlavor="UNK"/>') == 2
    assert not [where for where in _not_read(bundle) if where.endswith(".gender")]


def test_a_sex_or_its_reason_is_still_read_as_the_case_file_gave_it() -> None:
    for path in (CASE, RICH):
        bundle, given = load_bundle(path), load_case(path).patient
        assert not _not_read(bundle)
        read = bundle_to_case(bundle).patient
        assert read.sex == given.sex and (read.parent and read.parent.sex) == (given.parent and given.parent.sex)


# -- Patient.deceasedBoolean --------------------------------------------------------------------------

def _deceased(value: bool) -> dict:
    bundle = copy.deepcopy(load_bundle(CASE))
    (_, patient), *_ = _resources(bundle, "Patient")
    patient.pop("deceasedDateTime", None)
    patient["deceasedBoolean"] = value
    return bundle


def test_a_death_without_a_date_reaches_the_case_file() -> None:
    bundle = _deceased(True)
    death = bundle_to_case(bundle).patient.death
    assert death is not None and death.date is None and not death.reported_causes
    assert case_view(bundle).patient.death == "the patient died"
    assert "deceasedTime" not in _xml(bundle)  # D.9.1 is a date (no UNK allowed): the death is E.i.7 / E.i.3.2a
    rebuilt = dict(_resources(build_bundle(bundle_to_case(bundle)), "Patient"))
    assert any(p.get("deceasedBoolean") is True for p in rebuilt.values())


def test_a_death_without_a_date_round_trips_through_the_case_command(tmp_path: Path) -> None:
    source = tmp_path / "icsr.json"
    source.write_text(json.dumps(_deceased(True)))
    result = CliRunner().invoke(main, ["case", str(source)])
    assert result.exit_code == 0, result.output
    assert yaml.safe_load(result.output)["patient"]["death"] == {}


def test_not_deceased_says_no_death() -> None:
    assert bundle_to_case(_deceased(False)).patient.death is None


def test_the_death_not_fatal_warning_points_at_the_element_that_says_the_death() -> None:
    found = [i.location for i in validate_bundle(_deceased(True)).issues if i.code == "PLAUS-DEATH-NOT-FATAL"]
    assert found and all(where.endswith(".deceasedBoolean") for where in found)


# -- AdverseEvent.detected / recordedDate ---------------------------------------------------------------

def test_when_a_reaction_was_detected_or_recorded_is_said_not_read() -> None:
    bundle = copy.deepcopy(load_bundle(CASE))
    (n, event), *_ = _resources(bundle, "AdverseEvent")
    event.pop("date", None), event.pop("_date", None)  # no onset: neither date is taken for one
    event["detected"], event["recordedDate"] = "2023-08-01", "2023-08-02T10:00:00Z"
    where = f"Bundle.entry[{n}].resource.ofType(AdverseEvent)."
    assert set(_not_read(bundle)) == {where + "detected", where + "recordedDate"}
    assert bundle_to_case(bundle).reactions[0].onset is None
    assert "20230801" not in _xml(bundle)
