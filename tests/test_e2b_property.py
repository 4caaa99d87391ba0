"""Property: for every case file generated from the model, either validation reports an error, or the E2B
export for every receiver is XSD-valid and rule-clean. In detail:

1. a case whose case-file layers (model, structure, terminology, ICSR rules, plausibility) find no error
   always exports XSD-valid for every receiver: the exporter never writes invalid XML for a valid case;
2. `validate --receiver all` has no errors exactly when every receiver's export is XSD-valid and rule-clean.

Needs the ICH XSDs (REPORTER_E2B_SCHEMA_DIR or ../shared). CI runs a short run; set
REPORTER_PROPERTY_EXAMPLES for more, or run bench/e2b_property.py for a long run with a count."""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, given, settings
from pydantic import ValidationError

from reporter.casefile.model import CaseFile
from reporter.e2b.export import export_bundles
from reporter.e2b.readiness import receivers_for
from reporter.fhir.build import build_bundle
from reporter.validation import validate_bundle
from tests.casegen import case_files

EXAMPLES = int(os.environ.get("REPORTER_PROPERTY_EXAMPLES") or 25)


def check_case(data: dict, schema_dir) -> str:
    """The property for one generated case; returns what happened ('model-error', 'case-error', 'ready',
    'not-ready') so the long run can count."""
    try:
        case = CaseFile.model_validate(data)
    except ValidationError:
        return "model-error"  # validate reports it (CASEFILE errors with the field and line)
    if case.dangling_relative_times():
        return "model-error"
    bundle = build_bundle(case)
    case_report = validate_bundle(bundle)
    exports = {name: export_bundles([bundle], receiver_name=name, schema_dir=schema_dir)
               for name in receivers_for("all")}
    if case_report.ok:
        for name, result in exports.items():
            assert result.check.xsd == "valid", f"{name}: XSD-invalid export of a valid case\n{result.check.text()}"
    ready = validate_bundle(bundle, receiver="all")
    every_ok = all(r.check.ok for r in exports.values())
    assert ready.ok == (case_report.ok and every_ok), ready.to_text()
    return "ready" if ready.ok else ("case-error" if not case_report.ok else "not-ready")


@pytest.fixture(scope="module")
def schema(e2b_schema_dir):
    previous = os.environ.get("REPORTER_E2B_SCHEMA_DIR")
    os.environ["REPORTER_E2B_SCHEMA_DIR"] = str(e2b_schema_dir)
    yield e2b_schema_dir
    if previous is None:
        os.environ.pop("REPORTER_E2B_SCHEMA_DIR", None)
    else:
        os.environ["REPORTER_E2B_SCHEMA_DIR"] = previous


def test_generated_cases_validate_or_export_clean(schema) -> None:
    seen: dict[str, int] = {}

    @settings(max_examples=EXAMPLES, deadline=None, derandomize=True,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(case_files())
    def prop(data: dict) -> None:
        outcome = check_case(data, schema)
        seen[outcome] = seen.get(outcome, 0) + 1

    prop()
    assert seen.get("ready", 0) + seen.get("not-ready", 0) > 0, seen  # the run reached the exporter
