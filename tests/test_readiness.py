"""`reporter validate --receiver`: the E2B output checks (XSD, ICH conformance, receiver rules) in the one
validation report, each problem once, with its E2B number and the case-file field and line it comes from;
green exactly when `reporter e2b` succeeds for that receiver."""

from __future__ import annotations

import copy
import subprocess
import sys

import pytest
import yaml

from reporter.e2b.readiness import case_path, receivers_for
from reporter.validation import validate_file
from tests.conftest import EXAMPLES, REPO
from tests.helpers import load_example

MINIMAL = """\
$format: ae-reporter/case/1
case_id: TEST-READY-1
report:
  type: spontaneous
  first_received: 2023-09-04
  most_recent: 2023-09-04
primary_sources:
  - qualification: physician
patient:
  initials: AB
reactions:
  - id: r1
    verbatim: rash
    meddra: {code: "10037844", version: "26.1"}
drugs:
  - id: d1
    role: suspect
    product: Drugix
    reactions: [{reaction: r1}]
"""


def _cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "reporter.cli", *args], capture_output=True, text=True, cwd=REPO,
                          env=env, timeout=300)


@pytest.fixture
def schema_env(e2b_schema_dir, monkeypatch):
    monkeypatch.setenv("REPORTER_E2B_SCHEMA_DIR", str(e2b_schema_dir))
    import os

    return {**os.environ, "PYTHONPATH": str(REPO)}


def test_e2b_problems_name_the_element_and_the_case_field_with_its_line(tmp_path, schema_env) -> None:
    path = tmp_path / "case.yaml"
    path.write_text(MINIMAL, encoding="utf-8")
    _, plain = validate_file(path)
    assert plain.ok, plain.to_text()  # the case layers alone find nothing ...
    _, report = validate_file(path, receiver="all")
    assert not report.ok  # ... but the export would be refused
    by_code = {i.code: i for i in report.issues}
    assert by_code["R0011"].location == "C.1.7 (case 1) <- report.expedited (line 3)"
    assert by_code["R0011"].message.startswith("[fda] ")
    assert by_code["R0035"].location.endswith("<- patient.history_text (line 9)")
    shared = [i for i in report.issues if i.code == "ICH-C.2.r.5"]
    assert len(shared) == 1 and shared[0].message.startswith("[ich, ema, fda] ")
    assert "primary_sources (line 7)" in shared[0].location


def test_cli_validate_receiver_exit_code_matches_e2b(tmp_path, schema_env) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(MINIMAL, encoding="utf-8")
    good = EXAMPLES / "case1-anakinra-hepatitis.yaml"
    for path in (bad, good):
        validated = _cli("validate", str(path), "--receiver", "all", env=schema_env)
        exported = [_cli("e2b", str(path), "--receiver", r, "-o", str(tmp_path / f"{r}.xml"), env=schema_env)
                    for r in receivers_for("all")]
        assert (validated.returncode == 0) == all(e.returncode == 0 for e in exported), validated.stdout
    assert "R0011" in _cli("validate", str(bad), "--receiver", "fda", env=schema_env).stdout
    assert "R0011" not in _cli("validate", str(bad), "--receiver", "ema", env=schema_env).stdout


def test_examples_are_ready_for_every_receiver(example_files, schema_env) -> None:
    for path in example_files:
        _, report = validate_file(path, receiver="all")
        assert report.ok, report.to_text()
        assert not any(i.code == "E2B-XSD-SKIPPED" for i in report.issues)


def test_length_problem_names_the_case_field(tmp_path, schema_env) -> None:
    case = copy.deepcopy(load_example())
    case["reactions"][0]["verbatim"] = "x" * 300  # E.i.1.2 holds at most 250 characters
    path = tmp_path / "long.yaml"
    path.write_text(yaml.safe_dump(case, sort_keys=False), encoding="utf-8")
    _, report = validate_file(path, receiver="ich")
    issue = next(i for i in report.issues if i.code == "E2B-LENGTH")
    assert issue.location.startswith("E.i.1.2 (case 1, reaction 1) <- reactions[0].verbatim (line ")


