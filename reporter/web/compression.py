"""gzip for API responses when the client asks for it (Accept-Encoding: gzip).

Only the FHIR API (/fhir) is compressed, and only text (FHIR JSON and XML, NDJSON, HTML): PDFs are compressed
already, and the clinician pages carry CSRF tokens beside text a user typed, the mix a compression side channel
(BREACH) reads; API requests carry a bearer token in a header, which no other site can make a browser send.
Level 1: most of the size win (a 20-Bundle search page of 0.9 MB becomes about 140 kB) for a third of the CPU
time of level 6.
"""

from __future__ import annotations

import gzip

from flask import Flask, Response, request

LEVEL = 1
_TEXT_TYPES = ("application/fhir+json", "application/json", "application/fhir+xml", "application/xml",
               "application/fhir+ndjson", "text/")


def wants_gzip() -> bool:
    """The request's Accept-Encoding allows gzip (by name or `*`, with q > 0)."""
    return request.accept_encodings.quality("gzip") > 0


def compress(response: Response, min_bytes: int) -> Response:
    """The response gzip-compressed when the client accepts gzip and it is API text of at least `min_bytes`;
    every compressible response says it varies by Accept-Encoding (caches keep the two forms apart)."""
    if (min_bytes <= 0 or response.direct_passthrough or response.is_streamed or response.status_code < 200
            or response.status_code in (204, 304) or "Content-Encoding" in response.headers
            or not (request.path == "/fhir" or request.path.startswith("/fhir/"))
            or not (response.mimetype or "").startswith(_TEXT_TYPES)):
        return response
    response.vary.add("Accept-Encoding")
    body = response.get_data()
    if len(body) < min_bytes or not wants_gzip():
        return response
    response.set_data(gzip.compress(body, compresslevel=LEVEL, mtime=0))
    response.headers["Content-Encoding"] = "gzip"
    return response


def register(app: Flask) -> None:
    min_bytes = int(app.config.get("GZIP_MIN_BYTES") or 0)

    @app.after_request
    def _gzip(response: Response) -> Response:
        return compress(response, min_bytes)
