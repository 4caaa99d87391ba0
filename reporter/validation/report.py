"""One validation report for every layer: each problem is one Issue with severity, code, location,
message and fix hint. It renders as text (CLI), JSON, and a FHIR OperationOutcome (API)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from reporter.fhir.issue_location import place

Severity = Literal["error", "warning", "information"]

# Our issue codes -> FHIR IssueType (http://hl7.org/fhir/issue-type)
_FHIR_ISSUE_TYPE = {
    "input": "invalid", "structure": "structure", "reference": "invalid", "terminology": "code-invalid",
    "rule": "business-rule", "e2b": "business-rule", "plausibility": "business-rule", "xsd": "structure",
    "skipped": "informational",
}


@dataclass(frozen=True)
class Issue:
    severity: Severity
    code: str            # stable rule id, e.g. "ICSR-MIN-SUSPECT"; its prefix names the layer
    location: str        # FHIRPath into the Bundle, a case-file path, or an E2B element number
    message: str
    hint: str | None = None
    layer: str = "rule"  # input | structure | reference | terminology | rule | plausibility | e2b | xsd | skipped

    def line(self) -> str:
        hint = f" (hint: {self.hint})" if self.hint else ""
        return f"{self.severity.upper():7} {self.code:24} {self.location}: {self.message}{hint}"


@dataclass
class ValidationReport:
    subject: str = ""
    issues: list[Issue] = field(default_factory=list)

    def add(self, severity: Severity, code: str, location: str, message: str, hint: str | None = None,
            layer: str = "rule") -> None:
        self.issues.append(Issue(severity, code, location, message, hint, layer))

    def extend(self, issues: list[Issue]) -> None:
        self.issues.extend(issues)

    @property
    def errors(self) -> list[Issue]:
        return [i for i in self.issues if i.severity == "error"]

    @property
    def warnings(self) -> list[Issue]:
        return [i for i in self.issues if i.severity == "warning"]

    @property
    def ok(self) -> bool:
        return not self.errors

    def summary(self) -> str:
        return (f"{self.subject + ': ' if self.subject else ''}{len(self.errors)} error(s), "
                f"{len(self.warnings)} warning(s)")

    def to_text(self) -> str:
        lines = [issue.line() for issue in self.issues]
        lines.append(self.summary())
        return "\n".join(lines) + "\n"

    def to_dict(self) -> dict[str, Any]:
        return {"subject": self.subject, "ok": self.ok, "issues": [asdict(i) for i in self.issues]}

    def to_operation_outcome(self) -> dict[str, Any]:
        issues = []
        for issue in self.issues:
            entry: dict[str, Any] = {
                "severity": issue.severity,
                "code": _FHIR_ISSUE_TYPE.get(issue.layer, "processing"),
                "details": {"coding": [{"system": "http://fhir-ae-reporter.org/CodeSystem/validation-rule",
                                        "code": issue.code}],
                            "text": issue.message},
            }
            if issue.hint:
                entry["diagnostics"] = issue.hint
            issues.append(place(entry, issue.location))
        if not issues:
            issues.append({"severity": "information", "code": "informational",
                           "details": {"text": "no issues found"}})
        return {"resourceType": "OperationOutcome", "issue": issues}

    def to_json(self) -> str:
        return json.dumps(self.to_operation_outcome(), indent=2, ensure_ascii=False) + "\n"
