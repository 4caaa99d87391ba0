"""The clinicians' case list: current case versions filtered over the resource index, newest first, paged.

Filters:
- text: part of the case id (C.1.1);
- seriousness: "serious" / "non-serious" (a case is serious when one of its reactions is);
- reaction: a MedDRA code (exact, token index) or words of the reaction's text;
- drug: words of a drug's name (MedicationStatement / Medication text);
- onset from/to: a reaction's onset date (AdverseEvent.date) within the range;
- updated from/to: when the current version was stored.
Text matches look inside the stored resource JSON, case-insensitively, on SQLite and PostgreSQL alike.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Text, and_, cast, exists, func, select
from sqlalchemy.orm import aliased

from reporter.store.repository import CaseStore
from reporter.store.schema import Case, ResourceIndex, ResourceToken

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
                ResourceToken.system == _SERIOUSNESS_SYSTEM, ResourceToken.code == "Serious"))
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
        return [CaseRow(r.case_id, c.case_key, r.version, c.status, r.last_updated, r.resource)
                for r, c in rows], total
