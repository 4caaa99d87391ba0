"""FHIR Bulk Data export (system level `GET /fhir/$export`, patient level `GET /fhir/Patient/$export`, group level
`GET /fhir/Group/<id>/$export`), per the Bulk Data Access IG: an async kick-off
(`Prefer: respond-async` -> 202 + Content-Location), a status endpoint (202 with X-Progress while running, then
200 with the manifest; DELETE cancels) and NDJSON files (application/fhir+ndjson), with `_type` and `_since`.

The export runs in a thread of the worker that took the kick-off and writes its files under the export folder
(REPORTER_EXPORT_DIR, default a folder in the system temp dir), so any worker on the host can answer status and
download requests. Patient and group level exports write the Patient compartment only (Patient and the types
that point at a patient: patient_types()), for every patient or for a Group's members. The manifest's
transactionTime is the store's watermark when the export started: everything
written up to it is in the files, and the next export with `_since=<transactionTime>` has everything after it."""

from __future__ import annotations

import json
import re
import shutil
import tempfile
import threading
import uuid
from datetime import UTC, datetime
from pathlib import Path

from flask import Response, current_app, request

from reporter.errors import InputError, NotFound
from reporter.store import CaseStore
from reporter.store.fhirdates import format_instant, parse_range
from reporter.store.searchparams import searchable_types
from reporter.web.outcome import issue, outcome

NDJSON = "application/fhir+ndjson"
_JOB_RE = re.compile(r"^[0-9a-f]{32}$")
_FILE_RE = re.compile(r"^([A-Z][A-Za-z]+)-(\d+)\.ndjson$")
LINES_PER_FILE = 10_000


def export_dir() -> Path:
    configured = current_app.config.get("EXPORT_DIR")
    folder = Path(configured) if configured else Path(tempfile.gettempdir()) / "reporter-exports"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def patient_types() -> list[str]:
    """Patient and the exportable types in its R4 compartment (a reference parameter to Patient named patient
    or subject); Bundle is in no compartment."""
    from reporter.store.searchparams import params_of

    return [t for t in searchable_types() if t == "Patient" or any(
        name in ("patient", "subject") and p.type == "reference" and "Patient" in p.targets
        for name, p in params_of(t).items())]


def kick_off(store: CaseStore, base: str, patients: list[str] | None = None, *, compartment: bool = False) -> Response:
    """Start an export: of everything, or (compartment) of the Patient compartment of every patient, or of the
    `patients` given as Patient/<id> (a Group's members)."""
    if "respond-async" not in request.headers.get("Prefer", "").replace(" ", ""):
        raise InputError("a bulk export runs asynchronously", location="Prefer", hint="send Prefer: respond-async")
    output_format = request.args.get("_outputFormat", NDJSON)
    if output_format not in (NDJSON, "application/ndjson", "ndjson"):
        raise InputError(f"_outputFormat {output_format!r} is not supported", location="_outputFormat",
                         hint=f"use {NDJSON}")
    compartment = compartment or patients is not None
    known = patient_types() if compartment else searchable_types()
    types = [t for value in request.args.getlist("_type") for t in value.split(",") if t.strip()] or known
    unknown = [t for t in types if t not in known]
    if unknown:
        raise InputError(f"_type {', '.join(unknown)} cannot be exported", location="_type",
                         hint="types: " + ", ".join(known))
    since = None
    if request.args.get("_since"):
        try:
            since = parse_range(request.args["_since"])[0]
        except ValueError as exc:
            raise InputError(f"_since={request.args['_since']!r} is not a FHIR instant", location="_since") from exc
    for unsupported in ("_typeFilter", "_elements", "patient", "includeAssociatedData"):
        if unsupported in request.args:
            raise InputError(f"{unsupported} is not supported by this server's export", location=unsupported)
    job = uuid.uuid4().hex
    folder = export_dir() / job
    folder.mkdir()
    until = store.watermark() or datetime.now(UTC)
    (folder / "status.json").write_text(json.dumps({"state": "running", "types": types}), encoding="utf-8")
    scope = (compartment, patients)
    thread = threading.Thread(target=_run, args=(store, folder, types, since, until, base, request.url, scope),
                              name=f"export-{job}", daemon=True)
    thread.start()
    return Response(status=202, headers={"Content-Location": f"{base}/$export-status/{job}"})


def _run(store: CaseStore, folder: Path, types: list[str], since, until, base: str, url: str,
         scope: tuple[bool, list[str] | None] = (False, None)) -> None:
    output = []
    compartment, patients = scope
    try:
        for rtype in types:
            part, count, handle = 0, 0, None
            rows = (store.export_rows(rtype, since, until, patients=patients, compartment=True) if compartment
                    else store.export_rows(rtype, since, until))
            for item in rows:
                if not folder.exists():  # cancelled
                    return
                if handle is None or (count % LINES_PER_FILE == 0 and count):
                    if handle is not None:
                        handle.close()
                    part += 1
                    handle = (folder / f"{rtype}-{part}.ndjson").open("w", encoding="utf-8")
                    output.append({"type": rtype, "url": f"{base}/$export-file/{folder.name}/{rtype}-{part}.ndjson",
                                   "count": 0})
                body = item.with_meta()
                if rtype == "Bundle":
                    body["id"] = item.resource_id
                handle.write(json.dumps(body, ensure_ascii=False, separators=(",", ":")) + "\n")
                output[-1]["count"] += 1
            if handle is not None:
                handle.close()
        manifest = {"transactionTime": format_instant(until), "request": url, "requiresAccessToken": True,
                    "output": output, "error": []}
        _write_atomic(folder / "manifest.json", manifest)
        _write_atomic(folder / "status.json", {"state": "complete"})
    except Exception as exc:  # the status endpoint reports it; nothing else can
        if folder.exists():
            _write_atomic(folder / "status.json", {"state": "failed", "error": f"{type(exc).__name__}: {exc}"})


def _write_atomic(path: Path, body: dict) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(body), encoding="utf-8")
    tmp.replace(path)


def _job_folder(job: str) -> Path:
    folder = export_dir() / job
    if not _JOB_RE.match(job) or not folder.is_dir():
        raise NotFound(f"export {job} does not exist (finished exports are kept until deleted)",
                       location=f"$export-status/{job}")
    return folder


def status(job: str) -> Response:
    folder = _job_folder(job)
    state = json.loads((folder / "status.json").read_text(encoding="utf-8"))
    if state["state"] == "running":
        done = len(list(folder.glob("*.ndjson")))
        return Response(status=202, headers={"X-Progress": f"running, {done} file(s) written",
                                             "Retry-After": "1"})
    if state["state"] == "failed":
        body = outcome([issue("fatal", "exception", f"the export failed: {state.get('error')}")])
        return Response(json.dumps(body), status=500, content_type="application/fhir+json")
    manifest = (folder / "manifest.json").read_text(encoding="utf-8")
    return Response(manifest, status=200, content_type="application/json", headers={"Expires": "0"})


def cancel(job: str) -> Response:
    shutil.rmtree(_job_folder(job), ignore_errors=True)
    return Response(status=202)


def download(job: str, name: str) -> Response:
    folder = _job_folder(job)
    if not _FILE_RE.match(name) or not (folder / name).is_file():
        raise NotFound(f"{name} is not a file of export {job}", location=f"$export-file/{job}/{name}")
    return Response((folder / name).read_bytes(), status=200, content_type=NDJSON)
