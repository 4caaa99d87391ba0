"""Patient- and Group-level Bulk Data export (issue 13): `GET /fhir/Patient/$export` writes the Patient
compartment of every patient, `GET /fhir/Group/<id>/$export` that of a stored Group's members; the same async
job as the system-level export (kick-off, status, NDJSON files)."""

from __future__ import annotations

import json

from .bundles import demo_bundles, renamed
from .test_api_bulk import export

JSON = "application/fhir+json"


def _post(served, path: str, body: dict) -> dict:
    r = served.session(served.write_token).post(f"{served.base}/{path}", data=json.dumps(body),
                                                headers={"Content-Type": JSON}, timeout=120)
    assert r.status_code == 201, r.text[:1000]
    return r.json()


def _patients(served, bundle: dict) -> list[str]:
    return [e["resource"]["id"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Patient"]


def _export(served, path: str, **params):
    old = served.base
    served.base = f"{old}/{path}".rstrip("/").removesuffix("/$export") if path else old
    try:
        return export(served, **params)
    finally:
        served.base = old


def test_patient_and_group_export(served) -> None:
    cases = [_post(served, "Bundle", renamed(b, f"grp{i}")) for i, b in enumerate(demo_bundles()[:3])]
    patients = [p for c in cases for p in _patients(served, c)]
    assert len(patients) == 3
    manifest, files = _export(served, "Patient")
    assert "Bundle" not in files and "Practitioner" not in files and "Organization" not in files
    assert sorted(p["id"] for p in files["Patient"]) == sorted(patients)
    assert all(r["subject"]["reference"] in {f"Patient/{p}" for p in patients} for r in files["AdverseEvent"])
    assert manifest["request"].endswith("/Patient/$export")

    group = _post(served, "Group", {"resourceType": "Group", "type": "person", "actual": True,
                                    "name": "first two", "member": [{"entity": {"reference": f"Patient/{p}"}}
                                                                    for p in patients[:2]]})
    assert group["quantity"] == 2 and group["meta"]["versionId"] == "1"
    got = served.session(served.read_token).get(f"{served.base}/Group/{group['id']}", timeout=30)
    assert got.status_code == 200 and got.json()["member"][1]["entity"]["reference"] == f"Patient/{patients[1]}"
    _, files = _export(served, f"Group/{group['id']}", _type="Patient,AdverseEvent")
    assert sorted(p["id"] for p in files["Patient"]) == sorted(patients[:2])
    assert {r["subject"]["reference"] for r in files["AdverseEvent"]} == {f"Patient/{p}" for p in patients[:2]}
    assert set(files) == {"Patient", "AdverseEvent"}
    # a Group is updated with If-Match like a case
    s = served.session(served.write_token)
    smaller = {**group, "member": group["member"][:1]}
    r = s.put(f"{served.base}/Group/{group['id']}", data=json.dumps(smaller),
              headers={"Content-Type": JSON, "If-Match": 'W/"1"'}, timeout=30)
    assert r.status_code == 200 and r.json()["quantity"] == 1
    assert s.put(f"{served.base}/Group/{group['id']}", data=json.dumps(smaller),
                 headers={"Content-Type": JSON, "If-Match": 'W/"1"'}, timeout=30).status_code == 412
    _, files = _export(served, f"Group/{group['id']}")
    assert [p["id"] for p in files["Patient"]] == [patients[0]]
    listed = served.session(served.read_token).get(f"{served.base}/Group", timeout=30).json()
    assert listed["total"] == 1


def test_group_and_export_errors(served) -> None:
    s = served.session(served.write_token)
    for body, where in (({"resourceType": "Group", "type": "device", "actual": True}, "Group.type"),
                        ({"resourceType": "Group", "type": "person", "actual": True,
                          "member": [{"entity": {"reference": "Practitioner/x"}}]}, "Group.member[0].entity"),
                        ({"resourceType": "Patient"}, "resourceType")):
        r = s.post(f"{served.base}/Group", data=json.dumps(body), headers={"Content-Type": JSON}, timeout=30)
        assert r.status_code == 400 and where in json.dumps(r.json()), (body, r.text[:300])
    bad = s.post(f"{served.base}/Group", data=json.dumps({"resourceType": "Group", "type": "person",
                                                         "actual": "yes"}), headers={"Content-Type": JSON}, timeout=30)
    assert bad.status_code == 422
    async_ = {"Prefer": "respond-async"}
    assert s.get(f"{served.base}/Group/{'a' * 8}/$export", headers=async_, timeout=30).status_code == 404
    assert s.get(f"{served.base}/Patient/$export", params={"_type": "Bundle"}, headers=async_,
                 timeout=30).status_code == 400  # a Bundle is in no patient's compartment
    assert s.get(f"{served.base}/Patient/$export", timeout=30).status_code == 400  # no Prefer: respond-async
    assert served.session(served.read_token).post(
        f"{served.base}/Group", data=json.dumps({"resourceType": "Group", "type": "person", "actual": True}),
        headers={"Content-Type": JSON}, timeout=30).status_code == 403
    group = s.post(f"{served.base}/Group", data=json.dumps({"resourceType": "Group", "type": "person",
                                                           "actual": True}), headers={"Content-Type": JSON}, timeout=30)
    assert group.status_code == 201
    assert s.delete(f"{served.base}/Group/{group.json()['id']}", timeout=30).status_code == 204
    assert s.get(f"{served.base}/Group/{group.json()['id']}", timeout=30).status_code == 404
