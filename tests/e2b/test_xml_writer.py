"""The E2B writer's text output is byte for byte what lxml's pretty printer writes for the same tree, for any
attribute values and texts (escaping, mixed content, empty text), whether an element without children is made
as a Node (`el`) or written at once (`leaf`); text XML 1.0 cannot hold is refused."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree

from reporter.e2b import xmlw

texts = st.one_of(st.none(), st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=12),
                  st.sampled_from(["", "a&b", "<x>", 'say "hi"', "tab\there", "line\nbreak", "cr\rx", "]]>"]))
tails = st.one_of(st.none(), st.none(), st.sampled_from(["tail", "a&b<c>", " "]))
nodes = st.recursive(st.tuples(st.sampled_from(["value", "code", "text"]), st.dictionaries(
    st.sampled_from(["code", "value", "xsi_type", "unit"]), texts, max_size=3), texts, st.just([]), tails,
    st.booleans()),
    lambda inner: st.one_of(
        st.tuples(st.sampled_from(["component", "observation"]), st.dictionaries(
            st.sampled_from(["typeCode", "classCode"]), texts, max_size=2), texts, st.lists(inner, max_size=3),
            tails, st.just(False)),
        # an element wrapped in one of its own (`wrap`): the wrapper's typeCode, its single child
        st.tuples(st.just("subject1"), st.fixed_dictionaries({"typeCode": st.sampled_from(["SBJ", 'a"&<'])}),
                  st.none(), st.tuples(inner), tails, st.just(False))),
    max_leaves=12)


def _light(parent, spec):
    tag, attrs, text, children, tail, as_leaf = spec
    if isinstance(children, tuple) and not children[0][4] and not children[0][5]:  # a wrapper and its child
        inner_tag, inner_attrs, inner_text, inner_children, _, _ = children[0]
        node = xmlw.wrap(parent, tag, attrs["typeCode"], inner_tag, inner_attrs, inner_text)
        for child in inner_children:
            _light(node, child)
        if tail:
            parent.add_tail(tail)
        return node
    if as_leaf:
        xmlw.leaf(parent, tag, attrs, text)
    else:
        node = xmlw.el(parent, tag, attrs, text)
        for child in children:
            _light(node, child)
    if tail:
        parent.add_tail(tail)
    return None if as_leaf else node


def _lxml(parent, spec):
    tag, attrs, text, children, tail, _ = spec
    attrib = {}
    if attrs.get("xsi_type"):
        attrib[xmlw.XSI_TYPE] = attrs["xsi_type"]
    attrib.update({k: v for k, v in attrs.items() if k != "xsi_type" and v is not None})
    qname = f"{{{xmlw.V3}}}{tag}"
    node = etree.Element(qname, attrib, nsmap=xmlw.NSMAP) if parent is None else etree.SubElement(parent, qname,
                                                                                                    attrib)
    if text is not None:
        node.text = text
    if tail:
        node.tail = tail
    for child in children:
        _lxml(node, child)
    return node


def _outcome(fn):
    try:
        return fn()
    except ValueError:
        return "refused"


@settings(max_examples=400, deadline=None)
@given(st.lists(nodes, max_size=4), texts)
def test_text_output_is_lxmls(children, root_text) -> None:
    spec = ("MCCI_IN200100UV01", {"ITSVersion": "XML_1.0"}, root_text, children, None, False)
    ours = _outcome(lambda: xmlw.to_bytes(_light(None, spec)))
    theirs = _outcome(lambda: etree.tostring(_lxml(None, spec), xml_declaration=True, encoding="UTF-8",
                                             pretty_print=True))
    assert ours == theirs


@pytest.mark.parametrize("bad", ["\x00", "\x01", "\x1f", "\ufffe"])
def test_text_xml_cannot_hold_is_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="XML compatible"):
        xmlw.to_bytes(xmlw.el(None, "MCCI_IN200100UV01", text=f"a{bad}b"))


def test_every_code_point_is_written_or_refused_as_lxml_would() -> None:
    """to_bytes checks its UTF-8 output (control bytes, U+FFFE/U+FFFF, surrogates that do not encode) instead
    of searching the text: for every code point the verdict is the text search's."""
    for code in [*range(0x3000), *range(0xD700, 0x10000), 0x10000, 0x1F600, 0x10FFFF]:
        char = chr(code)
        try:
            xmlw.to_bytes(xmlw.el(None, "x", {"a": f"v{char}"}, text=f"t{char}"))
            refused = False
        except ValueError:
            refused = True
        assert refused == (xmlw._NOT_XML.search(char) is not None), hex(code)
