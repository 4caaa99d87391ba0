"""The least a Flask app under gunicorn can do for a FHIR read or create: the floor of `api_vs_sekmet.py`.

`GET /fhir/Bundle/<id>` answers bytes held in memory (set by `PUT /floor/body`, a stored Bundle as our server
serves it), gzip-compressed when asked as ours; `POST /fhir/Bundle` reads the JSON body and answers 201 with a
small resource. No token check, no database, no validation, no audit: what is left is gunicorn's HTTP handling,
Flask's request and response objects and the socket. A ratio to sekmet-fhir above what this floor allows
cannot come from our code.

Run by the benchmark: gunicorn bench.flask_floor:app
"""

from __future__ import annotations

import gzip
from datetime import UTC, datetime

import orjson
from flask import Flask, Response, request

from reporter.web.compression import LEVEL

app = Flask(__name__)
_BODY = {"bytes": b"{}"}
JSON = "application/fhir+json"


@app.put("/floor/body")
def set_body():
    _BODY["bytes"] = request.get_data()
    return Response(status=204)


@app.get("/fhir/Bundle/<resource_id>")
def read(resource_id: str):
    """The body, gzip-compressed at our server's level when the client accepts gzip (as ours does)."""
    if request.accept_encodings.quality("gzip") > 0:
        return Response(gzip.compress(_BODY["bytes"], compresslevel=LEVEL, mtime=0), content_type=JSON,
                        headers={"ETag": 'W/"1"', "Content-Encoding": "gzip", "Vary": "Accept-Encoding"})
    return Response(_BODY["bytes"], content_type=JSON, headers={"ETag": 'W/"1"'})


@app.post("/fhir/Bundle")
def create():
    body = orjson.loads(request.get_data())
    answer = {"resourceType": "Bundle", "id": body.get("id") or "floor",
              "meta": {"versionId": "1", "lastUpdated": datetime.now(UTC).isoformat()}}
    return Response(orjson.dumps(answer), status=201, content_type=JSON,
                    headers={"Location": "/fhir/Bundle/floor/_history/1"})
