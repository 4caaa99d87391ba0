"""The FHIR API over HTTP on loopback: headers, formats, versions, paging, and every error path."""

from __future__ import annotations

import json

import pytest
import requests

from reporter.fhir.issue_location import is_fhirpath, location_of
from reporter.fhir.models import from_xml, to_xml
from reporter.store.approvals import approve

from .bundles import demo_bundles, follow_up, renamed

JSON = "application/fhir+json"
XML = "application/fhir+xml"


def _is_outcome(response: requests.Response, status: int) -> dict:
    assert response.status_code == status, response.text[:500]
    if "xml" in response.headers["Content-Type"]:
        body = from_xml(response.content)
    else:
        assert response.headers["Content-Type"].startswith(JSON)
        body = response.json()
    assert body["resourceType"] == "OperationOutcome"
    assert body["issue"] and all(i["severity"] in ("error", "fatal") for i in body["issue"])
    return body


def _post(served, bundle: dict, token: str | None = None, **headers) -> requests.Response:
    s = served.session(token or served.write_token)
    return s.post(f"{served.base}/Bundle", data=json.dumps(bundle), headers={"Content-Type": JSON, **headers},
                  timeout=30)


def test_create_read_vread_history_with_etags(served) -> None:
    s = served.session(served.write_token)
    bundle = demo_bundles()[0]
    r = _post(served, bundle)
    assert r.status_code == 201
    case_id = r.json()["id"]
    assert r.headers["Location"] == f"{served.base}/Bundle/{case_id}/_history/1"
    assert r.headers["ETag"] == 'W/"1"'
    r2 = s.put(f"{served.base}/Bundle/{case_id}", data=json.dumps(follow_up(r.json(), "v2")),
               headers={"Content-Type": JSON, "If-Match": 'W/"1"', "X-Reporter-Reason": "new labs"}, timeout=30)
    assert r2.status_code == 200 and r2.headers["ETag"] == 'W/"2"'
    assert s.get(f"{served.base}/Bundle/{case_id}", timeout=30).headers["ETag"] == 'W/"2"'
    old = s.get(f"{served.base}/Bundle/{case_id}/_history/1", timeout=30)
    assert old.json()["meta"]["versionId"] == "1"
    assert old.json()["entry"][0]["resource"]["title"] == bundle["entry"][0]["resource"]["title"]
    hist = s.get(f"{served.base}/Bundle/{case_id}/_history", timeout=30).json()
    assert hist["type"] == "history" and [e["response"]["etag"] for e in hist["entry"]] == ['W/"2"', 'W/"1"']
    ae = next(e["resource"]["id"] for e in r.json()["entry"] if e["resource"]["resourceType"] == "AdverseEvent")
    got = s.get(f"{served.base}/AdverseEvent/{ae}", timeout=30)
    assert got.status_code == 200 and got.json()["meta"]["versionId"] == "2"
    assert s.get(f"{served.base}/AdverseEvent/{ae}/_history/1", timeout=30).json()["meta"]["versionId"] == "1"
    minimal = _post(served, renamed(bundle, "min"), Prefer="return=minimal")
    assert minimal.status_code == 201 and minimal.content == b"" and minimal.headers["Location"]


