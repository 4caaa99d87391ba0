"""Look-ups for case entry (reporter/lookup.py): MedDRA from a release, LOINC from the project's tables, UCUM
with usual spellings, and an honest note where the project has no dictionary."""

from __future__ import annotations

import pytest

from reporter import lookup
from reporter.validation.terminology import loinc_problem
from reporter.validation.ucum import is_valid_ucum
from tests.meddra_release import VERSION, write_release


def test_meddra_without_a_release_says_so(monkeypatch) -> None:
    monkeypatch.delenv("REPORTER_MEDDRA_DIR", raising=False)
    answer = lookup.meddra("hepatitis")
    assert answer["items"] == [] and "REPORTER_MEDDRA_DIR" in answer["note"]


def test_meddra_finds_terms_by_words_or_code_with_their_pt(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("REPORTER_MEDDRA_DIR", str(write_release(tmp_path / "r")))
    items = lookup.meddra("hepatitis drug")["items"]
    assert [(i["code"], i["label"], i["level"]) for i in items] == [
        ("94000001", "Hepatitis drug-induced (test)", "LLT")]  # the non-current LLT is left out
    assert items[0]["pt"] == "Drug-induced liver injury (test)" and items[0]["version"] == VERSION
    assert [i["code"] for i in lookup.meddra("94000003")["items"]] == ["94000003"]
    assert lookup.meddra("no such words")["items"] == []


def test_loinc_codes_come_from_the_project_tables_and_are_valid() -> None:
    tests = lookup.lab_tests()
    assert {"1742-6", "6768-6", "1975-2", "6301-6", "2324-2"} <= {t["code"] for t in tests}
    assert all(loinc_problem(t["code"]) is None for t in tests)
    assert [i["code"] for i in lookup.loinc("alanine")["items"]] == ["1742-6", "1743-4"]
    assert [i["label"] for i in lookup.loinc("6301")["items"]] == ["INR"]


@pytest.mark.parametrize(("typed", "ucum"), [("IU/L", "[IU]/L"), ("years", "a"), ("mcg", "ug"), ("mcg/kg", "ug/kg"),
                                             ("U/L", "U/L"), ("mg/dL", "mg/dL"), ("INR", "{INR}"),
                                             ("mg per litre", None)])
def test_usual_unit_spellings_map_to_ucum(typed, ucum) -> None:
    assert lookup.to_ucum(typed) == ucum


def test_every_offered_unit_and_spelling_is_ucum() -> None:
    table = lookup._units()
    assert all(is_valid_ucum(u["code"]) for u in table["common"])
    assert all(is_valid_ucum(code) for code in table["spellings"].values())
    assert lookup.ucum("IU/L")["items"][0]["code"] == "[IU]/L"
    assert any(i["code"] == "mg/dL" for i in lookup.ucum("mg")["items"])


def test_drugs_have_no_dictionary_and_say_so() -> None:
    answer = lookup.drugs("amoxicillin")
    assert answer["items"] == [] and "no drug dictionary" in answer["note"]
