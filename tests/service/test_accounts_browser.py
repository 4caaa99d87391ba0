"""Throttling, revocation and roles in a real headless Chromium against the app on loopback."""

from __future__ import annotations

import pytest

from reporter.store.tokens import set_password
from tests.service.browser import PASSWORD, log_in, submit_login


@pytest.fixture
def site(served, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("REPORTER_LOGIN_MAX_FAILURES", "3")
    return served.base.removesuffix("/fhir")


def _try_login(page, site: str, name: str, password: str = PASSWORD) -> None:
    """A login that may be refused: the form sent from the login page, no waiting for where it leads."""
    page.goto(f"{site}/login")
    submit_login(page, name, password)


def test_lockout_in_the_browser(browser, site, served) -> None:
    set_password(served.store, "ann", PASSWORD)
    page = browser.new_page()
    for _ in range(2):
        _try_login(page, site, "ann", "not the password")
        assert page.locator("[role=alert]").inner_text() == "Unknown user name or wrong password."
    _try_login(page, site, "ann", "not the password")
    assert "Too many failed logins for this account" in page.locator("[role=alert]").inner_text()
    _try_login(page, site, "ann")  # the right password does not get through a lock
    assert "locked until" in page.locator("[role=alert]").inner_text() and "/login" in page.url
    page.close()


def test_an_administrator_ends_a_session_and_the_user_is_sent_to_login(browser, site, served) -> None:
    set_password(served.store, "bob", PASSWORD)
    set_password(served.store, "root", PASSWORD, role="admin")
    user = browser.new_context().new_page()
    log_in(user, site, "/cases", "bob")
    admin = browser.new_context().new_page()
    log_in(admin, site, "/users", "root")
    row = admin.locator("tr", has=admin.locator("th", has_text="bob"))
    assert row.locator("td").nth(1).inner_text() == "1"  # one live session
    row.locator("button", has_text="End sessions").click()
    assert "bob: 1 session(s) ended" in admin.locator("[role=status]").inner_text()
    user.click("text=Cases")
    assert "/login" in user.url and user.locator("h1").inner_text() == "Log in"


def test_roles_decide_what_the_pages_offer_and_allow(browser, site, served) -> None:
    set_password(served.store, "rita", PASSWORD)  # reporter
    set_password(served.store, "root", PASSWORD, role="admin")
    page = browser.new_context().new_page()
    log_in(page, site, "/cases", "rita")
    nav = page.locator("nav[aria-label=Main]").inner_text()
    assert "New case" in nav and "Audit trail" not in nav and "Users" not in nav
    response = page.goto(f"{site}/audit")
    assert response.status == 403 and page.locator("h1").inner_text().startswith("Not allowed")
    assert "reviewer" in page.content()
    admin = browser.new_context().new_page()
    log_in(admin, site, "/users", "root")
    row = admin.locator("tr", has=admin.locator("th", has_text="rita"))
    row.locator("select").select_option("reviewer")
    row.locator("button", has_text="Set role").click()
    assert "rita: role set" in admin.locator("[role=status]").inner_text()
    log_in(page, site, "/cases", "rita")  # asked to log in again: the new role takes effect at the next login
    assert "Audit trail" in page.locator("nav[aria-label=Main]").inner_text()
    page.click("text=Audit trail")
    assert page.locator("h1").inner_text() == "Audit trail"
    assert page.locator("table.audit tbody tr").count() > 0
