"""FHIR content negotiation: JSON or XML by `_format` (wins) or Accept; request bodies by Content-Type."""

from __future__ import annotations

import json

from flask import Response, request
from werkzeug.exceptions import NotAcceptable, UnsupportedMediaType

from reporter import limits
from reporter.errors import InputError
from reporter.fhir import models

JSON_TYPE = "application/fhir+json"
XML_TYPE = "application/fhir+xml"
_FORMAT_ALIASES = {
    "json": "json", "application/json": "json", "application/fhir+json": "json",
    "xml": "xml", "text/xml": "xml", "application/xml": "xml", "application/fhir+xml": "xml",
}
_OFFERS = ["application/fhir+json", "application/json", "application/fhir+xml", "application/xml", "text/xml"]


def wanted_format(strict: bool = True) -> str:
    """'json' or 'xml' for the response. NotAcceptable if the client accepts neither (when strict)."""
    given = request.args.get("_format")
    if given:
        fmt = _FORMAT_ALIASES.get(given.split(";")[0].strip().lower())
        if fmt is None:
            if strict:
                raise NotAcceptable(f"_format {given!r} is not supported; use json or xml")
            return "json"
        return fmt
    accept = request.accept_mimetypes
    if not accept or not request.headers.get("Accept"):
        return "json"
    best = accept.best_match(_OFFERS)
    if best is None:
        if strict:
            raise NotAcceptable("the Accept header names no format this server produces (FHIR JSON or XML)")
        return "json"
    return "xml" if "xml" in best else "json"


def fhir_response(resource: dict, status: int = 200, headers: dict | None = None,
                  fmt: str | None = None) -> Response:
    fmt = fmt or wanted_format(strict=False)
    if fmt == "xml":
        body, mimetype = models.to_xml(resource), XML_TYPE
    else:
        body = json.dumps(resource, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        mimetype = JSON_TYPE
    response = Response(body, status=status, headers=headers or {})
    response.headers["Content-Type"] = f"{mimetype}; charset=utf-8"
    return response


def read_resource_body() -> dict:
    """The request body as a resource dict, from FHIR JSON or XML. Raises InputError / 415 / 413."""
    mimetype = (request.mimetype or "").lower()
    data = request.get_data(cache=True)  # raises RequestEntityTooLarge past MAX_CONTENT_LENGTH
    if not data.strip():
        raise InputError("the request has no body", location="body", hint="send a FHIR resource")
    if mimetype in ("application/fhir+json", "application/json", "application/json+fhir"):
        try:
            parsed = limits.parse_json(data.decode("utf-8"), object_pairs_hook=_no_duplicate_keys)
        except UnicodeDecodeError as exc:
            raise InputError("the body is not UTF-8", location=f"byte {exc.start}") from exc
        except json.JSONDecodeError as exc:
            raise InputError(f"malformed JSON: {exc.msg}", location=f"line {exc.lineno}, column {exc.colno}") \
                from exc
        except ValueError as exc:
            raise InputError(str(exc), location="body") from exc
    elif mimetype in ("application/fhir+xml", "application/xml", "text/xml", "application/xml+fhir"):
        try:
            parsed = models.from_xml(data)
        except ValueError as exc:
            raise InputError(str(exc), location="body") from exc
    else:
        raise UnsupportedMediaType(
            f"Content-Type {request.mimetype or '(none)'!r} is not supported; "
            "send application/fhir+json or application/fhir+xml")
    if not isinstance(parsed, dict) or not isinstance(parsed.get("resourceType"), str):
        raise InputError("the body is not a FHIR resource (no resourceType)", location="resourceType")
    limits.check_text(parsed, parsed["resourceType"])  # text FHIR (and FHIR XML) cannot carry
    return parsed


def _no_duplicate_keys(pairs: list[tuple[str, object]]) -> dict:
    result: dict = {}
    for key, value in pairs:
        if key in result:
            raise ValueError(f"duplicate JSON property {key!r}")
        result[key] = value
    return result
