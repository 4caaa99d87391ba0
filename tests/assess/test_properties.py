"""Property tests: result parsing and time arithmetic never crash and keep their invariants."""

from __future__ import annotations

import datetime as dt

from hypothesis import given, settings
from hypothesis import strategies as st

from reporter.assess.result import is_valid_result, parse_result
from tests.assess.support import case_data, facts

dates = st.dates(min_value=dt.date(1990, 1, 1), max_value=dt.date(2030, 12, 31))


@st.composite
def partial_date(draw) -> str:
    d = draw(dates)
    return d.isoformat()[:draw(st.sampled_from([4, 7, 10]))]


@given(st.sampled_from(["naranjo", "who-umc", "rucam"]), st.text(max_size=40))
@settings(max_examples=300, deadline=None)
def test_parse_result_never_raises(method: str, text: str) -> None:
    parsed = parse_result(method, text)
    assert parsed is None or isinstance(parsed[0], str)
    assert is_valid_result(method, text) is (parsed is not None)


@given(partial_date(), partial_date())
@settings(max_examples=150, deadline=None)
def test_onset_range_contains_every_exact_reading(start: str, onset: str) -> None:
    f = facts(case_data(start=start, onset=onset))
    first = f.onset.after_first_dose
    assert first is not None and first.lo <= first.hi
    if len(onset) == 10 and len(start) == 10:
        days = (dt.date.fromisoformat(onset) - dt.date.fromisoformat(start)).days
        assert first.exact and first.lo == days
    # the earliest reading of both dates lies inside the range
    lo_start = dt.date.fromisoformat(start + "-01-01"[len(start) - 4:] if len(start) < 10 else start)
    lo_onset = dt.date.fromisoformat(onset + "-01-01"[len(onset) - 4:] if len(onset) < 10 else onset)
    assert first.lo <= (lo_onset - lo_start).days <= first.hi


@given(st.floats(min_value=-400, max_value=400, allow_nan=False), st.sampled_from(["d", "wk", "mo", "a", "h"]))
@settings(max_examples=100, deadline=None)
def test_relative_onset_ranges(value: float, unit: str) -> None:
    f = facts(case_data(onset={"value": value, "unit": unit, "drug": "x"}))
    first = f.onset.after_first_dose
    assert first.lo <= first.hi
    assert (first.lo >= 0) == (value >= 0) or first.lo == 0
