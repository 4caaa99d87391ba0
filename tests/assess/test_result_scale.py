"""Scales: a result not on its method's scale is an error; the functions validation can call."""

from __future__ import annotations

import pytest

from reporter.assess.result import AssessmentError, check_result, is_valid_result, known_method, scale_of
from reporter.assess.run import stated_problems
from reporter.casefile.model import CaseFile
from tests.assess.support import case_data


def test_scales() -> None:
    assert scale_of("naranjo") == ("Definite", "Probable", "Possible", "Doubtful")
    assert scale_of("WHO-UMC")[1] == "Probable/Likely"
    assert scale_of("rucam") == ("Excluded", "Unlikely", "Possible", "Probable", "Highly probable")


@pytest.mark.parametrize(("method", "result", "ok"), [
    ("naranjo", "Probable", True), ("Naranjo", "probable (score 6)", True), ("naranjo", "Probable (score 9)", False),
    ("naranjo", "Likely", False), ("naranjo", "Highly probable", False), ("naranjo", "", False),
    ("WHO-UMC", "Probable/Likely", True), ("who-umc", "likely", True), ("WHO-UMC", "Unclassifiable", True),
    ("WHO-UMC", "Related", False),
    ("RUCAM", "8 - probable", True), ("RUCAM", "8 – probable", True), ("rucam", "9 - probable", False),
    ("RUCAM", "Highly probable (score 10)", True), ("RUCAM", "Definite", False),
])
def test_is_valid_result(method: str, result: str, ok: bool) -> None:
    assert is_valid_result(method, result) is ok


def test_check_result_and_unknown_methods() -> None:
    with pytest.raises(AssessmentError) as err:
        check_result("naranjo", "Certain", location="drugs[0].reactions[0].causality[0].result")
    assert "use one of: Definite, Probable, Possible, Doubtful" in err.value.hint
    with pytest.raises(AssessmentError):
        scale_of("Global introspection")
    assert known_method("Global introspection") is None
    assert known_method("Naranjo") == "naranjo"


def test_stated_results_off_the_scale_are_listed_with_their_path() -> None:
    data = case_data()
    data["drugs"][0]["reactions"][0]["causality"] = [
        {"source": "Reporter", "method": "Global introspection", "result": "Related"},
        {"source": "Sender", "method": "Naranjo", "result": "Very likely"},
        {"source": "Sender", "method": "WHO-UMC", "result": "Probable/Likely"},
    ]
    problems = stated_problems(CaseFile.model_validate(data))
    assert problems == [("drugs[0].reactions[0].causality[1].result",
                         "'Very likely' is not a Naranjo result (scale: Definite, Probable, Possible, Doubtful)")]


def test_fhir_causality_codes() -> None:
    from reporter.assess.result import fhir_causality

    who = fhir_causality("WHO-UMC", "Probable/Likely")
    assert who["method"]["coding"][0]["code"] == "Checklist"
    assert who["assessment"]["coding"][0] == {
        "system": "http://terminology.hl7.org/CodeSystem/adverse-event-causality-assess",
        "code": "Probably-Likely", "display": "Probable/Likely"}
    assert fhir_causality("WHO-UMC", "likely", r4_codes=False)["assessment"]["coding"][0]["code"] == "probably-likely"
    naranjo = fhir_causality("Naranjo", "Probable (score 5)")
    assert naranjo["method"]["coding"][0]["code"] == "ProbabilityScale"
    assert naranjo["assessment"] == {"text": "Probable (score 5)"}
    assert fhir_causality("Global introspection", "Related") is None
    assert fhir_causality("Naranjo", "Certain") is None
