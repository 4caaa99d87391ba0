"""Time to onset from dates and relative times, with precision carried as ranges."""

from __future__ import annotations

from reporter.assess.onset import date_span
from tests.assess.support import case_data, facts


def test_issue_example_exact_dates() -> None:
    # A drug started 2005-08-01 with onset 2005-10-25: 85 days, not "not stated".
    f = facts(case_data(start="2005-08-01", onset="2005-10-25"))
    first = f.onset.after_first_dose
    assert (first.lo, first.hi, first.exact) == (85, 85, True)
    assert first.text == "85 days" and first.how == "from the onset and the first dose"


def test_month_precision_gives_a_range() -> None:
    f = facts(case_data(start="2005-08", onset="2005-10-25"))
    first = f.onset.after_first_dose
    assert (first.lo, first.hi) == (55, 85)  # from 31 Aug or from 1 Aug
    assert first.text == "55 to 85 days"
    assert "2005-08 is known only to the month" not in first.how  # the partial date is the start, not the onset
    f = facts(case_data(start="2005-08-01", onset="2005-10"))
    assert (f.onset.after_first_dose.lo, f.onset.after_first_dose.hi) == (61, 91)
    assert "2005-10 is known only to the month" in f.onset.after_first_dose.how
    f = facts(case_data(start="2005-08-01", onset="2006"))
    assert (f.onset.after_first_dose.lo, f.onset.after_first_dose.hi) == (153, 517)


def test_relative_times_after_first_and_last_dose_and_duration() -> None:
    f = facts(case_data(start="2024-01-01", stop={"value": 30, "unit": "d", "drug": "x"},
                        onset={"value": 5, "unit": "d", "drug": "x", "anchor": "last-dose"},
                        end={"value": 50, "unit": "d", "drug": "x"}))
    assert (f.onset.after_first_dose.lo, f.onset.after_last_dose.lo) == (35, 5)
    assert (f.onset.duration.lo, f.onset.duration.hi) == (15, 15)
    assert "onset 35 days after the first dose" in f.onset.text
    assert "onset 5 days after the last dose" in f.onset.text


def test_months_are_ranges_and_dates_mix_with_relative_times() -> None:
    f = facts(case_data(start="2024-01-10", onset={"value": 2, "unit": "mo", "drug": "x"}))
    assert (f.onset.after_first_dose.lo, f.onset.after_first_dose.hi) == (56, 62)
    # a dated end against a relative onset: the drug's first dose date links the two
    f = facts(case_data(start="2024-01-10", onset={"value": 10, "unit": "d", "drug": "x"}, end="2024-01-25"))
    assert (f.onset.duration.lo, f.onset.duration.hi) == (5, 5)


def test_stated_interval_wins_and_a_contradiction_is_noted() -> None:
    data = case_data(start="2024-01-01", onset="2024-03-01")
    data["drugs"][0]["reactions"][0]["onset_after_first_dose"] = {"value": 2, "unit": "wk"}
    f = facts(data)
    assert f.onset.after_first_dose.lo == 14 and "stated in the case" in f.onset.after_first_dose.how
    assert any("differs from the dates (60 days)" in n for n in f.onset.notes)


def test_unknown_when_nothing_links_the_times() -> None:
    f = facts(case_data(start=None, onset="2024-03-01"))
    assert f.onset.after_first_dose is None and f.onset.after_last_dose is None
    assert "onset after the first dose: not known" in f.onset.text
    f = facts(case_data(onset={"absent": "unknown"}))
    assert f.onset.after_first_dose is None


def test_date_span() -> None:
    assert date_span("2024-02").hi - date_span("2024-02").lo == 28  # leap year: 29 days
    assert date_span("2024-02-03T10:00:00Z").exact


def test_e2b_intervals_only_when_exact_and_not_negative() -> None:
    exact = facts(case_data(start="2005-08-01", stop="2005-10-20", onset="2005-10-25"))
    assert exact.onset.e2b_intervals() == {"G.k.9.i.3.1": (85, "d"), "G.k.9.i.3.2": (5, "d")}
    ranged = facts(case_data(start="2005-08", onset="2005-10-25"))
    assert ranged.onset.e2b_intervals() == {}
    on_drug = facts(case_data(stop={"value": 30, "unit": "d", "drug": "x"}))  # onset day 20, before the last dose
    assert on_drug.onset.e2b_intervals() == {"G.k.9.i.3.1": (20, "d")}


