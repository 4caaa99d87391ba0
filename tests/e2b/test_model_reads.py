"""Elements the importer reads into the case model that earlier versions listed as not mapped:
D.10.7 / D.10.8 (the parent's own history and drugs) and G.k.10.r sent as a null flavor (FDA.G.k.10a NA)."""

from __future__ import annotations

from pathlib import Path

import pytest
from lxml import etree

from reporter.casefile import model as m
from reporter.e2b import export, importer
from reporter.fhir.build import build_bundle
from reporter.fhir.to_case import bundle_to_case
from tests.conftest import shared_path

NS = {"h": "urn:hl7-org:v3"}
ADDITIONAL = "//h:substanceAdministration/h:outboundRelationship2/h:observation[h:code/@code='9']/h:value"


@pytest.fixture
def schema(e2b_schema_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("REPORTER_E2B_SCHEMA_DIR", str(e2b_schema_dir))
    return e2b_schema_dir


def _case(path: Path) -> m.CaseFile:
    report = importer.import_file(path).reports[0]
    assert report.bundle is not None, report.problems
    return bundle_to_case(report.bundle)


def test_parent_history_is_read_into_the_model(schema: Path) -> None:
    path = shared_path() / "e2b" / "examples" / "ich-derived" / "ich-style-HC-followup-MAH.xml"
    report = importer.import_file(path).reports[0]
    assert not [e for e in report.coverage.not_mapped if e.startswith("[parent]")], report.coverage.lines()
    parent = bundle_to_case(report.bundle).patient.parent
    assert parent is not None and parent.medical_history
    item = parent.medical_history[0]
    assert item.meddra.code == "10037153" and item.continuing is True


def test_parent_history_and_drugs_round_trip_through_e2b(schema: Path) -> None:
    case = bundle_to_case(importer.import_file(
        shared_path() / "e2b" / "examples" / "ich-derived" / "ich-style-HC-followup-MAH.xml").reports[0].bundle)
    case.primary_sources[0].primary = True  # the example lacks C.2.r.5, which ICH requires
    parent = case.patient.parent
    parent.history_text = "Gestational diabetes in this pregnancy"
    parent.past_drugs = [m.PastDrug(name="Insulin aspart", start="2019-03", indication=m.MedDRA(
        code="10018209", version=parent.medical_history[0].meddra.version))]
    out = export.export_bundles([build_bundle(case)], schema_dir=schema)
    assert out.check.xsd == "valid" and not out.check.errors, [i.message for i in out.check.errors][:3]
    back = importer.import_loaded(_loaded(out.xml)).reports[0]
    again = bundle_to_case(back.bundle).patient.parent
    assert again.history_text == parent.history_text
    assert [(d.name, d.start, d.indication.code) for d in again.past_drugs] == [("Insulin aspart", "2019-03",
                                                                                 "10018209")]
    assert again.medical_history == parent.medical_history


def _loaded(xml: bytes):
    from reporter.e2b import xmlsafe

    return xmlsafe.parse_bytes(xml, "<export>")


def test_additional_information_null_flavor_is_kept_for_the_receiver_that_takes_it(schema: Path) -> None:
    path = shared_path() / "e2b" / "examples" / "fda-faers-2022" / "FAERS2022Scenario5-3.xml"
    case = _case(path)
    flagged = [d for d in case.drugs if d.additional_info_absent is not None]
    assert flagged and all(d.additional_info_absent.absent == "not-applicable" for d in flagged)
    bundle = build_bundle(case)
    fda = etree.fromstring(export.export_bundles([bundle], receiver_name="fda", schema_dir=schema).xml)
    assert [v.get("nullFlavor") for v in fda.xpath(ADDITIONAL, namespaces=NS)] == ["NA"] * len(flagged)
    ich = export.export_bundles([bundle], receiver_name="ich", schema_dir=schema)
    assert not etree.fromstring(ich.xml).xpath(ADDITIONAL, namespaces=NS)  # ICH does not allow NA there
    assert bundle_to_case(bundle) == case


def test_missing_first_sender_is_not_known_not_other(schema: Path) -> None:
    """C.1.8.2 is mandatory; a report without it reads as not known and cannot be sent until supplied."""
    from reporter.e2b import xmlsafe

    path = shared_path() / "e2b" / "examples" / "fda-faers-2022" / "FAERS2022Scenario1.xml"
    tree = etree.fromstring(path.read_bytes())
    first = tree.xpath("//h:investigationEvent/h:outboundRelationship[h:relatedInvestigation/h:code/@code='1']",
                       namespaces=NS)
    assert len(first) == 1
    first[0].getparent().remove(first[0])
    report = importer.import_loaded(xmlsafe.parse_bytes(etree.tostring(tree), "no-first-sender.xml")).reports[0]
    assert report.bundle is not None, report.problems
    assert any(n.startswith("C.1.8.2") for n in report.notes), report.notes
    case = bundle_to_case(report.bundle)
    assert isinstance(case.report.first_sender, m.Absent)
    refused = export.export_bundles([build_bundle(case)], receiver_name="fda", schema_dir=schema)
    assert any(i.location.startswith("C.1.8.2") for i in refused.check.errors), refused.check.errors
    case.report.first_sender = "regulator"
    fixed = export.export_bundles([build_bundle(case)], receiver_name="fda", schema_dir=schema)
    assert not [i for i in fixed.check.errors if i.location.startswith("C.1.8.2")]
    code = etree.fromstring(fixed.xml).xpath(
        "//h:relatedInvestigation[h:code/@code='1']//h:assignedEntity/h:code/@code", namespaces=NS)
    assert code == ["1"]


def test_device_parts_of_a_combination_product_are_read_and_written(schema: Path) -> None:
    """FDA.G.k.12.r (FDA's Scenario 2): the device block goes through the case model and a FHIR Device."""
    path = shared_path() / "e2b" / "examples" / "fda-faers-2022" / "FAERS2022Scenario2.xml"
    report = importer.import_file(path).reports[0]
    assert not [e for e in report.coverage.not_mapped if e.startswith(("FDA.G.k.12", "[drug]"))], \
        report.coverage.lines()
    devices = [d for entry in report.bundle["entry"] if (d := entry["resource"])["resourceType"] == "Device"]
    assert len(devices) == 1 and devices[0]["lotNumber"] == "4577BN2-product-2-device1"
    case = bundle_to_case(report.bundle)
    (device,) = [d for drug in case.drugs for d in drug.devices]
    assert (device.brand_name, device.common_name, device.product_code) == ("Brand Name", "Common Device Name", "FMF")
    assert device.manufacturer.name == "Manufacturer Name" and device.manufacturer.address.country == "US"
    assert device.malfunction is True and device.problem_codes == ["4001", "3003"]
    assert (device.usage, device.operator) == ("2", "1")
    assert device.remedial_actions == ["6", "5"] and device.follow_up_types == ["2", "4"]

    device.lot = "LOT-NEW-1"
    device.problem_codes = ["4001"]
    bundle = build_bundle(case)
    fda = export.export_bundles([bundle], receiver_name="fda", schema_dir=schema)
    assert fda.check.xsd == "valid" and not fda.check.errors, [i.message for i in fda.check.errors][:3]
    root = etree.fromstring(fda.xml)
    part = "//h:kindOfProduct/h:part/h:partProduct"
    assert root.xpath(f"{part}/h:instanceOfKind/h:productInstanceInstance/h:lotNumberText/text()",
                      namespaces=NS) == ["LOT-NEW-1"]
    assert root.xpath(f"{part}//h:characteristic[h:code/@code='C54451']/h:value/@code", namespaces=NS) == ["4001"]
    assert root.xpath(f"{part}/h:name/text()", namespaces=NS) == ["Brand Name", "Common Device Name"]
    ich = export.export_bundles([bundle], receiver_name="ich", schema_dir=schema)
    assert not etree.fromstring(ich.xml).xpath(part, namespaces=NS)  # an FDA regional block


def test_included_documents_travel_through_the_model_fhir_and_e2b(schema: Path) -> None:
    """C.1.6.1.r.2 and C.4.r.2: the attached document and the literature article itself (EMA asks for the
    article with literature cases)."""
    import base64

    from reporter.casefile.parse import load_case
    from reporter.e2b import xmlsafe

    case = load_case(sorted((Path(__file__).parents[2] / "examples").glob("*.yaml"))[0])
    article = base64.b64encode(b"%PDF-1.4 an article").decode()
    case.literature[0].file = m.IncludedFile(media_type="application/pdf", data=article, reference="article.pdf")
    case.report.additional_documents = [m.Document(description="Discharge letter", file=m.IncludedFile(
        media_type="text/plain", data=base64.b64encode(b"Discharged on day 30").decode()))]
    bundle = build_bundle(case)
    literature = [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "DocumentReference"]
    assert literature[0]["content"][1]["attachment"] == {"contentType": "application/pdf", "data": article,
                                                        "url": "article.pdf"}
    assert bundle_to_case(bundle) == case
    out = export.export_bundles([bundle], receiver_name="ema", schema_dir=schema)
    assert out.check.xsd == "valid" and not out.check.errors, [i.message for i in out.check.errors][:3]
    root = etree.fromstring(out.xml)
    text = root.xpath("//h:document[h:code/@code='2']/h:text", namespaces=NS)[0]
    assert text.get("mediaType") == "application/pdf" and text[0].get("value") == "article.pdf"
    assert text[0].tail == article
    back = importer.import_loaded(xmlsafe.parse_bytes(out.xml, "<export>")).reports[0]
    again = bundle_to_case(back.bundle)
    assert again.literature[0].file == case.literature[0].file
    assert again.report.additional_documents == case.report.additional_documents


def test_included_document_that_is_not_valid_base64_is_kept_as_sent(schema: Path) -> None:
    path = shared_path() / "e2b" / "examples" / "fda-faers-2022" / "FAERS2022Scenario4.xml"
    report = importer.import_file(path).reports[0]
    case = bundle_to_case(report.bundle)
    (doc,) = case.report.additional_documents
    assert doc.file.reference == "Narrative Summary Report.pdf" and doc.file.data.startswith("VGhl")
    out = export.export_bundles([build_bundle(case)], receiver_name="fda", schema_dir=schema)
    text = etree.fromstring(out.xml).xpath("//h:document[h:code/@code='1']/h:text", namespaces=NS)[0]
    assert text[0].tail.strip() == doc.file.data


def test_a_dosage_time_sent_as_a_null_flavor_is_kept(schema: Path) -> None:
    path = shared_path() / "e2b" / "examples" / "fda-faers-2022" / "FAERS2022Scenario1.xml"
    case = _case(path)
    flagged = [d for drug in case.drugs for d in drug.dosages if d.period_absent is not None]
    assert flagged and flagged[0].period_absent.absent == "asked-unknown"
    assert flagged[0].start is None and flagged[0].every is None
    out = export.export_bundles([build_bundle(case)], receiver_name="fda", schema_dir=schema)
    assert out.check.xsd == "valid" and not out.check.errors, [i.message for i in out.check.errors][:3]
    times = etree.fromstring(out.xml).xpath(
        "//h:outboundRelationship2[@typeCode='COMP']/h:substanceAdministration/h:effectiveTime[@nullFlavor]",
        namespaces=NS)
    assert [t.get("nullFlavor") for t in times] == ["ASKU"] * len(flagged)


def test_fda_additional_information_codes_are_read_with_a_warning_for_the_examples_code_system(schema: Path
                                                                                              ) -> None:
    path = shared_path() / "e2b" / "examples" / "fda-faers-2022" / "FAERS2022Scenario5-1.xml"
    report = importer.import_file(path).reports[0]
    assert any("FDA.G.k.10a" in w for w in report.deviations), report.deviations
    case = bundle_to_case(report.bundle)
    assert sorted(k for d in case.drugs for k in d.fda_additional_info) == ["reference", "test"]
    assert not any(d.additional_info for d in case.drugs)  # FDA's "1 Test" is not ICH's "1 Counterfeit"
    fda = etree.fromstring(export.export_bundles([build_bundle(case)], receiver_name="fda", schema_dir=schema).xml)
    assert sorted(v.get("code") + "@" + v.get("codeSystem") for v in fda.xpath(ADDITIONAL, namespaces=NS)) == [
        "1@2.16.840.1.113883.3.989.5.1.2.1.1.7", "2@2.16.840.1.113883.3.989.5.1.2.1.1.7"]
    ich = etree.fromstring(export.export_bundles([build_bundle(case)], receiver_name="ich", schema_dir=schema).xml)
    assert not ich.xpath(ADDITIONAL, namespaces=NS)
