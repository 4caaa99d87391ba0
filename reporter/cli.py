"""The `reporter` command. Thin: parse arguments, call the library, print, choose the exit code.

Exit codes: 0 success, 1 the input has errors (report printed), 2 usage or unreadable input.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import click

from reporter.errors import AlreadyStored, ReporterError

if TYPE_CHECKING:
    from reporter.e2b.importer import ImportedReport


class ReporterGroup(click.Group):
    """Turns every ReporterError into a one-line message and exit code 2: never a traceback."""

    def invoke(self, ctx: click.Context):  # type: ignore[override]
        try:
            return super().invoke(ctx)
        except ReporterError as exc:
            click.echo(f"error: {exc}", err=True)
            problems = getattr(exc, "problems", None)
            for where, message in problems or []:
                click.echo(f"  {where}: {message}", err=True)
            if exc.hint:
                click.echo(f"  hint: {exc.hint}", err=True)
            sys.exit(2)


@click.group(cls=ReporterGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="fhir-ae-reporter")
def main() -> None:
    """FHIR-based adverse-event reporter: case file -> FHIR R4 ICSR Bundle -> report and E2B(R3)."""


def write_output(text: str | bytes, out: str | None) -> None:
    """Write to OUT (atomically, so a failed run leaves an existing file as it was) or to stdout. A device or a
    pipe given as OUT is written to as it is (replacing /dev/null with a file would break the machine)."""
    if out is None or out == "-":
        if isinstance(text, bytes):
            sys.stdout.buffer.write(text)
        else:
            click.echo(text, nl=not text.endswith("\n"))
        return
    import os
    import tempfile
    from pathlib import Path

    target = Path(out)
    data = text.encode("utf-8") if isinstance(text, str) else text
    if target.exists() and not target.is_file():  # a device or a pipe (-o /dev/null): written to, never replaced
        with open(target, "wb") as fh:
            fh.write(data)
        return
    target = target.resolve() if target.is_symlink() else target  # a link's file is replaced, not the link
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


# Commands are registered below, one block per capability.


# --- E2B import and acknowledgements (importer) -------------------------------------------------------


@main.command("ack")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option("-o", "--out", default=None, help="Write the result here instead of stdout.")
def ack_command(file: str, fmt: str, out: str | None) -> None:
    """Read an E2B(R3) acknowledgement (MCCI_IN200101UV01): batch AA/AE/AR, per report CA/CR.

    Exit code 0 when the batch and every report were accepted, 1 otherwise."""
    import json

    from reporter.e2b.ack import read_ack

    result = read_ack(file)
    if fmt == "json":
        write_output(json.dumps(result.to_json(), indent=2, ensure_ascii=False) + "\n", out)
    else:
        write_output(result.to_text(), out)
    if not (result.accepted and all(m.accepted for m in result.messages)):
        sys.exit(1)


@main.command("import")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("-o", "--out", "out_dir", default=None,
              help="Directory for the Bundles (one JSON file per report, named by C.1.1). "
              "Bundles already there are used to recognise follow-ups.")
@click.option("--store", "to_store", is_flag=True,
              help="Also save each imported report in the case store (REPORTER_DATABASE_URL): a new case, or "
              "the next version of the stored case with the same C.1.1 (follow-up, amendment, nullification).")
def import_command(file: str, out_dir: str | None, to_store: bool) -> None:
    """Import an E2B(R3) batch: one ICSR Bundle per report. Bad reports are listed, good ones kept.

    Exit code 0 when every report was imported as a valid case, 1 when some were rejected or do not validate
    (the errors are listed), 2 when none could be read."""
    import json
    import re
    from dataclasses import replace
    from pathlib import Path

    from reporter.e2b import followup
    from reporter.e2b.importer import check_validity, import_file
    from reporter.fhir.build import dumps

    result = import_file(file)
    invalid_cases = check_validity(result)
    target = Path(out_dir) if out_dir else None
    earlier = followup.stored_bundles(target) if target else []
    case_store = None
    if to_store:
        from reporter import config
        from reporter.store.repository import CaseStore

        case_store = CaseStore(config.get("database_url") or "")
    if not result.schema_checked:
        click.echo("note: XSD not checked (set REPORTER_E2B_SCHEMA_DIR)", err=True)
    for problem in result.batch_problems:
        click.echo(f"batch: {problem}", err=True)
    for report in result.reports:
        name = report.case_id or f"report-{report.index}"
        if not report.ok:
            click.echo(f"report {report.index} ({name}, line {report.line}): rejected", err=True)
            for problem in report.problems:
                click.echo(f"  {problem}", err=True)
            continue
        relation = followup.relation(report.bundle, earlier)
        refused = followup.refusal(report.bundle, earlier) if target is not None else None
        note = f"; {relation}" if relation else ""
        cover = report.coverage
        figures = (f"{cover.mapped} of {cover.total} value facts through the case model ({cover.percent:.1f}%)"
                   if cover else "")
        click.echo(f"report {report.index} ({name}): imported, {figures}{note}", err=target is None)
        if target is not None and relation is None and case_store is None:  # else the store's word counts
            unknown = followup.of_unknown_case(report.bundle, report.lines.get("C.1.11.1"), str(target))
            if unknown:
                click.echo(f"  warning: {unknown}", err=True)
        for text in report.notes:  # importer: placeholders for what the case model needs
            click.echo(f"  note: {text}", err=True)
        for text in report.deviations:
            click.echo(f"  warning: {text}", err=True)
        for line in cover.lines() if cover else []:  # nothing silent: what the model does not hold
            click.echo(f"  not mapped: {line}", err=True)
        for text in report.invalid:  # what `validate` and `e2b` will refuse, said now
            click.echo(f"  invalid: {text}", err=True)
        if case_store is not None:
            try:
                from reporter.fhir.received import ReceivedFile
                from reporter.store.audit import cli_context
                from reporter.store.repository import Received

                report.relation = relation
                kept = (Received(ReceivedFile(result.content, Path(file).name), report.index, report.report_dict())
                        if result.content is not None else None)
                stored = case_store.save(report.bundle, author=f"reporter import {Path(file).name}",
                                         reason=followup.stored_reason(report.bundle, relation, Path(file).name),
                                         audit=replace(cli_context(), subtype="import",
                                                       detail=f"reporter import {Path(file).name}"),
                                         received=kept)
                click.echo(f"  stored as version {stored.version} ({stored.kind}) of Bundle/{stored.case_id}",
                           err=target is None)
                unknown = followup.of_unknown_case(report.bundle, report.lines.get("C.1.11.1"), "the store")
                if stored.version == 1 and unknown:
                    click.echo(f"  warning: {unknown}", err=True)
            except AlreadyStored as exc:  # the same report read again: nothing to add, nothing wrong
                click.echo(f"  {exc}", err=True)
            except ReporterError as exc:
                problem = _at_line(exc, report)
                click.echo(f"  not stored: {problem}", err=True)
                report.problems.append(problem)
            for text in _held_also(case_store, report.bundle):
                click.echo(f"  note: {text}", err=True)
        if refused is not None:  # the newer (or nullified) Bundle in the folder stays
            number, why = refused
            problem = f"{number} (line {report.lines.get(number, report.line)}): {why}"
            click.echo(f"  not written to {target}: {problem}", err=True)
            report.problems.append(problem)
            continue
        if target is not None:
            safe = re.sub(r"[^A-Za-z0-9._-]", "_", name)
            write_output(dumps(report.bundle), str(target / f"{safe}.json"))
        elif len(result.reports) == 1 and case_store is None:
            write_output(json.dumps(report.bundle, indent=2, ensure_ascii=False) + "\n", None)
        earlier.append((f"report {report.index} of this batch", report.bundle))
    if case_store is not None:
        case_store.dispose()
    if invalid_cases:
        click.echo(f"{invalid_cases} imported case(s) do not validate: `reporter validate` and `reporter e2b` refuse "
                   "them until they are corrected", err=True)
    if not any(r.ok for r in result.reports):
        sys.exit(2)
    if invalid_cases or not all(r.ok and not r.problems for r in result.reports):
        sys.exit(1)


def _held_also(case_store, bundle: dict) -> list[str]:
    """Notes naming the other stored cases of the report's worldwide case (C.1.8.1, C.1.9.1.r.2): another
    sender's report is a case of its own, which the importer should know is there."""
    from reporter.store.worldwide import related_cases

    try:
        related, total = related_cases(case_store, bundle)
    except ReporterError as exc:  # the report itself was imported; only the look-up failed
        return [f"the stored cases of its worldwide case could not be looked up: {exc}"]
    notes = [r.note() for r in related]
    if total > len(related):
        notes.append(f"and {total - len(related)} more stored case(s) of its worldwide case "
                     f"(API: Bundle?case-identifier=<C.1.8.1>)")
    return notes


