"""The eight causes of HTTP 500 from the reliability review, each refused (or answered) cleanly over real HTTP on
SQLite and PostgreSQL, with nothing written. Timings of the same requests: bench/attacks.py."""

from __future__ import annotations

import json

import pytest
import requests
from lxml import etree
from sqlalchemy import func, select

from reporter.fhir.issue_location import location_of
from reporter.store.approvals import approve
from reporter.store.schema import CaseVersion
from tests.hostile import attacks

from .bundles import demo_bundles
from .test_accounts import login

JSON = "application/fhir+json"
XML = "application/fhir+xml"


def _outcome(r: requests.Response, status: int, location: str | None = None) -> dict:
    assert r.status_code == status, (r.status_code, r.text[:300])
    body = r.json()
    assert body["resourceType"] == "OperationOutcome"
    if location is not None:
        assert location in (location_of(body["issue"][0]) or ""), body
    return body


def _versions(store) -> int:
    with store.read_session() as s:
        return s.scalar(select(func.count()).select_from(CaseVersion))


@pytest.fixture
def case(served) -> str:
    r = served.session(served.write_token).post(f"{served.base}/Bundle", data=json.dumps(demo_bundles()[0]),
                                                headers={"Content-Type": JSON}, timeout=30)
    assert r.status_code == 201
    return r.json()["id"]


def test_hostile_bodies_are_refused_and_nothing_is_written(served, case) -> None:
    s = served.session(served.write_token)
    before = _versions(served.store)
    bundle = demo_bundles()[1]
    bodies = [
        (attacks.deep_json(1000), JSON, "Bundle", 400, "body"),
        (attacks.deep_json(1000), JSON, "Bundle/$validate", 400, "body"),
        (json.dumps(attacks.nul_case_key_bundle(bundle)), JSON, "Bundle", 400, "identifier.value"),
        (json.dumps(attacks.control_char_bundle(bundle)), JSON, "Bundle", 400, "resource.title"),
        (attacks.fhir_xml_attributes(64_000), XML, "Bundle/$validate", 400, "body:1"),
        (attacks.fhir_xml_elements(250_000), XML, "Patient/$validate", 400, "body:1"),
    ]
    for body, media, path, status, where in bodies:
        _outcome(s.post(f"{served.base}/{path}", data=body, headers={"Content-Type": media}, timeout=60),
                 status, where)
    assert _versions(served.store) == before


def test_hostile_reads_and_searches_get_4xx_not_500(served, case) -> None:
    s = served.session(served.read_token)
    base = served.base
    cases = [
        (f"Bundle/{case}/_history/999999999999999999999", 404),
        (f"Bundle/{case}/_history/2147483648", 404),
        ("Patient/x/_history/2147483648", 404),
        ("Patient/x/_history/²", 400),
        ("Patient?_cursor=2024-01-01T00:00:00Z~99999999999999999999999", 400),
        ("Patient?_cursor=2024-01-01T00:00:00Z~9223372036854775807", 200),
        ("Patient?_lastUpdated=lt9999", 200),
        ("Patient?_lastUpdated=9999-12-31", 200),
        ("AdverseEvent?date=ge9999-12-31T23:59:59Z", 200),
        ("AdverseEvent?date=0001-01-01T00:00:00%2B14:00", 400),
        ("AdverseEvent?event=a%00b", 400),
        ("Patient/a%00b", 400),
        ("AdverseEvent?event=" + ",".join(f"c{i}" for i in range(99)), 200),
        ("AdverseEvent?" + "&".join("event=" + ",".join(f"s|c{j}" for j in range(99)) for _ in range(9)), 200),
        ("AdverseEvent?event=" + ",".join(f"c{i}" for i in range(900)), 400),
        ("Patient?" + "&".join(f"p{i}=1" for i in range(100)), 400),
        ("Patient?" + "&".join("_id=x" for _ in range(30)), 400),
        ("Patient?_count=99999999999999999999", 400),
    ]
    for path, status in cases:
        r = s.get(f"{base}/{path}", timeout=60)
        assert r.status_code == status, (path, r.status_code, r.text[:200])
        if status >= 400:
            _outcome(r, status)
    assert served.session(served.read_token).get(f"{base}/Bundle", params={"_count": 40, "_format": "xml"},
                                                 timeout=60).status_code == 200


