"""Scale benchmark: N stored cases, then `_lastUpdated` polling, search by patient / code / date, a SOC x outcome
tabulation and the database size per case. Prints figures; it is not a test.

Filling is bounded by --cases. The first --templates cases (synthetic, as in bench/tabulate.py) go through the
normal path (case file -> Bundle -> CaseStore.create: versions, resource index, tokens, projection); the rest
are copies of their stored rows under new case ids, resource ids, patients, dates and update times, written
with bulk inserts, so a large N fills in minutes instead of hours while every table and index holds what the
store would hold. The queries go through the WSGI app in this process (routing, auth, audit, JSON), without
the network. Usage:

    PYTHONPATH=. python bench/scale.py --cases 100000                    # SQLite in a temporary folder
    eval "$(bash .ci/start-postgres)"; PYTHONPATH=. python bench/scale.py --backend postgresql --cases 1000000
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
import uuid
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.tabulate import OUTCOMES, synthetic_case  # noqa: E402
from reporter.fhir.build import build_bundle  # noqa: E402

TABLES = ("case", "case_version", "resource_index", "resource_token", "case_reaction")


def templates(store, count: int, seed: int) -> dict[str, list[dict]]:
    """Store `count` synthetic cases the normal way; their rows, table by table."""
    from sqlalchemy import select

    from reporter.casefile.listing import casefile_json
    from reporter.store.schema import Base

    rng = random.Random(seed)
    for i in range(count):
        case = synthetic_case(i, rng)
        store.create(build_bundle(case), author="bench", casefile=casefile_json(case))
    rows: dict[str, list[dict]] = {}
    with store.engine.connect() as conn:
        for name in TABLES:
            table = Base.metadata.tables[name]
            rows[name] = [dict(r._mapping) for r in conn.execute(select(table))]
    return rows


def clone(store, rows: dict[str, list[dict]], total: int, chunk: int, seed: int) -> None:
    """Copies of the template cases until `total` cases are stored, `chunk` cases per transaction."""
    from sqlalchemy import func, insert, select

    from reporter.store.schema import Base

    rng = random.Random(seed)
    tables = {name: Base.metadata.tables[name] for name in TABLES}
    by_case: dict[str, dict[str, list[dict]]] = {}
    index_case = {r["id"]: r["case_id"] for r in rows["resource_index"]}
    for name in TABLES:
        for r in rows[name]:
            key = r["id"] if name == "case" else index_case[r["index_id"]] if name == "resource_token" else r["case_id"]
            by_case.setdefault(key, {}).setdefault(name, []).append(r)
    sources = sorted(by_case)
    socs = sorted({r["soc_name"] for r in rows["case_reaction"] if r["soc_name"]}) or [None]
    with store.engine.connect() as conn:
        next_index = (conn.scalar(select(func.max(tables["resource_index"].c.id))) or 0) + 1
        next_token = (conn.scalar(select(func.max(tables["resource_token"].c.id))) or 0) + 1
        next_reaction = (conn.scalar(select(func.max(tables["case_reaction"].c.id))) or 0) + 1
    stored = len(sources)
    start, t0 = time.perf_counter(), datetime(2020, 1, 1, tzinfo=UTC)
    while stored < total:
        batch: dict[str, list[dict]] = {name: [] for name in TABLES}
        for _ in range(min(chunk, total - stored)):
            src = by_case[rng.choice(sources)]
            cid, tag = str(uuid.uuid4()), f"s{stored}"
            when = t0 + timedelta(seconds=stored * 30)
            onset = datetime(2015, 1, 1, tzinfo=UTC) + timedelta(days=rng.randrange(3650))
            case = dict(src["case"][0], id=cid, case_key=f"SCALE-{stored:08d}", created=when, updated=when)
            batch["case"].append(case)
            batch["case_version"] += [dict(r, case_id=cid, recorded=when) for r in src["case_version"]]
            new_ids = {}
            # the copy's references name the copy's resources (one patient per case, as in real data)
            refs = {f"{r['resource_type']}/{r['resource_id']}": f"{r['resource_type']}/{tag}-{r['resource_id'][:40]}"
                    for r in src["resource_index"]}
            for r in src["resource_index"]:
                new_ids[r["id"]] = next_index
                resource = dict(r["resource"], id=f"{tag}-{r['resource_id'][:40]}")
                dated = r["date_start"] is not None or r["resource_type"] == "AdverseEvent"
                if r["resource_type"] == "AdverseEvent":  # the event's date (AdverseEvent.date), searchable
                    resource["date"] = onset.date().isoformat()
                batch["resource_index"].append(dict(
                    r, id=next_index, case_id=cid, resource_id=resource["id"], last_updated=when,
                    patient=refs.get(r["patient"], r["patient"]), resource=resource,
                    date_start=onset if dated else None, date_end=onset + timedelta(days=1) if dated else None))
                next_index += 1
            for r in src.get("resource_token", []):
                batch["resource_token"].append(dict(r, id=next_token, index_id=new_ids[r["index_id"]],
                                                    code=refs.get(r["code"], r["code"])))
                next_token += 1
            for r in src.get("case_reaction", []):
                batch["case_reaction"].append(dict(r, id=next_reaction, case_id=cid, case_key=case["case_key"],
                                                   soc_name=rng.choice(socs), outcome=rng.choice(OUTCOMES)))
                next_reaction += 1
            stored += 1
        with store.write_session() as session:
            for name in TABLES:
                if batch[name] and store.dialect == "postgresql":
                    copy_rows(session, tables[name], batch[name])
                elif batch[name]:
                    session.execute(insert(tables[name]), batch[name])
        print(f"  {stored}/{total} cases ({stored / (time.perf_counter() - start):.0f} cases/s)",
              file=sys.stderr, flush=True)


@contextmanager
def bulk_indexes(store):
    """PostgreSQL: the copied tables' secondary indexes dropped for the bulk copies and built again after them
    (the usual way to load a large table: one sort per index instead of a random insert per row)."""
    from reporter.store.schema import Base

    indexes = [ix for name in TABLES for ix in Base.metadata.tables[name].indexes] \
        if store.dialect == "postgresql" else []
    with store.engine.begin() as conn:
        for ix in indexes:
            ix.drop(conn)
    try:
        yield
    finally:
        started = time.perf_counter()
        if indexes:
            with store.engine.begin() as conn:
                conn.exec_driver_sql("SET maintenance_work_mem = '512MB'")
                for ix in indexes:
                    ix.create(conn)
            print(f"  {len(indexes)} indexes built in {time.perf_counter() - started:.0f} s", file=sys.stderr)


def copy_rows(session, table, rows: list[dict]) -> None:
    """PostgreSQL COPY of rows (as the column types store them: JSON as text, naive UTC times), several times
    faster than multi-row INSERTs for a large fill."""
    import orjson

    from reporter.store.schema import UTCDateTime

    columns = [c.name for c in table.columns]
    json_cols = {c.name for c in table.columns if c.type.__class__.__name__ == "JSON"}
    time_cols = {c.name for c in table.columns if isinstance(c.type, UTCDateTime)}

    def value(name: str, v):
        if v is None:
            return None
        if name in json_cols:
            return orjson.dumps(v).decode()
        if name in time_cols:
            return v.astimezone(UTC).replace(tzinfo=None)
        return v

    cursor = session.connection().connection.driver_connection.cursor()
    with cursor.copy(f'COPY "{table.name}" ({", ".join(columns)}) FROM STDIN') as copy:
        for row in rows:
            copy.write_row([value(c, row.get(c)) for c in columns])


def percentile(times: list[float], p: float) -> float:
    ordered = sorted(times)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p))] * 1000


def timed(client, headers: dict, label: str, make_url, repeat: int, budget: float) -> dict:
    times, deadline = [], time.monotonic() + budget
    if ONLY and not any(word in label for word in ONLY):
        return {"label": label, "n": 0}
    for i in range(repeat):
        if time.monotonic() > deadline:
            break
        url = make_url(i)
        started = time.perf_counter()
        r = client.get(url, headers=headers)
        times.append(time.perf_counter() - started)
        if r.status_code != 200:  # e.g. 503 when the store's search time limit stopped it: say so, go on
            print(f"{label}: HTTP {r.status_code} {r.data[:200]!r}", file=sys.stderr)
            return {"label": f"{label} (HTTP {r.status_code})", "n": len(times), "p50": float("nan"),
                    "p99": float("nan"), "target": TARGETS[label.split(" ")[0]]}
    return {"label": label, "n": len(times), "p50": percentile(times, 0.5), "p99": percentile(times, 0.99),
            "target": TARGETS[label.split(" ")[0]]}


ONLY: list[str] = []  # --only: run just the queries whose label has one of these words

# issue 16's targets (p99, ms), for 1,000,000 cases on PostgreSQL
TARGETS = {"_lastUpdated": 50, "search": 100, "tabulation": 2000}


def database_bytes(store) -> int:
    from sqlalchemy import text

    if store.dialect == "postgresql":
        with store.engine.connect() as conn:
            return int(conn.scalar(text("SELECT pg_database_size(current_database())")))
    path = store.engine.url.database
    return sum(os.path.getsize(p) for p in (path, f"{path}-wal") if os.path.exists(p))


def run(db_url: str, args: argparse.Namespace) -> None:
    from sqlalchemy import func, select, text

    from reporter.store import CaseStore
    from reporter.store.schema import Case, ResourceIndex, ResourceToken
    from reporter.store.tokens import create_token
    from reporter.web import create_app

    store = CaseStore(db_url)
    started = time.perf_counter()
    with store.read_session() as s:
        stored = s.scalar(select(func.count()).select_from(Case))
    if stored:  # --db-url of a filled database: measure it as it is
        print(f"{stored} cases already stored: not filling", file=sys.stderr)
    else:
        rows = templates(store, args.templates, args.seed)
        with bulk_indexes(store):
            clone(store, rows, args.cases, args.chunk, args.seed)
    fill_s = time.perf_counter() - started
    if store.dialect == "postgresql" and not stored:  # what autovacuum would have done by the time it is queried
        with store.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE"))
    with store.read_session() as s:
        cases = s.scalar(select(func.count()).select_from(Case))
        index_rows = s.scalar(select(func.count()).select_from(ResourceIndex))
        last = s.scalar(select(func.max(ResourceIndex.id)))
        sample = random.Random(args.seed).sample(range(1, last + 1), min(last, 2000))
        codes = sorted({c for c, in s.execute(select(ResourceToken.code).where(
            ResourceToken.index_id.in_(sample), ResourceToken.param == "event"))})
        patients = sorted({p for p, in s.execute(select(ResourceIndex.patient).where(
            ResourceIndex.id.in_(sample), ResourceIndex.patient.is_not(None)))})[:200]
        newest = s.scalar(select(func.max(ResourceIndex.last_updated)))
    size = database_bytes(store)
    token = create_token(store, ["read"], "bench")
    app = create_app({"DATABASE_URL": db_url, "SECRET_KEY": "bench"}, store=store)
    client = app.test_client()
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/fhir+json"}
    rng = random.Random(args.seed)
    recent = [(newest - timedelta(seconds=30 * k)).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
              for k in range(1, 50)]
    results = [
        timed(client, headers, "_lastUpdated polling (20/page)",
              lambda i: f"/fhir/AdverseEvent?_lastUpdated=gt{rng.choice(recent)}&_count=20", args.repeat, args.budget),
        timed(client, headers, "_lastUpdated polling, _total=none",
              lambda i: f"/fhir/AdverseEvent?_lastUpdated=gt{rng.choice(recent)}&_count=20&_total=none",
              args.repeat, args.budget),
        timed(client, headers, "search by patient (subject)",
              lambda i: f"/fhir/AdverseEvent?subject={rng.choice(patients)}", args.repeat, args.budget),
        timed(client, headers, "search by reaction code (20/page)",
              lambda i: f"/fhir/AdverseEvent?event={rng.choice(codes)}&_count=20", args.repeat, args.budget),
        timed(client, headers, "search by date (one month)",
              lambda i: "/fhir/AdverseEvent?date=ge{0}-{1:02d}-01&date=lt{0}-{1:02d}-28&_count=20".format(
                  rng.randint(2015, 2024), rng.randint(1, 12)), args.repeat, args.budget),
        timed(client, headers, "tabulation SOC x outcome",
              lambda i: "/fhir/$tabulate?by=soc&by=outcome", max(3, args.repeat // 20), args.budget),
    ]
    print(f"\n{store.dialect}: {cases} cases ({index_rows} indexed resources) filled in {fill_s:.0f} s; "
          f"database {size / 1e6:.1f} MB = {size / max(cases, 1) / 1024:.1f} KiB per case")
    print(f"{'query':<36} {'n':>5} {'p50 ms':>8} {'p99 ms':>8} {'target':>10}")
    for r in (r for r in results if r["n"]):
        met = "met" if r["p99"] < r["target"] else "NOT met"
        print(f"{r['label']:<36} {r['n']:>5} {r['p50']:>8.1f} {r['p99']:>8.1f}   p99 < {r['target']} ms: {met}")
    print("(the targets are issue 16's, for 1,000,000 cases on PostgreSQL; without _total a search has a total only "
          "when its first page holds every match, so polling with and without _total=none is the same query)")
    store.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backend", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--cases", type=int, default=20000, help="cases stored (bounded)")
    parser.add_argument("--templates", type=int, default=50, help="cases stored the normal way, then copied")
    parser.add_argument("--chunk", type=int, default=2000, help="cases per bulk transaction")
    parser.add_argument("--repeat", type=int, default=200, help="requests per query")
    parser.add_argument("--budget", type=float, default=60.0, help="seconds at most per query")
    parser.add_argument("--seed", type=int, default=16)
    parser.add_argument("--db-url", help="use this database (filled only when it holds no case) and keep it")
    parser.add_argument("--keep", action="store_true", help="PostgreSQL: keep the database and print its URL")
    parser.add_argument("--only", action="append", default=[], help="run only the queries labelled with this word")
    args = parser.parse_args()
    ONLY.extend(args.only)
    if args.db_url:
        run(args.db_url, args)
    elif args.backend == "postgresql":
        admin = os.environ.get("REPORTER_TEST_POSTGRES_URL")
        if not admin:
            raise SystemExit('set REPORTER_TEST_POSTGRES_URL: eval "$(bash .ci/start-postgres)"')
        from bench.service import fresh_postgres_db

        url, drop = fresh_postgres_db(admin)
        try:
            run(url, args)
        finally:
            if args.keep:
                print(f"kept: --db-url {url}", file=sys.stderr)
            else:
                drop()
    else:
        with tempfile.TemporaryDirectory() as tmp:
            run(f"sqlite:///{tmp}/scale.sqlite3", args)


if __name__ == "__main__":
    main()
