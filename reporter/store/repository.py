"""The case store: cases with immutable versions, a resource index for searches, an audit trail.

Every write runs in one transaction under a store-wide write lock (BEGIN IMMEDIATE on SQLite, a
transaction-level advisory lock on PostgreSQL). That makes three guarantees cheap to keep:
- a failed write changes nothing (the transaction rolls back as a whole);
- optimistic concurrency is exact: of N updates naming the same If-Match version, one wins;
- `last_updated` values increase strictly in commit order, so a client polling `_lastUpdated=gt<T>`
  never misses a row committed after it looked (no later commit can carry an earlier time).
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import orjson
from sqlalchemy import (
    Connection,
    Engine,
    Numeric,
    Text,
    and_,
    bindparam,
    cast,
    create_engine,
    delete,
    event,
    exists,
    func,
    insert,
    literal,
    or_,
    select,
    text,
    tuple_,
    update,
)
from sqlalchemy import (
    case as sql_case,
)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, IntegrityError, InterfaceError, OperationalError
from sqlalchemy.orm import Session, aliased, defer, sessionmaker

from reporter.errors import AlreadyStored, Gone, InputError, NotFound, StoreConflict, StoreError, VersionConflict
from reporter.fhir import received as received_fhir
from reporter.store import audit as audit_trail
from reporter.store import index as bundle_index
from reporter.store.audit import AuditContext
from reporter.store.fhirdates import format_instant
from reporter.store.localize import SENDER_ID_SYSTEM, json_copy, localize
from reporter.store.outage import OutageMonitor
from reporter.store.schema import (
    NULLIFIED,
    AuditEvent,
    Case,
    CaseReaction,
    CaseVersion,
    ReceivedMessage,
    Rendition,
    ResourceIndex,
    ResourceToken,
    VersionImport,
)

CASE_NAMESPACE = uuid.UUID("5d0c2a8e-6f3b-4f7e-9a51-2b1f0c7d9e44")
_FHIR_ID = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")
_PG_WRITE_LOCK = 72_340_001
MAX_VERSION = 2**31 - 1  # versions are INTEGER columns: a larger number names no version
MAX_ROW_ID = 2**63 - 1
KINDS = ("initial", "follow-up", "amendment", "nullification")
_AMENDMENT_EXT = "http://hl7.org/fhir/us/icsr-ae-reporting/StructureDefinition/icsr-ext-reportamendment"


@dataclass(frozen=True)
class StoredVersion:
    case_id: str
    version: int
    kind: str
    recorded: datetime
    author: str
    reason: str | None
    bundle: dict
    status: str = "active"
    casefile: dict | None = None  # the case file the Bundle was built from, when it came from one

    @property
    def meta(self) -> dict:
        return {"versionId": str(self.version), "lastUpdated": format_instant(self.recorded)}

    @property
    def report_id(self) -> str:
        """The case as people name it: its C.1.1 safety report id (the Composition's identifier), else the
        store's id (a uuid, which tells tabs and headings apart for no one)."""
        entries = self.bundle.get("entry") or [{}]
        identifier = ((entries[0] or {}).get("resource") or {}).get("identifier") or {}
        value = identifier.get("value") if isinstance(identifier, dict) else None
        return value if isinstance(value, str) and value else self.case_id


@dataclass(frozen=True)
class StoredResource:
    resource_type: str
    resource_id: str
    version: int
    last_updated: datetime
    case_id: str
    resource: dict | None  # None when only `raw` was read (a search asked for stored text)
    row_id: int = 0
    raw: str | None = None  # the stored JSON text, when the reader asked for it

    def with_meta(self) -> dict:
        """The resource as served: its stored JSON with meta.versionId/lastUpdated of its version."""
        body = dict(self.resource if self.resource is not None else json_loads(self.raw or "null"))
        meta = dict(body.get("meta") or {})
        meta.update(versionId=str(self.version), lastUpdated=format_instant(self.last_updated))
        body["meta"] = meta
        return body


@dataclass(frozen=True)
class ServedJson:
    """A resource as served: FHIR JSON bytes with its meta, and the version they are."""

    version: int
    recorded: datetime
    body: bytes


def with_meta_bytes(stored: str, version: int, recorded: datetime) -> bytes:
    """Stored JSON text of a resource without top-level meta, as served: with meta.versionId/lastUpdated added
    as its last member (where `dict(body); body["meta"] = ...` puts it), without parsing it."""
    text = stored.rstrip()
    if not text.endswith("}") or text == "{}":
        raise ValueError("not a stored resource")
    meta = f',"meta":{{"versionId":"{version}","lastUpdated":"{format_instant(recorded)}"}}}}'
    return (text[:-1] + meta).encode("utf-8")


@dataclass
class DateClause:
    prefix: str  # eq ne gt lt ge le sa eb
    start: datetime
    end: datetime


@dataclass
class Criteria:
    """A search, already parsed and checked (the web layer turns query strings into this)."""

    ids: list[str] | None = None
    last_updated: list[DateClause] = field(default_factory=list)
    date: list[DateClause] = field(default_factory=list)
    patient: list[list[str]] = field(default_factory=list)  # AND of OR-lists of "Patient/<id>"
    tokens: list[tuple[str, list[tuple[str | None, str]]]] = field(default_factory=list)
    sort: list[tuple[str, bool]] = field(default_factory=lambda: [("_lastUpdated", False)])  # (key, desc)
    count: int = 20
    cursor: str | None = None  # keyset position for _lastUpdated/_id sorts
    offset: int = 0  # for other sorts
    with_total: bool = True
    # how the total is found (R4 lets a server leave Bundle.total out unless _total=accurate is asked for):
    # "accurate" counts every match; "counted" counts up to limits.yaml search_total_counted, no total past it;
    # "page" gives it only when it costs nothing (a first page that holds every match)
    total: str = "accurate"
    quantities: list[tuple[str, list[QuantityClause]]] = field(default_factory=list)  # AND of OR-lists
    # chained parameters: (reference parameter, target type, criteria on the target), AND of OR-lists
    chains: list[list[tuple[str, str, Criteria]]] = field(default_factory=list)
    # revinclude-style reverse chains (_has): resources referenced by `param` of matching `source type` rows
    include_nullified: bool = False  # resources of nullified cases are left out unless asked for


@dataclass
class QuantityClause:
    prefix: str  # eq ne gt lt ge le ap
    value: Decimal
    low: Decimal  # the range the searched number stands for (its precision), for eq and ne
    high: Decimal
    unit: str | None = None  # "system|code", "|code" or None for any unit


@dataclass(frozen=True)
class Received:
    """A version read from a received E2B file: the file (kept verbatim), which report of it, and the
    import report (reporter/e2b/importer.ImportedReport.report_dict)."""

    file: received_fhir.ReceivedFile
    report_index: int
    report: dict


@dataclass(frozen=True)
class StoredMessage:
    id: str  # SHA-256 of the content, hex
    content_type: str
    size: int
    filename: str | None
    received: datetime
    content: bytes


@dataclass
class Write:
    """One create (case_id None) or update in a `write_all` transaction."""

    bundle: dict
    author: str
    case_id: str | None = None
    if_match: int | None = None
    reason: str | None = None
    audit: AuditContext | None = None
    skip_unchanged: bool = False  # see CaseStore.update


@dataclass
class Page:
    resources: list[StoredResource]
    total: int | None
    next_cursor: str | None = None
    next_offset: int | None = None


def _now() -> datetime:
    return datetime.now(UTC)


def normalise_url(url: str) -> str:
    """postgresql:// means psycopg 3 here (the only PostgreSQL driver we install)."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


def make_engine(url: str, pool_size: int | None = None) -> Engine:
    """`pool_size`: connections kept open (PostgreSQL; as many again may open under load). Size it to the
    threads that use the engine at once: gunicorn's --threads plus the background workers (reporter.web)."""
    url = normalise_url(url)
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30},
                               hide_parameters=True, json_serializer=json_text, json_deserializer=json_loads)
        _configure_sqlite(engine)
        return engine
    # hide_parameters: SQL errors must not carry case data into logs.
    size = pool_size or 10
    return create_engine(url, pool_pre_ping=True, pool_size=size, max_overflow=size, hide_parameters=True,
                         json_serializer=json_text, json_deserializer=json_loads)


