"""The only module that imports fhir.resources, and only its R4B models (wire-identical to R4 for every
resource this project uses; the package's default models are R5 and must not be used)."""

from __future__ import annotations

import json
import re
from decimal import Decimal
from functools import cache
from typing import Any

from fhir.resources.R4B import get_fhir_model_class
from pydantic import BaseModel, ValidationError


@cache
def _version_differences() -> dict[str, frozenset[str]]:
    from reporter.tables import load_yaml

    raw = load_yaml("fhir_versions.yaml")
    return {key: frozenset(raw.get(key) or []) for key in ("r4_only", "changed_in_r4b", "r4b_only")}


def unchecked_type(resource_type: object) -> bool:
    """An R4 type the R4B models cannot check (dropped or changed in R4B): see mappings/fhir_versions.yaml."""
    differences = _version_differences()
    return resource_type in differences["r4_only"] or resource_type in differences["changed_in_r4b"]


_ID = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")


def _validate(resource: dict[str, Any], root: str) -> list[tuple[str, str]]:
    resource_type = resource.get("resourceType")
    if not isinstance(resource_type, str):
        return [(f"{root}.resourceType", "missing or not a string")]
    if resource_type in _version_differences()["r4b_only"]:
        return [(f"{root}.resourceType", f"{resource_type!r} is an R4B type, not R4 (this server speaks FHIR 4.0.1)")]
    if unchecked_type(resource_type):
        rid = resource.get("id")
        return [] if rid is None or (isinstance(rid, str) and _ID.match(rid)) else [(f"{root}.id", "invalid id")]
    try:
        model = get_fhir_model_class(resource_type)
    except (KeyError, ValueError, AttributeError):
        return [(f"{root}.resourceType", f"{resource_type!r} is not an R4 resource type")]
    try:
        parsed = model.model_validate(resource)
    except ValidationError as exc:
        problems = [(_fhirpath(root, err["loc"]), err["msg"].removeprefix("Value error, "))
                    for err in exc.errors(include_url=False) if not _model_gap(err)]
        return problems + json_binding_errors(resource, root, resource_type)
    except (TypeError, ValueError, AttributeError) as exc:  # the models raise plain errors on some bad input
        return [(root, str(exc))]
    return primitive_type_errors(resource, parsed, root, resource_type)


def _model_gap(err: dict) -> bool:
    """The models refuse a primitive extension on an Extension's value (`_valueString` beside `valueString`),
    which R4 allows (HL7's own examples carry translations that way)."""
    loc = err.get("loc") or ()
    if err.get("type") == "string_pattern_mismatch" and isinstance(err.get("input"), str):
        # FHIR's regexes mean XML Schema's \s (space, tab, CR, LF); Python's also takes NBSP and the like
        pattern = str((err.get("ctx") or {}).get("pattern", ""))
        xsd = pattern.replace(r"[^\s]", r"[^ \t\r\n]").replace(r"\s", r"[ \t\r\n]")
        return re.fullmatch(xsd, err["input"]) is not None
    return (err.get("type") == "extra_forbidden" and bool(loc) and str(loc[-1]).startswith("_value")
            and "extension" in loc)


# --- strict JSON primitive types -----------------------------------------------------------------------
# The models coerce in pydantic's lax mode ("true" -> True, "1.0" -> 1.0, 1 -> "1" is refused). FHIR JSON is
# strict: a boolean is a JSON true/false, integer and decimal are JSON numbers, everything else a string.
# The check walks the JSON beside the parsed model: the parsed value's Python type says what the element is.

_URI_FIELD = re.compile(r"\b(Uri|Url|Canonical|Oid|Uuid)\(\)")
_RELATIVE_REF = re.compile(r"^(?:https?://\S+/)?([A-Z][A-Za-z]+)/[A-Za-z0-9\-.]{1,64}(?:/_history/\S+)?$")


def _reference_target(ref: Any, targets: list[str]) -> str | None:
    if not isinstance(ref, dict):
        return None
    declared = ref.get("type")
    match = _RELATIVE_REF.match(ref["reference"]) if isinstance(ref.get("reference"), str) else None
    implied = match.group(1) if match else None
    if implied and ref["reference"].startswith("http") and implied not in _resource_types():
        implied = None  # an absolute URL that is not a FHIR RESTful one says nothing about the type
    for rtype in filter(None, (declared, implied)):
        if rtype not in targets:
            return f"a reference to a {rtype} is not allowed here (allowed: {', '.join(targets)})"
    return None


