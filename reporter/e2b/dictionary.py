"""The E2B(R3) data in mappings/: element dictionary, element locations, rule sets and receiver profiles.

Everything is loaded once and cached; a malformed table raises MappingError (a bug in the project's data).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from reporter.errors import MappingError
from reporter.paths import mappings_dir

NS = {"h": "urn:hl7-org:v3", "xsi": "http://www.w3.org/2001/XMLSchema-instance"}


def _load(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise MappingError(f"cannot read {path.name}: {exc}", location=str(path)) from None
    if not isinstance(data, dict):
        raise MappingError("expected a mapping at the top", location=str(path))
    return data


@dataclass(frozen=True)
class Element:
    """One E2B(R3) data element: ICH facts plus where it sits in the XML (if this project writes it)."""

    number: str
    name: str
    max_length: int | None = None
    type: str | None = None
    conformance: str | None = None
    null_flavors: tuple[str, ...] = ()
    case_paths: tuple[str, ...] = ()  # the case-file fields it carries (locations.yaml `case`), lists as [*]
    group: str | None = None
    node: str | None = None
    value: str | None = None


@dataclass(frozen=True)
class Link:
    """Instances of a group that point at an instance of another group by id (G.k.1 roles -> G.k drugs)."""

    group: str
    ref: str
    key: str


@dataclass(frozen=True)
class Group:
    name: str
    path: str
    parent: str | None = None
    link: Link | None = None


@dataclass(frozen=True)
class Dictionary:
    elements: dict[str, Element]
    groups: dict[str, Group]
    namespaces: dict[str, str] = field(default_factory=lambda: dict(NS))

    def element(self, number: str) -> Element:
        try:
            return self.elements[number]
        except KeyError:
            raise MappingError(f"unknown E2B element {number!r}", location="mappings/e2b") from None

    def chain(self, group: str) -> list[str]:
        """The group and its ancestors, outermost first."""
        out: list[str] = []
        name: str | None = group
        while name is not None:
            if name not in self.groups:
                raise MappingError(f"unknown group {name!r}", location="mappings/e2b/locations.yaml")
            out.append(name)
            name = self.groups[name].parent
        return out[::-1]


@cache
def dictionary() -> Dictionary:
    base = mappings_dir() / "e2b"
    facts = _load(base / "elements.yaml").get("elements") or {}
    locations = _load(base / "locations.yaml")
    groups = {
        name: Group(name=name, path=spec["path"], parent=spec.get("parent"),
                    link=Link(**spec["link"]) if spec.get("link") else None)
        for name, spec in (locations.get("groups") or {}).items()
    }
    for group in groups.values():
        if group.link and group.link.group not in groups:
            raise MappingError(f"group {group.name}: link to unknown group {group.link.group!r}",
                               location="mappings/e2b/locations.yaml")
    elements: dict[str, Element] = {}
    placed = locations.get("elements") or {}
    for number in sorted(set(facts) | set(placed)):
        fact = facts.get(number) or {}
        where = placed.get(number) or {}
        if where and where.get("group") not in groups:
            raise MappingError(f"{number}: unknown group {where.get('group')!r}",
                               location="mappings/e2b/locations.yaml")
        elements[number] = Element(
            number=number, name=fact.get("name", number), max_length=fact.get("max_length"),
            type=fact.get("type"), conformance=fact.get("conformance"),
            null_flavors=tuple(fact.get("null_flavors") or ()),
            case_paths=(where["case"],) if isinstance(where.get("case"), str) else tuple(where.get("case") or ()),
            group=where.get("group"),
            node=where.get("node"), value=where.get("value"),
        )
    return Dictionary(elements=elements, groups=groups, namespaces=dict(locations.get("namespaces") or NS))


@cache
def elements_by_case_path() -> dict[str, tuple[str, ...]]:
    """The E2B elements that carry each case-file field (mappings/e2b/locations.yaml's `case` column), list
    positions written [*]: "drugs[*].dosages[*].start" -> ("G.k.4.r.4",). A field may be several elements'
    (a patient record number is D.1.1.1 to D.1.1.4 by its source)."""
    out: dict[str, tuple[str, ...]] = {}
    for number, element in dictionary().elements.items():
        for path in element.case_paths:
            out[path] = (*out.get(path, ()), number)
    return out


@cache
def elements_inside_case_path() -> dict[str, frozenset[str]]:
    """The E2B elements of the case-file fields below each case path ("patient.race[*]" -> FDA.D.11.r.1)."""
    out: dict[str, set[str]] = {}
    for path, numbers in elements_by_case_path().items():
        parts = path.split(".")
        for end in range(1, len(parts)):
            out.setdefault(".".join(parts[:end]), set()).update(numbers)
    return {path: frozenset(numbers) for path, numbers in out.items()}


@cache
def rule_set(name: str) -> dict[str, Any]:
    path = mappings_dir() / "e2b" / "rules" / f"{name}.yaml"
    if not path.is_file():
        raise MappingError(f"no rule set {name!r}", location=str(path))
    data = _load(path)
    known = dictionary()
    for i, rule in enumerate(data.get("rules") or []):
        for key in ("id", "severity", "scope", "message"):
            if key not in rule:
                raise MappingError(f"rule {i} has no {key!r}", location=str(path))
        if rule["scope"] not in known.groups:
            raise MappingError(f"rule {rule['id']}: unknown scope {rule['scope']!r}", location=str(path))
        conditions = list(rule.get("when") or []) + list(rule.get("then_any") or [])
        if rule.get("then"):
            conditions.append(rule["then"])
        for cond in conditions:
            number = cond.get("element")
            if number is not None and (number not in known.elements or known.elements[number].node is None):
                raise MappingError(f"rule {rule['id']}: element {number} has no location", location=str(path))
            if "position" in cond and not (isinstance(cond["position"], int) and cond["position"] >= 1):
                raise MappingError(f"rule {rule['id']}: position must be a whole number from 1", location=str(path))
            if cond.get("group") is not None and cond["group"] not in known.groups:
                raise MappingError(f"rule {rule['id']}: unknown group {cond['group']!r}", location=str(path))
    return data


@dataclass(frozen=True)
class Receiver:
    """A receiver profile (mappings/receivers/<name>.yaml): ids, code systems, regional elements, rules."""

    name: str
    title: str
    batch_receiver: str
    message_receiver: str
    route: dict[str, Any] | None
    dose_form: dict[str, Any] | None
    code_system_version: str | None
    regional: tuple[dict[str, Any], ...]
    rules: tuple[str, ...]
    max_batch_bytes: int | None
    receiver_ids: tuple[str, ...] = ()
    routes: tuple[dict[str, Any], ...] = ()  # {when_study_id, batch_receiver, message_receiver}: by case facts

    def knows(self, receiver_id: str) -> bool:
        """Whether an N.1.4 / N.2.r.3 id addresses this receiver."""
        return receiver_id in (self.batch_receiver, self.message_receiver, *self.receiver_ids)

    def regional_element(self, number: str) -> dict[str, Any] | None:
        return next((r for r in self.regional if r.get("element") == number), None)


def receiver_names() -> list[str]:
    """The receiver profiles in mappings/receivers (listed once per folder: each imported message asks)."""
    return list(_receiver_names(mappings_dir() / "receivers"))


@cache
def _receiver_names(folder: Path) -> tuple[str, ...]:
    return tuple(sorted(p.stem for p in folder.glob("*.yaml")))


@cache
def receiver(name: str) -> Receiver:
    path = mappings_dir() / "receivers" / f"{name}.yaml"
    if not path.is_file():
        raise MappingError(f"unknown receiver {name!r} (known: {', '.join(receiver_names())})",
                           location=str(path), hint="use one of " + ", ".join(receiver_names()))
    data = _load(path)
    try:
        profile = Receiver(
            name=data["name"], title=data.get("title", data["name"]),
            batch_receiver=data["batch_receiver"], message_receiver=data["message_receiver"],
            route=data.get("route"), dose_form=data.get("dose_form"),
            code_system_version=data.get("code_system_version"),
            regional=tuple(data.get("regional") or ()), rules=tuple(data.get("rules") or ()),
            max_batch_bytes=data.get("max_batch_bytes"),
            receiver_ids=tuple(str(i) for i in data.get("receiver_ids") or ()),
            routes=tuple(data.get("routes") or ()),
        )
    except KeyError as exc:
        raise MappingError(f"receiver profile lacks {exc}", location=str(path)) from None
    for name_ in profile.rules:
        rule_set(name_)
    return profile


@cache
def _regions() -> dict[str, Any]:
    return _load(mappings_dir() / "e2b" / "regions.yaml")


@cache
def _region_arcs() -> dict[str, str]:
    return {str(k): str(v) for k, v in (_regions().get("arcs") or {}).items()}


@cache
def regional_elements() -> tuple[str, ...]:
    """Prefixes of the element numbers of regions' own elements (FDA.C.1.7.1 ...)."""
    return tuple(str(p) for p in _regions().get("regional_elements") or ())


def regional_arc() -> str:
    """The OID prefix of the regions' own lists ("2.16.840.1.113883.3.989.5.")."""
    return str(_regions()["regional"]) + "."


def is_regional(code_system: str | None) -> bool:
    """Whether a code system is one of a region's own lists (under ICH's regional arc)."""
    return bool(code_system) and str(code_system).startswith(regional_arc())


def region_of(code_system: str | None) -> str | None:
    """The ICH region whose regional lists a code system belongs to (mappings/e2b/regions.yaml), if any."""
    return next((name for arc, name in _region_arcs().items() if (code_system or "").startswith(arc + ".")), None)
