"""Published-case shapes that E2B carries only as an SXPR_TS: a reaction with a duration but no dates, a
dosage with a frequency but no dates. The export is XSD-valid and rule-clean for every receiver, and the
case read back from it keeps the duration and the frequency (no fact is deleted to get through)."""

from __future__ import annotations

import pytest
from lxml import etree

from reporter.casefile.model import CaseFile
from reporter.e2b import to_case, xmlsafe
from reporter.e2b.export import export_bundles
from reporter.e2b.xmlsafe import HL7
from reporter.fhir.build import build_bundle
from tests.conftest import EXAMPLES
from tests.e2b.helpers import RECEIVERS, case_data

NS = {"h": HL7, "xsi": "http://www.w3.org/2001/XMLSchema-instance"}


def _shape(kind: str) -> dict:
    data = case_data(EXAMPLES / "case1-anakinra-hepatitis.yaml")
    reaction = data["reactions"][0]
    dosage = data["drugs"][0]["dosages"][0]
    if kind == "reaction-duration-only":
        reaction.pop("onset", None)
        reaction.pop("end", None)
        reaction["duration"] = {"value": 6, "unit": "wk"}
    elif kind == "dosage-frequency-only":
        dosage.pop("start", None)
        dosage.pop("stop", None)
        dosage["dose"] = {"value": 4, "unit": "mg/kg"}
        dosage["every"] = {"value": 1, "unit": "mo"}
    elif kind == "dosage-frequency-and-duration":
        dosage.pop("start", None)
        dosage.pop("stop", None)
        dosage["every"] = {"value": 1, "unit": "d"}
        dosage["duration"] = {"value": 21, "unit": "d"}
    return data


KINDS = ["reaction-duration-only", "dosage-frequency-only", "dosage-frequency-and-duration"]


@pytest.mark.parametrize("receiver", RECEIVERS)
@pytest.mark.parametrize("kind", KINDS)
def test_shape_exports_valid_for_every_receiver(kind: str, receiver: str, e2b_schema_dir) -> None:
    bundle = build_bundle(CaseFile.model_validate(_shape(kind)))
    result = export_bundles([bundle], receiver_name=receiver, schema_dir=e2b_schema_dir)
    assert result.check.xsd == "valid", result.check.text()
    assert result.check.ok, result.check.text()
    for time in etree.fromstring(result.xml).xpath("//h:effectiveTime[@xsi:type='SXPR_TS']", namespaces=NS):
        assert len(time.xpath("h:comp", namespaces=NS)) >= 2


@pytest.mark.parametrize("kind", KINDS)
def test_shape_reads_back_with_its_facts(kind: str) -> None:
    data = _shape(kind)
    bundle = build_bundle(CaseFile.model_validate(data))
    result = export_bundles([bundle], receiver_name="ich")
    loaded = xmlsafe.parse_bytes(result.xml, "export")
    case, _reader, why = to_case.message_to_case(loaded.root.find(f"{{{HL7}}}PORR_IN049016UV"))
    assert case is not None, why
    if kind == "reaction-duration-only":
        back = case.reactions[0]
        assert (back.duration.value, back.duration.unit) == (6, "wk")
        assert back.onset is None and back.end is None
    else:
        dosage = case.drugs[0].dosages[0]
        expected = data["drugs"][0]["dosages"][0]
        assert (dosage.every.value, dosage.every.unit) == (expected["every"]["value"], expected["every"]["unit"])
        assert dosage.start is None and dosage.stop is None
        if "duration" in expected:
            assert dosage.duration is not None and dosage.duration.value == expected["duration"]["value"]
