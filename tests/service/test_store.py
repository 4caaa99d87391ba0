"""The case store on SQLite and PostgreSQL: migrations, versions, index searches, paging, atomic writes."""

from __future__ import annotations

from datetime import timedelta

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import func, select, text

from reporter.errors import InputError, NotFound, StoreConflict, VersionConflict
from reporter.store import CaseStore, Criteria, DateClause, migrate
from reporter.store.fhirdates import parse_range
from reporter.store.schema import ApiToken, AuditEvent, Base, CaseVersion, ResourceIndex
from reporter.store.tokens import create_token, revoke_token, verify_token

from .bundles import demo_bundles, follow_up, renamed


def _counts(store: CaseStore) -> tuple[int, int]:
    with store.read_session() as s:
        return (s.scalar(select(func.count()).select_from(CaseVersion)),
                s.scalar(select(func.count()).select_from(ResourceIndex)))


def test_migrations_reach_head_and_match_the_models(store: CaseStore) -> None:
    assert migrate.current_revision(store.engine) == migrate.head_revision() == "0011_case_identifiers"
    with store.engine.connect() as conn:
        diffs = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": False}), Base.metadata)
    assert diffs == []
    store.upgrade()  # idempotent
    assert migrate.current_revision(store.engine) == "0011_case_identifiers"


def test_versions_are_kept_with_who_when_why(store: CaseStore) -> None:
    bundle = demo_bundles()[0]
    v1 = store.create(bundle, author="token:a", reason="first report")
    assert (v1.version, v1.kind, v1.author, v1.reason) == (1, "initial", "token:a", "first report")
    v2 = store.update(v1.case_id, follow_up(v1.bundle, "follow-up 1"), author="user:b", if_match=1,
                      reason="lab results")
    assert (v2.version, v2.kind) == (2, "follow-up")
    assert v2.recorded > v1.recorded
    assert store.read(v1.case_id).version == 2
    assert store.read(v1.case_id, 1).bundle["entry"][0]["resource"]["title"] == \
        bundle["entry"][0]["resource"]["title"]
    history = store.history(v1.case_id)
    assert [(h.version, h.author, h.reason) for h in history] == [(2, "user:b", "lab results"),
                                                                    (1, "token:a", "first report")]
    # resources follow the current version; older versions stay readable
    patient_id = v1.bundle["entry"][1]["resource"]["id"]
    assert v2.bundle["entry"][1]["resource"]["id"] == patient_id  # server ids stay across versions
    assert store.read_resource("Patient", patient_id).version == 2
    assert store.read_resource("Patient", patient_id, 1).version == 1
    assert [r.version for r in store.resource_history("Patient", patient_id)] == [2, 1]


def nullified(bundle: dict) -> dict:
    """A nullification (C.1.11.1 = 1) of the case of `bundle`."""
    out = follow_up(bundle, "nullified")
    out["entry"][0]["resource"].setdefault("extension", []).append({
        "url": "http://hl7.org/fhir/us/icsr-ae-reporting/StructureDefinition/icsr-ext-reportamendment",
        "extension": [
            {"url": "amendmentType", "valueCodeableConcept": {"coding": [
                {"system": "urn:oid:2.16.840.1.113883.3.989.2.1.1.5", "code": "1"}]}},
            {"url": "amendmentReason", "valueString": "duplicate of another case"}]})
    return out


def test_nullification_closes_the_case(store: CaseStore) -> None:
    v1 = store.create(demo_bundles()[0], author="t")
    v2 = store.update(v1.case_id, nullified(v1.bundle), author="t", if_match=1)
    assert (v2.kind, v2.status, v2.reason) == ("nullification", "nullified", "duplicate of another case")
    with pytest.raises(StoreConflict, match="nullified"):
        store.update(v1.case_id, follow_up(v1.bundle, "again"), author="t", reason="r")


def test_conflicts_and_failed_writes_change_nothing(store: CaseStore) -> None:
    bundle = demo_bundles()[0]
    v1 = store.create(bundle, author="t")
    before = _counts(store)
    with pytest.raises(StoreConflict, match="already stored"):
        store.create(bundle, author="t")
    with pytest.raises(VersionConflict):
        store.update(v1.case_id, follow_up(v1.bundle, "stale"), author="t", if_match=7)
    other_key = follow_up(v1.bundle, "x")
    other_key["entry"][0]["resource"]["identifier"]["value"] = "SOMETHING-ELSE"
    with pytest.raises(InputError, match="not this case's"):
        store.update(v1.case_id, other_key, author="t")
    with pytest.raises(NotFound):
        store.update("no-such-case", bundle, author="t")
    assert _counts(store) == before
    assert store.read(v1.case_id).version == 1
    assert store.search("Patient", Criteria()).total == 1


