"""Time to onset from any mix of dates and relative times, with the precision carried.

A time is a span of days [lo, hi] in a frame: the calendar (days since 0001-01-01) or the first dose of a
drug ("first:<drug id>"). A date known to the month spans that month; a relative time in months spans
28-31 days per month; an author's range (3-4 days) spans it, "within 30 min" spans 0-30 min, and "about" or
"at least" makes the span approximate (and says which). Differences of spans are ranges, never a made-up exact
day."""

from __future__ import annotations

import calendar
import datetime as dt
from dataclasses import dataclass
from functools import lru_cache

from reporter.casefile.model import Absent, CaseFile, Dosage, Drug, DrugReaction, Quantity, Reaction, RelativeTime
from reporter.render.units import unit_text
from reporter.validation.ucum import single_administration_intervals

CALENDAR = "calendar"
# Days per UCUM time unit as (fewest, most).
_UNIT_DAYS = {"d": (1.0, 1.0), "wk": (7.0, 7.0), "h": (1 / 24, 1 / 24), "min": (1 / 1440, 1 / 1440),
              "s": (1 / 86400, 1 / 86400), "mo": (28.0, 31.0), "a": (365.0, 366.0)}
# How an interval under a day is written: in the largest unit it reaches, so 3 min does not read "0.0 days".
_SHORT_UNITS = ((1 / 24, 24.0, "hour"), (1 / 1440, 1440.0, "minute"), (0.0, 86400.0, "second"))
AT_LEAST = "at least"
AT_MOST = "at most"
_YEARS_FROM_DAYS = 730  # from two years on an interval is said in years first
_DAYS_PER_YEAR = 365.25
ABOUT = "about"


def merge_qualifiers(*qualifiers: str | None) -> str | None:
    """One qualifier for a time built from several: "at least" only when every qualified part says so."""
    found = {q for q in qualifiers if q}
    if not found:
        return None
    return found.pop() if len(found) == 1 else ABOUT


@dataclass(frozen=True)
class Span:
    lo: float
    hi: float
    frame: str = CALENDAR
    qualifier: str | None = None  # as the author qualified it: "about", "at least"

    @property
    def approx(self) -> bool:
        return self.qualifier is not None

    @property
    def exact(self) -> bool:
        return self.lo == self.hi and not self.approx

    def shift(self, lo: float, hi: float, qualifier: str | None = None) -> Span:
        return Span(self.lo + lo, self.hi + hi, self.frame, merge_qualifiers(self.qualifier, qualifier))


@dataclass(frozen=True)
class Interval:
    """A number of days, exact or a range, with how it was found."""

    lo: float
    hi: float
    how: str  # "stated in the case" / "from dates" ...
    qualifier: str | None = None  # from a time the author gave as "about" or "at least"

    @property
    def approx(self) -> bool:
        return self.qualifier is not None

    @property
    def exact(self) -> bool:
        return self.lo == self.hi and not self.approx

    @property
    def text(self) -> str:
        prefix = f"{self.qualifier} " if self.qualifier else ""
        per, unit = _unit_for(max(abs(self.lo), abs(self.hi)))
        if self.lo == self.hi:
            return prefix + _in_years(self.lo, self.hi, _count(self.lo * per, unit))
        return prefix + _in_years(self.lo, self.hi, f"{_num(self.lo * per)} to {_count(self.hi * per, unit)}")

    def to_json(self) -> dict[str, object]:
        return {"days_from": self.lo, "days_to": self.hi, "exact": self.exact, "text": self.text, "how": self.how,
                "qualifier": self.qualifier}


def _in_years(lo: float, hi: float, days: str) -> str:
    """An interval of years (lithium for ten years) read in years first, its days after: '10 years (3650 to
    3660 days)', not a count of thousands of days alone."""
    if max(abs(lo), abs(hi)) < _YEARS_FROM_DAYS:
        return days
    low, high = _num(lo / _DAYS_PER_YEAR), _num(hi / _DAYS_PER_YEAR)
    years = low if low == high else f"{low} to {high}"
    return f"{years} years ({days})"


def _num(x: float) -> str:
    x = round(x, 1)
    return str(int(x)) if float(x).is_integer() else f"{x:.1f}"


def _unit_for(days: float) -> tuple[float, str]:
    """(units per day, unit name) for an interval whose largest end is `days`."""
    if days == 0 or days >= 1:
        return 1.0, "day"
    return next((per, unit) for least, per, unit in _SHORT_UNITS if days >= least)


