"""Hypothesis strategies for whole case files, drawn from the case model: every coded field takes the values
the model's Literal types allow, every time field any of the model's shapes (partial date, date-time, time
relative to a drug, absent with any reason), and the literature shapes that were hard for E2B (durations and
frequencies without dates, relative times only, comparators and ranges). Free text and numbers come from
small realistic pools so that most generated cases are valid and reach the exporter.

Used by tests/test_e2b_property.py (short run) and bench/e2b_property.py (long run)."""

from __future__ import annotations

import datetime as dt
import typing
from typing import Any

from hypothesis import strategies as st

from reporter.casefile import model as m
from reporter.tables import load_yaml


def _values(literal: Any) -> list[str]:
    return list(typing.get_args(literal))


def _field_values(cls: type, name: str) -> list[str]:
    """The Literal values a model field allows (unwrapping Optional and unions)."""
    out: list[str] = []
    stack = [cls.model_fields[name].annotation]
    while stack:
        tp = stack.pop()
        if typing.get_origin(tp) is typing.Literal:
            out.extend(typing.get_args(tp))
        else:
            stack.extend(a for a in typing.get_args(tp) if a is not type(None))
    return out


ACTIONS = _field_values(m.Drug, "action_taken")
ROUTES = sorted(load_yaml("routes.yaml")["routes"])
MEDDRA = ["10019717", "10028813", "10037844", "10023126", "10001551", "10016558", "10002218"]
LOINC = [("ALT", "1742-6", "U/L"), ("AST", "1920-8", "U/L"), ("Total bilirubin", "1975-2", "mg/dL"),
         ("CRP", "1988-5", "mg/L"), ("Ferritin", "2276-4", "ng/mL"), ("INR", "6301-6", "1"), ("IgG", "2465-3", "mg/dL")]
TIME_UNITS = ["d", "wk", "mo", "a", "h", "min"]
DOSE_UNITS = ["mg", "mg/kg", "mg/kg/d", "g", "ug", "mL", "[iU]", "{DF}"]
WORDS = st.sampled_from(["rash", "nausea", "fever", "hepatitis", "jaundice", "headache", "anaemia",
                         "injection site reaction", "ALT increased", "malaise"])


def absent() -> st.SearchStrategy[dict[str, str]]:
    return st.builds(lambda r: {"absent": r}, st.sampled_from(_values(m.AbsentReason)))


def partial_date() -> st.SearchStrategy[str]:
    day = st.dates(min_value=dt.date(2020, 1, 1), max_value=dt.date(2023, 8, 31))
    return st.one_of(day.map(lambda d: d.isoformat()), day.map(lambda d: d.isoformat()[:7]),
                     day.map(lambda d: d.isoformat()[:4]), day.map(lambda d: f"{d.isoformat()}T08:30:00Z"))


def relative(drugs: list[str]) -> st.SearchStrategy[dict[str, Any]]:
    return st.builds(lambda v, u, d, a: {"value": v, "unit": u, "drug": d, "anchor": a},
                     st.integers(-5, 120), st.sampled_from(["d", "wk", "h"]), st.sampled_from(drugs),
                     st.sampled_from(["first-dose", "last-dose"]))


def when(drugs: list[str]) -> st.SearchStrategy[Any]:
    return st.one_of(st.none(), partial_date(), relative(drugs), absent())


def quantity(units: list[str], low: float = 0.5, high: float = 400) -> st.SearchStrategy[dict[str, Any]]:
    number = st.one_of(st.integers(1, int(high)), st.floats(low, high, allow_nan=False).map(lambda x: round(x, 2)))
    return st.builds(lambda v, u: {"value": v, "unit": u}, number, st.sampled_from(units))


def whole(q: dict[str, Any]) -> dict[str, Any]:
    return {**q, "value": max(1, int(q["value"]))}


def meddra() -> st.SearchStrategy[dict[str, str]]:
    return st.builds(lambda c: {"code": c, "version": "26.1"}, st.sampled_from(MEDDRA))


