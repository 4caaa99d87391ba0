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
    """Labels of one document: element number per (node, attribute or '#text'), group per node.

    Group instances are found when made; an element's nodes only when a label asks for an element whose
    location ends at that node's tag (a document's not-mapped facts need few of its elements)."""

    def __init__(self, root: etree._Element) -> None:
        self.groups: dict[etree._Element, str] = {}
        self._instances: dict[str, list[etree._Element]] = {}
        self._by_tag: dict[str | None, list[tuple[str, str, str, str]]] = {}  # see _candidates
        self._hits: dict[str, set[etree._Element]] = {}
        table = _locations()
        if table is None:
            return
        self._ns = tuple(sorted(table.get("namespaces", {}).items()))
        groups: dict[str, dict[str, str]] = table.get("groups", {})
        doc_root = root.getroottree().getroot()
        for name in _group_order(groups):
            spec = groups[name]
            parents = self._instances.get(spec["parent"], []) if spec.get("parent") else [doc_root]
            found: list[etree._Element] = []
            for parent in parents:
                try:
                    hits = _compiled(spec["path"], self._ns)(parent)
                except etree.XPathError:
                    continue
                found += [h for h in hits if isinstance(h, etree._Element)]
            self._instances[name] = found
            for node in found:
                self.groups.setdefault(node, name)
        self._by_tag = _elements_by_tag(self._ns)

    def _candidates(self, node: etree._Element) -> list[tuple[str, str, str, str]]:
        """(number, value key, group, node path) of the elements that may name `node`, in table order:
        those whose location ends at its tag, and those whose last step names no tag."""
        wild = self._by_tag.get(None, [])
        exact = self._by_tag.get(node.tag, []) if isinstance(node.tag, str) else []
        if not wild or not exact:
            return exact or wild
        order = _element_order()
        return sorted([*exact, *wild], key=lambda c: order[c[0]])

    def _nodes_of(self, number: str, group: str, path: str) -> set[etree._Element]:
        found = self._hits.get(number)
        if found is None:
            found = self._hits[number] = set()
            for instance in self._instances.get(group, []):
                try:
                    hits = _compiled(path, self._ns)(instance)
                except etree.XPathError:
                    continue
                found.update(h for h in hits if isinstance(h, etree._Element))
        return found

    def _named_place(self, node: etree._Element) -> str | None:
        """The name of a place no E2B element is at where some senders put a value (locations.yaml `named_places`:
        a country in a dosage's performer), so that a value there is listed by a name a reader can find."""
        for i, place in enumerate((_locations() or {}).get("named_places") or ()):
            if node in self._nodes_of(f"named place {i}", place["group"], place["node"]):
                return str(place["name"])
        return None

    def label(self, node: etree._Element, attribute: str | None = None) -> str:
        """The element number for a value (or, failing that, for the node, or its enclosing group)."""
        candidates = self._candidates(node)
        if attribute is not None:
            for number, key, group, path in candidates:
                if key == attribute and node in self._nodes_of(number, group, path):
                    return number
        for number, _, group, path in candidates:
            if node in self._nodes_of(number, group, path):
                return number
        named = self._named_place(node)
        if named:
            return named
        current: etree._Element | None = node
        while current is not None:
            group = self.groups.get(current)
            if group:
                return f"[{group}]"
            current = current.getparent()
        return "[header]"


@cache
def _element_order() -> dict[str, int]:
    table = _locations() or {}
    return {number: i for i, number in enumerate(table.get("elements", {}))}


@cache
def _elements_by_tag(ns: tuple[tuple[str, str], ...]) -> dict[str | None, list[tuple[str, str, str, str]]]:
    """The located elements of the table by the tag their location ends at (None: a last step that names
    no tag, such as `..` or `*`), each list in table order."""
    table = _locations() or {}
    namespaces = dict(ns)
    found: dict[str | None, list[tuple[str, str, str, str]]] = {}
    for number, spec in table.get("elements", {}).items():
        if "node" not in spec or "group" not in spec:
            continue
        value = spec.get("value", "text()")
        key = "#text" if value == "text()" else value.lstrip("@")
        last = _last_step(spec["node"]).split("[", 1)[0]
        prefix, _, name = last.partition(":")
        tag = f"{{{namespaces[prefix]}}}{name}" if name.isidentifier() and prefix in namespaces else None
        found.setdefault(tag, []).append((number, key, spec["group"], spec["node"]))
    return found


def _last_step(path: str) -> str:
    depth, start = 0, 0
    for i, ch in enumerate(path):
        depth += (ch == "[") - (ch == "]")
        if ch == "/" and depth == 0:
            start = i + 1
    return path[start:]


def label_element(node: etree._Element) -> str | None:
    """The element number (or group) of a single node; builds the labels of its whole document."""
    labels = Labels(node.getroottree().getroot())
    result = labels.label(node)
    return result if result != "[header]" or labels.groups else None
