"""`reporter pull` and `reporter push` against a real FHIR R4 server process (sekmet-fhir on loopback), loaded
with HL7's official R4 examples and a generated patient whose course is a drug-induced liver injury."""

from __future__ import annotations

import datetime as dt
import json
import logging
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from tests import ehr_support as es


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):
    yield from es.loaded_server(tmp_path_factory.mktemp("sekmet"))


def run(*args: str, env: dict | None = None):
    from reporter.cli import main

    return CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)


def pull_draft(server, tmp_path: Path, *extra: str) -> tuple[dict, object]:
    out = tmp_path / "draft.yaml"
    result = run("pull", "--server", server.base, "--token", es.TOKEN, "--patient", es.PID, "--suspect", "anakinra",
                 "--reaction-date", "2024-05-02", "--reaction", "hepatitis", "-o", str(out),
                 "--bundle", str(tmp_path / "draft-bundle.json"), *extra)
    assert result.exit_code in (0, 1), result.output
    return yaml.safe_load(out.read_text()), result


def test_pull_generated_course_every_fact(server, tmp_path: Path) -> None:
    draft, result = pull_draft(server, tmp_path)
    assert draft["$format"] == "ae-reporter/draft/1" and draft["status"] == "draft"
    case = draft["case"]
    patient = case["patient"]
    # patient: initials only (no name, no record number), sex, birth date -> age at onset (9 on 2024-05-02)
    assert patient["initials"] == "MAS"
    assert "record_numbers" not in patient
    assert "Souza" not in json.dumps(draft) and "MRN-448812" not in json.dumps(draft)
    assert patient["sex"] == "female" and patient["birth_date"] == "2015-03-14"
    assert patient["age_at_onset"] == {"value": 9.0, "unit": "a"}
    # the latest weight before onset (33 kg on 2024-04-10, not 30.2 kg after it); height 1.35 m -> 135 cm
    assert patient["weight_kg"] == 33.0 and patient["height_cm"] == 135.0
    # history: conditions before the reaction (not the hepatitis itself, not the refuted one) and the allergy
    history = {h["term"]: h for h in patient["medical_history"]}
    assert set(history) == {"Systemic juvenile idiopathic arthritis", "Asthma", "Allergy to penicillin"}
    assert history["Systemic juvenile idiopathic arthritis"] == {"term": "Systemic juvenile idiopathic arthritis",
                                                                 "start": "2022-06", "continuing": True}
    assert history["Asthma"]["end"] == "2021-05-01" and history["Asthma"]["continuing"] is False
    assert history["Allergy to penicillin"]["comments"] == "reaction: Urticaria; criticality: high"

    drugs = {d["product"]: d for d in case["drugs"]}
    assert set(drugs) == {"Kineret (anakinra) 100 mg/0.67 mL", "ibuprofen", "methylprednisolone sodium succinate",
                          "Influenza vaccine (quadrivalent)"}  # not amoxicillin (2023), not the entered-in-error one
    anakinra = drugs["Kineret (anakinra) 100 mg/0.67 mL"]
    assert anakinra["role"] == "suspect" and anakinra["rxnorm"] == "72435" and anakinra["atc"] == "L04AC03"
    assert anakinra["dosages"] == [{"dose": {"value": 66.0, "unit": "mg"}, "every": {"value": 1, "unit": "d"},
                                    "start": "2024-04-11", "text": "66 mg subcutaneously once daily",
                                    "route": {"text": "Subcutaneous route"}}]
    ibuprofen = drugs["ibuprofen"]
    assert ibuprofen["role"] == "concomitant" and ibuprofen["atc"] == "M01AE01"
    assert ibuprofen["dosages"][0]["every"] == {"value": 8.0, "unit": "h"}
    assert ibuprofen["dosages"][0]["start"] == "2024-03-15" and ibuprofen["dosages"][0]["stop"] == "2024-04-30"
    mp = drugs["methylprednisolone sodium succinate"]
    assert mp["rxnorm"] == "6902" and mp["role"] == "concomitant"
    assert mp["dosages"][0]["start"] == "2024-05-03T10:00:00+02:00"
    assert mp["dosages"][0]["stop"] == "2024-05-05T10:00:00+02:00"
    assert mp["dosages"][0]["text"] == "3 administration(s) recorded"
    assert mp["dosages"][0]["route"] == {"text": "Intravenous route"}
    flu = drugs["Influenza vaccine (quadrivalent)"]
    assert flu["dosages"] == [{"dose": {"value": 0.5, "unit": "mL"}, "start": "2024-04-20", "stop": "2024-04-20",
                               "batch": "FLU-24-7781", "route": {"text": "Intramuscular route"}}]

    # labs: ALT and AST on six days and one bilirubin in the window, the duplicate ALT once, no vital signs,
    # no cancelled result, nothing from January
    tests = case["tests"]
    alt = [(t["date"][:10], t["value"]) for t in tests if t.get("loinc") == "1742-6"]
    assert alt == [(when[:10], float(v)) for _, when, v, _ in es.ENZYMES]
    assert len([t for t in tests if t.get("loinc") == "1920-8"]) == 6
    assert {t.get("loinc") for t in tests} == {"1742-6", "1920-8", "1975-2"}
    peak = next(t for t in tests if t.get("loinc") == "1742-6" and t["value"] == 4065)
    assert peak == {"name": "ALT", "loinc": "1742-6", "date": "2024-05-04T07:30:00+02:00", "value": 4065.0,
                    "unit": "U/L", "low": 0.0, "high": 40.0, "comments": "interpretation: High"}
    bili = next(t for t in tests if t.get("loinc") == "1975-2")
    assert (bili["value"], bili["unit"], bili["high"]) == (2.8, "mg/dL", 1.2)

    # the reaction with the hospital stay as a seriousness hint
    assert case["reactions"] == [{"id": "reaction-1", "verbatim": "hepatitis",
                                  "seriousness": {"hospitalisation": True}, "onset": "2024-05-02"}]
    assert any("hospital stay from 2024-05-03 to 2024-05-12" in h for h in draft["hints"])

    # every fact keeps its source, with versions (the amended ALT is cited as version 2, and its copy too)
    sources = {(s["path"], s["resource"]) for s in draft["sources"]}
    assert ("patient.weight_kg", f"Observation/{es.PID}-w2/_history/1") in sources
    assert ("patient.height_cm", f"Observation/{es.PID}-h1/_history/1") in sources
    index = tests.index(peak)
    assert (f"tests[{index}]", f"Observation/{es.PID}-alt-d23/_history/2") in sources
    d21 = next(i for i, t in enumerate(tests) if t.get("loinc") == "1742-6" and t["value"] == 1890)
    assert {r for p, r in sources if p == f"tests[{d21}]"} == {f"Observation/{es.PID}-alt-d21/_history/1",
                                                              f"Observation/{es.PID}-alt-d21-copy/_history/1"}
    assert ("reactions[0].seriousness.hospitalisation", f"Encounter/{es.PID}-stay/_history/1") in sources
    paths = {s["path"] for s in draft["sources"]}
    for i in range(len(case["drugs"])):
        assert f"drugs[{i}]" in paths
    for i in range(len(tests)):
        assert f"tests[{i}]" in paths
    for i in range(len(patient["medical_history"])):
        assert f"patient.medical_history[{i}]" in paths
    codes = [c for s in draft["sources"] for c in s.get("codes", [])]
    assert {"system": "http://snomed.info/sct", "code": "387207008", "display": "Ibuprofen"} in codes

    # what a person must still add, in case-file terms; exit code 1 says the draft needs completing
    needed = {n["path"] for n in draft["still_needed"]}
    assert {"primary_sources", "sender", "reactions[0].meddra", "reactions[0].outcome", "narrative.text"} <= needed
    assert result.exit_code == 1 and "still needed" in result.output


