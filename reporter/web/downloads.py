"""Case-level downloads shared by the API and the pages: E2B(R3) XML per receiver, CIOMS I PDF, report HTML,
and the Bundle JSON. Each returns the bytes, a file name and a media type; the caller audits and serves."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from reporter.errors import InputError
from reporter.store import StoredVersion

RECEIVERS = ("ich", "fda", "ema")


@dataclass
class Download:
    body: bytes | str
    filename: str
    media_type: str
    headers: dict[str, str]
    report: object = None  # the checks' ValidationReport, where the download was checked (E2B)


@dataclass
class E2BRefused(Exception):
    """The case fails validation, or its XML the XSD or the receiver's rules: not handed out. `report` is a
    ValidationReport."""

    report: object


def served_bundle(v: StoredVersion) -> dict:
    body = dict(v.bundle)
    body["meta"] = {**(body.get("meta") or {}), **v.meta}
    return body


def stored_case(v: StoredVersion):
    """The case file kept beside the Bundle (for the report's computed causality section), or None."""
    if not v.casefile:
        return None
    from pydantic import ValidationError

    from reporter.casefile.model import CaseFile

    try:
        return CaseFile.model_validate(v.casefile)
    except ValidationError:
        return None


def _stem(v: StoredVersion) -> str:
    from reporter.store.repository import case_key

    return f"{re.sub(r'[^A-Za-z0-9._-]', '_', case_key(v.bundle)[1])}-v{v.version}"


def check_receiver(receiver: str) -> str:
    if receiver not in RECEIVERS:
        raise InputError(f"unknown receiver {receiver!r}", location="receiver",
                         hint=f"choose from: {', '.join(RECEIVERS)}")
    return receiver


def e2b(v: StoredVersion, receiver: str, schema_dir: str | None) -> Download:
    from reporter.e2b.export import export_bundles
    from reporter.e2b.readiness import NOT_READ, validation_errors

    check_receiver(receiver)
    bundle = served_bundle(v)
    result = export_bundles([bundle], receiver_name=receiver, schema_dir=schema_dir)
    # what validation refuses, the export refuses; what no reader takes, it says, as `reporter e2b` does
    result.check.report.issues[:0] = validation_errors([bundle], also=NOT_READ)
    if not result.check.ok:
        raise E2BRefused(result.check.report)
    warnings = sum(i.severity == "warning" for i in result.check.report.issues)
    return Download(result.xml, f"{_stem(v)}-{receiver}.xml", "application/xml; charset=utf-8",
                    {"X-E2B-XSD": result.check.xsd, "X-E2B-Warnings": str(warnings)}, result.check.report)


@cache
def renderer_key() -> str:
    """What a rendition depends on besides the version: the templates, the rendering, validation and
    assessment code and the mapping tables (a hash of their files, worked out once per process)."""
    root = Path(__file__).resolve().parents[2]
    digest = hashlib.sha256()
    for folder in ("templates", "mappings", "reporter/render", "reporter/validation", "reporter/assess",
                   "reporter/fhir"):
        for path in sorted((root / folder).rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                digest.update(str(path.relative_to(root)).encode())
                digest.update(path.read_bytes())
    return digest.hexdigest()[:32]


def rendered(store, v: StoredVersion, kind: str, render) -> bytes:
    """A version's `kind` rendition: kept in the store after the first request, so a download reads bytes
    instead of running WeasyPrint (seconds) again; `store` None renders every time."""
    if store is None:
        return render()
    key = renderer_key()
    kept = store.rendition(v.case_id, v.version, kind, key)
    if kept is not None:
        return kept
    body = render()
    store.keep_rendition(v.case_id, v.version, kind, key, body)
    return body


def pdf(v: StoredVersion, store=None) -> Download:
    """The CIOMS I form of the version (kept in `store` once rendered)."""
    from reporter.render.model import ReportVersion
    from reporter.render.output import bundle_pdf, validation_report

    def render() -> bytes:
        bundle = served_bundle(v)
        version = ReportVersion(v.kind, v.version, v.reason)  # box 25a: the Bundle does not say follow-up
        return bundle_pdf(bundle, validation_report(bundle), stored_case(v), version)

    return Download(rendered(store, v, "pdf", render), f"{_stem(v)}-cioms.pdf", "application/pdf", {})


def html(v: StoredVersion, store=None) -> Download:
    """The self-contained report page (inline CSS and SVG, no scripts) with its validation panel (kept in
    `store` once rendered)."""
    from reporter.render.output import bundle_html, validation_report

    def render() -> bytes:
        bundle = served_bundle(v)
        return bundle_html(bundle, validation_report(bundle), stored_case(v)).encode("utf-8")

    return Download(rendered(store, v, "html", render), f"{_stem(v)}-report.html",
                    "text/html; charset=utf-8",
                    # The page is a document to keep, not part of the app: no scripts, inline styles only.
                    {"Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
                                                "frame-ancestors 'none'; base-uri 'none'; form-action 'none'"})


def bundle_json(v: StoredVersion) -> Download:
    text = json.dumps(served_bundle(v), indent=2, ensure_ascii=False) + "\n"
    return Download(text, f"{_stem(v)}-bundle.json", "application/fhir+json; charset=utf-8", {})
