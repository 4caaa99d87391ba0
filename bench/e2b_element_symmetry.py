"""Element-table symmetry on every file, not only the first that holds an element (outside CI).

tests/e2b/test_element_table.py changes one value per element (the first instance the importer reads in
corpus order). This sweep changes, in every file of the corpus (own inputs, the shared examples, the demo
cases exported) and in any further E2B files given, the first instance of every element the importer reads
there, and checks the same things: the case changes only at the element's `case` path, the Bundle at its
`fhir` location, the export writes the new value in place of the old one (mappings/e2b/locations.yaml).
Prints the probes per file and each failure.

Run: PYTHONPATH=. REPORTER_SHARED_DIR=../shared python bench/e2b_element_symmetry.py [more.xml ...]
"""

from __future__ import annotations

import sys
import time
from collections import Counter
from pathlib import Path

from lxml import etree

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.e2b import element_table as et

NOT_CHANGEABLE = {"G.k.9.i.1"}  # a link by id, not a value


def main(extra: list[str]) -> int:
    files = et.corpus() | {Path(p).name: Path(p).read_bytes() for p in extra}
    started = time.perf_counter()
    probes = 0
    failures: list[str] = []
    by_element: Counter[str] = Counter()
    for name, data in files.items():
        doc = etree.fromstring(data, etree.XMLParser(resolve_entities=False, no_network=True))
        seen: set[str] = set()
        for site in et.sites(doc):
            if site.number in seen or site.number in NOT_CHANGEABLE or not et.candidates(site):
                continue
            seen.add(site.number)
            found = et.check(et.probe(site.number, name, data, site))
            probes += 1
            if found:
                by_element[site.number] += 1
                failures.extend(found)
        print(f"{name}: {len(seen)} elements changed")
    elapsed = time.perf_counter() - started
    print(f"\n{probes} probes over {len(files)} files in {elapsed:.0f} s; {len(failures)} failures "
          f"in {len(by_element)} elements")
    for element, count in sorted(by_element.items()):
        print(f"  {element}: {count} file(s)")
    for failure in failures:
        print(f"- {failure[:400]}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
