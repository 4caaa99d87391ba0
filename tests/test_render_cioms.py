"""The CIOMS I form of the issue-15 case (amoxicillin-clavulanate cholestatic hepatitis) as a safety physician
reads it: box 25a from the stored version, the citation, causality and comments on the form or its
continuation page, daily doses computed, periods numbered alike in boxes 15/16/18/19, durations from the
dates, and no unit split across lines. Read back with pdftotext; page 1 rendered to PNG with pdftoppm, where
the ticks of box 25a are looked for in the pixels."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from reporter.casefile.model import CaseFile
from reporter.casefile.parse import load_case
from reporter.fhir.build import build_bundle
from reporter.render.cioms import build_form, daily_dose, duration_days
from reporter.render.model import DosageView, Qty, ReportVersion, When
from reporter.render.output import render_pdf
from reporter.render.view import case_view
from tests.render_support import ARTIFACTS, DEMOS, demo_bundle, pdftotext_path

CASE = Path(__file__).parent / "data" / "amoxiclav-cholestatic-hepatitis.yaml"
FOLLOW_UP = ReportVersion("follow-up", 4)


def _pdf(tmp_path: Path, version: ReportVersion | None, name: str = "form", bundle: dict | None = None) -> Path:
    path = tmp_path / f"{name}.pdf"
    path.write_bytes(render_pdf(case_view(bundle or demo_bundle(CASE)), version))
    return path


def _text(pdf: Path, *args: str) -> str:
    return subprocess.run([pdftotext_path(), *args, str(pdf), "-"], capture_output=True, text=True,
                          check=True, timeout=60).stdout


def _flat(text: str) -> str:
    return re.sub(r"\s+", " ", text)


def _words(pdf: Path, page: int = 1) -> list[tuple[str, float, float, float, float]]:
    """(word, xMin, yMin, xMax, yMax) in PDF points, from pdftotext -bbox."""
    html = _text(pdf, "-bbox", "-f", str(page), "-l", str(page))
    pattern = r'<word xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" yMax="([\d.]+)">(.*?)</word>'
    return [(m.group(5), *(float(m.group(i)) for i in range(1, 5))) for m in re.finditer(pattern, html)]


def _word(words, text: str):
    found = [w for w in words if w[0] == text]
    assert found, f"{text!r} not on the page"
    return found[0]


def test_follow_up_version_ticks_followup_in_text_and_pixels(tmp_path) -> None:
    pdf = _pdf(tmp_path, FOLLOW_UP)
    text = _flat(_text(pdf, "-layout"))
    assert re.search(r"FOLLOWUP ?\(checked\)", text) and not re.search(r"INITIAL ?\(checked\)", text)
    assert "Follow-up (version 4)" in text
    # Page 1 as pixels: the FOLLOWUP box is inked, the INITIAL box is empty.
    png = tmp_path / "page"
    subprocess.run(["pdftoppm", "-r", "150", "-f", "1", "-l", "1", "-png", str(pdf), str(png)], check=True,
                   timeout=60)
    page = next(tmp_path.glob("page*.png"))
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "cioms-amoxiclav-page1.png").write_bytes(page.read_bytes())
    from PIL import Image

    image = Image.open(page).convert("L")
    scale = 150 / 72
    words = _words(pdf)

    def ink_left_of(word: str) -> int:
        _, x0, y0, _, y1 = _word(words, word)
        # The 3 mm box sits just left of its label: look inside it, away from its border.
        box = (int((x0 - 9) * scale), int((y0 + 2) * scale), int((x0 - 4) * scale), int((y1 - 2) * scale))
        return sum(image.crop(box).histogram()[:100])  # dark pixels

    followup, initial = ink_left_of("FOLLOWUP"), ink_left_of("INITIAL")
    assert followup > 5 and initial == 0, (followup, initial)


@pytest.mark.parametrize(("version", "ticked", "note"), [
    (None, "INITIAL", None),
    (ReportVersion("initial", 1), "INITIAL", None),
    (ReportVersion("follow-up", 2), "FOLLOWUP", "Follow-up (version 2)"),
    (ReportVersion("amendment", 3, "wrong onset date corrected"), "FOLLOWUP",
     "Amendment (version 3): wrong onset date corrected"),
])
def test_box_25a_from_the_version_kind(version, ticked, note) -> None:
    form = build_form(case_view(demo_bundle(CASE)), version)
    assert form.report_type == {"INITIAL": "initial", "FOLLOWUP": "follow-up"}[ticked]
    assert form.report_type_note == (note or "")


def test_citation_causality_and_comments_are_on_the_form(tmp_path) -> None:
    case = load_case(CASE)
    text = _flat(_text(_pdf(tmp_path, FOLLOW_UP)))
    assert _flat(case.literature[0].citation) in text
    for drug in case.drugs:
        for link in drug.reactions:
            for c in link.causality:
                assert f"{c.source}, {c.method}: {c.result}" in text, c
    assert _flat(case.narrative.reporter_comments) in text
    assert _flat(case.narrative.sender_comments) in text
    # The biopsy text, whole, on the continuation page.
    biopsy = next(t for t in case.tests if t.name == "Liver biopsy")
    assert _flat(biopsy.result_text) in text
    assert "CIOMS FORM: CONTINUATION" in text


def test_periods_numbered_alike_with_daily_doses_and_durations(tmp_path) -> None:
    form = build_form(case_view(demo_bundle(CASE)), FOLLOW_UP)
    assert form.daily_doses.text.split("\n") == [
        "1) 1500\u00a0mg/day (500\u00a0mg every 8 hours)", "2) 1750\u00a0mg/day (875\u00a0mg every 12 hours)"]
    assert form.routes.text == "Oral"  # the same in both periods: said once
    assert form.therapy_dates.text.split("\n") == ["1) 1 Mar 2024 to 3 Mar 2024", "2) 4 Mar 2024 to 10 Mar 2024"]
    assert form.therapy_duration.text.split("\n") == ["1) 3 days", "2) 7 days (total 10 days)"]
    assert form.concomitants.text == ("Atorvastatin: 20\u00a0mg/day, 2019 to UNK\n"
                                      "Concomitant therapies (not drugs): yes, see the narrative")  # D.7.3
    # On the page: each period's dose sits on the line of its dates' row order, and box 15 stays left of 16.
    pdf = _pdf(tmp_path, FOLLOW_UP)
    words = _words(pdf)
    route_label = _word(words, "16.")
    doses = [w for w in words if w[0] in ("1500", "1750")]
    assert [w[0] for w in sorted(doses, key=lambda w: w[2])] == ["1500", "1750"]
    assert all(w[3] < route_label[1] for w in words if w[0] == "hours)"), "box 15 spills into box 16"


def test_no_unit_broken_across_lines(tmp_path) -> None:
    """Every lab value with its unit, and every daily dose, is on one line of the PDF text."""
    pdf = _pdf(tmp_path, FOLLOW_UP)
    lines = [re.sub(r"\s+", " ", line) for line in _text(pdf).splitlines()]
    assert not [line for line in lines if re.search(r"/$", line.strip())], "a line ends inside a unit"
    case = load_case(CASE)
    from reporter.render.charts import fmt_num
    from reporter.render.units import unit_text

    for test in case.tests:
        if test.value is None:
            continue
        shown = f"{test.comparator or ''}{fmt_num(test.value)}"
        unit = unit_text(test.unit)
        wanted = f"{test.name} {shown} {unit}".strip()
        assert any(wanted in line for line in lines), wanted
    assert any("1750 mg/day" in line for line in lines)


def test_relative_times_read_day_0_to_day_21_with_duration(tmp_path) -> None:
    """Demo case 1: anakinra stopped on day 21 of a course counted from its own first dose."""
    case1 = next(p for p in DEMOS if p.name.startswith("case1"))
    form = build_form(case_view(demo_bundle(case1)))
    assert form.therapy_dates.text == "day 0 to day 21"
    assert form.therapy_duration.text == "22 days"
    assert form.daily_doses.text == "2\u00a0mg/kg/day"
    text = _flat(_text(_pdf(tmp_path, None, "case1", demo_bundle(case1))))
    assert "day 0 to day 21" in text and "UNK to day 21" not in text


def _dose(value: float, unit: str, every: tuple[float, str] | None = None, text: str | None = None,
          comparator: str | None = None) -> DosageView:
    interval = Qty(*every) if every else None
    from reporter.render.units import every_text

    return DosageView(dose=Qty(value, unit, comparator), interval=interval,
                      every=every_text(*every) if every else None, text=text)


@pytest.mark.parametrize(("dose", "shown"), [
    (_dose(875, "mg", (12, "h")), "1750\u00a0mg/day (875\u00a0mg every 12 hours)"),
    (_dose(20, "mg", (1, "d")), "20\u00a0mg/day"),
    (_dose(2, "mg/kg/d"), "2\u00a0mg/kg/day"),
    (_dose(25, "mg", (1, "wk")), "25\u00a0mg weekly"),  # no daily figure: the regimen as written
    (_dose(500, "mg", (5, "h")), "500\u00a0mg every 5 hours"),  # not a whole number of doses a day
    (_dose(2, "g/kg"), "2\u00a0g/kg"),  # a single dose
    (DosageView(text="two puffs as needed"), "two puffs as needed"),
])
def test_daily_dose(dose, shown) -> None:
    assert daily_dose(dose) == shown


@pytest.mark.parametrize(("start", "stop", "days"), [
    (When(date="2024-03-04"), When(date="2024-03-10"), 7),
    (When(date="2024-03-04"), When(date="2024-03-04"), 1),
    (When(date="2024-03"), When(date="2024-03-10"), None),  # partial: not computable
    (When(date="2024-03-10"), When(date="2024-03-04"), None),  # reversed: not a duration
    (When(offset=Qty(0, "d"), ref="d1"), When(offset=Qty(21, "d"), ref="d1"), 22),
    (When(offset=Qty(0, "d"), ref="d1"), When(offset=Qty(21, "d"), ref="d2"), None),  # other anchors
    (When(date="2024-03-04"), None, None),
])
def test_duration_days(start, stop, days) -> None:
    assert duration_days(start, stop) == days


def test_case_file_is_the_issue_case() -> None:
    case = load_case(CASE)
    assert case.patient.sex == "female" and case.patient.age_at_onset.value == 67
    assert len(case.reactions) == 2 and len(case.tests) == 17 and len(case.drugs) == 2
    assert build_bundle(case)["type"] == "document"


def test_several_suspects_numbered_alike_in_every_drug_box() -> None:
    """The relative-time variant lists a second suspect first: drugs are #1, #2 in box 14 and the same labels,
    with the period (#2.1, #2.2), head each value of boxes 15-19; days count from amoxicillin's first dose."""
    from tests.render_support import issue_bundle

    form = build_form(case_view(issue_bundle("relative")))
    assert form.suspects.text.split("\n")[0] == "#1 Paracetamol (paracetamol)"
    assert form.suspects.text.split("\n")[1].startswith("#2 Amoxicillin/clavulanic acid")
    assert form.daily_doses.text.split("\n") == ["#1 UNK", "#2.1 1500\u00a0mg/day (500\u00a0mg every 8 hours)",
                                                "#2.2 1750\u00a0mg/day (875\u00a0mg every 12 hours)"]
    assert form.routes.text.split("\n") == ["#1 UNK", "#2 Oral"]
    assert form.therapy_dates.text.split("\n") == ["#1 UNK", "#2.1 day 0 to day 2", "#2.2 day 3 to day 9"]
    assert form.therapy_duration.text.split("\n") == ["#1 UNK", "#2.1 3 days", "#2.2 7 days (total 10 days)"]
    assert not any(b.continued for b in (form.daily_doses, form.routes, form.therapy_dates, form.therapy_duration))
    # a fixed combination is named by all its substances (its first alone named the wrong one of brinzolamide/
    # timolol eye drops, Cyprus J Med Sci 2022;7:698)
    assert "onset day 21 after first amoxicillin/clavulanic acid dose" in form.description.text


def test_batch_lot_numbers_reach_box_14_and_the_page(tmp_path) -> None:
    from reporter.casefile.model import CaseFile
    from reporter.render.output import render_html
    from tests.render_support import issue_case_data

    data = issue_case_data()
    data["drugs"][0]["dosages"][0]["batch"] = "ABV5300"
    data["drugs"][0]["dosages"][1]["batch"] = "ABV5300"  # the same lot in two periods: named once
    view = case_view(build_bundle(CaseFile.model_validate(data)))
    form = build_form(view)
    assert form.suspects.text.endswith("; lot ABV5300") and form.suspects.text.count("ABV5300") == 1
    assert "Batch/lot: ABV5300" in render_html(view)
    pdf = tmp_path / "lot.pdf"
    pdf.write_bytes(render_pdf(view, None))
    assert "lot ABV5300" in _flat(_text(pdf))


def test_a_dose_given_once_ends_on_its_start_in_boxes_18_and_19() -> None:
    """Paliperidone palmitate loading doses (150 mg on day 1, 100 mg on day 8, each once) before monthly
    maintenance: a line given once ({total}) ends on its start, as the day axis and the assess module read it;
    boxes 18 and 19 said 'day 0 to UNK' and 'UNK'."""
    from reporter.casefile.model import CaseFile
    from tests.assess.support import case_data

    data = case_data(start={"value": 0, "unit": "d", "drug": "x"})
    data["drugs"][0]["dosages"] = [
        {"dose": {"value": 150, "unit": "mg"}, "every": {"value": 1, "unit": "{total}"},
         "start": {"value": 0, "unit": "d", "drug": "x"}},
        {"dose": {"value": 100, "unit": "mg"}, "every": {"value": 1, "unit": "{total}"},
         "start": {"value": 7, "unit": "d", "drug": "x"}},
        {"dose": {"value": 75, "unit": "mg"}, "every": {"value": 4, "unit": "wk"},
         "start": {"value": 35, "unit": "d", "drug": "x"}}]
    form = build_form(case_view(build_bundle(CaseFile.model_validate(data))))
    assert form.therapy_dates.text.split("\n") == ["1) day 0 to day 0", "2) day 7 to day 7", "3) day 35 to UNK"]
    assert form.therapy_duration.text.split("\n") == ["1) 1 day", "2) 1 day", "3) UNK"]
    view = case_view(build_bundle(CaseFile.model_validate(data)))
    assert [d.stop for d in view.drugs[0].dosages][:2] == [d.start for d in view.drugs[0].dosages][:2]
    assert view.drugs[0].dosages[2].stop is None  # the maintenance line has no end yet


def test_where_the_drug_was_obtained_blinding_and_authorisation_reach_box_14_and_the_page() -> None:
    """Prednisolone bought over the Internet from Thailand (Lancet 2006 case report): G.k.2.4, like G.k.2.5
    and G.k.3, went to E2B but not to the report or the CIOMS form."""
    from reporter.casefile.model import CaseFile
    from reporter.render.output import render_html
    from tests.render_support import issue_case_data

    data = issue_case_data()
    data["drugs"][0].update(country_obtained="TH", blinded=True,
                            authorisation={"number": "PL 12345/0001", "country": "GB", "holder": "Example Ltd"})
    view = case_view(build_bundle(CaseFile.model_validate(data)))
    form = build_form(view)
    box14 = next((text for item, _, text in form.continuation if item == "14"), form.suspects.text)
    # countries by name (G.k.2.4 and G.k.3.2 hold TH and GB, which read as codes to a person)
    assert "; obtained in Thailand; blinded investigational product; authorisation number PL 12345/0001, " \
           "United Kingdom, holder Example Ltd" in box14
    page = render_html(view)
    assert "Obtained in: Thailand" in page and "Blinded investigational product" in page
    assert "Authorisation: number PL 12345/0001, United Kingdom, holder Example Ltd" in page


PARENT_CASE = Path(__file__).parent / "data" / "literature" / "case8-parent-child.yaml"


def _parent_case_view():
    from reporter.casefile.model import CaseFile
    from reporter.casefile.parse import load_data, read_text

    data = load_data(read_text(PARENT_CASE), str(PARENT_CASE))
    data["patient"]["gestation_at_onset"] = {"value": 38, "unit": "wk"}
    data["patient"]["parent"] |= {"last_menstrual_period": "2023-12-02", "height_cm": 165,
                                  "past_drugs": [{"name": "Lamotrigine", "end": "2019-05"}]}
    return case_view(build_bundle(CaseFile.model_validate(data)))


def test_parent_child_case_parent_gestation_and_parent_route_on_the_page() -> None:
    from reporter.render.output import render_html

    html = render_html(_parent_case_view())
    parent = html[html.index('<section id="parent"'):html.index('<section id="reactions"')]
    for text in ("<dt>Sex</dt><dd>female</dd>", "<dt>Age</dt><dd>31\u00a0years</dd>",
                 "<dt>Last menstrual period</dt><dd>2 Dec 2023</dd>", "64\u00a0kg", "165\u00a0cm",
                 "Juvenile myoclonic epilepsy", "seizure-free on valproate", "Lamotrigine to May 2019"):
        assert text in parent, text
    assert '<a href="#parent">Parent</a>' in html
    assert "<dt>Gestation period at onset</dt><dd>38\u00a0weeks</dd>" in html
    assert "Gestation period at exposure: 0\u00a0weeks" in html and "Parent's route: Oral" in html


def test_parent_child_case_on_the_cioms_form() -> None:
    form = build_form(_parent_case_view())
    assert form.routes.text == "Transplacental (parent: Oral)"
    history = form.history.text if not form.history.continued else next(
        text for item, _, text in form.continuation if item == "23")
    assert "Gestation period at onset: 38\u00a0weeks" in history
    assert "gestation period at exposure 0\u00a0weeks" in history
    assert ("Parent: identification UNK, sex female, age 31\u00a0years, last menstrual period 2 Dec 2023, "
            "weight 64\u00a0kg, height 165\u00a0cm. History: Juvenile myoclonic epilepsy") in history
    assert "Lamotrigine to May 2019" in history


def test_a_case_without_a_parent_has_no_parent_section() -> None:
    from reporter.render.output import render_html

    html = render_html(case_view(demo_bundle(CASE)))
    assert 'id="parent"' not in html and "Parent:" not in build_form(case_view(demo_bundle(CASE))).history.text


def test_a_criterion_not_known_ticks_no_box() -> None:
    """'Results in death: not known' (E.i.3.2a sent as NI) ticked PATIENT DIED, a fact the case does not hold."""
    from reporter.casefile.model import CaseFile
    from tests.helpers import load_example

    data = load_example()
    data["reactions"][0]["seriousness"] = {"death": {"absent": "no-information"}, "hospitalisation": True}
    form = build_form(case_view(build_bundle(CaseFile.model_validate(data))))
    assert form.checks["hospitalisation"] and not form.checks["died"]
    data["reactions"][0]["seriousness"] = {"death": True}
    data["reactions"][0]["outcome"] = "fatal"
    assert build_form(case_view(build_bundle(CaseFile.model_validate(data)))).checks["died"]


def test_a_narrative_longer_than_e2b_takes_is_cut_on_the_form_and_said() -> None:
    """A 17 MB narrative ran WeasyPrint past 1,500 pages (and past the client): the form takes at most E2B's
    H.1 length and says how much more there is; the HTML report keeps it whole."""
    from reporter.casefile.model import CaseFile
    from tests.helpers import load_example

    data = load_example()
    data["narrative"]["text"] = "word " * 60000  # 300,000 characters
    form = build_form(case_view(build_bundle(CaseFile.model_validate(data))))
    text = " ".join(str(v) for v in vars(form).values())
    assert "[... 199999 more characters: the full text is in the HTML report]" in text
    assert len(text) < 200000


def test_the_onset_boxes_give_the_reaction_that_began_first() -> None:
    """Boxes 4-6 took the first reaction listed (20 Mar) although another began on 18 Mar."""
    from reporter.casefile.model import CaseFile
    from tests.helpers import load_example

    data = load_example()
    data["reactions"][0]["onset"] = "2023-03-20"
    data["reactions"][1]["onset"] = "2023-03-18"
    form = build_form(case_view(build_bundle(CaseFile.model_validate(data))))
    assert "18" in str(form.onset) and "20" not in str(form.onset).replace("2023", "")


def test_two_reactions_of_one_term_are_told_apart_in_the_causality_lines() -> None:
    """Rituximab: an anaphylaxis 11 days after the first infusion and another 30 min into the second (Allergy
    Asthma Clin Immunol 2020;16:56), both MedDRA 'Anaphylactic reaction'. Box 7+13 and `reporter assess` gave
    'Rituximab / Anaphylactic reaction' twice, the stated and the computed causality alike."""
    from reporter.assess.run import assess_case, text_report
    from reporter.casefile.model import CaseFile
    from reporter.render.cioms import describe_causality
    from tests.assess.support import case_data

    data = case_data(onset={"value": 11, "unit": "d", "drug": "x"}, term="first episode")
    data["reactions"][0]["meddra"] = {"code": "10002198", "version": "26.0", "term": "Anaphylactic reaction"}
    data["reactions"].append({"id": "r2", "verbatim": "30 min into the second infusion",
                              "meddra": {"code": "10002198", "version": "26.0", "term": "Anaphylactic reaction"}})
    causality = [{"source": "Primary source", "method": "Global introspection", "result": "Related"}]
    data["drugs"][0]["reactions"] = [{"reaction": "r", "causality": causality},
                                     {"reaction": "r2", "rechallenge": "recurred", "causality": causality}]
    case = CaseFile.model_validate(data)
    lines = describe_causality(case_view(build_bundle(case), case=case))
    assert [line.split(":")[0] for line in lines if "computed" not in line] == [
        "Drugex / Anaphylactic reaction (reaction 1)", "Drugex / Anaphylactic reaction (reaction 2)"]
    assert sum("Drugex / Anaphylactic reaction (reaction 2) (computed from the case)" in x for x in lines) == 1
    assert "Drugex / Anaphylactic reaction (reaction 1)" in text_report(assess_case(case))


def test_a_time_relative_to_a_mixture_names_the_product_not_every_ingredient() -> None:
    """An intravenous green tea extract mixture with carnitine, riboflavin and other components (Clin Liver Dis
    2022, PMC9745259): a time after its first dose named the four ingredients joined; a pair stays joined."""
    from tests.render_support import issue_bundle

    bundle = issue_bundle("relative")
    med = next(e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Medication"
               and len(e["resource"].get("ingredient") or []) == 2)
    text = build_form(case_view(bundle)).description.text
    assert "after first amoxicillin/clavulanic acid dose" in text
    med["ingredient"] += [{"itemCodeableConcept": {"text": n}} for n in ("carnitine", "riboflavin")]
    text = build_form(case_view(bundle)).description.text
    assert "carnitine" not in text
    assert "after first amoxicillin/clavulanic acid 875 mg/125 mg film-coated tablets dose" in text  # the product


def test_boxes_4_6_give_the_reaction_s_onset_not_a_situation_term_s() -> None:
    """A toddler's clonidine ingestion (Asia Pac J Med Toxicol 2021): 'Accidental exposure to product by child'
    at minute 0 and drowsiness 15 minutes later; box 5 read '0 minutes after', the exposure's time."""
    from tests.helpers import load_example

    data = load_example()
    data["reactions"].insert(0, {"id": "exposure", "verbatim": "Accidental exposure to product by child",
                                 "onset": {"value": 0, "unit": "d", "drug": "anakinra"}})
    form = build_form(case_view(build_bundle(CaseFile.model_validate(data))))
    assert form.onset_note == "day 20 after first anakinra dose"
