"""The version diff matches items by identity: one lab row removed and one added show as exactly those two,
numbers compare as numbers, bookkeeping fields are left out. Built on the issue-15 case file."""

from __future__ import annotations

import copy

from reporter.casefile.model import CaseFile
from reporter.fhir.build import build_bundle
from reporter.web.casediff import bundle_facts, diff, diff_cases
from tests.render_support import issue_case_data


def _stored(data: dict) -> dict:
    """What the store keeps from the form: the validated case file as JSON."""
    return CaseFile.model_validate(data).model_dump(mode="json", by_alias=True, exclude_none=True)


def _edited(fn) -> tuple[dict, dict]:
    old = issue_case_data()
    new = copy.deepcopy(old)
    fn(new)
    return _stored(old), _stored(new)


def _remove_one_add_one(data: dict) -> None:
    data["tests"] = [t for t in data["tests"] if not (t["name"] == "ALT" and t["date"] == "2024-04-02")]
    data["tests"].append({"name": "ALT", "loinc": "1742-6", "date": "2024-06-20", "value": 30, "unit": "U/L",
                          "high": 41})
    data["report"]["created"] = "2024-07-10T08:00:00Z"  # each version has its own: not a difference


def test_one_lab_row_removed_and_one_added_show_as_exactly_those() -> None:
    changes = diff_cases(*_edited(_remove_one_add_one))
    assert [(c.kind, c.item, c.whole) for c in changes] == [
        ("added", "Lab value ALT, 2024-06-20", True), ("removed", "Lab value ALT, 2024-04-02", True)]
    removed = changes[1]
    assert "Value: 180" in removed.old and "Unit: U/L" in removed.old and removed.path == "tests[8]"


def test_a_changed_value_is_one_field_of_one_item() -> None:
    def edit(data: dict) -> None:
        next(t for t in data["tests"] if t["name"] == "ALT" and t["date"] == "2024-05-15")["value"] = 47
        data["reactions"][0]["outcome"] = "recovered"

    changes = diff_cases(*_edited(edit))
    assert [(c.kind, c.item, c.field, c.old, c.new) for c in changes] == [
        ("changed", "Reaction cholestatic hepatitis, Hepatitis cholestatic", "outcome", "recovering", "recovered"),
        ("changed", "Lab value ALT, 2024-05-15", "value", "45", "47")]


def test_numbers_compare_as_numbers_and_order_does_not_matter() -> None:
    def edit(data: dict) -> None:
        data["tests"].reverse()
        data["drugs"].reverse()
        data["reactions"].reverse()
        data["patient"]["weight_kg"] = 64.0  # typed 64 before
        data["tests"][0]["value"] = float(data["tests"][0]["value"])

    assert diff_cases(*_edited(edit)) == []


def test_drug_reaction_and_causality_by_identity() -> None:
    def edit(data: dict) -> None:
        data["reactions"] = [r for r in data["reactions"] if r["id"] != "jaundice"]
        data["drugs"][0]["reactions"] = [r for r in data["drugs"][0]["reactions"] if r["reaction"] != "jaundice"]
        data["drugs"][0]["reactions"][0]["causality"].append(
            {"source": "Regulator", "method": "Naranjo", "result": "Probable"})
        data["drugs"][1]["dosages"][0]["dose"]["value"] = 40

    changes = diff_cases(*_edited(edit))
    summary = [(c.kind, c.item, c.field) for c in changes]
    assert ("removed", "Reaction jaundice with pruritus, Jaundice cholestatic", "") in summary
    assert ("removed", "Assessment jaundice", "") in summary
    assert ("added", "Causality Regulator, Naranjo", "") in summary
    assert ("changed", "Drug Atorvastatin", "dosages[0].dose.value") in summary
    assert len(changes) == 4, summary
    removed = next(c for c in changes if c.item.startswith("Reaction jaundice"))  # said as the form labels it
    assert "MedDRA › Code: " in removed.old and "meddra.code" not in removed.old


def test_fields_and_relative_times_read_as_the_form_says_them() -> None:
    """The diff showed 'dosages[1].dose.value' and a removed reaction as 'onset.value: 10; onset.unit: d;
    onset.drug: propranolol; onset.anchor: first-dose'."""
    from reporter.web.casediff import _summary, field_label

    assert field_label("dosages[1].dose.value") == "Dosage 2 › Dose › Value"
    line = _summary({"id": "seizure", "onset": {"value": 10, "unit": "d", "drug": "propranolol",
                                                "anchor": "first-dose"}})
    assert line == "Id (short key): seizure; Onset: 10 d after first propranolol dose"


def test_a_value_not_known_reads_as_the_form_says_why() -> None:
    """An imported lab value dated {absent: unknown} was labelled 'Lab value AST, {"absent": "unknown"}', and
    a seriousness criterion given over E2B's no information read 'Reason: no-information' -> 'yes'."""
    def edit(data: dict) -> None:
        data["tests"][0]["date"] = {"absent": "unknown"}
        data["reactions"][0]["seriousness"]["hospitalisation"] = {"absent": "no-information"}

    def answer(data: dict) -> None:
        edit(data)
        data["tests"][0]["value"] = 9.3
        data["reactions"][0]["seriousness"]["hospitalisation"] = True
        data["reactions"][0]["seriousness"]["death"] = {"absent": "masked"}

    old, new = _stored(_edited(edit)[1]), _stored(_edited(answer)[1])
    rows = {(c.item.split(" ")[0], c.field): (c.old, c.new) for c in diff_cases(old, new)}
    test = next(c.item for c in diff_cases(old, new) if c.field == "value")
    assert test.endswith(", not given: unknown"), test
    assert rows[("Reaction", "seriousness.hospitalisation")] == ("not given: no information", "yes")
    assert rows[("Reaction", "seriousness.death")] == ("no", "not given: masked (withheld for privacy)")


def test_amendment_flag_and_creation_time_are_not_case_changes() -> None:
    def edit(data: dict) -> None:
        data["report"]["created"] = "2024-08-01T00:00:00Z"
        data["report"]["nullification"] = {"kind": "amendment", "reason": "typo"}

    assert diff_cases(*_edited(edit)) == []


def test_bundles_key_test_results_by_test_and_time() -> None:
    old = issue_case_data()
    new = copy.deepcopy(old)
    _remove_one_add_one(new)
    changes = diff(bundle_facts(build_bundle(CaseFile.model_validate(old))),
                   bundle_facts(build_bundle(CaseFile.model_validate(new))))
    items = {c.item for c in changes}
    assert items == {"Observation[ALT @ 2024-04-02]", "Observation[ALT @ 2024-06-20]"}, items
    assert all(c.new is None for c in changes if "04-02" in c.item)
    assert all(c.old is None for c in changes if "06-20" in c.item)


def test_the_history_page_shows_values_as_the_form_does() -> None:
    """A temperature's unit read 'Cel' -> '[degF]' and an outcome 'not-recovered' on the history page."""
    from reporter.web.pages import _field_value

    assert _field_value("Cel", "tests[0].unit") == "°C" and _field_value("[degF]", "tests[0].unit") == "°F"
    assert _field_value("{total}", "drugs[0].dosages[0].every.unit") == "once"
    assert _field_value("not-recovered", "reactions[0].outcome") == "not recovered / not resolved"
    assert _field_value("PT", "primary_sources[0].address.country") == "Portugal (PT)"
