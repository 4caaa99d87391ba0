"""Import throughput (reports per second, one core) over the shared E2B examples, and the residual
check that re-applying the passthrough is a no-op. The full import -> export -> diff figure needs the
exporter (branch e2b); tests/test_e2b_import.py covers the residual with a model-only writer.

Run: PYTHONPATH=. REPORTER_E2B_SCHEMA_DIR=../shared/e2b/schema python bench/import_throughput.py
"""

from __future__ import annotations

import copy
import sys
import time
from pathlib import Path

from reporter.e2b import diff, importer, passthrough, to_case, xmlsafe

EXAMPLES = Path(sys.argv[1] if len(sys.argv) > 1 else "../shared/e2b/examples")


def main() -> None:
    files = [p for p in sorted(EXAMPLES.glob("*/*.xml")) if "negative" not in str(p)]
    rounds, reports = 5, 0
    start = time.perf_counter()
    for _ in range(rounds):
        for path in files:
            reports += sum(r.ok for r in importer.import_file(path).reports)
    elapsed = time.perf_counter() - start
    print(f"import: {reports} reports in {elapsed:.2f} s = {reports / elapsed:.1f} reports/s (incl. XSD check "
          f"if REPORTER_E2B_SCHEMA_DIR is set)")
    total_facts = total_diffs = 0
    for path in files:
        original = xmlsafe.load(path).root
        work = copy.deepcopy(original)
        for message in work.findall("{urn:hl7-org:v3}PORR_IN049016UV"):
            _case, reader, _ = to_case.message_to_case(message)
            residual = passthrough.residual(message, reader.used)
            passthrough.apply(message, {"extension": residual})
        total_facts += len(diff.facts(original))
        total_diffs += len(diff.compare(original, work))
    print(f"passthrough re-applied onto the original (must be a no-op): {total_diffs} differences "
          f"over {total_facts} facts in {len(files)} files")


if __name__ == "__main__":
    main()
