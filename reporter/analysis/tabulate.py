"""Tabulations of stored cases: counts of cases by one or more fields, run as SQL over the case_reaction
projection (never by loading Bundles).

The unit is the case: a group counts the distinct cases with a row in it, so a case with two reactions in
one SOC counts once there (and once in each other SOC it has). Percentages are of the cases whose value of
the last field is known, within the group of the other fields (row percentages: "survival by age band" gives
each band's survival), with 95% Wilson score intervals. Cases with a field unknown are counted in their own
"unknown" row, never dropped.
"""

from __future__ import annotations

import math
import re
import statistics
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import and_, case, func, literal, or_, select

from reporter.analysis.projection import age_group_ranges, settings
from reporter.errors import InputError
from reporter.store.schema import CaseReaction as CR

UNKNOWN = "unknown"
Z95 = 1.959963984540054


def wilson(successes: int, n: int, z: float = Z95) -> tuple[float, float] | None:
    """95% Wilson score interval for a proportion (Wilson 1927), as fractions; None when n is 0."""
    if n <= 0:
        return None
    p = successes / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


@dataclass(frozen=True)
class Band:
    label: str
    low: float | None  # years, inclusive
    high: float | None  # years, exclusive


def parse_bands(text: str) -> list[Band]:
    """'<10,10-17,18+' (years): '<A' below A; 'A-B' from A up to the end of year B; 'A+' from A on."""
    bands = []
    for part in (p.strip() for p in text.split(",") if p.strip()):
        m = re.fullmatch(r"<\s*(\d+(?:\.\d+)?)|(\d+(?:\.\d+)?)\s*-\s*(\d+(?:\.\d+)?)|(\d+(?:\.\d+)?)\s*\+", part)
        if not m:
            raise InputError(f"age band {part!r} is not <A, A-B or A+ (years)", location="--bands",
                             hint="for example <10,10-17,18+")
        if m.group(1):
            bands.append(Band(part, None, float(m.group(1))))
        elif m.group(2):
            low, high = float(m.group(2)), float(m.group(3))
            if high < low:
                raise InputError(f"age band {part!r} ends before it starts", location="--bands")
            bands.append(Band(part, low, high + 1))
        else:
            bands.append(Band(part, float(m.group(4)), None))
    if not bands:
        raise InputError("no age bands given", location="--bands")
    return bands


DEFAULT_BANDS = "<10,10-17,18+"


def field_names() -> list[str]:
    return list(settings()["fields"])


def _expression(name: str, bands: list[Band]):
    """The SQL expression of a field over case_reaction (NULL when unknown)."""
    spec = settings()["fields"].get(name)
    if spec is None:
        raise InputError(f"unknown field {name!r}", location="--by/--where",
                         hint=f"fields: {', '.join(field_names())}")
    if name == "age_group":
        whens = [(_age_range(low, high), literal(key)) for key, low, high in age_group_ranges()]
        return case(*whens, else_=CR.age_group_reported)
    if name == "age_band":
        return case(*[(_age_range(band.low, band.high), literal(band.label)) for band in bands], else_=None)
    column = getattr(CR, spec["column"])
    if isinstance(column.type.python_type, type) and column.type.python_type is bool:
        return case((column.is_(True), literal("yes")), (column.is_(False), literal("no")), else_=None)
    return column


@dataclass
class Row:
    values: tuple[str, ...]
    count: int
    denominator: int | None  # cases in the group with the last field known (None for an unknown row)
    latency: dict[str, float] | None = None

    @property
    def percent(self) -> float | None:
        if not self.denominator or self.values[-1] == UNKNOWN:
            return None
        return 100.0 * self.count / self.denominator

    @property
    def ci95(self) -> tuple[float, float] | None:
        if not self.denominator or self.values[-1] == UNKNOWN:
            return None
        low, high = wilson(self.count, self.denominator)
        return 100.0 * low, 100.0 * high