def _at_line(exc: ReporterError, report: ImportedReport) -> str:
    """A store's refusal of an imported report; an element the file holds (C.1.5) named with its line."""
    line = report.lines.get(exc.location or "")
    return f"{exc.location} (line {line}): {exc.message}" if line else str(exc)


# -- the spine: case file -> Bundle, validation, schema ---------------------------------------------


@main.command("fhir")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("-o", "--output", "out", type=click.Path(dir_okay=False), help="Write the Bundle here (default: stdout).")
@click.option("--message", is_flag=True,
              help="Write a FHIR message Bundle (MessageHeader first, focus on the Composition) instead of a document.")
def fhir_command(file: str, out: str | None, message: bool) -> None:
    """Map a case file (JSON/YAML) to a FHIR R4 ICSR document Bundle (stable JSON), or with --message to the
    ICSR message Bundle of the HL7 ICSR guide."""
    from reporter.casefile import load_case
    from reporter.fhir.build import build_bundle, dumps

    bundle = build_bundle(load_case(file))
    if message:
        from reporter.fhir.message import build_message

        bundle = build_message(bundle)
    write_output(dumps(bundle), out)


@main.command("case")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("-o", "--output", "out", type=click.Path(dir_okay=False),
              help="Write the case file here (default: stdout).")
def case_command(file: str, out: str | None) -> None:
    """Read an ICSR Bundle (FHIR JSON or XML) back into a case file (YAML): the inverse of `reporter fhir`."""
    import yaml

    from reporter.fhir.to_case import bundle_to_case
    from reporter.inputs import load_bundle

    case = bundle_to_case(load_bundle(file))
    data = case.model_dump(mode="json", exclude_none=True, by_alias=True, exclude_defaults=True)
    data = {"$format": case.format, **data}
    write_output(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), out)


@main.command("validate")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True,
              help="text, or json (a FHIR OperationOutcome).")
@click.option("--receiver", type=click.Choice(["ich", "fda", "ema", "all"]), default=None,
              help="Also run what `reporter e2b` runs for this receiver (or all): XSD, ICH conformance, its rules.")
def validate_command(file: str, fmt: str, receiver: str | None) -> None:
    """Validate a case file or an ICSR Bundle: every problem at once. Exit 0 if no errors, 1 if errors, 2 if
    the file cannot be read as a case file or a Bundle (the report says why)."""
    from reporter.validation import validate_file

    bundle, report = validate_file(file, receiver=receiver)
    if fmt == "text" and bundle is not None:  # JSON keeps FHIRPath alone: an OperationOutcome's expression
        from dataclasses import replace

        from reporter.e2b.fhir_place import with_element

        report.issues = [replace(i, location=with_element(bundle, i.location)) for i in report.issues]
    text = report.to_json() if fmt == "json" else report.to_text()
    click.echo(text, nl=False)
    if receiver is None and fmt == "text":
        click.echo(("" if text.endswith("\n") else "\n") + "E2B output not checked: --receiver ich, fda, ema or "
                   "all adds what `reporter e2b` checks (XSD, ICH conformance, the receiver's rules)", err=True)
    unreadable = any(i.code == "INPUT" for i in report.issues)  # not JSON, YAML or FHIR XML: as every command, 2
    sys.exit(0 if report.ok else 2 if unreadable else 1)


@main.command("schema")
def schema_command() -> None:
    """Print the JSON Schema of the case-file format."""
    import json

    from reporter.casefile import json_schema

    click.echo(json.dumps(json_schema(), indent=2, ensure_ascii=False))


@main.command("config")
def config_command() -> None:
    """List the settings (REPORTER_* environment variables), their defaults and current values."""
    from reporter import config

    for env, default, help_text in config.describe():
        current = config.get(env.removeprefix("REPORTER_").lower())
        click.echo(f"{env}\n    {help_text}\n    default: {default or '(none)'}; current: {current or '(none)'}")


# --- e2b: ICSR Bundle(s) -> ICH E2B(R3) batch (issue 3) ---------------------------------------------


@main.command("e2b")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--receiver", type=click.Choice(["ich", "fda", "ema"]), default=None,
              help="Receiver profile (default: the one an imported Bundle names, else ich).")
@click.option("-o", "--output", "out", default=None, help="Write the XML here (default: stdout).")
@click.option("--force", is_flag=True, help="Write the XML even if it fails validation.")
@click.option("--batch-id", default=None, help="N.1.2 batch number (default: a new UUID).")
def e2b_command(files: tuple[str, ...], receiver: str | None, out: str | None, force: bool,
                batch_id: str | None) -> None:
    """Export case files or ICSR Bundles as one E2B(R3) batch (one report per case), validated."""
    from reporter.e2b.export import export_bundles
    from reporter.inputs import load_bundle

    bundles = [load_bundle(path) for path in files]
    result = export_bundles(bundles, receiver_name=receiver, batch_id=batch_id)
    _e2b_input_checks(result.check, files, bundles)
    click.echo(f"{result.cases} case(s) for receiver {result.receiver}", err=True)
    click.echo(result.check.text(), err=True)
    if not result.check.ok and not force:
        click.echo("not written: the batch fails validation (use --force to write it anyway)", err=True)
        sys.exit(1)
    write_output(result.xml, out)
    if not result.check.ok:
        click.echo("written with --force, but the batch fails validation", err=True)
        sys.exit(1)


def _e2b_input_checks(check, files: tuple[str, ...], bundles: list) -> None:
    """Name the case-file field (and line) each E2B problem comes from, for the inputs that are case files;
    and put first the errors `reporter validate` finds in the inputs, which stop the export as they stop
    validation, with its warnings of what a Bundle says that no reader takes (FHIR-NOT-READ: not sent)."""
    from reporter.casefile.parse import load_data, read_text
    from reporter.e2b.readiness import NOT_READ, validation_errors, with_case_paths
    from reporter.validation.casepath import CaseLines

    lines = []
    for path in files:
        text = read_text(path)
        data = load_data(text, path)
        lines.append(None if "resourceType" in data else CaseLines(text, data, path if len(files) > 1 else None))
    said = validation_errors(bundles, lines, files, also=NOT_READ, elements=True)
    check.report.issues = said + with_case_paths(check.report.issues, lines)


