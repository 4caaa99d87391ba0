"""Cell readers of the line-listing intake: ages in any unit, dates at their precision, times relative to the
suspect drug, doses. Each returns case-file values or raises ValueError with a message for the user."""

from __future__ import annotations

import datetime as dt
import re
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from reporter.tables import load_yaml

TIME_UNITS = {
    "d": "d", "day": "d", "days": "d", "dy": "d", "wk": "wk", "w": "wk", "week": "wk", "weeks": "wk",
    "wks": "wk", "mo": "mo", "month": "mo", "months": "mo", "mos": "mo", "m": "mo", "mth": "mo", "mths": "mo",
    "mon": "mo", "a": "a", "y": "a",
    "yr": "a", "yrs": "a", "year": "a", "years": "a", "h": "h", "hr": "h", "hrs": "h", "hour": "h",
    "hours": "h", "min": "min", "minute": "min", "minutes": "min", "decade": "{decade}", "decades": "{decade}",
}
_NUMBER = r"[-+]?\d+(?:[.,]\d+)*"
_RELATIVE = re.compile(
    rf"^(?:(?:day|d)\s*(?P<day>{_NUMBER})|(?P<value>{_NUMBER})\s*(?P<unit>[a-z]+)?)"
    r"(?:\s+(?:after|from|post|since)(?:\s+the)?\s+(?P<anchor>first|last|start|end|stop)\b.*)?$")
_AGE = re.compile(rf"^(?P<value>{_NUMBER})\s*(?P<unit>[a-z]+)?\.?(?:\s+old)?$")
_ISO_DATE = re.compile(r"^\d{4}(-\d{2}(-\d{2}(t.*)?)?)?$")
_SLASH_DATE = re.compile(r"^(\d{1,2})[/.](\d{1,2})[/.](\d{4})$")
_DOSE = re.compile(rf"^(?P<value>{_NUMBER})\s*(?P<unit>\S+)$")


# The decimal mark of the listing being read, when its map states one ("." or ","); None: not stated.
DECIMAL_MARK: ContextVar[str | None] = ContextVar("DECIMAL_MARK", default=None)
_PLAIN_NUMBER = re.compile(_NUMBER)


class AmbiguousNumber(ValueError):
    """A number whose separator may be a decimal mark or a thousands separator ('1,000', '2.000')."""


def parse_number(text: str) -> float:
    """A number written with a decimal point or comma, maybe with thousands separators ('1,234.5',
    '1.234,5'). '1,000' or '2.000' (one separator, three digits after it) is one thousand in one convention
    and one in the other: refused unless the map states the decimal mark, as reading it wrong is a dose
    off by a thousand."""
    text = text.strip()
    if not _PLAIN_NUMBER.fullmatch(text):
        raise ValueError(f"{text!r} is not a number")
    marks = [c for c in text if c in ".,"]
    stated = DECIMAL_MARK.get()
    if not marks:
        return float(text)
    if len(set(marks)) == 2:  # both: the last one is the decimal mark
        return _grouped(text, marks[-1])
    mark = marks[0]
    if len(marks) > 1:  # '1,000,000': thousands separators only
        return _grouped(text, "," if mark == "." else ".")
    if re.fullmatch(r"[-+]?[1-9]\d{0,2}[.,]\d{3}", text):  # '0.125' or '1234,567' cannot be thousands
        if stated is None:
            thousand, one = text.replace(mark, ""), f"{float(text.replace(mark, '.')):g}"
            raise AmbiguousNumber(
                f"{text!r} is ambiguous: {thousand} with {mark!r} as thousands separator, or {one} with {mark!r} "
                f"as decimal mark; write {thousand} or {one}, or state the listing's decimal mark in the column "
                "map (decimal_mark: \".\" or \",\")")
        return _grouped(text, stated)
    return _grouped(text, stated or mark)