@dataclass
class Tabulation:
    by: list[str]
    where: list[tuple[str, list[str]]]
    total: int
    rows: list[Row]
    latency: dict[str, float] | None
    notes: list[str] = field(default_factory=list)
    bands: str | None = None
    age: dict[str, float] | None = None  # years, one value per case: n, median, quartiles, range

    def labels(self) -> list[str]:
        return [settings()["fields"][name]["label"] for name in self.by]

    def as_dict(self) -> dict[str, Any]:
        return {
            "by": self.by, "where": {k: v for k, v in self.where}, "total_cases": self.total,
            "bands": self.bands,
            "rows": [{**dict(zip(self.by, r.values, strict=True)), "cases": r.count, "denominator": r.denominator,
                      "percent": _round(r.percent), "ci95": [_round(x) for x in r.ci95] if r.ci95 else None,
                      **({"latency_days": r.latency} if r.latency else {})} for r in self.rows],
            "latency_days": self.latency, "age_years": self.age, "notes": self.notes,
        }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def parse_where(items: list[str]) -> list[tuple[str, list[str]]]:
    """['sex=female', 'soc=Hepatobiliary disorders', 'sex=male'] -> [(sex, [female, male]), (soc, [...])]:
    values of one field are alternatives, different fields must all hold. 'unknown' selects the unknowns."""
    out: dict[str, list[str]] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise InputError(f"{item!r} is not FIELD=VALUE", location="--where",
                             hint="for example sex=female or drug=anakinra: a field's name or label, '=', a value")
        out.setdefault(field_key(name.strip()), []).append(value.strip())
    return list(out.items())


def field_key(name: str) -> str:
    """A field as a person names it in a filter: its key in any case ('Sex') or its label ('Suspect drug');
    left as given when it is neither (the query then says it is unknown)."""
    fields = settings()["fields"]
    if name in fields:
        return name
    wanted = name.casefold()
    return next((key for key, spec in fields.items() if wanted in (key.casefold(), str(spec["label"]).casefold())),
                name)


def where_conditions(filters: list[tuple[str, list[str]]], bands: list[Band]) -> list[Any]:
    """SQL conditions of parsed --where filters (values compared without case). Each compares a stored column
    as the indexes of case_reaction hold it (store/schema.py), so a selective filter is an index search:
    keys are stored lower case and compared as they are, free text through lower(column) (an expression
    index), years as numbers, yes/no as booleans, age groups and bands as ranges of the age."""
    conditions = []
    for name, values in filters:
        expr = _expression(name, bands)  # also refuses an unknown field
        conditions.append(or_(*[expr.is_(None) if v.lower() == UNKNOWN else _equals(name, v, bands)
                                for v in values]))
    return conditions


def _age_range(low: float | None, high: float | None) -> Any:
    """The rows whose age lies wholly in [low, high) years: an exact age in it, or an age given as a range (the
    sixties: 60 up to 70) all of whose range is, so that '60s' is not in a band '<65' by its lower end."""
    # the age (a range's start) below `high` is an index search; never NULL, so "not in an earlier band" holds
    within_high = [] if high is None else [
        CR.age_years < high, or_(CR.age_high_years.is_(None), CR.age_high_years <= high)]
    return and_(*([CR.age_years >= low] if low is not None else [CR.age_years.is_not(None)]), *within_high)


def _equals(name: str, value: str, bands: list[Band]) -> Any:
    """field = value, written so that the database can use an index on the column."""
    spec = settings()["fields"][name]
    wanted = value.strip().lower()
    if name == "age_group":
        groups = settings()["age_groups"]
        keys = [g["key"] for g in groups]
        if wanted not in keys:
            raise InputError(f"age_group={value!r} is not an ICH age group", location="--where",
                             hint=f"use one of {', '.join(keys)} or unknown")
        ranges = age_group_ranges()
        _key, low, high = ranges[keys.index(wanted)]
        # as the age_group expression: the reported group only when no age (in range) is known, or the age is a
        # range that no one group holds whole
        not_measured = (CR.age_years.is_(None), CR.age_years < groups[0]["from"],
                        and_(CR.age_qualifier == "range", ~or_(*[_age_range(a, b) for _k, a, b in ranges])))
        reported = CR.age_group_reported == wanted  # each term of the OR an index search (SQLite needs that)
        return or_(_age_range(low, high), *[and_(term, reported) for term in not_measured])
    if name == "age_band":
        labels = [b.label.lower() for b in bands]
        if wanted not in labels:
            raise InputError(f"age_band={value!r} is not one of the bands", location="--where",
                             hint=f"bands: {', '.join(b.label for b in bands)} (set with --bands)")
        i = labels.index(wanted)
        earlier = [_age_range(b.low, b.high) for b in bands[:i]]  # the first band that holds an age wins
        return and_(_age_range(bands[i].low, bands[i].high), *[~e for e in earlier])
    column = getattr(CR, spec["column"])
    kind = column.type.python_type
    if kind is bool:
        if wanted not in ("yes", "no"):
            raise InputError(f"{name}={value!r}: use yes, no or unknown", location="--where")
        return column.is_(wanted == "yes")
    if kind is int:
        if not wanted.lstrip("-").isdigit():
            raise InputError(f"{name}={value!r} is not a whole number", location="--where")
        return column == int(wanted)
    if spec.get("match") == "text":
        return func.lower(column) == wanted
    return column == wanted  # a key, stored in lower case


