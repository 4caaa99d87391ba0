"""Naranjo: answers -> points -> category, pre-fills from the case, the explanation text."""

from __future__ import annotations

import pytest

from reporter.assess import naranjo
from reporter.assess.facts import facts_for
from reporter.assess.result import AssessmentError, category_by_score
from reporter.casefile.model import CaseFile
from tests.assess.support import case_data, facts, lab

ALL_UNKNOWN = {k: "unknown" for k in (
    "previous_reports", "after_drug", "dechallenge", "rechallenge", "alternative_causes", "placebo", "toxic_level",
    "dose_response", "previous_exposure", "objective_evidence")}


def test_published_example_probable() -> None:
    # Ther Clin Risk Manag 2018;14:1657, Table 1 (PMC6136411): appeared after the drug (+2), improved on
    # withdrawal (+1), no alternative cause (+2), objective evidence (+1), the rest 0: 6, "probable".
    answers = {**ALL_UNKNOWN, "after_drug": "yes", "dechallenge": "yes", "alternative_causes": "no",
               "objective_evidence": "yes", "previous_reports": "no"}
    result = naranjo.assess(facts(case_data(onset=None, dechallenge=None, rechallenge=None)), answers)
    assert [a.points for a in result.answers] == [0, 2, 1, 0, 2, 0, 0, 0, 0, 1]
    assert (result.score, result.category, result.category_label) == (6, "probable", "Probable")
    assert result.result_text == "Probable (score 6)"
    assert result.summary.startswith("Naranjo score 6: probable")
    assert "Q5 Are there alternative causes (other than the drug) that could on their own have caused the " \
           "reaction? No (+2); given by the assessor." in result.explanation


def test_all_do_not_know_is_doubtful() -> None:
    # clinical.md 2.1 test vector: every answer "do not know" scores 0, doubtful.
    result = naranjo.assess(facts(case_data(onset=None, dechallenge=None, rechallenge=None)), ALL_UNKNOWN)
    assert (result.score, result.category) == (0, "doubtful")


def test_extremes_of_the_scale() -> None:
    f = facts(case_data(onset=None, dechallenge=None, rechallenge=None))
    top = {**{k: "yes" for k in ALL_UNKNOWN}, "alternative_causes": "no", "placebo": "no"}
    assert naranjo.assess(f, top).score == 13
    assert naranjo.assess(f, top).category == "definite"
    bottom = {**{k: "no" for k in ALL_UNKNOWN}, "alternative_causes": "yes", "placebo": "yes"}
    assert naranjo.assess(f, bottom).score == -4
    assert naranjo.assess(f, bottom).category == "doubtful"


@pytest.mark.parametrize(("score", "category"), [(13, "definite"), (9, "definite"), (8, "probable"),
                                                 (5, "probable"), (4, "possible"), (1, "possible"),
                                                 (0, "doubtful"), (-4, "doubtful")])
def test_category_bounds(score: int, category: str) -> None:
    assert category_by_score("naranjo", score)["key"] == category


def test_prefilled_from_the_case_and_marked() -> None:
    f = facts(case_data(tests=[lab("ALT", 20, 400, 40)]))
    result = naranjo.assess(f)
    by_item = {a.item: a for a in result.answers}
    assert by_item["after_drug"].answer == "yes" and by_item["after_drug"].source == "case"
    assert "onset 20 days after the first dose" in by_item["after_drug"].fact
    assert by_item["dechallenge"].answer == "yes" and by_item["dechallenge"].source == "case"
    assert by_item["rechallenge"].answer == "unknown" and "not done" in by_item["rechallenge"].fact
    assert by_item["objective_evidence"].answer == "yes"
    assert by_item["objective_evidence"].fact == "ALT 400 U/L above the upper limit 40 (tests[0])"
    assert by_item["previous_reports"].source == "default"
    assert result.score == 4 and result.category == "possible"


def test_changing_the_dechallenge_changes_the_score() -> None:
    positive = naranjo.assess(facts(case_data(dechallenge="positive")))
    negative = naranjo.assess(facts(case_data(dechallenge="negative")))
    assert positive.score - negative.score == 1
    assert {a.item: a.answer for a in negative.answers}["dechallenge"] == "no"
    # and a user answer overrides the case, saying what the case suggested
    overridden = naranjo.assess(facts(case_data(dechallenge="positive")), {"dechallenge": "no"})
    answer = {a.item: a for a in overridden.answers}["dechallenge"]
    assert (answer.answer, answer.source) == ("no", "user")
    assert "the case suggested 'Yes'" in answer.fact
    assert overridden.score == negative.score


