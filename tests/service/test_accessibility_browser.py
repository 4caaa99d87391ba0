"""Accessibility of every clinician page and of the rendered HTML report: axe-core (tools/axe, pinned) run in
Debian's headless Chromium on each page filled with realistic data (a stored demo case, an imported E2B case
with a follow-up, a case from a line listing, a case form with errors, a tabulation and a disproportionality
screen with results), WCAG 2.1 A and AA rules plus axe's best practices (landmarks, heading order). A failure
lists each violation: page, rule, impact and the selector of each element. The case form is checked again with
every fold opened, the E2B detail shown and every conditional part unhidden, since axe skips what is hidden.
Then the case form and the assess page by keyboard alone: every Tab stop on screen with a focus ring of 3:1,
errors tied to their fields, focus on the error summary after a failed save and from its links to the fields.
Screenshots: tests/_artifacts/a11y-*.png."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from reporter.casefile import load_case
from reporter.casefile.listing import import_listing, store_row
from reporter.cli import main
from reporter.fhir.build import build_bundle
from reporter.store.repository import case_id_for, case_key
from reporter.store.tokens import set_password
from tests.conftest import REPO, shared_path
from tests.helpers import EXAMPLES
from tests.render_support import ARTIFACTS

AXE = REPO / "tools" / "axe" / "node_modules" / "axe-core" / "axe.min.js"
RULES = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"]
PASSWORD = "correct horse battery"
CASE3 = EXAMPLES / "case3-anakinra-iv-hepatotoxicity.yaml"
LISTING = EXAMPLES / "iv-anakinra-shlh-mas-synthetic-listing.csv"
FAERS = Path("e2b") / "examples" / "fda-faers-2022"
# a = 6 (anakinra + hepatitis): enough pairs for the disproportionality screen and a 2x2 table
PAIRS = ["anakinra,hepatitis"] * 6 + ["anakinra,rash"] * 2 + ["tocilizumab,hepatitis"] + ["tocilizumab,rash"] * 6

# Shows what axe skips as hidden: every fold, the E2B detail, the parts that show only for some answers.
REVEAL = """() => {
  document.querySelectorAll('details').forEach((d) => { d.open = true; });
  const e2b = document.getElementById('e2b-detail');
  if (e2b && !e2b.checked) e2b.click();
  document.querySelectorAll('.show-when[hidden], p.reveal[hidden]').forEach((e) => { e.hidden = false; });
}"""

# Where focus is and whether a sighted user sees it: on screen, with an outline (its width and colour).
FOCUSED = """() => {
  const e = document.activeElement;
  const s = getComputedStyle(e);
  const r = e.getBoundingClientRect();
  return {tag: e.tagName.toLowerCase(), id: e.id, name: e.getAttribute('name') || '',
          text: (e.innerText || e.value || '').trim().slice(0, 40), outline: s.outlineStyle,
          width: parseFloat(s.outlineWidth), color: s.outlineColor, in_main: !!e.closest('main'),
          shown: r.width > 0 && r.height > 0 && r.bottom > 0 && r.right > 0 && r.top < innerHeight
                 && r.left < innerWidth && s.visibility !== 'hidden'};
}"""
# The case form's controls marked invalid whose aria-describedby names no error message.
UNDESCRIBED = """() => [...document.querySelectorAll('form.caseform [aria-invalid="true"]')]
  .filter((e) => !(e.getAttribute('aria-describedby') || '').split(/\\s+/)
    .some((id) => document.getElementById(id)?.matches('.errors, .error')))
  .map((e) => e.name || e.id)"""
MIN_RING_CONTRAST = 3.0  # WCAG 1.4.11: a focus indicator is non-text content, 3:1 against what is next to it


@pytest.fixture(scope="module")
def axe_source() -> str:
    if not AXE.is_file():
        if os.environ.get("CI"):
            pytest.fail("CI must install axe-core (npm ci in tools/axe)")
        pytest.skip("axe-core not installed (cd tools/axe && npm ci)")
    return AXE.read_text(encoding="utf-8")


def axe_violations(page, source: str) -> list[str]:
    """One line per element that breaks a rule: 'rule (impact): selector | what the rule asks'."""
    if not page.evaluate("typeof axe !== 'undefined'"):
        page.add_script_tag(content=source)
    return page.evaluate(
        """async (tags) => {
             const r = await axe.run(document, {runOnly: {type: 'tag', values: tags}, resultTypes: ['violations']});
             return r.violations.flatMap((v) => v.nodes.map((n) =>
               `${v.id} (${v.impact}): ${n.target.join(' ')} | ${v.help}`));
           }""", RULES)


def _shot(page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"a11y-{name}.png"), full_page=True)


def _import(db_url: str, schema_dir: Path, name: str) -> str:
    out = CliRunner().invoke(main, ["import", str(shared_path() / FAERS / name), "--store"],
                             env={"REPORTER_DATABASE_URL": db_url, "REPORTER_E2B_SCHEMA_DIR": str(schema_dir)})
    assert out.exit_code == 0, out.output
    return re.findall(r"of Bundle/([\w.-]+)", out.output)[0]


def _store_listing(store, path: Path) -> list[str]:
    """The case ids of the listing's rows, each stored."""
    ids = []
    for row in import_listing(path, received="2024-01-15", validate=False).rows:
        if row.bundle:
            store_row(store, row, author="test", reason="seed listing")
            ids.append(case_id_for(*case_key(row.bundle)))
    return ids


