"""Tabulations as a FHIR R4 Parameters resource (the `$tabulate` operation's output).

Parameters rather than MeasureReport: a MeasureReport must reference a Measure that defines populations
and strata up front, while a tabulation here is ad hoc (any fields, any filters); Parameters carries the
same numbers without inventing a Measure per query, and every client library reads it.

Shape: `total` (integer), `field` (string, repeated in --by order), `where` (string FIELD=VALUE), one `row`
per group with parts named after the fields (valueString) plus `count`, `denominator`, `percent`, `ci95Low`,
`ci95High` (decimals, percent) and `latency` (parts n, median, q1, q3, min, max in days of the exact latencies,
`qualified`: how many qualified or ranged ones were left out, and `negative`: how many before the first dose);
`latency` for the whole selection; `note` (string) for every caveat (unknown counts, MedDRA grouping)."""

from __future__ import annotations

from typing import Any

from reporter.analysis.tabulate import Tabulation, summary_notes


def _decimal(name: str, value: float | None) -> list[dict[str, Any]]:
    return [] if value is None else [{"name": name, "valueDecimal": round(value, 2)}]


def _latency(stats: dict[str, float] | None) -> list[dict[str, Any]]:
    if not stats:
        return []
    parts = [{"name": "n", "valueInteger": int(stats["n"])}]
    parts += [{"name": k, "valueDecimal": stats[k]} for k in ("median", "q1", "q3", "min", "max") if k in stats]
    if stats.get("qualified"):  # qualified or ranged latencies, left out of the summary
        parts.append({"name": "qualified", "valueInteger": int(stats["qualified"])})
    if stats.get("negative"):  # negative latencies (the reaction before the drug), left out of the summary
        parts.append({"name": "negative", "valueInteger": int(stats["negative"])})
    return [{"name": "latency", "part": parts}]


def tabulation_parameters(result: Tabulation) -> dict[str, Any]:
    params: list[dict[str, Any]] = [{"name": "total", "valueInteger": result.total}]
    params += [{"name": "field", "valueString": name} for name in result.by]
    params += [{"name": "where", "valueString": f"{name}={value}"} for name, values in result.where
               for value in values]
    for row in result.rows:
        parts: list[dict[str, Any]] = [{"name": name, "valueString": value}
                                       for name, value in zip(result.by, row.values, strict=True)]
        parts.append({"name": "count", "valueInteger": row.count})
        if row.denominator is not None:
            parts.append({"name": "denominator", "valueInteger": row.denominator})
        parts += _decimal("percent", row.percent)
        if row.ci95:
            parts += _decimal("ci95Low", row.ci95[0]) + _decimal("ci95High", row.ci95[1])
        parts += _latency(row.latency)
        params.append({"name": "row", "part": parts})
    params += _latency(result.latency)
    params += [{"name": "note", "valueString": note} for note in summary_notes(result)]
    return {"resourceType": "Parameters", "parameter": params}


def disproportionality_parameters(total: int, found: list[Any], min_cases: int, level: str) -> dict[str, Any]:
    """The `$disproportionality` output: `total`, `level`, `minCases`, then one `pair` per drug-event pair with
    `drug`, `event`, the 2x2 cells `a` `b` `c` `d`, `prr` (+ `prrLow`/`prrHigh`), `chiSquare`, `ror`
    (+ `rorLow`/`rorHigh`), `expected`, `ic`, `ic025`, `ic975`, a `signal` per rule met and a `note` when the
    event is a situation term, not an adverse reaction (Off label use, Drug ineffective)."""
    params: list[dict[str, Any]] = [{"name": "total", "valueInteger": total},
                                    {"name": "level", "valueCode": level},
                                    {"name": "minCases", "valueInteger": min_cases}]
    for pair in found:
        m = pair.m
        parts: list[dict[str, Any]] = [{"name": "drug", "valueString": pair.drug},
                                       {"name": "event", "valueString": pair.event}]
        parts += [{"name": k, "valueInteger": v} for k, v in (("a", m.a), ("b", m.b), ("c", m.c), ("d", m.d))]
        parts += _decimal("prr", m.prr)
        if m.prr_ci:
            parts += _decimal("prrLow", m.prr_ci[0]) + _decimal("prrHigh", m.prr_ci[1])
        parts += _decimal("chiSquare", m.chi2) + _decimal("ror", m.ror)
        if m.ror_ci:
            parts += _decimal("rorLow", m.ror_ci[0]) + _decimal("rorHigh", m.ror_ci[1])
        parts += _decimal("expected", m.expected) + _decimal("ic", m.ic)
        parts += _decimal("ic025", m.ic_ci[0]) + _decimal("ic975", m.ic_ci[1])
        parts += [{"name": "signal", "valueCode": rule} for rule in m.signals(min_cases)]
        if pair.note:
            parts.append({"name": "note", "valueString": pair.note})
        params.append({"name": "pair", "part": parts})
    return {"resourceType": "Parameters", "parameter": params}
