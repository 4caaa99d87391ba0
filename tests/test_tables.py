"""reporter/tables.py: the one way a coding is read back to a case-file key (FHIR reader and projection)."""

from __future__ import annotations

from reporter.tables import code_list, coding_key


def test_coding_key_by_e2b_fhir_or_any() -> None:
    assert coding_key("outcome", {"code": "5"}) == "fatal"
    assert coding_key("outcome", {"code": "fatal"}) is None  # an E2B reader does not take a FHIR code
    assert coding_key("outcome", {"code": "resolvedWithSequelae"}, "fhir") == "recovered-with-sequelae"
    assert coding_key("outcome", {"code": "4"}, "fhir") is None
    for code in ("recovered", "1", "resolved"):  # the key itself, its E2B code, its FHIR code
        assert coding_key("outcome", {"code": code}, "any") == "recovered"
    assert code_list("outcome").key_for_coding({"code": " 2 "}, "any") == "recovering"


def test_coding_key_without_a_usable_code() -> None:
    for coding in (None, {}, {"code": 5}, {"code": " "}, "5", {"code": "99"}):
        assert coding_key("outcome", coding, "any") is None