def json_text(value: Any) -> str:
    """JSON as stored: compact UTF-8 text as orjson writes it (also what the API serves, so a stored Bundle can
    be served as it is); what orjson refuses goes through the standard library in the same compact form."""
    try:
        return orjson.dumps(value).decode("utf-8")
    except TypeError:  # orjson.JSONEncodeError: integers past 64 bits, non-string keys, lone surrogates
        return json.dumps(value, ensure_ascii=True, separators=(",", ":"))  # ASCII: escapes lone surrogates


def json_loads(text: str | bytes) -> Any:
    """Stored JSON as Python (orjson: a search page of 20 Bundles is over a megabyte of it); what orjson
    refuses (NaN, integers past 64 bits) is read by the standard library as before."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text)


def _configure_sqlite(engine: Engine) -> None:
    """WAL for concurrent readers, and explicit BEGIN (IMMEDIATE for writes) instead of pysqlite's own."""

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record) -> None:
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        if engine.url.database not in (None, "", ":memory:"):
            cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn) -> None:
        immediate = conn.get_execution_options().get("sqlite_immediate")
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def case_key(bundle: dict) -> tuple[str, str]:
    """(system, value) of the Composition identifier: the case's key (C.1.1)."""
    comp = bundle_index.composition(bundle)
    if comp is None:
        raise InputError("a document Bundle must start with a Composition", location="Bundle.entry[0]")
    ident = comp.get("identifier")
    if isinstance(ident, list):  # R5 habit; R4 has a single identifier
        ident = ident[0] if ident else None
    if not isinstance(ident, dict) or not ident.get("value"):
        raise InputError("the Composition has no identifier (C.1.1 sender's safety report id)",
                         location="Bundle.entry[0].resource.identifier",
                         hint="set Composition.identifier.value to the sender's report id")
    return str(ident.get("system") or ""), str(ident["value"])


def case_id_for(system: str, key: str) -> str:
    return str(uuid.uuid5(CASE_NAMESPACE, f"{system}|{key}"))


def _same_case(bundle: dict, stored: dict) -> bool:
    """Whether two Bundles hold the same case (as the case model reads them; ids, transmission and the received
    message aside); False when either cannot be read as a case."""
    from reporter.fhir.to_case import bundle_to_case

    try:
        a, b = bundle_to_case(bundle), bundle_to_case(stored)
    except Exception:  # a Bundle the case model cannot read is not known to be the same
        return False
    unrouted = {"report": {"routing"}}  # the same report re-sent in another batch is the same case
    return (a.model_dump(mode="json", exclude_none=True, exclude=unrouted)
            == b.model_dump(mode="json", exclude_none=True, exclude=unrouted))


def declared_kind(bundle: dict) -> tuple[str | None, str | None]:
    """Nullification/amendment (C.1.11.1) and its reason (C.1.11.2) as declared in the Composition."""
    comp = bundle_index.composition(bundle) or {}
    for ext in comp.get("extension") or []:
        if not isinstance(ext, dict) or ext.get("url") != _AMENDMENT_EXT:
            continue
        kind, reason = None, None
        for sub in ext.get("extension") or []:
            if sub.get("url") == "amendmentType":
                codes = [c.get("code") for c in (sub.get("valueCodeableConcept") or {}).get("coding") or []]
                kind = "nullification" if "1" in codes else "amendment" if "2" in codes else None
            elif sub.get("url") == "amendmentReason":
                concept = sub.get("valueCodeableConcept") or {}
                reason = sub.get("valueString") or concept.get("text")
        return kind, reason
    return None, None


def check_bundle(bundle: object) -> dict:
    """What the store itself needs of a Bundle (not validation: that is reporter.validation's job)."""
    if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle":
        raise InputError("expected a Bundle resource", location="resourceType")
    if bundle.get("type") != "document":
        raise InputError(f"expected an ICSR document Bundle, got type {bundle.get('type')!r}",
                         location="Bundle.type", hint='set Bundle.type to "document"')
    entries = bundle.get("entry")
    if not isinstance(entries, list) or not entries:
        raise InputError("the Bundle has no entries", location="Bundle.entry")
    seen: set[tuple[str, str]] = set()
    for i, entry in enumerate(entries):
        resource = entry.get("resource") if isinstance(entry, dict) else None
        where = f"Bundle.entry[{i}].resource"
        if not isinstance(resource, dict) or not isinstance(resource.get("resourceType"), str):
            raise InputError("entry without a resource", location=where)
        rid = resource.get("id")
        if rid is None:
            continue
        if not isinstance(rid, str) or not _FHIR_ID.match(rid):
            raise InputError(f"invalid resource id {rid!r}", location=f"{where}.id",
                             hint="ids are 1-64 characters of A-Z a-z 0-9 - .")
        key = (resource["resourceType"], rid)
        if key in seen:
            raise InputError(f"{key[0]}/{key[1]} appears twice in the Bundle", location=f"{where}.id")
        seen.add(key)
    case_key(bundle)
    from reporter.limits import check_text

    check_text(bundle, "Bundle")  # NUL and other control characters: PostgreSQL text and FHIR XML cannot hold them
    return bundle


@dataclass
class _Incoming:
    """A Bundle to store, copied (the caller's stays as it was), with its case key, declared kind and reason."""

    bundle: dict
    system: str
    key: str
    kind_declared: str | None
    reason: str | None

    @classmethod
    def of(cls, bundle: dict, reason: str | None) -> _Incoming:
        bundle = json_copy(check_bundle(bundle))
        system, key = case_key(bundle)
        kind_declared, reason_declared = declared_kind(bundle)
        reason = (reason or "").strip() or reason_declared
        if reason and len(reason) > 2000:
            raise InputError("the reason is longer than 2000 characters", location="reason")
        return cls(bundle, system, key, kind_declared, reason)

    @property
    def case_id(self) -> str:
        return case_id_for(self.system, self.key)


@dataclass
class _Derived:
    """A version's stored forms: the Bundle as stored, its index entries and its tabulation rows."""

    bundle: dict
    entries: list
    rows: list[dict]
    version: int = 1  # the version they were made for: an update's are stale if another came first


def _derive(incoming: _Incoming, cid: str, version: int, kind: str, known: dict[tuple[str, str], str],
            received: Received | None, now: datetime | None) -> _Derived:
    """The stored forms of a version from its Bundle (changed in place: server id, no meta, the received
    message attached) and what the store knows: the sender ids of the case's current resources (`known`)
    and, for a received message, the time of the write."""
    from reporter.analysis.projection import projection_rows

    bundle = incoming.bundle
    bundle["id"] = cid
    bundle.pop("meta", None)
    if received is not None:  # the version says where it came from: the message, kept verbatim
        received_fhir.attach(bundle, received.file, report_index=received.report_index, recorded=now)
    localized = localize(bundle, cid, known=lambda rtype, rid: known.get((rtype, rid)))
    if kind == "nullification":
        comp = bundle_index.composition(bundle)
        if comp is not None:  # the served document says so itself (R4 composition-status)
            comp["status"] = "entered-in-error"
    entries = bundle_index.index_bundle(localized)
    rows = projection_rows(bundle, cid, version) if kind != "nullification" else []
    return _Derived(bundle, entries, rows, version)


