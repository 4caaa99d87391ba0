"""Disproportionality of drug-event pairs over stored cases: PRR with its chi-square, ROR with its 95% CI,
and the information component (IC) with its 95% credibility interval, each from the 2x2 table of cases:

                     event E        other events
    drug D             a                b          (a + b: cases with D)
    other drugs        c                d          (c + d)
                     a + c            b + d        N: all cases

- PRR = [a/(a+b)] / [c/(c+d)], with Pearson's chi-square with Yates' correction and a 95% CI from
  exp(ln PRR +- 1.96 sqrt(1/a - 1/(a+b) + 1/c - 1/(c+d))) (Evans, Waller & Davis, Pharmacoepidemiol Drug Saf
  2001;10:483-6; their signal: a >= 3, PRR >= 2, chi-square >= 4).
- ROR = (a/b) / (c/d) = ad/bc, 95% CI exp(ln ROR +- 1.96 sqrt(1/a + 1/b + 1/c + 1/d)).
- IC = log2((a + 0.5) / (E + 0.5)), E = (a+b)(a+c)/N, the shrunk observed-to-expected ratio of the BCPNN
  (Bate et al., Eur J Clin Pharmacol 1998;54:315-21; Noren et al., Stat Med 2006;25:3740-57); its 95%
  credibility interval is log2 of the 2.5% and 97.5% quantiles of Gamma(a + 0.5, rate E + 0.5) (Noren et al.,
  Stat Methods Med Res 2013;22:57-69). Signal: IC025 > 0.

The unit is the case: a counts the cases in which D is a suspect drug linked to a reaction E (or, where the
case links no drug to the reaction, any suspect drug of the case); a case counts once per pair.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from sqlalchemy import distinct, func, select

from reporter.assess.situation import situation_for
from reporter.store.schema import CaseReaction as CR

Z95 = 1.959963984540054


def _lower_gamma_regularized(s: float, x: float) -> float:
    """P(s, x), the regularized lower incomplete gamma function: a series below s + 1, Lentz's continued
    fraction for the upper part above it."""
    if x <= 0:
        return 0.0
    log_front = s * math.log(x) - x - math.lgamma(s)
    if x < s + 1:
        term = total = 1.0 / s
        k = s
        while abs(term) > abs(total) * 1e-15:
            k += 1
            term *= x / k
            total += term
        return math.exp(log_front) * total
    tiny = 1e-300
    b = x + 1 - s
    c = 1 / tiny
    d = 1 / b
    h = d
    for i in range(1, 10_000):
        an = -i * (i - s)
        b += 2
        d = an * d + b
        d = tiny if abs(d) < tiny else d
        c = b + an / c
        c = tiny if abs(c) < tiny else c
        d = 1 / d
        delta = d * c
        h *= delta
        if abs(delta - 1) < 1e-15:
            break
    return 1.0 - math.exp(log_front) * h


def gamma_quantile(p: float, shape: float, rate: float) -> float:
    """The p-quantile of Gamma(shape, rate), by bisection on the distribution function (monotone)."""
    low, high = 0.0, max(1.0, shape) / rate
    while _lower_gamma_regularized(shape, high * rate) < p:
        high *= 2
    for _ in range(200):
        middle = (low + high) / 2
        if _lower_gamma_regularized(shape, middle * rate) < p:
            low = middle
        else:
            high = middle
        if high - low <= 1e-13 * high:
            break
    return (low + high) / 2


@dataclass(frozen=True)
class Measures:
    a: int
    b: int
    c: int
    d: int
    prr: float | None
    prr_ci: tuple[float, float] | None
    chi2: float | None
    ror: float | None
    ror_ci: tuple[float, float] | None
    expected: float
    ic: float
    ic_ci: tuple[float, float]

    @property
    def n(self) -> int:
        return self.a + self.b + self.c + self.d

    def signals(self, min_cases: int = 3) -> list[str]:
        """Which of the usual signal rules the pair meets."""
        out = []
        if self.a >= min_cases and self.prr is not None and self.prr >= 2 and (self.chi2 or 0) >= 4:
            out.append("PRR")
        if self.a >= min_cases and self.ror_ci is not None and self.ror_ci[0] > 1:
            out.append("ROR")
        if self.a >= min_cases and self.ic_ci[0] > 0:
            out.append("IC")
        return out


def measures(a: int, b: int, c: int, d: int) -> Measures:
    """Every measure of one 2x2 table (see the module docstring). A ratio with a zero cell is None."""
    if min(a, b, c, d) < 0:
        raise ValueError("2x2 counts cannot be negative")
    n = a + b + c + d
    prr = prr_ci = ror = ror_ci = chi2 = None
    if a and c and (a + b) and (c + d):
        prr = (a / (a + b)) / (c / (c + d))
        se = math.sqrt(1 / a - 1 / (a + b) + 1 / c - 1 / (c + d))
        prr_ci = (math.exp(math.log(prr) - Z95 * se), math.exp(math.log(prr) + Z95 * se))
    if a and b and c and d:
        ror = (a * d) / (b * c)
        se = math.sqrt(1 / a + 1 / b + 1 / c + 1 / d)
        ror_ci = (math.exp(math.log(ror) - Z95 * se), math.exp(math.log(ror) + Z95 * se))
    margins = (a + b) * (c + d) * (a + c) * (b + d)
    if margins:
        chi2 = n * max(0.0, abs(a * d - b * c) - n / 2) ** 2 / margins
    expected = (a + b) * (a + c) / n if n else 0.0
    ic = math.log2((a + 0.5) / (expected + 0.5))
    ic_ci = (math.log2(gamma_quantile(0.025, a + 0.5, expected + 0.5)),
             math.log2(gamma_quantile(0.975, a + 0.5, expected + 0.5)))
    return Measures(a, b, c, d, prr, prr_ci, chi2, ror, ror_ci, expected, ic, ic_ci)


@dataclass(frozen=True)
class Pair:
    drug: str
    event: str
    m: Measures
    note: str | None = None  # what the event is when it is no adverse reaction (event_note)


def event_note(event: str, level: str = "pt") -> str | None:
    """Said of a PT that reports a situation (Off label use, Drug ineffective, an overdose; the list of
    mappings/assess/situation_terms.yaml): its pairs are counted as any other, and a signal on them is one of
    the situation (a lack of efficacy, off-label prescribing), not of an adverse reaction."""
    found = situation_for(None, [event]) if level == "pt" else None
    return f"the event is {found.kind_label}, not an adverse reaction" if found else None


def event_column(level: str):
    if level == "soc":
        return CR.soc_name
    if level == "pt":
        return CR.pt_term
    raise ValueError(f"unknown event level {level!r} (pt or soc)")


def pairs(store: Any, *, level: str = "pt", drug: str | None = None, event: str | None = None,
          min_cases: int = 3) -> tuple[int, list[Pair]]:
    """(N, every drug-event pair with at least `min_cases` cases), strongest IC025 first. Four grouped SQL
    counts over case_reaction give a, the drug and event margins and N; the rest is arithmetic."""
    ev = event_column(level)
    cases = func.count(distinct(CR.case_id))
    with store.read_session() as session:
        total = session.scalar(select(cases)) or 0
        pair_query = select(CR.drug, ev, cases).where(CR.drug.is_not(None), ev.is_not(None)).group_by(CR.drug, ev)
        if drug:
            pair_query = pair_query.where(CR.drug == drug.strip().lower())  # stored lower case (an index)
        if event:
            pair_query = pair_query.where(func.lower(ev) == event.strip().lower())  # an expression index
        counts = [(d, e, n) for d, e, n in session.execute(pair_query.having(cases >= max(1, min_cases)))]
        drugs = {d for d, _e, _n in counts}
        events = {e for _d, e, _n in counts}
        by_drug = dict(session.execute(select(CR.drug, cases).where(CR.drug.in_(drugs)).group_by(CR.drug)).all()) \
            if drugs else {}
        by_event = dict(session.execute(select(ev, cases).where(ev.in_(events)).group_by(ev)).all()) \
            if events else {}
    out = []
    for d, e, a in counts:
        b = by_drug[d] - a
        c = by_event[e] - a
        out.append(Pair(d, e, measures(a, b, c, total - a - b - c), event_note(e, level)))
    out.sort(key=lambda p: (-p.m.ic_ci[0], p.drug, p.event))
    return total, out


HEADER = ["Drug", "Event", "a (drug+event)", "b (drug, other events)", "c (other drugs, event)",
          "d (neither)", "PRR", "PRR 95% CI", "chi-square", "ROR", "ROR 95% CI", "Expected", "IC", "IC025",
          "IC975", "Signals", "Note"]


def _fmt(x: float | None) -> float | None:
    """Two places; a value that rounds to zero is 0.0, never -0.0 (an IC025 of -0.003 printed '-0.0')."""
    return None if x is None else round(x, 2) + 0.0


def _ci(ci: tuple[float, float] | None) -> str | None:
    """'0.99 to 34.94': with a hyphen an IC interval below zero read '-0.77-2.05'."""
    return None if ci is None else f"{_fmt(ci[0]):.2f} to {_fmt(ci[1]):.2f}"


def table_rows(found: list[Pair], min_cases: int = 3) -> list[list[Any]]:
    return [[p.drug, p.event, p.m.a, p.m.b, p.m.c, p.m.d, _fmt(p.m.prr), _ci(p.m.prr_ci), _fmt(p.m.chi2),
             _fmt(p.m.ror), _ci(p.m.ror_ci), _fmt(p.m.expected), _fmt(p.m.ic), _fmt(p.m.ic_ci[0]),
             _fmt(p.m.ic_ci[1]), ", ".join(p.m.signals(min_cases)) or None, p.note] for p in found]


def pair(store: Any, drug: str, event: str, *, level: str = "pt") -> Measures:
    """The 2x2 table and measures of one chosen drug-event pair, whatever its case count (a may be 0).
    The drug is matched as stored (lower case), the event without case."""
    ev = event_column(level)
    cases = func.count(distinct(CR.case_id))
    is_drug = CR.drug == drug.strip().lower()
    is_event = func.lower(ev) == event.strip().lower()
    with store.read_session() as session:
        total = session.scalar(select(cases)) or 0
        a = session.scalar(select(cases).where(is_drug, is_event)) or 0
        with_drug = session.scalar(select(cases).where(is_drug)) or 0
        with_event = session.scalar(select(cases).where(is_event)) or 0
    b, c = with_drug - a, with_event - a
    return measures(a, b, c, total - a - b - c)


def choices(store: Any, level: str = "pt", limit: int = 1000) -> tuple[list[str], list[str]]:
    """The suspect drugs and the events (PT or SOC) of the stored cases, for a picker."""
    ev = event_column(level)
    with store.read_session() as session:
        drugs = list(session.scalars(select(CR.drug).distinct().where(CR.drug.is_not(None)).order_by(CR.drug)
                                     .limit(limit)))
        events = list(session.scalars(select(ev).distinct().where(ev.is_not(None)).order_by(ev).limit(limit)))
    return drugs, events


def signal_criteria(m: Measures, min_cases: int = 3) -> list[tuple[str, bool, str]]:
    """(rule, met?, the values it was judged on) for each of the usual signal rules."""
    def show(x: float | None) -> str:
        return "not computable (a zero cell)" if x is None else f"{_fmt(x):.2f}"

    enough = m.a >= min_cases
    return [
        (f"PRR >= 2 with chi-square >= 4 and at least {min_cases} cases (Evans 2001)",
         enough and m.prr is not None and m.prr >= 2 and (m.chi2 or 0) >= 4,
         f"a = {m.a}, PRR {show(m.prr)}, chi-square {show(m.chi2)}"),
        (f"ROR lower 95% limit > 1 with at least {min_cases} cases",
         enough and m.ror_ci is not None and m.ror_ci[0] > 1,
         f"a = {m.a}, ROR 95% CI {_ci(m.ror_ci) or 'not computable (a zero cell)'}"),
        (f"IC025 > 0 with at least {min_cases} cases (BCPNN)", enough and m.ic_ci[0] > 0,
         f"a = {m.a}, IC {show(m.ic)}, IC025 {show(m.ic_ci[0])}"),
    ]


PAIR_HEADER = ["Measure", "Value", "95% interval", "Note"]


def pair_rows(drug: str, event: str, m: Measures, min_cases: int = 3, level: str = "pt") -> list[list[Any]]:
    """One pair as rows for CSV/XLSX: the 2x2 cells, the measures with their intervals, each signal rule."""
    rows: list[list[Any]] = [
        ["Drug", drug, None, None], ["Event", event, None, event_note(event, level)],
        ["a (drug and event)", m.a, None, None], ["b (drug, other events)", m.b, None, None],
        ["c (other drugs, event)", m.c, None, None], ["d (neither)", m.d, None, None], ["N", m.n, None, None],
        ["PRR", _fmt(m.prr), _ci(m.prr_ci), None], ["chi-square (Yates)", _fmt(m.chi2), None, None],
        ["ROR", _fmt(m.ror), _ci(m.ror_ci), None], ["Expected a", _fmt(m.expected), None, None],
        ["IC", _fmt(m.ic), _ci(m.ic_ci), "credibility interval"],
    ]
    rows += [[rule, "met" if met else "not met", None, basis] for rule, met, basis in signal_criteria(m, min_cases)]
    return rows