def latency_summary(values: list[float]) -> dict[str, float] | None:
    """n, median, quartiles (inclusive method) and range of numbers (latency days, ages); None without any."""
    if not values:
        return None
    values = sorted(values)
    q1, median, q3 = (statistics.quantiles(values, n=4, method="inclusive") if len(values) > 1
                      else (values[0], values[0], values[0]))
    return {"n": len(values), "median": round(median, 1), "q1": round(q1, 1), "q3": round(q3, 1),
            "min": round(values[0], 1), "max": round(values[-1], 1)}


def _qualified_examples(session: Any, conditions: list) -> str:
    """Up to three of the qualified or ranged latencies the summary left out, in days as the listing shows
    them ('>=60.9', '10-14'), so that the note cites the data and not a fixed example."""
    from reporter.analysis.linelisting import latency_cell

    found = session.execute(select(CR.latency_days, CR.latency_qualifier, CR.latency_high_days)
                            .where(*conditions, CR.latency_days.is_not(None), CR.latency_qualifier.is_not(None))
                            .order_by(CR.latency_days).limit(50)).all()
    return _cited(list(dict.fromkeys(str(latency_cell(r)) for r in found)), "days")


def _cited(cells: list[str], unit: str) -> str:
    """The first three of the values a note cites ('-5, -2 days'; '..., ...' when there are more)."""
    return ", ".join(cells[:3]) + (", ..." if len(cells) > 3 else "") + f" {unit}"


def exact_latency_summary(latencies: list[tuple[float, str | None]]) -> dict[str, float] | None:
    """latency_summary of the exact latencies from the drug's first dose on, with how many qualified or ranged
    ones it left out (`qualified`: '>2 mo' is a bound, not 60.9 days, and a median over bounds would claim what
    no author said) and how many negative ones (`negative`: the reaction began before the drug, a pre-existing
    condition or a mistake in the table, which validation reports as PLAUS-ONSET-BEFORE-DRUG; as a time to
    onset it would pull the median below what any patient had)."""
    exact = [days for days, qualifier in latencies if not qualifier]
    after = [days for days in exact if days >= 0]
    left_out = {"qualified": len(latencies) - len(exact), "negative": len(exact) - len(after)}
    summary = latency_summary(after)
    if any(left_out.values()):
        return {**(summary or {"n": 0}), **{k: n for k, n in left_out.items() if n}}
    return summary


def _negative_examples(session: Any, conditions: list) -> str:
    """Up to three of the negative latencies left out, in days ('-5, -2 days')."""
    found = session.execute(select(CR.latency_days).distinct().where(
        *conditions, CR.latency_days < 0, CR.latency_qualifier.is_(None)).order_by(CR.latency_days).limit(4)).all()
    return _cited([f"{round(days, 1):g}" for (days,) in found], "days")


def exact_age_summary(ages: list[tuple[float, float | None]]) -> dict[str, float] | None:
    """latency_summary of the exact ages (years, one per case), with how many given as a range it left out
    (`ranged`): a case 'in her sixties' is 60 to 70, and counting it as 60 would pull the median down."""
    exact = [low for low, high in ages if high is None]
    summary = latency_summary(exact)
    if len(exact) < len(ages):
        return {**(summary or {"n": 0}), "ranged": len(ages) - len(exact)}
    return summary


