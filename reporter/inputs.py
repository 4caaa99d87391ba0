"""Reading what the commands take: a case file (JSON/YAML) or an ICSR Bundle (FHIR JSON or XML). One place,
so that every command accepts the same inputs and says the same thing about bad ones."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from reporter.casefile.parse import case_from_data, load_data, read_text
from reporter.errors import InputError


def load_bundle(path: str | Path) -> dict[str, Any]:
    """The Bundle in the file, or the Bundle built from the case file in it.

    Raises InputError (unreadable, not JSON/YAML, another FHIR resource) or CaseFileError (a case file
    that does not match the model, with every problem located)."""
    from reporter.fhir.build import build_bundle

    text = read_text(path)
    data = load_data(text, str(path))
    if data.get("resourceType") == "Bundle":
        return data
    if "resourceType" in data:
        raise InputError(f"expected a case file or an ICSR Bundle, found a {data['resourceType']}",
                         location=str(path), hint="pass the ICSR document Bundle that contains it")
    return build_bundle(case_from_data(data, text, str(path)))


def load_case_and_bundle(path: str | Path) -> tuple[Any, dict[str, Any]]:
    """(the case file or None when the file is a Bundle, the Bundle) - one read, the same errors as load_bundle."""
    from reporter.fhir.build import build_bundle

    text = read_text(path)
    data = load_data(text, str(path))
    if data.get("resourceType") == "Bundle":
        return None, data
    if "resourceType" in data:
        return None, load_bundle(path)  # raises the usual error
    case = case_from_data(data, text, str(path))
    return case, build_bundle(case)
