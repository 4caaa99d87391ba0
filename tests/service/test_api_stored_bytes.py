"""The API's fast paths over HTTP on loopback: Bundles read and searched as their stored bytes (the same bytes the
parsing path writes), a read audited in its own transaction, gzip on request, and the pool sized for the threads."""

from __future__ import annotations

import gzip
import json

import orjson
import pytest
import requests
from sqlalchemy import text

from reporter.store import CaseStore
from reporter.store.audit import verify
from reporter.store.repository import json_text, with_meta_bytes
from reporter.store.schema import AuditEvent

from .bundles import demo_bundles, follow_up, renamed

JSON = "application/fhir+json"


def _create(served, tag: str) -> dict:
    r = served.session(served.write_token).post(f"{served.base}/Bundle", data=json.dumps(renamed(
        demo_bundles()[0], tag)), headers={"Content-Type": JSON}, timeout=30)
    assert r.status_code == 201, r.text[:500]
    return r.json()


def _get(served, path: str, **headers) -> requests.Response:
    return served.session(served.read_token).get(f"{served.base}/{path}", headers=headers, timeout=30)


def test_read_serves_the_bytes_the_parsing_path_writes(served) -> None:
    created = _create(served, "bytes")
    fast = _get(served, f"Bundle/{created['id']}")
    # If-None-Match naming another version takes the parsing path (parse, add meta, serialise): same bytes
    parsed = _get(served, f"Bundle/{created['id']}", **{"If-None-Match": 'W/"9"'})
    assert fast.status_code == parsed.status_code == 200
    assert fast.content == parsed.content
    assert fast.headers["ETag"] == parsed.headers["ETag"] == 'W/"1"'
    assert fast.headers["Content-Type"] == parsed.headers["Content-Type"] == f"{JSON}; charset=utf-8"
    body = fast.json()
    assert body == created and list(body)[-1] == "meta" and body["id"] == created["id"]
    stored = served.store.read(created["id"])
    assert body == {**stored.bundle, "meta": stored.meta}
    # a new version: the read follows the case's current version
    s = served.session(served.write_token)
    r = s.put(f"{served.base}/Bundle/{created['id']}", data=json.dumps(follow_up(created, "v2")),
              headers={"Content-Type": JSON, "If-Match": 'W/"1"', "X-Reporter-Reason": "new labs"}, timeout=30)
    assert r.status_code == 200
    again = _get(served, f"Bundle/{created['id']}")
    assert again.headers["ETag"] == 'W/"2"' and again.json()["meta"]["versionId"] == "2"
    assert again.json()["entry"][0]["resource"]["title"].endswith("(v2)")


def test_search_page_is_assembled_from_stored_bytes(served) -> None:
    ids = [_create(served, f"page{i}")["id"] for i in range(3)]
    page = _get(served, "Bundle?_count=2&_sort=_lastUpdated")
    assert page.status_code == 200
    body = page.json()
    assert body["resourceType"] == "Bundle" and body["type"] == "searchset"
    assert "total" not in body  # more matches than the page: no count unless asked for (README, _total)
    assert _get(served, "Bundle?_count=2&_sort=_lastUpdated&_total=accurate").json()["total"] == 3
    assert [e["resource"]["id"] for e in body["entry"]] == ids[:2]
    assert [link["relation"] for link in body["link"]] == ["self", "next"]
    for entry in body["entry"]:
        read = _get(served, f"Bundle/{entry['resource']['id']}")
        assert read.content in page.content  # the same bytes, byte for byte
        assert entry == {"fullUrl": f"{served.base}/Bundle/{entry['resource']['id']}", "resource": read.json(),
                         "search": {"mode": "match"}}
    rest = _get(served, body["link"][1]["url"].split("/fhir/", 1)[1]).json()
    assert [e["resource"]["id"] for e in rest["entry"]] == ids[2:]
    # the parsing path (XML, _elements) still answers, with the same resources
    shaped = _get(served, "Bundle?_count=2&_sort=_lastUpdated&_elements=type").json()
    assert [e["resource"]["id"] for e in shaped["entry"]] == ids[:2]
    assert all("entry" not in e["resource"] for e in shaped["entry"])
    xml = _get(served, "Bundle?_count=1&_format=xml")
    assert xml.status_code == 200 and xml.headers["Content-Type"].startswith("application/fhir+xml")
    empty = _get(served, "Bundle?_id=nothing-here").json()
    assert empty["total"] == 0 and "entry" not in empty
    other = _get(served, "Patient?_count=1").json()  # not a Bundle: parsed (its own meta is merged)
    assert other["entry"][0]["resource"]["meta"]["versionId"] == "1"


