"""FHIR-based adverse-event reporter: case file -> FHIR R4 ICSR Bundle -> report and E2B(R3)."""

__version__ = "0.1.0"