@cache
def _aliases(cls: type) -> dict[str, str]:
    return {(f.alias or n): n for n, f in cls.model_fields.items()}


BINDING_PREFIX = "required binding: "
Binding = tuple[frozenset[str], frozenset[str]]  # (code systems, codes) of a required value set


@cache
def _definitions() -> tuple[frozenset[str], dict[str, Binding], dict[str, list[str]]]:
    """(complex data type names, element path -> (systems, codes), element path -> reference target types),
    from mappings/fhir_required_bindings.yaml (generated from HL7's R4 definitions)."""
    from reporter.tables import load_yaml

    raw = load_yaml("fhir_required_bindings.yaml")
    table = {path: (frozenset(b["systems"]), frozenset(b["codes"])) for path, b in raw["bindings"].items()}
    return frozenset(raw["datatypes"]), table, dict(raw["references"])


@cache
def _resource_types() -> frozenset[str]:
    from reporter.tables import load_yaml

    return frozenset(load_yaml("fhir_required_bindings.yaml")["resources"])


def json_binding_errors(data: Any, path: str, element: str) -> list[tuple[str, str]]:
    """Required bindings checked on plain JSON (when the model could not parse the resource): paths from the
    resource root only, so data-type bindings are not reached."""
    if not isinstance(data, dict):
        return []
    _datatypes, bindings, _refs = _definitions()
    problems = []
    for key, value in data.items():
        inner = f"{element}.{key}"
        items = value if isinstance(value, list) else [value]
        for i, item in enumerate(items):
            step = f"{path}.{key}[{i}]" if isinstance(value, list) else f"{path}.{key}"
            if inner in bindings:
                problem = _binding_problem(item, bindings[inner])
                if problem:
                    problems.append((step, problem))
            elif isinstance(item, dict) and "resourceType" not in item:
                problems += json_binding_errors(item, step, inner)
    return problems


def _binding_problem(value: Any, binding: Binding) -> str | None:
    systems, codes = binding
    if isinstance(value, str):
        return None if value in codes else f"{BINDING_PREFIX}{value!r} is not one of {', '.join(sorted(codes)[:12])}"
    if not isinstance(value, dict):
        return None
    codings = value.get("coding") if "coding" in value else [value] if "code" in value else []
    codings = [c for c in codings if isinstance(c, dict)] if isinstance(codings, list) else []
    ours = [c for c in codings if c.get("system") in systems]
    for c in ours:
        if c.get("code") not in codes:
            return f"{BINDING_PREFIX}{c.get('code')!r} is not a code of {c.get('system')}"
    if codings and not ours:
        return f"{BINDING_PREFIX}no coding from {', '.join(sorted(systems))}"
    return None


