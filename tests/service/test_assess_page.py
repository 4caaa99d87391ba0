"""The causality questionnaire page (/cases/<id>/assess) in a real headless Chromium against the app on
loopback: Naranjo, WHO-UMC and (for the liver case) RUCAM items with the case's pre-filled answers marked and
explained; changing an answer and recalculating changes the score; saving stores a new version whose case
holds the assessor's answers, score and category; bad input is a clear 422, never a traceback."""

from __future__ import annotations

import pytest

from reporter.casefile import load_case
from reporter.fhir.build import build_bundle
from reporter.store.repository import case_id_for, case_key
from reporter.store.tokens import set_password
from tests.helpers import EXAMPLES
from tests.render_support import ARTIFACTS
from tests.service.browser import PASSWORD, log_in

CASE3 = EXAMPLES / "case3-anakinra-iv-hepatotoxicity.yaml"


@pytest.fixture
def stored(served):
    case = load_case(CASE3)
    bundle = build_bundle(case)
    served.store.create(bundle, author="test", reason="demo case",
                        casefile=case.model_dump(mode="json", by_alias=True, exclude_none=True))
    set_password(served.store, "clinician", PASSWORD)
    return served.base.removesuffix("/fhir"), case_id_for(*case_key(bundle))


def _row(page, method: str, item: str):
    return page.locator(f"tr#{method}-{item}")


def test_questionnaire_prefills_recalculates_and_saves_a_version(browser, stored, served):
    site, cid = stored
    page = browser.new_page(viewport={"width": 1280, "height": 1000})
    console_errors: list[str] = []
    page.on("console", lambda m: console_errors.append(m.text) if m.type == "error" else None)
    log_in(page, site, f"/cases/{cid}")
    page.click("text=Assess causality")
    page.wait_for_selector("form.assess")
    assert [fs.get_attribute("id") for fs in page.locator("fieldset.method").all()] == [
        "method-naranjo", "method-who-umc", "method-rucam"]
    result = page.locator("p.result[data-method=naranjo]")
    assert result.inner_text() == "Probable · score 5"
    # pre-filled from the case, marked and explained; the sender's saved answers shown as such
    after = _row(page, "naranjo", "after_drug")
    assert after.get_attribute("data-state") == "prefilled"
    assert "pre-filled" in after.locator("td.source").inner_text()
    assert "onset 21 days after the first dose" in after.locator("td.source").inner_text()
    assert after.locator("input[value=yes]").is_checked()
    assert _row(page, "naranjo", "previous_reports").get_attribute("data-state") == "answered"
    assert _row(page, "naranjo", "placebo").get_attribute("data-state") == "default"
    assert page.locator("p.result[data-method=rucam]").inner_text() == "Possible · score 5"
    assert _row(page, "rucam", "course").get_attribute("data-state") == "prefilled"
    assert "ALT fell" in _row(page, "rucam", "course").locator("td.source").inner_text()

    # the assessor changes the dechallenge answer: the score changes, the row says what the case suggested
    _row(page, "naranjo", "dechallenge").locator("input[value=no]").check()
    page.click("button[value=recalc]")
    page.wait_for_selector("form.assess")
    assert page.locator("p.result[data-method=naranjo]").inner_text() == "Possible · score 4"
    changed = _row(page, "naranjo", "dechallenge")
    assert changed.get_attribute("data-state") == "changed"
    assert "the case suggested “Yes”" in changed.locator("td.source").inner_text()
    assert _row(page, "naranjo", "after_drug").get_attribute("data-state") == "confirmed"
    # each method has its own withdrawal question: WHO-UMC keeps the case's positive dechallenge
    assert page.locator("p.result[data-method=who-umc]").inner_text() == "Probable/Likely"
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "pages-assess.png"), full_page=True)

    # saving without a reason is refused with the form kept
    page.click("button[value=save]")
    assert "give a reason for this version" in page.locator("p.error").first.inner_text()
    assert page.locator("p.result[data-method=naranjo]").inner_text() == "Possible · score 4"
    assert served.store.read(cid).version == 1
    page.fill("#assessor", "Dr A. Assessor")
    page.fill("#reason", "causality assessed by the PV physician")
    _row(page, "naranjo", "alternative_causes").locator("input[name$=':note']").fill("MAS activity ruled out")
    page.click("button[value=save]")
    page.wait_for_url(f"{site}/cases/{cid}?saved=2")
    assert "Version 2 saved." in page.locator("p.saved").inner_text()
    assert [e for e in console_errors if "422" not in e] == []  # the refused save above answered 422

    stored_case = load_case_json(served.store.read(cid).casefile)
    link = next(x for x in stored_case.drugs[0].reactions if x.reaction == "hepatotoxicity") \
        if any(x.reaction == "hepatotoxicity" for x in stored_case.drugs[0].reactions) \
        else stored_case.drugs[0].reactions[0]
    ours = {c.method: c for c in link.causality if c.source == "Dr A. Assessor"}
    assert set(ours) == {"Naranjo", "WHO-UMC", "RUCAM"}
    assert ours["Naranjo"].result == "Possible (score 4)" and ours["WHO-UMC"].result == "Probable/Likely"
    answers = {a.item: a for a in ours["Naranjo"].answers}
    assert len(answers) == 10 and answers["dechallenge"].answer == "no"
    assert answers["dechallenge"].note.startswith("changed from the pre-filled 'Yes'")
    assert answers["after_drug"].note.startswith("confirmed the pre-filled answer (onset 21 days")
    assert answers["alternative_causes"].note == "MAS activity ruled out"
    assert sum(c.source == "Sender" for c in link.causality) == 3  # the sender's assessments are kept
    bundle = served.store.read(cid).bundle
    assert "Possible (score 4)" in str(bundle)  # G.k.9.i.2.r.3 in the stored Bundle

    # another assessor opening the page starts from the first saved answers (the sender's), not these
    page.goto(f"{site}/cases/{cid}/assess")
    assert page.locator("p.result[data-method=naranjo]").inner_text() == "Probable · score 5"