# -- render: the human-readable case report (HTML page, CIOMS I PDF) --------------------------------


@main.command("render")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("-o", "--output", "out", type=click.Path(dir_okay=False),
              help="OUT.html (the report page) or OUT.pdf (CIOMS I form); default: HTML to stdout.")
@click.option("--no-validate", is_flag=True, help="Leave out the validation panel.")
def render_command(file: str, out: str | None, no_validate: bool) -> None:
    """Render a case file or an ICSR Bundle as a self-contained HTML page or a CIOMS I PDF."""
    from pathlib import Path

    from reporter.inputs import load_case_and_bundle
    from reporter.render.output import RenderError, bundle_html, bundle_pdf, validation_report

    suffix = Path(out).suffix.lower() if out and out != "-" else ".html"
    if suffix not in (".html", ".htm", ".pdf"):
        raise RenderError(f"unknown output type {suffix or '(none)'}", location=out,
                          hint="name the output file .html or .pdf")
    case, bundle = load_case_and_bundle(file)  # a case file also gives the computed causality section
    checked = validation_report(bundle, file)  # as `validate FILE`; also with --no-validate: exit code, banner
    validation = None if no_validate else checked
    if suffix == ".pdf":
        write_output(bundle_pdf(bundle, validation, case, checked=checked), out)
    else:
        write_output(bundle_html(bundle, validation, case, checked=checked), out)
    errors = [i for i in getattr(checked, "issues", checked or []) if _severity(i) in ("error", "fatal")]
    if errors:
        click.echo(f"written, but NOT VALID: {len(errors)} error(s); `reporter validate {file}` lists them", err=True)
        sys.exit(1)


def _severity(issue) -> str:
    return issue.get("severity") if isinstance(issue, dict) else issue.severity


# --- service: serve, token, db (issue 6) ----------------------------------------------------------------

def _store(database_url: str | None):
    from reporter import config
    from reporter.store import CaseStore

    return CaseStore(database_url or config.get("database_url") or "sqlite:///reporter.sqlite3")


_db_option = click.option("--database-url", default=None, metavar="URL",
                          help="SQLAlchemy URL of the case store (default: REPORTER_DATABASE_URL, else a SQLite file).")


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8080, show_default=True, type=click.IntRange(0, 65535), help="Port.")
@_db_option
def serve(host: str, port: int, database_url: str | None) -> None:
    """Serve the FHIR API and pages for local use (production: gunicorn wsgi:app)."""
    import logging

    from werkzeug.serving import make_server

    from reporter.web import create_app

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # its access log prints query strings
    logging.getLogger("alembic").setLevel(logging.WARNING)
    overrides = {"DATABASE_URL": database_url} if database_url else {}
    app = create_app(overrides)
    server = make_server(host, port, app, threaded=True)
    click.echo(f"serving on http://{host}:{server.server_port}/fhir (Ctrl-C to stop)", err=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


@main.group()
def token() -> None:
    """API bearer tokens."""


@token.command("create")
@click.option("--scope", "scopes", multiple=True, required=True,
              type=click.Choice(["read", "write", "submit"]),
              help="Scope to grant (repeat for several): read, write, submit (E2B export for a regulator).")
@click.option("--label", default=None, help="Who or what the token is for (stored, not secret).")
@click.option("--days", type=click.IntRange(0, 3650), default=None,
              help="Days until the token expires (default REPORTER_TOKEN_DAYS, 90; 0 = never).")
@_db_option
def token_create(scopes: tuple[str, ...], label: str | None, days: int | None, database_url: str | None) -> None:
    """Create a token; it is printed once, as the last line."""
    from reporter.store.tokens import create_token

    store = _store(database_url)
    try:
        click.echo(f"scopes: {' '.join(sorted(set(scopes)))}", err=True)
        click.echo(create_token(store, list(scopes), label, days=days))
    finally:
        store.dispose()


@token.command("revoke")
@click.argument("token_id")
@_db_option
def token_revoke(token_id: str, database_url: str | None) -> None:
    """Revoke a token by its id (the hex part after rpt_)."""
    from reporter.errors import NotFound
    from reporter.store.tokens import revoke_token

    store = _store(database_url)
    try:
        if not revoke_token(store, token_id):
            raise NotFound(f"no token {token_id}")
        click.echo(f"revoked {token_id}")
    finally:
        store.dispose()


@main.group()
def db() -> None:
    """Case store database."""


@db.command("upgrade")
@_db_option
def db_upgrade(database_url: str | None) -> None:
    """Apply the schema migrations (also done automatically when serving)."""
    from reporter.store import migrate

    store = _store(database_url)
    try:
        click.echo(f"database at revision {migrate.current_revision(store.engine)}")
    finally:
        store.dispose()


@main.group()
def user() -> None:
    """Accounts for the clinician pages."""


@user.command("create")
@click.argument("username")
@click.option("--role", type=click.Choice(["reporter", "reviewer", "admin"]), default=None,
              help="reporter (drafts cases), reviewer (also approves and submits, reviews the audit trail), admin "
                   "(manages users). New accounts default to reporter; an existing account keeps its role unless "
                   "given.")
@_db_option
def user_create(username: str, role: str | None, database_url: str | None) -> None:
    """Create USERNAME, or set a new password for it (ending its sessions). The password is read from standard
    input when that is not a terminal (one line), else prompted for twice. It needs at least 10 characters."""
    import re

    from reporter.errors import InputError
    from reporter.store.tokens import set_password

    if not re.fullmatch(r"[A-Za-z0-9._@-]{1,128}", username):
        raise InputError(f"{username!r} is not a user name", location="USERNAME",
                         hint="use 1-128 letters, digits and . _ @ -")
    if sys.stdin.isatty():
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True, err=True)
    else:
        password = sys.stdin.readline().rstrip("\r\n")
    store = _store(database_url)
    try:
        set_password(store, username, password, role=role)
        click.echo(f"user {username} saved", err=True)
    finally:
        store.dispose()


@user.command("revoke")
@click.argument("username")
@_db_option
def user_revoke(username: str, database_url: str | None) -> None:
    """End every page session of USERNAME now."""
    from reporter.store.accounts import end_sessions

    store = _store(database_url)
    try:
        click.echo(f"{username}: {end_sessions(store, username)} session(s) ended")
    finally:
        store.dispose()


@user.command("unlock")
@click.argument("username")
@_db_option
def user_unlock(username: str, database_url: str | None) -> None:
    """Lift the login lock that failed logins put on USERNAME."""
    from reporter.store.accounts import unlock

    store = _store(database_url)
    try:
        unlock(store, username)
        click.echo(f"{username}: login lock lifted")
    finally:
        store.dispose()


# --- end service ------------------------------------------------------------------------------------------


# --- audit trail (issue 17) --------------------------------------------------------------------------------

@main.group()
def audit() -> None:
    """The audit trail: verify its hash chain, export it."""


@audit.command("verify")
@click.option("--expect-rows", type=click.IntRange(0), default=None,
              help="Row count recorded earlier (from a previous verify): rows missing at the end are reported.")
