"""Literature case reports entered as a pharmacovigilance officer enters them (tests/data/literature: invented
cases in the shapes published reports take: relative times only, the year only, an infant dosed per kg, a
death with autopsy, a rechallenge with batch numbers, an interaction, a parent-child case). Each validates
clean for every receiver, exports XSD-valid E2B for ICH and FDA, and reads back from its E2B with every value
fact through the case model and the same case facts E2B can carry."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from reporter.casefile.parse import load_case
from reporter.e2b import importer, xmlsafe
from reporter.e2b.export import export_bundles
from reporter.fhir.build import build_bundle
from reporter.validation import validate_file

CASES = sorted((Path(__file__).parent / "data" / "literature").glob("*.yaml"))
WHEN = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)


def test_there_are_literature_cases() -> None:
    assert len(CASES) >= 8


@pytest.mark.parametrize("path", CASES, ids=lambda p: p.stem)
def test_a_literature_case_goes_through_every_step(path: Path, e2b_schema_dir: Path) -> None:
    _, report = validate_file(path, receiver="all")
    assert report.ok, report.to_text()
    bundle = build_bundle(load_case(path))
    for receiver in ("ich", "fda"):
        exported = export_bundles([bundle], receiver_name=receiver, batch_id="LIT", creation_time=WHEN)
        assert exported.check.ok and exported.check.xsd == "valid", exported.check.text()
        [back] = importer.import_loaded(xmlsafe.parse_bytes(exported.xml, f"{path.stem}.xml")).reports
        assert back.ok and back.coverage.total == back.coverage.mapped, (back.problems, back.coverage)
        again = export_bundles([back.bundle], receiver_name=receiver, batch_id="LIT", creation_time=WHEN)
        assert again.check.ok, again.check.text()


def test_intervals_worked_out_from_relative_times_are_exact_or_left_out() -> None:
    """Two shapes that once went wrong: 30 min after the last dose of a 7-day course is 10110 min after the
    first (not 7.0208333 d, which E2B refused); an infusion given after the induction stopped, with no stop of
    its own, leaves the last dose unknown (not the induction's stop: 42 days)."""
    folder = Path(__file__).parent / "data" / "literature"
    minutes = export_bundles([build_bundle(load_case(folder / "case9-infant-interval-in-minutes.yaml"))]).xml
    assert b'<pauseQuantity value="10110" unit="min"/>' in minutes
    holiday = export_bundles([build_bundle(load_case(folder / "case10-infusion-after-drug-holiday.yaml"))]).xml
    assert b'<outboundRelationship1 typeCode="SAS">' not in holiday  # no onset after the first dose made up


@pytest.mark.parametrize(("reference", "sent"), [
    ({"citation": "Shah P. Three cases. Br J Clin Pharmacol. 2023;89:800-4.", "doi": "10.1111/bcp.1"},
     "Shah P. Three cases. Br J Clin Pharmacol. 2023;89:800-4. doi:10.1111/bcp.1"),
    ({"doi": "10.1111/bcp.1"}, "doi:10.1111/bcp.1"),
    ({"citation": "Shah P. Three cases. 2023. doi:10.1111/BCP.1", "doi": "10.1111/bcp.1"},
     "Shah P. Three cases. 2023. doi:10.1111/BCP.1"),
])
def test_a_doi_given_apart_from_the_citation_reaches_c4_and_the_report(reference: dict, sent: str) -> None:
    """A reference's `doi` was kept in FHIR only: C.4.r.1 went without it (a reference given by its DOI alone
    as an empty bibliographicDesignationText, valid and silent) and so did the rendered report."""
    from reporter.casefile.model import CaseFile
    from reporter.casefile.parse import load_data, read_text
    from reporter.render.view import case_view

    path = Path(__file__).parents[1] / "examples" / "case2-anakinra-transaminitis.yaml"
    data = load_data(read_text(path), str(path))
    data["literature"] = [reference]
    bundle = build_bundle(CaseFile.model_validate(data))
    exported = export_bundles([bundle], batch_id="LIT", creation_time=WHEN)
    assert f"<bibliographicDesignationText>{sent}</bibliographicDesignationText>".encode() in exported.xml
    assert case_view(bundle).header.literature == (sent,)