def _grouped(text: str, decimal: str) -> float:
    """The number with `decimal` as its decimal mark and the other separator as thousands groups."""
    thousands = "," if decimal == "." else "."
    whole, _, fraction = text.partition(decimal)
    if decimal in fraction or thousands in fraction or (
            thousands in whole and not re.fullmatch(rf"[-+]?\d{{1,3}}(?:{re.escape(thousands)}\d{{3}})+", whole)):
        raise ValueError(f"{text!r} is not a number with {decimal!r} as its decimal mark")
    return float(whole.replace(thousands, "") + ("." + fraction if fraction else ""))


@dataclass(frozen=True)
class AgeSpan:
    """The ages a bound ('<18', '65+') or a span ('18-40') allows: from `low` up to `high` (exclusive; None: no
    end) in the UCUM time unit `unit`, counted in whole units as tables count ages ('<=17' reaches up to 18)."""

    text: str
    low: float
    high: float | None
    unit: str
    kind: str  # below, at_most, above, at_least or span

    @property
    def decade(self) -> float | None:
        """The E2B decade of a span of one whole decade in years (50-59 -> 5), else None."""
        if self.kind != "span" or self.unit != "a" or self.low % 10 or self.high != self.low + 10:
            return None
        return self.low / 10


class AgeNotE2B(ValueError):
    """An age cell that bounds the age or spans other than one whole decade: E2B holds no such age (D.2.2 is
    one number), so the intake keeps the author's words instead of inventing a number."""

    def __init__(self, span: AgeSpan) -> None:
        self.span = span
        what = "a span of ages" if span.kind == "span" else "a bound on the age"
        super().__init__(f"{span.text!r} is {what}, not an age E2B can hold (one number; a span only as a whole "
                         "decade, e.g. 50-59)")


def parse_age(text: str, default_unit: str = "a", *, header_unit: str | None = None) -> dict[str, Any]:
    """'22 months' -> {value: 22, unit: mo}; '4-year-old' -> {value: 4, unit: a}; '84' -> {value: 84, unit:
    <default>}; '60s' and '60-69' -> {value: 6, unit: {decade}}. `header_unit`: the unit the column's header
    gives, which a cell's unit may not contradict. AgeNotE2B for another bound or span ('<18', '18-40')."""
    text = in_years(text)
    decades = _decades(text)
    if decades is not None:
        return {"value": decades, "unit": "{decade}"}
    span = age_span(text, default_unit, header_unit)
    if span is not None:
        if span.decade is None:
            raise AgeNotE2B(span)
        return {"value": span.decade, "unit": "{decade}"}
    m = _AGE.match(re.sub(r"(\d)\s*-\s*(?=[a-z])", r"\1 ", text.strip().lower()).removesuffix("-old"))
    if not m:
        raise ValueError(f"{text!r} is not an age: write a number with a unit, e.g. 22 months, 4 y, 10 d")
    unit = m.group("unit")
    value = parse_number(m.group("value"))
    code = _cell_unit(text, unit, header_unit) if unit else header_unit or default_unit
    if code is None:
        raise ValueError(f"{text!r}: unknown age unit {unit!r} (use y, mo, wk, d, h or decade)")
    if value < 0:
        raise ValueError(f"{text!r}: an age cannot be negative")
    return {"value": value, "unit": code}


def in_years(text: str) -> str:
    """'62 y.o.', '62 yo', '62 y/o male' with the years written as 'y' ('62 y', '62 y male'): case reports' way of
    writing an age in years (mappings/cells.yaml age.years_old)."""
    words = load_yaml("cells.yaml")["age"]["years_old"]
    pattern = "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True))
    return re.sub(rf"(\d)\s*(?:{pattern})(?=[\s,;]|$)", r"\1 y", text, flags=re.IGNORECASE)


def _decades(text: str) -> float | None:
    """'60s', 'in her 60s', 'in his sixties' -> 6 (an age in decades, as case series give it), else None."""
    words = load_yaml("cells.yaml")["age"]
    lowered = " ".join(text.strip().lower().split())
    for lead in words["decade_lead"]:
        lowered = lowered.removeprefix(lead + " ")
    m = re.fullmatch(r"(\d)0['’]?s", lowered)
    found = int(m.group(1)) if m else words["decade_words"].get(lowered)
    return None if found is None else float(found)


