"""Bundle -> case is the direct inverse of case -> Bundle (reporter/fhir/to_case.py)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reporter.casefile import model as m
from reporter.casefile.parse import load_case
from reporter.errors import InputError
from reporter.fhir.build import build_bundle, dumps
from reporter.fhir.to_case import bundle_timing_case, bundle_to_case

REPO = Path(__file__).resolve().parents[1]
CASES = [*sorted((REPO / "examples").glob("*.yaml")), REPO / "tests" / "e2b" / "data" / "rich-case.yaml"]


def canonical(case: m.CaseFile) -> dict[str, Any]:
    """The case as JSON, with a drug's reaction links in reaction order (the Bundle keeps them per reaction)."""
    data = json.loads(case.model_dump_json(exclude_none=True, by_alias=True))
    order = {r["id"]: i for i, r in enumerate(data.get("reactions", []))}
    for drug in data.get("drugs", []):
        drug["reactions"] = sorted(drug.get("reactions", []), key=lambda link: order.get(link["reaction"], 0))
    report = data["report"]
    if report.get("worldwide_id") == data["case_id"]:
        del report["worldwide_id"]
    return data


@pytest.mark.parametrize("path", CASES, ids=lambda p: p.stem)
def test_case_to_bundle_to_case_is_the_identity(path: Path) -> None:
    case = load_case(path)
    back = bundle_to_case(build_bundle(case))
    assert canonical(back) == canonical(case)
    assert dumps(build_bundle(back)) == dumps(build_bundle(case))


def test_imported_e2b_cases_read_back_without_e2b(tmp_path: Path) -> None:
    """A Bundle made by the E2B importer reads back to the same case (no detour through E2B)."""
    from reporter.e2b import importer

    for xml in sorted((REPO / "tests" / "e2b" / "inputs").glob("*.xml")):
        for report in importer.import_file(xml).reports:
            assert report.bundle is not None, report.problems
            case = bundle_to_case(report.bundle)
            assert dumps(build_bundle(case)).count('"resourceType"') >= 5
            assert canonical(bundle_to_case(build_bundle(case))) == canonical(case)


def test_not_a_case_bundle_is_a_clear_error() -> None:
    with pytest.raises(InputError, match="not a FHIR Bundle"):
        bundle_to_case({"resourceType": "Patient"})
    with pytest.raises(InputError, match="no entries"):  # as validation and E2B say it
        bundle_to_case({"resourceType": "Bundle", "type": "document", "entry": []})
    with pytest.raises(InputError, match=r"C\.1\.1"):
        bundle_to_case({"resourceType": "Bundle", "type": "document", "entry": [
            {"fullUrl": "urn:uuid:0b1c2d3e-0000-4000-8000-000000000009", "resource": {"resourceType": "Composition"}}]})


# -- generated cases ------------------------------------------------------------------------------------

text = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs", "Cc", "Zs", "Zl", "Zp")),
               min_size=1, max_size=12)
dates = st.sampled_from(["2023", "2023-04", "2023-04-05", "2023-04-05T10:30:00+02:00"])
absent = st.builds(m.Absent, absent=st.sampled_from(["masked", "asked-unknown", "not-asked", "unknown",
                                                     "no-information", "not-applicable"]))
tri = st.one_of(st.booleans(), absent)
meddra = st.builds(m.MedDRA, code=st.from_regex(r"^1\d{7}$", fullmatch=True), version=st.just("26.1"))
qty = st.builds(m.Quantity, value=st.integers(1, 500).map(float), unit=st.sampled_from(["mg", "d", "a", "kg"]))


