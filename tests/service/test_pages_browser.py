"""The clinician pages in a real headless Chromium (Debian's), against the app on a real loopback server:
log in, enter a case through the form, read its report, download its E2B XML (checked against the ICH
XSD here), edit it, and compare the versions. Screenshots go to tests/_artifacts/pages-*.png."""

from __future__ import annotations

import pytest
from lxml import etree

from reporter.store.tokens import set_password
from tests.render_support import ARTIFACTS
from tests.service.browser import PASSWORD, log_in

HL7 = "{urn:hl7-org:v3}"


@pytest.fixture
def site(served):
    set_password(served.store, "clinician", PASSWORD, role="reviewer")  # reviewers also approve and submit (E2B)
    return served.base.removesuffix("/fhir")


def _shot(page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"pages-{name}.png"), full_page=True)


def _fill(page, path: str, value: str) -> None:
    page.fill(f'[name="{path}"]', value)


def _select(page, path: str, value: str) -> None:
    page.select_option(f'select[name="{path}"]', value)


def test_enter_read_download_edit_and_compare_a_case(browser, site, served, e2b_schema_dir, tmp_path) -> None:
    page = browser.new_page(viewport={"width": 1280, "height": 900}, accept_downloads=True)
    outside: list[str] = []
    page.on("request", lambda r: outside.append(r.url) if not r.url.startswith(site) else None)
    console_errors: list[str] = []
    page.on("console", lambda m: console_errors.append(m.text) if m.type == "error" else None)

    page.goto(site + "/cases")
    _shot(page, "login")
    log_in(page, site)
    assert page.locator("h1").inner_text() == "Cases"

    # --- a new case through the form -------------------------------------------------------------------------
    page.click("text=New case")
    _fill(page, "case_id", "GB-FORMTEST-2024-000001")
    _select(page, "report.type", "spontaneous")
    _fill(page, "report.first_received", "2024-03-01")
    _fill(page, "report.most_recent", "2024-03-04")
    _select(page, "primary_sources[0].qualification", "physician")
    _fill(page, "primary_sources[0].address.country", "GB")
    page.check('[name="primary_sources[0].primary"]')
    _fill(page, "patient.initials", "JD")
    _select(page, "patient.sex", "female")
    _fill(page, "patient.age_at_onset.value", "54")
    _fill(page, "patient.age_at_onset.unit", "a")
    _fill(page, "reactions[0].id", "hepatitis")
    _fill(page, "reactions[0].verbatim", "drug-induced hepatitis")
    _fill(page, "reactions[0].meddra.code", "10019717")
    _fill(page, "reactions[0].meddra.version", "27.1")
    page.select_option('[name="reactions[0].seriousness.hospitalisation"]', "true")  # yes / no / not known
    _select(page, "reactions[0].outcome", "recovering")
    _fill(page, "drugs[0].id", "amoxiclav")
    _select(page, "drugs[0].role", "suspect")
    _fill(page, "drugs[0].product", "Amoxicillin/clavulanic acid")
    _fill(page, "drugs[0].dosages[0].dose.value", "875")
    _fill(page, "drugs[0].dosages[0].dose.unit", "mg")
    _fill(page, "drugs[0].dosages[0].route.code", "oral")
    _fill(page, "drugs[0].dosages[0].start", "2024-02-10")
    _fill(page, "tests[0].name", "ALT")
    _fill(page, "tests[0].loinc", "1742-7")  # wrong check digit: the form says so and keeps the input
    _fill(page, "tests[0].date.value", "14")
    _fill(page, "tests[0].date.drug", "amoxiclav")
    _fill(page, "tests[0].value", "812")
    _fill(page, "tests[0].unit", "U/L")
    _fill(page, "tests[0].high", "33")
    _fill(page, "narrative.text", "A 54-year-old woman developed hepatitis two weeks after starting amoxicillin/"
                                  "clavulanic acid; admitted; ALT 812 U/L on day 14; improving after withdrawal.")
    page.click("button.primary:has-text('Save case')")
    assert page.locator("#problems").is_visible()
    assert "1742-6" in page.locator("#f-tests_0__loinc-err").inner_text()  # the right check digit is named
    assert page.input_value('[name="tests[0].loinc"]') == "1742-7"  # the input is kept
    assert page.input_value('[name="narrative.text"]').startswith("A 54-year-old woman")
    assert served.store.search("Bundle", _all()).total == 0  # nothing stored
    _shot(page, "form-errors")

    # add a second test row (in the page, by the form's script), then remove it again (emptied and hidden:
    # an empty row is dropped on save); the server-side way without a script: test_form_entry_browser.py
    page.click("button.add[value='add:tests']")
    assert page.locator('[name="tests[1].name"]').count() == 1
    assert page.input_value('[name="tests[0].name"]') == "ALT"
    page.click("button.remove[value='remove:tests[1]']")
    assert page.locator('[name="tests[1].name"]').is_hidden()

    _fill(page, "tests[0].loinc", "1742-6")
    page.click("button.primary:has-text('Save case')")
    page.wait_for_url(f"{site}/cases/*")
    assert page.locator(".saved").inner_text() == "Version 1 saved."
    assert "Case GB-FORMTEST-2024-000001" in page.locator("article.report h1").inner_text()
    assert page.locator("article.report").inner_text().count("10019717") >= 1
    _shot(page, "case")

    # --- four eyes: the author may not approve; a second reviewer does, and only then is E2B offered ----------
    assert "another reviewer approves it" in page.locator("#approval").inner_text()
    assert page.locator("text=E2B(R3) XML, ICH").count() == 0
    set_password(served.store, "second", PASSWORD, role="reviewer")
    other = browser.new_context().new_page()
    log_in(other, site, "/cases", "second")
    other.goto(page.url.split("?")[0])
    other.fill("#approve-comment", "checked against the source documents")
    other.click("button:has-text('Approve version 1')")
    assert "Approved for submission by second" in other.locator("#approval").inner_text()
    _shot(other, "approved")
    other.context.close()
    page.reload()

    # --- downloads: E2B XML valid against the ICH XSD, with the reaction's MedDRA code -----------------------
    with page.expect_download() as info:
        page.click("text=E2B(R3) XML, ICH")
    xml_path = tmp_path / "case.xml"
    assert info.value.failure() is None, info.value.failure()
    info.value.save_as(xml_path)
    doc = etree.parse(str(xml_path), etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False))
    schema = etree.XMLSchema(etree.parse(str(e2b_schema_dir / "multicacheschemas" / "MCCI_IN200100UV01.xsd")))
    assert schema.validate(doc), schema.error_log
    codes = [el.get("code") for el in doc.iter(f"{HL7}value") if el.get("codeSystem") == "2.16.840.1.113883.6.163"]
    assert "10019717" in codes
    with page.expect_download() as info:
        page.click("text=CIOMS I form (PDF)")
    assert info.value.suggested_filename == "GB-FORMTEST-2024-000001-v1-cioms.pdf"

    # --- the list finds it -----------------------------------------------------------------------------------
    page.click("nav >> text=Cases")
    page.fill("#reaction", "10019717")
    page.select_option("#seriousness", "serious")
    page.click("button:has-text('Search')")
    assert page.locator("table.cases tbody tr").count() == 1
    _shot(page, "cases")
    page.click("text=GB-FORMTEST-2024-000001")

    # --- edit: the form comes back filled; a changed outcome makes version 2 --------------------------------
    page.click("text=Edit (new version)")
    assert page.input_value('[name="reactions[0].meddra.code"]') == "10019717"
    assert page.input_value('[name="tests[0].date.value"]') == "14"
    _select(page, "reactions[0].outcome", "recovered")
    _fill(page, "_reason", "follow-up: recovered")
    _shot(page, "form-edit")
    page.click("button.primary:has-text('Save new version')")
    page.wait_for_url(f"{site}/cases/*")
    assert page.locator(".saved").inner_text() == "Version 2 saved."
    page.click("text=History and differences")
    changed = {page.locator("table.diff tbody tr").nth(i).get_attribute("data-path"): r
               for i, r in enumerate(page.locator("table.diff tbody tr").all_inner_texts())}
    assert sorted(changed) == ["reactions[0].outcome"]  # report.created (each version's own time) left out
    assert "recovering" in changed["reactions[0].outcome"] and "recovered" in changed["reactions[0].outcome"]
    assert "Reaction drug-induced hepatitis" in changed["reactions[0].outcome"]
    assert "follow-up: recovered" in page.locator("table.versions").inner_text()
    _shot(page, "history")

    # --- logging out ends the session ------------------------------------------------------------------------
    page.click("button:has-text('Log out')")
    page.goto(site + "/cases")
    assert "/login" in page.url
    assert outside == []
    # the refused save answers 422 (the browser logs that); nothing else went wrong
    assert [m for m in console_errors if "422" not in m] == []
    page.close()


def _all():
    from reporter.store import Criteria

    return Criteria(count=0)
