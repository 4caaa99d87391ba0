"""The attack table: each hostile input of the reliability review (issue 17), sent to the running app over
loopback HTTP (SQLite, and PostgreSQL when REPORTER_TEST_POSTGRES_URL is set) or to the library entry point the
CLI uses, with the answer and the time it took. The tests (tests/hostile, tests/service/test_hostile_http.py)
assert the refusals; this prints how fast they are.

    PYTHONPATH=. REPORTER_SHARED_DIR=../shared REPORTER_E2B_SCHEMA_DIR=../shared/e2b/schema python bench/attacks.py
"""

from __future__ import annotations

import json
import logging
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests
from werkzeug.serving import make_server

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from reporter.errors import ReporterError  # noqa: E402
from tests.hostile import attacks as A  # noqa: E402
from tests.service.bundles import demo_bundles  # noqa: E402

JSON, XML = "application/fhir+json", "application/fhir+xml"


def _serve(url: str):
    from reporter.store import CaseStore
    from reporter.store.tokens import create_token
    from reporter.web import create_app

    store = CaseStore(url)
    app = create_app({"SECRET_KEY": "attacks", "E2B_SCHEMA_DIR": None}, store=store)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    token = create_token(store, ["read", "write", "submit"])
    return server, store, f"http://127.0.0.1:{server.server_port}/fhir", {"Authorization": f"Bearer {token}"}


def http_attacks(backend: str, url: str) -> list[tuple]:
    server, store, base, auth = _serve(url)
    s = requests.Session()
    s.headers.update(auth)
    b = demo_bundles()
    case = s.post(f"{base}/Bundle", data=json.dumps(b[0]), headers={"Content-Type": JSON}, timeout=60).json()["id"]
    from reporter.store.approvals import approve

    stored = A.store_control_character(store, b[2])  # stored before input refused control characters
    approve(store, stored, 1, "attack-reviewer")  # so that $e2b reaches the export
    post = {"Content-Type": JSON}
    cases = [
        ("JSON nested 1,000 deep (POST Bundle)", "post", "Bundle", A.deep_json(1000), post),
        ("JSON nested 100,000 deep ($validate)", "post", "Bundle/$validate", A.deep_json(100_000), post),
        ("_history/999999999999999999999", "get", f"Bundle/{case}/_history/999999999999999999999", None, None),
        ("_history/2147483648 (>= 2^31)", "get", "Patient/x/_history/2147483648", None, None),
        ("paging cursor with huge row id", "get", "Patient?_cursor=2024-01-01T00:00:00Z~" + "9" * 25, None, None),
        ("_lastUpdated=lt9999", "get", "Patient?_lastUpdated=lt9999", None, None),
        ("date=9999-12-31", "get", "AdverseEvent?date=9999-12-31", None, None),
        ("900 token values", "get", "AdverseEvent?event=" + ",".join(f"c{i}" for i in range(900)), None, None),
        ("9 x 99 token values", "get", "AdverseEvent?" + "&".join(
            "code=" + ",".join(f"s|c{j}" for j in range(99)) for _ in range(9)), None, None),
        ("NUL in a search value", "get", "AdverseEvent?event=a%00b", None, None),
        ("NUL in an id", "get", "Patient/a%00b", None, None),
        ("NUL in the case key (POST)", "post", "Bundle", json.dumps(A.nul_case_key_bundle(b[1])), post),
        ("control character in text (POST)", "post", "Bundle", json.dumps(A.control_char_bundle(b[1])), post),
        ("FHIR XML, 64k attributes ($validate)", "post", "Bundle/$validate", A.fhir_xml_attributes(64_000),
         {"Content-Type": XML}),
        ("FHIR XML, 200k attributes ($validate)", "post", "Bundle/$validate", A.fhir_xml_attributes(200_000),
         {"Content-Type": XML}),
        ("FHIR XML, 250k elements ($validate)", "post", "Patient/$validate", A.fhir_xml_elements(250_000),
         {"Content-Type": XML}),
        ("100 query parameters", "get", "Patient?" + "&".join(f"p{i}=1" for i in range(100)), None, None),
        ("_count=40&_format=xml (2 cases)", "get", "Bundle?_count=40&_format=xml", None, None),
        ("stored control character: XML search", "get", "Composition?_format=xml", None, None),
        ("stored control character: $e2b", "get", f"Bundle/{stored}/$e2b", None, None),
    ]
    rows = []
    for name, method, path, body, headers in cases:
        started = time.perf_counter()
        r = s.request(method.upper(), f"{base}/{path}", data=body, headers=headers, timeout=300)
        rows.append((backend, name, r.status_code, (time.perf_counter() - started) * 1000))
    server.shutdown()
    store.dispose()
    return rows


def library_attacks(shared: Path) -> list[tuple]:
    from reporter.casefile.parse import load_data
    from reporter.e2b import xmlsafe
    from reporter.e2b.importer import import_loaded

    source = A.e2b_source(shared)
    inputs = [
        ("YAML alias bomb (validate/fhir)", lambda: load_data(A.YAML_ALIAS_BOMB, "bomb.yaml")),
        ("case file JSON nested 1,000 deep", lambda: load_data(A.deep_case_json(1000), "deep.json")),
        ("E2B, ~10,000 XSD errors (import)", lambda: import_loaded(xmlsafe.parse_bytes(
            A.e2b_many_errors(source), "errors.xml"))),
        ("E2B, 200k attributes spread (import)", lambda: import_loaded(xmlsafe.parse_bytes(
            A.e2b_many_attributes(source), "attrs.xml"))),
        ("E2B, 200k attributes on one element", lambda: import_loaded(xmlsafe.parse_bytes(
            A.e2b_one_element_attributes(source), "attrs1.xml"))),
        ("E2B with an XInclude element (import)", lambda: import_loaded(xmlsafe.parse_bytes(
            A.e2b_xinclude(source), "xinclude.xml"))),
    ]
    rows = []
    for name, run in inputs:
        started = time.perf_counter()
        try:
            result = run()
            outcome = "read" if not hasattr(result, "reports") else (
                "rejected (reported)" if not any(r.ok for r in result.reports) else "imported")
        except ReporterError as exc:
            outcome = f"refused: {exc.message[:40]}"
        rows.append(("library", name, outcome, (time.perf_counter() - started) * 1000))
    return rows


def main() -> None:
    logging.disable(logging.WARNING)
    shared = Path(os.environ.get("REPORTER_SHARED_DIR") or REPO.parent / "shared")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        rows += http_attacks("sqlite", f"sqlite:///{tmp}/attacks.sqlite3")
    admin = os.environ.get("REPORTER_TEST_POSTGRES_URL")
    if admin:
        sys.path.insert(0, str(REPO / "bench"))
        from service import fresh_postgres_db

        url, drop = fresh_postgres_db(admin)
        try:
            rows += http_attacks("postgresql", url)
        finally:
            drop()
    rows += library_attacks(shared)
    print(f"{'where':<11} {'attack':<40} {'answer':<34} {'ms':>8}")
    for where, name, answer, ms in rows:
        print(f"{where:<11} {name:<40} {answer!s:<34} {ms:8.0f}")


if __name__ == "__main__":
    main()
