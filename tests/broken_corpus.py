"""A corpus of hand-broken FHIR R4 resources: valid bases, each broken in one known way (issue 13).

Every case names what is wrong. tests/test_broken_corpus.py checks that the API's validator rejects each one;
bench/broken_corpus.py prints the count beside what the independent validators (tools/fhir-validator) say."""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass

from tests.helpers import setter

PATIENT = {"resourceType": "Patient", "id": "p1", "active": True, "gender": "female", "birthDate": "1990-04-02",
           "name": [{"family": "Chalmers", "given": ["Peter"]}], "multipleBirthInteger": 1,
           "identifier": [{"system": "urn:oid:1.2.3", "value": "12345"}]}
OBSERVATION = {"resourceType": "Observation", "id": "o1", "status": "final",
               "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category",
                                         "code": "laboratory"}]}],
               "code": {"coding": [{"system": "http://loinc.org", "code": "1742-6"}], "text": "ALT"},
               "subject": {"reference": "Patient/p1"}, "effectiveDateTime": "2023-04-10T08:30:00Z",
               "valueQuantity": {"value": 4065, "unit": "U/L", "system": "http://unitsofmeasure.org", "code": "U/L"},
               "referenceRange": [{"high": {"value": 40, "unit": "U/L", "system": "http://unitsofmeasure.org",
                                            "code": "U/L"}}]}
STATEMENT = {"resourceType": "MedicationStatement", "id": "m1", "status": "completed",
             "medicationCodeableConcept": {"text": "anakinra"}, "subject": {"reference": "Patient/p1"},
             "effectivePeriod": {"start": "2023-03-01", "end": "2023-04-12"},
             "dosage": [{"text": "100 mg daily", "doseAndRate": [{"doseQuantity": {
                 "value": 100, "unit": "mg", "system": "http://unitsofmeasure.org", "code": "mg"}}]}]}
EVENT = {"resourceType": "AdverseEvent", "id": "a1", "actuality": "actual", "subject": {"reference": "Patient/p1"},
         "date": "2023-04-09", "event": {"text": "hepatitis"},
         "seriousness": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/adverse-event-seriousness",
                                     "code": "Serious"}]},
         "suspectEntity": [{"instance": {"reference": "MedicationStatement/m1"}}]}
CONDITION = {"resourceType": "Condition", "id": "c1", "subject": {"reference": "Patient/p1"},
             "clinicalStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
                                            "code": "active"}]},
             "code": {"text": "Still's disease"}, "onsetDateTime": "2019"}
BASES = {"Patient": PATIENT, "Observation": OBSERVATION, "MedicationStatement": STATEMENT, "AdverseEvent": EVENT,
         "Condition": CONDITION}


@dataclass(frozen=True)
class Broken:
    name: str
    resource: dict




def _drop(path: str) -> Callable[[dict], None]:
    def change(resource: dict) -> None:
        *parents, last = path.split(".")
        node = resource
        for part in parents:
            node = node[int(part)] if part.isdigit() else node[part]
        del node[last]
    return change


def _both(*changes: Callable[[dict], None]) -> Callable[[dict], None]:
    def change(resource: dict) -> None:
        for c in changes:
            c(resource)
    return change


