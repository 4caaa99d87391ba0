"""Editing the issue-15 case in a real headless Chromium against the app on loopback: one lab row removed and one
added, saved as a follow-up, and the history's diff shows exactly those two rows; then a correction saved as an
amendment (refused without its reason), filed as such and printed so on the CIOMS form (box 25a FOLLOWUP with
"Amendment (version 3)"); on a phone the history and the questionnaire fit the screen. Screenshots of each
step go to tests/_artifacts/diff-*.png."""

from __future__ import annotations

import re
import subprocess

import pytest

from reporter.casefile.model import CaseFile
from reporter.fhir.build import build_bundle
from reporter.store.tokens import set_password
from tests.render_support import ARTIFACTS, issue_case_data, pdftotext_path
from tests.service.browser import PASSWORD, log_in


@pytest.fixture
def site(served):
    set_password(served.store, "clinician", PASSWORD)
    return served.base.removesuffix("/fhir")


def _shot(page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"diff-{name}.png"), full_page=True)


def _diff_rows(page) -> list[tuple[str, str, str]]:
    rows = page.locator("table.diff tbody tr")
    return [(rows.nth(i).locator("td").nth(0).inner_text().strip(), rows.nth(i).locator("th").inner_text().strip(),
             rows.nth(i).locator("td").nth(1).inner_text().strip()) for i in range(rows.count())]


def test_edit_lab_rows_follow_up_then_amendment(browser, site, served, tmp_path) -> None:
    case = CaseFile.model_validate(issue_case_data())
    first = served.store.create(build_bundle(case), author="user:clinician", reason="entered",
                                casefile=case.model_dump(mode="json", by_alias=True, exclude_none=True))
    page = browser.new_page(viewport={"width": 1280, "height": 900}, accept_downloads=True)
    log_in(page, site, f"/cases/{first.case_id}/edit")

    # --- version 2: the 2 Apr ALT row removed, a 20 Jun ALT row added, saved as a follow-up ------------------
    assert page.input_value('[name="tests[8].date"]') == "2024-04-02"
    assert page.input_value('[name="tests[8].value"]') == "180"  # as typed, not 180.0
    page.click("button.remove[value='remove:tests[8]']")  # in the page: the row is emptied and hidden
    assert page.locator('[name="tests[8].date"]').is_hidden() and page.input_value('[name="tests[8].date"]') == ""
    page.click("button.add[value='add:tests']")  # in the page: a grid row after the last one, no reload
    for field, value in (("name", "ALT"), ("loinc", "1742-6"), ("date", "2024-06-20"), ("value", "30"),
                         ("unit", "U/L"), ("high", "41")):
        page.fill(f'[name="tests[17].{field}"]', value)
    assert page.is_checked('input[name="_kind"][value="follow-up"]')  # the usual kind, shown and changeable
    page.fill("#reason", "follow-up: liver tests from the hospital")
    _shot(page, "edit-follow-up")
    page.click("button.primary:has-text('Save new version')")
    page.wait_for_load_state("load")
    assert not page.locator("#problems").count(), page.locator("#problems").inner_text()
    assert page.locator(".saved").inner_text() == "Version 2 saved."
    page.click("text=History and differences")
    rows = _diff_rows(page)
    _shot(page, "history-follow-up")
    assert sorted(rows) == [("added", "Lab value ALT, 2024-06-20", "(whole item)"),
                            ("removed", "Lab value ALT, 2024-04-02", "(whole item)")], rows
    assert "2 change(s): 1 added, 1 removed, 0 changed" in page.locator("table.diff caption").inner_text()
    versions = page.locator("table.versions tbody tr").all_inner_texts()
    assert "follow-up (new information)" in versions[0]

    # --- version 3: a correction (amendment); refused without its reason ------------------------------------
    page.goto(f"{site}/cases/{first.case_id}/edit")
    page.fill('[name="reactions[1].onset"]', "2024-03-25")
    page.check('input[name="_kind"][value="amendment"]')
    page.fill("#reason", "")
    page.click("button.primary:has-text('Save new version')")
    assert page.locator("#problems").is_visible()
    assert "needs its reason" in page.locator("#f-_kind").inner_text()
    assert page.is_checked('input[name="_kind"][value="amendment"]')  # the choice is kept
    assert page.input_value('[name="reactions[1].onset"]') == "2024-03-25"
    _shot(page, "amendment-refused")
    page.fill("#reason", "jaundice onset was 25 March, not 24 March")
    page.click("button.primary:has-text('Save new version')")
    page.wait_for_url(f"{site}/cases/*")
    assert page.locator(".saved").inner_text() == "Version 3 saved."
    page.click("text=History and differences")
    rows = _diff_rows(page)
    _shot(page, "history-amendment")
    assert rows == [("changed", "Reaction jaundice with pruritus, Jaundice cholestatic", "Onset")], rows
    versions = page.locator("table.versions tbody tr").all_inner_texts()
    assert "amendment (correction)" in versions[0] and "jaundice onset was 25 March" in versions[0]
    stored = served.store.read(first.case_id)
    assert (stored.version, stored.kind) == (3, "amendment")

    # --- on a phone the history and the causality questionnaire fit: their tables scroll in their box ---------
    page.set_viewport_size({"width": 390, "height": 844})
    for target in ("history", "assess"):  # were 525 and 589 px wide: the page scrolled sideways
        page.goto(f"{site}/cases/{first.case_id}/{target}")
        assert page.evaluate("document.documentElement.scrollWidth") <= 390, target
    page.set_viewport_size({"width": 1280, "height": 900})

    # --- its CIOMS form: FOLLOWUP ticked, the amendment and its reason under box 25a -------------------------
    page.goto(f"{site}/cases/{first.case_id}")
    with page.expect_download() as info:
        page.click("text=CIOMS I form (PDF)")
    pdf = tmp_path / "v3.pdf"
    info.value.save_as(pdf)
    page.close()
    text = re.sub(r"\s+", " ", subprocess.run([pdftotext_path(), "-layout", str(pdf), "-"], capture_output=True,
                                              text=True, check=True, timeout=60).stdout)
    box = text[text.index("25a. REPORT TYPE"):]
    assert re.search(r"FOLLOWUP\s*\(checked\)", box) and not re.search(r"INITIAL\s*\(checked\)", box)
    assert "Amendment (version 3): jaundice onset was 25 March, not 24 March" in box
