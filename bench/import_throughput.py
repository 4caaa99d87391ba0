"""Import throughput (reports per second, one core) over the shared E2B examples and the real round trip:
import -> export -> value-fact differences against the input that the import did not announce (not mapped,
placeholder, received deviation), per file, with round trips per second.

Run: PYTHONPATH=. REPORTER_E2B_SCHEMA_DIR=../shared/e2b/schema python bench/import_throughput.py
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from lxml import etree

from reporter.e2b import coverage, diff, export, importer, xmlsafe

EXAMPLES = Path(sys.argv[1] if len(sys.argv) > 1 else "../shared/e2b/examples")


def main() -> None:
    files = [p for p in sorted(EXAMPLES.glob("*/*.xml")) if "negative" not in str(p)]
    rounds, reports = 5, 0
    start = time.process_time()  # CPU time of this process (one core): other load on the machine does not count
    for _ in range(rounds):
        for path in files:
            reports += sum(r.ok for r in importer.import_file(path).reports)
    elapsed = time.process_time() - start
    print(f"import: {reports} reports in {elapsed:.2f} s CPU = {reports / elapsed:.1f} reports/s on one core (incl. "
          f"XSD check if REPORTER_E2B_SCHEMA_DIR is set)")
    own = sorted(Path(__file__).resolve().parents[1].joinpath("tests", "e2b", "inputs").glob("*.xml"))
    total_facts = total_diffs = trips = 0
    start = time.perf_counter()
    for path in files + own:
        result = importer.import_file(path)
        out = export.export_bundles([r.bundle for r in result.reports if r.ok])
        differences = coverage.unexplained(diff.compare_unordered(xmlsafe.load(path).root, etree.fromstring(out.xml)),
                                           [r.coverage for r in result.reports if r.coverage])
        facts = len(diff.facts(xmlsafe.load(path).root))
        trips += len(result.reports)
        total_facts += facts
        total_diffs += len(differences)
        print(f"  {path.name:<45} {out.receiver:<4} {facts:>5} facts {len(differences):>4} unannounced differences")
    elapsed = time.perf_counter() - start
    print(f"import -> export round trip: {total_diffs} differences the import did not announce, "
          f"over {total_facts} facts in {len(files) + len(own)} files; {trips / elapsed:.1f} round trips/s "
          "(incl. fact comparison)")


if __name__ == "__main__":
    main()
