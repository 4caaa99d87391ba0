"""The FHIR R4 REST API under /fhir: read, vread, history, search, create/update of ICSR Bundles, $validate.

Cases are Bundles (one per case, versioned). The resources inside the current version of each Bundle are
readable and searchable on their own (AdverseEvent, Patient, ...), read-only: they change by a new version
of their Bundle. A resource's versionId and lastUpdated are those of the Bundle version it came with.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

from flask import Blueprint, Response, current_app, g, request
from werkzeug.exceptions import NotAcceptable
from werkzeug.http import parse_date

from reporter.errors import Gone, InputError, PreconditionRequired, ReporterError, StoreConflict, StoreError
from reporter.store import CaseStore, StoredResource, StoredVersion
from reporter.store.fhirdates import format_instant
from reporter.store.repository import Write, with_meta_bytes
from reporter.web import audit as web_audit
from reporter.web import bulk, checks, conditional, downloads, shaping
from reporter.web.auth import current_agent, require_scope
from reporter.web.capability import capability_statement
from reporter.web.negotiation import (
    accepts,
    fhir_response,
    json_bytes,
    json_response,
    read_resource_body,
    wanted_format,
)
from reporter.web.outcome import UnprocessableBundle, error_outcome, issue, outcome, status_for
from reporter.web.search import INCLUDE_PARAMS, ParsedSearch, parse_search, searchable

bp = Blueprint("fhir", __name__, url_prefix="/fhir")
_TYPE_RE = re.compile(r"^[A-Z][A-Za-z]{1,63}$")
_ID_RE = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")
_ETAG_RE = re.compile(r'^(?:W/)?"(\d+)"$')
_FHIR_OFFERS = ["application/fhir+json", "application/json", "application/fhir+xml", "application/xml"]


def store() -> CaseStore:
    return current_app.extensions["reporter.store"]


def base_url() -> str:
    configured = current_app.config.get("BASE_URL")
    return (configured.rstrip("/") if configured else request.url_root.rstrip("/")) + "/fhir"


def _audit(subtype: str, action: str, entity: str | None = None) -> None:
    g.audit = {"subtype": subtype, "action": action, "entity": entity}


_DOWNLOAD_TYPES = {"$pdf": "application/pdf", "$e2b": "application/xml", "$html": "text/html",
                   "$export-file": "application/fhir+ndjson"}


@bp.before_request
def _negotiate_first() -> None:
    """406 before any work if the client accepts nothing we produce. Downloads have their own media type
    (a client asking for application/pdf gets the PDF; errors then come as FHIR JSON)."""
    operation = request.path.rsplit("/", 1)[-1]
    if "/$export-file/" in request.path:
        operation = "$export-file"
    if operation in _DOWNLOAD_TYPES:
        if accepts([_DOWNLOAD_TYPES[operation], *_FHIR_OFFERS]) is None:
            raise NotAcceptable(f"{operation} is served as {_DOWNLOAD_TYPES[operation]}")
        return
    wanted_format(strict=True)


@bp.after_request
def _write_audit(response: Response) -> Response:
    """Every API interaction leaves an AuditEvent, failed ones included (outcome 4/8)."""
    info = g.pop("audit", None) or {"subtype": "unknown", "action": "E", "entity": None}
    if not web_audit.record(store(), response, info, agent=current_agent(), kind="rest"):
        return _audit_unavailable()  # an unaudited access to case data must not succeed silently
    return response


def _audit_unavailable() -> Response:
    return fhir_response(outcome([issue("fatal", "transient", "the audit trail is unavailable")]), status=503,
                         fmt="json")


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
    if resource_type == "Binary":
        return _binary(resource_id)
    if resource_type == "Bundle" and _plain_read():
        # the stored bytes, read and audited in one transaction (the audit row commits before the answer)
        try:
            served = store().read_served(resource_id, web_audit.context(current_agent(), "rest", "read", 200))
        except (StoreConflict, StoreError) as exc:
            if type(exc) not in (StoreConflict, StoreError):  # not found, or the store is down: said as such
                raise
            return _audit_unavailable()  # the database refused the audit row: no unaudited access
        g.audit["stored"] = True
        return json_response(served.body, headers=_version_headers(served.version, served.recorded))
    if resource_type == "Bundle":
        v = store().read(resource_id)
        version, recorded, case_id = v.version, v.recorded, v.case_id
    else:
        item = store().read_resource(resource_type, resource_id)
        version, recorded, case_id = item.version, item.last_updated, item.case_id
    headers = _version_headers(version, recorded)
    if _not_modified(version, recorded, lambda: store().recorded_at(case_id, version - 1)):
        return Response(status=304, headers=headers)
    body = _bundle_body(v) if resource_type == "Bundle" else item.with_meta()
    return fhir_response(shaping.shape(body, *_shape_args()), headers=headers)


def _binary(message_id: str) -> Response:
    """A received E2B file, kept verbatim: its own bytes (application/xml), or as a FHIR Binary resource when
    the client asks for FHIR JSON or XML by media type or `_format`."""
    message = store().received_message(message_id)
    headers = {"ETag": 'W/"1"', "Last-Modified": message.received.strftime("%a, %d %b %Y %H:%M:%S GMT")}
    best = accepts([message.content_type, "application/fhir+json", "application/fhir+xml", "application/json"])
    if request.args.get("_format") or (best is not None and best != message.content_type):
        import base64

        body = {"resourceType": "Binary", "id": message.id, "contentType": message.content_type,
                "data": base64.b64encode(message.content).decode("ascii"),
                "meta": {"versionId": "1", "lastUpdated": format_instant(message.received)}}
        return fhir_response(body, headers=headers)
    filename = re.sub(r"[^A-Za-z0-9._-]", "_", message.filename or f"{message.id}.xml")
    headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    return Response(message.content, headers=headers, content_type=message.content_type)


def _not_modified(version: int, recorded: datetime, previous: Callable[[], datetime | None]) -> bool:
    """Conditional read: If-None-Match names the current version, or nothing changed since If-Modified-Since
    (If-None-Match wins when both are sent, as HTTP says). `previous`: when the version before this one was
    stored (None for a first version)."""
    none_match = request.headers.get("If-None-Match")
    if none_match is not None:
        tags = [t.strip() for t in none_match.split(",")]
        return "*" in tags or any(_ETAG_RE.match(t) and _ETAG_RE.match(t).group(1) == str(version) for t in tags)
    since = request.headers.get("If-Modified-Since")
    when = parse_date(since) if since else None
    return when is not None and _unchanged_since(recorded, when, previous)


def _unchanged_since(recorded: datetime, when: datetime, previous: Callable[[], datetime | None]) -> bool:
    """Whether the version stored at `recorded` is the one a client whose copy is from `when` (an HTTP date:
    whole seconds) holds. Last-Modified has whole seconds, so when the version before was stored in the same
    second the client may hold that one: not known unchanged then (a 200 costs a download, a wrong 304 a
    missed version)."""
    second = recorded.replace(microsecond=0)
    if second < when:
        return True
    if second > when:
        return False
    before = previous()
    return before is None or before.replace(microsecond=0) < when


def _plain_read() -> bool:
    """A read answered with the whole resource as FHIR JSON, unconditionally: what the stored bytes are."""
    return ("If-None-Match" not in request.headers and "If-Modified-Since" not in request.headers
            and _shape_args() == (None, None) and wanted_format(strict=False) == "json")


def _shape_args() -> tuple[str | None, list[str] | None]:
    summary = request.args.get("_summary")
    if summary is not None and summary not in ("true", "false", "text", "data"):
        raise InputError(f"_summary={summary!r} is not true, false, text or data for a read", location="_summary")
    elements = [e.strip() for v in request.args.getlist("_elements") for e in v.split(",") if e.strip()]
    return (None if summary == "false" else summary), (elements or None)


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
    if (item.case_id, item.version) in store().nullifications([item.case_id]):  # history's DELETE entry
        where = f"{resource_type}/{resource_id}/_history/{version_id}"
        raise Gone(f"{where} is the deletion of {resource_type}/{resource_id}: its case Bundle/{item.case_id} was "
                   "nullified", location=where, hint="earlier versions stay readable")
    return fhir_response(item.with_meta(), headers=_version_headers(item.version, item.last_updated))


@bp.get("/<resource_type>/<resource_id>/_history")
def history(resource_type: str, resource_id: str):
    """Instance history, newest first; `_count` pages it with a `next` link keyed on the version number."""
    _audit("history-instance", "R", f"{resource_type}/{resource_id}")
    require_scope("read")
    _check_type(resource_type)
    _check_id(resource_id)
    watermark = store().watermark()
    deleted: set[tuple[str, int]] = set()
    if resource_type == "Bundle":
        items = [(v.version, v.recorded, _bundle_body(v)) for v in store().history(resource_id)]
    else:
        rows = store().resource_history(resource_type, resource_id)
        deleted = store().nullifications([rows[0].case_id])
        items = [(r.version, r.last_updated, None if (r.case_id, r.version) in deleted else r.with_meta())
                 for r in rows]
    since, count, cursor = _history_args()
    if since is not None:
        items = [i for i in items if i[1] >= since]
    total = len(items)
    if cursor is not None:
        if not cursor.isdecimal():
            raise InputError(f"invalid paging cursor {cursor!r}", location="_cursor",
                             hint="follow the next link as given")
        items = [i for i in items if i[0] < int(cursor)]
    more = len(items) > count
    items = items[:count]
    entries = [_history_entry(resource_type, resource_id, version, recorded, body)
               for version, recorded, body in items]
    as_of = _as_of(watermark, [i[1] for i in items], history=True)
    return fhir_response(_history_bundle(f"{resource_type}/{resource_id}/_history", entries, total,
                                         str(items[-1][0]) if more and items else None, as_of))


@bp.get("/<resource_type>/_history")
def history_type(resource_type: str):
    """Type history: every stored version of every resource of the type, newest first, keyset-paged."""
    _audit("history-type", "R", resource_type)
    require_scope("read")
    _check_type(resource_type)
    if resource_type not in searchable():
        return fhir_response(outcome([issue("error", "not-supported",
                                            f"{resource_type} has no history here", "url")]), 404)
    return _history_of(resource_type, f"{resource_type}/_history")


@bp.get("/_history")
def history_system():
    """System history: every stored version of every resource (case Bundles included), newest first."""
    _audit("history-system", "R", None)
    require_scope("read")
    return _history_of(None, "_history")


def _history_of(resource_type: str | None, path: str) -> Response:
    since, count, cursor = _history_args()
    watermark = store().watermark()
    page = store().history_page(resource_type, since=since, count=count, cursor=cursor)
    deleted = store().nullifications([item.case_id for item in page.resources if item.resource_type != "Bundle"])
    entries = []
    for item in page.resources:
        if item.resource_type == "Bundle":  # the case Bundle stays readable: its nullification is a version
            body = {**item.with_meta(), "id": item.resource_id}
        else:
            body = None if (item.case_id, item.version) in deleted else item.with_meta()
        entries.append(_history_entry(item.resource_type, item.resource_id, item.version, item.last_updated, body))
    as_of = _as_of(watermark, [item.last_updated for item in page.resources], history=True)
    return fhir_response(_history_bundle(path, entries, page.total, page.next_cursor, as_of))


_HISTORY_ARGS = frozenset({"_since", "_count", "_cursor", "_format", "_pretty"})


def _history_args() -> tuple[datetime | None, int, str | None]:
    """(_since, _count, _cursor) of a history request; any other parameter is refused (not silently ignored)."""
    from reporter.store.fhirdates import parse_range
    from reporter.web.search import DEFAULT_COUNT, _count

    unknown = sorted(set(request.args) - _HISTORY_ARGS)
    if unknown:
        raise InputError(f"history parameter {unknown[0]!r} is not supported", location=unknown[0],
                         hint="history takes _since, _count and the _cursor of a next link")
    since = None
    if request.args.get("_since"):
        try:
            since = parse_range(request.args["_since"])[0]
        except ValueError as exc:
            raise InputError(f"_since={request.args['_since']!r} is not a FHIR instant", location="_since",
                             hint="e.g. 2024-05-01T10:00:00Z") from exc
    count = _count(request.args.get("_count")) if request.args.get("_count") else DEFAULT_COUNT
    return since, count, request.args.get("_cursor") or None


def _history_entry(resource_type: str, resource_id: str, version: int, recorded: datetime,
                   body: dict | None) -> dict:
    """A history entry; `body` None for a delete (a resource of a case whose nullification this version is:
    R4 says a deleted version as a DELETE with no resource, so a mirror drops what now answers 410)."""
    if body is None:
        return {"fullUrl": f"{base_url()}/{resource_type}/{resource_id}",
                "request": {"method": "DELETE", "url": f"{resource_type}/{resource_id}"},
                "response": {"status": "204 No Content", "etag": f'W/"{version}"',
                             "lastModified": format_instant(recorded)}}
    first = version == 1
    return {"fullUrl": f"{base_url()}/{resource_type}/{resource_id}", "resource": body,
            "request": {"method": "POST" if first else "PUT",
                        "url": resource_type if first else f"{resource_type}/{resource_id}"},
            "response": {"status": "201 Created" if first else "200 OK", "etag": f'W/"{version}"',
                         "lastModified": format_instant(recorded)}}


_NO_WRITES = datetime(1970, 1, 1, tzinfo=UTC)


def _as_of(watermark: datetime | None, stamps: list[datetime], *, history: bool = False) -> str:
    """The meta.lastUpdated of a search or history page: the store's `watermark` read before the page's rows
    (they hold every write up to it), or the newest of their `stamps` if later (a write committed in between):
    not the clock, which a write stamped before the answer and committed after it precedes. A poller's next
    `_lastUpdated=gt<it>` (search: the last page's) or `_since=<it>` (history: the first page's) then gets every
    write it has not seen, and none twice: `_since` includes its instant, so history's is 1 µs after (stamps
    are whole microseconds, strictly increasing in commit order)."""
    newest = max([*stamps, *([watermark] if watermark else [])], default=None)
    if newest is None:
        return format_instant(_NO_WRITES)
    return format_instant(newest + timedelta(microseconds=1) if history else newest)


def _history_bundle(path: str, entries: list[dict], total: int | None, next_cursor: str | None,
                    as_of: str) -> dict:
    """A history Bundle with self and (when more follow) next links; the next link keeps _since and _count."""
    base = base_url()
    kept = [(k, v) for k in ("_since", "_count", "_format") for v in request.args.getlist(k)]
    position = [("_cursor", request.args["_cursor"])] if request.args.get("_cursor") else []
    links = [{"relation": "self", "url": f"{base}/{path}" + (f"?{urlencode(kept + position)}"
                                                              if kept or position else "")}]
    if next_cursor:
        links.append({"relation": "next", "url": f"{base}/{path}?{urlencode([*kept, ('_cursor', next_cursor)])}"})
    result = {"resourceType": "Bundle", "id": str(uuid.uuid4()),
              "meta": {"lastUpdated": as_of}, "type": "history"}
    if total is not None:
        result["total"] = total
    result["link"] = links
    if entries:
        result["entry"] = entries
    return result


# --- search -------------------------------------------------------------------------------------------

@bp.get("/<resource_type>")
def search(resource_type: str):
    _audit("search-type", "E", resource_type)
    require_scope("read")
    _check_type(resource_type)
    if resource_type not in searchable():
        return fhir_response(outcome([issue("error", "not-supported",
                                            f"searching {resource_type} is not supported", "url")]), 404)
    parsed = parse_search(resource_type, request.args, strict=_strict_handling())
    criteria = parsed.criteria
    as_stored = parsed.summary is None and not parsed.elements and wanted_format(strict=False) == "json"
    watermark = store().watermark()
    page = store().search(resource_type, criteria, raw=as_stored)
    as_of = _as_of(watermark, [item.last_updated for item in page.resources])
    base = base_url()
    kept = [(k, v) for k in parsed.used for v in request.args.getlist(k)]
    for control in ("_count", "_sort", "_format", "_total", "_summary", "_elements", *INCLUDE_PARAMS):
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
              "meta": {"lastUpdated": as_of}, "type": "searchset"}
    if page.total is not None:
        result["total"] = page.total
    result["link"] = links
    included = _included(page.resources, parsed)
    warning = []
    if parsed.unknown:
        warning.append({"resource": outcome([issue(
            "warning", "not-supported", f"search parameter {name!r} is not supported for {resource_type} "
            "and was ignored (Prefer: handling=lenient)", name) for name in parsed.unknown]),
            "search": {"mode": "outcome"}})
    if as_stored:  # the page assembled from the stored bytes, as fhir_response would write it
        parts = [_search_entry_bytes(base, item, "match", parsed) for item in page.resources]
        parts += [_search_entry_bytes(base, item, "include", parsed) for item in included]
        parts += [json_bytes(entry) for entry in warning]
        body = json_bytes(result)
        return json_response(body[:-1] + b',"entry":[' + b",".join(parts) + b"]}" if parts else body)
    entries = [_search_entry(base, item, "match", parsed) for item in page.resources]
    entries += [_search_entry(base, item, "include", parsed) for item in included]
    entries += warning
    if entries:
        result["entry"] = entries
    return fhir_response(result)


def _strict_handling() -> bool:
    """Unknown search parameters: strict (400) unless the client asks for lenient handling. Strict is the
    default because a misspelt or unsupported criterion silently widening the result (every patient for
    `gender=female`) is worse for a safety database than an error it can correct."""
    prefer = request.headers.get("Prefer", "").replace(" ", "").lower()
    return "handling=lenient" not in prefer


MAX_INCLUDE_ROUNDS = 4  # :iterate follows references at most this many links away from the matches
MAX_INCLUDED = 1000  # included resources per page, whatever the rounds find


def _included(matches: list[StoredResource], parsed: ParsedSearch) -> list[StoredResource]:
    """The _include and _revinclude resources of a page, each once, none that is already a match. The first
    round applies every include to the matches; later rounds apply the :iterate ones to what the previous
    round found, until nothing new turns up (bounded by MAX_INCLUDE_ROUNDS and MAX_INCLUDED)."""
    seen = {(r.resource_type, r.resource_id) for r in matches}
    out: list[StoredResource] = []
    frontier = matches
    for round_no in range(MAX_INCLUDE_ROUNDS):
        includes = [i for i in parsed.includes if round_no == 0 or i.iterate]
        revincludes = [i for i in parsed.revincludes if round_no == 0 or i.iterate]
        found: list[StoredResource] = []
        for inc in includes:
            sources = [r.row_id for r in frontier if r.resource_type == inc.source]
            refs = store().reference_values(sources, inc.param)
            if inc.target:
                refs = [r for r in refs if r.startswith(f"{inc.target}/")]
            found += store().current_resources(refs)
        for inc in revincludes:
            found += store().referencing(inc.source, inc.param,
                                         [f"{r.resource_type}/{r.resource_id}" for r in frontier])
        frontier = []
        for item in found:
            key = (item.resource_type, item.resource_id)
            if key not in seen and len(out) < MAX_INCLUDED:
                seen.add(key)
                out.append(item)
                frontier.append(item)
        if not frontier:
            break
    return out


def _search_entry(base: str, item: StoredResource, mode: str, parsed: ParsedSearch) -> dict:
    body = item.with_meta()
    if item.resource_type == "Bundle":
        body["id"] = item.resource_id
    body = shaping.shape(body, parsed.summary, parsed.elements if mode == "match" else None)
    return {"fullUrl": f"{base}/{item.resource_type}/{item.resource_id}", "resource": body,
            "search": {"mode": mode}}


def _search_entry_bytes(base: str, item: StoredResource, mode: str, parsed: ParsedSearch) -> bytes:
    """_search_entry as JSON bytes; a case Bundle read as stored text is not parsed (it has no meta of its own
    and carries its id, so its served form is its text with meta added)."""
    if item.raw is None or item.resource_type != "Bundle":
        return json_bytes(_search_entry(base, item, mode, parsed))
    return b"".join((b'{"fullUrl":', json_bytes(f"{base}/Bundle/{item.resource_id}"), b',"resource":',
                     with_meta_bytes(item.raw, item.version, item.last_updated),
                     b',"search":{"mode":', json_bytes(mode), b"}}"))


# --- create / update ----------------------------------------------------------------------------------

def _bundle_from_request() -> dict:
    body = read_resource_body()
    if body.get("resourceType") != "Bundle":
        raise InputError(f"expected a Bundle, got {body.get('resourceType')}", location="resourceType",
                         hint="cases are written as ICSR document Bundles")
    report = checks.validate_resource(body, icsr=True)  # a case written to the store is an ICSR
    if checks.has_errors(report):
        raise UnprocessableBundle(report)
    # what the store keeps but no reader takes (a suspect Immunization, a dose range): said on the write
    g.write_warnings = [i for i in report.get("issue", []) if i.get("severity") == "warning"]
    return body


def _write_response(v: StoredVersion, status: int) -> Response:
    location = f"{base_url()}/Bundle/{v.case_id}/_history/{v.version}"
    headers = _version_headers(v.version, v.recorded, location)
    prefer = request.headers.get("Prefer", "").replace(" ", "")
    if "return=minimal" in prefer:
        response = Response(status=status, headers=headers)
        return response
    if "return=OperationOutcome" in prefer:
        stored = issue("information", "informational", f"stored Bundle/{v.case_id} version {v.version} ({v.kind})")
        return fhir_response(outcome([stored, *g.get("write_warnings", [])]), status, headers)
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
    condition = request.headers.get("If-None-Exist")
    found = conditional.existing_case(store(), condition, "If-None-Exist") if condition is not None else None
    if found is not None:  # conditional create: the case is stored already, nothing is written
        g.audit.update(entity=f"Bundle/{found.case_id}/_history/{found.version}")
        return _write_response(found, 200)
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
                       audit=web_audit.context(current_agent(), "rest", "update", 200), skip_unchanged=True)
    g.audit.update(entity=f"Bundle/{v.case_id}/_history/{v.version}", stored=True)
    return _write_response(v, 200)


def _if_match() -> int:
    value = request.headers.get("If-Match")
    if value is None:
        raise PreconditionRequired("an update must name the version it replaces", location="If-Match",
                                   hint='read the case, then PUT with If-Match: W/"<versionId>"')
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
    return fhir_response(checks.validate_resource(body, icsr=_icsr_profile_asked(), receiver=_receiver()))


def _icsr_profile_asked() -> bool | None:
    """True when `$validate?profile=` names an ICSR profile; None (decide by the resource's claim) otherwise."""
    profile = request.args.get("profile")
    if profile is None:
        return None
    if checks.ICSR_PROFILE_MARK not in profile:
        raise InputError(f"profile {profile!r} is not known here", location="profile",
                         hint="validate against an ICSR profile of hl7.fhir.us.icsr-ae-reporting, or name none")
    return True


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
    return fhir_response(checks.validate_resource(resource, icsr=_icsr_profile_asked(), receiver=_receiver()))


def _receiver() -> str | None:
    """$validate?receiver=ich|fda|ema|all also runs the E2B output checks for that receiver."""
    name = request.args.get("receiver")
    if name is not None and name not in ("ich", "fda", "ema", "all"):
        raise InputError(f"unknown receiver {name!r}", location="receiver", hint="use ich, fda, ema or all")
    return name


# --- case-level downloads -----------------------------------------------------------------------------

def _download(d: downloads.Download, v: StoredVersion, *, inline: bool = False) -> Response:
    disposition = "inline" if inline else "attachment"
    headers = {"Content-Disposition": f'{disposition}; filename="{d.filename}"', **d.headers,
               **_version_headers(v.version, v.recorded)}
    return Response(d.body, 200, headers=headers, content_type=d.media_type)


@bp.get("/Bundle/<resource_id>/$e2b")
def e2b_download(resource_id: str):
    """The case's current version as an E2B(R3) batch for `receiver` (ich, fda, ema), checked first:
    XML that fails the XSD or the receiver's rules is not handed out (422 with the problems); a version no
    reviewer has approved is not handed out either (409). The XML carries the count of the export's warnings
    (X-E2B-Warnings: FHIR-NOT-READ, what the Bundle says that the file leaves out, among them); with
    `Prefer: return=OperationOutcome` the answer is the export's OperationOutcome instead, as a write's is."""
    _audit("e2b-export", "R", f"Bundle/{resource_id}")
    require_scope("submit")  # E2B is the submission to a regulator: the reviewer's job, not every reader's
    _check_id(resource_id)
    receiver = downloads.check_receiver(request.args.get("receiver", "ich"))
    v = store().read(resource_id)
    from reporter.store.approvals import require_approval

    require_approval(store(), v)  # 409 until a reviewer has approved this version (on the case page)
    try:
        d = downloads.e2b(v, receiver, current_app.config.get("E2B_SCHEMA_DIR"))
    except downloads.E2BRefused as refused:
        return fhir_response(refused.report.to_operation_outcome(), 422)
    if "return=OperationOutcome" in request.headers.get("Prefer", "").replace(" ", ""):
        return fhir_response(d.report.to_operation_outcome(), 200,
                             {**_version_headers(v.version, v.recorded), "X-E2B-Warnings": d.headers["X-E2B-Warnings"]})
    return _download(d, v)


@bp.get("/Bundle/<resource_id>/$pdf")
def pdf_download(resource_id: str):
    """The case's current version as a CIOMS I form (PDF)."""
    _audit("pdf-export", "R", f"Bundle/{resource_id}")
    require_scope("read")
    _check_id(resource_id)
    v = store().read(resource_id)
    return _download(downloads.pdf(v, store()), v)


@bp.get("/Bundle/<resource_id>/$html")
def html_download(resource_id: str):
    """The case's current version as the self-contained HTML report with its validation panel."""
    _audit("html-export", "R", f"Bundle/{resource_id}")
    require_scope("read")
    _check_id(resource_id)
    v = store().read(resource_id)
    return _download(downloads.html(v, store()), v, inline=request.args.get("download") is None)


# --- aggregate analysis (issue 12) ---------------------------------------------------------------------

@bp.get("/$tabulate")
def tabulate_operation():
    """Counts of stored cases: ?by=FIELD (repeat for a cross-tab), ?where=FIELD=VALUE, ?bands=, ?stats=true
    (latency and age summaries); a Parameters resource (reporter/analysis/fhirout.py documents its shape)."""
    from reporter.analysis.fhirout import tabulation_parameters
    from reporter.analysis.tabulate import tabulate

    _audit("tabulate", "E", "$tabulate")
    require_scope("read")
    result = tabulate(store(), request.args.getlist("by"), request.args.getlist("where"),
                      bands=request.args.get("bands"), stats=request.args.get("stats") in ("1", "true"))
    return fhir_response(tabulation_parameters(result))


@bp.get("/$disproportionality")
def disproportionality_operation():
    """PRR, ROR and IC of drug-event pairs: ?drug=&event=&level=pt|soc&min-cases=3; a Parameters resource."""
    from reporter.analysis.disproportionality import pairs
    from reporter.analysis.fhirout import disproportionality_parameters

    _audit("disproportionality", "E", "$disproportionality")
    require_scope("read")
    level = request.args.get("level", "pt")
    if level not in ("pt", "soc"):
        raise InputError(f"level {level!r} is not pt or soc", location="level")
    text = request.args.get("min-cases", "3")
    if not text.isdigit() or int(text) < 1:
        raise InputError(f"min-cases {text!r} is not a whole number of at least 1", location="min-cases")
    total, found = pairs(store(), level=level, drug=request.args.get("drug"), event=request.args.get("event"),
                         min_cases=int(text))
    return fhir_response(disproportionality_parameters(total, found, int(text), level))


# --- transaction / batch ------------------------------------------------------------------------------

@bp.post("")
@bp.post("/")
def transaction():
    """POST /fhir with a `transaction` Bundle (all entries stored, or none) or a `batch` Bundle (each entry on
    its own), each entry creating a case (POST Bundle) or adding a version (PUT Bundle/<id>, ifMatch required)."""
    _audit("transaction", "E", None)
    require_scope("write")
    body = read_resource_body()
    kind = body.get("type") if body.get("resourceType") == "Bundle" else None
    if kind not in ("transaction", "batch"):
        raise InputError("POST /fhir takes a Bundle of type transaction or batch", location="Bundle.type",
                         hint="write one case with POST /fhir/Bundle")
    g.audit["subtype"] = kind
    entries = body.get("entry")
    if not isinstance(entries, list) or not entries:
        raise InputError(f"the {kind} has no entries", location="Bundle.entry")
    operations = [_entry_operation(entry, i, kind) for i, entry in enumerate(entries)]
    base = base_url()
    if kind == "transaction":
        failed = [(i, op) for i, op in enumerate(operations) if isinstance(op, Exception)]
        if failed:
            i, error = failed[0]
            if isinstance(error, UnprocessableBundle):
                raise UnprocessableBundle(_relocated(error.report, f"Bundle.entry[{i}].resource"))
            if not (error.location or "").startswith(f"Bundle.entry[{i}]"):
                error.location = f"Bundle.entry[{i}]" + (f" {error.location}" if error.location else "")
            raise error
        written = iter(store().write_all([store_write(op) for op in operations if op.existing is None]))
        responses = [_entry_response(base, op.existing, 200) if op.existing is not None else
                     _entry_response(base, next(written), 201 if op.case_id is None else 200) for op in operations]
    else:
        responses = []
        for i, op in enumerate(operations):
            if isinstance(op, Exception):
                responses.append(_entry_failure(op, i))
                continue
            if op.existing is not None:
                responses.append(_entry_response(base, op.existing, 200))
                continue
            try:
                v = store().write_all([store_write(op)])[0]
            except ReporterError as exc:
                responses.append(_entry_failure(exc, i))
                continue
            responses.append(_entry_response(base, v, 201 if op.case_id is None else 200))
    result = {"resourceType": "Bundle", "id": str(uuid.uuid4()),
              "meta": {"lastUpdated": format_instant(datetime.now(UTC))}, "type": f"{kind}-response",
              "entry": responses}
    return fhir_response(result)


@dataclass
class _Operation:
    bundle: dict
    case_id: str | None
    if_match: int | None
    existing: StoredVersion | None = None  # a conditional create's case, stored already: nothing to write


def store_write(op: _Operation) -> Write:
    subtype, status = ("create", 201) if op.case_id is None else ("update", 200)
    return Write(op.bundle, current_agent(), op.case_id, op.if_match, request.headers.get("X-Reporter-Reason"),
                 audit=web_audit.context(current_agent(), "rest", subtype, status),
                 skip_unchanged=op.case_id is not None)


def _entry_operation(entry: object, i: int, kind: str = "transaction") -> _Operation | ReporterError:
    """The write one entry asks for, or the error that stops it (returned, so a batch can answer per entry)."""
    where = f"Bundle.entry[{i}]"
    try:
        if not isinstance(entry, dict) or not isinstance(entry.get("request"), dict):
            raise InputError("entry without a request", location=f"{where}.request")
        method = entry["request"].get("method")
        url = str(entry["request"].get("url") or "").strip("/")
        resource = entry.get("resource")
        if not isinstance(resource, dict) or resource.get("resourceType") != "Bundle":
            found = resource.get("resourceType") if isinstance(resource, dict) else None
            raise InputError(f"each entry carries an ICSR document Bundle{f', not a {found}' if found else ''}: "
                             "this server stores a case as one document, never resource by resource",
                             location=f"{where}.resource",
                             hint="send the case as a document Bundle (Composition first, its resources as "
                                  "entries), to POST /fhir/Bundle or as the resource of one entry (POST Bundle)")
        report = checks.validate_resource(resource, icsr=True)
        if checks.has_errors(report):
            raise UnprocessableBundle(report)
        if method == "POST" and url == "Bundle":
            condition = entry["request"].get("ifNoneExist")
            existing = conditional.existing_case(store(), str(condition), f"{where}.request.ifNoneExist") \
                if condition is not None else None
            return _Operation(resource, None, None, existing)
        match = re.fullmatch(r"Bundle/([A-Za-z0-9\-.]{1,64})", url)
        if method == "PUT" and match:
            if resource.get("id") != match.group(1):
                raise InputError(f"the Bundle's id {resource.get('id')!r} does not match {url}",
                                 location=f"{where}.resource.id")
            tag = entry["request"].get("ifMatch")
            found = _ETAG_RE.match(str(tag).strip()) if tag is not None else None
            if tag is None:
                raise PreconditionRequired("an update must name the version it replaces",
                                           location=f"{where}.request.ifMatch", hint='ifMatch: W/"<versionId>"')
            if not found:
                raise InputError(f"ifMatch {tag!r} is not a version ETag", location=f"{where}.request.ifMatch")
            return _Operation(resource, match.group(1), int(found.group(1)))
        searched = method == "PUT" and url.startswith("Bundle?")
        raise InputError(f"{method} {url} is not supported in a {kind}"
                         + (": a conditional update (a search in the url) is not offered" if searched else ""),
                         location=f"{where}.request",
                         hint="POST Bundle (new case, ifNoneExist to store it once) or PUT Bundle/<id> with ifMatch "
                              "(new version; find the id with GET Bundle?identifier=...)")
    except ReporterError as exc:
        return exc


def _relocated(report: dict, prefix: str) -> dict:
    """The validation of an entry's document, its FHIRPaths (rooted at that Bundle) made paths in the transaction
    (`Bundle.entry[6]...` of entry 0 is `Bundle.entry[0].resource.entry[6]...`)."""
    out = dict(report)
    out["issue"] = [{**i, "expression": [_inside(prefix, e) for e in i.get("expression", [])]}
                    for i in report.get("issue", [])]
    return out


def _inside(prefix: str, expression: str) -> str:
    if expression.startswith(prefix):
        return expression
    if expression == "Bundle" or expression.startswith(("Bundle.", "Bundle[")):
        return prefix + expression[len("Bundle"):]
    return f"{prefix}.{expression}"


def _entry_response(base: str, v: StoredVersion, status: int) -> dict:
    return {"fullUrl": f"{base}/Bundle/{v.case_id}",
            "response": {"status": f"{status} {'Created' if status == 201 else 'OK'}",
                         "location": f"Bundle/{v.case_id}/_history/{v.version}", "etag": f'W/"{v.version}"',
                         "lastModified": format_instant(v.recorded)}}


def _entry_failure(exc: ReporterError, i: int) -> dict:
    if isinstance(exc, UnprocessableBundle):
        status, body = 422, _relocated(exc.report, f"Bundle.entry[{i}].resource")
    else:
        status = status_for(exc)
        body = error_outcome(status, exc.message, exc.location, exc.hint)
    return {"response": {"status": str(status), "outcome": body}}


# --- bulk data export ---------------------------------------------------------------------------------

@bp.get("/$export")
def bulk_export():
    """System-level Bulk Data export kick-off (see reporter.web.bulk)."""
    _audit("export", "E", None)
    require_scope("read")
    return bulk.kick_off(store(), base_url())


@bp.get("/$export-status/<job>")
def bulk_status(job: str):
    _audit("export-status", "R", job)
    require_scope("read")
    return bulk.status(job)


@bp.delete("/$export-status/<job>")
def bulk_cancel(job: str):
    _audit("export-cancel", "D", job)
    require_scope("read")
    return bulk.cancel(job)


@bp.get("/$export-file/<job>/<name>")
def bulk_file(job: str, name: str):
    _audit("export-file", "R", f"{job}/{name}")
    require_scope("read")
    return bulk.download(job, name)


# --- Group, Subscription, Patient/Group $export, SMART configuration (routes in their own module) -------------
from reporter.web import server_api  # noqa: E402,F401  (registers its routes on bp)