class CaseStore:
    """Repository over one database. Thread-safe: each call opens its own session."""

    def __init__(self, url: str, *, migrate: bool = True, pool_size: int | None = None) -> None:
        self.url = normalise_url(url)
        self.engine = make_engine(self.url, pool_size)
        self.dialect = self.engine.dialect.name
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._write_engine = self.engine.execution_options(sqlite_immediate=True)
        self._write_sessions = sessionmaker(self._write_engine, expire_on_commit=False)
        self.outage = OutageMonitor()
        self.closed = False  # set by dispose(): background workers on this store stop
        if migrate:
            self.upgrade()

    def upgrade(self) -> None:
        from reporter.store import migrate

        if self.dialect == "postgresql":
            with self.engine.begin() as conn:  # serialise workers starting together
                conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_WRITE_LOCK + 1})
                migrate.upgrade_on(conn)
        else:
            migrate.upgrade(self.engine.execution_options(sqlite_immediate=True))

    def dispose(self) -> None:
        self.closed = True
        self.engine.dispose()

    # --- sessions -----------------------------------------------------------------------------------

    @contextmanager
    def read_session(self) -> Iterator[Session]:
        """A read transaction. A database that cannot be reached gives StoreUnavailable (HTTP 503), logged
        once per outage rather than once per request."""
        started = time.monotonic()
        try:
            with self._sessions() as session, session.begin():
                yield session
        except (OperationalError, InterfaceError) as exc:
            raise self._read_failed(exc) from exc
        self.outage.ok(started)

    @contextmanager
    def read_connection(self) -> Iterator[Connection]:
        """A Core connection for one short read, without an ORM session (a third of the cost of one): for the
        token check every API request makes. Errors as read_session's."""
        started = time.monotonic()
        try:
            with self.engine.connect() as conn:
                yield conn
        except (OperationalError, InterfaceError) as exc:
            raise self._read_failed(exc) from exc
        self.outage.ok(started)

    def _read_failed(self, exc: OperationalError | InterfaceError) -> StoreError:
        if _is_timeout(exc):
            return _timeout_error()
        self.outage.failed(exc)
        return StoreUnavailable("the case store is unavailable; try again shortly", hint=type(exc.orig).__name__)

    def write_session(self) -> AbstractContextManager[Session]:
        """One transaction holding the store-wide write lock; rolled back whole on any error."""
        return self._write_transaction(store_lock=True)

    def side_write_session(self) -> AbstractContextManager[Session]:
        """A write that changes no case data (the audit row of a read or a refused write, a token's or a page
        session's last use): on PostgreSQL without the store-wide write lock, so it does not wait for case
        writes (audit.append takes the chain's own lock; a single-row update its row's); on SQLite the
        database's one writer lock, as every write. Errors as write_session's."""
        return self._write_transaction(store_lock=False)

    @contextmanager
    def _write_transaction(self, *, store_lock: bool) -> Iterator[Session]:
        with self._write_errors(), self._write_sessions() as session, session.begin():
            if store_lock and self.dialect == "postgresql":
                session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_WRITE_LOCK})
            yield session

    @contextmanager
    def side_write_connection(self) -> Iterator[Connection]:
        """`side_write_session` as a Core connection, without an ORM session (half the cost of one): for the
        audited read of a Bundle, the API's most frequent write. Errors as write_session's."""
        with self._write_errors(), self._write_engine.begin() as conn:
            yield conn

    @contextmanager
    def _write_errors(self) -> Iterator[None]:
        """A write's database errors said as the store's own (nothing was changed: the transaction inside
        was rolled back), and the outage monitor told how the database answered."""
        started = time.monotonic()
        try:
            yield
        except IntegrityError as exc:
            raise StoreConflict("the write conflicts with stored data and was not applied",
                                hint=type(exc.orig).__name__) from exc
        except (OperationalError, InterfaceError) as exc:
            self.outage.failed(exc)
            raise StoreUnavailable("the database refused the write; nothing was changed",
                                   hint=type(exc.orig).__name__) from exc
        except DBAPIError as exc:  # e.g. the audit trail's append-only guard
            raise StoreError("the database refused the write; nothing was changed",
                             hint=type(exc.orig).__name__) from exc
        self.outage.ok(started)

    def _next_timestamp(self, session: Session) -> datetime:
        """Now, but strictly after every stored version (clocks can step back; ties break paging)."""
        latest = session.scalar(select(func.max(CaseVersion.recorded)))
        now = _now()
        if latest is not None and now <= latest:
            now = latest + timedelta(microseconds=1)
        return now

    # --- writes -------------------------------------------------------------------------------------

    def create(self, bundle: dict, *, author: str, reason: str | None = None,
               casefile: dict | None = None, audit: AuditContext | None = None,
               received: Received | None = None) -> StoredVersion:
        """Store a new case from its first Bundle. StoreConflict if the case key is already stored.
        `casefile`: the case-file JSON the Bundle was built from, kept beside it for editing.
        `audit`: who and from where, for the audit row written in the same transaction.
        `received`: the E2B file the Bundle was imported from, kept verbatim with the import report."""
        return self._save(bundle, author=author, reason=reason, case_id=None, if_match=None, casefile=casefile,
                          audit=audit, received=received)

    def save(self, bundle: dict, *, author: str, reason: str | None = None,
             audit: AuditContext | None = None, received: Received | None = None,
             casefile: dict | None = None) -> StoredVersion:
        """Store a Bundle as a new case, or as the next version (follow-up, amendment, nullification) of the
        case with the same C.1.1 identifier: what an E2B import does with each report it reads (and a line
        listing with each row; `casefile` as for create)."""
        system, key = case_key(check_bundle(bundle))
        cid = case_id_for(system, key)
        with self.read_session() as session:
            exists = session.get(Case, cid) is not None
        if not exists:
            try:
                return self.create(bundle, author=author, reason=reason, audit=audit, received=received,
                                   casefile=casefile)
            except StoreConflict:  # created meanwhile by another writer: store as its next version
                pass
        self._refuse_repeat_or_older(cid, bundle, received)
        return self.update(cid, bundle, author=author, reason=reason, audit=audit, received=received,
                           casefile=casefile)

    def _refuse_repeat_or_older(self, cid: str, bundle: dict, received: Received | None) -> None:
        """A received report stored before (the same report of the same file) is not stored again
        (AlreadyStored); a report whose most recent information (C.1.5) is older than the stored version's is
        older news, refused rather than made the current version (an initial report read after its
        follow-up replaced the follow-up's facts with the older ones)."""
        from reporter.fhir import read
        from reporter.validation.rules import ends_before

        if received is not None:
            with self.read_session() as session:
                again = session.scalars(select(VersionImport.version).where(
                    VersionImport.case_id == cid, VersionImport.message_id == received.file.sha256,
                    VersionImport.report_index == received.report_index)).first()
            if again is not None:
                raise AlreadyStored(f"report {received.report_index} of {received.file.filename} is stored already, "
                                    f"as version {again}: not stored again", location=f"Bundle/{cid}")
        current = self.read(cid)
        new, old = read.most_recent(bundle), read.most_recent(current.bundle)
        if new and old and ends_before(new, old):
            raise StoreConflict(f"the report's most recent information ({new}, C.1.5) is older than that of the "
                                f"stored version {current.version} ({old}): not stored over it",
                                location="C.1.5", hint="an older report of a case is not its current version; "
                                "import the reports in the order of their C.1.5 dates if the older one is wanted")
        if _same_case(bundle, current.bundle):  # the report re-sent in another batch, or read again
            what = f"report {received.report_index} of {received.file.filename}" if received else "the report"
            raise AlreadyStored(f"{what} says what the stored version {current.version} says: not stored again",
                                location=f"Bundle/{cid}")

    def update(self, case_id: str, bundle: dict, *, author: str, if_match: int | None = None,
               reason: str | None = None, casefile: dict | None = None,
               audit: AuditContext | None = None, received: Received | None = None,
               skip_unchanged: bool = False) -> StoredVersion:
        """Add a version to an existing case. VersionConflict if `if_match` is not the current version.
        A change needs a reason (given, or declared in the Bundle as C.1.11.2): InputError without one.
        `skip_unchanged`: a Bundle that would be stored exactly as the current version is (a client writing
        back what it read) adds no version; the current one is returned (its version is then `if_match`)."""
        return self._save(bundle, author=author, reason=reason, case_id=case_id, if_match=if_match,
                          casefile=casefile, audit=audit, received=received, skip_unchanged=skip_unchanged)

    def _save(self, bundle: dict, *, author: str, reason: str | None, case_id: str | None,
              if_match: int | None, casefile: dict | None = None, audit: AuditContext | None = None,
              received: Received | None = None, skip_unchanged: bool = False) -> StoredVersion:
        incoming = _Incoming.of(bundle, reason)
        early = None
        if received is None:  # a received message's Bundle carries the time of the write: made under the lock
            # The stored forms are made before taking the write lock, which is then held for the checks, the
            # inserts and the commit. On a problem they are made again under the lock, as before, so that
            # problems are reported in the same order (an already stored case first, say).
            try:
                if case_id is None:
                    early = _derive(incoming, incoming.case_id, 1, incoming.kind_declared or "initial", {},
                                    None, None)
                else:  # from the current version as read now, on a copy: another update may come first
                    early = self._early_update(replace(incoming, bundle=json_copy(incoming.bundle)), case_id)
            except Exception:  # whatever it is, the locked path meets it again, in its own order
                incoming, early = _Incoming.of(bundle, reason), None  # a fresh copy: _derive changes it
        with self.write_session() as session:
            return self._write(session, incoming, author=author, case_id=case_id, if_match=if_match,
                               casefile=casefile, audit=audit, received=received, early=early,
                               skip_unchanged=skip_unchanged)

    def _early_update(self, incoming: _Incoming, case_id: str) -> _Derived | None:
        """An update's stored forms from the case's current version as read now (None when the locked path
        will refuse the update anyway)."""
        with self.read_session() as session:
            case = session.get(Case, case_id)
            if case is None or case.status == "nullified":
                return None
            version = case.current_version + 1
            known = self._sender_ids(session, case_id)
        return _derive(incoming, case_id, version, incoming.kind_declared or "follow-up", known, None, None)

    def write_all(self, writes: list[Write]) -> list[StoredVersion]:
        """Several creates/updates in one transaction: all are stored, or (on the first error) none."""
        with self.write_session() as session:
            return [self._write(session, _Incoming.of(w.bundle, w.reason), author=w.author, case_id=w.case_id,
                                if_match=w.if_match, audit=w.audit, skip_unchanged=w.skip_unchanged)
                    for w in writes]

    def _write(self, session: Session, incoming: _Incoming, *, author: str, case_id: str | None,
               if_match: int | None, casefile: dict | None = None, audit: AuditContext | None = None,
               received: Received | None = None, early: _Derived | None = None,
               skip_unchanged: bool = False) -> StoredVersion:
        """Store one version under the write lock. `early`: its stored forms, made before the lock (used when
        still current: an update's are made for the version after the one current then). `skip_unchanged`:
        see `update`."""
        bundle, system, key = incoming.bundle, incoming.system, incoming.key
        kind_declared, reason = incoming.kind_declared, incoming.reason
        audit = audit or AuditContext(agent=author, kind="system")
        now = self._next_timestamp(session)
        if case_id is None:
            cid = incoming.case_id
            if session.get(Case, cid) is not None:
                raise StoreConflict(f"case {key!r} is already stored as Bundle/{cid}",
                                    location="Composition.identifier",
                                    hint=f"send follow-ups as PUT Bundle/{cid} with If-Match")
            case = Case(id=cid, case_system=system, case_key=key, current_version=1, status="active",
                        created=now, updated=now)
            session.add(case)
            session.flush()
            version = 1
            kind = kind_declared or "initial"
            known: dict[tuple[str, str], str] = {}
        else:
            cid = case_id
            case = session.get(Case, cid)
            if case is None:
                raise NotFound(f"Bundle/{cid} does not exist", location=f"Bundle/{cid}",
                               hint="create cases with POST Bundle")
            if (case.case_system, case.case_key) != (system, key):
                raise InputError(f"Composition identifier {key!r} is not this case's ({case.case_key!r})",
                                 location="Bundle.entry[0].resource.identifier",
                                 hint="a case keeps its C.1.1 identifier across versions")
            if if_match is not None and if_match != case.current_version:
                current = case.current_version
                raise VersionConflict(f"Bundle/{cid} is at version {current}, not {if_match}",
                                      location=f"Bundle/{cid}",
                                      hint="read the current version and apply your change to it")
            if case.status == "nullified":
                raise StoreConflict(f"Bundle/{cid} was nullified; it takes no further versions",
                                    location=f"Bundle/{cid}")
            if not reason:  # checked after the version checks: a stale If-Match is 412 either way
                raise InputError("a change to a stored case needs a reason", location="reason",
                                 hint="say why (API: the X-Reporter-Reason header; pages: the reason field)")
            version = case.current_version + 1
            kind = kind_declared or "follow-up"
            if early is not None and early.version != version:
                early = None  # another update came first: made again from the version now current
            known = self._sender_ids(session, cid) if early is None else {}
            if skip_unchanged and kind_declared is None:
                early = early or _derive(incoming, cid, version, kind, known, received, now)
                unchanged = self._unchanged(session, case, early.bundle)
                if unchanged is not None:  # recorded as an update of the current version that changed nothing
                    audit_trail.append(session, recorded=now, subtype=audit.subtype or "update", action="U",
                                       outcome="0", agent=audit.agent, kind=audit.kind, source=audit.source,
                                       entity=f"Bundle/{cid}/_history/{unchanged.version}", case_id=cid,
                                       query=audit.query, reason=reason or None,
                                       detail=f"{audit.detail or ''} unchanged: no new version".strip())
                    return unchanged
            session.execute(update(ResourceIndex)
                            .where(ResourceIndex.case_id == cid, ResourceIndex.is_current.is_(True))
                            .values(is_current=False))
            case.current_version = version
            case.updated = now
        if kind == "nullification":
            case.status = "nullified"
        derived = early or _derive(incoming, cid, version, kind, known, received, now)
        bundle, entries = derived.bundle, derived.entries
        session.flush()  # the case row first (foreign keys)
        # Core inserts, not ORM objects: a case is ~35 index rows and ~200 tokens, and building and flushing
        # ORM instances for them cost more than the rest of the write.
        session.execute(insert(CaseVersion.__table__), [dict(
            case_id=cid, version=version, kind=kind, bundle=bundle, author=author, recorded=now, reason=reason,
            casefile=casefile)])
        if received is not None:
            self._keep_received(session, cid, version, received, now)
        index = ResourceIndex.__table__
        ids = session.execute(insert(index).returning(index.c.id, sort_by_parameter_order=True), [dict(
            case_id=cid, version=version, resource_type=item.resource_type, resource_id=item.resource_id,
            is_current=True, last_updated=now, patient=item.patient, date_start=item.date_start,
            date_end=item.date_end, resource=item.resource) for item in entries]).scalars().all()
        tokens = [{"index_id": row_id, "param": p, "system": s, "code": c}
                  for row_id, item in zip(ids, entries, strict=True) for p, s, c in item.tokens]
        if tokens:
            session.execute(insert(ResourceToken.__table__), tokens)
        self._project(session, cid, derived.rows, replace=version > 1)
        # The audit row commits with the version or not at all: no change without its record.
        audit_trail.append(session, recorded=now, subtype=audit.subtype or ("create" if version == 1 else "update"),
                           action="C" if version == 1 else "U", outcome="0", agent=audit.agent,
                           kind=audit.kind, source=audit.source, entity=f"Bundle/{cid}/_history/{version}",
                           case_id=cid, query=audit.query, reason=reason or None, detail=audit.detail)
        return StoredVersion(cid, version, kind, now, author, reason, bundle, case.status, casefile)

    @staticmethod
    def _unchanged(session: Session, case: Case, bundle: dict) -> StoredVersion | None:
        """The current version when its stored Bundle is the one an update would store, else None."""
        row = session.get(CaseVersion, (case.id, case.current_version))
        if row is None or row.bundle != bundle:
            return None
        return StoredVersion(case.id, row.version, row.kind, row.recorded, row.author, row.reason, row.bundle,
                             case.status, row.casefile)

    @staticmethod
    def _keep_received(session: Session, cid: str, version: int, received: Received, now: datetime) -> None:
        """Keep the received file (once per content) and this version's import report."""
        digest = received.file.sha256
        if session.get(ReceivedMessage, digest) is None:
            session.add(ReceivedMessage(id=digest, content_type=received.file.content_type,
                                        size=len(received.file.content), filename=received.file.filename,
                                        received=now, content=received.file.content))
            session.flush()
        session.add(VersionImport(case_id=cid, version=version, message_id=digest,
                                  report_index=received.report_index, report=received.report))

    @staticmethod
    def _project(session: Session, cid: str, rows: list[dict], *, replace: bool) -> None:
        """Replace the case's tabulation rows with those of this version."""
        if replace:
            session.execute(delete(CaseReaction).where(CaseReaction.case_id == cid))
        if rows:
            session.execute(insert(CaseReaction.__table__), rows)

    def reproject(self) -> int:
        """Rebuild the tabulation projection of every active case from its current Bundle (after the MedDRA
        release changed, say). One transaction; returns the number of rows written."""
        from reporter.analysis.projection import projection_rows
        from reporter.meddra import hierarchy

        meddra = hierarchy()
        written = 0
        with self.write_session() as session:
            session.execute(delete(CaseReaction))
            current = session.execute(select(CaseVersion.case_id, CaseVersion.version, CaseVersion.bundle)
                                      .join(Case, and_(Case.id == CaseVersion.case_id,
                                                       Case.current_version == CaseVersion.version))
                                      .where(Case.status == "active")).yield_per(500)
            batch: list[dict] = []
            for cid, version, bundle in current:
                batch += projection_rows(bundle, cid, version, meddra)
                if len(batch) >= 5000:
                    session.execute(insert(CaseReaction.__table__), batch)
                    written += len(batch)
                    batch = []
            if batch:
                session.execute(insert(CaseReaction.__table__), batch)
                written += len(batch)
        return written

    def _sender_ids(self, session: Session, cid: str) -> dict[tuple[str, str], str]:
        """(type, server id) -> the sender's id, for the current resources of a case ('' when unknown)."""
        rows = session.execute(select(ResourceIndex.resource_type, ResourceIndex.resource_id,
                                      ResourceIndex.resource)
                               .where(ResourceIndex.case_id == cid, ResourceIndex.is_current.is_(True),
                                      ResourceIndex.resource_type != "Bundle")).all()
        out = {}
        for rtype, rid, resource in rows:
            idents = resource.get("identifier") if isinstance(resource, dict) else None
            idents = idents if isinstance(idents, list) else [idents]
            out[(rtype, rid)] = next((str(i.get("value")) for i in idents if isinstance(i, dict)
                                      and i.get("system") == SENDER_ID_SYSTEM), "")
        return out

    # --- reads --------------------------------------------------------------------------------------

    def read(self, case_id: str, version: int | None = None) -> StoredVersion:
        if version is not None and not 0 < version <= MAX_VERSION:
            raise NotFound(f"Bundle/{case_id} has no version {version}",
                           location=f"Bundle/{case_id}/_history/{version}")
        with self.read_session() as session:
            case = session.get(Case, case_id)
            if case is None:
                raise NotFound(f"Bundle/{case_id} does not exist", location=f"Bundle/{case_id}")
            row = session.get(CaseVersion, (case_id, version or case.current_version))
            if row is None:
                raise NotFound(f"Bundle/{case_id} has no version {version}",
                               location=f"Bundle/{case_id}/_history/{version}")
            return StoredVersion(row.case_id, row.version, row.kind, row.recorded, row.author, row.reason,
                                 row.bundle, case.status, row.casefile)

    def recorded_at(self, case_id: str, version: int) -> datetime | None:
        """When a version of a case was stored; None when the case has no such version (version 0, say)."""
        if not 0 < version <= MAX_VERSION:
            return None
        with self.read_session() as session:
            return session.scalar(select(CaseVersion.recorded).where(CaseVersion.case_id == case_id,
                                                                    CaseVersion.version == version))

    def nullifications(self, case_ids: list[str]) -> set[tuple[str, int]]:
        """(case id, version) of the nullification versions among the given cases: the versions that delete the
        case's resources (they answer 410 from then on; only the Bundle stays readable)."""
        if not case_ids:
            return set()
        with self.read_session() as session:
            rows = session.execute(select(CaseVersion.case_id, CaseVersion.version).where(
                CaseVersion.case_id.in_(sorted(set(case_ids))), CaseVersion.kind == "nullification")).all()
            return {(cid, version) for cid, version in rows}

    def read_served(self, case_id: str, audit: AuditContext) -> ServedJson:
        """The current version of a case as the API serves it (FHIR JSON bytes, meta added), read and audited in
        one transaction: the AuditEvent row (a successful read of Bundle/<id>, `audit` saying who, from where and
        how) commits before this returns, and without it nothing is returned. The stored text is served as it
        is (no parse and re-serialisation): stored Bundles carry no meta (`_write` removes it) and their id."""
        with self.side_write_connection() as conn:
            row = conn.execute(_CURRENT_TEXT, {"id": case_id}).first()
            if row is None:
                raise NotFound(f"Bundle/{case_id} does not exist", location=f"Bundle/{case_id}")
            audit_trail.append(conn, recorded=_now(), subtype=audit.subtype or "read", action="R", outcome="0",
                               agent=audit.agent, kind=audit.kind, source=audit.source, entity=f"Bundle/{case_id}",
                               case_id=case_id, query=audit.query, detail=audit.detail)
        return ServedJson(row.version, row.recorded, with_meta_bytes(row.bundle, row.version, row.recorded))

    def received_message(self, message_id: str) -> StoredMessage:
        """A received file exactly as it arrived (FHIR Binary/<sha256>)."""
        with self.read_session() as session:
            row = session.get(ReceivedMessage, message_id) if _FHIR_ID.match(message_id or "") else None
            if row is None:
                raise NotFound(f"Binary/{message_id} does not exist", location=f"Binary/{message_id}")
            return StoredMessage(row.id, row.content_type, row.size, row.filename, row.received, row.content)

    def import_report(self, case_id: str, version: int) -> dict | None:
        """The import report of a version read from a received message (with `message_id`, `filename`,
        `report_index`), or None for a version that was not imported."""
        if not 0 < version <= MAX_VERSION:
            return None
        with self.read_session() as session:
            row = session.get(VersionImport, (case_id, version))
            if row is None:
                return None
            message = session.get(ReceivedMessage, row.message_id)
            return {**row.report, "message_id": row.message_id, "report_index": row.report_index,
                    "filename": message.filename if message else None,
                    "received": format_instant(message.received) if message else None}

    def rendition(self, case_id: str, version: int, kind: str, renderer: str) -> bytes | None:
        """A version's kept PDF or HTML, when the current renderer made it."""
        with self.read_session() as session:
            row = session.get(Rendition, (case_id, version, kind))
            return row.body if row is not None and row.renderer == renderer else None

    def keep_rendition(self, case_id: str, version: int, kind: str, renderer: str, body: bytes) -> None:
        """Keep a version's PDF or HTML (replacing one an older renderer made). Two requests rendering the
        same version at once both succeed: the second keeps what the first stored."""
        try:
            with self.write_session() as session:
                row = session.get(Rendition, (case_id, version, kind))
                if row is None:
                    session.add(Rendition(case_id=case_id, version=version, kind=kind, renderer=renderer,
                                          body=body, created=datetime.now(UTC)))
                elif row.renderer != renderer:
                    row.renderer, row.body, row.created = renderer, body, datetime.now(UTC)
        except StoreConflict:
            pass

    def history(self, case_id: str) -> list[StoredVersion]:
        """All versions of a case, newest first (FHIR history order)."""
        with self.read_session() as session:
            case = session.get(Case, case_id)
            if case is None:
                raise NotFound(f"Bundle/{case_id} does not exist", location=f"Bundle/{case_id}")
            rows = session.scalars(select(CaseVersion).where(CaseVersion.case_id == case_id)
                                   .order_by(CaseVersion.version.desc())).all()
            return [StoredVersion(r.case_id, r.version, r.kind, r.recorded, r.author, r.reason, r.bundle,
                                  case.status, r.casefile) for r in rows]

    def read_resource(self, resource_type: str, resource_id: str,
                      version: int | None = None) -> StoredResource:
        if version is not None and not 0 < version <= MAX_VERSION:
            where = f"{resource_type}/{resource_id}/_history/{version}"
            raise NotFound(f"{where} does not exist", location=where)
        with self.read_session() as session:
            query = select(ResourceIndex).where(ResourceIndex.resource_type == resource_type,
                                                ResourceIndex.resource_id == resource_id)
            if version is None:
                query = query.where(ResourceIndex.is_current.is_(True))
            else:
                query = query.where(ResourceIndex.version == version)
            row = session.scalars(query.limit(1)).first()
            where = f"{resource_type}/{resource_id}" + (f"/_history/{version}" if version else "")
            if row is None:
                self._refuse_dropped(session, resource_type, resource_id, where, version)
                raise NotFound(f"{where} does not exist", location=where)
            case_row = session.get(Case, row.case_id)
            if version is None and case_row is not None and case_row.status == "nullified":
                raise Gone(f"{where} belonged to case Bundle/{row.case_id}, which was nullified",
                           location=where, hint=f"the nullification is readable as Bundle/{row.case_id}")
            return _stored(row)

    @staticmethod
    def _refuse_dropped(session: Session, resource_type: str, resource_id: str, where: str,
                        version: int | None) -> None:
        """Gone (410), not NotFound, for a resource an earlier version of its case held and the current one
        no longer does (a follow-up left it out): it existed, as its history shows."""
        if version is not None:
            return
        case_id = session.scalar(select(ResourceIndex.case_id).where(
            ResourceIndex.resource_type == resource_type, ResourceIndex.resource_id == resource_id).limit(1))
        if case_id is not None:
            raise Gone(f"{where} is no longer in its case: the current version of Bundle/{case_id} leaves it out",
                       location=where, hint=f"its earlier versions: {resource_type}/{resource_id}/_history")

    def resource_history(self, resource_type: str, resource_id: str) -> list[StoredResource]:
        with self.read_session() as session:
            rows = session.scalars(select(ResourceIndex).where(
                ResourceIndex.resource_type == resource_type, ResourceIndex.resource_id == resource_id)
                .order_by(ResourceIndex.version.desc(), ResourceIndex.id.desc())).all()
            if not rows:
                raise NotFound(f"{resource_type}/{resource_id} does not exist",
                               location=f"{resource_type}/{resource_id}")
            return [_stored(r) for r in rows]

    def history_page(self, resource_type: str | None, *, since: datetime | None, count: int,
                     cursor: str | None = None) -> Page:
        """Type history (every stored version of every `resource_type` resource) or, with None, system history
        (of every type, the case Bundles included), newest first, keyset-paged on (last_updated, row id).

        Writes that commit while a client pages come before its cursor (timestamps only grow), so the pages
        it follows never repeat or skip an entry; the next history call with `_since` picks them up."""
        ri = ResourceIndex
        conditions = [] if resource_type is None else [ri.resource_type == resource_type]
        if since is not None:
            conditions.append(ri.last_updated >= since)
        paged = list(conditions)
        if cursor:
            value, row_id = _decode_cursor(cursor, "_lastUpdated")
            paged.append(or_(ri.last_updated < value, and_(ri.last_updated == value, ri.id < row_id)))
        with self.read_session() as session, self._time_limit(session):
            rows = session.scalars(select(ri).where(*paged).order_by(ri.last_updated.desc(), ri.id.desc())
                                   .limit(count + 1)).all() if count > 0 else []
            total = session.scalar(select(func.count()).select_from(ri).where(*conditions))
            page = Page([_stored(r) for r in rows[:count]], total)
            if len(rows) > count:
                page.next_cursor = _encode_cursor(rows[count - 1], "_lastUpdated")
            return page

    def _conditions(self, ri, resource_type: str, criteria: Criteria, *, current_only: bool = True) -> list:
        """SQL conditions on the index table (or an alias of it) for `criteria` on `resource_type`; with
        `current_only` False they match every stored version (a Subscription is told of each)."""
        conditions = [ri.resource_type == resource_type]
        if current_only:
            conditions.append(ri.is_current.is_(True))
        if not criteria.include_nullified:
            conditions.append(ri.case_id.not_in(_nullified_cases()))
        if criteria.ids is not None:
            conditions.append(ri.resource_id.in_(criteria.ids))
        conditions += [_date_condition(ri.last_updated, ri.last_updated, c, point=True)
                       for c in criteria.last_updated]
        conditions += [_date_condition(ri.date_start, ri.date_end, c) for c in criteria.date]
        conditions += [ri.patient.in_(values) for values in criteria.patient]
        for param, values in criteria.tokens:
            # the rows holding the token, found through its index (ix_token_lookup) first: a correlated
            # EXISTS made the planners walk every current row of the type in page order for a rare value
            conditions.append(ri.id.in_(select(ResourceToken.index_id).where(
                ResourceToken.param == param, _token_match(values))))
        for param, clauses in criteria.quantities:
            number = sql_case((ResourceToken.param == param, cast(ResourceToken.code, Numeric(38, 12))))
            alternatives = [and_(_quantity_condition(number, c), *_unit_condition(c.unit)) for c in clauses]
            conditions.append(exists(select(ResourceToken.id).where(
                ResourceToken.index_id == ri.id, ResourceToken.param == param, or_(*alternatives))))
        for alternatives in criteria.chains:
            options = []
            for param, target_type, sub in alternatives:
                target = aliased(ResourceIndex)
                refs = select(literal(f"{target_type}/") + target.resource_id).where(
                    *self._conditions(target, target_type, sub))
                options.append(exists(select(ResourceToken.id).where(
                    ResourceToken.index_id == ri.id, ResourceToken.param == param,
                    ResourceToken.code.in_(refs))))
            conditions.append(or_(*options))
        return conditions

    def search(self, resource_type: str, criteria: Criteria, *, raw: bool = False) -> Page:
        """`raw`: the resources come as stored JSON text (StoredResource.raw), not parsed (for serving)."""
        ri = ResourceIndex
        conditions = self._conditions(ri, resource_type, criteria)
        columns = {"_lastUpdated": ri.last_updated, "_id": ri.resource_id, "date": ri.date_start}
        key, desc = criteria.sort[0]
        # one sort key pages by keyset (the next link names the last row: writes between pages shift nothing)
        keyset = len(criteria.sort) == 1
        order = []
        for name, is_desc in criteria.sort:
            col = columns[name]
            if name == "date":  # undated rows last ascending, first descending, on every database
                order.append(col.is_(None).desc() if is_desc else col.is_(None).asc())
            order.append(col.desc() if is_desc else col.asc())
        order.append(ri.id.desc() if desc else ri.id.asc())
        paged = list(conditions)
        if keyset and criteria.cursor:
            value, row_id = _decode_cursor(criteria.cursor, key)
            paged.append(_after_cursor(columns[key], ri.id, value, row_id, desc))
        with self.read_session() as session, self._time_limit(session):
            page_ids = select(ri.id).where(*paged).order_by(*order).limit(criteria.count + 1)
            if criteria.offset and not (keyset and criteria.cursor):  # _offset as sent (the links use a cursor)
                page_ids = page_ids.offset(criteria.offset)
            # the page's row ids first, then their rows: a sort that needs more than an index (SQLite, a date
            # search in page order) then carries ids, not every match's stored JSON
            page_ids = page_ids.subquery()
            query = select(ri).join(page_ids, ri.id == page_ids.c.id).order_by(*order)
            texts: list[str] | None = None
            if raw and criteria.count > 0:
                pairs = session.execute(query.add_columns(cast(ri.resource, Text)).options(defer(ri.resource))).all()
                rows, texts = [p[0] for p in pairs], [p[1] for p in pairs]
            else:
                rows = session.scalars(query).all() if criteria.count > 0 else []
            more = len(rows) > criteria.count
            total = None
            if criteria.with_total:
                whole = criteria.count > 0 and not more and not (criteria.cursor or criteria.offset)
                total = self._count(session, conditions, criteria, len(rows) if whole else None)
            rows = rows[:criteria.count]
            page = Page([_stored(r) for r in rows] if texts is None else
                        [_stored_text(r, t) for r, t in zip(rows, texts, strict=False)], total)
            if more and rows:
                if keyset:
                    page.next_cursor = _encode_cursor(rows[-1], key)
                else:
                    page.next_offset = criteria.offset + len(rows)
            return page

    @staticmethod
    def _count(session: Session, conditions: list, criteria: Criteria, first_page: int | None) -> int | None:
        """The number of matches: known without a query when the first page held them all (`first_page`);
        otherwise as criteria.total says (see Criteria)."""
        if first_page is not None:
            return first_page
        if criteria.total == "page":
            return None
        if criteria.total == "accurate":
            return session.scalar(select(func.count()).select_from(ResourceIndex).where(*conditions))
        from reporter.limits import limit

        bound = int(limit("search_total_counted"))
        found = select(ResourceIndex.id).where(*conditions).limit(bound + 1).subquery()
        counted = session.scalar(select(func.count()).select_from(found))
        return counted if counted <= bound else None

    def current_resources(self, references: list[str], limit: int = 1000) -> list[StoredResource]:
        """The current resources named by `Type/id` references (for _include); unknown ones are skipped."""
        keys = {tuple(r.split("/", 1)) for r in references if r.count("/") == 1}
        if not keys:
            return []
        ri = ResourceIndex
        with self.read_session() as session:
            rows = session.scalars(select(ri).where(
                ri.is_current.is_(True), tuple_(ri.resource_type, ri.resource_id).in_(sorted(keys)),
                ri.case_id.not_in(_nullified_cases()))
                .order_by(ri.id).limit(limit)).all()
            return [_stored(r) for r in rows]

    def referencing(self, source_type: str, param: str, references: list[str],
                    limit: int = 1000) -> list[StoredResource]:
        """Current `source_type` resources whose reference parameter `param` names one of `references`
        (for _revinclude)."""
        if not references:
            return []
        ri = ResourceIndex
        with self.read_session() as session:
            rows = session.scalars(select(ri).where(
                *self._conditions(ri, source_type, Criteria()),
                exists(select(ResourceToken.id).where(ResourceToken.index_id == ri.id,
                                                      ResourceToken.param == param,
                                                      ResourceToken.code.in_(sorted(set(references))))))
                .order_by(ri.id).limit(limit)).all()
            return [_stored(r) for r in rows]

    def reference_values(self, row_ids: list[int], param: str) -> list[str]:
        """The `Type/id` values of reference parameter `param` of the given index rows (for _include)."""
        if not row_ids:
            return []
        with self.read_session() as session:
            return list(session.scalars(select(ResourceToken.code).where(
                ResourceToken.index_id.in_(row_ids), ResourceToken.param == param).distinct()))

    def watermark(self) -> datetime | None:
        """The time of the latest committed write: every write at or before it is visible now (writes commit in
        timestamp order under the write lock), so an export up to it and the next one after it miss nothing."""
        with self.read_session() as session:
            return session.scalar(select(func.max(CaseVersion.recorded)))

    def export_rows(self, resource_type: str, since: datetime | None, until: datetime,
                    batch: int = 500, *, patients: list[str] | None = None,
                    compartment: bool = False) -> Iterator[StoredResource]:
        """Current resources of a type updated in (since, until], in index order, read in batches (Bulk Data
        export). Resources of nullified cases are left out, except their Bundles (which say so). `compartment`:
        only resources about a patient (the Patient compartment), of the `patients` ("Patient/<id>") if given."""
        ri = ResourceIndex
        criteria = Criteria(include_nullified=resource_type == "Bundle" and not compartment)
        scope = []
        if compartment:
            scope.append(ri.patient.is_not(None) if patients is None else ri.patient.in_(sorted(set(patients))))
        after = 0
        while True:
            conditions = [*self._conditions(ri, resource_type, criteria), *scope, ri.last_updated <= until,
                          ri.id > after]
            if since is not None:
                conditions.append(ri.last_updated > since)
            with self.read_session() as session:
                rows = session.scalars(select(ri).where(*conditions).order_by(ri.id).limit(batch)).all()
            if not rows:
                return
            for row in rows:
                yield _stored(row)
            after = rows[-1].id

    def is_nullified(self, case_id: str) -> bool:
        with self.read_session() as session:
            case_row = session.get(Case, case_id)
            return case_row is not None and case_row.status == "nullified"

    @contextmanager
    def _time_limit(self, session: Session) -> Iterator[None]:
        """Stop a search statement after search_seconds: statement_timeout on PostgreSQL (for this transaction
        only), a progress handler on SQLite. The read_session turns the interruption into SearchTooCostly."""
        from reporter.limits import limit

        seconds = limit("search_seconds")
        if self.dialect == "postgresql":
            session.execute(text(f"SET LOCAL statement_timeout = {int(seconds * 1000)}"))
            yield
            return
        raw = session.connection().connection.driver_connection
        deadline = time.monotonic() + seconds
        raw.set_progress_handler(lambda: int(time.monotonic() > deadline), 10_000)
        try:
            yield
        finally:
            raw.set_progress_handler(None, 0)

    # --- audit --------------------------------------------------------------------------------------

    def audit(self, *, subtype: str, action: str, outcome: str, agent: str, entity: str | None = None,
              query: str | None = None, source: str | None = None, detail: str | None = None,
              kind: str = "rest", case_id: str | None = None, reason: str | None = None) -> None:
        """Append an AuditEvent row in its own transaction: reads, and refused or failed writes (which
        changed nothing). Successful writes are audited inside their own transaction by `_save`."""
        if case_id is None and entity and entity.startswith("Bundle/"):
            case_id = entity.split("/")[1] or None
        with self.side_write_session() as session:
            audit_trail.append(session, recorded=_now(), subtype=subtype, action=action, outcome=outcome,
                               agent=agent, kind=kind, source=source, entity=entity, case_id=case_id,
                               query=query, reason=reason, detail=detail)

    def audit_events(self, limit: int = 100) -> list[AuditEvent]:
        with self.read_session() as session:
            return list(session.scalars(select(AuditEvent).order_by(AuditEvent.id.desc()).limit(limit)))