def test_writing_back_what_was_read_adds_no_version(served) -> None:
    """An integration engine re-syncing a case it read: before, each such PUT added a version (and a 'changed'
    case for every subscriber). The comparison is of the stored Bundles, so no change is hidden."""
    s = served.session(served.write_token)
    case_id = _post(served, renamed(demo_bundles()[0], "noop")).json()["id"]
    read = s.get(f"{served.base}/Bundle/{case_id}", timeout=30).json()
    headers = {"Content-Type": JSON, "If-Match": 'W/"1"', "X-Reporter-Reason": "re-sync"}
    same = s.put(f"{served.base}/Bundle/{case_id}", data=json.dumps(read), headers=headers, timeout=30)
    assert same.status_code == 200 and same.headers["ETag"] == 'W/"1"' and same.json()["meta"]["versionId"] == "1"
    assert [h.version for h in served.store.history(case_id)] == [1]
    [update] = [e for e in served.store.audit_events() if e.subtype == "update"]
    assert (update.action, update.outcome, update.entity) == ("U", "0", f"Bundle/{case_id}/_history/1")
    assert "unchanged" in update.detail
    # a transaction's or batch's PUT of what is stored adds none either
    tx = {"resourceType": "Bundle", "type": "transaction", "entry": [
        {"resource": read, "request": {"method": "PUT", "url": f"Bundle/{case_id}", "ifMatch": 'W/"1"'}}]}
    r = s.post(served.base, data=json.dumps(tx), headers={"Content-Type": JSON, "X-Reporter-Reason": "re-sync"},
               timeout=30)
    assert r.status_code == 200 and r.json()["entry"][0]["response"]["etag"] == 'W/"1"'
    assert [h.version for h in served.store.history(case_id)] == [1]
    read["entry"][1]["resource"]["gender"] = "female" if read["entry"][1]["resource"].get("gender") != "female" \
        else "male"  # one fact the case model holds
    changed = s.put(f"{served.base}/Bundle/{case_id}", data=json.dumps(read), headers=headers, timeout=30)
    assert changed.status_code == 200 and changed.headers["ETag"] == 'W/"2"'
    read["entry"][1]["resource"].setdefault("extension", []).append(
        {"url": "http://example.org/fhir/StructureDefinition/not-in-the-case-model", "valueString": "x"})
    headers["If-Match"] = 'W/"2"'
    beyond = s.put(f"{served.base}/Bundle/{case_id}", data=json.dumps(read), headers=headers, timeout=30)
    assert beyond.status_code == 200 and beyond.headers["ETag"] == 'W/"3"'  # a fact the model does not hold


def test_xml_in_and_out(served) -> None:
    s = served.session(served.write_token)
    bundle = renamed(demo_bundles()[0], "xml")
    r = s.post(f"{served.base}/Bundle", data=to_xml(bundle), headers={"Content-Type": XML, "Accept": XML},
               timeout=30)
    assert r.status_code == 201 and r.headers["Content-Type"].startswith(XML)
    case_id = from_xml(r.content)["id"]
    as_json = s.get(f"{served.base}/Bundle/{case_id}", timeout=30).json()
    as_xml = s.get(f"{served.base}/Bundle/{case_id}?_format=xml", timeout=30)
    assert as_xml.headers["Content-Type"].startswith(XML)
    assert from_xml(as_xml.content)["entry"][1] == as_json["entry"][1]
    by_accept = s.get(f"{served.base}/Bundle/{case_id}", headers={"Accept": "application/xml"}, timeout=30)
    assert by_accept.content.startswith(b"<?xml")
    search = s.get(f"{served.base}/Patient", params={"_format": "xml"}, timeout=30)
    assert from_xml(search.content)["type"] == "searchset"


def test_search_paging_follows_next_links(served) -> None:
    s = served.session(served.read_token)
    for i in range(5):
        assert _post(served, renamed(demo_bundles()[0], f"page{i}")).status_code == 201
    # no _total: a first page that does not hold every match has no total (issue 16); asked for, every page has
    assert "total" not in s.get(f"{served.base}/Patient?_count=2", timeout=30).json()
    url, seen = f"{served.base}/Patient?_count=2&_lastUpdated=gt2000&_total=accurate", []
    while url:
        page = s.get(url, timeout=30).json()
        assert page["total"] == 5
        seen += [e["resource"]["id"] for e in page["entry"]]
        url = next((link["url"] for link in page["link"] if link["relation"] == "next"), None)
    assert len(seen) == len(set(seen)) == 5
    newest_first = s.get(f"{served.base}/Patient?_sort=-_lastUpdated&_count=10", timeout=30).json()
    assert [e["resource"]["id"] for e in newest_first["entry"]] == list(reversed(seen))
    only_total = s.get(f"{served.base}/Patient?_count=0", timeout=30).json()
    assert only_total["total"] == 5 and "entry" not in only_total  # never an empty array


def test_validate_operation(served) -> None:
    s = served.session(served.read_token)
    good = s.post(f"{served.base}/Bundle/$validate", data=json.dumps(demo_bundles()[0]),
                  headers={"Content-Type": JSON}, timeout=30)
    assert good.status_code == 200
    assert all(i["severity"] not in ("error", "fatal") for i in good.json()["issue"])
    broken = demo_bundles()[0]
    broken["entry"][1]["resource"]["gendre"] = "female"  # misspelt element
    bad = s.post(f"{served.base}/Bundle/$validate", data=json.dumps(broken), headers={"Content-Type": JSON},
                 timeout=30)
    assert bad.status_code == 200
    assert any(i["severity"] == "error" and "gendre" in i["expression"][0] for i in bad.json()["issue"])