def load_case_json(data):
    from reporter.casefile.model import CaseFile

    return CaseFile.model_validate(data)


def test_bad_answers_and_unknown_pairs_are_clear_errors(browser, stored):
    site, cid = stored
    page = browser.new_page()
    log_in(page, site, f"/cases/{cid}/assess?drug=nothing")
    assert "the case has no drug 'nothing'" in page.locator("p.error").inner_text()
    page.goto(f"{site}/cases/{cid}/assess")
    # a forged option value (the page runs no scripts; the test changes the DOM from outside)
    page.locator("tr#naranjo-placebo input[value=yes]").evaluate("e => e.value = 'maybe'")
    page.locator("tr#naranjo-placebo input[value=maybe]").check()
    page.click("button[value=recalc]")
    assert "'maybe' is not an answer to naranjo item 'placebo'" in page.locator("p.error").inner_text()


def test_a_save_over_a_newer_version_is_refused(browser, stored, served):
    site, cid = stored
    page = browser.new_page()
    log_in(page, site, f"/cases/{cid}/assess")
    current = served.store.read(cid)
    served.store.update(cid, current.bundle, author="someone else", casefile=current.casefile, reason="meanwhile")
    page.fill("#reason", "causality assessed")
    page.click("button[value=save]")
    said = page.locator("p.error").first.inner_text()
    assert said.startswith("Not saved: version 2 of this case was saved (someone else, ") and "Bundle/" not in said
    assert page.input_value("#reason") == "causality assessed"  # what was typed stays
    assert served.store.read(cid).version == 2  # the other write only
    page.click("button[value=save]")  # knowingly again: on version 2 now
    page.wait_for_url(f"{site}/cases/{cid}?saved=3")
