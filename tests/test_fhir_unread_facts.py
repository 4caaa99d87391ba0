"""Facts a posted Bundle states in plain R4 that no reader took and nobody said: each now either reaches the case
file, E2B and the report alike, or validation says it is not read (FHIR-NOT-READ) where it is.

- Patient.gender `other`: E2B D.5/D.10.6 hold male or female only. It went to E2B as UNK and vanished from the
  case file, unsaid; `unknown` vanished from the case file too and from the parent's D.10.6.
- Patient.deceasedBoolean true without a date: the report said the patient died, the case file did not.
- AdverseEvent.detected / recordedDate: no onset, no E2B element, dropped by every reader unsaid.
- Observation.interpretation in other systems' codes: v3 POS or SNOMED CT Negative is E2B's own F.r.3.1 result
  and was dropped; v3 H (high) has no E2B element and was dropped unsaid.
"""

from __future__ import annotations

import copy
import html
import json
import re
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from reporter.casefile import load_case
from reporter.cli import main
from reporter.e2b.export import export_bundles
from reporter.fhir.build import build_bundle
from reporter.fhir.to_case import bundle_to_case
from reporter.inputs import load_bundle
from reporter.render.output import render_html
from reporter.render.view import case_view
from reporter.tables import code_list, fhir_tables
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


# -- Observation.interpretation -----------------------------------------------------------------------

def _interpreted(*concepts: dict) -> tuple[dict, int, dict]:
    """The first test with a value, its interpretation replaced by `concepts`."""
    bundle = copy.deepcopy(load_bundle(CASE))
    n, obs = next((n, o) for n, o in _resources(bundle, "Observation") if "valueQuantity" in o
                  and any(c.get("system") == "http://loinc.org" for c in o["code"].get("coding", []))
                  and o["code"].get("text") == "C-reactive protein")
    obs["interpretation"] = list(concepts)
    return bundle, n, obs


def _result_of(bundle: dict, name: str) -> str | None:
    return next(t.result for t in bundle_to_case(bundle).tests if t.name == name)


def _f_r_3_1(xml: str) -> list[str]:
    return re.findall(r'<interpretationCode code="(\d)" codeSystem="2\.16\.840\.1\.113883\.3\.989\.2\.1\.1\.12"', xml)


@pytest.mark.parametrize(("system", "code", "result"), [
    (V3, "POS", "positive"), (V3, "NEG", "negative"), (V3, "ND", "negative"), (V3, "IND", "inconclusive"),
    (SNOMED, "260385009", "negative"), (SNOMED, "42425007", "borderline"),
])
def test_a_result_coded_by_another_system_is_e2bs_result_everywhere(system: str, code: str, result: str) -> None:
    bundle, _, obs = _interpreted({"coding": [{"system": system, "code": code}]})
    assert _result_of(bundle, obs["code"]["text"]) == result
    assert _f_r_3_1(_xml(bundle)) == [code_list("test_result").e2b(result)]
    assert not _not_read(bundle)


def test_high_or_low_is_said_not_read_and_shown_in_the_report() -> None:
    bundle, n, obs = _interpreted({"coding": [{"system": V3, "code": "H", "display": "High"}]})
    assert _result_of(bundle, obs["code"]["text"]) is None and _f_r_3_1(_xml(bundle)) == []
    said = _not_read(bundle)
    assert list(said) == [f"Bundle.entry[{n}].resource.ofType(Observation).interpretation[0]"]
    assert "High" in next(iter(said.values()))
    assert "High" in render_html(case_view(bundle))


def test_a_second_interpretation_is_said_not_read_unless_it_says_the_same() -> None:
    ich = {"system": f"urn:oid:{code_list('test_result').oid}", "code": "1"}
    bundle, n, obs = _interpreted({"coding": [ich]}, {"coding": [{"system": V3, "code": "POS"}]},
                                  {"coding": [{"system": V3, "code": "HH"}]})
    assert _result_of(bundle, obs["code"]["text"]) == "positive"
    assert list(_not_read(bundle)) == [f"Bundle.entry[{n}].resource.ofType(Observation).interpretation[2]"]


def test_a_result_said_only_by_a_bare_code_reads_as_its_word_in_the_report() -> None:
    """A test sent with no value and only v3 POS (no display, no text): the report said "POS"; it now says E2B's
    word for the result, and the sender's own words still win when given."""
    bundle, _, obs = _interpreted({"coding": [{"system": V3, "code": "POS"}]})
    obs.pop("valueQuantity")
    row = next(r for r in case_view(bundle).labs if r.test.text == obs["code"]["text"])
    assert row.result_text == "Positive"
    obs["interpretation"][0]["text"] = "weakly reactive"
    assert next(r for r in case_view(bundle).labs if r.test.text == obs["code"]["text"]).result_text == \
        "weakly reactive"


def test_the_interpretation_table_names_e2b_results_only() -> None:
    keys = set(code_list("test_result").codes)
    assert {r for codes in fhir_tables().interpretation_results.values() for r in codes.values()} <= keys


# -- every reader that takes a Bundle ----------------------------------------------------------------

def _all_four() -> dict:
    bundle = _deceased(True)
    (_, patient), *_ = _resources(bundle, "Patient")
    patient["gender"] = "other"
    (_, event), *_ = _resources(bundle, "AdverseEvent")
    event["detected"] = "2023-08-01"
    _, obs = next((n, o) for n, o in _resources(bundle, "Observation") if o["code"].get("text") == "Ferritin")
    obs["interpretation"] = [{"coding": [{"system": V3, "code": "H"}]}]
    return bundle


def test_the_cli_commands_on_a_bundle_file_read_and_say_the_same(tmp_path: Path) -> None:
    """validate and render say each fact not read; e2b says it with its own checks (what it leaves out or sends
    as UNK); case holds what E2B sends."""
    bundle = _all_four()
    said = _not_read(bundle)
    assert len(said) == 3
    source = tmp_path / "icsr.json"
    source.write_text(json.dumps(bundle))
    runner = CliRunner()
    checked = runner.invoke(main, ["validate", str(source)])
    assert all(f"{where}: {message}" in checked.output for where, message in said.items())
    page = tmp_path / "case.html"
    assert runner.invoke(main, ["render", str(source), "-o", str(page)]).exit_code == 0
    shown = html.unescape(page.read_text())
    assert all(message in shown for message in said.values())
    out = tmp_path / "case.xml"
    exported = runner.invoke(main, ["e2b", str(source), "-o", str(out)])
    assert exported.exit_code == 0
    assert all(f"{where}: {message}" in exported.output for where, message in said.items())
    assert '<administrativeGenderCode nullFlavor="UNK"/>' in out.read_text()
    case = yaml.safe_load(runner.invoke(main, ["case", str(source)]).output)
    assert case["patient"]["sex"] == {"absent": "unknown"} and case["patient"]["death"] == {}