def test_text_stored_by_the_former_serialiser_is_served_the_same(served) -> None:
    """Rows written before the store kept compact JSON (json.dumps with spaces and \\u escapes) are served as
    the same resources."""
    created = _create(served, "legacy")
    before = _get(served, f"Bundle/{created['id']}").json()
    searched = _get(served, f"Bundle?_id={created['id']}").json()["entry"][0]["resource"]
    store: CaseStore = served.store
    value = "CAST(:t AS json)" if store.dialect == "postgresql" else ":t"
    former = json.dumps(store.read(created["id"]).bundle)  # ensure_ascii, ", " and ": "
    with store.engine.begin() as conn:
        conn.execute(text(f"UPDATE case_version SET bundle = {value} WHERE case_id = :c"),
                     {"t": former, "c": created["id"]})
        conn.execute(text(f"UPDATE resource_index SET resource = {value} WHERE case_id = :c AND "
                          "resource_type = 'Bundle'"), {"t": former, "c": created["id"]})
    raw = _get(served, f"Bundle/{created['id']}")
    assert b'", "' in raw.content  # the stored text, as it is
    assert raw.json() == before
    assert _get(served, f"Bundle?_id={created['id']}").json()["entry"][0]["resource"] == searched


def test_with_meta_bytes_matches_the_parsed_form() -> None:
    from datetime import UTC, datetime

    from reporter.store.fhirdates import format_instant

    when = datetime(2024, 5, 1, 10, 0, 0, 123456, tzinfo=UTC)
    resource = {"resourceType": "Bundle", "id": "x", "type": "document", "entry": [{"resource": {
        "resourceType": "Patient", "meta": {"profile": ["p"]}, "name": [{"text": "Zoë \"Q\" \\ 東京"}]}}]}
    expected = orjson.dumps({**resource, "meta": {"versionId": "3", "lastUpdated": format_instant(when)}})
    assert with_meta_bytes(json_text(resource), 3, when) == expected
    assert json.loads(with_meta_bytes(json.dumps(resource), 3, when)) == json.loads(expected)
    with pytest.raises(ValueError):
        with_meta_bytes("{}", 1, when)


def test_read_leaves_one_audit_row_committed_with_it(served) -> None:
    created = _create(served, "audit")
    store: CaseStore = served.store
    before = len(store.audit_events(limit=1000))
    r = _get(served, f"Bundle/{created['id']}?_format=json")
    assert r.status_code == 200
    rows = store.audit_events(limit=1000)
    assert len(rows) == before + 1
    row: AuditEvent = rows[0]
    assert (row.subtype, row.action, row.outcome, row.entity, row.case_id, row.detail, row.query, row.type) == (
        "read", "R", "0", f"Bundle/{created['id']}", created["id"], "GET 200", "_format=json", "rest")
    assert row.agent.startswith("token:") and row.source == "127.0.0.1"
    missing = _get(served, "Bundle/no-such-case")
    assert missing.status_code == 404
    row = store.audit_events(limit=1)[0]
    assert (row.subtype, row.outcome, row.entity, row.detail) == ("read", "4", "Bundle/no-such-case", "GET 404")
    with store.read_session() as session:
        assert verify(session).ok


def test_read_is_refused_when_its_audit_row_cannot_be_written(served) -> None:
    created = _create(served, "refused")
    store: CaseStore = served.store
    if store.dialect == "postgresql":
        ddl = ["CREATE FUNCTION test_refuse_audit() RETURNS trigger AS $$ BEGIN RAISE EXCEPTION 'refused'; END $$ "
               "LANGUAGE plpgsql",
               "CREATE TRIGGER test_refuse_audit BEFORE INSERT ON audit_event FOR EACH ROW "
               "EXECUTE FUNCTION test_refuse_audit()"]
        undo = ["DROP TRIGGER test_refuse_audit ON audit_event", "DROP FUNCTION test_refuse_audit()"]
    else:
        ddl = ["CREATE TRIGGER test_refuse_audit BEFORE INSERT ON audit_event BEGIN SELECT RAISE(ABORT, 'refused'); "
               "END"]
        undo = ["DROP TRIGGER test_refuse_audit"]
    rows = len(store.audit_events(limit=1000))
    with store.engine.begin() as conn:
        for statement in ddl:
            conn.execute(text(statement))
    try:
        r = _get(served, f"Bundle/{created['id']}")
        assert r.status_code == 503, r.text[:300]
        assert r.json()["resourceType"] == "OperationOutcome" and "audit trail" in r.text
        assert created["entry"][0]["resource"]["title"] not in r.text
    finally:
        with store.engine.begin() as conn:
            for statement in undo:
                conn.execute(text(statement))
    assert len(store.audit_events(limit=1000)) == rows  # no row says the refused read happened
    assert _get(served, f"Bundle/{created['id']}").status_code == 200


