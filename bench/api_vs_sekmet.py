"""FHIR API against sekmet-fhir (FastAPI + SQLite, from PyPI) on the same ICSR workload, in one run.

Both servers run as their own processes on loopback with one worker each (ours: gunicorn, one worker with
`--threads` threads; sekmet: uvicorn, one process), each on a fresh SQLite database. The same client sends
each the same requests: create (POST the demo ICSR Bundles, renamed), read (GET Bundle/id) and a
`_lastUpdated` search of Bundles at 20 per page. Printed per operation and server: requests per second (wall),
the server's CPU milliseconds per request (from /proc: other load on a shared machine does not change it),
p50/p99 latency (as the client sees it: the answer received in full; the client's check of it is not timed),
and our ratio to sekmet per wall second and per server CPU second, with both p99s. By default twice: without
and with Accept-Encoding: gzip (the tables say which answers came compressed). Every loop is bounded in count and time.

Run: PYTHONPATH=. python bench/api_vs_sekmet.py [--requests 200] [--threads 4] [--concurrency 1]
     [--encodings identity,gzip | --gzip]
(sekmet-fhir is in the [test] extra: pip install sekmet-fhir)
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import orjson
import requests
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.service import free_port, run_load, start_gunicorn, start_server  # noqa: E402
from reporter.casefile.parse import load_case  # noqa: E402
from reporter.fhir.build import build_bundle  # noqa: E402
from tests.service.bundles import renamed  # noqa: E402

JSON = "application/fhir+json"
SEKMET_TOKEN = "bench-token-5f2a"
TICKS = os.sysconf("SC_CLK_TCK")


def tree_cpu(pid: int) -> float:
    """CPU seconds (user + system) of a process and all its descendants, from /proc."""
    parents: dict[int, int] = {}
    times: dict[int, float] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="ascii", errors="replace") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents[int(entry)] = int(fields[1])
        times[int(entry)] = (int(fields[11]) + int(fields[12])) / TICKS
    wanted, frontier = {pid}, [pid]
    while frontier:
        current = frontier.pop()
        for child, parent in parents.items():
            if parent == current and child not in wanted:
                wanted.add(child)
                frontier.append(child)
    return sum(times.get(p, 0.0) for p in wanted)


def start_sekmet(workdir: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    base = f"http://127.0.0.1:{port}/fhir"
    (workdir / "data").mkdir()
    config = {"base_url": base, "host": "127.0.0.1", "port": port, "data_dir": str(workdir / "data"),
              "server_auth": {"types": ["bearer"], "tokens": [SEKMET_TOKEN]}, "simulator": {"enabled": False},
              "log_inbound": False, "own_private_key_path": str(workdir / "keys" / "sekmet.pem")}
    cfg = workdir / "sekmet.yaml"
    cfg.write_text(yaml.safe_dump(config), encoding="utf-8")
    log = (workdir / "server.log").open("w")
    proc = subprocess.Popen([sys.executable, "-m", "tests.ehr_launcher", str(cfg)], cwd=REPO,
                            env={**os.environ, "PYTHONPATH": str(REPO)}, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"sekmet-fhir exited: {(workdir / 'server.log').read_text()[-2000:]}")
        try:
            if requests.get(f"{base}/metadata", timeout=2).status_code == 200:
                return proc, base
        except requests.RequestException:
            time.sleep(0.3)
    proc.kill()
    raise SystemExit("sekmet-fhir did not start within 60 s")


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()


def workload(name: str, proc: subprocess.Popen, base: str, headers: dict, demos: list[dict],
             args: argparse.Namespace, ops: tuple[str, ...] = ("create", "read", "search _lastUpdated"),
             served: list[bytes] | None = None) -> list[dict]:
    """create, read and _lastUpdated search (or those of `ops`) against one server; each result with the
    server's CPU time. `served` gets the body of the last read answered."""
    run = uuid.uuid4().hex[:6]
    bodies = [json.dumps(renamed(demos[i % len(demos)], f"{run}-c{i}")) for i in range(args.requests)]
    ids: list[str] = []
    created: list[str] = []

    def create(session, i):
        r = session.post(f"{base}/Bundle", data=bodies[i], headers=headers, timeout=60)
        if r.status_code == 201:
            body = orjson.loads(r.content)
            ids.append(body["id"])
            created.append(body["meta"]["lastUpdated"])
        return r.status_code == 201

    rng = random.Random(7)

    def read(session, i):
        r = session.get(f"{base}/Bundle/{rng.choice(ids)}", headers=headers, timeout=60)
        encodings.add(r.headers.get("Content-Encoding") or "none")
        if served is not None and r.status_code == 200:
            served[:] = [r.content]
        return lambda: r.status_code == 200 and orjson.loads(r.content).get("resourceType") == "Bundle"

    since: list[str] = []

    def search(session, i):
        r = session.get(f"{base}/Bundle", params={"_lastUpdated": f"gt{since[0]}", "_count": "20"},
                        headers=headers, timeout=60)
        encodings.add(r.headers.get("Content-Encoding") or "none")
        return lambda: r.status_code == 200 and len(orjson.loads(r.content).get("entry") or []) == 20

    results = []
    encodings: set[str] = set()  # Content-Encoding of the answers to reads and searches
    for op, fn in (("create", create), ("read", read), ("search _lastUpdated", search)):
        if op not in ops:
            continue
        if op == "search _lastUpdated":
            since.append(sorted(created)[len(created) // 4])  # three quarters of the cases match: full pages
        cpu0 = tree_cpu(proc.pid)
        result = run_load(op, fn, args.requests, args.concurrency, args.budget)
        result["cpu_ms"] = (tree_cpu(proc.pid) - cpu0) / max(result["n"], 1) * 1000
        result["server"] = name
        result["encoding"] = set(encodings)
        encodings.clear()
        results.append(result)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=200, help="requests per operation (bounded)")
    parser.add_argument("--concurrency", type=int, default=1, help="client threads (1: one client)")
    parser.add_argument("--threads", type=int, default=4, help="threads of our one gunicorn worker")
    parser.add_argument("--budget", type=float, default=120.0, help="seconds at most per operation")
    parser.add_argument("--encodings", default="identity,gzip",
                        help="Accept-Encoding of each pass, comma-separated (default: without, then with gzip)")
    parser.add_argument("--gzip", action="store_true", help="only the pass with Accept-Encoding: gzip")
    args = parser.parse_args()
    encodings = ["gzip"] if args.gzip else [e.strip() for e in args.encodings.split(",") if e.strip()]
    demos = [build_bundle(load_case(p)) for p in sorted((REPO / "examples").glob("*.yaml"))]
    passes = [(encoding, run_pass(encoding, demos, args)) for encoding in encodings]
    print(f"one worker each, SQLite, {args.concurrency} client thread(s); ours: gunicorn with {args.threads} threads")
    failed = False
    for encoding, results in passes:
        print(f"\nAccept-Encoding: {encoding}")
        print(f"{'server':<12} {'operation':<20} {'n':>4} {'err':>3} {'req/s':>7} {'CPU ms/req':>10} "
              f"{'p50 ms':>7} {'p99 ms':>7}  answered with")
        for r in results:
            print(f"{r['server']:<12} {r['op']:<20} {r['n']:>4} {r['errors']:>3} {r['rps']:>7.1f} "
                  f"{r['cpu_ms']:>10.2f} {r['p50_ms']:>7.1f} {r['p99_ms']:>7.1f}  "
                  f"{'/'.join(sorted(r['encoding'])) if r['op'] != 'create' else ''}")
        failed = failed or any(r["errors"] for r in results)
    print("\nratio ours/sekmet (target 3x; our p99 target < 50 ms for read and search); the floor: the same "
          "ratio for\na Flask route under gunicorn that answers from memory (bench/flask_floor.py), the most a "
          "Flask app can reach")
    print(f"{'operation':<20} {'encoding':<9} {'per wall s':>10} {'per CPU s':>10} {'floor CPU':>10} "
          f"{'our p99 ms':>10} {'their p99 ms':>12}")
    for encoding, results in passes:
        theirs = {r["op"]: r for r in results if r["server"] == "sekmet-fhir"}
        floors = {r["op"]: r for r in results if r["server"] == "flask floor"}
        for ours in (r for r in results if r["server"] == "ae-reporter"):
            ref = theirs[ours["op"]]
            wall = ours["rps"] / ref["rps"] if ref["rps"] else float("nan")
            cpu = ref["cpu_ms"] / ours["cpu_ms"] if ours["cpu_ms"] else float("nan")
            floor = floors.get(ours["op"])
            floor_cpu = f"{ref['cpu_ms'] / floor['cpu_ms']:>9.2f}x" if floor and floor["cpu_ms"] else f"{'':>10}"
            print(f"{ours['op']:<20} {encoding:<9} {wall:>9.2f}x {cpu:>9.2f}x {floor_cpu} {ours['p99_ms']:>10.1f} "
                  f"{ref['p99_ms']:>12.1f}")
    if failed:
        raise SystemExit(1)


def run_pass(encoding: str, demos: list[dict], args: argparse.Namespace) -> list[dict]:
    """Both servers and the Flask floor, one after the other, each server on a fresh database, with this
    Accept-Encoding."""
    from reporter.store import CaseStore
    from reporter.store.tokens import create_token

    results: list[dict] = []
    served: list[bytes] = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        (work / "sekmet").mkdir()
        proc, base = start_sekmet(work / "sekmet")
        try:
            headers = {"Authorization": f"Bearer {SEKMET_TOKEN}", "Content-Type": JSON, "Accept": JSON,
                       "Accept-Encoding": encoding}
            results += workload("sekmet-fhir", proc, base, headers, demos, args)
        finally:
            stop(proc)
        db_url = f"sqlite:///{work}/ours.sqlite3"
        store = CaseStore(db_url)
        token = create_token(store, ["read", "write"], "bench")
        store.dispose()
        proc, base = start_server(db_url, 1, args.threads)
        try:
            headers = {"Authorization": f"Bearer {token}", "Content-Type": JSON, "Accept": JSON,
                       "Accept-Encoding": encoding}
            results += workload("ae-reporter", proc, base, headers, demos, args, served=served)
        finally:
            stop(proc)
        proc, base = start_gunicorn("bench.flask_floor:app", 1, args.threads, ready="/Bundle/probe")
        try:
            requests.put(base.replace("/fhir", "/floor/body"), data=served[0], timeout=10).raise_for_status()
            headers = {"Content-Type": JSON, "Accept": JSON, "Accept-Encoding": encoding}
            results += workload("flask floor", proc, base, headers, demos, args, ops=("create", "read"))
        finally:
            stop(proc)
    return results


if __name__ == "__main__":
    main()
