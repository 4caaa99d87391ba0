"""The reviewer's approval of a case version (POST /cases/<id>/approve), the step before submission.

The form on the case page names the version the reviewer read; only that version, if still current, is
approved (reporter.store.approvals: four eyes, one approval per version, audited in the same transaction)."""

from __future__ import annotations

from flask import g, redirect, request, url_for

from reporter.errors import InputError
from reporter.store.approvals import approve
from reporter.web import audit as web_audit
from reporter.web.pages import _audit, _case_id, bp, store
from reporter.web.roles import require


@bp.post("/cases/<case_id>/approve")
@require("approve")
def approve_version(case_id: str):
    case_id = _case_id(case_id)
    text = request.form.get("version", "")
    if not text.isdecimal() or not 0 < int(text) < 2**31:
        raise InputError(f"{text[:20]!r} is not a version number", location="version")
    version = int(text)
    _audit("approve", "E", f"Bundle/{case_id}/_history/{version}")
    approve(store(), case_id, version, g.user, comment=request.form.get("comment", "")[:4000],
            audit=web_audit.context(f"user:{g.user}", "user", "approve", 303))
    g.ui_audit["stored"] = True
    return redirect(url_for("ui.case", case_id=case_id, approved=version), 303)