def test_draft_bundle_has_provenance_and_renders(server, tmp_path: Path) -> None:
    from fhir.resources.R4B.bundle import Bundle

    draft, _ = pull_draft(server, tmp_path)
    bundle = json.loads((tmp_path / "draft-bundle.json").read_text())
    Bundle.model_validate(bundle)  # R4 structure
    composition = bundle["entry"][0]["resource"]
    assert composition["status"] == "preliminary"
    full_urls = {e["fullUrl"]: e["resource"] for e in bundle["entry"]}
    provenance = [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Provenance"]
    assert len(provenance) == len({s["resource"] for s in draft["sources"]})
    for prov in provenance:
        assert prov["entity"][0]["what"]["identifier"]["system"] == server.base
        for target in prov["target"]:
            assert target["reference"] in full_urls
    # the anakinra request's Provenance points at the suspect MedicationStatement
    wanted = f"MedicationRequest/{es.PID}-anakinra"
    anakinra = next(p for p in provenance if wanted in p["entity"][0]["what"]["display"])
    statement = full_urls[anakinra["target"][0]["reference"]]
    assert statement["resourceType"] == "MedicationStatement"
    from tests.test_bundle import _independent_validator, run_independent

    (result,) = run_independent(_independent_validator(), [tmp_path / "draft-bundle.json"])
    assert result["valid"], result["errors"][:5]
    html = tmp_path / "draft.html"
    result = run("render", str(tmp_path / "draft-bundle.json"), "-o", str(html))
    # a draft is not a valid case yet (what a person must still add): rendered with the banner, exit 1
    assert result.exit_code == 1 and "NOT VALID" in result.output, result.output
    page = html.read_text()
    assert "4065" in page and "not valid" in page.lower()


def test_confirm_then_push_document_and_message(server, tmp_path: Path) -> None:
    draft, _ = pull_draft(server, tmp_path)
    draft_file = tmp_path / "draft.yaml"
    # unconfirmed: neither push nor confirm accepts it
    result = run("push", str(draft_file), "--server", server.base, "--token", es.TOKEN)
    assert result.exit_code == 2 and "draft" in result.output
    result = run("push", str(tmp_path / "draft-bundle.json"), "--server", server.base, "--token", es.TOKEN)
    assert result.exit_code == 2 and "draft" in result.output
    result = run("confirm", str(draft_file), "-o", str(tmp_path / "case.yaml"))
    assert result.exit_code == 1 and not (tmp_path / "case.yaml").exists()

    # a person completes what was listed
    case = draft["case"]
    case["primary_sources"] = [{"qualification": "physician", "address": {"country": "BR"}, "primary": True}]
    case["sender"] = {"type": "health-professional", "organization": "Hospital Test"}
    case["reactions"][0]["meddra"] = {"code": "10019717", "version": "27.0", "term": "Hepatitis"}
    case["reactions"][0]["outcome"] = "recovering"
    case["narrative"] = {"text": "ALT rose from 32 to 4065 U/L three weeks after anakinra was started."}
    draft_file.write_text(yaml.safe_dump(draft, sort_keys=False))
    result = run("confirm", str(draft_file), "-o", str(tmp_path / "case.yaml"))
    assert result.exit_code == 0, result.output
    confirmed = yaml.safe_load((tmp_path / "case.yaml").read_text())
    assert confirmed["case_id"] == case["case_id"] and "status" not in confirmed
    # once confirmed, the case exports (checked against the ICH XSD when REPORTER_E2B_SCHEMA_DIR is set)
    result = run("e2b", str(tmp_path / "case.yaml"), "--receiver", "ich", "-o", str(tmp_path / "case.xml"))
    assert result.exit_code == 0, result.output
    assert b"4065" in (tmp_path / "case.xml").read_bytes()

    result = run("push", str(tmp_path / "case.yaml"), "--server", server.base, "--token", es.TOKEN, "--quiet")
    assert result.exit_code == 0, result.output
    location = result.output.strip().split(": ", 1)[1]
    stored = server.get(location.split("/_history")[0])
    assert stored["type"] == "document"
    assert stored["entry"][0]["resource"]["status"] == "final"

    result = run("push", str(tmp_path / "case.yaml"), "--server", server.base, "--token", es.TOKEN, "--message",
                 "--quiet")
    assert result.exit_code == 0, result.output
    # the message's resources are stored; the AdverseEvent is found by the search parameters the launcher added
    found = server.get("AdverseEvent", **{"_count": "50"})
    events = [e["resource"] for e in found.get("entry") or []]
    assert any(e.get("event", {}).get("text") == "hepatitis"
               or any(c.get("code") == "10019717" for c in e.get("event", {}).get("coding", [])) for e in events)


def test_pull_official_examples_by_identifier_and_smart(server, tmp_path: Path) -> None:
    """Peter Chalmers (HL7's Patient/example), found by identifier, with SMART backend services credentials."""
    example = json.loads((es.EXAMPLES_DIR / "Patient-example.json").read_text())
    ident = example["identifier"][0]
    immunization = json.loads((es.EXAMPLES_DIR / "Immunization-example.json").read_text())
    out = tmp_path / "example.yaml"
    result = run("pull", "--server", server.base, "--client-id", es.CLIENT_ID, "--key", str(server.private_key),
                 "--identifier", f"{ident['system']}|{ident['value']}", "--suspect", "fluvax",
                 "--reaction-date", "2013-01-20", "-o", str(out), "--quiet")
    assert result.exit_code == 1, result.output
    case = yaml.safe_load(out.read_text())["case"]
    assert case["patient"]["initials"] == "PJC"
    assert case["patient"]["sex"] == example["gender"] and case["patient"]["birth_date"] == example["birthDate"]
    assert case["patient"]["age_at_onset"] == {"value": 38.0, "unit": "a"}
    vaccine = next(d for d in case["drugs"] if d["product"] == immunization["vaccineCode"]["text"])
    assert vaccine["role"] == "suspect"
    assert vaccine["dosages"][0]["batch"] == immunization["lotNumber"]
    assert vaccine["dosages"][0]["start"] == immunization["occurrenceDateTime"]
    terms = [h["term"] for h in case["patient"]["medical_history"]]
    assert "Allergy to Cashew nuts" in terms


def test_identity_settings_and_bad_requests(server, tmp_path: Path) -> None:
    env = {"REPORTER_EHR_PATIENT_IDENTITY": "masked"}
    out = tmp_path / "masked.yaml"
    result = run("pull", "--server", server.base, "--token", es.TOKEN, "--patient", es.PID, "--suspect", "anakinra",
                 "--reaction-date", "2024-05-02", "-o", str(out), "--quiet", env=env)
    assert result.exit_code == 1
    masked = yaml.safe_load(out.read_text())
    assert masked["case"]["patient"]["initials"] == {"absent": "masked"}
    env = {"REPORTER_EHR_PATIENT_IDENTITY": "initials+record"}
    result = run("pull", "--server", server.base, "--token", es.TOKEN, "--patient", es.PID, "--suspect", "anakinra",
                 "--reaction-date", "2024-05-02", "-o", str(out), "--quiet", env=env)
    record = yaml.safe_load(out.read_text())["case"]["patient"]["record_numbers"]
    assert record == [{"source": "hospital", "value": "MRN-448812"}]
    # unknown patient, wrong token, suspect not in the EHR: clear messages, nothing written
    missing = tmp_path / "none.yaml"
    result = run("pull", "--server", server.base, "--token", es.TOKEN, "--patient", "no-such-patient",
                 "--suspect", "anakinra", "--reaction-date", "2024-05-02", "-o", str(missing), "--quiet")
    assert result.exit_code == 2 and "no such resource" in result.output and not missing.exists()
    result = run("pull", "--server", server.base, "--token", "wrong", "--patient", es.PID,
                 "--suspect", "anakinra", "--reaction-date", "2024-05-02", "-o", str(missing), "--quiet")
    assert result.exit_code == 2 and "did not accept the bearer token" in result.output and not missing.exists()
    result = run("pull", "--server", server.base, "--token", es.TOKEN, "--patient", es.PID,
                 "--suspect", "canakinumab", "--reaction-date", "2024-05-02", "-o", str(out), "--quiet")
    needed = yaml.safe_load(out.read_text())["still_needed"]
    assert any("'canakinumab' was not found" in n["message"] for n in needed)


def test_no_patient_data_in_logs(server, caplog: pytest.LogCaptureFixture) -> None:
    from reporter.ehr.client import BearerToken, FhirClient
    from reporter.ehr.pull import PullRequest, pull

    caplog.set_level(logging.DEBUG)
    with FhirClient(server.base, BearerToken(es.TOKEN)) as client:
        pull(client, PullRequest(reaction_date=dt.date(2024, 5, 2), suspects=["anakinra"],
                                 identifier=("urn:oid:1.2.3.4.5.1", "MRN-448812")))
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "GET Observation -> 200" in text
    for secret in ("MRN-448812", es.PID, "Souza", "Maria", "2015-03-14", es.TOKEN):
        assert secret not in text


def test_smart_es384_and_refused_client(server) -> None:
    from reporter.ehr.client import EHRError, FhirClient, SmartBackendAuth

    auth = SmartBackendAuth(es.EC_CLIENT_ID, server.ec_private_key.read_bytes(), scope="system/*.read")
    assert auth.alg == "ES384"
    with FhirClient(server.base, auth) as client:
        assert client.read("Patient", es.PID)["gender"] == "female"
        # the token it got only reads: a write is refused in words
        with pytest.raises(EHRError, match="the credentials do not allow this"):
            client.create("Basic", {"resourceType": "Basic", "code": {"text": "x"}})
        # a token the server no longer accepts (revoked, expired early): one new token, then the request goes on
        auth._token, auth._expires = "revoked-token", 2e9
        assert client.read("Patient", es.PID)["id"] == es.PID
        assert auth._token != "revoked-token"
    # a client the server does not know (right key, wrong id): the token endpoint's refusal, in words
    stranger = SmartBackendAuth("someone-else", server.ec_private_key.read_bytes())
    with FhirClient(server.base, stranger) as client, pytest.raises(EHRError, match="refused the client credentials"):
        client.read("Patient", es.PID)
    with pytest.raises(EHRError, match="cannot sign RS384"):
        SmartBackendAuth(es.EC_CLIENT_ID, server.ec_private_key.read_bytes(), alg="RS384")


def test_push_refused_by_the_server_in_its_words(server, tmp_path: Path) -> None:
    from reporter.casefile import load_case
    from reporter.fhir.build import build_bundle
    from tests.conftest import EXAMPLES

    bundle = build_bundle(load_case(sorted(EXAMPLES.glob("*.yaml"))[0]))
    patient = next(e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Patient")
    patient["gender"] = ["not", "a", "code"]  # structurally wrong: our validation and the server both refuse it
    broken = tmp_path / "broken.json"
    broken.write_text(json.dumps(bundle))
    result = run("push", str(broken), "--server", server.base, "--token", es.TOKEN, "--quiet")
    assert result.exit_code == 1 and "not sent" in result.output
    result = run("push", str(broken), "--server", server.base, "--token", es.TOKEN, "--quiet", "--force")
    assert result.exit_code == 2
    assert "(POST Bundle, HTTP 4" in result.output and "gender" in result.output
