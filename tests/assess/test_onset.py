"""Time to onset from dates and relative times, with precision carried as ranges."""

from __future__ import annotations

from typing import Any

from reporter.assess import naranjo, rucam, who_umc
from reporter.assess.onset import date_span
from tests.assess.support import case_data, facts, lab


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
    week-6 stop, so no interval after the first dose is worked out from it."""
    data = case_data(start={"value": 0, "unit": "wk", "drug": "x"}, stop={"value": 6, "unit": "wk", "drug": "x"},
                     onset={"value": 30, "unit": "min", "drug": "x", "anchor": "last-dose"})
    assert facts(data).onset.after_first_dose is not None  # one dosage: its stop is the last dose
    data["drugs"][0]["dosages"].append({"start": {"value": 11, "unit": "mo", "drug": "x"}})
    onset = facts(data).onset
    assert onset.after_first_dose is None
    # the author's own count from the last dose still holds: it is the interval, whatever the dates
    assert onset.after_last_dose.text == "30 minutes" and "30 minutes after the last dose" in onset.after_last_dose.how
    # a dose change (a line without dates before the stopping line) still ends at the known stop
    data["drugs"][0]["dosages"][1] = {"dose": {"value": 3, "unit": "mg"}}
    assert facts(data).onset.after_first_dose.lo == 42 + 30 / 1440


def test_a_maintenance_line_begun_the_day_the_loading_line_stops_leaves_the_last_dose_unknown() -> None:
    """Voriconazole loading on days 0-1, then 200 mg twice daily from day 1 with no stop (still taken): the
    day-1 stop of the loading line is not the last dose, so no 'onset 9 days after the last dose'."""
    data = case_data(start={"value": 0, "unit": "d", "drug": "x"}, stop={"value": 1, "unit": "d", "drug": "x"},
                     onset={"value": 10, "unit": "d", "drug": "x"})
    assert facts(data).onset.after_last_dose.lo == 9  # the loading line alone: its stop is the last dose
    data["drugs"][0]["dosages"].append({"start": {"value": 1, "unit": "d", "drug": "x"},
                                        "every": {"value": 12, "unit": "h"}})
    onset = facts(data).onset
    assert onset.after_last_dose is None
    assert onset.after_first_dose.lo == 10


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


def _course_for_seven_days(**extra: Any) -> dict[str, Any]:
    """A 7-day course given by its duration only; onset and labs counted from the last dose (3 weeks after)."""
    after_last = {"value": 21, "unit": "d", "drug": "x", "anchor": "last-dose"}
    data = case_data(start=None, onset={**after_last, "value": 3, "unit": "wk"}, term="Jaundice cholestatic",
                     dechallenge="not-applicable",
                     tests=[lab("ALT", None, 280, 40, date=after_last), lab("ALP", None, 410, 130, date=after_last)])
    data["drugs"][0]["dosages"][0].update(duration={"value": 7, "unit": "d"}, **extra)
    data["drugs"][0]["reactions"][0]["onset_after_last_dose"] = {"value": 21, "unit": "d"}
    return data


def test_a_course_given_by_its_duration_places_the_last_dose() -> None:
    """'for 7 days' from the first dose: the last dose is on day 6, so the onset 3 weeks later is day 27 and
    ALT and ALP counted from the last dose pair for the R ratio (2.2, mixed)."""
    f = facts(_course_for_seven_days())
    assert f.onset.after_first_dose.text == "27 days"
    assert f.onset.after_last_dose.text == "21 days" and f.onset.after_last_dose.how == "stated in the case as 21 days"
    assert (round(f.r.r, 1), f.r.pattern) == (2.2, "mixed")
    assert "at day 27" in f.r.text
    answers = {a.item: a for a in rucam.assess(f).answers}
    assert (answers["onset"].answer, answers["onset"].points) == ("after-cessation", 1)
    assert {a.item: a.answer for a in naranjo.assess(f).answers}["after_drug"] == "yes"
    assert {a.item: a.answer for a in who_umc.assess(f).answers}["time"] == "plausible"


def test_times_from_an_unplaced_last_dose_still_pair_and_the_stated_interval_answers_the_time() -> None:
    """No stop and no duration: the last dose cannot be placed, yet ALT and ALP taken the same day after it
    pair, and the G.k.9.i.3.2 interval alone says the reaction came after the drug (Naranjo Q2, WHO-UMC)."""
    data = _course_for_seven_days()
    del data["drugs"][0]["dosages"][0]["duration"]
    f = facts(data)
    assert f.onset.after_first_dose is None
    assert (round(f.r.r, 1), f.r.pattern) == (2.2, "mixed")
    assert "day 21 after the last dose" in f.r.text
    assert {a.item: a.answer for a in naranjo.assess(f).answers}["after_drug"] == "yes"
    assert {a.item: a.answer for a in who_umc.assess(f).answers}["time"] == "plausible"


def test_each_episode_counts_from_its_own_last_dose_and_the_author_s_interval() -> None:
    """A course stopped on day 2 (onset day 2), then one tablet 3 months later with onset 4 h after it: the
    first episode is not 'before the last dose, while on the drug' (the later tablet is not its last dose),
    the second is 4 hours after the last dose as stated, not -8.8 to 9.2 days."""
    from reporter.assess.facts import facts_for
    from reporter.casefile.model import CaseFile

    data = case_data(start={"value": 0, "unit": "d", "drug": "x"}, stop={"value": 2, "unit": "d", "drug": "x"},
                     onset={"value": 2, "unit": "d", "drug": "x"}, term="Meningitis aseptic")
    data["drugs"][0]["dosages"].append({"start": {"value": 3, "unit": "mo", "drug": "x"},
                                        "stop": {"value": 3, "unit": "mo", "drug": "x"}})
    data["reactions"].append({"id": "r2", "verbatim": "Meningitis aseptic, recurrence",
                              "onset": {"value": 4, "unit": "h", "drug": "x", "anchor": "last-dose"}})
    data["drugs"][0]["reactions"].append({"reaction": "r2"})
    case = CaseFile.model_validate(data)
    first, second = (facts_for(case, case.drugs[0], r).onset for r in case.reactions)
    assert first.after_last_dose.text == "0 days"
    assert "before the last dose" not in first.text
    assert second.after_last_dose.text == "4 hours"
    assert "stated in the case as 4 hours after the last dose" in second.after_last_dose.how


def test_an_episode_s_end_counted_from_the_last_dose_counts_from_its_own_last_dose() -> None:
    """Azathioprine stopped on day 21 at the onset, the pancreatitis over '5 days after stopping', a single
    rechallenge dose about 3 months later: the end is 5 days after the day-21 stop (a 5-day episode), not 5
    days after the rechallenge (a duration of 68 to 77 days)."""
    data = case_data(start={"value": 0, "unit": "d", "drug": "x"}, stop={"value": 21, "unit": "d", "drug": "x"},
                     onset={"value": 21, "unit": "d", "drug": "x"},
                     end={"value": 5, "unit": "d", "drug": "x", "anchor": "last-dose"}, term="Pancreatitis acute")
    data["drugs"][0]["dosages"].append({"start": {"value": 3, "unit": "mo", "drug": "x", "qualifier": "about"},
                                        "stop": {"value": 3, "unit": "mo", "drug": "x", "qualifier": "about"}})
    duration = facts(data).onset.duration
    assert (duration.lo, duration.hi) == (5, 5), duration.text


def test_a_drug_started_relative_to_another_counts_its_onset_through_that_drug() -> None:
    """Valproate for about 5 years before topiramate (its start given from topiramate's day 0), encephalopathy
    2 weeks after topiramate: valproate's time to onset is about 5 years, not 'not known' (which had left
    Naranjo Q2 and WHO-UMC's time unanswered for the long-standing drug of an interaction)."""
    from reporter.assess.facts import facts_for
    from reporter.casefile.model import CaseFile

    data = case_data(start={"value": -5, "unit": "a", "drug": "t", "qualifier": "about"},
                     onset={"value": 2, "unit": "wk", "drug": "t"})
    data["drugs"].append({"id": "t", "role": "interacting", "product": "Topiramate",
                          "dosages": [{"start": {"value": 0, "unit": "d", "drug": "t"}}]})
    case = CaseFile.model_validate(data)
    first = facts_for(case, case.drugs[0], case.reactions[0]).onset.after_first_dose
    assert first is not None and (first.lo, first.hi) == (1839, 1844) and first.qualifier == "about", first
    assert {a.item: a.answer for a in naranjo.assess(facts_for(case, case.drugs[0], case.reactions[0])).answers}[
        "after_drug"] == "yes"


def test_a_dose_given_once_is_its_own_last_dose() -> None:
    """Two vaccine doses on days 0 and 21, each a dosage line in E2B's interval unit {total} (given once, G.k.4.r.3)
    with a start only: myocarditis 3 days after dose 2 is 24 days after the first dose. Before, a line without a
    stop left the last dose unknown, and so the time after the first dose."""
    data = case_data(start={"value": 0, "unit": "d", "drug": "x"},
                     onset={"value": 3, "unit": "d", "drug": "x", "anchor": "last-dose"})
    once = {"value": 1, "unit": "{total}"}
    data["drugs"][0]["dosages"] = [{"start": {"value": 0, "unit": "d", "drug": "x"}, "every": once},
                                   {"start": {"value": 21, "unit": "d", "drug": "x"}, "every": once}]
    onset = facts(data).onset
    assert onset.after_first_dose.lo == onset.after_first_dose.hi == 24
    data["drugs"][0]["dosages"][1].pop("every")  # a line with a start only may still be being taken
    assert facts(data).onset.after_first_dose is None


def test_an_undated_second_dose_given_once_leaves_the_first_dose_out_of_the_interval() -> None:
    """Myocarditis 3 days after the second dose of an mRNA vaccine, neither dose dated (Eur J Case Rep Intern
    Med 2021;8:002769); anaphylaxis 30 min into a second rituximab infusion (Allergy Asthma Clin Immunol
    2020;16:56). The undated second line (given once) was taken to begin at the first dose, so the assessment
    said 'onset 3 days after the first dose' and Naranjo Q2 and WHO-UMC cited it."""
    data = case_data(start=None, onset={"value": 3, "unit": "d", "drug": "x", "anchor": "last-dose"})
    once = {"value": 1, "unit": "{total}"}
    data["drugs"][0]["dosages"] = [{"every": once, "text": "dose 1"}, {"every": once, "text": "dose 2"}]
    onset = facts(data).onset
    assert onset.after_first_dose is None
    assert onset.after_last_dose.text == "3 days"
    q2 = {a.item: a for a in naranjo.assess(facts(data)).answers}["after_drug"]
    assert q2.answer == "yes" and "after the last dose" in q2.fact
    data["drugs"][0]["dosages"].pop()  # one dose: it is both the first and the last
    assert facts(data).onset.after_first_dose.text == "3 days"



def test_a_stated_interval_takes_the_author_s_qualifier_from_the_reaction_s_onset() -> None:
    """Serotonin syndrome 'within the first 24 h of taking linezolid' (Anesth Essays Res 2019;13:188): G.k.9.i.3.1
    holds 24 h, a bare number, so the assessment said 'onset 1 day after the first dose'; ICI myocarditis about
    9 days after the second pembrolizumab dose likewise lost its 'about'."""
    data = case_data(start=None, onset={"value": 24, "unit": "h", "drug": "x", "qualifier": "within"})
    data["drugs"][0]["reactions"][0]["onset_after_first_dose"] = {"value": 24, "unit": "h"}
    first = facts(data).onset.after_first_dose
    assert (first.lo, first.hi, first.text) == (0, 1, "0 to 1 day")
    assert first.how == "stated in the case as 24 hours, which the reaction's onset gives as within 24 hours"
    data["reactions"][0]["onset"] = {"value": 9, "unit": "d", "drug": "x", "anchor": "last-dose", "qualifier": "about"}
    data["drugs"][0]["reactions"][0] = {"reaction": "r", "onset_after_last_dose": {"value": 9, "unit": "d"}}
    assert facts(data).onset.after_last_dose.text == "about 9 days"
    data["reactions"][0]["onset"].pop("qualifier")  # the author's plain number: the stated interval as it is
    last = facts(data).onset.after_last_dose
    assert (last.text, last.how) == ("9 days", "stated in the case as 9 days")


def test_a_foetus_exposed_before_the_week_its_reaction_was_seen_places_the_reaction_after_the_drug() -> None:
    """Valsartan from conception, severe anhydramnios at 28 weeks' gestation (Ann Pharmacother 2005;39:157): no
    time links reaction and drug but the gestation periods (G.k.6, D.2.2.1), so Naranjo Q2 and the WHO-UMC time
    were 'do not know' and the authors' 'probable' could not be approached."""
    data = case_data(start=None, onset=None, term="Anhydramnios")
    data["drugs"][0]["gestation_at_exposure"] = {"value": 0, "unit": "wk"}
    data["patient"]["gestation_at_onset"] = {"value": 28, "unit": "wk"}
    q2 = {a.item: a for a in naranjo.assess(facts(data)).answers}["after_drug"]
    assert q2.answer == "yes" and "(G.k.6)" in q2.fact and "28 weeks (D.2.2.1)" in q2.fact
    assert {a.item: a.answer for a in who_umc.assess(facts(data)).answers}["time"] == "plausible"
    data["drugs"][0]["gestation_at_exposure"] = {"value": 30, "unit": "wk"}  # exposed only after it was seen
    assert {a.item: a.answer for a in naranjo.assess(facts(data)).answers}["after_drug"] == "unknown"


def test_an_interval_of_years_is_said_in_years_first() -> None:
    """Lithium 600 mg/day for more than 10 years before an azilsartan interaction: 'onset 3650 to 3660 days'
    made the clinician count; the years come first, the days after."""
    data = case_data(onset=None)
    data["drugs"][0]["reactions"][0]["onset_after_first_dose"] = {"value": 10, "unit": "a"}
    onset = facts(data).onset
    assert onset.after_first_dose.text == "10 years (3650 to 3660 days)"
    assert facts(case_data(onset={"value": 14, "unit": "wk", "drug": "x"})).onset.after_first_dose.text == "98 days"


def test_at_least_after_the_first_dose_is_at_most_before_the_last() -> None:
    """Hoarseness 'after the third dose' of weekly vincristine (J Med Case Rep 2012;6:128): at least day 14,
    the last dose on day 21. That is at most 7 days before the last dose, not 'about 7 days before'."""
    data = case_data(onset={"value": 14, "unit": "d", "drug": "x", "qualifier": "at-least"},
                     stop={"value": 21, "unit": "d", "drug": "x"})
    onset = facts(data).onset
    assert "onset at most 7 days before the last dose, while on the drug" in onset.text
