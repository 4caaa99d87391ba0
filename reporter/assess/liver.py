"""Liver findings of a case: R ratio at recognition, potential Hy's law, time to normalisation after
dechallenge and CTCAE v5 grades against the baseline. Arithmetic is in labs.py; this module picks the
values: which timepoint is recognition, which results pair up (same day, or a widened window that the
finding states), and which timepoints are labelled rather than dated ("admission", "peak")."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cache
from typing import Any

from reporter.assess import labs
from reporter.assess.onset import Span, Timeline
from reporter.casefile.model import CaseFile
from reporter.tables import load_yaml


@cache
def liver_table() -> dict[str, Any]:
    return load_yaml("assess/liver.yaml")


@dataclass(frozen=True)
class LabPoint:
    analyte: str
    index: int  # position in case.tests
    value: float | None
    uln: float | None
    xuln: float | None
    span: Span | None  # on the suspect drug's first-dose frame where possible
    label: str | None  # timepoint label from the comments
    stated_normal: bool = False

    @property
    def when(self) -> str:
        if self.span is not None:
            day = _fmt(self.span.lo) if self.span.exact else f"{_fmt(self.span.lo)}-{_fmt(self.span.hi)}"
            if self.span.frame.startswith("first:"):
                return f"day {day}"
            if self.span.frame.startswith("last:"):  # the last dose not placed on the day axis
                return f"day {day} after the last dose"
            return f"calendar day {day}"
        return f"'{self.label}'" if self.label else "an undated time"

    def describe(self) -> str:
        name = labs.analyte_label(self.analyte)
        if self.value is None:
            return f"{name} stated normal at {self.when}" if self.stated_normal else f"{name} at {self.when}"
        x = f" ({self.xuln:.1f} x ULN)" if self.xuln is not None else " (no upper limit stated)"
        return f"{name} {_fmt(self.value)}{x} at {self.when}"


def _fmt(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else f"{x:.2f}".rstrip("0").rstrip(".")


@cache
def _patterns() -> tuple[tuple[tuple[str, re.Pattern[str]], ...], re.Pattern[str]]:
    """The timepoint words and the stated-normal words of liver.yaml as compiled whole-word patterns."""
    def words(items: list[str]) -> str:
        return "|".join(re.escape(w.lower()) for w in items)
    table = liver_table()
    labels = tuple((str(tp["key"]), re.compile(rf"\b(?:{words(tp['words'])})\b")) for tp in table["timepoints"])
    return labels, re.compile(rf"\b(?:{words(table['stated_normal'])})\b")


def timepoint_label(comments: str | None) -> str | None:
    """The timepoint a comment names ("At admission" -> admission), per liver.yaml."""
    text = (comments or "").lower()
    return next((key for key, pattern in _patterns()[0] if pattern.search(text)), None) if text else None


def _stated_normal(value: float | None, result: str | None, result_text: str | None) -> bool:
    if value is not None:
        return False
    return result == "negative" or bool(_patterns()[1].search((result_text or "").lower()))


def make_point(analyte: str, index: int, value: float | None, uln: float | None, comparator: str | None,
               span: Span | None, comments: str | None, result: str | None = None,
               result_text: str | None = None) -> LabPoint:
    return LabPoint(analyte, index, value, uln, labs.multiple_of_uln(value, uln, comparator), span,
                    timepoint_label(comments), _stated_normal(value, result, result_text))


def on_drug_axis(tl: Timeline, when: object, anchor_drug: str | None) -> Span | None:
    """A time as a span of days on the anchor drug's day axis when its first dose is dated (else as it is)."""
    span = tl.span(when)
    if span is not None and anchor_drug and span.frame != f"first:{anchor_drug}":
        cal = tl.to_calendar(span)
        base = tl.first_dose_calendar(anchor_drug)
        if cal is not None and base is not None:
            span = Span(cal.lo - base.hi, cal.hi - base.lo, f"first:{anchor_drug}")
    return span


