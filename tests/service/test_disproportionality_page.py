"""The disproportionality page in a real headless Chromium against the app on loopback: pick a drug and an
event, read the 2x2 table, PRR/ROR/IC with their intervals and the signal rules, download CSV and XLSX; the
screen of every pair links to each pair."""

from __future__ import annotations

import csv
import io

import openpyxl
import pytest

from reporter.analysis.disproportionality import measures
from reporter.casefile.listing import import_listing, store_row
from reporter.store.tokens import set_password
from tests.render_support import ARTIFACTS
from tests.service.browser import PASSWORD, log_in

# a = 6 (anakinra + hepatitis), b = 2, c = 1, d = 6: N = 15
PAIRS = ["anakinra,hepatitis"] * 6 + ["anakinra,rash"] * 2 + ["tocilizumab,hepatitis"] + ["tocilizumab,rash"] * 6


@pytest.fixture
def site(served, monkeypatch, tmp_path):
    monkeypatch.delenv("REPORTER_MEDDRA_DIR", raising=False)
    path = tmp_path / "pairs.csv"
    path.write_text("Drug,Reaction\n" + "\n".join(PAIRS) + "\n", encoding="utf-8")
    for row in import_listing(path, received="2024-05-01", validate=False).rows:
        store_row(served.store, row, author="test", reason="pairs")
    set_password(served.store, "clinician", PASSWORD)
    return served.base.removesuffix("/fhir")


def test_pair_shows_the_2x2_table_measures_signal_rules_and_downloads(browser, site):
    expected = measures(6, 2, 1, 6)
    page = browser.new_page(viewport={"width": 1280, "height": 900}, accept_downloads=True)
    console_errors: list[str] = []
    page.on("console", lambda m: console_errors.append(m.text) if m.type == "error" else None)
    log_in(page, site, "/disproportionality")
    # the screen first: every pair with at least 3 cases, strongest IC025 first, each a link
    screen = page.locator("table.screen tbody tr")
    assert screen.count() == 2
    assert [c.inner_text() for c in screen.nth(0).locator("td").all()][:6] == [
        "anakinra", "hepatitis", "6", "2", "1", "6"]
    page.select_option("#drug", "anakinra")
    page.fill("#event", "Hepatitis")  # any case
    page.click("text=Compute")
    page.wait_for_selector("table.two-by-two")
    cells = {k: page.locator(f"td[data-cell={k}]").inner_text() for k in ("a", "b", "c", "d", "n")}
    assert cells == {"a": "6", "b": "2", "c": "1", "d": "6", "n": "15"}
    prr = [c.inner_text() for c in page.locator("tr[data-measure=prr] td").all()]
    assert prr == [f"{expected.prr:.2f}", f"{expected.prr_ci[0]:.2f} – {expected.prr_ci[1]:.2f}"]
    ror = [c.inner_text() for c in page.locator("tr[data-measure=ror] td").all()]
    assert ror == ["18.00", f"{expected.ror_ci[0]:.2f} – {expected.ror_ci[1]:.2f}"]
    ic = page.locator("tr[data-measure=ic] td").first.inner_text()
    assert ic == f"{expected.ic:.2f}"
    rules = [li.inner_text() for li in page.locator("ul.signal-rules li").all()]
    assert len(rules) == 3
    assert rules[0].startswith("Met: PRR >= 2") == (expected.prr >= 2 and expected.chi2 >= 4)
    assert rules[1].startswith("Met: ROR") == (expected.ror_ci[0] > 1)
    assert rules[2].startswith("Met: IC025") == (expected.ic_ci[0] > 0)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "pages-disproportionality.png"), full_page=True)

    with page.expect_download() as info:
        page.click("text=CSV")
    rows = {r[0]: r[1:] for r in csv.reader(io.StringIO(info.value.path().read_text(encoding="utf-8")))}
    assert rows["a (drug and event)"][0] == "6" and rows["N"][0] == "15" and rows["ROR"][0] == "18.0"
    with page.expect_download() as info:
        page.click("text=XLSX")
    sheet = openpyxl.load_workbook(io.BytesIO(info.value.path().read_bytes())).active
    assert [c.value for c in sheet[1]][:2] == ["Measure", "Value"]
    assert any(r[0] == "d (neither)" and r[1] == 6 for r in sheet.iter_rows(values_only=True))
    assert not console_errors

    # a situation term (Off label use) is counted as any event, and the pair says what its signal points at
    page.goto(site + "/disproportionality?drug=anakinra&event=Off+label+use&min=1")
    assert page.locator("p[data-note=event]").inner_text() == (
        "The event is a situation (off-label use), not an adverse reaction: a signal here points at the situation, "
        "not at a harm.")
    page.goto(site + "/disproportionality?drug=anakinra&event=hepatitis&min=1")
    assert page.locator("p[data-note=event]").count() == 0

    # a pair with no case together still shows its table (a = 0), and raising the minimum changes the rules
    page.goto(site + "/disproportionality?drug=tocilizumab&event=nothing-like-it&min=1")
    assert page.locator("td[data-cell=a]").inner_text() == "0"
    assert page.locator("td[data-cell=b]").inner_text() == "7"
    page.goto(site + "/disproportionality?drug=anakinra&event=hepatitis&min=7")
    assert all(li.inner_text().startswith("Not met") for li in page.locator("ul.signal-rules li").all())
    # a bad query is answered with the form and the problem (400), never a traceback
    response = page.goto(site + "/disproportionality?level=hlt&min=lots")
    assert response.status == 400
    errors = [p.inner_text() for p in page.locator("p.error").all()]
    assert errors == ["level 'hlt' is not pt or soc", "minimum cases 'lots' is not a whole number from 1 to 10000"]


