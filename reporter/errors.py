"""One exception tree, grouped by stage. Every error carries where it happened."""

from __future__ import annotations


class ReporterError(Exception):
    """Base of every error the reporter raises on purpose."""

    def __init__(self, message: str, *, location: str | None = None, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.location = location
        self.hint = hint

    def __str__(self) -> str:
        where = f"{self.location}: " if self.location else ""
        return f"{where}{self.message}"


class InputError(ReporterError):
    """The input could not be read at all (bad JSON/YAML/XML, wrong root, too large)."""


class CaseFileError(InputError):
    """A case file was read but does not match the case-file model. Holds every problem found."""

    def __init__(self, problems: list[tuple[str, str]], *, source: str | None = None) -> None:
        self.problems = problems
        first = problems[0] if problems else ("", "invalid case file")
        super().__init__(f"{len(problems)} problem(s) in case file; first: {first[1]}",
                         location=source or first[0])


class MappingError(ReporterError):
    """Data in mappings/ is malformed (a bug in the project's tables, not in the user's input)."""


class E2BError(ReporterError):
    """E2B(R3) export or import failed."""


class StoreError(ReporterError):
    """The case store refused or failed a read or write."""


class NotFound(StoreError):
    pass


class Gone(NotFound):
    """The resource existed but its case was nullified (HTTP 410)."""


class VersionConflict(StoreError):
    pass


# --- service (store and web) ---------------------------------------------------------------------------

class StoreConflict(StoreError):
    """The write contradicts what is stored (case already exists, resource id taken, case nullified)."""


class AlreadyStored(StoreConflict):
    """A received report that is stored already (the same report of the same file): not stored again."""


class PreconditionRequired(InputError):
    """A write that must name the version it replaces did not (HTTP 428)."""


class AuthError(ReporterError):
    """Missing, unknown or insufficient credentials (HTTP 401/403)."""

    def __init__(self, message: str, *, status: int = 401, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.status = status
