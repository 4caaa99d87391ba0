"""Country names for people: the report, CIOMS I and the pages say 'Germany' where E2B and FHIR hold 'DE'
(mappings/countries.yaml). A code the table does not know is shown as it is."""

from __future__ import annotations

from functools import cache

from reporter.tables import load_yaml


@cache
def _names() -> dict[str, str]:
    return {str(code): str(name) for code, name in (load_yaml("countries.yaml").get("countries") or {}).items()}


def country_name(code: str | None) -> str | None:
    """'DE' -> 'Germany'; None stays None, an unknown code stays the code."""
    if not code:
        return code
    return _names().get(code.strip().upper(), code)


def country_with_code(code: str | None) -> str | None:
    """'DE' -> 'Germany (DE)', where the code is what a person types or filters by (the tabulate page)."""
    name = country_name(code)
    return f"{name} ({code})" if name and name != code else name