@click.option("--expect-head", default=None, help="Head hash recorded earlier with --expect-rows.")
@_db_option
def audit_verify(expect_rows: int | None, expect_head: str | None, database_url: str | None) -> None:
    """Check every audit row against its hash and its predecessor. Exit code 1 when a row was edited,
    deleted or inserted out of order. Prints the row count and head hash to record for the next check."""
    from reporter.store.audit import verify

    store = _store(database_url)
    try:
        with store.read_session() as session:
            result = verify(session, expect_rows=expect_rows, expect_head=expect_head)
    finally:
        store.dispose()
    for problem in result.problems:
        click.echo(f"TAMPERED: {problem}", err=True)
    click.echo(f"{result.rows} audit rows; head {result.head or '(empty)'}; "
               f"{'chain intact' if result.ok else f'{len(result.problems)} problem(s)'}")
    sys.exit(0 if result.ok else 1)


def _instant(value: str | None, name: str):
    if not value:
        return None
    from datetime import UTC, datetime

    from reporter.errors import InputError

    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        raise InputError(f"{value!r} is not a date or date-time (ISO 8601)", location=name) from exc
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


@audit.command("export")
@click.option("--case", "case_id", default=None, help="Only rows about this case (Bundle id).")
@click.option("--user", "agent", default=None,
              help="Only rows by this agent: user:NAME, token:ID, cli:NAME, or a bare NAME for user:/cli:.")
@click.option("--since", default=None, help="From this date or date-time (ISO 8601, UTC unless a zone is given).")
@click.option("--until", default=None, help="Before this date or date-time.")
@click.option("--format", "fmt", type=click.Choice(["csv", "fhir"]), default="csv", show_default=True,
              help="CSV, or a FHIR R4 Bundle of AuditEvent resources.")
@click.option("-o", "--output", "out", default=None, help="Write here instead of stdout.")
@_db_option
def audit_export(case_id: str | None, agent: str | None, since: str | None, until: str | None, fmt: str,
                 out: str | None, database_url: str | None) -> None:
    """Export audit rows, oldest first, filtered by case, user and period."""
    import json

    from reporter.store.audit import AuditFilter, fhir_bundle, select_events, to_csv

    f = AuditFilter(case_id=case_id, agent=agent, since=_instant(since, "--since"), until=_instant(until, "--until"))
    store = _store(database_url)
    try:
        with store.read_session() as session:
            rows = select_events(session, f)
            text = "".join(to_csv(rows)) if fmt == "csv" else json.dumps(fhir_bundle(rows), indent=1) + "\n"
    finally:
        store.dispose()
    write_output(text, out)


# -- the main job on the bundled demo cases --------------------------------------------------------


@main.command("demo")
@click.option("-o", "--output", "out", type=click.Path(file_okay=False), default="demo-output", show_default=True,
              help="Folder for the outputs.")
@click.option("--no-store", is_flag=True, help="Do not store the cases in the case store.")
def demo_command(out: str, no_store: bool) -> None:
    """Run the main job on the three bundled demo cases: FHIR Bundle, validation report, HTML report,
    CIOMS I PDF and E2B(R3) batches for ich, fda and ema; store the cases (SQLite by default)."""
    from pathlib import Path

    from reporter.demo import run_demo

    result = run_demo(Path(out), say=click.echo, store=not no_store)
    click.echo(f"wrote {len(result.written)} files to {out}/")
    sys.exit(1 if result.problems else 0)


# --- EHR: pull a draft case over FHIR, confirm it, push a case (issue 14) --------------------------------