def age_span(text: str, default_unit: str = "a", header_unit: str | None = None) -> AgeSpan | None:
    """The ages an age cell's bound or span allows ('<18', '≥ 70', '65+', 'under 2 y', '50 to 59 y'), or None
    when the cell is not one (mappings/cells.yaml age.bounds, at_least_after, span_joins)."""
    words = load_yaml("cells.yaml")["age"]
    lowered = " ".join(text.strip().lower().split())
    for lead in words["decade_lead"]:
        lowered = lowered.removeprefix(lead + " ")
    kind, rest = _age_bound(lowered, words)
    if kind is None:
        joins = "|".join(re.escape(j) for j in sorted(words["span_joins"], key=len, reverse=True))
        m = re.fullmatch(rf"(?P<low>\d+(?:[.,]\d+)?)\s*(?P<low_unit>[a-z]+)?\s*(?:{joins})\s*(?P<rest>\d.*)", lowered)
        if m is None or (m.group("low_unit") and m.group("low_unit") not in TIME_UNITS):
            return None
        kind, rest = "span", m.group("rest")
    found = _AGE.match(rest)
    if found is None:
        return None
    unit = _cell_unit(text, found.group("unit"), header_unit) if found.group("unit") else header_unit or default_unit
    if unit is None:
        raise ValueError(f"{text!r}: unknown age unit {found.group('unit')!r} (use y, mo, wk, d, h)")
    value = parse_number(found.group("value"))
    if value < 0:
        raise ValueError(f"{text!r}: an age cannot be negative")
    if kind == "span":
        low = parse_number(m.group("low"))
        low_unit = TIME_UNITS[m.group("low_unit")] if m.group("low_unit") else unit
        if low_unit != unit:  # '2 Months - 2 Years' (EudraVigilance's age groups): both ends in years
            return _span_in_years(text.strip(), (low, low_unit), (value + 1, unit))
        if value < low:
            raise ValueError(f"{text!r}: the span's end is below its start")
        return AgeSpan(text.strip(), low, value + 1, unit, kind)
    low, high = {"below": (0.0, value), "at_most": (0.0, value + 1), "above": (value, None),
                 "at_least": (value, None)}[kind]
    return AgeSpan(text.strip(), low, high, unit, kind)


def _span_in_years(text: str, low: tuple[float, str], high: tuple[float, str]) -> AgeSpan:
    """A span whose ends are in two units, in years (mappings/tabulate.yaml years_per_unit)."""
    years = load_yaml("tabulate.yaml")["years_per_unit"]
    if low[1] not in years or high[1] not in years:
        raise ValueError(f"{text!r}: an age span in {low[1]} and {high[1]} cannot be compared")
    start, end = low[0] * years[low[1]], high[0] * years[high[1]]
    if end <= start:
        raise ValueError(f"{text!r}: the span's end is below its start")
    return AgeSpan(text, start, end, "a", "span")


def _age_bound(lowered: str, words: dict[str, Any]) -> tuple[str | None, str]:
    """('below', '18') for '<18', ('at_least', '65') for '65+'; (None, text) when the text is not a bound."""
    leads = sorted(((lead, kind) for kind, leads in words["bounds"].items() for lead in leads),
                   key=lambda pair: len(pair[0]), reverse=True)  # '<=' before '<'
    for lead, kind in leads:
        if lowered.startswith(lead) and (not lead[-1].isalpha() or lowered[len(lead):len(lead) + 1] == " "):
            return kind, lowered[len(lead):].strip()
    for after in words["at_least_after"]:
        if lowered.endswith(after) and (not after[0].isalpha() or lowered[:-len(after)].endswith(" ")):
            return "at_least", lowered[:-len(after)].strip()
    return None, lowered


def parse_date(text: str, order: str = "DMY") -> str:
    """ISO (2023, 2023-04, 2023-04-05, with time and zone) as is; 05/04/2023 in the map's day order."""
    text = text.strip()
    m = _SLASH_DATE.match(text)
    if m:
        a, b, year = (int(x) for x in m.groups())
        day, month = (a, b) if order == "DMY" else (b, a)
        try:
            return dt.date(year, month, day).isoformat()
        except ValueError:
            raise ValueError(f"{text!r} is not a calendar date (read as {order})") from None
    if _ISO_DATE.match(text.lower()):
        from reporter.casefile.model import _check_partial_date

        return _check_partial_date(text)
    written = _written_date(text)
    if written is not None:
        return written
    raise ValueError(f"{text!r} is not a date: use {_DATE_FORMS}")


