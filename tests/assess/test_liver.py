"""Liver findings: R ratio at recognition (not at the peak), pairing windows, labelled timepoints,
Hy's law reasons, normalisation after dechallenge, CTCAE against an abnormal baseline."""

from __future__ import annotations

import dataclasses

import pytest

from reporter.assess import labs, liver
from reporter.assess.onset import Span
from tests.assess.support import case_data, facts, lab


def test_r_ratio_is_taken_at_recognition_not_at_the_peak() -> None:
    tests = [lab("ALT", 10, 160, 40), lab("ALP", 10, 200, 100),    # ALT 4 x, ALP 2 x: recognition, R 2
             lab("ALT", 15, 2000, 40), lab("ALP", 15, 100, 100)]   # peak ALT 50 x: R 50
    f = facts(case_data(onset={"value": 8, "unit": "d", "drug": "x"}, tests=tests))
    assert f.r.r == 2.0 and f.r.pattern == "cholestatic"
    assert f.r.alt.value == 160
    assert f.r.text.startswith("R ratio at recognition 2.0: cholestatic pattern (ALT 160 (4.0 x ULN) at day 10")


def test_recognition_by_alp_and_not_before_the_onset() -> None:
    tests = [lab("ALT", 0, 200, 40),                                # abnormal before the reaction
             lab("ALP", 12, 300, 100), lab("ALT", 12, 60, 40)]      # ALP 3 x first: recognition
    f = facts(case_data(onset={"value": 10, "unit": "d", "drug": "x"}, tests=tests))
    assert f.r.alp.value == 300 and f.r.r == 0.5 and f.r.pattern == "cholestatic"


def test_pairing_widens_with_an_explicit_note() -> None:
    tests = [lab("ALT", 10, 400, 40), lab("ALP", 12, 100, 100)]
    f = facts(case_data(onset={"value": 9, "unit": "d", "drug": "x"}, tests=tests))
    assert f.r.r == 10.0 and f.r.pattern == "hepatocellular"
    assert "window widened from 0 to 2 days" in f.r.text
    # beyond the widest window (3 days): not paired, and the reason is given
    far = facts(case_data(onset={"value": 9, "unit": "d", "drug": "x"},
                          tests=[lab("ALT", 10, 400, 40), lab("ALP", 20, 100, 100)]))
    assert far.r.r is None and "no ALP with its upper limit at day 10" in far.r.text
    # a window passed by the caller
    points = list(f.points)
    assert liver.r_at_recognition(points, window=2).notes == ()
    late = facts(case_data(onset={"value": 30, "unit": "d", "drug": "x"}, tests=tests))
    assert "no ALT >= 3 x ULN or ALP >= 2 x ULN with its upper limit at or after the onset" in late.r.text


def test_labelled_timepoints_pair_without_dates() -> None:
    tests = [lab("ALT", None, 600, 40, comments="At admission"), lab("ALP", None, 150, 100, comments="admission"),
             lab("ALT", None, 900, 40, comments="Peak value"), lab("ALP", None, 400, 100, comments="peak")]
    for t in tests:
        t["date"] = {"absent": "unknown"}
    f = facts(case_data(tests=tests))
    assert f.r.r == 10.0 and f.r.alt.label == "admission"
    assert "'admission'" in f.r.text


def test_hys_law_reasons_and_bilirubin_stated_normal() -> None:
    met = facts(case_data(tests=[lab("ALT", 20, 400, 40), lab("Total bilirubin", 20, 3.0, 1.0, unit="mg/dL"),
                                 lab("ALP", 20, 120, 100)]))
    assert met.hy.met is True
    assert [c.met for c in met.hy.criteria] == [True, True, True]
    normal = facts(case_data(tests=[lab("ALT", 20, 400, 40), lab("ALP", 20, 120, 100),
                                    lab("Total bilirubin", 20, None, None, result_text="normal")]))
    assert normal.hy.met is False
    assert "Total bilirubin stated normal at day 20: not met" in normal.hy.text
    missing = facts(case_data(tests=[lab("ALT", 20, 400, 40)]))
    assert missing.hy.met is None and "no total bilirubin at day 20" in missing.hy.text


