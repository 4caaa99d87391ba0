"""The R4 search parameters the store indexes and the API answers (mappings/fhir_search.yaml), checked on load."""

from __future__ import annotations

from functools import cache
from typing import Literal

from pydantic import BaseModel, ConfigDict, ValidationError, model_validator

from reporter.errors import MappingError
from reporter.tables import fhir_tables, load_yaml

ParamType = Literal["token", "date", "reference", "quantity"]
EXTENSION_STEP = "extension:"  # a path step `extension:<key>`: the extensions whose url fhir.yaml names by <key>


class SearchParam(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    type: ParamType
    definition: str
    paths: tuple[str, ...] = ()
    targets: tuple[str, ...] = ()
    documentation: str | None = None  # what a parameter of this project's own finds (CapabilityStatement)


class SearchTable(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    common: dict[str, SearchParam]
    resources: dict[str, dict[str, SearchParam]]

    @model_validator(mode="after")
    def _one_date_each(self) -> SearchTable:
        for rtype, params in self.resources.items():
            dates = [n for n, p in params.items() if p.type == "date"]
            if len(dates) > 1:
                raise ValueError(f"{rtype} has {len(dates)} date parameters; the index keeps one")
        return self

    @model_validator(mode="after")
    def _known_extensions(self) -> SearchTable:
        """An `extension:<key>` path step names an extension of mappings/fhir.yaml (else nothing is indexed)."""
        known = fhir_tables().extensions
        for rtype, params in self.resources.items():
            for name, param in params.items():
                steps = [s for path in param.paths for s in path.split(".") if s.startswith(EXTENSION_STEP)]
                unknown = [s for s in steps if s[len(EXTENSION_STEP):] not in known]
                if unknown:
                    raise ValueError(f"{rtype} {name}: {unknown[0]} names no extension of fhir.yaml")
        return self


@cache
def search_table() -> SearchTable:
    try:
        return SearchTable.model_validate(load_yaml("fhir_search.yaml"))
    except ValidationError as exc:
        raise MappingError(f"fhir_search.yaml does not match its schema: {exc}") from None


def params_of(resource_type: str) -> dict[str, SearchParam]:
    """Every parameter of a type, the common ones (_id, _lastUpdated) first."""
    return {**search_table().common, **search_table().resources.get(resource_type, {})}


def date_param(resource_type: str) -> str | None:
    return next((n for n, p in search_table().resources.get(resource_type, {}).items() if p.type == "date"), None)


def searchable_types() -> list[str]:
    return list(search_table().resources)
