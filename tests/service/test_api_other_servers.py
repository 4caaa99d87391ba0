"""The API takes an ICSR Bundle as another FHIR server hands it back (its fullUrls and ids, references relative
or absolute, the Medication contained in its MedicationStatement) and serves the same case: read back, as a
case file and as E2B with every drug-reaction link (tests/test_other_servers.py checks the readers alone)."""

from __future__ import annotations

import json

import pytest

from reporter.fhir.to_case import bundle_to_case
from reporter.store.approvals import approve
from tests.test_other_servers import as_served_elsewhere, with_medications_contained

from .bundles import demo_bundles, renamed

JSON = "application/fhir+json"
SHAPES = {
    "relative": lambda b: as_served_elsewhere(b, absolute=False, per_type_ids=True),
    "absolute": lambda b: as_served_elsewhere(b, absolute=True, per_type_ids=False),
    "contained": with_medications_contained,
}
LINKS = (b"adverseEffectReference", b"productUseReference", b"<actReference")


@pytest.mark.parametrize("shape", SHAPES)
def test_a_bundle_shaped_by_another_server_is_served_as_the_same_case(served, shape, e2b_schema_dir) -> None:
    s = served.session(served.write_token)
    ours = renamed(demo_bundles()[0], f"ours-{shape}")
    theirs = SHAPES[shape](renamed(demo_bundles()[0], f"theirs-{shape}"))
    ids = []
    for bundle in (ours, theirs):
        r = s.post(f"{served.base}/Bundle", data=json.dumps(bundle), headers={"Content-Type": JSON}, timeout=30)
        assert r.status_code == 201, r.text[:2000]
        ids.append(r.json()["id"])
    cases = []
    for case_id in ids:
        stored = s.get(f"{served.base}/Bundle/{case_id}", timeout=30).json()
        case = bundle_to_case(stored).model_dump(mode="json")
        case["case_id"] = case["case_id"].rsplit("-", 2)[0]
        case["report"].pop("worldwide_id", None)
        cases.append(case)
    assert cases[1] == cases[0]
    exports = []
    for case_id in ids:
        approve(served.store, case_id, 1, "vera")
        r = s.get(f"{served.base}/Bundle/{case_id}/$e2b", params={"receiver": "fda"}, timeout=120)
        assert r.status_code == 200 and r.headers["X-E2B-XSD"] == "valid", r.text[:2000]
        exports.append(r.content)
    assert [exports[1].count(link) for link in LINKS] == [exports[0].count(link) for link in LINKS]
    assert all(exports[0].count(link) for link in LINKS)


def test_a_stored_bundle_says_what_no_reader_takes_to_a_writer_that_asks_for_the_outcome(served) -> None:
    """A suspect vaccine as an Immunization was stored with 201 and no word that E2B and the report leave it out:
    the validation warnings reach the sender with `Prefer: return=OperationOutcome`."""
    bundle = renamed(demo_bundles()[0], "suspect-immunization")
    event = next(e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "AdverseEvent")
    shot = "urn:uuid:0b1c2d3e-0000-4000-8000-000000000002"
    bundle["entry"].append({"fullUrl": shot, "resource": {
        "resourceType": "Immunization", "id": shot.rsplit(":", 1)[1], "status": "completed",
        "vaccineCode": {"text": "COVID-19 mRNA"}, "patient": event["subject"], "occurrenceDateTime": "2023-07-30"}})
    event.setdefault("suspectEntity", []).append({"instance": {"reference": shot}})
    s = served.session(served.write_token)
    r = s.post(f"{served.base}/Bundle", data=json.dumps(bundle), timeout=60,
               headers={"Content-Type": "application/fhir+json", "Prefer": "return=OperationOutcome"})
    assert r.status_code == 201, r.text
    said = [i for i in r.json()["issue"] if i["severity"] == "warning"]
    assert any("Immunization" in i["details"]["text"] and i["expression"][0].endswith(".instance") for i in said)