def test_normalisation_after_dechallenge() -> None:
    tests = [lab("ALT", 20, 800, 40), lab("ALT", 30, 100, 40), lab("ALT", 45, 35, 40)]
    f = facts(case_data(stop={"value": 21, "unit": "d", "drug": "x"}, tests=tests))
    assert f.normal.days_after_stop == (24, 24)
    assert f.normal.text == "ALT back within normal 24 days after the last dose (ALT 35 (0.9 x ULN) at day 45)"
    g = facts(case_data(stop={"value": 21, "unit": "d", "drug": "x"}, tests=tests[:2]))
    assert g.normal.days_after_stop is None and "not yet normal" in g.normal.text


def test_ctcae_against_an_abnormal_baseline() -> None:
    tests = [lab("ALT", 0, 120, 40), lab("ALT", 20, 400, 40)]   # baseline 3 x ULN; later 10 x ULN
    f = facts(case_data(tests=tests))
    points = list(f.points)
    base = liver.baseline_of(points, "alt")
    grade = liver.ctcae(points[1], base)
    # x ULN would say grade 3 (10 x); against the abnormal baseline it is 3.3 x baseline: grade 2
    assert labs.ctcae_grade("alt", 10.0) == 3
    assert (grade.grade, grade.rule) == (2, "ALT grade 2 by the abnormal-baseline rule: 3.3 x baseline "
                                            "(ALT 120 (3.0 x ULN) at day 0)")
    normal_base = facts(case_data(tests=[lab("ALT", 0, 30, 40), lab("ALT", 20, 400, 40)]))
    p = list(normal_base.points)
    assert liver.ctcae(p[1], liver.baseline_of(p, "alt")).rule == "ALT grade 3 by the x ULN rule (normal baseline): " \
                                                                   "10.0 x ULN"


def test_ctcae_baseline_bounds() -> None:
    assert labs.ctcae_grade_vs_baseline("alt", 1.4) == 0   # below 1.5 x baseline: not graded
    assert labs.ctcae_grade_vs_baseline("alt", 1.5) == 1
    assert labs.ctcae_grade_vs_baseline("alt", 25) == 4
    assert labs.ctcae_grade_vs_baseline("bilirubin", 1.0) == 0
    assert labs.ctcae_grade_vs_baseline("alp", 2.0) == 1
    assert labs.ctcae_grade_vs_baseline("ldh", 3) is None


@pytest.mark.parametrize(("alt", "bilirubin", "alp", "met"), [
    (400, 3.0, 100, True), (400, 1.5, 100, False), (400, 3.0, 250, False),  # initial cholestasis
    (400, None, 100, None), (80, None, None, False)])  # one failed condition settles it
def test_hys_law_vectors(alt, bilirubin, alp, met) -> None:
    tests = [lab("ALT", 20, alt, 40)]
    if bilirubin is not None:
        tests.append(lab("Total bilirubin", 20, bilirubin, 1.0, unit="mg/dL"))
    if alp is not None:
        tests.append(lab("ALP", 20, alp, 100))
    assert facts(case_data(tests=tests)).hy.met is met


def test_a_day_0_value_is_no_ctcae_baseline_when_the_reaction_began_that_day() -> None:
    """The report stopped calling a day-0 value 'abnormal before the drug' when a reaction began on day 0 (it may
    be the reaction); the CTCAE baseline still took it, grading the later value x that 'baseline'."""
    tests = [lab("ALT", 0, 120, 40), lab("ALT", 20, 400, 40)]
    points = list(facts(case_data(tests=tests)).points)
    onset = [Span(0.0, 0.0, "first:x")]
    assert liver.baseline_of(points, "alt", onset) is None
    assert liver.ctcae(points[1], liver.baseline_of(points, "alt", onset)).rule == \
        "ALT grade 3 by the x ULN rule (no baseline in the case): 10.0 x ULN"
    assert liver.baseline_of(points, "alt", [Span(20.0, 20.0, "first:x")]) is points[0]  # onset later: a baseline
    assert liver.baseline_of([*points, dataclasses.replace(points[0], index=9, span=Span(-2.0, -2.0, "first:x"))],
                             "alt", onset).index == 9  # a value before the first dose stays one