def _count(x: float, unit: str) -> str:
    return f"{_num(x)} {unit}" + ("" if _num(abs(x)) == "1" else "s")


def _days(x: float) -> str:
    return _count(x, "day")


@lru_cache(maxsize=4096)
def date_span(text: str) -> Span:
    """The calendar days a partial ISO date covers (kept: every pair of a case places every dated result and
    dosage again, 1.3 million times for 20 suspects, 30 reactions and 200 results)."""
    year = int(text[:4])
    if len(text) == 4:
        first, last = dt.date(year, 1, 1), dt.date(year, 12, 31)
    elif len(text) == 7:
        month = int(text[5:7])
        first = dt.date(year, month, 1)
        last = dt.date(year, month, calendar.monthrange(year, month)[1])
    else:
        first = last = dt.date.fromisoformat(text[:10])
    return Span(float(first.toordinal()), float(last.toordinal()))


def relative_offset(when: RelativeTime) -> Span | None:
    """A relative time as days from its own anchor, in the frame "first:<drug>" or "last:<drug>"."""
    found = offset_days(when.value, when.unit, when.high, when.qualifier)
    if found is None:
        return None
    anchor = "first" if when.anchor == "first-dose" else "last"
    return Span(found[0], found[1], f"{anchor}:{when.drug}", QUALIFIER_TEXT.get(when.qualifier or ""))


QUALIFIER_TEXT = {"about": ABOUT, "at-least": AT_LEAST}  # an author's qualifier as an interval's text says it


def offset_days(value: float, unit: str, high: float | None = None,
                qualifier: str | None = None) -> tuple[float, float] | None:
    """The days a relative time's offset covers: its unit's range (a month is 28-31 days), to the end of the
    author's range (3-4 days), from the anchor on for 'within'. (The report page counts as this module does.)"""
    days = quantity_days(Quantity(value=value, unit=unit))
    if days is None:
        return None
    lo, hi = days
    if high is not None:
        top = quantity_days(Quantity(value=high, unit=unit))
        hi = max(hi, top[1]) if top else hi
    if qualifier == "within":
        lo = min(lo, 0.0)
    return lo, hi


def quantity_days(q: Quantity | RelativeTime) -> tuple[float, float] | None:
    per = _UNIT_DAYS.get(q.unit)
    if per is None:
        return None
    a, b = q.value * per[0], q.value * per[1]
    return (min(a, b), max(a, b))


def administration_days(start: Span, stop: Span) -> int | None:
    """Days of administration from a first to a last administration, both days counted ('day 3 to day 10' is 8
    days; E2B's G.k.4.r.6 is the overall duration of administration, as CIOMS box 19 counts it and as
    Timeline.dosage_stop reads a duration back): only for exact whole days in one frame, the stop not before
    the start; None otherwise (an approximate or ranged time, hours, another frame), never a made-up count."""
    if start.frame != stop.frame or not (start.exact and stop.exact):
        return None
    days = stop.lo - start.lo
    if days < 0 or not float(start.lo).is_integer() or not float(days).is_integer():
        return None
    return int(days) + 1


