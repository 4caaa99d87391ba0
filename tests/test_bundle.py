"""Case file -> ICSR Bundle: golden files, determinism, content, and FHIR validity (R4B models and two
independent validators)."""

from __future__ import annotations

import ast
import json
import shutil
import subprocess
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reporter.casefile import load_case
from reporter.fhir.build import build_bundle, dumps
from reporter.fhir.models import structure_errors
from reporter.fhir.read import BundleIndex, relative_time
from tests.conftest import GOLDEN, check_golden
from tests.helpers import CASE1, REPO

VALIDATOR_DIR = REPO / "tools" / "fhir-validator"


def bundle_for(path: Path) -> dict:
    return build_bundle(load_case(path))


def test_golden_bundles(example_files, update_golden):
    for path in example_files:
        check_golden(GOLDEN / "bundles" / f"{path.stem}.json", dumps(bundle_for(path)), update_golden)


def test_same_case_same_bytes():
    assert dumps(bundle_for(CASE1)) == dumps(bundle_for(CASE1))


def test_r4b_models_accept_the_demo_bundles(example_files):
    for path in example_files:
        assert structure_errors(bundle_for(path)) == [], path


def test_case1_alt_at_day_21():
    bundle = bundle_for(CASE1)
    index = BundleIndex(bundle)
    alts = [o for o in index.section("tests")
            if any(c.get("code") == "1742-6" and c.get("system") == "http://loinc.org"
                   for c in o["code"].get("coding", []))]
    by_day = {}
    for obs in alts:
        rel = relative_time(obs, "effectiveDateTime")
        by_day[rel.value] = obs
        assert index.resolve(rel.drug_reference)["resourceType"] == "MedicationStatement"
    day21 = by_day[21]
    assert day21["valueQuantity"] == {"value": 4065, "unit": "U/L", "system": "http://unitsofmeasure.org",
                                      "code": "U/L"}
    assert day21["referenceRange"][0]["high"]["value"] == 33
    assert "effectiveDateTime" not in day21, "a relative day must not be turned into a date"
    assert sorted(by_day) == [0, 21, 55]


def test_document_shape():
    bundle = bundle_for(CASE1)
    assert bundle["type"] == "document"
    composition = bundle["entry"][0]["resource"]
    assert composition["resourceType"] == "Composition"
    assert composition["identifier"]["value"] == "GB-EXAMPLEPHARMA-2023-000101"
    codes = [s["code"]["coding"][0]["code"] for s in composition["section"]]
    assert codes.index("PatientInformation") < codes.index("ReactionEvent") < codes.index("DrugInformation")
    types = {e["resource"]["resourceType"] for e in bundle["entry"]}
    assert {"Patient", "MedicationStatement", "Medication", "Observation", "AdverseEvent", "Practitioner",
            "PractitionerRole", "Organization", "DocumentReference"} <= types
    urls = [e["fullUrl"] for e in bundle["entry"]]
    assert len(urls) == len(set(urls))


def test_suspect_entity_and_causality_per_assessment():
    index = BundleIndex(bundle_for(CASE1))
    hepatitis = next(e for e in index.all("AdverseEvent") if e["event"]["coding"][0]["code"] == "10019717")
    (entity,) = hepatitis["suspectEntity"]
    assert index.resolve(entity["instance"])["resourceType"] == "MedicationStatement"
    assert [c["method"]["text"] for c in entity["causality"]] == ["Global introspection", "WHO-UMC", "Naranjo", "RUCAM"]


def test_absent_values_carry_a_reason():
    patient = BundleIndex(bundle_for(CASE1)).patient
    (name,) = patient["name"]
    assert name["extension"][0]["url"] == "http://hl7.org/fhir/StructureDefinition/data-absent-reason"
    assert name["extension"][0]["valueCode"] == "unknown"


def test_only_the_fhir_models_module_imports_fhir_resources():
    offenders = []
    for path in (REPO / "reporter").rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            if any(n == "fhir.resources" or n.startswith("fhir.resources.") for n in names):
                rel = path.relative_to(REPO).as_posix()
                if rel != "reporter/fhir/models.py" or any(not n.startswith("fhir.resources.R4B") for n in names):
                    offenders.append(rel)
    assert not offenders, f"fhir.resources imported outside reporter/fhir/models.py (or not R4B): {offenders}"


def _independent_validator() -> Path:
    node = shutil.which("node")
    if not node or not (VALIDATOR_DIR / "node_modules").is_dir():
        import os

        if os.environ.get("CI"):
            pytest.fail("CI must install the independent FHIR validator (npm ci in tools/fhir-validator)")
        pytest.skip("independent FHIR validator not installed (cd tools/fhir-validator && npm ci)")
    return Path(node)


def run_independent(node: Path, files: list[Path]) -> list[dict]:
    proc = subprocess.run([str(node), str(VALIDATOR_DIR / "validate.js"), *map(str, files)],
                          capture_output=True, text=True, timeout=120, check=False)
    return [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]


def test_independent_fhir_validators_accept_the_demo_bundles(example_files, tmp_path):
    node = _independent_validator()
    files = []
    for path in example_files:
        out = tmp_path / f"{path.stem}.json"
        out.write_text(dumps(bundle_for(path)), encoding="utf-8")
        files.append(out)
    results = run_independent(node, files)
    assert len(results) == len(files)
    assert all(r["valid"] for r in results), [r["errors"][:5] for r in results if not r["valid"]]


def test_independent_fhir_validators_can_fail(tmp_path):
    node = _independent_validator()
    bundle = bundle_for(CASE1)
    event = next(e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "AdverseEvent")
    event["actuality"] = "sometimes"
    event["colour"] = "red"
    out = tmp_path / "broken.json"
    out.write_text(json.dumps(bundle), encoding="utf-8")
    (result,) = run_independent(node, [out])
    assert not result["valid"]
    validators = {e["validator"] for e in result["errors"]}
    assert validators == {"hl7-json-schema", "fhir.js"}


def test_creation_date_defaults_to_the_most_recent_day_at_midnight_utc():
    from reporter.casefile import parse_case

    base = "case_id: X\nreport: {type: spontaneous, first_received: 2023-01-02, most_recent: %s}\n"
    assert build_bundle(parse_case(base % "2023-02-03"))["entry"][0]["resource"]["date"] == "2023-02-03T00:00:00Z"
    assert build_bundle(parse_case(base % "2023-02"))["entry"][0]["resource"]["date"] == "2023-02"


@settings(max_examples=300, deadline=None)
@given(st.text(), st.text())
def test_resource_ids_are_rfc4122_uuid5(case_id: str, role: str) -> None:
    """build.resource_id writes uuid5 out by hand (for speed): the same text as the uuid module's."""
    import uuid

    from reporter.fhir.build import ID_NAMESPACE, resource_id

    name = f"{case_id}|{role}"
    try:
        expected = str(uuid.uuid5(ID_NAMESPACE, name))
    except UnicodeEncodeError:  # a lone surrogate: neither can encode it
        with pytest.raises(UnicodeEncodeError):
            resource_id(case_id, role)
        return
    assert resource_id(case_id, role) == expected
