"""The EHR client when the server misbehaves: a small FHIR-speaking server of our own on loopback (http.server in
a thread) that is slow, busy (429 + Retry-After), failing (500), cuts answers short, lacks _include, or pages in a
loop. Each ends in a clear message, exit code 2 and no draft written (an existing file is left as it was)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import pytest
from click.testing import CliRunner

from reporter.ehr.client import BearerToken, ClientSettings, EHRError, FhirClient, retry_after_seconds

PATIENT = {"resourceType": "Patient", "id": "p1", "meta": {"versionId": "3"}, "gender": "male",
           "birthDate": "1960-02-01", "name": [{"family": "Quinn", "given": ["Ada"]}]}
MEDICATION = {"resourceType": "Medication", "id": "m1", "code": {"text": "anakinra 100 mg"}}
REQUEST = {"resourceType": "MedicationRequest", "id": "r1", "status": "active", "intent": "order",
           "subject": {"reference": "Patient/p1"}, "authoredOn": "2024-04-20",
           "medicationReference": {"reference": "Medication/m1"}}


def capability(include: bool = True, message: bool = False) -> dict:
    resources = []
    for rtype in ("Patient", "Observation", "Condition", "AllergyIntolerance", "MedicationRequest",
                  "MedicationStatement", "MedicationAdministration", "Immunization", "Encounter", "Bundle"):
        res = {"type": rtype, "interaction": [{"code": "read"}, {"code": "search-type"}, {"code": "create"}],
               "searchParam": [{"name": "patient", "type": "reference"}]}
        if include:
            res["searchInclude"] = [f"{rtype}:medication"]
        resources.append(res)
    rest = {"mode": "server", "resource": resources}
    if message:
        rest["operation"] = [{"name": "process-message", "definition": "http://hl7.org/fhir/OperationDefinition/"
                              "MessageHeader-process-message"}]
    return {"resourceType": "CapabilityStatement", "status": "active", "kind": "instance", "fhirVersion": "4.0.1",
            "format": ["json"], "rest": [rest]}


def searchset(resources: list[dict], next_url: str | None = None, included: list[dict] | None = None) -> dict:
    bundle = {"resourceType": "Bundle", "type": "searchset",
              "entry": [{"resource": r, "search": {"mode": "match"}} for r in resources]
              + [{"resource": r, "search": {"mode": "include"}} for r in included or []]}
    if next_url:
        bundle["link"] = [{"relation": "next", "url": next_url}]
    return bundle


Reply = tuple[int, dict, bytes | dict | None]


class FakeFhir:
    """Answers by a function of (method, path, query); records every request."""

    def __init__(self, answer: Callable[[FakeFhir, str, str, dict], Reply | None]) -> None:
        self.answer = answer
        self.seen: list[tuple[str, str, dict]] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def handle_one(self, method: str) -> None:
                parts = urlsplit(self.path)
                query: dict[str, list[str]] = {}
                for k, v in parse_qsl(parts.query):
                    query.setdefault(k, []).append(v)
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                fake.seen.append((method, parts.path, query))
                reply = fake.answer(fake, method, parts.path.removeprefix("/fhir"), query) \
                    or fake.default(parts.path.removeprefix("/fhir"), body)
                status, headers, payload = reply
                if payload == "TRUNCATE":
                    self.send_response(200)
                    self.send_header("Content-Type", "application/fhir+json")
                    self.send_header("Content-Length", "5000")
                    self.end_headers()
                    self.wfile.write(b'{"resourceType": "Bundle", "type": "searchset", "entry": [')
                    self.wfile.flush()
                    self.close_connection = True
                    return
                data = payload if isinstance(payload, bytes) else json.dumps(payload or {}).encode()
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Type", "application/fhir+json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                self.handle_one("GET")

            def do_POST(self) -> None:
                self.handle_one("POST")

        class Quiet(ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request, client_address) -> None:
                pass  # a client that gave up (time-out) breaks the pipe: expected here

        self.httpd = Quiet(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.httpd.server_port}/fhir"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def default(self, path: str, body: bytes) -> Reply:
        if path == "/metadata":
            return 200, {}, capability()
        if path == "/Patient/p1":
            return 200, {}, PATIENT
        if path == "/Medication/m1":
            return 200, {}, MEDICATION
        if path == "/MedicationRequest":
            return 200, {}, searchset([REQUEST], included=[MEDICATION])
        if path.count("/") == 1:
            return 200, {}, searchset([])
        return 404, {}, {"resourceType": "OperationOutcome",
                         "issue": [{"severity": "error", "code": "not-found", "diagnostics": "not here"}]}

    def paths(self, method: str = "GET") -> list[str]:
        return [p for m, p, _ in self.seen if m == method]


@pytest.fixture
def fake():
    servers: list[FakeFhir] = []

    def make(answer: Callable[[FakeFhir, str, str, dict], Reply | None] = lambda *a: None,
             tls: tuple[Path, Path] | None = None) -> FakeFhir:
        server = FakeFhir(answer)
        if tls:
            import ssl

            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(*tls)
            server.httpd.socket = context.wrap_socket(server.httpd.socket, server_side=True)
            server.base = server.base.replace("http://", "https://")
        server.thread.start()
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.httpd.shutdown()
        server.httpd.server_close()


FAST = {"REPORTER_EHR_TIMEOUT": "0.5", "REPORTER_EHR_RETRIES": "2", "REPORTER_EHR_MAX_RETRY_AFTER": "5",
        "REPORTER_EHR_MAX_PAGES": "5"}


def pull(server: FakeFhir, out: Path, env: dict | None = None):
    from reporter.cli import main

    return CliRunner().invoke(main, ["pull", "--server", server.base, "--token", "t0k", "--patient", "p1",
                                     "--suspect", "anakinra", "--reaction-date", "2024-05-02", "-o", str(out)],
                              env={**FAST, **(env or {})}, catch_exceptions=False)


def failed(result, out: Path, *words: str) -> None:
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    for word in words:
        assert word in result.output
    assert out.read_text() == "earlier file\n"  # no partial draft: the earlier file is as it was


@pytest.fixture
def out(tmp_path: Path) -> Path:
    target = tmp_path / "draft.yaml"
    target.write_text("earlier file\n")
    return target


def test_a_healthy_fake_gives_a_draft(fake, out: Path) -> None:
    server = fake()
    result = pull(server, out)
    assert result.exit_code == 1, result.output  # draft written, needs completing
    assert "anakinra 100 mg" in out.read_text()
    assert ("GET", "/fhir/Medication/m1", {}) not in server.seen  # came with _include


def test_slow_server_times_out_after_retries(fake, out: Path) -> None:
    def slow(srv, method, path, query):
        if path == "/Observation":
            time.sleep(1.5)
        return None

    server = fake(slow)
    started = time.monotonic()
    result = pull(server, out)
    failed(result, out, "did not answer within 0.5s", "after 3 attempt(s)", "REPORTER_EHR_TIMEOUT")
    assert server.paths().count("/fhir/Observation") == 3
    assert time.monotonic() - started < 15


def test_429_with_retry_after_is_honoured(fake, out: Path) -> None:
    def busy_once(srv, method, path, query):
        if path == "/Condition" and srv.paths().count("/fhir/Condition") == 1:
            return 429, {"Retry-After": "1"}, {"resourceType": "OperationOutcome", "issue": [
                {"severity": "error", "code": "throttled", "diagnostics": "slow down"}]}
        return None

    server = fake(busy_once)
    started = time.monotonic()
    result = pull(server, out)
    assert result.exit_code == 1, result.output
    assert time.monotonic() - started >= 1.0
    assert "HTTP 429; retrying (1/2) in 1.0s" in result.output


def test_429_asking_too_long_a_wait_stops(fake, out: Path) -> None:
    server = fake(lambda srv, m, path, q: (429, {"Retry-After": "3600"}, {}) if path == "/Condition" else None)
    failed(pull(server, out), out, "asked to wait 3600s", "longer than the 5s")
    assert server.paths().count("/fhir/Condition") == 1


def test_500s_end_in_the_servers_own_words(fake, out: Path) -> None:
    outcome = {"resourceType": "OperationOutcome", "issue": [
        {"severity": "fatal", "code": "exception", "diagnostics": "database offline"}]}
    server = fake(lambda srv, m, path, q: (500, {}, outcome) if path == "/Encounter" else None)
    failed(pull(server, out), out, "the server failed (GET Encounter, HTTP 500): database offline",
           "gave up after 3 attempts")
    assert server.paths().count("/fhir/Encounter") == 3


def test_truncated_body(fake, out: Path) -> None:
    server = fake(lambda srv, m, path, q: (200, {}, "TRUNCATE") if path == "/AllergyIntolerance" else None)
    failed(pull(server, out), out, "answer was cut short")


def test_not_json(fake, out: Path) -> None:
    server = fake(lambda srv, m, path, q: (200, {}, b"<html>proxy login</html>") if path == "/Immunization" else None)
    failed(pull(server, out), out, "is not JSON")


def test_server_without_include_support(fake, out: Path) -> None:
    def no_include(srv, method, path, query):
        if path == "/metadata":
            return 200, {}, capability(include=False)
        if "_include" in query:
            return 400, {}, {"resourceType": "OperationOutcome", "issue": [
                {"severity": "error", "code": "not-supported", "diagnostics": "_include not supported"}]}
        if path == "/MedicationRequest":
            return 200, {}, searchset([REQUEST])
        return None

    server = fake(no_include)
    result = pull(server, out)
    assert result.exit_code == 1, result.output
    assert not any("_include" in q for _, _, q in server.seen)
    assert "/fhir/Medication/m1" in server.paths()  # read by id instead
    assert "anakinra 100 mg" in out.read_text()


def test_paging_that_loops(fake, out: Path) -> None:
    def loop(srv, method, path, query):
        if path == "/Condition":
            page = int(query.get("page", ["0"])[0])
            # page 0 -> 1 -> 2 -> back to 1
            nxt = f"{srv.base}/Condition?patient=Patient/p1&page={1 if page == 2 else page + 1}"
            return 200, {}, searchset([], next_url=nxt)
        return None

    server = fake(loop)
    failed(pull(server, out), out, "Condition search's pages loop")
    assert server.paths().count("/fhir/Condition") == 3


def test_paging_bound_and_foreign_next_links(fake, out: Path) -> None:
    def endless(srv, method, path, query):
        if path == "/Condition":
            page = int(query.get("page", ["0"])[0])
            return 200, {}, searchset([], next_url=f"{srv.base}/Condition?page={page + 1}")
        return None

    server = fake(endless)
    failed(pull(server, out), out, "more than 5 pages")
    assert server.paths().count("/fhir/Condition") == 5

    server = fake(lambda srv, m, path, q: (200, {}, searchset([], next_url="http://127.0.0.2:9/fhir/Condition?p=2"))
                  if path == "/Condition" else None)
    failed(pull(server, out), out, "next page is on another server")


def test_refused_credentials_and_unknown_patient(fake, out: Path) -> None:
    denied = {"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": "login",
                                                              "details": {"text": "token expired"}}]}
    server = fake(lambda srv, m, path, q: (401, {}, denied) if path != "/metadata" else None)
    failed(pull(server, out), out, "did not accept the bearer token")
    server = fake(lambda srv, m, path, q: (404, {}, {"resourceType": "OperationOutcome", "issue": [
        {"severity": "error", "code": "not-found", "diagnostics": "Patient/p1 is not known"}]})
        if path == "/Patient/p1" else None)
    failed(pull(server, out), out, "the server has no such resource (GET Patient, HTTP 404): Patient/p1 is not known")


def test_unreachable_server(out: Path) -> None:
    from reporter.cli import main
    from tests.ehr_support import free_port

    port = free_port()

    result = CliRunner().invoke(main, ["pull", "--server", f"http://127.0.0.1:{port}/fhir", "--token", "x",
                                       "--patient", "p1", "--suspect", "a", "--reaction-date", "2024-05-02",
                                       "-o", str(out)], env=FAST, catch_exceptions=False)
    failed(result, out, "could not be reached")


def test_push_refused_message_and_unsupported_operation(fake, tmp_path: Path) -> None:
    from reporter.cli import main
    from tests.conftest import EXAMPLES

    case = sorted(EXAMPLES.glob("*.yaml"))[0]
    outcome = {"resourceType": "OperationOutcome", "issue": [
        {"severity": "error", "code": "invariant", "details": {"text": "Composition.subject is required"},
         "expression": ["Composition.subject"]}]}
    server = fake(lambda srv, m, path, q: (422, {}, outcome) if path == "/Bundle" else None)
    result = CliRunner().invoke(main, ["push", str(case), "--server", server.base, "--token", "x", "--quiet"],
                                catch_exceptions=False)
    assert result.exit_code == 2
    assert ("the server found the content invalid (POST Bundle, HTTP 422): Composition.subject is required "
            "(at Composition.subject)") in result.output
    assert server.paths("POST").count("/fhir/Bundle") == 1  # a refused POST is not retried
    result = CliRunner().invoke(main, ["push", str(case), "--server", server.base, "--token", "x", "--message",
                                       "--quiet"], catch_exceptions=False)
    assert result.exit_code == 2 and "does not accept FHIR messages" in result.output

    def rejecting(srv, method, path, query):
        if path == "/metadata":
            return 200, {}, capability(message=True)
        if path == "/$process-message":
            return 200, {}, {"resourceType": "Bundle", "type": "message", "entry": [
                {"fullUrl": "urn:uuid:h", "resource": {"resourceType": "MessageHeader", "id": "h",
                                                       "response": {"code": "fatal-error",
                                                                    "details": {"reference": "urn:uuid:o"}}}},
                {"fullUrl": "urn:uuid:o", "resource": {**outcome, "id": "o"}}]}
        return None

    server = fake(rejecting)
    result = CliRunner().invoke(main, ["push", str(case), "--server", server.base, "--token", "x", "--message",
                                       "--quiet"], catch_exceptions=False)
    assert result.exit_code == 2
    assert "did not accept the message (fatal-error): Composition.subject is required" in result.output


def test_client_units() -> None:
    assert retry_after_seconds("7") == 7
    assert retry_after_seconds("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412480 - 10) == 10
    assert retry_after_seconds("soon") is None
    with pytest.raises(EHRError, match="not a FHIR server base URL"):
        FhirClient("ftp://x", BearerToken("t"), ClientSettings())


def _self_signed(tmp_path: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 signed by itself: our private CA."""
    import datetime as dt
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test hospital CA")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(hours=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_file, key_file = tmp_path / "ca.pem", tmp_path / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_file, key_file


