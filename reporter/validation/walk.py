"""One walk over a Bundle's resources, shared by the validation layers: every JSON object, in document order.
Walking once instead of once per layer keeps validation cheap; the objects' FHIRPath-like locations are
worked out only when a check reports a problem (writing a path for each of some 600 objects cost more than
the walk itself)."""

from __future__ import annotations

from bisect import bisect_right
from typing import Any

from reporter.fhir.read import BundleIndex

Json = dict[str, Any]

# The keys the layers look for (references, codings, extensions, addresses, dates): the walk notes which
# objects hold each, as it goes, so that no layer passes over every object again to find them.
MARKED = frozenset({"reference", "system", "url", "country", "address", "date", "birthDate", "effectiveDateTime",
                    "onsetDateTime", "abatementDateTime", "start", "end", "valueDateTime", "deceasedDateTime", "unit"})


class BundleWalk:
    """`nodes`: the JSON objects of the Bundle's entry resources (contained ones included), pre-order;
    `spans`: (entry index, first node, end) of each entry resource's objects; `path(i)`: where nodes[i] is."""

    __slots__ = ("_holding", "_index", "_marks", "_paths", "bundle", "nodes", "spans")

    def __init__(self, bundle: Json) -> None:
        self.bundle = bundle
        self.nodes: list[Json] = []
        self.spans: list[tuple[int, int, int]] = []
        self._paths: list[str] | None = None
        self._index: BundleIndex | None = None
        self._holding: dict[frozenset[str], list[int]] = {}
        self._marks: dict[str, list[int]] = {key: [] for key in MARKED}
        nodes = self.nodes
        append, marks = nodes.append, self._marks

        def visit(node: Json) -> None:
            i = len(nodes)
            append(node)
            for key, value in node.items():
                if key in MARKED:  # most keys are not: a set test is cheaper than a look-up each
                    marks[key].append(i)
                kind = value.__class__
                if kind is dict:
                    visit(value)
                elif kind is list:
                    visit_list(value)

        def visit_list(items: list[Any]) -> None:  # a list inside a list is not FHIR, but walked like before
            for item in items:
                kind = item.__class__
                if kind is dict:
                    visit(item)
                elif kind is list:
                    visit_list(item)

        for i, resource in _entry_resources(bundle):
            start = len(self.nodes)
            visit(resource)
            self.spans.append((i, start, len(self.nodes)))

    def resource_of(self, i: int) -> Json | None:
        """The entry resource nodes[i] is inside (the container, for a node of a contained resource)."""
        spans = self.spans
        at = bisect_right(spans, i, key=lambda span: span[1]) - 1
        if at < 0 or i >= spans[at][2]:
            return None
        return self.nodes[spans[at][1]]

    def __len__(self) -> int:
        return len(self.nodes)

    @property
    def index(self) -> BundleIndex:
        """The Bundle's index, made once for the layers that resolve references (not to be changed)."""
        found = self._index
        if found is None:
            found = self._index = BundleIndex(self.bundle)
        return found

    def path(self, i: int) -> str:
        """The location of nodes[i], e.g. Bundle.entry[3].resource.ofType(Observation).code.coding[0]."""
        if self._paths is None:
            self._paths = _paths(self.bundle)
        return self._paths[i]

    def holding(self, keys: frozenset[str]) -> list[int]:
        """The indexes of the nodes that hold any of `keys`, in order, found once per set of keys (the ICSR
        rules and the plausibility checks both look at every dated object). Not to be changed."""
        found = self._holding.get(keys)
        if found is None:
            if keys <= MARKED:
                # noted as each key was met: an object's key after a nested object comes after its objects
                lists = [marks for key in keys if (marks := self._marks[key])]
                found = sorted(lists[0]) if len(lists) == 1 else sorted(set().union(*lists))
            else:
                isdisjoint = keys.isdisjoint
                found = [i for i, node in enumerate(self.nodes) if not isdisjoint(node)]
            self._holding[keys] = found
        return found

    def located(self) -> list[tuple[str, Json]]:
        """(location, object) of every node, for the rare check that needs them all."""
        return [(self.path(i), node) for i, node in enumerate(self.nodes)]


def walk_bundle(bundle: Json) -> BundleWalk:
    return BundleWalk(bundle)


def _entry_resources(bundle: Json) -> list[tuple[int, Json]]:
    entries = bundle.get("entry")
    return [(i, resource) for i, entry in enumerate(entries if isinstance(entries, list) else [])
            if isinstance(entry, dict) and (resource := entry.get("resource")).__class__ is dict]


def entry_locations(bundle: Json) -> dict[int, str]:
    """id(resource) -> Bundle.entry[i].resource.ofType(Type), for the entry resources of a Bundle (made when a
    layer first reports a problem: most Bundles have none to locate)."""
    return {id(resource): f"Bundle.entry[{i}].resource.ofType({resource.get('resourceType')})"
            for i, resource in _entry_resources(bundle)}


def _paths(bundle: Json) -> list[str]:
    """The locations of BundleWalk's nodes, in the same order."""
    out: list[str] = []
    append = out.append

    def visit(node: Json, path: str) -> None:
        append(path)
        for key, value in node.items():
            kind = value.__class__
            if kind is dict:
                visit(value, f"{path}.{key}")
            elif kind is list:
                for i, item in enumerate(value):
                    if item.__class__ is dict:
                        visit(item, f"{path}.{key}[{i}]")
                    elif item.__class__ is list:
                        visit_list(item, f"{path}.{key}[{i}]")

    def visit_list(items: list[Any], path: str) -> None:
        for i, item in enumerate(items):
            if item.__class__ is dict:
                visit(item, f"{path}[{i}]")
            elif item.__class__ is list:
                visit_list(item, f"{path}[{i}]")

    for i, resource in _entry_resources(bundle):
        visit(resource, f"Bundle.entry[{i}].resource.ofType({resource.get('resourceType', '?')})")
    return out


def bundle_index(bundle: Json, walk: BundleWalk | None) -> BundleIndex:
    """The walk's index when the walk is of this Bundle, else a new one."""
    return walk.index if walk is not None and walk.bundle is bundle else BundleIndex(bundle)
