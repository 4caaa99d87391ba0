"""The tabulation page in a real headless Chromium against the app on loopback: filters, table, SVG bar chart,
CSV and XLSX downloads of the same table."""

from __future__ import annotations

import csv
import io

import openpyxl
import pytest

from reporter.casefile.listing import import_listing, store_row
from reporter.store.tokens import set_password
from tests.helpers import EXAMPLES
from tests.render_support import ARTIFACTS
from tests.service.browser import PASSWORD, log_in


@pytest.fixture
def site(served, monkeypatch):
    monkeypatch.delenv("REPORTER_MEDDRA_DIR", raising=False)
    listing = EXAMPLES / "iv-anakinra-shlh-mas-synthetic-listing.csv"
    for row in import_listing(listing, received="2024-01-15", validate=False).rows:
        store_row(served.store, row, author="test", reason="seed listing")
    set_password(served.store, "clinician", PASSWORD)
    return served.base.removesuffix("/fhir")


def test_tabulate_page_shows_table_chart_and_downloads(browser, site, tmp_path):
    page = browser.new_page(viewport={"width": 1280, "height": 900}, accept_downloads=True)
    console_errors: list[str] = []
    page.on("console", lambda m: console_errors.append(m.text) if m.type == "error" else None)
    log_in(page, site, "/tabulate")
    page.select_option("select[name=by]", "age_band")
    page.select_option("select[name=by2]", "survival")
    page.fill("#bands", "<10,10-17,18+")
    page.click("text=Tabulate >> nth=-1")
    page.wait_for_selector("table.tabulation")
    assert page.locator("p.count").inner_text() == "87 case(s)"
    cells = [[c.inner_text() for c in r.locator("td").all()] for r in page.locator("table.tabulation tbody tr").all()]
    assert cells[1][:5] == ["<10", "survived", "10", "12", "83.3"]
    assert next(c for c in cells if c[:2] == ["18+", "survived"])[:5] == ["18+", "survived", "34", "54", "63.0"]
    bars = page.locator("figure.tabulation-chart svg rect")
    assert bars.count() == len(cells)
    assert page.locator("figure.tabulation-chart svg").get_attribute("role") == "img"
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "pages-tabulate.png"), full_page=True)

    with page.expect_download() as info:
        page.click("text=CSV")
    rows = list(csv.reader(io.StringIO(info.value.path().read_text(encoding="utf-8"))))
    assert rows[0][:3] == ["Age band (years)", "Survival", "Cases"] and rows[2][:4] == ["<10", "survived", "10", "12"]
    with page.expect_download() as info:
        page.click("text=XLSX")
    sheet = openpyxl.load_workbook(io.BytesIO(info.value.path().read_bytes())).active
    assert [c.value for c in sheet[3]][:4] == ["<10", "survived", 10, 12]

    assert not console_errors
    page.fill("#where", "shoe=large")
    page.click("text=Tabulate >> nth=-1")  # answered 400 with the form and the problem
    assert "unknown field 'shoe'" in page.locator("p.error").inner_text()
    page.fill("#where", "shoe")  # the hint speaks of the page's box, not of the command line's --where
    page.click("text=Tabulate >> nth=-1")
    assert "--" not in page.locator("p.error").inner_text() and "sex=female" in page.locator("p.error").inner_text()


def test_a_cross_tab_fits_a_phone(browser, site):
    """A cross-tab of indications is wider than a phone: the table scrolls in its box, the page does not."""
    page = browser.new_page(viewport={"width": 390, "height": 800})
    log_in(page, site, "/tabulate?by=indication&by2=survival")
    page.wait_for_selector("table.tabulation")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    box = page.locator("div.table-scroll:has(table.tabulation)")
    assert box.get_attribute("tabindex") == "0" and box.get_attribute("role") == "region"
    assert box.evaluate("b => b.getBoundingClientRect().right <= 390 && b.scrollWidth > b.clientWidth")
    chart = page.locator("figure.tabulation-chart")  # the chart scrolls in its box too, reached by the keyboard
    assert chart.get_attribute("tabindex") == "0" and chart.evaluate("f => f.scrollWidth > f.clientWidth")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "pages-tabulate-phone.png"), full_page=True)


def test_the_filter_is_labelled_in_words_and_its_problems_name_the_form_not_the_command_line(browser, site):
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    log_in(page, site, "/tabulate")
    assert page.locator("label[for=where]").inner_text() == "Only cases with"  # was '(FIELD=VALUE; ...)'
    assert page.locator("#where").get_attribute("aria-describedby") == "where-help"
    page.fill("#where", "Sex=male")  # a field as the Count by list names it
    page.press("#where", "Enter")
    page.wait_for_selector("p.count")
    assert page.locator("p.error").count() == 0
    for query, said in (("where=age_band%3Dxyz", "(set under Age bands)"),
                        ("where=sex", "is not a field, '=' and a value"),
                        ("by=drug&by2=drug", "chosen twice: under Count by and for the cross-tab")):
        assert page.goto(f"{site}/tabulate?{query}").status == 400
        error = page.locator("p.error#tabulate-error").inner_text()
        assert said in error and "--" not in error and "FIELD=VALUE" not in error
        assert page.locator("#where").get_attribute("aria-describedby") == "where-help tabulate-error"
