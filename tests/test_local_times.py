"""Times of day FHIR's dateTime cannot hold as E2B sends them: without a zone (a local time, which E2B allows and
ICH's own instances use for C.1.2), to the minute or the hour, and in a birth date (a FHIR date). Each is held
by the case model, written as valid FHIR (the day, the time beside it), read back unchanged, and exported."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
from lxml import etree

from reporter.casefile import parse_case
from reporter.casefile.model import CaseFile
from reporter.e2b import importer, xmlsafe
from reporter.e2b.export import export_bundles
from reporter.e2b.read.reader import ts_to_partial
from reporter.fhir import read
from reporter.fhir.build import build_bundle
from reporter.fhir.to_case import bundle_to_case
from reporter.tables import ext
from reporter.validation import validate_bundle
from tests.helpers import load_example

HL7 = {"h": "urn:hl7-org:v3"}


def _case(**changes) -> CaseFile:
    data = load_example()
    data["report"]["created"] = changes.get("created", data["report"]["created"])
    data["reactions"][0]["onset"] = changes.get("onset", data["reactions"][0]["onset"])
    if "birth_date" in changes:
        data["patient"].pop("age_at_onset", None)
        data["patient"]["birth_date"] = changes["birth_date"]
    return CaseFile.model_validate(data)


def _resource(bundle: dict, kind: str) -> dict:
    return next(e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == kind)


@pytest.mark.parametrize(("written", "held"), [
    ("2023-02-01T10:00", "2023-02-01T10:00:00"),               # local, to the minute
    ("2023-02-01T10:00:05", "2023-02-01T10:00:05"),            # local, to the second
    ("2023-02-01T10:00Z", "2023-02-01T10:00:00Z"),             # zoned, to the minute
    ("2023-02-01T10:00:05.25-05:00", "2023-02-01T10:00:05.25-05:00"),
])
def test_the_case_model_holds_local_times_and_fills_minutes_to_seconds(written, held):
    case = parse_case(f"case_id: X\nreport: {{type: spontaneous, first_received: '{written}', most_recent: 2023}}\n")
    assert case.report.first_received == held


def test_a_local_time_is_the_day_in_fhir_with_the_time_beside_it():
    case = _case(created="2023-09-05T09:00", onset="2023-08-20T23:15:30")
    bundle = build_bundle(case)
    composition, event = _resource(bundle, "Composition"), _resource(bundle, "AdverseEvent")
    assert composition["date"] == "2023-09-05"
    assert composition["_date"]["extension"] == [{"url": ext("local_time"), "valueTime": "09:00:00"}]
    assert event["date"] == "2023-08-20"
    assert read.datetime_at(event, "date") == "2023-08-20T23:15:30"
    assert "timestamp" not in bundle or bundle["timestamp"] is None or "T" not in composition["date"]
    report = validate_bundle(bundle)
    assert report.ok, [str(i) for i in report.errors]
    again = bundle_to_case(bundle)
    assert (again.report.created, again.reactions[0].onset) == ("2023-09-05T09:00:00", "2023-08-20T23:15:30")


def test_a_birth_time_goes_beside_the_birth_date():
    zoned = build_bundle(_case(birth_date="2011-04-05T10:30:00+02:00"))
    local = build_bundle(_case(birth_date="2011-04-05T10:30"))
    zoned_time = "2011-04-05T10:30:00+02:00"
    for bundle, beside, held in (
            (zoned, {"url": ext("birth_time"), "valueDateTime": zoned_time}, zoned_time),
            (local, {"url": ext("local_time"), "valueTime": "10:30:00"}, "2011-04-05T10:30:00")):
        patient = _resource(bundle, "Patient")
        assert patient["birthDate"] == "2011-04-05" and patient["_birthDate"]["extension"] == [beside]
        assert validate_bundle(bundle).ok
        assert bundle_to_case(bundle).patient.birth_date == held


def test_the_export_writes_the_local_time_without_a_zone(e2b_schema_dir: Path):
    bundle = build_bundle(_case(created="2023-09-05T09:00", onset="2023-08-20T23:15:30",
                                birth_date="2011-04-05T10:30:00+02:00"))
    result = export_bundles([bundle], receiver_name="ich", batch_id="T", schema_dir=e2b_schema_dir)
    assert result.check.xsd == "valid"
    doc = etree.fromstring(result.xml)
    assert doc.xpath("//h:controlActProcess/h:effectiveTime/@value", namespaces=HL7) == ["20230905090000"]
    assert "20230820231530" in doc.xpath("//h:observation[h:code/@code='29']//h:low/@value", namespaces=HL7)
    assert doc.xpath("//h:primaryRole/h:player1/h:birthTime/@value", namespaces=HL7) == ["20110405103000+0200"]


def test_ts_to_partial_holds_local_times_and_fills_the_precision_out():
    assert ts_to_partial("20120716000001") == "2012-07-16T00:00:01"
    assert ts_to_partial("202403171900-0500") == "2024-03-17T19:00:00-05:00"
    assert ts_to_partial("2024031719") == "2024-03-17T19:00:00"
    assert ts_to_partial("20240317190000.5+0100") == "2024-03-17T19:00:00.5+01:00"
    assert ts_to_partial("2024031719.5") is None  # a fraction of an hour: no such TS


def test_a_zone_given_in_hours_only_is_read_and_one_fhir_cannot_hold_is_not():
    """HL7's schema allows a zone of 1-4 digits and some senders write +05: the hours. It was listed as not
    mapped (C.1.2 lost); an offset FHIR's dateTime cannot hold (+9999, +15) had been made into an invalid
    dateTime, and is now not read (listed as not mapped) either."""
    assert ts_to_partial("20240317190000+05") == "2024-03-17T19:00:00+05:00"
    assert ts_to_partial("202403171900-08") == "2024-03-17T19:00:00-08:00"
    assert ts_to_partial("20240317190000+1400") == "2024-03-17T19:00:00+14:00"
    assert ts_to_partial("20240317190000+9999") is None
    assert ts_to_partial("20240317190000+15") is None
    assert ts_to_partial("20240317190000-5") is None  # one digit: not the hours (05) nor the minutes


def test_an_imported_time_with_an_hours_only_zone_is_written_back_in_full(e2b_schema_dir: Path):
    """A report whose C.1.2 ends in +05 comes back from the import with its time and zone, and goes out
    again as +0500."""
    bundle = build_bundle(_case())
    xml = export_bundles([bundle], receiver_name="ich", batch_id="T", schema_dir=e2b_schema_dir).xml
    doc = etree.fromstring(xml)
    [created] = doc.xpath("//h:controlActProcess/h:effectiveTime", namespaces=HL7)
    created.set("value", "20230905093000+05")
    content = etree.tostring(doc, xml_declaration=True, encoding="UTF-8")
    [report] = importer.import_loaded(xmlsafe.parse_bytes(content, "t.xml")).reports
    assert report.ok and not [line for line in report.coverage.lines() if line.startswith("C.1.2")]
    again = etree.fromstring(export_bundles([report.bundle], receiver_name="ich", batch_id="T",
                                            schema_dir=e2b_schema_dir).xml)
    assert again.xpath("//h:controlActProcess/h:effectiveTime/@value", namespaces=HL7) == ["20230905093000+0500"]


def _exported_then_imported(bundle: dict, schema_dir: Path, edit=None) -> tuple[importer.ImportedReport, bytes]:
    xml = export_bundles([bundle], receiver_name="ich", batch_id="T", schema_dir=schema_dir).xml
    if edit is not None:
        doc = etree.fromstring(xml)
        edit(doc)
        xml = etree.tostring(doc, xml_declaration=True, encoding="UTF-8")
    return importer.import_loaded(xmlsafe.parse_bytes(xml, "t.xml")).reports[0], xml


def test_an_imported_local_creation_time_is_kept_and_written_back(e2b_schema_dir: Path, monkeypatch):
    """ICH's instances send C.1.2 without a zone: it was 'not mapped' and the export wrote another date."""
    monkeypatch.setenv("REPORTER_E2B_SCHEMA_DIR", str(e2b_schema_dir))

    def local_creation(doc):
        doc.xpath("//h:controlActProcess/h:effectiveTime", namespaces=HL7)[0].set("value", "20120716000001")

    report, _ = _exported_then_imported(build_bundle(_case()), e2b_schema_dir, local_creation)
    assert report.ok and not report.coverage.not_mapped, report.coverage.not_mapped
    assert validate_bundle(report.bundle).ok
    assert bundle_to_case(report.bundle).report.created == "2012-07-16T00:00:01"
    again = export_bundles([report.bundle], receiver_name="ich", batch_id="T", schema_dir=e2b_schema_dir)
    created = etree.fromstring(again.xml).xpath("//h:controlActProcess/h:effectiveTime/@value", namespaces=HL7)
    assert created == ["20120716000001"]


