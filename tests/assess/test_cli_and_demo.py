"""`reporter assess` (text, json, exit codes) and the demo cases' sender assessments."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from reporter.assess.run import assess_case, stated_problems
from reporter.casefile import load_case
from reporter.cli import main
from reporter.render.output import bundle_html
from reporter.render.view import case_view
from tests.helpers import CASE1, EXAMPLES, load_example, write_case
from tests.render_support import demo_bundle

DEMOS = sorted(EXAMPLES.glob("case*.yaml"))


def run(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_text_output_with_explanation() -> None:
    result = run("assess", str(CASE1), "--method", "naranjo")
    assert result.exit_code == 0, result.output
    assert "Anakinra / Hepatitis" in result.output
    assert "Naranjo ADR probability scale: Probable (score 5)" in result.output
    assert "Q3 Did the adverse reaction improve when the drug was discontinued or a specific antagonist was " \
           "given? Yes (+1); from the case: dechallenge positive" in result.output
    assert "Time to onset: onset 20 days after the first dose" in result.output
    assert "WHO-UMC causality categories:" not in result.output


def test_answers_in_the_case_are_checked(tmp_path) -> None:
    data = load_example()
    data["drugs"][0]["reactions"][0]["causality"][2]["answers"].append({"item": "nonsense", "answer": "yes"})
    result = CliRunner().invoke(main, ["assess", str(write_case(tmp_path, data))])
    assert result.exit_code == 2 and "naranjo has no item 'nonsense'" in result.output
    # named by its place in the case file, not as if it came from an answers file ('answers.naranjo.nonsense')
    assert "drugs[0].reactions[0].causality[2].answers[2]" in result.output


def test_a_bad_answer_kept_on_the_case_is_named_by_its_place() -> None:
    """A RUCAM answer a sender typed on a biosimilar-switch cholestasis ('group1-2-ruled-out') was reported at
    'answers.rucam.alternative', a place no case file has."""
    from reporter.assess.result import AssessmentError
    from reporter.casefile.model import CaseFile

    data = load_example()
    data["drugs"][0]["reactions"][0]["causality"][3]["answers"][2]["answer"] = "group1-2-ruled-out"
    with pytest.raises(AssessmentError) as info:
        assess_case(CaseFile.model_validate(data), ["rucam"])
    assert info.value.location == "drugs[0].reactions[0].causality[3].answers[2]"


def test_json_output() -> None:
    result = run("assess", str(CASE1), "--format", "json")
    assert result.exit_code == 0
    data = json.loads(result.output)
    hepatitis = data["pairs"][0]
    assert [a["method"] for a in hepatitis["assessments"]] == ["naranjo", "who-umc", "rucam"]
    assert [a["method"] for a in data["pairs"][1]["assessments"]] == ["naranjo", "who-umc"]  # nausea: no RUCAM
    assert hepatitis["time_to_onset"]["after_first_dose"]["days_from"] == 20
    assert hepatitis["liver"]["r_ratio_at_recognition"] is None
    naranjo = hepatitis["assessments"][0]
    assert naranjo["score"] == 5 and naranjo["category"] == "probable"
    assert {a["source"] for a in naranjo["answers"]} == {"case", "user", "default"}
    assert data["problems"] == []


def test_answers_file_changes_the_score_visibly(tmp_path) -> None:
    answers = tmp_path / "answers.yaml"
    answers.write_text("reaction: hepatitis\nassessor: Dr A\nnaranjo:\n  dechallenge: no\n  alternative_causes: no\n",
                       encoding="utf-8")
    result = run("assess", str(CASE1), "--method", "naranjo", "--answers", str(answers))
    assert result.exit_code == 0
    assert "Naranjo ADR probability scale: Probable (score 6)" in result.output  # 5 - 1 + 2
    assert "Q3 Did the adverse reaction improve when the drug was discontinued or a specific antagonist was " \
           "given? No (+0); given by the assessor (Dr A; the case suggested 'Yes'" in result.output
    assert "Nausea" not in result.output


def test_the_case_dechallenge_changes_the_score(tmp_path) -> None:
    data = load_example()
    data["drugs"][0]["reactions"][0]["dechallenge"] = "negative"
    out = run("assess", str(write_case(tmp_path, data)), "--method", "naranjo")
    assert "Naranjo ADR probability scale: Probable (score 5)" not in out.output
    assert "Naranjo ADR probability scale: Possible (score 4)" in out.output


@pytest.mark.parametrize(("content", "message"), [
    ("naranjo: {placebo: perhaps}", "answers.naranjo.placebo: 'perhaps' is not an answer to naranjo item"),
    ("colour: blue", "unknown key 'colour' in the answers"),
    ("drug: nope", "the case has no drug 'nope'"),
    ("naranjo: [1, 2]", "naranjo answers must be a mapping"),
    ("- a list", "expected a mapping at the top level, found list"),
])
def test_bad_answers_exit_2_with_location(tmp_path, content: str, message: str) -> None:
    answers = tmp_path / "a.yaml"
    answers.write_text(content, encoding="utf-8")
    result = CliRunner().invoke(main, ["assess", str(CASE1), "--answers", str(answers)])
    assert result.exit_code == 2
    assert message in result.output
    assert "Traceback" not in result.output


def test_unreadable_case_exits_2_and_stated_result_off_scale_exits_1(tmp_path) -> None:
    result = CliRunner().invoke(main, ["assess", str(tmp_path / "missing.yaml")])
    assert result.exit_code == 2 and "cannot read file" in result.output
    data = load_example()
    data["drugs"][0]["reactions"][0]["causality"].append({"source": "Sender", "method": "Naranjo",
                                                           "result": "Certain"})
    result = CliRunner().invoke(main, ["assess", str(write_case(tmp_path, data))])
    assert result.exit_code == 1
    assert "error: drugs[0].reactions[0].causality[4].result: 'Certain' is not a Naranjo result" in result.output


@pytest.mark.parametrize("path", DEMOS, ids=lambda p: p.stem)
def test_demo_cases_sender_assessments_are_reproduced(path) -> None:
    case = load_case(path)
    assert stated_problems(case) == []
    results = assess_case(case)
    first = results[0]
    computed = {a.method: a.result_text for a in first.assessments}
    stated = {c.method: c.result for c in case.drugs[0].reactions[0].causality if c.source == "Sender"}
    assert computed == {"naranjo": stated["Naranjo"], "who-umc": stated["WHO-UMC"], "rucam": stated["RUCAM"]}
    assert all(len(text) <= 60 for text in computed.values())  # G.k.9.i.2.r.3


def test_html_causality_section() -> None:
    html = bundle_html(demo_bundle(CASE1), None, load_case(CASE1))
    assert "Computed from the case (Naranjo, WHO-UMC, RUCAM)" in html
    assert "Naranjo ADR probability scale: <strong>Probable (score 5)</strong>" in html
    assert "RUCAM (updated 2016), hepatocellular injury scale: <strong>Possible (score 3)</strong>" in html
    assert "R ratio at recognition: not computable" in html
    assert "Onset 20 days after the first dose" in html
    without = case_view(demo_bundle(CASE1))
    assert without.computed == () and "need the case file" in without.computed_note


def test_cli_render_of_a_case_file_has_the_computed_section(tmp_path) -> None:
    out = tmp_path / "c.html"
    result = run("render", str(CASE1), "--no-validate", "-o", str(out))
    assert result.exit_code == 0
    assert "Naranjo ADR probability scale" in out.read_text(encoding="utf-8")


def test_cioms_description_carries_the_causality() -> None:
    from reporter.render.cioms import build_form

    form = build_form(case_view(demo_bundle(CASE1), None, load_case(CASE1)))
    text = form.description.text + "".join(t for _, _, t in form.continuation)
    assert "Anakinra / Hepatitis: Primary source (article authors), Global introspection: Related; Sender, " \
           "WHO-UMC: Probable/Likely; Sender, Naranjo: Probable (score 5); Sender, RUCAM: Possible (score 3)." in text
    assert "R ratio at recognition: not computable" in text


def test_report_works_out_the_onset_from_dates_when_not_stated(tmp_path) -> None:
    # issue 11: a drug started 2005-08-01 with onset 2005-10-25 showed "not stated"
    from reporter.inputs import load_bundle

    data = load_example()
    data["drugs"][0]["dosages"][0]["start"] = "2005-08-01"
    data["drugs"][0]["dosages"][0].pop("stop")
    data["reactions"][0]["onset"] = "2005-10-25"
    data["drugs"][0]["reactions"][0].pop("onset_after_first_dose")
    view = case_view(load_bundle(write_case(tmp_path, data)))
    hepatitis = view.assessments[0]
    assert hepatitis.onset_after_first_dose is None  # not stated: worked out from the dates, as a span of days
    assert (hepatitis.onset_worked_out, hepatitis.onset_worked_text) == (True, "85 days")
    # stated intervals are shown as stated
    stated = case_view(demo_bundle(CASE1)).assessments[0]
    assert (stated.onset_after_first_dose.value, stated.onset_worked_out) == (20, False)


def test_validate_warns_of_an_answer_assess_would_refuse(tmp_path) -> None:
    """The biosimilar-switch cholestasis case validated clean and exported, then `reporter assess` refused its
    RUCAM answer: validation now says it, as a warning (E2B carries no answers), with its line."""
    from reporter.validation import validate_file

    data = load_example()
    data["drugs"][0]["reactions"][0]["causality"][3]["answers"][2]["answer"] = "group1-2-ruled-out"
    _, report = validate_file(write_case(tmp_path, data))
    [issue] = [i for i in report.issues if i.code == "ASSESS-ANSWER"]
    assert issue.severity == "warning" and report.ok
    assert issue.location.startswith("drugs[0].reactions[0].causality[3].answers[2] (line ")
    assert "'group1-2-ruled-out' is not an answer to rucam item 'alternative'" in issue.message
    _, clean = validate_file(CASE1)
    assert not [i for i in clean.issues if i.code == "ASSESS-ANSWER"]
