"""FHIR routes beside the case API (issue 13): Group and Subscription resources (kept by the server, see
reporter.store.server_resources), Patient- and Group-level Bulk Data export, and the SMART configuration.

A Group here is a stored R4 Group (`type: person`, `actual: true`) whose members are Patients this server
serves (`Patient/<id>`): a cohort an analytics or safety team defines (the patients of a study, of a product's
cases) and exports with `GET /fhir/Group/<id>/$export`."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from urllib.parse import urlencode

from flask import Flask, Response, current_app, g, request
from werkzeug.datastructures import MultiDict

from reporter import subscriptions
from reporter.errors import InputError
from reporter.store import server_resources
from reporter.store.fhirdates import format_instant
from reporter.web import bulk, checks
from reporter.web.auth import require_scope
from reporter.web.fhir_api import _audit, _check_id, _if_match, _version_headers, base_url, bp, store
from reporter.web.negotiation import fhir_response, read_resource_body
from reporter.web.outcome import UnprocessableBundle
from reporter.web.search import parse_search

SERVER_TYPES = ("Group", "Subscription")
MAX_MEMBERS = 10_000
_PATIENT_REF = re.compile(r"^(?:.*/)?Patient/([A-Za-z0-9\-.]{1,64})$")


# --- Bulk Data: patient and group level ----------------------------------------------------------------------

@bp.get("/Patient/$export")
def patient_export():
    """Patient-level export: the Patient compartment of every patient (Patient, AdverseEvent, Observation...)."""
    _audit("export", "E", "Patient")
    require_scope("read")
    return bulk.kick_off(store(), base_url(), compartment=True)


@bp.get("/Group/<group_id>/$export")
def group_export(group_id: str):
    """Group-level export: the Patient compartment of the Group's members."""
    _audit("export", "E", f"Group/{group_id}")
    require_scope("read")
    _check_id(group_id)
    group = server_resources.read(store(), "Group", group_id)
    members = [_member_ref(m, i) for i, m in enumerate(group.resource.get("member") or [])]
    return bulk.kick_off(store(), base_url(), members)


# --- Group and Subscription: create, read, update, delete, list ----------------------------------------------

def _settings() -> subscriptions.Settings:
    return current_app.extensions["reporter.subscription_settings"]


def _checked(resource_type: str, body: dict) -> dict:
    if body.get("resourceType") != resource_type:
        raise InputError(f"expected a {resource_type}, got {body.get('resourceType')}", location="resourceType")
    report = checks.validate_resource(body)
    if checks.has_errors(report):
        raise UnprocessableBundle(report)
    if resource_type == "Group":
        if body.get("type") != "person" or body.get("actual") is not True:
            raise InputError("a Group here is a list of patients: type person, actual true", location="Group.type")
        members = body.get("member") or []
        if len(members) > MAX_MEMBERS:
            raise InputError(f"{len(members)} members; at most {MAX_MEMBERS}", location="Group.member")
        body = {**body, "member": [{**m, "entity": {**m["entity"], "reference": _member_ref(m, i)}}
                                   for i, m in enumerate(members)]} if members else body
        body.pop("quantity", None)
        if members:
            body["quantity"] = len(members)
    return body


def _member_ref(member: dict, i: int) -> str:
    ref = ((member or {}).get("entity") or {}).get("reference")
    match = _PATIENT_REF.match(ref) if isinstance(ref, str) else None
    if not match:
        raise InputError(f"member {ref!r} is not a Patient reference", location=f"Group.member[{i}].entity",
                         hint="members are Patient/<id> of this server")
    return f"Patient/{match.group(1)}"


def _subscription_state(body: dict, previous: dict | None) -> tuple[dict, datetime | None]:
    """Check a Subscription and move `requested` to `active` (the server has checked it); a new or resumed
    subscription is notified of changes from now on (checked_until = the store's watermark)."""
    subscriptions.check(body, _settings())
    status = body.get("status")
    if status not in ("requested", "active", "off"):
        raise InputError(f"status {status!r} cannot be set by a client", location="Subscription.status",
                         hint="send requested (the server makes it active) or off")
    if status == "active" and (previous is None or previous.get("status") != "active"):
        raise InputError("a Subscription becomes active by the server", location="Subscription.status",
                         hint="send status requested")
    body = {k: v for k, v in body.items() if k != "error"}
    if status == "requested":
        body["status"] = "active"
        return body, store().watermark() or datetime.now(UTC)
    return body, None


def _server_response(item: server_resources.ServerItem, status: int) -> Response:
    location = f"{base_url()}/{item.resource_type}/{item.resource_id}/_history/{item.version}"
    return fhir_response(item.with_meta(), status, _version_headers(item.version, item.last_updated, location))


