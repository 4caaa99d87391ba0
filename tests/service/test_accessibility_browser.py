"""Accessibility of every clinician page and of the rendered HTML report: axe-core (tools/axe, pinned) run in
Debian's headless Chromium on each page filled with realistic data (a stored demo case, an imported E2B case
with a follow-up, a case from a line listing, a case form with errors, a tabulation and a disproportionality
screen with results), WCAG 2.1 A and AA rules plus axe's best practices (landmarks, heading order). A failure
lists each violation: page, rule, impact and the selector of each element. The case form is checked again with
every fold opened, the E2B detail shown and every conditional part unhidden, since axe skips what is hidden.
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
    audit(page, "cases-filter-errors", "/cases?onset_from=yesterday&seriousness=serious")
    audit(page, "case-demo", f"/cases/{demo}")
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
    audit(page, "tabulate-error", "/tabulate?where=nonsense")
    audit(page, "disproportionality-screen", "/disproportionality")
    audit(page, "disproportionality-pair", "/disproportionality?drug=anakinra&event=hepatitis")
    audit(page, "ehr", "/cases/from-ehr")
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
