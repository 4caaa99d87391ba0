"""Benchmark: case file -> validated ICSR Bundle, cases per second on one core, for the demo cases.

Measures the whole path a user runs: read and parse the case file, map it to the Bundle, validate all
layers. Prints one line per stage and the total. Usage: python bench/spine.py [--seconds N]
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

from reporter.casefile import load_case
from reporter.fhir.build import build_bundle, dumps
from reporter.validation import validate_bundle
from reporter.validation.plausibility import check_plausibility

EXAMPLES = sorted((Path(__file__).resolve().parent.parent / "examples").glob("*.yaml"))


def rate(label: str, fn, seconds: float) -> float:
    fn()  # warm caches (mapping tables, compiled models)
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        fn()
        count += 1
    elapsed = time.perf_counter() - start
    per_second = count * len(EXAMPLES) / elapsed
    print(f"{label:38} {per_second:8.1f} cases/s  ({elapsed / count / len(EXAMPLES) * 1000:6.2f} ms/case)")
    return per_second


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=3.0)
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # one core
    cases = [load_case(p) for p in EXAMPLES]
    bundles = [build_bundle(c) for c in cases]
    print(f"demo cases: {len(EXAMPLES)}; one core; {args.seconds:.0f} s per stage")
    rate("parse case file", lambda: [load_case(p) for p in EXAMPLES], args.seconds)
    rate("map case -> Bundle", lambda: [build_bundle(c) for c in cases], args.seconds)
    rate("serialise Bundle (stable JSON)", lambda: [dumps(b) for b in bundles], args.seconds)
    rate("validate Bundle (all layers)", lambda: [validate_bundle(b) for b in bundles], args.seconds)
    rate("  of which plausibility", lambda: [check_plausibility(b) for b in bundles], args.seconds)
    total = rate("case file -> validated Bundle", lambda: [validate_bundle(build_bundle(load_case(p)))
                                                           for p in EXAMPLES], args.seconds)
    print(f"TOTAL case file -> validated Bundle: {total:.0f} cases/s on one core")


if __name__ == "__main__":
    main()
