"""The audit trail: append-only rows chained by SHA-256, written in the transaction of what they record.

Each row stores ``prev_hash`` (the hash of the row before it, "" for the first) and ``hash`` =
SHA-256 over ``prev_hash`` and the row's own fields. Editing a row breaks its hash; deleting a row
breaks the next row's ``prev_hash``; both are found by :func:`verify`. Removing rows from the end is
found by comparing with a head (count and hash) recorded elsewhere: :func:`verify` reports it.

Every append first takes the chain's own lock (PostgreSQL: a transaction-level advisory lock, held to the
commit; SQLite: its single writer lock, which every write transaction holds), so the chain has a single
order: the row id order. Case writes also hold the store-wide write lock; reads and refused writes take only
the chain's lock (``CaseStore.side_write_session``), so on PostgreSQL a read waits for a case write only from the
moment that write appends its row until it commits, not for the whole write. The database refuses UPDATE
and DELETE on the table (triggers from migration 0003); the hashes catch whoever bypasses that (a table
owner dropping them).
"""

from __future__ import annotations

import csv
import getpass
import hashlib
import io
import json
import socket
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import Connection, insert, select, text
from sqlalchemy.orm import Session

from reporter.store.schema import AuditEvent

_HASHED = ("recorded", "type", "subtype", "action", "outcome", "agent", "source", "entity", "case_id",
           "query", "reason", "detail")
_LIMITS = {"agent": 128, "source": 64, "entity": 255, "case_id": 64, "query": 2000, "reason": 2000,
           "detail": 2000, "subtype": 32}


@dataclass(frozen=True)
class AuditContext:
    """Who acts and from where: what the caller knows of an audit record before the store writes it.

    kind: rest (API), user (pages) or system (CLI). detail: e.g. "POST 201"."""

    agent: str
    source: str | None = None
    kind: str = "rest"
    subtype: str | None = None
    detail: str | None = None
    query: str | None = None


def cli_context() -> AuditContext:
    """The person at the terminal: their OS account on this host."""
    try:
        who = getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (containers)
        who = "unknown"
    return AuditContext(agent=f"cli:{who}", source=f"local:{socket.gethostname()}", kind="system")


def clean(value: str | None, limit: int) -> str | None:
    """Text as stored: NUL (which PostgreSQL text cannot hold) escaped, cut to the column's size."""
    if value is None or value == "":
        return None
    return value.replace("\x00", "\\x00")[:limit]


def _stamp(value: datetime) -> str:
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="microseconds")


def row_hash(prev_hash: str, fields: dict) -> str:
    payload = [prev_hash] + [_stamp(fields[k]) if k == "recorded" else fields.get(k) for k in _HASHED]
    return hashlib.sha256(json.dumps(payload, ensure_ascii=True, separators=(",", ":")).encode()).hexdigest()


PG_CHAIN_LOCK = 72_340_010  # the advisory lock every append takes on PostgreSQL (write lock: 72_340_001)
_LOCK_CHAIN = text("SELECT pg_advisory_xact_lock(:k)").bindparams(k=PG_CHAIN_LOCK)


def _head(conn: Connection) -> str:
    return conn.execute(_HEAD).scalar() or ""


_HEAD = select(AuditEvent.__table__.c.hash).order_by(AuditEvent.__table__.c.id.desc()).limit(1)


def append(session: Session | Connection, *, recorded: datetime, subtype: str, action: str, outcome: str, agent: str,
           kind: str = "rest", source: str | None = None, entity: str | None = None,
           case_id: str | None = None, query: str | None = None, reason: str | None = None,
           detail: str | None = None) -> None:
    """Add one row to the chain inside the caller's transaction (a write transaction: write_session,
    side_write_session or side_write_connection), under the chain's lock."""
    conn = session.connection() if isinstance(session, Session) else session
    fields = {"recorded": recorded, "type": kind, "subtype": clean(subtype, 32) or "unknown", "action": action,
              "outcome": outcome, "agent": clean(agent, 128) or "anonymous", "source": clean(source, 64),
              "entity": clean(entity, 255), "case_id": clean(case_id, 64), "query": clean(query, 2000),
              "reason": clean(reason, 2000), "detail": clean(detail, 2000)}
    if conn.dialect.name == "postgresql":
        conn.execute(_LOCK_CHAIN)  # then the head below is the last committed row (read committed)
    prev = _head(conn)
    # a Core INSERT (no ORM instance to build and flush): every API read appends one of these
    conn.execute(_INSERT, {**fields, "prev_hash": prev, "hash": row_hash(prev, fields)})


_INSERT = insert(AuditEvent.__table__)


# --- verification ----------------------------------------------------------------------------------------

@dataclass
class Verification:
    rows: int = 0
    head: str = ""
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def _fields(row: AuditEvent) -> dict:
    return {k: getattr(row, k) for k in _HASHED}