class Timeline:
    """Resolves the case's times to spans and subtracts them."""

    def __init__(self, case: CaseFile) -> None:
        self.case = case
        self.drugs = {d.id: d for d in case.drugs}
        self._first_dates: dict[str, Span | None] = {}  # first_dose_calendar, asked once per result placed

    def span(self, when: object, depth: int = 0, before: Span | None = None) -> Span | None:
        """Where a time falls; one counted from the last dose counts from the last one begun by `before` (an
        episode's onset) when given, so a rechallenge months later is not the last dose of an earlier episode."""
        if when is None or isinstance(when, Absent) or depth > 4:
            return None
        if isinstance(when, str):
            return date_span(when)
        if isinstance(when, RelativeTime):
            offset = relative_offset(when)
            if offset is None:
                return None
            if when.anchor == "first-dose":
                return Span(offset.lo, offset.hi, f"first:{when.drug}", offset.qualifier)
            last = self.last_dose(when.drug, depth + 1, before=before)
            # with the last dose not placed, times counted from it still compare with each other (ALT and ALP
            # "3 weeks after the last dose" pair for the R ratio)
            return last.shift(offset.lo, offset.hi, offset.qualifier) if last else offset
        return None

    def first_dose(self, drug_id: str) -> Span:
        """By definition the origin of the drug's own frame."""
        return Span(0.0, 0.0, f"first:{drug_id}")

    def first_dose_calendar(self, drug_id: str, depth: int = 0) -> Span | None:
        if depth == 0:
            if drug_id not in self._first_dates:
                self._first_dates[drug_id] = self._first_dose_calendar(drug_id)
            return self._first_dates[drug_id]
        return self._first_dose_calendar(drug_id, depth)

    def _first_dose_calendar(self, drug_id: str, depth: int = 0) -> Span | None:
        drug = self.drugs.get(drug_id)
        if drug is None:
            return None
        spans = []
        for dosage in drug.dosages:
            s = self.span(dosage.start, depth + 1)
            if s is not None and s.frame != f"first:{drug_id}":
                s = self.to_calendar(s, depth + 1)
                if s is not None:
                    spans.append(s)
        if not spans:
            return None
        return Span(min(s.lo for s in spans), min(s.hi for s in spans))

    def dosage_start(self, drug: Drug, index: int, depth: int = 0) -> Span | None:
        """Where a dosage line begins; the first line without a start begins at the first dose."""
        dosage = drug.dosages[index]
        if dosage.start is not None:
            return self.span(dosage.start, depth + 1)
        return self.first_dose(drug.id) if index == 0 else None

    def dosage_stop(self, drug: Drug, index: int, depth: int = 0) -> Span | None:
        """A dosage line's last administration: its stop, else its start plus its duration (G.k.4.r.6), else
        its start when it was given once (interval {total}: a vaccine dose, a single infusion). A course of d
        days has its last dose on day d-1 from its start (both days counted, as CIOMS box 19 counts them); one
        shorter than a day ends within it."""
        dosage = drug.dosages[index]
        if dosage.stop is not None:
            return self.span(dosage.stop, depth + 1)
        if dosage.duration is None and dosage.every is not None \
                and dosage.every.unit in single_administration_intervals():
            return self.dosage_start(drug, index, depth)
        days = quantity_days(dosage.duration) if dosage.duration is not None else None
        start = self.dosage_start(drug, index, depth) if days is not None else None
        if start is None or days is None:
            return None
        if days[0] >= 1:
            return start.shift(days[0] - 1, days[1] - 1)
        return start.shift(0.0, days[1])

    def last_dose(self, drug_id: str, depth: int = 0, before: Span | None = None) -> Span | None:
        """The drug's last administration; with `before` (an episode's onset), the last one of the dosage
        lines begun by then, so a later course (a rechallenge) is not the last dose of an earlier episode."""
        drug = self.drugs.get(drug_id)
        if drug is None or depth > 4:
            return None
        lines = [i for i in range(len(drug.dosages)) if before is None or not self._after(
            self.dosage_start(drug, i, depth), before, depth)]
        spans = [s for s in (self.dosage_stop(drug, i, depth) for i in lines) if s]
        if not spans:
            return None
        frames = {s.frame for s in spans}
        if len(frames) > 1:
            spans = [c for c in (self.to_calendar(s, depth + 1) for s in spans) if c]
            if not spans:
                return None
        last = Span(max(s.lo for s in spans), max(s.hi for s in spans), spans[0].frame,
                    merge_qualifiers(*(s.qualifier for s in spans)))
        # a dosage begun after that stop, or on its day (maintenance after a loading dose), with no end of its
        # own (an infusion months later, a line still taken), was given later: the last dose is then not known;
        # so was a later dose given once and placed nowhere (a vaccine's second dose, undated: 3 days after it is
        # not 3 days after the first)
        for i in lines:
            start = self.dosage_start(drug, i, depth) if self.dosage_stop(drug, i, depth) is None else None
            if drug.dosages[i].start is not None and self._after(start, last, depth, strict=False):
                return None
            if i > 0 and self._given_once_unplaced(drug.dosages[i], self.dosage_stop(drug, i, depth)):
                return None
        return last

    @staticmethod
    def _given_once_unplaced(dosage: Dosage, stop: Span | None) -> bool:
        return dosage.start is None and stop is None and dosage.every is not None \
            and dosage.every.unit in single_administration_intervals()

    def _after(self, span: Span | None, other: Span, depth: int = 0, strict: bool = True) -> bool:
        """Whether `span` lies after `other` (strict: wholly after; else: it may end on or after the day `other`
        begins)."""
        if span is None:
            return False
        if span.frame != other.frame:
            span, other = self.to_calendar(span, depth + 1), self.to_calendar(other, depth + 1)
            if span is None or other is None:
                return False
        return span.lo > other.hi if strict else span.hi >= other.lo

    def in_frame(self, span: Span, frame: str) -> Span | None:
        """A time counted from drug A's first dose, counted instead from drug B's when A's first dose is itself
        given from B's ("on valproate for about 5 years" before topiramate's day 0); None when it is not."""
        if not span.frame.startswith("first:") or not frame.startswith("first:"):
            return None
        drug = self.drugs.get(span.frame.removeprefix("first:"))
        starts = [s for s in (self.span(d.start, 1) for d in drug.dosages) if s and s.frame == frame] if drug else []
        if not starts:
            return None
        base = Span(min(s.lo for s in starts), min(s.hi for s in starts), frame,
                    merge_qualifiers(*(s.qualifier for s in starts)))
        return base.shift(span.lo, span.hi, span.qualifier)

    def to_calendar(self, span: Span, depth: int = 0) -> Span | None:
        if span.frame == CALENDAR:
            return span
        base = self.first_dose_calendar(span.frame.removeprefix("first:"), depth + 1)
        return Span(base.lo + span.lo, base.hi + span.hi, CALENDAR,
                    merge_qualifiers(base.qualifier, span.qualifier)) if base else None

    def diff(self, later: Span | None, earlier: Span | None) -> tuple[float, float, str | None] | None:
        """later - earlier as a (lo, hi) range of days in a common frame, and its qualifier; None when none
        exists. An earlier time of "at least" makes the difference at most, written "about"."""
        if later is None or earlier is None:
            return None
        if later.frame != earlier.frame:
            later, earlier = (self.in_frame(later, earlier.frame) or later,
                              self.in_frame(earlier, later.frame) or earlier)
        if later.frame != earlier.frame:
            later, earlier = self.to_calendar(later), self.to_calendar(earlier)
            if later is None or earlier is None:
                return None
        return (later.lo - earlier.hi, later.hi - earlier.lo,
                merge_qualifiers(later.qualifier, ABOUT if earlier.qualifier else None))


