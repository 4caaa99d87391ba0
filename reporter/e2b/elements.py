"""Name the E2B(R3) element an XML node carries ("D.2.2a", "G.k.4.r.1b"...).

Driven by the element locations table mappings/e2b/locations.yaml (groups of repeating blocks and, per
element, the node and the attribute or text holding its value): each location is evaluated on the
document and the nodes it finds are labelled. Nodes that no element names are labelled with their
nearest enclosing group ("[drug]"), so reports can still say roughly where they are.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import yaml
from lxml import etree

from reporter.paths import mappings_dir


@cache
def _locations() -> dict[str, Any] | None:
    path = mappings_dir() / "e2b" / "locations.yaml"
    if not path.is_file():
        return None
    return yaml.safe_load(path.read_text(encoding="utf-8"))


@cache
def _compiled(path: str, namespaces: tuple[tuple[str, str], ...]) -> etree.XPath:
    """A location's XPath, compiled once (evaluating a string XPath compiles it on every call)."""
    return etree.XPath(path, namespaces=dict(namespaces))


def _group_order(groups: dict[str, dict[str, str]]) -> list[str]:
    ordered: list[str] = []
    seen: set[str] = set()

    def visit(name: str) -> None:
        if name in seen:
            return
        parent = groups[name].get("parent")
        if parent:
            visit(parent)
        seen.add(name)
        ordered.append(name)

    for name in groups:
        visit(name)
    return ordered


class Labels:
    """Labels of one document: element number per (node, attribute or '#text'), group per node."""

    def __init__(self, root: etree._Element) -> None:
        self.values: dict[tuple[etree._Element, str], str] = {}
        self.nodes: dict[etree._Element, str] = {}
        self.groups: dict[etree._Element, str] = {}
        table = _locations()
        if table is None:
            return
        ns = tuple(sorted(table.get("namespaces", {}).items()))
        groups: dict[str, dict[str, str]] = table.get("groups", {})
        instances: dict[str, list[etree._Element]] = {}
        doc_root = root.getroottree().getroot()
        for name in _group_order(groups):
            spec = groups[name]
            parents = instances.get(spec["parent"], []) if spec.get("parent") else [doc_root]
            found: list[etree._Element] = []
            for parent in parents:
                try:
                    hits = _compiled(spec["path"], ns)(parent)
                except etree.XPathError:
                    continue
                found += [h for h in hits if isinstance(h, etree._Element)]
            instances[name] = found
            for node in found:
                self.groups.setdefault(node, name)
        for number, spec in table.get("elements", {}).items():
            value = spec.get("value", "text()")
            key = "#text" if value == "text()" else value.lstrip("@").replace("xsi:", "xsi:")
            for instance in instances.get(spec["group"], []):
                try:
                    hits = _compiled(spec["node"], ns)(instance)
                except etree.XPathError:
                    continue
                for node in hits:
                    if isinstance(node, etree._Element):
                        self.values.setdefault((node, key), number)
                        self.nodes.setdefault(node, number)

    def label(self, node: etree._Element, attribute: str | None = None) -> str:
        """The element number for a value (or, failing that, for the node, or its enclosing group)."""
        if attribute is not None:
            hit = self.values.get((node, attribute))
            if hit:
                return hit
        hit = self.nodes.get(node)
        if hit:
            return hit
        current: etree._Element | None = node
        while current is not None:
            group = self.groups.get(current)
            if group:
                return f"[{group}]"
            current = current.getparent()
        return "[header]"


def label_element(node: etree._Element) -> str | None:
    """The element number (or group) of a single node; builds the labels of its whole document."""
    labels = Labels(node.getroottree().getroot())
    result = labels.label(node)
    return result if result != "[header]" or labels.groups else None