@pytest.fixture
def site(served, db_url, monkeypatch, tmp_path, e2b_schema_dir) -> dict[str, str]:
    """The store holds the demo case 3, an FDA example case imported with its follow-up, a listing and pairs."""
    monkeypatch.delenv("REPORTER_MEDDRA_DIR", raising=False)
    case = load_case(CASE3)
    bundle = build_bundle(case)
    served.store.create(bundle, author="test", reason="demo case",
                        casefile=case.model_dump(mode="json", by_alias=True, exclude_none=True))
    imported = _import(db_url, e2b_schema_dir, "FAERS2022Scenario5-1.xml")
    assert _import(db_url, e2b_schema_dir, "FAERS2022Scenario5-2.xml") == imported  # its follow-up
    listed = _store_listing(served.store, LISTING)
    pairs = tmp_path / "pairs.csv"
    pairs.write_text("Drug,Reaction\n" + "\n".join(PAIRS) + "\n", encoding="utf-8")
    _store_listing(served.store, pairs)
    set_password(served.store, "clinician", PASSWORD, role="reviewer")
    set_password(served.store, "second", PASSWORD, role="reviewer")
    set_password(served.store, "admin", PASSWORD, role="admin")
    return {"base": served.base.removesuffix("/fhir"), "demo": case_id_for(*case_key(bundle)),
            "imported": imported, "listed": listed[0]}


