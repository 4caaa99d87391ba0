"""What the store indexes of a Bundle: one entry per resource, with its search values.

The search parameters come from mappings/fhir_search.yaml (reporter.store.searchparams); the resources indexed
are the standalone forms (server ids, `Type/id` references, see reporter.store.localize), so that a reference
parameter's value is the same `Type/id` a client reads in the served resource.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from reporter.store.fhirdates import parse_range
from reporter.store.localize import Localized
from reporter.store.searchparams import EXTENSION_STEP, SearchParam, params_of
from reporter.tables import ext

_INDEXED = re.compile(r"^(.+)\[(\d+)\]$")


@dataclass
class IndexEntry:
    resource_type: str
    resource_id: str
    resource: dict
    patient: str | None = None
    date_start: datetime | None = None
    date_end: datetime | None = None
    tokens: list[tuple[str, str, str]] = field(default_factory=list)  # (param, system, code)


def composition(bundle: dict) -> dict | None:
    entries = bundle.get("entry") or []
    first = entries[0].get("resource") if entries and isinstance(entries[0], dict) else None
    return first if isinstance(first, dict) and first.get("resourceType") == "Composition" else None


def values_at(resource: Any, path: str) -> list[Any]:
    """The values at a dotted element path (`effective[x]` for a choice element, `entry[0]` for one item,
    `extension:case_identifier` for the extensions of one URL, named by its key in mappings/fhir.yaml)."""
    current = [resource]
    for step in path.split("."):
        found: list[Any] = []
        indexed = _INDEXED.match(step)
        url = ext(step[len(EXTENSION_STEP):]) if step.startswith(EXTENSION_STEP) else None
        for node in current:
            if not isinstance(node, dict):
                continue
            if url is not None:
                items = node.get("extension")
                found += [e for e in items if isinstance(e, dict) and e.get("url") == url] \
                    if isinstance(items, list) else []
            elif step.endswith("[x]"):
                stem = step[:-3]
                found += [v for k, v in node.items() if k.startswith(stem) and k[len(stem):][:1].isupper()]
            elif indexed:
                items = node.get(indexed.group(1))
                position = int(indexed.group(2))
                if isinstance(items, list) and position < len(items):
                    found.append(items[position])
            elif step in node:
                found.append(node[step])
        current = [item for value in found for item in (value if isinstance(value, list) else [value])]
    return current


def _token_values(value: Any) -> list[tuple[str, str]]:
    if isinstance(value, bool):
        return [("", "true" if value else "false")]
    if isinstance(value, str):
        return [("", value)]
    if not isinstance(value, dict):
        return []
    if isinstance(value.get("coding"), list):  # CodeableConcept
        return [pair for coding in value["coding"] for pair in _token_values(coding)]
    if value.get("code") is not None and "value" not in value:  # Coding
        return [(str(value.get("system") or ""), str(value["code"]))]
    if value.get("value") is not None:  # Identifier
        return [(str(value.get("system") or ""), str(value["value"]))]
    return []


def _reference_values(value: Any, param: SearchParam) -> list[str]:
    if isinstance(value, dict) and value.get("resourceType") and value.get("id"):  # Bundle.entry[0].resource
        refs = [f"{value['resourceType']}/{value['id']}"]
    elif isinstance(value, dict) and isinstance(value.get("reference"), str):
        refs = [value["reference"].split("/_history/")[0]]
    else:
        return []
    return [r for r in refs if not param.targets or r.split("/", 1)[0] in param.targets]


def _quantity_values(value: Any) -> list[tuple[str, str]]:
    if not isinstance(value, dict) or isinstance(value.get("value"), bool):
        return []
    try:
        number = Decimal(str(value.get("value")))
    except (InvalidOperation, ValueError):
        return []
    units = {f"{value.get('system') or ''}|{value.get('code') or ''}"}
    if value.get("unit") and not value.get("code"):
        units.add(f"|{value['unit']}")
    return [(unit, format(number.normalize(), "f")) for unit in sorted(units)]


def _date_range(values: list[Any]) -> tuple[datetime | None, datetime | None]:
    for value in values:
        try:
            if isinstance(value, str):
                return parse_range(value)
            if isinstance(value, dict) and (value.get("start") or value.get("end")):
                start = parse_range(value["start"])[0] if value.get("start") else None
                end = parse_range(value["end"])[1] if value.get("end") else None
                return start, end
        except ValueError:
            continue  # a malformed date is the validator's business; it is just not searchable
    return None, None


def index_resource(resource: dict) -> IndexEntry:
    """The search values of one resource (its standalone form)."""
    rtype = str(resource["resourceType"])
    item = IndexEntry(rtype, str(resource["id"]), resource)
    for name, param in params_of(rtype).items():
        if not param.paths:
            continue
        values = [v for path in param.paths for v in values_at(resource, path)]
        if param.type == "date":
            item.date_start, item.date_end = _date_range(values)
        elif param.type == "token":
            item.tokens += [(name, s, c) for v in values for s, c in _token_values(v)]
        elif param.type == "reference":
            item.tokens += [(name, "", ref) for v in values for ref in _reference_values(v, param)]
        elif param.type == "quantity":
            item.tokens += [(name, s, c) for v in values for s, c in _quantity_values(v)]
    item.tokens = list(dict.fromkeys(item.tokens))
    if rtype == "Patient":
        item.patient = f"Patient/{resource['id']}"
    else:
        item.patient = next((c for p, _, c in item.tokens
                             if p in ("patient", "subject") and c.startswith("Patient/")), None)
    return item


def index_bundle(localized: Localized) -> list[IndexEntry]:
    """Index entries for the Bundle itself and every entry resource (all have server ids by now)."""
    bundle = localized.bundle
    bundle_entry = index_resource(bundle)
    comp = composition(bundle)
    if comp is not None:
        subject = (comp.get("subject") or {}).get("reference")
        target = localized.targets.get(subject) if isinstance(subject, str) else None
        bundle_entry.patient = target if target and target.startswith("Patient/") else None
    out = [bundle_entry]
    for entry in bundle.get("entry") or []:
        resource = entry.get("resource") if isinstance(entry, dict) else None
        if isinstance(resource, dict) and resource.get("id") and resource.get("resourceType"):
            out.append(index_resource(localized.standalone(resource)))
    return out
