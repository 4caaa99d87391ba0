"""The FHIR R4 REST API under /fhir: read, vread, history, search, create/update of ICSR Bundles, $validate.

Cases are Bundles (one per case, versioned). The resources inside the current version of each Bundle are
readable and searchable on their own (AdverseEvent, Patient, ...), read-only: they change by a new version
of their Bundle. A resource's versionId and lastUpdated are those of the Bundle version it came with.
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from urllib.parse import urlencode

from flask import Blueprint, Response, current_app, g, request

from reporter.errors import InputError
from reporter.store import CaseStore, StoredResource, StoredVersion
from reporter.store.fhirdates import format_instant
from reporter.web import audit as web_audit
from reporter.web import checks, downloads
from reporter.web.auth import current_agent, require_scope
from reporter.web.capability import capability_statement
from reporter.web.negotiation import fhir_response, read_resource_body, wanted_format
from reporter.web.outcome import UnprocessableBundle, issue, outcome
from reporter.web.search import SEARCHABLE, parse_search

bp = Blueprint("fhir", __name__, url_prefix="/fhir")
_TYPE_RE = re.compile(r"^[A-Z][A-Za-z]{1,63}$")
_ID_RE = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")
_ETAG_RE = re.compile(r'^(?:W/)?"(\d+)"$')


def store() -> CaseStore:
    return current_app.extensions["reporter.store"]


def base_url() -> str:
    configured = current_app.config.get("BASE_URL")
    return (configured.rstrip("/") if configured else request.url_root.rstrip("/")) + "/fhir"


def _audit(subtype: str, action: str, entity: str | None = None) -> None:
    g.audit = {"subtype": subtype, "action": action, "entity": entity}


@bp.before_request
def _negotiate_first() -> None:
    wanted_format(strict=True)  # 406 before any work if the client accepts nothing we produce


@bp.after_request
def _write_audit(response: Response) -> Response:
    """Every API interaction leaves an AuditEvent, failed ones included (outcome 4/8)."""
    info = g.pop("audit", None) or {"subtype": "unknown", "action": "E", "entity": None}
    if not web_audit.record(store(), response, info, agent=current_agent(), kind="rest"):
        # an unaudited access to case data must not succeed silently
        return fhir_response(outcome([issue("fatal", "transient", "the audit trail is unavailable")]),
                             status=503, fmt="json")
    return response


def _check_type(resource_type: str) -> None:
    if not _TYPE_RE.match(resource_type):
        raise InputError(f"{resource_type!r} is not a resource type", location="url")


def _check_id(resource_id: str) -> None:
    if not _ID_RE.match(resource_id):
        raise InputError(f"{resource_id!r} is not a valid id", location="url",
                         hint="ids are 1-64 characters of A-Z a-z 0-9 - .")


def _version_headers(version: int, last_updated: datetime, location: str | None = None) -> dict:
    headers = {"ETag": f'W/"{version}"',
               "Last-Modified": last_updated.strftime("%a, %d %b %Y %H:%M:%S GMT")}
    if location:
        headers["Location"] = location
    return headers


def _bundle_body(v: StoredVersion) -> dict:
    body = dict(v.bundle)
    body["meta"] = {**(body.get("meta") or {}), **v.meta}
    return body


# --- metadata -----------------------------------------------------------------------------------------

@bp.get("/metadata")
def metadata():
    _audit("capabilities", "R", "CapabilityStatement")
    return fhir_response(capability_statement(base_url()))


# --- read / vread / history ---------------------------------------------------------------------------

@bp.get("/<resource_type>/<resource_id>")
def read(resource_type: str, resource_id: str):
    _audit("read", "R", f"{resource_type}/{resource_id}")
    require_scope("read")
    _check_type(resource_type)
    _check_id(resource_id)
    if resource_type == "Bundle":
        v = store().read(resource_id)
        return fhir_response(_bundle_body(v), headers=_version_headers(v.version, v.recorded))
    item = store().read_resource(resource_type, resource_id)
    return fhir_response(item.with_meta(), headers=_version_headers(item.version, item.last_updated))


@bp.get("/<resource_type>/<resource_id>/_history/<version_id>")
def vread(resource_type: str, resource_id: str, version_id: str):
    _audit("vread", "R", f"{resource_type}/{resource_id}/_history/{version_id}")
    require_scope("read")
    _check_type(resource_type)
    _check_id(resource_id)
    if not version_id.isdecimal() or int(version_id) < 1:
        raise InputError(f"{version_id!r} is not a version id", location="url", hint="versions are 1, 2, ...")
    if resource_type == "Bundle":
        v = store().read(resource_id, int(version_id))
        return fhir_response(_bundle_body(v), headers=_version_headers(v.version, v.recorded))
    item = store().read_resource(resource_type, resource_id, int(version_id))
    return fhir_response(item.with_meta(), headers=_version_headers(item.version, item.last_updated))


@bp.get("/<resource_type>/<resource_id>/_history")
def history(resource_type: str, resource_id: str):
    _audit("history-instance", "R", f"{resource_type}/{resource_id}")
    require_scope("read")
    _check_type(resource_type)
    _check_id(resource_id)
    base = base_url()
    entries = []
    if resource_type == "Bundle":
        items = [(v.version, v.recorded, _bundle_body(v)) for v in store().history(resource_id)]
    else:
        items = [(r.version, r.last_updated, r.with_meta())
                 for r in store().resource_history(resource_type, resource_id)]
    for version, recorded, body in items:
        first = version == 1
        entries.append({
            "fullUrl": f"{base}/{resource_type}/{resource_id}",
            "resource": body,
            "request": {"method": "POST" if first else "PUT",
                        "url": resource_type if first else f"{resource_type}/{resource_id}"},
            "response": {"status": "201 Created" if first else "200 OK", "etag": f'W/"{version}"',
                         "lastModified": format_instant(recorded)},
        })
    result = {"resourceType": "Bundle", "id": str(uuid.uuid4()),
              "meta": {"lastUpdated": format_instant(datetime.now(UTC))}, "type": "history",
              "total": len(entries),
              "link": [{"relation": "self", "url": f"{base}/{resource_type}/{resource_id}/_history"}],
              "entry": entries}
    return fhir_response(result)


# --- search -------------------------------------------------------------------------------------------

@bp.get("/<resource_type>")
def search(resource_type: str):
    _audit("search-type", "E", resource_type)
    require_scope("read")
    _check_type(resource_type)
    if resource_type not in SEARCHABLE:
        return fhir_response(outcome([issue("error", "not-supported",
                                            f"searching {resource_type} is not supported", "url")]), 404)
    strict = "handling=strict" in request.headers.get("Prefer", "").replace(" ", "")
    criteria, used = parse_search(resource_type, request.args, strict=strict)
    page = store().search(resource_type, criteria)
    base = base_url()
    kept = [(k, v) for k in used for v in request.args.getlist(k)]
    for control in ("_count", "_sort", "_format", "_total"):
        kept += [(control, v) for v in request.args.getlist(control)]
    position = []
    if criteria.cursor:
        position = [("_cursor", criteria.cursor)]
    elif criteria.offset:
        position = [("_offset", str(criteria.offset))]
    links = [{"relation": "self", "url": f"{base}/{resource_type}?{urlencode(kept + position)}"}]
    if page.next_cursor:
        links.append({"relation": "next",
                      "url": f"{base}/{resource_type}?{urlencode([*kept, ('_cursor', page.next_cursor)])}"})
    elif page.next_offset is not None:
        links.append({"relation": "next",
                      "url": f"{base}/{resource_type}?{urlencode([*kept, ('_offset', str(page.next_offset))])}"})
    result = {"resourceType": "Bundle", "id": str(uuid.uuid4()),
              "meta": {"lastUpdated": format_instant(datetime.now(UTC))}, "type": "searchset"}
    if page.total is not None:
        result["total"] = page.total
    result["link"] = links
    result["entry"] = [_search_entry(base, item) for item in page.resources]
    return fhir_response(result)


def _search_entry(base: str, item: StoredResource) -> dict:
    body = item.with_meta()
    if item.resource_type == "Bundle":
        body["id"] = item.resource_id
    return {"fullUrl": f"{base}/{item.resource_type}/{item.resource_id}", "resource": body,
            "search": {"mode": "match"}}


# --- create / update ----------------------------------------------------------------------------------

def _bundle_from_request() -> dict:
    body = read_resource_body()
    if body.get("resourceType") != "Bundle":
        raise InputError(f"expected a Bundle, got {body.get('resourceType')}", location="resourceType",
                         hint="cases are written as ICSR document Bundles")
    report = checks.validate_resource(body)
    if checks.has_errors(report):
        raise UnprocessableBundle(report)
    return body


def _write_response(v: StoredVersion, status: int) -> Response:
    location = f"{base_url()}/Bundle/{v.case_id}/_history/{v.version}"
    headers = _version_headers(v.version, v.recorded, location)
    prefer = request.headers.get("Prefer", "").replace(" ", "")
    if "return=minimal" in prefer:
        response = Response(status=status, headers=headers)
        return response
    if "return=OperationOutcome" in prefer:
        return fhir_response(outcome([issue("information", "informational",
                                            f"stored Bundle/{v.case_id} version {v.version} ({v.kind})")]),
                             status, headers)
    return fhir_response(_bundle_body(v), status, headers)


def _not_writable(resource_type: str) -> Response:
    return fhir_response(outcome([issue(
        "error", "not-supported",
        f"{resource_type} resources are written as part of their case's ICSR Bundle (POST/PUT Bundle)",
        "url")]), 405, {"Allow": "GET"})


@bp.post("/<resource_type>")
def create(resource_type: str):
    _audit("create", "C", resource_type)
    require_scope("write")
    _check_type(resource_type)
    if resource_type != "Bundle":
        return _not_writable(resource_type)
    bundle = _bundle_from_request()
    v = store().create(bundle, author=current_agent(), reason=request.headers.get("X-Reporter-Reason"),
                       audit=web_audit.context(current_agent(), "rest", "create", 201))
    g.audit.update(entity=f"Bundle/{v.case_id}/_history/{v.version}", stored=True)
    return _write_response(v, 201)


@bp.put("/<resource_type>/<resource_id>")
def update(resource_type: str, resource_id: str):
    _audit("update", "U", f"{resource_type}/{resource_id}")
    require_scope("write")
    _check_type(resource_type)
    _check_id(resource_id)
    if resource_type != "Bundle":
        return _not_writable(resource_type)
    if_match = _if_match()
    bundle = _bundle_from_request()
    if bundle.get("id") != resource_id:
        raise InputError(f"the Bundle's id {bundle.get('id')!r} does not match the URL ({resource_id!r})",
                         location="Bundle.id", hint="an update carries the id of the resource it replaces")
    v = store().update(resource_id, bundle, author=current_agent(), if_match=if_match,
                       reason=request.headers.get("X-Reporter-Reason"),
                       audit=web_audit.context(current_agent(), "rest", "update", 200))
    g.audit.update(entity=f"Bundle/{v.case_id}/_history/{v.version}", stored=True)
    return _write_response(v, 200)


def _if_match() -> int | None:
    value = request.headers.get("If-Match")
    if value is None:
        return None
    match = _ETAG_RE.match(value.strip())
    if not match:
        raise InputError(f"If-Match {value!r} is not a version ETag", location="If-Match",
                         hint='send the ETag of the version you read, e.g. W/"2"')
    return int(match.group(1))


@bp.delete("/<resource_type>/<resource_id>")
def delete(resource_type: str, resource_id: str):
    _audit("delete", "D", f"{resource_type}/{resource_id}")
    require_scope("write")
    return fhir_response(outcome([issue(
        "error", "not-supported",
        "cases are never deleted; send a nullification version (C.1.11.1 = 1) with PUT Bundle/<id>", "url")]),
        405, {"Allow": "GET, PUT"})


# --- $validate ----------------------------------------------------------------------------------------

@bp.post("/<resource_type>/$validate")
def validate_type(resource_type: str):
    _audit("validate", "E", resource_type)
    require_scope("read")
    _check_type(resource_type)
    body = read_resource_body()
    if body.get("resourceType") == "Parameters":
        body = next((p.get("resource") for p in body.get("parameter") or []
                     if isinstance(p, dict) and p.get("name") == "resource"), None)
        if not isinstance(body, dict):
            raise InputError("Parameters without a 'resource' parameter", location="Parameters.parameter")
    if body.get("resourceType") != resource_type:
        raise InputError(f"expected a {resource_type}, got {body.get('resourceType')}", location="resourceType")
    return fhir_response(checks.validate_resource(body))


@bp.route("/<resource_type>/<resource_id>/$validate", methods=["GET", "POST"])
def validate_instance(resource_type: str, resource_id: str):
    _audit("validate", "E", f"{resource_type}/{resource_id}")
    require_scope("read")
    _check_type(resource_type)
    _check_id(resource_id)
    if resource_type == "Bundle":
        resource = _bundle_body(store().read(resource_id))
    else:
        resource = store().read_resource(resource_type, resource_id).with_meta()
    return fhir_response(checks.validate_resource(resource))


# --- case-level downloads -----------------------------------------------------------------------------

def _download(d: downloads.Download, v: StoredVersion, *, inline: bool = False) -> Response:
    disposition = "inline" if inline else "attachment"
    headers = {"Content-Disposition": f'{disposition}; filename="{d.filename}"', **d.headers,
               **_version_headers(v.version, v.recorded)}
    return Response(d.body, 200, headers=headers, content_type=d.media_type)


@bp.get("/Bundle/<resource_id>/$e2b")
def e2b_download(resource_id: str):
    """The case's current version as an E2B(R3) batch for `receiver` (ich, fda, ema), checked first:
    XML that fails the XSD or the receiver's rules is not handed out (422 with the problems)."""
    _audit("e2b-export", "R", f"Bundle/{resource_id}")
    require_scope("submit")  # E2B is the submission to a regulator: the reviewer's job, not every reader's
    _check_id(resource_id)
    receiver = downloads.check_receiver(request.args.get("receiver", "ich"))
    v = store().read(resource_id)
    try:
        d = downloads.e2b(v, receiver, current_app.config.get("E2B_SCHEMA_DIR"))
    except downloads.E2BRefused as refused:
        return fhir_response(refused.report.to_operation_outcome(), 422)
    return _download(d, v)


@bp.get("/Bundle/<resource_id>/$pdf")
def pdf_download(resource_id: str):
    """The case's current version as a CIOMS I form (PDF)."""
    _audit("pdf-export", "R", f"Bundle/{resource_id}")
    require_scope("read")
    _check_id(resource_id)
    v = store().read(resource_id)
    return _download(downloads.pdf(v), v)


@bp.get("/Bundle/<resource_id>/$html")
def html_download(resource_id: str):
    """The case's current version as the self-contained HTML report with its validation panel."""
    _audit("html-export", "R", f"Bundle/{resource_id}")
    require_scope("read")
    _check_id(resource_id)
    v = store().read(resource_id)
    return _download(downloads.html(v), v, inline=request.args.get("download") is None)
