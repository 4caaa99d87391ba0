"""History paging (issue 13): instance, type and system history Bundles page with `_count` and a `next` link,
newest first, keyset-paged so that a client following the links while writers run sees every entry that
existed when it started exactly once (later writes come before its cursor: the next `_since` poll gets them)."""

from __future__ import annotations

import json
import threading

from .bundles import demo_bundles, follow_up, renamed
from .test_api_bulk import _post

JSON = "application/fhir+json"


def _pages(served, url: str, params: dict | None = None) -> list[dict]:
    s = served.session(served.read_token)
    pages = []
    while url:
        page = s.get(url, params=params, timeout=60)
        assert page.status_code == 200, page.text[:500]
        body = page.json()
        assert body["type"] == "history" and body.get("entry", [None]) != []
        pages.append(body)
        params = None
        url = next((link["url"] for link in body["link"] if link["relation"] == "next"), None)
    return pages


def _key(entry: dict) -> tuple[str, str, str]:
    r = entry["resource"]
    return r["resourceType"], r["id"], r["meta"]["versionId"]


def test_instance_history_pages_by_version(served) -> None:
    stored = _post(served, renamed(demo_bundles()[0], "hist-i"))
    s = served.session(served.write_token)
    for v in range(1, 4):
        r = s.put(f"{served.base}/Bundle/{stored['id']}", data=json.dumps(follow_up(stored, f"v{v + 1}")),
                  headers={"Content-Type": JSON, "If-Match": f'W/"{v}"', "X-Reporter-Reason": "follow-up"},
                  timeout=120)
        assert r.status_code == 200, r.text[:500]
    pages = _pages(served, f"{served.base}/Bundle/{stored['id']}/_history?_count=3")
    assert [len(p["entry"]) for p in pages] == [3, 1] and all(p["total"] == 4 for p in pages)
    assert [e["response"]["etag"] for p in pages for e in p["entry"]] == ['W/"4"', 'W/"3"', 'W/"2"', 'W/"1"']
    assert pages[-1]["entry"][-1]["request"]["method"] == "POST"
    patient = next(e["resource"]["id"] for e in pages[0]["entry"][0]["resource"]["entry"]
                   if e["resource"]["resourceType"] == "Patient")
    resource_pages = _pages(served, f"{served.base}/Patient/{patient}/_history?_count=2")
    assert [e["resource"]["meta"]["versionId"] for p in resource_pages for e in p["entry"]] == ["4", "3", "2", "1"]
    r = served.session(served.read_token).get(f"{served.base}/Patient/{patient}/_history?_cursor=x", timeout=30)
    assert r.status_code == 400 and r.json()["resourceType"] == "OperationOutcome"


def test_type_and_system_history_page_without_duplicates_or_gaps_while_writers_run(served) -> None:
    bundles = demo_bundles()
    for i in range(3):
        _post(served, renamed(bundles[i % len(bundles)], f"hist{i}"))
    stop = threading.Event()
    written: list[dict] = []

    def writer() -> None:
        i = 0
        while not stop.is_set() and i < 6:
            written.append(_post(served, renamed(bundles[i % len(bundles)], f"hist-live{i}")))
            i += 1

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        paged = {}
        for path in ("AdverseEvent/_history", "_history"):
            pages = _pages(served, f"{served.base}/{path}", {"_count": "4"})
            keys = [_key(e) for p in pages for e in p["entry"]]
            assert len(keys) == len(set(keys)), "an entry came twice"
            newest = pages[0]["entry"][0]["response"]["lastModified"]
            paged[path] = (set(keys), newest)
            stamps = [e["response"]["lastModified"] for p in pages for e in p["entry"]]
            assert stamps == sorted(stamps, reverse=True)
    finally:
        stop.set()
        thread.join(timeout=300)
    assert written, "the writer ran"
    for path, (keys, newest) in paged.items():
        everything = _pages(served, f"{served.base}/{path}", {"_count": "100"})
        at_start = {_key(e) for p in everything for e in p["entry"] if e["response"]["lastModified"] <= newest}
        assert keys == at_start, f"{path}: missed {at_start - keys}, extra {keys - at_start}"
        if path == "_history":
            assert {k[0] for k in keys} >= {"Bundle", "Patient", "AdverseEvent", "Composition"}
        else:
            assert {k[0] for k in keys} == {"AdverseEvent"}
    since = _pages(served, f"{served.base}/_history", {"_since": paged["_history"][1], "_count": "50"})
    later = {_key(e) for p in since for e in p["entry"]}
    assert later - paged["_history"][0], "the writes made while paging are in the next _since poll"


def test_history_parameters_are_checked(served) -> None:
    s = served.session(served.read_token)
    for url, status in ((f"{served.base}/_history?_count=x", 400), (f"{served.base}/_history?_since=soon", 400),
                        (f"{served.base}/_history?gender=male", 400), (f"{served.base}/Library/_history", 404),
                        (f"{served.base}/_history?_cursor=nope", 400)):
        r = s.get(url, timeout=30)
        assert r.status_code == status and r.json()["resourceType"] == "OperationOutcome", url
    empty = s.get(f"{served.base}/AdverseEvent/_history", timeout=30).json()
    assert empty["total"] == 0 and "entry" not in empty
    assert s.get(f"{served.base}/_history", headers={"Authorization": ""}, timeout=30).status_code == 401
