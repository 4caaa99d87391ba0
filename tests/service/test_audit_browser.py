"""The audit trail page on a phone, in a real headless Chromium: its eight columns scroll in their box."""

from __future__ import annotations

from reporter.store.tokens import set_password
from tests.render_support import ARTIFACTS
from tests.service.browser import PASSWORD, log_in


def test_the_audit_rows_fit_a_phone(browser, served) -> None:
    set_password(served.store, "clinician", PASSWORD, role="reviewer")
    site = served.base.removesuffix("/fhir")
    page = browser.new_page(viewport={"width": 390, "height": 800})
    log_in(page, site, "/audit", keyboard=True)
    assert page.locator("table.audit tbody tr").count() >= 1  # the login itself, at least
    assert page.evaluate("document.documentElement.scrollWidth") <= 390  # the whole page scrolled sideways
    box = page.locator("div.table-scroll:has(table.audit)")
    assert box.get_attribute("tabindex") == "0" and box.evaluate("b => b.scrollWidth > b.clientWidth")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "pages-audit-phone.png"), full_page=True)
