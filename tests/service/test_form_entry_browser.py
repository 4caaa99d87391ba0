"""The case form as a user meets it, in a real headless Chromium against the app on loopback: the issue-15 case
(a 67-year-old woman, 2 reactions, 17 lab values pasted into the lab grid, 2 drugs) entered and saved in two
page loads and stored exactly as the case file says; without scripts the server adds a row and lands on it;
all problems of a save come in one round, each at its field; MedDRA look-up from a (synthetic) release fills
the term and version; parts that apply only when other answers say so (death, parent, pregnancy, study) hide
and show with those answers, keep what is typed, and all show without scripts. Screenshots go to
tests/_artifacts/entry-*.png."""

from __future__ import annotations

from pathlib import Path

import pytest

from reporter.casefile.parse import load_case
from reporter.store import Criteria
from reporter.store.tokens import set_password
from reporter.web import caseform
from tests.form_entry import VIEWPORT, enter_case
from tests.meddra_release import VERSION, write_release
from tests.render_support import ARTIFACTS

PASSWORD = "correct horse battery"
CASE = Path(__file__).resolve().parents[1] / "data" / "amoxiclav-cholestatic-hepatitis.yaml"


@pytest.fixture
def site(served):
    set_password(served.store, "clinician", PASSWORD, role="reviewer")
    return served.base.removesuffix("/fhir")


def _shot(page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"entry-{name}.png"), full_page=True)


def _login(page, site: str, target: str = "/cases") -> None:
    page.goto(site + target)
    page.fill("#username", "clinician")
    page.fill("#password", PASSWORD)
    page.click("button[type=submit].primary")
    page.wait_for_url(f"{site}{target}*")


def test_the_issue_case_is_entered_with_the_grid_in_two_page_loads(browser, site, served) -> None:
    page = browser.new_page(viewport=VIEWPORT)
    console_errors: list[str] = []
    page.on("console", lambda m: console_errors.append(m.text) if m.type == "error" else None)
    _login(page, site)
    case = load_case(CASE)
    entry = enter_case(page, site, caseform.flatten(case))
    assert not entry.errors, entry.errors
    page.wait_for_url(f"{site}/cases/*")
    assert page.locator(".saved").inner_text() == "Version 1 saved."
    _shot(page, "saved")
    assert entry.page_loads == 2  # the form, then the saved case: rows are added in the page
    assert entry.pastes == 1  # the 17 lab values came in as one paste from a spreadsheet
    assert entry.farthest_new_row <= 1.0  # an added row appears where the user is
    assert entry.filled["visible"] < entry.filled["controls"]  # detail is folded away
    assert not console_errors, console_errors
    stored = served.store.read(page.url.split("/cases/", 1)[1].split("?", 1)[0])
    assert stored.casefile is not None
    assert load_case_data(stored.casefile) == case.model_dump(mode="json", exclude_none=True)

    # the lab grid shows all 17 values, one table row each, within the page width
    page.goto(f"{site}/cases/{stored.case_id}/edit")
    grid = page.locator('table.labgrid[data-list="tests"]')
    assert grid.locator("tbody tr:visible").count() == 17
    assert grid.evaluate("t => t.getBoundingClientRect().right") <= VIEWPORT["width"]
    assert page.input_value('[name="tests[12].result_text"]').startswith("HAV IgM")
    _shot(page, "edit-grid")
    page.set_viewport_size({"width": 390, "height": 844})  # a phone: the page fits, the grid scrolls in its box
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    grid_box = page.locator("#f-tests .grid-scroll")
    assert grid_box.evaluate("b => b.scrollWidth > b.clientWidth && b.getBoundingClientRect().right <= 390")
    _shot(page, "edit-phone")


def load_case_data(casefile: dict) -> dict:
    from reporter.casefile.model import CaseFile

    return CaseFile.model_validate(casefile).model_dump(mode="json", exclude_none=True)


def test_without_scripts_the_server_adds_a_row_and_lands_on_it(browser, site) -> None:
    context = browser.new_context(viewport=VIEWPORT, java_script_enabled=False)
    page = context.new_page()
    _login(page, site)
    page.goto(site + "/cases/new")
    page.fill('[name="tests[0].name"]', "ALT")
    page.click("button.add[value='add:tests']")
    page.wait_for_load_state("load")
    assert page.url.endswith("#f-tests_1_")
    row = page.locator("#f-tests_1_")
    box = row.bounding_box()
    assert box is not None and -2 <= box["y"] < VIEWPORT["height"]  # the new row is on screen
    assert page.input_value('[name="tests[0].name"]') == "ALT"
    page.click("button.add[value='add:reactions']")
    page.wait_for_load_state("load")
    assert page.url.endswith("#f-reactions_1_") and page.locator('[name="reactions[1].id"]').count() == 1
    box = page.locator("#f-reactions_1_").bounding_box()
    assert box is not None and -2 <= box["y"] < VIEWPORT["height"]
    _shot(page, "no-script-add")
    context.close()