def _ranged_age_examples(session: Any, conditions: list) -> str:
    """Up to three of the ranged ages left out, as the line listing shows them ('60-69 years')."""
    from reporter.analysis.linelisting import age_cell

    found = session.execute(select(CR.age_years, CR.age_qualifier, CR.age_high_years).distinct()
                            .where(*conditions, CR.age_high_years.is_not(None)).order_by(CR.age_years).limit(50)).all()
    return _cited(list(dict.fromkeys(str(age_cell(r)) for r in found)), "years")


def tabulate(store: Any, by: list[str], where: list[str] | None = None, *, bands: str | None = None,
             stats: bool = False) -> Tabulation:
    """Counts of stored cases by the fields `by` (none: just the total), filtered by `where`. `stats`: also
    latency (per row and overall) and age summaries (median, IQR, range), which read every row's value."""
    if len(set(by)) != len(by):
        raise InputError("a field is named twice in --by", location="--by")
    band_list = parse_bands(bands or DEFAULT_BANDS)
    filters = parse_where(where or [])
    exprs = [_expression(name, band_list) for name in by]
    conditions = where_conditions(filters, band_list)
    notes = []
    with store.read_session() as session:
        total = _case_counts(session, [], conditions)[0][-1]
        rows: list[Row] = []
        if exprs:
            grouped = _case_counts(session, exprs, conditions)
            outer, last = exprs[:-1], exprs[-1]
            if settings()["fields"][by[-1]]["level"] == "case":
                # One value per case: the known cases of a group are the sum of its known rows.
                known = {}
                for r in grouped:
                    if r[-2] is not None:
                        known[tuple(r[:-2])] = known.get(tuple(r[:-2]), 0) + r[-1]
            else:
                known = {tuple(r[:-1]): r[-1] for r in _case_counts(session, outer, [*conditions, last.is_not(None)])}
            for r in grouped:
                values = tuple(UNKNOWN if v is None else str(v) for v in r[:-1])
                rows.append(Row(values, r[-1], known.get(tuple(r[:-2])) if r[-2] is not None else None))
            if stats and len(rows) <= 200:
                per_group: dict[tuple, list[tuple[float, str | None]]] = {}
                for r in session.execute(select(*exprs, CR.latency_days, CR.latency_qualifier)
                                         .where(*conditions, CR.latency_days.is_not(None))).all():
                    per_group.setdefault(tuple(UNKNOWN if v is None else str(v) for v in r[:-2]), []).append(
                        (r[-2], r[-1]))
                for row in rows:
                    row.latency = exact_latency_summary(per_group.get(row.values, []))
        overall = ages = None
        if stats:
            ages = exact_age_summary([tuple(r) for r in session.execute(
                select(func.max(CR.age_years), func.max(CR.age_high_years))
                .where(*conditions, CR.age_years.is_not(None)).group_by(CR.case_id)).all()])
            if ages and ages.get("ranged"):
                notes.append(f"age: {ages['ranged']} age(s) given as a range "
                             f"({_ranged_age_examples(session, conditions)}) left out of the median, IQR and range: "
                             "an age in decades is not its lower end")
            overall = exact_latency_summary([tuple(r) for r in session.execute(
                select(CR.latency_days, CR.latency_qualifier).where(*conditions, CR.latency_days.is_not(None))).all()])
            if overall and overall.get("qualified"):
                notes.append(f"latency: {overall['qualified']} qualified or ranged latency(ies) "
                             f"({_qualified_examples(session, conditions)}) left out of the median, IQR and range: "
                             "a bound is not a value")
            if overall and overall.get("negative"):
                notes.append(f"latency: {overall['negative']} negative latency(ies) "
                             f"({_negative_examples(session, conditions)}: the reaction began before the drug's "
                             "first dose, a pre-existing condition or a mistake in the source) left out of the median, "
                             "IQR and range")
        if {"pt", "soc"} & set(by + [n for n, _ in filters]):
            ungrouped = _case_counts(session, [], [*conditions, CR.pt_code.is_(None)])[0][-1]
            if ungrouped:
                from reporter.meddra.hierarchy import NO_RELEASE_NOTE, hierarchy

                notes.append(f"{ungrouped} case(s) have reactions not placed in MedDRA: "
                             + (NO_RELEASE_NOTE if hierarchy() is None else
                                "their codes are not in the release, or they were stored before it was set "
                                "(`reporter db reproject` places them again)"))
    order = {name: i for i, name in enumerate(["yes", "no"])}
    rows.sort(key=lambda r: tuple((v == UNKNOWN, order.get(v, 2), _sort_key(v, by[i], band_list))
                                  for i, v in enumerate(r.values)))
    return Tabulation(by, filters, total, rows, overall, notes, bands or DEFAULT_BANDS if "age_band" in by else None,
                      ages)


