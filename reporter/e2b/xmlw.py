"""Small helpers for writing HL7 v3 XML with lxml: elements in the v3 namespace, typed values, codes."""

from __future__ import annotations

from lxml import etree

V3 = "urn:hl7-org:v3"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
NSMAP = {None: V3, "xsi": XSI}
XSI_TYPE = f"{{{XSI}}}type"

Node = etree._Element


def el(parent: Node | None, tag: str, attrs: dict[str, str | None] | None = None, text: str | None = None,
       **kw: str | None) -> Node:
    """A v3 element, appended to parent when given. Attributes with value None are left out;
    `xsi_type` sets xsi:type."""
    merged = {**attrs, **kw} if attrs else kw
    xsi_type = merged.pop("xsi_type", None)
    attrib = {XSI_TYPE: xsi_type} if xsi_type else {}
    for key, value in merged.items():
        if value is not None:
            attrib[key] = value
    if parent is None:
        node = etree.Element(f"{{{V3}}}{tag}", attrib, nsmap=NSMAP)
    else:  # all attributes in one call, in the order given
        node = etree.SubElement(parent, f"{{{V3}}}{tag}", attrib)
    if text is not None:
        node.text = text
    return node


def num(value: float | int | str) -> str:
    """A number as E2B wants it: no exponent, no trailing '.0'."""
    if isinstance(value, str):
        return value
    if float(value).is_integer():
        return str(int(value))
    return format(value, "f").rstrip("0").rstrip(".") if "e" in repr(value) else repr(value)


def bl(parent: Node, value: bool | None, null_flavor: str | None = None) -> Node:
    if value is None:
        return el(parent, "value", xsi_type="BL", nullFlavor=null_flavor or "NI")
    return el(parent, "value", xsi_type="BL", value="true" if value else "false")


def observation(parent: Node, rel_tag: str, rel_type: str, code: str, code_system: str,
                display: str | None = None) -> Node:
    """<rel_tag typeCode=...><observation classCode="OBS" moodCode="EVN"><code .../>: returns the observation."""
    rel = el(parent, rel_tag, typeCode=rel_type)
    obs = el(rel, "observation", classCode="OBS", moodCode="EVN")
    el(obs, "code", code=code, codeSystem=code_system, displayName=display)
    return obs
