"""Lab arithmetic against worked values from shared/reference/clinical.md."""

from __future__ import annotations

import pytest

from reporter.assess import labs


def test_multiple_of_uln_worked_example() -> None:
    # clinical.md 2.6: ALT 4065 U/L with ULN 33 U/L is 123 x ULN, grade 4.
    xuln = labs.multiple_of_uln(4065, 33)
    assert xuln == pytest.approx(123.18, abs=0.01)
    assert labs.ctcae_grade("alt", xuln) == 4


@pytest.mark.parametrize(
    ("xuln", "grade"), [(0.9, 0), (1.0, 0), (1.01, 1), (3.0, 1), (3.1, 2), (5.5, 3), (20.5, 4)]
)
def test_ctcae_alt_bounds(xuln: float, grade: int) -> None:
    assert labs.ctcae_grade("alt", xuln) == grade


def test_ctcae_unknown_analyte_or_value() -> None:
    assert labs.ctcae_grade("ldh", 5.0) is None
    assert labs.ctcae_grade("alt", None) is None


def test_multiple_of_uln_needs_a_range_and_an_exact_value() -> None:
    assert labs.multiple_of_uln(100, None) is None
    assert labs.multiple_of_uln(100, 0) is None
    assert labs.multiple_of_uln(100, 33, ">") is None


@pytest.mark.parametrize(
    ("value", "low", "high", "comparator", "expected"),
    [
        (72, None, 33, None, "H"),
        (20, None, 33, None, "N"),
        (33, None, 33, None, "N"),
        (5, 10, 49, None, "L"),
        (600, None, 33, ">", "H"),
        (20, None, 33, ">", None),
        (3, 5, None, "<", "L"),
        (72, None, None, None, None),
    ],
)
def test_flag(value, low, high, comparator, expected) -> None:
    assert labs.flag(value, low, high, comparator) == expected


def test_r_ratio_and_pattern() -> None:
    assert labs.injury_pattern(labs.r_ratio(10.0, 1.0)) == "hepatocellular"
    assert labs.injury_pattern(labs.r_ratio(4.0, 2.0)) == "cholestatic"
    assert labs.injury_pattern(labs.r_ratio(6.0, 2.0)) == "mixed"
    assert labs.r_ratio(6.0, None) is None
    assert labs.injury_pattern(None) is None


def test_analyte_key() -> None:
    assert labs.analyte_key("1742-6") == "alt"
    assert labs.analyte_key(None, "ALT") == "alt"
    assert labs.analyte_key(None, "Ferritin") is None
    assert labs.analyte_label("bilirubin") == "Total bilirubin"
