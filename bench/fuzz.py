"""Long fuzz run (outside CI): the targets of tests/hostile/test_fuzz.py over many seeds, with a table of inputs,
clean outcomes, failures (exceptions other than ReporterError, HTTP 5xx) and the slowest input per target.

    PYTHONPATH=. REPORTER_SHARED_DIR=../shared python bench/fuzz.py --inputs 10000
    PYTHONPATH=. python bench/fuzz.py --inputs 2000 --targets api-query,case-file --first-seed 50000

E2B targets run without the XSD (e2b-import) and with it (e2b-import+xsd, needs REPORTER_E2B_SCHEMA_DIR).
A failing seed replays with --first-seed SEED --inputs 1 --targets NAME --verbose.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
import time
import traceback
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.hostile import targets  # noqa: E402

ALL = ("e2b-import", "e2b-import+xsd", "case-file", "api-bundle", "api-query")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--inputs", type=int, default=10_000, help="inputs per target")
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--targets", default=",".join(ALL))
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args()
    logging.disable(logging.WARNING)  # the app logs refusals; the table is what matters here
    shared = os.environ.get("REPORTER_SHARED_DIR") or str(REPO.parent / "shared")
    schema_dir = os.environ.get("REPORTER_E2B_SCHEMA_DIR")
    tmp = Path(tempfile.mkdtemp(prefix="fuzz-"))
    client = headers = case_id = None
    rows = []
    for name in args.targets.split(","):
        if name.startswith("api-") and client is None:
            _, client, headers, case_id = targets.fuzz_app(tmp / "fuzz.sqlite3")
        if name == "e2b-import":
            os.environ.pop("REPORTER_E2B_SCHEMA_DIR", None)
            run = lambda seed: targets.e2b_import(seed, shared)  # noqa: E731
        elif name == "e2b-import+xsd":
            if not schema_dir:
                print(f"{name}: skipped (set REPORTER_E2B_SCHEMA_DIR)")
                continue
            os.environ["REPORTER_E2B_SCHEMA_DIR"] = schema_dir
            run = lambda seed: targets.e2b_import(seed, shared)  # noqa: E731
        elif name == "case-file":
            run = targets.case_file
        elif name == "api-bundle":
            run = lambda seed, c=client, h=headers: targets.api_bundle(seed, c, h)  # noqa: E731
        elif name == "api-query":
            run = lambda seed, c=client, h=headers, i=case_id: targets.api_query(seed, c, h, i)  # noqa: E731
        else:
            parser.error(f"unknown target {name}")
        outcomes: Counter[str] = Counter()
        failures: Counter[str] = Counter()
        first_failure: dict[str, int] = {}
        slowest, slowest_seed = 0.0, None
        started = time.perf_counter()
        for seed in range(args.first_seed, args.first_seed + args.inputs):
            t = time.perf_counter()
            try:
                outcomes[run(seed)] += 1
            except Exception as exc:  # the failures this run looks for
                frame = traceback.extract_tb(exc.__traceback__)[-1]
                key = f"{type(exc).__name__} at {Path(frame.filename).name}:{frame.lineno}"
                failures[key] += 1
                first_failure.setdefault(key, seed)
                print(f"  {name}: FAILURE seed {seed}: {key}: {str(exc)[:200]}", flush=True)
                if args.verbose:
                    traceback.print_exc()
            elapsed = time.perf_counter() - t
            if elapsed > slowest:
                slowest, slowest_seed = elapsed, seed
            done = seed - args.first_seed + 1
            if done % 1000 == 0:
                print(f"  {name}: {done} inputs, {outcomes['ok']} ok, {outcomes['refused']} refused, "
                      f"{sum(failures.values())} failures, slowest {slowest * 1000:.0f} ms (seed {slowest_seed}), "
                      f"{time.perf_counter() - started:.0f} s", flush=True)
        total = time.perf_counter() - started
        rows.append((name, args.inputs, outcomes["ok"], outcomes["refused"], sum(failures.values()),
                     slowest * 1000, slowest_seed, total))
        for key, count in failures.most_common():
            print(f"  {name}: {count} x {key} (first seed {first_failure[key]})")
        print(f"{name}: done in {total:.0f} s", flush=True)
    print()
    print(f"{'target':16} {'inputs':>7} {'ok':>6} {'refused':>8} {'failures':>9} {'slowest ms':>11} "
          f"{'(seed)':>8} {'total s':>8}")
    for name, n, ok, refused, failed, slow, seed, total in rows:
        print(f"{name:16} {n:7d} {ok:6d} {refused:8d} {failed:9d} {slow:11.0f} {seed!s:>8} {total:8.0f}")


if __name__ == "__main__":
    main()
