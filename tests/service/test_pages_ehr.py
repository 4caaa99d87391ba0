"""The page "Start a case from the EHR" in a real headless Chromium, against the app on loopback and a real FHIR
server process (sekmet-fhir) holding the generated patient: pull, review in the case form, complete, save.
Failures leave nothing stored. Screenshots go to tests/_artifacts/pages-ehr-*.png."""

from __future__ import annotations

import pytest

from reporter.store.tokens import set_password
from tests import ehr_support as es
from tests.render_support import ARTIFACTS
from tests.service.browser import PASSWORD, log_in


@pytest.fixture(scope="module")
def fhir_server(tmp_path_factory: pytest.TempPathFactory):
    yield from es.loaded_server(tmp_path_factory.mktemp("sekmet-page"))


@pytest.fixture
def site(served, fhir_server, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("REPORTER_EHR_SERVERS", fhir_server.base)
    monkeypatch.setenv("REPORTER_EHR_TIMEOUT", "20")
    set_password(served.store, "clinician", PASSWORD)
    return served.base.removesuffix("/fhir")


def _shot(page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"pages-ehr-{name}.png"), full_page=True)


def _pull(page, token: str, patient: str) -> None:
    page.fill("#token", token)
    page.fill("#patient", patient)
    page.fill("#suspects", "anakinra")
    page.fill("#reaction_date", "2024-05-02")
    page.fill("#reaction", "hepatitis")
    page.click("button.primary:has-text('Pull from the EHR')")
    page.wait_for_load_state()


def test_start_a_case_from_the_ehr(browser, site, served) -> None:
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    outside: list[str] = []
    page.on("request", lambda r: outside.append(r.url) if not r.url.startswith(site) else None)
    log_in(page, site, "/cases/from-ehr")
    assert page.locator("h1").inner_text() == "Start a case from the EHR"

    # a wrong token and an unknown patient: a message, nothing stored
    _pull(page, "wrong-token", es.PID)
    assert "Nothing pulled" in page.locator(".alert").inner_text()
    assert "did not accept the bearer token" in page.locator(".alert").inner_text()
    assert page.input_value("#token") == ""  # the token is not sent back
    _pull(page, es.TOKEN, "nobody")
    assert "no such resource" in page.locator(".alert").inner_text()
    assert not served.session(served.read_token).get(f"{served.base}/Bundle").json().get("entry")  # nothing stored
    _shot(page, "error")

    # the pull: the case form, filled from the EHR, with the draft's note
    _pull(page, es.TOKEN, es.PID)
    assert page.locator("h1").inner_text() == "New case"
    note = page.locator("p.note").filter(has_text="Draft pulled from").inner_text()
    assert "Draft pulled from" in note and "Nothing is stored until you review" in note
    assert "hospital stay from 2024-05-03 to 2024-05-12" in note
    assert page.input_value('[name="patient.initials"]') == "MAS"
    assert page.input_value('[name="patient.weight_kg"]') == "33"
    products = [page.input_value(f'[name="drugs[{i}].product"]') for i in range(4)]
    assert "Kineret (anakinra) 100 mg/0.67 mL" in products
    suspect = products.index("Kineret (anakinra) 100 mg/0.67 mL")
    assert page.input_value(f'select[name="drugs[{suspect}].role"]') == "suspect"
    _shot(page, "draft")

    # the person completes what is missing and saves: that is the confirmation
    page.fill('[name="case_id"]', "BR-EHR-2024-000001")
    page.select_option('select[name="primary_sources[0].qualification"]', "physician")
    page.fill('[name="primary_sources[0].address.country"]', "BR")
    page.check('[name="primary_sources[0].primary"]')
    page.fill('[name="reactions[0].meddra.code"]', "10019717")
    page.fill('[name="reactions[0].meddra.version"]', "27.0")
    page.select_option('select[name="reactions[0].outcome"]', "recovering")
    page.click("button.primary:has-text('Save case')")
    page.wait_for_url(f"{site}/cases/*")
    assert page.locator(".saved").inner_text() == "Version 1 saved."
    _shot(page, "saved")
    assert "BR-EHR-2024-000001" in page.locator("h1").first.inner_text()
    stored = served.store.read(page.url.split("/cases/")[1].split("?")[0])
    assert "pulled from the EHR" in (stored.reason or "")
    alt = [t for t in stored.casefile["tests"] if t.get("loinc") == "1742-6"]
    assert [t["value"] for t in alt] == [float(v) for _, _, v, _ in es.ENZYMES]
    assert outside == []