def test_case_paths_of_e2b_locations() -> None:
    assert case_path("G.k.4.r.4 (case 1, drug 2, dosage 1)") == "drugs[1].dosages[0].start"
    assert case_path("E.i.4 (case 1, reaction 2)") == "reactions[1].onset"
    assert case_path("C.1.7 (case 1)") == "report.expedited"
    assert case_path("D.7.1.r.2 (case 1, history 2)") == "patient.medical_history[1]"
    assert case_path("N.1.2") is None


def test_e2b_command_names_the_case_file_field_of_each_problem(tmp_path, schema_env) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(MINIMAL, encoding="utf-8")
    alone = _cli("e2b", str(bad), "--receiver", "fda", env=schema_env)
    assert alone.returncode == 1
    assert "C.1.7 (case 1) <- report.expedited (line 3)" in alone.stderr
    together = _cli("e2b", str(EXAMPLES / "case1-anakinra-hepatitis.yaml"), str(bad), "--receiver", "fda",
                    env=schema_env)
    assert f"C.1.7 (case 2) <- {bad}: report.expedited (line 3)" in together.stderr


def test_a_null_flavor_e2b_refuses_is_said_once(tmp_path, schema_env) -> None:
    """A history start given as 'unknown' (E2B takes masked, asked-unknown or not-asked there): the case layer
    names the field and what to write; the export's own check of the same element is not repeated. A second
    such item is still said, once."""
    data = yaml.safe_load(MINIMAL)
    data["patient"]["medical_history"] = [
        {"meddra": {"code": "10012601", "version": "26.1"}, "start": {"absent": "unknown"}},
        {"meddra": {"code": "10020772", "version": "26.1"}, "start": {"absent": "unknown"}}]
    path = tmp_path / "case.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    _, report = validate_file(path, receiver="all")
    codes = [i.code for i in report.issues if "D.7.1.r.2" in f"{i.location} {i.message}"]
    assert codes == ["PLAUS-ABSENT-REASON", "PLAUS-ABSENT-REASON"], report.to_text()


def test_a_causality_problem_names_its_drug_reaction_and_assessment(tmp_path, schema_env) -> None:
    """Brinzolamide/timolol eye drops (Cyprus J Med Sci 2022;7:698): the authors' 61-character result exceeds
    G.k.9.i.2.r.3's 60, and the error pointed at 'drugs' alone. E2B numbers causality over the whole case; the
    case file holds it under a drug's link to a reaction."""
    data = load_example()
    data["drugs"][0]["reactions"][0]["causality"][2]["result"] = "x" * 61
    path = tmp_path / "case.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    _, report = validate_file(path, receiver="ich")
    [issue] = [i for i in report.issues if i.code == "E2B-LENGTH"]
    assert "G.k.9.i.2.r.3 (case 1, causality 3) <- drugs[0].reactions[0].causality[2].result (line" in issue.location


def test_a_device_part_without_its_brand_is_named_with_fda_s_rule(tmp_path, schema_env) -> None:
    """An everolimus-eluting stent (DRESS, 2014) whose brand the article does not give: the error pointed at
    'drugs' and said ICH allows no null flavor, for an element of FDA's table (FDA.G.k.12.r.4)."""
    data = load_example()
    data["drugs"][0]["devices"] = [{"common_name": "Everolimus-eluting coronary stent", "malfunction": False}]
    path = tmp_path / "case.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    _, report = validate_file(path, receiver="fda")
    [issue] = [i for i in report.issues if i.code == "E2B-NULLFLAVOR"]
    assert "FDA.G.k.12.r.4 (case 1, drug 1, device 1) <- drugs[0].devices[0].brand_name (line" in issue.location
    assert "FDA allows no null flavor here" in issue.message