@pytest.mark.parametrize("broken, where", [
    ({"resourceType": "Patient"}, "resourceType"),
    ({"resourceType": "Bundle", "type": "collection", "entry": []}, "Bundle.type"),
    ({"resourceType": "Bundle", "type": "document", "entry": []}, "Bundle.entry"),
    ({"resourceType": "Bundle", "type": "document",
      "entry": [{"resource": {"resourceType": "Composition", "id": "c"}}]}, "identifier"),
    ({"resourceType": "Bundle", "type": "document",
      "entry": [{"resource": {"resourceType": "Patient", "id": "p"}}]}, "Bundle.entry[0]"),
    ({"resourceType": "Bundle", "type": "document",
      "entry": [{"resource": {"resourceType": "Composition", "id": "bad id!",
                              "identifier": {"value": "X"}}}]}, "id"),
])
def test_bundles_the_store_cannot_key_are_refused_with_a_location(store, broken, where) -> None:
    with pytest.raises(InputError) as err:
        store.create(broken, author="t")
    assert where in (err.value.location or "")
    assert _counts(store) == (0, 0)


def test_index_searches(store: CaseStore) -> None:
    bundles = [renamed(demo_bundles()[0], f"s{i}") for i in range(3)]
    stored = [store.create(b, author="t") for b in bundles]
    patient = next(e["resource"]["id"] for e in stored[1].bundle["entry"]
                   if e["resource"]["resourceType"] == "Patient")
    page = store.search("AdverseEvent", Criteria(patient=[[f"Patient/{patient}"]]))
    assert page.total >= 1
    assert {r.case_id for r in page.resources} == {stored[1].case_id}
    assert store.search("Bundle", Criteria(patient=[[f"Patient/{patient}"]])).total == 1
    ae = next(e["resource"] for e in bundles[0]["entry"] if e["resource"]["resourceType"] == "AdverseEvent")
    coding = ae["event"]["coding"][0]
    by_code = store.search("AdverseEvent", Criteria(tokens=[("event", [(coding["system"], coding["code"])])]))
    assert by_code.total == 3
    assert store.search("AdverseEvent", Criteria(tokens=[("event", [(None, coding["code"])])])).total == 3
    assert store.search("AdverseEvent", Criteria(tokens=[("event", [("urn:other", coding["code"])])])).total == 0
    # _lastUpdated: strictly after the second case's time finds only the third case's Bundle
    after = parse_range(stored[1].meta["lastUpdated"])
    page = store.search("Bundle", Criteria(last_updated=[DateClause("gt", *after)]))
    assert [r.resource_id for r in page.resources] == [stored[2].case_id]
    page = store.search("Bundle", Criteria(last_updated=[DateClause("le", *after)]))
    assert [r.resource_id for r in page.resources] == [stored[0].case_id, stored[1].case_id]
    assert store.search("Bundle", Criteria(ids=[stored[0].case_id])).total == 1


