"""The clinicians' case list: current case versions filtered over the resource index, newest first, paged.

Filters:
- text: part of the case id (C.1.1);
- seriousness: "serious" / "non-serious" (a case is serious when one of its reactions is);
- reaction: a MedDRA code (exact, token index) or words of the reaction's text;
- drug: words of a drug's name (MedicationStatement / Medication text);
- onset from/to: a reaction's onset date (AdverseEvent.date) within the range;
- updated from/to: when the current version was stored;
- worldwide: the C.1.8.1 worldwide unique case id (token index): every sender's report of one worldwide case.
Each row says its worldwide id and how many listed cases share it (one grouped query per page).
Text matches look inside the stored resource JSON, case-insensitively, on SQLite and PostgreSQL alike.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Text, and_, cast, exists, func, select
from sqlalchemy.orm import aliased

from reporter.store.repository import CaseStore
from reporter.store.schema import Case, ResourceIndex, ResourceToken
from reporter.store.worldwide import WORLDWIDE_PARAM, worldwide_id
from reporter.tables import fhir_tables

_SERIOUSNESS_SYSTEM = "http://terminology.hl7.org/CodeSystem/adverse-event-seriousness"


@dataclass
class CaseFilter:
    text: str = ""
    seriousness: str = ""  # "", serious, non-serious
    reaction: str = ""
    drug: str = ""
    onset_from: datetime | None = None
    onset_to: datetime | None = None  # exclusive
    updated_from: datetime | None = None
    updated_to: datetime | None = None  # exclusive
    worldwide: str = ""
    page: int = 1
    per_page: int = 20


@dataclass
class CaseRow:
    case_id: str
    case_key: str
    version: int
    status: str
    updated: datetime
    bundle: dict
    worldwide: str | None = None  # C.1.8.1
    held: int = 1  # current cases with that worldwide id (other senders' reports of it), this one included


def _like(text: str) -> str:
    escaped = text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _json_contains(column, text: str):
    return func.lower(cast(column, Text)).like(_like(text), escape="\\")


def _case_has(resource_types: tuple[str, ...], *conditions):
    other = aliased(ResourceIndex)
    return exists(select(other.id).where(other.case_id == ResourceIndex.case_id, other.is_current.is_(True),
                                         other.resource_type.in_(resource_types),
                                         *[c(other) for c in conditions]))


def list_cases(store: CaseStore, f: CaseFilter) -> tuple[list[CaseRow], int]:
    ri = ResourceIndex
    conditions = [ri.resource_type == "Bundle", ri.is_current.is_(True)]
    if f.text:
        conditions.append(func.lower(Case.case_key).like(_like(f.text), escape="\\"))
    if f.seriousness in ("serious", "non-serious"):
        def serious(o):
            return exists(select(ResourceToken.id).where(
                ResourceToken.index_id == o.id, ResourceToken.param == "seriousness",
                ResourceToken.system == _SERIOUSNESS_SYSTEM,
                ResourceToken.code.in_([c for c, said in fhir_tables().seriousness_flags.items() if said])))
        has_serious = _case_has(("AdverseEvent",), serious)
        conditions.append(has_serious if f.seriousness == "serious" else ~has_serious)
    if f.reaction:
        term = f.reaction.strip()
        if term.isdigit():
            conditions.append(_case_has(("AdverseEvent",), lambda o: exists(select(ResourceToken.id).where(
                ResourceToken.index_id == o.id, ResourceToken.param == "event", ResourceToken.code == term))))
        else:
            conditions.append(_case_has(("AdverseEvent",), lambda o: _json_contains(o.resource, term)))
    if f.drug:
        conditions.append(_case_has(("MedicationStatement", "Medication"),
                                    lambda o: _json_contains(o.resource, f.drug.strip())))
    if f.onset_from or f.onset_to:
        def onset(o):
            parts = [o.date_start.is_not(None)]
            if f.onset_from:
                parts.append(o.date_start >= f.onset_from)
            if f.onset_to:
                parts.append(o.date_start < f.onset_to)
            return and_(*parts)
        conditions.append(_case_has(("AdverseEvent",), onset))
    if f.worldwide:
        conditions.append(_has_token(ri, WORLDWIDE_PARAM, f.worldwide))
    if f.updated_from:
        conditions.append(ri.last_updated >= f.updated_from)
    if f.updated_to:
        conditions.append(ri.last_updated < f.updated_to)
    per_page = max(1, min(f.per_page, 100))
    page = max(1, f.page)
    base = select(ri, Case).join(Case, Case.id == ri.case_id).where(*conditions)
    with store.read_session() as session:
        total = session.scalar(select(func.count()).select_from(base.subquery())) or 0
        rows = session.execute(base.order_by(ri.last_updated.desc(), ri.id.desc())
                               .limit(per_page).offset((page - 1) * per_page)).all()
        out = [CaseRow(r.case_id, c.case_key, r.version, c.status, r.last_updated, r.resource,
                       _worldwide(r.resource)) for r, c in rows]
        held = _held(session, {row.worldwide for row in out if row.worldwide})
        for row in out:
            row.held = held.get(row.worldwide or "", 1)
        return out, total


def _has_token(row, param: str, code: str):
    return exists(select(ResourceToken.id).where(ResourceToken.index_id == row.id, ResourceToken.param == param,
                                                 ResourceToken.code == code))


def _worldwide(bundle: dict) -> str | None:
    try:
        return worldwide_id(bundle)
    except (KeyError, IndexError, TypeError, AttributeError):  # a damaged Bundle still gets a row
        return None


def _held(session, codes: set[str]) -> dict[str, int]:
    """How many current cases hold each worldwide id (C.1.8.1) of a page."""
    if not codes:
        return {}
    ri, tok = ResourceIndex, ResourceToken
    return dict(session.execute(
        select(tok.code, func.count(func.distinct(ri.case_id))).join(ri, ri.id == tok.index_id)
        .where(tok.param == WORLDWIDE_PARAM, tok.code.in_(sorted(codes)), ri.resource_type == "Bundle",
               ri.is_current.is_(True)).group_by(tok.code)).all())
