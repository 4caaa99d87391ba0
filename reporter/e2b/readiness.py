"""Readiness: what `reporter e2b` would say for each receiver, as part of the validation report. The export
and its checks (XSD, ICH conformance, receiver rules) run exactly as for `reporter e2b`; problems that
several receivers share are reported once, naming the receivers. A problem of a case file also names the
case-file field (and line) it comes from (mappings/case_locations.yaml)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from functools import cache
from typing import Any

from reporter.casefile.model import CaseFile
from reporter.e2b.dictionary import receiver_names
from reporter.e2b.export import export_bundles
from reporter.errors import ReporterError
from reporter.tables import load_yaml
from reporter.validation.casepath import CaseLines
from reporter.validation.report import Issue

_LOCATION = re.compile(r"^(?P<number>[A-Z][A-Za-z0-9.]*?)(?: \((?P<parts>[^)]*)\))?$")


@cache
def _table() -> dict[str, Any]:
    return load_yaml("case_locations.yaml")


def receivers_for(name: str) -> list[str]:
    """`all` -> every receiver profile (ich first), else the one named."""
    return ["ich", *sorted(set(receiver_names()) - {"ich"})] if name == "all" else [name]


def _causality_path(data: dict[str, Any] | None, n: int) -> str | None:
    """The n-th causality assessment (G.k.9.i.2.r, numbered over the whole case) as its case-file place: the
    export writes them drug by drug, each drug's reactions in the case's reaction order, each link's
    assessments in order."""
    order = [r.get("id") for r in (data or {}).get("reactions") or [] if isinstance(r, dict)]
    count = 0
    for i, drug in enumerate((data or {}).get("drugs") or []):
        links = [x for x in drug.get("reactions") or [] if isinstance(x, dict)]
        for j in sorted(range(len(links)), key=lambda j: _place(order, links[j].get("reaction"))):
            for k, _ in enumerate(links[j].get("causality") or []):
                count += 1
                if count == n:
                    return f"drugs[{i}].reactions[{j}].causality[{k}]"
    return None


def _place(order: list[Any], reaction: Any) -> int:
    return order.index(reaction) if reaction in order else len(order)


def case_path(location: str, data: dict[str, Any] | None = None) -> str | None:
    """The case-file path an E2B issue location comes from, or None when it names no case field. `data`,
    the case file's data, places a causality assessment, which E2B numbers over the whole case."""
    found = _LOCATION.match(location)
    if not found:
        return None
    table = _table()
    path = ""
    for part in (found.group("parts") or "").split(", "):
        label, _, number = part.rpartition(" ")
        block = table["e2b_blocks"].get(label)
        if label == "causality" and number.isdigit():
            path = _causality_path(data, int(number)) or path
        elif block and number.isdigit():
            name = block.rsplit(".", 1)[-1] if path else block
            path = f"{path}.{name}[{int(number) - 1}]" if path else f"{name}[{int(number) - 1}]"
    field = table["e2b_elements"].get(found.group("number"))
    if field and field.split(".")[0] in CaseFile.model_fields:  # a field of the case, not of the block
        return field
    if not path:  # a rule on the whole case about a block's element: the block's list
        number = found.group("number")
        path = next((v for k, v in table["e2b_element_blocks"].items() if number.startswith(k)), "")
        return path or field or None
    return f"{path}.{field}" if field else path


@dataclass(frozen=True)
class Problem:
    issue: Issue
    case_path: str | None  # the case-file field it comes from, when known


@dataclass(frozen=True)
class ReceiverReadiness:
    """Whether `reporter e2b` would write the case for one receiver, and the errors that stop it."""

    receiver: str
    problems: list[Problem] = field(default_factory=list)

    @property
    def ready(self) -> bool:
        return not self.problems


# Validation warnings an export run says with its own issues: what a Bundle states that no reader takes (E2B
# leaves it out or sends a null flavor for it), which validation alone would otherwise say.
NOT_READ = frozenset({"FHIR-NOT-READ"})