def _ehr_auth_options(func):
    options = [
        click.option("--server", required=True, metavar="URL", help="FHIR R4 base URL of the server."),
        click.option("--token", envvar="REPORTER_EHR_TOKEN", default=None, metavar="T",
                     help="Bearer token (or the REPORTER_EHR_TOKEN environment variable: keeps it out of `ps`)."),
        click.option("--client-id", default=None, help="SMART backend services client id (with --key)."),
        click.option("--key", "key_file", type=click.Path(exists=True, dir_okay=False), default=None,
                     help="PEM private key (RSA -> RS384, EC P-384 -> ES384) that signs the client assertion."),
        click.option("--kid", default=None, help="Key id (JWT header kid) the server knows the public key by."),
        click.option("--scope", default=None, help="SMART scopes to ask for (default: system/*.read for pull, "
                     "system/*.read system/*.write for push)."),
        click.option("--token-url", default=None, metavar="URL",
                     help="Token endpoint (default: from the server's .well-known/smart-configuration)."),
        click.option("--quiet", is_flag=True, help="No progress lines."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _ehr_client(server: str, token: str | None, client_id: str | None, key_file: str | None, kid: str | None,
                scope: str, token_url: str | None, quiet: bool):
    from pathlib import Path

    from reporter.ehr.client import BearerToken, FhirClient, SmartBackendAuth, settings_from_config
    from reporter.errors import InputError

    auth = None
    if token and (client_id or key_file):
        raise InputError("give either --token or --client-id with --key, not both", location="--token")
    if token:
        auth = BearerToken(token)
    elif client_id or key_file:
        if not (client_id and key_file):
            raise InputError("SMART backend services needs both --client-id and --key", location="--client-id")
        auth = SmartBackendAuth(client_id, Path(key_file).read_bytes(), scope=scope, kid=kid, token_url=token_url)
    progress = None if quiet else (lambda text: click.echo(f"  {text}", err=True))
    return FhirClient(server, auth, settings_from_config(), progress=progress)


@main.command("pull")
@_ehr_auth_options
@click.option("--patient", "patient_id", default=None, metavar="ID", help="The patient's resource id on the server.")
@click.option("--identifier", default=None, metavar="SYS|VAL", help="Or the patient's identifier (system|value).")
@click.option("--suspect", "suspects", multiple=True, required=True, metavar="NAME",
              help="Suspect drug name (repeat for several); matching drugs are pre-marked suspect.")
@click.option("--reaction-date", required=True, type=click.DateTime(formats=["%Y-%m-%d"]),
              help="Date the reaction began (YYYY-MM-DD); windows are counted from it.")
@click.option("--reaction", default=None, metavar="TEXT", help="The reaction as reported (e.g. 'hepatitis').")
@click.option("--case-id", default=None, help="C.1.1 for the draft (default: DRAFT- and a digest).")
@click.option("--drugs-before", type=click.IntRange(0, 3650), default=None,
              help="Days before the reaction to look for drugs (default 90).")
@click.option("--drugs-after", type=click.IntRange(0, 365), default=None, help="Days after it (default 7).")
@click.option("--labs-before", type=click.IntRange(0, 3650), default=None, help="Days of labs before (default 30).")
@click.option("--labs-after", type=click.IntRange(0, 365), default=None, help="Days of labs after (default 30).")
@click.option("-o", "--output", "out", default=None, help="Write the draft (YAML) here (default: stdout).")
@click.option("--bundle", "bundle_out", default=None, type=click.Path(dir_okay=False),
              help="Also write the draft's FHIR Bundle (with Provenance) here, e.g. to render it.")
def pull_command(server: str, token: str | None, client_id: str | None, key_file: str | None, kid: str | None,
                 scope: str | None, token_url: str | None, quiet: bool, patient_id: str | None,
                 identifier: str | None, suspects: tuple[str, ...], reaction_date, reaction: str | None,
                 case_id: str | None, drugs_before: int | None, drugs_after: int | None, labs_before: int | None,
                 labs_after: int | None, out: str | None, bundle_out: str | None) -> None:
    """Pull a DRAFT case from a hospital's FHIR R4 server: patient, drugs, labs, history, stays.

    Nothing is written unless the whole pull succeeds. The draft lists what a person must still add; exit code 0
    when nothing is missing, 1 when the draft needs completing (the usual case), 2 on errors."""
    import yaml

    from reporter import config
    from reporter.ehr.pull import PullRequest, draft_bundle, pull
    from reporter.errors import InputError
    from reporter.fhir.build import dumps

    ident = None
    if identifier:
        if "|" not in identifier:
            raise InputError("write the identifier as SYSTEM|VALUE", location="--identifier")
        system, value = identifier.split("|", 1)
        ident = (system, value)
    if bool(patient_id) == bool(ident):
        raise InputError("name the patient by --patient ID or by --identifier SYS|VAL (one of them)",
                         location="--patient")
    request = PullRequest(reaction_date=reaction_date.date(), suspects=list(suspects), patient_id=patient_id,
                          identifier=ident, reaction=reaction, case_id=case_id,
                          identity=config.get("ehr_patient_identity") or "initials", drugs_before=drugs_before,
                          drugs_after=drugs_after, labs_before=labs_before, labs_after=labs_after)
    with _ehr_client(server, token, client_id, key_file, kid, scope or "system/*.read", token_url, quiet) as client:
        draft = pull(client, request)
    text = yaml.safe_dump(draft.to_data(), sort_keys=False, allow_unicode=True, width=110)
    bundle_text = dumps(draft_bundle(draft)) if bundle_out else None
    write_output(text, out)
    if bundle_text is not None:
        write_output(bundle_text, bundle_out)
    case = draft.case
    click.echo(f"draft {case.case_id}: {len(case.drugs)} drug(s) "
               f"({sum(d.role == 'suspect' for d in case.drugs)} suspect), {len(case.tests)} test result(s), "
               f"{len(case.patient.medical_history) if case.patient else 0} history item(s), "
               f"{len(draft.sources)} source(s)", err=True)
    for hint in draft.hints:
        click.echo(f"hint: {hint}", err=True)
    if draft.still_needed:
        click.echo("still needed before the case can be confirmed:", err=True)
        for need in draft.still_needed:
            hint = f" (hint: {need['hint']})" if need.get("hint") else ""
            click.echo(f"  {need['path']}: {need['message']}{hint}", err=True)
        sys.exit(1)


@main.command("confirm")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("-o", "--output", "out", required=True, help="Write the confirmed case file (YAML) here.")
@click.option("--force", is_flag=True, help="Write the case file even if validation still finds errors.")
def confirm_command(file: str, out: str, force: bool) -> None:
    """Confirm a reviewed draft (from `reporter pull`): its case becomes a case file, once it validates."""
    import yaml

    from reporter.ehr.pull import case_data, confirm_draft

    case, report = confirm_draft(file)
    click.echo(report.to_text(), nl=False, err=True)
    if not report.ok and not force:
        click.echo("not confirmed: the case still has errors (complete it, or use --force)", err=True)
        sys.exit(1)
    write_output(yaml.safe_dump(case_data(case), sort_keys=False, allow_unicode=True, width=110), out)
    click.echo(f"confirmed {case.case_id} -> {out}", err=True)


@main.command("push")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@_ehr_auth_options
@click.option("--message", is_flag=True, help="Send a FHIR message to $process-message instead of the document.")
@click.option("--force", is_flag=True, help="Send even if the case fails validation.")
def push_command(file: str, server: str, token: str | None, client_id: str | None, key_file: str | None,
                 kid: str | None, scope: str | None, token_url: str | None, quiet: bool, message: bool,
                 force: bool) -> None:
    """Send a case (case file or ICSR Bundle) to a FHIR server: the document to /Bundle, or with --message a
    message Bundle to /$process-message; the stored Bundle is read back."""
    from reporter.casefile.parse import load_data, read_text
    from reporter.ehr.pull import DRAFT_FORMAT
    from reporter.ehr.push import push_document, push_message, refuse_draft
    from reporter.errors import InputError
    from reporter.inputs import load_bundle
    from reporter.validation import validate_bundle

    if load_data(read_text(file), file).get("$format") == DRAFT_FORMAT:
        raise InputError("this is a draft pulled from an EHR", location=file,
                         hint="review it and run `reporter confirm`; push the confirmed case file")
    bundle = load_bundle(file)
    refuse_draft(bundle, file)
    report = validate_bundle(bundle, subject=file)
    if not report.ok:
        click.echo(report.to_text(), nl=False, err=True)
        if not force:
            click.echo("not sent: the case fails validation (use --force to send it anyway)", err=True)
            sys.exit(1)
    with _ehr_client(server, token, client_id, key_file, kid, scope or "system/*.read system/*.write", token_url,
                     quiet) as client:
        if message:
            from reporter.fhir.message import build_message

            result = push_message(client, build_message(bundle))
        else:
            result = push_document(client, bundle)
    click.echo(f"sent as a {result.kind}: {result.location}")


# --- assess: causality methods with their explanation (issue 11) -----------------------------------


@main.command("assess")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--method", type=click.Choice(["naranjo", "who-umc", "rucam", "all"]), default="all",
              show_default=True, help="all: Naranjo and WHO-UMC, and RUCAM for liver reactions.")
@click.option("--answers", "answers_file", type=click.Path(dir_okay=False), default=None,
              help="YAML/JSON answers (they override what is pre-filled from the case).")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
def assess_command(file: str, method: str, answers_file: str | None, fmt: str) -> None:
    """Assess causality of a case file: answers, points, score, category and explanation per drug-reaction.

    Exit code 1 when the case states a Naranjo/WHO-UMC/RUCAM result that is not on the method's scale."""
    import json

    from reporter.assess.run import assess_case, load_answers, stated_problems, text_report
    from reporter.casefile import load_case

    case = load_case(file)
    answers = load_answers(answers_file) if answers_file else None
    results = assess_case(case, None if method == "all" else [method], answers)
    problems = stated_problems(case)
    if fmt == "json":
        click.echo(json.dumps({"case_id": case.case_id, "pairs": [r.to_json() for r in results],
                               "problems": [{"location": w, "message": m} for w, m in problems]},
                              indent=2, ensure_ascii=False))
    else:
        click.echo(text_report(results), nl=False)
    for where, message in problems:
        click.echo(f"error: {where}: {message}", err=True)
    sys.exit(1 if problems else 0)


# -- batch: many files or the whole store on all cores (issue 16) --------------------------------------

_jobs_option = click.option("-j", "--jobs", type=click.IntRange(1, None), default=None,
                            help="Worker processes (default: every core).")


@main.group("batch")
def batch_group() -> None:
    """Validate, export or import many files, or re-validate the store, on all cores with a progress bar."""


def _progress(items, results, label: str):
    """Results as they come, with a progress bar on stderr."""
    with click.progressbar(results, length=len(items), label=label, file=sys.stderr) as bar:
        yield from bar


@batch_group.command("validate")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
@_jobs_option
@click.option("-q", "--quiet", is_flag=True, help="Print only the files with errors and the totals.")
def batch_validate(files: tuple[str, ...], jobs: int | None, quiet: bool) -> None:
    """Validate case files or Bundles (layers 1-4). Exit 1 when any has errors."""
    from reporter import batch

    batch.warm()
    failed = 0
    for check in _progress(files, batch.run(batch.validate_one, list(files), jobs), "validating"):
        failed += check.errors > 0
        if check.errors or not quiet:
            click.echo(f"{check.path}: {check.errors} error(s), {check.warnings} warning(s)")
    click.echo(f"{len(files)} file(s), {failed} with errors", err=True)
    sys.exit(1 if failed else 0)


@batch_group.command("e2b")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("-o", "--out", "out_dir", required=True, type=click.Path(file_okay=False),
              help="Folder for the XML files (one E2B batch per case, named after the input).")
@click.option("--receiver", type=click.Choice(["ich", "fda", "ema"]), default=None,
              help="Receiver profile (default: the one an imported Bundle names, else ich).")
@click.option("--force", is_flag=True, help="Write the XML even if it fails validation.")
@_jobs_option
def batch_e2b(files: tuple[str, ...], out_dir: str, receiver: str | None, force: bool, jobs: int | None) -> None:
    """Export each case file or Bundle as its own validated E2B(R3) batch. Exit 1 when any fails."""
    from pathlib import Path

    from reporter import batch

    Path(out_dir).mkdir(parents=True, exist_ok=True)
    batch.warm(e2b=True)
    work = [batch.ExportJob(f, out_dir, receiver, force) for f in files]
    failed = 0
    for done in _progress(work, batch.run(batch.export_one, work, jobs), "exporting"):
        if not done.ok:
            failed += 1
            click.echo(f"{done.path}: {'written anyway' if done.written else 'not written'}", err=True)
            click.echo(done.text, err=True)
        elif done.not_read:  # written, but without what the Bundle says that no reader takes
            click.echo(f"{done.path}: written; {done.not_read} fact(s) of the Bundle not read, so not sent", err=True)
            click.echo(done.text, err=True)
    click.echo(f"{len(files) - failed} of {len(files)} case(s) exported to {out_dir}/", err=True)
    sys.exit(1 if failed else 0)


@batch_group.command("import")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("-o", "--out", "out_dir", default=None, type=click.Path(file_okay=False),
              help="Folder for the Bundles (one JSON file per report, named by C.1.1).")
@click.option("--store", "to_store", is_flag=True,
              help="Also save each report in the case store (in input order, as `reporter import --store`).")
@_jobs_option
def batch_import(files: tuple[str, ...], out_dir: str | None, to_store: bool, jobs: int | None) -> None:
    """Import E2B(R3) files: parsing, XSD and mapping on all cores; writing in input order.
    Exit 0 when every report was imported, 1 when some were rejected."""
    import re
    from pathlib import Path

    from reporter import batch
    from reporter.e2b import followup
    from reporter.fhir.build import dumps

    target = Path(out_dir) if out_dir else None
    if target is not None:
        target.mkdir(parents=True, exist_ok=True)
    case_store = None
    if to_store:
        from reporter import config
        from reporter.store.repository import CaseStore

        case_store = CaseStore(config.get("database_url") or "")
    imported = rejected = invalid = 0
    batch.warm(e2b=True)
    try:
        for path, result in zip(files, _progress(files, batch.run(batch.import_one, list(files), jobs),
                                                 "importing"), strict=True):
            for problem in result.batch_problems:
                click.echo(f"{path}: batch: {problem}", err=True)
            for report in result.reports:
                name = report.case_id or f"{Path(path).stem}-report-{report.index}"
                if not report.ok:
                    rejected += 1
                    click.echo(f"{path}: report {report.index} ({name}): rejected", err=True)
                    for problem in report.problems:
                        click.echo(f"  {problem}", err=True)
                    continue
                imported += 1
                for text in report.invalid:  # checked in the worker: what `validate` and `e2b` will refuse
                    click.echo(f"{path}: report {report.index} ({name}): invalid: {text}", err=True)
                invalid += bool(report.invalid)
                if case_store is not None:
                    try:
                        from dataclasses import replace

                        from reporter.store.audit import cli_context

                        case_store.save(report.bundle, author=f"reporter batch import {Path(path).name}",
                                        reason=followup.stored_reason(report.bundle, None, Path(path).name),
                                        audit=replace(cli_context(), subtype="import",
                                                      detail=f"reporter batch import {Path(path).name}"))
                    except AlreadyStored as exc:  # read before: nothing to add, nothing wrong
                        click.echo(f"{path}: report {report.index} ({name}): {exc}", err=True)
                    except ReporterError as exc:
                        rejected += 1
                        click.echo(f"{path}: report {report.index} ({name}): not stored: {_at_line(exc, report)}",
                                   err=True)
                    for text in _held_also(case_store, report.bundle):
                        click.echo(f"{path}: report {report.index} ({name}): note: {text}", err=True)
                if target is not None:
                    out = target / f"{re.sub(r'[^A-Za-z0-9._-]', '_', name)}.json"
                    refused = followup.refusal(report.bundle, followup.bundle_at(out))
                    if refused is not None:  # the newer (or nullified) Bundle of this C.1.1 stays
                        rejected += 1
                        number, why = refused
                        click.echo(f"{path}: report {report.index} ({name}): not written: {number} (line "
                                   f"{report.lines.get(number, report.line)}): {why}", err=True)
                        continue
                    out.write_text(dumps(report.bundle), encoding="utf-8")
    finally:
        if case_store is not None:
            case_store.dispose()
    click.echo(f"{imported} report(s) imported ({invalid} not valid), {rejected} rejected, from {len(files)} file(s)",
               err=True)
    sys.exit(1 if rejected or invalid or not imported else 0)


@batch_group.command("revalidate")
@_db_option
@_jobs_option
@click.option("--chunk", default=50, show_default=True, type=click.IntRange(1, None),
              help="Cases per work item (each worker reads its own rows).")
def batch_revalidate(database_url: str | None, jobs: int | None, chunk: int) -> None:
    """Validate the current version of every stored case again (after a rule or table change).
    Exit 1 when any case has errors."""
    from reporter import batch, config

    url = database_url or config.get("database_url") or "sqlite:///reporter.sqlite3"
    _store(url).dispose()  # migrates the store if needed, once, before the workers read it
    ids = batch.stored_case_ids(url)
    batch.warm()
    work = [(url, part) for part in batch.chunks(ids, chunk)]
    failing = 0
    results = _progress(work, batch.run(batch.revalidate_chunk, work, jobs), "re-validating")
    for check in batch.flatten(results):
        if check.errors:
            failing += 1
            click.echo(f"Bundle/{check.case_id} version {check.version}: {check.errors} error(s)")
            for line in check.first:
                click.echo(f"  {line}")
    click.echo(f"{len(ids)} stored case(s), {failing} with errors", err=True)
    sys.exit(1 if failing else 0)


# --- line listings (issue 12) ------------------------------------------------------------------------


@main.command("listing-template")
@click.option("-o", "--out", default=None, help="Write the column map here (default: stdout).")
@click.option("--variant", default=None, metavar="NAME",
              help="A shipped map for a public data source instead of the default: vaers (VAERS CSV files).")
def listing_template_command(out: str | None, variant: str | None) -> None:
    """Write the default column map for `reporter import-listing` (edit a copy, pass it with --map)."""
    from reporter.casefile.listing import default_map_path, shipped_map

    path = default_map_path() if variant is None else shipped_map(variant)
    if path is None:
        raise click.UsageError(f"no shipped column map {variant!r} (known: vaers)")
    write_output(path.read_text(encoding="utf-8"), out)


@main.command("import-listing")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--map", "map_file", default=None, type=click.Path(dir_okay=False),
              help="Column map (YAML, or a shipped map's name: vaers; default: the one `reporter listing-template` "
                   "writes).")
