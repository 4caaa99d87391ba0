"""SMART Backend Services endpoints: `POST /auth/token` (client credentials with a signed JWT assertion, see
reporter.smart) and the `.well-known/smart-configuration` discovery document (at the FHIR base and at the root).
Answers are OAuth JSON (RFC 6749 errors), never pages; every token request is audited."""

from __future__ import annotations

import json

from flask import Blueprint, Response, current_app, request

from reporter import smart
from reporter.errors import ReporterError
from reporter.web import audit as web_audit

bp = Blueprint("smart", __name__)


def token_url() -> str:
    configured = current_app.config.get("BASE_URL")
    return (configured.rstrip("/") if configured else request.url_root.rstrip("/")) + "/auth/token"


def _json(body: dict, status: int = 200) -> Response:
    return Response(json.dumps(body), status=status, content_type="application/json",
                    headers={"Cache-Control": "no-store", "Pragma": "no-cache"})


@bp.get("/.well-known/smart-configuration")
@bp.get("/fhir/.well-known/smart-configuration")
def smart_configuration():
    return _json(smart.configuration(token_url()))


@bp.post("/auth/token")
def token():
    store = current_app.extensions["reporter.store"]
    client = "unknown"
    try:
        if request.mimetype != "application/x-www-form-urlencoded":
            raise smart.SmartError("invalid_request", "send the token request as application/x-www-form-urlencoded")
        form = request.form
        try:
            import jwt

            claimed = jwt.decode(form.get("client_assertion") or "", options={"verify_signature": False})
            client = str(claimed.get("iss"))[:100]
        except Exception:  # the grant reports the malformed assertion
            pass
        body = smart.grant(store, form, token_url(),
                           audit=web_audit.context(f"smart:{client}", "rest", "smart-token", 200))
        status, outcome, reason = 200, "0", f"granted {body['scope']}"
    except smart.SmartError as exc:
        body = {"error": exc.error, "error_description": exc.description}
        status, outcome, reason = exc.status, "4", f"{exc.error}: {exc.description}"
    except ReporterError as exc:  # the store is unavailable
        body = {"error": "temporarily_unavailable", "error_description": exc.message}
        status, outcome, reason = 503, "8", exc.message
    try:
        store.audit(subtype="smart-token", action="E", outcome=outcome, agent=f"smart:{client}",
                    source=request.remote_addr, detail=f"POST {status}", reason=reason, kind="rest")
    except ReporterError:
        if status == 200:  # no token without its record
            return _json({"error": "temporarily_unavailable", "error_description": "the audit trail is unavailable"},
                         503)
    response = _json(body, status)
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="reporter", error="invalid_client"'
    return response