def _login(browser, base: str, name: str = "clinician"):
    """A page of a new browser context, logged in; the context lets axe be injected past the pages' CSP."""
    page = browser.new_context(viewport={"width": 1280, "height": 900}, bypass_csp=True).new_page()
    page.goto(base + "/login")
    page.fill("#username", name)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit].primary")
    page.wait_for_url(f"{base}/cases*")
    return page


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # the pages are the same on either store
def test_every_page_passes_axe(browser, site, axe_source) -> None:
    base, demo, imported = site["base"], site["demo"], site["imported"]
    found: dict[str, list[str]] = {}

    def audit(page, name: str, path: str | None = None, *, reveal: bool = False) -> None:
        if path is not None:
            page.goto(base + path)
        page.wait_for_load_state()
        if reveal:
            page.evaluate(REVEAL)
        _shot(page, name)
        found[name] = axe_violations(page, axe_source)

    page = browser.new_context(viewport={"width": 1280, "height": 900}, bypass_csp=True).new_page()
    audit(page, "login", "/login")
    page.fill("#username", "clinician")
    page.fill("#password", "not the password")
    page.click("button[type=submit].primary")
    audit(page, "login-failed")
    page.context.close()

    other = _login(browser, base, "second")  # another reviewer approves the demo case: the E2B downloads show
    other.goto(f"{base}/cases/{demo}")
    other.click("button:has-text('Approve version 1')")
    other.context.close()

    page = _login(browser, base)
    audit(page, "cases", "/cases")
    audit(page, "cases-filter-errors", "/cases?onset_from=yesterday&seriousness=grave")
    for field in ("#onset_from", "#seriousness"):  # each filter's error is read with it
        assert page.get_attribute(field, "aria-invalid") == "true" and _described_by(page, field), field
    audit(page, "case-demo", f"/cases/{demo}")
    levels = page.evaluate("[...document.querySelectorAll('main :is(h1, h2, h3, h4)')].map((h) => +h.tagName[1])")
    assert levels[0] == 1, levels[:6]  # the bar above the report has h2s: an h1 comes first
    audit(page, "case-imported", f"/cases/{imported}", reveal=True)
    audit(page, "case-listed", f"/cases/{site['listed']}")
    audit(page, "history", f"/cases/{imported}/history")
    audit(page, "assess", f"/cases/{demo}/assess")
    page.fill("#reason", "")
    page.click("button:has-text('Save as a new version')")
    audit(page, "assess-errors")
    for name, path in (("form-new", "/cases/new"), ("form-demo", f"/cases/{demo}/edit"),
                       ("form-imported", f"/cases/{imported}/edit")):
        audit(page, name, path)
        audit(page, f"{name}-revealed", reveal=True)
    page.goto(base + "/cases/new")
    page.fill('[name="case_id"]', "GB-A11Y-2024-000001")
    page.fill('[name="report.first_received"]', "2024-13-01")  # no such month
    page.fill('[name="tests[0].name"]', "ALT")
    page.fill('[name="tests[0].loinc"]', "1742-7")  # wrong check digit
    page.click("button.primary:has-text('Save case')")
    page.wait_for_selector("#problems")
    audit(page, "form-errors")
    audit(page, "form-errors-revealed", reveal=True)
    audit(page, "tabulate", "/tabulate?by=age_band&by2=survival&bands=%3C10,10-17,18%2B")
    chart = "figure.tabulation-chart svg"  # its bars' own titles are hidden by role="img": it says what it shows
    assert page.get_attribute(chart, "aria-labelledby") == "chart-title"
    assert _described_by(page, chart) == ("10 bar(s), one per group; the longest: 18+ / survived, 35 case(s). "
                                          "Each group's count, percentage and interval are in the table of counts.")
    audit(page, "tabulate-error", "/tabulate?where=nonsense")
    audit(page, "disproportionality-screen", "/disproportionality")
    audit(page, "disproportionality-pair", "/disproportionality?drug=anakinra&event=hepatitis")
    audit(page, "ehr", "/cases/from-ehr")
    page.context.close()
    with pytest.MonkeyPatch.context() as env:  # a server named but not answering: the form, then its failure
        env.setenv("REPORTER_EHR_SERVERS", "http://127.0.0.1:9/fhir")
        env.setenv("REPORTER_EHR_TIMEOUT", "5")
        page = _login(browser, base)
        audit(page, "ehr-form", "/cases/from-ehr")
        page.fill("#patient", "example")
        page.fill("#suspects", "anakinra")
        page.fill("#reaction_date", "2024-05-02")
        page.click("button.primary:has-text('Pull from the EHR')")
        page.wait_for_selector("section.alert")
        audit(page, "ehr-failed")
    audit(page, "not-found", "/cases/no-such-case")
    page.context.close()

    page = _login(browser, base, "admin")
    audit(page, "users", "/users")
    audit(page, "audit", "/audit")
    page.context.close()
    problems = [f"{name}: {line}" for name, lines in found.items() for line in lines]
    assert not problems, "axe violations:\n" + "\n".join(problems)


def _render(tmp_path: Path, source: Path, name: str) -> Path:
    out = tmp_path / f"{name}.html"
    result = CliRunner().invoke(main, ["render", str(source), "-o", str(out)])
    assert result.exit_code == 0, result.output
    return out


