"""The questionnaire behind /cases/<id>/assess: items with options and points, pre-fills marked, the form's
answers read back, and the assessor's answers recorded on the case (replacing only their own entry)."""

from __future__ import annotations

import pytest

from reporter.assess.facts import facts_for
from reporter.assess.questionnaire import form_answers, methods_for, record, sheet
from reporter.assess.result import AssessmentError
from reporter.assess.run import assess_case
from reporter.casefile.model import CaseFile
from tests.assess.support import case_data, facts


def test_naranjo_sheet_marks_prefills_and_scores_like_the_cli() -> None:
    f = facts(case_data())
    s = sheet(f, "naranjo")
    by_item = {q.item: q for q in s.questions}
    assert len(s.questions) == 10 and [o.key for o in by_item["after_drug"].options] == ["yes", "no", "unknown"]
    assert [o.points for o in by_item["after_drug"].options] == [2, -1, 0]
    assert by_item["after_drug"].state == "prefilled" and by_item["dechallenge"].prefill[0] == "yes"
    assert by_item["placebo"].state == "default"
    assert s.assessment == assess_case(f.case, ["naranjo"])[0].assessments[0]
    changed = sheet(f, "naranjo", {"dechallenge": "no", "after_drug": "yes", "placebo": "unknown"})
    states = {q.item: q.state for q in changed.questions}
    assert (states["dechallenge"], states["after_drug"], states["placebo"]) == ("changed", "confirmed", "answered")
    assert changed.assessment.score == s.assessment.score - 1


def test_rucam_only_for_a_liver_pattern_and_its_options_follow_the_scale() -> None:
    assert methods_for(facts(case_data(term="Rash"))) == ["naranjo", "who-umc"]
    f = facts(case_data())  # Hepatitis
    assert methods_for(f) == ["naranjo", "who-umc", "rucam"]
    hepatocellular = {q.item: q for q in sheet(f, "rucam", {"scale": "hepatocellular"}).questions}
    cholestatic = {q.item: q for q in sheet(f, "rucam", {"scale": "cholestatic"}).questions}
    assert "fall-8d" in [o.key for o in hepatocellular["course"].options]
    assert "fall-8d" not in [o.key for o in cholestatic["course"].options]
    assert "fall-180d" in [o.key for o in cholestatic["course"].options]


def test_form_answers_reads_options_and_notes() -> None:
    form = {"naranjo:dechallenge": "no", "naranjo:dechallenge:note": " improved only later ",
            "naranjo:placebo": "", "who-umc:time": "plausible", "rucam:scale": "cholestatic", "csrf_token": "x"}
    assert form_answers(form, "naranjo") == {"dechallenge": {"answer": "no", "note": "improved only later"}}
    assert form_answers(form, "who-umc") == {"time": "plausible"}
    assert form_answers(form, "rucam") == {"scale": "cholestatic"}
    with pytest.raises(AssessmentError, match="'maybe' is not an answer to naranjo item 'placebo'"):
        sheet(facts(case_data()), "naranjo", {"placebo": "maybe"})


def test_record_puts_the_assessors_answers_on_the_case_and_replaces_only_their_own() -> None:
    data = case_data()
    data["drugs"][0]["reactions"][0]["causality"] = [{"source": "Sender", "method": "Naranjo", "result": "Possible"}]
    case = CaseFile.model_validate(data)
    f = facts_for(case, case.drugs[0], case.reactions[0])
    sheets = [sheet(f, "naranjo", {"dechallenge": "no", "after_drug": "yes"}), sheet(f, "who-umc", {})]
    new = record(case, f, sheets, "Dr B", {"naranjo": {"previous_reports": "labelled in the SmPC"}})
    entries = new.drugs[0].reactions[0].causality
    assert [(c.source, c.method) for c in entries] == [("Sender", "Naranjo"), ("Dr B", "Naranjo"),
                                                       ("Dr B", "WHO-UMC")]
    naranjo = {a.item: a for a in entries[1].answers}
    assert entries[1].result == sheets[0].assessment.result_text
    assert naranjo["dechallenge"].note.startswith("changed from the pre-filled 'Yes'")
    assert naranjo["after_drug"].note.startswith("confirmed the pre-filled answer")
    assert naranjo["previous_reports"].note == "labelled in the SmPC" and naranjo["placebo"].note is None
    assert case.drugs[0].reactions[0].causality[0].source == "Sender" and len(case.drugs[0].reactions[0].causality) == 1
    # the assessor's answers are what `reporter assess` reads back from the case
    again = record(new, f, [sheet(f, "naranjo", {"dechallenge": "yes"})], "Dr B", {})
    assert [(c.source, c.method) for c in again.drugs[0].reactions[0].causality] == [
        ("Sender", "Naranjo"), ("Dr B", "WHO-UMC"), ("Dr B", "Naranjo")]
    with pytest.raises(AssessmentError, match="assessor is not named"):
        record(case, f, sheets, "  ", {})
