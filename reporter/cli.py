"""The `reporter` command. Thin: parse arguments, call the library, print, choose the exit code.

Exit codes: 0 success, 1 the input has errors (report printed), 2 usage or unreadable input.
"""

from __future__ import annotations

import sys

import click

from reporter.errors import ReporterError


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
    """Write to OUT (atomically, so a failed run leaves an existing file as it was) or to stdout."""
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
    target.parent.mkdir(parents=True, exist_ok=True)
    data = text.encode("utf-8") if isinstance(text, str) else text
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

    Exit code 0 when every report was imported, 1 when some were rejected, 2 when none could be read."""
    import json
    import re
    from dataclasses import replace
    from pathlib import Path

    from reporter.e2b import followup
    from reporter.e2b.importer import import_file
    from reporter.fhir.build import dumps

    result = import_file(file)
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
        note = f"; {relation}" if relation else ""
        click.echo(f"report {report.index} ({name}): imported, {report.passthrough} passthrough item(s){note}",
                   err=target is None)
        for text in report.notes:  # importer: placeholders for what the case model needs
            click.echo(f"  note: {text}", err=True)
        if case_store is not None:
            try:
                from reporter.store.audit import cli_context

                stored = case_store.save(report.bundle, author=f"reporter import {Path(file).name}",
                                         reason=relation or f"E2B report received in {Path(file).name}",
                                         audit=replace(cli_context(), subtype="import",
                                                       detail=f"reporter import {Path(file).name}"))
                click.echo(f"  stored as version {stored.version} ({stored.kind}) of Bundle/{stored.case_id}",
                           err=target is None)
            except ReporterError as exc:
                click.echo(f"  not stored: {exc}", err=True)
                report.problems.append(str(exc))
        if target is not None:
            safe = re.sub(r"[^A-Za-z0-9._-]", "_", name)
            write_output(dumps(report.bundle), str(target / f"{safe}.json"))
        elif len(result.reports) == 1 and case_store is None:
            write_output(json.dumps(report.bundle, indent=2, ensure_ascii=False) + "\n", None)
        earlier.append((f"report {report.index} of this batch", report.bundle))
    if case_store is not None:
        case_store.dispose()
    if not any(r.ok for r in result.reports):
        sys.exit(2)
    if not all(r.ok and not r.problems for r in result.reports):
        sys.exit(1)


# -- the spine: case file -> Bundle, validation, schema ---------------------------------------------


@main.command("fhir")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("-o", "--output", "out", type=click.Path(dir_okay=False), help="Write the Bundle here (default: stdout).")
def fhir_command(file: str, out: str | None) -> None:
    """Map a case file (JSON/YAML) to a FHIR R4 ICSR document Bundle (stable JSON)."""
    from reporter.casefile import load_case
    from reporter.fhir.build import build_bundle, dumps

    write_output(dumps(build_bundle(load_case(file))), out)


@main.command("validate")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True,
              help="text, or json (a FHIR OperationOutcome).")
def validate_command(file: str, fmt: str) -> None:
    """Validate a case file or an ICSR Bundle: every problem at once. Exit 0 if no errors, 1 if errors."""
    from reporter.validation import validate_file

    _, report = validate_file(file)
    click.echo(report.to_json() if fmt == "json" else report.to_text(), nl=False)
    sys.exit(0 if report.ok else 1)


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
    click.echo(f"{result.cases} case(s) for receiver {result.receiver}", err=True)
    click.echo(result.check.text(), err=True)
    if not result.check.ok and not force:
        click.echo("not written: the batch fails validation (use --force to write it anyway)", err=True)
        sys.exit(1)
    write_output(result.xml, out)


# -- render: the human-readable case report (HTML page, CIOMS I PDF) --------------------------------


@main.command("render")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("-o", "--output", "out", type=click.Path(dir_okay=False),
              help="OUT.html (the report page) or OUT.pdf (CIOMS I form); default: HTML to stdout.")
@click.option("--no-validate", is_flag=True, help="Leave out the validation panel.")
def render_command(file: str, out: str | None, no_validate: bool) -> None:
    """Render a case file or an ICSR Bundle as a self-contained HTML page or a CIOMS I PDF."""
    from pathlib import Path

    from reporter.inputs import load_bundle
    from reporter.render.output import RenderError, bundle_html, bundle_pdf, validation_report

    suffix = Path(out).suffix.lower() if out and out != "-" else ".html"
    if suffix not in (".html", ".htm", ".pdf"):
        raise RenderError(f"unknown output type {suffix or '(none)'}", location=out,
                          hint="name the output file .html or .pdf")
    bundle = load_bundle(file)
    validation = None if no_validate else validation_report(bundle)
    if suffix == ".pdf":
        write_output(bundle_pdf(bundle, validation), out)
    else:
        write_output(bundle_html(bundle, validation), out)


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
              help="reporter (drafts cases), reviewer (also submits, reviews the audit trail), admin (manages "
                   "users). New accounts default to reporter; an existing account keeps its role unless given.")
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


if __name__ == "__main__":
    main()