def test_rechallenge_and_onset_before_the_drug() -> None:
    recurred = naranjo.assess(facts(case_data(rechallenge="recurred")))
    assert {a.item: a.points for a in recurred.answers}["rechallenge"] == 2
    before = naranjo.assess(facts(case_data(onset={"value": -3, "unit": "d", "drug": "x"})))
    assert {a.item: a.answer for a in before.answers}["after_drug"] == "no"


def test_previous_exposure_from_past_drug_history() -> None:
    data = case_data()
    data["patient"]["past_drugs"] = [{"name": "Drugex", "reaction": {"code": "10019717", "version": "26.1",
                                                                      "term": "Hepatitis"}}]
    answer = {a.item: a for a in naranjo.assess(facts(data)).answers}["previous_exposure"]
    assert answer.answer == "yes" and "patient.past_drugs[0]" in answer.fact


def test_a_past_drug_whose_name_is_not_known_matches_no_drug() -> None:
    # an imported D.8.r.1 nullFlavor MSK, saved from the case form: the case page's assessment raised on it (500)
    data = case_data()
    data["patient"]["past_drugs"] = [{"name": {"absent": "masked"}, "reaction": {"code": "10019717",
                                                                                 "version": "26.1"}}]
    answer = {a.item: a for a in naranjo.assess(facts(data)).answers}["previous_exposure"]
    assert answer.answer == "unknown"



def test_a_past_exposure_with_no_adverse_event_is_no_similar_reaction() -> None:
    """A child given penicillin before nafcillin neutropenia, the history saying 'No adverse event' (a situation,
    not a reaction): question 9 read it as a past reaction to the drug, yes (+1)."""
    data = case_data()
    data["patient"]["past_drugs"] = [{"name": "Drugex", "reaction": {"code": "10067482", "version": "26.1",
                                                                      "term": "No adverse event"}}]
    answer = {a.item: a for a in naranjo.assess(facts(data)).answers}["previous_exposure"]
    assert answer.answer == "no" and "without a reaction (No adverse event)" in answer.fact


@pytest.mark.parametrize(("answers", "message"), [({"nonsense": "yes"}, "has no item 'nonsense'"),
                                                   ({"placebo": "maybe"}, "'maybe' is not an answer"),
                                                   ({"placebo": [1]}, "must be text")])
def test_bad_answers_are_errors_with_their_location(answers, message) -> None:
    with pytest.raises(AssessmentError) as err:
        naranjo.assess(facts(case_data()), answers)
    assert message in str(err.value)
    assert err.value.location.startswith("answers.naranjo.")


def test_answer_spellings() -> None:
    f = facts(case_data(onset=None, dechallenge=None, rechallenge=None))
    result = naranjo.assess(f, {"previous_reports": True, "placebo": {"answer": "Do not know", "note": "n/a"},
                                "toxic_level": False})
    by_item = {a.item: a for a in result.answers}
    assert by_item["previous_reports"].answer == "yes"
    assert by_item["placebo"].answer == "unknown" and by_item["placebo"].fact == "n/a"
    assert by_item["toxic_level"].answer == "no"


def test_items_by_number() -> None:
    f = facts(case_data(onset=None, dechallenge=None, rechallenge=None))
    by_number = naranjo.assess(f, {"1": "yes", "Q5": "no", 10: "yes"})
    by_key = naranjo.assess(f, {"previous_reports": "yes", "alternative_causes": "no", "objective_evidence": "yes"})
    assert by_number.score == by_key.score == 4
    with pytest.raises(AssessmentError, match="answered twice"):
        naranjo.assess(f, {"1": "yes", "previous_reports": "no"})
    with pytest.raises(AssessmentError, match="has no item '11'"):
        naranjo.assess(f, {"11": "yes"})


