"""`_include:iterate` and `_revinclude:iterate` (issue 13, R4 semantics): the iterate includes apply to the
included resources too, round after round until nothing new turns up (bounded); plain includes apply to the
matches only."""

from __future__ import annotations

import json

from .bundles import demo_bundles, renamed

JSON = "application/fhir+json"


def _get(served, path: str, **params):
    return served.session(served.read_token).get(f"{served.base}/{path}", params=params, timeout=60)


def _ids(page: dict, mode: str = "match") -> list[str]:
    return [f"{e['resource']['resourceType']}/{e['resource']['id']}" for e in page.get("entry", [])
            if e["search"]["mode"] == mode]


def _stored(served) -> dict:
    r = served.session(served.write_token).post(f"{served.base}/Bundle", data=json.dumps(
        renamed(demo_bundles()[0], "iterate")), headers={"Content-Type": JSON}, timeout=120)
    assert r.status_code == 201, r.text[:1000]
    return r.json()


def _of(served, bundle: dict, rtype: str) -> list[dict]:
    """The case's resources of a type as served on their own (with Type/id references)."""
    ids = ",".join(e["resource"]["id"] for e in bundle["entry"] if e["resource"]["resourceType"] == rtype)
    return [e["resource"] for e in _get(served, rtype, _id=ids, _count="100").json()["entry"]]


def test_include_iterate_follows_included_resources(served) -> None:
    bundle = _stored(served)
    event = next(e for e in _of(served, bundle, "AdverseEvent") if e.get("suspectEntity"))
    statements = {i["instance"]["reference"] for i in event["suspectEntity"]}
    medications = {s["medicationReference"]["reference"] for s in _of(served, bundle, "MedicationStatement")
                   if f"MedicationStatement/{s['id']}" in statements and s.get("medicationReference")}
    assert medications, "the demo case's suspect drug is a Medication reference"
    plain = _get(served, "AdverseEvent", _id=event["id"], _include="AdverseEvent:substance").json()
    assert set(_ids(plain, "include")) == statements
    deep = _get(served, "AdverseEvent", _id=event["id"], _include="AdverseEvent:substance",
                **{"_include:iterate": "MedicationStatement:medication"}).json()
    assert _ids(deep) == [f"AdverseEvent/{event['id']}"]
    assert set(_ids(deep, "include")) == statements | medications
    assert len(_ids(deep, "include")) == len(set(_ids(deep, "include")))
    assert any("_include%3Aiterate=" in link["url"] for link in deep["link"] if link["relation"] == "self")
    # without :iterate an include of another type's parameter is refused, not ignored
    assert _get(served, "AdverseEvent", _include="MedicationStatement:medication").status_code == 400


def test_revinclude_iterate_and_refusals(served) -> None:
    bundle = _stored(served)
    patient = _of(served, bundle, "Patient")[0]["id"]
    events = {f"AdverseEvent/{e['id']}" for e in _of(served, bundle, "AdverseEvent")}
    statements = {i["instance"]["reference"] for e in _of(served, bundle, "AdverseEvent")
                  for i in e.get("suspectEntity", [])}
    page = _get(served, "Patient", _id=patient, _revinclude="AdverseEvent:subject",
                **{"_include:iterate": "AdverseEvent:substance"}).json()
    assert set(_ids(page, "include")) == events | statements
    # a revinclude that iterates: Medication -> MedicationStatements that use it -> their AdverseEvents
    med = next(s["medicationReference"]["reference"] for s in _of(served, bundle, "MedicationStatement")
               if s.get("medicationReference"))
    users = {f"MedicationStatement/{s['id']}" for s in _of(served, bundle, "MedicationStatement")
             if (s.get("medicationReference") or {}).get("reference") == med}
    rev = _get(served, "Medication", _id=med.split("/")[1], _revinclude="MedicationStatement:medication",
               **{"_revinclude:iterate": "AdverseEvent:substance"}).json()
    found = set(_ids(rev, "include"))
    assert users <= found and any(i.startswith("AdverseEvent/") for i in found)
    for bad in ({"_include:recurse": "AdverseEvent:substance"}, {"_include:iterate": "AdverseEvent:nothing"},
                {"_revinclude:iterate": "Nope:subject"}):
        r = _get(served, "AdverseEvent", **bad)
        assert r.status_code == 400 and r.json()["resourceType"] == "OperationOutcome", bad
