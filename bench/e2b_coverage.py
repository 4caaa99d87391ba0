"""How much of received E2B(R3) reports goes through the case model, for any folder of E2B files.

Prints, per report, the value facts read into the case model out of all value facts (values, codes, null
flavors, units, texts; not the wrapper attributes the writer re-creates), then the elements not mapped across
all files with a count and an example, and the total.

Run: PYTHONPATH=. REPORTER_E2B_SCHEMA_DIR=../shared/e2b/schema python bench/e2b_coverage.py FOLDER [FOLDER...]
(default: ../shared/e2b/examples and tests/e2b/inputs)
"""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

from reporter.e2b import importer
from reporter.errors import ReporterError


def main(folders: list[str]) -> None:
    files = sorted(p for f in folders for p in Path(f).rglob("*.xml") if "negative" not in p.parts)
    total = mapped = 0
    missing: Counter[str] = Counter()
    examples: dict[str, str] = {}
    for path in files:
        try:
            result = importer.import_file(path)
        except ReporterError as exc:
            print(f"{path}: not read ({exc})")
            continue
        for report in result.reports:
            if report.coverage is None:
                print(f"{path.name} report {report.index}: rejected ({'; '.join(report.problems)[:120]})")
                continue
            c = report.coverage
            total, mapped = total + c.total, mapped + c.mapped
            missing.update(c.not_mapped)
            for element, value in c.examples.items():
                examples.setdefault(element, value)
            print(f"{path.name} report {report.index}: {c.mapped}/{c.total} ({c.percent:.1f}%)")
    print("\nnot mapped, all files (element: value facts, example):")
    for element, count in missing.most_common():
        print(f"  {element}: {count} (e.g. {examples[element]!r})")
    if total:
        print(f"\ntotal: {mapped}/{total} value facts through the case model ({100.0 * mapped / total:.1f}%)")


if __name__ == "__main__":
    main(sys.argv[1:] or ["../shared/e2b/examples", "tests/e2b/inputs"])
