"""The data in mappings/: loaded once, checked against a small schema, read-only afterwards."""

from __future__ import annotations

from functools import cache
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from reporter import yaml12
from reporter.errors import MappingError
from reporter.paths import mappings_dir


class CodeEntry(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)
    display: str
    e2b: str | None = None
    fhir: str | None = None


class CodeList(BaseModel):
    model_config = ConfigDict(frozen=True)
    oid: str | None
    codes: dict[str, CodeEntry]

    def e2b(self, key: str) -> str:
        entry = self.codes[key]
        if entry.e2b is None:
            raise MappingError(f"code {key!r} has no E2B code")
        return entry.e2b

    def key_for_e2b(self, code: str) -> str | None:
        return next((k for k, v in self.codes.items() if v.e2b == code), None)

    def key_for_fhir(self, code: str) -> str | None:
        return next((k for k, v in self.codes.items() if v.fhir == code), None)

    def key_for_coding(self, coding: Any, by: str = "e2b") -> str | None:
        """The case-file key of a coding ({"code": ...}) of this list: by its E2B code (`by="e2b"`), its FHIR
        code ("fhir"), or "any" of the key itself, the E2B code, the FHIR code (in that order)."""
        code = coding.get("code") if isinstance(coding, dict) else None
        if not isinstance(code, str) or not code.strip():
            return None
        if by == "e2b":
            return self.key_for_e2b(code)
        if by == "fhir":
            return self.key_for_fhir(code)
        code = code.strip()
        return code if code in self.codes else self.key_for_e2b(code) or self.key_for_fhir(code)


def load_yaml(name: str) -> Any:
    path = mappings_dir() / name
    try:
        with path.open(encoding="utf-8") as fh:
            return yaml12.load(fh.read())
    except (OSError, yaml.YAMLError) as exc:
        raise MappingError(f"cannot load mapping table: {exc}", location=str(path)) from None


@cache
def code_lists() -> dict[str, CodeList]:
    raw = load_yaml("codes.yaml")
    try:
        return {name: CodeList.model_validate(body) for name, body in raw.items()}
    except ValidationError as exc:
        raise MappingError(f"codes.yaml does not match its schema: {exc}") from None


def code_list(name: str) -> CodeList:
    return code_lists()[name]


def coding_key(list_name: str, coding: Any, by: str = "e2b") -> str | None:
    """The case-file key of an ICH/FHIR coding of the project code list `list_name` (see
    CodeList.key_for_coding): the FHIR reader and the tabulation projection both read codes back with it."""
    return code_list(list_name).key_for_coding(coding, by)


class FhirTables(BaseModel):
    model_config = ConfigDict(frozen=True)
    systems: dict[str, str]
    system_aliases: dict[str, list[str]] = {}
    extensions: dict[str, str]
    sections: list[dict[str, str]]
    composition: dict[str, Any]
    patient_observations: dict[str, dict[str, str]]
    fda: dict[str, dict[str, str]]
    required_codes: dict[str, list[str]]
    unread_dosage: list[str] = []
    seriousness_flags: dict[str, bool] = {}
    guide_fda_report_types: dict[str, Any] = {}
    gender_null_flavors: dict[str, str] = {}
    unread_gender: list[str] = []
    unread_elements: dict[str, dict[str, str]] = {}
    interpretation_results: dict[str, dict[str, str]] = {}


@cache
def fhir_tables() -> FhirTables:
    try:
        return FhirTables.model_validate(load_yaml("fhir.yaml"))
    except ValidationError as exc:
        raise MappingError(f"fhir.yaml does not match its schema: {exc}") from None


@cache
def oids() -> dict[str, dict[str, str]]:
    raw = load_yaml("oids.yaml")
    if not isinstance(raw, dict) or not all(isinstance(v, dict) for v in raw.values()):
        raise MappingError("oids.yaml must map group names to {name: oid}")
    return raw


@cache
def routes() -> dict[str, dict[str, str]]:
    raw = load_yaml("routes.yaml")
    table = raw.get("routes") if isinstance(raw, dict) else None
    if not isinstance(table, dict) or not all("ich" in v and "display" in v for v in table.values()):
        raise MappingError("routes.yaml must map route keys to {ich, display}")
    return table


def ext(key: str) -> str:
    """The canonical URL of an extension, by its key in mappings/fhir.yaml."""
    return fhir_tables().extensions[key]


def system(key: str) -> str:
    return fhir_tables().systems[key]


@cache
def system_uris(key: str) -> frozenset[str]:
    """Every URI a coding of the system named `key` may carry: its own and its aliases (`system_aliases`)."""
    tables = fhir_tables()
    return frozenset((tables.systems[key], *tables.system_aliases.get(key, ())))


def in_system(value: Any, key: str) -> bool:
    """Whether a coding's `system` names the system `key` (its URI or an alias). A damaged value (a list, a
    number) names none: set membership would raise on it where the equality test it replaced did not."""
    return isinstance(value, str) and value in system_uris(key)


def oid_system(oid: str) -> str:
    return f"urn:oid:{oid}"
