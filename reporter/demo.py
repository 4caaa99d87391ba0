"""The main job on the bundled demo cases: Bundle, validation report, HTML and CIOMS PDF, E2B(R3) batches,
and the cases stored in the configured case store (a SQLite file by default)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from reporter import config
from reporter.errors import ReporterError, StoreConflict
from reporter.paths import examples_dir

RECEIVERS = ("ich", "fda", "ema")


@dataclass
class DemoResult:
    written: list[Path] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    problems: int = 0


def run_demo(out_dir: Path, *, say: Callable[[str], None] = print, store: bool = True) -> DemoResult:
    from reporter.casefile import load_case
    from reporter.e2b.export import export_bundles
    from reporter.fhir.build import build_bundle, dumps
    from reporter.render.output import bundle_html, bundle_pdf
    from reporter.validation import validate_bundle

    result = DemoResult()
    out_dir.mkdir(parents=True, exist_ok=True)

    def write(name: str, data: str | bytes) -> None:
        path = out_dir / name
        path.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
        result.written.append(path)

    bundles, casefiles = [], []
    for case_file in sorted(examples_dir().glob("*.yaml")):
        stem = case_file.stem
        case = load_case(case_file)
        bundle = build_bundle(case)
        bundles.append(bundle)
        casefiles.append(case.model_dump(mode="json", by_alias=True, exclude_none=True))
        report = validate_bundle(bundle, subject=case_file.name)
        result.problems += len(report.errors)
        write(f"{stem}.bundle.json", dumps(bundle))
        write(f"{stem}.validation.txt", report.to_text())
        write(f"{stem}.html", bundle_html(bundle, report, case))
        say(f"{case_file.name}: Bundle with {len(bundle['entry'])} entries; "
            f"{len(report.errors)} error(s), {len(report.warnings)} warning(s)")
        try:
            write(f"{stem}.cioms.pdf", bundle_pdf(bundle, report, case))
        except ReporterError as exc:
            result.notes.append(f"PDF skipped: {exc.message} ({exc.hint})")
    schema_dir = config.get_path("e2b_schema_dir")
    for receiver in RECEIVERS:
        export = export_bundles(bundles, receiver_name=receiver, schema_dir=schema_dir)
        write(f"demo-batch.{receiver}.xml", export.xml)
        result.problems += len(export.check.errors)
        say(f"E2B(R3) batch for {receiver}: {export.cases} reports; XSD {export.check.xsd}; "
            f"{len(export.check.errors)} error(s)")
    if schema_dir is None:
        result.notes.append("XSD validation skipped: set REPORTER_E2B_SCHEMA_DIR to the ICH XSD folder "
                            "(e.g. ../shared/e2b/schema)")
    if store:
        from dataclasses import replace

        from reporter.store.audit import cli_context
        from reporter.store.repository import CaseStore

        database = config.get("database_url") or ""
        case_store = CaseStore(database)
        try:
            for bundle, casefile in zip(bundles, casefiles, strict=True):
                try:
                    case_store.create(bundle, author="reporter demo", reason="demo case", casefile=casefile,
                                      audit=replace(cli_context(), detail="reporter demo"))
                    say(f"stored {bundle['entry'][0]['resource']['identifier']['value']} in {database}")
                except StoreConflict:
                    say(f"already stored: {bundle['entry'][0]['resource']['identifier']['value']}")
        finally:
            case_store.dispose()
    for note in dict.fromkeys(result.notes):
        say(f"note: {note}")
    return result
