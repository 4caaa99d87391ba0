"""UCUM unit syntax check: the UCUM grammar over the atoms and prefixes in mappings/ucum.yaml.

It answers "is this a well-formed UCUM unit made of known atoms?", which catches the common errors
(IU/L written as IU/L is fine only as [IU]/L, 'mg/kg/day', 'mcg', 'ml/hr'), without converting units."""

from __future__ import annotations

import re
from functools import cache, lru_cache

from reporter.tables import load_yaml

_CLOSING = {"{": "}", "[": "]"}


@cache
def _vocabulary() -> tuple[tuple[str, ...], frozenset[str], frozenset[str]]:
    raw = load_yaml("ucum.yaml")
    prefixes = tuple(sorted(raw["prefixes"], key=len, reverse=True))
    return prefixes, frozenset(raw["metric"]), frozenset(raw["nonmetric"])


@cache
def single_administration_intervals() -> frozenset[str]:
    """Interval units that say a dosage line was given once (E2B's {total})."""
    return frozenset(load_yaml("ucum.yaml").get("single_administration_intervals") or ())


def _is_atom(symbol: str) -> bool:
    prefixes, metric, nonmetric = _vocabulary()
    if symbol in metric or symbol in nonmetric:
        return True
    return any(symbol.startswith(prefix) and symbol[len(prefix):] in metric for prefix in prefixes)


def _is_component(text: str) -> bool:
    """One component: a factor (digits), or an atom with an optional integer exponent, optionally followed
    by an annotation; or an annotation alone."""
    annotation = re.search(r"\{[^{}]*\}$", text)
    if annotation:
        text = text[: annotation.start()]
        if not text:
            return True
    if re.fullmatch(r"\d+", text):
        return True
    if text.startswith(("10*", "10^")) and re.fullmatch(r"10[*^][+-]?\d+", text):
        return True
    if _is_atom(text):
        return True
    m = re.fullmatch(r"(.+?)([+-]?\d+)", text)
    return bool(m and _is_atom(m.group(1)))


@lru_cache(maxsize=4096)  # a case repeats a handful of units; the grammar walk is the costly part
def is_valid_ucum(unit: str) -> bool:
    if not unit or unit != unit.strip() or " " in unit:
        return False
    if unit == "1":
        return True
    return _parse_term(unit)


def _parse_term(text: str) -> bool:
    """term := ['/'] component (('.' | '/') component)* ; component may be a parenthesised term."""
    depth = 0
    parts: list[str] = []
    current = ""
    i = 0
    while i < len(text):
        ch = text[i]
        if ch in _CLOSING:  # an annotation {..} or a bracketed atom [..] is copied whole
            end = text.find(_CLOSING[ch], i)
            if end < 0:
                return False
            current += text[i : end + 1]
            i = end + 1
            continue
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth < 0:
                return False
        if ch in "./" and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += ch
        i += 1
    parts.append(current)
    if depth != 0:
        return False
    if parts and parts[0] == "" and text.startswith("/"):
        parts = parts[1:]
    for part in parts:
        if not part:
            return False
        if part.startswith("(") and part.endswith(")"):
            if not _parse_term(part[1:-1]):
                return False
        elif not _is_component(part):
            return False
    return True
