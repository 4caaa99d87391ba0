"""The clinician pages over real HTTP (requests against the loopback server), on SQLite and PostgreSQL:
login and sessions, CSRF, error pages, searches over the index, failed saves, editing API-stored cases."""

from __future__ import annotations

import re

import requests

from reporter.casefile.parse import load_case
from reporter.store.tokens import set_password
from reporter.web import caseform
from tests.service.bundles import EXAMPLES, demo_bundles

PASSWORD = "correct horse battery"


def _site(served) -> str:
    return served.base.removesuffix("/fhir")


def _csrf(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "the page has a CSRF field"
    return match.group(1)


def _login(served) -> requests.Session:
    set_password(served.store, "clinician", PASSWORD)
    s = requests.Session()
    page = s.get(f"{_site(served)}/login", timeout=30)
    r = s.post(f"{_site(served)}/login", data={"csrf_token": _csrf(page.text), "username": "clinician",
                                                "password": PASSWORD}, allow_redirects=False, timeout=30)
    assert r.status_code == 303, r.text[:500]
    return s


def _is_page(r: requests.Response, status: int) -> str:
    assert r.status_code == status, r.text[:500]
    assert r.headers["Content-Type"].startswith("text/html")
    assert "Traceback" not in r.text and "<h1>" in r.text
    assert "default-src 'none'" in r.headers["Content-Security-Policy"]
    return r.text


def test_pages_need_a_login_and_the_cookie_is_locked_down(served) -> None:
    site = _site(served)
    for path in ("/cases", "/cases/new", f"/cases/{'x' * 8}", f"/cases/{'x' * 8}/history"):
        r = requests.get(site + path, allow_redirects=False, timeout=30)
        assert r.status_code == 302 and "/login" in r.headers["Location"], path
    r = requests.get(f"{site}/cases?q=1", allow_redirects=False, timeout=30)
    assert r.headers["Location"].endswith("/login?next=/cases?q%3D1") or "next=" in r.headers["Location"]
    s = _login(served)
    cookie = next(c for c in s.cookies if c.name == "reporter_session")
    assert cookie.has_nonstandard_attr("HttpOnly") and cookie.get_nonstandard_attr("SameSite") == "Lax"
    assert not cookie.secure  # Secure only when configured (REPORTER_SECURE_COOKIES=1, behind HTTPS)
    page = _is_page(s.get(f"{site}/cases", timeout=30), 200)
    assert "Signed in as <strong>clinician</strong>" in page
    # wrong password: a page saying so, no session
    fresh = requests.Session()
    token = _csrf(fresh.get(f"{site}/login", timeout=30).text)
    bad = fresh.post(f"{site}/login", data={"csrf_token": token, "username": "clinician", "password": "nope"},
                     timeout=30)
    assert "wrong password" in _is_page(bad, 401)
    assert fresh.get(f"{site}/cases", allow_redirects=False, timeout=30).status_code == 302
    # an open redirect after login is refused
    token = _csrf(fresh.get(f"{site}/login", timeout=30).text)
    r = fresh.post(f"{site}/login?next=//evil.example/x", data={"csrf_token": token, "username": "clinician",
                                                                "password": PASSWORD},
                   allow_redirects=False, timeout=30)
    assert r.headers["Location"] == "/cases"
    # logout ends it
    token = _csrf(s.get(f"{site}/cases", timeout=30).text)
    s.post(f"{site}/logout", data={"csrf_token": token}, timeout=30)
    assert s.get(f"{site}/cases", allow_redirects=False, timeout=30).status_code == 302


def test_secure_cookie_when_configured(store) -> None:
    from reporter.web import create_app

    app = create_app({"SECRET_KEY": "k", "SECURE_COOKIES": True}, store=store)
    set_password(store, "clinician", PASSWORD)
    client = app.test_client()
    page = client.get("/login").get_data(as_text=True)
    r = client.post("/login", data={"csrf_token": _csrf(page), "username": "clinician", "password": PASSWORD})
    assert r.status_code == 303
    assert "Secure" in r.headers["Set-Cookie"] and "HttpOnly" in r.headers["Set-Cookie"]


def test_posts_without_the_csrf_token_are_refused(served) -> None:
    site = _site(served)
    s = _login(served)
    values = caseform.flatten(load_case(sorted(EXAMPLES.glob("*.yaml"))[0]))
    r = s.post(f"{site}/cases/new", data=list(values.items(multi=True)), timeout=60)
    assert "CSRF" in _is_page(r, 400)
    r = s.post(f"{site}/cases/new", data=[*values.items(multi=True), ("csrf_token", "forged")], timeout=60)
    _is_page(r, 400)
    assert _case_count(served) == 0
    # logout and login are forms too
    _is_page(s.post(f"{site}/logout", timeout=30), 400)
    _is_page(requests.post(f"{site}/login", data={"username": "clinician", "password": PASSWORD}, timeout=30), 400)
    # the same case with the token is stored
    token = _csrf(s.get(f"{site}/cases/new", timeout=30).text)
    r = s.post(f"{site}/cases/new", data=[*values.items(multi=True), ("csrf_token", token)],
               allow_redirects=False, timeout=60)
    assert r.status_code == 303, r.text[:3000]
    assert _case_count(served) == 1


def test_error_pages_are_pages(served) -> None:
    site = _site(served)
    s = _login(served)
    assert "Not found" in _is_page(s.get(f"{site}/no-such-page", timeout=30), 404)
    assert "does not exist" in _is_page(s.get(f"{site}/cases/no-such-case", timeout=30), 404)
    _is_page(s.get(f"{site}/cases/{'%20' * 3}", timeout=30), 404)
    case_id = served.store.create(demo_bundles()[0], author="test").case_id
    _is_page(s.get(f"{site}/cases/{case_id}?version=abc", timeout=30), 400)
    _is_page(s.get(f"{site}/cases/{case_id}?version=7", timeout=30), 404)
    _is_page(s.get(f"{site}/cases/{case_id}/download/zip", timeout=30), 404)
    _is_page(s.get(f"{site}/cases/{case_id}/history?from=1&to=9", timeout=30), 404)
    _is_page(s.put(f"{site}/cases", timeout=30), 405)
    # the API keeps answering with OperationOutcomes
    r = requests.get(f"{served.base}/Nope/x", timeout=30)
    assert r.headers["Content-Type"].startswith("application/fhir+json")


def test_a_failed_save_keeps_the_input_and_stores_nothing(served) -> None:
    site = _site(served)
    s = _login(served)
    values = caseform.flatten(load_case(sorted(EXAMPLES.glob("*.yaml"))[0]))
    values.setlist("reactions[0].meddra.code", ["1001971"])  # 7 digits
    values.setlist("tests[0].unit", ["mg per litre"])
    values.setlist("patient.age_at_onset.value", ["twelve"])
    for part in ("value", "unit", "drug", "anchor"):  # the relative onset is cleared...
        values.setlist(f"reactions[1].onset.{part}", [""])
    values.setlist("reactions[1].onset", ["2023-02-30"])  # ...and gets an impossible date
    token = _csrf(s.get(f"{site}/cases/new", timeout=30).text)
    r = s.post(f"{site}/cases/new", data=[*values.items(multi=True), ("csrf_token", token)], timeout=60)
    page = _is_page(r, 422)
    assert _case_count(served) == 0
    for path, fragment in (("reactions[0].meddra.code", "8 digits"), ("tests[0].unit", "not a UCUM unit"),
                           ("patient.age_at_onset.value", "number"), ("reactions[1].onset", "calendar date")):
        anchor = caseform.html_id(path)
        assert re.search(rf'id="{re.escape(anchor)}(-str)?-err"><li><span class="e2b"><code>{re.escape(path)}</code>: '
                         rf'</span>[^<]*{fragment}', page), path  # the path shows with "E2B detail" only
    summary = re.search(r'<section class="alert".*?</section>', page, re.S).group(0)  # fields named as labelled
    assert ">Reaction 1 › MedDRA › Code</a>: " in summary and ">Patient › Age at onset › Value</a>: " in summary
    assert "<code>" not in summary
    assert 'value="1001971"' in page and 'value="mg per litre"' in page and 'value="twelve"' in page


def test_case_list_filters_over_the_index(served) -> None:
    site = _site(served)
    s = _login(served)
    for bundle in demo_bundles():
        served.store.create(bundle, author="test")

    def rows(**params) -> list[str]:
        page = _is_page(s.get(f"{site}/cases", params=params, timeout=60), 200)
        return re.findall(r'<th scope="row"><a href="/cases/[^"]+">([^<]+)</a>', page)

    assert len(rows()) == 3
    assert rows(q="000102") == ["GB-EXAMPLEPHARMA-2023-000102"]
    assert len(rows(seriousness="serious")) + len(rows(seriousness="non-serious")) == 3
    assert rows(reaction="10019717") == ["GB-EXAMPLEPHARMA-2023-000101"]
    assert len(rows(reaction="hepat")) >= 1 and rows(reaction="no such reaction") == []
    assert len(rows(drug="anakinra")) == 3 and rows(drug="no-such-drug") == []
    assert len(rows(updated_from="2000-01-01")) == 3 and rows(updated_to="2000-01-01") == []
    assert "is not a date" in _is_page(s.get(f"{site}/cases", params={"onset_from": "soon"}, timeout=30), 200)


def test_a_case_stored_through_the_api_can_be_edited_in_the_form(served) -> None:
    site = _site(served)
    s = _login(served)
    case_id = served.store.create(demo_bundles()[0], author="token:x").case_id
    page = _is_page(s.get(f"{site}/cases/{case_id}/edit", timeout=60), 200)
    assert "read back from it" in page and 'value="10019717"' in page
    assert 'value="1742-6"' in page  # a LOINC code: facts E2B cannot carry come back too
    values = [(k, v) for k, v in re.findall(r'<input[^>]*name="([^"]+)"[^>]*value="([^"]*)"', page)]
    assert ("case_id", "GB-EXAMPLEPHARMA-2023-000101") in values
    history = _is_page(s.get(f"{site}/cases/{case_id}/history", timeout=30), 200)
    assert "FHIR Bundle" in history
    audit = [(e.type, e.subtype, e.agent) for e in served.store.audit_events(20)]
    assert ("user", "read", "user:clinician") in audit and ("user", "history-instance", "user:clinician") in audit


def test_a_case_s_pages_are_named_by_its_report_id_not_the_store_s_uuid(served) -> None:
    """Tabs and headings said 'Case 5f0c...-uuid', 'History of <uuid>', 'Causality assessment · case <uuid>':
    several open cases could not be told apart, and the id a reporter knows appeared nowhere in the heading."""
    site = _site(served)
    s = _login(served)
    case_id = served.store.create(demo_bundles()[0], author="token:x").case_id
    for path, heading in (("", None), ("/history", "Version history · case"), ("/assess", "Causality assessment"),
                          ("/edit", "Edit case")):
        page = _is_page(s.get(f"{site}/cases/{case_id}{path}", timeout=60), 200)
        title = re.search(r"<title>([^<]*)</title>", page).group(1)
        h1 = re.sub(r"<[^>]+>", "", re.search(r"<h1>(.*?)</h1>", page, re.S).group(1))
        assert "GB-EXAMPLEPHARMA-2023-000101" in title and case_id not in title, (path, title)
        if heading:
            assert heading in h1 and "GB-EXAMPLEPHARMA-2023-000101" in h1 and case_id not in h1, (path, h1)


def test_a_form_too_large_is_said_in_mb_with_the_way_back_to_the_entries(served) -> None:
    """The page said 'the request is larger than 20971520 bytes' and nothing about the entries it lost."""
    site = _site(served)
    s = _login(served)
    values = caseform.flatten(load_case(sorted(EXAMPLES.glob("*.yaml"))[0]))
    values.setlist("narrative.text", ["x" * (2 * 1024 * 1024 + 1)])  # the served app takes 2 MB
    token = _csrf(s.get(f"{site}/cases/new", timeout=30).text)
    page = _is_page(s.post(f"{site}/cases/new", data=[*values.items(multi=True), ("csrf_token", token)],
                           timeout=60), 413)
    assert " MB the service takes" in page and "nothing was saved" in page and "go back in the browser" in page
    assert _case_count(served) == 0


def _case_count(served) -> int:
    from reporter.store import Criteria

    return served.store.search("Bundle", Criteria(count=0)).total


def test_case_page_shows_readiness_per_receiver_with_links_to_the_form(served) -> None:
    site = _site(served)
    s = _login(served)
    ready_id = served.store.create(demo_bundles()[0], author="test").case_id
    page = _is_page(s.get(f"{site}/cases/{ready_id}", timeout=60), 200)
    for receiver in ("ich", "fda", "ema"):
        assert re.search(rf'id="ready-{receiver}"><strong>{receiver.upper()}</strong>:\s*ready', page), receiver
    # saved from the form without C.1.7 (expedited): FDA refuses it, ICH and EMA take it
    values = caseform.flatten(load_case(sorted(EXAMPLES.glob("*.yaml"))[0]))
    values.pop("report.expedited", None)
    values["case_id"] = "GB-EXAMPLEPHARMA-2023-READY-1"
    token = _csrf(s.get(f"{site}/cases/new", timeout=30).text)
    r = s.post(f"{site}/cases/new", data=[*values.items(multi=True), ("csrf_token", token)],
               allow_redirects=False, timeout=60)
    assert r.status_code == 303, r.text[:3000]
    page = _is_page(s.get(site + r.headers["Location"], timeout=60), 200)
    assert re.search(r'id="ready-ich"><strong>ICH</strong>:\s*ready', page)
    fda = page.split('id="ready-fda"', 1)[1].split('id="ready-ema"', 1)[0]
    assert "problem(s)" in fda
    # in words for the clinician, the E2B element as a detail after them (the checker's message in its title)
    assert "Whether the case meets the local criteria for expedited reporting is not given" in fda
    assert "nullFlavor" not in re.sub(r'title="[^"]*"', "", fda), fda
    assert re.search(r'<small class="e2b-ref" title="nullFlavor NI used for C.1.7[^"]*">E2B <code>C.1.7</code>', fda)
    # the field as the form labels it, not its case-file path (report.expedited)
    link = re.search(r'<a href="([^"#]+)#(f-report_expedited)">Report › Expedited</a>', fda)
    assert link, fda
    form = _is_page(s.get(site + link.group(1), timeout=60), 200)
    assert f'id="{link.group(2)}"' in form  # the link lands on the form field
    # ...which is marked with what FDA needs, in the same words (it said 'nullFlavor NI used for C.1.7 ...')
    assert "needed for FDA: Whether the case meets the local criteria for expedited reporting" in form


def test_countries_are_named_on_the_pages_and_kept_as_codes_in_downloads(served) -> None:
    """The case page's report, its CIOMS box 1a and the Tabulate page said 'GB' and 'PT' where a person reads
    'United Kingdom' and 'Portugal'; the CSV (data for other tools) keeps the code the filters take."""
    site = _site(served)
    s = _login(served)
    case_id = served.store.create(demo_bundles()[0], author="test").case_id
    page = _is_page(s.get(f"{site}/cases/{case_id}", timeout=60), 200)
    assert "(Pharmaceutical company), United Kingdom</dd>" in page and "Physician (Portugal)" in page
    table = _is_page(s.get(f"{site}/tabulate", params={"by": "country"}, timeout=60), 200)
    assert "<td>Portugal (PT)</td>" in table and "<td>PT</td>" not in table
    csv = s.get(f"{site}/tabulate", params={"by": "country", "format": "csv"}, timeout=60).text
    assert csv.splitlines()[1].startswith("PT,")


def test_the_case_page_s_validation_panel_names_the_field_before_its_fhir_path(served) -> None:
    """A Bundle's warning at a reaction read 'Bundle.entry[2].resource.ofType(AdverseEvent)...' only: the page says
    the field as the form names it and keeps the FHIRPath after it, small; the HTML report on its own is as it was."""
    import json

    from tests.test_fhir_unread_facts import _all_four

    from .bundles import renamed

    site = _site(served)
    s = _login(served)
    r = served.session(served.write_token).post(
        f"{served.base}/Bundle", data=json.dumps(renamed(_all_four(), "panel-fields")), timeout=60,
        headers={"Content-Type": "application/fhir+json"})
    assert r.status_code == 201, r.text
    case_id = r.headers["Location"].split("/Bundle/")[1].split("/")[0]
    page = _is_page(s.get(f"{site}/cases/{case_id}", timeout=60), 200)
    panel = page[page.index('<section id="validation"'):]
    cells = re.findall(r'<td data-label="Location" class="location">(.*?)</td>', panel)
    assert cells and all("<code>" in c for c in cells), cells  # the FHIRPath is kept
    placed = [c for c in cells if not c.startswith("<code>")]
    assert any(c.startswith("Patient › Sex <small><code>Bundle.entry[") for c in placed), cells


def test_the_history_names_a_changed_country(served) -> None:
    """The differences said 'PT' -> 'DE' for the primary source's country; a person reads the names."""
    from reporter.fhir.build import build_bundle

    site = _site(served)
    s = _login(served)
    case = load_case(sorted(EXAMPLES.glob("*.yaml"))[0])
    first = served.store.create(build_bundle(case), author="test",
                                casefile=case.model_dump(mode="json", by_alias=True, exclude_none=True))
    assert case.primary_sources[0].address.country == "PT"
    case.primary_sources[0].address.country = "DE"
    served.store.update(first.case_id, build_bundle(case), author="test", reason="country corrected",
                        casefile=case.model_dump(mode="json", by_alias=True, exclude_none=True))
    page = _is_page(s.get(f"{site}/cases/{first.case_id}/history", timeout=60), 200)
    row = re.search(r'<tr class="changed" data-path="primary_sources\[0\]\.address\.country">.*?</tr>', page, re.S)
    assert row and "<del>Portugal (PT)</del>" in row.group(0) and "<ins>Germany (DE)</ins>" in row.group(0), page