_DATE_FORMS = "2023-04-05, 2023-04, 2023, 05/04/2023, 5 Apr 2023 or Apr 2023"


_YEAR_FIRST = re.compile(r"^(?P<year>\d{4})[/.](?P<month>\d{1,2})[/.](?P<day>\d{1,2})$")
_DAY_MONTH_YEAR = re.compile(r"^(?:(?P<day>\d{1,2})(?:st|nd|rd|th)?[\s-]+)?(?P<name>[a-z]+)\.?[\s,-]+(?P<year>\d{4})$")
_MONTH_DAY_YEAR = re.compile(r"^(?P<name>[a-z]+)\.?\s+(?P<day>\d{1,2})(?:st|nd|rd|th)?,?\s+(?P<year>\d{4})$")


def _written_date(text: str) -> str | None:
    """A date that says which part is which: year first (2023/04/05), or the month by name (5 Apr 2023, 5-Apr-2023,
    April 5, 2023; Apr 2023 is the month). None when the text is none of these."""
    lowered = " ".join(text.lower().split())
    months = load_yaml("cells.yaml")["months"]
    m = _YEAR_FIRST.match(lowered) or _DAY_MONTH_YEAR.match(lowered) or _MONTH_DAY_YEAR.match(lowered)
    if m is None:
        return None
    parts = m.groupdict()
    month = int(parts["month"]) if parts.get("month") else months.get(parts["name"])
    if month is None:
        return None
    try:
        if parts.get("day") is None:
            return dt.date(int(parts["year"]), month, 1).isoformat()[:7]
        return dt.date(int(parts["year"]), month, int(parts["day"])).isoformat()
    except ValueError:
        raise ValueError(f"{text!r} is not a calendar date") from None


def parse_when(text: str, drug: str, *, order: str = "DMY", time_unit: str = "d",
               header_unit: str | None = None) -> Any:
    """A date, or a time relative to the suspect drug: 'day 21', '21', '3 wk', '2 d after last dose'; as
    literature tables write latencies also qualified ('<1 h', 'within 2 h', '~3 weeks', '>2 mo'), as a range
    ('3-4 days', 'day 10-14'), as the Nth week ('2nd week') or 'same day'. Any form but a plain 'day 21',
    '21' or '3 wk' keeps the author's words (`as_stated`): the number alone would say more than they did."""
    lowered = " ".join(text.strip().lower().split())
    qualifier, rest = _qualifier(lowered)
    found = None if _ISO_DATE.match(rest) else _relative(rest, header_unit or time_unit, header_unit)
    if found is not None:
        out = {"value": found["value"], "unit": found["unit"], "drug": drug, "anchor": found["anchor"]}
        if "high" in found:
            out["high"] = found["high"]
        if qualifier:
            out["qualifier"] = qualifier
        if qualifier or not _PLAIN.fullmatch(rest):
            out["as_stated"] = text.strip()
        return out
    other = _other_anchor(lowered)
    if other:
        raise ValueError(f"{text!r} counts from {other}, not from the suspect drug's first or last dose: write the "
                         "time after its first dose (day 21, 3 wk), after its last (2 d after last dose) or the date")
    if qualifier:
        raise ValueError(f"{text!r}: a qualified time must be a time after the drug, e.g. <1 h, ~3 wk")
    if _looks_like_date(rest):
        return parse_date(text, order)
    raise ValueError(f"{text!r} is not a latency the tool reads (forms: {_latency_words()['forms']}) "
                     f"nor a date ({_DATE_FORMS})")


def _other_anchor(lowered: str) -> str | None:
    """What a time counts from when it is not the drug's first or last dose ('POD 3': the operation), else None."""
    words = f" {re.sub(r'[^a-z0-9]+', ' ', lowered)} "
    return next((what for what, leads in _latency_words()["other_anchors"].items()
                 if any(f" {lead} " in words for lead in leads)), None)