def lab_points(case: CaseFile, anchor_drug: str | None) -> list[LabPoint]:
    """The case's liver tests with their time on the anchor drug's day axis (or calendar, or label)."""
    tl = Timeline(case)
    points = []
    for i, test in enumerate(case.tests):
        key = labs.analyte_key(test.loinc, test.name)
        if key is None:
            continue
        span = on_drug_axis(tl, test.date, anchor_drug)
        points.append(make_point(key, i, test.value, test.high, test.comparator, span, test.comments,
                                 test.result, test.result_text))
    return points


def _order(p: LabPoint) -> tuple[int, float]:
    """Dated points by day; labelled ones by the label's place in liver.yaml; undated last."""
    if p.span is not None:
        return (0, p.span.lo)
    keys = [tp["key"] for tp in liver_table()["timepoints"]]
    if p.label in keys:
        return (1, float(keys.index(p.label)))
    return (2, float(p.index))


def _distance(a: LabPoint, b: LabPoint) -> float | None:
    """Days between two results (0 for the same label); None when they cannot be compared."""
    if a.span is not None and b.span is not None and a.span.frame == b.span.frame:
        return max(0.0, max(a.span.lo, b.span.lo) - min(a.span.hi, b.span.hi))
    if a.span is None and b.span is None and a.label and a.label == b.label:
        return 0.0
    return None


@dataclass(frozen=True)
class Pairing:
    point: LabPoint | None
    note: str | None  # set when the window was widened


def partner(points: list[LabPoint], at: LabPoint, analyte: str, window: float | None = None,
            widest: float | None = None) -> Pairing:
    """The result of `analyte` closest in time to `at`, within the window, widening up to `widest`."""
    cfg = liver_table()["pairing"]
    window = float(cfg["window_days"] if window is None else window)
    widest = float(cfg["widest_days"] if widest is None else widest)
    candidates = [(d, p) for p in points if p.analyte == analyte
                  for d in [_distance(at, p)] if d is not None and d <= max(window, widest)]
    if not candidates:
        return Pairing(None, None)
    d, best = min(candidates, key=lambda c: (c[0], c[1].index))
    if d <= window:
        return Pairing(best, None)
    return Pairing(best, f"{labs.analyte_label(analyte)} paired {_fmt(d)} day(s) from "
                         f"{labs.analyte_label(at.analyte)} (window widened from {_fmt(window)} to {_fmt(d)} days: "
                         "no result within the default window)")


@dataclass(frozen=True)
class RAtRecognition:
    r: float | None
    pattern: str | None
    alt: LabPoint | None
    alp: LabPoint | None
    notes: tuple[str, ...]

    @property
    def text(self) -> str:
        if self.r is None:
            return "R ratio at recognition: not computable (" + "; ".join(self.notes) + ")"
        pair = f"{self.alt.describe()} with {self.alp.describe()}" if self.alt and self.alp else ""
        note = f"; {'; '.join(self.notes)}" if self.notes else ""
        return f"R ratio at recognition {self.r:.1f}: {self.pattern} pattern ({pair}{note})"


def recognition(points: list[LabPoint], not_before: Span | None = None) -> LabPoint | None:
    """The first ALT >= 3 x ULN or ALP >= 2 x ULN (not before the reaction's onset, when it is known on the
    same day axis: an abnormal value on the first-dose day belongs to the baseline)."""
    rule = liver_table()["recognition"]
    hits = [p for p in points if p.xuln is not None and (
        (p.analyte == "alt" and p.xuln >= rule["alt_xuln_at_least"])
        or (p.analyte == "alp" and p.xuln >= rule["alp_xuln_at_least"]))]
    if not_before is not None:
        hits = [p for p in hits if p.span is None or p.span.frame != not_before.frame or p.span.hi >= not_before.lo]
    return min(hits, key=_order) if hits else None


def is_liver_term(text: str | None) -> bool:
    low = (text or "").lower()
    return any(word in low for word in liver_table()["liver_terms"])


