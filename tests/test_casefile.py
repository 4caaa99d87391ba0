"""The case-file format: parsing, precise errors, partial dates, relative times, and its JSON Schema."""

from __future__ import annotations

import contextlib
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reporter.casefile import json_schema, load_case, parse_case
from reporter.casefile.model import RelativeTime
from reporter.errors import CaseFileError, InputError, ReporterError
from tests.helpers import CASE1, REPO, load_example

MINIMAL = """\
case_id: XX-TEST-1
report: {type: spontaneous, first_received: 2023-04, most_recent: 2023}
"""


def test_examples_parse(example_files):
    for path in example_files:
        case = load_case(path)
        assert case.case_id and case.reactions and case.drugs


def test_partial_dates_keep_their_precision():
    case = parse_case(MINIMAL + "patient: {initials: AB, birth_date: 2011-04}\n")
    assert case.report.first_received == "2023-04"
    assert case.report.most_recent == "2023"
    assert case.patient.birth_date == "2011-04"


def test_yaml_12_scalars_keep_country_no_and_dates_as_text():
    case = parse_case(MINIMAL + "reactions: [{id: r, verbatim: x, country: NO, onset: 2023-02-01}]\n")
    assert case.reactions[0].country == "NO"
    assert case.reactions[0].onset == "2023-02-01"


def test_relative_times_are_first_class():
    case = load_case(CASE1)
    alt_day21 = next(t for t in case.tests if t.loinc == "1742-6" and t.value == 4065)
    assert isinstance(alt_day21.date, RelativeTime)
    assert (alt_day21.date.value, alt_day21.date.unit, alt_day21.date.drug) == (21, "d", "anakinra")


@pytest.mark.parametrize(("snippet", "where", "words"), [
    ("report: {type: spontanious, first_received: 2023, most_recent: 2023}\n", "report.type (line 2)",
     "spontaneous"),
    ("report: {type: spontaneous, first_received: 2023-02-30, most_recent: 2023}\n", "report.first_received",
     "not a calendar date"),
    ("report: {type: spontaneous, first_received: 23-02-01, most_recent: 2023}\n", "report.first_received",
     "is not a date"),
    ("report: {type: spontaneous, first_received: '2023-02-01T24:00', most_recent: 2023}\n",
     "report.first_received", "impossible time of day"),
    ("report: {type: spontaneous, first_received: 2023, most_recent: 2023, colour: red}\n", "report.colour",
     "unknown field"),
    ("report: {type: spontaneous, first_received: 2023, most_recent: 2023, Colour: red}\n", "report.Colour",
     "unknown field"),  # a capitalised key is named too (union-branch labels are not)
    ("report: {type: spontaneous, most_recent: 2023}\n", "report.first_received", "required field"),
    # brinzolamide/timolol eye drops (Cyprus J Med Sci 2022): an unquoted text cut at its comma
    ("report: {type: spontaneous, first_received: 2023, most_recent: 2023, colour: red, suspension}\n",
     "report.suspension", 'quote the whole text (inside { } a comma starts a new field: text: "..., suspension")'),
])
def test_bad_fields_are_located(snippet, where, words):
    with pytest.raises(CaseFileError) as info:
        parse_case("case_id: X\n" + snippet)
    located = [(w, m) for w, m in info.value.problems if w.startswith(where)]
    assert located, info.value.problems
    assert words in located[0][1]


def test_every_problem_is_reported_at_once():
    with pytest.raises(CaseFileError) as info:
        parse_case("case_id: X\nreport: {type: nope, first_received: 2023-13, most_recent: x}\n")
    assert len(info.value.problems) == 3


def test_drug_reaction_links_must_resolve():
    data = load_example()
    data["drugs"][0]["reactions"][0]["reaction"] = "no-such-reaction"
    with pytest.raises(CaseFileError) as info:
        parse_case(json.dumps(data))
    assert "no-such-reaction" in " ".join(m for _, m in info.value.problems)