@pytest.mark.parametrize(("creatinine_date", "counted"), [("2023-12-20", False), ("2024-01-25", True)])
def test_objective_evidence_is_not_a_result_from_before_the_onset(creatinine_date: str, counted: bool) -> None:
    """Q10 from a calendar-dated result of any analyte: a creatinine above its limit before the drug was started
    (kidney disease at baseline) is no evidence of the reaction; one after the onset (day 20) is. Only liver
    tests were placed in time, so the baseline creatinine answered 'yes'."""
    creatinine = {"name": "Creatinine", "loinc": "2160-0", "date": creatinine_date, "value": 124, "unit": "umol/L",
                  "high": 90}
    answer = {a.item: a for a in naranjo.assess(facts(case_data(tests=[creatinine]))).answers}["objective_evidence"]
    assert (answer.answer == "yes") is counted
    assert ("Creatinine 124 µmol/L above the upper limit 90" in (answer.fact or "")) is counted


def _q10(data: dict) -> object:
    return {a.item: a for a in naranjo.assess(facts(data)).answers}["objective_evidence"]


def test_objective_evidence_counts_a_result_below_its_lower_limit() -> None:
    sodium = {"name": "Sodium", "loinc": "2951-2", "unit": "mmol/L", "low": 135, "high": 145}
    data = case_data(term="Hyponatraemia", onset={"value": 10, "unit": "d", "drug": "x"},
                     tests=[{**sodium, "date": {"value": 0, "unit": "d", "drug": "x"}, "value": 139},
                            {**sodium, "date": {"value": 10, "unit": "d", "drug": "x"}, "value": 126}])
    answer = _q10(data)
    assert answer.answer == "yes"
    assert answer.fact == "Sodium 126 mmol/L below the lower limit 135 (tests[1])"
    # a low result before the onset (a baseline) is still no evidence of the reaction
    data["tests"][0]["value"], data["tests"][1]["value"] = 130, 138
    assert _q10(data).answer == "unknown"


def test_objective_evidence_prefers_a_result_related_to_the_reaction() -> None:
    day21 = {"value": 21, "unit": "d", "drug": "x"}
    tests = [{"name": "C-reactive protein", "loinc": "1988-5", "date": day21, "value": 310, "unit": "mg/L", "high": 5},
             {"name": "Neutrophils", "loinc": "751-8", "date": day21, "value": 0.05, "unit": "10*9/L", "low": 1.8,
              "high": 7.5}]
    data = case_data(term="agranulocytosis", onset=day21, tests=tests)
    assert _q10(data).fact == "Neutrophils 0.05 × 10⁹/L below the lower limit 1.8 (tests[1])"
    data["reactions"][0]["verbatim"] = "agranulocytosis (neutrophils 0.05 x10^9/L)"  # named in the reaction
    assert "Neutrophils 0.05" in _q10(data).fact
    data["reactions"][0]["verbatim"] = "Rash"  # nothing related: the first abnormal result
    assert _q10(data).fact.startswith("C-reactive protein 310 mg/L above the upper limit 5")


@pytest.mark.parametrize(("term", "test", "unit", "value", "limits"), [
    ("Pancytopenia", "Platelets", "10*9/L", 18, {"low": 150, "high": 400}),
    # clozapine, day 25: "WBC 2700 with 4% neutrophils" (Yonsei case report); the count is what has a range
    ("Agranulocytosis", "White blood cell count", "/uL", 2700, {"low": 4000, "high": 10000}),
    ("Myocarditis", "Troponin I high sensitivity", "ng/L", 8900, {"high": 34}),
    ("Hyperammonaemic encephalopathy", "Ammonia", "ug/dL", 187, {"high": 60}),
    ("Anaphylactic reaction", "Tryptase", "ug/L", 24.5, {"high": 11.4}),
    ("Respiratory depression", "Respiratory rate", "/min", 6, {"low": 20, "high": 30}),
    ("Torsade de pointes", "QTc interval", "ms", 628, {"high": 470}),  # methadone, EM Resident (EMRA)
    ("Gastrointestinal haemorrhage", "INR", "{INR}", 7.3, {"low": 2.0, "high": 3.0}),
    ("Digitalis toxicity", "Digoxin level", "ng/mL", 4.6, {"low": 1.0, "high": 2.6}),  # a level of another drug
])
def test_objective_evidence_knows_the_tests_of_more_reactions(term, test, unit, value, limits) -> None:
    """Published cases of these reactions cite their own test; Q10 cited the CRP listed first instead."""
    day = {"value": 3, "unit": "d", "drug": "x"}
    tests = [{"name": "C-reactive protein", "loinc": "1988-5", "date": day, "value": 48, "unit": "mg/L", "high": 5},
             {"name": test, "date": day, "value": value, "unit": unit, **limits}]
    assert _q10(case_data(term=term, onset=day, tests=tests)).fact.startswith(test)