def test_the_rendered_report_passes_axe(browser, axe_source, tmp_path) -> None:
    """`reporter render` of a full case (lab charts, causality) and of a sparse listing row (gaps)."""
    row = next(r for r in import_listing(LISTING, received="2024-01-15", validate=False).rows if r.bundle)
    sparse = tmp_path / "row.json"
    sparse.write_text(json.dumps(row.bundle), encoding="utf-8")
    page = browser.new_context(viewport={"width": 1280, "height": 900}, bypass_csp=True).new_page()
    problems = []
    for name, source in (("report-full", CASE3), ("report-sparse", sparse)):
        page.goto(_render(tmp_path, source, name).as_uri())
        _shot(page, name)
        problems += [f"{name}: {line}" for line in axe_violations(page, axe_source)]
    page.context.close()
    assert not problems, "axe violations:\n" + "\n".join(problems)


# --- by keyboard alone ---------------------------------------------------------------------------------------

def _luminance(css: str) -> float:
    """Relative luminance (WCAG) of a computed 'rgb(r, g, b)' colour."""
    channels = [int(x) / 255 for x in re.findall(r"\d+", css)[:3]]
    lin = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]


def _ring_problem(focus: dict) -> str | None:
    """Why a sighted keyboard user would not see where focus is (None: they would)."""
    if not focus["shown"]:
        return "focused but not on screen"
    if focus["outline"] == "none" or focus["width"] < 2:
        return f"no focus ring (outline {focus['outline']} {focus['width']}px)"
    contrast = 1.05 / (_luminance(focus["color"]) + 0.05)  # against the pages' white
    if contrast < MIN_RING_CONTRAST:
        return f"focus ring {focus['color']} has contrast {contrast:.1f}:1 on white"
    return None


def _tab(page, key: str = "Tab") -> dict:
    page.keyboard.press(key)
    return page.evaluate(FOCUSED)


def _tab_to(page, match, limit: int = 600) -> dict:
    """Tab until the focused element matches (a predicate on FOCUSED's dict); every stop on the way must show
    its focus ring. Fails when the element is not reached by Tab."""
    problems = []
    for _ in range(limit):
        focus = _tab(page)
        if (why := _ring_problem(focus)) is not None:
            problems.append(f"{focus['tag']}#{focus['id']} {focus['name']} {focus['text']!r}: {why}")
        if match(focus):
            assert not problems, "\n".join(problems)
            return focus
        if focus["tag"] == "body":
            break
    pytest.fail("not reached by Tab" + ("; on the way:\n" + "\n".join(problems) if problems else ""))


def _named(name: str):
    return lambda f: f["name"] == name


def _type(page, text: str) -> None:
    page.keyboard.press("ControlOrMeta+a")
    page.keyboard.type(text)