class StoreUnavailable(StoreError):
    """The database could not be reached or refused the connection (HTTP 503)."""


def _is_timeout(exc: DBAPIError) -> bool:
    """A statement cut off by the search time limit (PostgreSQL statement_timeout, SQLite interrupt)."""
    orig = exc.orig
    code = getattr(orig, "sqlstate", None)
    return code == "57014" or "interrupted" in str(orig).lower()


def _timeout_error() -> StoreError:
    return SearchTooCostly("the search took too long and was stopped", location="query",
                           hint="narrow the search (more criteria, a smaller _count)")


class SearchTooCostly(StoreError):
    """A search stopped by the store's time limit (HTTP 503 with a hint to narrow it)."""


def _nullified_cases():
    """The ids of nullified cases, a few: read from the partial index ix_case_nullified, whose condition the
    query must state as written (a bound parameter would not let SQLite use the index)."""
    return select(Case.id).where(text(NULLIFIED))


def _stored(row: ResourceIndex) -> StoredResource:
    return StoredResource(row.resource_type, row.resource_id, row.version, row.last_updated, row.case_id,
                          row.resource, row.id)


def _stored_text(row: ResourceIndex, text_: str) -> StoredResource:
    return StoredResource(row.resource_type, row.resource_id, row.version, row.last_updated, row.case_id, None,
                          row.id, text_)