def test_q10_cites_the_neutrophils_of_an_agranulocytosis_before_its_white_cell_count() -> None:
    """Clozapine, day 25: "WBC 2700 with 4% neutrophils", the absolute count 108/uL worked out by the sender."""
    day = {"value": 25, "unit": "d", "drug": "x"}
    tests = [{"name": "White blood cell count", "date": day, "value": 2700, "unit": "/uL", "low": 4000},
             {"name": "Neutrophils (absolute)", "date": day, "value": 108, "unit": "/uL", "low": 1500}]
    assert _q10(case_data(term="Agranulocytosis", onset=day, tests=tests)).fact.startswith("Neutrophils (absolute) 108")


def test_the_drugs_own_level_answers_q7_not_q10() -> None:
    """A vancomycin trough of 110.73 mg/L (range 10-20) on the day of a kidney injury (Arch Pharma Pract
    2016;7(3), Cheng and Chong): the drug was found in a toxic concentration (Q7, +1); a drug level is no
    objective evidence of the reaction itself (Q10), which the creatinine answers."""
    trough = {"name": "Drugex trough", "date": {"value": 20, "unit": "d", "drug": "x"}, "value": 110.73,
              "unit": "mg/L", "low": 10, "high": 20}
    creatinine = {"name": "Creatinine", "date": {"value": 20, "unit": "d", "drug": "x"}, "value": 3.2,
                  "unit": "mg/dL", "high": 1.2}
    alone = {a.item: a for a in naranjo.assess(facts(case_data(tests=[trough], term="Acute kidney injury"))).answers}
    assert (alone["toxic_level"].answer, alone["toxic_level"].source) == ("yes", "case")
    assert alone["toxic_level"].fact == "Drugex trough 110.73 mg/L above the upper limit 20 (tests[0])"
    assert alone["objective_evidence"].answer == "unknown"
    both = {a.item: a for a in naranjo.assess(facts(case_data(tests=[trough, creatinine],
                                                              term="Acute kidney injury"))).answers}
    assert both["objective_evidence"].fact == "Creatinine 3.2 mg/dL above the upper limit 1.2 (tests[1])"


def test_evidence_reads_units_as_clinicians_write_them() -> None:
    sodium = {"name": "Sodium", "date": {"value": 20, "unit": "d", "drug": "x"}, "value": 112, "unit": "meq/L",
              "low": 135, "high": 145}
    answer = {a.item: a for a in naranjo.assess(facts(case_data(tests=[sodium], term="Hyponatraemia"))).answers}
    assert answer["objective_evidence"].fact == "Sodium 112 mEq/L below the lower limit 135 (tests[0])"


def test_a_result_on_the_other_side_is_no_evidence_of_the_reaction() -> None:
    """Sertraline SIADH in a 77-year-old man (Clinics, SciELO): sodium 146 mEq/l at admission, 125 twenty days
    later, neither dated. Q10 cited the admission's 146 'above the upper limit' as evidence of a hyponatraemia;
    a high sodium is none, a low one is, and a high one alone leaves the question open."""
    undated = {"name": "Sodium", "date": {"absent": "unknown"}, "unit": "meq/L", "low": 135, "high": 145}
    data = case_data(term="Inappropriate antidiuretic hormone secretion", tests=[
        {**undated, "value": 146, "comments": "at admission"}, {**undated, "value": 125}])
    data["reactions"][0]["verbatim"] = "hyponatremia due to SIADH (serum sodium 125 mEq/l)"
    assert _q10(data).fact == "Sodium 125 mEq/L below the lower limit 135 (tests[1])"
    data["tests"] = data["tests"][:1]
    assert _q10(data).answer == "unknown"
    data["reactions"][0]["verbatim"] = "Hypernatraemia"
    assert _q10(data).fact == "Sodium 146 mEq/L above the upper limit 145 (tests[0])"


def test_a_positive_antibody_is_evidence_of_a_drug_induced_lupus() -> None:
    """Hydralazine-induced lupus in a 76-year-old woman (Cureus 2024;16(10):e72069): ANA 1:1280 and anti-histone
    antibodies positive, no number against a range. Q10 was 'do not know'; a related positive result answers
    it, an unrelated one (a positive urine culture) does not."""
    ana = {"name": "Antinuclear antibody", "date": {"absent": "unknown"}, "result": "positive",
           "result_text": "titre 1:1280"}
    culture = {"name": "Urine culture", "date": {"absent": "unknown"}, "result": "positive"}
    data = case_data(term="Lupus-like syndrome", tests=[culture, ana])
    assert _q10(data).fact == "Antinuclear antibody positive: titre 1:1280 (tests[1])"
    data["tests"] = [culture]
    assert _q10(data).answer == "unknown"
    data["tests"] = [{**ana, "date": {"value": 0, "unit": "d", "drug": "x"}}]  # before the onset (day 20)
    assert _q10(data).answer == "unknown"


