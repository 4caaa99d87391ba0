"""Check an E2B(R3) document against the ICH XSD set and report each error with line, element path
and, where known, the E2B element number.

The XSD set is read from the `e2b_schema_dir` setting (never shipped with the project).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from lxml import etree

from reporter import config
from reporter.e2b import xmlsafe
from reporter.errors import InputError


@dataclass(frozen=True)
class SchemaProblem:
    line: int
    path: str          # element path without namespace, e.g. /MCCI_IN200100UV01/PORR_IN049016UV[1]/...
    element: str | None  # E2B element number when known (e.g. "F.r.1")
    message: str

    def __str__(self) -> str:
        where = f"line {self.line}, {self.path}" + (f" ({self.element})" if self.element else "")
        return f"{where}: {self.message}"


def schema_dir() -> Path | None:
    return config.get_path("e2b_schema_dir")


@cache
def _schema(directory: str, name: str) -> etree.XMLSchema:
    path = Path(directory) / "multicacheschemas" / f"{name}.xsd"
    if not path.is_file():
        raise InputError(f"XSD {name}.xsd not found", location=str(path),
                         hint="point REPORTER_E2B_SCHEMA_DIR at the ICH E2B(R3) schema folder")
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
    return etree.XMLSchema(etree.parse(str(path), parser))


def schema_for(name: str, directory: Path | None = None) -> etree.XMLSchema | None:
    """The compiled XSD for a root element name, or None when no schema folder is configured."""
    directory = directory or schema_dir()
    if directory is None:
        return None
    return _schema(str(directory), name)


def _clean_path(path: str | None) -> str:
    if not path:
        return "/"
    # lxml reports paths as /*[local-name()...] or with the hl7 prefix; keep local names only.
    return path.replace("{urn:hl7-org:v3}", "").replace("h:", "")


def validate(loaded: xmlsafe.Loaded, directory: Path | None = None) -> list[SchemaProblem] | None:
    """XSD problems (empty list: valid), or None when no schema folder is configured.

    Each kind of problem (the same message on the same element of one report, positions inside the report
    aside) is reported once, with how many times it occurred: a report with 10,000 copies of one mistake gives
    one line, not 10,000, and the element labels of the document are built once, not per error. The report is
    part of the kind, so that the importer rejects each report that has the problem (merged across reports,
    the second was imported, its problem counted as the first's "1 more like this")."""
    from reporter.e2b.elements import Labels
    from reporter.limits import limit

    root_name = xmlsafe.local(loaded.root)
    schema = schema_for(root_name, directory)
    if schema is None:
        return None
    if schema.validate(loaded.tree):
        return []
    first: dict[tuple[str, str, str], tuple] = {}
    counts: dict[tuple[str, str, str], int] = {}
    labels: Labels | None = None
    namespaces: dict[str, str] | None = None
    for err in schema.error_log:
        clean = _clean_path(err.path)
        report = _REPORT.match(clean)
        kind = (report.group(0) if report else "", _POSITION.sub("", clean), err.type_name)
        counts[kind] = counts.get(kind, 0) + 1
        if kind in first or len(first) >= limit("schema_problems"):
            continue
        element = None
        path = _clean_path(err.path)
        if err.path:
            namespaces = namespaces if namespaces is not None else _prefixes(loaded)
            found = _find(loaded, err.path, namespaces)
            if isinstance(found, list) and found and isinstance(found[0], etree._Element):
                labels = labels or Labels(loaded.root)
                label = labels.label(found[0])
                element = label if label != "[header]" or labels.groups else None
                path = element_path(found[0])
        first[kind] = (err.line, path, element, err.message)
    problems = []
    for kind, (line, path, element, message) in first.items():
        more = counts[kind] - 1
        problems.append(SchemaProblem(line, path, element,
                                      message + (f" ({more} more like this)" if more else "")))
    left = sum(counts.values()) - sum(counts[k] for k in first)
    if left:
        problems.append(SchemaProblem(0, "/", None, f"{left} more XSD problem(s) of other kinds not listed"))
    return problems


_POSITION = re.compile(r"\[\d+\]")
# the child of the root an error path is in (a batch's report): libxml2 writes /*/*[7]/... or names the steps
_REPORT = re.compile(r"^/[^/]+/[^/]+")


def _prefixes(loaded: xmlsafe.Loaded) -> dict[str, str]:
    """Every prefix the document declares: libxml2 writes error paths with the document's own prefixes
    (xi:include for a foreign element), which XPath only knows when told."""
    return {prefix: uri for el in loaded.root.iter() if isinstance(el.tag, str)
            for prefix, uri in el.nsmap.items() if prefix}


def _find(loaded: xmlsafe.Loaded, path: str, namespaces: dict[str, str]) -> list:
    """The nodes at an error's path."""
    try:
        found = loaded.tree.xpath(path, namespaces=namespaces)
    except etree.XPathError:  # a path XPath cannot read: report the problem without the element label
        return []
    return found if isinstance(found, list) else []


def element_path(el: etree._Element) -> str:
    """/root/child[2]/... with local names and 1-based positions among same-named siblings."""
    steps: list[str] = []
    node: etree._Element | None = el
    while node is not None:
        name = xmlsafe.local(node)
        parent = node.getparent()
        if parent is None:
            steps.append(name)
        else:
            same = [c for c in parent if c.tag == node.tag]
            steps.append(f"{name}[{same.index(node) + 1}]" if len(same) > 1 else name)
        node = parent
    return "/" + "/".join(reversed(steps))
