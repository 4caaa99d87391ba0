"""Bundle -> HTML page and Bundle -> CIOMS I PDF: reports per second on one core.

Run: PYTHONPATH=. python bench/bench_render.py [--seconds N]
Each demo case is built into a Bundle once; the timing covers view extraction, charts, templates and,
for PDF, WeasyPrint. Validation is left out (it has its own figures). Then the downloads as the service
serves them: each version rendered once and kept in the store (SQLite here), later downloads read it.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from reporter.inputs import load_bundle  # noqa: E402
from reporter.render.output import bundle_html, bundle_pdf  # noqa: E402


def rate(fn, bundles: list[dict], seconds: float) -> tuple[float, int]:
    fn(bundles[0])  # warm-up: template compilation, font loading
    done, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        fn(bundles[done % len(bundles)])
        done += 1
    return done / (time.perf_counter() - start), done


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=5.0, help="time per measurement")
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # one core
    bundles = [load_bundle(str(p)) for p in sorted((REPO / "examples").glob("case*.yaml"))]
    html_rate, html_n = rate(bundle_html, bundles, args.seconds)
    pdf_rate, pdf_n = rate(bundle_pdf, bundles, args.seconds)
    size_html = sum(len(bundle_html(b).encode()) for b in bundles) / len(bundles)
    size_pdf = sum(len(bundle_pdf(b)) for b in bundles) / len(bundles)
    print(f"demo cases: {len(bundles)}; one core")
    print(f"Bundle -> HTML: {html_rate:8.1f} reports/s  ({html_n} runs, mean page {size_html / 1024:.0f} KiB)")
    print(f"Bundle -> PDF : {pdf_rate:8.1f} reports/s  ({pdf_n} runs, mean PDF {size_pdf / 1024:.0f} KiB)")
    served(bundles, args.seconds)


def served(bundles: list[dict], seconds: float) -> None:
    """PDF downloads of stored versions: the first renders and keeps it, the next ones read the store."""
    import tempfile

    from reporter.store import CaseStore
    from reporter.web import downloads

    with tempfile.TemporaryDirectory() as tmp:
        store = CaseStore(f"sqlite:///{tmp}/render.sqlite3")
        versions = [store.create(b, author="bench") for b in bundles]
        cpu = time.process_time()
        for v in versions:
            downloads.pdf(v, store)
        first = (time.process_time() - cpu) / len(versions) * 1000
        done, cpu = 0, time.process_time()
        while time.process_time() - cpu < seconds:
            downloads.pdf(versions[done % len(versions)], store)
            done += 1
        rate = done / (time.process_time() - cpu)
        store.dispose()
    print(f"PDF download, first of a version (renders, keeps): {first:8.1f} ms CPU")
    print(f"PDF download, kept version      : {rate:8.1f} downloads/s CPU ({1000 / rate:.2f} ms each)")


if __name__ == "__main__":
    main()