def test_a_positive_patch_test_is_evidence_of_a_drug_exanthema() -> None:
    """A maculopapular exanthema 7 days after iopamidol, patch test with iopamidol positive (Courvoisier and
    Bircher, Allergy 1998;53:1221): the skin test confirms the reaction; a patch test named for the drug is no
    drug level."""
    patch = {"name": "Patch test iopamidol", "date": {"absent": "unknown"}, "result": "positive"}
    data = case_data(term="Rash maculo-papular", tests=[patch])
    data["drugs"][0]["product"] = "Iopamidol"
    assert _q10(data).fact == "Patch test iopamidol positive (tests[0])"


def test_an_undated_result_labelled_baseline_is_no_evidence() -> None:
    """PPI interstitial nephritis in a 74-year-old woman with CKD 3b (Malhotra and Al Nimri, J Clin Nephrol Res
    2017;4(2):1060): baseline creatinine 1.4 mg/dl, 2.3 on presentation, none dated. Q10 cited the baseline of
    the known kidney disease as evidence of the injury; a result labelled baseline is from before the onset."""
    undated = {"name": "Creatinine", "date": {"absent": "unknown"}, "unit": "mg/dL", "high": 1.1}
    data = case_data(term="Tubulointerstitial nephritis", tests=[
        {**undated, "value": 1.4, "comments": "baseline"}, {**undated, "value": 2.3, "comments": "on presentation"}])
    assert _q10(data).fact == "Creatinine 2.3 mg/dL above the upper limit 1.1 (tests[1])"
    data["tests"] = data["tests"][:1]
    assert _q10(data).answer == "unknown"
    data["tests"][0]["date"] = {"value": 25, "unit": "d", "drug": "x"}  # a date after the onset wins over the label
    assert _q10(data).answer == "yes"


@pytest.mark.parametrize(("substance", "test_name", "is_level"), [
    ("lithium carbonate", "Lithium", True), ("sodium valproate", "Sodium", False),
    ("sodium valproate", "Valproate level", True), ("escitalopram oxalate", "Sodium", False)])
def test_a_level_is_named_by_the_drug_without_its_salt(substance: str, test_name: str, is_level: bool) -> None:
    """Lithium 2.18 mmol/L (range 0.6-1.2) in a woman on lithium carbonate (Cureus 2022;14:e32997) is the drug's
    level (Q7); a sodium is no level of sodium valproate."""
    data = case_data(tests=[{"name": test_name, "date": {"value": 20, "unit": "d", "drug": "x"}, "value": 2.18,
                             "unit": "mmol/L", "low": 0.6, "high": 1.2}], term="Toxicity")
    data["drugs"][0]["substances"] = [{"name": substance}]
    answers = {a.item: a for a in naranjo.assess(facts(data)).answers}
    assert (answers["toxic_level"].answer == "yes") is is_level
    assert (answers["objective_evidence"].answer == "yes") is not is_level


def test_a_positive_rechallenge_places_an_undated_reaction_after_the_drug() -> None:
    """Drug fever from ketotifen confirmed by double rechallenge, no onset time given (Ann Allergy Asthma Immunol
    2000;85:102-5): the reaction followed the drug (Naranjo Q2 yes, WHO-UMC time plausible), not 'do not know'."""
    from reporter.assess import who_umc

    f = facts(case_data(onset=None, rechallenge="recurred", term="Drug fever"))
    q2 = {a.item: a for a in naranjo.assess(f).answers}["after_drug"]
    assert (q2.answer, q2.source) == ("yes", "case") and "recurred when the drug was given again" in q2.fact
    assert naranjo.assess(f).score == 5
    time = {a.item: a for a in who_umc.assess(f).answers}["time"]
    assert time.answer == "plausible"
    assert who_umc.assess(f).category != "unassessable"
    assert {a.item: a.answer for a in naranjo.assess(facts(case_data(onset=None))).answers}["after_drug"] == "unknown"


