"""Conditional create as integration engines use it: `If-None-Exist` on POST Bundle and `request.ifNoneExist` in a
transaction or batch, so that a post retried after a lost answer stores the case once.

The header was ignored: a retry was refused as a conflict (409, the case id is stored already) where R4 answers 200
with the stored case, and the CapabilityStatement said conditionalCreate false without refusing the header."""

from __future__ import annotations

import json

from .bundles import demo_bundles, renamed

JSON = {"Content-Type": "application/fhir+json"}


def _case_id(bundle: dict) -> str:
    return bundle["entry"][0]["resource"]["identifier"]["value"]


def _post(s, url: str, body: dict, **headers):
    return s.post(url, data=json.dumps(body), headers={**JSON, **headers}, timeout=60)


def test_a_retried_conditional_create_stores_the_case_once(served) -> None:
    s = served.session(served.write_token)
    bundle = renamed(demo_bundles()[0], "retry")
    condition = f"composition.identifier={_case_id(bundle)}"
    first = _post(s, f"{served.base}/Bundle", bundle, **{"If-None-Exist": condition})
    assert first.status_code == 201, first.text[:1000]
    again = _post(s, f"{served.base}/Bundle", bundle, **{"If-None-Exist": f"Bundle?{condition}"})
    assert again.status_code == 200, again.text[:1000]
    assert again.headers["Location"] == first.headers["Location"] and again.headers["ETag"] == 'W/"1"'
    assert again.json()["id"] == first.json()["id"]
    found = s.get(f"{served.base}/Bundle", params={"composition.identifier": _case_id(bundle)}, timeout=30).json()
    assert found["total"] == 1
    # without the condition the same post is the conflict it always was
    assert _post(s, f"{served.base}/Bundle", bundle).status_code == 409


def test_a_condition_that_names_no_single_case_is_refused_where_it_is(served) -> None:
    s = served.session(served.write_token)
    one, two = renamed(demo_bundles()[0], "twin-1"), renamed(demo_bundles()[0], "twin-2")
    for bundle in (one, two):
        assert _post(s, f"{served.base}/Bundle", bundle).status_code == 201
    shared = one["identifier"]  # renamed copies keep the Bundle.identifier: it names two cases
    assert shared == two["identifier"]
    third = renamed(demo_bundles()[0], "twin-3")
    condition = f"identifier={shared['system']}|{shared['value']}"
    r = _post(s, f"{served.base}/Bundle", third, **{"If-None-Exist": condition})
    assert r.status_code == 412, r.text[:1000]
    (said,) = r.json()["issue"]
    assert "more than one" in said["diagnostics"] and "If-None-Exist" in said["diagnostics"]
    for condition, at in (("sex=female", "If-None-Exist sex"), ("_count=1", "If-None-Exist"),
                          ("Patient?identifier=x", "If-None-Exist")):
        r = _post(s, f"{served.base}/Bundle", third, **{"If-None-Exist": condition})
        assert r.status_code == 400, (condition, r.text[:1000])
        assert r.json()["issue"][0]["extension"][0]["valueString"] == at
    assert s.get(f"{served.base}/Bundle", params={"composition.identifier": _case_id(third)},
                 timeout=30).json()["total"] == 0


def test_a_transaction_and_a_batch_with_if_none_exist_store_the_case_once(served) -> None:
    s = served.session(served.write_token)
    bundle = renamed(demo_bundles()[0], "tx-retry")
    entry = {"fullUrl": "urn:uuid:10000000-0000-4000-8000-000000000001", "resource": bundle,
             "request": {"method": "POST", "url": "Bundle",
                         "ifNoneExist": f"composition.identifier={_case_id(bundle)}"}}
    answers = []
    for kind in ("transaction", "transaction", "batch"):
        r = _post(s, served.base, {"resourceType": "Bundle", "type": kind, "entry": [entry]})
        assert r.status_code == 200, r.text[:1000]
        answers.append(r.json()["entry"][0]["response"])
    assert [a["status"] for a in answers] == ["201 Created", "200 OK", "200 OK"]
    assert len({a["location"] for a in answers}) == 1
    found = s.get(f"{served.base}/Bundle", params={"composition.identifier": _case_id(bundle)}, timeout=30).json()
    assert found["total"] == 1


def test_a_transaction_of_single_resources_is_refused_at_the_entry(served) -> None:
    """A transaction that POSTs the case resource by resource (Patient, AdverseEvent ...), as engines load a FHIR
    server: the refusal named 'Bundle.entry[0] Bundle.entry[0].resource' and said nothing of what to send."""
    s = served.session(served.write_token)
    patient = {"resourceType": "Patient", "gender": "female"}
    r = _post(s, served.base, {"resourceType": "Bundle", "type": "transaction", "entry": [
        {"fullUrl": "urn:uuid:10000000-0000-4000-8000-000000000002", "resource": patient,
         "request": {"method": "POST", "url": "Patient", "ifNoneExist": "identifier=x|1"}}]})
    assert r.status_code == 400, r.text[:1000]
    (said,) = r.json()["issue"]
    assert said["expression"] == ["Bundle.entry[0].resource"]
    assert "not a Patient" in said["diagnostics"] and "POST Bundle" in said["diagnostics"]


def test_the_capability_statement_offers_conditional_create_of_bundles_only(served) -> None:
    statement = served.session().get(f"{served.base}/metadata", timeout=30).json()
    offered = {r["type"]: r.get("conditionalCreate") for r in statement["rest"][0]["resource"]}
    assert offered.pop("Bundle") is True and not any(offered.values())


def test_a_refused_document_in_a_transaction_is_located_inside_the_transaction(served) -> None:
    """The document's problem at Bundle.entry[n] was named 'Bundle.entry[0].resource.Bundle.entry[n]...', no
    FHIRPath of the transaction posted (nor of the document)."""
    s = served.session(served.write_token)
    bundle = renamed(demo_bundles()[0], "tx-bad")
    n = next(k for k, e in enumerate(bundle["entry"]) if e["resource"]["resourceType"] == "Patient")
    bundle["entry"][n]["resource"]["gender"] = "femal"
    for kind in ("transaction", "batch"):
        r = _post(s, served.base, {"resourceType": "Bundle", "type": kind,
                                   "entry": [{"resource": bundle, "request": {"method": "POST", "url": "Bundle"}}]})
        said = r.json() if kind == "transaction" else r.json()["entry"][0]["response"]["outcome"]
        where = [e for i in said["issue"] for e in i.get("expression", []) if "gender" in e]
        assert where == [f"Bundle.entry[0].resource.entry[{n}].resource.ofType(Patient).gender"], said


def test_a_conditional_update_in_a_batch_is_refused_as_such(served) -> None:
    """PUT Bundle?identifier=... in a batch was refused as 'not supported in a transaction', not saying why."""
    s = served.session(served.write_token)
    bundle = renamed(demo_bundles()[0], "cond-update")
    url = f"Bundle?composition.identifier={_case_id(bundle)}"
    r = _post(s, served.base, {"resourceType": "Bundle", "type": "batch", "entry": [
        {"resource": bundle, "request": {"method": "PUT", "url": url}}]})
    outcome = r.json()["entry"][0]["response"]["outcome"]
    said = outcome["issue"][0]["diagnostics"]
    assert "in a batch" in said and "conditional update" in said and "ifNoneExist" in said
