"""Fast FHIR R4 structure check from rule tables generated from the official R4 StructureDefinitions
(mappings/fhir-r4-structure.json, written by tools/gen_fhir_r4_structure.py).

What it checks, for every resource type of R4 (including those R4B dropped):
- strict JSON types: a boolean is true/false (not "true"), integers are JSON integers in range, a decimal
  is a JSON number (not "1.0"), everything else is a string; null, {} and [] are not values;
- each primitive's regex from its StructureDefinition, plus real calendar dates (no 2023-02-30);
- cardinality: a single element is not a list and a repeating one is a list; required elements
  (a primitive counts as present with its value or its `_element` extension);
- choice types: one of value[x]'s names at most (and one when the choice is required);
- codes with a required binding whose value set the R4 package expands;
- unknown elements (misspelt, or from another FHIR version) are rejected.

Problems are returned as (FHIRPath-like location, message), the same form as the R4B models' check in
reporter.fhir.models, which the test suite keeps as a cross-check.
"""

from __future__ import annotations

import datetime
import json
import math
import re
from functools import cache
from typing import Any

from reporter.paths import mappings_dir

TABLE_FILE = "fhir-r4-structure.json"
_INT32 = (-2147483648, 2147483647)


# The StructureDefinition regexes are XML Schema regexes, whose \s is XML white space (tab, LF, CR, space):
# a no-break space inside a code is a character of the code, as HL7's own examples have it.
_SPACE = "\\u0009\\u000a\\u000d\\u0020"
_C0 = [c for c in range(32)]


def portable_regex(regex: str) -> str:
    """A StructureDefinition regex for Python's and Rust's engines alike: \\s and \\S become explicit
    classes of XML white space (Python's and Rust's \\s would also match a no-break space).
    A class holding \\S, [ \\r\\n\\t\\S] of string and markdown, is read as the specification's prose
    says: any character but the C0 controls it does not list (a no-break space is text)."""
    out, i = [], 0
    while i < len(regex):
        ch = regex[i]
        if ch == "\\" and regex[i + 1] in "sS":
            out.append(f"[{_SPACE}]" if regex[i + 1] == "s" else f"[^{_SPACE}]")
            i += 2
        elif ch == "\\":
            out.append(regex[i:i + 2])
            i += 2
        elif ch == "[":
            end = i + 1
            while regex[end] != "]" or regex[end - 1] == "\\":
                end += 1
            body = regex[i + 1:end]
            negated = body.startswith("^")
            body = body[1:] if negated else body
            if "\\S" in body:
                listed = body.replace("\\S", "").encode().decode("unicode_escape")
                controls = "".join(f"\\u{c:04x}" for c in _C0 if chr(c) not in listed)
                out.append(f"[{'' if negated else '^'}{controls}]")
            else:
                out.append("[" + ("^" if negated else "") + body.replace("\\s", _SPACE) + "]")
            i = end + 1
        else:
            out.append(ch)
            i += 1
    return "".join(out)


