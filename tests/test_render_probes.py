"""Defects testers found on the report page and the CIOMS form, each on case 1 changed to show it: interacting
drugs, times in months, null flavors, seriousness by reaction, short intervals, the route as reported."""

from __future__ import annotations

import re

import yaml

from reporter.casefile.model import CaseFile
from reporter.fhir.build import build_bundle
from reporter.render.cioms import build_form
from reporter.render.output import render_html
from reporter.render.view import case_view
from tests.render_support import DEMOS

CASE1 = next(p for p in DEMOS if p.name.startswith("case1"))


def _case1() -> dict:
    return yaml.safe_load(CASE1.read_text(encoding="utf-8"))


def _view(data: dict, with_case: bool = False):
    case = CaseFile.model_validate(data)
    return case_view(build_bundle(case), None, case if with_case else None)


def _text(html: str, start: str, end: str) -> str:
    """The visible text of the page between two ids, whitespace collapsed."""
    part = html[html.index(f'id="{start}"'):html.index(f'id="{end}"')]
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", part)).replace("\u00a0", " ")


def test_interacting_drugs_are_listed_as_suspects_on_the_page_and_the_form() -> None:
    data = _case1()
    data["drugs"][0]["role"] = "interacting"
    view = _view(data)
    drugs = _text(render_html(view), "drugs", "causality")
    assert "no suspect" not in drugs and "Interacting drug" not in drugs
    assert drugs.index("Suspect drug ") < drugs.index("Anakinra (interacting) (anakinra)") < drugs.index("Concomitant")
    assert not view.gaps
    form = build_form(view)
    assert form.suspects.text.startswith("Anakinra (anakinra) (interacting)")
    assert form.abated == "yes"  # the interacting drug's dechallenge (box 20)


def test_the_route_as_reported_is_shown_beside_the_coded_route() -> None:
    data = _case1()
    data["drugs"][0]["dosages"][0]["route"] = {"code": "intravenous", "text": "intravenous infusion over 15 minutes"}
    drugs = _text(render_html(_view(data)), "drugs", "causality")
    reported = "(as reported: \u201cintravenous infusion over 15 minutes\u201d)"
    assert f"Intravenous (not otherwise specified) {reported}" in drugs
    assert drugs.count("as reported") == 1  # "intravenous" of the other drugs adds nothing to the coded route


def _header(html: str) -> str:
    start = html.index(">", html.index('class="seriousness')) + 1
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html[start:html.index("</p>", start)])).strip()
    return re.sub(r" ([;:])", r"\1", text)


def test_the_header_names_each_reaction_with_its_criteria_when_they_differ() -> None:
    data = _case1()
    data["reactions"][0]["seriousness"] = {"death": True, "life_threatening": True}
    data["reactions"][1]["seriousness"] = {"death": {"absent": "no-information"}, "hospitalisation": True}
    header = _header(render_html(_view(data)))
    assert header.startswith("Serious: Hepatitis (Results in death, Life threatening);"), header
    assert "; Nausea (Results in death: not known, " in header, header


def test_the_header_gives_the_case_criteria_once_when_every_reaction_agrees() -> None:
    data = _case1()
    for reaction in data["reactions"]:
        reaction["seriousness"] = {"hospitalisation": True}
    header = _header(render_html(_view(data)))
    assert header.endswith(": Caused or prolonged inpatient hospitalisation"), header


def test_null_flavors_of_continuing_and_the_death_date_are_said_in_words() -> None:
    data = _case1()
    data["patient"]["medical_history"] = [
        {"term": "Asthma", "continuing": {"absent": "masked"}},
        {"term": "Eczema", "continuing": {"absent": "asked-unknown"}},
        {"term": "Otitis", "continuing": False}]
    data["patient"]["death"] = {"date": {"absent": "asked-unknown"}}
    html = render_html(_view(data))
    patient = _text(html, "patient", "reactions")
    assert "Asthma not stated masked Eczema not stated asked, unknown Otitis not stated no" in patient
    assert "Death: the patient died; date asked, unknown" in patient
    form = build_form(_view(data))
    assert "continuing" not in form.history.text  # a masked answer is not a yes