def primitive_type_errors(data: Any, parsed: Any, path: str, element: str = "") -> list[tuple[str, str]]:
    """(location, message) for every primitive whose JSON type is not the one FHIR JSON requires, every null
    or empty element (ele-1: an element has a value or children) and every reference to a type its element
    does not allow."""
    if isinstance(parsed, BaseModel):
        if not isinstance(data, dict):
            return []
        names = _aliases(type(parsed))
        fields = type(parsed).model_fields
        datatypes, bindings, references = _definitions()
        problems = []
        if isinstance(data.get("resourceType"), str):
            element = data["resourceType"]
            if path.count(".") == 0 or path.endswith(")") or path.endswith("]"):
                rid = data.get("id")
                if isinstance(rid, str) and not _ID.match(rid):
                    problems.append((f"{path}.id", "an id is 1-64 characters of A-Z a-z 0-9 - ."))
        for key, value in data.items():
            name = names.get(key)
            if name is None or key == "resourceType":
                continue
            step = f"{path}.{key}"
            if value is None:
                problems.append((step, "null is not allowed in FHIR JSON; leave the element out"))
                continue
            if value == [] or value == {}:
                problems.append((step, "an element must have a value or children (ele-1); leave it out"))
                continue
            if isinstance(value, list) and None in value and f"_{key}" not in data:
                problems.append((step, "null in an array is allowed only beside its _ extensions"))
            child = getattr(parsed, name, None)
            targets = references.get(f"{element}.{key}")
            if targets:
                for i, ref in enumerate(value if isinstance(value, list) else [value]):
                    problem = _reference_target(ref, targets)
                    if problem:
                        problems.append((f"{step}[{i}]" if isinstance(value, list) else step, problem))
            if isinstance(value, str) and _URI_FIELD.search(str(fields[name].annotation)) and \
                    re.search(r"\s", value):
                problems.append((step, "a uri contains no whitespace"))
            inner = f"{element}.{key}"
            binding = bindings.get(inner)
            if binding:
                for i, item in enumerate(value if isinstance(value, list) else [value]):
                    problem = _binding_problem(item, binding)
                    if problem:
                        problems.append((f"{step}[{i}]" if isinstance(value, list) else step, problem))
            sample = child[0] if isinstance(child, list) and child else child
            if isinstance(sample, BaseModel) and type(sample).__name__ in datatypes:
                inner = type(sample).__name__
            problems += primitive_type_errors(value, child, step, inner)
        return problems
    if isinstance(parsed, list):
        if not isinstance(data, list):
            return []
        return [p for i, (d, o) in enumerate(zip(data, parsed, strict=False))
                for p in ([(f"{path}[{i}]", "an element must have a value or children (ele-1)")] if d == {}
                          else primitive_type_errors(d, o, f"{path}[{i}]", element))]
    if data is None:
        return []
    if isinstance(parsed, bool):
        ok, want = isinstance(data, bool), "a JSON boolean (true/false)"
    elif isinstance(parsed, int):
        ok, want = isinstance(data, int) and not isinstance(data, bool), "a JSON integer"
    elif isinstance(parsed, float | Decimal):
        ok, want = isinstance(data, int | float) and not isinstance(data, bool), "a JSON number"
    else:
        ok, want = isinstance(data, str), "a JSON string"
    return [] if ok else [(path, f"{json.dumps(data)[:40]} is not {want}")]


def structure_errors(resource: dict[str, Any]) -> list[tuple[str, str]]:
    """Parse a resource with the R4B models; a Bundle's entries are parsed one by one (faster than the
    Bundle as a whole, and each problem is located at its entry).

    Returns (FHIRPath-like location, message) for every structural problem: unknown or misspelt
    elements, wrong types, malformed dates/codes, missing required elements."""
    if resource.get("resourceType") != "Bundle" or not isinstance(resource.get("entry"), list):
        return _validate(resource, str(resource.get("resourceType", "Resource")))
    shell = {**resource, "entry": []}
    problems = []
    for i, entry in enumerate(resource["entry"]):
        if isinstance(entry, dict):
            shell["entry"].append({k: v for k, v in entry.items() if k != "resource"})
            if isinstance(entry.get("resource"), dict):
                rtype = entry["resource"].get("resourceType", "?")
                problems += _validate(entry["resource"], f"Bundle.entry[{i}].resource.ofType({rtype})")
        else:
            shell["entry"].append(entry)
    shell_problems = [(where, message) for where, message in _validate(shell, "Bundle")
                      if not (message.endswith("(ele-1)") and re.fullmatch(r"Bundle\.entry\[\d+\]", where))]
    return shell_problems + problems  # (an entry emptied for the shell check is not an empty element)


def _fhirpath(root: str, loc: tuple[Any, ...]) -> str:
    path = root
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{str(part).removesuffix('__ext')}"
    return path


# --- FHIR XML (service) ---------------------------------------------------------------------------------
# fhir_core's XML writer looks up each element's FHIR type by importing its model class by name, for every
# element of every resource (half the time of a Bundle's XML). The answer depends only on the field, which
# never changes: remember it. (A Bundle page in XML went from ~1 s to a fraction of that per Bundle.)
def _cache_type_lookup() -> None:
    from functools import lru_cache

    from fhir_core import xml_utils

    if not hasattr(xml_utils.get_fhir_type_name, "cache_info"):
        xml_utils.get_fhir_type_name = lru_cache(maxsize=8192)(xml_utils.get_fhir_type_name)


_cache_type_lookup()

# The FHIR XML form of a resource, through the R4B models, which know each element's order, cardinality
# and primitive type (what a JSON<->XML conversion needs and plain JSON does not carry).

def to_xml(resource: dict[str, Any]) -> bytes:
    """FHIR XML of a valid resource (raises ValueError for an invalid one)."""
    model = _model_class(resource.get("resourceType"))
    try:
        text = model.model_validate(resource).model_dump_xml(xml_declaration=True)
    except ValidationError as exc:
        raise ValueError(f"cannot render invalid {resource.get('resourceType')} as XML: {exc}") from exc
    data = text.encode("utf-8") if isinstance(text, str) else text
    return _keep_number_text(data, resource)


