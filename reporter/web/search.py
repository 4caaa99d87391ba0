"""FHIR search parameters -> store Criteria, by the R4 table in mappings/fhir_search.yaml.

Every bad value is an InputError naming the parameter. A parameter the table does not hold is never ignored
silently: under `Prefer: handling=strict` (the default here) it is a 400; under `handling=lenient` the search
runs without it and the searchset says so in an OperationOutcome entry (search.mode = outcome)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from werkzeug.datastructures import MultiDict

from reporter.errors import InputError
from reporter.store import Criteria, DateClause
from reporter.store.fhirdates import parse_range
from reporter.store.repository import QuantityClause
from reporter.store.searchparams import SearchParam, date_param, params_of, searchable_types

MAX_COUNT = 100
DEFAULT_COUNT = 20
MAX_CHAIN_DEPTH = 2
_PREFIX_RE = re.compile(r"^(eq|ne|gt|lt|ge|le|sa|eb|ap)?(.+)$")
_TYPE_RE = re.compile(r"^[A-Z][A-Za-z]+$")
# Result parameters: not criteria, never reported as unknown.
CONTROL = frozenset({"_count", "_sort", "_format", "_cursor", "_offset", "_total", "_pretty", "_summary",
                     "_elements", "_include", "_revinclude", "_include:iterate", "_revinclude:iterate"})
INCLUDE_PARAMS = ("_include", "_revinclude", "_include:iterate", "_revinclude:iterate")
SUMMARY_MODES = ("true", "false", "text", "data", "count")


def searchable() -> list[str]:
    return searchable_types()


@dataclass
class Include:
    source: str  # resource type holding the reference
    param: str  # its reference parameter
    target: str | None = None  # only references to this type
    iterate: bool = False  # R4 :iterate: applied to included resources too, not only to the matches


@dataclass
class ParsedSearch:
    criteria: Criteria
    used: list[str]  # parameter names applied (for the self link)
    unknown: list[str] = field(default_factory=list)  # ignored under lenient handling
    includes: list[Include] = field(default_factory=list)
    revincludes: list[Include] = field(default_factory=list)
    summary: str | None = None
    elements: list[str] | None = None


def supported_params(resource_type: str) -> list[tuple[str, str, str]]:
    """(name, FHIR search param type, definition canonical) for the CapabilityStatement."""
    return [(name, p.type, p.definition) for name, p in params_of(resource_type).items()]


def parse_search(resource_type: str, args: MultiDict, *, strict: bool = True) -> ParsedSearch:
    """The search `args` on `resource_type` as store Criteria plus the result parameters."""
    criteria = Criteria()
    parsed = ParsedSearch(criteria, [])
    for name in args:
        if name in CONTROL:
            continue
        values = args.getlist(name)
        if _apply(resource_type, name, values, criteria, depth=0):
            parsed.used.append(name)
        elif strict:
            raise InputError(f"search parameter {name!r} is not supported for {resource_type}",
                             location=name,
                             hint="supported: " + ", ".join(n for n, *_ in supported_params(resource_type))
                             + "; send Prefer: handling=lenient to have unknown parameters ignored")
        else:
            parsed.unknown.append(name)
    criteria.count = _count(args.get("_count"))
    criteria.sort = _sort(args.get("_sort"), resource_type)
    criteria.cursor = args.get("_cursor") or None
    criteria.offset = _int(args.get("_offset"), "_offset", 0, 10**9) if args.get("_offset") else 0
    total = args.get("_total", "accurate")
    if total not in ("none", "estimate", "accurate"):
        raise InputError(f"_total={total!r} is not none, estimate or accurate", location="_total")
    criteria.with_total = total != "none"
    # no _total: a total only when the first page holds every match (_count=0 asks for the total alone, so it is
    # counted); estimate: counted up to a limit (store)
    criteria.total = ({"accurate": "accurate", "estimate": "counted", "none": "page"}[total] if "_total" in args
                      else "accurate" if criteria.count == 0 else "page")
    summary = args.get("_summary")
    if summary is not None:
        if summary not in SUMMARY_MODES:
            raise InputError(f"_summary={summary!r} is not one of {', '.join(SUMMARY_MODES)}", location="_summary")
        parsed.summary = None if summary == "false" else summary
        if summary == "count":
            criteria.count = 0
            criteria.with_total, criteria.total = True, "accurate"
    if args.get("_elements"):
        parsed.elements = [e for v in args.getlist("_elements") for e in _split(v, "_elements")]
    parsed.includes = [_include(v, "_include", resource_type) for v in args.getlist("_include")]
    parsed.includes += [_include(v, "_include:iterate", None) for v in args.getlist("_include:iterate")]
    parsed.revincludes = [_include(v, "_revinclude", None) for v in args.getlist("_revinclude")]
    parsed.revincludes += [_include(v, "_revinclude:iterate", None) for v in args.getlist("_revinclude:iterate")]
    odd = [k for k in args if k.startswith(("_include:", "_revinclude:")) and k not in CONTROL]
    if odd:
        raise InputError(f"{odd[0]} is not supported", location=odd[0], hint="the R4 modifier is :iterate")
    criteria.include_nullified = resource_type == "Bundle" or (
        resource_type == "Composition" and any(n.split(":")[0] == "status" for n in parsed.used))
    return parsed


def _apply(resource_type: str, name: str, values: list[str], criteria: Criteria, *, depth: int) -> bool:
    """Add `name=values` to `criteria`; False if `name` is not a parameter of the type."""
    head, dot, rest = name.partition(".")
    base, _, modifier = head.partition(":")
    params = params_of(resource_type)
    param = params.get(base)
    if param is None:
        return False
    if dot:  # chained: subject.gender=female, subject:Patient.identifier=X
        if param.type != "reference":
            raise InputError(f"{base} is not a reference parameter and cannot be chained", location=name)
        if depth >= MAX_CHAIN_DEPTH:
            raise InputError("chains are followed at most two links deep", location=name)
        target = _target_type(param, modifier, name)
        options = []
        for value in values:
            sub = Criteria()
            if not _apply(target, rest, [value], sub, depth=depth + 1):
                raise InputError(f"{target} has no search parameter {rest.split(':')[0]!r}", location=name)
            options.append((base, target, sub))
        criteria.chains.append(options)
        return True
    if modifier and not (param.type == "reference" and _TYPE_RE.match(modifier)):
        raise InputError(f"modifier :{modifier} is not supported", location=name)
    for value in values:
        parts = _split(value, name)
        if base == "_id":
            criteria.ids = parts if criteria.ids is None else [i for i in criteria.ids if i in parts]
        elif base == "_lastUpdated":
            criteria.last_updated.append(_date_clause(value, name))
        elif param.type == "date":
            criteria.date.append(_date_clause(value, name))
        elif param.type == "token":
            criteria.tokens.append((base, [_token(v, name) for v in parts]))
        elif param.type == "reference":
            criteria.tokens.append((base, [(None, ref) for v in parts for ref in _references(v, param, modifier,
                                                                                             name)]))
        elif param.type == "quantity":
            criteria.quantities.append((base, [_quantity(v, name) for v in parts]))
    return True


def _target_type(param: SearchParam, modifier: str, name: str) -> str:
    if modifier:
        if param.targets and modifier not in param.targets:
            raise InputError(f"{name.split('.')[0]} does not point at {modifier}", location=name)
        return modifier
    if len(param.targets) == 1 or "Patient" in param.targets:
        return param.targets[0] if len(param.targets) == 1 else "Patient"
    raise InputError(f"say which type {name.split('.')[0]} points at, e.g. {name.split('.')[0]}:Patient.<param>",
                     location=name)


def _references(value: str, param: SearchParam, modifier: str, name: str) -> list[str]:
    ref = value.rstrip("/").split("/_history/")[0]
    match = re.search(r"([A-Z][A-Za-z]+)/([A-Za-z0-9\-.]{1,64})$", ref)
    if match:
        rtype, rid = match.groups()
        if modifier and modifier != rtype:
            raise InputError(f"{value!r} is not a {modifier} reference", location=name)
        return [f"{rtype}/{rid}"]
    if not re.fullmatch(r"[A-Za-z0-9\-.]{1,64}", ref):
        raise InputError(f"{value!r} is not a reference", location=name, hint="use Type/id or an id")
    if modifier:
        return [f"{modifier}/{ref}"]
    if not param.targets:
        raise InputError(f"{value!r}: say which type it is ({name}=Type/{ref} or {name}:Type={ref})",
                         location=name)
    return [f"{t}/{ref}" for t in param.targets]


def _split(value: str, name: str) -> list[str]:
    parts = [p.strip() for p in value.split(",")]
    if not value or any(not p for p in parts):
        raise InputError("empty value", location=name)
    return parts


def _date_clause(value: str, name: str) -> DateClause:
    match = _PREFIX_RE.match(value.strip())
    prefix, text = (match.group(1) or "eq", match.group(2)) if match else ("eq", value)
    if prefix == "ap":
        raise InputError("the ap prefix is not supported for dates", location=name)
    try:
        start, end = parse_range(text)
    except ValueError as exc:
        raise InputError(f"{value!r} is not a FHIR date", location=name,
                         hint="use [prefix]YYYY[-MM[-DD[Thh:mm[:ss[.ffffff]]Z]]], e.g. gt2024-05-01T10:00:00Z")\
            from exc
    return DateClause(prefix, start, end)


def _quantity(value: str, name: str) -> QuantityClause:
    number_text, _, unit = value.partition("|")
    match = _PREFIX_RE.match(number_text.strip())
    prefix, text = (match.group(1) or "eq", match.group(2)) if match else ("eq", number_text)
    if prefix in ("sa", "eb"):
        raise InputError(f"the {prefix} prefix is not supported for quantities", location=name)
    try:
        number = Decimal(text)
    except InvalidOperation as exc:
        raise InputError(f"{value!r} is not a quantity", location=name,
                         hint="use [prefix]number[|system|code], e.g. gt100|http://unitsofmeasure.org|U/L") from exc
    if not number.is_finite():
        raise InputError(f"{value!r} is not a finite number", location=name)
    half = Decimal(5).scaleb(number.as_tuple().exponent - 1)  # 100 -> +-0.5, 1.5 -> +-0.05
    if unit and unit.count("|") != 1:
        raise InputError(f"{value!r}: the unit is system|code (system may be empty)", location=name)
    return QuantityClause(prefix, number, number - half, number + half, unit or None)


def _token(value: str, name: str) -> tuple[str | None, str]:
    if "|" in value:
        system, code = value.split("|", 1)
        if not code:
            raise InputError(f"token {value!r} has no code", location=name)
        return system, code
    return None, value


def _include(value: str, name: str, source_type: str | None) -> Include:
    parts = value.split(":")
    if len(parts) not in (2, 3) or not all(parts):
        raise InputError(f"{name}={value!r} is not Type:param[:TargetType]", location=name)
    source, param_name = parts[0], parts[1]
    if source_type is not None and source != source_type:
        raise InputError(f"{name}={value!r}: this search returns {source_type}, not {source}", location=name)
    param = params_of(source).get(param_name) if source in searchable_types() else None
    if param is None or param.type != "reference":
        raise InputError(f"{name}={value!r}: {source} has no reference parameter {param_name!r}", location=name)
    target = parts[2] if len(parts) == 3 else None
    if target and param.targets and target not in param.targets:
        raise InputError(f"{name}={value!r}: {param_name} does not point at {target}", location=name)
    return Include(source, param_name, target, iterate=name.endswith(":iterate"))


def _int(value: str | None, name: str, low: int, high: int) -> int:
    try:
        number = int(value or "")
    except ValueError as exc:
        raise InputError(f"{value!r} is not an integer", location=name) from exc
    if not low <= number <= high:
        raise InputError(f"{number} is out of range {low}..{high}", location=name)
    return number


def _count(value: str | None) -> int:
    if value is None or value == "":
        return DEFAULT_COUNT
    return min(_int(value, "_count", 0, 10**6), MAX_COUNT)


def _sort(value: str | None, resource_type: str) -> list[tuple[str, bool]]:
    if not value:
        return [("_lastUpdated", False)]
    date = date_param(resource_type)
    keys = []
    for part in _split(value, "_sort"):
        desc = part.startswith("-")
        key = part.lstrip("-")
        if date and key == date:
            key = "date"
        if key not in ("_lastUpdated", "_id", "date"):
            raise InputError(f"cannot sort by {part!r}", location="_sort",
                             hint="sort by _lastUpdated, _id" + (f" or {date}" if date else ""))
        keys.append((key, desc))
    return keys
