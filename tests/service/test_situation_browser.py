"""A medication-error case ('Wrong drug administered' + 'Hypoglycaemia') and a posted Bundle with facts no reader
takes, in a real headless Chromium against the app on loopback, at desktop width and on a phone: the assess page
of the situation term, the case page's downloads and its validation panel. Screenshots go to
tests/_artifacts/situation-*.png."""

from __future__ import annotations

import json
from typing import Any

import pytest

from reporter.casefile.model import CaseFile
from reporter.fhir.build import build_bundle
from reporter.store.approvals import approve
from reporter.store.repository import case_id_for, case_key
from reporter.store.tokens import set_password
from tests.render_support import ARTIFACTS
from tests.service.browser import PASSWORD, log_in
from tests.test_fhir_unread_facts import _all_four

from .bundles import renamed

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}


def medication_error_case() -> dict[str, Any]:
    """Ready for ICH and EMA; FDA refuses it (no expedited answer, no medical history)."""
    return {
        "case_id": "GB-SITUATION-2026-000101",
        "report": {"type": "spontaneous", "first_received": "2026-11-02", "most_recent": "2026-11-03"},
        "primary_sources": [{"qualification": "physician", "address": {"country": "GB"}, "primary": True}],
        "patient": {"initials": "MK", "sex": "female", "age_at_onset": {"value": 78, "unit": "a"}},
        "reactions": [
            {"id": "wrongdrug", "verbatim": "given gliclazide meant for another patient", "onset": "2026-10-20",
             "meddra": {"code": "10048282", "version": "27.1", "term": "Wrong drug administered"}},
            {"id": "hypo", "verbatim": "hypoglycaemia, glucose 2.1 mmol/L", "onset": "2026-10-20",
             "meddra": {"code": "10021005", "version": "27.1", "term": "Hypoglycaemia"},
             "seriousness": {"hospitalisation": True}, "outcome": "recovered"}],
        "drugs": [{"id": "gliclazide", "role": "suspect", "product": "Gliclazide",
                   "dosages": [{"dose": {"value": 80, "unit": "mg"}, "every": {"value": 1, "unit": "{total}"},
                                "start": "2026-10-20", "route": {"code": "oral"}}],
                   "action_taken": "withdrawn",
                   "reactions": [
                       {"reaction": "hypo", "dechallenge": "positive"},
                       {"reaction": "wrongdrug", "causality": [
                           {"source": "Reporter", "method": "Global introspection", "result": "Related"}]}]}],
        "narrative": {"text": "A 78-year-old woman was given gliclazide 80 mg meant for another resident; four hours "
                              "later her glucose was 2.1 mmol/L; admitted, she recovered the next day."},
    }


@pytest.fixture
def site(served):
    set_password(served.store, "clinician", PASSWORD, role="reviewer")
    return served.base.removesuffix("/fhir")


def _stored(served, data: dict[str, Any], *, approved: bool = False) -> str:
    case = CaseFile.model_validate(data)
    bundle = build_bundle(case)
    served.store.create(bundle, author="user:author", reason="initial report",
                        casefile=case.model_dump(mode="json", by_alias=True, exclude_none=True))
    case_id = case_id_for(*case_key(bundle))
    if approved:
        approve(served.store, case_id, 1, "second", comment="checked against the source documents")
    return case_id


def _page(browser, site: str, viewport: dict[str, int]):
    page = browser.new_page(viewport=viewport, accept_downloads=True)
    page.console_errors = []
    page.on("console", lambda m: page.console_errors.append(m.text) if m.type == "error" else None)
    log_in(page, site)
    return page


def _shot(page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"situation-{name}.png"), full_page=True)


