"""Reviewer approval of case versions, the step between drafting and submitting (four eyes).

- A reviewer approves the case's current version; not the version's own author (a version stored from the
  pages has author "user:<name>"; versions from the API, an import or the CLI can be approved by any
  reviewer). An earlier version cannot be approved: what is approved is what would be sent.
- Each version needs its own approval: storing a new version leaves it unapproved.
- E2B(R3) submission (page download and the API's $e2b) is refused for a version without approval.
- The approval row and its audit row are written in one transaction; the table's primary key (case,
  version) makes a second approval of the same version a conflict, even from two reviewers at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select

from reporter.errors import AuthError, InputError, NotFound, StoreConflict
from reporter.store import audit as audit_trail
from reporter.store.audit import AuditContext
from reporter.store.repository import CaseStore, StoredVersion
from reporter.store.schema import Case, CaseApproval, CaseVersion

COMMENT_LIMIT = 2000


class NotApproved(StoreConflict):
    """The version has no reviewer approval: not submitted (HTTP 409)."""


@dataclass(frozen=True)
class Approval:
    case_id: str
    version: int
    reviewer: str
    recorded: datetime
    comment: str | None


def _approval(row: CaseApproval) -> Approval:
    return Approval(row.case_id, row.version, row.reviewer, row.recorded, row.comment)


def approve(store: CaseStore, case_id: str, version: int, reviewer: str, *, comment: str | None = None,
            audit: AuditContext | None = None) -> Approval:
    """Record `reviewer`'s approval of version `version` (which must be current) with its audit row."""
    comment = (comment or "").strip() or None
    if comment and len(comment) > COMMENT_LIMIT:
        raise InputError(f"the comment is longer than {COMMENT_LIMIT} characters", location="comment")
    audit = audit or AuditContext(agent=f"user:{reviewer}", kind="user")
    entity = f"Bundle/{case_id}/_history/{version}"
    with store.write_session() as session:
        case = session.get(Case, case_id)
        row = session.get(CaseVersion, (case_id, version)) if case is not None else None
        if row is None:
            raise NotFound(f"{entity} does not exist", location=entity)
        if version != case.current_version:
            raise StoreConflict(f"version {version} is not the current version ({case.current_version})",
                                location=entity, hint="approve the current version: it is the one submitted")
        if row.author == f"user:{reviewer}":
            raise AuthError("you stored this version: another reviewer approves it (four eyes)", status=403,
                            hint="ask a second reviewer to approve it")
        existing = session.get(CaseApproval, (case_id, version))
        if existing is not None:
            raise StoreConflict(f"version {version} was already approved by {existing.reviewer}", location=entity)
        now = datetime.now(UTC)
        approval = CaseApproval(case_id=case_id, version=version, reviewer=reviewer, recorded=now, comment=comment)
        session.add(approval)
        session.flush()
        audit_trail.append(session, recorded=now, subtype="approve", action="E", outcome="0", agent=audit.agent,
                           kind=audit.kind, source=audit.source, entity=entity, case_id=case_id, query=audit.query,
                           reason=comment or "approved for submission", detail=audit.detail)
        return _approval(approval)


def approval_of(store: CaseStore, case_id: str, version: int) -> Approval | None:
    with store.read_session() as session:
        row = session.get(CaseApproval, (case_id, version))
        return _approval(row) if row is not None else None


def approvals_of(store: CaseStore, case_id: str) -> dict[int, Approval]:
    """Every approved version of a case, by version number (for the history page)."""
    with store.read_session() as session:
        rows = session.scalars(select(CaseApproval).where(CaseApproval.case_id == case_id))
        return {row.version: _approval(row) for row in rows}


def require_approval(store: CaseStore, v: StoredVersion) -> Approval:
    """The version's approval; NotApproved (409) when it has none: E2B submission is refused."""
    found = approval_of(store, v.case_id, v.version)
    if found is None:
        raise NotApproved(f"version {v.version} of Bundle/{v.case_id} is not approved for submission",
                          location=f"Bundle/{v.case_id}/_history/{v.version}",
                          hint="a reviewer other than the version's author approves it on the case page")
    return found
