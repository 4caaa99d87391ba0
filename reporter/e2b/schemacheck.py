"""Check an E2B(R3) document against the ICH XSD set and report each error with line, element path
and, where known, the E2B element number.

The XSD set is read from the `e2b_schema_dir` setting (never shipped with the project).
"""

from __future__ import annotations

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
    """XSD problems (empty list: valid), or None when no schema folder is configured."""
    from reporter.e2b.elements import label_element

    root_name = xmlsafe.local(loaded.root)
    schema = schema_for(root_name, directory)
    if schema is None:
        return None
    if schema.validate(loaded.tree):
        return []
    problems: list[SchemaProblem] = []
    for err in schema.error_log:
        element = None
        path = _clean_path(err.path)
        if err.path:
            found = loaded.tree.xpath(err.path)
            if isinstance(found, list) and found and isinstance(found[0], etree._Element):
                element = label_element(found[0])
                path = element_path(found[0])
        problems.append(SchemaProblem(err.line, path, element, err.message))
    return problems


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
