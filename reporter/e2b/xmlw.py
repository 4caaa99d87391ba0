"""Small helpers for writing HL7 v3 XML: elements in the v3 namespace, typed values, codes.

The writer builds a light tree of `Node`s (plain Python objects, several times cheaper to make than lxml
elements) and writes it as text in the layout of lxml's pretty printer (`to_bytes`); the export parses that
text once for the XSD and the rules, so the checked tree and its line numbers are those of the output.
Elements without children (`leaf`) are written as their line at once, and an element inside a wrapper of its
own (`wrap`) is one Node: a case is some 220 Nodes and 310 lines written ahead instead of 700 Nodes."""

from __future__ import annotations

import re

V3 = "urn:hl7-org:v3"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
NSMAP = {None: V3, "xsi": XSI}
XSI_TYPE = f"{{{XSI}}}type"
DECLARATION = "<?xml version='1.0' encoding='UTF-8'?>\n"
_ROOT_NS = f' xmlns="{V3}" xmlns:xsi="{XSI}"'


class Node:
    """An element of the v3 namespace: tag (local name), its start tag's attributes already written out (in
    order, escaped), text, children (a str child: a leaf already written out as its line, see `leaf`), the
    indentation of its children's lines (`inner`: two spaces a level, as lxml's pretty printer), the text
    after it inside its parent (`tail`: mixed content, as an ED's base64 after its <reference>; `add_tail`) and
    the start and end tags of an element around it that has no other child (`wrapper`, see `wrap`)."""

    __slots__ = ("attrs", "children", "inner", "mixed", "tag", "tail", "text", "wrapper")

    def __init__(self, tag: str, attrs: str, text: str | None, inner: str = "  ") -> None:
        self.tag = tag
        self.attrs = attrs
        self.text = text
        self.inner = inner
        self.tail: str | None = None
        self.mixed = False  # a child has a tail
        self.wrapper: tuple[str, str] | None = None
        self.children: list[Node | str] = []

    def set(self, name: str, value: str) -> None:
        """Add an attribute (a name as written, e.g. 'xsi:schemaLocation')."""
        self.attrs += f' {name}="{_attr(value)}"'

    def add_tail(self, text: str) -> None:
        """Text after the last child (mixed content)."""
        last = self.children[-1]
        if last.__class__ is str:
            self.children[-1] = f"{last[:-1]}{_text(text)}\n"
        else:
            last.tail = (last.tail or "") + text
        self.mixed = True

    def __len__(self) -> int:
        return len(self.children)


# What XML 1.0 cannot hold (lxml refuses these too); what lxml escapes in text and in attribute values.
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_TEXT_SPECIAL = re.compile("[&<>\r]")
_ATTR_SPECIAL = re.compile('[&<>"\n\r\t]')
_TEXT_ESCAPES = {"&": "&amp;", "<": "&lt;", ">": "&gt;", "\r": "&#13;"}
_ATTR_ESCAPES = {**_TEXT_ESCAPES, '"': "&quot;", "\n": "&#10;", "\t": "&#9;"}


def _text(value: str) -> str:
    return _TEXT_SPECIAL.sub(lambda m: _TEXT_ESCAPES[m.group()], value) if _TEXT_SPECIAL.search(value) else value


def _attr(value: str) -> str:
    return _ATTR_SPECIAL.sub(lambda m: _ATTR_ESCAPES[m.group()], value) if _ATTR_SPECIAL.search(value) else value


def el(parent: Node | None, tag: str, attrs: dict[str, str | None] | None = None, text: str | None = None,
       **kw: str | None) -> Node:
    """A v3 element, appended to parent when given. Attributes with value None are left out;
    `xsi_type` sets xsi:type (written first)."""
    written = _written({**attrs, **kw} if attrs else kw) if attrs or kw else ""
    if parent is None:
        return Node(tag, written, text)
    node = Node(tag, written, text, parent.inner + "  ")
    parent.children.append(node)
    return node


def wrap(parent: Node, outer: str, type_code: str, tag: str, attrs: dict[str, str | None] | None = None,
         text: str | None = None, **kw: str | None) -> Node:
    """`el(el(parent, outer, typeCode=type_code), tag, ...)` as one Node: HL7 v3 puts most elements inside an
    act relationship or participation of their own (<component typeCode="COMP"><observation ...>)."""
    node = el(None, tag, attrs, text, **kw)
    node.inner = parent.inner + "    "
    node.wrapper = _WRAPPERS.get((outer, type_code)) or _wrapper(outer, type_code)
    parent.children.append(node)
    return node


_WRAPPERS: dict[tuple[str, str], tuple[str, str]] = {}


def _wrapper(outer: str, type_code: str) -> tuple[str, str]:
    found = _WRAPPERS[(outer, type_code)] = (f'<{outer} typeCode="{_attr(type_code)}">', f"</{outer}>")
    return found


def leaf(parent: Node, tag: str, attrs: dict[str, str | None] | None = None, text: str | None = None,
         **kw: str | None) -> None:
    """An element that gets no children, as `el` makes it: written out at once (most of a message's
    elements are such leaves: codes, values, ids, times), so it costs no Node and no walk when written."""
    written = _written({**attrs, **kw} if attrs else kw) if attrs or kw else ""
    parent.children.append(f"{parent.inner}<{tag}{written}/>\n" if text is None
                           else f"{parent.inner}<{tag}{written}>{_text(text)}</{tag}>\n")


