"""Lab-result arithmetic for the report and the liver assessments: multiple of the upper limit of
normal, high/low flag, R ratio and injury pattern, CTCAE grade (x ULN, or x an abnormal baseline).
Which results are compared (recognition, pairing in time, Hy's law) is liver.py's job.

Thresholds live in mappings/labs.yaml. Every function takes plain numbers and returns None when the
inputs do not allow an answer (no reference range, a censored value): a gap is never guessed.
"""

from __future__ import annotations

from functools import cache
from typing import Any, Literal

import yaml

from reporter.errors import MappingError
from reporter.paths import mappings_dir

Flag = Literal["H", "L", "N"]
Pattern = Literal["hepatocellular", "mixed", "cholestatic"]


@cache
def lab_table() -> dict[str, Any]:
    path = mappings_dir() / "labs.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    for key in ("analytes", "r_ratio", "hys_law", "ctcae_xuln"):
        if not isinstance(data, dict) or key not in data:
            raise MappingError(f"missing section {key!r}", location=str(path))
    for name, grades in data["ctcae_xuln"].items():
        if len(grades) != 4 or grades != sorted(grades):
            raise MappingError(f"ctcae_xuln.{name} needs four increasing bounds", location=str(path))
    return data


def analyte_key(loinc: str | None, name: str | None = None) -> str | None:
    """The analyte key (alt, ast, ...) of a test, by LOINC code first, then by its reported name."""
    analytes = lab_table()["analytes"]
    if loinc:
        for key, spec in analytes.items():
            if loinc in spec["loinc"]:
                return key
    if name:
        wanted = name.strip().lower()
        for key, spec in analytes.items():
            if wanted in spec["names"]:
                return key
    return None


def analyte_label(key: str) -> str:
    return str(lab_table()["analytes"][key]["label"])


def multiple_of_uln(value: float | None, uln: float | None, comparator: str | None = None) -> float | None:
    """value / ULN; None without a positive ULN or when the value is censored (<, >)."""
    if value is None or uln is None or uln <= 0 or comparator:
        return None
    return value / uln


def flag(value: float | None, low: float | None, high: float | None,
         comparator: str | None = None) -> Flag | None:
    """H above the high limit, L below the low limit, N inside; None when it cannot be told.

    A censored value counts only when the bound settles it (">500" is high against 33, "<5" is low
    against 10); otherwise the flag is unknown."""
    if value is None or (low is None and high is None):
        return None
    if comparator in (">", ">="):
        if high is not None and value >= high:
            return "H"
        return None
    if comparator in ("<", "<="):
        if low is not None and value <= low:
            return "L"
        return None
    if high is not None and value > high:
        return "H"
    if low is not None and value < low:
        return "L"
    return "N"


def r_ratio(alt_xuln: float | None, alp_xuln: float | None) -> float | None:
    """R = (ALT/ULN) / (ALP/ULN), from values taken at the same time (at recognition of the injury)."""
    if alt_xuln is None or alp_xuln is None or alp_xuln <= 0:
        return None
    return alt_xuln / alp_xuln


def injury_pattern(r: float | None) -> Pattern | None:
    if r is None:
        return None
    cut = lab_table()["r_ratio"]
    if r >= cut["hepatocellular_at_least"]:
        return "hepatocellular"
    if r <= cut["cholestatic_at_most"]:
        return "cholestatic"
    return "mixed"


def ctcae_grade(analyte: str, xuln: float | None) -> int | None:
    """CTCAE v5 grade (0-4) for a normal baseline; None for analytes without a ×ULN scale."""
    bounds = lab_table()["ctcae_xuln"].get(analyte)
    if bounds is None or xuln is None:
        return None
    grade = 0
    for index, bound in enumerate(bounds, start=1):
        if xuln > bound:
            grade = index
    return grade


def ctcae_grade_vs_baseline(analyte: str, xbaseline: float | None) -> int | None:
    """CTCAE v5 grade (0-4) when the baseline was above ULN: bounds in multiples of the baseline value."""
    table = lab_table()
    bounds = table.get("ctcae_xbaseline", {}).get(analyte)
    if bounds is None or xbaseline is None:
        return None
    inclusive = analyte in table.get("ctcae_xbaseline_grade1_inclusive", [])
    grade = 0
    for index, bound in enumerate(bounds, start=1):
        if xbaseline > bound or (index == 1 and inclusive and xbaseline >= bound):
            grade = index
    return grade