def test_a_result_named_like_a_concomitant_drug_stays_evidence() -> None:
    """Glucose 320 mg/dL in a hyperglycaemia while a glucose infusion ran beside the suspect: the result is
    evidence of the reaction (Q10), not a suspect's level."""
    glucose = {"name": "Glucose", "date": {"value": 20, "unit": "d", "drug": "x"}, "value": 320, "unit": "mg/dL",
               "low": 70, "high": 99}
    data = case_data(tests=[glucose], term="Hyperglycaemia")
    data["drugs"].append({"id": "g", "role": "concomitant", "product": "Glucose 5%",
                          "substances": [{"name": "glucose"}]})
    answers = {a.item: a for a in naranjo.assess(facts(data)).answers}
    assert answers["objective_evidence"].fact == "Glucose 320 mg/dL above the upper limit 99 (tests[0])"
    assert answers["toxic_level"].answer == "unknown"


def _q(data: dict, item: str = "dose_response"):
    return next(a for a in naranjo.assess(facts(data)).answers if a.item == item)


def _lines(*lines: tuple[float, float, dict | None]) -> list[dict]:
    """Dosage lines of drug x: (mg, day of start, stop or None), 'every 12 h'."""
    return [{"dose": {"value": mg, "unit": "mg"}, "every": {"value": 12, "unit": "h"},
             "start": {"value": day, "unit": "d", "drug": "x"}, **({"stop": stop} if stop else {})}
            for mg, day, stop in lines]


def test_q8_dose_reduced_and_the_reaction_abated_is_yes_and_not_counted_again_in_q3() -> None:
    """Naranjo Q8 (less severe when the dose was decreased) was never pre-filled. G.k.8 'dose reduced' with a
    positive dechallenge is the case's own statement of it; Q3 asks about discontinuation, so the same fact is
    not counted there too (the total stays what it was)."""
    data = case_data(action="dose-reduced")
    q8, q3 = _q(data), _q(data, "dechallenge")
    assert (q8.answer, q8.source) == ("yes", "case")
    assert q8.fact == ("the dose was reduced (G.k.8 action taken), and the reaction abated (dechallenge positive) "
                       "with the drug not stopped")
    assert q3.answer == "unknown" and "reduced, not stopped" in q3.fact
    withdrawn = case_data()  # G.k.8 withdrawn: Q3 as before, Q8 not pre-filled
    assert _q(withdrawn, "dechallenge").answer == "yes" and _q(withdrawn).source == "default"
    assert naranjo.assess(facts(data)).score == naranjo.assess(facts(withdrawn)).score


def test_q8_no_when_reduced_without_abating_and_unknown_without_the_course() -> None:
    assert _q(case_data(action="dose-reduced", dechallenge="negative")).answer == "no"
    unsaid = _q(case_data(action="dose-reduced", dechallenge=None))
    assert (unsaid.answer, unsaid.source) == ("unknown", "case")
    assert unsaid.fact == "the dose was reduced (G.k.8 action taken), but the case does not say how the reaction " \
                          "went after it"
    raised = _q(case_data(action="dose-increased"))  # a dose change alone is never a 'yes'
    assert raised.answer == "unknown" and "no change in the reaction's severity" in raised.fact


def test_q8_from_a_lower_dosage_line_after_the_onset_and_the_reaction_ending_on_it() -> None:
    """500 mg every 12 h from day 0, 250 mg every 12 h from day 25 (the onset was day 20); the reaction ended on
    day 30 while 250 mg went on, though the drug was stopped later (day 40): less severe on the lower dose."""
    data = case_data(action="withdrawn", dechallenge=None, end={"value": 30, "unit": "d", "drug": "x"})
    data["drugs"][0]["dosages"] = _lines((500, 0, {"value": 24, "unit": "d", "drug": "x"}),
                                         (250, 25, {"value": 40, "unit": "d", "drug": "x"}))
    q8 = _q(data)
    assert q8.answer == "yes"
    assert q8.fact == ("the daily dose was lowered from 1000 mg/day to 500 mg/day 5 days after the onset "
                       "(drugs[0].dosages[1]), and the reaction ended 5 days after the lower dose began (E.i.5) "
                       "while the lower dose went on")
    data["reactions"][0]["end"] = {"value": 45, "unit": "d", "drug": "x"}  # ended after the drug was stopped
    later = _q(data)
    assert later.answer == "unknown" and "then withdrawn" in later.fact
    data["drugs"][0]["dosages"] = _lines((500, 0, None), (250, 10, None))  # lowered before the onset: no answer
    assert _q(data).source == "default"
    data["drugs"][0]["dosages"] = _lines((500, 0, None), (1000, 25, None))  # raised: said, not scored
    assert _q(data).answer == "unknown" and "raised from 1000 mg/day to 2000 mg/day" in _q(data).fact


