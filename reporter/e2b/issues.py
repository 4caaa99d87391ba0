"""E2B output checks reported in the project's validation report (reporter.validation.report)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from reporter.validation.report import Issue, ValidationReport

__all__ = ["E2BCheck", "Issue", "e2b_issue"]

XSD_TEXT = {
    "valid": "valid against the ICH E2B(R3) schema",
    "invalid": "invalid against the ICH E2B(R3) schema",
    "skipped": "XSD validation skipped: set REPORTER_E2B_SCHEMA_DIR to the ICH E2B(R3) schema folder",
}


def e2b_issue(severity: str, code: str, location: str, message: str, hint: str | None = None,
              layer: str = "e2b") -> Issue:
    return Issue(severity, code, location, message, hint, layer)  # type: ignore[arg-type]


@dataclass
class E2BCheck:
    """The outcome of checking one E2B batch: the XSD status and the validation report."""

    xsd: Literal["valid", "invalid", "skipped"] = "skipped"
    report: ValidationReport = field(default_factory=lambda: ValidationReport(subject="E2B(R3) batch"))

    @property
    def issues(self) -> list[Issue]:
        return self.report.issues

    @property
    def errors(self) -> list[Issue]:
        return self.report.errors

    @property
    def ok(self) -> bool:
        return self.report.ok

    def text(self) -> str:
        return f"XSD: {XSD_TEXT[self.xsd]}\n" + self.report.to_text()
