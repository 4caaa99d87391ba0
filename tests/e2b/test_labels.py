"""Element labels (reporter/e2b/elements.py) are found lazily, per element whose location ends at the
node's tag; they must be exactly the labels of evaluating every location on every group instance."""

from __future__ import annotations

from pathlib import Path

from lxml import etree

from reporter.e2b.elements import Labels, _group_order, _locations

GOLDEN = Path(__file__).parents[1] / "golden" / "e2b"
INPUTS = Path(__file__).parent / "inputs"


def _every_location(root: etree._Element) -> tuple[dict, dict, dict]:
    """(node, attribute) -> element, node -> element, node -> group: every location, in table order."""
    table = _locations()
    ns = table["namespaces"]
    instances: dict[str, list[etree._Element]] = {}
    groups: dict[etree._Element, str] = {}
    for name in _group_order(table["groups"]):
        spec = table["groups"][name]
        parents = instances.get(spec["parent"], []) if spec.get("parent") else [root]
        instances[name] = [n for p in parents for n in p.xpath(spec["path"], namespaces=ns)
                           if isinstance(n, etree._Element)]
        for node in instances[name]:
            groups.setdefault(node, name)
    values: dict[tuple[etree._Element, str], str] = {}
    nodes: dict[etree._Element, str] = {}
    for number, spec in table["elements"].items():
        key = spec.get("value", "text()")
        key = "#text" if key == "text()" else key.lstrip("@")
        for inst in instances.get(spec["group"], []):
            for node in inst.xpath(spec["node"], namespaces=ns):
                if isinstance(node, etree._Element):
                    values.setdefault((node, key), number)
                    nodes.setdefault(node, number)
    for place in table.get("named_places") or ():  # where no element is: a name, before the block's
        for inst in instances.get(place["group"], []):
            for node in inst.xpath(place["node"], namespaces=ns):
                if isinstance(node, etree._Element) and node not in nodes:
                    nodes[node] = place["name"]
    return values, nodes, groups


def _expected(node: etree._Element, attribute: str | None, reference: tuple[dict, dict, dict]) -> str:
    values, nodes, groups = reference
    found = (values.get((node, attribute)) if attribute is not None else None) or nodes.get(node)
    if found:
        return found
    current: etree._Element | None = node
    while current is not None:
        if current in groups:
            return f"[{groups[current]}]"
        current = current.getparent()
    return "[header]"


def test_lazy_labels_equal_every_location_evaluated(shared_dir):
    files = sorted((shared_dir / "e2b" / "examples").rglob("*.xml")) + sorted(INPUTS.glob("*.xml")) + \
        sorted(GOLDEN.glob("*.xml"))
    asked = labelled = 0
    for path in files:
        root = etree.parse(str(path)).getroot()
        labels, reference = Labels(root), _every_location(root)
        for node in root.iter():
            for attribute in (None, "#text", *node.attrib.keys()):
                expected = _expected(node, attribute, reference)
                assert labels.label(node, attribute) == expected, (path.name, node.sourceline, attribute)
                asked += 1
                labelled += not expected.startswith("[")
    assert labelled > 1000 and asked > 10_000