@dataclass(frozen=True)
class TimeToOnset:
    drug: str
    reaction: str
    after_first_dose: Interval | None
    after_last_dose: Interval | None
    duration: Interval | None
    notes: tuple[str, ...] = ()

    @property
    def text(self) -> str:
        parts = []
        for label, value in (("first", self.after_first_dose), ("last", self.after_last_dose)):
            if value is None:
                parts.append(f"onset after the {label} dose: not known")
            elif value.hi < 0:
                # "at least 7 days before" would turn the bound round: at least -7 days after is at most 7 before
                flipped = AT_MOST if value.qualifier == AT_LEAST else ABOUT if value.qualifier else None
                before = Interval(-value.hi, -value.lo, value.how, flipped)
                parts.append(f"onset {before.text} before the {label} dose, while on the drug ({value.how})")
            else:
                parts.append(f"onset {value.text} after the {label} dose ({value.how})")
        parts.append(f"duration {self.duration.text} ({self.duration.how})" if self.duration
                     else "duration: not known")
        return "; ".join(parts)

    def e2b_intervals(self) -> dict[str, tuple[float, str]]:
        """What E2B may carry: G.k.9.i.3.1 / G.k.9.i.3.2 as (value, "d") when the interval is exact and not
        negative. A range (a date known to the month) has no E2B form and is left out, never rounded."""
        out: dict[str, tuple[float, str]] = {}
        for element, value in (("G.k.9.i.3.1", self.after_first_dose), ("G.k.9.i.3.2", self.after_last_dose)):
            if value is not None and value.exact and value.lo >= 0:
                out[element] = (value.lo, "d")
        return out

    def to_json(self) -> dict[str, object]:
        return {"drug": self.drug, "reaction": self.reaction,
                "after_first_dose": self.after_first_dose.to_json() if self.after_first_dose else None,
                "after_last_dose": self.after_last_dose.to_json() if self.after_last_dose else None,
                "duration": self.duration.to_json() if self.duration else None, "notes": list(self.notes)}


def _stated(q: Quantity | None) -> Interval | None:
    """An interval the case states (G.k.9.i.3.1/2, E.i.6), said in words as a clinician reads it."""
    if q is None:
        return None
    days = quantity_days(q)
    if days is None:
        return None
    return Interval(days[0], days[1], f"stated in the case as {_num(q.value)} {unit_text(q.unit, q.value)}")


