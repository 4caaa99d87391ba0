"""E2B import: every shared example imports (or is rejected with a located message), and the residual
carried in the Bundle is complete: a message stripped of it gets it back with zero fact differences."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
from click.testing import CliRunner
from lxml import etree

from reporter.cli import main
from reporter.e2b import diff, importer, passthrough, to_case, xmlsafe
from reporter.e2b.xmlsafe import HL7


def _examples(shared: Path) -> list[Path]:
    return sorted((shared / "e2b" / "examples").glob("*/*.xml"))


@pytest.fixture
def schema_env(e2b_schema_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("REPORTER_E2B_SCHEMA_DIR", str(e2b_schema_dir))
    return e2b_schema_dir


def _strip_residual(message: etree._Element, used: list[tuple[etree._Element, str]]) -> etree._Element:
    """What a perfect exporter of the model alone would write: the read nodes and attributes only."""
    read: dict[etree._Element, set[str]] = {}
    for node, attr in used:
        read.setdefault(node, set()).add(attr)
    keep: set[etree._Element] = set()
    for node in read:
        while node is not None:
            keep.add(node)
            node = node.getparent()
    for el in list(message.iter()):
        if el is message or not isinstance(el.tag, str):
            continue
        if el not in keep:
            if el.getparent() is not None and el.getparent() in keep:
                el.getparent().remove(el)
            continue
        for attr in list(el.attrib):
            name = diff._attr_name(attr)
            if name not in read.get(el, set()) and name not in passthrough.STRUCTURAL:
                del el.attrib[attr]
        if "#text" not in read.get(el, set()) and (el.text or "").strip():
            el.text = None
    return message


def test_every_valid_example_imports(shared_dir: Path, schema_env: Path) -> None:
    for path in _examples(shared_dir):
        result = importer.import_file(path)
        for report in result.reports:
            if "negative" in str(path):
                assert not report.ok
            else:
                assert report.ok, (path.name, report.problems)
                assert report.bundle["entry"][0]["resource"]["resourceType"] == "Composition"


def test_residual_restores_every_fact(shared_dir: Path) -> None:
    for path in _examples(shared_dir):
        if "negative" in str(path):
            continue
        original = xmlsafe.load(path).root
        work = copy.deepcopy(original)
        for message in work.findall(f"{{{HL7}}}PORR_IN049016UV"):
            case, reader, why = to_case.message_to_case(message)
            assert case is not None, why
            composition = {"extension": passthrough.residual(message, reader.used)}
            _strip_residual(message, reader.used)
            assert passthrough.apply(message, composition) == 0
        differences = diff.compare(original, work)
        assert not differences, f"{path.name}\n{diff.table(differences)}"


def test_negative_example_is_rejected_with_line_and_element(shared_dir: Path, schema_env: Path) -> None:
    path = shared_dir / "e2b" / "examples" / "negative" / "freevigilance-modified-literature-INVALID.xml"
    result = importer.import_file(path)
    [report] = result.reports
    assert not report.ok
    assert any("line 440" in p and "effectiveTime" in p and "[dosage]" in p for p in report.problems)


def test_cli_import_writes_one_bundle_per_report(shared_dir: Path, schema_env: Path, tmp_path: Path) -> None:
    path = shared_dir / "e2b" / "examples" / "fda-faers-2022" / "FAERS2022Scenario1.xml"
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["import", str(path), "-o", str(out)])
    assert result.exit_code == 0, result.output
    files = sorted(out.glob("*.json"))
    assert [f.name for f in files] == ["US-APHARMA-8744554B.json"]
    again = CliRunner().invoke(main, ["import", str(path), "-o", str(out)])
    assert "follow-up" in again.output or "same case" in again.output


def test_cli_rejects_malicious_xml_and_writes_nothing(tmp_path: Path) -> None:
    evil = tmp_path / "evil.xml"
    evil.write_text('<?xml version="1.0"?>\n<!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>\n'
                    '<MCCI_IN200100UV01 xmlns="urn:hl7-org:v3"><id extension="&x;"/></MCCI_IN200100UV01>')
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["import", str(evil), "-o", str(out)])
    assert result.exit_code == 2
    assert "DTDs and entities are refused" in result.output and "Traceback" not in result.output
    assert not out.exists()
