"""The FHIR API as integration engines rely on it (issue 13): resolvable references, server ids, honest R4
search, conditional reads, If-Match, nullified cases, media-type parameters, strict JSON, transactions.
Each test names the finding it pins down."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
import requests

from reporter.fhir.issue_location import location_of

from .bundles import demo_bundles, follow_up, renamed, with_local_ids

JSON = "application/fhir+json"
NULLIFICATION = {
    "url": "http://hl7.org/fhir/us/icsr-ae-reporting/StructureDefinition/icsr-ext-reportamendment",
    "extension": [
        {"url": "amendmentType", "valueCodeableConcept": {"coding": [
            {"system": "urn:oid:2.16.840.1.113883.3.989.2.1.1.5", "code": "1"}]}},
        {"url": "amendmentReason", "valueString": "duplicate of another case"}]}


FOLLOW_UP_HEADERS = {"Content-Type": JSON, "If-Match": 'W/"1"', "X-Reporter-Reason": "follow-up"}


def _post(served, bundle: dict, **headers) -> requests.Response:
    s = served.session(served.write_token)
    return s.post(f"{served.base}/Bundle", data=json.dumps(bundle), headers={"Content-Type": JSON, **headers},
                  timeout=60)


def _created(served, bundle: dict) -> dict:
    r = _post(served, bundle)
    assert r.status_code == 201, r.text[:2000]
    return r.json()


def _get(served, path: str, **kw) -> requests.Response:
    return served.session(served.read_token).get(f"{served.base}/{path}", timeout=60, **kw)


def _exact(served, search: str) -> int:
    """The exact total of a search (without _total a first page not holding every match has none: issue 16)."""
    return _get(served, f"{search}&_total=accurate").json()["total"]


def _ids(searchset: dict, mode: str = "match") -> list[str]:
    return [f"{e['resource']['resourceType']}/{e['resource']['id']}" for e in searchset.get("entry", [])
            if e.get("search", {}).get("mode") == mode]


def _of_type(bundle: dict, rtype: str) -> list[dict]:
    return [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == rtype]


def _no_empty_arrays(node, path="$") -> list[str]:
    if isinstance(node, list):
        return [path] if not node else [p for i, v in enumerate(node) for p in _no_empty_arrays(v, f"{path}[{i}]")]
    if isinstance(node, dict):
        return [p for k, v in node.items() for p in _no_empty_arrays(v, f"{path}.{k}")]
    return []


# --- 1. references point somewhere -------------------------------------------------------------------------

def test_served_resources_reference_what_the_server_serves(served) -> None:
    """Finding: GET AdverseEvent/{id} returned subject urn:uuid:..., valid only inside the document."""
    stored = _created(served, demo_bundles()[0])
    assert all(e["fullUrl"].startswith("urn:uuid:") for e in stored["entry"])  # the document keeps urn:uuid
    event = _of_type(stored, "AdverseEvent")[0]
    assert event["subject"]["reference"].startswith("urn:uuid:")
    served_event = _get(served, f"AdverseEvent/{event['id']}").json()
    subject = served_event["subject"]["reference"]
    assert subject.startswith("Patient/") and _get(served, subject).status_code == 200
    for suspect in served_event["suspectEntity"]:
        ref = suspect["instance"]["reference"]
        assert ref.startswith("MedicationStatement/") and _get(served, ref).status_code == 200
    statement = _get(served, served_event["suspectEntity"][0]["instance"]["reference"]).json()
    assert _get(served, statement["medicationReference"]["reference"]).json()["resourceType"] == "Medication"
    dangling = [ref["reference"] for item in _get(served, "Observation?_count=100").json()["entry"]
                for ref in _refs(item["resource"]) if ref["reference"].startswith("urn:")]
    assert dangling == []


def _refs(node):
    if isinstance(node, dict):
        if isinstance(node.get("reference"), str):
            yield node
        for value in node.values():
            yield from _refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from _refs(item)


def test_include_revinclude_and_chains(served) -> None:
    stored = [_created(served, renamed(demo_bundles()[0], f"inc{i}")) for i in range(2)]
    patient = _of_type(stored[0], "Patient")[0]["id"]
    events = sorted(f"AdverseEvent/{e['id']}" for e in _of_type(stored[0], "AdverseEvent"))
    page = _get(served, f"AdverseEvent?subject=Patient/{patient}&_include=AdverseEvent:subject"
                        "&_include=AdverseEvent:substance").json()
    assert sorted(_ids(page)) == events and page["total"] == len(events)
    included = _ids(page, "include")
    assert f"Patient/{patient}" in included and any(i.startswith("MedicationStatement/") for i in included)
    assert len(included) == len(set(included))
    rev = _get(served, f"Patient?_id={patient}&_revinclude=AdverseEvent:subject").json()
    assert _ids(rev) == [f"Patient/{patient}"] and sorted(_ids(rev, "include")) == events
    meds = _get(served, "MedicationStatement?_include=MedicationStatement:medication&_count=100").json()
    assert {i.split("/")[0] for i in _ids(meds, "include")} == {"Medication"}
    # chained: AdverseEvent?subject.identifier / subject:Patient.gender, Bundle?composition.identifier
    key = stored[1]["entry"][0]["resource"]["identifier"]["value"]
    by_case = _get(served, "Bundle", params={"composition.identifier": key}).json()
    assert _ids(by_case) == [f"Bundle/{stored[1]['id']}"]
    male = _get(served, "AdverseEvent?subject:Patient.gender=male&_count=100").json()
    assert male["total"] == sum(len(_of_type(b, "AdverseEvent")) for b in stored)
    assert _get(served, "AdverseEvent?subject.gender=female").json()["total"] == 0
    assert _get(served, "AdverseEvent?substance:MedicationStatement.status=stopped").json()["total"] >= 1
    assert _get(served, "AdverseEvent?substance.status=stopped").status_code == 400  # which type? say so
    assert _get(served, "AdverseEvent?_include=Patient:gender").status_code == 400


def test_fhirclient_follows_references_and_includes(served) -> None:
    from fhirclient import client
    from fhirclient.models.adverseevent import AdverseEvent
    from fhirclient.models.medicationstatement import MedicationStatement
    from fhirclient.models.patient import Patient

    stored = _created(served, demo_bundles()[0])
    smart = client.FHIRClient(settings={"app_id": "t", "api_base": served.base + "/"})
    smart.server.session.headers["Authorization"] = f"Bearer {served.read_token}"
    event = AdverseEvent.read(_of_type(stored, "AdverseEvent")[0]["id"], smart.server)
    patient = event.subject.resolved(Patient)
    assert patient is not None and patient.id == _of_type(stored, "Patient")[0]["id"]
    statement = event.suspectEntity[0].instance.resolved(MedicationStatement)
    assert statement is not None and statement.status in ("stopped", "unknown", "active", "completed")


def test_fhirpy_follows_references_and_pages(served) -> None:
    fhirpy = pytest.importorskip("fhirpy", reason="fhirpy is in the test extra")
    for i in range(3):
        _created(served, renamed(demo_bundles()[0], f"fp{i}"))
    c = fhirpy.SyncFHIRClient(served.base, authorization=f"Bearer {served.read_token}")
    events = c.resources("AdverseEvent").limit(2).fetch_all()
    assert len(events) == 3 * len(_of_type(demo_bundles()[0], "AdverseEvent"))
    assert len({e.id for e in events}) == len(events)
    patient = events[0]["subject"].to_resource()
    assert patient.resourceType == "Patient" and patient.id
    found = c.resources("AdverseEvent").search(subject=f"Patient/{patient.id}").include(
        "AdverseEvent", "subject").fetch_raw()
    assert any(e["search"]["mode"] == "include" for e in found["entry"])


# --- 2. ids per server -----------------------------------------------------------------------------------------

def test_two_cases_with_the_same_local_ids_both_store(served) -> None:
    """Finding: a second case whose Bundle uses ordinary local ids (patient-1) was refused with 409."""
    first = _created(served, with_local_ids(demo_bundles()[0], "ehr-a"))
    second = _created(served, with_local_ids(demo_bundles()[1], "ehr-b"))
    p1, p2 = _of_type(first, "Patient")[0]["id"], _of_type(second, "Patient")[0]["id"]
    assert p1 != p2 and "patient-1" not in (p1, p2)
    for pid, case in ((p1, first), (p2, second)):
        patient = _get(served, f"Patient/{pid}").json()
        assert {"use": "secondary", "system": "http://fhir-ae-reporter.org/NamingSystem/sender-resource-id",
                "value": "patient-1"} in patient["identifier"]
        events = _get(served, f"AdverseEvent?subject=Patient/{pid}").json()
        assert events["total"] == len(_of_type(case, "AdverseEvent"))
    found = _get(served, "Patient?identifier=http://fhir-ae-reporter.org/NamingSystem/sender-resource-id|patient-1")
    assert found.json()["total"] == 2
    # relative references were resolved inside each Bundle, and the document keeps urn:uuid references
    assert all(r["reference"].startswith("urn:uuid:") for r in _refs(first["entry"]))
    # the sender's follow-up with the same local ids updates the same resources
    follow = with_local_ids(demo_bundles()[0], "ehr-a")
    follow["id"] = first["id"]
    follow["entry"][0]["resource"]["title"] += " (follow-up)"  # an unchanged Bundle would add no version
    r = served.session(served.write_token).put(f"{served.base}/Bundle/{first['id']}", data=json.dumps(follow),
                                               headers=FOLLOW_UP_HEADERS, timeout=60)
    assert r.status_code == 200, r.text[:1000]
    assert _of_type(r.json(), "Patient")[0]["id"] == p1
    assert _get(served, f"Patient/{p1}").json()["meta"]["versionId"] == "2"


# --- 3. search that never lies ------------------------------------------------------------------------------------

def _dated(bundle: dict) -> dict:
    copied = copy.deepcopy(bundle)
    for obs in _of_type(copied, "Observation"):
        obs.pop("_effectiveDateTime", None)
        obs["effectiveDateTime"] = "2023-04-10"
    for statement in _of_type(copied, "MedicationStatement"):
        statement.pop("_effectiveDateTime", None)
        statement["effectivePeriod"] = {"start": "2023-03-01", "end": "2023-04-12"}
    for event in _of_type(copied, "AdverseEvent"):
        event["date"] = "2023-04-09"
    return copied


def test_r4_search_parameters_filter_and_unknown_ones_do_not_widen(served) -> None:
    """Finding: Patient?gender=female returned every (male) patient; Observation?status=cancelled every
    Observation; MedicationStatement?effective=ge2099-01-01 all of them."""
    for i, bundle in enumerate(demo_bundles()):
        _created(served, _dated(renamed(bundle, f"r4{i}")))
    total = {t: _get(served, f"{t}?_summary=count").json()["total"] for t in
             ("Patient", "Observation", "MedicationStatement", "AdverseEvent")}
    assert all(total.values())
    assert _exact(served, "Patient?gender=female") == 0
    assert _exact(served, "Patient?gender=male") == total["Patient"]
    assert _exact(served, "Observation?status=cancelled") == 0
    assert _exact(served, "Observation?status=final") == total["Observation"]
    assert _exact(served, "Observation?category=laboratory") >= 3
    assert _exact(served, "Observation?date=2023-04-10") == total["Observation"]
    assert _exact(served, "Observation?date=gt2023-04-10") == 0
    assert _exact(served, "MedicationStatement?effective=ge2099-01-01") == 0
    assert _exact(served, "MedicationStatement?effective=2023-04-01") == 0  # a day, not the period
    assert _exact(served, "MedicationStatement?effective=ge2023-04-01") == total["MedicationStatement"]
    assert _exact(served, "MedicationStatement?status=stopped") >= 1
    assert _exact(served, "AdverseEvent?date=2023-04-09&actuality=actual") == total["AdverseEvent"]
    assert _exact(served, "AdverseEvent?seriousness=Serious") >= 1
    alt = _get(served, "Observation?value-quantity=gt500|http://unitsofmeasure.org|U/L&_total=accurate").json()
    assert alt["total"] >= 1 and all(
        e["resource"]["valueQuantity"]["value"] > 500 and e["resource"]["valueQuantity"]["code"] == "U/L"
        for e in alt["entry"])
    exact = alt["entry"][0]["resource"]["valueQuantity"]["value"]
    assert _exact(served, f"Observation?value-quantity={exact}||U/L") >= 1
    assert _exact(served, "Observation?value-quantity=lt0") == 0
    # R5-style or misspelt names are refused by default, or ignored with an outcome entry when lenient
    for query in ("AdverseEvent?code=x", "Observation?effective=2023", "Patient?sex=female"):
        r = _get(served, query)
        assert r.status_code == 400 and r.json()["resourceType"] == "OperationOutcome", query
    lenient = _get(served, "Patient?sex=female&_total=accurate", headers={"Prefer": "handling=lenient"}).json()
    outcome = [e for e in lenient["entry"] if e["search"]["mode"] == "outcome"]
    assert len(outcome) == 1 and location_of(outcome[0]["resource"]["issue"][0]) == "sex"
    assert lenient["total"] == total["Patient"]


def test_summary_elements_and_total(served, monkeypatch) -> None:
    """Finding: _summary=count returned a page; _elements was ignored; empty searchsets had entry: []."""
    from reporter import limits

    real = limits.limit
    _created(served, demo_bundles()[0])
    count = _get(served, "Observation?_summary=count").json()
    assert count["total"] > 0 and "entry" not in count
    # with search parameters the count is of the matches (issue 12: aggregate clients count this way)
    male = _get(served, "Patient?gender=male&_summary=count").json()
    assert male["type"] == "searchset" and male["total"] == 1 and "entry" not in male
    assert _get(served, "Patient?gender=female&_summary=count").json()["total"] == 0
    assert _get(served, "Bundle?_summary=count").json()["total"] == 1
    data = _get(served, "Patient?_summary=data").json()["entry"][0]["resource"]
    assert "text" not in data
    text = _get(served, "Observation?_summary=text").json()["entry"][0]["resource"]
    assert set(text) <= {"resourceType", "id", "meta", "text", "status", "code"}
    summary = _get(served, "Observation?_summary=true").json()["entry"][0]["resource"]
    assert "valueQuantity" in summary and "note" not in summary and "text" not in summary
    elements = _get(served, "Observation?_elements=valueQuantity").json()["entry"][0]["resource"]
    assert set(elements) == {"resourceType", "id", "meta", "valueQuantity", "status", "code"}
    assert elements["meta"]["tag"][-1]["code"] == "SUBSETTED"
    no_total = _get(served, "Observation?_total=none").json()
    assert "total" not in no_total and no_total["entry"]
    # issue 16: without _total a total only when the first page holds every match; _total=estimate counts up to
    # a limit (limits.yaml), past it no total
    assert "total" not in _get(served, "Observation?_count=1").json()
    monkeypatch.setattr(limits, "limit", lambda name: 1 if name == "search_total_counted" else real(name))
    assert "total" not in _get(served, "Observation?_count=1&_total=estimate").json()
    accurate = _get(served, "Observation?_count=1&_total=accurate").json()
    assert accurate["total"] > 1 and _get(served, "Observation?_summary=count").json()["total"] == accurate["total"]
    monkeypatch.undo()
    empty = _get(served, "Observation?status=cancelled").json()
    assert empty["total"] == 0 and "entry" not in empty
    one = _get(served, f"Patient/{_get(served, 'Patient').json()['entry'][0]['resource']['id']}?_elements=gender")
    assert set(one.json()) == {"resourceType", "id", "meta", "gender"}
    assert _get(served, "Observation?_summary=maybe").status_code == 400


def test_capability_statement_declares_exactly_what_works(served) -> None:
    statement = _get(served, "metadata").json()
    assert _no_empty_arrays(statement) == []
    rest = statement["rest"][0]
    declared = {r["type"]: r for r in rest["resource"]}
    assert {"Medication", "Practitioner", "PractitionerRole", "Organization", "DocumentReference"} <= set(declared)
    _created(served, demo_bundles()[0])
    for rtype, resource in declared.items():
        for param in resource.get("searchParam", []):
            # HL7's own, or this project's (the worldwide case id, C.1.8.1), which says what it finds
            assert param["definition"].startswith("http://hl7.org/fhir/SearchParameter/") or (
                param["definition"].startswith("http://fhir-ae-reporter.org/SearchParameter/")
                and param["documentation"]), param
            if param["name"] == "_id":
                continue
            r = _get(served, f"{rtype}", params={param["name"]: _probe(param["type"])})
            assert r.status_code == 200, (rtype, param, r.text[:300])
    assert {"code": "transaction"} in rest["interaction"]
    assert "AdverseEvent:subject" in declared["AdverseEvent"]["searchInclude"]
    assert "AdverseEvent:subject" in declared["Patient"]["searchRevInclude"]
    assert declared["Binary"]["interaction"] == [{"code": "read"}]  # received E2B files, kept verbatim


def _probe(kind: str) -> str:
    return {"token": "x", "date": "ge2000", "reference": "Patient/x", "quantity": "gt1"}[kind]


# --- 4. HTTP details ----------------------------------------------------------------------------------------------

def test_media_type_parameters_are_understood(served) -> None:
    """Finding: 406 for Accept: application/fhir+json; fhirVersion=4.0 and for ; charset=utf-8."""
    for accept in ("application/fhir+json; fhirVersion=4.0", "application/fhir+json; charset=utf-8",
                   "application/fhir+xml;fhirVersion=4.0;q=0.9, text/html;q=0.1", "*/*"):
        r = _get(served, "metadata", headers={"Accept": accept})
        assert r.status_code == 200, accept
    assert _get(served, "metadata", headers={"Accept": "application/fhir+json; fhirVersion=5.0"}).status_code == 406
    assert "xml" in _get(served, "metadata", headers={"Accept": "application/fhir+xml; fhirVersion=4.0"}
                         ).headers["Content-Type"]
    ok = _post(served, demo_bundles()[0], **{"Content-Type": "application/fhir+json; fhirVersion=4.0; charset=utf-8"})
    assert ok.status_code == 201
    wrong = _post(served, renamed(demo_bundles()[0], "v5"),
                  **{"Content-Type": "application/fhir+json; fhirVersion=5.0"})
    assert wrong.status_code == 415


def test_conditional_read_and_history_parameters(served) -> None:
    stored = _created(served, demo_bundles()[0])
    case_id = stored["id"]
    s = served.session(served.write_token)
    assert s.put(f"{served.base}/Bundle/{case_id}", data=json.dumps(follow_up(stored, "v2")),
                 headers=FOLLOW_UP_HEADERS, timeout=60).status_code == 200
    r = _get(served, f"Bundle/{case_id}")
    assert _get(served, f"Bundle/{case_id}", headers={"If-None-Match": r.headers["ETag"]}).status_code == 304
    assert _get(served, f"Bundle/{case_id}", headers={"If-None-Match": 'W/"1"'}).status_code == 200
    patient = _of_type(r.json(), "Patient")[0]["id"]
    later = format_datetime(datetime.now(UTC) + timedelta(minutes=5), usegmt=True)
    earlier = format_datetime(datetime.now(UTC) - timedelta(days=1), usegmt=True)
    assert _get(served, f"Patient/{patient}", headers={"If-Modified-Since": later}).status_code == 304
    assert _get(served, f"Patient/{patient}", headers={"If-Modified-Since": earlier}).status_code == 200
    history = _get(served, f"Bundle/{case_id}/_history?_count=1").json()
    assert history["total"] == 2 and len(history["entry"]) == 1 and history["entry"][0]["response"]["etag"] == 'W/"2"'
    v2_time = history["entry"][0]["response"]["lastModified"]
    since = _get(served, f"Bundle/{case_id}/_history", params={"_since": v2_time}).json()
    assert since["total"] == 1
    assert _get(served, f"Bundle/{case_id}/_history?_since=soon").status_code == 400


def test_updates_need_if_match(served) -> None:
    stored = _created(served, demo_bundles()[0])
    s = served.session(served.write_token)
    url = f"{served.base}/Bundle/{stored['id']}"
    missing = s.put(url, data=json.dumps(follow_up(stored, "x")), headers={"Content-Type": JSON}, timeout=60)
    assert missing.status_code == 428 and missing.json()["issue"][0]["code"] == "required"
    stale = s.put(url, data=json.dumps(follow_up(stored, "x")), headers={"Content-Type": JSON, "If-Match": 'W/"5"'},
                  timeout=60)
    assert stale.status_code == 412
    assert _get(served, f"Bundle/{stored['id']}").headers["ETag"] == 'W/"1"'


def test_a_nullified_case_says_so_and_leaves_the_searches(served) -> None:
    """Finding: a nullified case was still `final` and still matched searches."""
    keep = _created(served, renamed(demo_bundles()[0], "kept"))
    stored = _created(served, demo_bundles()[0])
    event = _of_type(stored, "AdverseEvent")[0]["id"]
    nullified = follow_up(stored, "nullified")
    nullified["entry"][0]["resource"].setdefault("extension", []).append(NULLIFICATION)
    r = served.session(served.write_token).put(f"{served.base}/Bundle/{stored['id']}", data=json.dumps(nullified),
                                               headers=FOLLOW_UP_HEADERS, timeout=60)
    assert r.status_code == 200, r.text[:1000]
    case = _get(served, f"Bundle/{stored['id']}").json()
    assert case["entry"][0]["resource"]["status"] == "entered-in-error"
    gone = _get(served, f"AdverseEvent/{event}")
    assert gone.status_code == 410 and gone.json()["issue"][0]["code"] == "deleted"
    assert _get(served, f"AdverseEvent/{event}/_history/1").status_code == 200  # the record stays readable
    events = _get(served, "AdverseEvent?_count=100").json()
    assert all(e["resource"]["id"] != event for e in events["entry"])
    assert events["total"] == len(_of_type(keep, "AdverseEvent"))
    compositions = _get(served, "Composition").json()
    assert _ids(compositions) == [f"Composition/{keep['entry'][0]['resource']['id']}"]
    in_error = _get(served, "Composition?status=entered-in-error").json()
    assert _ids(in_error) == [f"Composition/{case['entry'][0]['resource']['id']}"]
    assert f"Bundle/{stored['id']}" in _ids(_get(served, "Bundle?_lastUpdated=gt2000").json())  # pollers see it


def test_pdf_download_honours_its_media_type(served) -> None:
    """Finding: $pdf with Accept: application/pdf answered 406."""
    stored = _created(served, demo_bundles()[0])
    r = _get(served, f"Bundle/{stored['id']}/$pdf", headers={"Accept": "application/pdf"})
    assert r.status_code == 200 and r.headers["Content-Type"] == "application/pdf" and r.content[:5] == b"%PDF-"
    assert _get(served, f"Bundle/{stored['id']}/$pdf", headers={"Accept": "image/png"}).status_code == 406


# --- 5. strict JSON, one validation behaviour ---------------------------------------------------------------------

@pytest.mark.parametrize("element, value", [("active", "true"), ("deceasedBoolean", "no"),
                                             ("multipleBirthInteger", "2")])
def test_json_primitives_are_strict_everywhere(served, element, value) -> None:
    """Finding: active "true" and deceasedBoolean "no" were stored and served back as strings."""
    s = served.session(served.write_token)
    patient = {"resourceType": "Patient", element: value}
    r = s.post(f"{served.base}/Patient/$validate", data=json.dumps(patient), headers={"Content-Type": JSON},
               timeout=60)
    assert r.status_code == 200 and any(i["severity"] == "error" and i["expression"] == [f"Patient.{element}"]
                                        for i in r.json()["issue"])
    bundle = renamed(demo_bundles()[0], f"strict-{element}")
    _of_type(bundle, "Patient")[0][element] = value
    refused = _post(served, bundle)
    assert refused.status_code == 422
    assert any(element in i["expression"][0] for i in refused.json()["issue"])
    assert _get(served, "Patient?_summary=count").json()["total"] == 0


def test_validate_agrees_with_the_bundle_path(served) -> None:
    """Finding: Patient/$validate said "no problems" for gender "femal" that the Bundle path rejects."""
    s = served.session(served.read_token)
    r = s.post(f"{served.base}/Patient/$validate", data=json.dumps({"resourceType": "Patient", "gender": "femal"}),
               headers={"Content-Type": JSON}, timeout=60)
    assert any(i["severity"] == "error" and i["expression"] == ["Patient.gender"] for i in r.json()["issue"])
    ok = s.post(f"{served.base}/Patient/$validate", data=json.dumps({"resourceType": "Patient", "gender": "female"}),
                headers={"Content-Type": JSON}, timeout=60)
    assert all(i["severity"] == "information" for i in ok.json()["issue"])
    # a Bundle that does not claim to be an ICSR gets the FHIR checks, not the ICSR rules
    collection = {"resourceType": "Bundle", "type": "collection",
                  "entry": [{"resource": {"resourceType": "Patient", "gender": "female"}}]}
    plain = s.post(f"{served.base}/Bundle/$validate", data=json.dumps(collection), headers={"Content-Type": JSON},
                   timeout=60).json()
    assert all(i["severity"] == "information" for i in plain["issue"]), plain
    asked = s.post(f"{served.base}/Bundle/$validate", timeout=60, data=json.dumps(collection),
                   params={"profile": "http://hl7.org/fhir/us/icsr-ae-reporting/StructureDefinition/icsr-transaction-bundle"},
                   headers={"Content-Type": JSON}).json()
    assert any(i["severity"] == "error" for i in asked["issue"])


# --- 6. transactions and batches ----------------------------------------------------------------------------------

def _tx(kind: str, entries: list[dict]) -> dict:
    return {"resourceType": "Bundle", "type": kind, "entry": entries}


def test_transaction_is_all_or_nothing(served) -> None:
    s = served.session(served.write_token)
    good = [{"resource": renamed(demo_bundles()[0], f"tx{i}"), "request": {"method": "POST", "url": "Bundle"}}
            for i in range(2)]
    r = s.post(served.base, data=json.dumps(_tx("transaction", good)), headers={"Content-Type": JSON}, timeout=120)
    assert r.status_code == 200, r.text[:1000]
    body = r.json()
    assert body["type"] == "transaction-response"
    assert [e["response"]["status"] for e in body["entry"]] == ["201 Created", "201 Created"]
    case_id = body["entry"][0]["response"]["location"].split("/")[1]
    assert _get(served, "Bundle?_summary=count").json()["total"] == 2
    stored = _get(served, f"Bundle/{case_id}").json()
    broken = renamed(demo_bundles()[0], "tx-broken")
    _of_type(broken, "Patient")[0]["birthDate"] = "last tuesday"
    mixed = [{"resource": follow_up(stored, "tx"), "request": {"method": "PUT", "url": f"Bundle/{case_id}",
                                                               "ifMatch": 'W/"1"'}},
             {"resource": broken, "request": {"method": "POST", "url": "Bundle"}}]
    refused = s.post(served.base, data=json.dumps(_tx("transaction", mixed)), headers={"Content-Type": JSON},
                     timeout=120)
    assert refused.status_code == 422
    assert any(i["expression"][0].startswith("Bundle.entry[1].resource") for i in refused.json()["issue"])
    assert _get(served, f"Bundle/{case_id}").headers["ETag"] == 'W/"1"'  # the good entry was not applied
    stale = [{"resource": follow_up(stored, "a"), "request": {"method": "PUT", "url": f"Bundle/{case_id}",
                                                              "ifMatch": 'W/"1"'}},
             {"resource": renamed(demo_bundles()[0], "tx-late"), "request": {"method": "POST", "url": "Bundle"}},
             {"resource": follow_up(stored, "b"), "request": {"method": "PUT", "url": f"Bundle/{case_id}",
                                                              "ifMatch": 'W/"1"'}}]
    conflict = s.post(served.base, data=json.dumps(_tx("transaction", stale)),
                      headers={"Content-Type": JSON, "X-Reporter-Reason": "follow-up"},
                      timeout=120)
    assert conflict.status_code == 412
    assert _get(served, "Bundle?_summary=count").json()["total"] == 2  # rolled back whole


def test_batch_answers_per_entry(served) -> None:
    s = served.session(served.write_token)
    stored = _created(served, demo_bundles()[0])
    entries = [{"resource": renamed(demo_bundles()[0], "b1"), "request": {"method": "POST", "url": "Bundle"}},
               {"resource": follow_up(stored, "b"), "request": {"method": "PUT", "url": f"Bundle/{stored['id']}"}},
               {"resource": follow_up(stored, "b"), "request": {"method": "PUT", "url": f"Bundle/{stored['id']}",
                                                                "ifMatch": 'W/"1"'}},
               {"resource": demo_bundles()[0], "request": {"method": "POST", "url": "Bundle"}},
               {"resource": {"resourceType": "Patient"}, "request": {"method": "POST", "url": "Patient"}}]
    r = s.post(served.base, data=json.dumps(_tx("batch", entries)),
               headers={"Content-Type": JSON, "X-Reporter-Reason": "follow-up"}, timeout=120)
    assert r.status_code == 200, r.text[:1000]
    statuses = [e["response"]["status"] for e in r.json()["entry"]]
    assert statuses == ["201 Created", "428", "200 OK", "409", "400"]
    assert r.json()["entry"][1]["response"]["outcome"]["resourceType"] == "OperationOutcome"
    assert s.post(served.base, data=json.dumps(_tx("collection", entries)), headers={"Content-Type": JSON},
                  timeout=60).status_code == 400
    assert served.session(served.read_token).post(served.base, data=json.dumps(_tx("batch", entries)),
                                                  headers={"Content-Type": JSON}, timeout=60).status_code == 403


def test_served_json_passes_the_independent_validators(served, tmp_path) -> None:
    """The CapabilityStatement, a searchset with includes, a served resource and a transaction response pass
    HL7's R4 JSON Schema and FHIR.js (tools/fhir-validator)."""
    from tests.test_bundle import _independent_validator, run_independent

    node = _independent_validator()
    stored = _created(served, demo_bundles()[0])
    event = _of_type(stored, "AdverseEvent")[0]["id"]
    documents = {
        "metadata": _get(served, "metadata").json(),
        "searchset": _get(served, "AdverseEvent?_include=AdverseEvent:subject").json(),
        "lenient": _get(served, "Patient?sex=x", headers={"Prefer": "handling=lenient"}).json(),
        "empty": _get(served, "Observation?status=cancelled").json(),
        "event": _get(served, f"AdverseEvent/{event}").json(),
        "history": _get(served, f"Bundle/{stored['id']}/_history").json(),
    }
    files = []
    for name, body in documents.items():
        path = tmp_path / f"{name}.json"
        path.write_text(json.dumps(body), encoding="utf-8")
        files.append(path)
    # The JSON Schema in tools/fhir-validator is HL7's 4.0.0 one, whose fhirVersion enum ends at 4.0.0: the
    # statement is also checked with that one value changed, and as served by FHIR.js alone.
    older = tmp_path / "metadata-4.0.0.json"
    older.write_text(json.dumps({**documents["metadata"], "fhirVersion": "4.0.0"}), encoding="utf-8")
    results = run_independent(node, [*files, older])
    assert len(results) == len(files) + 1
    metadata = results[0]
    assert [e for e in metadata["errors"] if e["validator"] != "hl7-json-schema"] == []
    assert [r for r in results[1:] if not r["valid"]] == []
