"""Structure-aware mutators for fuzzing: real inputs (E2B(R3) files, ICSR Bundles, case files) changed one
or a few steps at a time in ways a careless or hostile sender would: elements deleted, duplicated, renamed
or moved to a foreign namespace; attribute and text values replaced by odd strings; JSON values retyped,
deepened or emptied; bytes truncated or flipped. Every mutator is driven by a `random.Random`, so a seed
replays a failure; the hypothesis suites draw the seeds."""

from __future__ import annotations

import copy
import json
import random
from collections.abc import Callable
from typing import Any

from lxml import etree

ODD_STRINGS = ("", " ", "0", "-1", "99999999999999999999999", "1e400", "NaN", "2024-13-45", "99991231235959",
               "x" * 5000, "Ω≈ç√ ✓ 嘔吐", "\t\n", "<tag>", "&amp;", "null", "true", "UNK", "ASKU", "2.16.840",
               "@", "../../etc/passwd", "20230230", "1900", "+0000", "9" * 400)
FOREIGN = ("http://www.w3.org/2001/XInclude", "urn:evil", "")


# --- XML ------------------------------------------------------------------------------------------------

def _elements(root: etree._Element) -> list[etree._Element]:
    return [el for el in root.iter() if isinstance(el.tag, str)]


def mutate_xml(data: bytes, rng: random.Random, steps: int = 3) -> bytes:
    """Mutate an XML document: tree edits most of the time, raw byte damage sometimes."""
    if rng.random() < 0.12:
        return _mutate_bytes(data, rng)
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
    root = etree.fromstring(data, parser)
    for _ in range(steps):
        elements = _elements(root)
        el = rng.choice(elements)
        op = rng.randrange(9)
        parent = el.getparent()
        if op == 0 and parent is not None:
            parent.remove(el)
        elif op == 1 and parent is not None:
            parent.insert(parent.index(el), copy.deepcopy(el))
        elif op == 2 and el.attrib:
            name = rng.choice(list(el.attrib))
            el.set(name, rng.choice(ODD_STRINGS))
        elif op == 3 and el.attrib:
            del el.attrib[rng.choice(list(el.attrib))]
        elif op == 4:
            el.text = rng.choice(ODD_STRINGS)
        elif op == 5:
            ns = rng.choice(FOREIGN)
            local = etree.QName(el).localname
            el.tag = f"{{{ns}}}{local}" if ns else local
        elif op == 6:
            ns = etree.QName(el).namespace
            name = rng.choice(("id", "value", "code", "x", "include"))
            el.tag = f"{{{ns}}}{name}" if ns else name
        elif op == 7:
            el.set(rng.choice(("value", "code", "nullFlavor", "root", "extension", "unit", "xsi_type")),
                   rng.choice(ODD_STRINGS))
        elif op == 8 and parent is not None:
            donor = rng.choice(elements)
            if donor is not el and el not in donor.iterancestors() and donor not in el.iterancestors():
                el.append(copy.deepcopy(donor))
    return etree.tostring(root, xml_declaration=True, encoding="utf-8")


def _mutate_bytes(data: bytes, rng: random.Random) -> bytes:
    buf = bytearray(data)
    op = rng.randrange(3)
    if op == 0:
        return bytes(buf[: rng.randrange(len(buf))])
    if op == 1:
        for _ in range(rng.randrange(1, 8)):
            buf[rng.randrange(len(buf))] = rng.randrange(256)
        return bytes(buf)
    i = rng.randrange(len(buf))
    return bytes(buf[:i] + bytes(rng.choice(ODD_STRINGS), "utf-8") + buf[i:])


# --- JSON (Bundles, case files) -------------------------------------------------------------------------

def _paths(node: Any, path: tuple = ()) -> list[tuple]:
    out = [path]
    if isinstance(node, dict):
        for k, v in node.items():
            out += _paths(v, (*path, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += _paths(v, (*path, i))
    return out


def _get(node: Any, path: tuple) -> Any:
    for step in path:
        node = node[step]
    return node


ODD_VALUES: tuple[Any, ...] = (None, True, 0, -1, 10**30, 1.5e300, "", "x" * 3000, [], {}, [None], {"": ""},
                               "2024-02-30", "9999-12-31T23:59:59Z", "Ω ✓", "\u202e", "Bundle", {"resourceType": 1},
                               [[[[[[]]]]]])


def mutate_json(doc: Any, rng: random.Random, steps: int = 3) -> Any:
    """Mutate a JSON document: replace, delete, duplicate, retype or nest values."""
    doc = copy.deepcopy(doc)
    for _ in range(steps):
        paths = [p for p in _paths(doc) if p]
        if not paths:
            return rng.choice(ODD_VALUES)
        path = rng.choice(paths)
        parent = _get(doc, path[:-1])
        key = path[-1]
        op = rng.randrange(5)
        if op == 0:
            parent[key] = copy.deepcopy(rng.choice(ODD_VALUES))
        elif op == 1:
            del parent[key]
        elif op == 2 and isinstance(parent, list):
            parent.insert(key, copy.deepcopy(parent[key]))
        elif op == 3:
            parent[key] = [parent[key]] if not isinstance(parent[key], list) else (parent[key][0] if parent[key]
                                                                                 else {})
        else:
            value = parent[key]
            parent[key] = str(value) if not isinstance(value, str) else (int(value) if value.isdecimal() and
                                                                        len(value) < 30 else {"value": value})
    return doc


MUTATORS: dict[str, Callable] = {"xml": mutate_xml, "json": mutate_json}


def json_text(doc: Any) -> str:
    return json.dumps(doc, ensure_ascii=False)
