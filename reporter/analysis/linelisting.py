"""The line listing of stored cases: one row per case x reaction x suspect drug, the columns a safety
physician expects, read from the case_reaction projection."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from reporter.analysis.projection import CRITERIA, settings
from reporter.analysis.tabulate import DEFAULT_BANDS, parse_bands, parse_where, where_conditions
from reporter.store.schema import CaseReaction as CR

HEADER = ["Case id", "Received", "Country", "Report type", "Age (years)", "Sex", "Suspect drug", "Dose", "Route",
          "Dosing", "Drug start", "Drug stop", "Indication", "Reaction as reported", "MedDRA PT", "SOC (primary)",
          "Onset", "Latency (days)", "Outcome", "Seriousness", "Action taken", "Dechallenge", "Rechallenge",
          "Causality", "Causality category"]


def _criteria(row: Any) -> str:
    ticked = [c.replace("_", " ") for c in CRITERIA if getattr(row, f"sc_{c}") is True]
    if ticked:
        return ", ".join(ticked)
    if row.serious is None:
        return "not known" if row.reaction_key else ""  # not stated by the source: neither serious nor not
    return "non-serious" if row.serious is False else "serious, criteria not stated"


def latency_cell(row: Any) -> float | str | None:
    """Latency (days) as the author gave it: a number when exact, '>=60.9', '<=2', '~21' for a qualified one
    and '10-14' for a range, never a bound shown as if it were the value."""
    days, qualifier = row.latency_days, row.latency_qualifier
    if days is None or not qualifier:
        return days
    if qualifier == "range" and row.latency_high_days is not None:
        return f"{round(days, 1):g}-{round(row.latency_high_days, 1):g}"
    return f"{settings()['latency_marks'].get(qualifier, '')}{round(days, 1):g}"


def age_cell(row: Any) -> float | str | None:
    """Age (years) as the case gives it: a number, or a range as the bands write it ('60-69' for an age in
    the sixties, 60 up to 70), never the range's lower end shown as if it were the age."""
    if row.age_years is None:
        return None
    if row.age_qualifier != "range" or row.age_high_years is None:
        return round(row.age_years, 1)
    return f"{round(row.age_years, 1):g}-{round(row.age_high_years - 1, 1):g}"


def line_listing(store: Any, where: list[str] | None = None, *, limit: int | None = None) -> list[list[Any]]:
    conditions = where_conditions(parse_where(where or []), parse_bands(DEFAULT_BANDS))
    query = select(CR).where(*conditions).order_by(CR.case_key, CR.reaction_key, CR.drug).limit(limit)
    rows = []
    with store.read_session() as session:
        for r in session.scalars(query):
            rows.append([r.case_key, r.received, r.country, r.report_type,
                         age_cell(r), r.sex, r.drug, r.dose, r.route,
                         r.dosing_mode, r.drug_start, r.drug_stop, r.indication, r.reaction_term,
                         r.pt_name or (f"(not placed: {r.llt_code or 'no code'})"), r.soc_name, r.onset,
                         latency_cell(r), r.outcome, _criteria(r), r.action_taken, r.dechallenge, r.rechallenge,
                         r.causality, r.causality_category])
    return rows