@click.option("--join", "joins", multiple=True, type=click.Path(dir_okay=False),
              help="A file whose rows are joined to FILE's by the map's joins.key column (VAERSVAX.csv, "
                   "VAERSSYMPTOMS.csv); repeatable.")
@click.option("--citation", default=None, help="Literature reference of the whole listing (C.4.r.1).")
@click.option("--received", default=None, metavar="DATE",
              help="Date the listing was received (C.1.4/C.1.5) when no column gives it (default: today).")
@click.option("-o", "--out", "out_dir", default=None, type=click.Path(file_okay=False),
              help="Directory for one case file (YAML) per good row.")
@click.option("--store", "to_store", is_flag=True, help="Save each good row's case in the case store.")
@_jobs_option
@_db_option
def import_listing_command(file: str, map_file: str | None, joins: tuple[str, ...], citation: str | None,
                           received: str | None, out_dir: str | None, to_store: bool, jobs: int | None,
                           database_url: str | None) -> None:
    """Import a line listing (CSV, XLSX or a .docx table; a row per patient): one case per row, through the model
    and validation. Problems are listed by row and column; good rows are kept. The cases are built and
    validated on a process pool (-j; default every core), with a progress bar when there are many.

    Exit code 0 when every row was imported as a valid case, 1 when some were rejected or a kept case has
    validation errors (each printed with its row), 2 when none could be read."""
    import re
    from collections import Counter
    from pathlib import Path

    import yaml

    from reporter.casefile.listing import import_listing, load_map, store_row

    def bar(cases, results):
        return _progress(cases, results, "building cases") if len(cases) > 50 else results

    result = import_listing(file, load_map(map_file), citation=citation, received=received, jobs=jobs,
                            progress=bar, joins=list(joins))
    click.echo(f"{file}: {len(result.rows)} row(s); columns read: "
               + ", ".join(f"{h} -> {f}" for f, h in result.columns.items()), err=True)
    if result.ignored:
        click.echo(f"  ignored columns (no field in the map): {', '.join(result.ignored)}", err=True)
    for note in result.notes:
        click.echo(f"  note: {note}", err=True)
    case_store = _store(database_url) if to_store else None
    good = [r for r in result.rows if r.ok and r.casefile is not None]
    already = 0
    try:
        for row in result.rows:
            for where, message in row.problems:
                click.echo(f"{where}: {message}", err=True)
        rows = good
        bar = click.progressbar(rows, label="storing", file=sys.stderr) if case_store and len(rows) > 50 else None
        for row in (bar.__enter__() if bar else rows):
            if out_dir:
                safe = re.sub(r"[^A-Za-z0-9._-]", "_", row.case_id or f"row-{row.row}")
                write_output(yaml.safe_dump(row.casefile, sort_keys=False, allow_unicode=True),
                             str(Path(out_dir) / f"{safe}.yaml"))
            if case_store is not None:
                try:
                    store_row(case_store, row, listing=Path(file).name,
                              reason=f"line listing {Path(file).name}, row {row.row}")
                except AlreadyStored as exc:  # the listing read again: nothing to add, nothing wrong
                    already += 1
                    click.echo(f"row {row.row}: already stored: {exc}", err=True)
                except ReporterError as exc:
                    row.problems.append((f"row {row.row}", f"not stored: {exc}"))
                    click.echo(f"row {row.row}: not stored: {exc}", err=True)
        if bar:
            bar.__exit__(None, None, None)
    finally:
        if case_store is not None:
            case_store.dispose()
    for row in good:  # a kept case that is not a valid ICSR: said with its row, so that it can be fixed
        for where, message in row.warnings:
            if message.startswith(("error:", "fatal:")):
                click.echo(f"{where}: {message}", err=True)
    counts = Counter(message for row in good for message in {m for _where, m in row.warnings})  # by case
    places: dict[str, list[str]] = {}
    for row in good:
        for where, message in row.warnings:
            places.setdefault(message, []).append(where)
    for message, n in counts.most_common():
        click.echo(f"  {n} case(s): {message} [{_cells(places[message])}]", err=True)
    kept = sum(1 for r in result.rows if r.ok)
    invalid = sum(1 for r in good if r.errors)
    stored = " and stored" if to_store else ""
    stored += f" ({already} already stored, unchanged)" if already else ""
    click.echo(f"{kept} of {len(result.rows)} row(s) imported{stored} as {len(good)} case(s); "
               f"{len(result.rows) - kept} rejected"
               + (f"; {invalid} case(s) with validation errors (kept, not valid ICSRs until fixed)" if invalid
                  else ""), err=True)
    if kept == 0:
        sys.exit(2)
    if kept < len(result.rows) or invalid:
        sys.exit(1)


