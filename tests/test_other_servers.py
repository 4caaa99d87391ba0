"""An ICSR Bundle as another FHIR server hands it back reads as the same case everywhere.

Our Bundles name their entries `urn:uuid:...` and refer to them by that fullUrl. A server that stored the
resources (HAPI, a hospital's EHR) returns them with fullUrls of its own (`http://host/fhir/Type/id`), ids it
chose (often numbers counted per type, so MedicationStatement/1 and AdverseEvent/1 both exist) and references
written relative (`MedicationStatement/1`) or absolute. Validation, the case file, the E2B export and the
reports must read the same case from either: a reader that matched references by their text once dropped
every drug-reaction link (G.k.9.i) of such a Bundle from the E2B export, without an error.
"""

from __future__ import annotations

import copy
import datetime as dt
import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from reporter.casefile.model import CaseFile
from reporter.e2b import importer
from reporter.e2b.export import export_bundles
from reporter.fhir.build import build_bundle
from reporter.fhir.read import BundleIndex
from reporter.fhir.to_case import bundle_to_case
from reporter.inputs import load_bundle
from reporter.render.output import render_cioms_html, render_html
from reporter.render.view import case_view
from reporter.validation import validate_bundle
from tests.casegen import case_files

REPO = Path(__file__).resolve().parents[1]
CASES = [*sorted((REPO / "examples").glob("*.yaml")), REPO / "tests" / "e2b" / "data" / "rich-case.yaml"]
RECEIVED = sorted((REPO / "tests" / "e2b" / "inputs").glob("*.xml"))
SERVER = "http://fhir.other-hospital.example.org/r4/"
STYLES = {
    "relative": {"absolute": False, "per_type_ids": False},
    "absolute": {"absolute": True, "per_type_ids": False},
    "numbered-per-type": {"absolute": False, "per_type_ids": True},
}
WHEN = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
_UUID = re.compile(r'root="([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})"')


def as_served_elsewhere(bundle: dict, *, absolute: bool, per_type_ids: bool) -> dict:
    """The Bundle as a server returns it: its own ids and fullUrls, references relative or absolute."""
    served = copy.deepcopy(bundle)
    counts: dict[str, int] = {}
    new: dict[str, tuple[str, str]] = {}  # our fullUrl -> (the server's reference, the server's id)
    for n, entry in enumerate(served["entry"]):
        rtype = entry["resource"]["resourceType"]
        counts[rtype] = counts.get(rtype, 0) + 1
        rid = str(counts[rtype]) if per_type_ids else f"{rtype.lower()}-{n + 100}"
        new[entry["fullUrl"]] = ((SERVER if absolute else "") + f"{rtype}/{rid}", rid)

    def relink(node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "reference" and isinstance(value, str) and value in new:
                    node[key] = new[value][0]
                else:
                    relink(value)
        elif isinstance(node, list):
            for value in node:
                relink(value)

    for entry in served["entry"]:
        rid = new[entry["fullUrl"]][1]
        entry["fullUrl"] = f"{SERVER}{entry['resource']['resourceType']}/{rid}"
        entry["resource"]["id"] = rid
        relink(entry["resource"])
    return served


def _ids_in_order(xml: bytes) -> str:
    """The XML with each distinct UUID replaced by its rank of first appearance: two exports match when they
    say the same things and cross-reference the same elements, whatever ids they chose."""
    seen: dict[str, int] = {}
    return _UUID.sub(lambda m: f'root="#{seen.setdefault(m.group(1), len(seen))}"', xml.decode())


def _text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)).strip()


def _issues(bundle: dict) -> list[tuple[str, str, str, str]]:
    return [(i.severity, i.code, i.location, i.message) for i in validate_bundle(bundle).issues]


def _same_everywhere(ours: dict, theirs: dict) -> None:
    assert _issues(theirs) == _issues(ours)
    assert bundle_to_case(theirs).model_dump(mode="json") == bundle_to_case(ours).model_dump(mode="json")
    for receiver in ("ich", "fda"):
        mine = export_bundles([ours], receiver_name=receiver, batch_id="B1", creation_time=WHEN)
        other = export_bundles([theirs], receiver_name=receiver, batch_id="B1", creation_time=WHEN)
        assert _ids_in_order(other.xml) == _ids_in_order(mine.xml)
        assert [i.code for i in other.check.issues] == [i.code for i in mine.check.issues]
    assert _text(render_html(case_view(theirs))) == _text(render_html(case_view(ours)))
    assert _text(render_cioms_html(case_view(theirs))) == _text(render_cioms_html(case_view(ours)))