@st.composite
def cases(draw: st.DrawFn) -> m.CaseFile:
    n_reactions = draw(st.integers(1, 3))
    reactions = [m.Reaction(
        id=f"r{i}", verbatim=draw(text), meddra=draw(st.none() | meddra),
        seriousness=m.Seriousness(death=draw(tri), hospitalisation=draw(tri),
                                  required_intervention=draw(st.none() | tri)),
        onset=draw(st.none() | dates | absent), outcome=draw(st.none() | st.sampled_from(["recovered", "fatal"])),
        duration=draw(st.none() | qty)) for i in range(n_reactions)]
    drugs = [m.Drug(
        id=f"d{i}", role=draw(st.sampled_from(["suspect", "concomitant"])), product=draw(text),
        identifiers=draw(st.lists(st.builds(m.ProductId, kind=st.just("product-code"), code=text,
                                            system=st.just("2.16.840.1.113883.6.69")), max_size=1)),
        dosages=[m.Dosage(dose=draw(st.none() | qty), start=draw(st.none() | dates),
                          every=draw(st.none() | st.builds(m.Quantity, value=st.just(1.0), unit=st.just("d"))))],
        reactions=[m.DrugReaction(reaction="r0", causality=[m.Causality(source="Reporter", method="Naranjo",
                                                                        result=draw(text))])] if i == 0 else [],
    ) for i in range(draw(st.integers(1, 2)))]
    return m.CaseFile(
        case_id=draw(st.from_regex(r"^[A-Z]{2}-[A-Z]{3}-\d{3}$", fullmatch=True)),
        report=m.Report(type="spontaneous", first_received="2023-04-01", most_recent=draw(dates),
                        fda_report_type=draw(st.none() | st.just("15-day")),
                        previous_case_ids=draw(st.none() | tri)),
        patient=m.Patient(initials=draw(text | absent), sex=draw(st.none() | st.just("female") | absent),
                          race=draw(st.lists(st.builds(m.Coded, code=st.just("C41260"), text=st.just("Asian"))
                                             | absent, max_size=2)),
                          weight_kg=draw(st.none() | st.just(70.5))),
        reactions=reactions, drugs=drugs,
        tests=[m.Test(name=draw(text), value=draw(st.floats(0, 1e4, allow_nan=False)), unit="U/L",
                      date=draw(st.none() | dates | st.builds(m.RelativeTime, value=st.just(21.0),
                                                               drug=st.just("d0"))))],
    )


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cases())
def test_generated_cases_round_trip(case: m.CaseFile) -> None:
    assert canonical(bundle_to_case(build_bundle(case))) == canonical(case)


def _timing(case: m.CaseFile) -> list[Any]:
    """What time to onset reads of a case: drug ids, dosage dates, stated intervals; reaction times."""
    return [[(d.id, [(x.start, x.stop) for x in d.dosages],
              [(x.reaction, x.onset_after_first_dose, x.onset_after_last_dose) for x in d.reactions])
             for d in case.drugs],
            [(r.id, r.onset, r.end, r.duration) for r in case.reactions]]


@pytest.mark.parametrize("path", CASES, ids=lambda p: p.stem)
def test_the_timing_case_reads_what_the_whole_case_reads(path: Path) -> None:
    """The E2B writer's G.k.9.i.3 from dates reads bundle_timing_case: the same drugs, dosage dates, intervals
    and reaction times as bundle_to_case, without the rest of the case."""
    bundle = build_bundle(load_case(path))
    assert _timing(bundle_timing_case(bundle)) == _timing(bundle_to_case(bundle))


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cases())
def test_generated_timing_cases_read_what_the_whole_case_reads(case: m.CaseFile) -> None:
    bundle = build_bundle(case)
    assert _timing(bundle_timing_case(bundle)) == _timing(bundle_to_case(bundle)) == _timing(case)


def test_reporter_case_writes_the_case_file_back(tmp_path: Path) -> None:
    import subprocess
    import sys

    bundle = tmp_path / "b.json"
    bundle.write_text(dumps(build_bundle(load_case(CASES[0]))), encoding="utf-8")
    cli = [sys.executable, "-m", "reporter.cli"]
    env_cwd = {"cwd": REPO, "capture_output": True, "text": True, "timeout": 120}
    done = subprocess.run([*cli, "case", str(bundle), "-o", str(tmp_path / "c.yaml")], **env_cwd)
    assert done.returncode == 0, done.stderr
    again = subprocess.run([*cli, "fhir", str(tmp_path / "c.yaml")], **env_cwd)
    assert again.returncode == 0 and again.stdout == bundle.read_text(encoding="utf-8")
    patient = tmp_path / "p.json"
    patient.write_text('{"resourceType": "Patient"}', encoding="utf-8")
    bad = subprocess.run([*cli, "case", str(patient)], **env_cwd)
    assert bad.returncode == 2 and "found a Patient" in bad.stderr and "Traceback" not in bad.stderr