def _date_condition(start_col, end_col, clause: DateClause, *, point: bool = False):
    """FHIR date search: the target range [start_col, end_col) against the parameter's range."""
    lo, hi = clause.start, clause.end
    end_cmp = end_col
    if point:  # an instant covers [t, t]; compare the point itself
        return {
            "eq": and_(start_col >= lo, start_col < hi),
            "ne": or_(start_col < lo, start_col >= hi),
            "gt": start_col >= hi, "sa": start_col >= hi,
            "ge": start_col >= lo,
            "lt": start_col < lo, "eb": start_col < lo,
            "le": start_col < hi,
        }[clause.prefix]
    return {
        "eq": and_(start_col >= lo, end_cmp <= hi),
        "ne": or_(start_col < lo, end_cmp > hi),
        "gt": end_cmp > hi,
        "ge": end_cmp > lo,
        "lt": start_col < lo,
        "le": start_col < hi,
        "sa": start_col >= hi,
        "eb": end_cmp <= lo,
    }[clause.prefix]


def _unit_condition(unit: str | None) -> list:
    """`system|code` matches exactly; `|code` (no system) matches the code in any system."""
    if not unit:
        return []
    if unit.startswith("|"):
        return [ResourceToken.system.endswith(unit, autoescape=True)]
    return [ResourceToken.system == unit]