_PLAIN = re.compile(rf"(?:day\s*{_NUMBER}|{_NUMBER}(?:\s*[a-z]+)?)")
_ORDINAL = re.compile(r"^(?:the\s+)?(?:(?P<n>\d+)(?:st|nd|rd|th)|(?P<word>[a-z]+))\s+(?P<unit>[a-z]+)(?P<after>\s.*)?$")
_DAY_RANGE = re.compile(rf"^(?:days?|d)\s*(?P<range>{_NUMBER}\s*(?:-|–|to)\s*{_NUMBER})(?P<after>\s.*)?$")


def _latency_words() -> dict[str, Any]:
    return load_yaml("cells.yaml")["latency"]


def _looks_like_date(text: str) -> bool:
    return bool(re.search(r"\d{4}", text) or _SLASH_DATE.match(text))


def _relative(rest: str, time_unit: str, header_unit: str | None = None) -> dict[str, Any] | None:
    """value, unit, anchor (and high for a range) of a relative time without its qualifier, or None."""
    words = _latency_words()
    if rest in words["same_day"]:
        return {"value": 0.0, "unit": "d", "anchor": "first-dose"}
    rest = _plain_anchor(rest, words)
    ordinal = _ordinal(rest, words)
    if ordinal is not None:
        return ordinal
    if d := _DAY_RANGE.match(rest):  # 'day 10-14': days 10 to 14
        rest = f"{d.group('range')} d{d.group('after') or ''}"
    high = None
    m = _RELATIVE.match(rest)
    if m is None and (r := _RANGE.match(rest)):  # '3-4 days': the start as the value, the end as `high`
        high = parse_number(r.group("high"))
        m = _RELATIVE.match(f"{r.group('low')} {r.group('rest') or ''}".strip())
    if m is None:
        return None
    out = {**_value_and_unit(m, rest, time_unit, header_unit), "anchor": _anchor(m.group("anchor"))}
    if high is not None:
        if high < out["value"]:
            raise ValueError(f"{rest!r}: the range's end is below its start")
        out["high"] = high
    return out


def _plain_anchor(rest: str, words: dict[str, Any]) -> str:
    """The time with its anchor in the words the reader knows: '2 d after initiation' -> '2 d after first', '3 d
    after discontinuation' -> '3 d after last', 'day 3 of therapy' -> 'day 3' (mappings/cells.yaml
    latency.anchor_words, course_words)."""
    for course in sorted(words["course_words"], key=len, reverse=True):
        rest = re.sub(rf"\s+{re.escape(course)}$", "", rest)
    for anchor, phrases in words["anchor_words"].items():
        pattern = "|".join(re.escape(p) for p in sorted(phrases, key=len, reverse=True))
        rest = re.sub(rf"\b(after|from|post|since)(?:\s+the)?\s+(?:{pattern})\b.*$", rf"\1 {anchor}", rest)
    return rest


def _ordinal(rest: str, words: dict[str, Any]) -> dict[str, Any] | None:
    """'2nd week', 'second week after last dose' -> 1 to 2 wk: the Nth week runs from N-1 to N weeks."""
    m = _ORDINAL.match(rest)
    if not m or m.group("unit") not in words["ordinal_units"]:
        return None
    n = int(m.group("n")) if m.group("n") else words["ordinals"].get(m.group("word"))
    if not n:
        return None
    after = re.match(r"^\s+(?:after|from|post|since)(?:\s+the)?\s+(?P<anchor>first|last|start|end|stop)\b",
                     m.group("after") or "")
    if m.group("after") and not after:
        return None
    return {"value": float(n - 1), "unit": words["ordinal_units"][m.group("unit")], "high": float(n),
            "anchor": _anchor(after.group("anchor") if after else None)}


def _anchor(word: str | None) -> str:
    return "last-dose" if word in ("last", "end", "stop") else "first-dose"