def test_every_problem_comes_in_one_round_at_its_field(browser, site, served) -> None:
    page = browser.new_page(viewport=VIEWPORT)
    _login(page, site)
    values = caseform.flatten(load_case(CASE))
    values.setlist("tests[3].loinc", ["1742-7"])  # a code check (wrong check digit)...
    values.setlist("reactions[1].onset", ["2099-03-24"])  # ...an ICSR criterion (a date in the future)...
    values.setlist("tests[4].low", ["500"])  # ...a plausibility error (normal range upside down)...
    values.setlist("patient.weight_kg", ["sixty"])  # ...and a value the model refuses (not a number)
    entry = enter_case(page, site, values)
    assert len(entry.errors) == 4, entry.errors
    assert "number" in page.locator("#f-patient_weight_kg-err").inner_text()
    assert "1742-6" in page.locator("#f-tests_3__loinc-err").inner_text()
    assert "future" in page.locator("#f-reactions_1__onset-err").inner_text()
    assert "inverted" in page.locator("#f-tests_4__low-err").inner_text()
    assert page.locator("#f-tests_3_").evaluate("r => r.classList.contains('invalid')")
    assert page.locator("nav.outline .count-problems").count() >= 2  # the outline says which sections
    assert served.store.search("Bundle", Criteria(count=0)).total == 0
    _shot(page, "one-round")