def test_partial_dates_are_ranges(store: CaseStore) -> None:
    bundle = renamed(demo_bundles()[0], "dates")
    obs = next(e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Observation")
    obs.pop("_effectiveDateTime", None)
    obs["effectiveDateTime"] = "2023-04"
    store.create(bundle, author="t")

    def found(prefix: str, value: str) -> int:
        return store.search("Observation", Criteria(date=[DateClause(prefix, *parse_range(value))])).total

    assert found("eq", "2023-04") == 1
    assert found("eq", "2023") == 1
    assert found("eq", "2023-04-10") == 0  # a month is not contained in one of its days
    assert found("ge", "2023-04-10") == 1  # but overlaps the range after it
    assert found("lt", "2023-04-01") == 0
    assert found("gt", "2023-04-30") == 0
    assert found("sa", "2023-03-31") == 1


def test_keyset_paging_sees_every_row_once_even_when_cases_change(store: CaseStore) -> None:
    stored = [store.create(renamed(demo_bundles()[0], f"p{i}"), author="t") for i in range(5)]
    seen: list[str] = []
    page = store.search("Bundle", Criteria(count=2))
    seen += [r.resource_id for r in page.resources]
    # while a client pages, an early case gets a follow-up (its old row leaves the current set)
    store.update(stored[0].case_id, follow_up(stored[0].bundle, "fu"), author="t", reason="fu")
    while page.next_cursor:
        page = store.search("Bundle", Criteria(count=2, cursor=page.next_cursor))
        seen += [r.resource_id for r in page.resources]
    ids = [s.case_id for s in stored]
    assert seen == ids[:2] + ids[2:] + [ids[0]]  # nothing skipped; the updated case comes again, newest last
    desc = store.search("Bundle", Criteria(sort=[("_lastUpdated", True)], count=10))
    assert [r.resource_id for r in desc.resources] == [ids[0], *reversed(ids[1:])]
    times = [r.last_updated for r in store.search("Bundle", Criteria(count=10)).resources]
    assert times == sorted(times) and len(set(times)) == len(times)


def test_totals_are_exact_counted_up_to_the_limit_or_free(store: CaseStore, monkeypatch) -> None:
    from reporter import limits

    ids = [store.create(renamed(demo_bundles()[0], f"t{i}"), author="t").case_id for i in range(5)]
    real = limits.limit
    monkeypatch.setattr(limits, "limit", lambda name: 3 if name == "search_total_counted" else real(name))
    assert store.search("Bundle", Criteria(count=2)).total == 5  # accurate unless asked otherwise (store default)
    bounded = store.search("Bundle", Criteria(count=2, total="counted"))
    assert bounded.total is None and len(bounded.resources) == 2 and bounded.next_cursor  # 5 > 3: left out
    assert store.search("Bundle", Criteria(count=2, ids=ids[:3], total="counted")).total == 3  # within the limit
    assert store.search("Bundle", Criteria(count=2, ids=ids[:3], total="page")).total is None  # would cost a count
    # a first page holding every match is its own total; a later page counts
    assert store.search("Bundle", Criteria(count=10, total="page")).total == 5
    assert store.search("Bundle", Criteria(count=0)).total == 5  # _summary=count: no page, still counted
    assert store.search("Bundle", Criteria(count=0, total="counted")).total is None
    page = store.search("Bundle", Criteria(count=2, ids=ids[:3]))
    assert store.search("Bundle", Criteria(count=2, ids=ids[:3], cursor=page.next_cursor)).total == 3
    store.update(ids[0], nullified(store.read(ids[0]).bundle), author="t", reason="duplicate")
    assert store.search("Patient", Criteria(count=10, total="page")).total == 4  # the nullified case's: out


def test_timestamps_stay_strictly_increasing_when_the_clock_steps_back(store, monkeypatch) -> None:
    from reporter.store import repository

    first = store.create(renamed(demo_bundles()[0], "c1"), author="t")
    monkeypatch.setattr(repository, "_now", lambda: first.recorded - timedelta(hours=1))
    second = store.create(renamed(demo_bundles()[0], "c2"), author="t")
    assert second.recorded > first.recorded


def test_tokens_are_stored_hashed_and_can_be_revoked(store: CaseStore) -> None:
    token = create_token(store, ["read"], "engine A")
    info = verify_token(store, token)
    assert info is not None and info.scopes == {"read"}
    with store.read_session() as s:
        stored = s.scalars(select(ApiToken)).one()
    assert token.split("_", 2)[2] not in stored.secret_hash
    assert verify_token(store, token[:-1] + ("A" if token[-1] != "A" else "B")) is None
    assert verify_token(store, "rpt_nonsense") is None
    with pytest.raises(InputError):
        create_token(store, ["admin"])
    assert revoke_token(store, info.id)
    assert verify_token(store, token) is None


def test_audit_rows_are_appended(store: CaseStore) -> None:
    store.audit(subtype="read", action="R", outcome="0", agent="token:x", entity="Bundle/1", source="127.0.0.1")
    rows = store.audit_events()
    assert [(r.subtype, r.action, r.outcome, r.agent, r.entity) for r in rows] == \
        [("read", "R", "0", "token:x", "Bundle/1")]
    with store.read_session() as s:
        assert s.scalar(select(func.count()).select_from(AuditEvent)) == 1
        assert s.execute(text("SELECT 1")).scalar() == 1


def test_casefile_is_kept_beside_its_version_and_migrations_go_both_ways(store: CaseStore) -> None:
    bundle = demo_bundles()[0]
    v1 = store.create(bundle, author="user:a", casefile={"case_id": "X", "report": {}})
    assert store.read(v1.case_id).casefile == {"case_id": "X", "report": {}}
    v2 = store.update(v1.case_id, follow_up(v1.bundle, "no case file"), author="token:t", reason="r")
    assert store.read(v1.case_id, 2).casefile is None and v2.casefile is None
    assert [v.casefile is not None for v in store.history(v1.case_id)] == [False, True]
    migrate.downgrade(store.engine, "0001")
    assert migrate.current_revision(store.engine) == "0001"
    store.upgrade()
    assert store.read(v1.case_id, 1).casefile is None  # the column came back empty, the versions stayed


def test_an_update_overtaken_by_another_is_made_again_under_the_lock(store: CaseStore, monkeypatch) -> None:
    # An update's stored forms are made before the write lock from the version current then; when another
    # update lands first, they are stale and must be made again under the lock (tabulation rows carry the
    # version they belong to, so stale forms would show there).
    from reporter.store import repository
    from reporter.store.schema import CaseReaction

    first = store.create(demo_bundles()[0], author="t")
    made = []
    real_early = repository.CaseStore._early_update

    def overtaken(self, incoming, case_id):
        early = real_early(self, incoming, case_id)
        made.append(early.version)
        if len(made) == 1:  # another writer's update lands in between
            store.update(case_id, follow_up(store.read(case_id).bundle, "other writer"), author="other",
                         reason="first")
        return early

    monkeypatch.setattr(repository.CaseStore, "_early_update", overtaken)
    stored = store.update(first.case_id, follow_up(first.bundle, "late"), author="t", reason="second")
    assert made == [2, 2] and stored.version == 3  # both made for version 2; the late one was stored as 3
    with store.read_session() as s:
        rows = s.execute(select(CaseReaction.version)).scalars().all()
        current = s.execute(select(ResourceIndex.version).where(ResourceIndex.is_current.is_(True))
                            .where(ResourceIndex.case_id == first.case_id)).scalars().all()
    assert rows and set(rows) == {3}
    assert set(current) == {3}
    assert "(late)" in store.read(first.case_id).bundle["entry"][0]["resource"]["title"]