def test_responses_carry_security_headers(served) -> None:
    r = requests.get(f"{served.base}/metadata", timeout=30)
    for header in ("X-Content-Type-Options", "X-Frame-Options", "Content-Security-Policy", "Referrer-Policy"):
        assert header in r.headers
    assert r.headers["Cache-Control"] == "no-store"


def test_every_access_is_audited(served) -> None:
    s = served.session(served.write_token)
    case_id = _post(served, demo_bundles()[0]).json()["id"]
    s.get(f"{served.base}/Bundle/{case_id}", timeout=30)
    requests.get(f"{served.base}/Bundle/{case_id}", timeout=30)  # no token
    events = [e for e in served.store.audit_events() if not e.subtype.startswith("token-")]  # fixture's tokens
    summary = [(e.subtype, e.action, e.outcome, e.agent.split(":")[0]) for e in reversed(events)]
    assert summary == [("create", "C", "0", "token"), ("read", "R", "0", "token"), ("read", "R", "4", "anonymous")]
    assert events[1].entity == f"Bundle/{case_id}"


# --- error paths: always an OperationOutcome, never a 500 ---------------------------------------------

def test_authentication_and_scopes(served) -> None:
    base = served.base
    _is_outcome(requests.get(f"{base}/Patient", timeout=30), 401)
    _is_outcome(requests.get(f"{base}/Patient", headers={"Authorization": "Bearer rpt_bogus"}, timeout=30), 401)
    _is_outcome(requests.get(f"{base}/Patient", headers={"Authorization": "Basic dXNlcjpwdw=="}, timeout=30), 401)
    r = _post(served, demo_bundles()[0], token=served.read_token)
    _is_outcome(r, 403)
    assert "insufficient_scope" in r.headers["WWW-Authenticate"]


