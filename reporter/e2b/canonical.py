"""A received E2B document in the one form the readers and rules compare, once the XSD has checked it.

XML lets a sender write the same document in many ways. Most the parser takes care of (encodings, character
references, CDATA, comments and processing instructions: xmlsafe); two it does not, since only the schema
knows them: an xsi:type is a QName, so `v3:IVL_TS` (the HL7 namespace bound to a prefix) names the same type
as `IVL_TS`; and an attribute of a token type (mappings/e2b/locations.yaml `collapsed_attributes`) means the
same with its whitespace collapsed. The readers compare type names and codes as text, so both are rewritten
here, in the parsed tree only (the received file is kept as it came).
"""

from __future__ import annotations

from functools import cache

from lxml import etree

from reporter.e2b.read.reader import locations_table
from reporter.e2b.xmlsafe import HL7, NS, XSI

_XSI_TYPE = f"{{{XSI}}}type"
# Two scans of the tree (about 0.13 ms for a FAERS example, 2-3% of its import): the attribute axis with a
# name test is cheap, and one string test over every attribute is cheaper than one scan per name.
_PREFIXED_TYPES = etree.XPath("//@xsi:type[contains(., ':') or normalize-space() != .]", namespaces=NS,
                              smart_strings=True)
_PADDED = etree.XPath("//@*[normalize-space() != .]", smart_strings=True)


def canonicalize(root: etree._Element) -> None:
    """Rewrite the document under `root` in place (see the module's docstring)."""
    for written in _PREFIXED_TYPES(root):
        node = written.getparent()
        prefix, _, name = written.strip().rpartition(":")
        if node.nsmap.get(prefix or None) == HL7:  # a prefix bound elsewhere names another type: left
            node.set(_XSI_TYPE, name)
    collapsed = _collapsed()
    for value in _PADDED(root):
        if value.attrname in collapsed:
            value.getparent().set(value.attrname, " ".join(value.split()))


@cache
def _collapsed() -> frozenset[str]:
    return frozenset(locations_table()["collapsed_attributes"])
