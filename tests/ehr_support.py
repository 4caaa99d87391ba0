"""For the EHR tests: start sekmet-fhir on loopback, load HL7's official R4 examples and a generated patient whose
course is an adverse drug reaction (anakinra started, liver enzymes rising over days, a hospital stay)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import requests
import yaml

REPO = Path(__file__).resolve().parent.parent
EXAMPLES_DIR = REPO / "tools" / "fhir-r4-examples" / "node_modules" / "hl7.fhir.r4.examples"
TOKEN = "test-token-6b1f0c"  # a static bearer token the test server accepts
CLIENT_ID = "reporter-backend"        # RSA key: RS384
EC_CLIENT_ID = "reporter-backend-ec"  # EC P-384 key: ES384

# The official examples loaded: Peter Chalmers (Patient/example) and what refers to him, plus the medication
# examples of Patient/pat1.
EXAMPLE_FILES = [
    "Patient-example.json", "Patient-pat1.json", "Immunization-example.json", "Immunization-historical.json",
    "AllergyIntolerance-example.json", "Condition-example.json", "Condition-example2.json",
    "Condition-stroke.json", "Encounter-example.json", "Encounter-home.json",
    "Observation-example.json", "Observation-body-height.json", "Observation-body-temperature.json",
    "Medication-med0301.json", "Medication-med0310.json",
    "MedicationRequest-medrx0301.json", "MedicationRequest-medrx0310.json",
    "MedicationStatement-example001.json", "MedicationAdministration-medadmin0301.json",
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Server:
    base: str
    process: subprocess.Popen
    workdir: Path
    private_key: Path
    ec_private_key: Path
    loaded_examples: int = 0

    def put(self, resource: dict) -> requests.Response:
        return requests.put(f"{self.base}/{resource['resourceType']}/{resource['id']}", json=resource,
                            headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/fhir+json"},
                            timeout=30)

    def get(self, path: str, **params) -> dict:
        r = requests.get(f"{self.base}/{path}", params=params, headers={"Authorization": f"Bearer {TOKEN}"},
                         timeout=30)
        r.raise_for_status()
        return r.json()

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()


def start_server(workdir: Path) -> Server:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    def key_pair(key, name: str) -> tuple[Path, Path]:
        private = workdir / f"{name}.pem"
        private.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                              serialization.NoEncryption()))
        public = workdir / f"{name}.pub.pem"
        public.write_bytes(key.public_key().public_bytes(serialization.Encoding.PEM,
                                                         serialization.PublicFormat.SubjectPublicKeyInfo))
        return private, public

    private, public = key_pair(rsa.generate_private_key(public_exponent=65537, key_size=2048), "client-rsa")
    ec_private, ec_public = key_pair(ec.generate_private_key(ec.SECP384R1()), "client-ec")
    port = free_port()
    base = f"http://127.0.0.1:{port}/fhir"
    config = {
        "base_url": base, "host": "127.0.0.1", "port": port, "data_dir": str(workdir / "data"),
        "server_auth": {"types": ["bearer", "smart"], "tokens": [TOKEN],
                        "smart_clients": [{"client_id": CLIENT_ID, "public_key_path": str(public),
                                           "scopes": "system/*.read system/*.write"},
                                          {"client_id": EC_CLIENT_ID, "public_key_path": str(ec_public),
                                           "scopes": "system/*.read"}]},
        "simulator": {"enabled": False}, "log_inbound": False,
        "own_private_key_path": str(workdir / "keys" / "sekmet.pem"),
    }
    (workdir / "data").mkdir()
    cfg = workdir / "sekmet.yaml"
    cfg.write_text(yaml.safe_dump(config))
    log = (workdir / "server.log").open("w")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    process = subprocess.Popen([sys.executable, "-m", "tests.ehr_launcher", str(cfg)], cwd=workdir, env=env,
                               stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"sekmet-fhir exited: {(workdir / 'server.log').read_text()[-2000:]}")
        try:
            if requests.get(f"{base}/metadata", timeout=2).status_code == 200:
                return Server(base, process, workdir, private, ec_private)
        except requests.RequestException:
            pass
        time.sleep(0.3)
    process.kill()
    raise RuntimeError("sekmet-fhir did not start within 60 s")


def load_examples(server: Server) -> list[str]:
    """PUT the official examples; returns the ones the server refused (with its reason)."""
    refused = []
    for name in EXAMPLE_FILES:
        resource = json.loads((EXAMPLES_DIR / name).read_text(encoding="utf-8"))
        r = server.put(resource)
        if r.status_code >= 300:
            refused.append(f"{name}: HTTP {r.status_code} {r.text[:300]}")
        else:
            server.loaded_examples += 1
    return refused


# --------------------------------------------------------------------------------------------------
# The generated patient
# --------------------------------------------------------------------------------------------------

LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
SNOMED = "http://snomed.info/sct"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
ATC = "http://www.whocc.no/atc"
LAB = {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "laboratory"}]}
VITAL = {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "vital-signs"}]}
PID = "ade-course-1"
SUBJECT = {"reference": f"Patient/{PID}"}
HIGH = [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation", "code": "H",
                     "display": "High"}]}]

# ALT and AST (U/L) over the course: (id, date-time, ALT, AST)
ENZYMES = [
    ("d0", "2024-04-10T08:00:00+02:00", 32, 30),
    ("d14", "2024-04-25T08:00:00+02:00", 72, 61),
    ("d20", "2024-05-01T08:00:00+02:00", 410, 380),
    ("d21", "2024-05-02T07:30:00+02:00", 1890, 1570),
    ("d23", "2024-05-04T07:30:00+02:00", 4065, 3120),
    ("d29", "2024-05-10T08:00:00+02:00", 850, 420),
]


def lab(oid: str, loinc: str, name: str, when: str, value: float, unit: str = "U/L", high: float | None = 40,
        version_note: str | None = None) -> dict:
    obs = {"resourceType": "Observation", "id": oid, "status": "final", "category": [LAB],
           "code": {"coding": [{"system": LOINC, "code": loinc, "display": name}], "text": name},
           "subject": SUBJECT, "effectiveDateTime": when,
           "valueQuantity": {"value": value, "unit": unit, "system": UCUM, "code": unit}}
    if high is not None:
        obs["referenceRange"] = [{"low": {"value": 0, "unit": unit, "system": UCUM, "code": unit},
                                  "high": {"value": high, "unit": unit, "system": UCUM, "code": unit}}]
        if value > high:
            obs["interpretation"] = HIGH
    return obs


def generated_patient() -> list[dict]:
    r: list[dict] = [{
        "resourceType": "Patient", "id": PID,
        "identifier": [{"type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203",
                                             "code": "MR"}]}, "system": "urn:oid:1.2.3.4.5.1", "value": "MRN-448812"}],
        "name": [{"use": "official", "family": "Souza", "given": ["Maria", "Alves"]}],
        "gender": "female", "birthDate": "2015-03-14",
    }]
    vitals = [("w1", "29463-7", "Body weight", "2024-03-01T09:00:00+01:00", 31.5, "kg"),
              ("w2", "29463-7", "Body weight", "2024-04-10T09:00:00+02:00", 33, "kg"),
              ("w3", "29463-7", "Body weight", "2024-05-06T09:00:00+02:00", 30.2, "kg"),  # after onset: not used
              ("h1", "8302-2", "Body height", "2024-04-10T09:00:00+02:00", 1.35, "m")]
    for vid, code, name, when, value, unit in vitals:
        r.append({"resourceType": "Observation", "id": f"{PID}-{vid}", "status": "final", "category": [VITAL],
                  "code": {"coding": [{"system": LOINC, "code": code, "display": name}]}, "subject": SUBJECT,
                  "effectiveDateTime": when, "valueQuantity": {"value": value, "unit": unit, "system": UCUM,
                                                               "code": unit}})
    for eid, when, alt, ast in ENZYMES:
        r.append(lab(f"{PID}-alt-{eid}", "1742-6", "ALT", when, alt))
        r.append(lab(f"{PID}-ast-{eid}", "1920-8", "AST", when, ast))
    # the same ALT result sent twice (a second interface copy): must appear once in the draft
    r.append(lab(f"{PID}-alt-d21-copy", "1742-6", "ALT", ENZYMES[3][1], ENZYMES[3][2]))
    r.append(lab(f"{PID}-bili-d23", "1975-2", "Bilirubin total", "2024-05-04T07:30:00+02:00", 2.8, "mg/dL", 1.2))
    r.append(lab(f"{PID}-alt-old", "1742-6", "ALT", "2024-01-05T08:00:00+01:00", 25))  # outside the window
    r.append({"resourceType": "Observation", "id": f"{PID}-hr", "status": "final", "category": [VITAL],
              "code": {"coding": [{"system": LOINC, "code": "8867-4", "display": "Heart rate"}]}, "subject": SUBJECT,
              "effectiveDateTime": "2024-05-02T08:00:00+02:00",
              "valueQuantity": {"value": 112, "unit": "/min", "system": UCUM, "code": "/min"}})
    cancelled = lab(f"{PID}-alt-cancelled", "1742-6", "ALT", "2024-05-03T08:00:00+02:00", 9999)
    cancelled["status"] = "cancelled"
    r.append(cancelled)

    sc = {"coding": [{"system": SNOMED, "code": "34206005", "display": "Subcutaneous route"}]}
    iv = {"coding": [{"system": SNOMED, "code": "47625008", "display": "Intravenous route"}]}
    oral = {"coding": [{"system": SNOMED, "code": "26643006", "display": "Oral route"}]}
    r.append({"resourceType": "MedicationRequest", "id": f"{PID}-anakinra", "status": "active", "intent": "order",
              "subject": SUBJECT, "authoredOn": "2024-04-11",
              "medicationCodeableConcept": {"coding": [{"system": RXNORM, "code": "72435", "display": "anakinra"},
                                                       {"system": ATC, "code": "L04AC03", "display": "anakinra"}],
                                            "text": "Kineret (anakinra) 100 mg/0.67 mL"},
              "dosageInstruction": [{"text": "66 mg subcutaneously once daily", "route": sc,
                                     "timing": {"repeat": {"boundsPeriod": {"start": "2024-04-11"},
                                                           "frequency": 1, "period": 1, "periodUnit": "d"}},
                                     "doseAndRate": [{"doseQuantity": {"value": 66, "unit": "mg", "system": UCUM,
                                                                       "code": "mg"}}]}]})
    r.append({"resourceType": "MedicationStatement", "id": f"{PID}-ibuprofen", "status": "completed",
              "subject": SUBJECT,
              "medicationCodeableConcept": {"coding": [{"system": ATC, "code": "M01AE01", "display": "ibuprofen"},
                                                       {"system": SNOMED, "code": "387207008",
                                                        "display": "Ibuprofen"}],
                                            "text": "ibuprofen"},
              "effectivePeriod": {"start": "2024-03-15", "end": "2024-04-30"},
              "dosage": [{"route": oral, "timing": {"repeat": {"frequency": 3, "period": 1, "periodUnit": "d"}},
                          "doseAndRate": [{"doseQuantity": {"value": 200, "unit": "mg", "system": UCUM,
                                                            "code": "mg"}}]}]})
    r.append({"resourceType": "Medication", "id": f"{PID}-mp", "code": {
        "coding": [{"system": RXNORM, "code": "6902", "display": "methylprednisolone"}],
        "text": "methylprednisolone sodium succinate"}})
    for n, when in enumerate(["2024-05-03T10:00:00+02:00", "2024-05-04T10:00:00+02:00",
                              "2024-05-05T10:00:00+02:00"], start=1):
        r.append({"resourceType": "MedicationAdministration", "id": f"{PID}-mp-{n}", "status": "completed",
                  "subject": SUBJECT, "medicationReference": {"reference": f"Medication/{PID}-mp"},
                  "effectiveDateTime": when,
                  "dosage": {"route": iv, "dose": {"value": 30, "unit": "mg/kg", "system": UCUM,
                                                   "code": "mg/kg"}}})
    r.append({"resourceType": "MedicationRequest", "id": f"{PID}-amoxicillin", "status": "completed",
              "intent": "order", "subject": SUBJECT, "authoredOn": "2023-01-10",
              "medicationCodeableConcept": {"text": "amoxicillin"},
              "dosageInstruction": [{"timing": {"repeat": {"boundsPeriod": {"start": "2023-01-10",
                                                                            "end": "2023-01-17"}}}}]})
    r.append({"resourceType": "MedicationRequest", "id": f"{PID}-error", "status": "entered-in-error",
              "intent": "order", "subject": SUBJECT, "authoredOn": "2024-04-20",
              "medicationCodeableConcept": {"text": "paracetamol"}})
    r.append({"resourceType": "Immunization", "id": f"{PID}-flu", "status": "completed",
              "vaccineCode": {"coding": [{"system": "http://hl7.org/fhir/sid/cvx", "code": "150",
                                          "display": "influenza, injectable, quadrivalent, preservative free"}],
                              "text": "Influenza vaccine (quadrivalent)"},
              "patient": SUBJECT, "occurrenceDateTime": "2024-04-20", "lotNumber": "FLU-24-7781",
              "route": {"coding": [{"system": SNOMED, "code": "78421000", "display": "Intramuscular route"}]},
              "doseQuantity": {"value": 0.5, "unit": "mL", "system": UCUM, "code": "mL"}})

    clinical = "http://terminology.hl7.org/CodeSystem/condition-clinical"
    r.append({"resourceType": "Condition", "id": f"{PID}-sjia", "subject": SUBJECT,
              "clinicalStatus": {"coding": [{"system": clinical, "code": "active"}]},
              "code": {"coding": [{"system": SNOMED, "code": "201796004",
                                   "display": "Systemic onset juvenile chronic arthritis"}],
                       "text": "Systemic juvenile idiopathic arthritis"},
              "onsetDateTime": "2022-06"})
    r.append({"resourceType": "Condition", "id": f"{PID}-asthma", "subject": SUBJECT,
              "clinicalStatus": {"coding": [{"system": clinical, "code": "resolved"}]},
              "code": {"coding": [{"system": SNOMED, "code": "195967001", "display": "Asthma"}], "text": "Asthma"},
              "onsetDateTime": "2018-09-01", "abatementDateTime": "2021-05-01"})
    r.append({"resourceType": "Condition", "id": f"{PID}-hepatitis", "subject": SUBJECT,
              "clinicalStatus": {"coding": [{"system": clinical, "code": "active"}]},
              "code": {"text": "Drug-induced hepatitis"}, "onsetDateTime": "2024-05-03"})
    r.append({"resourceType": "Condition", "id": f"{PID}-refuted", "subject": SUBJECT,
              "verificationStatus": {"coding": [{"system":
                                                 "http://terminology.hl7.org/CodeSystem/condition-ver-status",
                                                 "code": "refuted"}]},
              "code": {"text": "Epilepsy"}, "onsetDateTime": "2020-01-01"})
    r.append({"resourceType": "AllergyIntolerance", "id": f"{PID}-penicillin", "patient": SUBJECT,
              "type": "allergy", "category": ["medication"], "criticality": "high",
              "clinicalStatus": {"coding": [{"system":
                                             "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical",
                                             "code": "active"}]},
              "code": {"coding": [{"system": SNOMED, "code": "764146007", "display": "Penicillin"}],
                       "text": "penicillin"},
              "onsetDateTime": "2019-07-02",
              "reaction": [{"manifestation": [{"coding": [{"system": SNOMED, "code": "126485001",
                                                            "display": "Urticaria"}]}]}]})
    act = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
    r.append({"resourceType": "Encounter", "id": f"{PID}-stay", "status": "finished",
              "class": {"system": act, "code": "IMP", "display": "inpatient encounter"}, "subject": SUBJECT,
              "period": {"start": "2024-05-03T11:00:00+02:00", "end": "2024-05-12T15:00:00+02:00"}})
    r.append({"resourceType": "Encounter", "id": f"{PID}-clinic", "status": "finished",
              "class": {"system": act, "code": "AMB", "display": "ambulatory"}, "subject": SUBJECT,
              "period": {"start": "2024-04-11T09:00:00+02:00", "end": "2024-04-11T10:00:00+02:00"}})
    return r


def load_generated(server: Server) -> None:
    for resource in generated_patient():
        response = server.put(resource)
        assert response.status_code < 300, f"{resource['resourceType']}/{resource['id']}: {response.text[:500]}"
    # a second version of the d23 ALT (corrected value): the pull must cite version 2
    amended = lab(f"{PID}-alt-d23", "1742-6", "ALT", ENZYMES[4][1], ENZYMES[4][2])
    amended["status"] = "amended"
    response = server.put(amended)
    assert response.status_code < 300, response.text[:500]


def loaded_server(tmp_dir: Path):
    """sekmet-fhir with the examples and the generated patient, or a skip (a failure under CI) if not installed.
    A generator: yields the Server, stops it after."""
    import pytest

    try:
        import sekmet  # noqa: F401
    except ImportError:
        if os.environ.get("CI"):
            pytest.fail("CI must install sekmet-fhir (the test FHIR server): pip install '.[test]'")
        pytest.skip("sekmet-fhir (the test FHIR server) is not installed (pip install '.[test]')")
    if not EXAMPLES_DIR.is_dir():
        if os.environ.get("CI"):
            pytest.fail(f"CI must install the R4 examples into {EXAMPLES_DIR.parent.parent}")
        pytest.skip("HL7 R4 examples not installed (cd tools/fhir-r4-examples && npm ci)")
    srv = start_server(tmp_dir)
    try:
        refused = load_examples(srv)
        assert not refused, refused
        load_generated(srv)
        yield srv
    finally:
        srv.stop()
