"""Editing a case imported from another sender's E2B file in the case form, as a safety officer does, in a real
headless Chromium against the app on loopback: what E2B did not send reads "no information" on the form, and
an answer given over it replaces it. Screenshots go to tests/_artifacts/edit-imported-*.png."""

from __future__ import annotations

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