def r_at_recognition(points: list[LabPoint], window: float | None = None,
                     not_before: Span | None = None) -> RAtRecognition:
    first = recognition(points, not_before)
    if first is None:
        where = "at or after the onset" if recognition(points) is not None else "in the case"
        return RAtRecognition(None, None, None, None,
                              (f"no ALT >= 3 x ULN or ALP >= 2 x ULN with its upper limit {where}",))
    other = "alp" if first.analyte == "alt" else "alt"
    pair = partner(points, first, other, window)
    notes = [n for n in (pair.note,) if n]
    if pair.point is None or pair.point.xuln is None:
        notes.append(f"no {labs.analyte_label(other)} with its upper limit at {first.when}, the recognition "
                     f"({first.describe()})")
        return RAtRecognition(None, None, first if other == "alp" else None, first if other == "alt" else None,
                              tuple(notes))
    alt, alp = (first, pair.point) if other == "alp" else (pair.point, first)
    r = labs.r_ratio(alt.xuln, alp.xuln)
    return RAtRecognition(r, labs.injury_pattern(r), alt, alp, tuple(notes))


@dataclass(frozen=True)
class HyCriterion:
    name: str
    met: bool | None
    reason: str


@dataclass(frozen=True)
class HysLawFinding:
    met: bool | None
    criteria: tuple[HyCriterion, ...]

    @property
    def text(self) -> str:
        verdict = {True: "biochemical criteria met (other causes must still be excluded)", False: "not met",
                   None: "cannot be decided"}[self.met]
        return f"Potential Hy's law: {verdict}; " + "; ".join(c.reason for c in self.criteria)


def _paired_criterion(name: str, pair: Pairing, peak: LabPoint, *, stated_normal_met: bool,
                      test: Callable[[float], bool], wanted: tuple[str, str, str], missing: str) -> HyCriterion:
    """One Hy's law criterion on the result paired with the peak aminotransferase. A value stated normal
    meets it or not as `stated_normal_met` says (a normal bilirubin does not meet "> 2 x ULN")."""
    p = pair.point
    if p is None:
        return HyCriterion(name, None, missing)
    label = labs.analyte_label(p.analyte)
    if p.stated_normal:
        return HyCriterion(name, stated_normal_met, f"{label} stated normal at {p.when}: "
                           + ("met" if stated_normal_met else "not met"))
    if p.xuln is None:
        return HyCriterion(name, None, f"{p.describe()}: no upper limit")
    ok = test(p.xuln)
    return HyCriterion(name, ok, f"{p.describe()}: {wanted[0] if ok else wanted[1]} {wanted[2]}"
                       + (f" ({pair.note})" if pair.note else ""))


def hys_law(points: list[LabPoint], window: float | None = None) -> HysLawFinding:
    """At the peak aminotransferase: ALT/AST >= 3 x ULN, bilirubin > 2 x ULN, ALP < 2 x ULN (paired
    within the window). A bilirubin stated normal counts as not met."""
    rule = labs.lab_table()["hys_law"]
    enzymes = [p for p in points if p.analyte in ("alt", "ast") and p.xuln is not None]
    if not enzymes:
        return HysLawFinding(None, (HyCriterion("aminotransferase", None,
                                                "no ALT or AST with its upper limit in the case"),))
    peak = max(enzymes, key=lambda p: (p.xuln or 0.0))
    out = []
    ok = peak.xuln >= rule["aminotransferase_xuln_at_least"]
    out.append(HyCriterion("aminotransferase", ok, f"peak {peak.describe()}: "
                           f"{'at least' if ok else 'below'} {rule['aminotransferase_xuln_at_least']} x ULN"))
    bili = partner(points, peak, "bilirubin", window)
    out.append(_paired_criterion(
        "bilirubin", bili, peak, stated_normal_met=False,
        test=lambda x: x > rule["bilirubin_xuln_above"],
        wanted=("above", "not above", f"{rule['bilirubin_xuln_above']} x ULN"),
        missing=f"no total bilirubin at {peak.when}"))
    alp = partner(points, peak, "alp", window)
    out.append(_paired_criterion(
        "alp", alp, peak, stated_normal_met=True,
        test=lambda x: x < rule["alp_xuln_below"],
        wanted=("below", "not below", f"{rule['alp_xuln_below']} x ULN"),
        missing=f"no ALP at {peak.when}, so initial cholestasis cannot be excluded"))
    if any(c.met is False for c in out):
        met: bool | None = False
    elif all(c.met for c in out):
        met = True
    else:
        met = None
    return HysLawFinding(met, tuple(out))


