"""Reviewer approval over real HTTP on SQLite and PostgreSQL: who may approve (reviewers, not the version's
author), the audit row, the case and history pages, E2B submission refused without it, and a new version
starting unapproved. The same in a real browser: test_pages_browser.py."""

from __future__ import annotations

import json
import re

import pytest
from sqlalchemy import func, select

from reporter.errors import AuthError, NotFound, StoreConflict
from reporter.store import audit as audit_trail
from reporter.store.approvals import approval_of, approve
from reporter.store.schema import CaseApproval

from .bundles import demo_bundles
from .test_accounts import _csrf, login

JSON = "application/fhir+json"


def _approve(served, s, case_id: str, version: int, comment: str = ""):
    site = served.base.removesuffix("/fhir")
    csrf = _csrf(s.get(f"{site}/cases/{case_id}", timeout=60).text)
    return s.post(f"{site}/cases/{case_id}/approve", data={"csrf_token": csrf, "version": str(version),
                                                           "comment": comment}, allow_redirects=False, timeout=60)


def _approvals(store) -> int:
    with store.read_session() as db:
        return db.scalar(select(func.count()).select_from(CaseApproval))


def test_a_reviewer_approves_and_a_new_version_needs_a_new_approval(served, e2b_schema_dir) -> None:
    site = served.base.removesuffix("/fhir")
    api = served.session(served.write_token)
    bundle = demo_bundles()[0]
    case_id = api.post(f"{served.base}/Bundle", data=json.dumps(bundle), headers={"Content-Type": JSON},
                       timeout=60).json()["id"]
    reporter, reviewer = login(served, "rita"), login(served, "vic", role="reviewer")

    page = reviewer.get(f"{site}/cases/{case_id}", timeout=60).text
    assert "Not approved" in page and "Approve version 1" in page and "e2b-ich" not in page
    assert "Approve version" not in reporter.get(f"{site}/cases/{case_id}", timeout=60).text
    assert reviewer.get(f"{site}/cases/{case_id}/download/e2b-ich", timeout=60).status_code == 409
    assert reviewer.get(f"{site}/cases/{case_id}/download/e2b-xx", timeout=60).status_code == 404  # was 409
    assert api.get(f"{served.base}/Bundle/{case_id}/$e2b", timeout=60).status_code == 409

    assert _approve(served, reporter, case_id, 1).status_code == 403  # reporters draft; they do not approve
    assert _approvals(served.store) == 0
    r = _approve(served, reviewer, case_id, 1, "checked against the source")
    assert r.status_code == 303 and r.headers["Location"].endswith(f"/cases/{case_id}?approved=1")
    page = reviewer.get(f"{site}/cases/{case_id}?approved=1", timeout=60).text
    assert "Approved for submission by vic" in page and "checked against the source" in page and "e2b-ich" in page
    assert reviewer.get(f"{site}/cases/{case_id}/download/e2b-ich", timeout=120).status_code == 200
    assert api.get(f"{served.base}/Bundle/{case_id}/$e2b", timeout=120).status_code == 200
    event = next(e for e in served.store.audit_events(20) if e.subtype == "approve")
    assert (event.agent, event.entity, event.reason, event.outcome, event.case_id) == (
        "user:vic", f"Bundle/{case_id}/_history/1", "checked against the source", "0", case_id)

    assert _approve(served, login(served, "wes", role="reviewer"), case_id, 1).status_code == 409  # once only
    refused = next(e for e in served.store.audit_events(5) if e.subtype == "approve")
    assert (refused.agent, refused.outcome) == ("user:wes", "4")  # the refusal is audited too

    # a follow-up stored from the pages by wes: unapproved, wes may not approve it, vic may; v1 stays approved
    follow = json.loads(json.dumps(bundle))
    follow["entry"][0]["resource"]["title"] = "follow-up"
    served.store.update(case_id, follow, author="user:wes", reason="new information")
    assert api.get(f"{served.base}/Bundle/{case_id}/$e2b", timeout=60).status_code == 409
    wes = login(served, "wes", role="reviewer")
    assert "another reviewer approves it" in wes.get(f"{site}/cases/{case_id}", timeout=60).text
    assert _approve(served, wes, case_id, 2).status_code == 403
    assert _approve(served, reviewer, case_id, 1).status_code == 409  # not the current version
    assert _approve(served, reviewer, case_id, 2).status_code == 303
    history = reviewer.get(f"{site}/cases/{case_id}/history", timeout=60).text
    assert len(re.findall(r"<td>vic, \d{4}-\d\d-\d\d \d\d:\d\d</td>", history)) == 2
    assert reviewer.get(f"{site}/cases/{case_id}/download/e2b-ich?version=1", timeout=120).status_code == 200
    with served.store.read_session() as db:
        assert audit_trail.verify(db).ok


def test_approval_rules_in_the_store(store) -> None:
    v = store.create(demo_bundles()[0], author="user:ann")
    with pytest.raises(AuthError):
        approve(store, v.case_id, 1, "ann")  # four eyes
    with pytest.raises(NotFound):
        approve(store, v.case_id, 2, "bea")
    approve(store, v.case_id, 1, "bea", comment="  ")
    assert approval_of(store, v.case_id, 1).comment is None
    with pytest.raises(StoreConflict):
        approve(store, v.case_id, 1, "cy")
