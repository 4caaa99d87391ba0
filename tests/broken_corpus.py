"""A corpus of hand-broken FHIR R4 resources: valid bases, each broken in one known way (issue 13).

Every case names what is wrong. tests/test_broken_corpus.py checks that the API's validator rejects each one;
bench/broken_corpus.py prints the count beside what the independent validators (tools/fhir-validator) say."""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass

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


def _set(path: str, value) -> Callable[[dict], None]:
    def change(resource: dict) -> None:
        *parents, last = path.split(".")
        node = resource
        for part in parents:
            node = node[int(part)] if part.isdigit() else node[part]
        if last.isdigit():
            node[int(last)] = value
        else:
            node[last] = value
    return change


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
    ("Patient", "active as the string true", _set("active", "true")),
    ("Patient", "active as the string false", _set("active", "false")),
    ("Patient", "active as 1", _set("active", 1)),
    ("Patient", "deceasedBoolean as no", _set("deceasedBoolean", "no")),
    ("Patient", "multipleBirthInteger as a string", _set("multipleBirthInteger", "2")),
    ("Patient", "multipleBirthInteger as 2.5", _set("multipleBirthInteger", 2.5)),
    ("Patient", "multipleBirthBoolean as yes",
     _both(_drop("multipleBirthInteger"), _set("multipleBirthBoolean", "yes"))),
    ("Patient", "family name as a number", _set("name.0.family", 42)),
    ("Patient", "given name as a string, not an array", _set("name.0.given", "Peter")),
    ("Patient", "identifier value as a number", _set("identifier.0.value", 12345)),
    ("Patient", "gender as a coding", _set("gender", {"code": "female"})),
    ("Patient", "birthDate as a number", _set("birthDate", 19900402)),
    ("Observation", "value as the string 1.0", _set("valueQuantity.value", "1.0")),
    ("Observation", "value as the string 4065", _set("valueQuantity.value", "4065")),
    ("Observation", "value as true", _set("valueQuantity.value", True)),
    ("Observation", "reference range high as a string", _set("referenceRange.0.high.value", "40")),
    ("Observation", "code text as a number", _set("code.text", 1742)),
    ("Observation", "valueBoolean as the string true", _both(_drop("valueQuantity"), _set("valueBoolean", "true"))),
    ("Observation", "valueInteger as 3.5", _both(_drop("valueQuantity"), _set("valueInteger", 3.5))),
    ("Observation", "valueInteger as a string", _both(_drop("valueQuantity"), _set("valueInteger", "3"))),
    ("MedicationStatement", "dose as a string", _set("dosage.0.doseAndRate.0.doseQuantity.value", "100")),
    ("MedicationStatement", "dosage sequence as a string", _set("dosage.0.sequence", "1")),
    ("MedicationStatement", "asNeededBoolean as yes", _set("dosage.0.asNeededBoolean", "yes")),
    ("AdverseEvent", "actuality as true", _set("actuality", True)),
    ("Condition", "onsetDateTime as a number", _set("onsetDateTime", 2019)),
    # codes with a required binding
    ("Patient", "gender femal", _set("gender", "femal")),
    ("Patient", "gender F", _set("gender", "F")),
    ("Patient", "gender Female (case)", _set("gender", "Female")),
    ("Patient", "identifier use primary", _set("identifier.0.use", "primary")),
    ("Patient", "name use legal-name", _set("name.0.use", "legal-name")),
    ("Observation", "status done", _set("status", "done")),
    ("Observation", "status FINAL (case)", _set("status", "FINAL")),
    ("Observation", "status with a trailing space", _set("status", "final ")),
    ("Observation", "quantity comparator ~", _set("valueQuantity.comparator", "~")),
    ("MedicationStatement", "status taking", _set("status", "taking")),
    ("MedicationStatement", "status empty string", _set("status", "")),
    ("AdverseEvent", "actuality real", _set("actuality", "real")),
    ("AdverseEvent", "actuality Actual (case)", _set("actuality", "Actual")),
    ("Condition", "clinical status code cured", _set("clinicalStatus.coding.0.code", "cured")),
    # unknown or misspelt elements
    ("Patient", "birthdate spelt in lower case", _set("birthdate", "1990-04-02")),
    ("Patient", "an element R4 does not have", _set("colour", "blue")),
    ("Patient", "sex instead of gender", _set("sex", "female")),
    ("Observation", "effective instead of effectiveDateTime", _set("effective", "2023-04-10")),
    ("Observation", "value instead of valueQuantity", _set("value", 4065)),
    ("Observation", "an unknown element in a quantity", _set("valueQuantity.units", "U/L")),
    ("MedicationStatement", "medication without a type suffix", _set("medication", {"text": "anakinra"})),
    ("MedicationStatement", "R5 adherence element", _set("adherence", {"code": {"text": "taking"}})),
    ("AdverseEvent", "R5 code element", _set("code", {"text": "hepatitis"})),
    ("AdverseEvent", "R5 status element", _set("status", "completed")),
    ("Condition", "onset instead of onsetDateTime", _set("onset", "2019")),
    ("Condition", "an unknown element in a coding", _set("clinicalStatus.coding.0.value", "active")),
    # required elements missing
    ("Observation", "no status", _drop("status")),
    ("Observation", "no code", _drop("code")),
    ("MedicationStatement", "no status", _drop("status")),
    ("MedicationStatement", "no subject", _drop("subject")),
    ("MedicationStatement", "no medication", _drop("medicationCodeableConcept")),
    ("AdverseEvent", "no actuality", _drop("actuality")),
    ("AdverseEvent", "no subject", _drop("subject")),
    ("AdverseEvent", "suspect entity without instance", _set("suspectEntity", [{"causality": [{}]}])),
    ("Condition", "no subject", _drop("subject")),
    # dates, times, ids, uris
    ("Patient", "birthDate month 13", _set("birthDate", "1990-13-02")),
    ("Patient", "birthDate in US order", _set("birthDate", "04/02/1990")),
    ("Patient", "birthDate 30 February", _set("birthDate", "1990-02-30")),
    ("Patient", "birthDate with a time", _set("birthDate", "1990-04-02T10:00:00Z")),
    ("Patient", "birthDate two-digit year", _set("birthDate", "90-04-02")),
    ("Patient", "id with a space", _set("id", "p 1")),
    ("Patient", "id longer than 64", _set("id", "p" * 65)),
    ("Patient", "id with an underscore", _set("id", "p_1")),
    ("Patient", "deceasedDateTime without a zone", _set("deceasedDateTime", "2023-04-10T10:00:00")),
    ("Observation", "effectiveDateTime without seconds", _set("effectiveDateTime", "2023-04-10T08:30Z")),
    ("Observation", "effectiveDateTime hour 25", _set("effectiveDateTime", "2023-04-10T25:00:00Z")),
    ("Observation", "effectiveDateTime with a space", _set("effectiveDateTime", "2023-04-10 08:30:00Z")),
    ("Observation", "issued without a time", _set("issued", "2023-04-10")),
    ("Observation", "coding system with a space", _set("code.coding.0.system", "http://loinc org/x y")),
    ("MedicationStatement", "period start not a date", _set("effectivePeriod.start", "March 2023")),
    ("AdverseEvent", "date 2023-4-9", _set("date", "2023-4-9")),
    ("Condition", "onsetDateTime 2019-00", _set("onsetDateTime", "2019-00")),
    ("Patient", "meta lastUpdated without a time", _set("meta", {"lastUpdated": "2023-04-10"})),
    # choice elements and shapes
    ("Observation", "two values at once", _set("valueString", "high")),
    ("Patient", "two deceased values", _both(_set("deceasedBoolean", True), _set("deceasedDateTime", "2023-01-01"))),
    ("MedicationStatement", "two medications", _set("medicationReference", {"reference": "Medication/x"})),
    ("Patient", "name as an object, not an array", _set("name", {"family": "Chalmers"})),
    ("Observation", "category as an object, not an array", _set("category", {"text": "laboratory"})),
    ("AdverseEvent", "suspectEntity as an object", _set("suspectEntity", {"instance": {"reference": "X/1"}})),
    ("Patient", "resourceType Patients", _set("resourceType", "Patients")),
    ("Patient", "an R5-only resource type", _set("resourceType", "Citation")),
    # empty and null (ele-1)
    ("Patient", "empty name array", _set("name", [])),
    ("Patient", "empty identifier object", _set("identifier", [{}])),
    ("Patient", "null gender", _set("gender", None)),
    ("Patient", "empty string family", _set("name.0.family", "")),
    ("Observation", "empty note array", _set("note", [])),
    ("Observation", "empty code object", _set("code", {})),
    ("MedicationStatement", "null dosage", _set("dosage", None)),
    ("Condition", "empty code coding", _set("code", {"coding": []})),
    # invariants
    ("Observation", "value and dataAbsentReason (obs-6)",
     _set("dataAbsentReason", {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/data-absent-reason",
                                           "code": "unknown"}]})),
    ("Observation", "reference range with nothing (obs-3)", _set("referenceRange", [{"type": {"text": "normal"}}])),
    ("Patient", "extension with neither value nor extensions (ext-1)",
     _set("extension", [{"url": "http://example.org/x"}])),
    ("Patient", "extension with both value and extensions (ext-1)",
     _set("extension", [{"url": "http://example.org/x", "valueString": "a",
                         "extension": [{"url": "y", "valueString": "b"}]}])),
    ("Patient", "extension without url", _set("extension", [{"valueString": "a"}])),
    ("Patient", "contained resource never referenced (dom-3)",
     _set("contained", [{"resourceType": "Organization", "id": "org", "name": "Clinic"}])),
    # references to the wrong type
    ("MedicationStatement", "subject is a Medication", _set("subject", {"reference": "Medication/x"})),
    ("AdverseEvent", "subject is an Observation", _set("subject", {"reference": "Observation/o1"})),
    ("Condition", "subject is a Practitioner", _set("subject", {"reference": "Practitioner/x"})),
    ("MedicationStatement", "subject typed Organization", _set("subject", {"type": "Organization",
                                                                           "reference": "Organization/x"})),
]


def corpus() -> list[Broken]:
    out = []
    for rtype, name, change in _BREAKS:
        resource = copy.deepcopy(BASES[rtype])
        change(resource)
        out.append(Broken(f"{rtype}: {name}", resource))
    return out
