"""Batch work on all cores: validation, E2B export and E2B import of many files, and re-validation of the
case store, each on a process pool.

Every job is a plain top-level function of one item that returns plain data (picklable), so the same
function runs in-process (jobs=1), on a local process pool, or on workers on other machines: the work
needs no shared state but its input files or the database URL (see README, "Batch work").
Results come back in input order; anything that writes shared state (the case store, for an import) is
done by the caller, in that order, so that a batch gives the same store as a one-by-one run.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from reporter.errors import ReporterError

T = TypeVar("T")
R = TypeVar("R")


def available_cores() -> int:
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def run(func: Callable[[T], R], items: Sequence[T], jobs: int | None = None) -> Iterator[R]:
    """func over items on `jobs` processes (default: every core), yielding results in input order as
    they become available (for a progress bar). jobs=1 runs in this process."""
    jobs = max(1, min(jobs or available_cores(), len(items) or 1))
    if jobs == 1:
        for item in items:
            yield func(item)
        return
    # fork where the platform has it: workers start with the mapping tables and compiled schema loaded
    methods = multiprocessing.get_all_start_methods()
    context = multiprocessing.get_context("fork" if "fork" in methods else "spawn")
    chunk = max(1, min(16, len(items) // (jobs * 8)))
    with ProcessPoolExecutor(max_workers=jobs, mp_context=context) as pool:
        yield from pool.map(func, items, chunksize=chunk)


def warm(*, e2b: bool = False) -> None:
    """Load the tables the jobs share before forking (each worker then starts warm), and freeze them out of
    the cycle collector: the parent unpickles every result, and with the tables in reach each full
    collection that set off walked them all (a listing's cases: 1.2 ms per case in the parent, more than
    the workers' own work). The tables are those one demo case loads on its way from case file to validated
    Bundle (with `e2b`, on to E2B XML and back: the element table, rules and XSD set): frozen too, the
    workers' own collections no longer walk them, and each worker does not load them again."""
    from reporter.gcpause import freeze_heap
    from reporter.validation import fhir_r4

    fhir_r4.rules()
    fhir_r4.is_valid({"resourceType": "Basic", "code": {"text": "warm"}})
    _load_case_tables(e2b)
    freeze_heap()


def _load_case_tables(e2b: bool) -> None:
    from reporter.casefile.parse import load_case
    from reporter.errors import ReporterError
    from reporter.fhir.build import build_bundle
    from reporter.paths import examples_dir
    from reporter.validation import validate_bundle

    demo = next(iter(sorted(examples_dir().glob("*.yaml"))), None)
    try:
        if demo is not None:
            bundle = build_bundle(load_case(demo))
            validate_bundle(bundle)
            if e2b:
                from reporter.e2b import importer, xmlsafe
                from reporter.e2b.export import export_bundles

                importer.import_loaded(xmlsafe.parse_bytes(export_bundles([bundle]).xml, "warm"))
    except (OSError, ReporterError):  # an optimisation only: the jobs load what they need themselves
        pass


# --- validation of files ---------------------------------------------------------------------------

@dataclass
class FileCheck:
    path: str
    errors: int
    warnings: int
    text: str


def validate_one(path: str) -> FileCheck:
    from reporter.validation import validate_file

    _bundle, report = validate_file(path)
    return FileCheck(path, len(report.errors), len(report.warnings), report.to_text())


# --- E2B export, one batch file per case -----------------------------------------------------------

@dataclass
class ExportJob:
    path: str
    out_dir: str
    receiver: str | None = None
    force: bool = False


@dataclass
class ExportDone:
    path: str
    written: str | None
    ok: bool
    text: str
    not_read: int = 0  # FHIR-NOT-READ warnings: what the Bundle says that the file leaves out


def export_one(job: ExportJob) -> ExportDone:
    from reporter.e2b.export import export_bundles
    from reporter.e2b.readiness import NOT_READ, validation_errors
    from reporter.inputs import load_bundle

    try:
        bundle = load_bundle(job.path)
        result = export_bundles([bundle], receiver_name=job.receiver)
    except ReporterError as exc:
        return ExportDone(job.path, None, False, f"error: {exc}")
    # what validation refuses, the export refuses; what no reader takes, the export says, as `reporter e2b` does
    said = validation_errors([bundle], also=NOT_READ)
    result.check.report.issues[:0] = said
    written = None
    if result.check.ok or job.force:
        target = Path(job.out_dir) / (Path(job.path).stem + ".xml")
        target.write_bytes(result.xml)
        written = str(target)
    return ExportDone(job.path, written, result.check.ok, result.check.text(),
                      sum(i.code in NOT_READ for i in said))


# --- E2B import -----------------------------------------------------------------------------------

def import_one(path: str):
    """The ImportResult of one E2B file (parse, XSD, model, Bundle, validation of each case): the costly part, run
    in a worker."""
    from reporter.e2b.importer import check_validity, import_file

    try:
        result = import_file(path)
        check_validity(result)
        return result
    except ReporterError as exc:
        from reporter.e2b.importer import ImportResult

        return ImportResult(source=path, reports=[], batch_problems=[str(exc)])


# --- re-validation of the store --------------------------------------------------------------------

@dataclass
class StoredCheck:
    case_id: str
    version: int
    errors: int
    warnings: int
    first: list[str] = field(default_factory=list)


_STORES: dict[tuple[int, str], Any] = {}


def _store(url: str):
    """One store (engine and connection pool) per process and URL: a forked worker never reuses the
    parent's connections."""
    key = (os.getpid(), url)
    store = _STORES.get(key)
    if store is None:
        from reporter.store.repository import CaseStore

        store = _STORES[key] = CaseStore(url, migrate=False)
    return store


def stored_case_ids(url: str) -> list[str]:
    from sqlalchemy import select

    from reporter.store.schema import Case

    store = _store(url)
    try:
        with store.read_session() as session:
            return list(session.scalars(select(Case.id).order_by(Case.id)))
    finally:
        store.dispose()  # no open connection is carried into forked workers


def revalidate_chunk(job: tuple[str, list[str]]) -> list[StoredCheck]:
    """Validate the current version of each case in a chunk (each worker reads its own rows)."""
    from reporter.validation import validate_bundle

    url, case_ids = job
    store, out = _store(url), []
    for case_id in case_ids:
        stored = store.read(case_id)
        report = validate_bundle(stored.bundle, subject=f"Bundle/{case_id}")
        out.append(StoredCheck(case_id, stored.version, len(report.errors), len(report.warnings),
                               [f"{i.location}: {i.message}" for i in report.errors[:3]]))
    return out


def chunks(items: Sequence[T], size: int) -> list[list[T]]:
    return [list(items[i:i + size]) for i in range(0, len(items), size)]


def flatten(results: Iterable[list[R]]) -> Iterator[R]:
    for chunk in results:
        yield from chunk
