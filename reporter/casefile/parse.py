"""Read a case file (JSON or YAML) into the model, with every problem located by field path and line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from reporter import limits, yaml12
from reporter.casefile.model import CaseFile
from reporter.errors import CaseFileError, InputError

MAX_CASE_FILE_BYTES = 5 * 1024 * 1024




def _line_index(text: str) -> dict[tuple[Any, ...], int]:
    """Map each field path (as a tuple of keys and indexes) to its 1-based line in the text."""
    try:
        root = yaml12.compose(text)
    except yaml.YAMLError:
        return {}
    index: dict[tuple[Any, ...], int] = {}

    def walk(node: yaml.Node, path: tuple[Any, ...]) -> None:
        index[path] = node.start_mark.line + 1
        if isinstance(node, yaml.MappingNode):
            for key_node, value_node in node.value:
                key = key_node.value
                index[(*path, key)] = key_node.start_mark.line + 1
                walk(value_node, (*path, key))
                index[(*path, key)] = key_node.start_mark.line + 1
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                walk(item, (*path, i))

    if root is not None:
        walk(root, ())
    return index


def format_path(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out or "(case file)"


def _clean_loc(loc: tuple[Any, ...]) -> tuple[Any, ...]:
    """Drop pydantic's union-branch labels (e.g. 'str', 'Absent', 'function-before[...]')."""
    return tuple(part for part in loc if not _is_branch_label(part))


def _is_branch_label(part: Any) -> bool:
    return isinstance(part, str) and (
        part[:1].isupper() or "[" in part or part in {"str", "float", "int", "bool", "list", "dict"})


def branch_errors(errors: list[Any]) -> list[Any]:
    """Of pydantic's errors for a value that no branch of a union accepts (one set per branch), only those of
    the branch the value was meant for: the one whose fields the value uses (fewest unknown fields), that takes
    its shape (no type error at the union itself), with the fewest errors; ties go to the earlier branch.
    `{value: twenty, unit: d}` for an onset is then 'not a number' at onset.value, not also 'required' at
    onset.absent and 'unknown field' at onset.unit from the shape of an absent reason. Order is kept."""
    chosen = {id(err) for err in _chosen(errors, 0)}
    return [err for err in errors if id(err) in chosen]


def _chosen(errors: list[Any], start: int) -> list[Any]:
    kept: list[Any] = []
    unions: dict[tuple[Any, ...], dict[Any, list[Any]]] = {}
    for err in errors:
        loc = tuple(err["loc"])
        index = next((i for i in range(start, len(loc)) if _is_branch_label(loc[i])), None)
        if index is None:
            kept.append(err)
        else:
            unions.setdefault(loc[:index], {}).setdefault(loc[index], []).append(err)
    for prefix, branches in unions.items():
        index = len(prefix)

        def misfit(errs: list[Any], index: int = index) -> tuple[int, int, int]:
            unknown = sum(e["type"] == "extra_forbidden" for e in errs)
            wrong_shape = any(len(e["loc"]) == index + 1 and e["type"].endswith("_type") for e in errs)
            return unknown, int(wrong_shape), len(errs)

        kept += _chosen(min(branches.values(), key=misfit), index + 1)
    return kept


_NOT_A_NUMBER = {"float_parsing", "int_parsing", "decimal_parsing", "float_type", "int_type", "int_from_float"}


def model_message(err: Any) -> str:
    """A model error's message in the user's terms: what was given and what it is not."""
    if err["type"] in _NOT_A_NUMBER and isinstance(err.get("input"), str):
        return f"{err['input']!r} is not a number" + (" (a whole number is needed)" if "int" in err["type"] else "")
    return err["msg"].removeprefix("Value error, ")


_DATE_BRANCH = "function-before[_coerce_partial_date()"


def _date_or_absent_errors(errors: list[Any]) -> dict[tuple[Any, ...], str]:
    """Fields that take a date or {absent: ...} given something else (a mapping, a number): location ->
    one message, instead of one per branch ('a valid string', 'absent: required', 'value: unknown field'...)."""
    out: dict[tuple[Any, ...], str] = {}
    for err in errors:
        raw = tuple(err["loc"])
        if err["type"] != "string_type" or not raw or not str(raw[-1]).startswith(_DATE_BRANCH):
            continue
        given = err.get("input")
        relative = isinstance(given, dict) and "drug" in given
        out[_clean_loc(raw)] = (
            "this field takes a date (YYYY, YYYY-MM or YYYY-MM-DD) or {absent: <reason>}"
            + (", not a time relative to a drug (E2B takes a date here): give the date if the source has it, "
               "else {absent: unknown}, and say the relative time in the narrative" if relative else ""))
    for err in errors:  # a field that also takes a relative time (a reaction's onset) keeps its own messages
        raw = tuple(err["loc"])
        if "RelativeTime" in raw:
            out.pop(_clean_loc(raw[:raw.index("RelativeTime")]), None)
    return out


def _date_or_absent_field(raw: tuple[Any, ...], dates: dict[tuple[Any, ...], str]) -> tuple[Any, ...] | None:
    """The date-or-absent field an error of one of its union branches belongs to, if any."""
    branch = next((j for j, part in enumerate(raw) if part == "Absent" or str(part).startswith(_DATE_BRANCH)), None)
    field = _clean_loc(raw[:branch]) if branch is not None else None
    return field if field in dates else None


