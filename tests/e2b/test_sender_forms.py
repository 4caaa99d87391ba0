"""An E2B(R3) file reads as the same case whatever XML form its sender's tools write it in.

The same report can come as UTF-8 or UTF-16, pretty-printed or on one line, with a byte-order mark and CRLF
line ends, with comments and processing instructions, and with the HL7 v3 namespace bound to a prefix
(`<v3:PORR_IN049016UV xmlns:v3="urn:hl7-org:v3">`, where xsi:type values name the type through that prefix:
`xsi:type="v3:IVL_TS"`), and with spaces around codes (` 1 `: the HL7 token types collapse them). The
prefixed form once lost every dosage period, start and stop date and every reaction onset written in a typed
effectiveTime, the padded one every code, and ids written as an OID root with an extension per item every
drug-reaction link and causality assessment (as did references whose UUIDs differ from their item's in
case only), without a problem reported.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from lxml import etree

from reporter.e2b import canonical, importer, xmlsafe
from reporter.fhir.to_case import bundle_to_case

INPUTS = sorted((Path(__file__).parent / "inputs").glob("*.xml"))


def prefixed(raw: bytes, prefix: str = "v3") -> bytes:
    """The v3 namespace bound to `prefix` on the root instead of declared the default, every v3 element
    named through it, and every xsi:type with it (as a QName must then be written)."""
    text = raw.decode("utf-8")
    text = text.replace('xmlns="urn:hl7-org:v3"', f'xmlns:{prefix}="urn:hl7-org:v3"')
    text = re.sub(r"<(/?)([A-Za-z_][\w.-]*)(?=[\s/>])", rf"<\1{prefix}:\2", text)
    text = re.sub(r'xsi:type="([A-Za-z_][\w.-]*)"', rf'xsi:type="{prefix}:\1"', text)
    return text.encode("utf-8")


def utf16(raw: bytes) -> bytes:
    return etree.tostring(etree.fromstring(raw), xml_declaration=True, encoding="UTF-16")


def one_line(raw: bytes) -> bytes:
    parser = etree.XMLParser(remove_blank_text=True)
    return etree.tostring(etree.fromstring(raw, parser), xml_declaration=True, encoding="UTF-8")


def bom_crlf(raw: bytes) -> bytes:
    return b"\xef\xbb\xbf" + raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def commented(raw: bytes) -> bytes:
    return raw.replace(b"<controlActProcess", b"<!-- exported by PV system 9.2 --><?pv-tool mode=live?>"
                                              b"<controlActProcess", 1)


def split_text(raw: bytes) -> bytes:
    """Every text value split by a comment and a processing instruction after its first character: neither is
    content (a reader that took the text before the first stopped there: `T.<?pi?>Y.` read as `T.`)."""
    text = re.sub(r">([^<>\s])([^<>]*[^<>\s])</", r">\1<!-- c --><?pv-tool x?>\2</", raw.decode("utf-8"))
    return text.encode("utf-8")


def padded(raw: bytes) -> bytes:
    """Codes with spaces around them, which the HL7 token types (cs, the vocabularies) collapse."""
    return re.sub(rb'( (?:code|typeCode|classCode|moodCode|nullFlavor|unit|operator)=")([^"]*)"', rb'\1 \2  "', raw)


def oid_ids(raw: bytes) -> bytes:
    """Item ids (reactions, drugs: a UUID root in ICH's examples) as one OID root with an extension per item,
    which an II allows: the references between items must still find their item."""
    numbers: dict[bytes, int] = {}
    return re.sub(rb'<id root="([0-9A-Fa-f-]{36})"/>', lambda m: b'<id root="2.16.840.1.113883.3.989.5.1.2.2.1.99"'
                  b' extension="item-%d"/>' % numbers.setdefault(m.group(1), len(numbers)), raw)


def upper_case_references(raw: bytes) -> bytes:
    """The UUIDs of the references between items in upper case (as HL7 asks), the items' own in lower."""
    return re.sub(rb'(<(?:actReference|productUseReference|adverseEffectReference)[^>]*>\s*<id root=")'
                  rb'([0-9a-f-]{36})', lambda m: m.group(1) + m.group(2).upper(), raw)


FORMS: dict[str, Callable[[bytes], bytes]] = {
    "prefixed": prefixed, "utf-16": utf16, "one-line": one_line, "bom-crlf": bom_crlf, "commented": commented,
    "split-text": split_text, "padded": padded, "oid-ids": oid_ids, "upper-case-references": upper_case_references,
}


def _read(content: bytes) -> list[tuple]:
    """What an import makes of a file: per report, whether it was read, its case, problems and deviations."""
    result = importer.import_loaded(xmlsafe.parse_bytes(content, "received.xml"))
    return [(r.ok, r.problems, sorted(r.deviations),
             json.dumps(bundle_to_case(r.bundle).model_dump(mode="json"), sort_keys=True) if r.bundle else None)
            for r in result.reports]


def _same_case_in_every_form(raw: bytes, form: str) -> None:
    written = FORMS[form](raw)
    assert written != raw
    assert _read(written) == _read(raw)


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("path", INPUTS, ids=lambda p: p.stem)
def test_a_file_reads_the_same_in_every_form(path: Path, form: str, e2b_schema_dir: Path) -> None:
    _same_case_in_every_form(path.read_bytes(), form)


@pytest.mark.parametrize("form", FORMS)
def test_the_shared_examples_read_the_same_in_every_form(form: str, shared_dir: Path, e2b_schema_dir: Path) -> None:
    """FDA's FAERS examples and the ICH-derived ones (other senders' layouts than ours)."""
    paths = [*sorted((shared_dir / "e2b" / "examples" / "fda-faers-2022").glob("*.xml")),
             *sorted((shared_dir / "e2b" / "examples" / "ich-derived").glob("*.xml"))]
    assert paths
    for path in paths:
        _same_case_in_every_form(path.read_bytes(), form)


def test_a_case_read_from_oid_ids_exports_its_links(e2b_schema_dir: Path) -> None:
    """Its export makes UUIDs of its own for those ids, and links drugs and reactions as the original does."""
    from reporter.e2b.export import export_bundles

    path = next(p for p in INPUTS if b"<outboundRelationship1" in p.read_bytes() or b"causalityAssessment" in
                p.read_bytes())
    raw = path.read_bytes()
    [original] = importer.import_loaded(xmlsafe.parse_bytes(raw, "a.xml")).reports
    [other] = importer.import_loaded(xmlsafe.parse_bytes(oid_ids(raw), "b.xml")).reports
    mine, theirs = export_bundles([original.bundle]), export_bundles([other.bundle])
    assert theirs.check.xsd == "valid"
    for link in (b"adverseEffectReference", b"productUseReference", b"<actReference"):
        assert theirs.xml.count(link) == mine.xml.count(link) > 0
    assert b"item-" not in theirs.xml


@pytest.mark.parametrize("form", ["prefixed", "padded", "oid-ids"])
def test_the_forms_are_valid_against_the_schema(form: str, e2b_schema_dir: Path) -> None:
    """The variants the readers must handle are correct E2B files, not broken ones they happen to accept."""
    result = importer.import_loaded(xmlsafe.parse_bytes(FORMS[form](INPUTS[0].read_bytes()), "received.xml"))
    assert result.schema_checked and not result.batch_problems
    assert all(not r.problems for r in result.reports)


def test_only_types_named_through_the_v3_namespace_lose_their_prefix() -> None:
    root = etree.fromstring(
        b'<v3:a xmlns:v3="urn:hl7-org:v3" xmlns:o="urn:other" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
        b'<v3:b xsi:type="v3:IVL_TS"/><v3:c xsi:type="o:IVL_TS"/><v3:d xsi:type=" PQ "/><v3:e xsi:type="ST"/>'
        b'<v3:f xmlns:w="urn:hl7-org:v3" xsi:type="w:CE"/><g xmlns="urn:hl7-org:v3" xsi:type=" BL "/></v3:a>')
    canonical.canonicalize(root)
    # " PQ " names a type of no namespace here (no default namespace is declared): left as written
    assert [n.get(f"{{{xmlsafe.XSI}}}type") for n in root] == ["IVL_TS", "o:IVL_TS", " PQ ", "ST", "CE", "BL"]


def test_token_attributes_are_collapsed_and_text_attributes_kept() -> None:
    root = etree.fromstring(b'<a xmlns="urn:hl7-org:v3"><b code=" 10\t 3 " displayName=" Rash " unit="mg "'
                            b' extension=" A1 " nullFlavor=" UNK"/></a>')
    canonical.canonicalize(root)
    assert dict(root[0].attrib) == {"code": "10 3", "displayName": " Rash ", "unit": "mg", "extension": " A1 ",
                                    "nullFlavor": "UNK"}


def test_the_first_drug_s_own_role_is_checked_in_either_id_form() -> None:
    """The rules read a drug's G.k.1 through the role's id (FDA W0005: the first drug should be suspect): with
    OID + extension ids, another drug's role must not count as the first drug's."""
    from reporter.e2b import rules

    path = next(p for p in INPUTS if p.stem.startswith("fda") and p.read_bytes().count(b"<substanceAdministration"
                                                                                        ) >= 2)
    doc = etree.fromstring(path.read_bytes())
    ids = [i.get("root") for i in doc.xpath("//h:organizer[h:code/@code='4']/h:component/h:substanceAdministration"
                                            "/h:id", namespaces=xmlsafe.NS)]
    for n, drug_id in enumerate(ids[:2]):  # the first drug concomitant, the second suspect
        doc.xpath(f"//h:causalityAssessment[h:code/@code='20'][h:subject2/h:productUseReference/h:id/@root="
                  f"'{drug_id}']/h:value", namespaces=xmlsafe.NS)[0].set("code", "2" if n == 0 else "1")
    changed = etree.tostring(doc, xml_declaration=True, encoding="UTF-8")

    def issues(content: bytes) -> list[tuple[str, str]]:
        return [(i.code, i.location) for i in rules.check(etree.fromstring(content), ("ich", "fda"))]

    assert any(code == "W0005" for code, _ in issues(changed))
    assert issues(oid_ids(changed)) == issues(changed)


def test_received_item_ids_go_back_out_as_received() -> None:
    """Ids are matched case-blind, but kept as the sender wrote them: a re-export sends the drugs' and
    reactions' upper-case UUIDs as they came."""
    from reporter.e2b.export import export_bundles

    path = next(p for p in INPUTS if p.read_bytes().count(b"<substanceAdministration") >= 2)
    upper = re.sub(rb'root="([0-9a-f-]{36})"', lambda m: b'root="' + m.group(1).upper() + b'"', path.read_bytes())
    doc = etree.fromstring(upper)
    sent = {i.get("root") for i in doc.xpath("//h:organizer[h:code/@code='4']/h:component/h:substanceAdministration"
                                             "/h:id | //h:subjectOf2/h:observation[h:code/@code='29']/h:id",
                                             namespaces=xmlsafe.NS)}
    assert sent and all(s == s.upper() for s in sent)
    [report] = importer.import_loaded(xmlsafe.parse_bytes(upper, "upper.xml")).reports
    again = export_bundles([report.bundle]).xml.decode()
    assert all(f'root="{s}"' in again for s in sent), sent