def test_an_interval_under_a_day_reads_in_minutes_or_hours_in_the_computed_block() -> None:
    data = _case1()
    data["reactions"] = data["reactions"][:1]
    data["drugs"][0]["reactions"] = data["drugs"][0]["reactions"][:1]
    data["reactions"][0].update(onset={"value": 3, "unit": "min", "drug": "anakinra"},
                                duration={"value": 2, "unit": "h"})
    data["drugs"][0]["reactions"][0]["onset_after_first_dose"] = {"value": 3, "unit": "min"}
    computed = _text(render_html(_view(data, with_case=True)), "causality", "labs")
    assert "Onset 3 minutes after the first dose" in computed and "duration 2 hours" in computed, computed
    assert "0.0 days" not in computed and "0.1 days" not in computed


def _case1_in_months() -> dict:
    """Case 1 with an ALT two months after the last anakinra dose (day 21) and the nausea three months after the
    first: a month is 28-31 days, so these are spans of days."""
    data = _case1()
    data["tests"].append({"name": "ALT", "loinc": "1742-6", "value": 30, "unit": "U/L", "high": 33,
                          "date": {"value": 2, "unit": "mo", "drug": "anakinra", "anchor": "last-dose"}})
    data["reactions"][1]["onset"] = {"value": 3, "unit": "mo", "drug": "anakinra"}
    data["drugs"][0]["reactions"][1].pop("onset_after_first_dose", None)
    return data


def test_times_in_months_are_spans_of_days_as_the_assess_module_counts_them() -> None:
    view = _view(_case1_in_months(), with_case=True)
    normal = next(line for line in view.liver if "within normal" in line)
    assert normal == "ALT back within normal 56-62 days after the last dose (ALT 30 (0.9 x ULN) at day 77-83).", normal
    computed = next(c for c in view.computed if c.reaction == "Hepatitis")
    assert normal in computed.liver  # the page's derived line and the computed block say the same
    nausea = next(a for a in view.assessments if a.reaction == "Nausea")
    assert nausea.onset_worked_text == "84 to 93 days"
    alt = next(f for f in view.figures if f.key.startswith("alt"))
    assert 'data-x="80"' in str(alt.svg)  # day 77-83 charted at its middle, and the caption says so
    assert "Charted at the middle of the days it may fall on: 30\u00a0U/L (day 77-83)." in alt.caption


def test_a_test_with_values_but_no_chart_says_why() -> None:
    data = _case1()
    data["tests"] += [{"name": "Troponin", "value": 900, "unit": "ug/L", "date": {"absent": "unknown"}},
                      {"name": "Troponin", "value": 400, "unit": "ug/L", "date": {"value": 5, "unit": "d",
                                                                                  "drug": "anakinra"}}]
    labs = _text(render_html(_view(data)), "labs", "narrative")
    assert "Troponin (µg/L): not charted: 1 of its 2 values at a time that can be placed on the axis" in labs


def _troponin_after_last_dose(data: dict) -> dict:
    data["tests"] += [{"name": "Troponin", "value": 400, "unit": "ug/L",
                       "date": {"value": 5, "unit": "d", "drug": "anakinra"}},
                      {"name": "Troponin", "value": 40, "unit": "ug/L",
                       "date": {"value": 3, "unit": "d", "drug": "anakinra", "anchor": "last-dose"}}]
    return data


def test_a_course_given_by_its_duration_places_its_last_dose_on_the_chart() -> None:
    """'Took it for 22 days' (G.k.4.r.6, no stop date): the last dose is day 21, as the assess module counts it,
    so a value '3 days after the last dose' is charted at day 24 instead of being left off the chart."""
    data = _troponin_after_last_dose(_case1())
    dosage = data["drugs"][0]["dosages"][0]
    dosage.pop("stop")
    dosage["duration"] = {"value": 22, "unit": "d"}
    view = _view(data)
    troponin = next(f for f in view.figures if f.key.startswith("troponin"))
    assert 'data-x="24"' in str(troponin.svg)


def test_a_line_still_taken_after_the_stop_leaves_the_last_dose_unplaced() -> None:
    """A maintenance line begun on day 21, when the first line stopped, with no end: day 21 is not the last
    dose, so nothing counted from the last dose is placed (the assess module says 'not known' too)."""
    data = _troponin_after_last_dose(_case1())
    data["drugs"][0]["dosages"].append({"dose": {"value": 1, "unit": "mg/kg/d"}, "every": {"value": 1, "unit": "d"},
                                        "start": {"value": 21, "unit": "d", "drug": "anakinra"}})
    labs = _text(render_html(_view(data)), "labs", "narrative")
    assert "Troponin (µg/L): not charted: 1 of its 2 values at a time that can be placed on the axis" in labs