def _counted_from_last_dose(when: object, drug_id: str) -> Interval | None:
    """The onset as the author counted it from this drug's last dose ("4 hours after a single tablet"): that
    is the interval itself, sharper than a difference with a last dose known only to the month."""
    if not isinstance(when, RelativeTime) or when.drug != drug_id or when.anchor != "last-dose":
        return None
    offset = relative_offset(when)
    if offset is None:
        return None
    words = f"{_num(when.value)}{'-' + _num(when.high) if when.high is not None else ''} " \
            f"{unit_text(when.unit, when.high if when.high is not None else when.value)}"
    return Interval(offset.lo, offset.hi, f"stated in the case as {words} after the last dose", offset.qualifier)


def _as_the_author_qualified(stated: Interval, computed: tuple[float, float, str | None], onset: object,
                             drug_id: str) -> Interval:
    """G.k.9.i.3 holds a number only: when the reaction's onset gives the same time from this drug's first dose
    as the author qualified it ('within the first 24 h', 'about 2 weeks', '3-4 weeks'), the interval is the
    author's, not the bare number ('1 day' for 'within 24 hours')."""
    if not isinstance(onset, RelativeTime) or onset.drug != drug_id or onset.anchor != "first-dose":
        return stated
    return _qualified(stated, computed, onset)


def _qualified(stated: Interval, computed: tuple[float, float, str | None], onset: RelativeTime) -> Interval:
    """The author's interval for a stated one it holds, when the author qualified the time or gave a range."""
    if (onset.qualifier is None and onset.high is None) or not (computed[0] <= stated.lo and stated.hi <= computed[1]):
        return stated
    words = " ".join(w for w in ((onset.qualifier or "").replace("-", " "), f"{_num(onset.value)}"
                                 f"{'-' + _num(onset.high) if onset.high is not None else ''}",
                                 unit_text(onset.unit, onset.high if onset.high is not None else onset.value)) if w)
    return Interval(computed[0], computed[1], f"{stated.how}, which the reaction's onset gives as {words}",
                    computed[2])


def _how(a: object, b: object, what: str) -> str:
    partial = [x for x in (a, b) if isinstance(x, str) and len(x) < 10]
    if partial:
        return f"{what}; " + ", ".join(f"{p} is known only to the {'year' if len(p) == 4 else 'month'}"
                                       for p in partial)
    return what


def time_to_onset(case: CaseFile, drug: Drug, reaction: Reaction, link: DrugReaction | None = None) -> TimeToOnset:
    """Onset after the first and last dose, and the reaction's duration. Stated values (G.k.9.i.3, E.i.6)
    come first; otherwise they are worked out from dates and relative times."""
    tl = Timeline(case)
    notes: list[str] = []
    onset = tl.span(reaction.onset)
    first = _stated(link.onset_after_first_dose if link else None)
    computed_first = tl.diff(onset, tl.first_dose(drug.id))
    if first is None and computed_first is not None:
        lo, hi, qualifier = computed_first
        first = Interval(lo, hi, _how(reaction.onset, None, "from the onset and the first dose"), qualifier)
    elif first is not None and computed_first is not None and not (
            computed_first[0] - 1 <= first.lo and first.hi <= computed_first[1] + 1):
        notes.append(f"the stated onset after the first dose ({first.text}) differs from the dates "
                     f"({Interval(computed_first[0], computed_first[1], '', computed_first[2]).text})")
    elif first is not None and computed_first is not None:
        first = _as_the_author_qualified(first, computed_first, reaction.onset, drug.id)
    counted = _counted_from_last_dose(reaction.onset, drug.id)
    last = _stated(link.onset_after_last_dose if link else None)
    if last is not None and counted is not None and isinstance(reaction.onset, RelativeTime):
        last = _qualified(last, (counted.lo, counted.hi, counted.qualifier), reaction.onset)
    last = last or counted
    computed_last = tl.diff(onset, tl.last_dose(drug.id, before=onset))
    if last is None and computed_last is not None:
        lo, hi, qualifier = computed_last
        last = Interval(lo, hi, _how(reaction.onset, None, "from the onset and the last dose"), qualifier)
    duration = _stated(reaction.duration)
    if duration is None:
        computed = tl.diff(tl.span(reaction.end, before=onset), onset)
        if computed is not None:
            duration = Interval(max(computed[0], 0.0), computed[1],
                                _how(reaction.onset, reaction.end, "from the onset and end of the reaction"),
                                computed[2])
    if onset is None and reaction.onset is None:
        notes.append("the reaction's onset is not stated")
    return TimeToOnset(drug.id, reaction.id, first, last, duration, tuple(notes))
