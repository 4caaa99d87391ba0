"""The audit trail, on SQLite and PostgreSQL: written in the transaction of the change it records, append-only
in the database, hash-chained (`reporter audit verify` finds an edited or deleted row), exported as CSV and as
FHIR AuditEvent Bundles, and recording the client behind a trusted proxy."""

from __future__ import annotations

import csv
import io
import json
import threading

import pytest
import requests
from click.testing import CliRunner
from sqlalchemy import func, select, text
from werkzeug.serving import make_server

from reporter.cli import main
from reporter.errors import ReporterError
from reporter.store import CaseStore
from reporter.store.audit import AuditFilter, fhir_bundle, select_events, verify
from reporter.store.schema import AuditEvent, CaseVersion
from reporter.store.tokens import create_token, revoke_token, set_password
from reporter.web import create_app

from .bundles import demo_bundles, follow_up, renamed

JSON = "application/fhir+json"


def unaudited_versions(store: CaseStore) -> list[tuple[str, int]]:
    """Stored versions with no successful C/U audit row naming them: must always be empty."""
    with store.read_session() as s:
        versions = s.execute(select(CaseVersion.case_id, CaseVersion.version)).all()
        audited = set(s.scalars(select(AuditEvent.entity).where(AuditEvent.action.in_(("C", "U")),
                                                                AuditEvent.outcome == "0")))
    return [(c, v) for c, v in versions if f"Bundle/{c}/_history/{v}" not in audited]


def _cli(store: CaseStore, *args: str):
    return CliRunner().invoke(main, [*args, "--database-url", store.url], catch_exceptions=False)


def test_every_write_path_leaves_its_audit_row(served) -> None:
    store = served.store
    s = served.session(served.write_token)
    bundle = demo_bundles()[0]
    r = s.post(f"{served.base}/Bundle", data=json.dumps(bundle), headers={"Content-Type": JSON}, timeout=30)
    assert r.status_code == 201
    case_id = r.json()["id"]
    r = s.put(f"{served.base}/Bundle/{case_id}", data=json.dumps(follow_up(r.json(), "labs")),
              headers={"Content-Type": JSON, "If-Match": 'W/"1"', "X-Reporter-Reason": "new labs"}, timeout=30)
    assert r.status_code == 200
    store.create(renamed(bundle, "direct"), author="test", reason="library call")
    token = create_token(store, ["read"], "audited")
    revoke_token(store, token.split("_")[1])
    set_password(store, "ann", "a long enough password")
    assert unaudited_versions(store) == []
    with store.read_session() as session:
        rows = list(select_events(session, AuditFilter()))
    writes = [(r.subtype, r.action, r.agent.split(":")[0], r.reason) for r in rows if r.action in "CU"]
    assert ("create", "C", "token", None) in writes
    assert ("update", "U", "token", "new labs") in writes
    assert ("create", "C", "test", "library call") in writes  # library callers: the author is the agent
    assert {w[0] for w in writes} >= {"token-create", "token-revoke", "user-create"}
    update = next(r for r in rows if r.subtype == "update" and r.action == "U")
    assert (update.case_id, update.source, update.type) == (case_id, "127.0.0.1", "rest")
    assert update.entity == f"Bundle/{case_id}/_history/2"


def test_a_change_needs_a_reason(served) -> None:
    s = served.session(served.write_token)
    r = s.post(f"{served.base}/Bundle", data=json.dumps(demo_bundles()[1]), headers={"Content-Type": JSON},
               timeout=30)
    case_id = r.json()["id"]
    r2 = s.put(f"{served.base}/Bundle/{case_id}", data=json.dumps(follow_up(r.json(), "why?")),
               headers={"Content-Type": JSON, "If-Match": 'W/"1"'}, timeout=30)
    assert r2.status_code == 400 and "reason" in r2.text
    assert served.store.read(case_id).version == 1


