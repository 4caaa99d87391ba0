"""Problems found in E2B output, in the shape of the project's validation report.

Until reporter.validation lands on main this module holds a minimal local Issue/report; the fields are the
same (severity, code, location, message, hint) so the switch is a one-line import change.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Severity = Literal["error", "warning", "information"]


@dataclass(frozen=True)
class Issue:
    severity: Severity
    code: str
    location: str
    message: str
    hint: str | None = None

    def __str__(self) -> str:
        hint = f" (hint: {self.hint})" if self.hint else ""
        return f"{self.severity.upper():7} {self.code:22} {self.location}: {self.message}{hint}"


@dataclass
class E2BCheck:
    """The outcome of checking one E2B batch: XSD status and every business-rule issue."""

    xsd: Literal["valid", "invalid", "skipped"] = "skipped"
    issues: list[Issue] = field(default_factory=list)

    @property
    def errors(self) -> list[Issue]:
        return [i for i in self.issues if i.severity == "error"]

    @property
    def ok(self) -> bool:
        return not self.errors

    def text(self) -> str:
        lines = {"valid": "XSD: valid against the ICH E2B(R3) schema",
                 "invalid": "XSD: INVALID against the ICH E2B(R3) schema",
                 "skipped": "XSD: validation skipped (set REPORTER_E2B_SCHEMA_DIR to the ICH XSD folder)"}
        out = [lines[self.xsd]]
        out += [str(i) for i in self.issues]
        n_err, n_warn = len(self.errors), sum(1 for i in self.issues if i.severity == "warning")
        out.append(f"{n_err} error(s), {n_warn} warning(s)")
        return "\n".join(out)