def _problems_from(exc: ValidationError, lines: dict[tuple[Any, ...], int]) -> list[tuple[str, str]]:
    problems: dict[str, str] = {}
    errors = exc.errors(include_url=False)
    dates = _date_or_absent_errors(errors)
    for err in branch_errors(errors):
        raw = tuple(err["loc"])
        field = _date_or_absent_field(raw, dates)
        if field is not None:
            err = {**err, "loc": field, "type": "date_or_absent", "msg": dates[field]}
            raw = field
        # an unknown field's own name is the user's key, whatever its case ("Sex"): kept
        loc = (*_clean_loc(raw[:-1]), raw[-1]) if err["type"] == "extra_forbidden" and raw else _clean_loc(raw)
        where = format_path(loc)
        probe = loc
        while probe not in lines and probe:
            probe = probe[:-1]
        line = lines.get(probe)
        key = f"{where} (line {line})" if line else where
        message = model_message(err)
        if err["type"] == "extra_forbidden":
            message = _unknown_field_message(str(raw[-1]) if raw else "", err.get("input"))
        elif err["type"] == "missing":
            message = "required field is missing"
        # A union gives one error per branch; keep the first, most specific one per location.
        problems.setdefault(key, message)
    return list(problems.items())


_RELATIVE_ONLY = frozenset({"qualifier", "as_stated"})  # RelativeTime's words, not a plain Quantity's


def _unknown_field_message(name: str, value: Any) -> str:
    """An unknown field; one with no value is most often the end of an unquoted text cut at a comma
    (`form: {text: eye drops, suspension}` reads as a field 'suspension'), and the message says so."""
    message = "unknown field (check the spelling against `reporter schema`)"
    if name in _RELATIVE_ONLY:
        return message + (f"; '{name}' belongs to a time relative to a drug (a reaction's onset or end, a "
                          "dosage's start or stop): this field is a number and a unit, as E2B sends it; give the "
                          "author's qualifier or words there, or in the narrative")
    if value is None and name:
        message += (f"; '{name}' has no value: if it is the end of a text, quote the whole text (inside {{ }} a "
                    f'comma starts a new field: text: "..., {name}")')
    return message


_FHIR_XML_NS = 'xmlns="http://hl7.org/fhir"'


def _yaml_hint(problem: str) -> str | None:
    """What usually causes a YAML error in a case file, said with the fix."""
    if "expected ',' or '}'" in problem or "expected ',' or ']'" in problem:
        return ('inside { } or [ ], quote a value that holds [ ] { } , or ": " (a UCUM unit such as '
                'unit: "mm[Hg]" or "[IU]/L", a text with a comma)')
    return None


def load_data(text: str, source: str = "<input>") -> dict[str, Any]:
    """Parse JSON or YAML text into a mapping; syntax errors name the line and column. A FHIR resource in FHIR
    XML (an ICSR Bundle as a server's XML export gives it) is read as its FHIR JSON."""
    stripped = text.lstrip("\ufeff \t\r\n")
    if stripped.startswith("<"):
        if _FHIR_XML_NS not in stripped[:4096]:
            raise InputError("this is XML, not a case file or a FHIR Bundle", location=source,
                             hint="E2B(R3) XML is read by `reporter import FILE.xml`")
        from reporter.fhir.models import from_xml

        try:
            data = from_xml(text.encode("utf-8"))
        except ValueError as exc:
            raise InputError(f"invalid FHIR XML: {exc}", location=source) from None
        limits.check_depth(data, location=source)
    elif stripped.startswith("{"):
        try:
            data = limits.parse_json(text, location=source)
        except json.JSONDecodeError as exc:
            raise InputError(f"invalid JSON: {exc.msg}", location=f"{source}:{exc.lineno}:{exc.colno}") from None
        except ValueError as exc:  # e.g. an integer of more than 4300 digits
            raise InputError(f"invalid JSON: {exc}", location=source) from None
    else:
        try:
            data = yaml12.load(text, source)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f"{source}:{mark.line + 1}:{mark.column + 1}" if mark else source
            problem = getattr(exc, "problem", None) or str(exc)
            raise InputError(f"invalid YAML: {problem}", location=where, hint=_yaml_hint(problem)) from None
    if not isinstance(data, dict):
        raise InputError(f"expected a mapping at the top level, found {type(data).__name__}", location=source)
    # parse_json bounded the depth already; the YAML reader bounds it as it reads (yaml_depth), so a second
    # walk is needed only when yaml_depth allows more than json_depth
    if not stripped.startswith("{") and limits.yaml_depth() > limits.limit("json_depth"):
        limits.check_depth(data, location=source)
    limits.check_text(data, source)
    return data


def parse_case(text: str, source: str = "<input>") -> CaseFile:
    return case_from_data(load_data(text, source), text, source)


def case_from_data(data: dict[str, Any], text: str, source: str = "<input>") -> CaseFile:
    """The case model of data load_data read from `text` (the text names the lines of its problems)."""
    try:
        return CaseFile.model_validate(data)
    except ValidationError as exc:
        raise CaseFileError(_problems_from(exc, _line_index(text)), source=source) from None


def check_size(p: Path, limit: int) -> None:
    """InputError (naming the file) when it cannot be read or is over `limit` bytes: checked before reading."""
    try:
        size = p.stat().st_size
    except OSError as exc:
        raise InputError(f"cannot read file: {exc.strerror}", location=str(p)) from None
    if size > limit:
        raise InputError(f"file is {size} bytes, more than the {limit}-byte limit", location=str(p))


def read_text(path: str | Path, limit: int = MAX_CASE_FILE_BYTES) -> str:
    p = Path(path)
    check_size(p, limit)
    try:
        return p.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"not UTF-8 text (byte {exc.start})", location=str(p)) from None
    except OSError as exc:
        raise InputError(f"cannot read file: {exc.strerror}", location=str(p)) from None


def load_case(path: str | Path) -> CaseFile:
    return parse_case(read_text(path), str(path))


def json_schema() -> dict[str, Any]:
    schema = CaseFile.model_json_schema(by_alias=True)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = "https://github.com/fhir-ae-reporter/schema/case-1.json"
    return schema