def test_tls_private_ca(fake, tmp_path: Path, out: Path) -> None:
    cert_file, key_file = _self_signed(tmp_path)
    server = fake(tls=(cert_file, key_file))
    # without the CA: refused, not retried, with the setting to use as the hint
    failed(pull(server, out), out, "TLS certificate could not be verified", "REPORTER_EHR_CA_BUNDLE")
    # with the private CA named: the pull works over verified TLS
    result = pull(server, out, {"REPORTER_EHR_CA_BUNDLE": str(cert_file)})
    assert result.exit_code == 1, result.output
    assert "anakinra 100 mg" in out.read_text()


def test_tls_verification_is_on_and_a_ca_bundle_is_used(tmp_path: Path) -> None:
    from reporter.ehr.client import settings_from_config

    client = FhirClient("https://ehr.invalid/fhir", None, ClientSettings())
    assert client.session.verify is True
    ca = tmp_path / "ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    import os

    os.environ["REPORTER_EHR_CA_BUNDLE"] = str(ca)
    try:
        assert FhirClient("https://ehr.invalid/fhir", None, settings_from_config()).session.verify == str(ca)
    finally:
        del os.environ["REPORTER_EHR_CA_BUNDLE"]


def test_unknown_values_are_recorded_as_absent(fake, out: Path) -> None:
    import yaml

    anonymous = {"resourceType": "Patient", "id": "p1", "gender": "unknown"}
    server = fake(lambda srv, m, path, q: (200, {}, anonymous) if path == "/Patient/p1" else None)
    result = pull(server, out)
    assert result.exit_code == 1, result.output
    patient = yaml.safe_load(out.read_text())["case"]["patient"]
    assert patient["initials"] == {"absent": "unknown"} and patient["sex"] == {"absent": "unknown"}
    assert "birth_date" not in patient and "age_at_onset" not in patient
