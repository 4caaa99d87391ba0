"""Service benchmark: requests per second and p50/p99 latency on loopback, SQLite and PostgreSQL.

The server runs as its own process (gunicorn wsgi:app); this process is the load generator. Every loop
is bounded in count and time. Usage:

    PYTHONPATH=. python bench/service.py                        # SQLite, and PostgreSQL if configured
    eval "$(bash .ci/start-postgres)"; PYTHONPATH=. python bench/service.py --backend postgresql
    PYTHONPATH=. python bench/service.py --requests 500 --concurrency 8 --workers 2
"""

from __future__ import annotations

import argparse
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from reporter.casefile.parse import load_case  # noqa: E402
from reporter.fhir.build import build_bundle  # noqa: E402
from tests.service.bundles import renamed  # noqa: E402  (the same helper the service tests use)

JSON = "application/fhir+json"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def fresh_postgres_db(admin_url: str) -> tuple[str, callable]:
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    name = f"bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))

    def drop() -> None:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return make_url(admin_url).set(database=name).render_as_string(hide_password=False), drop


def start_server(db_url: str, workers: int, threads: int) -> tuple[subprocess.Popen, str]:
    return start_gunicorn("wsgi:app", workers, threads, {"REPORTER_DATABASE_URL": db_url,
                                                         "REPORTER_SECRET_KEY": "bench"})


