"""Subscription notification latency and history paging on loopback (issue 13).

Serves the app on 127.0.0.1 over a fresh SQLite store, subscribes a loopback receiver to `Patient?gender=male`
(empty rest-hook notifications), writes `cases` cases through the API one after the other and prints the time
from each 201 to its notification (median, 95th percentile, max), then pages the system history with _count=50
and prints the entries per second.

Run: PYTHONPATH=. python bench/subscriptions.py [cases]
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import requests
from werkzeug.serving import make_server

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from reporter.store import CaseStore
from reporter.store.tokens import create_token
from reporter.web import create_app
from tests.service.bundles import demo_bundles, renamed


def main() -> None:
    cases = int(sys.argv[1]) if len(sys.argv) > 1 else 30
    received: list[float] = []

    class Hook(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            received.append(time.perf_counter())
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args) -> None:
            pass

    hook = ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=hook.serve_forever, daemon=True).start()
    os.environ["REPORTER_SUBSCRIPTION_ENDPOINTS"] = "http://127.0.0.1:"
    with tempfile.TemporaryDirectory() as folder:
        store = CaseStore(f"sqlite:///{folder}/bench.sqlite3")
        app = create_app({"SECRET_KEY": "bench"}, store=store)
        server = make_server("127.0.0.1", 0, app, threaded=True)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        base = f"http://127.0.0.1:{server.server_port}/fhir"
        s = requests.Session()
        s.headers.update({"Authorization": f"Bearer {create_token(store, ['read', 'write'], 'bench')}",
                          "Content-Type": "application/fhir+json"})
        sub = {"resourceType": "Subscription", "status": "requested", "reason": "bench",
               "criteria": "Patient?gender=male",
               "channel": {"type": "rest-hook", "endpoint": f"http://127.0.0.1:{hook.server_port}/hook"}}
        assert s.post(f"{base}/Subscription", data=json.dumps(sub), timeout=30).status_code == 201
        bundles = demo_bundles()
        latencies = []
        for i in range(cases):
            r = s.post(f"{base}/Bundle", data=json.dumps(renamed(bundles[i % len(bundles)], f"bench{i}")), timeout=120)
            assert r.status_code == 201, r.text[:300]
            done = time.perf_counter()
            deadline = done + 30
            while len(received) <= i and time.perf_counter() < deadline:
                time.sleep(0.001)
            latencies.append((received[i] - done) * 1000 if len(received) > i else float("inf"))
        latencies.sort()
        print(f"notifications: {len(received)} for {cases} matching writes")
        print(f"latency after the 201 (ms): median {statistics.median(latencies):.1f}, "
              f"p95 {latencies[int(len(latencies) * 0.95) - 1]:.1f}, max {latencies[-1]:.1f}")
        url, entries, start = f"{base}/_history?_count=50", 0, time.perf_counter()
        while url:
            page = s.get(url, timeout=60).json()
            entries += len(page.get("entry", []))
            url = next((link["url"] for link in page["link"] if link["relation"] == "next"), None)
        elapsed = time.perf_counter() - start
        print(f"system history: {entries} entries paged (_count=50) in {elapsed:.2f} s, {entries / elapsed:.0f}/s")
        server.shutdown()
        store.dispose()
    hook.shutdown()


if __name__ == "__main__":
    main()
