"""UCUM codes as a clinician reads them (mappings/ucum_display.yaml): `a` -> years, `every 1 d` -> daily,
`mg/L{FEU}` -> mg/L FEU, `{INR}` -> no unit. Display only: the data and the exports keep UCUM."""

from __future__ import annotations

import re
from functools import cache
from typing import Any

from reporter.errors import MappingError
from reporter.tables import load_yaml

_ANNOTATION = re.compile(r"\{([^{}]*)\}")


@cache
def _table() -> dict[str, Any]:
    raw = load_yaml("ucum_display.yaml")
    if not isinstance(raw, dict) or not {"units", "words", "every", "atoms"} <= set(raw):
        raise MappingError("ucum_display.yaml needs units, words, every and atoms",
                           location="mappings/ucum_display.yaml")
    return raw


def _num(value: float) -> str:
    from reporter.render.charts import fmt_num

    return fmt_num(value)


def unit_text(code: str | None, value: float | None = None) -> str:
    """The unit of a quantity as read: time units in words (singular for 1), others per the table."""
    if not code:
        return ""
    table = _table()
    if code in table["words"]:
        one, many = table["words"][code]
        return one if value == 1 else many
    if code in table["units"]:
        return table["units"][code]
    trailing = re.fullmatch(r"(.+?)\{([^{}]*)\}", code)  # mg/L{FEU}: the note follows the unit
    base, notes = (trailing.group(1), [trailing.group(2)]) if trailing else (_ANNOTATION.sub(r"\1", code), [])
    if base in table["units"]:
        base = table["units"][base]
    else:
        for old, new in table["atoms"]:
            base = re.sub(rf"(?<![A-Za-z]){re.escape(old)}(?![A-Za-z])", new, base)
    return " ".join(x for x in (base, *notes) if x)


def quantity_text(value: float, code: str | None, comparator: str | None = None) -> str:
    """`< 48 U/L` as written: the comparator kept, a no-break space between number and unit."""
    unit = unit_text(code, value)
    return f"{comparator or ''}{_num(value)}{chr(0xA0) + unit if unit else ''}"


def age_text(value: float, code: str | None) -> str:
    """An age: one given in a band unit reads as the band (6 {decade} -> 60s), any other as a quantity."""
    spec = _table().get("ages", {}).get(code or "")
    if spec is None:
        return quantity_text(value, code)
    return str(spec["text"]).format(years=_num(value * spec["years"]))


def every_text(value: float, code: str) -> str:
    """A dosing interval: `daily`, `weekly`, else `every 12 hours`; E2B's `{total}` is `once (the total dose)`."""
    kind = (_table().get("every_kinds") or {}).get(code)
    if kind:
        return str(kind)
    named = _table()["every"].get(f"{_num(value)} {code}")
    if named:
        return named
    if value == 1 and code in _table()["words"]:
        return f"every {_table()['words'][code][0]}"
    return f"every {_num(value)} {unit_text(code, value)}"


_PER_DAY = {"d": 1.0, "h": 24.0, "min": 1440.0}


def doses_per_day(value: float, code: str) -> float | None:
    """How many doses a day an interval gives, when that is a whole number (every 12 h -> 2); else None."""
    per = _PER_DAY.get(code)
    if per is None or value <= 0:
        return None
    count = per / value
    return count if count >= 1 and abs(count - round(count)) < 1e-9 else None