def test_gzip_when_the_client_asks(served) -> None:
    created = _create(served, "gzip")
    plain = _get(served, f"Bundle/{created['id']}", **{"Accept-Encoding": "identity"})
    assert "Content-Encoding" not in plain.headers and "Accept-Encoding" in plain.headers["Vary"]
    packed = _get(served, f"Bundle/{created['id']}", **{"Accept-Encoding": "gzip"})
    assert packed.headers["Content-Encoding"] == "gzip" and "Accept-Encoding" in packed.headers["Vary"]
    assert int(packed.headers["Content-Length"]) < len(plain.content) / 3
    assert packed.content == plain.content  # requests decompressed it
    assert packed.headers["ETag"] == plain.headers["ETag"]
    raw = served.session(served.read_token).get(f"{served.base}/Bundle/{created['id']}", stream=True, timeout=30,
                                                headers={"Accept-Encoding": "gzip"})
    assert gzip.decompress(raw.raw.read(decode_content=False)) == plain.content
    for header, compressed in (("gzip;q=0", False), ("*", True), ("br, gzip;q=0.5", True), ("br", False)):
        r = _get(served, f"Bundle/{created['id']}", **{"Accept-Encoding": header})
        assert (r.headers.get("Content-Encoding") == "gzip") is compressed, header
    page = _get(served, "Bundle?_count=5", **{"Accept-Encoding": "gzip"})
    assert page.headers["Content-Encoding"] == "gzip" and page.json()["entry"][0]["resource"] == plain.json()
    xml = _get(served, f"Bundle/{created['id']}?_format=xml", **{"Accept-Encoding": "gzip"})
    assert xml.headers["Content-Encoding"] == "gzip" and xml.content.startswith(b"<")
    small = _get(served, "Bundle/no-such-case", **{"Accept-Encoding": "gzip"})  # an outcome under 1 kB
    assert small.status_code == 404 and "Content-Encoding" not in small.headers
    unchanged = _get(served, f"Bundle/{created['id']}", **{"Accept-Encoding": "gzip", "If-None-Match": 'W/"1"'})
    assert unchanged.status_code == 304 and unchanged.content == b"" and "Content-Encoding" not in unchanged.headers
    page_html = requests.get(served.base.rsplit("/fhir", 1)[0] + "/login", headers={"Accept-Encoding": "gzip"},
                             timeout=30)
    assert page_html.status_code == 200 and "Content-Encoding" not in page_html.headers  # pages: never (BREACH)


def test_gzip_threshold_setting(store) -> None:
    from reporter.web import create_app

    app = create_app({"SECRET_KEY": "t", "GZIP_MIN_BYTES": 0}, store=store)
    r = app.test_client().get("/fhir/metadata", headers={"Accept-Encoding": "gzip"})
    assert r.status_code == 200 and "Content-Encoding" not in r.headers and len(r.data) > 1024
    app = create_app({"SECRET_KEY": "t"}, store=store)
    r = app.test_client().get("/fhir/metadata", headers={"Accept-Encoding": "gzip"})
    assert r.headers["Content-Encoding"] == "gzip" and json.loads(gzip.decompress(r.data))["resourceType"] == \
        "CapabilityStatement"


def test_pool_is_sized_for_the_worker_threads(db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from gunicorn.config import Config

    from reporter.web import settings_from_env
    from reporter.web.workers import gunicorn_threads

    class Worker:  # what gunicorn's worker is to the code it imports: an object with its resolved cfg
        def __init__(self, threads: int) -> None:
            self.cfg = Config()
            self.cfg.set("threads", threads)

        def settings(self) -> dict:
            return settings_from_env()

    assert gunicorn_threads() is None
    monkeypatch.delenv("REPORTER_DB_POOL_SIZE", raising=False)
    assert Worker(6).settings()["DB_POOL_SIZE"] == 8  # six threads and the background workers
    assert settings_from_env()["DB_POOL_SIZE"] is None  # outside gunicorn: the store's default
    monkeypatch.setenv("REPORTER_DB_POOL_SIZE", "3")
    assert Worker(6).settings()["DB_POOL_SIZE"] == 3
    store = CaseStore(db_url, pool_size=5)
    try:
        if store.dialect == "postgresql":
            assert store.engine.pool.size() == 5
        assert store.audit_events(limit=1) == []
    finally:
        store.dispose()


def test_a_duplicate_json_property_is_refused_by_name(store) -> None:
    from reporter.store.tokens import create_token
    from reporter.web import create_app

    token = create_token(store, ["read", "write"], "dup")
    client = create_app({"SECRET_KEY": "t"}, store=store).test_client()
    body = json.dumps(demo_bundles()[0])
    nested = body.replace('"resourceType": "Patient"', '"resourceType": "Patient", "gender": "x", "gender": "y"', 1)
    for data, name in ((body.replace("{", '{"type": "collection", ', 1), "type"), (nested, "gender")):
        r = client.post("/fhir/Bundle", data=data, headers={"Authorization": f"Bearer {token}", "Content-Type": JSON})
        assert r.status_code == 400, r.data[:300]
        assert f"duplicate JSON property {name!r}" in r.get_json()["issue"][0]["diagnostics"]
