"""Concurrent updates over HTTP: of the writers naming the same version, exactly one wins; nothing is lost."""

from __future__ import annotations

import json
import threading

import requests

from .bundles import demo_bundles, follow_up

WRITERS = 4
ROUNDS = 3


def test_parallel_updates_with_if_match(served) -> None:
    s = served.session(served.write_token)
    created = s.post(f"{served.base}/Bundle", data=json.dumps(demo_bundles()[0]),
                     headers={"Content-Type": "application/fhir+json"}, timeout=30).json()
    case_id = created["id"]
    winners: list[str] = []
    for round_no in range(ROUNDS):
        current = s.get(f"{served.base}/Bundle/{case_id}", timeout=30)
        etag = current.headers["ETag"]
        barrier = threading.Barrier(WRITERS)
        statuses: dict[str, int] = {}

        def write(name: str, body: dict, etag: str = etag, barrier: threading.Barrier = barrier,
                  statuses: dict[str, int] = statuses) -> None:
            session = requests.Session()
            session.headers["Authorization"] = f"Bearer {served.write_token}"
            barrier.wait(timeout=30)
            r = session.put(f"{served.base}/Bundle/{case_id}", data=json.dumps(body), timeout=60,
                            headers={"Content-Type": "application/fhir+json", "If-Match": etag,
                                     "X-Reporter-Reason": "concurrent follow-up"})
            statuses[name] = r.status_code
            if r.status_code != 200:
                assert r.json()["resourceType"] == "OperationOutcome"

        threads = []
        for w in range(WRITERS):
            name = f"r{round_no}w{w}"
            threads.append(threading.Thread(target=write, args=(name, follow_up(current.json(), name))))
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=90)
        assert not any(t.is_alive() for t in threads)
        assert sorted(statuses.values()) == [200] + [412] * (WRITERS - 1), statuses
        winners += [name for name, status in statuses.items() if status == 200]
    history = s.get(f"{served.base}/Bundle/{case_id}/_history", timeout=30).json()
    assert history["total"] == ROUNDS + 1
    titles = [e["resource"]["entry"][0]["resource"]["title"] for e in reversed(history["entry"])][1:]
    assert [t.rsplit("(", 1)[1].rstrip(")") for t in titles] == winners


def test_parallel_creates_of_distinct_cases_all_land(served) -> None:
    from .bundles import renamed

    bundles = [renamed(demo_bundles()[0], f"par{i}") for i in range(6)]
    statuses: list[int] = []
    lock = threading.Lock()

    def create(body: dict) -> None:
        r = requests.post(f"{served.base}/Bundle", data=json.dumps(body), timeout=60,
                          headers={"Content-Type": "application/fhir+json",
                                   "Authorization": f"Bearer {served.write_token}"})
        with lock:
            statuses.append(r.status_code)

    threads = [threading.Thread(target=create, args=(b,)) for b in bundles]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=90)
    assert statuses == [201] * len(bundles)
    page = requests.get(f"{served.base}/Bundle?_count=100", timeout=30,
                        headers={"Authorization": f"Bearer {served.read_token}"}).json()
    assert page["total"] == len(bundles)
    stamps = [e["resource"]["meta"]["lastUpdated"] for e in page["entry"]]
    assert stamps == sorted(stamps) and len(set(stamps)) == len(stamps)
