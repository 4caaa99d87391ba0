"""Report kinds an import must not lose or let overwrite newer news: a nullification or amendment sent without
its reason, an older report or a follow-up of a nullified case read into a folder of Bundles, compressed
included documents."""

from __future__ import annotations

import json
import re
from pathlib import Path

from click.testing import CliRunner
from lxml import etree

from reporter.casefile import parse_case
from reporter.cli import main
from reporter.e2b import importer
from reporter.e2b.export import export_bundles
from reporter.e2b.xmlsafe import HL7
from reporter.fhir.build import build_bundle
from reporter.fhir.to_case import bundle_to_case
from tests.helpers import load_example, mutated

NS = {"h": HL7}
REASON = "h:subjectOf2[h:investigationCharacteristic/h:code/@code='4']"


def _xml(data: dict) -> bytes:
    return export_bundles([build_bundle(parse_case(json.dumps(data)))], receiver_name="ich").xml


def _without_reason(data: dict) -> bytes:
    """The report as exported, less its C.1.11.2 (schema-valid; ICH's rule ICH-C.1.11.2 is broken)."""
    root = etree.fromstring(_xml(data))
    for node in root.xpath(f"//h:investigationEvent/{REASON}", namespaces=NS):
        node.getparent().remove(node)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def _nullified(kind: str = "nullification") -> dict:
    data = mutated(load_example())
    data["report"]["most_recent"] = "2023-10-02"
    data["report"]["nullification"] = {"kind": kind, "reason": "duplicate"}
    return data


def test_a_nullification_without_its_reason_is_still_a_nullification(tmp_path: Path) -> None:
    """C.1.11.1 was read only with its reason: sent without one, the nullification was dropped unsaid (counted as
    mapped) and the store took the report as a follow-up of the live case."""
    path = tmp_path / "nullified.xml"
    path.write_bytes(_without_reason(_nullified()))
    (report,) = importer.import_file(path).reports
    case = bundle_to_case(report.bundle)
    assert case.report.nullification is not None and case.report.nullification.kind == "nullification"
    assert case.report.nullification.reason.absent == "unknown"
    assert "C.1.11.1" not in report.coverage.not_mapped
    assert any(note.startswith("C.1.11.2 not received") for note in report.notes)