def test_q8_a_lower_line_with_no_stop_date_is_no_proof_the_drug_went_on() -> None:
    """A lower line begun after the onset with no stop and a positive dechallenge: without G.k.8 'dose reduced'
    the drug may have been stopped (the abating then answers Q3), so Q8 stays 'do not know'; a reaction that
    ended on the lower line answers Q8, and then not Q3 as well."""
    data = case_data(action=None)
    data["drugs"][0]["dosages"] = _lines((500, 0, None), (250, 25, None))
    q8 = _q(data)
    assert q8.answer == "unknown" and "neither that the drug went on" in q8.fact
    assert _q(data, "dechallenge").answer == "yes"
    data["reactions"][0]["end"] = {"value": 30, "unit": "d", "drug": "x"}
    assert _q(data).answer == "unknown"  # ended on day 30, but the lower dose may have been stopped before
    data["drugs"][0]["dosages"] = _lines((500, 0, None), (250, 25, {"value": 40, "unit": "d", "drug": "x"}))
    assert _q(data).answer == "yes"
    assert _q(data, "dechallenge").answer == "unknown" and "still given at a lower dose" in _q(data, "dechallenge").fact


def test_q10_takes_no_result_of_another_reaction_and_counts_another_drugs_level() -> None:
    """Clarithromycin given to a woman on digoxin and warfarin: digoxin 4.6 ng/mL (1.0-2.6) and INR 7.3
    (2.0-3.0) twelve days later (Ann Pharmacother 1999;33:796-9). Q10 for the digoxin toxicity cited the INR,
    which is the other reaction's result, and never the digoxin level, which is evidence of the toxicity when
    clarithromycin is assessed (only digoxin's own assessment takes it as its level, Q7)."""
    day12 = {"value": 12, "unit": "d", "drug": "x"}
    data = case_data(term="Digoxin toxicity", onset=day12, tests=[
        {"name": "INR", "date": day12, "value": 7.3, "unit": "{INR}", "low": 2.0, "high": 3.0},
        {"name": "Digoxin", "date": day12, "value": 4.6, "unit": "ng/mL", "low": 1.0, "high": 2.6}])
    data["drugs"][0].update(product="Clarithromycin", role="interacting")
    data["reactions"].append({"id": "inr", "verbatim": "INR increased", "onset": day12})
    data["drugs"][0]["reactions"].append({"reaction": "inr"})
    data["drugs"].append({"id": "dig", "role": "suspect", "product": "Digoxin", "reactions": [{"reaction": "r"}]})
    assert _q10(data).fact == "Digoxin 4.6 ng/mL above the upper limit 2.6 (tests[1])"
    case = CaseFile.model_validate(data)
    digoxin = {a.item: a for a in naranjo.assess(facts_for(case, case.drugs[1], case.reactions[0])).answers}
    assert digoxin["toxic_level"].answer == "yes" and digoxin["objective_evidence"].answer == "unknown"
    inr = {a.item: a for a in naranjo.assess(facts_for(case, case.drugs[0], case.reactions[1])).answers}
    assert inr["objective_evidence"].fact == "INR 7.3 above the upper limit 3 (tests[0])"


def test_q10_says_a_normal_limit_as_the_case_gives_it() -> None:
    """Troponin I 0.245 ng/mL (normal 0-0.028) was said to lie 'above the upper limit 0.03'."""
    troponin = {"name": "Troponin I", "date": {"value": 20, "unit": "d", "drug": "x"}, "value": 0.245,
                "unit": "ng/mL", "low": 0, "high": 0.028}
    q10 = {a.item: a for a in naranjo.assess(facts(case_data(tests=[troponin], term="Myocarditis"))).answers}
    assert q10["objective_evidence"].fact == "Troponin I 0.245 ng/mL above the upper limit 0.028 (tests[0])"


