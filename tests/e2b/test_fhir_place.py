"""`reporter validate` and `reporter e2b` given an imported Bundle name a problem's E2B element beside its FHIRPath
(through the `fhir` column of mappings/e2b/locations.yaml), as `reporter import` does with the line: they named
only 'Bundle.entry[4].resource.ofType(AdverseEvent).extension[1].valueAge.code'."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from reporter.cli import main
from reporter.e2b import fhir_place, importer
from reporter.fhir.build import build_bundle
from reporter.fhir.to_case import bundle_to_case
from tests.conftest import shared_path

INPUTS = Path(__file__).parent / "inputs"
AGE_UNIT = "Bundle.entry[4].resource.ofType(AdverseEvent).extension[1].valueAge.code"


@pytest.fixture
def bad_unit(tmp_path: Path, shared_dir: Path) -> Path:
    """FDA's example with an age unit that is not UCUM, imported: its Bundle as a file."""
    source = shared_path() / "e2b" / "examples" / "fda-faers-2022" / "FAERS2022Scenario1.xml"
    raw = source.read_bytes().replace(b'value="48" unit="a"', b'value="48" unit="yearz"')
    assert raw != source.read_bytes()
    (tmp_path / "bad.xml").write_bytes(raw)
    bundle = importer.import_file(tmp_path / "bad.xml").reports[0].bundle
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(bundle), encoding="utf-8")
    return path


def test_validate_names_the_element_of_an_imported_bundle(bad_unit: Path) -> None:
    result = CliRunner().invoke(main, ["validate", str(bad_unit)])
    assert result.exit_code == 1
    assert f"D.2.2b; {AGE_UNIT}: 'yearz' is not a UCUM unit" in result.output, result.output
    outcome = json.loads(CliRunner().invoke(main, ["validate", str(bad_unit), "--format", "json"]).stdout)
    expressions = [e for i in outcome["issue"] for e in i.get("expression", [])]
    assert AGE_UNIT in expressions  # an OperationOutcome keeps FHIRPath alone


def test_e2b_names_the_element_of_an_imported_bundle(bad_unit: Path) -> None:
    result = CliRunner().invoke(main, ["e2b", str(bad_unit), "-o", str(bad_unit.with_suffix(".xml"))])
    assert result.exit_code == 1
    assert f"D.2.2b; {AGE_UNIT}: 'yearz' is not a UCUM unit" in result.output, result.output


def test_the_patient_and_the_parent_are_told_apart() -> None:
    bundle = importer.import_file(INPUTS / "ema-literature-study-parent-death.xml").reports[0].bundle
    patients = [i for i, e in enumerate(bundle["entry"]) if e["resource"]["resourceType"] == "Patient"]
    assert len(patients) == 2
    found = {fhir_place.element_of(bundle, f"Bundle.entry[{i}].resource.ofType(Patient).gender") for i in patients}
    assert found == {"D.5", "D.10.6"}


def test_a_bundle_not_imported_keeps_its_fhirpath() -> None:
    bundle = importer.import_file(INPUTS / "ema-literature-study-parent-death.xml").reports[0].bundle
    case = bundle_to_case(bundle)
    case.report.routing = None
    authored = build_bundle(case)
    assert fhir_place.with_element(authored, "Bundle.entry[1].resource.ofType(Patient).gender") == \
        "Bundle.entry[1].resource.ofType(Patient).gender"
    assert fhir_place.with_element(bundle, "Bundle.entry[1].resource.ofType(Patient).gender").endswith(
        "; Bundle.entry[1].resource.ofType(Patient).gender")