# (resource type, what is wrong, change)
_BREAKS: list[tuple[str, str, Callable[[dict], None]]] = [
    # JSON primitive types
    ("Patient", "active as the string true", setter("active", "true")),
    ("Patient", "active as the string false", setter("active", "false")),
    ("Patient", "active as 1", setter("active", 1)),
    ("Patient", "deceasedBoolean as no", setter("deceasedBoolean", "no")),
    ("Patient", "multipleBirthInteger as a string", setter("multipleBirthInteger", "2")),
    ("Patient", "multipleBirthInteger as 2.5", setter("multipleBirthInteger", 2.5)),
    ("Patient", "multipleBirthBoolean as yes",
     _both(_drop("multipleBirthInteger"), setter("multipleBirthBoolean", "yes"))),
    ("Patient", "family name as a number", setter("name.0.family", 42)),
    ("Patient", "given name as a string, not an array", setter("name.0.given", "Peter")),
    ("Patient", "identifier value as a number", setter("identifier.0.value", 12345)),
    ("Patient", "gender as a coding", setter("gender", {"code": "female"})),
    ("Patient", "birthDate as a number", setter("birthDate", 19900402)),
    ("Observation", "value as the string 1.0", setter("valueQuantity.value", "1.0")),
    ("Observation", "value as the string 4065", setter("valueQuantity.value", "4065")),
    ("Observation", "value as true", setter("valueQuantity.value", True)),
    ("Observation", "reference range high as a string", setter("referenceRange.0.high.value", "40")),
    ("Observation", "code text as a number", setter("code.text", 1742)),
    ("Observation", "valueBoolean as the string true", _both(_drop("valueQuantity"), setter("valueBoolean", "true"))),
    ("Observation", "valueInteger as 3.5", _both(_drop("valueQuantity"), setter("valueInteger", 3.5))),
    ("Observation", "valueInteger as a string", _both(_drop("valueQuantity"), setter("valueInteger", "3"))),
    ("MedicationStatement", "dose as a string", setter("dosage.0.doseAndRate.0.doseQuantity.value", "100")),
    ("MedicationStatement", "dosage sequence as a string", setter("dosage.0.sequence", "1")),
    ("MedicationStatement", "asNeededBoolean as yes", setter("dosage.0.asNeededBoolean", "yes")),
    ("AdverseEvent", "actuality as true", setter("actuality", True)),
    ("Condition", "onsetDateTime as a number", setter("onsetDateTime", 2019)),
    # codes with a required binding
    ("Patient", "gender femal", setter("gender", "femal")),
    ("Patient", "gender F", setter("gender", "F")),
    ("Patient", "gender Female (case)", setter("gender", "Female")),
    ("Patient", "identifier use primary", setter("identifier.0.use", "primary")),
    ("Patient", "name use legal-name", setter("name.0.use", "legal-name")),
    ("Observation", "status done", setter("status", "done")),
    ("Observation", "status FINAL (case)", setter("status", "FINAL")),
    ("Observation", "status with a trailing space", setter("status", "final ")),
    ("Observation", "quantity comparator ~", setter("valueQuantity.comparator", "~")),
    ("MedicationStatement", "status taking", setter("status", "taking")),
    ("MedicationStatement", "status empty string", setter("status", "")),
    ("AdverseEvent", "actuality real", setter("actuality", "real")),
    ("AdverseEvent", "actuality Actual (case)", setter("actuality", "Actual")),
    ("Condition", "clinical status code cured", setter("clinicalStatus.coding.0.code", "cured")),
    # unknown or misspelt elements
    ("Patient", "birthdate spelt in lower case", setter("birthdate", "1990-04-02")),
    ("Patient", "an element R4 does not have", setter("colour", "blue")),
    ("Patient", "sex instead of gender", setter("sex", "female")),
    ("Observation", "effective instead of effectiveDateTime", setter("effective", "2023-04-10")),
    ("Observation", "value instead of valueQuantity", setter("value", 4065)),
    ("Observation", "an unknown element in a quantity", setter("valueQuantity.units", "U/L")),
    ("MedicationStatement", "medication without a type suffix", setter("medication", {"text": "anakinra"})),
    ("MedicationStatement", "R5 adherence element", setter("adherence", {"code": {"text": "taking"}})),
    ("AdverseEvent", "R5 code element", setter("code", {"text": "hepatitis"})),
    ("AdverseEvent", "R5 status element", setter("status", "completed")),
    ("Condition", "onset instead of onsetDateTime", setter("onset", "2019")),
    ("Condition", "an unknown element in a coding", setter("clinicalStatus.coding.0.value", "active")),
    # required elements missing
    ("Observation", "no status", _drop("status")),
    ("Observation", "no code", _drop("code")),
    ("MedicationStatement", "no status", _drop("status")),
    ("MedicationStatement", "no subject", _drop("subject")),
    ("MedicationStatement", "no medication", _drop("medicationCodeableConcept")),
    ("AdverseEvent", "no actuality", _drop("actuality")),
    ("AdverseEvent", "no subject", _drop("subject")),
    ("AdverseEvent", "suspect entity without instance", setter("suspectEntity", [{"causality": [{}]}])),
    ("Condition", "no subject", _drop("subject")),
    # dates, times, ids, uris
    ("Patient", "birthDate month 13", setter("birthDate", "1990-13-02")),
    ("Patient", "birthDate in US order", setter("birthDate", "04/02/1990")),
    ("Patient", "birthDate 30 February", setter("birthDate", "1990-02-30")),
    ("Patient", "birthDate with a time", setter("birthDate", "1990-04-02T10:00:00Z")),
    ("Patient", "birthDate two-digit year", setter("birthDate", "90-04-02")),
    ("Patient", "id with a space", setter("id", "p 1")),
    ("Patient", "id longer than 64", setter("id", "p" * 65)),
    ("Patient", "id with an underscore", setter("id", "p_1")),
    ("Patient", "deceasedDateTime without a zone", setter("deceasedDateTime", "2023-04-10T10:00:00")),
    ("Observation", "effectiveDateTime without seconds", setter("effectiveDateTime", "2023-04-10T08:30Z")),
    ("Observation", "effectiveDateTime hour 25", setter("effectiveDateTime", "2023-04-10T25:00:00Z")),
    ("Observation", "effectiveDateTime with a space", setter("effectiveDateTime", "2023-04-10 08:30:00Z")),
    ("Observation", "issued without a time", setter("issued", "2023-04-10")),
    ("Observation", "coding system with a space", setter("code.coding.0.system", "http://loinc org/x y")),
    ("MedicationStatement", "period start not a date", setter("effectivePeriod.start", "March 2023")),
    ("AdverseEvent", "date 2023-4-9", setter("date", "2023-4-9")),
    ("Condition", "onsetDateTime 2019-00", setter("onsetDateTime", "2019-00")),
    ("Patient", "meta lastUpdated without a time", setter("meta", {"lastUpdated": "2023-04-10"})),
    # choice elements and shapes
    ("Observation", "two values at once", setter("valueString", "high")),
    ("Patient", "two deceased values",
     _both(setter("deceasedBoolean", True), setter("deceasedDateTime", "2023-01-01"))),
    ("MedicationStatement", "two medications", setter("medicationReference", {"reference": "Medication/x"})),
    ("Patient", "name as an object, not an array", setter("name", {"family": "Chalmers"})),
    ("Observation", "category as an object, not an array", setter("category", {"text": "laboratory"})),
    ("AdverseEvent", "suspectEntity as an object", setter("suspectEntity", {"instance": {"reference": "X/1"}})),
    ("Patient", "resourceType Patients", setter("resourceType", "Patients")),
    ("Patient", "an R5-only resource type", setter("resourceType", "Citation")),
    # empty and null (ele-1)
    ("Patient", "empty name array", setter("name", [])),
    ("Patient", "empty identifier object", setter("identifier", [{}])),
    ("Patient", "null gender", setter("gender", None)),
    ("Patient", "empty string family", setter("name.0.family", "")),
    ("Observation", "empty note array", setter("note", [])),
    ("Observation", "empty code object", setter("code", {})),
    ("MedicationStatement", "null dosage", setter("dosage", None)),
    ("Condition", "empty code coding", setter("code", {"coding": []})),
    # invariants
    ("Observation", "value and dataAbsentReason (obs-6)",
     setter("dataAbsentReason", {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/data-absent-reason",
                                           "code": "unknown"}]})),
    ("Observation", "reference range with nothing (obs-3)", setter("referenceRange", [{"type": {"text": "normal"}}])),
    ("Patient", "extension with neither value nor extensions (ext-1)",
     setter("extension", [{"url": "http://example.org/x"}])),
    ("Patient", "extension with both value and extensions (ext-1)",
     setter("extension", [{"url": "http://example.org/x", "valueString": "a",
                         "extension": [{"url": "y", "valueString": "b"}]}])),
    ("Patient", "extension without url", setter("extension", [{"valueString": "a"}])),
    ("Patient", "contained resource never referenced (dom-3)",
     setter("contained", [{"resourceType": "Organization", "id": "org", "name": "Clinic"}])),
    # references to the wrong type
    ("MedicationStatement", "subject is a Medication", setter("subject", {"reference": "Medication/x"})),
    ("AdverseEvent", "subject is an Observation", setter("subject", {"reference": "Observation/o1"})),
    ("Condition", "subject is a Practitioner", setter("subject", {"reference": "Practitioner/x"})),
    ("MedicationStatement", "subject typed Organization", setter("subject", {"type": "Organization",
                                                                           "reference": "Organization/x"})),
]


def corpus() -> list[Broken]:
    out = []
    for rtype, name, change in _BREAKS:
        resource = copy.deepcopy(BASES[rtype])
        change(resource)
        out.append(Broken(f"{rtype}: {name}", resource))
    return out
