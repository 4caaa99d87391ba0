"""What changed between two versions of a case, item by item.

Case files (the form's versions) are compared with list items matched by identity (mappings/case_identity.yaml):
a lab value by test and time, a drug by its id, a reaction by its id. An item only in the old version is
removed, only in the new one added, in both with different fields changed (each field shown). Numbers compare
as numbers (120 and 120.0 are the same); fields about the version rather than the case (report.created) are
left out. Versions without a case file (API, E2B import) are compared as Bundles, entries keyed by resource
type and id (test results by test and time, since their ids follow the row order)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Collection
from dataclasses import dataclass
from functools import cache
from typing import Any

from reporter.errors import MappingError
from reporter.store import StoredVersion
from reporter.tables import load_yaml

_VOLATILE = {"meta", "timestamp"}  # change with every store, not with the case
_BUNDLE_IGNORE = {"Composition.date"}  # C.1.2: each version's own creation time


@dataclass(frozen=True)
class Change:
    """One difference: an item added or removed (old or new is its summary), or one field changed."""

    path: str  # where, in the newer version for added/changed items (tests[16].value)
    old: str | None
    new: str | None
    item: str = ""  # "Lab value ALT, 2024-04-02"
    field: str = ""  # "value" (empty for a whole item)
    whole: bool = False  # a whole item added or removed

    @property
    def kind(self) -> str:
        return "added" if self.old is None else "removed" if self.new is None else "changed"


@cache
def identity_table() -> dict[str, Any]:
    raw = load_yaml("case_identity.yaml")
    if not isinstance(raw, dict) or not isinstance(raw.get("lists"), dict):
        raise MappingError("case_identity.yaml needs a lists table", location="mappings/case_identity.yaml")
    return raw


def show(value: Any) -> str:
    """A value as compared and shown: numbers without a trailing .0, booleans as yes/no, others as JSON."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int | float):
        return str(int(value)) if float(value).is_integer() and abs(value) < 1e15 else repr(float(value))
    if isinstance(value, str):
        return value
    if _is_absent(value):
        return f"not given: {_absent_words(value['absent'])}"
    if isinstance(value, dict) and set(value) <= {"value", "unit", "drug", "anchor"} and "value" in value:
        rel = f"{show(value['value'])} {value.get('unit', 'd')}"
        if "drug" in value:
            return f"{rel} after {'last' if value.get('anchor') == 'last-dose' else 'first'} {value['drug']} dose"
        return rel
    return json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)


def _is_absent(value: Any) -> bool:
    """A value the case holds as why it is not known (`{absent: unknown}`): shown in the form's words."""
    return isinstance(value, dict) and set(value) == {"absent"} and isinstance(value["absent"], str)


def _absent_words(reason: str) -> str:
    from reporter.web.caseform import option_label

    return option_label("absent", reason)


def _get(item: Any, dotted: str) -> Any:
    for part in dotted.split("."):
        item = item.get(part) if isinstance(item, dict) else None
    return item


def _key(item: Any, fields: list[str]) -> str | None:
    parts = []
    for spec in fields:
        value = next((v for v in (_get(item, f) for f in spec.split("|")) if v not in (None, "")), None)
        parts.append("" if value is None else show(value))
    return "\x1f".join(parts) if any(parts) else None


def _label(spec: dict[str, Any], item: Any) -> str:
    bits = [show(v) for v in (_get(item, f) for f in spec.get("label", [])) if v not in (None, "")]
    return f"{spec['what']} {', '.join(bits)}".strip()


def _summary(item: Any) -> str:
    """A whole case-file item as one line, its fields named as the form labels them ('MedDRA › Code: ...'),
    a time relative to a drug as it reads ('10 d after first propranolol dose')."""
    flat = flatten(item, keep_whole=lambda v: _is_relative(v) or _is_absent(v))
    return "; ".join(f"{field_label(k)}: {v}" if k else v for k, v in flat.items())


def _shown(value: Any) -> str | None:
    """A field's value as one line: a whole item or group as its summary, a single value (or why it is not
    known) as itself."""
    if value is None:
        return None
    return _summary(value) if isinstance(value, dict | list) and not _is_absent(value) else show(value)


