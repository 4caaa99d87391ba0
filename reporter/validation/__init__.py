"""Validation: layers 1-4 of DESIGN.md in one report (structure, Bundle integrity, terminology, ICSR rules)
and the plausibility layer. The E2B output layer (XSD and receiver rules) lives in reporter.e2b and adds to
the same report (reporter.validation.readiness runs it for `validate --receiver`)."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path
from typing import Any

from reporter.validation.casepath import CaseLines
from reporter.validation.integrity import RELATIVE_TARGET_MISSING
from reporter.validation.report import Issue, ValidationReport

# layers whose issues already name the case file's fields (the others are relabelled from FHIRPath)
CASE_LAYERS = ("input", "plausibility", "e2b", "xsd", "skipped")

__all__ = ["Issue", "ValidationReport", "load_bundle_or_case", "validate_bundle", "validate_file"]


def validate_bundle(bundle: dict[str, Any], subject: str = "", lines: CaseLines | None = None,
                    receiver: str | None = None) -> ValidationReport:
    """Every problem of a Bundle at once: structure, integrity, terminology, ICSR rules, plausibility, and
    with `receiver` (ich, fda, ema or all) the E2B output checks `reporter e2b` runs (readiness).
    `lines`: the case file the Bundle was built from, so that problems name its fields and lines."""
    from reporter.validation.integrity import check_integrity
    from reporter.validation.plausibility import check_plausibility
    from reporter.validation.rules import check_rules
    from reporter.validation.structure import check_structure
    from reporter.validation.terminology import check_terminology
    from reporter.validation.walk import walk_bundle

    report = ValidationReport(subject=subject)
    if not isinstance(bundle, dict):
        report.add("error", "BUNDLE-TYPE", "(input)", f"expected a JSON object, found {type(bundle).__name__}",
                   "validate an ICSR document Bundle or a case file", "reference")
        return report
    walk = walk_bundle(bundle if bundle.get("resourceType") == "Bundle" else {})
    _run_layer(report, "structure", lambda: check_structure(bundle, walk))
    integrity = _run_layer(report, "integrity", lambda: check_integrity(bundle, walk))
    if any(i.code in ("BUNDLE-WRAPPED", "BUNDLE-MESSAGE") or (i.code == "BUNDLE-TYPE" and i.location == "resourceType")
           for i in integrity):
        return report
    _run_layer(report, "terminology", lambda: check_terminology(bundle, walk))
    _run_layer(report, "rules", lambda: check_rules(bundle, walk))
    _run_layer(report, "plausibility", lambda: check_plausibility(bundle, lines, walk))
    if lines is not None:  # a case file's problems by its fields and lines, not by FHIRPath
        report.issues = [replace(i, location=lines.relabel(bundle, i.location)) if i.layer not in CASE_LAYERS
                         else i for i in report.issues]
    if receiver:
        from reporter.e2b.readiness import readiness

        plausible = [i for i in report.issues if i.code == "PLAUS-ABSENT-REASON"]
        _run_layer(report, "e2b", lambda: _not_twice(readiness(bundle, receiver, lines), plausible))
    return report


_NUMBER = re.compile(r"for ([A-Z][A-Za-z0-9.]*) ")
_LINE = re.compile(r" \(line \d+\)")


def _not_twice(e2b: list[Issue], plausible: list[Issue]) -> list[Issue]:
    """The E2B checks' null-flavor refusals less those the plausibility layer already said of the same element
    and case field: one problem, said once, in the words that name the field and what to write instead."""
    said = [(m.group(1), _LINE.sub("", i.location)) for i in plausible if (m := _NUMBER.search(i.message))]
    out = []
    for issue in e2b:
        number = issue.location.split(" ", 1)[0]
        field = _LINE.sub("", issue.location.split(" <- ", 1)[1]) if " <- " in issue.location else None
        match = next((s for s in said if s[0] == number and (field is None or s[1] == field or
                                                            s[1].startswith((f"{field}.", f"{field}[")))), None)
        if issue.code == "E2B-NULLFLAVOR" and match is not None:
            said.remove(match)
            continue
        out.append(issue)
    return out


def _run_layer(report: ValidationReport, name: str, layer) -> list[Issue]:
    """Run one layer; a layer that trips over a damaged Bundle says so as an issue instead of crashing,
    and the other layers still run."""
    try:
        issues = layer()
    except Exception as exc:  # a damaged Bundle must give a report, never a traceback or a 500
        issues = [Issue("error", "VALIDATION-INCOMPLETE", "Bundle",
                        f"the {name} checks could not finish on this Bundle ({type(exc).__name__}: {exc})",
                        "fix the structural errors reported above, then validate again", name)]
    report.extend(issues)
    return issues


def load_bundle_or_case(path: str | Path) -> tuple[dict[str, Any] | None, ValidationReport]:
    """Read a case file or a FHIR Bundle (JSON). Returns the Bundle (None if unreadable) and a report
    holding any input problems (invalid JSON/YAML, case-file errors) as issues."""
    bundle, report, _lines = load_input(path)
    return bundle, report


def load_input(path: str | Path) -> tuple[dict[str, Any] | None, ValidationReport, CaseLines | None]:
    """load_bundle_or_case, plus the case file's field lines when the input is a case file."""
    from pydantic import ValidationError

    from reporter.assess.run import kept_answer_problems
    from reporter.casefile.model import CaseFile
    from reporter.casefile.parse import _line_index, _problems_from, load_data, read_text
    from reporter.errors import InputError
    from reporter.fhir.build import build_bundle

    report = ValidationReport(subject=str(path))
    try:
        text = read_text(path)
        data = load_data(text, str(path))
    except InputError as exc:
        report.add("error", "INPUT", exc.location or str(path), exc.message, exc.hint, "input")
        return None, report, None
    if data.get("resourceType") == "Bundle":
        return data, report, None
    if "resourceType" in data:
        report.add("error", "INPUT", f"{path}: resourceType",
                   f"expected a case file or a Bundle, found a {data['resourceType']}",
                   "validate the ICSR Bundle that contains it", "input")
        return None, report, None
    try:
        case = CaseFile.model_validate(data)
    except ValidationError as exc:
        for where, message in _problems_from(exc, _line_index(text)):
            report.add("error", "CASEFILE", where, message, "see `reporter schema` for the format", "input")
        return None, report, None
    lines = CaseLines(text, data)
    for where, message in case.dangling_relative_times():
        report.add("error", "CASE-REFERENCE", lines.where(where), message,
                   "anchor the time to a drug listed in drugs, or give a date", "input")
    for problem in kept_answer_problems(case):
        report.add("warning", "ASSESS-ANSWER", lines.where(problem.location or ""),
                   f"`reporter assess` refuses this answer kept on the case: {problem.message}", problem.hint,
                   "input")
    return build_bundle(case), report, lines


def validate_file(path: str | Path, receiver: str | None = None) -> tuple[dict[str, Any] | None, ValidationReport]:
    """Every problem of a case file or Bundle; with `receiver` (ich, fda, ema, all) also the E2B output's."""
    bundle, report, lines = load_input(path)
    if bundle is not None:
        issues = validate_bundle(bundle, lines=lines, receiver=receiver).issues
        if any(i.code == "CASE-REFERENCE" for i in report.issues):  # said at the case-file field already
            issues = [i for i in issues if not (i.code == "BUNDLE-REFERENCE"
                                                and i.message.startswith(RELATIVE_TARGET_MISSING))]
        report.extend(issues)
    return bundle, report
