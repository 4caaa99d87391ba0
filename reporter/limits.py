"""Bounds on the work one input may cause, and the checks that enforce them before the expensive work.

The numbers live in mappings/limits.yaml. Each check raises InputError naming where the input went past the
bound, so a hostile input (deep JSON, a YAML alias bomb, an XML element with 64k attributes) is refused in
milliseconds instead of costing minutes or a RecursionError.
"""

from __future__ import annotations

import json
import re
from functools import cache
from typing import Any

import orjson
import yaml

from reporter.errors import InputError, MappingError
from reporter.paths import mappings_dir

# Characters FHIR strings cannot hold (FHIR string: [ \r\n\t\S]+; XML 1.0 cannot carry them either), and
# lone surrogates (JSON's \\ud800 escapes), which no UTF-8 document can carry.
_FORBIDDEN = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
REPLACEMENT = "\ufffd"
# In orjson's output control characters are escapes (\b and \f in short form, the others \u00XX), U+FFFE and
# U+FFFF are UTF-8 bytes, and lone surrogates are refused.
_CONTROL_ESCAPE = re.compile(rb"\\u00(?:0[0-8bcef]|1[0-9a-f])")


@cache
def limits() -> dict[str, int]:
    data = yaml.safe_load((mappings_dir() / "limits.yaml").read_text(encoding="utf-8"))
    if not isinstance(data, dict) or not all(isinstance(v, int) and v > 0 for v in data.values()):
        raise MappingError("limits.yaml: every limit is a positive integer", location="mappings/limits.yaml")
    return data


def limit(name: str) -> int:
    return limits()[name]


# --- JSON ---------------------------------------------------------------------------------------------------

def check_depth(data: Any, max_depth: int | None = None, *, location: str = "body") -> None:
    """Refuse nesting deeper than json_depth. A recursive walk that goes down containers only (three times
    the pace of an explicit stack); its recursion stops at the limit, and a limit set past Python's own
    recursion bound still refuses instead of failing."""
    max_depth = max_depth or limit("json_depth")
    try:
        within = not isinstance(data, (dict, list)) or _within(data, max_depth)
    except RecursionError:
        within = False
    if not within:
        raise InputError(f"nested deeper than {max_depth} levels", location=location,
                         hint="no FHIR resource or case file nests this deep")


def _within(container: dict | list, room: int) -> bool:
    """False when `container` (itself one level) nests deeper than `room` levels."""
    if room <= 0:
        return False
    room -= 1
    for child in container.values() if isinstance(container, dict) else container:
        kind = child.__class__
        if kind is str:
            continue
        if (kind is dict or kind is list or isinstance(child, (dict, list))) and not _within(child, room):
            return False
    return True


def parse_json(text: str, *, location: str = "body", object_pairs_hook=None) -> Any:
    """json.loads with the depth bound. JSON syntax errors propagate (callers name line and column)."""
    try:
        data = json.loads(text, object_pairs_hook=object_pairs_hook)
    except RecursionError:
        raise InputError(f"nested deeper than {limit('json_depth')} levels", location=location,
                         hint="no FHIR resource or case file nests this deep") from None
    check_depth(data, location=location)
    return data


# --- text FHIR cannot carry ---------------------------------------------------------------------------------

def forbidden_text(data: Any, root: str) -> tuple[str, str] | None:
    """(FHIRPath-like location, character) of the first string (key or value) holding a control character
    that FHIR (and XML 1.0) cannot carry, or None."""
    if _clean_by_json(data):
        return None
    stack: list[tuple[Any, str]] = [(data, root)]
    while stack:
        value, path = stack.pop()
        if isinstance(value, str):
            match = _FORBIDDEN.search(value)
            if match:
                return path, match.group()
        elif isinstance(value, dict):
            for key, child in value.items():
                if isinstance(key, str) and _FORBIDDEN.search(key):
                    return f"{path}.{key!r}", _FORBIDDEN.search(key).group()
                stack.append((child, f"{path}.{key}"))
        elif isinstance(value, list):
            stack.extend((child, f"{path}[{i}]") for i, child in enumerate(value))
    return None


