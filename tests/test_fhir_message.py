"""`reporter fhir --message`: the ICSR as a FHIR message Bundle (HL7 ICSR guide form), built from the document."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from reporter.cli import main
from reporter.errors import InputError
from reporter.fhir.message import build_message
from tests.test_bundle import _independent_validator, run_independent


def message_for(path: Path, tmp_path: Path) -> tuple[dict, str]:
    out = tmp_path / f"{path.stem}.message.json"
    result = CliRunner().invoke(main, ["fhir", str(path), "--message", "-o", str(out)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return json.loads(out.read_text()), out.read_text()


def test_message_bundles_of_the_demo_cases(example_files, tmp_path: Path) -> None:
    from reporter.casefile import load_case
    from reporter.fhir.build import build_bundle

    files = []
    for path in example_files:
        message, text = message_for(path, tmp_path)
        document = build_bundle(load_case(path))
        assert message["type"] == "message"
        assert message["meta"]["profile"] == ["http://hl7.org/fhir/us/icsr-ae-reporting/StructureDefinition/icsr-bundle"]
        header = message["entry"][0]["resource"]
        assert header["resourceType"] == "MessageHeader"
        assert header["eventCoding"]["code"] == "PAT_ADV_EVNT"
        # focus on the Composition; sender is the document's custodian (the sending organisation, C.3)
        assert header["focus"] == [{"reference": document["entry"][0]["fullUrl"]}]
        composition = document["entry"][0]["resource"]
        assert header["sender"] == composition["custodian"]
        # every entry of the document follows the header, in order, unchanged
        assert message["entry"][1:] == document["entry"]
        assert message["identifier"] == document["identifier"]
        # the same case gives the same bytes
        assert message_for(path, tmp_path)[1] == text
        files.append(tmp_path / f"{path.stem}.message.json")
    node = _independent_validator()
    results = run_independent(node, files)
    assert len(results) == len(files)
    assert all(r["valid"] for r in results), [r["errors"][:5] for r in results if not r["valid"]]


def test_message_needs_a_document() -> None:
    with pytest.raises(InputError, match="built from an ICSR document Bundle"):
        build_message({"resourceType": "Bundle", "type": "collection", "entry": []})
    with pytest.raises(InputError, match="does not start with its Composition"):
        build_message({"resourceType": "Bundle", "type": "document",
                       "entry": [{"fullUrl": "urn:uuid:1", "resource": {"resourceType": "Patient"}}]})


def test_a_document_without_a_custodian_gets_a_message_without_a_sender() -> None:
    """No Composition.custodian (and an entry without a resource beside it): no MessageHeader.sender, no crash."""
    message = build_message({"resourceType": "Bundle", "type": "document", "entry": [
        {"fullUrl": "urn:uuid:1", "resource": {"resourceType": "Composition"}}, {"fullUrl": "urn:uuid:2"}]})
    assert "sender" not in message["entry"][0]["resource"]
