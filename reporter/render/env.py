"""The Jinja2 environment of the reports: templates from templates/, autoescaped, with filters that
turn partial dates, relative times, quantities and missing values into text a reader can trust.

Filters never drop a unit and never hide a gap: a missing value becomes a marked <span class="gap">.
"""

from __future__ import annotations

import re
from functools import cache

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markupsafe import Markup, escape

from reporter.paths import templates_dir
from reporter.render.charts import fmt_num
from reporter.render.countries import country_name
from reporter.render.model import Coded, Missing, Qty, When
from reporter.render.units import age_text, quantity_text, unit_text

MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_DATE = re.compile(
    r"^(\d{4})(?:-(\d{2})(?:-(\d{2})(?:T(\d{2}:\d{2})(?::\d{2}(?:\.\d+)?)?(Z|[+-]\d{2}:\d{2})?)?)?)?$"
)

ABSENT_TEXT = {
    "masked": "masked",
    "asked-unknown": "asked, unknown",
    "not-asked": "not asked",
    "unknown": "unknown",
    "no-information": "no information",
    "not-applicable": "not applicable",
    "temp-unknown": "unknown for now",
    "not-performed": "not performed",
    "error": "error in source",
}


def gap(reason: str | None = None) -> Markup:
    text = ABSENT_TEXT.get(reason or "", reason) if reason else "not stated"
    return Markup('<span class="gap">{}</span>').format(text)


def partial_date(text: str | None) -> str | Markup:
    """2023 -> 2023; 2023-04 -> Apr 2023; 2023-04-05 -> 5 Apr 2023; date-times keep time and zone."""
    if not text:
        return gap()
    m = _DATE.match(text)
    if not m:
        return text  # shown as given rather than guessed
    year, month, day, time, zone = m.groups()
    out = year
    if month:
        out = f"{MONTHS[int(month) - 1]} {year}"
    if day:
        out = f"{int(day)} {out}"
    if time:
        out = f"{out} {time}{' UTC' if zone == 'Z' else (' ' + zone if zone else '')}"
    return out


def quantity(q: Qty | None, missing: str = "not stated") -> str | Markup:
    """`<48 U/L`: the comparator as written, the unit in clinician form (reporter/render/units.py), number
    and unit joined by a no-break space."""
    if q is None:
        return gap(None) if missing == "not stated" else gap(missing)
    return quantity_text(q.value, q.unit, q.comparator)


def age(q: Qty | None) -> str | Markup:
    """An age at onset or a parent's age: in years, months... or as a band (60s) when given in decades."""
    if q is None:
        return gap()
    return nobreak(age_text(q.value, q.unit))


def unit(code: str | None) -> Markup:
    return nobreak(unit_text(code))


def quantity_filter(q: Qty | None, missing: str = "not stated") -> Markup:
    """The `quantity` filter of the templates: as quantity(), with a slashed unit kept on one line."""
    shown = quantity(q, missing)
    return shown if isinstance(shown, Markup) else nobreak(shown)


_SLASHED = re.compile(r"[^ \n/]{1,24}(?:/[^ \n/]{1,24})+")


def nobreak(text: object) -> Markup:
    """Plain text escaped, with each slashed unit (U/L, mg/kg/day) kept on one line: line breakers may
    break after a slash, which splits a unit across lines."""
    escaped = str(escape(text))
    return Markup(_SLASHED.sub(lambda m: f'<span class="nw">{m.group(0)}</span>', escaped))


def when(w: When | None) -> str | Markup:
    if w is None:
        return gap()
    if w.missing is not None:
        return gap(w.missing.reason)
    if w.date:
        return partial_date(w.date)
    if w.offset is not None:
        value, unit = w.offset.value, w.offset.unit
        anchor = w.anchor or "the reference dose"
        stated = f" (\u201c{w.as_stated}\u201d)" if w.as_stated else ""
        if w.phrase:  # the author's qualifier or range, as stated: never turned into a single day
            span = w.phrase if any(ch.isdigit() for ch in w.phrase) else f"{w.phrase} {quantity(Qty(abs(value), unit))}"
            return f"{span} {'before' if value < 0 else 'after'} {anchor}{stated}"
        if unit == "d" and value >= 0:
            return f"day {fmt_num(value)} after {anchor}{stated}"
        return f"{quantity(Qty(abs(value), unit))} {'before' if value < 0 else 'after'} {anchor}{stated}"
    return gap()


def show(value: object, missing: str | None = None) -> object:
    """Any value, or a marked gap when it is None or Missing."""
    if value is None or value == "":
        return gap(missing)
    if isinstance(value, Missing):
        return gap(value.reason)
    if isinstance(value, Qty):
        return quantity(value)
    if isinstance(value, When):
        return when(value)
    if isinstance(value, Coded):
        return coded(value)
    return value


def coded(c: Coded | None) -> str | Markup:
    if c is None:
        return gap()
    text = c.text or ""
    if c.code:
        system = f"{c.system} " if c.system else ""
        version = f" v{c.version}" if c.version else ""
        code = f"{system}{c.code}{version}"
        return Markup("{} <span class=\"code\">({})</span>").format(text, code) if text else code
    return text or gap()


def yes_no(value: bool | Missing | None) -> str | Markup:
    """yes / no, or a gap that says why the answer is not known (masked, asked, unknown)."""
    if value is None:
        return gap()
    if isinstance(value, Missing):
        return gap(value.reason)
    return "yes" if value else "no"


def num(value: float | None) -> str | Markup:
    return gap() if value is None else fmt_num(value)


def times(value: float | None) -> str:
    """A multiple of the upper limit of normal: 123.2×."""
    if value is None:
        return ""
    return f"{value:.1f}×" if value < 100 else f"{value:.0f}×"


def paragraphs(text: str | None) -> Markup:
    """Plain text with blank lines as paragraphs and single newlines kept."""
    if not text:
        return gap()
    blocks = [b for b in re.split(r"\n\s*\n", text.strip()) if b.strip()]
    return Markup("").join(
        Markup("<p>{}</p>").format(Markup("<br>").join(escape(line) for line in block.splitlines()))
        for block in blocks
    )


def humanize(code: str | None) -> str:
    """Code words as text: not-recovered -> not recovered."""
    return (code or "").replace("-", " ").replace("_", " ")


@cache
def environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(str(templates_dir())),
        autoescape=select_autoescape(["html", "htm", "xml", "svg"], default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(
        gap=gap, partial_date=partial_date, quantity=quantity_filter, when=when, show=show, coded=coded,
        yes_no=yes_no, num=num, age=age, times=times, paragraphs=paragraphs, humanize=humanize, unit=unit,
        nobreak=nobreak, country=country_name,
    )
    return env
