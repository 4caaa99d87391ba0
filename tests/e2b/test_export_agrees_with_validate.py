"""`reporter e2b` refuses what `reporter validate` refuses: a Bundle of the wrong type, a reference that does not
resolve, a unit that is not UCUM were written to a regulator's file while validation said ERROR. So too
`reporter batch e2b`, the case page's readiness and the E2B download of a stored case."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from reporter.e2b.readiness import by_receiver, validation_errors
from reporter.inputs import load_bundle
from reporter.validation import validate_bundle
from tests.helpers import CASE1, REPO


def _resource(bundle: dict, kind: str) -> dict:
    return next(e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == kind)


def _searchset(bundle: dict) -> None:
    bundle["type"] = "searchset"


def _dangling(bundle: dict) -> None:
    _resource(bundle, "AdverseEvent")["subject"] = {"reference": "urn:uuid:00000000-0000-0000-0000-000000000000"}


def _not_ucum(bundle: dict) -> None:
    test = next(e["resource"] for e in bundle["entry"]
                if e["resource"]["resourceType"] == "Observation" and "valueQuantity" in e["resource"])
    test["valueQuantity"].update(code="mg/furlong", unit="mg/furlong")


BREAKS = {"searchset": (_searchset, "BUNDLE-TYPE"), "dangling": (_dangling, "BUNDLE-REFERENCE"),
          "not-ucum": (_not_ucum, "TERM-UCUM")}


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "reporter.cli", *args], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(REPO)}, timeout=300, check=False)


@pytest.fixture()
def broken(tmp_path: Path, request) -> tuple[Path, str]:
    damage, code = BREAKS[request.param]
    bundle = load_bundle(CASE1)
    damage(bundle)
    path = tmp_path / f"{request.param}.json"
    path.write_text(json.dumps(bundle), encoding="utf-8")
    return path, code


@pytest.mark.parametrize("broken", sorted(BREAKS), indirect=True)
def test_e2b_refuses_what_validate_refuses(broken, tmp_path):
    path, code = broken
    validated = _cli("validate", str(path))
    assert validated.returncode == 1 and code in validated.stdout
    out = tmp_path / "out.xml"
    exported = _cli("e2b", str(path), "-o", str(out))
    assert exported.returncode == 1, exported.stderr
    assert code in exported.stderr and "not written" in exported.stderr and not out.exists()
    forced = _cli("e2b", "--force", str(path), "-o", str(out))
    assert forced.returncode == 1 and out.exists()  # written on request, still said to fail


def test_batch_e2b_refuses_what_validate_refuses(tmp_path):
    bundle = load_bundle(CASE1)
    _not_ucum(bundle)
    path = tmp_path / "not-ucum.json"
    path.write_text(json.dumps(bundle), encoding="utf-8")
    result = _cli("batch", "e2b", "--jobs", "1", "-o", str(tmp_path / "xml"), str(path), str(CASE1))
    assert result.returncode == 1 and "TERM-UCUM" in result.stdout + result.stderr
    assert [p.stem for p in (tmp_path / "xml").glob("*.xml")] == [CASE1.stem]


def test_readiness_names_validation_errors_for_every_receiver():
    bundle = load_bundle(CASE1)
    assert all(line.ready for line in by_receiver(bundle))
    _dangling(bundle)
    lines = by_receiver(bundle)
    assert lines and all(any(p.issue.code == "BUNDLE-REFERENCE" for p in line.problems) for line in lines)


def test_validation_errors_name_the_input_among_several():
    good, bad = load_bundle(CASE1), load_bundle(CASE1)
    _dangling(bad)
    found = validation_errors([good, bad], None, ["good.json", "bad.json"])
    assert [i.code for i in found] == [i.code for i in validate_bundle(bad).errors] == ["BUNDLE-REFERENCE"]
    assert found[0].location.startswith("bad.json: Bundle.entry[")


def test_what_e2b_cannot_carry_names_its_case_file_field(tmp_path):
    """A dosage's stop held relative to a drug has no E2B element: the note names the drug, the dosage and the
    case-file field with its line (it named the whole 'drugs' list, at its first line)."""
    exported = _cli("e2b", str(CASE1), "-o", str(tmp_path / "case1.xml"), "--receiver", "ich")
    line = next(x for x in exported.stderr.splitlines() if "E2B-NOT-SENT" in x and "G.k.4.r.5" in x)
    assert "G.k.4.r.5 (case 1, drug 1, dosage 1) <- drugs[0].dosages[0].stop (line " in line


def test_a_narrative_past_libxml2s_text_limit_is_a_length_error_not_a_crash():
    """A stored narrative over 10 MB (the API takes 20 MB bodies) failed the parse of our own output (libxml2's
    limit for untrusted text), and the case page answered 500: now it is E2B-LENGTH for every receiver."""
    bundle = load_bundle(CASE1)
    composition = bundle["entry"][0]["resource"]
    section = next(s for s in composition["section"] if "narrative" in str(s.get("code", "")).lower()
                   or "narrative" in str(s.get("title", "")).lower())
    section["text"]["div"] = f'<div xmlns="http://www.w3.org/1999/xhtml">{"x" * (11 * 1024 * 1024)}</div>'
    lines = by_receiver(bundle)
    assert lines and all(any(p.issue.code == "E2B-LENGTH" for p in line.problems) for line in lines)
