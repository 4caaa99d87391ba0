"""FHIR search parameters -> store Criteria. Every bad value is an InputError naming the parameter."""

from __future__ import annotations

import re
from dataclasses import dataclass

from werkzeug.datastructures import MultiDict

from reporter.errors import InputError
from reporter.store import Criteria, DateClause
from reporter.store.fhirdates import parse_range

MAX_COUNT = 100
DEFAULT_COUNT = 20
_PREFIX_RE = re.compile(r"^(eq|ne|gt|lt|ge|le|sa|eb)?(.+)$")
_COMMON = ("_id", "_lastUpdated", "identifier")
# Control parameters: not criteria, never reported as unknown.
CONTROL = frozenset({"_count", "_sort", "_format", "_cursor", "_offset", "_total", "_pretty", "_summary",
                     "_elements"})


@dataclass(frozen=True)
class TypeParams:
    date: str | None  # the name of the date parameter for this type
    patient: bool
    code: tuple[str, ...]  # token parameter names meaning "code"
    extra_tokens: tuple[str, ...] = ()


SEARCHABLE: dict[str, TypeParams] = {
    "Bundle": TypeParams("timestamp", True, ()),
    "AdverseEvent": TypeParams("date", True, ("code", "event"), ("seriousness",)),
    "Patient": TypeParams("birthdate", False, ()),
    "MedicationStatement": TypeParams("date", True, ("code",)),
    "Observation": TypeParams("date", True, ("code",)),
    "Condition": TypeParams("date", True, ("code",)),
    "Composition": TypeParams("date", True, ("code", "type")),
}


def supported_params(resource_type: str) -> list[tuple[str, str]]:
    """(name, FHIR search param type) for the CapabilityStatement."""
    spec = SEARCHABLE[resource_type]
    out = [("_id", "token"), ("_lastUpdated", "date"), ("identifier", "token")]
    if spec.date:
        out.append((spec.date, "date"))
    if spec.patient:
        out += [("patient", "reference"), ("subject", "reference")]
    out += [(name, "token") for name in (*spec.code, *spec.extra_tokens)]
    return out


def parse_search(resource_type: str, args: MultiDict, *, strict: bool = False) -> tuple[Criteria, list[str]]:
    """Criteria for `args`, and the names of parameters applied (for the self link).

    Unknown parameters are ignored (FHIR's lenient default) unless `strict` (Prefer: handling=strict)."""
    spec = SEARCHABLE[resource_type]
    criteria = Criteria()
    used: list[str] = []
    code_names = set(spec.code)
    for name in args:
        values = args.getlist(name)
        base, _, modifier = name.partition(":")
        if name in CONTROL:
            continue
        if modifier and not (base in ("patient", "subject") and modifier == "Patient"):
            raise InputError(f"modifier :{modifier} is not supported", location=name)
        if base == "_id":
            ids = [v for value in values for v in _split(value, name)]
            criteria.ids = ids if criteria.ids is None else [i for i in criteria.ids if i in ids]
        elif base == "_lastUpdated":
            criteria.last_updated += [_date_clause(v, name) for v in values]
        elif base == spec.date:
            criteria.date += [_date_clause(v, name) for v in values]
        elif base in ("patient", "subject") and spec.patient:
            criteria.patient += [[_patient_ref(v, name) for v in _split(value, name)] for value in values]
        elif base in code_names:
            criteria.tokens += [("code", [_token(v, name) for v in _split(value, name)]) for value in values]
        elif base in spec.extra_tokens or base == "identifier":
            criteria.tokens += [(base, [_token(v, name) for v in _split(value, name)]) for value in values]
        else:
            if strict:
                raise InputError(f"search parameter {name!r} is not supported for {resource_type}",
                                 location=name,
                                 hint="supported: " + ", ".join(n for n, _ in supported_params(resource_type)))
            continue
        used.append(name)
    criteria.count = _count(args.get("_count"))
    criteria.sort = _sort(args.get("_sort"), spec)
    criteria.cursor = args.get("_cursor") or None
    criteria.offset = _int(args.get("_offset"), "_offset", 0, 10**9) if args.get("_offset") else 0
    criteria.with_total = args.get("_total", "accurate") != "none"
    return criteria, used


def _split(value: str, name: str) -> list[str]:
    parts = [p.strip() for p in value.split(",")]
    if not value or any(not p for p in parts):
        raise InputError("empty value", location=name)
    return parts


def _date_clause(value: str, name: str) -> DateClause:
    match = _PREFIX_RE.match(value.strip())
    prefix, text = (match.group(1) or "eq", match.group(2)) if match else ("eq", value)
    try:
        start, end = parse_range(text)
    except ValueError as exc:
        raise InputError(f"{value!r} is not a FHIR date", location=name,
                         hint="use [prefix]YYYY[-MM[-DD[Thh:mm[:ss[.ffffff]]Z]]], e.g. gt2024-05-01T10:00:00Z")\
            from exc
    return DateClause(prefix, start, end)


def _patient_ref(value: str, name: str) -> str:
    ref = value.rstrip("/")
    if "/Patient/" in ref:
        ref = "Patient/" + ref.rsplit("/Patient/", 1)[1]
    elif not ref.startswith("Patient/"):
        if "/" in ref:
            raise InputError(f"{value!r} is not a Patient reference", location=name)
        ref = f"Patient/{ref}"
    if "/_history/" in ref:
        ref = ref.split("/_history/")[0]
    return ref


def _token(value: str, name: str) -> tuple[str | None, str]:
    if "|" in value:
        system, code = value.split("|", 1)
        if not code:
            raise InputError(f"token {value!r} has no code", location=name)
        return system, code
    return None, value


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


def _sort(value: str | None, spec: TypeParams) -> list[tuple[str, bool]]:
    if not value:
        return [("_lastUpdated", False)]
    keys = []
    for part in _split(value, "_sort"):
        desc = part.startswith("-")
        key = part.lstrip("-")
        if key == spec.date:
            key = "date"
        if key not in ("_lastUpdated", "_id", "date"):
            raise InputError(f"cannot sort by {part!r}", location="_sort",
                             hint=f"sort by _lastUpdated, _id or {spec.date}")
        keys.append((key, desc))
    return keys
