"""Tabulation benchmark: N stored cases, then the time of tabulations, a line listing and a disproportionality
screen, all SQL over the case_reaction projection. Prints figures; it is not a test.

Cases are synthetic (random age, sex, suspect drug, dosing, one to three reactions coded against a synthetic
MedDRA release in the real ASCII layout, outcomes) and stored through the normal path: case file -> Bundle ->
CaseStore.create, which writes the projection. Filling is bounded by --cases; the database is kept so that a
second run with --reuse times the queries only. Usage:

    PYTHONPATH=. python bench/tabulate.py                              # 100,000 cases on SQLite
    PYTHONPATH=. python bench/tabulate.py --cases 20000 --db /tmp/t.sqlite3
    REPORTER_DATABASE_URL=postgresql+psycopg://... PYTHONPATH=. python bench/tabulate.py --backend postgresql
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from reporter.casefile.model import CaseFile  # noqa: E402
from reporter.fhir.build import build_bundle  # noqa: E402
from tests.meddra_release import LLT, write_release  # noqa: E402  (the synthetic release the tests use)

DRUGS = ["anakinra", "tocilizumab", "methotrexate", "ciclosporin", "etoposide", "dexamethasone", "ruxolitinib",
         "emapalumab"]
OUTCOMES = ["recovered", "recovering", "not-recovered", "recovered-with-sequelae", "fatal", "unknown", None]


def synthetic_case(i: int, rng: random.Random) -> CaseFile:
    drug = rng.choice(DRUGS)
    reactions, links = [], []
    for r in range(rng.randint(1, 3)):
        outcome = rng.choice(OUTCOMES)
        reaction = {"id": f"r{r}", "verbatim": f"reaction {r}",
                    "meddra": {"code": rng.choice(list(LLT)), "version": "99.0"},
                    "onset": {"value": rng.randint(0, 90), "unit": "d", "drug": drug}}
        if outcome:
            reaction["outcome"] = outcome
        if outcome == "fatal":
            reaction["seriousness"] = {"death": True}
        elif rng.random() < 0.5:
            reaction["seriousness"] = {"hospitalisation": True}
        reactions.append(reaction)
        links.append({"reaction": f"r{r}", "causality": [{"source": "Sender", "method": "WHO-UMC",
                                                          "result": rng.choice(["Probable", "Possible"])}]})
    route = rng.choice(["intravenous-drip", "intravenous-bolus", "subcutaneous", "oral"])
    data = {
        "case_id": f"BENCH-{i:07d}",
        "report": {"type": rng.choice(["spontaneous", "study"]), "first_received": f"{rng.randint(2015, 2025)}-01-01",
                   "most_recent": "2025-06-01"},
        "primary_sources": [{"qualification": "physician", "address": {"country": rng.choice(["GB", "FR", "DE"])}}],
        "patient": {"initials": {"absent": "masked"}, "sex": rng.choice(["male", "female"]),
                    "age_at_onset": {"value": rng.randint(1, 90), "unit": "a"}},
        "reactions": reactions,
        "drugs": [{"id": drug, "role": "suspect", "product": drug.capitalize(), "substances": [{"name": drug}],
                   "dosages": [{"route": {"code": route}}], "indications": [{"text": rng.choice(
                       ["sHLH (infection)", "sHLH (rheumatological)", "sJIA", "MAS"])}],
                   "action_taken": rng.choice(["withdrawn", "dose-not-changed", "unknown"]), "reactions": links}],
    }
    return CaseFile.model_validate(data)


def fill(store, n: int, seed: int, full: int) -> tuple[float, float]:
    """The first `full` cases go through CaseStore.create (Bundle, versions, resource index, projection); the
    others only into the projection table, as the rows the same code makes of their Bundles (the queries timed
    here read nothing else). Returns the seconds of each part."""
    from sqlalchemy import insert

    from reporter.analysis.projection import projection_rows
    from reporter.casefile.listing import casefile_json
    from reporter.store.repository import case_id_for, case_key
    from reporter.store.schema import CaseReaction

    rng = random.Random(seed)
    start = time.perf_counter()
    batch: list[dict] = []
    full_seconds = 0.0
    for i in range(n):
        case = synthetic_case(i, rng)
        bundle = build_bundle(case)
        if i < full:
            store.create(bundle, author="bench", casefile=casefile_json(case))
            full_seconds = time.perf_counter() - start
        else:
            batch += projection_rows(bundle, case_id_for(*case_key(bundle)), 1)
            if len(batch) >= 5000 or i == n - 1:
                with store.write_session() as session:
                    session.execute(insert(CaseReaction.__table__), batch)
                batch = []
        if (i + 1) % 5000 == 0:
            rate = (i + 1) / (time.perf_counter() - start)
            print(f"  {i + 1}/{n} cases ({rate:.0f} cases/s)", file=sys.stderr, flush=True)
    return full_seconds, time.perf_counter() - start - full_seconds


def timed(label: str, run, repeat: int) -> None:
    times = []
    result = None
    for _ in range(repeat):
        start = time.perf_counter()
        result = run()
        times.append(time.perf_counter() - start)
    print(f"{label:58} median {statistics.median(times) * 1000:8.1f} ms   min {min(times) * 1000:8.1f} ms"
          f"   ({result})")


def _fields() -> list[str]:
    from reporter.analysis.tabulate import field_names

    return field_names()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=100_000, help="cases to store (default 100000)")
    parser.add_argument("--backend", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--db", default=None, help="SQLite file (default: a new temporary file)")
    parser.add_argument("--reuse", action="store_true", help="the database is already filled: time only")
    parser.add_argument("--full", type=int, default=1000,
                        help="how many cases go through the whole store write (default 1000; the rest are "
                        "written to the projection table only)")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--seed", type=int, default=12)
    args = parser.parse_args()
    if not 1 <= args.cases <= 1_000_000:
        parser.error("--cases must be between 1 and 1,000,000")

    meddra = Path(tempfile.mkdtemp(prefix="bench-meddra-"))
    os.environ["REPORTER_MEDDRA_DIR"] = str(write_release(meddra))
    from reporter.analysis.disproportionality import pairs
    from reporter.analysis.linelisting import line_listing
    from reporter.analysis.tabulate import tabulate
    from reporter.store.repository import CaseStore

    if args.backend == "postgresql":
        url = os.environ.get("REPORTER_DATABASE_URL") or os.environ.get("REPORTER_TEST_POSTGRES_URL")
        if not url or not url.startswith("postgresql"):
            parser.error("set REPORTER_DATABASE_URL to a PostgreSQL database (eval \"$(bash .ci/start-postgres)\")")
    else:
        path = args.db or str(Path(tempfile.mkdtemp(prefix="bench-tab-")) / "store.sqlite3")
        url = f"sqlite:///{path}"
    store = CaseStore(url)
    try:
        if not args.reuse:
            full = min(args.full, args.cases)
            print(f"storing {args.cases} synthetic cases in {store.dialect} ...", file=sys.stderr)
            full_s, rest_s = fill(store, args.cases, args.seed, full)
            print(f"filled: {full} cases through CaseStore.create in {full_s:.1f} s ({full / max(full_s, 1e-9):.0f}"
                  f" cases/s: Bundle build, version, resource index, projection)")
            if args.cases > full:
                print(f"        {args.cases - full} cases as projection rows of their Bundles in {rest_s:.1f} s")
        total = tabulate(store, []).total
        print(f"backend {store.dialect}, {total} stored cases")

        def tab(*by, where=()):
            def run():
                r = tabulate(store, list(by), list(where))
                return f"{len(r.rows)} rows, {r.total} cases"
            return run

        timed("tabulate --by soc --by outcome", tab("soc", "outcome"), args.repeat)
        timed("tabulate --by age_group --by survival", tab("age_group", "survival"), args.repeat)
        timed("tabulate --by drug --by dosing --where sex=female", tab("drug", "dosing", where=["sex=female"]),
              args.repeat)
        # Filters that select a few cases: each should be an index search, not a scan of the table.
        timed("tabulate --by soc --by outcome --where drug=Anakinra", tab("soc", "outcome", where=["drug=Anakinra"]),
              args.repeat)
        timed("tabulate --by drug --by outcome --where soc=hepatobiliary...",
              tab("drug", "outcome", where=["soc=hepatobiliary disorders (test)"]), args.repeat)
        timed("tabulate --by sex --by dosing --where country=gb --where outcome=fatal",
              tab("sex", "dosing", where=["country=gb", "outcome=fatal"]), args.repeat)
        timed("tabulate --by age_band --by outcome --where age_group=child",
              tab("age_band", "outcome", where=["age_group=child"]), args.repeat)
        if "causality_category" in _fields():
            timed("tabulate --by causality_category --by drug", tab("causality_category", "drug"), args.repeat)
        timed("tabulate --stats (total, age and latency summaries)",
              lambda: f"{tabulate(store, [], stats=True).total} cases", args.repeat)
        timed("line-listing --where drug=anakinra --where outcome=fatal",
              lambda: f"{len(line_listing(store, ['drug=anakinra', 'outcome=fatal']))} rows", args.repeat)
        timed("disproportionality --level soc (all pairs)",
              lambda: f"{len(pairs(store, level='soc')[1])} pairs", args.repeat)
        timed("disproportionality --level pt (all pairs)",
              lambda: f"{len(pairs(store, level='pt')[1])} pairs", args.repeat)
        timed("disproportionality --drug Anakinra --event (one SOC)",
              lambda: f"{len(pairs(store, level='soc', drug='Anakinra', event='Hepatobiliary disorders (test)')[1])}"
              " pairs", args.repeat)
    finally:
        store.dispose()


if __name__ == "__main__":
    main()
