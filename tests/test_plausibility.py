"""Plausibility layer: every rule with a case that passes and one that fails, located by case-file path and
the line that holds the field (case files), or by FHIRPath (Bundles)."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest
import yaml

from reporter.casefile.model import CaseFile
from reporter.fhir.build import build_bundle
from reporter.validation import validate_bundle, validate_file
from reporter.validation.units import convert, convert_molar, parse
from tests.helpers import load_example, setter

Case = dict[str, Any]
BASE = load_example()




def _add_test(**test: Any) -> Callable[[Case], None]:
    return lambda case: case["tests"].append({"name": test.pop("name", "lab"), **test})


def _jaundice(bilirubin: float) -> Callable[[Case], None]:
    def change(case: Case) -> None:
        case["reactions"].append({"id": "jaundice", "verbatim": "jaundice",
                                  "onset": {"value": 20, "unit": "d", "drug": "anakinra"}})
        case["tests"].append({"name": "Total bilirubin", "loinc": "1975-2", "value": bilirubin, "unit": "mg/dL",
                              "low": 0.3, "high": 1.2, "date": {"value": 21, "drug": "anakinra"}})
    return change


def _death(outcome: str | None) -> Callable[[Case], None]:
    def change(case: Case) -> None:
        case["patient"]["death"] = {"date": "2023-08-20"}
        if outcome:
            case["reactions"][0]["outcome"] = outcome
            case["reactions"][0]["seriousness"] = {"death": True}
    return change


def _no_adverse_event(seriousness: dict[str, Any]) -> Callable[[Case], None]:
    """The demo case with a 'No adverse event' entry for the suspect drug (an error reported without harm)."""
    def change(case: Case) -> None:
        case["reactions"].append({"id": "noae", "verbatim": "No adverse event", "seriousness": seriousness})
        case["drugs"][0]["reactions"].append({"reaction": "noae"})
    return change


def _ended(end: Any, outcome: str) -> Callable[[Case], None]:
    def change(case: Case) -> None:
        case["reactions"][0].update(end=end, outcome=outcome)
    return change


def _died_of(outcome: str) -> Callable[[Case], None]:
    def change(case: Case) -> None:
        case["reactions"][0].update(outcome=outcome, seriousness={"death": True})
        case["patient"]["death"] = {"date": "2023-08-20"}
    return change


def _not_serious(**report: Any) -> Callable[[Case], None]:
    def change(case: Case) -> None:
        for reaction in case["reactions"]:
            reaction["seriousness"] = {}
        case["report"].update(report)
    return change


def _with_parent(sex: str, then: Callable[[Case], None]) -> Callable[[Case], None]:
    """The demo case as a parent-child report whose parent (D.10) has `sex`, changed by `then`."""
    def change(case: Case) -> None:
        case["patient"]["parent"] = {"identification": "AB", "sex": sex}
        then(case)
    return change


def _onset_dates(onset: str) -> Callable[[Case], None]:
    def change(case: Case) -> None:
        case["drugs"][0]["dosages"][0]["start"] = "2023-03-10"
        case["drugs"][0]["dosages"][0].pop("stop", None)
        for reaction in case["reactions"]:
            reaction["onset"] = onset
    return change


def _born_and_onset(birth: str, onset: str) -> Callable[[Case], None]:
    """The demo patient (12 years at onset) born on `birth`, with the first reaction dated `onset`."""
    def change(case: Case) -> None:
        case["patient"]["birth_date"] = birth
        case["reactions"][0]["onset"] = onset
    return change


def _interval_and_dates(interval: dict) -> Callable[[Case], None]:
    """Dates 20 days apart (first dose 2023-03-10, onset 2023-03-30) and a stated interval from the first dose."""
    def change(case: Case) -> None:
        _onset_dates("2023-03-30")(case)
        case["drugs"][0]["reactions"][0]["onset_after_first_dose"] = interval
    return change


# (rule, change that breaks it, expected severity, case-file path of the problem, change that keeps it clean)
RULES = [
    ("PLAUS-ONSET-BEFORE-DRUG", setter("reactions.0.onset", {"value": -3, "unit": "d", "drug": "anakinra"}),
     "warning", "reactions[0].onset", setter("reactions.0.onset", {"value": 3, "unit": "d", "drug": "anakinra"})),
    ("PLAUS-ONSET-BEFORE-DRUG", _onset_dates("2023-03-01"), "warning", "reactions[0].onset",
     _onset_dates("2023-03-30")),
    ("PLAUS-NEGATIVE-INTERVAL", setter("drugs.0.reactions.0.onset_after_first_dose", {"value": -5, "unit": "d"}),
     "warning", "drugs[0].reactions[0].onset_after_first_dose",
     setter("drugs.0.reactions.0.onset_after_first_dose", {"value": 5, "unit": "d"})),
    ("PLAUS-INTERVAL-DATES", _interval_and_dates({"value": 5, "unit": "d"}), "warning",
     "drugs[0].reactions[0].onset_after_first_dose", _interval_and_dates({"value": 20, "unit": "d"})),
    ("PLAUS-INTERVAL-DATES", _interval_and_dates({"value": 6, "unit": "wk"}), "warning",
     "drugs[0].reactions[0].onset_after_first_dose", _interval_and_dates({"value": 3, "unit": "wk"})),
    ("PLAUS-AGE-BIRTH", _born_and_onset("2001-06-15", "2023-08-20"), "warning", "patient.age_at_onset",
     _born_and_onset("2011-06-15", "2023-08-20")),
    ("PLAUS-NEGATIVE-DOSE", setter("drugs.0.dosages.0.dose", {"value": -600, "unit": "mg"}), "error",
     "drugs[0].dosages[0].dose", setter("drugs.0.dosages.0.dose", {"value": 600, "unit": "mg"})),
    ("PLAUS-NEGATIVE-DURATION", setter("reactions.0.duration", {"value": -2, "unit": "d"}), "error",
     "reactions[0].duration", setter("reactions.0.duration", {"value": 2, "unit": "d"})),
    # "modified FOLFOX-6, 11 cycles" (PMC4171312): a number of cycles is no duration; 20 weeks is
    ("PLAUS-DURATION-UNIT", setter("drugs.0.dosages.0.duration", {"value": 11, "unit": "{cyclical}"}), "warning",
     "drugs[0].dosages[0].duration", setter("drugs.0.dosages.0.duration", {"value": 20, "unit": "wk"})),
    ("PLAUS-AGE", setter("patient.age_at_onset", {"value": 670, "unit": "a"}), "error", "patient.age_at_onset",
     setter("patient.age_at_onset", {"value": 67, "unit": "a"})),
    ("PLAUS-AGE", setter("patient.age_at_onset", {"value": 118, "unit": "a"}), "warning", "patient.age_at_onset",
     setter("patient.age_at_onset", {"value": 98, "unit": "a"})),
    ("PLAUS-AGE-GROUP", setter("patient.age_group", "elderly"), "warning", "patient.age_group",
     setter("patient.age_group", "child")),
    ("PLAUS-WEIGHT", setter("patient.weight_kg", 700), "error", "patient.weight_kg", setter("patient.weight_kg", 40)),
    ("PLAUS-WEIGHT", setter("patient.weight_kg", 3), "warning", "patient.weight_kg", setter("patient.weight_kg", 38)),
    ("PLAUS-HEIGHT", setter("patient.height_cm", 1500), "error", "patient.height_cm", setter("patient.height_cm", 150)),
    ("PLAUS-RANGE-INVERTED", setter("tests.7.low", 90), "error", "tests[7].low", setter("tests.7.low", 9)),
    ("PLAUS-UNIT-PROPERTY", setter("tests.12.unit", "umol/L"), "warning", "tests[12].unit",
     setter("tests.12.unit", "mg/L")),
    ("PLAUS-LAB-LIMIT", setter("tests.10.value", 4065000), "error", "tests[10].value", setter("tests.10.value", 4065)),
    ("PLAUS-LAB-LIMIT", _add_test(name="IgG", loinc="2465-3", value=1342, unit="mg/mL", date="2023-05-01"),
     "error", "tests[19].value", _add_test(name="IgG", loinc="2465-3", value=1342, unit="mg/dL", date="2023-05-01")),
    ("PLAUS-INTERPRETATION", _add_test(name="IgG", loinc="2465-3", value=1342, unit="mg/dL", low=700, high=1200,
                                       result_text="normal", date="2023-05-01"), "warning", "tests[19].result_text",
     _add_test(name="IgG", loinc="2465-3", value=1342, unit="mg/dL", low=700, high=1200, result_text="high",
               date="2023-05-01")),
    ("PLAUS-LAB-REACTION", _jaundice(0.1), "warning", "tests[19].value", _jaundice(4.5)),
    ("PLAUS-CAUSALITY-SCALE", setter("drugs.0.reactions.0.causality.0",
                                   {"source": "Sender", "method": "Naranjo", "result": "Certain"}),
     "warning", "drugs[0].reactions[0].causality[0].result",
     setter("drugs.0.reactions.0.causality.0", {"source": "Sender", "method": "Naranjo", "result": "Probable"})),
    ("PLAUS-CAUSALITY-SCALE", setter("drugs.0.reactions.0.causality.1.result", "Definite"), "warning",
     "drugs[0].reactions[0].causality[1].result", setter("drugs.0.reactions.0.causality.1.result", "Certain")),
    ("PLAUS-AFTER-REPORT", setter("tests.5.date", "2023-10-01"), "error", "tests[5].date",
     setter("tests.5.date", "2023-09-01")),
    ("PLAUS-AFTER-REPORT", setter("drugs.0.dosages.0.start", "2023-10-01"), "error", "drugs[0].dosages[0].start",
     setter("drugs.0.dosages.0.start", "2023-03-01")),
    ("PLAUS-DEATH-NOT-FATAL", _death(None), "warning", "patient.death", _death("fatal")),
    # the 'results in death' criterion alone says it too (it was looked for where the Bundle does not keep it)
    ("PLAUS-DEATH-NOT-FATAL", _death(None), "warning", "patient.death", _death("not-recovered")),
    # a term that says no harm occurred, marked serious (a situation term is not a harm)
    ("PLAUS-NO-HARM-SERIOUS", _no_adverse_event({"hospitalisation": True}), "warning", "reactions[2].seriousness",
     _no_adverse_event({})),
    # an end entered in a follow-up while the received outcome "not recovered" stayed (both exported as they were)
    ("PLAUS-END-OUTCOME", _ended("2023-09-01", "not-recovered"), "warning", "reactions[0].outcome",
     _ended("2023-09-01", "recovered")),
    ("PLAUS-END-OUTCOME", _ended({"value": 30, "unit": "d", "drug": "anakinra"}, "recovering"), "warning",
     "reactions[0].outcome", _ended({"absent": "unknown"}, "recovering")),
    # the outcome corrected to recovered while the received 'results in death' stayed
    ("PLAUS-DEATH-CRITERION-OUTCOME", _died_of("recovered"), "warning", "reactions[0].outcome", _died_of("fatal")),
    ("PLAUS-DEATH-CRITERION-OUTCOME", _died_of("recovering"), "warning", "reactions[0].outcome",
     _died_of("not-recovered")),
    # the only serious reaction downgraded in a follow-up, the expedited flag and FDA's 15-day type left behind
    ("PLAUS-EXPEDITED-NOT-SERIOUS", _not_serious(expedited=True), "warning", "report.expedited",
     _not_serious(expedited=False)),
    ("PLAUS-EXPEDITED-NOT-SERIOUS", _not_serious(expedited=False, fda_report_type="15-day"), "warning",
     "report.fda_report_type", _not_serious(expedited=False, fda_report_type="non-expedited")),
    # a series' report listing itself among its linked reports (C.1.10.r)
    ("PLAUS-LINKED-SELF", setter("report.linked_reports", ["XX-OTHER-1", BASE["case_id"]]), "warning",
     "report.linked_reports[1]", setter("report.linked_reports", ["XX-OTHER-1"])),
    # a parent-child report's facts against its parent (D.10): both once passed with no word
    ("PLAUS-PARENT-ROUTE", setter("drugs.0.dosages.0.parent_route", {"code": "oral"}), "warning",
     "drugs[0].dosages[0].parent_route", _with_parent("female", setter("drugs.0.dosages.0.parent_route",
                                                                        {"code": "oral"}))),
    ("PLAUS-FATHER-FEMALE", _with_parent("female", setter("drugs.0.additional_info", ["taken-by-father"])),
     "warning", "drugs[0].additional_info",
     _with_parent("male", setter("drugs.0.additional_info", ["taken-by-father"]))),
    ("PLAUS-ABSENT-REASON", setter("reactions.0.onset", {"absent": "unknown"}), "warning", "reactions[0].onset",
     setter("reactions.0.onset", {"absent": "asked-unknown"})),
    ("PLAUS-ABSENT-REASON", setter("tests.0.date", {"absent": "masked"}), "error", "tests[0].date",
     setter("tests.0.date", {"absent": "unknown"})),
    ("PLAUS-ABSENT-REASON", setter("patient.sex", {"absent": "no-information"}), "error", "patient.sex",
     setter("patient.sex", {"absent": "asked-unknown"})),
    ("PLAUS-ABSENT-REASON", setter("patient.medical_history", [{"term": "asthma", "start": {"absent": "unknown"}}]),
     "error", "patient.medical_history[0].start",
     setter("patient.medical_history", [{"term": "asthma", "start": {"absent": "not-asked"}}])),
]


def _validate(tmp_path, change: Callable[[Case], None]):
    case = copy.deepcopy(BASE)
    change(case)
    path = tmp_path / "case.yaml"
    text = yaml.safe_dump(case, sort_keys=False, allow_unicode=True, default_flow_style=False)
    path.write_text(text, encoding="utf-8")
    _, report = validate_file(path)
    return report, text.splitlines()


@pytest.mark.parametrize(("code", "breaks", "severity", "where", "keeps"), RULES,
                         ids=[f"{r[0]}-{i}" for i, r in enumerate(RULES)])
def test_rule_fails_and_passes(tmp_path, code, breaks, severity, where, keeps) -> None:
    report, lines = _validate(tmp_path, breaks)
    found = [i for i in report.issues if i.code == code]
    assert found, report.to_text()
    issue = found[0]
    assert issue.severity == severity
    assert issue.layer == "plausibility"
    assert issue.location.startswith(f"{where} (line "), issue.location
    line = int(issue.location.rsplit("(line ", 1)[1].rstrip(")"))
    key = where.rsplit(".", 1)[-1].split("[")[0]
    assert key in lines[line - 1] or lines[line - 1].lstrip().startswith("- "), (lines[line - 1], where)
    report, _ = _validate(tmp_path, keeps)
    assert [i.line() for i in report.issues if i.code == code] == []


def test_examples_are_plausible(example_files) -> None:
    for path in example_files:
        _, report = validate_file(path)
        assert [i.line() for i in report.issues if i.layer == "plausibility"] == []


def test_bundle_without_case_file_is_located_by_fhirpath() -> None:
    case = copy.deepcopy(BASE)
    case["patient"]["age_at_onset"] = {"value": 670, "unit": "a"}
    report = validate_bundle(build_bundle(CaseFile.model_validate(case)))
    issue = next(i for i in report.issues if i.code == "PLAUS-AGE")
    assert issue.location.startswith("Bundle.entry[") and "ofType(AdverseEvent)" in issue.location


def test_fatal_outcome_without_death_is_reported_by_the_icsr_rules(tmp_path) -> None:
    report, _ = _validate(tmp_path, setter("reactions.0.outcome", "fatal"))
    assert {"ICSR-FATAL-NOT-DEATH"} <= {i.code for i in report.issues}


def test_unit_conversion_is_offered() -> None:
    assert parse("mg/dL")[1] == parse("g/L")[1]
    assert convert(1342, "mg/mL", "mg/dL") == pytest.approx(134200)
    assert convert(1, "mg/dL", "umol/L") is None
    assert convert_molar(1, "mg/dL", "umol/L", 584.66) == pytest.approx(17.1, rel=0.01)
    assert parse("mg/[foo]") is None


def test_conversion_hint_names_the_converted_value(tmp_path) -> None:
    report, _ = _validate(tmp_path, setter("tests.12.unit", "umol/L"))
    issue = next(i for i in report.issues if i.code == "PLAUS-UNIT-PROPERTY")
    assert "mg/dL" in (issue.hint or "") and "0.158" in (issue.hint or "")


def test_a_future_date_is_reported_once(tmp_path) -> None:
    report, _ = _validate(tmp_path, setter("tests.5.date", "2999-01-01"))
    codes = [i.code for i in report.issues if "tests[5].date" in i.location]
    assert codes == ["ICSR-FUTURE-DATE"], report.to_text()


@pytest.mark.parametrize(("field", "number"), [("sex", "D.10.6"), ("birth_date", "D.10.2.1"),
                                               ("identification", "D.10.1")])
def test_a_parent_reason_e2b_cannot_carry_is_said_by_validate_before_the_export_refuses_it(
        field: str, number: str, e2b_schema_dir, monkeypatch: pytest.MonkeyPatch) -> None:
    """The parent's name, birth date and sex are written with the case's reason: one E2B does not allow there
    (NI) has the export refused, so `validate` says so first, as for the patient's own."""
    from pathlib import Path

    from reporter import yaml12
    from reporter.e2b.export import export_bundles

    monkeypatch.setenv("REPORTER_E2B_SCHEMA_DIR", str(e2b_schema_dir))
    data = yaml12.load((Path(__file__).parent / "e2b" / "data" / "rich-case.yaml").read_text(encoding="utf-8"))
    data["patient"]["parent"][field] = {"absent": "no-information"}
    bundle = build_bundle(CaseFile.model_validate(data))
    said = [i for i in validate_bundle(bundle).issues if i.code == "PLAUS-ABSENT-REASON"]
    assert [(i.severity, number in i.message) for i in said] == [("error", True)], said
    refused = [i for i in export_bundles([bundle], receiver_name="ich").check.issues if i.severity == "error"]
    assert [i.code for i in refused] == ["E2B-NULLFLAVOR"] and refused[0].location.startswith(number)


@pytest.mark.parametrize(("decade", "group", "warned"), [
    (6, "elderly", False),    # 'a woman in her 60s': 60 to 69, and 65-69 is elderly
    (1, "adolescent", False),  # 'in his teens'
    (5, "elderly", True),     # the 50s are never 65 or more
    (7, "child", True),
])
def test_an_age_in_decades_fits_every_group_its_decade_reaches(tmp_path, decade, group, warned) -> None:
    """6 {decade} with age group 'elderly' was warned 'does not fit', the decade read as age 60 exactly."""
    def change(case: Case) -> None:
        case["patient"]["age_at_onset"] = {"value": decade, "unit": "{decade}"}
        case["patient"]["age_group"] = group

    report, _ = _validate(tmp_path, change)
    assert any(i.code == "PLAUS-AGE-GROUP" for i in report.issues) is warned