def test_a_nullification_without_its_reason_nullifies_the_stored_case(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("REPORTER_DATABASE_URL", f"sqlite:///{tmp_path / 'store.sqlite3'}")
    (tmp_path / "initial.xml").write_bytes(_xml(load_example()))
    (tmp_path / "nullified.xml").write_bytes(_without_reason(_nullified()))
    runner = CliRunner()
    first = runner.invoke(main, ["import", "--store", str(tmp_path / "initial.xml")])
    second = runner.invoke(main, ["import", "--store", str(tmp_path / "nullified.xml")])
    assert "version 1 (initial)" in first.output
    assert "version 2 (nullification)" in second.output, second.output


def test_an_amendment_without_its_reason_is_refused_at_export_by_its_element(tmp_path: Path) -> None:
    """Kept as an amendment whose reason is not known; the export names C.1.11.2 rather than writing a follow-up."""
    path = tmp_path / "amended.xml"
    path.write_bytes(_without_reason(_nullified("amendment")))
    (report,) = importer.import_file(path).reports
    case_file = tmp_path / "amended.json"
    case_file.write_text(bundle_to_case(report.bundle).model_dump_json(exclude_none=True), encoding="utf-8")
    result = CliRunner().invoke(main, ["e2b", str(case_file), "--receiver", "ich", "-o", str(tmp_path / "out.xml")])
    assert result.exit_code == 1
    assert re.search(r"C\.1\.11\.2.*report\.nullification\.reason", result.output), result.output


def test_a_compressed_included_document_is_read_whole(tmp_path: Path) -> None:
    """C.1.6.1.r.2 / C.4.r.2 with compression="DF": the case keeps the code and an export writes it back, yet the
    import listed it as not mapped."""
    import base64
    import zlib

    packer = zlib.compressobj(9, zlib.DEFLATED, -15)
    deflated = base64.b64encode(packer.compress(b"%PDF-1.4\n%%EOF\n" * 8) + packer.flush()).decode()
    file = {"media_type": "application/pdf", "data": deflated, "compression": "DF"}
    data = mutated(load_example())
    data["literature"] = [{"citation": "Smith J. A case. J Derm. 2012;10:1-5.", "file": file}]
    data["report"]["additional_documents"] = [{"description": "Discharge summary", "file": file}]
    path = tmp_path / "compressed.xml"
    path.write_bytes(_xml(data))
    (report,) = importer.import_file(path).reports
    assert not {"C.1.6.1.r.2", "C.4.r.2"} & set(report.coverage.not_mapped), report.coverage.lines()
    case = bundle_to_case(report.bundle)
    assert case.literature[0].file.compression == case.report.additional_documents[0].file.compression == "DF"


def _most_recent_in(folder: Path, case_id: str) -> tuple[str | None, str | None]:
    from reporter.e2b.followup import ids
    from reporter.fhir.read import most_recent

    bundle = json.loads((folder / f"{case_id}.json").read_text(encoding="utf-8"))
    return most_recent(bundle), ids(bundle)[2]


def test_an_older_report_or_one_after_a_nullification_does_not_replace_the_bundle_in_the_folder(tmp_path: Path):
    """`import -o DIR` said 'older than' and then wrote the older report over the newer Bundle (and a follow-up
    over the nullified one), so the folder, and every later import that compares with it, held the older facts."""
    initial = load_example()
    follow_up = mutated(initial)
    follow_up["report"]["most_recent"] = "2023-10-02"
    nullified = _nullified()
    nullified["report"]["most_recent"] = "2023-10-05"
    later = mutated(follow_up)
    later["report"]["most_recent"] = "2023-10-09"
    folder, runner = tmp_path / "bundles", CliRunner()
    results = {}
    for name, data in (("follow-up", follow_up), ("initial", initial), ("nullified", nullified), ("later", later)):
        (tmp_path / f"{name}.xml").write_bytes(_xml(data))
        results[name] = runner.invoke(main, ["import", str(tmp_path / f"{name}.xml"), "-o", str(folder)])
    case_id = initial["case_id"]
    assert results["initial"].exit_code == 1
    line = next(i for i, text in enumerate((tmp_path / "initial.xml").read_text().splitlines(), 1)
                if "<availabilityTime" in text)
    assert f"not written to {folder}: C.1.5 (line {line}): the report's most recent information (2023-09-04)" \
        in results["initial"].output
    assert results["nullified"].exit_code == 0
    assert results["later"].exit_code == 1 and "C.1.1 (line " in results["later"].output
    assert f"{case_id} was nullified" in results["later"].output
    assert _most_recent_in(folder, case_id) == ("2023-10-05", "nullification")


def test_the_store_refusing_an_older_report_names_the_line_of_its_c15(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("REPORTER_DATABASE_URL", f"sqlite:///{tmp_path / 'store.sqlite3'}")
    initial = load_example()
    follow_up = mutated(initial)
    follow_up["report"]["most_recent"] = "2023-10-02"
    runner, results = CliRunner(), []
    for name, data in (("follow-up", follow_up), ("initial", initial)):
        (tmp_path / f"{name}.xml").write_bytes(_xml(data))
        results.append(runner.invoke(main, ["import", "--store", str(tmp_path / f"{name}.xml")]))
    line = next(i for i, text in enumerate((tmp_path / "initial.xml").read_text().splitlines(), 1)
                if "<availabilityTime" in text)
    assert results[1].exit_code == 1
    assert f"not stored: C.1.5 (line {line}): the report's most recent information" in results[1].output


def test_a_nullification_or_amendment_of_a_case_not_held_is_said(tmp_path: Path, monkeypatch) -> None:
    """It became a new case (a nullified one) without a word: the sender may have meant a case sent elsewhere."""
    monkeypatch.setenv("REPORTER_DATABASE_URL", f"sqlite:///{tmp_path / 'store.sqlite3'}")
    path = tmp_path / "nullified.xml"
    path.write_bytes(_xml(_nullified()))
    line = next(i for i, text in enumerate(path.read_text().splitlines(), 1)
                if "2.16.840.1.113883.3.989.2.1.1.5" in text)
    runner, case_id = CliRunner(), load_example()["case_id"]
    for where, options in ((str(tmp_path / "bundles"), ["-o", str(tmp_path / "bundles")]), ("the store", ["--store"])):
        result = runner.invoke(main, ["import", str(path), *options])
        assert result.exit_code == 0, result.output
        assert (f"warning: C.1.11.1 (line {line}): nullification of {case_id}, a case {where} did not hold: kept as "
                "a new case; nullified, it takes no further reports") in result.output


def test_a_nullification_the_store_takes_as_a_version_is_not_said_to_be_new(tmp_path: Path, monkeypatch) -> None:
    """With --store and -o an empty folder, the folder's 'did not hold' was said of a case the store held."""
    monkeypatch.setenv("REPORTER_DATABASE_URL", f"sqlite:///{tmp_path / 'store.sqlite3'}")
    (tmp_path / "initial.xml").write_bytes(_xml(load_example()))
    (tmp_path / "nullified.xml").write_bytes(_xml(_nullified()))
    runner = CliRunner()
    runner.invoke(main, ["import", "--store", str(tmp_path / "initial.xml")])
    result = runner.invoke(main, ["import", "--store", str(tmp_path / "nullified.xml"), "-o", str(tmp_path / "new")])
    assert "version 2 (nullification)" in result.output and "did not hold" not in result.output


def _ids(root: etree._Element) -> dict[str, str]:
    places = {"N.1.3": "h:sender/h:device/h:id", "N.1.4": "h:receiver/h:device/h:id",
              "N.2.r.2": "h:PORR_IN049016UV/h:sender/h:device/h:id",
              "N.2.r.3": "h:PORR_IN049016UV/h:receiver/h:device/h:id"}
    return {number: root.xpath(path, namespaces=NS)[0].get("extension") for number, path in places.items()}


def test_a_report_of_a_batch_of_mixed_routes_goes_back_to_its_own_receiver_from_its_own_sender(tmp_path: Path):
    """A batch whose header says ICHTEST / HCSENDER holds a message from ACME-US to ZZFDA: its re-export went to
    FDA with the header's N.1.4 ICHTEST and N.1.3 HCSENDER (FDA's R0004 and R0100 refuse both)."""
    from reporter.e2b.export import export_bundles

    root = etree.fromstring(_xml(load_example()))
    for path, value in (("h:PORR_IN049016UV/h:sender/h:device/h:id", "ACME-US"),
                        ("h:PORR_IN049016UV/h:receiver/h:device/h:id", "ZZFDA"),
                        ("h:sender/h:device/h:id", "HCSENDER")):
        root.xpath(path, namespaces=NS)[0].set("extension", value)
    path = tmp_path / "mixed.xml"
    path.write_bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8"))
    (report,) = importer.import_file(path).reports
    export = export_bundles([report.bundle])
    assert export.receiver == "fda"
    assert _ids(etree.fromstring(export.xml)) == {"N.1.3": "ACME-US", "N.1.4": "ZZFDA", "N.2.r.2": "ACME-US",
                                                  "N.2.r.3": "ZZFDA"}
    assert not {"R0004", "R0100"} & {issue.code for issue in export.check.issues}


def test_a_test_named_in_free_text_only_is_read(tmp_path: Path) -> None:
    """F.r.2.1 as <code><originalText> with no MedDRA code and no code system (a CD holding its text only, as
    HL7 allows): the test's block was taken for one named by a bare code and dropped whole, its name, date and
    result listed as not mapped."""
    data = mutated(load_example())
    data["tests"] = [{"name": "skin biopsy", "date": "2023-08", "result_text": "psoriasiform dermatitis"}]
    root = etree.fromstring(_xml(data))
    (code,) = root.xpath("//h:organizer[h:code/@code='3']/h:component/h:observation/h:code", namespaces=NS)
    del code.attrib["codeSystem"]
    path = tmp_path / "test-text.xml"
    path.write_bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8"))
    (report,) = importer.import_file(path).reports
    assert not {"F.r.1", "F.r.2.1", "F.r.3.4"} & set(report.coverage.not_mapped), report.coverage.lines()
    (test,) = bundle_to_case(report.bundle).tests
    assert (test.name, test.date, test.result_text) == ("skin biopsy", "2023-08", "psoriasiform dermatitis")


def test_race_and_ethnicity_words_go_out_with_their_codes() -> None:
    """FDA.D.11.r / FDA.D.12: an import keeps the displayName as the code's words (text: Asian); the FDA export
    wrote the code alone, so the words were gone after a round trip."""
    data = mutated(load_example())
    data["patient"]["race"] = [{"code": "C41260", "text": "Asian"}]
    data["patient"]["ethnicity"] = {"code": "C41222", "text": "Not Hispanic or Latino"}
    bundle = build_bundle(parse_case(json.dumps(data)))
    root = etree.fromstring(export_bundles([bundle], receiver_name="fda").xml)
    shown = {v.get("code"): v.get("displayName") for v in root.xpath(
        "//h:observation[h:code/@codeSystem='2.16.840.1.113883.3.26.1.1']/h:value", namespaces=NS)}
    assert shown == {"C41260": "Asian", "C41222": "Not Hispanic or Latino"}


def test_a_message_without_its_patient_block_breaks_an_ich_rule() -> None:
    """A report with no adverseEventAssessment (no patient, reaction or drug) passed the ICH rules: each of
    them is checked within the patient or assessment block, and the message had none."""
    from reporter.e2b import rules

    root = etree.fromstring(_xml(load_example()))
    (assessment,) = root.xpath("//h:investigationEvent/h:component[h:adverseEventAssessment]", namespaces=NS)
    assessment.getparent().remove(assessment)
    assert "ICH-D" in {issue.code for issue in rules.check(root) if issue.severity == "error"}


def test_a_reason_not_known_is_refused_alike_from_the_bundle_and_from_the_case_file(tmp_path: Path) -> None:
    """`validate` of the case file said PLAUS-ABSENT-REASON for C.1.11.2, of its Bundle nothing, so the import
    (which validates the Bundle) exited 0 for a report `reporter e2b` refuses."""
    from reporter.validation import validate_bundle

    path = tmp_path / "amended.xml"
    path.write_bytes(_without_reason(_nullified("amendment")))
    (report,) = importer.import_file(path).reports
    codes = {(i.code, "C.1.11.2" in i.message) for i in validate_bundle(report.bundle).errors}
    assert ("PLAUS-ABSENT-REASON", True) in codes
    assert CliRunner().invoke(main, ["import", str(path), "-o", str(tmp_path / "out")]).exit_code == 1


def test_a_nullification_read_again_into_its_folder_is_no_refusal(tmp_path: Path) -> None:
    path, folder = tmp_path / "nullified.xml", tmp_path / "bundles"
    path.write_bytes(_xml(_nullified()))
    runner = CliRunner()
    results = [runner.invoke(main, ["import", str(path), "-o", str(folder)]) for _ in range(2)]
    assert [r.exit_code for r in results] == [0, 0], results[1].output


def test_the_report_page_says_an_amendment_reason_is_not_known(tmp_path: Path) -> None:
    from reporter.render.view import case_view

    path = tmp_path / "amended.xml"
    path.write_bytes(_without_reason(_nullified("amendment")))
    (report,) = importer.import_file(path).reports
    assert case_view(report.bundle).header.amendment == "Amendment: reason unknown"


def test_batch_import_does_not_put_an_older_report_over_a_newer_bundle(tmp_path: Path) -> None:
    """`reporter batch import -o DIR` of a follow-up and then its initial report left the initial one's facts in
    the folder (every report was written over the file of its C.1.1)."""
    initial = load_example()
    follow_up = mutated(initial)
    follow_up["report"]["most_recent"] = "2023-10-02"
    for name, data in (("follow-up", follow_up), ("initial", initial)):
        (tmp_path / f"{name}.xml").write_bytes(_xml(data))
    folder = tmp_path / "bundles"
    result = CliRunner().invoke(main, ["batch", "import", "--jobs", "1", "-o", str(folder),
                                       str(tmp_path / "follow-up.xml"), str(tmp_path / "initial.xml")])
    assert result.exit_code == 1
    assert "not written: C.1.5 (line " in result.output
    assert _most_recent_in(folder, initial["case_id"]) == ("2023-10-02", None)


def test_batch_import_names_the_line_of_a_refused_c15(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("REPORTER_DATABASE_URL", f"sqlite:///{tmp_path / 'store.sqlite3'}")
    initial = load_example()
    follow_up = mutated(initial)
    follow_up["report"]["most_recent"] = "2023-10-02"
    for name, data in (("follow-up", follow_up), ("initial", initial)):
        (tmp_path / f"{name}.xml").write_bytes(_xml(data))
    result = CliRunner().invoke(main, ["batch", "import", "--jobs", "1", "--store",
                                       str(tmp_path / "follow-up.xml"), str(tmp_path / "initial.xml")])
    assert result.exit_code == 1 and "not stored: C.1.5 (line " in result.output
