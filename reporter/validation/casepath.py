"""Case-file locations: a field path ("reactions[0].onset") with the line it is on in the case file, for
problems found after the case file was turned into a Bundle (plausibility, E2B output checks)."""

from __future__ import annotations

import re
from functools import cache
from typing import Any

from reporter.casefile.parse import _line_index, format_path
from reporter.fhir.read import BundleIndex, as_list
from reporter.tables import load_yaml

Json = dict[str, Any]
_ENTRY = re.compile(r"^Bundle\.entry\[(\d+)\]\.resource(?:\.ofType\(\w+\))?\.?(.*)$")


@cache
def _table() -> dict[str, Any]:
    return load_yaml("case_locations.yaml")


def field_of(resource_type: Any, tail: str) -> str:
    """The case-file field a FHIRPath tail inside a resource comes from ('' if none is known)."""
    for pattern, field in _table()["fhir_fields"].get(resource_type, ()):
        found = re.fullmatch(pattern, tail)
        if found:
            return field.format(*found.groups())
    return ""


class CasePaths:
    """Case-file paths of a Bundle's resources, for a Bundle built from a case file: the builder lists
    reactions, tests and drugs in their Composition sections in the case file's order."""

    def __init__(self, index: BundleIndex) -> None:
        self.prefix: dict[int, str] = {}
        for key in ("reactions", "tests", "drugs"):
            for i, resource in enumerate(index.section(key)):
                self.prefix[id(resource)] = f"{key}[{i}]"
        comp = index.composition or {}
        for i, author in enumerate(as_list(comp.get("author"))):
            role = index.resolve(author) if isinstance(author, dict) else None
            if role is not None and role.get("resourceType") == "PractitionerRole":
                self.prefix[id(role)] = f"primary_sources[{i}]"
                practitioner = index.resolve(role.get("practitioner"), role)
                if practitioner is not None:
                    self.prefix[id(practitioner)] = f"primary_sources[{i}]"
        if index.patient is not None:
            self.prefix[id(index.patient)] = "patient"
        for resource in index.section("patient"):
            self.prefix.setdefault(id(resource), "patient")

    def of(self, resource: Json, tail: str) -> str:
        base = self.prefix.get(id(resource), "")
        return f"{base}.{tail}" if base and tail else base or tail

    def link(self, statement: Json, event: Json, tail: str) -> str:
        """drugs[k].reactions[reactions[i]].<tail>: the drug's link to the reaction, named by the reaction's
        position in the case (CaseLines.resolve finds its position in the drug's list)."""
        drug = self.prefix.get(id(statement))
        reaction = self.prefix.get(id(event))
        return f"{drug}.reactions[{reaction}].{tail}" if drug and reaction else ""

_STEP = re.compile(r"\.?([A-Za-z_$][\w$]*)|\[(\d+)\]")


def split_path(path: str) -> tuple[Any, ...]:
    return tuple(int(m.group(2)) if m.group(2) is not None else m.group(1) for m in _STEP.finditer(path))


class CaseLines:
    """Where the fields of one case file are (its text) and what they hold (its data)."""

    def __init__(self, text: str, data: dict[str, Any], name: str | None = None) -> None:
        self.text = text
        self._lines: dict[tuple[Any, ...], int] | None = None
        self.data = data
        self.name = name  # the file, named in locations when several case files are read together

    def resolve(self, path: str) -> str:
        """`drugs[0].reactions[reactions[1]]...` (a drug's link to a reaction, named by the reaction's
        position in the case) -> `drugs[0].reactions[<its index in that drug's list>]...`."""
        def link(match: re.Match[str]) -> str:
            drug, reaction = int(match.group(1)), int(match.group(2))
            try:
                rid = self.data["reactions"][reaction]["id"]
                links = self.data["drugs"][drug]["reactions"]
                k = next(i for i, item in enumerate(links) if item.get("reaction") == rid)
            except (KeyError, IndexError, TypeError, StopIteration):
                return f"drugs[{drug}]"
            return f"drugs[{drug}].reactions[{k}]"
        return re.sub(r"drugs\[(\d+)\]\.reactions\[reactions\[(\d+)\]\]", link, path)

    @property
    def lines(self) -> dict[tuple[Any, ...], int]:
        """Field path -> line, worked out when a problem first needs a line (a clean file never does)."""
        if self._lines is None:
            self._lines = _line_index(self.text)
        return self._lines

    def line(self, path: str) -> int | None:
        probe = split_path(path)
        while probe and probe not in self.lines:
            probe = probe[:-1]
        return self.lines.get(probe) if probe else None

    def relabel(self, bundle: Json, location: str) -> str:
        """A FHIRPath issue location in the Bundle built from this case file -> `field (line N)`, when the
        entry comes from a case item; other locations are returned as they are."""
        whole = _table()["fhir_whole"].get(location)
        if whole:
            return self.where(whole)
        found = _ENTRY.match(location)
        if not found:
            return location
        entries = as_list(bundle.get("entry"))
        index = int(found.group(1))
        resource = entries[index].get("resource") if index < len(entries) and isinstance(entries[index], dict) \
            else None
        if not isinstance(resource, dict):
            return location
        paths = self._paths(bundle)
        if id(resource) not in paths.prefix:
            return location
        return self.where(paths.of(resource, field_of(resource.get("resourceType"), found.group(2))))

    def _paths(self, bundle: Json) -> CasePaths:
        cached = getattr(self, "_cached", None)
        if cached is None or cached[0] is not bundle:
            cached = self._cached = (bundle, CasePaths(BundleIndex(bundle)))
        return cached[1]

    def where(self, path: str) -> str:
        """`path (line N)`, with the line of the nearest field that is in the file."""
        path = format_path(split_path(self.resolve(path)))
        line = self.line(path)
        where = f"{path} (line {line})" if line else path
        return f"{self.name}: {where}" if self.name else where
