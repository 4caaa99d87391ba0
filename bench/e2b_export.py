"""Bundle -> E2B(R3) XML including XSD validation and business rules: cases per second on one core.

Rates are from the process's CPU time (one thread: one core), so other load on a shared machine does not
lower them; wall-clock rates are printed beside them. Each figure is the best of `rounds` runs.

Run: REPORTER_E2B_SCHEMA_DIR=../shared/e2b/schema PYTHONPATH=. python bench/e2b_export.py [seconds] [rounds]
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from lxml import etree

from reporter.e2b import rules, xsd
from reporter.e2b.export import export_bundles, parse_output, write_batch
from reporter.inputs import load_bundle

REPO = Path(__file__).resolve().parent.parent


def main() -> None:
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 6.0
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    bundles = [load_bundle(p) for p in sorted((REPO / "examples").glob("*.yaml"))]
    if xsd.load_schema() is None:
        print("warning: REPORTER_E2B_SCHEMA_DIR not set, XSD validation skipped")
    export_bundles(bundles, receiver_name="fda", batch_id="BENCH")  # warm caches (schema, mappings)
    for batch_size in (1, 3, 30):
        # the three demo cases repeated: the duplicate-id rule then reports issues, which costs little
        batch = (bundles * ((batch_size // len(bundles)) + 1))[:batch_size]
        cpu_rates, wall_rates = [], []
        for _ in range(rounds):
            done, cpu0, wall0 = 0, time.process_time(), time.perf_counter()
            while time.process_time() - cpu0 < seconds / 3 / rounds:
                export_bundles(batch, receiver_name="fda", batch_id="BENCH")
                done += len(batch)
            cpu_rates.append(done / (time.process_time() - cpu0))
            wall_rates.append(done / (time.perf_counter() - wall0))
        print(f"batch of {batch_size:>2}: {max(cpu_rates):7.1f} cases/s CPU ({max(wall_rates):7.1f} wall), "
              f"XSD {'on' if xsd.load_schema() else 'off'}, rules ich+fda")
    stages(bundles, seconds / 6)


def stages(bundles: list[dict], seconds: float) -> None:
    """Where the time goes for the batch of three: CPU milliseconds per case in each stage."""
    xml, profile = write_batch(bundles, receiver_name="fda", batch_id="BENCH")
    parsed = parse_output(xml)
    steps = {
        "write (tree + text)": lambda: write_batch(bundles, receiver_name="fda", batch_id="BENCH"),
        "parse": lambda: parse_output(xml),
        "XSD": lambda: xsd.validate(parsed),
        "rules": lambda: rules.check(parsed, profile.rules),
        "lxml serialise": lambda: etree.tostring(parsed, xml_declaration=True, encoding="UTF-8",
                                                 pretty_print=True),
    }
    ms = {}
    for name, step in steps.items():
        done, cpu0 = 0, time.process_time()
        while time.process_time() - cpu0 < seconds / len(steps):
            step()
            done += 1
        ms[name] = (time.process_time() - cpu0) / done / len(bundles) * 1000
    print("ms per case: " + ", ".join(f"{name} {value:.2f}" for name, value in ms.items()))
    floor = ms["parse"] + ms["XSD"] + ms["lxml serialise"]
    ours = ms["write (tree + text)"] + ms["parse"] + ms["XSD"] + ms["rules"]
    print(f"floor (lxml parse + XSD + serialise of the same XML): {1000 / floor:.0f} cases/s; "
          f"the stages of the export: {1000 / ours:.0f} cases/s = {ours / floor:.1f}x the floor's time")


if __name__ == "__main__":
    main()
