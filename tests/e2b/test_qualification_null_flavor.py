"""C.2.r.4 sent as a null flavor with ICH's code system keeps it in a re-export of the imported case, as in an
export of its case file: the writer dropped it whenever the Bundle came from an import."""

from __future__ import annotations

from pathlib import Path

from lxml import etree

from reporter.e2b import export, importer
from reporter.fhir.build import build_bundle
from reporter.fhir.to_case import bundle_to_case

NS = {"h": "urn:hl7-org:v3"}
SOURCE = Path(__file__).parent / "inputs" / "ema-literature-masked-reporter.xml"
QUALIFICATION = "//h:assignedPerson/h:asQualifiedEntity/h:code[@nullFlavor]"


def _flavored(xml: bytes) -> list[dict[str, str]]:
    return [dict(code.attrib) for code in etree.fromstring(xml).xpath(QUALIFICATION, namespaces=NS)]


def test_a_null_flavored_qualification_keeps_its_code_system() -> None:
    received = _flavored(SOURCE.read_bytes())
    assert received == [{"codeSystem": "2.16.840.1.113883.3.989.2.1.1.6", "nullFlavor": "UNK"}]
    bundle = importer.import_file(SOURCE).reports[0].bundle
    again = export.export_bundles([bundle], receiver_name="ema").xml
    assert _flavored(again) == received
    from_case_file = export.export_bundles([build_bundle(bundle_to_case(bundle))], receiver_name="ema").xml
    assert _flavored(from_case_file) == received