def test_an_author_s_qualified_or_ranged_time_is_never_exact() -> None:
    """'within 30 min' spans 0-30 min, '3-4 days' spans 3-4 days, 'about 3 weeks' is approximate: none is an
    exact interval for E2B (G.k.9.i.3 from the dates), each shows what the author said."""
    within = facts(case_data(onset={"value": 2, "unit": "h", "drug": "x", "qualifier": "within"})).onset
    assert (within.after_first_dose.lo, within.after_first_dose.hi * 24, within.after_first_dose.exact) == (0, 2,
                                                                                                              False)
    ranged = facts(case_data(onset={"value": 3, "unit": "d", "drug": "x", "high": 4})).onset
    assert (ranged.after_first_dose.lo, ranged.after_first_dose.hi) == (3, 4)
    about = facts(case_data(onset={"value": 3, "unit": "wk", "drug": "x", "qualifier": "about"})).onset
    assert about.after_first_dose.text == "about 21 days" and not about.after_first_dose.exact
    assert "G.k.9.i.3.1" not in about.e2b_intervals() and "G.k.9.i.3.1" not in within.e2b_intervals()


def test_a_dosage_given_after_the_known_stop_leaves_the_last_dose_unknown() -> None:
    """Induction stopped at week 6, one more infusion at month 11 (a start, no stop): the last dose is not the
    week-6 stop, so no interval after the last dose is worked out from it."""
    data = case_data(start={"value": 0, "unit": "wk", "drug": "x"}, stop={"value": 6, "unit": "wk", "drug": "x"},
                     onset={"value": 30, "unit": "min", "drug": "x", "anchor": "last-dose"})
    assert facts(data).onset.after_first_dose is not None  # one dosage: its stop is the last dose
    data["drugs"][0]["dosages"].append({"start": {"value": 11, "unit": "mo", "drug": "x"}})
    onset = facts(data).onset
    assert onset.after_first_dose is None and onset.after_last_dose is None
    # a dose change (a line without dates before the stopping line) still ends at the known stop
    data["drugs"][0]["dosages"][1] = {"dose": {"value": 3, "unit": "mg"}}
    assert facts(data).onset.after_first_dose.lo == 42 + 30 / 1440


def test_an_interval_is_written_in_the_unit_that_holds_it_exactly() -> None:
    from reporter.e2b.context import e2b_duration

    assert e2b_duration(21.0, 5) == (21.0, "d")
    assert e2b_duration(7 + 30 / 1440, 5) == (10110.0, "min")  # 7.0208333 days would be 17 characters
    assert e2b_duration(7.5, 5) == (180.0, "h")
    assert e2b_duration(400 + 1 / 1440, 5) is None  # 576001 min: no room, and never rounded


def test_at_least_is_kept_apart_from_about() -> None:
    """'at least 14 weeks' is a lower bound, not an approximation: the text says so."""
    onset = facts(case_data(onset={"value": 14, "unit": "wk", "drug": "x", "qualifier": "at-least"})).onset
    assert onset.after_first_dose.text == "at least 98 days" and not onset.after_first_dose.exact
    assert onset.after_first_dose.to_json()["qualifier"] == "at least"
    assert "onset at least 98 days after the first dose" in onset.text


def test_an_interval_under_a_day_is_written_in_its_own_unit() -> None:
    """3 min is not '0.0 days', 2 h is not '0.1 days'."""
    data = case_data(onset={"value": 3, "unit": "min", "drug": "x"})
    data["reactions"][0]["duration"] = {"value": 2, "unit": "h"}
    onset = facts(data).onset
    assert onset.after_first_dose.text == "3 minutes"
    assert onset.duration.text == "2 hours"
    assert "onset 3 minutes after the first dose" in onset.text and "duration 2 hours" in onset.text
    within = facts(case_data(onset={"value": 1, "unit": "h", "drug": "x", "qualifier": "within"})).onset
    assert within.after_first_dose.text == "0 to 1 hour"
    assert facts(case_data(onset={"value": 36, "unit": "h", "drug": "x"})).onset.after_first_dose.text == "1.5 days"
