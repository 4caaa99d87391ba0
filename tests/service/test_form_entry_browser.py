"""The case form as a user meets it, in a real headless Chromium against the app on loopback: the issue-15 case
(a 67-year-old woman, 2 reactions, 17 lab values pasted into the lab grid, 2 drugs) entered and saved in two
page loads and stored exactly as the case file says; without scripts the server adds a row and lands on it;
all problems of a save come in one round, each at its field; MedDRA look-up from a (synthetic) release fills
the term and version. Screenshots go to tests/_artifacts/entry-*.png."""

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
from tests.service.browser import PASSWORD, log_in

CASE = Path(__file__).resolve().parents[1] / "data" / "amoxiclav-cholestatic-hepatitis.yaml"


@pytest.fixture
def site(served):
    set_password(served.store, "clinician", PASSWORD, role="reviewer")
    return served.base.removesuffix("/fhir")


def _shot(page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"entry-{name}.png"), full_page=True)


def test_the_issue_case_is_entered_with_the_grid_in_two_page_loads(browser, site, served) -> None:
    page = browser.new_page(viewport=VIEWPORT)
    console_errors: list[str] = []
    page.on("console", lambda m: console_errors.append(m.text) if m.type == "error" else None)
    log_in(page, site)
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
    page.goto(f"{site}/cases")  # the case list on a phone: the page fits, the table scrolls in its box
    assert page.evaluate("document.documentElement.scrollWidth") <= 390


def load_case_data(casefile: dict) -> dict:
    from reporter.casefile.model import CaseFile

    return CaseFile.model_validate(casefile).model_dump(mode="json", exclude_none=True)


def test_without_scripts_the_server_adds_a_row_and_lands_on_it(browser, site) -> None:
    context = browser.new_context(viewport=VIEWPORT, java_script_enabled=False)
    page = context.new_page()
    log_in(page, site)
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
    log_in(page, site)
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
    log_in(page, site)
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
    log_in(page, site)
    page.goto(site + "/cases/new")
    assert "REPORTER_MEDDRA_DIR" in page.locator("#meddra-note").inner_text()


def test_e2b_numbers_and_paths_show_on_demand(browser, site) -> None:
    page = browser.new_page(viewport=VIEWPORT)
    log_in(page, site)
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


def test_drug_and_loinc_look_ups_use_the_users_dictionaries(browser, site, tmp_path, monkeypatch) -> None:
    drugs = tmp_path / "drugs.csv"
    drugs.write_text("name,rxnorm,atc\nAmoxicillin / Clavulanate Oral Tablet,617296,J01CR02\n"
                     "amoxicillin,723,J01CA04\n", encoding="utf-8")
    loinc = tmp_path / "Loinc.csv"
    loinc.write_text('"LOINC_NUM","COMPONENT","STATUS","LONG_COMMON_NAME","EXAMPLE_UCUM_UNITS"\n'
                     '"2885-2","Protein","ACTIVE","Protein [Mass/volume] in Serum or Plasma","g/dL"\n',
                     encoding="utf-8")
    monkeypatch.setenv("REPORTER_DRUG_FILE", str(drugs))
    monkeypatch.setenv("REPORTER_LOINC_FILE", str(loinc))
    page = browser.new_page(viewport=VIEWPORT)
    log_in(page, site)
    page.goto(site + "/cases/new")
    product = page.locator('[name="drugs[0].product"]')
    product.fill("amoxi")
    page.locator("#dl-drug option").first.wait_for(state="attached")
    options = page.locator("#dl-drug option").evaluate_all("os => os.map(o => [o.value, o.label])")
    assert options == [["amoxicillin", "RxNorm 723, ATC J01CA04"],
                       ["Amoxicillin / Clavulanate Oral Tablet", "RxNorm 617296, ATC J01CR02"]], options
    product.fill("Amoxicillin / Clavulanate Oral Tablet")
    product.dispatch_event("change")
    assert page.input_value('[name="drugs[0].rxnorm"]') == "617296"
    assert page.input_value('[name="drugs[0].atc"]') == "J01CR02"
    name = page.locator('[name="tests[0].name"]')
    name.fill("protein serum")
    page.wait_for_function("() => [...document.querySelectorAll('#dl-lab-name option')]"
                           ".some(o => o.label === '2885-2')")
    name.fill("Protein [Mass/volume] in Serum or Plasma")
    name.dispatch_event("change")
    assert page.input_value('[name="tests[0].loinc"]') == "2885-2"
    _shot(page, "dictionary-look-ups")