def test_relative_times_to_missing_drugs_are_listed_for_validation():
    data = load_example()
    data["tests"][5]["date"]["drug"] = "no-such-drug"
    case = parse_case(json.dumps(data))
    assert case.dangling_relative_times() == [
        ("tests[5].date", "tests[5].date is relative to drug 'no-such-drug', which is not in drugs")]


def test_duplicate_keys_are_refused():
    data = load_example()
    data["reactions"][1]["id"] = data["reactions"][0]["id"]
    with pytest.raises(CaseFileError, match="problem"):
        parse_case(json.dumps(data))


@pytest.mark.parametrize(("text", "where"), [
    ("case_id: X\nreport: [unclosed\n", "<input>:3"),
    ('{"case_id": "X",\n "report": }', "<input>:2"),
    ("- just\n- a list\n", "<input>"),
])
def test_unreadable_input_names_the_line(text, where):
    with pytest.raises(InputError) as info:
        parse_case(text)
    assert str(info.value).startswith(where)


def test_json_schema_matches_the_model_and_the_committed_copy():
    schema = json_schema()
    committed = json.loads((REPO / "docs" / "case-file.schema.json").read_text(encoding="utf-8"))
    assert committed == schema, "stale: run `reporter schema > docs/case-file.schema.json`"
    assert set(schema["required"]) == {"case_id", "report"}
    assert "reactions" in schema["properties"] and "$format" in schema["properties"]


def test_examples_validate_against_the_json_schema(example_files):
    jsonschema = pytest.importorskip("jsonschema")
    from reporter import yaml12

    validator = jsonschema.Draft202012Validator(json_schema())
    for path in example_files:
        errors = list(validator.iter_errors(yaml12.load(path.read_text(encoding="utf-8"))))
        assert not errors, (path, errors[:3])


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=300))
def test_parser_never_raises_anything_but_its_own_errors(text):
    with contextlib.suppress(ReporterError):
        parse_case(text)


@settings(max_examples=100, deadline=None)
@given(st.dictionaries(st.sampled_from(["case_id", "report", "patient", "reactions", "drugs", "tests", "x"]),
                       st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=8),
                                    lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=5), c,
                                                                                        max_size=3),
                                    max_leaves=8)))
def test_structured_garbage_gets_located_errors(data):
    try:
        parse_case(json.dumps(data))
    except CaseFileError as exc:
        assert exc.problems and all(where and message for where, message in exc.problems)
    except InputError:
        pass


@pytest.mark.parametrize(("field", "written", "said"), [
    ("weight_kg", "165 lb", "'165 lb': give it in kg, as a number alone (74.8)"),
    ("height_cm", "5 ft", "'5 ft': give it in cm, as a number alone (152.4)"),
    ("height_cm", "70 inches", "'70 inches': give it in cm, as a number alone (177.8)"),
    # a neonate's weight in grams, and a value written with the unit the field already names
    ("weight_kg", "1980 g", "'1980 g': give it in kg, as a number alone (1.98)"),
    ("weight_kg", "5.2 kg", "'5.2 kg': give it in kg, as a number alone (5.2)"),
    ("height_cm", "1.72 m", "'1.72 m': give it in cm, as a number alone (172)"),
])
def test_an_imperial_weight_or_height_is_refused_with_its_metric_value(field, written, said):
    """Published US cases give '165 lb': the error said only 'Input should be a valid number'."""
    with pytest.raises(CaseFileError) as info:
        parse_case(MINIMAL + f"patient: {{initials: AB, {field}: '{written}'}}\n")
    assert (f"patient.{field} (line 3)", said) in info.value.problems


def test_a_value_meant_as_one_shape_of_a_union_is_told_about_in_that_shape_only():
    """Before, a relative onset with a word for its value also drew 'required field is missing' at
    onset.absent and 'unknown field' at onset.unit and onset.drug (the other shapes' errors)."""
    with pytest.raises(CaseFileError) as info:
        parse_case(MINIMAL + "reactions: [{id: r1, verbatim: rash, onset: {value: twenty, unit: d, drug: d1}}]\n")
    assert info.value.problems == [("reactions[0].onset.value (line 3)", "'twenty' is not a number")]


