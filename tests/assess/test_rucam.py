"""RUCAM (updated 2016): scale from the R ratio, items pre-filled from the case, published worked cases."""

from __future__ import annotations

import pytest

from reporter.assess import rucam
from reporter.assess.result import AssessmentError
from tests.assess.support import case_data, facts, lab


def _points(result) -> dict[str, int | None]:
    return {a.item: a.points for a in result.answers}


def test_published_case_bmj_case_reports_2019() -> None:
    # BMJ Case Rep 2019;12:e231741, Table 3 (PMC6887447): onset > 90 days from the start (+1), course not
    # applicable (0), age over 55 (+1), no concomitant drug (0), all group I and II causes ruled out (+2),
    # hepatotoxicity unknown (0), no re-exposure (0): total 4, "possible".
    data = case_data(start="2018-01-01", onset="2018-05-01", age=62, dechallenge=None, rechallenge="not-done",
                     tests=[lab("ALT", None, 600, 40, date={"absent": "unknown"}),
                            lab("ALP", None, 110, 100, date={"absent": "unknown"})])
    result = rucam.assess(facts(data), {"alternative": "all-excluded"})
    assert _points(result) == {"onset": 1, "course": 0, "alcohol": 0, "age": 1, "concomitant": 0,
                               "alternative": 2, "previous": 0, "reexposure": 0}
    assert (result.score, result.category_label) == (4, "Possible")
    assert "hepatocellular injury scale" in result.method_label
    assert result.summary.startswith("RUCAM score 4: possible")
    by_item = {a.item: a for a in result.answers}
    assert by_item["onset"].source == "case" and "120 days after the first dose" in by_item["onset"].fact
    assert by_item["age"].fact == "age at onset 62 years"
    assert by_item["concomitant"].fact == "the case lists no other drug"


def test_course_of_alt_after_cessation() -> None:
    def course(days_after_stop: float, value: float) -> tuple[str, int]:
        data = case_data(stop={"value": 20, "unit": "d", "drug": "x"}, onset={"value": 18, "unit": "d", "drug": "x"},
                         tests=[lab("ALT", 20, 1040, 40), lab("ALP", 20, 100, 100),
                                lab("ALT", 20 + days_after_stop, value, 40)])
        answer = {a.item: a for a in rucam.assess(facts(data)).answers}["course"]
        return answer.answer, answer.points
    assert course(7, 400) == ("fall-8d", 3)       # fell 64% of the excess within 8 days
    assert course(25, 400) == ("fall-30d", 2)
    assert course(45, 800) == ("against", -2)     # < 50% after the 30th day
    assert course(10, 800) == ("no-information", 0)  # < 50% so far, before day 30: left to the assessor
    data = case_data(action="dose-not-changed", tests=[lab("ALT", 20, 1040, 40)])
    assert {a.item: a.answer for a in rucam.assess(facts(data)).answers}["course"] == "no-information"


def test_cholestatic_scale_from_the_r_ratio() -> None:
    data = case_data(stop={"value": 20, "unit": "d", "drug": "x"}, onset={"value": 18, "unit": "d", "drug": "x"},
                     tests=[lab("ALT", 20, 120, 40), lab("ALP", 20, 600, 100), lab("ALP", 120, 200, 100)])
    result = rucam.assess(facts(data))
    assert "cholestatic or mixed injury scale" in result.method_label
    assert "R ratio at recognition 0.5: cholestatic pattern" in result.summary
    assert {a.item: (a.answer, a.points) for a in result.answers}["course"] == ("fall-180d", 2)
    # the hepatocellular-only options do not exist on this scale
    with pytest.raises(AssessmentError):
        rucam.assess(facts(data), {"course": "fall-8d"})


def test_onset_items_and_exclusion() -> None:
    after_stop = case_data(stop={"value": 30, "unit": "d", "drug": "x"},
                           onset={"value": 10, "unit": "d", "drug": "x", "anchor": "last-dose"})
    assert {a.item: a.answer for a in rucam.assess(facts(after_stop)).answers}["onset"] == "after-cessation"
    too_late = case_data(stop={"value": 30, "unit": "d", "drug": "x"},
                         onset={"value": 40, "unit": "d", "drug": "x", "anchor": "last-dose"})
    result = rucam.assess(facts(too_late), {"alternative": "all-excluded", "previous": "labelled"})
    assert result.category == "excluded" and "time to onset excludes the drug" in result.summary
    early = case_data(onset={"value": 3, "unit": "d", "drug": "x"})
    assert _points(rucam.assess(facts(early)))["onset"] == 1


def test_scale_given_by_the_assessor_and_unknown_scale() -> None:
    result = rucam.assess(facts(case_data()), {"scale": "mixed"})
    assert "cholestatic or mixed" in result.method_label and "scale given by the assessor" in result.summary
    with pytest.raises(AssessmentError) as err:
        rucam.assess(facts(case_data()), {"scale": "renal"})
    assert err.value.location == "answers.rucam.scale"


