"""Load test: 8 clients for 60 s against gunicorn (4 workers), a mix of read, search, create and download,
on SQLite and PostgreSQL. Prints per operation: requests, errors (any unexpected status, 5xx included),
p50 and p99 latency, and the total rate. Exit code 1 if any request failed.

    PYTHONPATH=. python bench/load.py                                  # SQLite (and PostgreSQL if configured)
    eval "$(bash .ci/start-postgres)"; PYTHONPATH=. python bench/load.py --backend postgresql
    PYTHONPATH=. python bench/load.py --clients 8 --seconds 60 --workers 4
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import threading
import time
import uuid
from collections import defaultdict
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from service import demo_bundles, on_backends, running_server, seed_cases, server_arguments  # noqa: E402

from tests.service.bundles import renamed  # noqa: E402

MIX = (("read", 40), ("search", 30), ("create", 15), ("download", 15))


def run(backend: str, db_url: str, args: argparse.Namespace) -> list[tuple]:
    with running_server(db_url, args.workers, args.threads) as server:
        return _clients(backend, server, args)


def _clients(backend: str, server, args: argparse.Namespace) -> list[tuple]:
    base, headers = server.base, server.headers
    demos = demo_bundles()
    tag = uuid.uuid4().hex[:6]
    case_ids = seed_cases(server, demos, 20, tag)
    latencies: dict[str, list[float]] = defaultdict(list)
    errors: dict[str, int] = defaultdict(int)
    statuses: dict[int, int] = defaultdict(int)
    lock = threading.Lock()
    counter = iter(range(10**9))
    stop_at = time.monotonic() + args.seconds
    ops, weights = zip(*MIX, strict=True)

    def client(slot: int) -> None:
        rng = random.Random(slot)
        session = requests.Session()
        while time.monotonic() < stop_at:
            op = rng.choices(ops, weights)[0]
            started = time.perf_counter()
            try:
                if op == "read":
                    r = session.get(f"{base}/Bundle/{rng.choice(case_ids)}", headers=headers, timeout=120)
                    ok = r.status_code == 200
                elif op == "search":
                    r = session.get(f"{base}/AdverseEvent", params={"_count": "20", "_sort": "-_lastUpdated"},
                                    headers=headers, timeout=120)
                    ok = r.status_code == 200 and bool(r.json().get("entry"))
                elif op == "create":
                    body = json.dumps(renamed(demos[slot % len(demos)], f"{tag}-c{next(counter)}"))
                    r = session.post(f"{base}/Bundle", data=body, headers=headers, timeout=120)
                    ok = r.status_code == 201
                else:
                    r = session.get(f"{base}/Bundle/{rng.choice(case_ids)}/$html", headers=headers, timeout=120)
                    ok = r.status_code == 200
                status = r.status_code
            except requests.RequestException:
                ok, status = False, 0
            elapsed = time.perf_counter() - started
            with lock:
                latencies[op].append(elapsed)
                statuses[status] += 1
                if not ok:
                    errors[op] += 1

    threads = [threading.Thread(target=client, args=(i,)) for i in range(args.clients)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - started
    rows = []
    for op in ops:
        values = sorted(latencies[op])
        n = len(values)
        rows.append((backend, op, n, errors[op], n / wall, statistics.median(values) * 1000 if n else 0.0,
                     values[min(n - 1, int(n * 0.99))] * 1000 if n else 0.0))
    total = sum(len(v) for v in latencies.values())
    rows.append((backend, "all", total, sum(errors.values()), total / wall, 0.0, 0.0))
    print(f"{backend}: statuses {dict(sorted(statuses.items()))}", flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    server_arguments(parser, workers=4, threads=2)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=60.0)
    args = parser.parse_args()
    rows = on_backends(args.backend, lambda backend, url: run(backend, url, args), "load")
    print(f"{'backend':<11} {'operation':<9} {'n':>6} {'errors':>6} {'req/s':>7} {'p50 ms':>8} {'p99 ms':>8}")
    for backend, op, n, err, rate, p50, p99 in rows:
        extra = f"{p50:>8.1f} {p99:>8.1f}" if op != "all" else ""
        print(f"{backend:<11} {op:<9} {n:>6} {err:>6} {rate:>7.1f} {extra}")
    if any(r[3] for r in rows):
        raise SystemExit(1)


if __name__ == "__main__":
    main()
