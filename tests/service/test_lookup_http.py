"""The form's look-up endpoint over real HTTP: JSON for a logged-in user, 401 JSON without a session (never the
login page: its caller is a script), 404 for an unknown kind; the form page alone may run its script."""

from __future__ import annotations

import re

import requests

from reporter.store.tokens import set_password

PASSWORD = "correct horse battery"


def _session(served) -> tuple[requests.Session, str]:
    set_password(served.store, "clinician", PASSWORD)
    site = served.base.removesuffix("/fhir")
    s = requests.Session()
    page = s.get(f"{site}/login", timeout=30)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    r = s.post(f"{site}/login", data={"csrf_token": token, "username": "clinician", "password": PASSWORD},
               allow_redirects=False, timeout=30)
    assert r.status_code == 303
    return s, site


def test_lookups_answer_json_to_a_session_only(served) -> None:
    s, site = _session(served)
    r = requests.get(f"{site}/lookup/loinc", params={"q": "bilirubin"}, allow_redirects=False, timeout=30)
    assert r.status_code == 401 and r.json() == {"error": "not logged in"}
    r = s.get(f"{site}/lookup/loinc", params={"q": "bilirubin"}, timeout=30)
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("application/json")
    assert "1975-2" in [i["code"] for i in r.json()["items"]]
    assert s.get(f"{site}/lookup/ucum", params={"q": "IU/L"}, timeout=30).json()["items"][0]["code"] == "[IU]/L"
    assert "no drug dictionary" in s.get(f"{site}/lookup/drug", params={"q": "amox"}, timeout=30).json()["note"]
    assert s.get(f"{site}/lookup/loinc", params={"q": "a"}, timeout=30).json() == {"items": []}  # too short
    r = s.get(f"{site}/lookup/snomed", params={"q": "liver"}, timeout=30)
    assert r.status_code == 404 and "meddra" in r.json()["kinds"]
    long = s.get(f"{site}/lookup/meddra", params={"q": "x" * 5000}, timeout=30)
    assert long.status_code == 400 and "Traceback" not in long.text  # the app's query guard refuses it
    assert s.get(f"{site}/lookup/meddra", params={"q": "x" * 300}, timeout=30).status_code == 200


def test_only_the_form_page_may_run_a_script(served) -> None:
    s, site = _session(served)
    form = s.get(f"{site}/cases/new", timeout=30)
    assert "script-src 'self'" in form.headers["Content-Security-Policy"]
    assert '<script src="/static/form.js"' in form.text and "<script>" not in form.text  # no inline script
    cases = s.get(f"{site}/cases", timeout=30)
    assert "script-src" not in cases.headers["Content-Security-Policy"]