def test_concomitant_drugs_need_the_assessor() -> None:
    result = rucam.assess(facts(case_data(others=2)))
    by_item = {a.item: a for a in result.answers}
    assert by_item["concomitant"].source == "default"
    assert "the concomitant-drugs item needs the assessor: the case lists other drugs (Other 0, Other 1)" \
        in result.summary


@pytest.mark.parametrize(("score", "label"), [(-3, "Excluded"), (0, "Excluded"), (1, "Unlikely"), (3, "Possible"),
                                              (6, "Probable"), (8, "Probable"), (9, "Highly probable")])
def test_totals(score: int, label: str) -> None:
    from reporter.assess.result import category_by_score
    assert category_by_score("rucam", score)["label"] == label


def test_answers_given_as_points() -> None:
    # published RUCAM tables give points per item; the option with those points on the scale is taken
    result = rucam.assess(facts(case_data(age=None, others=1)), {"alternative": 2, "previous": "+1", "concomitant": -1,
                                                                 "course": 0})
    by_item = {a.item: a for a in result.answers}
    assert (by_item["alternative"].answer, by_item["alternative"].points) == ("all-excluded", 2)
    assert by_item["previous"].answer == "published" and "given as +1 points" in by_item["previous"].fact
    assert by_item["concomitant"].answer == "compatible"
    assert by_item["course"].answer == "no-information"  # 0 points: the default among several
    with pytest.raises(AssessmentError):
        rucam.assess(facts(case_data()), {"previous": 5})


def test_course_compares_results_in_different_units_as_multiples_of_their_limit() -> None:
    # ALT 1240 U/L (31 x ULN) at the peak, then 15 ukat/L (22.4 x ULN): a fall of 29% of the excess, not of
    # the raw number (which would read as a 102% fall and score +3)
    data = case_data(stop={"value": 20, "unit": "d", "drug": "x"}, onset={"value": 18, "unit": "d", "drug": "x"},
                     tests=[lab("ALT", 20, 1240, 40), lab("ALP", 20, 100, 100),
                            lab("ALT", 27, 15.0, 0.67, unit="ukat/L")])
    answer = {a.item: a for a in rucam.assess(facts(data)).answers}["course"]
    assert (answer.answer, answer.source) == ("no-information", "default")
    data["tests"].append(lab("ALT", 60, 11.7, 0.67, unit="ukat/L"))  # 17.5 x ULN: 45% by day 40 after stopping
    answer = {a.item: a for a in rucam.assess(facts(data)).answers}["course"]
    assert (answer.answer, answer.points) == ("against", -2)
    assert "fell only 45% of its excess" in answer.fact
    del data["tests"][3]
    # a result in another unit that is back below its limit: "back within normal", never a fall above 100%
    data["tests"][2] = lab("ALT", 27, 0.5, 0.67, unit="ukat/L")
    answer = {a.item: a for a in rucam.assess(facts(data)).answers}["course"]
    assert (answer.answer, answer.points) == ("fall-8d", 3)
    assert "fell back within normal" in answer.fact and "%" not in answer.fact


def test_course_peak_is_the_highest_multiple_of_uln_not_the_highest_number() -> None:
    # ALP 460 U/L (3.8 x ULN), then 8.4 ukat/L (4.7 x ULN, the real peak), then 2.1 ukat/L (1.2 x ULN)
    data = case_data(stop={"value": 24, "unit": "d", "drug": "x"}, onset={"value": 21, "unit": "d", "drug": "x"},
                     tests=[lab("ALT", 21, 98, 40), lab("ALP", 21, 460, 120),
                            lab("ALP", 24, 8.4, 1.8, unit="ukat/L"), lab("ALP", 80, 2.1, 1.8, unit="ukat/L")])
    answer = {a.item: a for a in rucam.assess(facts(data)).answers}["course"]
    assert (answer.answer, answer.points) == ("fall-180d", 2)
    assert "fell 95% of its excess" in answer.fact and "ALP 8.4 (4.7 x ULN)" in answer.fact


@pytest.mark.parametrize(("decade", "prefilled"), [
    (4, ("under-55", "age at onset 40-49 years (age in decades)")),
    (5, None),  # 50-59: on both sides of 55, the assessor answers
    (6, ("at-least-55", "age at onset 60-69 years (age in decades)")),
])
def test_an_age_in_decades_prefills_the_age_item_only_when_the_whole_decade_is_on_one_side(decade, prefilled):
    """A case series gives 'in her 50s' (5 {decade}): it was read as 50 and prefilled as under 55."""
    data = case_data()
    data["patient"]["age_at_onset"] = {"value": decade, "unit": "{decade}"}
    assert rucam.prefills(facts(data), "hepatocellular").get("age") == prefilled
