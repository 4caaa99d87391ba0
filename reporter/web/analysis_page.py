"""The disproportionality page (/disproportionality): pick a suspect drug and an event (MedDRA PT or SOC), see
the 2x2 table of cases, PRR with chi-square, ROR and IC with their intervals and which of the usual signal
rules hold; or, with a drug alone (or nothing), the screen of every pair with enough cases. CSV/XLSX of what
is shown. The arithmetic is reporter/analysis/disproportionality.py; this module only reads the query."""

from __future__ import annotations

from flask import Response, render_template, request

from reporter.analysis import output
from reporter.analysis.disproportionality import (
    HEADER,
    PAIR_HEADER,
    choices,
    event_note,
    pair,
    pair_rows,
    pairs,
    signal_criteria,
    table_rows,
)
from reporter.web.pages import _audit, bp, store
from reporter.web.roles import require

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _download(fmt: str, header: list[str], rows: list[list], notes: list[str]) -> Response:
    body = output.as_csv(header, rows) if fmt == "csv" else output.as_xlsx(header, rows, notes)
    return Response(body, mimetype="text/csv" if fmt == "csv" else XLSX,
                    headers={"Content-Disposition": f'attachment; filename="disproportionality.{fmt}"'})


@bp.get("/disproportionality")
@require("view")
def disproportionality_page():
    args = request.args
    drug = args.get("drug", "").strip()[:255]
    event = args.get("event", "").strip()[:255]
    level = args.get("level", "pt")
    min_text = args.get("min", "3").strip() or "3"
    errors = []
    if level not in ("pt", "soc"):
        errors.append(f"level {level[:20]!r} is not pt or soc")
        level = "pt"
    min_cases = int(min_text) if min_text.isdecimal() and len(min_text) < 6 else 0
    if not 1 <= min_cases <= 10_000:
        errors.append(f"minimum cases {min_text[:20]!r} is not a whole number from 1 to 10000")
        min_cases = 3
    _audit("disproportionality", "E", "Bundle")
    query = {k: v for k, v in (("drug", drug), ("event", event), ("level", level), ("min", str(min_cases))) if v}
    drugs, events = choices(store(), level)
    measures = criteria = None
    screen: list[list] = []
    total = 0
    if not errors and drug and event:
        measures = pair(store(), drug, event, level=level)
        criteria = signal_criteria(measures, min_cases)
        total = measures.n
        header, rows = PAIR_HEADER, pair_rows(drug, event, measures, min_cases, level)
    elif not errors:
        total, found = pairs(store(), level=level, drug=drug or None, event=event or None, min_cases=min_cases)
        header, rows = HEADER, table_rows(found, min_cases)
        screen = rows
    else:
        header, rows = [], []
    notes = [f"{total} case(s) in the store; the unit is the case (a case counts once per drug-event pair)",
             f"signal rules need at least {min_cases} case(s) with the drug and the event"]
    fmt = args.get("format")
    if not errors and fmt in ("csv", "xlsx"):
        return _download(fmt, header, rows, notes)
    return render_template("disproportionality.html", drugs=drugs, events=events, drug=drug, event=event,
                           level=level, min_cases=min_cases, errors=errors, m=measures, criteria=criteria,
                           screen=screen, header=HEADER, notes=notes, query=query,
                           event_note=event_note(event, level) if measures else None,
                           shown=bool(measures or screen or (not errors and not (drug and event)))), \
        400 if errors else 200
