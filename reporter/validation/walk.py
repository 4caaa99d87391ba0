"""One walk over a Bundle's resources, shared by the validation layers: every JSON object with its
FHIRPath-like location. Walking once instead of once per layer keeps validation cheap."""

from __future__ import annotations

from typing import Any

Node = tuple[str, dict[str, Any]]


def walk_bundle(bundle: dict[str, Any]) -> list[Node]:
    out: list[Node] = []
    append = out.append

    def visit(node: dict[str, Any], path: str) -> None:
        append((path, node))
        for key, value in node.items():
            kind = value.__class__
            if kind is dict:
                visit(value, f"{path}.{key}")
            elif kind is list:
                for i, item in enumerate(value):
                    if item.__class__ is dict:
                        visit(item, f"{path}.{key}[{i}]")
                    elif item.__class__ is list:  # not FHIR, but walked like before
                        visit_list(item, f"{path}.{key}[{i}]")

    def visit_list(items: list[Any], path: str) -> None:
        for i, item in enumerate(items):
            if item.__class__ is dict:
                visit(item, f"{path}[{i}]")
            elif item.__class__ is list:
                visit_list(item, f"{path}[{i}]")

    entries = bundle.get("entry")
    for i, entry in enumerate(entries if isinstance(entries, list) else []):
        resource = entry.get("resource") if isinstance(entry, dict) else None
        if resource.__class__ is dict:
            visit(resource, f"Bundle.entry[{i}].resource.ofType({resource.get('resourceType', '?')})")
    return out
