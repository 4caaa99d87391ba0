"""`reporter batch ...`: many files and the store on a process pool. Run as real processes (the command
forks its workers); every pooled run must give what a one-process run gives."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from lxml import etree

from reporter.inputs import load_bundle
from reporter.store.repository import CaseStore

REPO = Path(__file__).resolve().parents[1]
DEMOS = sorted((REPO / "examples").glob("*.yaml"))


def batch(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    full_env = {**os.environ, "PYTHONPATH": str(REPO), **(env or {})}
    return subprocess.run([sys.executable, "-m", "reporter.cli", "batch", *args], capture_output=True,
                          text=True, env=full_env, timeout=600)


def _broken_copy(tmp_path: Path) -> Path:
    bundle = load_bundle(DEMOS[0])
    patient = next(e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Patient")
    patient["gender"] = "boy"
    patient["birthDate"] = "2023-02-30"
    path = tmp_path / "broken.json"
    path.write_text(json.dumps(bundle), encoding="utf-8")
    return path


def test_validate_on_two_processes_matches_one(tmp_path):
    files = [str(p) for p in DEMOS] + [str(_broken_copy(tmp_path))]
    one, two = batch("validate", "--jobs", "1", *files), batch("validate", "--jobs", "2", *files)
    assert one.returncode == two.returncode == 1
    assert one.stdout == two.stdout
    lines = two.stdout.splitlines()
    assert [line.split(":")[0] for line in lines] == files  # input order kept
    assert lines[-1].endswith("2 error(s), 0 warning(s)") and "4 file(s), 1 with errors" in two.stderr


def test_validate_all_clean_exits_0():
    result = batch("validate", "-q", *map(str, DEMOS))
    assert result.returncode == 0, result.stderr
    assert result.stdout == "" and "3 file(s), 0 with errors" in result.stderr


def test_e2b_writes_one_valid_batch_per_case(tmp_path, e2b_schema_dir):
    out = tmp_path / "xml"
    result = batch("e2b", "--jobs", "2", "--receiver", "fda", "-o", str(out), *map(str, DEMOS),
                   env={"REPORTER_E2B_SCHEMA_DIR": str(e2b_schema_dir)})
    assert result.returncode == 0, result.stderr
    written = sorted(out.glob("*.xml"))
    assert [p.stem for p in written] == [p.stem for p in DEMOS]
    schema = etree.XMLSchema(etree.parse(str(e2b_schema_dir / "multicacheschemas" / "MCCI_IN200100UV01.xsd")))
    for path in written:
        assert schema.validate(etree.parse(str(path))), (path, schema.error_log)


def test_e2b_reports_a_bad_input_and_goes_on(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("case_id: [\n", encoding="utf-8")
    out = tmp_path / "xml"
    result = batch("e2b", "--jobs", "2", "-o", str(out), str(bad), str(DEMOS[0]))
    assert result.returncode == 1
    assert "invalid YAML" in result.stderr and "Traceback" not in result.stderr
    assert [p.stem for p in out.glob("*.xml")] == [DEMOS[0].stem]


def test_import_on_two_processes_matches_one(tmp_path, shared_dir, e2b_schema_dir):
    files = sorted(str(p) for p in (shared_dir / "e2b" / "examples").glob("*/*.xml"))
    env = {"REPORTER_E2B_SCHEMA_DIR": str(e2b_schema_dir)}
    one = batch("import", "--jobs", "1", "-o", str(tmp_path / "one"), *files, env=env)
    two = batch("import", "--jobs", "2", "-o", str(tmp_path / "two"), *files, env=env)
    assert one.returncode == two.returncode
    assert one.stderr.splitlines()[-1] == two.stderr.splitlines()[-1]
    assert "rejected" in two.stderr  # the negative example is reported, the others imported
    first = {p.name: p.read_text(encoding="utf-8") for p in (tmp_path / "one").glob("*.json")}
    second = {p.name: p.read_text(encoding="utf-8") for p in (tmp_path / "two").glob("*.json")}
    assert first and first == second


def test_revalidate_the_store(tmp_path):
    url = f"sqlite:///{tmp_path / 'store.sqlite3'}"
    store = CaseStore(url)
    for path in DEMOS:
        store.create(load_bundle(path), author="test")
    result = batch("revalidate", "--database-url", url, "--jobs", "2", "--chunk", "1")
    assert result.returncode == 0, result.stderr
    assert "3 stored case(s), 0 with errors" in result.stderr
    bundle = load_bundle(DEMOS[1])
    patient = next(e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Patient")
    patient["gender"] = "boy"
    stored = store.save(bundle, author="test", reason="a bad amendment")
    store.dispose()
    result = batch("revalidate", "--database-url", url, "--jobs", "2", "--chunk", "1")
    assert result.returncode == 1
    assert f"Bundle/{stored.case_id} version {stored.version}: 1 error(s)" in result.stdout
    assert "gender" in result.stdout and "3 stored case(s), 1 with errors" in result.stderr


@pytest.mark.parametrize("command", ["validate", "e2b", "import"])
def test_missing_file_is_a_clear_error(tmp_path, command):
    extra = ["-o", str(tmp_path / "out")] if command in ("e2b", "import") else []
    result = batch(command, *extra, str(tmp_path / "missing.yaml"))
    assert result.returncode in (1, 2) and "Traceback" not in result.stderr
    assert "missing.yaml" in result.stdout + result.stderr


def test_batch_import_lists_what_validation_will_refuse(tmp_path, e2b_schema_dir):
    """As `reporter import`: a case that imports but does not validate (a country code in lower case) is listed
    with its errors, checked in the worker, and makes the exit code 1."""
    from reporter.e2b.export import export_bundles

    doc = etree.fromstring(export_bundles([load_bundle(DEMOS[0])], schema_dir=e2b_schema_dir).xml)
    code = doc.xpath("//*[@codeSystem='1.0.3166.1.2.2']")[0]
    code.set("code", code.get("code").lower())
    path = tmp_path / "lower.xml"
    path.write_bytes(etree.tostring(doc, xml_declaration=True, encoding="UTF-8"))
    result = batch("import", "--jobs", "1", "-o", str(tmp_path / "out"), str(path),
                   env={"REPORTER_E2B_SCHEMA_DIR": str(e2b_schema_dir)})
    assert result.returncode == 1 and "invalid: TERM-COUNTRY" in result.stderr
    assert "1 report(s) imported (1 not valid), 0 rejected" in result.stderr


def test_e2b_says_what_a_bundle_holds_that_no_reader_takes_as_the_single_export_does(tmp_path):
    """`reporter e2b` lists the FHIR-NOT-READ warnings of a Bundle (gender 'other' goes as UNK...); the batch
    export wrote the file and said nothing of them."""
    from tests.test_fhir_unread_facts import _all_four, _not_read

    bundle = _all_four()
    said = _not_read(bundle)
    source = tmp_path / "icsr.json"
    source.write_text(json.dumps(bundle), encoding="utf-8")
    result = batch("e2b", "--jobs", "1", "-o", str(tmp_path / "xml"), str(source))
    assert result.returncode == 0, result.stderr
    assert f"{source}: written; 3 fact(s) of the Bundle not read, so not sent" in result.stderr
    assert all(f"{where}: {message}" in result.stderr for where, message in said.items()), result.stderr
    assert (tmp_path / "xml" / "icsr.xml").exists()