def _value_and_unit(m: re.Match, text: str, time_unit: str, header_unit: str | None = None) -> dict[str, Any]:
    if m.group("day") is not None:
        return {"value": parse_number(m.group("day")), "unit": _cell_unit(text, "day", header_unit)}
    unit_word = m.group("unit")
    unit = _cell_unit(text, unit_word, header_unit) if unit_word else time_unit
    if unit is None or unit == "{decade}":
        raise ValueError(f"{text!r}: unknown time unit {unit_word!r} (use d, wk, mo, y, h)")
    return {"value": parse_number(m.group("value")), "unit": unit}


def _cell_unit(text: str, word: str, header_unit: str | None) -> str | None:
    """The unit a cell writes after its number, which must agree with the header's: under "Latency (days)"
    the 'a' of '21a' is a footnote marker as likely as years (annum), and is refused, not read as 21 years."""
    unit = TIME_UNITS.get(word)
    if header_unit is None or unit is None or unit == header_unit:
        return unit
    if word in load_yaml("cells.yaml")["footnote"]["letters"]:
        raise ValueError(f"{text!r}: {word!r} after the number may be a footnote marker or the unit {unit}, "
                         f"against the column's unit ({header_unit}): write the number alone")
    raise ValueError(f"{text!r}: the unit {word!r} contradicts the column's unit ({header_unit}): give the value in "
                     f"{header_unit}")


# How literature tables qualify a latency, as the case model's qualifiers.
_QUALIFIERS = (
    (("<=", "≤", "<", "within", "up to", "less than", "under"), "within"),
    (("~", "≈", "approximately", "approx.", "approx", "about", "around", "circa", "ca.", "c."), "about"),
    ((">=", "≥", ">", "at least", "more than", "over", "after"), "at-least"),
)
_RANGE = re.compile(rf"^(?P<low>{_NUMBER})\s*(?:-|–|to)\s*(?P<high>{_NUMBER})\s*(?P<rest>[a-z].*)?$")


def _qualifier(text: str) -> tuple[str | None, str]:
    """('within', '1 h') for '<1 h'; (None, text) when the text has no qualifier in front."""
    for words, qualifier in _QUALIFIERS:
        for word in words:
            if text.startswith(word) and (not word[-1].isalpha() or text[len(word):len(word) + 1] in (" ", "")):
                return qualifier, text[len(word):].strip()
    return None, text


_PER_TIME = {"/day": "/d", "/days": "/d", "/week": "/wk", "/hour": "/h", "/hr": "/h", "/month": "/mo"}


def split_frequency(text: str) -> tuple[str, dict[str, Any]] | None:
    """'1 g q12h' -> ('1 g', {value: 12, unit: h}); '500 mg twice daily' -> ('500 mg', {value: 12, unit: h});
    None when the cell does not end in a frequency mappings/cells.yaml dose_frequency names."""
    table = load_yaml("cells.yaml")["dose_frequency"]
    spaced = " ".join(text.split())  # the dose is cut from this, whose indexes are those of its lower case
    lowered = spaced.lower()
    for words in sorted(table["words"], key=len, reverse=True):
        if lowered.endswith(" " + words):
            found = table["words"][words]
            return spaced[:-len(words)].strip(), {"value": float(found["value"]), "unit": str(found["unit"])}
    m = re.fullmatch(r"(?P<dose>.+?)\s+(?:q\s?|every\s+)(?P<n>\d+(?:\.\d+)?)\s?(?P<unit>[a-z]+)", lowered)
    unit = table["every_n_units"].get(m.group("unit")) if m else None
    if m is None or unit is None:
        return None
    return spaced[:m.end("dose")], {"value": float(m.group("n")), "unit": unit}


def parse_dose(text: str) -> dict[str, Any]:
    """'10 mg/kg/day' -> {value: 10, unit: mg/kg/d}: the common per-time words become UCUM units."""
    m = _DOSE.match(text.strip().replace(" / ", "/"))
    if not m:
        raise ValueError(f"{text!r} is not a dose: write a number and a UCUM unit, e.g. 10 mg/kg/d, 100 mg")
    unit = m.group("unit")
    for word, code in _PER_TIME.items():
        if unit.lower().endswith(word):
            unit = unit[: -len(word)] + code
            break
    return {"value": parse_number(m.group("value")), "unit": unit}