def _keep_number_text(data: bytes, resource: dict[str, Any]) -> bytes:
    """Write numbers as the JSON had them: the models' XML writer goes through float (20 -> "20.0",
    1e21 -> "1e+21"), which changes a FHIR decimal's precision."""
    from lxml import etree

    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
    root = etree.fromstring(data, parser=parser)

    def number_text(value: Any) -> str | None:
        if isinstance(value, bool) or not isinstance(value, int | float):
            return None
        return str(value) if isinstance(value, int) else repr(value)

    def walk(element: Any, obj: Any) -> None:
        if not isinstance(obj, dict):
            return
        seen: dict[str, int] = {}
        for child in element:
            if not isinstance(child.tag, str) or etree.QName(child).namespace != "http://hl7.org/fhir":
                continue
            name = etree.QName(child).localname
            position = seen.get(name, 0)
            seen[name] = position + 1
            value, underscore = obj.get(name), obj.get(f"_{name}")
            if isinstance(value, list):
                value = value[position] if position < len(value) else None
            if isinstance(underscore, list):
                underscore = underscore[position] if position < len(underscore) else None
            if child.get("value") is not None:
                text_value = number_text(value)
                if text_value is not None:
                    child.set("value", text_value)
                walk(child, underscore)
            elif name in ("resource", "contained") and len(child) and isinstance(value, dict):
                walk(child[0], value)
            else:
                walk(child, value if value is not None else underscore)

    walk(root, resource)
    return etree.tostring(root, xml_declaration=True, encoding="utf-8")


def from_xml(data: bytes) -> dict[str, Any]:
    """A resource from FHIR XML, as a JSON dict. Raises ValueError with the problem.

    The document is parsed with entities, DTDs and network access off; a DOCTYPE is refused."""
    from lxml import etree

    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False,
                             dtd_validation=False, remove_comments=True)
    try:
        root = etree.fromstring(data, parser=parser)
    except etree.XMLSyntaxError as exc:
        raise ValueError(f"malformed XML: {exc}") from exc
    if root.getroottree().docinfo.doctype:
        raise ValueError("XML with a DOCTYPE is refused")
    if etree.QName(root).namespace != "http://hl7.org/fhir":
        raise ValueError(f"root element {root.tag!r} is not in the FHIR namespace http://hl7.org/fhir")
    from reporter import limits

    limits.check_xml_tree(root, "body")  # before the models' conversion, which costs per attribute
    model = _model_class(etree.QName(root).localname)
    try:
        parsed = model.model_validate_xml(etree.tostring(root), xmlparser=parser)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        where = _fhirpath(etree.QName(root).localname, first["loc"])
        raise ValueError(f"{where}: {first['msg']}") from exc
    except (TypeError, KeyError, AttributeError) as exc:
        raise ValueError(f"not a valid FHIR R4 {etree.QName(root).localname}: {exc}") from exc
    return json.loads(parsed.model_dump_json(exclude_none=True, by_alias=True))


def _model_class(resource_type: object):
    if not isinstance(resource_type, str):
        raise ValueError("missing resourceType")
    try:
        return get_fhir_model_class(resource_type)
    except (KeyError, ValueError, AttributeError) as exc:
        raise ValueError(f"{resource_type!r} is not an R4 resource type") from exc


# --- element facts for _summary / _elements ------------------------------------------------------------

@cache
def summary_elements(resource_type: str) -> frozenset[str]:
    """JSON names of the top-level elements marked isSummary (plus mandatory ones) in the R4 definitions."""
    model = _model_class(resource_type)
    out = set()
    for name, f in model.model_fields.items():
        extra = f.json_schema_extra if isinstance(f.json_schema_extra, dict) else {}
        if extra.get("summary_element_property") or extra.get("element_required") or f.is_required():
            out.add(f.alias or name)
    return frozenset(out)


@cache
def mandatory_elements(resource_type: str) -> frozenset[str]:
    model = _model_class(resource_type)
    out = set()
    for name, f in model.model_fields.items():
        extra = f.json_schema_extra if isinstance(f.json_schema_extra, dict) else {}
        if extra.get("element_required") or f.is_required() or extra.get("one_of_many_required"):
            out.add(f.alias or name)
    return frozenset(out)