def test_a_dose_given_once_places_its_last_dose_on_the_chart() -> None:
    """Two doses given once each (interval {total}, start only, as vaccine doses are written) on days 0 and 21:
    a value '3 days after the last dose' is charted at day 24, where the assess module places it. The chart had
    left it off, as if the second dose might still be being given."""
    data = _troponin_after_last_dose(_case1())
    once = {"value": 1, "unit": "{total}"}
    data["drugs"][0]["dosages"] = [{"dose": {"value": 100, "unit": "mg"}, "every": once,
                                    "start": {"value": 0, "unit": "d", "drug": "anakinra"}},
                                   {"dose": {"value": 100, "unit": "mg"}, "every": once,
                                    "start": {"value": 21, "unit": "d", "drug": "anakinra"}}]
    troponin = next(f for f in _view(data).figures if f.key.startswith("troponin"))
    assert 'data-x="24"' in str(troponin.svg)


def test_a_dose_given_once_ends_on_its_start_in_the_report_and_on_the_cioms_form() -> None:
    """A single infusion (interval {total}) dated 20 Oct with no stop: the report's Stop column said "[not
    stated]" and CIOMS said "20 Oct 2026 to UNK" (box 18) and "UNK" (box 19), though its last dose is its start,
    as the charts and the assessment count it."""
    data = _case1()
    data["drugs"][0]["dosages"] = [{"dose": {"value": 100, "unit": "mg"}, "every": {"value": 1, "unit": "{total}"},
                                    "start": "2026-10-20"}]
    view = _view(data)
    dose = view.drugs[0].dosages[0]
    assert dose.stop is not None and dose.stop.date == "2026-10-20"
    form = build_form(view)
    assert form.therapy_dates.text == "20 Oct 2026 to 20 Oct 2026"
    assert form.therapy_duration.text == "1 day"
    data["drugs"][0]["dosages"][0].pop("every")  # a start only: it may still be being given
    assert _view(data).drugs[0].dosages[0].stop is None


def test_a_situation_term_beside_a_reaction_marks_no_onset_on_the_charts() -> None:
    """'Off label use' reported with the hepatitis on the same day: the charts' onset marker read 'Onset: Off
    label use, Hepatitis', as if the situation were a second reaction."""
    data = _troponin_after_last_dose(_case1())
    reaction = data["reactions"][0]
    data["reactions"].append({**reaction, "id": "offlabel", "verbatim": "Off label use", "meddra": None})
    for drug in data["drugs"]:
        for link in drug.get("reactions", []):
            link.pop("causality", None)
    svg = str(next(f for f in _view(data).figures if f.key.startswith("troponin")).svg)
    assert "Off label use" not in svg and "Onset: " in svg


def test_a_value_on_the_first_dose_day_is_no_baseline_when_a_reaction_began_that_day() -> None:
    """ALT 72 U/L on day 0 is case 1's baseline (the hepatitis began on day 20). With a reaction that began on
    day 0 too, the day-0 value may be the reaction itself (hypoglycaemia hours after a single dose): it was
    called 'abnormal before the suspect drug'."""
    data = _case1()
    assert any(row.test.text == "ALT" and row.baseline_abnormal for row in _view(data).labs)
    data["reactions"][0]["onset"] = {"value": 0, "unit": "d", "drug": "anakinra"}
    view = _view(data)
    assert not any(row.baseline_abnormal for row in view.labs) and not view.baselines


def test_a_dose_per_day_given_in_several_doses_reads_divided() -> None:
    """'2 mg/kg/day every 8 hours' reads as 2 mg/kg each time (6 mg/kg/day); the paediatric regimen is a day's
    dose divided every 8 hours. A dose per administration keeps 'every 8 hours'."""
    data = _case1()
    data["drugs"][0]["dosages"][0]["every"] = {"value": 8, "unit": "h"}
    drugs = _text(render_html(_view(data)), "drugs", "causality")
    assert "2 mg/kg/day divided every 8 hours" in drugs, drugs
    data["drugs"][0]["dosages"][0]["dose"] = {"value": 100, "unit": "mg"}
    assert "100 mg every 8 hours" in _text(render_html(_view(data)), "drugs", "causality")


def test_the_cioms_form_says_the_causes_of_death_and_the_autopsy() -> None:
    """The page showed the reported cause of death, whether an autopsy was done and what it found (D.9); the
    CIOMS form ticked 'patient died' and said none of it (only a narrative that happened to repeat it)."""
    data = _case1()
    data["reactions"][0].update(outcome="fatal", seriousness={"death": True})
    data["patient"]["death"] = {"reported_causes": [{"text": "multiorgan failure"}], "autopsy": True,
                                "autopsy_causes": [{"text": "submassive hepatic necrosis"}]}
    data["narrative"]["text"] = "Narrative without the death."
    from reporter.render.cioms import describe_reactions

    description = describe_reactions(_view(data))
    assert "multiorgan failure" in description and "submassive hepatic necrosis" in description
    assert "autopsy done" in description