def test_a_refused_e2b_download_shows_why_and_a_ready_one_downloads(browser, site, served) -> None:
    """The FDA file of this case fails FDA's rules: the link shows the page that says which (it was a download
    link, so the browser only logged a failed download and the user saw nothing)."""
    case_id = _stored(served, medication_error_case(), approved=True)
    page = _page(browser, site, DESKTOP)
    page.goto(f"{site}/cases/{case_id}")
    with page.expect_download() as info:
        page.click("text=E2B(R3) XML, ICH")
    assert info.value.failure() is None and info.value.suggested_filename.endswith("-ich.xml")
    page.click("text=E2B(R3) XML, FDA")
    page.wait_for_load_state()
    assert page.locator("h1").inner_text() == "E2B(R3) export for FDA refused"
    said = page.locator("table.issues").inner_text()  # in words, not as the rule says it (nullFlavor NI ... C.1.7)
    assert "FDA needs yes or no in an initial report" in said and "nullFlavor" not in said
    _shot(page, "fda-refused")
    page.click("text=Back to the case")
    with page.expect_download() as info:
        page.click("text=CIOMS I form (PDF)")
    assert info.value.suggested_filename.endswith("-cioms.pdf")
    assert [m for m in page.console_errors if "422" not in m] == []
    page.close()


ISSUES_FIT = """
() => {
  const table = document.querySelector('#validation table.issues');
  const section = document.querySelector('#validation').getBoundingClientRect();
  const cells = [...table.querySelectorAll('td')].filter(c => c.getBoundingClientRect().width > 0);
  return {hidden: table.scrollWidth - table.clientWidth, section: section.right,
          cells: Math.max(...cells.map(c => c.getBoundingClientRect().right)),
          page: document.documentElement.scrollWidth};
}
"""


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_a_posted_bundle_s_not_read_warnings_fit_the_page(browser, site, served, viewport) -> None:
    """The FHIR-NOT-READ locations are long FHIRPaths (Bundle.entry[2].resource.ofType(AdverseEvent).recordedDate):
    they break inside their cell, and on a phone each problem is a card, so no problem or fix is pushed out of
    the table's box (at 1280 px 'How to fix' was cut off; on a phone only severity, code and location showed).
    The case form of that version names what it cannot hold (it showed sex 'unknown' and said only that it shows
    every fact of the case model)."""
    r = served.session(served.write_token).post(
        f"{served.base}/Bundle", data=json.dumps(renamed(_all_four(), "situation-browser")), timeout=60,
        headers={"Content-Type": "application/fhir+json"})
    assert r.status_code == 201, r.text
    case_id = r.headers["Location"].split("/Bundle/")[1].split("/")[0]
    page = _page(browser, site, viewport)
    page.goto(f"{site}/cases/{case_id}")
    assert page.locator("#validation table.issues").inner_text().count("FHIR-NOT-READ") == 3
    patient = page.locator("#patient").inner_text()
    assert "other" in patient and "Death: the patient died" in patient
    fit = page.evaluate(ISSUES_FIT)
    assert fit["hidden"] <= 1 and fit["cells"] <= fit["section"] + 1, fit
    assert fit["page"] <= viewport["width"], fit
    _shot(page, f"not-read-{viewport['width']}")
    # editing it: the form says what it cannot hold, which a version saved from it will no longer say
    page.click("text=Edit (new version)")
    note = page.locator("p.note").first.inner_text()
    assert "Not read from the Bundle, so not in the form and not in the version you save:" in note
    assert "Patient.gender 'other' is not read" in note and "AdverseEvent.detected is not read" in note
    assert page.input_value('[name="patient.sex.absent"]') == "unknown"
    assert page.evaluate("document.documentElement.scrollWidth") <= viewport["width"]
    assert page.console_errors == []
    page.close()


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_the_assess_page_of_a_medication_error_by_keyboard(browser, site, served, viewport) -> None:
    """The page opens on Hypoglycaemia; the pair list names each reaction as the page's heading does (the MedDRA
    term: the situation's reported words 'given gliclazide meant for another patient' did not say it was the
    'Wrong drug administered' entry); the situation's page, reached by keyboard, has no questionnaire, so it does
    not tell how to recalculate or save one, and it points to where the case form takes a sender's causality."""
    case_id = _stored(served, medication_error_case())
    page = _page(browser, site, viewport)
    page.goto(f"{site}/cases/{case_id}/assess")
    assert page.locator("h2#facts-h").inner_text() == "Gliclazide / Hypoglycaemia"
    assert "G.k." not in page.locator("main").inner_text()  # no E2B element numbers in what the page says
    assert page.get_by_label("Assessor (the source of the assessment)").input_value() == "clinician"
    pairs = page.locator("nav.pairs").inner_text()
    assert pairs == ("Pair: Gliclazide / Hypoglycaemia · Gliclazide / Wrong drug administered (not scored: a "
                     "situation, not an adverse reaction)"), pairs
    for _ in range(40):  # Tab from the top of the page to the situation's link, and follow it with Enter
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.textContent") == "Gliclazide / Wrong drug administered":
            break
    page.keyboard.press("Enter")
    page.wait_for_url("**reaction=wrongdrug*")
    assert page.locator("h2#facts-h").inner_text() == "Gliclazide / Wrong drug administered"
    main = page.locator("main").inner_text()
    assert "'Wrong drug administered' is a situation (medication error), not an adverse reaction; assess the " \
           "reactions reported with it (Hypoglycaemia)" in main
    assert "Recalculate" not in main and page.locator("main form, main input[type=radio]").count() == 0
    assert page.locator("table.stated tbody").inner_text().split("\t") == ["Reporter", "Global introspection",
                                                                           "Related"]
    assert page.evaluate("document.documentElement.scrollWidth") <= viewport["width"]
    _shot(page, f"assess-situation-{viewport['width']}")
    page.locator("section.not-assessed a").click()
    page.wait_for_url("**/edit#f-drugs_0__reactions_1__causality")
    assert page.input_value('[name="drugs[0].reactions[1].causality[0].result"]') == "Related"
    assert page.console_errors == []
    page.close()


