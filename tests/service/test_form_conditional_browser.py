"""Parts of the case form that apply only when other answers say so (mappings/ui_form.yaml `show_when`), in a
real headless Chromium against the app on loopback: the death details show for a fatal reaction or the death
criterion and hide again, keep what is typed and are stored; the parent and pregnancy parts follow the
patient's age group and sex and reach rows added in the page; a part no answer can show has its own button;
the entry driver enters a case in the form's order; without scripts every part shows. Screenshots go to
tests/_artifacts/entry-conditional-*.png."""

from __future__ import annotations

import pytest

from reporter.casefile.parse import load_case
from reporter.store.tokens import set_password
from reporter.web import caseform
from tests.form_entry import VIEWPORT, enter_case
from tests.service.browser import PASSWORD, log_in
from tests.service.test_form_entry_browser import CASE, _shot


@pytest.fixture
def site(served):
    set_password(served.store, "clinician", PASSWORD, role="reviewer")
    return served.base.removesuffix("/fhir")


def _hidden(page, selector: str) -> bool:
    """Whether the part at `selector` is hidden by its show-when wrapper (not merely folded)."""
    return page.locator(selector).evaluate("e => !!e.closest('[data-show-when][hidden]')")


def test_the_death_details_show_when_a_reaction_is_fatal_and_keep_what_is_typed(browser, site, served) -> None:
    page = browser.new_page(viewport=VIEWPORT)
    console_errors: list[str] = []
    page.on("console", lambda m: console_errors.append(m.text) if m.type == "error" else None)
    log_in(page, site)
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
    log_in(page, site)
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
    log_in(page, site)
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
    log_in(page, site)
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
    log_in(page, site)
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