def test_a_day_0_value_is_no_ctcae_baseline_when_a_reaction_began_that_day() -> None:
    """The page stopped calling a day-0 ALT a baseline when a reaction began on day 0, but its CTCAE grades still
    used it as one (x baseline); both now follow one rule (liver.is_baseline_time)."""
    data = _case1()
    data["tests"] = [t for t in data["tests"] if t.get("name") != "ALT"] + [
        {"name": "ALT", "loinc": "1742-6", "date": {"value": d, "unit": "d", "drug": "anakinra"}, "value": v,
         "unit": "U/L", "high": 40} for d, v in ((0, 120), (20, 400))]
    rule = next(r.grade_rule for r in _view(data).labs if r.test.text == "ALT" and r.value.value == 400)
    assert "abnormal-baseline rule" in rule
    data["reactions"][0]["onset"] = {"value": 0, "unit": "d", "drug": "anakinra"}
    rule = next(r.grade_rule for r in _view(data).labs if r.test.text == "ALT" and r.value.value == 400)
    assert rule == "ALT grade 3 by the x ULN rule (no baseline in the case): 10.0 x ULN"


def test_the_reports_normalisation_counts_from_the_episodes_last_dose_as_reporter_assess_does() -> None:
    """A rechallenge (days 60-65) after the first course (to day 21): the page counted ALT normalisation from the
    rechallenge's last dose ('not yet normal ... 5 days after the last dose') while `reporter assess` counted it
    from the first course's, the episode's (Timeline.last_dose with the onset): 'back within normal 24 days'."""
    from reporter.assess.facts import facts_for
    from tests.assess.support import case_data, lab

    data = case_data(stop={"value": 21, "unit": "d", "drug": "x"}, rechallenge="recurred", tests=[
        lab("ALT", 20, 800, 40), lab("ALT", 30, 100, 40), lab("ALT", 45, 35, 40), lab("ALT", 70, 300, 40)])
    data["drugs"][0]["dosages"].append({"start": {"value": 60, "unit": "d", "drug": "x"},
                                        "stop": {"value": 65, "unit": "d", "drug": "x"}})
    case = CaseFile.model_validate(data)
    assessed = facts_for(case, case.drugs[0], case.reactions[0]).normal.text
    assert assessed.startswith("ALT back within normal 24 days after the last dose")
    assert f"{assessed}." in _view(data).liver


def test_content_sections_an_import_fills_are_shown_on_the_page_and_the_form() -> None:
    """What other senders' E2B files fill and the case keeps: a past drug's MPID and indication (D.8.r.2, D.8.r.6,
    coded only), the reaction's highlight, country and medical confirmation (E.i.3.1, E.i.9, E.i.8), non-drug
    concomitant therapies (D.7.3) and a history item's end and continuing flag (D.7.1.r.3-4)."""
    data = _case1()
    patient = data["patient"]
    patient["past_drugs"] = [{"name": "Penicillin V", "start": "2018",
                              "identifiers": [{"kind": "mpid", "code": "MPID-123"}],
                              "indication": {"code": "10037660", "version": "26.1"},
                              "reaction": {"code": "10002198", "version": "26.1"}}]
    patient["concomitant_therapies"] = True
    patient["medical_history"] = [{"term": "Otitis", "start": "2019-03", "end": "2020", "continuing": False},
                                  {"term": "Eczema", "continuing": False}]
    reaction = data["reactions"][0]
    reaction.update(highlighted="yes", country="JP", medically_confirmed=False)
    html = render_html(_view(data))
    page = _text(html, "patient", "drugs")
    assert "Past drug history: Penicillin V [MPID-123] from 2018 indication: MedDRA 10037660 " \
           "reaction: MedDRA 10002198" in page
    assert "Concomitant therapies: yes (see the narrative)" in page
    assert "Highlighted by the reporter Occurred in: JP Medically confirmed: no" in page
    form = build_form(_view(data))
    assert form.history.text.startswith("Otitis (from Mar 2019 to 2020)\nEczema (ended)"), form.history.text
    assert "Concomitant therapies (not drugs): yes" in form.concomitants.text
