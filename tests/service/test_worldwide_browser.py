"""The case list's worldwide-case links in a real headless Chromium: told apart from the case id they sit under,
followed by keyboard to the filtered list, and fitting a phone."""

from __future__ import annotations

from reporter.store.tokens import set_password
from tests.render_support import ARTIFACTS
from tests.service.browser import PASSWORD, log_in

from .test_worldwide_case import MAH, PARTNER, REGULATOR, WORLDWIDE, _store_all


def test_the_worldwide_link_reads_apart_from_the_case_id_and_filters_by_keyboard(browser, served) -> None:
    _store_all(served.store, MAH, REGULATOR, PARTNER)
    set_password(served.store, "clinician", PASSWORD)
    site = served.base.removesuffix("/fhir")
    page = browser.new_page(viewport={"width": 390, "height": 800})
    log_in(page, site, "/cases", keyboard=True)
    row = page.locator("table.cases tbody tr", has=page.locator("a.worldwide")).first
    case_link, worldwide = row.locator("th a").first, row.locator("a.worldwide")
    style = "a => [getComputedStyle(a).fontWeight, parseFloat(getComputedStyle(a).fontSize)]"
    (case_weight, case_size), (link_weight, link_size) = case_link.evaluate(style), worldwide.evaluate(style)
    # bold like the case id above it, the link read as the rest of the case id ('DE-BFARM-2023-77 worldwide ...')
    assert int(case_weight) >= 600 and int(link_weight) < 600 and link_size < case_size
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "pages-worldwide-phone.png"), full_page=True)
    # the filter matches the whole id, unlike 'Case id contains': its label and placeholder say so
    assert page.locator("label[for=worldwide]").inner_text() == "Worldwide case id (C.1.8.1), whole"
    assert page.get_attribute("#worldwide", "placeholder") == "the whole id, as sent"
    worldwide.focus()
    page.keyboard.press("Enter")
    page.wait_for_url(f"{site}/cases?worldwide=*")
    assert page.input_value("#worldwide") == WORLDWIDE
    assert page.locator("p.count").inner_text() == "2 case(s)"
    assert sorted(a.inner_text() for a in page.locator("table.cases tbody th > a:first-child").all()) == [
        "DE-BFARM-2023-77", WORLDWIDE]


def test_a_case_page_names_the_other_senders_reports_of_its_case(browser, served) -> None:
    ids = _store_all(served.store, MAH, REGULATOR, PARTNER)
    set_password(served.store, "clinician", PASSWORD)
    site = served.base.removesuffix("/fhir")
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    log_in(page, site, f"/cases/{ids['DE-BFARM-2023-77']}", keyboard=True)
    items = [li.inner_text() for li in page.locator("section.related li").all()]
    assert items == [f"{WORLDWIDE} from Example Pharma: the same worldwide case {WORLDWIDE} (C.1.8.1)",
                     "US-PARTNER-9 from Partner Inc: it lists DE-BFARM-2023-77 among its other case ids (C.1.9.1.r.2)"]
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.locator("section.related").screenshot(path=str(ARTIFACTS / "pages-worldwide-case.png"))
    page.click(f"section.related a:text('List the stored reports of worldwide case {WORLDWIDE}')")
    page.wait_for_url(f"{site}/cases?worldwide=*")
    assert page.locator("p.count").inner_text() == "2 case(s)"
    page.goto(f"{site}/cases/{ids['US-PARTNER-9']}")  # its worldwide case is its own: no list to link to
    assert page.locator("section.related li").count() == 1 and page.locator("section.related p a").count() == 0
    page.click("section.related a:text('DE-BFARM-2023-77')")
    page.wait_for_url(f"{site}/cases/{ids['DE-BFARM-2023-77']}")
