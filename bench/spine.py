"""Benchmark: case file -> validated ICSR Bundle, cases per second on one core, for the demo cases.

Measures the whole path a user runs: read and parse the case file, map it to the Bundle, validate all four
layers. Rates come from the process's CPU time (one thread: one core), so other load on a shared machine
does not lower them; each figure is the best of `--rounds` runs. Beside the figures it prints the floors
measured in the same run: the fhir.resources R4B parse+validate of the same Bundles (the structure check
this project used before) and a plain JSON round trip of the same Bundles. Last, the whole path again with the
tables loaded and frozen out of the cycle collector (reporter.batch.warm), as `reporter batch` workers and the
service hold their heap.

Usage: PYTHONPATH=. python bench/spine.py [--seconds N] [--rounds N]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from reporter import yaml12
from reporter.batch import warm
from reporter.casefile import load_case
from reporter.casefile.parse import _line_index
from reporter.fhir.build import build_bundle, dumps
from reporter.fhir.models import structure_errors
from reporter.validation import fhir_r4, validate_bundle, validate_file
from reporter.validation.integrity import check_integrity
from reporter.validation.plausibility import check_plausibility
from reporter.validation.rules import check_rules
from reporter.validation.structure import check_structure
from reporter.validation.terminology import check_terminology
from reporter.validation.walk import walk_bundle

EXAMPLES = sorted((Path(__file__).resolve().parent.parent / "examples").glob("*.yaml"))


def rate(label: str, fn, seconds: float, rounds: int, note: str = "") -> float:
    fn()  # warm caches (mapping tables, compiled schema)
    best = 0.0
    for _ in range(rounds):
        count, start = 0, time.process_time()
        while time.process_time() - start < seconds / rounds:
            fn()
            count += 1
        best = max(best, count * len(EXAMPLES) / (time.process_time() - start))
    print(f"{label:42} {best:8.1f} cases/s  ({1000 / best:6.2f} ms/case CPU){note}")
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=2.0, help="CPU seconds per figure")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    cases = [load_case(p) for p in EXAMPLES]
    bundles = [build_bundle(c) for c in cases]
    texts = [dumps(b) for b in bundles]
    print(f"demo cases: {len(EXAMPLES)}; CPU time of one process (one core); best of {args.rounds}")
    s, r = args.seconds, args.rounds
    rate("parse case file (YAML + case model)", lambda: [load_case(p) for p in EXAMPLES], s, r)
    rate("map case -> Bundle", lambda: [build_bundle(c) for c in cases], s, r)
    rate("serialise Bundle (stable JSON)", lambda: [dumps(b) for b in bundles], s, r)
    print("validation layers:")
    r4 = rate("  1 structure: R4 tables (compiled)", lambda: [fhir_r4.check(b) for b in bundles], s, r)
    rate("  1 structure: R4 tables (Python walker)", lambda: [fhir_r4.structure_problems(b) for b in bundles],
         s, r)
    r4b = rate("  1 floor before: fhir.resources R4B", lambda: [structure_errors(b) for b in bundles], s, r)
    print(f"{'':42} compiled R4 check is {r4 / r4b:.1f}x the R4B models")
    rate("  1 structure layer (+ required_codes)", lambda: [check_structure(b) for b in bundles], s, r)
    rate("  walk (shared by layers 2-4)", lambda: [walk_bundle(b) for b in bundles], s, r)
    nodes = [walk_bundle(b) for b in bundles]
    rate("  2 integrity", lambda: [check_integrity(b, n) for b, n in zip(bundles, nodes, strict=True)], s, r)
    rate("  3 terminology", lambda: [check_terminology(b, n) for b, n in zip(bundles, nodes, strict=True)], s, r)
    rate("  plausibility", lambda: [check_plausibility(b) for b in bundles], s, r)
    rate("  4 ICSR rules", lambda: [check_rules(b, n) for b, n in zip(bundles, nodes, strict=True)], s, r)
    rate("validate Bundle (layers 1-4)", lambda: [validate_bundle(b) for b in bundles], s, r)
    rate("floor: JSON loads+dumps of the Bundle", lambda: [json.dumps(json.loads(t)) for t in texts], s, r)
    total = rate("case file -> validated Bundle", lambda: [validate_bundle(build_bundle(load_case(p)))
                                                           for p in EXAMPLES], s, r)
    rate("`reporter validate` path (validate_file)", lambda: [validate_file(p) for p in EXAMPLES], s, r,
         "  (lines looked up only when a problem needs one)")
    yaml_texts = [p.read_text(encoding="utf-8") for p in EXAMPLES]
    rate("  line index of a case file (libyaml)", lambda: [_line_index(t) for t in yaml_texts], s, r)
    with tempfile.TemporaryDirectory() as tmp:  # the same cases as JSON case files (no YAML parser)
        json_files = []
        for path in EXAMPLES:
            target = Path(tmp) / f"{path.stem}.json"
            target.write_text(json.dumps(yaml12.load(path.read_text(encoding="utf-8"))), encoding="utf-8")
            json_files.append(target)
        rate("JSON case file -> validated Bundle", lambda: [validate_bundle(build_bundle(load_case(p)))
                                                            for p in json_files], s, r)
    # last, since freezing stays: the heap as `reporter batch` workers and the service hold it (tables loaded,
    # then frozen out of the cycle collector's full collections)
    warm()
    frozen = rate("case file -> validated Bundle, tables frozen", lambda: [validate_bundle(build_bundle(load_case(p)))
                                                                          for p in EXAMPLES], s, r,
                  "  (as batch workers and the service run it)")
    print(f"TOTAL case file -> validated Bundle: {total:.0f} cases/s on one core, {frozen:.0f} with the tables "
          f"frozen (target 500); floor R4B parse alone {r4b:.0f}/s")


if __name__ == "__main__":
    main()