def test_no_change_without_its_audit_row(store: CaseStore) -> None:
    """Fault injection: the database refuses audit inserts. The case write fails whole."""
    guard = {"sqlite": ["CREATE TRIGGER fault BEFORE INSERT ON audit_event BEGIN "
                        "SELECT RAISE(ABORT, 'injected fault'); END"],
             "postgresql": ["CREATE FUNCTION fault() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                            "RAISE EXCEPTION 'injected fault'; END $$",
                            "CREATE TRIGGER fault BEFORE INSERT ON audit_event FOR EACH ROW EXECUTE FUNCTION fault()"]}
    with store.engine.begin() as conn:
        for statement in guard[store.dialect]:
            conn.execute(text(statement))
    with pytest.raises(ReporterError):
        store.create(demo_bundles()[0], author="t", reason="r")
    with store.read_session() as s:
        assert s.scalar(select(func.count()).select_from(CaseVersion)) == 0


def test_the_database_refuses_to_change_audit_rows(store: CaseStore) -> None:
    store.create(demo_bundles()[0], author="t", reason="r")
    for statement in ("UPDATE audit_event SET reason = 'forged'", "DELETE FROM audit_event"):
        with pytest.raises(Exception, match="append-only"), store.engine.begin() as conn:
            conn.execute(text(statement))
    if store.dialect == "postgresql":
        with pytest.raises(Exception, match="append-only"), store.engine.begin() as conn:
            conn.execute(text("TRUNCATE audit_event"))
    with store.read_session() as s:
        assert verify(s).ok and s.scalar(select(AuditEvent.reason)) == "r"


def _drop_guard(store: CaseStore) -> None:
    """What an attacker with the table owner's rights could do; the hash chain must still tell."""
    statements = (["DROP TRIGGER audit_event_append_only ON audit_event"] if store.dialect == "postgresql"
                  else ["DROP TRIGGER audit_event_no_update", "DROP TRIGGER audit_event_no_delete"])
    with store.engine.begin() as conn:
        for statement in statements:
            conn.execute(text(statement))


def test_audit_verify_finds_an_edited_and_a_deleted_row(store: CaseStore) -> None:
    for i, bundle in enumerate(demo_bundles()):
        store.create(bundle, author=f"user:u{i}", reason=f"reason {i}")
        store.audit(subtype="read", action="R", outcome="0", agent=f"user:u{i}", entity=f"Bundle/x{i}")
    ok = _cli(store, "audit", "verify")
    assert ok.exit_code == 0 and "6 audit rows" in ok.output and "chain intact" in ok.output
    head = ok.output.split("head ")[1].split(";")[0]
    assert _cli(store, "audit", "verify", "--expect-rows", "6", "--expect-head", head).exit_code == 0
    _drop_guard(store)
    with store.engine.begin() as conn:
        conn.execute(text("UPDATE audit_event SET agent = 'user:someone-else' WHERE id = 2"))
    edited = _cli(store, "audit", "verify")
    assert edited.exit_code == 1 and "audit row 2: its content does not match its hash" in edited.output
    with store.engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_event WHERE id = 4"))
    deleted = _cli(store, "audit", "verify")
    assert deleted.exit_code == 1 and "audit row 5: does not follow the row before it" in deleted.output
    with store.engine.begin() as conn:  # cutting the tail is seen against the recorded head
        conn.execute(text("DELETE FROM audit_event WHERE id = 6"))
    tail = _cli(store, "audit", "verify", "--expect-rows", "6", "--expect-head", head)
    assert tail.exit_code == 1 and "missing at the end" in tail.output


