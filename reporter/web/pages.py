"""Clinician pages (blueprint `ui`): log in, list and search cases, read a case's report, download it,
enter and edit cases through the case form, and compare versions.

Server-rendered HTML from templates/ui/ (autoescaped), styles from static files: the pages work offline and
under a Content-Security-Policy that allows nothing but this site's styles and images. The case form alone
also runs this site's form.js (adding rows in the page, pasting into the lab grid, look-ups); it works without.
Every page that shows case data writes an AuditEvent (type "user").
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from flask import Blueprint, Response, current_app, g, redirect, render_template, request, url_for
from markupsafe import Markup
from werkzeug.datastructures import MultiDict

from reporter.errors import AuthError, InputError, NotFound, ReporterError, StoreConflict, VersionConflict
from reporter.limits import has_forbidden
from reporter.paths import templates_dir
from reporter.store import CaseStore, StoredVersion
from reporter.store.caselist import CaseFilter, list_cases
from reporter.web import audit as web_audit
from reporter.web import casediff, caseform, downloads, plain
from reporter.web.formargs import date_arg
from reporter.web.roles import can, require
from reporter.web.session import (
    check_csrf,
    current_user,
    log_in,
    log_out,
    safe_next,
)

bp = Blueprint("ui", __name__, template_folder=str(templates_dir() / "ui"),
               static_folder=str(templates_dir() / "ui" / "static"), static_url_path="/static")

PAGE_CSP = ("default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
            "frame-ancestors 'none'; base-uri 'none'")
_ID_RE = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")
_FORM_META = ("csrf_token", "_action", "_reason", "_base_version", "_kind")
DOWNLOADS = (("e2b-ich", "E2B(R3) XML, ICH"), ("e2b-fda", "E2B(R3) XML, FDA"), ("e2b-ema", "E2B(R3) XML, EMA"),
             ("pdf", "CIOMS I form (PDF)"), ("html", "Report (HTML)"), ("json", "FHIR Bundle (JSON)"))


def store() -> CaseStore:
    return current_app.extensions["reporter.store"]


def _audit(subtype: str, action: str, entity: str | None = None) -> None:
    g.ui_audit = {"subtype": subtype, "action": action, "entity": entity}


@bp.before_request
def _csrf() -> None:
    check_csrf()


@bp.after_request
def _after(response: Response) -> Response:
    if response.mimetype == "text/html" and "Content-Security-Policy" not in response.headers:
        response.headers["Content-Security-Policy"] = PAGE_CSP
    info = g.pop("ui_audit", None)
    if not web_audit.record(store(), response, info, agent=f"user:{g.get('user') or 'anonymous'}", kind="user"):
        return error_page(503, "the audit trail is unavailable; nothing was shown", "try again shortly")
    return response


@bp.app_template_filter("anchor")
def _anchor(path: str) -> str:
    return caseform.html_id(path)


@bp.app_template_filter("field_label")
def _field_label(path: str) -> str:
    return casediff.field_label(path)


@bp.app_template_filter("plain_words")
def _plain_words(issue) -> str:
    """An export problem in words (the page's reader is no E2B specialist); its element number is shown apart."""
    return plain.words(issue)


@bp.app_template_filter("e2b_reference")
def _e2b_reference(issue) -> str:
    return plain.reference(issue)


@bp.app_template_filter("reference_standard")
def _reference_standard(issue) -> str:
    return plain.standard(issue)


@bp.app_template_filter("plain_note")
def _plain_note(text: str) -> tuple[str, str | None]:
    """An import note in words, and the E2B place it names (shown apart)."""
    return plain.note(text)


@bp.app_template_filter("e2b_name")
def _e2b_name(number: str) -> str:
    return plain.element_name(number)


@bp.app_template_filter("field_value")
def _field_value(value: str, field: str) -> str:
    """A changed value as a person reads it: a choice as the form's drop-down says it ('not-recovered' ->
    'not recovered / ongoing'), a unit as the form's unit field shows it, a country field's code with its name
    ('PT' -> 'Portugal (PT)'). The case model names every country field `country` or `country_...` (address,
    reaction, authorisation, registration, where a drug was obtained)."""
    from reporter.render.countries import country_with_code

    last = field.rsplit(".", 1)[-1].split("[", 1)[0] if field else ""
    if last == "country" or last.startswith("country_"):
        return country_with_code(value) or value
    if last == "unit":  # as the form's unit field shows it (Cel -> °C, {total} -> once)
        from reporter.lookup import shown_unit

        return shown_unit(value)
    return caseform.choice_label(field, value) if field else value


@bp.app_template_filter("item_label")
def _item_label(list_path: str) -> str:
    """'drugs[0].dosages' -> 'Dosage': what one row of the list is called (the Add button names it)."""
    return caseform.item_label(list_path.rsplit(".", 1)[-1].split("[", 1)[0])


@bp.app_template_filter("generic")
def _generic(path: str) -> str:
    return caseform.generic(path)


@bp.app_template_filter("age")
def _age(age) -> str:
    """An age as the report writes it (64 years, 3 weeks, 60s), not as UCUM codes (64 a, 6 {decade})."""
    from reporter.render.units import age_text

    return age_text(age.value, age.unit)


@bp.app_context_processor
def _globals() -> dict:
    return {"user": current_user() if request else None, "can": can}


# --- login ------------------------------------------------------------------------------------------------

@bp.route("/login", methods=["GET", "POST"])
def login():
    """Log in, throttled per account name and per client address (reporter.store.accounts)."""
    from reporter.store import accounts

    error, status = None, 200
    name = ""
    if request.method == "POST":
        name = request.form.get("username", "").strip()[:128]
        password = request.form.get("password", "")
        if has_forbidden(name):  # no account has such a name (and PostgreSQL text cannot hold NUL)
            name = ""
        address = request.remote_addr
        context = web_audit.context(f"user:{name or 'anonymous'}", "user", "login", 303)
        locked = accounts.lockout(store(), name, address) if name else None
        if locked is not None:  # refused before the password is even looked at
            error, status = locked.message(), 429
            g.user = name or None
            _audit("login", "E", f"user:{name}")
        elif name and password and len(password) <= 1024 and accounts.check_password(store(), name, password):
            accounts.clear_failures(store(), name)
            log_in(name, accounts.start_session(store(), name, address, audit=context))
            return redirect(safe_next(request.args.get("next")), 303)
        else:
            locked = accounts.record_failure(store(), name or "(none)", address,
                                             audit=web_audit.context(f"user:{name or 'anonymous'}", "user",
                                                                     "login", 401))
            error = locked.message() if locked else "Unknown user name or wrong password."
            status = 429 if locked else 401
    return Response(render_template("login.html", error=error, username=name), status)


@bp.post("/logout")
def logout():
    g.user = current_user()
    if g.user:
        _audit("logout", "E", f"user:{g.user}")
    log_out()
    return redirect(url_for("ui.login"), 303)


@bp.get("/")
def home():
    return redirect(url_for("ui.cases"))


# --- the case list ----------------------------------------------------------------------------------------

@bp.get("/cases")
@require("view")
def cases():
    from reporter.render.view import case_view

    errors: dict[str, str] = {}
    page_text = request.args.get("page", "1")
    f = CaseFilter(text=request.args.get("q", "").strip()[:200],
                   seriousness=request.args.get("seriousness", ""),
                   reaction=request.args.get("reaction", "").strip()[:200],
                   drug=request.args.get("drug", "").strip()[:200],
                   onset_from=date_arg("onset_from", errors), onset_to=date_arg("onset_to", errors, end=True),
                   updated_from=date_arg("updated_from", errors),
                   updated_to=date_arg("updated_to", errors, end=True),
                   worldwide=request.args.get("worldwide", "").strip()[:200],
                   page=int(page_text) if page_text.isdecimal() and 0 < int(page_text) < 100000 else 1)
    if f.seriousness not in ("", "serious", "non-serious"):
        errors["seriousness"] = "choose serious or non-serious"
        f.seriousness = ""
    _audit("search-type", "E", "Bundle")
    rows, total = list_cases(store(), f) if not errors else ([], 0)
    items = []
    for row in rows:
        try:
            view = case_view(row.bundle)
        except Exception:  # a damaged Bundle still gets a row
            view = None
        items.append((row, view))
    pages = max(1, (total + f.per_page - 1) // f.per_page)
    args = {k: v for k, v in request.args.items() if k != "page" and v}
    return render_template("cases.html", items=items, total=total, filter=f, errors=errors, page=f.page,
                           pages=pages, args=args)


# --- one case ---------------------------------------------------------------------------------------------

def _case_id(case_id: str) -> str:
    if not _ID_RE.match(case_id):
        raise NotFound(f"no case {case_id!r}", location="url")
    return case_id


def _version_arg() -> int | None:
    text = request.args.get("version")
    if text is None or text == "":
        return None
    if not text.isdecimal() or int(text) < 1:
        raise InputError(f"{text!r} is not a version number", location="version", hint="versions are 1, 2, ...")
    return int(text)


def report_fragment(v: StoredVersion) -> Markup:
    """The body of the rendered report (its styles come from the shared report.css)."""
    from reporter.render.output import bundle_html, validation_report

    bundle = downloads.served_bundle(v)
    page = bundle_html(bundle, _placed(bundle, validation_report(bundle), v.casefile), downloads.stored_case(v),
                       embedded=True)
    body = page.split("<body>", 1)[-1].rsplit("</body>", 1)[0]
    return Markup(body)  # our own report template rendered it, autoescaped


def _placed(bundle: dict, report, casefile: dict | None):
    """The validation issues with the case field each comes from, as the form names it ('Reaction 1 › MedDRA ›
    Version'): the report's panel said only the FHIRPath (Bundle.entry[7].resource.ofType(AdverseEvent)...)."""
    from reporter.validation.casepath import CaseLines

    issues = getattr(report, "issues", None)
    if not issues:
        return report
    try:
        if casefile is None:
            from reporter.fhir.to_case import bundle_to_case

            casefile = bundle_to_case(bundle).model_dump(mode="json", by_alias=True, exclude_none=True)
        lines = CaseLines("", casefile)
    except ReporterError:  # a Bundle the case reader refuses: the panel keeps its FHIRPaths
        return report
    out = []
    for i in issues:
        where = lines.relabel(bundle, i.location)
        field = casediff.field_label(where) if where and where != i.location else None
        out.append({"severity": i.severity, "code": i.code, "location": i.location, "message": i.message,
                    "hint": i.hint, "field": field})
    return out


@bp.get("/cases/<case_id>")
@require("view")
def case(case_id: str):
    case_id = _case_id(case_id)
    version = _version_arg()
    _audit("read", "R", f"Bundle/{case_id}" + (f"/_history/{version}" if version else ""))
    v = store().read(case_id, version)
    current = store().read(case_id) if version else v
    from reporter.store.approvals import approval_of

    approval = approval_of(store(), v.case_id, v.version)
    offered = [d for d in DOWNLOADS if (can("submit") and approval) or not d[0].startswith("e2b-")]
    return render_template("case.html", v=v, current=current, report=report_fragment(v), downloads=offered,
                           editable=can("draft"), saved=request.args.get("saved"), readiness=_readiness(v),
                           imported=store().import_report(v.case_id, v.version),
                           approval=approval, approved=request.args.get("approved"), related=_other_reports(v))


def _other_reports(v: StoredVersion) -> dict:
    """Other senders' stored reports of this version's worldwide case (same C.1.8.1, or listing each other's ids):
    the case list linked them, the case page did not, so a reader of one report missed the others."""
    from reporter.store.worldwide import related_cases, worldwide_id

    cases, total = related_cases(store(), v.bundle)
    worldwide = worldwide_id(v.bundle)
    shared = any(r.same_worldwide for r in cases)
    return {"cases": cases, "more": total - len(cases), "worldwide": worldwide if shared else None}


def _readiness(v: StoredVersion) -> list[dict]:
    """Per receiver: ready, or its problems, each with the form field it belongs to (for a link)."""
    from reporter.e2b.readiness import by_receiver

    return [{"receiver": r.receiver, "ready": r.ready,
             "problems": [{"issue": p.issue, "path": p.case_path,
                           "field": caseform.html_id(p.case_path) if p.case_path else None} for p in r.problems]}
            for r in by_receiver(downloads.served_bundle(v))]


@bp.get("/static/report.css")
def report_css():
    css = (templates_dir() / "report.css").read_text(encoding="utf-8")
    return Response(css, content_type="text/css; charset=utf-8", headers={"Cache-Control": "max-age=3600"})


@bp.get("/cases/<case_id>/download/<kind>")
@require("view")
def download(case_id: str, kind: str):
    case_id = _case_id(case_id)
    version = _version_arg()
    _audit(f"{kind}-export"[:32], "R", f"Bundle/{case_id}" + (f"/_history/{version}" if version else ""))
    if kind.startswith("e2b-") and not can("submit"):
        raise AuthError("E2B(R3) files are for submission: your role may not download them", status=403,
                        hint="ask a reviewer, or an administrator for the reviewer role")
    if kind not in {k for k, _ in DOWNLOADS} | {"received"}:  # before the case's state: no such download at all
        raise NotFound(f"no download {kind!r}", location="url",
                       hint=f"choose from: {', '.join(k for k, _ in DOWNLOADS)}")
    v = store().read(case_id, version)
    if kind.startswith("e2b-"):
        from reporter.store.approvals import require_approval

        require_approval(store(), v)  # submission is of approved versions only
        try:
            d = downloads.e2b(v, kind[4:], current_app.config.get("E2B_SCHEMA_DIR"))
        except downloads.E2BRefused as refused:
            return Response(render_template("refused.html", v=v, receiver=kind[4:], report=refused.report), 422)
    elif kind == "pdf":
        d = downloads.pdf(v, store())
    elif kind == "html":
        d = downloads.html(v, store())
    elif kind == "json":
        d = downloads.bundle_json(v)
    elif kind == "received":  # the E2B file this version was imported from, exactly as received
        imported = store().import_report(v.case_id, v.version)
        if imported is None:
            raise NotFound(f"version {v.version} was not imported from a received file", location="url")
        message = store().received_message(imported["message_id"])
        name = re.sub(r"[^A-Za-z0-9._-]", "_", message.filename or f"{message.id}.xml")
        return Response(message.content, 200, headers={"Content-Disposition": f'attachment; filename="{name}"'},
                        content_type=message.content_type)
    headers = {"Content-Disposition": f'attachment; filename="{d.filename}"', **d.headers}
    return Response(d.body, 200, headers=headers, content_type=d.media_type)


# --- history and differences ------------------------------------------------------------------------------

@bp.get("/cases/<case_id>/history")
@require("view")
def history(case_id: str):
    case_id = _case_id(case_id)
    _audit("history-instance", "R", f"Bundle/{case_id}")
    versions = store().history(case_id)
    numbers = [v.version for v in versions]
    new = int(request.args["to"]) if request.args.get("to", "").isdecimal() else numbers[0]
    old = int(request.args["from"]) if request.args.get("from", "").isdecimal() else max(new - 1, 1)
    changes, basis = None, None
    imported = {n for n in numbers if store().import_report(case_id, n) is not None}
    if new in numbers and old in numbers and old != new:
        by_number = {v.version: v for v in versions}
        basis, changes = casediff.version_diff(by_number[old], by_number[new], imported)
    elif (request.args.get("from") or request.args.get("to")) and (new not in numbers or old not in numbers):
        raise NotFound(f"Bundle/{case_id} has versions {min(numbers)} to {max(numbers)}", location="from/to")
    from reporter.store.approvals import approvals_of

    return render_template("history.html", case_id=case_id, versions=versions, current=versions[0],
                           old=old, new=new, changes=changes, basis=basis, approvals=approvals_of(store(), case_id),
                           imported=imported)


# --- the case form ----------------------------------------------------------------------------------------

def _form_values(form: MultiDict) -> MultiDict:
    """The case fields of a posted form; text areas' CRLF line ends (as browsers send them) read as LF, so an
    unchanged narrative stays unchanged."""
    return MultiDict([(k, v.replace("\r\n", "\n")) for k, v in form.items(multi=True) if k not in _FORM_META])


from reporter.web import lookup_page  # noqa: E402  (its route hangs on this blueprint; the form uses its lists)

FORM_CSP = PAGE_CSP.replace("default-src 'none';", "default-src 'none'; script-src 'self'; connect-src 'self';")


def _render_form(values: MultiDict, *, v: StoredVersion | None, errors: list[tuple[str, str]] | None = None,
                 issues=None, message: str | None = None, status: int = 200, note: str | None = None,
                 reason: str = "", kind: str = "follow-up", warnings: list[tuple[str, str]] | None = None):
    """The case form, with the problems at their fields (errors stop the save; warnings are what a receiver
    still needs, from the readiness check). The form page alone runs the page script (form.js)."""
    by_path: dict[str, list[str]] = {}
    for path, text in errors or []:
        by_path.setdefault(path, []).append(text)
    tree = caseform.form_tree(caseform.Values(values), by_path)
    caseform.mark_warnings(tree, warnings or [])
    errors, names = caseform.problem_list(tree, errors or [])
    response = Response(render_template(
        "form.html", tree=tree, sections=caseform.sections(tree), v=v, errors=errors, issues=issues or [],
        names=names,
        message=message, note=note, reason=reason, kind=kind, kind_errors=by_path.get("_kind", []),
        reason_errors=by_path.get("_reason", []),
        datalists=lookup_page.datalists(values), meddra_note=lookup_page.meddra_note(),
        templates=caseform.row_templates(),
        e2b_detail=request.args.get("e2b") == "1", warnings=warnings or []), status)
    response.headers["Content-Security-Policy"] = FORM_CSP
    return response


@bp.route("/cases/new", methods=["GET", "POST"])
@require("draft")
def new_case():
    if request.method == "GET":
        return _render_form(caseform.new_case_values(), v=None)
    return _submit(None)


@bp.route("/cases/<case_id>/edit", methods=["GET", "POST"])
@require("draft")
def edit_case(case_id: str):
    case_id = _case_id(case_id)
    v = store().read(case_id)
    if request.method == "POST":
        return _submit(v)
    _audit("read", "R", f"Bundle/{case_id}/_history/{v.version}")
    values, note = _values_for_edit(v)
    return _render_form(values, v=v, note=note, warnings=_readiness_marks(downloads.served_bundle(v)))


def _values_for_edit(v: StoredVersion) -> tuple[MultiDict, str | None]:
    if v.casefile is not None:
        values = caseform.flatten(v.casefile)
        values.pop("report.created", None)  # a new version gets its own creation time (C.1.2) unless typed
        return values, None
    from reporter.fhir.to_case import bundle_to_case

    bundle = downloads.served_bundle(v)
    case = bundle_to_case(bundle)  # the Bundle read back directly, no E2B detour
    values = caseform.flatten(case)
    values.pop("report.created", None)
    note = ("This version was stored as a FHIR Bundle (API or E2B import), not from the form. The form shows "
            "every fact of the case model read back from it; saving stores a new version written from the form.")
    unread = _not_read(bundle)
    if unread:
        note += ("\nNot read from the Bundle, so not in the form and not in the version you save:\n"
                 + "\n".join(f"• {text}" for text in unread))
    return values, note


def _not_read(bundle: dict) -> list[str]:
    """What the Bundle says that the case model does not hold (FHIR-NOT-READ: gender 'other', AdverseEvent.detected
    ...): the form cannot show it, and a version saved from the form no longer says it."""
    from reporter.e2b.readiness import NOT_READ, validation_errors

    return [i.message for i in validation_errors([bundle], also=NOT_READ) if i.code in NOT_READ]


def _submit(v: StoredVersion | None):
    form = request.form
    action = form.get("_action", "save")
    reason = form.get("_reason", "").strip()[:2000]
    kind = form.get("_kind", "follow-up") if v is not None else "initial"
    if action != "save":
        values = caseform.apply_row_action(_form_values(form), action)
        return _render_form(values, v=v, reason=reason, kind=kind)
    values = _form_values(form)
    _audit("create" if v is None else "update", "C" if v is None else "U",
           "Bundle" if v is None else f"Bundle/{v.case_id}")
    case, bundle, problems, issues, warnings = _check_form(values, v, kind, reason)
    if case is None or bundle is None or problems or issues:
        count = len(problems) + len(issues)
        return _render_form(values, v=v, errors=problems, issues=issues, status=422, reason=reason, kind=kind,
                            warnings=warnings,
                            message=f"Not saved: {count} problem(s), each shown at its field"
                                    + (" (and listed below)" if issues else "") + ".")
    casefile = case.model_dump(mode="json", by_alias=True, exclude_none=True)
    author = f"user:{g.user}"
    try:
        if v is None:
            saved = store().create(bundle, author=author, reason=reason or "entered in the case form",
                                   casefile=casefile, audit=web_audit.context(author, "user", "create", 303))
        else:
            base = form.get("_base_version", "")
            saved = store().update(v.case_id, bundle, author=author, casefile=casefile,
                                   if_match=int(base) if base.isdecimal() else v.version,
                                   reason=reason,
                                   audit=web_audit.context(author, "user", "update", 303))
    except VersionConflict:
        if v is None:
            raise
        return _render_stale(values, v, form.get("_base_version", ""), reason=reason, kind=kind)
    except (StoreConflict, InputError) as exc:
        where = "case_id" if (exc.location or "").startswith(("Composition.identifier", "Bundle.entry[0]")) else None
        errors = [(where, exc.message)] if where else []
        text = exc.message + (f" ({exc.hint})" if exc.hint else "")
        return _render_form(values, v=v, errors=errors, status=409, reason=reason, kind=kind,
                            message=f"Not saved: {text}")
    g.ui_audit.update(entity=f"Bundle/{saved.case_id}/_history/{saved.version}", stored=True)
    return redirect(url_for("ui.case", case_id=saved.case_id, saved=saved.version), 303)


def _render_stale(values: MultiDict, v: StoredVersion, base: str, *, reason: str, kind: str):
    """A save made on an older version than the current one (another tab or person saved meanwhile): the
    user's entries stay, each field the other save changed is marked with its change, and the form is now
    based on the current version, so saving again stores the entries knowingly over that change."""
    current = store().read(v.case_id)
    older = store().read(v.case_id, int(base)) if base.isdecimal() and int(base) < current.version else None
    changes = casediff.version_diff(older, current)[1] if older is not None else []
    by = f"{current.author}, {current.recorded:%Y-%m-%d %H:%M} UTC"
    marks = [(c.path, f"version {current.version} ({by}) changed this: {c.old or '(none)'} → {c.new or '(none)'}; "
                      "saving again keeps what the form shows here") for c in changes]
    message = (f"Not saved: version {current.version} of this case was saved ({by}) while you were editing "
               f"version {older.version if older else base}. Your entries are kept below; "
               f"{len(changes)} field(s) that version changed are marked. Check them, then save again.")
    return _render_form(values, v=current, status=409, reason=reason, kind=kind, warnings=marks, message=message)


def _check_form(values: MultiDict, v: StoredVersion | None, kind: str, reason: str):
    """Every problem of a submitted form in one round: the model's and the code checks', the ICSR criteria
    and FHIR validation of the Bundle the case becomes (at the field each comes from; the few that come
    from no field are returned as issues), a missing reason; and, when the save fails, what each receiver
    would still need (warnings at the fields). Returns (case, bundle, problems, issues, warnings)."""
    from reporter.fhir.build import build_bundle
    from reporter.validation import validate_bundle

    parsed = caseform.parse_form(values)
    problems = parsed.problems + caseform.version_kind_problems(kind, reason, v is not None)
    if v is not None and not reason and not any(path == "_kind" for path, _ in problems):
        problems.append(("_reason", "give a reason for this version (kept in the version history)"))
    case, bundle, issues, warnings = parsed.case, None, [], []
    if case is None:
        problems += _checks_of_the_rest(values, parsed)
        return case, bundle, problems, issues, warnings
    caseform.apply_version_kind(case, kind, reason)
    if case.report.created is None:  # C.1.2: this version's creation, to the second (E2B wants seconds)
        case.report.created = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    try:
        bundle = build_bundle(case)
    except ReporterError as exc:
        problems.append((exc.location or "", exc.message))
        return case, None, problems, issues, warnings
    placed, issues = caseform.bundle_problems(parsed, bundle, validate_bundle(bundle).errors)
    problems += placed
    if problems or issues:
        warnings = [(parsed.form_path(path), text) for path, text in _readiness_marks(bundle)]
    return case, bundle, problems, issues, warnings


def _checks_of_the_rest(values: MultiDict, parsed: caseform.Parsed) -> list[tuple[str, str]]:
    """When the model refuses some values (a malformed date, a word for a number), the Bundle checks (ICSR
    criteria, FHIR, plausibility) still run on the form without them, so that their problems come in the
    same round. Only problems at other fields are kept (an emptied field would report itself missing)."""
    from reporter.fhir.build import build_bundle
    from reporter.validation import validate_bundle

    refused = [path for path, _ in parsed.problems]
    again, left_out = caseform.without_refused(values, refused)
    if again is None or again.case is None:
        return []
    if again.case.report.created is None:
        again.case.report.created = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    try:
        bundle = build_bundle(again.case)
    except ReporterError:
        return []
    placed, _ = caseform.bundle_problems(again, bundle, validate_bundle(bundle).errors)
    own = [(path, text) for path, text in again.problems if path not in refused]  # e.g. a drug key not in drugs
    return [(path, text) for path, text in own + placed if not any(_related(path, r) for r in left_out)]


def _related(path: str, other: str) -> bool:
    """One path is the other, or holds it (a problem there may come from what was left out)."""
    return path == other or other.startswith((path + ".", path + "[")) or path.startswith((other + ".", other + "["))


def _readiness_marks(bundle: dict) -> list[tuple[str, str]]:
    """(case path, "needed for ich, fda: message") for each readiness problem that names a case field."""
    from reporter.e2b.readiness import by_receiver

    receivers: dict[tuple[str, str], list[str]] = {}
    for line in by_receiver(bundle):
        for p in line.problems:
            if p.case_path:
                receivers.setdefault((p.case_path, plain.words(p.issue)), []).append(line.receiver.upper())
    return [(path, f"needed for {', '.join(names)}: {text}") for (path, text), names in receivers.items()]


# --- start a case from the EHR (issue 14) -----------------------------------------------------------------

@bp.route("/cases/from-ehr", methods=["GET", "POST"])
@require("draft")
def case_from_ehr():
    """Pull a draft into the case form; the form posts back here and saving it stores the case."""
    from reporter.web import ehr_page

    if request.method == "GET":
        return ehr_page.pull_form({})
    if request.form.get("_pull") != "1":
        return _submit(None)
    draft, failure = ehr_page.run_pull(request.form)
    if failure is not None:
        return failure
    values = caseform.new_case_values()  # an empty row where the EHR had nothing (e.g. the primary source)
    for key, items in caseform.flatten(draft.case).lists():
        values.setlist(key, items)
    return _render_form(values, v=None, note=ehr_page.draft_note(draft),
                        reason=f"pulled from the EHR ({draft.server}, {draft.patient}); reviewed and confirmed")


# --- tabulations of stored cases (issue 12) ---------------------------------------------------------------

@bp.get("/tabulate")
@require("view")
def tabulate_page():
    """Filters, the table and a bar chart; ?format=csv|xlsx downloads the same table."""
    from reporter.analysis import output
    from reporter.analysis.chart import bar_chart
    from reporter.analysis.projection import settings
    from reporter.analysis.tabulate import summary_notes, table, tabulate

    chosen = {"by": request.args.get("by", ""), "by2": request.args.get("by2", "")}
    where_text = request.args.get("where", "").strip()[:500]
    bands = request.args.get("bands", "").strip()[:100]
    query = {k: v for k, v in (("by", chosen["by"]), ("by2", chosen["by2"]), ("where", where_text),
                                ("bands", bands)) if v}
    _audit("tabulate", "E", "Bundle")
    by = [f for f in (chosen["by"], chosen["by2"]) if f]
    where = [w.strip() for w in where_text.split(";") if w.strip()]
    result = error = None
    try:
        result = tabulate(store(), by, where, bands=bands or None)
    except InputError as exc:
        error = f"{exc.message}" + (f" ({exc.hint})" if exc.hint else "")
    header, rows = table(result) if result else ([], [])
    notes = summary_notes(result) if result else []
    fmt = request.args.get("format")
    if result and fmt in ("csv", "xlsx"):
        body = output.as_csv(header, rows) if fmt == "csv" else output.as_xlsx(header, rows, notes)
        mimetype = ("text/csv" if fmt == "csv"
                    else "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
        return Response(body, mimetype=mimetype,
                        headers={"Content-Disposition": f'attachment; filename="tabulation.{fmt}"'})
    status = 400 if error else 200
    if result:  # the page names what the downloads keep as codes (a country: 'Canada (CA)')
        result = _shown(result, settings()["fields"])
        header, rows = table(result)
    return render_template("tabulate.html", fields=settings()["fields"], chosen=chosen, where_text=where_text,
                           bands=bands, query=query, result=result, error=error, header=header, rows=rows,
                           notes=notes, chart=bar_chart(result) if result else ""), status

def _shown(result, fields: dict):
    """The tabulation with each group value of a field marked `shown: country` as the country's name and code."""
    import dataclasses

    from reporter.render.countries import country_with_code

    named = [fields.get(f, {}).get("shown") == "country" for f in result.by]
    if not any(named):
        return result
    rows = [dataclasses.replace(r, values=tuple(country_with_code(v) if n and v != "unknown" else v
                                                for v, n in zip(r.values, named, strict=False)))
            for r in result.rows]
    return dataclasses.replace(result, rows=rows)

# --- error pages ------------------------------------------------------------------------------------------

def error_page(status: int, message: str, hint: str | None = None) -> Response:
    titles = {400: "Bad request", 401: "Not logged in", 403: "Not allowed", 404: "Not found",
              405: "Method not allowed", 409: "Conflict", 413: "Too large", 422: "Cannot process",
              500: "Internal error", 503: "Unavailable"}
    body = render_template("error.html", status=status, title=titles.get(status, "Error"), message=message,
                           hint=hint)
    response = Response(body, status, content_type="text/html; charset=utf-8")
    response.headers["Content-Security-Policy"] = PAGE_CSP
    return response


def reporter_error_page(exc: ReporterError, status: int) -> Response:
    return error_page(status, str(exc), exc.hint)


from reporter.web import (  # noqa: E402, F401  (their routes hang on this blueprint)
    analysis_page,
    approval_page,
    assess_page,
    audit_page,
    users_page,
)
