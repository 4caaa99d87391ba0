"""Logging in from a real browser (Playwright) for the page tests, one way for all of them: each test then
checks its own page instead of repeating the log-in steps with small differences."""

from __future__ import annotations

from urllib.parse import urlsplit

PASSWORD = "correct horse battery"


def submit_login(page, name: str = "clinician", password: str = PASSWORD, *, keyboard: bool = False) -> None:
    """Fill in and send the login form the page shows: by its button, or with `keyboard` by Enter in the
    password field."""
    page.fill("#username", name)
    page.fill("#password", password)
    if keyboard:
        page.press("#password", "Enter")
    else:
        page.click("button[type=submit].primary")


def log_in(page, site: str, target: str = "/cases", name: str = "clinician", password: str = PASSWORD, *,
           keyboard: bool = False) -> None:
    """Open `target`, which sends a browser without a session to the login form, log in there as `name`, and
    wait until the browser is back at `target` (its path: the login passes the query on)."""
    page.goto(site + target)
    assert urlsplit(page.url).path == "/login", f"{target} did not ask for a login: {page.url}"
    submit_login(page, name, password, keyboard=keyboard)
    path = urlsplit(site + target).path
    page.wait_for_url(lambda url: urlsplit(url).path == path)
