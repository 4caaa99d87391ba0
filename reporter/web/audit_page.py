"""The audit review page (/audit) and its CSV / FHIR AuditEvent downloads, filtered by case, user and period.

Routes hang on the pages' blueprint (login, CSRF, audit of the page view itself). Reviewing the trail is
for reviewers and administrators (see reporter.web.roles)."""

from __future__ import annotations

import json

from flask import Response, render_template, request

from reporter.store.audit import AuditFilter, fhir_bundle, select_events, to_csv
from reporter.web.formargs import date_arg
from reporter.web.pages import _audit, bp, store
from reporter.web.roles import require

PAGE_ROWS = 100


def _filter(errors: dict[str, str]) -> AuditFilter:
    before = request.args.get("before", "")
    return AuditFilter(case_id=request.args.get("case", "").strip()[:64] or None,
                       agent=request.args.get("user", "").strip()[:128] or None,
                       since=date_arg("since", errors), until=date_arg("until", errors, end=True),
                       before_id=int(before) if before.isdecimal() and len(before) < 19 else None)


@bp.get("/audit")
@require("audit")
def audit_review():
    _audit("audit-review", "R", "AuditEvent")
    errors: dict[str, str] = {}
    f = _filter(errors)
    f.limit = PAGE_ROWS + 1
    rows = []
    if not errors:
        with store().read_session() as session:
            rows = list(select_events(session, f))
    more = len(rows) > PAGE_ROWS
    rows = rows[:PAGE_ROWS]
    args = {k: v for k, v in request.args.items() if k != "before" and v}
    return render_template("audit.html", rows=rows, errors=errors, args=args,
                           older=rows[-1].id if more and rows else None)


@bp.get("/audit/export")
@require("audit")
def audit_export():
    fmt = request.args.get("format", "csv")
    _audit("audit-export", "R", "AuditEvent")
    errors: dict[str, str] = {}
    f = _filter(errors)
    if fmt not in ("csv", "fhir") or errors:
        from reporter.errors import InputError

        raise InputError(next(iter(errors.values()), f"unknown format {fmt[:20]!r}"),
                         location=next(iter(errors), "format"), hint="format is csv or fhir; dates YYYY-MM-DD")
    with store().read_session() as session:
        rows = select_events(session, f)
        if fmt == "csv":
            body, media, name = "".join(to_csv(rows)), "text/csv; charset=utf-8", "audit.csv"
        else:
            body, media, name = json.dumps(fhir_bundle(rows)), "application/fhir+json", "audit.json"
    return Response(body, 200, content_type=media, headers={"Content-Disposition": f'attachment; filename="{name}"'})
