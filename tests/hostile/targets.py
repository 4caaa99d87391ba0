"""Fuzz targets: each takes a seed, builds one mutated input from real material and feeds it to one entry
point. A target returns "ok" or "refused" (a clean error); anything else (an exception other than
ReporterError, an HTTP 5xx) is a failure the caller reports with the seed, which replays it exactly.
Used by tests/hostile/test_fuzz.py (bounded, in CI) and bench/fuzz.py (long runs)."""

from __future__ import annotations

import contextlib
import json
import random
from collections.abc import Callable
from functools import cache
from pathlib import Path
from urllib.parse import quote

from reporter.errors import ReporterError
from tests.hostile.mutators import mutate_json, mutate_xml

REPO = Path(__file__).resolve().parents[2]


class ServerError(AssertionError):
    """The service answered 5xx."""


@cache
def e2b_sources(shared: str) -> tuple[bytes, ...]:
    files = sorted(Path(shared, "e2b", "examples").glob("*/*.xml")) + sorted((REPO / "tests" / "e2b" / "inputs")
                                                                              .glob("*.xml"))
    return tuple(p.read_bytes() for p in files)


@cache
def case_sources() -> tuple[str, ...]:
    from reporter.casefile.parse import load_data

    files = sorted((REPO / "examples").glob("*.yaml")) + sorted((REPO / "tests" / "e2b" / "data").glob("*case*.yaml"))
    return tuple(json.dumps(load_data(p.read_text(encoding="utf-8"), p.name)) for p in files)


@cache
def bundle_sources() -> tuple[str, ...]:
    from tests.service.bundles import demo_bundles

    return tuple(json.dumps(b) for b in demo_bundles())


def e2b_import(seed: int, shared: str) -> str:
    """E2B(R3) XML -> hardened parse -> (XSD when configured) -> import."""
    from reporter.e2b import xmlsafe
    from reporter.e2b.importer import import_loaded

    rng = random.Random(seed)
    data = mutate_xml(rng.choice(e2b_sources(shared)), rng, rng.randint(1, 6))
    try:
        result = import_loaded(xmlsafe.parse_bytes(data, f"seed-{seed}.xml"))
    except ReporterError:
        return "refused"
    return "ok" if any(r.ok for r in result.reports) else "refused"


def case_file(seed: int) -> str:
    """Case file (JSON or YAML text) -> parse -> Bundle -> validation report."""
    import yaml

    from reporter.casefile.parse import parse_case
    from reporter.fhir.build import build_bundle
    from reporter.validation import validate_bundle

    rng = random.Random(seed)
    doc = mutate_json(json.loads(rng.choice(case_sources())), rng, rng.randint(1, 6))
    text = json.dumps(doc) if rng.random() < 0.5 else yaml.safe_dump(doc, allow_unicode=True)
    try:
        case = parse_case(text, f"seed-{seed}")
        validate_bundle(build_bundle(case))
    except ReporterError:
        return "refused"
    return "ok"


def fuzz_app(db_path: Path):
    """The app on a fresh SQLite store for the API targets: (store, test client, bearer headers, the id of one
    stored case approved for submission); the client is logged in as a reviewer for the page queries."""
    import re

    from reporter.store import CaseStore
    from reporter.store.approvals import approve
    from reporter.store.tokens import create_token, set_password
    from reporter.web import create_app
    from tests.service.bundles import demo_bundles

    store = CaseStore(f"sqlite:///{db_path}")
    app = create_app({"SECRET_KEY": "fuzz", "E2B_SCHEMA_DIR": None}, store=store)
    client = app.test_client()
    headers = {"Authorization": f"Bearer {create_token(store, ['read', 'write', 'submit'])}"}
    case_id = client.post("/fhir/Bundle", data=json.dumps(demo_bundles()[0]),
                          headers={**headers, "Content-Type": "application/fhir+json"}).json["id"]
    approve(store, case_id, 1, "fuzz-approver")  # so that E2B queries reach the export, not the approval check
    set_password(store, "fuzzer", "fuzzing password", role="reviewer")
    page = client.get("/login").get_data(as_text=True)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    login = client.post("/login", data={"csrf_token": csrf, "username": "fuzzer", "password": "fuzzing password"})
    assert login.status_code == 303, login.status_code
    return store, client, headers, case_id


def api_bundle(seed: int, client, headers: dict[str, str]) -> str:
    """A mutated ICSR Bundle to POST Bundle, PUT, or $validate, as JSON or XML."""
    rng = random.Random(seed)
    doc = mutate_json(json.loads(rng.choice(bundle_sources())), rng, rng.randint(1, 4))
    if isinstance(doc, dict) and rng.random() < 0.5:  # a new case key so that creates can succeed
        with contextlib.suppress(KeyError, IndexError, TypeError):
            doc["entry"][0]["resource"]["identifier"]["value"] += f"-{seed}"
    body = json.dumps(doc)
    path = rng.choice(("/fhir/Bundle", "/fhir/Bundle/$validate", "/fhir/Bundle/$validate"))
    media = "application/fhir+json"
    if rng.random() < 0.25:
        body = body[: rng.randrange(len(body) + 1)]
    r = client.post(path, data=body, headers={**headers, "Content-Type": media,
                                              "X-Reporter-Reason": "fuzz"})
    if r.status_code >= 500:
        raise ServerError(f"POST {path} -> {r.status_code}")
    return "ok" if r.status_code < 400 else "refused"


_PARAMS = ("_id", "_lastUpdated", "date", "patient", "code", "identifier", "seriousness", "_count", "_sort",
           "_cursor", "_offset", "_total", "_format", "_summary", "subject", "x")
_VALUES = ("", "1", "-1", "gt2024", "lt9999-12-31", "ge0001-01-01T00:00:00Z", "eq2024-13", "a|b", "|", "a,b,,",
           "Patient/1", "99999999999999999999999", "2024-01-01T00:00:00Z~9223372036854775807", "xml", "json",
           "-_lastUpdated", "accurate", "\u00e9", "%00", "%ff", "Ω" * 300, "a" * 1100, "c," * 120)
_PATHS = ("/fhir/Patient", "/fhir/AdverseEvent", "/fhir/Bundle", "/fhir/MedicationStatement", "/fhir/Observation",
          "/fhir/Bundle/{id}", "/fhir/Bundle/{id}/_history", "/fhir/Bundle/{id}/_history/{n}",
          "/fhir/Patient/{id}", "/fhir/metadata", "/cases", "/cases/{id}", "/cases/{id}/history", "/audit")


def api_query(seed: int, client, headers: dict[str, str], case_id: str) -> str:
    """A GET with drawn path segments and query parameters (names, values, repetitions)."""
    rng = random.Random(seed)
    path = rng.choice(_PATHS).format(id=rng.choice((case_id, "x", "a.b", "%00", "-" * 65, "Ω")),
                                     n=rng.choice(("1", "0", "2147483648", "9" * 30, "²", "-1")))
    params = [(rng.choice(_PARAMS), rng.choice(_VALUES)) for _ in range(rng.randint(0, 6))]
    query = "&".join(f"{quote(k)}={v if '%' in v else quote(v)}" for k, v in params)
    r = client.get(f"{path}?{query}" if query else path, headers=headers)
    if r.status_code >= 500:
        raise ServerError(f"GET {path}?{query[:200]} -> {r.status_code}")
    return "ok" if r.status_code < 400 else "refused"


TARGETS: dict[str, Callable] = {"e2b-import": e2b_import, "case-file": case_file, "api-bundle": api_bundle,
                                "api-query": api_query}