# Each visible Remove button of a form row against the row's labels and legends (their text) and its inputs.
REMOVE_OVERLAPS = """
() => {
  const text = e => { const r = document.createRange(); r.selectNodeContents(e); return r.getBoundingClientRect(); };
  const shown = e => e.checkVisibility() && e.getBoundingClientRect().width > 0;
  const hits = [];
  for (const button of [...document.querySelectorAll('fieldset.group > .row-actions button.remove')].filter(shown)) {
    const b = button.getBoundingClientRect();
    const row = button.closest('fieldset.group');
    for (const e of row.querySelectorAll('label, legend, input:not([type=hidden]), select, textarea')) {
      if (!shown(e)) continue;
      const r = ['LABEL', 'LEGEND'].includes(e.tagName) ? text(e) : e.getBoundingClientRect();
      const w = Math.min(r.right, b.right) - Math.max(r.left, b.left);
      const h = Math.min(r.bottom, b.bottom) - Math.max(r.top, b.top);
      const what = `${e.tagName} ${(e.textContent || e.name).trim()}`;
      if (w > 1 && h > 1) hits.push(`${button.textContent.trim()} over ${what}`);
    }
  }
  return hits;
}
"""


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_the_case_form_s_remove_buttons_cover_no_field(browser, site, served, viewport) -> None:
    """Editing the case to add a sender's causality (where the situation page points): a row's Remove button hung
    below its border over the first fields (on a phone over the 'Answer' label of a causality answer, at 1280 px
    over a Note field's top)."""
    data = medication_error_case()
    data["drugs"][0]["reactions"][0]["causality"] = [
        {"source": "Dr A", "method": "Naranjo", "result": "Possible (score 3)",
         "answers": [{"item": "after_drug", "answer": "yes"}, {"item": "dechallenge", "answer": "yes"}]}]
    case_id = _stored(served, data)
    page = _page(browser, site, viewport)
    page.goto(f"{site}/cases/{case_id}/edit")
    page.evaluate("() => document.querySelectorAll('form.caseform details').forEach(d => { d.open = true; })")
    assert page.locator("button.remove:visible", has_text="Remove answer 2").count() == 1
    assert page.evaluate(REMOVE_OVERLAPS) == []
    _shot(page, f"form-rows-{viewport['width']}")
    assert page.console_errors == []
    page.close()
