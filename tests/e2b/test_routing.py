"""An imported case keeps where it goes through its case file: `reporter case` writes the transmission ids it
was received with (report.routing), and `reporter e2b` of the edited case file sends it back to that receiver,
with that receiver's rules, unless --receiver names another. It went to ICH, whose rules FDA's examples break."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from lxml import etree

from reporter.casefile import model as m
from reporter.cli import main
from reporter.e2b import export, importer
from reporter.fhir.build import build_bundle
from reporter.fhir.to_case import bundle_to_case
from reporter.store.repository import CaseStore
from tests.conftest import shared_path

NS = {"h": "urn:hl7-org:v3"}
ROUTED = {"batch_sender": "4567AB89012", "batch_receiver": "ZZFDA", "message_sender": "4567AB89012",
          "message_receiver": "CDER"}


def _fda_example() -> Path:
    return shared_path() / "e2b" / "examples" / "fda-faers-2022" / "FAERS2022Scenario1.xml"


def _header(xml: bytes) -> dict[str, list[str]]:
    doc = etree.fromstring(xml)
    return {"batch_receiver": doc.xpath("h:receiver/h:device/h:id/@extension", namespaces=NS),
            "message_receiver": doc.xpath("h:PORR_IN049016UV/h:receiver/h:device/h:id/@extension", namespaces=NS)}


@pytest.fixture
def case_file(tmp_path: Path, shared_dir: Path) -> Path:
    """FDA's example imported, its Bundle written as a case file (`reporter case`) and a dose edited in it."""
    runner = CliRunner()
    result = runner.invoke(main, ["import", str(_fda_example()), "-o", str(tmp_path / "in")])
    bundle = next((tmp_path / "in").glob("*.json"))
    result = runner.invoke(main, ["case", str(bundle), "-o", str(tmp_path / "case.yaml")])
    assert result.exit_code == 0, result.output
    data = yaml.safe_load((tmp_path / "case.yaml").read_text(encoding="utf-8"))
    assert data["report"]["routing"] == ROUTED
    data["drugs"][0]["dosages"][0]["dose"] = {"value": 20, "unit": "mg"}
    (tmp_path / "case.yaml").write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return tmp_path / "case.yaml"


def test_an_edited_case_file_goes_back_to_the_receiver_it_came_for(case_file: Path, e2b_schema_dir: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REPORTER_E2B_SCHEMA_DIR", str(e2b_schema_dir))
    out = case_file.with_suffix(".xml")
    result = CliRunner().invoke(main, ["e2b", str(case_file), "-o", str(out)])
    assert result.exit_code == 0, result.output  # was: for receiver ich, 3 E2B-LENGTH errors FDA accepts
    assert "for receiver fda" in result.output and "0 error(s)" in result.output
    assert _header(out.read_bytes()) == {"batch_receiver": ["ZZFDA"], "message_receiver": ["CDER"]}
    doses = etree.fromstring(out.read_bytes()).xpath("//h:doseQuantity/@value", namespaces=NS)
    assert "20" in doses


def test_receiver_names_another_over_the_routing(case_file: Path, e2b_schema_dir: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REPORTER_E2B_SCHEMA_DIR", str(e2b_schema_dir))
    out = case_file.with_suffix(".xml")
    result = CliRunner().invoke(main, ["e2b", str(case_file), "--receiver", "ema", "-o", str(out), "--force"])
    assert "for receiver ema" in result.output
    assert _header(out.read_bytes()) == {"batch_receiver": ["EVHUMAN"], "message_receiver": ["EVHUMAN"]}


def test_routing_goes_through_case_and_bundle_unchanged(shared_dir: Path) -> None:
    bundle = importer.import_file(_fda_example()).reports[0].bundle
    case = bundle_to_case(bundle)
    assert case.report.routing == m.Routing(**ROUTED)
    rebuilt = build_bundle(case)
    assert bundle_to_case(rebuilt) == case
    assert export.bundle_receiver(rebuilt) == "fda"
    case.report.routing = None  # an authored case (or routing emptied) goes to ICH, as before
    assert export.bundle_receiver(build_bundle(case)) is None


def test_the_same_report_re_sent_with_other_transmission_ids_is_not_stored_again(
        tmp_path: Path, shared_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The routing is where the report was sent, not a fact of the case: another batch sender is no new version."""
    monkeypatch.setenv("REPORTER_DATABASE_URL", f"sqlite:///{tmp_path / 'store.sqlite3'}")
    again = tmp_path / "again.xml"
    again.write_bytes(_fda_example().read_bytes().replace(
        b'extension="4567AB89012" root="2.16.840.1.113883.3.989.2.1.3.13"',
        b'extension="4567AB89099" root="2.16.840.1.113883.3.989.2.1.3.13"'))
    assert again.read_bytes() != _fda_example().read_bytes()
    outputs = [CliRunner().invoke(main, ["import", "--store", str(path)]).output for path in (_fda_example(), again)]
    assert "not stored again" in outputs[1], outputs[1]
    case_id = re.search(r"Bundle/([0-9a-f-]{36})", outputs[0]).group(1)
    store = CaseStore(f"sqlite:///{tmp_path / 'store.sqlite3'}")
    try:
        assert [v.version for v in store.history(case_id)] == [1]
    finally:
        store.dispose()


def test_a_receiver_id_the_receiver_refuses_points_at_the_routing(tmp_path: Path, e2b_schema_dir: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """A hand-written VAERS report names CBER_VAERS as its batch receiver, which FDA's rules refuse: the case file's
    export says so at the field to change."""
    monkeypatch.setenv("REPORTER_E2B_SCHEMA_DIR", str(e2b_schema_dir))
    bundle = importer.import_file(Path(__file__).parent / "inputs" / "fda-vaers-vaccines-infant.xml").reports[0].bundle
    case = bundle_to_case(bundle)
    data = case.model_dump(mode="json", exclude_none=True, by_alias=True, exclude_defaults=True)
    (tmp_path / "case.yaml").write_text(yaml.safe_dump({"$format": case.format, **data}, sort_keys=False),
                                        encoding="utf-8")
    line = next(n for n, text in enumerate((tmp_path / "case.yaml").read_text().splitlines(), start=1)
                if text.strip() == "batch_receiver: CBER_VAERS")
    result = CliRunner().invoke(main, ["e2b", str(tmp_path / "case.yaml"), "-o", str(tmp_path / "out.xml")])
    assert f"R0004                    N.1.4 <- report.routing.batch_receiver (line {line}):" in result.output, \
        result.output