# Attribute sets as written, by their (name, value) pairs: most are the same in every message (class and mood
# codes, ICH observation codes, BL values) and so are written once. Bounded: emptied when full.
_WRITTEN: dict[tuple[tuple[str, str | None], ...], str] = {}
_WRITTEN_MAX = 8192


def _written(kw: dict[str, str | None]) -> str:
    key = tuple(kw.items())
    return _WRITTEN.get(key) or _attributes(key, kw)


def _attributes(key: tuple[tuple[str, str | None], ...], kw: dict[str, str | None]) -> str:
    """An attribute set seen first (or written as ""): written out and kept."""
    if len(_WRITTEN) >= _WRITTEN_MAX:
        _WRITTEN.clear()
    xsi_type = kw.get("xsi_type")
    items = [("xsi:type", xsi_type)] if xsi_type else []
    items += [(k, v) for k, v in kw.items() if v is not None and k != "xsi_type"]
    written = _WRITTEN[key] = "".join([f' {k}="{_attr(v)}"' for k, v in items])
    return written


def _write(node: Node, out: list[str]) -> None:
    """An element pretty printed (each element on a line of its own, indented by depth)."""
    tag = node.tag
    inner = node.inner
    pad = inner[:-2]
    wrapper = node.wrapper
    if wrapper is not None:
        out.append(f"{pad[:-2]}{wrapper[0]}\n")
    if node.text is not None or node.mixed or not node.children:  # mixed content: lxml does not indent inside
        out.append(pad)
        _write_flat(node, out)
        out.append("\n")
    else:
        out.append(f"{pad}<{tag}{node.attrs}>\n")
        for child in node.children:
            if child.__class__ is str:
                out.append(child)
            elif child.children or child.wrapper is not None:
                _write(child, out)
            elif child.text is None:
                out.append(f"{inner}<{child.tag}{child.attrs}/>\n")
            else:
                out.append(f"{inner}<{child.tag}{child.attrs}>{_text(child.text)}</{child.tag}>\n")
        out.append(f"{pad}</{tag}>\n")
    if wrapper is not None:
        out.append(f"{pad[:-2]}{wrapper[1]}\n")


def _write_flat(node: Node, out: list[str]) -> None:
    """An element inside mixed content (or one without children): written without indentation. Its wrapper
    and tail are the caller's to write."""
    tag = node.tag
    if node.children:
        out.append(f"<{tag}{node.attrs}>{_text(node.text or '')}")
        start = len(node.inner)
        for child in node.children:
            if child.__class__ is str:
                out.append(child[start:-1])  # a leaf's line without its indentation and line end
                continue
            wrapper = child.wrapper
            if wrapper is not None:
                out.append(wrapper[0])
            _write_flat(child, out)
            if wrapper is not None:
                out.append(wrapper[1])
            if child.tail:  # after the wrapper: the wrapped element is its only child
                out.append(_text(child.tail))
        out.append(f"</{tag}>")
    elif node.text is not None:
        out.append(f"<{tag}{node.attrs}>{_text(node.text)}</{tag}>")
    else:
        out.append(f"<{tag}{node.attrs}/>")


def to_bytes(root: Node) -> bytes:
    """The document as lxml writes it (XML declaration, UTF-8, pretty printed), byte for byte."""
    out: list[str] = [DECLARATION]
    top = Node(root.tag, _ROOT_NS + root.attrs, root.text, root.inner)  # the root declares the namespaces
    top.children = root.children
    top.mixed = root.mixed
    _write(top, out)
    text = "".join(out)
    try:
        data: bytes | None = text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate
        data = None
    if data is None or _may_not_be_xml(data):
        bad = _NOT_XML.search(text)
        if bad:
            raise ValueError("All strings must be XML compatible: Unicode or ASCII, no NULL bytes or control "
                             f"characters (U+{ord(bad.group()):04X} in the output)")
    return data if data is not None else text.encode("utf-8")


# What _NOT_XML finds, in UTF-8: the control bytes (deleted by bytes.translate: a C loop, five times faster
# than a regex over the document) and U+FFFE / U+FFFF (EF BF BE / EF BF BF). Surrogates do not encode at all.
_CONTROL_BYTES = bytes(b for b in range(0x20) if b not in (0x09, 0x0A, 0x0D))


def _may_not_be_xml(data: bytes) -> bool:
    if len(data.translate(None, _CONTROL_BYTES)) != len(data):
        return True
    return b"\xef" in data and (b"\xef\xbf\xbe" in data or b"\xef\xbf\xbf" in data)


def num(value: float | int | str) -> str:
    """A number as E2B wants it: no exponent, no trailing '.0'."""
    if isinstance(value, str):
        return value
    if float(value).is_integer():
        return str(int(value))
    return format(value, "f").rstrip("0").rstrip(".") if "e" in repr(value) else repr(value)


def bl(parent: Node, value: bool | None, null_flavor: str | None = None) -> None:
    if value is None:
        leaf(parent, "value", xsi_type="BL", nullFlavor=null_flavor or "NI")
    else:
        leaf(parent, "value", xsi_type="BL", value="true" if value else "false")


def observation(parent: Node, rel_tag: str, rel_type: str, code: str, code_system: str,
                display: str | None = None) -> Node:
    """<rel_tag typeCode=...><observation classCode="OBS" moodCode="EVN"><code .../>: returns the observation."""
    obs = wrap(parent, rel_tag, rel_type, "observation", classCode="OBS", moodCode="EVN")
    leaf(obs, "code", code=code, codeSystem=code_system, displayName=display)
    return obs
