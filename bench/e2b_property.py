"""Long run of the E2B property (outside CI): case files generated from the model (tests/casegen.py) either
fail validation, or export XSD-valid and rule-clean for every receiver; `validate --receiver all` agrees
with the exports. Prints how many cases were tried and how they ended, and the time per case; stops at the
first counterexample and saves it.

Run: PYTHONPATH=. REPORTER_E2B_SCHEMA_DIR=../shared/e2b/schema python bench/e2b_property.py [--examples 2000]
     [--out /tmp/e2b-property]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from hypothesis import HealthCheck, given, settings

from tests.casegen import case_files
from tests.test_e2b_property import check_case


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=2000)
    parser.add_argument("--out", default="/tmp/e2b-property")
    args = parser.parse_args()
    schema = os.environ.get("REPORTER_E2B_SCHEMA_DIR")
    if not schema:
        print("set REPORTER_E2B_SCHEMA_DIR to the ICH E2B(R3) XSD folder", file=sys.stderr)
        return 2
    counts: Counter[str] = Counter()
    last: dict = {}

    @settings(max_examples=args.examples, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(case_files())
    def prop(data: dict) -> None:
        last["data"] = data
        counts[check_case(data, schema)] += 1

    start = time.perf_counter()
    try:
        prop()
    except AssertionError as exc:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        (out / "counterexample.json").write_text(json.dumps(last.get("data"), indent=2), encoding="utf-8")
        print(f"COUNTEREXAMPLE after {sum(counts.values())} cases (saved in {out}):\n{exc}")
        return 1
    elapsed = time.perf_counter() - start
    total = sum(counts.values())
    print(f"cases tried: {total} in {elapsed:.1f} s ({1000 * elapsed / max(total, 1):.0f} ms per case, "
          "export for ich, fda and ema each)")
    for outcome in ("ready", "not-ready", "case-error", "model-error"):
        print(f"  {outcome:12} {counts[outcome]}")
    print("property held for every case")
    return 0


if __name__ == "__main__":
    sys.exit(main())