def _is_relative(value: Any) -> bool:
    return isinstance(value, dict) and "drug" in value and set(value) <= {"value", "unit", "drug", "anchor"}


def field_label(path: str) -> str:
    """A case-file path inside an item as the form labels it: 'dosages[1].dose.value' -> 'Dosages 2 › Dose ›
    Value' (the diff showed the raw path)."""
    from reporter.web.caseform import item_label, label_of

    parts: list[str] = []
    names: list[str] = []
    for token in re.findall(r"[^.\[\]]+|\[\d+\]", path):
        if token.startswith("[") and parts:
            parts[-1] = f"{item_label(names[-1])} {int(token[1:-1]) + 1}"
        elif not token.startswith("["):
            parts.append(label_of(token))
            names.append(token)
    return " › ".join(parts)


def flatten(value: Any, path: str = "", out: dict[str, str] | None = None,
            keep_whole: Callable[[Any], bool] | None = None) -> dict[str, str]:
    out = {} if out is None else out
    if keep_whole is not None and keep_whole(value):
        out[path] = show(value)
    elif isinstance(value, dict):
        for key, sub in value.items():
            flatten(sub, f"{path}.{key}" if path else str(key), out, keep_whole)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            flatten(item, f"{path}[{i}]", out, keep_whole)
    elif value is not None:
        out[path] = show(value)
    return out


def _generic(path: str) -> str:
    return re.sub(r"\[\d+\]", "[]", path)


class _Differ:
    def __init__(self) -> None:
        table = identity_table()
        self.lists: dict[str, dict[str, Any]] = table["lists"]
        self.ignore = set(table.get("ignore") or [])
        self.out: list[Change] = []

    def node(self, old: Any, new: Any, path: str, item: str, item_path: str) -> None:
        if _generic(path) in self.ignore:
            return
        if _is_absent(old) or _is_absent(new):
            self.field(old, new, path, item, item_path)
        elif isinstance(old, dict) or isinstance(new, dict):
            old_d = old if isinstance(old, dict) else {}
            new_d = new if isinstance(new, dict) else {}
            if not isinstance(old, dict) or not isinstance(new, dict):
                self.field(old, new, path, item, item_path)
                return
            for key in list(old_d) + [k for k in new_d if k not in old_d]:
                self.node(old_d.get(key), new_d.get(key), f"{path}.{key}" if path else key, item, item_path)
        elif isinstance(old, list) or isinstance(new, list):
            self.sequence(old if isinstance(old, list) else [], new if isinstance(new, list) else [], path,
                          item, item_path)
        else:
            self.field(old, new, path, item, item_path)

    def field(self, old: Any, new: Any, path: str, item: str, item_path: str) -> None:
        a, b = _shown(old), _shown(new)
        if a != b and (a or b):
            rel = path[len(item_path):].lstrip(".") if item_path and path.startswith(item_path) else path
            self.out.append(Change(path, a or None, b or None, item, rel))

    def sequence(self, old: list, new: list, path: str, item: str, item_path: str) -> None:
        spec = self.lists.get(_generic(path))
        if spec is None or not spec.get("key"):
            for i in range(max(len(old), len(new))):
                self.node(old[i] if i < len(old) else None, new[i] if i < len(new) else None, f"{path}[{i}]",
                          item, item_path)
            return
        old_keys = [_key(x, spec["key"]) for x in old]
        new_keys = [_key(x, spec["key"]) for x in new]
        unmatched_old = list(range(len(old)))
        for j, key in enumerate(new_keys):
            i = next((i for i in unmatched_old if key is not None and old_keys[i] == key), None)
            where = f"{path}[{j}]"
            if i is None:
                self.out.append(Change(where, None, _summary(new[j]), _label(spec, new[j]), "", True))
                continue
            unmatched_old.remove(i)
            self.node(old[i], new[j], where, _label(spec, new[j]), where)
        for i in unmatched_old:
            self.out.append(Change(f"{path}[{i}]", _summary(old[i]), None, _label(spec, old[i]), "", True))