@dataclass(frozen=True)
class Normalisation:
    analyte: str
    days_after_stop: tuple[float, float] | None
    text: str


def normalisation(points: list[LabPoint], last_dose: Span | None, analyte: str = "alt") -> Normalisation:
    """Days from the last dose to the first result at or below ULN after the peak (dechallenge course)."""
    name = labs.analyte_label(analyte)
    series = sorted((p for p in points if p.analyte == analyte and p.span is not None and p.xuln is not None),
                    key=lambda p: p.span.lo)
    if last_dose is None:
        return Normalisation(analyte, None, f"{name} normalisation: the last dose is not dated")
    after = [p for p in series if p.span.frame == last_dose.frame and p.span.lo >= last_dose.lo]
    if not after:
        return Normalisation(analyte, None, f"{name} normalisation: no {name} result after the last dose")
    for p in after:
        if p.xuln <= 1.0:
            days = (p.span.lo - last_dose.hi, p.span.hi - last_dose.lo)
            span = _fmt(days[0]) if days[0] == days[1] else f"{_fmt(days[0])}-{_fmt(days[1])}"
            return Normalisation(analyte, days, f"{name} back within normal {span} days after the last dose "
                                 f"({p.describe()})")
    final = after[-1]
    days_since = final.span.lo - last_dose.hi
    return Normalisation(analyte, None, f"{name} not yet normal at the last result, {_fmt(days_since)} days after "
                         f"the last dose ({final.describe()})")


@dataclass(frozen=True)
class Grade:
    grade: int | None
    rule: str


def is_baseline_time(span: Span | None, onsets: Iterable[Span] = ()) -> bool:
    """Whether a result at `span` (on a first-dose axis) shows the state before the drug: before the first dose,
    or on its day when no reaction of `onsets` (same axis) may have begun that day too. Without the hours, a
    day-0 value may be the reaction itself (hypoglycaemia hours after a single dose), not the state before it.
    The report's abnormal-baseline note and the CTCAE baseline both use this rule."""
    if span is None or not span.frame.startswith("first:") or span.hi > 0:
        return False
    return span.hi < 0 or not any(o.frame == span.frame and o.lo < 1 and o.hi >= 0 for o in onsets)


def baseline_of(points: list[LabPoint], analyte: str, onsets: Iterable[Span] = ()) -> LabPoint | None:
    """The last result before the first dose, or on its day when no reaction began then (is_baseline_time), or
    one labelled baseline."""
    onsets = tuple(onsets)
    before = [p for p in points if p.analyte == analyte and p.value is not None and (
        is_baseline_time(p.span, onsets) or p.label == "baseline")]
    return max(before, key=_order) if before else None


def ctcae(point: LabPoint, baseline: LabPoint | None) -> Grade:
    """CTCAE v5 grade of a result, by the x-baseline rule when the baseline is above ULN."""
    name = labs.analyte_label(point.analyte)
    if point.xuln is None:
        return Grade(None, f"{name}: no upper limit, not graded")
    if baseline is not None and baseline.index != point.index and baseline.xuln is not None and baseline.xuln > 1.0 \
            and baseline.value:
        ratio = point.value / baseline.value
        grade = labs.ctcae_grade_vs_baseline(point.analyte, ratio)
        if grade is not None:
            return Grade(grade, f"{name} grade {grade} by the abnormal-baseline rule: {ratio:.1f} x baseline "
                         f"({baseline.describe()})")
    grade = labs.ctcae_grade(point.analyte, point.xuln)
    if baseline is None:
        why = "no baseline in the case"
    elif baseline.index == point.index:
        why = "this is the baseline value"
    else:
        why = "normal baseline"
    return Grade(grade, f"{name} grade {grade} by the x ULN rule ({why}): {point.xuln:.1f} x ULN")