def test_error_paths(served) -> None:
    s = served.session(served.write_token)
    base = served.base
    bundle = demo_bundles()[0]
    created = _post(served, bundle).json()
    case_id = created["id"]
    put_headers = {"Content-Type": JSON, "X-Reporter-Reason": "test"}

    def put(body, **headers):
        headers.setdefault("If-Match", 'W/"1"')
        return s.put(f"{base}/Bundle/{case_id}", data=body if isinstance(body, str | bytes) else json.dumps(body),
                     headers={**put_headers, **headers}, timeout=30)

    _is_outcome(s.get(f"{base}/Bundle/no-such-case", timeout=30), 404)
    _is_outcome(s.get(f"{base}/Bundle/{case_id}/_history/9", timeout=30), 404)
    _is_outcome(s.get(f"{base}/Bundle/{case_id}/_history/x", timeout=30), 400)
    _is_outcome(s.get(f"{base}/Patient/bad$id", timeout=30), 400)
    _is_outcome(s.get(f"{base}/Library", timeout=30), 404)
    _is_outcome(s.get(f"{base}/not-a-type", timeout=30), 400)
    _is_outcome(s.get(f"{base}/Observation?date=yesterday", timeout=30), 400)
    _is_outcome(s.get(f"{base}/Observation?_count=many", timeout=30), 400)
    _is_outcome(s.get(f"{base}/Observation?_sort=value", timeout=30), 400)
    _is_outcome(s.get(f"{base}/Observation?_cursor=garbage", timeout=30), 400)
    _is_outcome(s.get(f"{base}/Observation?code:text=x", timeout=30), 400)
    _is_outcome(s.get(f"{base}/Observation?foo=1", headers={"Prefer": "handling=strict"}, timeout=30), 400)
    _is_outcome(s.get(f"{base}/Patient?_format=pdf", timeout=30), 406)
    _is_outcome(s.get(f"{base}/Patient", headers={"Accept": "image/png"}, timeout=30), 406)
    _is_outcome(s.post(f"{base}/Bundle", data="{not json", headers=put_headers, timeout=30), 400)
    _is_outcome(s.post(f"{base}/Bundle", data='{"resourceType":"Bundle","type":"document","type":"x"}',
                       headers=put_headers, timeout=30), 400)
    _is_outcome(s.post(f"{base}/Bundle", data=b"\xff\xfe", headers=put_headers, timeout=30), 400)
    _is_outcome(s.post(f"{base}/Bundle", data="[]", headers=put_headers, timeout=30), 400)
    _is_outcome(s.post(f"{base}/Bundle", data="", headers=put_headers, timeout=30), 400)
    _is_outcome(s.post(f"{base}/Bundle", data="x", headers={"Content-Type": "text/plain"}, timeout=30), 415)
    _is_outcome(s.post(f"{base}/Bundle", data=b"<!DOCTYPE x [<!ENTITY e 'x'>]><Bundle xmlns='http://hl7.org/fhir'/>",
                       headers={"Content-Type": XML}, timeout=30), 400)
    _is_outcome(s.post(f"{base}/Bundle", data=b"<Bundle><unclosed></Bundle>", headers={"Content-Type": XML},
                       timeout=30), 400)
    _is_outcome(s.post(f"{base}/Bundle", data=b"x" * (3 * 1024 * 1024), headers=put_headers, timeout=30), 413)
    # the same body sent chunked (no Content-Length): cut at the limit by the server, it read as malformed JSON
    _is_outcome(s.post(f"{base}/Bundle", data=(b"x" * 65536 for _ in range(48)), headers=put_headers, timeout=30),
                413)
    _is_outcome(s.post(f"{base}/Patient", data="{}", headers=put_headers, timeout=30), 405)
    _is_outcome(s.delete(f"{base}/Bundle/{case_id}", timeout=30), 405)
    _is_outcome(s.patch(f"{base}/Bundle/{case_id}", data="{}", headers=put_headers, timeout=30), 405)
    _is_outcome(s.post(f"{base}/Bundle", data=json.dumps({"resourceType": "Patient"}), headers=put_headers,
                       timeout=30), 400)
    invalid = renamed(bundle, "invalid")
    invalid["entry"][1]["resource"]["birthDate"] = "last tuesday"
    body = _is_outcome(_post(served, invalid), 422)
    assert any("birthDate" in i.get("expression", [""])[0] for i in body["issue"])
    _is_outcome(_post(served, bundle), 409)  # the same case again
    _is_outcome(put(follow_up(created, "stale"), **{"If-Match": 'W/"7"'}), 412)
    _is_outcome(put(follow_up(created, "bad etag"), **{"If-Match": "seven"}), 400)
    wrong_id = follow_up(created, "wrong id")
    wrong_id["id"] = "other"
    _is_outcome(put(wrong_id), 400)
    _is_outcome(s.put(f"{base}/Bundle/no-such-case", data=json.dumps({**follow_up(created, "x"), "id": "no-such-case"}),
                      headers={**put_headers, "If-Match": 'W/"1"'}, timeout=30), 404)
    _is_outcome(s.put(f"{base}/Bundle/{case_id}", data=json.dumps(follow_up(created, "no If-Match")),
                      headers=put_headers, timeout=30), 428)
    _is_outcome(s.post(f"{base}/Bundle/$validate", data=json.dumps({"resourceType": "Parameters"}),
                       headers=put_headers, timeout=30), 400)
    # none of that changed the case
    assert s.get(f"{base}/Bundle/{case_id}", timeout=30).headers["ETag"] == 'W/"1"'


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_errors_follow_the_requested_format(served, fmt) -> None:
    s = served.session(served.read_token)
    _is_outcome(s.get(f"{served.base}/Bundle/missing?_format={fmt}", timeout=30), 404)


