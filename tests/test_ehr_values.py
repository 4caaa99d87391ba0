"""Property tests for the readers of FHIR values in the EHR pull: they never raise on what a server may send,
and what they compute agrees with the calendar."""

from __future__ import annotations

import datetime as dt

from hypothesis import example, given
from hypothesis import strategies as st

from reporter.ehr.client import outcome_text, retry_after_seconds
from reporter.ehr.pull import age_at, day, interval, partial


@example("2200000000")  # a year beyond a C int: OverflowError, not ValueError
@given(st.one_of(st.none(), st.text(max_size=40)))
def test_date_readers_never_raise(text) -> None:
    d = day(text)
    assert d is None or isinstance(d, dt.date)
    p = partial(text)
    assert p is None or isinstance(p, str)


@given(st.dates(min_value=dt.date(1900, 1, 1), max_value=dt.date(2030, 12, 31)),
       st.dates(min_value=dt.date(1900, 1, 1), max_value=dt.date(2030, 12, 31)))
def test_age_at_onset_agrees_with_the_calendar(birth: dt.date, onset: dt.date) -> None:
    age = age_at(birth, onset)
    if birth > onset:
        assert age is None
        return
    assert age is not None
    if age["unit"] == "a":
        years = age["value"]
        assert years >= 2
        # the last birthday reached on or before the onset, counted the long way
        birthdays = [y for y in range(birth.year, onset.year + 1) if (y, birth.month, birth.day) <=
                     (onset.year, onset.month, onset.day)]
        assert years == birthdays[-1] - birth.year
    elif age["unit"] == "mo":
        assert 1 <= age["value"] < 24
    else:
        assert age == {"value": (onset - birth).days, "unit": "d"} and age["value"] < 32


@given(st.fixed_dictionaries({}, optional={"frequency": st.one_of(st.integers(-2, 6), st.text(max_size=2)),
                                           "period": st.one_of(st.floats(allow_nan=False), st.integers(-3, 30)),
                                           "periodUnit": st.sampled_from(["s", "min", "h", "d", "wk", "mo", "a",
                                                                          "x", ""])}))
def test_interval_is_none_or_a_positive_time(repeat: dict) -> None:
    every = interval(repeat)
    if every is not None:
        assert every["unit"] in {"s", "min", "h", "d", "wk", "mo", "a"}


def test_interval_examples() -> None:
    assert interval({"frequency": 1, "period": 1, "periodUnit": "d"}) == {"value": 1, "unit": "d"}
    assert interval({"frequency": 3, "period": 1, "periodUnit": "d"}) == {"value": 8.0, "unit": "h"}
    assert interval({"frequency": 2, "period": 1, "periodUnit": "mo"}) is None  # not an exact interval


@given(st.one_of(st.none(), st.text(max_size=30)))
def test_retry_after_never_raises(value) -> None:
    seconds = retry_after_seconds(value)
    assert seconds is None or seconds >= 0


@given(st.recursive(st.one_of(st.none(), st.text(max_size=5), st.integers()),
                    lambda inner: st.one_of(st.lists(inner, max_size=3),
                                            st.dictionaries(st.sampled_from(["resourceType", "issue", "severity",
                                                                             "details", "text", "diagnostics",
                                                                             "expression", "code"]), inner,
                                                            max_size=4)), max_leaves=12))
def test_outcome_text_never_raises(body) -> None:
    if isinstance(body, dict):
        body = {**body, "resourceType": "OperationOutcome"}
    try:
        text = outcome_text(body)
    except (AttributeError, TypeError) as exc:  # a server's garbage must not crash the message
        raise AssertionError(f"outcome_text raised {exc!r} on {body!r}") from None
    assert text is None or isinstance(text, str)



def test_a_death_without_a_date_is_held_as_the_bundle_reader_holds_it() -> None:
    """deceasedBoolean true: a death of no known date (`death: {}`), as reporter/fhir/to_case.py reads the same
    Patient in a Bundle; it had been `date: {absent: unknown}`, an absent reason E2B's D.9.1 cannot carry, so
    the confirmed case was warned about a date of death the EHR never stated (PLAUS-ABSENT-REASON)."""
    from pathlib import Path

    import yaml

    from reporter.casefile.model import CaseFile
    from reporter.ehr.pull import Puller, PullRequest
    from reporter.fhir.build import build_bundle
    from reporter.validation import validate_bundle

    puller = Puller(None, PullRequest(reaction_date=dt.date(2024, 3, 1), suspects=["x"]))  # type: ignore[arg-type]
    section = puller.patient_section({"resourceType": "Patient", "id": "p1", "deceasedBoolean": True})
    assert section["death"] == {} and "deceased" in puller.hints[-1]
    data = yaml.safe_load((Path(__file__).parent.parent / "examples" / "case1-anakinra-hepatitis.yaml").read_text())
    data["patient"]["death"] = section["death"]
    report = validate_bundle(build_bundle(CaseFile.model_validate(data)))
    assert not [i for i in report.issues if i.code == "PLAUS-ABSENT-REASON"], report.issues