class _Rules:
    """The generated tables, compiled once: per type a dict of element -> spec tuple."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.resources = frozenset(data["resources"])
        self.primitives: dict[str, tuple[str, Any]] = {
            name: (kind, re.compile(portable_regex(regex)).fullmatch if regex else None)
            for name, (kind, regex) in data["primitives"].items()}
        valuesets = {url: frozenset(codes) for url, codes in data["valuesets"].items()}
        # spec: (type, many, is_primitive, value set or None, choice group or "")
        self.types: dict[str, dict[str, tuple[str, int, bool, frozenset[str] | None, str]]] = {}
        self.required: dict[str, tuple[str, ...]] = {}
        for tname, elements in data["types"].items():
            self.types[tname] = {
                name: (etype, many, etype in self.primitives, valuesets.get(vs) if vs else None, group)
                for name, (etype, many, _min, vs, group) in elements.items()}
            self.required[tname] = tuple(name for name, (_t, _m, minimum, _v, group) in elements.items()
                                         if minimum > 0 and not group)
        self.choices: dict[str, tuple[tuple[str, int, tuple[str, ...]], ...]] = {}
        for tname, groups in data["choices"].items():
            self.choices[tname] = tuple(
                (group, minimum, tuple(n for n, s in self.types[tname].items() if s[4] == group))
                for group, minimum in groups.items())


@cache
def rules() -> _Rules:
    return _Rules(_table_data())


def resource_types() -> frozenset[str]:
    return rules().resources


def _describe(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    return "an object"


def _real_date(text: str) -> bool:
    if len(text) < 10:
        return True
    try:
        datetime.date(int(text[0:4]), int(text[5:7]), int(text[8:10]))
    except ValueError:
        return False
    return True


# ele-1 (every element has a value or children) is an invariant: {} and [] are reported as warnings, not
# errors. The R4B models accept both, and clients that drop what they cannot model (fhirclient drops
# primitive extensions such as `_end`, leaving `"boundsPeriod": {}`) send them; the element is then empty,
# not wrong.
_EMPTY_OBJECT = "an empty object is not allowed by FHIR (ele-1): leave the element out"
_EMPTY_LIST = "an empty list is not allowed by FHIR JSON: leave the element out"


class _Checker:
    __slots__ = ("problems", "r", "warnings")

    def __init__(self) -> None:
        self.r = rules()
        self.problems: list[tuple[str, str]] = []
        self.warnings: list[tuple[str, str]] = []

    # --- primitives ---------------------------------------------------------------------------------
    def primitive(self, ptype: str, value: Any, path: str, valueset: frozenset[str] | None) -> None:
        kind, match = self.r.primitives[ptype]
        if kind == "string":
            if type(value) is not str:
                self.problems.append((path, f"expected a {ptype} as a JSON string, found {_describe(value)}"))
                return
            if match is not None and match(value) is None:
                self.problems.append((path, f"{value[:80]!r} is not a valid {ptype}"))
                return
            if ptype in ("date", "dateTime", "instant") and not _real_date(value):
                self.problems.append((path, f"{value!r} is not a real calendar date"))
                return
            if valueset is not None and value not in valueset:
                shown = ", ".join(sorted(valueset)[:12]) + (", ..." if len(valueset) > 12 else "")
                self.problems.append((path, f"{value!r} is not in the required value set ({shown})"))
            elif ptype == "xhtml" and not value.lstrip(" \t\r\n").startswith("<div"):
                self.problems.append((path, "the narrative must be XHTML with a <div> root"))
        elif kind == "boolean":
            if type(value) is not bool:
                self.problems.append((path, f"expected a boolean (true or false), found {_describe(value)}"))
        elif kind == "integer":
            if type(value) is not int:
                self.problems.append((path, f"expected an {ptype} as a JSON integer, found {_describe(value)}"))
            elif not _INT32[0] <= value <= _INT32[1]:
                self.problems.append((path, f"{value} is outside the 32-bit range of a FHIR {ptype}"))
            elif match is not None and match(str(value)) is None:
                self.problems.append((path, f"{value} is not a valid {ptype}"))
        else:  # decimal
            if type(value) not in (int, float):
                self.problems.append((path, f"expected a decimal as a JSON number, found {_describe(value)}"))
            elif isinstance(value, float) and not math.isfinite(value):
                self.problems.append((path, "a decimal must be a finite number"))

    def primitive_element(self, name: str, spec: tuple, node: dict, path: str) -> None:
        """A primitive element `name` with its value and/or its `_name` extension object."""
        ptype, many, _p, valueset, _g = spec
        value, ext = node.get(name), node.get("_" + name)
        where = f"{path}.{name}"
        if many:
            if value is not None and type(value) is not list:
                self.problems.append((where, f"expected a list (the element repeats), found {_describe(value)}"))
                return
            if ext is not None and type(ext) is not list:
                self.problems.append((where, f"_{name} must be a list aligned with {name}"))
                return
            if value is not None and ext is not None and len(value) != len(ext):
                self.problems.append((where, f"{name} and _{name} must have the same length"))
                return
            length = len(value) if value is not None else len(ext or ())
            if length == 0:
                self.warnings.append((where, _EMPTY_LIST))
                return
            for i in range(length):
                item = value[i] if value is not None else None
                item_ext = ext[i] if ext is not None else None
                if item is None and item_ext is None:
                    self.problems.append((f"{where}[{i}]", "null is not allowed here"))
                    continue
                if item is not None:
                    self.primitive(ptype, item, f"{where}[{i}]", valueset)
                if item_ext is not None:
                    self.complex(item_ext, "Element", f"{where}[{i}]") if type(item_ext) is dict else \
                        self.problems.append((f"{where}[{i}]", f"_{name} entries must be objects"))
        else:
            if type(value) is list:
                self.problems.append((where, "expected a single value, found a list (the element does not repeat)"))
                return
            if value is None and ext is None:
                self.problems.append((where, "null is not allowed (leave the element out)"))
                return
            if value is not None:
                self.primitive(ptype, value, where, valueset)
            if ext is not None:
                if type(ext) is dict:
                    self.complex(ext, "Element", where)
                else:
                    self.problems.append((where, f"_{name} must be an object, found {_describe(ext)}"))

    # --- objects ------------------------------------------------------------------------------------
    def resource(self, node: Any, path: str, located: bool = False) -> None:
        if type(node) is not dict:
            self.problems.append((path, f"expected a resource (JSON object), found {_describe(node)}"))
            return
        rtype = node.get("resourceType")
        if type(rtype) is not str:
            self.problems.append((f"{path}.resourceType", "missing or not a string"))
            return
        if rtype not in self.r.resources:
            self.problems.append((f"{path}.resourceType", f"{rtype!r} is not an R4 resource type"))
            return
        self.complex(node, rtype, path if located else f"{path}.ofType({rtype})", resource=True)

    def value(self, spec: tuple, value: Any, path: str) -> None:
        etype = spec[0]
        if etype == "Resource":
            self.resource(value, path)
        elif type(value) is not dict:
            self.problems.append((path, f"expected a {etype.rsplit('.', 1)[-1]} object, found {_describe(value)}"))
        else:
            self.complex(value, etype, path)

    def complex(self, node: dict, tname: str, path: str, resource: bool = False) -> None:
        table = self.r.types[tname]
        if not node:  # reported, and its required elements are still missing
            self.warnings.append((path, _EMPTY_OBJECT))
        chosen: dict[str, list[str]] | None = None
        for key, value in node.items():
            spec = table.get(key)
            if spec is None:
                if key[:1] == "_" and key[1:] in table and table[key[1:]][2]:
                    name = key[1:]
                    if name not in node:
                        self.primitive_element(name, table[name], node, path)
                        if table[name][4]:
                            chosen = _choose(chosen, table[name][4], name)
                    continue
                if key == "resourceType" and resource:
                    continue
                self.problems.append((f"{path}.{key.lstrip('_')}", f"unknown element {key!r} in {_type_label(tname)}"))
                continue
            if spec[4]:
                chosen = _choose(chosen, spec[4], key)
            if spec[2]:
                if spec[1] or type(value) is not str or "_" + key in node:
                    self.primitive_element(key, spec, node, path)
                else:  # the common case inlined: a single string primitive without an extension
                    self.primitive(spec[0], value, f"{path}.{key}", spec[3])
                continue
            where = f"{path}.{key}"
            if spec[1]:
                if type(value) is not list:
                    self.problems.append((where, f"expected a list (the element repeats), found {_describe(value)}"))
                    continue
                if not value:
                    self.warnings.append((where, _EMPTY_LIST))
                    continue
                for i, item in enumerate(value):
                    self.value(spec, item, f"{where}[{i}]")
            elif type(value) is list:
                self.problems.append((where, "expected a single value, found a list (the element does not repeat)"))
            elif value is None:
                self.problems.append((where, "null is not allowed (leave the element out)"))
            else:
                self.value(spec, value, where)
        for name in self.r.required[tname]:
            if name not in node and ("_" + name) not in node:
                self.problems.append((f"{path}.{name}", "required element is missing"))
        groups = self.r.choices.get(tname)
        if groups:
            for group, minimum, _names in groups:
                present = chosen.get(group) if chosen else None
                if present and len(present) > 1:
                    self.problems.append((f"{path}.{group}[x]",
                                          f"only one of {', '.join(present)} is allowed ({group}[x] is one value)"))
                elif minimum and not present:
                    self.problems.append((f"{path}.{group}[x]", f"required element {group}[x] is missing"))


def _choose(chosen: dict[str, list[str]] | None, group: str, name: str) -> dict[str, list[str]]:
    if chosen is None:
        chosen = {}
    chosen.setdefault(group, []).append(name)
    return chosen


def _type_label(tname: str) -> str:
    return tname if "." not in tname else f"{tname} (backbone element)"


def structure_problems(resource: Any, root: str | None = None) -> list[tuple[str, str]]:
    """Every structural problem of a resource (a Bundle's entries included) by the R4 definitions, as
    (location, message). Locations follow reporter.fhir.models: `Bundle.entry[0].resource.ofType(Patient).x`."""
    return structure_report(resource, root)[0]


def structure_report(resource: Any, root: str | None = None) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """(errors, warnings) of the walker; warnings are the empty objects and lists (ele-1)."""
    checker = _Checker()
    if type(resource) is not dict:
        return [(root or "(input)", f"expected a resource (JSON object), found {_describe(resource)}")], []
    rtype = resource.get("resourceType")
    checker.resource(resource, root or (rtype if isinstance(rtype, str) else "Resource"), located=True)
    return checker.problems, checker.warnings


# --- the compiled fast path ---------------------------------------------------------------------------
# The same tables, written as one JSON Schema and compiled by jsonschema-rs (Rust): it answers "valid or
# not" about ten times faster than walking the dicts in Python. The schema is built to accept only what
# the walker above accepts (tested on the R4 examples and the broken corpus); on a "not valid" the walker
# runs to locate and word every problem.

class _StrictInteger:
    """jsonschema-rs keyword: a FHIR integer is a JSON integer (JSON Schema lets 1.0 pass)."""

    def __init__(self, _parent: Any, _value: Any, _path: Any) -> None:
        pass

    def validate(self, instance: Any) -> None:
        if type(instance) is not int:
            raise ValueError("expected a JSON integer")


class _RealDate:
    """jsonschema-rs keyword: a date that matches the regex is also a calendar date (no 2023-02-30)."""

    def __init__(self, _parent: Any, _value: Any, _path: Any) -> None:
        pass

    def validate(self, instance: Any) -> None:
        if isinstance(instance, str) and not _real_date(instance):
            raise ValueError("not a calendar date")


def json_schema() -> dict[str, Any]:
    """The rule tables as one JSON Schema (draft 7). It accepts only resources without problems; it also
    refuses, and leaves to the walker, a list of primitives given together with its `_name` list (whose
    alignment and nulls JSON Schema cannot express)."""
    data = _table_data()
    defs: dict[str, Any] = {}
    ints = {"integer": (_INT32[0], _INT32[1]), "positiveInt": (1, _INT32[1]), "unsignedInt": (0, _INT32[1])}
    for name, (kind, regex) in data["primitives"].items():
        if kind == "boolean":
            defs[f"p.{name}"] = {"type": "boolean"}
        elif kind == "integer":
            low, high = ints[name]
            defs[f"p.{name}"] = {"type": "integer", "minimum": low, "maximum": high, "fhirInteger": True}
        elif kind == "number":
            defs[f"p.{name}"] = {"type": "number"}
        else:
            rule: dict[str, Any] = {"type": "string"}
            if regex:
                rule["pattern"] = f"^(?:{portable_regex(regex)})$"
            if name == "xhtml":
                rule["pattern"] = "^[\\t\\n\\r ]*<div"
            if name in ("date", "dateTime", "instant"):
                rule["fhirDate"] = True
            defs[f"p.{name}"] = rule
    valuesets = data["valuesets"]
    resources = set(data["resources"])
    for tname, elements in data["types"].items():
        props: dict[str, Any] = {}
        all_of: list[dict[str, Any]] = []
        groups: dict[str, list[str]] = {}
        for name, (etype, many, minimum, vs, group) in elements.items():
            if etype in data["primitives"]:
                one = {"enum": valuesets[vs]} if vs else {"$ref": f"#/definitions/p.{etype}"}
                ext = {"$ref": "#/definitions/Element"}
                if many:
                    props[name] = {"type": "array", "minItems": 1, "items": one}
                    props["_" + name] = {"type": "array", "minItems": 1, "items": ext}
                    all_of.append({"not": {"required": [name, "_" + name]}})
                else:
                    props[name] = one
                    props["_" + name] = ext
                names = [name, "_" + name]
            else:
                one = {"$ref": "#/definitions/Resource" if etype == "Resource" else f"#/definitions/{etype}"}
                props[name] = {"type": "array", "minItems": 1, "items": one} if many else one
                names = [name]
            if group:
                groups.setdefault(group, []).append(name)
            elif minimum:
                all_of.append({"anyOf": [{"required": [n]} for n in names]} if len(names) > 1
                              else {"required": names})
        dependencies: dict[str, Any] = {}
        for group, members in groups.items():
            spelled = {m: [m, "_" + m] if m in elements and elements[m][0] in data["primitives"] else [m]
                       for m in members}
            every = [n for forms in spelled.values() for n in forms]
            for forms in spelled.values():
                # a present name bars every other name of its group (checked only when it is present)
                others = [n for n in every if n not in forms]
                for form in forms:
                    dependencies[form] = {"propertyNames": {"not": {"enum": others}}}
            if data["choices"][tname][group]:
                all_of.append({"anyOf": [{"required": [n]} for n in every]})
        rule = {"type": "object", "minProperties": 1, "properties": props, "additionalProperties": False}
        if tname == "Extension":
            # ext-1, an invariant the walker leaves to reporter.validation.invariants: sub-extensions or a
            # value, not both and not neither. With it, a valid answer also says that no extension breaks it.
            plain = ["id", "_id", "url", "_url"]
            rule["if"] = {"required": ["extension"]}
            rule["then"] = {"propertyNames": {"enum": [*plain, "extension"]}}
            rule["else"] = {"not": {"propertyNames": {"enum": plain}}}
        if tname in resources:
            props["resourceType"] = {"const": tname}
            rule["required"] = ["resourceType"]
        if all_of:
            rule["allOf"] = all_of
        if dependencies:
            rule["dependencies"] = dependencies
        defs[tname] = rule
    by_letter: dict[str, list[str]] = {}
    for r in sorted(resources):
        by_letter.setdefault(r[0], []).append(r)
    # dispatch on resourceType in two steps (first letter, then name): ~25 comparisons, not 146
    defs["Resource"] = {
        "type": "object", "required": ["resourceType"],
        "properties": {"resourceType": {"enum": sorted(resources)}},
        "allOf": [{"if": {"properties": {"resourceType": {"pattern": f"^{letter}"}}},
                   "then": {"allOf": [{"if": {"properties": {"resourceType": {"const": r}}},
                                       "then": {"$ref": f"#/definitions/{r}"}} for r in names]}}
                  for letter, names in by_letter.items()]}
    return {"$schema": "http://json-schema.org/draft-07/schema#", "definitions": defs,
            "$ref": "#/definitions/Resource"}


@cache
def _table_data() -> dict[str, Any]:
    with (mappings_dir() / TABLE_FILE).open(encoding="utf-8") as fh:
        return json.load(fh)


@cache
def _compiled() -> Any:
    import jsonschema_rs

    return jsonschema_rs.Draft7Validator(json_schema(), keywords={"fhirInteger": _StrictInteger,
                                                                  "fhirDate": _RealDate})


def is_valid(resource: Any) -> bool:
    """True when the resource has no structural problem (the compiled schema's answer)."""
    return _compiled().is_valid(resource)


def check(resource: Any, root: str | None = None) -> list[tuple[str, str]]:
    """Structural errors, the fast way: the compiled schema says whether there are any; only then
    does the walker run to find and locate them."""
    return check_with_warnings(resource, root)[0]


def check_with_warnings(resource: Any, root: str | None = None) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """(errors, warnings), the fast way. The walker's verdict stands: the schema also refuses forms the
    walker accepts (empty objects and lists, which it warns about; a list of primitives beside its
    `_name` list; an extension that breaks ext-1, which reporter.validation.invariants reports)."""
    return checked(resource, root)[:2]


def checked(resource: Any, root: str | None = None) -> tuple[list[tuple[str, str]], list[tuple[str, str]], bool]:
    """check_with_warnings, and whether the compiled schema found the resource valid: then no extension in it
    (contained resources and a Bundle's entries included) breaks ext-1."""
    if _compiled().is_valid(resource):
        return [], [], True
    errors, warnings = structure_report(resource, root)
    return errors, warnings, False