def test_an_imported_time_to_the_minute_is_said_and_valid(e2b_schema_dir: Path, monkeypatch):
    monkeypatch.setenv("REPORTER_E2B_SCHEMA_DIR", str(e2b_schema_dir))
    bundle = build_bundle(_case(onset="2023-08-20T23:15:30+01:00"))

    def to_the_minute(doc):
        for node in doc.xpath("//h:observation[h:code/@code='29']//h:low", namespaces=HL7):
            node.set("value", "202308202315+0100")

    report, _ = _exported_then_imported(bundle, e2b_schema_dir, to_the_minute)
    assert validate_bundle(report.bundle).ok
    assert bundle_to_case(report.bundle).reactions[0].onset == "2023-08-20T23:15:00+01:00"
    said = [d for d in report.deviations if d.startswith("E.i.4 ")]
    assert said and "to the minute (202308202315+0100)" in said[0]


def test_an_edited_local_time_follows_into_the_export(e2b_schema_dir: Path):
    """An edit of the case (the time changed, the zone added) reaches the Bundle and the E2B XML."""
    bundle = build_bundle(_case(created="2023-09-05T09:00"))
    case = bundle_to_case(copy.deepcopy(bundle))
    data = json.loads(case.model_dump_json(by_alias=True, exclude_none=True))
    data["report"]["created"] = "2023-09-05T11:45:00+02:00"
    edited = build_bundle(CaseFile.model_validate(data))
    assert "_date" not in _resource(edited, "Composition")
    xml = export_bundles([edited], receiver_name="ich", batch_id="T", schema_dir=e2b_schema_dir).xml
    assert etree.fromstring(xml).xpath("//h:controlActProcess/h:effectiveTime/@value",
                                       namespaces=HL7) == ["20230905114500+0200"]
