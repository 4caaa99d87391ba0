"""Editing a case imported from another sender's E2B file in the case form, as a safety officer does, in a real
headless Chromium against the app on loopback: what E2B did not send reads "no information" on the form, and
an answer given over it replaces it. Screenshots go to tests/_artifacts/edit-imported-*.png."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from reporter.cli import main
from reporter.store.tokens import set_password
from tests.form_entry import VIEWPORT
from tests.render_support import ARTIFACTS
from tests.service.browser import PASSWORD, log_in

RECEIVED = Path(__file__).resolve().parents[1] / "e2b" / "inputs" / "fda-postmarket-foreign-sender.xml"


@pytest.fixture
def imported(served, db_url, monkeypatch) -> tuple[str, str]:
    """(site, case id) of the received file stored as a case, with a reviewer logged-in account."""
    monkeypatch.setenv("REPORTER_DATABASE_URL", db_url)
    result = CliRunner().invoke(main, ["import", "--store", str(RECEIVED)])
    assert result.exit_code == 0, result.output
    set_password(served.store, "clinician", PASSWORD, role="reviewer")
    return served.base.removesuffix("/fhir"), re.search(r"of Bundle/([0-9a-f-]+)", result.output).group(1)


def _save(page, reason: str) -> None:
    page.fill("#reason", reason)
    page.click("button[type=submit].primary")
    page.wait_for_load_state("load")


def test_a_seriousness_chosen_over_an_imported_no_information_replaces_it(browser, imported, served) -> None:
    site, case_id = imported
    page = browser.new_page(viewport=VIEWPORT)
    log_in(page, site)
    page.goto(f"{site}/cases/{case_id}/edit")
    value, reason = '[name="reactions[0].seriousness.hospitalisation"]', \
        '[name="reactions[0].seriousness.hospitalisation.absent"]'
    assert page.input_value(reason) == "no-information"  # E2B sends a criterion as true or NI only
    page.select_option(value, "true")
    assert page.input_value(reason) == ""  # the answer replaces the reason: one shape per field
    page.select_option('[name="reactions[0].seriousness.death.absent"]', "asked-unknown")
    assert page.input_value('[name="reactions[0].seriousness.death"]') == ""
    _save(page, "follow-up: the patient was admitted")
    # it was refused: 'fill in only one of these: the value, if unknown, why', the reason hidden under its fold
    assert page.locator(".saved").inner_text() == "Version 2 saved.", page.locator("main").inner_text()[:800]
    seriousness = served.store.read(case_id).casefile["reactions"][0]["seriousness"]
    assert seriousness["hospitalisation"] is True and seriousness["death"] == {"absent": "asked-unknown"}
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "edit-imported-seriousness.png"))


EDITS = {  # what the officer changes in the form (form field -> value), and what the case then says
    "drugs[0].dosages[0].dose.value": "3",
    "tests[0].value": "9.3", "tests[0].unit": "ukat/L", "tests[0].high": "0.8",
    "reactions[0].end": "2023-08-20",
}


def _edit_as_an_officer(page, site: str, case_id: str) -> None:
    page.goto(f"{site}/cases/{case_id}/edit")
    page.locator("#f-reactions_0_ details.more").evaluate("d => { d.open = true; }")
    for name, value in EDITS.items():
        page.fill(f'[name="{name}"]', value)
    page.click('button[name="_action"][value="add:reactions"]')  # added in the page, from its template
    page.fill('[name="reactions[1].verbatim"]', "acute kidney injury")
    page.fill('[name="reactions[1].meddra.code"]', "10069339")
    page.fill('[name="reactions[1].meddra.version"]', "29.1")
    page.select_option('[name="reactions[1].seriousness.hospitalisation"]', "true")
    page.select_option('[name="reactions[1].outcome"]', "recovered")
    page.click('button[name="_action"][value="remove:drugs[3]"]')  # aspirin, concomitant
    narrative = page.locator('[name="narrative.text"]')
    narrative.fill(narrative.input_value() + " Follow-up: renal function normal again.")
    _save(page, "follow-up: dose corrected, AKI, aspirin not taken, ALT in SI")


def test_an_imported_case_edited_in_the_form_exports_exactly_its_edits(browser, imported, served, tmp_path) -> None:
    """Lossless import was once measured by re-emitting the received XML: here a received case is edited as an
    officer does, and the stored version, its history and its E2B for the original receiver say exactly the
    edits, nothing else and nothing contradicting them."""
    from reporter.fhir.to_case import bundle_to_case
    from reporter.web import downloads

    site, case_id = imported
    page = browser.new_page(viewport=VIEWPORT)
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    log_in(page, site)
    before = bundle_to_case(downloads.served_bundle(served.store.read(case_id))).model_dump(
        mode="json", by_alias=True, exclude_none=True)
    _edit_as_an_officer(page, site, case_id)
    assert page.locator(".saved").inner_text() == "Version 2 saved.", page.locator("#main").inner_text()[:800]
    assert not errors, errors
    after = served.store.read(case_id).casefile
    expected = copy.deepcopy(before)
    expected["drugs"][0]["dosages"][0]["dose"]["value"] = 3.0
    expected["tests"][0].update(value=9.3, unit="ukat/L", high=0.8)
    expected["reactions"][0]["end"] = "2023-08-20"
    expected["narrative"]["text"] += " Follow-up: renal function normal again."
    del expected["drugs"][3]
    added = after["reactions"][1]
    assert added["meddra"] == {"code": "10069339", "version": "29.1"} and added["seriousness"]["hospitalisation"]
    expected["reactions"].append(added)
    expected["report"]["created"] = after["report"]["created"]
    assert after == expected  # every other fact of the received case is kept, none emptied

    page.goto(f"{site}/cases/{case_id}/history")
    rows = [r.split("\t")[1:3] for r in page.locator("tr.added, tr.removed, tr.changed").all_inner_texts()]
    assert len(rows) == 8, rows  # dose, value, unit, high, end, the reaction, the drug, the narrative: no more
    assert ["Drug Aspirin", "(whole item)"] in rows and ["Lab value AST, not given: unknown", "Unit"] in rows

    xml = tmp_path / "edited-fda.xml"
    xml.write_bytes(downloads.e2b(served.store.read(case_id), "fda", None).body)
    result = CliRunner().invoke(main, ["import", "-o", str(tmp_path / "back"), str(xml)])
    assert result.exit_code == 0, result.output
    back = bundle_to_case(json.loads(next((tmp_path / "back").glob("*.json")).read_text())).model_dump(
        mode="json", by_alias=True, exclude_none=True)
    # E2B carries a criterion as true or NI only, and a reaction's local key is no E2B fact
    assert back["reactions"][1]["seriousness"]["hospitalisation"] is True
    for item in (back, after):
        item["report"].pop("created")
        item["reactions"][1].pop("id")
        added = item["reactions"][1]
        added["seriousness"] = {k: v for k, v in added["seriousness"].items() if v is True}
        for reaction in item["reactions"]:
            reaction["seriousness"].pop("required_intervention", None)  # FDA's: NI when the case is silent
    assert back == after
