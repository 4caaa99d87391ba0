"""Field-level differences between two versions of a case.

Both versions flattened to path -> value: their case files when both have one (paths as in the form,
e.g. ``reactions[0].outcome``), else their Bundles, with entries keyed by resource type and id rather than
position (``AdverseEvent/abc.outcome.coding[0].code``) so an inserted resource does not shift the rest."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from reporter.store import StoredVersion

_VOLATILE = {"meta", "timestamp"}  # change with every store, not with the case


@dataclass(frozen=True)
class Change:
    path: str
    old: str | None
    new: str | None

    @property
    def kind(self) -> str:
        return "added" if self.old is None else "removed" if self.new is None else "changed"


def flatten(value: Any, path: str = "", out: dict[str, str] | None = None) -> dict[str, str]:
    out = {} if out is None else out
    if isinstance(value, dict):
        for key, sub in value.items():
            flatten(sub, f"{path}.{key}" if path else str(key), out)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            flatten(item, f"{path}[{i}]", out)
    elif value is not None:
        out[path] = "true" if value is True else "false" if value is False else str(value)
    return out


def bundle_facts(bundle: dict) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in bundle.items():
        if key not in _VOLATILE and key not in ("entry", "id"):
            flatten(value, f"Bundle.{key}", out)
    for i, entry in enumerate(bundle.get("entry") or []):
        resource = entry.get("resource") if isinstance(entry, dict) else None
        if not isinstance(resource, dict):
            continue
        name = f"{resource.get('resourceType')}/{resource.get('id') or f'entry{i}'}"
        for key, value in resource.items():
            if key not in ("resourceType", "id", "meta"):
                flatten(value, f"{name}.{key}", out)
    return out


def diff(old: dict[str, str], new: dict[str, str]) -> list[Change]:
    changes = [Change(p, old.get(p), new.get(p)) for p in sorted(set(old) | set(new), key=_sort_key)
               if old.get(p) != new.get(p)]
    return changes


def _sort_key(path: str) -> list[Any]:
    import re

    return [int(t) if t.isdecimal() else t for t in re.split(r"[\[\].]+", path) if t]


def version_diff(old: StoredVersion, new: StoredVersion) -> tuple[str, list[Change]]:
    """('case file' | 'Bundle', changes) between two versions."""
    if old.casefile is not None and new.casefile is not None:
        return "case file", diff(flatten(old.casefile), flatten(new.casefile))
    return "Bundle", diff(bundle_facts(old.bundle), bundle_facts(new.bundle))