def _cells(places: list[str], shown: int = 8) -> str:
    """Where a finding of several rows is, said once per column: "rows 2, 5, 9 of column 'Onset'" (the first
    `shown` rows of each), so that a warning counted over the listing can still be found in it."""
    import re

    by_column: dict[str, list[str]] = {}
    for where in places:
        m = re.match(r"row (\d+)(?:, column (.+))?", where)
        column = (m.group(2) or "") if m else where
        by_column.setdefault(column, []).append(m.group(1) if m else "")
    parts = []
    for column, rows in by_column.items():
        rows = list(dict.fromkeys(r for r in rows if r))
        if not rows:  # not located by row
            parts.append(column)
            continue
        listed = ", ".join(rows[:shown]) + (f", ... ({len(rows)} rows)" if len(rows) > shown else "")
        parts.append(f"row{'s' if len(rows) > 1 else ''} {listed}" + (f" of column {column}" if column else ""))
    return "; ".join(parts)


# --- tabulations and line listings of stored cases (issue 12) ---------------------------------------------


def _write_table(header, rows, fmt: str, out: str | None, *, title: str, notes: list[str], data=None) -> None:
    from reporter.analysis import output

    if fmt == "xlsx":
        if out is None:
            raise click.UsageError("--format xlsx needs -o FILE.xlsx")
        write_output(output.as_xlsx(header, rows, notes, title=title), out)
    elif fmt == "csv":
        write_output(output.as_csv(header, rows), out)
    elif fmt == "json":
        write_output(output.as_json(data if data is not None else {"header": header, "rows": rows}), out)
    elif fmt == "html":
        write_output(output.as_html(header, rows, title, notes), out)
    else:
        write_output(output.as_text(header, rows, notes), out)


@main.command("tabulate")
@click.option("--by", "by", multiple=True, metavar="FIELD",
              help="Group by this field; repeat for a cross-tabulation (percentages are of the last field).")
@click.option("--where", "where", multiple=True, metavar="FIELD=VALUE",
              help="Only cases with this value (repeat a field for alternatives; 'unknown' for the unknowns).")
@click.option("--bands", default=None, metavar="BANDS", help="Age bands in years for age_band, e.g. '<10,10-17,18+'.")
@click.option("--format", "fmt", type=click.Choice(["text", "csv", "xlsx", "json"]), default="text", show_default=True)
@click.option("-o", "--out", default=None, help="Write here instead of stdout (needed for xlsx).")
@click.option("--stats", is_flag=True, help="Also latency (per row) and age: median, IQR and range.")
@click.option("--fields", "list_fields", is_flag=True, help="List the fields and exit.")
@_db_option
def tabulate_command(by: tuple[str, ...], where: tuple[str, ...], bands: str | None, fmt: str, out: str | None,
                     stats: bool, list_fields: bool, database_url: str | None) -> None:
    """Count stored cases by fields (age group or band, sex, indication, drug, route, dosing, PT, SOC,
    seriousness criteria, outcome, survival, action taken, de/rechallenge, causality, country, report type,
    year), with percentages, 95% Wilson intervals, unknowns counted and latency median/IQR/range."""
    from reporter.analysis.projection import settings
    from reporter.analysis.tabulate import summary_notes, table, tabulate

    if list_fields:
        for name, spec in settings()["fields"].items():
            click.echo(f"{name:28} {spec['label']}")
        return
    case_store = _store(database_url)
    try:
        result = tabulate(case_store, list(by), list(where), bands=bands, stats=stats)
    finally:
        case_store.dispose()
    header, rows = table(result, stats=stats)
    _write_table(header, rows, fmt, out, title="Tabulation", notes=summary_notes(result), data=result.as_dict())


