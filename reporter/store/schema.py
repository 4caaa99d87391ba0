"""Tables of the case store (SQLAlchemy 2 declarative). Alembic migrations in migrations/ create them.

- ``case``: one row per ICSR case, keyed by the Composition identifier (C.1.1 sender's report id).
- ``case_version``: immutable versions of a case (initial, follow-up, amendment, nullification), each with
  the whole Bundle, who, when and why. Rows are never updated or deleted by the application.
- ``resource_index``: one row per resource inside each stored Bundle version (and one for the Bundle
  itself), with the searchable values pulled out; ``is_current`` marks the rows of a case's latest version.
  Searches are queries on this table; the resource JSON is kept here so a search page reads no Bundle.
- ``resource_token``: token search values (code, identifier, seriousness) of an index row.
- ``audit_event``: every read and write, shaped like FHIR AuditEvent; append-only and hash-chained.
- ``api_token``: bearer tokens, stored as SHA-256 hashes with their scopes, expiry and last use.
- ``user_account``, ``user_session``, ``login_throttle``: page logins (argon2id), server-side sessions, lockouts.
- ``received_message``, ``version_import``: received E2B files verbatim, and each imported version's report.
- ``case_approval``: a reviewer's approval of one case version (reporter/store/approvals.py).
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    event,
    func,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

from reporter.errors import StoreError

# BIGINT autoincrement on PostgreSQL, INTEGER PRIMARY KEY (rowid alias) on SQLite.
RowId = BigInteger().with_variant(Integer(), "sqlite")
# Plain JSON (text) rather than JSONB: nothing queries inside it, and text keeps the key order.
JsonDoc = JSON()


class UTCDateTime(TypeDecorator):
    """Timezone-aware UTC datetimes on the Python side, naive UTC in the database.

    Naive UTC with microseconds sorts and compares correctly on both SQLite (ISO strings) and
    PostgreSQL (timestamp), which is what `_lastUpdated` polling relies on.
    """

    impl = DateTime(timezone=False)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store; use UTC-aware datetimes")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect) -> datetime | None:
        return value.replace(tzinfo=UTC) if value is not None else None


NULLIFIED = "status = 'nullified'"
UNPLACED = "pt_code IS NULL"


class Base(DeclarativeBase):
    pass


class Case(Base):
    __tablename__ = "case"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    case_system: Mapped[str] = mapped_column(String(255), nullable=False, default="")
    case_key: Mapped[str] = mapped_column(String(255), nullable=False)
    current_version: Mapped[int] = mapped_column(Integer, nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False)  # active | nullified
    created: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    updated: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)

    __table_args__ = (
        UniqueConstraint("case_system", "case_key", name="uq_case_key"),
        # migration 0007: searches leave out the resources of nullified cases (a few) with NOT IN over this
        # partial index, instead of reading the whole case table for them on every search
        Index("ix_case_nullified", "id", sqlite_where=text(NULLIFIED), postgresql_where=text(NULLIFIED)),
    )


class CaseVersion(Base):
    __tablename__ = "case_version"

    case_id: Mapped[str] = mapped_column(ForeignKey("case.id"), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), nullable=False)  # initial|follow-up|amendment|nullification
    bundle: Mapped[dict] = mapped_column(JsonDoc, nullable=False)
    author: Mapped[str] = mapped_column(String(255), nullable=False)
    recorded: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    reason: Mapped[str | None] = mapped_column(Text)
    # The case file the Bundle was built from (form or case-file input); None for Bundles sent as such.
    casefile: Mapped[dict | None] = mapped_column(JsonDoc, nullable=True)

    __table_args__ = (Index("ix_case_version_recorded", "recorded"),)


class Rendition(Base):
    """A version rendered for people (CIOMS I PDF, report HTML), made once and served from here. A version
    never changes, so a new version is a new key; `renderer` names the templates and code that made it, so
    an upgrade renders again instead of serving the old layout."""

    __tablename__ = "rendition"

    case_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(8), primary_key=True)  # pdf | html
    renderer: Mapped[str] = mapped_column(String(64), nullable=False)
    body: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
    created: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)

    __table_args__ = (ForeignKeyConstraint(["case_id", "version"], ["case_version.case_id", "case_version.version"],
                                           name="fk_rendition_version"),)


class ResourceIndex(Base):
    __tablename__ = "resource_index"

    id: Mapped[int] = mapped_column(RowId, primary_key=True, autoincrement=True)
    case_id: Mapped[str] = mapped_column(String(64), nullable=False)
    version: Mapped[int] = mapped_column(Integer, nullable=False)
    resource_type: Mapped[str] = mapped_column(String(64), nullable=False)
    resource_id: Mapped[str] = mapped_column(String(64), nullable=False)
    is_current: Mapped[bool] = mapped_column(Boolean, nullable=False)
    last_updated: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    patient: Mapped[str | None] = mapped_column(String(128))  # "Patient/<id>"
    date_start: Mapped[datetime | None] = mapped_column(UTCDateTime)
    date_end: Mapped[datetime | None] = mapped_column(UTCDateTime)
    resource: Mapped[dict] = mapped_column(JsonDoc, nullable=False)

    __table_args__ = (
        ForeignKeyConstraint(["case_id", "version"], ["case_version.case_id", "case_version.version"]),
        # Polling and default paging: current rows of one type in (last_updated, id) order.
        Index("ix_resource_current_lu", "resource_type", "is_current", "last_updated", "id"),
        Index("ix_resource_type_id", "resource_type", "resource_id", "version"),
        Index("ix_resource_patient", "resource_type", "patient", "is_current"),
        # Date search: the filter and page-order columns too, so the search stays in the index; by start
        # for periods early in the data, by end for late ones (migration 0008).
        Index("ix_resource_date", "resource_type", "date_start", "date_end", "is_current", "case_id",
              "last_updated", "id"),
        Index("ix_resource_date_end", "resource_type", "date_end", "date_start", "is_current", "case_id",
              "last_updated", "id"),
        Index("ix_resource_case", "case_id", "version"),
    )


class ResourceToken(Base):
    __tablename__ = "resource_token"

    id: Mapped[int] = mapped_column(RowId, primary_key=True, autoincrement=True)
    index_id: Mapped[int] = mapped_column(ForeignKey("resource_index.id"), nullable=False)
    param: Mapped[str] = mapped_column(String(32), nullable=False)  # code | identifier | seriousness
    system: Mapped[str] = mapped_column(String(255), nullable=False, default="")
    code: Mapped[str] = mapped_column(String(255), nullable=False)

    __table_args__ = (
        # migration 0007: index_id in the index, so finding the rows of a token reads no table page
        Index("ix_token_lookup", "param", "code", "system", "index_id"),
        # migration 0007: with param and code, a search walking index rows in page order checks a token in the
        # index alone
        Index("ix_token_index", "index_id", "param", "code"),
    )


class CaseReaction(Base):
    """Tabulation projection: one row per case x reaction x suspect drug of each case's current version
    (reporter/analysis/projection.py), rewritten on every store write; nullified cases have none.
    Tabulations, line listings and disproportionality are SQL aggregations over this table."""

    __tablename__ = "case_reaction"

    id: Mapped[int] = mapped_column(RowId, primary_key=True, autoincrement=True)
    case_id: Mapped[str] = mapped_column(String(64), nullable=False)
    version: Mapped[int] = mapped_column(Integer, nullable=False)
    case_key: Mapped[str | None] = mapped_column(String(100))
    report_type: Mapped[str | None] = mapped_column(String(32))
    received: Mapped[str | None] = mapped_column(String(32))
    received_year: Mapped[int | None] = mapped_column(Integer)
    country: Mapped[str | None] = mapped_column(String(8))
    sex: Mapped[str | None] = mapped_column(String(16))
    age_years: Mapped[float | None] = mapped_column(Float)
    age_group_reported: Mapped[str | None] = mapped_column(String(16))
    survival: Mapped[str | None] = mapped_column(String(16))
    reaction_key: Mapped[str | None] = mapped_column(String(64))
    reaction_term: Mapped[str | None] = mapped_column(String(255))
    llt_code: Mapped[str | None] = mapped_column(String(16))
    meddra_version: Mapped[str | None] = mapped_column(String(16))
    pt_code: Mapped[str | None] = mapped_column(String(16))
    pt_name: Mapped[str | None] = mapped_column(String(255))
    pt_term: Mapped[str | None] = mapped_column(String(255))  # the PT, or the term as reported when not placed
    soc_code: Mapped[str | None] = mapped_column(String(16))
    soc_name: Mapped[str | None] = mapped_column(String(255))
    onset: Mapped[str | None] = mapped_column(String(32))
    outcome: Mapped[str | None] = mapped_column(String(32))
    serious: Mapped[bool | None] = mapped_column(Boolean)
    sc_death: Mapped[bool | None] = mapped_column(Boolean)
    sc_life_threatening: Mapped[bool | None] = mapped_column(Boolean)
    sc_hospitalisation: Mapped[bool | None] = mapped_column(Boolean)
    sc_disabling: Mapped[bool | None] = mapped_column(Boolean)
    sc_congenital_anomaly: Mapped[bool | None] = mapped_column(Boolean)
    sc_other_medically_important: Mapped[bool | None] = mapped_column(Boolean)
    drug_key: Mapped[str | None] = mapped_column(String(64))
    drug: Mapped[str | None] = mapped_column(String(255))
    route: Mapped[str | None] = mapped_column(String(64))
    dosing_mode: Mapped[str | None] = mapped_column(String(16))
    dose: Mapped[str | None] = mapped_column(String(255))
    drug_start: Mapped[str | None] = mapped_column(String(64))
    drug_stop: Mapped[str | None] = mapped_column(String(64))
    indication: Mapped[str | None] = mapped_column(String(255))
    action_taken: Mapped[str | None] = mapped_column(String(32))
    dechallenge: Mapped[str | None] = mapped_column(String(32))
    rechallenge: Mapped[str | None] = mapped_column(String(32))
    causality: Mapped[str | None] = mapped_column(String(255))
    latency_days: Mapped[float | None] = mapped_column(Float)
    # migration 0006: "Naranjo: Probable", ... or "other/unmapped" (reporter/assess/result.tabulation_category)
    causality_category: Mapped[str | None] = mapped_column(String(64))
    # migration 0009: a latency the author qualified (at-least, within, about) or gave as a range (range, with
    # its end in latency_high_days); NULL for an exact one. Statistics leave qualified latencies out.
    latency_qualifier: Mapped[str | None] = mapped_column(String(16))
    latency_high_days: Mapped[float | None] = mapped_column(Float)
    # migration 0010: an age at onset that names a span (6 {decade}: the sixties) is "range", from age_years up
    # to age_high_years (exclusive); NULL for an exact age. Statistics leave it out, bands take it only whole.
    age_qualifier: Mapped[str | None] = mapped_column(String(16))
    age_high_years: Mapped[float | None] = mapped_column(Float)

    __table_args__ = (
        Index("ix_case_reaction_case", "case_id"),
        Index("ix_case_reaction_soc_outcome", "soc_name", "outcome", "case_id"),
        Index("ix_case_reaction_drug_pt", "drug", "pt_term", "case_id"),
        Index("ix_case_reaction_drug_soc", "drug", "soc_name", "case_id"),
        Index("ix_case_reaction_received", "received_year"),
        # migration 0006: the columns --where compares as they are (reporter/analysis/tabulate.py _equals)
        Index("ix_case_reaction_outcome", "outcome"),
        Index("ix_case_reaction_age", "age_years"),
        # migration 0010: the ages given as a range, which --where age_group takes only when one group holds them
        Index("ix_case_reaction_age_qualifier", "age_qualifier"),
        # migration 0007: the distinct (SOC, case) pairs with a known value of a last field (SOC x outcome's
        # denominators) straight off the index, without sorting every row
        Index("ix_case_reaction_soc_case", "soc_name", "case_id", "outcome"),
        # migration 0007: the cases with reactions not placed in MedDRA (the note under a SOC/PT tabulation)
        Index("ix_case_reaction_unplaced", "case_id", sqlite_where=text(UNPLACED), postgresql_where=text(UNPLACED)),
    )


# migration 0006: free-text fields are filtered as lower(column) = value; these expression indexes (SQLite
# and PostgreSQL both have them) make that an index search.
LOWER_INDEXED = ("soc_name", "pt_term", "reaction_term", "indication", "country", "causality_category")
for _column in LOWER_INDEXED:
    Index(f"ix_case_reaction_lower_{_column}", func.lower(getattr(CaseReaction, _column)))


class AuditEvent(Base):
    __tablename__ = "audit_event"

    id: Mapped[int] = mapped_column(RowId, primary_key=True, autoincrement=True)
    recorded: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, index=True)
    type: Mapped[str] = mapped_column(String(16), nullable=False)  # rest | user | system
    subtype: Mapped[str] = mapped_column(String(32), nullable=False)  # read, vread, search-type, create...
    action: Mapped[str] = mapped_column(String(1), nullable=False)  # C R U D E
    outcome: Mapped[str] = mapped_column(String(2), nullable=False)  # 0 success, 4 minor, 8 serious, 12 major
    # token:<id> | user:<name> | cli:<os user> | anonymous
    agent: Mapped[str] = mapped_column(String(128), nullable=False, index=True)
    source: Mapped[str | None] = mapped_column(String(64))  # network address
    entity: Mapped[str | None] = mapped_column(String(255))  # Type/id[/_history/v]
    query: Mapped[str | None] = mapped_column(Text)
    detail: Mapped[str | None] = mapped_column(Text)
    # migration 0003: the case a row is about, why (writes), and the hash chain (see store/audit.py)
    case_id: Mapped[str | None] = mapped_column(String(64), index=True)
    reason: Mapped[str | None] = mapped_column(Text)
    prev_hash: Mapped[str | None] = mapped_column(String(64))
    hash: Mapped[str | None] = mapped_column(String(64))


class ApiToken(Base):
    __tablename__ = "api_token"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    secret_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    scopes: Mapped[str] = mapped_column(String(255), nullable=False)  # space separated
    label: Mapped[str | None] = mapped_column(String(255))
    created: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    revoked: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    expires: Mapped[datetime | None] = mapped_column(UTCDateTime)  # migration 0004
    last_used: Mapped[datetime | None] = mapped_column(UTCDateTime)


class UserAccount(Base):
    __tablename__ = "user_account"

    name: Mapped[str] = mapped_column(String(128), primary_key=True)
    password_hash: Mapped[str] = mapped_column(String(255), nullable=False)
    created: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    # migration 0004: reporter | reviewer | admin (mappings/roles.yaml says what each may do)
    role: Mapped[str] = mapped_column(String(16), nullable=False, default="reporter", server_default="reporter")


class UserSession(Base):
    """A page login, server-side: logout, a password change or an administrator ends it (migration 0004)."""

    __tablename__ = "user_session"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # SHA-256 of the secret in the cookie
    user_name: Mapped[str] = mapped_column(ForeignKey("user_account.name", ondelete="CASCADE"), nullable=False,
                                           index=True)
    created: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    last_seen: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    ended: Mapped[datetime | None] = mapped_column(UTCDateTime)
    address: Mapped[str | None] = mapped_column(String(64))


class LoginThrottle(Base):
    """Failed logins per account name and per client address (keys "user:<name>", "addr:<ip>")."""

    __tablename__ = "login_throttle"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, nullable=False)
    window_start: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)


class ReceivedMessage(Base):
    """A received E2B file exactly as it arrived, keyed by its SHA-256 (migration 0005). Served as FHIR
    Binary; the case versions read from it point here (VersionImport)."""

    __tablename__ = "received_message"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # SHA-256 of the content, hex
    content_type: Mapped[str] = mapped_column(String(100), nullable=False)
    size: Mapped[int] = mapped_column(Integer, nullable=False)
    filename: Mapped[str | None] = mapped_column(String(255))
    received: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    content: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)


class VersionImport(Base):
    """For a case version read from a received message: which message and report, and the import report
    (value facts through the case model, what was not mapped by element, warnings). Migration 0005."""

    __tablename__ = "version_import"

    case_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    message_id: Mapped[str] = mapped_column(ForeignKey("received_message.id"), nullable=False, index=True)
    report_index: Mapped[int] = mapped_column(Integer, nullable=False)
    report: Mapped[dict] = mapped_column(JsonDoc, nullable=False)

    __table_args__ = (
        ForeignKeyConstraint(["case_id", "version"], ["case_version.case_id", "case_version.version"]),
    )
class CaseApproval(Base):
    """A reviewer approved this version for submission (migration 0006): at most one row per version."""

    __tablename__ = "case_approval"

    case_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    reviewer: Mapped[str] = mapped_column(String(128), nullable=False)  # the user name
    recorded: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    comment: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (ForeignKeyConstraint(["case_id", "version"], ["case_version.case_id", "case_version.version"],
                                           name="fk_case_approval_version"),)


@event.listens_for(CaseVersion, "before_update")
def _versions_are_immutable(mapper, connection, target) -> None:  # pragma: no cover - guard
    raise StoreError("case versions are immutable", location=f"case {target.case_id} v{target.version}")


# --- migration 0006_integration (issue 13): Groups, Subscriptions, SMART backend clients --------------------

class ServerResource(Base):
    """Resources the server keeps beside the cases, written through the API on their own: Group (for Group-level
    Bulk export) and Subscription. Versioned in place (the row holds the current version)."""

    __tablename__ = "server_resource"

    resource_type: Mapped[str] = mapped_column(String(64), primary_key=True)
    resource_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, nullable=False)
    last_updated: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    resource: Mapped[dict] = mapped_column(JsonDoc, nullable=False)
    # Subscriptions: index rows up to this time have been matched against the criteria
    checked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)


class SubscriptionOutbox(Base):
    """One notification to deliver: the subscription and the resource version that matched it."""

    __tablename__ = "subscription_outbox"

    id: Mapped[int] = mapped_column(RowId, primary_key=True, autoincrement=True)
    subscription_id: Mapped[str] = mapped_column(String(64), nullable=False)
    resource_type: Mapped[str] = mapped_column(String(64), nullable=False)
    resource_id: Mapped[str] = mapped_column(String(64), nullable=False)
    version: Mapped[int] = mapped_column(Integer, nullable=False)
    state: Mapped[str] = mapped_column(String(16), nullable=False)  # pending | sending | sent | failed
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    next_try: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    created: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)

    __table_args__ = (Index("ix_outbox_due", "state", "next_try"),
                      Index("ix_outbox_subscription", "subscription_id", "state"))


class SmartClient(Base):
    """A SMART Backend Services client: its public keys (a JWKS) and the scopes it may be granted."""

    __tablename__ = "smart_client"

    id: Mapped[str] = mapped_column(String(128), primary_key=True)
    label: Mapped[str | None] = mapped_column(String(255))
    jwks: Mapped[dict] = mapped_column(JsonDoc, nullable=False)
    scopes: Mapped[str] = mapped_column(String(255), nullable=False)  # our scopes, space separated
    created: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    revoked: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)


class SmartJti(Base):
    """Client assertion ids seen, kept until the assertion expires: a replayed assertion is refused."""

    __tablename__ = "smart_jti"

    client_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    jti: Mapped[str] = mapped_column(String(255), primary_key=True)
    expires: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, index=True)
