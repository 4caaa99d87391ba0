"""The hand-broken corpus (tests/broken_corpus.py): the API's validator rejects every case, and accepts the
bases they were made from (issue 13). bench/broken_corpus.py prints the independent validators' count beside it."""

from __future__ import annotations

import pytest

from reporter.fhir.issue_location import location_of
from reporter.web.checks import has_errors, validate_resource
from tests.broken_corpus import BASES, corpus

CASES = corpus()


def test_the_corpus_is_large_and_named_uniquely() -> None:
    assert len(CASES) >= 100
    assert len({c.name for c in CASES}) == len(CASES)


@pytest.mark.parametrize("resource_type", sorted(BASES))
def test_the_bases_are_valid(resource_type) -> None:
    report = validate_resource(BASES[resource_type])
    assert not has_errors(report), report


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_every_broken_resource_is_rejected_with_a_location(case) -> None:
    report = validate_resource(case.resource)
    errors = [i for i in report["issue"] if i["severity"] == "error"]
    assert errors, case.name
    assert all(location_of(i) for i in errors)
