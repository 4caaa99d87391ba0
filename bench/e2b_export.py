"""Bundle -> E2B(R3) XML including XSD validation and business rules: cases per second on one core.

Run: REPORTER_E2B_SCHEMA_DIR=../shared/e2b/schema PYTHONPATH=. python bench/e2b_export.py [seconds]
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from reporter.e2b import xsd
from reporter.e2b.export import export_bundles
from reporter.inputs import load_bundle

REPO = Path(__file__).resolve().parent.parent


def main() -> None:
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 5.0
    bundles = [load_bundle(p) for p in sorted((REPO / "examples").glob("*.yaml"))]
    if xsd.load_schema() is None:
        print("warning: REPORTER_E2B_SCHEMA_DIR not set, XSD validation skipped")
    for batch_size in (1, 3, 30):
        batch = (bundles * ((batch_size // len(bundles)) + 1))[:batch_size]
        # one case per batch of distinct Bundles: the duplicate-id rule does not matter for timing
        done, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds / 3:
            export_bundles(batch, receiver_name="fda", batch_id="BENCH")
            done += len(batch)
        rate = done / (time.perf_counter() - start)
        print(f"batch of {batch_size:>2}: {rate:8.1f} cases/s (XSD {'on' if xsd.load_schema() else 'off'})")


if __name__ == "__main__":
    main()
