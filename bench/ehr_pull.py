"""Time `reporter pull` against a real FHIR server (sekmet-fhir on loopback) holding a patient with a long lab
history: prints requests, pages and seconds per pull for a few history sizes. Figures, not a test.

    PYTHONPATH=. python bench/ehr_pull.py [--labs 200 1000 3000]
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import tempfile
import time
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from reporter.ehr.client import BearerToken, ClientSettings, FhirClient
from reporter.ehr.pull import PullRequest, pull
from tests import ehr_support as es


def add_labs(server: es.Server, count: int, already: int) -> None:
    """More ALT results, one every 30 minutes back from the reaction date, as one transaction per 200."""
    start = dt.datetime(2024, 5, 2, 8, 0, tzinfo=dt.UTC)
    batch = []
    for n in range(already, count):
        when = (start - dt.timedelta(minutes=30 * n)).isoformat().replace("+00:00", "Z")
        obs = es.lab(f"bench-alt-{n}", "1742-6", "ALT", when, 30 + n % 50)
        batch.append({"resource": obs, "request": {"method": "PUT", "url": f"Observation/{obs['id']}"}})
        if len(batch) == 200 or n == count - 1:
            r = requests.post(server.base, json={"resourceType": "Bundle", "type": "transaction", "entry": batch},
                              headers={"Authorization": f"Bearer {es.TOKEN}"}, timeout=120)
            r.raise_for_status()
            batch = []


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--labs", type=int, nargs="+", default=[200, 1000, 3000])
    parser.add_argument("--page-size", type=int, default=100)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        server = es.start_server(Path(tmp))
        try:
            es.load_generated(server)
            loaded = 0
            print(f"{'labs':>6} {'requests':>9} {'tests kept':>10} {'seconds':>8}")
            for count in args.labs:
                add_labs(server, count, loaded)
                loaded = count
                settings = ClientSettings(page_size=args.page_size, max_pages=1000)
                with FhirClient(server.base, BearerToken(es.TOKEN), settings) as client:
                    started = time.perf_counter()
                    draft = pull(client, PullRequest(reaction_date=dt.date(2024, 5, 2), suspects=["anakinra"],
                                                     patient_id=es.PID, labs_before=90))
                    seconds = time.perf_counter() - started
                print(f"{count:>6} {client.requests_made:>9} {len(draft.case.tests):>10} {seconds:>8.2f}")
        finally:
            server.stop()


if __name__ == "__main__":
    main()
