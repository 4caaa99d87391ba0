"""A Bundle posted to the API with facts no reader takes as sent (gender `other`, AdverseEvent.detected, a v3
H interpretation): the write says each where it is, as `reporter validate` does, and the stored case reads as
the readers read the file (tests/test_fhir_unread_facts.py checks the readers alone)."""

from __future__ import annotations

import json

from reporter.fhir.to_case import bundle_to_case
from tests.test_fhir_unread_facts import _all_four, _not_read

from .bundles import renamed


def test_a_posted_bundle_is_told_what_no_reader_takes_and_stored_as_the_readers_read_it(served) -> None:
    bundle = renamed(_all_four(), "unread-facts")
    s = served.session(served.write_token)
    r = s.post(f"{served.base}/Bundle", data=json.dumps(bundle), timeout=60,
               headers={"Content-Type": "application/fhir+json", "Prefer": "return=OperationOutcome"})
    assert r.status_code == 201, r.text
    said = {i["expression"][0]: i["details"]["text"] for i in r.json()["issue"] if i["severity"] == "warning"}
    expected = _not_read(bundle)
    assert len(expected) == 3
    assert all(said.get(where, "").startswith(message) for where, message in expected.items()), said
    case_id = r.headers["Location"].split("/Bundle/")[1].split("/")[0]
    stored = s.get(f"{served.base}/Bundle/{case_id}", timeout=30).json()
    case = bundle_to_case(stored)
    assert case.patient.sex is not None and case.patient.sex.absent == "unknown"
    assert case.patient.death is not None and case.patient.death.date is None


def test_the_e2b_download_says_what_no_reader_takes_as_reporter_e2b_does(served) -> None:
    """`reporter e2b` lists the FHIR-NOT-READ warnings; `$e2b` handed out the XML and said nothing of them. The
    XML now counts the export's warnings in a header, and `Prefer: return=OperationOutcome` answers with them."""
    from reporter.store.approvals import approve

    bundle = renamed(_all_four(), "unread-e2b")
    s = served.session(served.write_token)
    r = s.post(f"{served.base}/Bundle", data=json.dumps(bundle), timeout=60,
               headers={"Content-Type": "application/fhir+json"})
    assert r.status_code == 201, r.text
    case_id = r.headers["Location"].split("/Bundle/")[1].split("/")[0]
    approve(served.store, case_id, 1, "reviewer")
    xml = s.get(f"{served.base}/Bundle/{case_id}/$e2b", timeout=120)
    assert xml.status_code == 200 and xml.headers["Content-Type"].startswith("application/xml")
    assert xml.headers["X-E2B-Warnings"] == "3"
    said = s.get(f"{served.base}/Bundle/{case_id}/$e2b", headers={"Prefer": "return=OperationOutcome"}, timeout=120)
    assert said.status_code == 200 and said.json()["resourceType"] == "OperationOutcome", said.text
    not_read = {i["expression"][0]: i["details"]["text"] for i in said.json()["issue"]
                if i["details"].get("coding", [{}])[0].get("code") == "FHIR-NOT-READ"}
    stored = s.get(f"{served.base}/Bundle/{case_id}", timeout=30).json()
    assert not_read == _not_read(stored), not_read  # each where it is in the stored Bundle, as validate says it
    assert said.headers["X-E2B-Warnings"] == "3" and said.headers["ETag"] == xml.headers["ETag"]