def diff_cases(old: dict, new: dict) -> list[Change]:
    differ = _Differ()
    differ.node(old, new, "", "", "")
    return differ.out


# -- Bundles ------------------------------------------------------------------------------------------------

def _entry_name(resource: dict, index: int, composition_tests: set[str]) -> str:
    rtype, rid = resource.get("resourceType"), resource.get("id") or f"entry{index}"
    if rtype == "Observation" and rid in composition_tests:
        code = resource.get("code") or {}
        coding = (code.get("coding") or [{}])[0]
        test = code.get("text") or coding.get("display") or coding.get("code") or rid
        when = resource.get("effectiveDateTime") or show(resource.get("_effectiveDateTime") or "")
        return f"Observation[{test} @ {when}]"
    return f"{rtype}/{rid}"


def bundle_facts(bundle: dict) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in bundle.items():
        if key not in _VOLATILE and key not in ("entry", "id"):
            flatten(value, f"Bundle.{key}", out)
    entries = [e.get("resource") for e in bundle.get("entry") or [] if isinstance(e, dict)]
    tests: set[str] = set()
    for res in entries:
        if isinstance(res, dict) and res.get("resourceType") == "Composition":
            for section in res.get("section") or []:
                for ref in section.get("entry") or [] if _section_is_tests(section) else []:
                    tests.add(str(ref.get("reference", "")).rsplit("/", 1)[-1].rsplit(":", 1)[-1])
    for i, resource in enumerate(entries):
        if not isinstance(resource, dict):
            continue
        name = _entry_name(resource, i, tests)
        if resource.get("resourceType") == "Composition":  # section entries are references to the rest,
            resource = {**resource, "section": [  # compared on their own: keep only titles and texts
                {k: v for k, v in sec.items() if k != "entry"} for sec in resource.get("section") or []
                if isinstance(sec, dict)]}
        for key, value in resource.items():
            if key not in ("resourceType", "id", "meta") and f"{resource.get('resourceType')}.{key}" not in (
                    _BUNDLE_IGNORE):
                flatten(value, f"{name}.{key}", out)
    return out


def _section_is_tests(section: dict) -> bool:
    codes = [c.get("code") for c in (section.get("code") or {}).get("coding") or []]
    title = (section.get("title") or "").lower()
    return "30954-2" in codes or "test" in title or "lab" in title


def diff(old: dict[str, str], new: dict[str, str]) -> list[Change]:
    return [Change(p, old.get(p), new.get(p), p.split(".", 1)[0], p.split(".", 1)[-1])
            for p in sorted(set(old) | set(new), key=_sort_key) if old.get(p) != new.get(p)]


def _sort_key(path: str) -> list[Any]:
    return [int(t) if t.isdecimal() else t for t in re.split(r"[\[\].]+", path) if t]


def version_diff(old: StoredVersion, new: StoredVersion,
                 imported: Collection[int] = ()) -> tuple[str, list[Change]]:
    """('case file' | 'Bundle', changes) between two versions; `imported`: the numbers of versions read from a
    received E2B file, which went through the case model, so their Bundles read back into case files whole and
    compare as the form labels them (as Bundles, a follow-up by E2B showed FHIR paths and the narrative's XHTML)."""
    cases = [_case_data(v, v.version in imported) for v in (old, new)]
    if cases[0] is not None and cases[1] is not None:
        return "case file", diff_cases(cases[0], cases[1])
    return "Bundle", diff(bundle_facts(old.bundle), bundle_facts(new.bundle))


def _case_data(v: StoredVersion, imported: bool) -> dict | None:
    """The version's case file, or for an imported version its Bundle read back into one; else None (a Bundle
    from the API may say what the case model does not hold: it is compared as a Bundle, nothing left unsaid)."""
    if v.casefile is not None:
        return v.casefile
    if not imported:
        return None
    from pydantic import ValidationError

    from reporter.errors import ReporterError
    from reporter.fhir.to_case import bundle_to_case

    try:
        return bundle_to_case(v.bundle).model_dump(mode="json", by_alias=True, exclude_none=True)
    except (ReporterError, ValidationError):
        return None