def _clean_by_json(data: Any) -> bool:
    """True when the data certainly holds no forbidden character: one orjson pass (C) and a look at each
    backslash escape of its output, ten times cheaper than walking every string in Python. False when it may
    (or when orjson cannot write the data: lone surrogates, non-string keys, huge integers): the walk decides."""
    try:
        text = orjson.dumps(data)
    except (TypeError, ValueError, orjson.JSONEncodeError):
        return False
    if b"\xef" in text and (b"\xef\xbf\xbe" in text or b"\xef\xbf\xbf" in text):  # single-byte tests: memchr
        return False
    pos = text.find(b"\\")
    while pos >= 0:
        code = text[pos + 1:pos + 2]
        if code == b"b" or code == b"f" or (code == b"u" and _CONTROL_ESCAPE.match(text, pos)):
            return False
        pos = text.find(b"\\", pos + 2)  # past the escaped character: an escaped backslash is one escape
    return True


def check_text(data: Any, root: str) -> None:
    found = forbidden_text(data, root)
    if found:
        path, char = found
        raise InputError(f"control character U+{ord(char):04X} is not allowed in FHIR text", location=path,
                         hint="remove it; FHIR strings and XML carry no control characters but tab, CR and LF")


def scrub_forbidden(data: Any) -> Any:
    """A copy of `data` with every character FHIR XML cannot carry replaced by U+FFFD, for output of text
    stored before input refused it; the data itself is returned when it holds none (the usual case)."""
    if forbidden_text(data, "") is None:
        return data

    def scrub(value: Any) -> Any:
        if isinstance(value, str):
            return _FORBIDDEN.sub(REPLACEMENT, value)
        if isinstance(value, dict):
            return {scrub(k): scrub(v) for k, v in value.items()}
        if isinstance(value, list):
            return [scrub(v) for v in value]
        return value

    return scrub(data)


def has_forbidden(text: str) -> str | None:
    match = _FORBIDDEN.search(text)
    return match.group() if match else None


# --- YAML ---------------------------------------------------------------------------------------------------

def yaml_depth() -> int:
    return limit("yaml_depth")


# --- XML ----------------------------------------------------------------------------------------------------

@cache
def _xml_tree_tests(max_depth: int) -> tuple[Any, Any, Any]:
    from lxml import etree

    return (etree.XPath("count(descendant-or-self::*) + count(descendant::comment())"
                        " + count(descendant::processing-instruction())"),
            etree.XPath("boolean(descendant-or-self::*[@*[$over]])"),
            # a node one level deeper than allowed: max_depth - 1 element steps below the root, then one more
            etree.XPath("boolean(" + "*/" * (max_depth - 1) + "node()[not(self::text())])"))


def _xml_tree_within(root, max_elements: int, max_attributes: int, max_depth: int) -> bool:
    """Whether a parsed document is certainly within the limits, decided in libxml2 (a Python walk over
    every node costs more than the import's parse); False sends it to the exact walk, which names the
    first node over a limit."""
    if root.getparent() is not None or not 1 <= max_depth <= 512:
        return False  # only a document's root (whose depth the walk below counts as 1), a plain path
    count, attributes, deeper = _xml_tree_tests(max_depth)
    return count(root) <= max_elements and not attributes(root, over=max_attributes + 1) and not deeper(root)


def check_xml_tree(root, source: str, elements: str = "xml_elements", hint: str | None = None) -> None:
    """Refuse XML with too many elements, too many attributes on one element, or too deep nesting.
    lxml parses such documents quickly; what follows (schema labels, model conversion) would not.
    `elements`: the limit that bounds the element count (an E2B batch of many reports has its own), `hint`
    what to do when it is passed."""
    max_elements, max_attributes, max_depth = limit(elements), limit("xml_attributes"), limit("xml_depth")
    if _xml_tree_within(root, max_elements, max_attributes, max_depth):
        return
    count = 0
    for element in root.iter():
        count += 1
        if count > max_elements:
            raise InputError(f"more than {max_elements} XML elements", location=f"{source}:{element.sourceline}",
                             hint=hint)
        if len(element.attrib) > max_attributes:
            raise InputError(f"element has {len(element.attrib)} attributes (at most {max_attributes})",
                             location=f"{source}:{element.sourceline}")
    # depth: walk only when the document could be deep (cheap bound: count of elements)
    if count > max_depth:
        stack = [(root, 1)]
        while stack:
            node, depth = stack.pop()
            if depth > max_depth:
                raise InputError(f"XML nested deeper than {max_depth} levels", location=f"{source}:{node.sourceline}")
            stack.extend((child, depth + 1) for child in node)