def _case_counts(session: Any, exprs: list[Any], conditions: list[Any]) -> list[tuple]:
    """(values of `exprs`..., cases) per group: the distinct (group, case) pairs first, then counted. Unlike
    count(DISTINCT case_id) per group, the pairs come straight off an index in order (ix_case_reaction_soc_outcome
    for SOC x outcome) without sorting each group again. No `exprs`: one row, all the cases."""
    keys = [e.label(f"k{i}") for i, e in enumerate(exprs)]
    pairs = select(*keys, CR.case_id).where(*conditions).distinct().subquery()
    columns = [pairs.c[k.name] for k in keys]
    return [tuple(r) for r in session.execute(select(*columns, func.count()).group_by(*columns)).all()] \
        if columns else [(session.scalar(select(func.count()).select_from(pairs)) or 0,)]


def _sort_key(value: str, name: str, bands: list[Band]) -> Any:
    if name == "age_band":
        labels = [b.label for b in bands]
        return (labels.index(value) if value in labels else len(labels), "")
    if name == "age_group":
        keys = [g["key"] for g in settings()["age_groups"]]
        return (keys.index(value) if value in keys else len(keys), "")
    if name == "year" and value.isdigit():
        return (int(value), "")
    return (0, value.lower())


LATENCY_HEADER = ["Latency n", "Latency median (d)", "Latency IQR (d)", "Latency range (d)",
                  "Latency qualified (not in median)", "Latency negative (not in median)"]


def table(result: Tabulation, *, stats: bool = False) -> tuple[list[str], list[list[Any]]]:
    """Header and rows of a tabulation for the writers in reporter/analysis/output.py (latency columns with
    `stats`)."""
    extra = LATENCY_HEADER if stats else []
    header = [*result.labels(), "Cases", "Known", "%", "95% CI low", "95% CI high", *extra]
    rows = []
    for r in result.rows:
        ci = r.ci95
        rows.append([*r.values, r.count, r.denominator, _round(r.percent), _round(ci[0]) if ci else None,
                     _round(ci[1]) if ci else None, *(_latency_cells(r.latency) if stats else [])])
    if not result.by:
        header = ["Cases", *extra]
        rows = [[result.total, *(_latency_cells(result.latency) if stats else [])]]
    return header, rows


def _latency_cells(lat: dict[str, float] | None) -> list[Any]:
    if not lat:
        return [None] * len(LATENCY_HEADER)
    left_out = [lat.get("qualified"), lat.get("negative")]
    if "median" not in lat:  # only qualified or negative latencies
        return [0, None, None, None, *left_out]
    return [lat["n"], lat["median"], f"{lat['q1']:g}-{lat['q3']:g}", f"{lat['min']:g}-{lat['max']:g}", *left_out]


def summary_notes(result: Tabulation) -> list[str]:
    where = "; ".join(f"{k} = {' or '.join(v)}" for k, v in result.where)
    notes = [f"{result.total} case(s)" + (f" where {where}" if where else "")]
    if result.by:
        notes.append("% of the cases with the last field known, within each group of the other fields; "
                     "95% CI: Wilson score interval; a case with several reactions counts once per group it is in")
    if result.age and "median" in result.age:
        a = result.age
        notes.append(f"age at onset known for {a['n']} case(s)"
                     + (f" as a number ({a['ranged']} more as a range)" if a.get("ranged") else "")
                     + f": median {a['median']:g} years, IQR {a['q1']:g}-{a['q3']:g}, range {a['min']:g}-{a['max']:g}")
    if result.bands:
        notes.append(f"age bands (years): {result.bands}")
    return notes + result.notes
