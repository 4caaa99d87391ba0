"""FHIR Bulk Data export over HTTP (issue 13): async kick-off, status, NDJSON files, _type and _since; a bulk
exporter keeps a mirror of the store exactly in step while writers run (nothing missed, nothing twice)."""

from __future__ import annotations

import json
import threading
import time

import requests

from .bundles import demo_bundles, follow_up, renamed

JSON = "application/fhir+json"


def _post(served, bundle: dict) -> dict:
    r = served.session(served.write_token).post(f"{served.base}/Bundle", data=json.dumps(bundle),
                                                headers={"Content-Type": JSON}, timeout=120)
    assert r.status_code == 201, r.text[:1000]
    return r.json()


def export(served, **params) -> tuple[dict, dict[str, list[dict]]]:
    """Run one export to the end: (manifest, resources per type)."""
    s = served.session(served.read_token)
    kick = s.get(f"{served.base}/$export", params=params,
                 headers={"Prefer": "respond-async", "Accept": JSON}, timeout=60)
    assert kick.status_code == 202, kick.text[:500]
    status_url = kick.headers["Content-Location"]
    deadline = time.monotonic() + 120
    while True:
        status = s.get(status_url, timeout=60)
        if status.status_code == 200:
            break
        assert status.status_code == 202 and status.headers["X-Progress"], status.text[:500]
        assert time.monotonic() < deadline, "the export did not finish"
        time.sleep(0.05)
    manifest = status.json()
    out: dict[str, list[dict]] = {}
    for item in manifest["output"]:
        got = s.get(item["url"], headers={"Accept": "application/fhir+ndjson"}, timeout=60)
        assert got.status_code == 200 and got.headers["Content-Type"].startswith("application/fhir+ndjson")
        lines = [json.loads(line) for line in got.text.splitlines() if line]
        assert len(lines) == item["count"]
        out.setdefault(item["type"], []).extend(lines)
    assert s.delete(status_url, timeout=60).status_code == 202
    assert s.get(status_url, timeout=60).status_code == 404
    return manifest, out


def test_export_kick_off_status_and_files(served) -> None:
    stored = [_post(served, renamed(demo_bundles()[0], f"bulk{i}")) for i in range(2)]
    manifest, files = export(served, _type="Bundle,AdverseEvent,Patient")
    assert manifest["requiresAccessToken"] is True and manifest["error"] == []
    assert sorted(b["id"] for b in files["Bundle"]) == sorted(b["id"] for b in stored)
    assert len(files["Patient"]) == 2 and set(files) == {"Bundle", "AdverseEvent", "Patient"}
    assert all(r["subject"]["reference"].startswith("Patient/") for r in files["AdverseEvent"])
    later, again = export(served, _since=manifest["transactionTime"])
    assert again == {} and later["output"] == []
    s = served.session(served.read_token)
    assert s.get(f"{served.base}/$export", timeout=30).status_code == 400  # no Prefer: respond-async
    assert s.get(f"{served.base}/$export", params={"_type": "Library"}, headers={"Prefer": "respond-async"},
                 timeout=30).status_code == 400
    assert s.get(f"{served.base}/$export-status/{'0' * 32}", timeout=30).status_code == 404
    assert requests.get(f"{served.base}/$export", headers={"Prefer": "respond-async"}, timeout=30).status_code == 401


def _poll(served, since: str | None, mirror: dict, seen: set, duplicates: list) -> str | None:
    """One engine-style poll: every Bundle updated after `since`, oldest first, across pages."""
    url = f"{served.base}/Bundle?_sort=_lastUpdated&_count=3" + (f"&_lastUpdated=gt{since}" if since else "")
    while url:
        page = served.session(served.read_token).get(url, timeout=60).json()
        for e in page.get("entry", []):
            key = (e["resource"]["id"], e["resource"]["meta"]["versionId"])
            if key in seen:
                duplicates.append(key)
            seen.add(key)
            mirror[key[0]] = key[1]
            since = e["resource"]["meta"]["lastUpdated"]
        url = next((link["url"] for link in page["link"] if link["relation"] == "next"), None)
    return since


def test_a_bulk_exporter_and_a_poller_mirror_the_store_while_writers_run(served) -> None:
    mirror: dict[str, str] = {}  # Bundle id -> versionId
    seen: set[tuple[str, str]] = set()
    duplicates: list = []
    polled: dict[str, str] = {}
    polled_seen: set[tuple[str, str]] = set()
    polled_duplicates: list = []
    errors: list[BaseException] = []

    def writer(tag: str) -> None:
        try:
            for i in range(4):
                created = _post(served, renamed(demo_bundles()[i % len(demo_bundles())], f"{tag}-{i}"))
                r = served.session(served.write_token).put(
                    f"{served.base}/Bundle/{created['id']}", data=json.dumps(follow_up(created, "fu")),
                    headers={"Content-Type": JSON, "If-Match": 'W/"1"', "X-Reporter-Reason": "follow-up"}, timeout=120)
                assert r.status_code == 200, r.text[:500]
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(f"w{n}",)) for n in range(2)]
    for t in threads:
        t.start()
    since = None
    poll_since = None
    rounds = 0
    while True:
        running = any(t.is_alive() for t in threads)  # before the poll: a slow poll must not skip a round
        poll_since = _poll(served, poll_since, polled, polled_seen, polled_duplicates)
        manifest, files = export(served, _type="Bundle", **({"_since": since} if since else {}))
        for bundle in files.get("Bundle", []):
            key = (bundle["id"], bundle["meta"]["versionId"])
            if key in seen:
                duplicates.append(key)
            seen.add(key)
            mirror[bundle["id"]] = bundle["meta"]["versionId"]
        since = manifest["transactionTime"]
        rounds += 1
        if not running:
            break
    for t in threads:
        t.join()
    assert not errors, errors
    truth = {}
    url = f"{served.base}/Bundle?_count=100"
    while url:
        page = served.session(served.read_token).get(url, timeout=60).json()
        truth.update({e["resource"]["id"]: e["resource"]["meta"]["versionId"] for e in page.get("entry", [])})
        url = next((link["url"] for link in page["link"] if link["relation"] == "next"), None)
    assert len(truth) == 8 and set(truth.values()) == {"2"}
    assert mirror == truth and duplicates == [] and rounds >= 2
    _poll(served, poll_since, polled, polled_seen, polled_duplicates)
    assert polled == truth and polled_duplicates == []
