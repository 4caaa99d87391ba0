"""FHIR content negotiation: JSON or XML by `_format` (wins) or Accept; request bodies by Content-Type."""

from __future__ import annotations

import json
from typing import Any

import orjson
from flask import Response, current_app, request
from werkzeug.exceptions import NotAcceptable, RequestEntityTooLarge, UnsupportedMediaType

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


FHIR_VERSIONS = ("4.0", "4.0.1")


def _media_ranges(header: str) -> list[tuple[str, float, dict[str, str]]]:
    """(media type, q, other parameters) of each range in an Accept header, lower-cased, in order."""
    ranges = []
    for part in header.split(","):
        pieces = [p.strip() for p in part.split(";")]
        if not pieces[0]:
            continue
        params: dict[str, str] = {}
        for piece in pieces[1:]:
            key, _, value = piece.partition("=")
            params[key.strip().lower()] = value.strip().strip('"')
        try:
            q = float(params.pop("q", "1"))
        except ValueError:
            q = 0.0
        ranges.append((pieces[0].lower(), q, params))
    return ranges


def accepts(offers: list[str]) -> str | None:
    """The offer the Accept header likes best (None if it accepts none of them), parameters understood:
    `fhirVersion` (R4 is 4.0) must name R4, `charset` must allow UTF-8, others are ignored."""
    header = request.headers.get("Accept")
    if not header or not header.strip():
        return offers[0]
    best: tuple[float, int, str] | None = None
    for media, q, params in _media_ranges(header):
        if q <= 0:
            continue
        version = params.get("fhirversion")
        if version is not None and version not in FHIR_VERSIONS:
            continue
        if params.get("charset", "utf-8").lower() not in ("utf-8", "utf8"):
            continue
        for rank, offer in enumerate(offers):
            kind = offer.split("/", 1)[0]
            if media in (offer, "*/*", f"{kind}/*"):
                specific = 2 if media == offer else 1 if media != "*/*" else 0
                key = (q, specific, -rank)
                if best is None or key > best:
                    best = (q, specific, -rank)
    return offers[-best[2]] if best else None


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
    best = accepts(_OFFERS)
    if best is None:
        if strict:
            raise NotAcceptable("the Accept header names no format this server produces (FHIR JSON or XML, "
                                "fhirVersion 4.0, UTF-8)")
        return "json"
    return "xml" if "xml" in best else "json"


def fhir_response(resource: dict, status: int = 200, headers: dict | None = None,
                  fmt: str | None = None) -> Response:
    fmt = fmt or wanted_format(strict=False)
    if fmt == "xml":
        # Text stored before input refused control characters: U+FFFD in XML (which cannot carry them), so
        # one such case does not break every page that includes it; JSON still serves the stored text.
        return typed_response(models.to_xml(limits.scrub_forbidden(resource)), XML_TYPE, status, headers)
    return json_response(json_bytes(resource), status, headers)


def json_response(body: bytes, status: int = 200, headers: dict | None = None) -> Response:
    """A response of FHIR JSON bytes already made (a stored resource served as it is)."""
    return typed_response(body, JSON_TYPE, status, headers)


def typed_response(body: str | bytes, mimetype: str, status: int = 200, headers: dict | None = None) -> Response:
    """A FHIR body of the given media type, declared as UTF-8."""
    response = Response(body, status=status, headers=headers or {})
    response.headers["Content-Type"] = f"{mimetype}; charset=utf-8"
    return response


def json_bytes(resource: Any) -> bytes:
    """Compact UTF-8 JSON, as json.dumps(ensure_ascii=False, separators=(",", ":")) writes it, by orjson (a
    search page of 20 Bundles is over a megabyte); what orjson refuses (integers past 64 bits, non-string
    keys) goes through the standard library."""
    try:
        return orjson.dumps(resource)
    except TypeError:  # orjson.JSONEncodeError
        return json.dumps(resource, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def read_resource_body() -> dict:
    """The request body as a resource dict, from FHIR JSON or XML. Raises InputError / 415 / 413."""
    mimetype = (request.mimetype or "").lower()
    params = {k.lower(): v for k, v in request.mimetype_params.items()}
    if params.get("fhirversion", "4.0") not in FHIR_VERSIONS:
        raise UnsupportedMediaType(f"fhirVersion={params['fhirversion']} is not served here; this server is "
                                   "FHIR R4 (fhirVersion=4.0)")
    if params.get("charset", "utf-8").lower() not in ("utf-8", "utf8"):
        raise UnsupportedMediaType(f"charset={params['charset']} is not accepted; send UTF-8")
    data = request.get_data(cache=True)  # raises RequestEntityTooLarge past MAX_CONTENT_LENGTH
    most = current_app.config.get("MAX_CONTENT_LENGTH")
    if most and request.content_length is None and len(data) >= most:
        # a chunked body (no Content-Length) is cut at the limit by the server, not refused: refused here, as a
        # body with its length is (it was read as malformed JSON, cut in the middle of a string)
        raise RequestEntityTooLarge()
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
    result = dict(pairs)  # in C; the loop below only runs to name the duplicate
    if len(result) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise ValueError(f"duplicate JSON property {key!r}")
            seen.add(key)
    return result