def test_export_filters_by_case_user_and_period_as_csv_and_fhir(store: CaseStore) -> None:
    from reporter.fhir.models import structure_errors

    a = store.create(demo_bundles()[0], author="user:ann", reason="first")
    store.create(demo_bundles()[1], author="user:bob", reason="second")
    store.audit(subtype="read", action="R", outcome="0", agent="user:bob", entity=f"Bundle/{a.case_id}",
                source="10.1.2.3")
    by_case = _cli(store, "audit", "export", "--case", a.case_id)
    rows = list(csv.DictReader(io.StringIO(by_case.output)))
    assert [(r["agent"], r["subtype"]) for r in rows] == [("user:ann", "create"), ("user:bob", "read")]
    by_user = list(csv.DictReader(io.StringIO(_cli(store, "audit", "export", "--user", "bob").output)))
    assert [r["subtype"] for r in by_user] == ["create", "read"]
    assert _cli(store, "audit", "export", "--since", "2999-01-01").output.count("\n") == 1  # the header only
    assert len(list(csv.DictReader(io.StringIO(_cli(store, "audit", "export", "--until", "2999-01-01").output)))) == 3
    bad = CliRunner().invoke(main, ["audit", "export", "--since", "yesterday", "--database-url", store.url])
    assert bad.exit_code == 2 and "--since" in bad.output and "Traceback" not in bad.output
    bundle = json.loads(_cli(store, "audit", "export", "--case", a.case_id, "--format", "fhir").output)
    assert bundle["resourceType"] == "Bundle" and len(bundle["entry"]) == 2
    assert structure_errors(bundle) == []
    read = bundle["entry"][1]["resource"]
    assert read["agent"][0]["network"] == {"address": "10.1.2.3", "type": "2"}
    assert read["entity"][0]["what"] == {"reference": f"Bundle/{a.case_id}"}
    with store.read_session() as s:
        assert structure_errors(fhir_bundle(select_events(s, AuditFilter()))) == []


@pytest.fixture
def proxied(store: CaseStore):
    app = create_app({"SECRET_KEY": "k", "TRUSTED_PROXIES": "127.0.0.1"}, store=store)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/fhir"
    server.shutdown()
    server.server_close()


def test_behind_a_trusted_proxy_the_client_address_is_recorded_and_hsts_sent(proxied, store: CaseStore) -> None:
    token = create_token(store, ["read"])
    headers = {"Authorization": f"Bearer {token}", "X-Forwarded-For": "198.51.100.7, 127.0.0.1",
               "X-Forwarded-Proto": "https"}
    r = requests.get(f"{proxied}/Patient", headers=headers, timeout=30)
    assert r.status_code == 200 and "max-age" in r.headers["Strict-Transport-Security"]
    assert store.audit_events(1)[0].source == "198.51.100.7"
    # a garbled forwarded address is not believed
    r = requests.get(f"{proxied}/Patient", headers={**headers, "X-Forwarded-For": "not-an-ip"}, timeout=30)
    assert store.audit_events(1)[0].source == "127.0.0.1"


def test_without_trusted_proxies_forwarded_headers_are_ignored(served) -> None:
    r = served.session(served.read_token).get(f"{served.base}/Patient", timeout=30,
                                              headers={"X-Forwarded-For": "203.0.113.9", "X-Forwarded-Proto": "https"})
    assert r.status_code == 200 and "Strict-Transport-Security" not in r.headers
    assert served.store.audit_events(1)[0].source == "127.0.0.1"


def test_a_misconfigured_proxy_list_is_refused_with_its_location(store: CaseStore) -> None:
    with pytest.raises(ReporterError, match="REPORTER_TRUSTED_PROXIES"):
        create_app({"SECRET_KEY": "k", "TRUSTED_PROXIES": "10.0.0.1, proxy.example"}, store=store)


def test_reads_and_writes_racing_keep_one_unbroken_chain(store: CaseStore) -> None:
    # Reads append under the chain's lock only (PostgreSQL: not the store-wide write lock): the chain must still
    # hold every row, each linked to the one before, in id order.
    from reporter.store.audit import AuditContext

    first = store.create(renamed(demo_bundles()[0], "race-0"), author="test")
    errors: list[BaseException] = []

    def reader(n: int) -> None:
        try:
            for _ in range(n):
                store.read_served(first.case_id, AuditContext(agent="reader"))
                store.audit(subtype="search-type", action="E", outcome="0", agent="searcher", entity="Bundle")
        except BaseException as exc:
            errors.append(exc)

    def writer(n: int) -> None:
        try:
            for i in range(n):
                store.create(renamed(demo_bundles()[i % 3], f"race-{i + 1}"), author="writer")
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(6,))] + [
        threading.Thread(target=reader, args=(15,)) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors
    with store.read_session() as s:
        result = verify(s)
        counts = dict(s.execute(select(AuditEvent.agent, func.count()).group_by(AuditEvent.agent)).all())
    assert result.ok, result.problems
    assert counts == {"test": 1, "writer": 6, "reader": 45, "searcher": 45}
    assert unaudited_versions(store) == []
