"""One walk over a Bundle's resources, shared by the validation layers: every JSON object with its
FHIRPath-like location. Walking once instead of once per layer keeps validation cheap."""

from __future__ import annotations

from typing import Any

Node = tuple[str, dict[str, Any]]


def walk_bundle(bundle: dict[str, Any]) -> list[Node]:
    out: list[Node] = []
    append = out.append

    def visit(node: Any, path: str) -> None:
        if isinstance(node, dict):
            append((path, node))
            for key, value in node.items():
                if isinstance(value, dict | list):
                    visit(value, f"{path}.{key}")
        elif isinstance(node, list):
            for i, item in enumerate(node):
                if isinstance(item, dict | list):
                    visit(item, f"{path}[{i}]")

    entries = bundle.get("entry")
    for i, entry in enumerate(entries if isinstance(entries, list) else []):
        resource = entry.get("resource") if isinstance(entry, dict) else None
        if isinstance(resource, dict):
            visit(resource, f"Bundle.entry[{i}].resource.ofType({resource.get('resourceType', '?')})")
    return out
