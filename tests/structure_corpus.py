"""A corpus of hand-broken FHIR resources, made programmatically from valid ones: each breakage is
labelled with what it breaks, where (the FHIRPath-like location the checker must report), and whether
the R4B models are expected to catch it too ("both") or only the R4 rule tables ("stricter", with the
reason in LENIENT_R4B)."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from reporter.validation.fhir_r4 import rules

# Breakages the R4 check reports as warnings, not errors (the R4B models accept them too): see
# reporter.validation.fhir_r4 on ele-1.
WARNED = {"empty-object", "empty-list"}

# Breakages the R4B models let through, and why the R4 checker is right to refuse (or warn about) them.
LENIENT_R4B = {
    "boolean-as-string": 'pydantic coerces "true" to true; FHIR JSON requires a JSON boolean',
    "decimal-as-string": 'pydantic coerces "1.0" to a decimal; FHIR JSON requires a JSON number',
    "integer-as-string": 'pydantic coerces "3" to 3; FHIR JSON requires a JSON number',
    "null-value": "the models drop null; FHIR JSON forbids null outside primitive arrays",
    "empty-object": "the models accept {}; FHIR requires every element to have a value or children (ele-1)",
    "empty-list": "the models accept []; FHIR JSON forbids empty arrays",
    "id-too-long": "the models do not check the 64-character limit of the id type",
    "string-control-char": "a form feed passes the models; FHIR strings allow no control characters but tab/CR/LF",
    "code-not-in-value-set": "the models check few required bindings (not Composition.status, for one); the R4 "
                             "tables expand every required binding the R4 package defines",
    "uri-with-space": "the models do not apply the uri regex (\\S*) to Extension.url",
}

# A resource with the primitive types the demo Bundles lack, so that every breakage has a target.
EXTRA_BASE = {"resourceType": "Patient", "id": "p1", "active": True, "birthDate": "1980-04-05",
              "multipleBirthInteger": 2, "gender": "female",
              "name": [{"family": "Example", "given": ["Ann", "B."]}],
              "contact": [{"relationship": [{"text": "next of kin"}], "name": {"text": "C"}}],
              "communication": [{"language": {"text": "English"}, "preferred": False}]}


@dataclass(frozen=True)
class Broken:
    label: str
    source: str
    location: str  # the location the checker must report (prefix match)
    resource: dict[str, Any]

    @property
    def r4b_expected(self) -> bool:
        return self.label not in LENIENT_R4B


def _elements(node: dict, tname: str, path: str) -> Iterator[tuple[dict, str, str, tuple]]:
    """(parent object, key, location, spec) for every element present, depth first."""
    table = rules().types[tname]
    for key, value in list(node.items()):
        spec = table.get(key)
        if spec is None:
            continue
        where = f"{path}.{key}"
        yield node, key, where, spec
        if spec[2] or spec[0] == "Resource":
            continue
        items = value if spec[1] and isinstance(value, list) else [value]
        for i, item in enumerate(items):
            if isinstance(item, dict):
                yield from _elements(item, spec[0], f"{where}[{i}]" if spec[1] else where)


def _first(resource: dict, want) -> tuple[dict, str, str, tuple] | None:
    for found in _elements(resource, resource["resourceType"], resource["resourceType"]):
        if want(found):
            return found
    return None


def _single_primitive(ptype: str):
    return lambda f: f[3][0] == ptype and not f[3][1] and not f[3][4] and f[1] in f[0]


def breakages(resource: dict, source: str) -> Iterator[Broken]:
    """Every breakage that applies to this resource (each on a fresh copy)."""
    rtype = resource["resourceType"]
    rules_ = rules()

    def make(label: str, want, mutate) -> Broken | None:
        copied = copy.deepcopy(resource)
        found = _first(copied, want)
        if found is None:
            return None
        parent, key, where, spec = found
        location = mutate(parent, key, where, spec)
        return Broken(label, source, location or where, copied)

    def set_to(value):
        def mutate(parent, key, where, spec):
            parent[key] = value
        return mutate

    candidates = [
        ("unknown-element", lambda f: True, lambda p, k, w, s: p.__setitem__("shoeSize", 3) or
         w.rsplit(".", 1)[0] + ".shoeSize"),
        ("boolean-as-string", _single_primitive("boolean"), set_to("true")),
        ("decimal-as-string", _single_primitive("decimal"), set_to("1.0")),
        ("integer-as-string", lambda f: f[3][0] in ("integer", "positiveInt", "unsignedInt") and not f[3][1],
         set_to("3")),
        ("malformed-date", _single_primitive("date"), set_to("2023-13-01")),
        ("malformed-dateTime", lambda f: f[3][0] == "dateTime" and not f[3][1] and f[1] in f[0],
         set_to("2023-04-05T10:00")),  # a time needs seconds and a zone
        ("not-a-calendar-date", lambda f: f[3][0] in ("date", "dateTime") and not f[3][1] and f[1] in f[0],
         set_to("2023-02-30")),
        ("code-not-in-value-set", lambda f: f[3][3] is not None and not f[3][1] and f[1] in f[0],
         set_to("no-such-code")),
        ("code-with-double-space", lambda f: f[3][0] == "code" and f[3][3] is None and not f[3][1], set_to("a  b")),
        ("uri-with-space", _single_primitive("uri"), set_to("http://example.org/a b")),
        ("empty-string", _single_primitive("string"), set_to("")),
        ("string-control-char", _single_primitive("string"), set_to("a\x0cb")),
        ("null-value", lambda f: not f[3][2] and not f[3][1], set_to(None)),
        ("empty-object", lambda f: not f[3][2] and not f[3][1] and f[3][0] != "Resource", set_to({})),
        ("empty-list", lambda f: f[3][1] and not f[3][2], set_to([])),
        ("list-for-single", lambda f: not f[3][1] and not f[3][2] and f[3][0] != "Resource",
         lambda p, k, w, s: p.__setitem__(k, [p[k]])),
        ("single-for-list", lambda f: f[3][1] and not f[3][2] and isinstance(f[0][f[1]], list),
         lambda p, k, w, s: p.__setitem__(k, p[k][0])),
        ("object-for-primitive", _single_primitive("string"), set_to({"value": "x"})),
        ("primitive-for-object", lambda f: not f[3][2] and not f[3][1] and f[3][0] not in ("Resource",),
         set_to("text")),
        ("id-with-space", lambda f: f[1] == "id" and f[2].count(".") == 1, set_to("a b")),
        ("id-too-long", lambda f: f[1] == "id" and f[2].count(".") == 1, set_to("x" * 65)),
        ("second-choice", lambda f: bool(f[3][4]) and f[1] in f[0],
         lambda p, k, w, s: _second_choice(p, k, w, s)),
    ]
    for label, want, mutate in candidates:
        made = make(label, want, mutate)
        if made is not None:
            yield made
    for name in rules_.required[rtype]:
        if name in resource or "_" + name in resource:
            copied = copy.deepcopy(resource)
            copied.pop(name, None)
            copied.pop("_" + name, None)
            yield Broken("missing-required", source, f"{rtype}.{name}", copied)
            break
    yield Broken("unknown-resource-type", source, "Bundel.resourceType", {**copy.deepcopy(resource),
                                                                     "resourceType": "Bundel"})


def _second_choice(parent: dict, key: str, where: str, spec: tuple) -> str:
    """Add a second value[x] beside the one present."""
    tname = None
    for tn, table in rules().types.items():
        if table.get(key) is spec:
            tname = tn
            break
    group = spec[4]
    other = next(n for n, s in rules().types[tname].items() if s[4] == group and n != key and s[0] in _SAMPLES)
    parent[other] = _SAMPLES[rules().types[tname][other][0]]
    return where.rsplit(".", 1)[0] + f".{group}[x]"


# a valid value of each type, for the second member of a choice
_SAMPLES = {"string": "second value", "boolean": True, "dateTime": "2020", "integer": 1, "Period": {"start": "2020"},
            "CodeableConcept": {"text": "second"}, "Reference": {"display": "second"}, "Quantity": {"value": 1},
            "uri": "http://example.org", "code": "x", "date": "2020", "decimal": 1.5, "Attachment": {"title": "x"}}


def corpus(resources: list[tuple[str, dict]]) -> list[Broken]:
    out = []
    for source, resource in resources:
        out.extend(breakages(resource, source))
    return out
