"""Units as clinicians read them (mappings/ucum_display.yaml), and the CIOMS/HTML no-break wrapping of units."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from reporter.render.env import nobreak
from reporter.render.units import age_text, doses_per_day, every_text, quantity_text, unit_text


@pytest.mark.parametrize(("code", "value", "shown"), [
    ("a", 67, "years"), ("a", 1, "year"), ("d", 21, "days"), ("wk", 2, "weeks"), ("{decade}", 6, "decades"),
    ("U/L", 1, "U/L"), ("[IU]/L", 1, "IU/L"), ("mg/dL", 1, "mg/dL"), ("mg/d", 1, "mg/day"),
    ("mg/kg/d", 2, "mg/kg/day"), ("ug/L", 1, "µg/L"), ("umol/L", 1, "µmol/L"), ("mg/L{FEU}", 5.98, "mg/L FEU"),
    ("{INR}", 1.1, ""), ("1", 3, ""), ("10*9/L", 4, "× 10⁹/L"), ("{cells}/uL", 1, "cells/µL"), ("Cel", 38, "°C"),
    ("[degF]", 103.6, "°F"),  # a temperature from a US clinic (it read '[degF]' on the report)
    ("mm[Hg]", 120, "mmHg"), ("[pH]", 7.21, ""), (None, 1, ""),
    # doses per body surface area and eGFR, as oncology and renal case reports write them
    ("mg/m2", 85, "mg/m²"), ("g/m2", 12, "g/m²"), ("mg/m2/d", 1, "mg/m²/day"),
    ("mL/min/{1.73_m2}", 48, "mL/min/1.73 m²"),
    # electrolytes and osmolality as case reports print them (UCUM's case-sensitive meq, mosm)
    ("meq/L", 112, "mEq/L"), ("mosm/kg", 236, "mOsm/kg"), ("ueq/L", 1, "µEq/L"),
])
def test_unit_text(code, value, shown) -> None:
    assert unit_text(code, value) == shown


@pytest.mark.parametrize(("value", "code", "shown"), [
    (1, "d", "daily"), (24, "h", "daily"), (1, "wk", "weekly"), (12, "h", "every 12 hours"), (8, "h", "every 8 hours"),
    (1, "h", "every hour"), (3, "d", "every 3 days"),
])
def test_every_text(value, code, shown) -> None:
    assert every_text(value, code) == shown


@pytest.mark.parametrize(("value", "code", "count"), [
    (12, "h", 2), (8, "h", 3), (1, "d", 1), (6, "h", 4), (5, "h", None), (2, "d", None), (1, "wk", None),
    (0, "h", None), (30, "min", 48),
])
def test_doses_per_day(value, code, count) -> None:
    assert doses_per_day(value, code) == count


@pytest.mark.parametrize(("value", "code", "shown"), [
    (6, "{decade}", "60s"), (3, "{decade}", "30s"), (67, "a", "67\u00a0years"), (1, "a", "1\u00a0year"),
    (6, "h", "6\u00a0hours"),
])
def test_age_text_reads_decades_as_a_band(value, code, shown) -> None:
    assert age_text(value, code) == shown


def test_quantity_keeps_the_comparator_and_joins_number_and_unit() -> None:
    assert quantity_text(48, "U/L", "<") == "<48\u00a0U/L"
    assert quantity_text(1.1, "{INR}") == "1.1"
    assert quantity_text(120.0, "mg") == "120\u00a0mg"


def test_nobreak_wraps_slashed_units_and_escapes() -> None:
    assert str(nobreak("ALT 210\u00a0U/L, <b>")) == 'ALT <span class="nw">210\u00a0U/L,</span> &lt;b&gt;'
    assert str(nobreak("no units here")) == "no units here"


@given(st.text(max_size=40))
def test_unit_text_takes_any_text(code: str) -> None:
    assert isinstance(unit_text(code, 2), str)
    shown = str(nobreak(code))
    assert "<script" not in shown


def test_e2b_interval_kinds_read_as_words_whatever_their_number() -> None:
    """G.k.4.r.3 takes {total}, {cyclical} and {asnecessary}; '0.3 mL every 1 total' read as nonsense."""
    from reporter.render.units import every_text

    assert every_text(1, "{total}") == "once (the total dose)"
    assert every_text(2, "{asnecessary}") == "as needed" and every_text(1, "{cyclical}") == "in cycles"