@main.command("line-listing")
@click.option("--where", "where", multiple=True, metavar="FIELD=VALUE", help="Only these cases (as in tabulate).")
@click.option("--format", "fmt", type=click.Choice(["text", "csv", "xlsx", "html", "json"]), default="csv",
              show_default=True)
@click.option("-o", "--out", default=None, help="Write here instead of stdout (needed for xlsx).")
@_db_option
def line_listing_command(where: tuple[str, ...], fmt: str, out: str | None, database_url: str | None) -> None:
    """The line listing of stored cases: one row per case, reaction and suspect drug (case id, age/sex, drug
    with dose/route/dates, reaction and PT/SOC, onset/latency, outcome, seriousness, causality)."""
    from reporter.analysis.linelisting import HEADER, line_listing

    case_store = _store(database_url)
    try:
        rows = line_listing(case_store, list(where))
    finally:
        case_store.dispose()
    _write_table(HEADER, rows, fmt, out, title="Line listing", notes=[f"{len(rows)} row(s)"],
                 data=[dict(zip(HEADER, r, strict=True)) for r in rows])


@main.command("disproportionality")
@click.option("--drug", default=None, help="Only this suspect drug (substance name as stored, any case).")
@click.option("--event", default=None, help="Only this event (PT name, or SOC name with --level soc).")
@click.option("--level", type=click.Choice(["pt", "soc"]), default="pt", show_default=True,
              help="Events by MedDRA PT (the term as reported without a release) or by primary SOC.")
@click.option("--min-cases", default=3, show_default=True, type=click.IntRange(1),
              help="Pairs with fewer cases are left out (and never flagged).")
@click.option("--format", "fmt", type=click.Choice(["text", "csv", "xlsx", "json"]), default="text",
              show_default=True)
@click.option("-o", "--out", default=None, help="Write here instead of stdout (needed for xlsx).")
@_db_option
def disproportionality_command(drug: str | None, event: str | None, level: str, min_cases: int, fmt: str,
                               out: str | None, database_url: str | None) -> None:
    """PRR (with chi-square), ROR (95% CI) and IC (95% credibility interval) for drug-event pairs of the
    stored cases, with the 2x2 table of each pair and the signal rules it meets."""
    from reporter.analysis.disproportionality import HEADER, pairs, table_rows

    case_store = _store(database_url)
    try:
        total, found = pairs(case_store, level=level, drug=drug, event=event, min_cases=min_cases)
    finally:
        case_store.dispose()
    rows = table_rows(found, min_cases)
    notes = [f"{total} case(s); pairs with at least {min_cases} case(s); signals: PRR >= 2 with chi-square >= 4 "
             "(Evans 2001), ROR 95% CI above 1, IC025 above 0"]
    _write_table(HEADER, rows, fmt, out, title="Disproportionality", notes=notes,
                 data={"total_cases": total, "min_cases": min_cases, "level": level,
                       "pairs": [dict(zip(HEADER, r, strict=True)) for r in rows]})


@main.command("meddra")
@click.argument("query", nargs=-1, required=True)
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1, 500))
def meddra_command(query: tuple[str, ...], limit: int) -> None:
    """Look up MedDRA terms in the release REPORTER_MEDDRA_DIR names, by code or by words: each term with its
    PT, primary SOC and every SOC (HLT and HLGT per path)."""
    from reporter.meddra import hierarchy

    release = hierarchy()
    if release is None:
        raise click.UsageError("set REPORTER_MEDDRA_DIR to a MedDRA ASCII release (the project ships none)")
    found = release.search(" ".join(query), limit=limit)
    click.echo(f"MedDRA {release.version or '(version not stated)'}: {len(found)} term(s)")
    for term in found:
        resolved = release.resolve(term.code)
        current = "" if term.current else " (not current)"
        click.echo(f"{term.code}  {term.name}  [{term.level}{current}]")
        if resolved is None:
            continue
        click.echo(f"    PT {resolved.pt.code} {resolved.pt.name}")
        for path in resolved.paths:
            flag = "primary" if path.primary else "secondary"
            click.echo(f"    {flag} SOC {path.soc.code} {path.soc.name} (HLGT {path.hlgt.name}; HLT {path.hlt.name})")
    if not found:
        sys.exit(1)


@db.command("reproject")
@_db_option
def db_reproject(database_url: str | None) -> None:
    """Rebuild the tabulation projection from the stored cases (after setting or changing the MedDRA release)."""
    case_store = _store(database_url)
    try:
        click.echo(f"{case_store.reproject()} row(s) written")
    finally:
        case_store.dispose()


if __name__ == "__main__":
    main()


# --- SMART backend-services clients (issue 13) ----------------------------------------------------------------

@main.group("smart-client")
def smart_client() -> None:
    """Clients allowed to get access tokens with a signed JWT (SMART Backend Services, POST /auth/token)."""


@smart_client.command("add")
@click.argument("client_id")
@click.option("--jwks", "jwks_file", required=True, type=click.Path(exists=True, dir_okay=False),
              help="The client's public keys as a JSON Web Key Set (RSA, or EC P-384).")
@click.option("--scope", "scopes", multiple=True, required=True, type=click.Choice(["read", "write", "submit"]),
              help="An API scope the client may be granted (repeat).")
@click.option("--label", default=None, help="Who the client is.")
@_db_option
def smart_client_add(client_id: str, jwks_file: str, scopes: tuple[str, ...], label: str | None,
                     database_url: str | None) -> None:
    """Register a client with its public keys and the scopes it may be granted."""
    import json
    from pathlib import Path

    from reporter.errors import InputError
    from reporter.store.smart_clients import register_client

    try:
        jwks = json.loads(Path(jwks_file).read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise InputError(f"{jwks_file} is not JSON ({exc})", location=jwks_file) from exc
    store = _store(database_url)
    try:
        register_client(store, client_id, jwks, list(scopes), label)
        click.echo(f"registered {client_id} (scopes {' '.join(sorted(set(scopes)))})")
    finally:
        store.dispose()


@smart_client.command("revoke")
@click.argument("client_id")
@_db_option
def smart_client_revoke(client_id: str, database_url: str | None) -> None:
    """Revoke a client: its assertions are refused from now on (tokens already issued expire on their own)."""
    from reporter.errors import NotFound
    from reporter.store.smart_clients import revoke_client

    store = _store(database_url)
    try:
        if not revoke_client(store, client_id):
            raise NotFound(f"no client {client_id}")
        click.echo(f"revoked {client_id}")
    finally:
        store.dispose()


@smart_client.command("list")
@_db_option
def smart_client_list(database_url: str | None) -> None:
    """The registered clients: id, scopes, revoked, label."""
    from reporter.store.smart_clients import list_clients

    store = _store(database_url)
    try:
        for c in list_clients(store):
            click.echo(f"{c.id}\t{' '.join(sorted(c.scopes))}\t{'revoked' if c.revoked else 'active'}\t{c.label or ''}")
    finally:
        store.dispose()