def test_e2b_download_per_receiver(served, e2b_schema_dir) -> None:
    from lxml import etree

    # e2b_schema_dir: skips without the ICH XSDs; the served app finds the same folder (conftest.served)
    s = served.session(served.write_token)
    case_id = _post(served, demo_bundles()[0]).json()["id"]
    refused = served.session(served.read_token).get(f"{served.base}/Bundle/{case_id}/$e2b", timeout=30)
    assert _is_outcome(refused, 403) and "submit" in refused.text  # submitting is not reading
    unapproved = s.get(f"{served.base}/Bundle/{case_id}/$e2b", params={"receiver": "ich"}, timeout=120)
    assert _is_outcome(unapproved, 409) and "not approved" in unapproved.text  # a reviewer approves first
    approve(served.store, case_id, 1, "vera")
    r = s.get(f"{served.base}/Bundle/{case_id}/$e2b", params={"receiver": "ich"}, timeout=120)
    assert r.status_code == 200, r.text[:2000]
    assert r.headers["Content-Type"].startswith("application/xml")
    assert "attachment" in r.headers["Content-Disposition"] and r.headers["X-E2B-XSD"] == "valid"
    root = etree.fromstring(r.content, etree.XMLParser(resolve_entities=False, no_network=True))
    assert etree.QName(root).localname == "MCCI_IN200100UV01"
    assert b"GB-EXAMPLEPHARMA" in r.content
    _is_outcome(s.get(f"{served.base}/Bundle/{case_id}/$e2b", params={"receiver": "mars"}, timeout=30), 400)
    _is_outcome(s.get(f"{served.base}/Bundle/missing/$e2b", timeout=30), 404)
    _is_outcome(requests.get(f"{served.base}/Bundle/{case_id}/$e2b", timeout=30), 401)


def test_pdf_and_html_downloads_are_audited_and_need_a_token(served) -> None:
    from io import BytesIO

    from pypdf import PdfReader

    s = served.session(served.read_token)
    case_id = _post(served, demo_bundles()[0]).json()["id"]
    r = s.get(f"{served.base}/Bundle/{case_id}/$pdf", timeout=120)
    assert r.status_code == 200 and r.headers["Content-Type"] == "application/pdf"
    assert r.headers["Content-Disposition"] == 'attachment; filename="GB-EXAMPLEPHARMA-2023-000101-v1-cioms.pdf"'
    text = "".join(page.extract_text() for page in PdfReader(BytesIO(r.content)).pages)
    assert "CIOMS" in text and "GB-EXAMPLEPHARMA-2023-000101" in text
    r = s.get(f"{served.base}/Bundle/{case_id}/$html", timeout=120)
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/html")
    assert r.headers["Content-Disposition"].startswith("inline")
    assert "script-src" not in r.headers["Content-Security-Policy"] and "<script" not in r.text
    assert "Case GB-EXAMPLEPHARMA-2023-000101" in r.text and 'class="validation' in r.text
    assert s.get(f"{served.base}/Bundle/{case_id}/$html?download", timeout=120).headers[
        "Content-Disposition"].startswith("attachment")
    _is_outcome(requests.get(f"{served.base}/Bundle/{case_id}/$pdf", timeout=30), 401)
    _is_outcome(s.get(f"{served.base}/Bundle/missing/$html", timeout=30), 404)
    subtypes = [(e.subtype, e.outcome, e.agent.startswith("token:")) for e in served.store.audit_events(10)]
    assert ("pdf-export", "0", True) in subtypes and ("html-export", "0", True) in subtypes
    assert ("pdf-export", "4", False) in subtypes  # the refused one is audited too


def test_validate_operation_with_receiver_runs_the_e2b_checks(served) -> None:
    s = served.session(served.read_token)
    bundle = demo_bundles()[0]
    comp = bundle["entry"][0]["resource"]
    comp["extension"] = [e for e in comp["extension"] if not e["url"].endswith("expeditedreport")]  # C.1.7 gone
    plain = s.post(f"{served.base}/Bundle/$validate", data=json.dumps(bundle), headers={"Content-Type": JSON},
                   timeout=30).json()
    assert not any(i["details"]["coding"][0]["code"] == "R0011" for i in plain["issue"] if "details" in i
                   and "coding" in i["details"])
    fda = s.post(f"{served.base}/Bundle/$validate?receiver=fda", data=json.dumps(bundle),
                 headers={"Content-Type": JSON}, timeout=60).json()
    codes = [i["details"]["coding"][0]["code"] for i in fda["issue"] if "coding" in i.get("details", {})]
    assert "R0011" in codes
    # expression holds FHIRPath only; an E2B element is given in the issue-location extension and the text
    assert all(is_fhirpath(e) for i in fda["issue"] for e in i.get("expression", []))
    r0011 = next(i for i in fda["issue"] if "R0011" in json.dumps(i.get("details")))
    assert location_of(r0011).startswith("C.1.7") and "(at C.1.7" in r0011["details"]["text"]
    _is_outcome(s.post(f"{served.base}/Bundle/$validate?receiver=nope", data=json.dumps(bundle),
                       headers={"Content-Type": JSON}, timeout=30), 400)
