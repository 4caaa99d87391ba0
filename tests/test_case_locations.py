"""Every problem of a case file is located by its case-file field and the line that field is on, whatever
layer finds it (the case model, terminology, ICSR rules, plausibility, E2B output): a test over many kinds
of error. FHIRPath is left only for Bundles that did not come from a case file."""

from __future__ import annotations

import copy
from typing import Any

import pytest
import yaml

from reporter.validation import load_bundle_or_case, validate_bundle, validate_file
from reporter.validation.casepath import split_path
from tests.helpers import load_example, setter

BASE = load_example()




# (change, code expected, case-file path expected)
KINDS = [
    (setter("reactions.1.meddra.code", "1001971"), "TERM-MEDDRA-CODE", "reactions[1].meddra.code"),
    (setter("reactions.0.meddra.version", "29.x"), "TERM-MEDDRA-VERSION", "reactions[0].meddra.version"),
    (setter("tests.6.unit", "U/l/x("), "TERM-UCUM", "tests[6].unit"),
    (setter("tests.5.loinc", "1920-9"), "TERM-LOINC", "tests[5]"),
    (setter("primary_sources.0.address.country", "XX"), "TERM-COUNTRY", "primary_sources[0].address.country"),
    (setter("patient.birth_date", "2030-01-01"), "ICSR-FUTURE-DATE", "patient.birth_date"),
    (setter("drugs.0.role", "concomitant"), "ICSR-MIN-SUSPECT", "drugs"),
    (setter("tests.7.high", 5), "PLAUS-RANGE-INVERTED", "tests[7].low"),
    (setter("patient.age_at_onset", {"value": 670, "unit": "a"}), "PLAUS-AGE", "patient.age_at_onset"),
    (setter("reactions.0.verbatim", 5), "CASEFILE", "reactions[0].verbatim"),
    (setter("drugs.1.dosages.0.dose", {"value": "two", "unit": "g/kg"}), "CASEFILE", "drugs[1].dosages[0].dose.value"),
]
KINDS += [
    (lambda c: (setter("patient.birth_date", "2015")(c), setter("reactions.1.onset", "2012-03")(c)), "ICSR-CHRONOLOGY",
     "reactions[1].onset"),
]


def _write(tmp_path, case: dict) -> tuple[str, list[str]]:
    text = yaml.safe_dump(case, sort_keys=False, allow_unicode=True, default_flow_style=False, width=200)
    path = tmp_path / "case.yaml"
    path.write_text(text, encoding="utf-8")
    return str(path), text.splitlines()


def _given(case: dict, path: str) -> bool:
    node: Any = case
    for key in split_path(path):
        try:
            node = node[key]
        except (KeyError, IndexError, TypeError):
            return False
    return True


def _line_holds(case: dict, lines: list[str], location: str) -> None:
    """The line holds the field; for a field the case file leaves out (where it would go), the line of
    the item that would hold it."""
    path, _, rest = location.partition(" (line ")
    assert rest, f"no line in {location!r}"
    line = lines[int(rest.rstrip(")")) - 1]
    last = path.rsplit(".", 1)[-1]
    key = last.split("[")[0]
    if _given(case, path):
        assert key in line or (last.endswith("]") and line.lstrip().startswith("- ")), (location, line)
    else:
        assert line.lstrip().startswith("- ") or line.rstrip().endswith(":"), (location, line)


@pytest.mark.parametrize(("change", "code", "where"), KINDS, ids=[k[1] + "-" + k[2] for k in KINDS])
def test_problem_names_the_field_and_its_line(tmp_path, change, code, where) -> None:
    case = copy.deepcopy(BASE)
    change(case)
    path, lines = _write(tmp_path, case)
    _, report = validate_file(path)
    found = [i for i in report.issues if i.code == code]
    assert found, report.to_text()
    assert any(i.location.startswith(f"{where} (line ") for i in found), [i.location for i in found]
    for issue in report.issues:
        if "(line " in issue.location:
            _line_holds(case, lines, issue.location.rsplit(" <- ", 1)[-1])


def test_every_case_problem_of_a_broken_case_has_a_case_location(tmp_path) -> None:
    case = copy.deepcopy(BASE)
    for change, code, _where in KINDS[:-1]:
        if code != "CASEFILE":
            change(case)
    path, _lines = _write(tmp_path, case)
    _, report = validate_file(path)
    assert len(report.errors) >= 6
    leftover = [i.location for i in report.issues if i.location.startswith("Bundle")]
    assert leftover == [], leftover


def test_a_bundle_without_case_file_keeps_fhirpaths(tmp_path) -> None:
    case = copy.deepcopy(BASE)
    setter("reactions.1.meddra.code", "1001971")(case)
    path, _ = _write(tmp_path, case)
    bundle, _ = load_bundle_or_case(path)
    issue = next(i for i in validate_bundle(bundle).issues if i.code == "TERM-MEDDRA-CODE")
    assert issue.location.startswith("Bundle.entry[") and "AdverseEvent" in issue.location