def start_gunicorn(app: str, workers: int, threads: int, env: dict[str, str] | None = None,
                   ready: str = "/metadata") -> tuple[subprocess.Popen, str]:
    """gunicorn serving `app` on loopback, once GET <base><ready> answers 200 (at most 60 s); (process, base)."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "--workers", str(workers), "--threads", str(threads),
         "--bind", f"127.0.0.1:{port}", "--log-level", "warning", app],
        cwd=REPO, env={**os.environ, **(env or {}), "PYTHONPATH": str(REPO)}, stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}/fhir"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"{app} exited: {proc.stderr.read().decode()[-2000:]}")
        try:
            if requests.get(f"{base}{ready}", timeout=2).status_code == 200:
                return proc, base
        except requests.RequestException:  # not listening yet, or too busy booting to answer in 2 s
            time.sleep(0.2)
    proc.kill()
    raise SystemExit(f"{app} did not start within 60 s")


@dataclass
class Server:
    base: str  # .../fhir
    headers: dict[str, str]  # a read + write token, FHIR JSON both ways


@contextmanager
def running_server(db_url: str, workers: int, threads: int) -> Iterator[Server]:
    """gunicorn on `db_url` (migrated, with a read + write token), stopped on leaving."""
    from reporter.store import CaseStore
    from reporter.store.tokens import create_token

    store = CaseStore(db_url)
    token = create_token(store, ["read", "write"], "bench")
    store.dispose()
    proc, base = start_server(db_url, workers, threads)
    try:
        yield Server(base, {"Authorization": f"Bearer {token}", "Content-Type": JSON, "Accept": JSON})
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()


def demo_bundles() -> list[dict]:
    return [build_bundle(load_case(p)) for p in sorted((REPO / "examples").glob("*.yaml"))]


def seed_cases(server: Server, demos: list[dict], count: int, tag: str) -> list[str]:
    """`count` renamed demo cases POSTed before measuring; their ids."""
    case_ids = []
    with requests.Session() as s:
        for i in range(count):
            r = s.post(f"{server.base}/Bundle", data=json.dumps(renamed(demos[i % len(demos)], f"{tag}-seed{i}")),
                       headers=server.headers, timeout=60)
            r.raise_for_status()
            case_ids.append(r.json()["id"])
    return case_ids


def server_arguments(parser: argparse.ArgumentParser, *, workers: int, threads: int) -> None:
    """The options every service bench takes: which backend(s), and the gunicorn processes and threads."""
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--workers", type=int, default=workers, help="gunicorn worker processes")
    parser.add_argument("--threads", type=int, default=threads, help="threads per gunicorn worker")


def on_backends(choice: str, run, name: str) -> list:
    """run(backend, db_url) on a fresh SQLite file and/or a fresh PostgreSQL database (from
    REPORTER_TEST_POSTGRES_URL; skipped with a line when unset), the results in one list."""
    results: list = []
    if choice in ("sqlite", "both"):
        with tempfile.TemporaryDirectory() as tmp:
            results += run("sqlite", f"sqlite:///{tmp}/{name}.sqlite3")
    if choice in ("postgresql", "both"):
        admin_url = os.environ.get("REPORTER_TEST_POSTGRES_URL")
        if not admin_url:
            print("postgresql: skipped (set REPORTER_TEST_POSTGRES_URL: eval \"$(bash .ci/start-postgres)\")")
        else:
            url, drop = fresh_postgres_db(admin_url)
            try:
                results += run("postgresql", url)
            finally:
                drop()
    return results


def run_load(name: str, make_request, count: int, concurrency: int, budget_s: float) -> dict:
    """Send `count` requests from `concurrency` threads (each with its own connection); stop at budget_s.

    `make_request(session, i)` returns whether the answer was right, or a function that checks it: the clock
    stops before that check, so a latency is the server's answer received in full, not the load generator's
    parse of it (orjson reading a 0.9 MB search page set off this process's cycle collector: p99 80 ms of a
    20 ms answer)."""
    sessions = [requests.Session() for _ in range(concurrency)]
    latencies: list[float] = []
    errors = 0
    deadline = time.monotonic() + budget_s

    def worker(slot: int) -> None:
        nonlocal errors
        session = sessions[slot]
        for i in range(slot, count, concurrency):
            if time.monotonic() > deadline:
                return
            started = time.perf_counter()
            ok = make_request(session, i)
            latencies.append(time.perf_counter() - started)
            if callable(ok):
                ok = ok()
            if not ok:
                errors += 1

    started = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(worker, range(concurrency)))
    elapsed = time.perf_counter() - started
    latencies.sort()
    n = len(latencies)
    return {"op": name, "n": n, "errors": errors, "rps": n / elapsed if elapsed else 0.0,
            "p50_ms": statistics.median(latencies) * 1000 if n else 0.0,
            "p99_ms": latencies[min(n - 1, int(n * 0.99))] * 1000 if n else 0.0}


def bench_backend(backend: str, db_url: str, args: argparse.Namespace) -> list[dict]:
    demos = demo_bundles()
    run = uuid.uuid4().hex[:6]
    results = []
    with running_server(db_url, args.workers, args.threads) as server:
        base, headers = server.base, server.headers
        case_ids = seed_cases(server, demos, args.seed, run)
        since = requests.get(f"{base}/Bundle/{case_ids[len(case_ids) // 2]}", headers=headers,
                             timeout=30).json()["meta"]["lastUpdated"]
        bodies = [json.dumps(renamed(demos[i % len(demos)], f"{run}-c{i}")) for i in range(args.requests)]
        rng = random.Random(7)

        def read(session, i):
            r = session.get(f"{base}/Bundle/{rng.choice(case_ids)}", headers=headers, timeout=60)
            return r.status_code == 200

        def search(session, i):
            r = session.get(f"{base}/AdverseEvent", params={"_lastUpdated": f"gt{since}", "_count": "20"},
                            headers=headers, timeout=60)
            return lambda: r.status_code == 200 and bool(r.json().get("entry"))

        def create(session, i):
            r = session.post(f"{base}/Bundle", data=bodies[i], headers=headers, timeout=60)
            return r.status_code == 201

        for name, fn in (("read Bundle", read), ("search _lastUpdated", search), ("create Bundle", create)):
            result = run_load(name, fn, args.requests, args.concurrency, args.budget)
            result["backend"] = backend
            results.append(result)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    server_arguments(parser, workers=2, threads=4)
    parser.add_argument("--requests", type=int, default=300, help="requests per operation (bounded)")
    parser.add_argument("--concurrency", type=int, default=4, help="client threads")
    parser.add_argument("--seed", type=int, default=30, help="cases stored before measuring")
    parser.add_argument("--budget", type=float, default=120.0, help="seconds at most per operation")
    args = parser.parse_args()
    results = on_backends(args.backend, lambda backend, url: bench_backend(backend, url, args), "bench")
    print(f"{'backend':<11} {'operation':<21} {'n':>5} {'err':>4} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8}")
    for r in results:
        print(f"{r['backend']:<11} {r['op']:<21} {r['n']:>5} {r['errors']:>4} {r['rps']:>8.1f} "
              f"{r['p50_ms']:>8.1f} {r['p99_ms']:>8.1f}")
    if any(r["errors"] for r in results):
        raise SystemExit(1)


if __name__ == "__main__":
    main()