def _quantity_condition(number, clause: QuantityClause):
    lo, hi, value = clause.low, clause.high, clause.value
    return {
        "eq": and_(number >= lo, number < hi),
        "ne": or_(number < lo, number >= hi),
        "gt": number > value, "ge": number >= value,
        "lt": number < value, "le": number <= value,
        "ap": and_(number >= value - abs(value) / 10, number <= value + abs(value) / 10),
    }[clause.prefix]


def _token_match(values: list[tuple[str | None, str]]):
    """Token alternatives as IN lists, not a chain of ORs: 900 ORs make SQLite's expression tree too deep."""
    bare = [code for system, code in values if system is None]
    pairs = [(system, code) for system, code in values if system is not None]
    clauses = []
    if bare:
        clauses.append(ResourceToken.code.in_(bare))
    if pairs:
        clauses.append(tuple_(ResourceToken.system, ResourceToken.code).in_(pairs))
    return or_(*clauses)


def _after_cursor(col, row_col, value, row_id: int, desc: bool):
    """The rows after the keyset position (value, row id) in the sort order (ties broken by row id); a None
    value is an undated row, which sort after the dated ones ascending and before them descending."""
    if value is None:
        rest = and_(col.is_(None), (row_col < row_id) if desc else (row_col > row_id))
        return or_(rest, col.is_not(None)) if desc else rest
    after = (col < value) if desc else (col > value)
    same = and_(col == value, (row_col < row_id) if desc else (row_col > row_id))
    return or_(after, same) if desc else or_(after, same, col.is_(None))