def test_a_date_that_is_not_one_still_gets_the_date_message():
    with pytest.raises(CaseFileError) as info:
        parse_case(MINIMAL + "reactions: [{id: r1, verbatim: rash, onset: yesterday}]\n")
    [(where, said)] = info.value.problems
    assert where == "reactions[0].onset (line 3)" and said.startswith("'yesterday' is not a date")


@pytest.mark.parametrize(("field", "written", "said"), [
    ("age_at_onset", "3 months", "'3 months': write it as {value: 3, unit: mo} (the unit in UCUM)"),
    ("age_at_onset", "67 years", "'67 years': write it as {value: 67, unit: a} (the unit in UCUM)"),
    ("age_at_onset", "40", "'40' needs its unit: write it as {value: 40, unit: <UCUM unit>}"),
    ("gestation_at_onset", "34 weeks", "'34 weeks': write it as {value: 34, unit: wk} (the unit in UCUM)"),
])
def test_a_quantity_written_as_text_is_refused_with_the_value_and_unit_to_give(field, written, said):
    """'a 3-month-old infant' typed as '3 months': the error said 'Input should be a valid dictionary or
    instance of Quantity', which names a class of the code, not what to write."""
    with pytest.raises(CaseFileError) as info:
        parse_case(MINIMAL + f"patient: {{initials: AB, {field}: '{written}'}}\n")
    assert (f"patient.{field} (line 3)", said) in info.value.problems


def test_a_dosing_interval_in_words_is_refused_without_a_made_up_unit():
    with pytest.raises(CaseFileError) as info:
        parse_case(MINIMAL + "drugs: [{id: x, role: suspect, product: X, dosages: [{every: '8 hourly'}]}]\n")
    [(where, said)] = info.value.problems
    assert where.startswith("drugs[0].dosages[0].every")
    assert said == "'8 hourly': write it as {value: 8, unit: <the UCUM code for 'hourly'>}"


def test_a_date_of_death_given_relative_to_a_drug_is_one_problem_that_says_what_to_write():
    """'died on day 10' written as a relative time where only a date fits (D.9.1): four messages came, one per
    union branch ('a valid string', 'absent: required field is missing', 'value: unknown field'...)."""
    with pytest.raises(CaseFileError) as info:
        parse_case(MINIMAL + "patient: {initials: AB, death: {date: {value: 10, unit: d, drug: x}}}\n")
    [(where, said)] = info.value.problems
    assert where == "patient.death.date (line 3)"
    assert said.startswith("this field takes a date (YYYY, YYYY-MM or YYYY-MM-DD) or {absent: <reason>}, not a "
                           "time relative to a drug")


def test_a_reaction_onset_keeps_the_relative_time_s_own_message():
    with pytest.raises(CaseFileError) as info:
        parse_case(MINIMAL + "reactions: [{id: r, verbatim: rash, onset: {value: 4, unit: d}}]\n")
    assert any("onset" in where and "required" in said for where, said in info.value.problems)


def test_an_unquoted_ucum_unit_with_brackets_in_a_flow_mapping_gets_a_hint():
    """`{..., unit: mm[Hg], ...}` is a YAML error ('did not find expected , or }') that names no cause."""
    with pytest.raises(InputError) as info:
        parse_case(MINIMAL + "tests: [{name: SBP, value: 82, unit: mm[Hg], low: 90}]\n")
    assert "quote" in (info.value.hint or "") and '"mm[Hg]"' in info.value.hint


def test_a_qualifier_on_an_e2b_interval_says_where_it_belongs():
    """'more than 10 years' of lithium, 'about 4 months' of DRESS: an assessor put `qualifier` on the link's
    interval or the reaction's duration (a number and a unit, as E2B sends it) and read only 'unknown field'."""
    data = load_example()
    data["reactions"][0]["duration"] = {"value": 4, "unit": "mo", "qualifier": "about"}
    with pytest.raises(CaseFileError) as info:
        parse_case(json.dumps(data))
    [(where, message)] = [p for p in info.value.problems if "qualifier" in p[0]]
    assert where.startswith("reactions[0].duration.qualifier")
    assert "belongs to a time relative to a drug (a reaction's onset or end" in message