def validation_errors(bundles: Sequence[dict[str, Any]], lines: Sequence[CaseLines | None] | None = None,
                      names: Sequence[str] | None = None, also: frozenset[str] = frozenset(),
                      elements: bool = False) -> list[Issue]:
    """The errors `reporter validate` finds in each input (structure, integrity, terminology, ICSR rules,
    plausibility), which an export refuses as validation does: the two never disagree on a case. With several
    inputs, a Bundle's issues are prefixed with its name (a case file's lines already name their file).
    `also`: codes of warnings to keep with them (FHIR-NOT-READ: what a Bundle says that the export leaves out).
    `elements`: an imported Bundle's issues also name the E2B element at their place (for people, not FHIRPath)."""
    from reporter.e2b.fhir_place import with_element
    from reporter.validation import validate_bundle

    out = []
    for n, bundle in enumerate(bundles):
        source = lines[n] if lines else None
        report = validate_bundle(bundle, lines=source)
        for issue in (i for i in report.issues if i.severity == "error" or i.code in also):
            prefix = f"{names[n]}: " if names and len(bundles) > 1 and source is None else ""
            location = with_element(bundle, issue.location) if elements and source is None else issue.location
            out.append(replace(issue, location=prefix + location))
    return out


def by_receiver(bundle: dict[str, Any]) -> list[ReceiverReadiness]:
    """One readiness line per receiver profile (ich first): the errors `reporter e2b` stops at, those of
    validation (for every receiver) and of its export check."""
    invalid = validation_errors([bundle])
    out = []
    for name in receivers_for("all"):
        try:
            issues = export_bundles([bundle], receiver_name=name).check.errors
        except ReporterError as exc:
            issues = [Issue("error", "E2B-EXPORT", exc.location or "Bundle", exc.message, exc.hint, "e2b")]
        out.append(ReceiverReadiness(name, [Problem(i, case_path(i.location)) for i in invalid + issues]))
    return out


def readiness(bundle: dict[str, Any], receiver: str, lines: CaseLines | None = None) -> list[Issue]:
    """The E2B output issues of the Bundle for `receiver` (ich, fda, ema or all), merged across receivers."""
    merged: dict[tuple[str, str, str, str], tuple[Issue, list[str]]] = {}
    for name in receivers_for(receiver):
        try:
            issues = export_bundles([bundle], receiver_name=name).check.issues
        except ReporterError as exc:
            issues = [Issue("error", "E2B-EXPORT", exc.location or "Bundle", exc.message, exc.hint, "e2b")]
        for issue in issues:
            key = (issue.severity, issue.code, issue.location, issue.message)
            merged.setdefault(key, (issue, []))[1].append(name)
    out = []
    every = len(receivers_for(receiver))
    for issue, names in merged.values():
        location = f"E2B XML {issue.location}" if issue.layer == "xsd" and issue.location.startswith("line ") \
            else issue.location
        who = "" if issue.layer == "skipped" or (len(names) == every and every == 1) else f"[{', '.join(names)}] "
        out.append(Issue(issue.severity, issue.code, location, who + issue.message, issue.hint, issue.layer))
    return with_case_paths(out, [lines])


_CASE = re.compile(r"\(case (\d+)")


def with_case_paths(issues: list[Issue], lines: Sequence[CaseLines | None]) -> list[Issue]:
    """E2B issues of a batch with the case-file field (and line) each comes from: `lines[n - 1]` is the
    case file of case n in the batch (None for a Bundle, whose issues stay as they are)."""
    out = []
    for issue in issues:
        found = _CASE.search(issue.location)
        n = int(found.group(1)) if found else (1 if len(lines) == 1 else 0)
        source = lines[n - 1] if 0 < n <= len(lines) else None
        path = case_path(issue.location, source.data) if source is not None else None
        out.append(replace(issue, location=f"{issue.location} <- {source.where(path)}") if path and source else issue)
    return out
