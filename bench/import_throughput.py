"""Import throughput (reports per second, one core) over the shared E2B examples and the real round trip:
import -> export -> value-fact differences against the input that the import did not announce (not mapped,
placeholder, received deviation), per file, with round trips per second.

Throughput is CPU time of this process (time.process_time: other load on the shared machine does not count),
printed three ways in one run: including the first compile of the XSD set (and loading the mapping tables),
warm (XSD set compiled, tables loaded), and the floor: lxml parse + XSD check of the same files, which no
import can beat. Then the warm import's CPU milliseconds per report by stage.

Run: PYTHONPATH=. REPORTER_E2B_SCHEMA_DIR=../shared/e2b/schema python bench/import_throughput.py [examples] [rounds]
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from lxml import etree

from reporter.e2b import coverage, diff, export, importer, schemacheck, xmlsafe

EXAMPLES = Path(sys.argv[1] if len(sys.argv) > 1 else "../shared/e2b/examples")
ROUNDS = int(sys.argv[2]) if len(sys.argv) > 2 else 20
STAGES = ("parse", "xsd", "rules", "read", "bundle", "coverage", "other")


def _import(files: list[Path], rounds: int, stages: dict[str, float] | None = None) -> tuple[int, float]:
    """(reports imported, CPU seconds) for `rounds` imports of every file."""
    reports, start = 0, time.process_time()
    for _ in range(rounds):
        for path in files:
            reports += sum(r.ok for r in importer.import_file(path, stages).reports)
    return reports, time.process_time() - start


def _floor(files: list[Path], rounds: int) -> tuple[int, float]:
    """(reports, CPU seconds) for lxml parse + XSD check only, with the same compiled XSD set."""
    contents = [path.read_bytes() for path in files]
    count = sum(len(etree.fromstring(c).findall(f"{{{xmlsafe.HL7}}}PORR_IN049016UV")) for c in contents)
    start = time.process_time()
    for _ in range(rounds):
        for content in contents:
            root = etree.fromstring(content)
            schema = schemacheck.schema_for(xmlsafe.local(root))
            if schema is not None:
                schema.validate(root.getroottree())
    return count * rounds, time.process_time() - start


def _batch_of(path: Path, size: int) -> float:
    """CPU ms per report for one batch holding `size` copies of the file's first report (each with its own
    message id): the cost per report should not grow with the batch."""
    root = etree.fromstring(path.read_bytes())
    message = root.find(f"{{{xmlsafe.HL7}}}PORR_IN049016UV")
    for extra in root.findall(f"{{{xmlsafe.HL7}}}PORR_IN049016UV")[1:]:
        root.remove(extra)
    last = message
    for i in range(1, size):
        copy = etree.fromstring(etree.tostring(message))
        message_id = copy.find(f"{{{xmlsafe.HL7}}}id")
        if message_id is not None:
            message_id.set("extension", f"{message_id.get('extension')}-{i}")
        last.addnext(copy)
        last = copy
    content = etree.tostring(root)
    start = time.process_time()
    reports = importer.import_loaded(xmlsafe.parse_bytes(content, "batch")).reports
    return 1000 * (time.process_time() - start) / len(reports)


def main() -> None:
    files = [p for p in sorted(EXAMPLES.glob("*/*.xml")) if "negative" not in str(p)]
    checked = "XSD on" if schemacheck.schema_dir() else "XSD OFF (REPORTER_E2B_SCHEMA_DIR not set)"
    reports, elapsed = _import(files, 5)  # the first round compiles the XSD set and loads the tables
    print(f"import, {checked}, incl. compiling the XSD set: {reports} reports in {elapsed:.2f} s CPU = "
          f"{reports / elapsed:.1f} reports/s on one core")
    stages: dict[str, float] = {}
    reports, elapsed = _import(files, ROUNDS, stages)
    print(f"import, {checked}, warm: {reports} reports in {elapsed:.2f} s CPU = {reports / elapsed:.1f} reports/s "
          f"({1000 * elapsed / reports:.2f} ms per report)")
    count, spent = _floor(files, ROUNDS)
    print(f"floor (lxml parse + XSD check of the same files): {count / spent:.1f} reports/s "
          f"({1000 * spent / count:.2f} ms per report)")
    print("warm import, CPU ms per report by stage: " + ", ".join(
        f"{name} {1000 * stages.get(name, 0.0) / reports:.2f}" for name in STAGES))
    for size in (1, 10, 80):
        per_report = _batch_of(files[0], size)
        print(f"one batch of {size:>2} copies of {files[0].name}: {per_report:.2f} ms CPU per report")
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
