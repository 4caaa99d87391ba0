"""Small case files for the assessment tests: one suspect drug, one reaction, labs as asked."""

from __future__ import annotations

from typing import Any

from reporter.assess.facts import facts_for
from reporter.casefile.model import CaseFile


def case_data(*, start: Any = "2024-01-01", stop: Any = None, onset: Any = "day 20",
              end: Any = None, dechallenge: str | None = "positive", rechallenge: str | None = "not-done",
              tests: list[dict[str, Any]] | None = None, age: float | None = 40, others: int = 0,
              term: str = "Hepatitis", action: str | None = "withdrawn") -> dict[str, Any]:
    if onset == "day 20":  # the default; None means no onset at all
        onset = {"value": 20, "unit": "d", "drug": "x"}
    dosage: dict[str, Any] = {"start": start} if start is not None else {}
    if stop is not None:
        dosage["stop"] = stop
    link: dict[str, Any] = {"reaction": "r"}
    if dechallenge:
        link["dechallenge"] = dechallenge
    if rechallenge:
        link["rechallenge"] = rechallenge
    reaction: dict[str, Any] = {"id": "r", "verbatim": term}
    if onset is not None:
        reaction["onset"] = onset
    if end is not None:
        reaction["end"] = end
    data: dict[str, Any] = {
        "case_id": "XX-TEST-1",
        "report": {"type": "spontaneous", "first_received": "2024-06-01", "most_recent": "2024-06-01"},
        "patient": {"initials": "AB", **({"age_at_onset": {"value": age, "unit": "a"}} if age is not None else {})},
        "reactions": [reaction],
        "tests": tests or [],
        "drugs": [{"id": "x", "role": "suspect", "product": "Drugex", "dosages": [dosage],
                   "reactions": [link], **({"action_taken": action} if action else {})}],
    }
    for i in range(others):
        data["drugs"].append({"id": f"c{i}", "role": "concomitant", "product": f"Other {i}"})
    return data


def lab(name: str, day: float | None, value: float | None, high: float | None, unit: str = "U/L",
        **extra: Any) -> dict[str, Any]:
    loinc = {"ALT": "1742-6", "AST": "1920-8", "ALP": "6768-6", "Total bilirubin": "1975-2"}[name]
    test: dict[str, Any] = {"name": name, "loinc": loinc, **extra}
    if day is not None:
        test["date"] = {"value": day, "unit": "d", "drug": "x"}
    if value is not None:
        test.update(value=value, unit=unit)
    if high is not None:
        test["high"] = high
    return test


def facts(data: dict[str, Any]):
    case = CaseFile.model_validate(data)
    return facts_for(case, case.drugs[0], case.reactions[0])