def _described_by(page, selector: str) -> str:
    """The text of what the element's aria-describedby names."""
    return page.evaluate(
        """(sel) => (document.querySelector(sel).getAttribute('aria-describedby') || '').split(/\\s+/)
             .map((id) => document.getElementById(id)).filter((e) => e).map((e) => e.textContent).join(' | ')""",
        selector)


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_case_form_by_keyboard_alone(browser, site) -> None:
    base = site["base"]
    page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    page.goto(base + "/cases/new")  # to the login page, then back
    _tab_to(page, lambda f: f["id"] == "username")
    page.keyboard.type("clinician")
    _tab(page)
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url(f"{base}/cases/new")

    skip = _tab(page)
    assert skip["text"] == "Skip to content" and _ring_problem(skip) is None, skip
    page.keyboard.press("Enter")
    assert _tab(page)["in_main"]  # past the site's navigation

    # in the form's order: the sections as the outline lists them, the report's identification last
    _tab_to(page, _named("tests[0].name"))
    page.keyboard.type("ALT")
    _tab_to(page, _named("tests[0].loinc"))
    page.keyboard.type("1742-7")  # wrong check digit
    _tab_to(page, _named("primary_sources[0].primary"))
    page.keyboard.press("Space")
    assert page.is_checked('[name="primary_sources[0].primary"]')
    _tab_to(page, _named("case_id"))
    page.keyboard.type("GB-KEYS-2024-000001")
    _tab_to(page, _named("report.type"))
    page.keyboard.press("ArrowDown")  # a closed select changes its value with the arrows
    assert page.input_value('[name="report.type"]') != ""
    _tab_to(page, _named("report.first_received"))
    page.keyboard.type("2024-13-01")  # no such month
    with page.expect_navigation():
        page.keyboard.press("Enter")  # Enter in a text box saves
    page.wait_for_selector("#problems")
    _shot(page, "keyboard-form-errors")

    focus = page.evaluate(FOCUSED)
    assert focus["id"] == "problems", f"focus after a failed save: {focus}"
    assert _ring_problem(focus) is None, focus
    loinc = '[name="tests[0].loinc"]'
    assert page.get_attribute(loinc, "aria-invalid") == "true"
    assert "1742-6" in _described_by(page, loinc)  # the error, with the right check digit, is read with the field
    assert page.evaluate(UNDESCRIBED) == []
    _tab_to(page, lambda f: f["tag"] == "a" and f["in_main"])  # the summary's first link
    links = page.locator("#problems a")
    for i in range(links.count()):  # each takes focus to its field's control
        links.nth(i).focus()
        page.keyboard.press("Enter")
        focus = page.evaluate(FOCUSED)
        assert focus["tag"] in ("input", "select", "textarea"), (links.nth(i).inner_text(), focus)
    page.context.close()

    # a stored case edited by keyboard: a mistake, the summary, its link, the fix, saved
    page = _login(browser, base)
    page.goto(f"{base}/cases/{site['demo']}/edit")
    removes = page.locator("table.labgrid tbody button.remove")  # each row's says which row, though all show "Remove"
    names = {page.evaluate("(b) => b.textContent.replace(/\\s+/g, ' ').trim()", b) for b in removes.element_handles()}
    assert len(names) == removes.count() and "Remove test 2" in names, names
    _tab_to(page, _named("tests[1].loinc"))
    _type(page, "1742-7")
    _tab_to(page, _named("_reason"))
    page.keyboard.type("follow-up: corrected by keyboard")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert page.evaluate(FOCUSED)["id"] == "problems"
    _tab_to(page, lambda f: f["tag"] == "a" and "LOINC" in f["text"])
    page.keyboard.press("Enter")
    assert page.evaluate(FOCUSED)["name"] == "tests[1].loinc"
    _type(page, "1742-6")
    _tab_to(page, lambda f: f["tag"] == "button" and f["text"] == "Save new version")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert page.locator(".saved").inner_text() == "Version 2 saved."
    page.context.close()


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_assess_page_by_keyboard_alone(browser, site) -> None:
    base, demo = site["base"], site["demo"]
    page = _login(browser, base)
    page.goto(f"{base}/cases/{demo}/assess")
    result = page.locator("p.result[data-method=naranjo]")
    before = result.inner_text()
    radio = _tab_to(page, _named("naranjo:previous_reports"))  # the group's checked radio
    assert page.is_checked('[name="naranjo:previous_reports"][value="yes"]'), radio
    page.keyboard.press("ArrowDown")  # the next answer of the same question
    assert page.is_checked('[name="naranjo:previous_reports"][value="no"]')
    _tab_to(page, lambda f: f["tag"] == "button" and f["text"] == "Recalculate")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert result.inner_text() != before  # one point less
    assert page.is_checked('[name="naranjo:previous_reports"][value="no"]')  # kept

    reason = _tab_to(page, _named("_reason"))
    _type(page, "")
    page.keyboard.press("Delete")
    _tab_to(page, lambda f: f["tag"] == "button" and f["text"] == "Save as a new version")
    with page.expect_navigation():
        page.keyboard.press("Space")
    page.wait_for_selector("#problems")
    _shot(page, "keyboard-assess-errors")
    focus = page.evaluate(FOCUSED)
    assert focus["id"] == "problems", f"focus after a failed save: {focus}"
    assert page.get_attribute("#reason", "aria-invalid") == "true", reason
    assert "give a reason" in _described_by(page, "#reason")
    _tab_to(page, lambda f: f["tag"] == "a" and "reason" in f["text"].lower())
    page.keyboard.press("Enter")
    assert page.evaluate(FOCUSED)["id"] == "reason"
    page.keyboard.type("causality assessed by keyboard")
    _tab_to(page, lambda f: f["tag"] == "button" and f["text"] == "Save as a new version")  # Enter: Recalculate
    page.keyboard.press("Enter")
    page.wait_for_url(f"{base}/cases/{demo}?saved=2")
    page.context.close()
