"""Causality assessment of a case file (Naranjo, WHO-UMC, RUCAM with time to onset and liver findings):
cases per second on one core, and the cost the computed section adds to an HTML report.

Run: PYTHONPATH=. python bench/assess.py [--seconds N]
Each demo case is parsed once; the timing covers reporter.assess.run.assess_case (all methods, every pair).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from reporter.assess.run import assess_case  # noqa: E402
from reporter.casefile import load_case  # noqa: E402
from reporter.fhir.build import build_bundle  # noqa: E402
from reporter.render.output import bundle_html  # noqa: E402


def rate(fn, items: list, seconds: float) -> float:
    fn(items[0])  # warm-up: mapping tables, templates
    done, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        fn(items[done % len(items)])
        done += 1
    return done / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=3.0, help="time per measurement")
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # one core
    cases = [load_case(p) for p in sorted((REPO / "examples").glob("case*.yaml"))]
    pairs = [(build_bundle(c), c) for c in cases]
    assess_rate = rate(assess_case, cases, args.seconds)
    with_case = rate(lambda bc: bundle_html(bc[0], None, bc[1]), pairs, args.seconds)
    without = rate(lambda bc: bundle_html(bc[0]), pairs, args.seconds)
    print(f"assess_case (all methods, every pair): {assess_rate:8.1f} cases/s ({1000 / assess_rate:.2f} ms/case)")
    print(f"HTML report with the computed section:  {with_case:8.1f} reports/s")
    print(f"HTML report from the Bundle alone:      {without:8.1f} reports/s")


if __name__ == "__main__":
    main()