def test_meddra_look_up_fills_the_term_and_version(browser, site, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("REPORTER_MEDDRA_DIR", str(write_release(tmp_path / "meddra")))
    page = browser.new_page(viewport=VIEWPORT)
    _login(page, site)
    page.goto(site + "/cases/new")
    assert page.locator("#meddra-note").count() == 0  # a release is configured
    code = page.locator('[name="reactions[0].meddra.code"]')
    code.fill("ALT incr")
    page.locator("#dl-meddra option").first.wait_for(state="attached")
    options = page.locator("#dl-meddra option").evaluate_all("os => os.map(o => [o.value, o.label])")
    assert options[0][0] == "94000003" and "ALT increased (test)" in options[0][1], options
    code.fill("94000003")
    code.dispatch_event("change")
    assert page.input_value('[name="reactions[0].meddra.term"]') == "ALT increased (test)"
    assert page.input_value('[name="reactions[0].meddra.version"]') == VERSION
    _shot(page, "meddra")


def test_without_a_meddra_release_the_form_says_so(browser, site, monkeypatch) -> None:
    monkeypatch.delenv("REPORTER_MEDDRA_DIR", raising=False)
    page = browser.new_page(viewport=VIEWPORT)
    _login(page, site)
    page.goto(site + "/cases/new")
    assert "REPORTER_MEDDRA_DIR" in page.locator("#meddra-note").inner_text()


def test_e2b_numbers_and_paths_show_on_demand(browser, site) -> None:
    page = browser.new_page(viewport=VIEWPORT)
    _login(page, site)
    page.goto(site + "/cases/new")
    detail = page.locator("#f-reactions_0__meddra_code-help .e2b")
    assert detail.is_hidden() and "E.i.2.1" not in page.locator("#s-reactions").inner_text()
    page.check("#e2b-detail")
    assert detail.is_visible() and "reactions[0].meddra.code" in detail.inner_text()
    page.reload()  # the choice is remembered on this computer
    assert page.is_checked("#e2b-detail") and detail.is_visible()
    page.goto(site + "/cases/new?e2b=1")
    assert page.is_checked("#e2b-detail")
    assert [o for o in page.locator('select[name="patient.sex"] option').all_inner_texts()] == ["—", "male", "female"]
    reasons = page.locator('select[name="patient.sex.absent"] option').evaluate_all("os => os.map(o => o.textContent)")
    assert "asked, but not known" in reasons and "asked-unknown" not in reasons


def _hidden(page, selector: str) -> bool:
    """Whether the part at `selector` is hidden by its show-when wrapper (not merely folded)."""
    return page.locator(selector).evaluate("e => !!e.closest('[data-show-when][hidden]')")


def test_the_death_details_show_when_a_reaction_is_fatal_and_keep_what_is_typed(browser, site, served) -> None:
    page = browser.new_page(viewport=VIEWPORT)
    console_errors: list[str] = []
    page.on("console", lambda m: console_errors.append(m.text) if m.type == "error" else None)
    _login(page, site)
    page.goto(site + "/cases/new")
    death, outcome = "#f-patient_death", '[name="reactions[0].outcome"]'
    assert _hidden(page, death) and page.locator(death).is_hidden()
    assert _hidden(page, "#f-study") and _hidden(page, "#f-study-h")  # no study until the report says so
    page.select_option(outcome, "fatal")
    assert page.locator(death).is_visible() and not _hidden(page, death)
    assert page.locator(death).evaluate("d => d.open")  # shown by the answer just given: opened, too
    note = page.locator("#f-reactions_0_ p.shown-note[role=status]")  # ...and named where the answer was given
    assert note.inner_text() == "Now shown: Death (in Patient)"
    assert note.locator("a").get_attribute("href") == "#f-patient_death"
    page.locator("#f-reactions_0_ p.shown-note").scroll_into_view_if_needed()
    _shot(page, "conditional-note")
    page.select_option(outcome, "recovered")
    assert page.locator(death).is_hidden() and note.count() == 0
    page.select_option('[name="reactions[0].seriousness.death"]', "true")  # the death criterion also says so
    assert page.locator(death).is_visible()
    page.select_option('[name="reactions[0].seriousness.death"]', "")
    assert page.locator(death).is_hidden()
    page.select_option('[name="report.type"]', "study")
    assert page.locator("#f-study").is_visible() and page.locator("#f-study-h").is_visible()
    page.select_option('[name="report.type"]', "spontaneous")
    assert page.locator("#f-study").is_hidden()

    page.select_option(outcome, "fatal")
    page.fill('[name="patient.death.date"]', "2024-06-01")
    page.select_option(outcome, "unknown")  # what is typed in it keeps it shown, and is never cleared
    assert page.locator(death).is_visible()
    assert page.input_value('[name="patient.death.date"]') == "2024-06-01"
    page.locator(death).scroll_into_view_if_needed()
    _shot(page, "conditional-death")

    values = caseform.flatten(load_case(CASE))  # the rest of the issue case, its first reaction fatal
    values.setlist("reactions[0].outcome", ["fatal"])
    values.setlist("reactions[0].seriousness.death", ["true"])
    entry = enter_case(page, site, values, open_form=False)
    assert not entry.errors, entry.errors
    page.wait_for_url(f"{site}/cases/*")
    stored = served.store.read(page.url.split("/cases/", 1)[1].split("?", 1)[0])
    assert stored.casefile["patient"]["death"]["date"] == "2024-06-01"
    assert stored.casefile["reactions"][0]["outcome"] == "fatal"
    assert not console_errors, console_errors

    page.goto(f"{site}/cases/{stored.case_id}/edit")  # the stored case: the part shows (fatal, and it holds a date)
    assert page.locator(death).is_visible()
    assert page.locator("#f-study").is_hidden()
    page.select_option(outcome, "recovering")
    assert page.locator(death).is_visible()  # it holds a value: it stays


def test_a_case_holding_death_details_is_entered_in_the_order_of_the_form(browser, site, served) -> None:
    """The driver meets the death details (in the patient section) before the fatal reaction that makes them
    apply: they wait until it is chosen, then take their values."""
    from reporter.casefile import model as m

    page = browser.new_page(viewport=VIEWPORT)
    _login(page, site)
    case = load_case(CASE)
    case.reactions[1].outcome = "fatal"
    case.reactions[1].seriousness.death = True
    case.patient.death = m.Death(date="2024-06-01", reported_causes=[m.CauseOfDeath(text="Liver failure")])
    values = caseform.flatten(case)  # in the form's order: the patient's death before the reactions
    keys = list(values)
    assert keys.index("patient.death.date") < keys.index("reactions[1].outcome")
    entry = enter_case(page, site, values)
    assert not entry.errors, entry.errors
    assert entry.page_loads == 2
    page.wait_for_url(f"{site}/cases/*")
    stored = served.store.read(page.url.split("/cases/", 1)[1].split("?", 1)[0])
    death = stored.casefile["patient"]["death"]
    assert death["date"] == "2024-06-01" and death["reported_causes"] == [{"text": "Liver failure"}]


def test_without_scripts_every_conditional_part_shows(browser, site) -> None:
    context = browser.new_context(viewport=VIEWPORT, java_script_enabled=False)
    page = context.new_page()
    _login(page, site)
    page.goto(site + "/cases/new")
    parts = page.locator("form.caseform [data-show-when]")
    assert parts.count() >= 6
    assert parts.evaluate_all("ps => ps.filter(p => p.hidden).length") == 0
    assert page.locator("#f-patient_death").is_visible() and page.locator("#f-study").is_visible()
    assert "gestation at onset, age group, height cm, last menstrual period" in page.locator(
        "#f-patient > details.more > summary").inner_text()
    page.locator("#f-patient_death > summary").click()  # folded like any empty optional group, and it opens
    assert page.locator('[name="patient.death.date"]').is_visible()
    _shot(page, "no-script-conditional")
    context.close()


def test_the_parent_and_pregnancy_parts_follow_the_patient_and_reach_rows_added_in_the_page(browser, site) -> None:
    page = browser.new_page(viewport=VIEWPORT)
    _login(page, site)
    page.goto(site + "/cases/new")
    parent, route = "#f-patient_parent", "#f-drugs_0__dosages_0__parent_route"
    assert _hidden(page, parent) and _hidden(page, route) and _hidden(page, "#f-patient_gestation_at_onset")
    more = page.locator("#f-patient > details.more > summary .more-labels")  # names only what it shows
    assert more.inner_text() == "record numbers, birth date, age group, height cm, race, ethnicity, past drugs"
    page.locator('[name="patient.age_group"]').evaluate("e => e.closest('details').open = true")  # under More
    page.select_option('[name="patient.age_group"]', "foetus")  # a parent-child / foetus report
    assert page.locator(parent).is_visible()
    assert page.locator("p.shown-note").inner_text() == "Now shown: Parent"  # not the fields under "More" folds
    assert not _hidden(page, route) and not _hidden(page, "#f-patient_gestation_at_onset")
    page.select_option('[name="patient.age_group"]', "adult")
    assert _hidden(page, parent) and _hidden(page, route)
    page.locator('[name="drugs[0].additional_info"][value="taken-by-father"]').evaluate(
        "e => { e.closest('details').open = true; }")
    page.check('[name="drugs[0].additional_info"][value="taken-by-father"]')
    assert page.locator(parent).is_visible() and not _hidden(page, route)

    gestation = "#f-drugs_1__gestation_at_exposure"
    page.select_option('[name="patient.sex"]', "female")  # exposure in pregnancy may apply
    assert "height cm, last menstrual period, race" in more.inner_text()
    assert page.locator("p.shown-note").count() == 0  # both under "More": named there, not opened
    assert not _hidden(page, "#f-drugs_0__gestation_at_exposure")
    assert not page.locator("#f-drugs_0__gestation_at_exposure").evaluate("d => d.open")
    page.click("button.add[value='add:drugs']")  # a row added in the page follows the answers given
    assert page.locator('[name="drugs[1].id"]').count() == 1 and not _hidden(page, gestation)
    page.select_option('[name="patient.sex"]', "male")
    assert _hidden(page, gestation) and _hidden(page, "#f-patient_last_menstrual_period")
    _shot(page, "conditional-parent")


def test_a_part_no_answer_can_show_has_a_button_that_shows_it(browser, site) -> None:
    """A patient who died of another cause, a parent-child report of an older child: the part's own button."""
    page = browser.new_page(viewport=VIEWPORT)
    _login(page, site)
    page.goto(site + "/cases/new")
    button = page.locator("button[data-reveal]", has_text="Add death details")
    assert button.is_visible() and page.locator("#f-patient_death").is_hidden()
    button.click()
    assert page.locator("#f-patient_death").is_visible() and button.is_hidden()
    assert page.evaluate("document.activeElement.name") == "patient.death.date"  # ready to type
    page.select_option('[name="reactions[0].outcome"]', "recovered")  # a later answer does not hide it again
    assert page.locator("#f-patient_death").is_visible()
    parent = page.locator("button[data-reveal]", has_text="Add the parent")
    parent.click()  # the parent and the parent's route at each dosage
    assert page.locator("#f-patient_parent").is_visible() and not _hidden(page, "#f-drugs_0__dosages_0__parent_route")
    _shot(page, "conditional-reveal")