def test_beside_other_reactions_an_unrelated_result_is_no_evidence() -> None:
    """Anakinra hepatitis with nausea (Pediatr Rheumatol 2023;21:112): Q10 for the nausea cited the hepatitis's
    AST 1823 U/L. With one reaction any abnormal result after the onset still counts."""
    ast = {"name": "AST", "date": {"value": 21, "unit": "d", "drug": "x"}, "value": 1823, "unit": "U/L", "high": 48}
    ldh = {"name": "LDH", "date": {"value": 21, "unit": "d", "drug": "x"}, "value": 1163, "unit": "U/L", "high": 300}
    data = case_data(term="Nausea", tests=[ast, ldh])
    assert _q10(data).fact.startswith("AST 1823")  # the nausea alone
    data["reactions"].append({"id": "h", "verbatim": "Hepatitis", "onset": {"value": 20, "unit": "d", "drug": "x"}})
    assert _q10(data).answer == "unknown"



def test_an_autopsy_finding_of_the_reaction_is_objective_evidence() -> None:
    """Fatal myocarditis after a single cycle of pembrolizumab, confirmed at autopsy by histology and
    immunohistochemistry (Int J Mol Sci 2023;24:10919): Q10 was 'do not know' for a case without lab results."""
    data = case_data(term="Myocarditis")
    data["reactions"][0]["meddra"] = {"code": "10028606", "version": "26.0", "term": "Myocarditis"}
    data["patient"]["death"] = {"autopsy": True, "autopsy_causes": [
        {"text": "myositis of skeletal muscle"},
        {"text": "lymphocytic infiltrate of the myocardium", "meddra": {"code": "10028606", "version": "26.0"}}]}
    assert _q10(data).fact == ("autopsy-determined cause of death: lymphocytic infiltrate of the myocardium "
                               "(patient.death.autopsy_causes[1])")
    data["patient"]["death"]["autopsy_causes"][1].pop("meddra")
    assert _q10(data).answer == "unknown"
    data["patient"]["death"]["autopsy_causes"][1]["text"] = "myocarditis (histology)"
    assert "myocarditis (histology)" in _q10(data).fact


def test_a_situation_term_beside_the_reaction_leaves_it_alone_for_q10() -> None:
    """Methotrexate 2.5 mg daily instead of weekly (Tidsskr Nor Laegeforen 2024;144(6)): dyspnoea reported with
    'Medication error', a situation, not a second reaction; the PaO2 of 8.7 kPa (11-14) was no longer evidence."""
    pao2 = {"name": "PaO2 arterial", "date": {"value": 30, "unit": "d", "drug": "x"}, "value": 8.7, "unit": "kPa",
            "low": 11, "high": 14}
    data = case_data(term="Dyspnoea", tests=[pao2])
    data["reactions"].append({"id": "e", "verbatim": "Medication error",
                              "onset": {"value": 0, "unit": "d", "drug": "x"}})
    assert _q10(data).fact == "PaO2 arterial 8.7 kPa below the lower limit 11 (tests[0])"


def test_a_case_with_many_results_places_each_result_once_per_pair(monkeypatch) -> None:
    """A case with 200 dated ALT results and a suspect given in three dosage lines: the pre-fills place each
    result on the drug's day axis without working out the drug's first dose again for every result (a case of
    20 suspects, 30 reactions and 200 results took over two minutes to render). Counted, not timed."""
    import yaml

    from reporter.assess import onset
    from reporter.assess.run import assess_case
    from reporter.casefile.model import CaseFile
    from tests.render_support import DEMOS

    data = yaml.safe_load(DEMOS[0].read_text(encoding="utf-8"))
    data["drugs"][0]["dosages"] = [{"dose": {"value": 2, "unit": "mg/kg/d"}, "start": f"2023-0{j + 1}-01",
                                    "stop": f"2023-0{j + 1}-20"} for j in range(3)]
    data["tests"] = [{"name": "ALT", "date": f"2023-{1 + i // 28 % 6:02d}-{1 + i % 28:02d}", "value": 100 + i,
                      "unit": "U/L", "high": 40} for i in range(200)]
    for reaction in data["reactions"]:
        reaction["onset"] = "2023-01-10"
    calls = 0
    span = onset.Timeline.span

    def counted(self, *args, **kwargs):
        nonlocal calls
        calls += 1
        return span(self, *args, **kwargs)

    monkeypatch.setattr(onset.Timeline, "span", counted)
    assess_case(CaseFile.model_validate(data))
    assert calls < 2000, calls  # 4,844 when every result placed the three dosage starts again