# adalimumab + Off label use: a = 5, b = 3, c = 1, d = 25, IC025 -0.003; etanercept has no other event (b = 0:
# no ROR); Drug ineffective and Off label use are situation terms
SITUATION_PAIRS = (["adalimumab,Off label use"] * 5 + ["adalimumab,Rash"] * 3 + ["tocilizumab,Off label use"]
                   + ["tocilizumab,Rash"] * 22 + ["etanercept,Drug ineffective"] * 3)


def test_the_screen_fits_a_phone_and_says_a_situation_under_its_pair(browser, served, monkeypatch, tmp_path):
    monkeypatch.delenv("REPORTER_MEDDRA_DIR", raising=False)
    path = tmp_path / "pairs.csv"
    path.write_text("Drug,Reaction\n" + "\n".join(SITUATION_PAIRS) + "\n", encoding="utf-8")
    for row in import_listing(path, received="2024-05-01", validate=False).rows:
        store_row(served.store, row, author="test", reason="pairs")
    set_password(served.store, "clinician", PASSWORD)
    site = served.base.removesuffix("/fhir")
    page = browser.new_page(viewport={"width": 390, "height": 800})
    log_in(page, site, "/disproportionality")
    # the 17 columns scroll in their box (a region the keyboard can reach), not the page
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    box = page.locator("div.table-scroll:has(table.screen)")
    assert box.get_attribute("tabindex") == "0" and box.evaluate("b => b.scrollWidth > b.clientWidth")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "pages-disproportionality-phone.png"), full_page=True)
    # a situation term's note is a line of its own under its pair, not a column a word wide
    header = [th.inner_text() for th in page.locator("table.screen thead th").all()]
    assert "Note" not in header and header[-1] == "Signals"
    notes = [td.inner_text() for td in page.locator("table.screen tr.event-note td").all()]
    assert "Off label use: the event is a situation (off-label use), not an adverse reaction; a signal here points " \
           "at the situation, not at a harm." in notes
    assert any(n.startswith("Drug ineffective: the event is a lack of efficacy") for n in notes)
    assert page.locator("table.screen tr.event-note td").first.get_attribute("colspan") == str(len(header))
    # values to two places, no '-0.0'; a ratio with a zero cell is a dash read out as 'not computable'
    rows = {r.locator("td").nth(0).inner_text() + "/" + r.locator("td").nth(1).inner_text(): r
            for r in page.locator("table.screen tbody tr:not(.event-note)").all()}
    adalimumab = [td.inner_text() for td in rows["adalimumab/Off label use"].locator("td").all()]
    assert adalimumab[13] == "0.00" and "-0.0" not in page.locator("table.screen").inner_text()
    etanercept = rows["etanercept/Drug ineffective"].locator("td")
    assert etanercept.nth(3).inner_text() == "0" and etanercept.nth(9).text_content() == "—not computable"
