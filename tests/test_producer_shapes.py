"""Bundles shaped as other producers send them, whole: a transaction or batch carrying the document (as an engine
posts it to a server's base), a search result holding it, an empty Bundle. Every command refuses each with the
same words at the same place: `reporter case` said 'the Bundle has no case id (Composition.identifier)' where
validation and E2B named the entry holding the document, and a transaction was called a server's search."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from reporter.cli import main
from reporter.inputs import load_bundle
from reporter.validation import validate_bundle

REPO = Path(__file__).resolve().parents[1]
CASE = REPO / "examples" / "case1-anakinra-hepatitis.yaml"


def _wrapped(kind: str) -> dict:
    document = copy.deepcopy(load_bundle(CASE))
    entry = {"fullUrl": "urn:uuid:10000000-0000-4000-8000-000000000001", "resource": document}
    if kind in ("transaction", "batch"):
        entry["request"] = {"method": "POST", "url": "Bundle", "ifNoneExist": "identifier=x|1"}
    else:
        entry["search"] = {"mode": "match"}
    return {"resourceType": "Bundle", "type": kind, "entry": [entry]}


SHAPES = {
    "transaction": (_wrapped("transaction"), "Bundle.entry[0].resource", "posts it"),
    "batch": (_wrapped("batch"), "Bundle.entry[0].resource", "posts it"),
    "searchset": (_wrapped("searchset"), "Bundle.entry[0].resource", "search or history"),
    "empty-document": ({"resourceType": "Bundle", "type": "document", "timestamp": "2024-03-04T09:30:00Z"},
                       "Bundle.entry", "no entries"),
    "empty-collection": ({"resourceType": "Bundle", "type": "collection"}, "Bundle.entry", "no entries"),
}


@pytest.mark.parametrize("shape", SHAPES)
def test_every_command_refuses_a_bundle_that_is_no_document_alike(tmp_path: Path, shape: str) -> None:
    bundle, where, said = SHAPES[shape]
    path = tmp_path / f"{shape}.json"
    path.write_text(json.dumps(bundle), encoding="utf-8")
    found = next(i for i in validate_bundle(bundle).issues if i.location == where)
    assert said in found.message
    runner = CliRunner()
    for command in ("e2b", "case"):
        result = runner.invoke(main, [command, str(path)])
        assert result.exit_code == 2, (command, result.output)
        assert f"{where}: {found.message}" in result.output, (command, result.output)
        assert "Composition.identifier" not in result.output


def test_a_transaction_is_not_called_a_search_result() -> None:
    (issue,) = validate_bundle(_wrapped("transaction")).issues
    assert "search" not in issue.message and "POST /fhir" in issue.hint


@pytest.mark.parametrize(("version", "expected"), [("3", "FHIR-BDL-7"), ("1", "BUNDLE-FULLURL")],
                         ids=["same-version", "older-version"])
def test_an_entry_repeated_is_said_once(version: str, expected: str) -> None:
    """A producer that appends a resource again (the same fullUrl): the same version was two errors, bdl-7 and
    BUNDLE-FULLURL, for one problem; another version (which R4's bdl-7 allows, as in a history) is said as such."""
    bundle = copy.deepcopy(load_bundle(CASE))
    bundle["entry"][1]["resource"]["meta"] = {"versionId": "3"}
    again = copy.deepcopy(bundle["entry"][1])
    again["resource"]["meta"]["versionId"] = version
    bundle["entry"].append(again)
    where = f"Bundle.entry[{len(bundle['entry']) - 1}].fullUrl"
    found = [i for i in validate_bundle(bundle).issues if i.location == where]
    assert [(i.severity, i.code) for i in found] == [("error", expected)]
    assert expected != "BUNDLE-FULLURL" or "another version" in found[0].message


def test_a_narrative_that_says_more_than_the_data_is_said_not_read() -> None:
    """text.status 'additional' (R4: the narrative holds more than the data), as an EHR sends a lab panel told in
    words only: no reader takes a resource's narrative, and it was dropped unsaid. A generated one is the data."""
    bundle = copy.deepcopy(load_bundle(CASE))
    n, obs = next((n, e["resource"]) for n, e in enumerate(bundle["entry"])
                  if e["resource"]["resourceType"] == "Observation")
    div = '<div xmlns="http://www.w3.org/1999/xhtml">ALT 412 U/L on 1 March; 180 U/L on 4 March</div>'
    obs["text"] = {"status": "additional", "div": div}
    found = [i for i in validate_bundle(bundle).issues if i.location.endswith(".text")]
    assert [(i.severity, i.code, i.location) for i in found] == [
        ("warning", "FHIR-NOT-READ", f"Bundle.entry[{n}].resource.ofType(Observation).text")]
    obs["text"]["status"] = "generated"
    assert not [i for i in validate_bundle(bundle).issues if i.location.endswith(".text")]


def test_a_result_contained_in_the_composition_and_listed_in_its_section_is_read_everywhere() -> None:
    """A section entry '#o1' naming a resource contained in the Composition (valid R4; some document builders keep
    small resources there): validation passed and every reader dropped the test unsaid."""
    from reporter.e2b.export import export_bundles
    from reporter.fhir.to_case import bundle_to_case
    from reporter.render.view import case_view

    bundle = copy.deepcopy(load_bundle(CASE))
    comp = bundle["entry"][0]["resource"]
    section = next(s for s in comp["section"] if s["code"]["coding"][0]["code"] == "RelevantLabTestResults")
    url = section["entry"][0]["reference"]
    entry = next(e for e in bundle["entry"] if e["fullUrl"] == url)
    bundle["entry"].remove(entry)
    comp["contained"] = [{**entry["resource"], "id": "o1"}]
    section["entry"][0] = {"reference": "#o1"}
    plain = load_bundle(CASE)
    assert not [i for i in validate_bundle(bundle).issues if i.severity == "error"]
    assert [t.name for t in bundle_to_case(bundle).tests] == [t.name for t in bundle_to_case(plain).tests]
    assert len(case_view(bundle).labs) == len(case_view(plain).labs)
    xml, theirs = (export_bundles([b], receiver_name="ich", batch_id="B").xml.decode() for b in (plain, bundle))
    assert theirs.count("<effectiveTime") == xml.count("<effectiveTime")


@pytest.mark.parametrize(("change", "rule", "where"), [
    (lambda b: b["entry"][1].update(search={"mode": "include"}), "FHIR-BDL-2", "Bundle.entry[1].search"),
    (lambda b: b["entry"][1].update(request={"method": "GET", "url": "Patient/1"}), "FHIR-BDL-3",
     "Bundle.entry[1].request"),
    (lambda b: b["entry"][1].update(response={"status": "200 OK"}), "FHIR-BDL-4", "Bundle.entry[1].response"),
    (lambda b: b.update(total=1), "FHIR-BDL-1", "Bundle.total"),
    (lambda b: b["entry"][1].update(fullUrl=b["entry"][1]["fullUrl"] + "/_history/2"), "FHIR-BDL-8",
     "Bundle.entry[1].fullUrl"),
], ids=["search", "request", "response", "total", "versioned-fullurl"])
def test_what_a_server_adds_to_its_answers_is_no_part_of_a_document(change, rule: str, where: str) -> None:
    """Entries copied from a server's search or history answer into a document keep their search, request or
    response (R4 bdl-1 to bdl-4, bdl-8: errors in HL7's validator); they passed here unsaid."""
    bundle = copy.deepcopy(load_bundle(CASE))
    change(bundle)
    found = [(i.severity, i.code, i.location) for i in validate_bundle(bundle).issues if i.code.startswith("FHIR-BDL")]
    assert found == [("error", rule, where)]


def test_a_history_or_transaction_entry_without_its_request_breaks_bdl_3() -> None:
    from reporter.validation.invariants import check_resource_invariants

    history = {"resourceType": "Bundle", "type": "history", "entry": [
        {"fullUrl": "http://x.example/Patient/1", "resource": {"resourceType": "Patient", "id": "1"},
         "response": {"status": "200 OK"}}]}
    assert [i.code for i in check_resource_invariants(history, "Bundle")] == ["FHIR-BDL-3"]
    history["entry"][0]["request"] = {"method": "PUT", "url": "Patient/1"}
    assert check_resource_invariants(history, "Bundle") == []



def test_icsr_sections_nested_under_a_section_of_the_producers_own_are_read_everywhere() -> None:
    """R4 nests sections (section.section); a builder that puts ReactionEvent and DrugInformation under its own
    'Adverse event' section had every reaction and drug refused as listed in no section the readers know."""
    from tests.test_other_servers import _same_everywhere

    plain = load_bundle(CASE)
    bundle = copy.deepcopy(plain)
    comp = bundle["entry"][0]["resource"]
    inner = [s for s in comp["section"] if s["code"]["coding"][0]["code"] in ("ReactionEvent", "DrugInformation")]
    comp["section"] = [s for s in comp["section"] if s not in inner]
    comp["section"].insert(1, {"title": "Adverse event", "code": {"text": "Adverse event"}, "section": inner})
    _same_everywhere(plain, bundle)