def _encode_cursor(row: ResourceIndex, key: str) -> str:
    if key == "_lastUpdated":
        return f"{format_instant(row.last_updated)}~{row.id}"
    if key == "date":
        return f"{format_instant(row.date_start) if row.date_start is not None else ''}~{row.id}"
    return f"{row.resource_id}~{row.id}"


def _decode_cursor(cursor: str, key: str):
    from reporter.store.fhirdates import parse_range

    try:
        value, row_text = cursor.rsplit("~", 1)
        row_id = int(row_text)
        if not 0 <= row_id <= MAX_ROW_ID:
            raise ValueError("row id out of range")
        if key == "date":
            return (parse_range(value)[0] if value else None), row_id
        return (parse_range(value)[0] if key == "_lastUpdated" else value), row_id
    except ValueError as exc:
        raise InputError(f"invalid paging cursor {cursor!r}", location="_cursor",
                         hint="follow the next link as given") from exc


_CASE, _VERSION = Case.__table__, CaseVersion.__table__
_CURRENT_TEXT = select(_VERSION.c.version, _VERSION.c.recorded, cast(_VERSION.c.bundle, Text).label("bundle")).join(
    _CASE, and_(_CASE.c.id == _VERSION.c.case_id, _CASE.c.current_version == _VERSION.c.version)).where(
    _CASE.c.id == bindparam("id"))