@st.composite
def case_files(draw: st.DrawFn) -> dict[str, Any]:
    drug_ids = [f"d{i}" for i in range(draw(st.integers(1, 3)))]
    reaction_ids = [f"r{i}" for i in range(draw(st.integers(1, 3)))]
    first = draw(st.dates(min_value=dt.date(2023, 9, 1),
                          max_value=dt.date(2023, 12, 31)))
    report: dict[str, Any] = {"type": draw(st.sampled_from(_field_values(m.Report, "type"))),
                              "first_received": first.isoformat(), "most_recent": first.isoformat(),
                              "expedited": draw(st.sampled_from([None, True, False, False]))}
    sources = []
    for i in range(draw(st.integers(1, 2))):
        sources.append({
            "qualification": draw(st.one_of(st.none(), st.sampled_from(_values(m.Qualification)),
                                            st.just({"absent": "unknown"}))),
            "address": {"country": draw(st.sampled_from(["GB", "US", "PT", "DE"]))},
            "primary": i == 0 and draw(st.sampled_from([True, True, True, False])),
            "name": draw(st.one_of(st.just({}), st.just({"family": "Doe", "given": "Ann"}),
                                   absent())),
        })
    patient: dict[str, Any] = {
        "initials": draw(st.one_of(st.sampled_from(["AB", "J.S."]), absent())),
        "sex": draw(st.one_of(st.none(), st.sampled_from(["male", "female"]), absent())),
        "age_at_onset": draw(st.one_of(st.none(), quantity(["a"], 1, 95).map(whole))),
        "weight_kg": draw(st.one_of(st.none(), st.integers(20, 120))),
        "history_text": draw(st.sampled_from([None, "No relevant history.", "Asthma since childhood."])),
    }
    reactions = []
    for rid in reaction_ids:
        reactions.append({
            "id": rid, "verbatim": draw(WORDS), "meddra": draw(meddra()),
            "seriousness": draw(st.fixed_dictionaries({}, optional={
                k: st.just(True) for k in ("hospitalisation", "life_threatening", "other_medically_important")})),
            "onset": draw(when(drug_ids)), "end": draw(st.one_of(st.none(), partial_date(), absent())),
            "duration": draw(st.one_of(st.none(), quantity(TIME_UNITS, 1, 60).map(whole))),
            "outcome": draw(st.one_of(st.none(), st.sampled_from([o for o in _values(m.Outcome) if o != "fatal"]))),
        })
    tests = []
    for _ in range(draw(st.integers(0, 3))):
        name, loinc, unit = draw(st.sampled_from(LOINC))
        low = draw(st.one_of(st.none(), st.integers(0, 5)))
        tests.append({"name": name, "loinc": loinc, "unit": unit, "date": draw(when(drug_ids)),
                      "value": draw(st.one_of(st.integers(1, 900), st.floats(0.1, 50).map(lambda x: round(x, 2)))),
                      "comparator": draw(st.one_of(st.none(), st.sampled_from(["<", "<=", ">", ">="]))),
                      "low": low, "high": None if low is None else low + draw(st.integers(1, 60)),
                      "result": draw(st.one_of(st.none(), st.sampled_from(_field_values(m.Test, "result"))))})
    drugs = []
    for k, did in enumerate(drug_ids):
        dosages = []
        for _ in range(draw(st.integers(0, 2))):
            dosages.append({
                "dose": draw(st.one_of(st.none(), quantity(DOSE_UNITS, 0.5, 500))),
                "every": draw(st.one_of(st.none(), quantity(["d", "wk", "mo", "h"], 1, 4).map(whole))),
                "start": draw(st.one_of(st.none(), partial_date(), absent())),
                "stop": draw(st.one_of(st.none(), partial_date(), relative([did]), absent())),
                "duration": draw(st.one_of(st.none(), quantity(["d", "wk", "mo"], 1, 90).map(whole))),
                "route": draw(st.one_of(st.none(), st.sampled_from(ROUTES).map(lambda r: {"code": r}))),
                "text": draw(st.one_of(st.none(), st.just("as reported"))),
            })
        links = []
        for rid in draw(st.lists(st.sampled_from(reaction_ids), unique=True, max_size=len(reaction_ids))):
            links.append({
                "reaction": rid,
                "onset_after_first_dose": draw(st.one_of(st.none(), quantity(["d", "wk"], 1, 90).map(whole))),
                "dechallenge": draw(st.one_of(st.none(), st.sampled_from(_values(m.Dechallenge)))),
                "rechallenge": draw(st.one_of(st.none(), st.sampled_from(_values(m.Rechallenge)))),
                "causality": draw(st.lists(st.sampled_from([
                    {"source": "Reporter", "method": "Global introspection", "result": "Related"},
                    {"source": "Sender", "method": "WHO-UMC", "result": "Possible"},
                    {"source": "Sender", "method": "Naranjo", "result": "Probable"}]), max_size=2, unique_by=str)),
            })
        drugs.append({"id": did, "role": "suspect" if k == 0 else draw(st.sampled_from(_values(m.DrugRole))),
                      "product": f"Drug {k}", "dosages": dosages, "reactions": links,
                      "action_taken": draw(st.one_of(st.none(), st.sampled_from(ACTIONS)))})
    data = {"$format": "ae-reporter/case/1", "case_id": f"GEN-{draw(st.integers(1, 10**6))}", "report": report,
            "primary_sources": sources, "patient": patient, "reactions": reactions, "tests": tests, "drugs": drugs,
            "narrative": draw(st.sampled_from([None, {"text": "Generated case narrative."},
                                                {"text": "Literature case.", "reporter_comments": "Related."}]))}
    return _drop_none(data)


def _drop_none(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: _drop_none(v) for k, v in node.items() if v is not None}
    if isinstance(node, list):
        return [_drop_none(v) for v in node]
    return node