@pytest.mark.parametrize("style", STYLES)
@pytest.mark.parametrize("path", CASES, ids=lambda p: p.stem)
def test_a_case_served_by_another_server_reads_the_same(path: Path, style: str) -> None:
    ours = load_bundle(path)
    _same_everywhere(ours, as_served_elsewhere(ours, **STYLES[style]))


@pytest.mark.parametrize("style", STYLES)
@pytest.mark.parametrize("path", RECEIVED, ids=lambda p: p.stem)
def test_an_imported_case_served_by_another_server_reads_the_same(path: Path, style: str) -> None:
    """Bundles read from E2B files (their resources keep the E2B ids they came with)."""
    for report in importer.import_file(path).reports:
        assert report.bundle is not None
        _same_everywhere(report.bundle, as_served_elsewhere(report.bundle, **STYLES[style]))


@settings(max_examples=20, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(case_files(), st.sampled_from(sorted(STYLES)))
def test_generated_cases_served_by_another_server_read_the_same(data: dict, style: str) -> None:
    """Literature shapes too: relative times that name their drug by reference, no dates."""
    try:
        case = CaseFile.model_validate(data)
    except ValidationError:
        return
    if case.dangling_relative_times():
        return
    ours = build_bundle(case)
    _same_everywhere(ours, as_served_elsewhere(ours, **STYLES[style]))


def test_the_links_that_made_the_difference_are_there() -> None:
    """The E2B of a served case keeps its drug-reaction intervals and causality (the part once lost)."""
    ours = load_bundle(CASES[0])
    xml = export_bundles([as_served_elsewhere(ours, absolute=False, per_type_ids=True)], receiver_name="fda",
                         batch_id="B1", creation_time=WHEN).xml.decode()
    assert xml.count('<outboundRelationship1 typeCode="SAS">') == \
        export_bundles([ours], receiver_name="fda", batch_id="B1", creation_time=WHEN).xml.decode().count(
            '<outboundRelationship1 typeCode="SAS">') > 0


def test_references_resolve_in_every_form_to_one_key() -> None:
    statement = {"resourceType": "MedicationStatement", "id": "7"}
    event = {"resourceType": "AdverseEvent", "id": "7"}
    index = BundleIndex({"resourceType": "Bundle", "entry": [
        {"fullUrl": f"{SERVER}MedicationStatement/7", "resource": statement},
        {"fullUrl": f"{SERVER}AdverseEvent/7", "resource": event},
        {"resource": {"resourceType": "Observation"}}]})
    for written in (f"{SERVER}MedicationStatement/7", "MedicationStatement/7", "MedicationStatement/7/_history/3",
                    f"{SERVER}MedicationStatement/7/_history/3", {"reference": "MedicationStatement/7"}):
        assert index.resolve(written) is statement
        assert index.key(written) == index.key_of(statement) == f"{SERVER}MedicationStatement/7"
    assert index.key("AdverseEvent/7") != index.key("MedicationStatement/7")
    assert index.resolve("MedicationStatement/8") is None and index.key("MedicationStatement/8") == \
        "MedicationStatement/8"
    anonymous = index.bundle["entry"][2]["resource"]
    assert index.key_of(anonymous) not in (index.key("Observation/None"), index.key(""))


def test_a_bundle_in_fhir_xml_reads_as_its_json(tmp_path: Path) -> None:
    """A server's XML export of the ICSR Bundle (application/fhir+xml) is taken by every command."""
    from click.testing import CliRunner

    from reporter.cli import main
    from reporter.fhir import models

    ours = load_bundle(CASES[0])
    path = tmp_path / "icsr.xml"
    path.write_bytes(models.to_xml(ours))
    _same_everywhere(ours, load_bundle(path))
    runner = CliRunner()
    for args in (["validate", str(path)], ["case", str(path)], ["e2b", str(path)],
                 ["render", str(path), "-o", str(tmp_path / "case.html")]):
        result = runner.invoke(main, args)
        assert result.exit_code == 0, (args, result.output)


@pytest.mark.parametrize(("content", "said"), [
    (b'<?xml version="1.0"?><MCCI_IN200100UV01 xmlns="urn:hl7-org:v3"/>', "reporter import"),
    (b'<Bundle xmlns="http://hl7.org/fhir"><type value="document"/>', "invalid FHIR XML: malformed XML"),
    (b'<!DOCTYPE x [<!ENTITY e "x">]><Bundle xmlns="http://hl7.org/fhir"/>', "invalid FHIR XML"),
    (b'<Bundle xmlns="http://hl7.org/fhir"><type value="document"/><total value="x"/></Bundle>', "invalid FHIR XML"),
])
def test_xml_that_is_not_a_fhir_bundle_is_said_to_be_so(tmp_path: Path, content: bytes, said: str) -> None:
    from reporter.errors import InputError

    path = tmp_path / "input.xml"
    path.write_bytes(content)
    with pytest.raises(InputError) as caught:
        load_bundle(path)
    assert said in f"{caught.value.message} {caught.value.hint}" and caught.value.location == str(path)


def with_medications_contained(bundle: dict) -> dict:
    """Each MedicationStatement with its Medication inside (`contained`, referred to as `#med`), as many EHRs
    write it, instead of a Medication entry of its own."""
    served = copy.deepcopy(bundle)
    entries = {entry["fullUrl"]: entry for entry in served["entry"]}
    moved = set()
    for entry in served["entry"]:
        statement = entry["resource"]
        if statement["resourceType"] == "MedicationStatement" and "medicationReference" in statement:
            url = statement["medicationReference"]["reference"]
            statement["contained"] = [{**copy.deepcopy(entries[url]["resource"]), "id": "med"}]
            statement["medicationReference"] = {"reference": "#med"}
            moved.add(url)
    served["entry"] = [entry for entry in served["entry"] if entry["fullUrl"] not in moved]
    return served


@pytest.mark.parametrize("path", CASES, ids=lambda p: p.stem)
def test_a_case_with_its_medications_contained_reads_the_same(path: Path) -> None:
    ours = load_bundle(path)
    theirs = with_medications_contained(ours)
    assert len(theirs["entry"]) < len(ours["entry"])
    _same_everywhere(ours, theirs)


def test_a_local_reference_to_nothing_contained_is_an_error() -> None:
    """What the readers cannot resolve, validation says (the case reader would refuse the drug's name)."""
    theirs = with_medications_contained(load_bundle(CASES[0]))
    statement = next(e["resource"] for e in theirs["entry"] if e["resource"]["resourceType"] == "MedicationStatement")
    statement["medicationReference"] = {"reference": "#elsewhere"}
    found = [i for i in validate_bundle(theirs).issues if i.code == "BUNDLE-REFERENCE"]
    assert [(i.severity, i.location.endswith("medicationReference")) for i in found] == [("error", True)]
    assert "#elsewhere" in found[0].message


@pytest.mark.parametrize("style", STYLES)
def test_the_message_form_of_a_served_case_names_its_sender(style: str) -> None:
    from reporter.fhir.message import build_message

    ours = load_bundle(CASES[0])
    theirs = as_served_elsewhere(ours, **STYLES[style])
    for bundle in (ours, theirs):
        header = build_message(bundle)["entry"][0]["resource"]
        sender = BundleIndex(bundle).resolve(header["sender"])
        assert sender is not None and sender["resourceType"] == "Organization"


def test_a_bundle_without_our_extensions_is_told_what_to_add_in_fhir_terms() -> None:
    """A Bundle that names no drug role, reporter or patient detail: each minimum criterion's hint says where
    a FHIR client puts it (the case-file words alone do not tell an integration engineer)."""
    from reporter.tables import code_list, ext

    bare = copy.deepcopy(load_bundle(CASES[0]))
    for entry in bare["entry"]:
        resource = entry["resource"]
        if resource["resourceType"] == "MedicationStatement":
            resource["extension"] = [e for e in resource.get("extension", []) if e.get("url") != ext("drug_role")]
    hints = {i.code: i.hint for i in validate_bundle(bare).issues}
    assert ext("drug_role") in hints["ICSR-MIN-SUSPECT"] and code_list("drug_role").oid in hints["ICSR-MIN-SUSPECT"]