def test_store_token_search_with_900_values(served, case) -> None:
    """Below the web limits, the store itself copes with many alternatives (IN lists, not an OR chain
    deeper than SQLite's expression limit)."""
    from reporter.store import Criteria

    values = [(None, f"c{i}") for i in range(900)] + [("s", f"c{i}") for i in range(900)]
    page = served.store.search("AdverseEvent", Criteria(tokens=[("code", values)]))
    assert page.total == 0


def test_hostile_page_requests_get_error_pages_not_500(served, case) -> None:
    site = served.base.removesuffix("/fhir")
    s = login(served, "pat", role="reviewer")
    for path, status in ((f"/cases/{case}?version=99999999999999999999", 404),
                         (f"/cases/{case}?version=2147483648", 404),
                         (f"/cases/{case}?version=²", 400),
                         (f"/cases/{case}/history?from=²&to=99999999999999999999", 404),
                         ("/cases?q=a%00b", 400),
                         ("/cases?page=²", 200),
                         ("/cases?onset_to=9999-12-31&updated_to=9999-12-31", 200),
                         ("/audit?case=a%00b", 400),
                         ("/audit?before=99999999999999999999999", 200),
                         ("/audit?since=9999-12-31&until=9999-12-31", 200)):
        r = s.get(site + path, timeout=60)
        assert r.status_code == status, (path, r.status_code)
        assert r.headers["Content-Type"].startswith("text/html") and "Traceback" not in r.text
    page = requests.get(f"{site}/login", timeout=30)
    csrf = page.text.split('name="csrf_token" value="')[1].split('"')[0]
    r = requests.post(f"{site}/login", data={"csrf_token": csrf, "username": "a\x00b", "password": "x" * 12},
                      cookies=page.cookies, timeout=30)
    assert r.status_code == 401


def test_stored_control_characters_do_not_break_xml(served) -> None:
    """FHIR XML shows U+FFFD for them (JSON keeps the stored text); E2B export refuses the case with the place."""
    case_id = attacks.store_control_character(served.store, demo_bundles()[1])
    assert "\x01" in served.store.read(case_id).bundle["entry"][0]["resource"]["title"]
    approve(served.store, case_id, 1, "vera")
    s = served.session(served.write_token)
    for path in (f"/Bundle/{case_id}", "/Bundle", "/Composition", f"/Bundle/{case_id}/_history/1"):
        r = s.get(f"{served.base}{path}", params={"_format": "xml"}, timeout=60)
        assert r.status_code == 200, (path, r.text[:300])
        etree.fromstring(r.content, etree.XMLParser(resolve_entities=False, no_network=True))
        assert "Adverse event \ufffd report" in r.content.decode("utf-8"), path
    title = s.get(f"{served.base}/Bundle/{case_id}", timeout=60).json()["entry"][0]["resource"]["title"]
    assert title == "Adverse event \x01 report"
    refused = _outcome(s.get(f"{served.base}/Bundle/{case_id}/$e2b", params={"receiver": "ich"}, timeout=60), 422,
                       "Bundle.entry[0].resource.title")
    assert "U+0001" in refused["issue"][0]["diagnostics"]
    site = served.base.removesuffix("/fhir")
    reviewer = login(served, "pat", role="reviewer")
    page = reviewer.get(f"{site}/cases/{case_id}", timeout=60)
    assert page.status_code == 200 and "cannot be written to E2B XML" in page.text
    r = reviewer.get(f"{site}/cases/{case_id}/download/e2b-ich", timeout=60)
    assert r.status_code == 422 and "U+0001" in r.text
    assert reviewer.get(f"{site}/cases/{case_id}/download/pdf", timeout=120).status_code == 200


def test_search_statements_are_stopped_at_the_time_limit(store, monkeypatch: pytest.MonkeyPatch) -> None:
    """A statement running past search_seconds is stopped by the database (statement_timeout) or SQLite's
    progress handler, and comes back as SearchTooCostly (HTTP 503 with a hint), not a hung worker."""
    from sqlalchemy import text

    from reporter import limits
    from reporter.store.repository import SearchTooCostly
    from reporter.web.outcome import status_for

    real = limits.limit
    monkeypatch.setattr(limits, "limit", lambda name: 0.2 if name == "search_seconds" else real(name))
    endless = {"postgresql": "SELECT pg_sleep(30)",
               "sqlite": "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c"}
    with pytest.raises(SearchTooCostly, match="took too long") as info, store.read_session() as session, \
            store._time_limit(session):
        session.execute(text(endless[store.dialect]))
    assert status_for(info.value) == 503 and "narrow" in info.value.hint
    with store.read_session() as session:  # the limit was for that transaction only
        assert session.execute(text("SELECT 1")).scalar() == 1