def _register(resource_type: str) -> None:
    """Routes for one server-kept type (static first segment: they win over the case API's generic routes)."""

    def create_it():
        _audit("create", "C", resource_type)
        require_scope("write")
        body = _checked(resource_type, read_resource_body())
        checked_until = None
        if resource_type == "Subscription":
            body, checked_until = _subscription_state(body, None)
        item = server_resources.create(store(), body, checked_until=checked_until)
        g.audit["entity"] = f"{resource_type}/{item.resource_id}/_history/{item.version}"
        return _server_response(item, 201)

    def read_it(resource_id: str):
        _audit("read", "R", f"{resource_type}/{resource_id}")
        require_scope("read")
        _check_id(resource_id)
        item = server_resources.read(store(), resource_type, resource_id)
        return fhir_response(item.with_meta(), headers=_version_headers(item.version, item.last_updated))

    def update_it(resource_id: str):
        _audit("update", "U", f"{resource_type}/{resource_id}")
        require_scope("write")
        _check_id(resource_id)
        if_match = _if_match()
        body = _checked(resource_type, read_resource_body())
        if body.get("id") != resource_id:
            raise InputError(f"the resource's id {body.get('id')!r} does not match the URL ({resource_id!r})",
                             location=f"{resource_type}.id")
        checked_until = None
        if resource_type == "Subscription":
            previous = server_resources.read(store(), resource_type, resource_id).resource
            body, checked_until = _subscription_state(body, previous)
        item = server_resources.update(store(), resource_type, resource_id, body, if_match=if_match,
                                       checked_until=checked_until)
        return _server_response(item, 200)

    def delete_it(resource_id: str):
        _audit("delete", "D", f"{resource_type}/{resource_id}")
        require_scope("write")
        _check_id(resource_id)
        server_resources.remove(store(), resource_type, resource_id)
        return Response(status=204)

    def list_them():
        _audit("search-type", "E", resource_type)
        require_scope("read")
        allowed = {"_id", "_count", "_format"} | ({"status"} if resource_type == "Subscription" else set())
        unknown = sorted(set(request.args) - allowed)
        if unknown:
            raise InputError(f"search parameter {unknown[0]!r} is not supported for {resource_type}",
                             location=unknown[0], hint="supported: " + ", ".join(sorted(allowed)))
        items = server_resources.all_of(store(), resource_type)
        ids = {i for v in request.args.getlist("_id") for i in v.split(",")}
        statuses = {s for v in request.args.getlist("status") for s in v.split(",")}
        items = [i for i in items if (not ids or i.resource_id in ids)
                 and (not statuses or i.resource.get("status") in statuses)]
        base = base_url()
        result = {"resourceType": "Bundle", "id": str(uuid.uuid4()),
                  "meta": {"lastUpdated": format_instant(datetime.now(UTC))}, "type": "searchset",
                  "total": len(items),
                  "link": [{"relation": "self", "url": f"{base}/{resource_type}"
                            + (f"?{urlencode(list(request.args.items(multi=True)))}" if request.args else "")}]}
        if items:
            result["entry"] = [{"fullUrl": f"{base}/{i.resource_type}/{i.resource_id}", "resource": i.with_meta(),
                                "search": {"mode": "match"}} for i in items]
        return fhir_response(result)

    name = resource_type.lower()
    bp.add_url_rule(f"/{resource_type}", f"{name}_create", create_it, methods=["POST"])
    bp.add_url_rule(f"/{resource_type}", f"{name}_list", list_them, methods=["GET"])
    bp.add_url_rule(f"/{resource_type}/<resource_id>", f"{name}_read", read_it, methods=["GET"])
    bp.add_url_rule(f"/{resource_type}/<resource_id>", f"{name}_update", update_it, methods=["PUT"])
    bp.add_url_rule(f"/{resource_type}/<resource_id>", f"{name}_delete", delete_it, methods=["DELETE"])


for _type in SERVER_TYPES:
    _register(_type)


# --- the notifier --------------------------------------------------------------------------------------------

def _parse_criteria(resource_type: str, query: list[tuple[str, str]]):
    return parse_search(resource_type, MultiDict(query), strict=True).criteria


def start_notifier(app: Flask) -> None:
    """Subscription settings for this app, and its delivery thread (unless SUBSCRIPTION_NOTIFIER is False)."""
    settings = subscriptions.Settings.from_config(_parse_criteria, app.config)
    app.extensions["reporter.subscription_settings"] = settings
    if app.config.get("SUBSCRIPTION_NOTIFIER", True):
        app.extensions["reporter.notifier"] = subscriptions.Notifier(app.extensions["reporter.store"],
                                                                     settings).start()


@bp.after_request
def _wake_notifier(response: Response) -> Response:
    """A case write wakes the notifier at once (it also polls, for writes made elsewhere)."""
    notifier = current_app.extensions.get("reporter.notifier")
    if notifier is not None and request.method in ("POST", "PUT") and response.status_code < 300:
        notifier.wake.set()
    return response