def verify(session: Session, *, expect_rows: int | None = None, expect_head: str | None = None) -> Verification:
    """Walk the chain in id order: every row's hash and its link to the row before it."""
    result = Verification()
    prev = ""
    query = select(AuditEvent).order_by(AuditEvent.id).execution_options(yield_per=2000)
    for row in session.scalars(query):
        result.rows += 1
        if row.prev_hash != prev:
            result.problems.append(f"audit row {row.id}: does not follow the row before it "
                                   "(a row was deleted or inserted before it)")
        if row.hash != row_hash(row.prev_hash or "", _fields(row)):
            result.problems.append(f"audit row {row.id}: its content does not match its hash (edited)")
        prev = row.hash or ""
    result.head = prev
    if expect_rows is not None and result.rows < expect_rows:
        result.problems.append(f"{expect_rows - result.rows} row(s) missing at the end "
                               f"({result.rows} stored, {expect_rows} expected)")
    if expect_head is not None and expect_rows is not None and result.rows >= expect_rows:
        rows = list(session.scalars(select(AuditEvent.hash).order_by(AuditEvent.id)
                                    .offset(expect_rows - 1).limit(1))) if expect_rows else [""]
        if (rows[0] if rows else "") != expect_head:
            result.problems.append(f"row {expect_rows} does not carry the recorded head hash")
    return result


# --- review and export -----------------------------------------------------------------------------------

@dataclass
class AuditFilter:
    case_id: str | None = None
    agent: str | None = None  # exact agent ("user:ann", "token:ab12...") or a bare name matching user:/cli:
    since: datetime | None = None
    until: datetime | None = None
    limit: int | None = None
    before_id: int | None = None  # paging: rows older than this id


def select_events(session: Session, f: AuditFilter) -> Iterator[AuditEvent]:
    query = select(AuditEvent)
    if f.case_id:
        query = query.where(AuditEvent.case_id == f.case_id)
    if f.agent:
        names = [f.agent] if ":" in f.agent else [f"user:{f.agent}", f"cli:{f.agent}", f"token:{f.agent}"]
        query = query.where(AuditEvent.agent.in_(names))
    if f.since:
        query = query.where(AuditEvent.recorded >= f.since)
    if f.until:
        query = query.where(AuditEvent.recorded < f.until)
    if f.before_id:
        query = query.where(AuditEvent.id < f.before_id)
    query = query.order_by(AuditEvent.id.desc() if f.limit else AuditEvent.id)
    if f.limit:
        query = query.limit(f.limit)
    yield from session.scalars(query.execution_options(yield_per=2000))


CSV_COLUMNS = ("id", "recorded", "type", "subtype", "action", "outcome", "agent", "source", "entity", "case_id",
               "reason", "query", "detail", "prev_hash", "hash")


def to_csv(rows: Iterator[AuditEvent]) -> Iterator[str]:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for row in rows:
        writer.writerow([_stamp(row.recorded) + "Z" if c == "recorded" else getattr(row, c) or ""
                         for c in CSV_COLUMNS])
        yield buf.getvalue()
        buf.seek(0)
        buf.truncate()
    yield buf.getvalue()


_OUTCOME = {"0": "0", "4": "4", "8": "8", "12": "12"}
_TYPE_SYSTEM = "http://terminology.hl7.org/CodeSystem/audit-event-type"
_SUBTYPE_SYSTEM = "http://hl7.org/fhir/restful-interaction"
_REST = {"read", "vread", "update", "patch", "delete", "history", "history-instance", "history-type",
         "history-system", "create", "search", "search-type", "search-system", "capabilities", "transaction",
         "batch", "operation"}
_CHAIN_EXT = "urn:reporter:audit-chain"


def to_fhir(row: AuditEvent) -> dict:
    """One row as a FHIR R4 AuditEvent (type rest/110100, subtype the interaction, agent, source, entity)."""
    event_type = {"code": "rest", "display": "RESTful Operation", "system": _TYPE_SYSTEM}
    if row.type != "rest":
        event_type = {"system": "http://dicom.nema.org/resources/ontology/DCM", "code": "110100",
                      "display": "Application Activity"}
    subtype = ({"system": _SUBTYPE_SYSTEM, "code": row.subtype} if row.subtype in _REST
               else {"system": "urn:reporter:audit-subtype", "code": row.subtype})
    agent: dict = {"who": {"display": row.agent}, "requestor": row.agent != "anonymous"}
    if row.source:
        agent["network"] = {"address": row.source, "type": "2"}
    event: dict = {
        "resourceType": "AuditEvent", "id": f"audit-{row.id}",
        "extension": [{"url": _CHAIN_EXT, "extension": [
            {"url": k, "valueString": v} for k, v in (("prev", row.prev_hash), ("hash", row.hash)) if v]}],
        "type": event_type, "subtype": [subtype], "action": row.action if row.action in "CRUDE" else "E",
        "recorded": _stamp(row.recorded) + "Z", "outcome": _OUTCOME.get(row.outcome, "8"),
        "agent": [agent],
        "source": {"observer": {"display": "fhir-ae-reporter"}},
    }
    if row.detail:
        event["outcomeDesc"] = row.detail
    if row.reason:
        event["purposeOfEvent"] = [{"text": row.reason}]
    if row.entity or row.query:
        entity: dict = {}
        if row.entity:
            entity["what"] = {"reference": row.entity} if "/" in row.entity else {"display": row.entity}
        if row.query:
            import base64

            entity["query"] = base64.b64encode(row.query.encode("utf-8")).decode("ascii")
        event["entity"] = [entity]
    return event


def fhir_bundle(rows: Iterator[AuditEvent]) -> dict:
    entries = [{"resource": to_fhir(row)} for row in rows]
    return {"resourceType": "Bundle", "type": "collection", "timestamp": _stamp(datetime.now(UTC)) + "Z",
            "entry": entries}
