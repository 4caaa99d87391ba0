"""The case form is generated from the case-file model: it must cover every field and give back exactly
the case it was filled with."""

from __future__ import annotations

import types
import typing

import pytest
from pydantic import BaseModel
from werkzeug.datastructures import MultiDict

from reporter.casefile import model as m
from reporter.casefile.parse import load_case
from reporter.web import caseform
from tests.service.bundles import EXAMPLES

DEMOS = sorted(EXAMPLES.glob("*.yaml"))


@pytest.mark.parametrize("path", DEMOS, ids=lambda p: p.stem)
def test_a_case_goes_through_the_form_unchanged(path) -> None:
    case = load_case(path)
    parsed, problems = caseform.parse(caseform.flatten(case))
    assert problems == []
    assert parsed == case


def _model_paths(model: type[BaseModel], prefix: str = "") -> set[str]:
    """Every leaf field of the model, as a generic case-file path (rows as [0])."""
    out: set[str] = set()
    for name, info in model.model_fields.items():
        if name == "format":
            continue
        path = f"{prefix}.{name}" if prefix else name
        is_union = typing.get_origin(info.annotation) in (typing.Union, types.UnionType)
        args = [a for a in typing.get_args(info.annotation) if a is not type(None)] if is_union else [info.annotation]
        for tp in args:
            tp = typing.get_args(tp)[0] if typing.get_origin(tp) is typing.Annotated else tp
            if typing.get_origin(tp) is list:
                item = typing.get_args(tp)[0]
                variants = typing.get_args(item) if typing.get_origin(item) in (typing.Union, types.UnionType) \
                    else (item,)
                if all(isinstance(v, type) and issubclass(v, BaseModel) for v in variants):
                    for variant in variants:  # a row per item; a choice of models (race: a code or why not)
                        out |= _model_paths(variant, f"{path}[0]")
                else:
                    out.add(path)
            elif isinstance(tp, type) and issubclass(tp, BaseModel):
                out |= _model_paths(tp, path)
            else:
                out.add(path)
    return out


def _form_paths(fields) -> set[str]:
    out: set[str] = set()
    for f in fields:
        if f.kind in ("group", "union", "list"):
            out |= _form_paths(f.children)
        else:
            out.add(f.path)
    return out


def test_the_form_has_an_input_for_every_field_of_the_model() -> None:
    everything = MultiDict()
    for path in _model_paths(m.CaseFile):
        for list_path in {path[:i] for i in range(len(path)) if path.startswith("[0]", i)}:
            everything[f"{list_path}#rows"] = "1"
    inputs = _form_paths(caseform.form_tree(caseform.Values(everything)))
    missing = _model_paths(m.CaseFile) - inputs
    # forms offered only when the case already holds one (variants_when_held)
    def under(path: str, pattern: str) -> bool:  # the field, or one it sits in, matches the pattern
        steps = path.split(".")
        return any(caseform.matches(caseform.generic(".".join(steps[:i])), pattern) for i in range(1, len(steps)))

    held = {p for p in missing if any(under(p, pattern) for pattern in caseform._table()["variants_when_held"])}
    assert not missing - held, sorted(missing - held)
    assert {"drugs[0].role.absent", "patient.initials.family"} <= held
    for path in held:
        everything[path] = "unknown"
    assert not _model_paths(m.CaseFile) - _form_paths(caseform.form_tree(caseform.Values(everything)))


def test_rows_are_added_and_removed_with_renumbering() -> None:
    form = MultiDict([("reactions#rows", "3"), ("reactions[0].id", "a"), ("reactions[1].id", "b"),
                      ("reactions[2].id", "c"), ("reactions[2].meddra.code", "10019717"), ("csrf_token", "t")])
    added = caseform.apply_row_action(form, "add:reactions")
    assert added["reactions#rows"] == "4" and "csrf_token" not in added
    removed = caseform.apply_row_action(form, "remove:reactions[1]")
    assert removed["reactions#rows"] == "2"
    assert removed["reactions[1].id"] == "c" and removed["reactions[1].meddra.code"] == "10019717"
    assert caseform.apply_row_action(form, "add:not.a.list")["reactions#rows"] == "3"  # ignored
    assert caseform.apply_row_action(form, "add:case_id").get("case_id#rows") is None


def test_empty_rows_are_dropped_and_errors_keep_the_form_row_number() -> None:
    form = caseform.flatten(load_case(DEMOS[0]))
    rows = int(form["reactions#rows"])
    form["reactions#rows"] = str(rows + 2)  # two empty rows at the end...
    form["reactions[" + str(rows + 1) + "].meddra.term"] = "Rash"  # ...the second one half filled: no LLT code
    _, problems = caseform.parse(form)
    assert (f"reactions[{rows + 1}].meddra.code", "required") in problems


# --- the form built for the task (issue 15) -----------------------------------------------------------------

def _walk(fields: list[caseform.Field]):
    for f in fields:
        yield f
        yield from _walk(f.children)


def _everything() -> MultiDict:
    out = MultiDict()
    for path in _model_paths(m.CaseFile):
        for list_path in {path[:i] for i in range(len(path)) if path.startswith("[0]", i)}:
            out[f"{list_path}#rows"] = "1"
    return out


def test_sections_follow_the_reporting_order_and_place_every_top_level_field() -> None:
    sections = caseform.sections(caseform.form_tree(caseform.Values(_everything())))
    assert [s["key"] for s in sections] == ["patient", "reactions", "drugs", "tests", "narrative", "source", "report"]
    placed = [f.path for s in sections for f in s["items"]]
    assert sorted(placed) == sorted(n for n in m.CaseFile.model_fields if n != "format")
    assert sections[-1]["detail"]  # the administrative part comes last


def test_no_drop_down_shows_a_raw_key() -> None:
    for f in _walk(caseform.form_tree(caseform.Values(_everything()))):
        for value, label in f.options:
            assert "-" not in label or label != value, (f.path, value)
    tree = caseform.form_tree(caseform.Values(_everything()))
    absent = next(f for f in _walk(tree) if f.path == "patient.birth_date.absent")
    assert ("asked-unknown", "asked, but not known") in absent.options


def test_row_patterns_match_rows_and_detail_folds() -> None:
    assert caseform.hint_for("tests[3].loinc").startswith("LOINC code")  # "[*]" is a row, not a character class
    assert caseform.is_detail("reactions[1].translation") and not caseform.is_detail("reactions[1].verbatim")
    tree = caseform.form_tree(caseform.Values(_everything()))
    reaction = next(f for f in _walk(tree) if f.path == "reactions[0]")
    assert "reactions[0].translation" in [c.path for c in reaction.more]
    assert "reactions[0].meddra" in [c.path for c in reaction.main]


def test_the_lab_grid_has_one_cell_per_column_and_keeps_every_other_field() -> None:
    tree = caseform.form_tree(caseform.Values(_everything()))
    tests = next(f for f in tree if f.path == "tests")
    cells, rest = tests.cells(tests.children[0])
    assert [c.path if c else None for c in cells] == [f"tests[0].{c['path']}" for c in tests.grid]
    grid_leaves = {c.path for c in cells} | {r.path for r in rest}
    model_leaves = {p for p in _model_paths(m.CaseFile) if p.startswith("tests[0].")}
    assert model_leaves <= grid_leaves  # nothing of a test is lost by drawing it as a grid
    assert next(r for r in rest if r.path == "tests[0].date.unit").label == "Date · unit"


def test_every_repeating_group_has_one_template_row_at_placeholder_numbers() -> None:
    templates = {caseform.generic(f.path): f for f in caseform.row_templates()}
    lists = {caseform.generic(f.path) for f in _walk(caseform.form_tree(caseform.Values(_everything())))
             if f.kind == "list"}
    assert set(templates) == lists
    dosages = templates["drugs[*].dosages"]
    assert dosages.template.path == f"drugs[{caseform.PLACEHOLDER}].dosages[{caseform.PLACEHOLDER + 1}]"
    assert all(c.rows == 0 for c in _walk([dosages.template]) if c.kind == "list")
    assert caseform.placeholder("tests") > caseform.MAX_ROWS  # never a real row


def test_usual_unit_spellings_are_stored_as_ucum_and_others_still_refused() -> None:
    form = caseform.flatten(load_case(DEMOS[0]))
    form.setlist("tests[0].unit", ["IU/L"])
    form.setlist("patient.age_at_onset.unit", ["years"])
    case, problems = caseform.parse(form)
    assert problems == [] and case.tests[0].unit == "[IU]/L" and case.patient.age_at_onset.unit == "a"
    form.setlist("tests[0].unit", ["mg per litre"])
    assert ("tests[0].unit", "'mg per litre' is not a UCUM unit") in caseform.parse(form)[1]


def test_a_temperature_unit_is_typed_and_shown_as_a_thermometer_reads_it() -> None:
    """A body temperature received in UCUM's Cel showed 'Cel' on the form, and '°F' typed over it was refused as
    no UCUM unit."""
    data = load_case(DEMOS[0]).model_dump(mode="json", by_alias=True, exclude_none=True)
    data["tests"][0].update(name="Body temperature", loinc="8310-5", value=39.8, unit="Cel")
    data["tests"][0].pop("low", None)
    data["tests"][0].pop("high", None)
    form = caseform.flatten(data)
    assert form["tests[0].unit"] == "°C"
    assert caseform.parse(form)[0].tests[0].unit == "Cel"
    form.setlist("tests[0].value", ["103.6"])
    form.setlist("tests[0].unit", ["°F"])
    case, problems = caseform.parse(form)
    assert problems == [] and case.tests[0].unit == "[degF]"


def test_an_age_in_decades_is_typed_as_a_word_and_no_hint_shows_a_ucum_brace_code() -> None:
    """The age unit's hint told the user to type '{decade}' (a UCUM annotation), and 'decades' was refused."""
    form = caseform.flatten(load_case(DEMOS[0]))
    form.setlist("patient.age_at_onset.value", ["6"])
    form.setlist("patient.age_at_onset.unit", ["decades"])
    case, problems = caseform.parse(form)
    assert problems == [] and case.patient.age_at_onset.unit == "{decade}"
    hints = [row["hint"] for row in caseform._table()["hints"]]
    assert not [hint for hint in hints if "{" in hint or "[" in hint]


def test_the_form_shows_ucum_annotation_units_as_the_words_it_reads_back() -> None:
    """Editing a case with an age in decades or a dose given once showed '{decade}' and '{total}' in the unit
    fields, and the unit look-up offered '{total}' as the value to pick."""
    from reporter.web import lookup_page

    data = load_case(DEMOS[0]).model_dump(mode="json", by_alias=True, exclude_none=True)
    data["patient"]["age_at_onset"] = {"value": 6, "unit": "{decade}"}
    data["drugs"][0]["dosages"][0]["every"] = {"value": 1, "unit": "{total}"}
    form = caseform.flatten(data)
    assert form["patient.age_at_onset.unit"] == "decades" and form["drugs[0].dosages[0].every.unit"] == "once"
    case, problems = caseform.parse(form)
    assert problems == [] and case.patient.age_at_onset.unit == "{decade}"
    assert case.drugs[0].dosages[0].every.unit == "{total}"
    offered = [value for value, _ in lookup_page.datalists(form)["ucum"]]
    assert "once" in offered and "as needed" in offered
    assert not {"{total}", "{asnecessary}", "{cyclical}", "{decade}"} & set(offered)


def test_a_dose_given_once_or_as_needed_needs_no_count() -> None:
    """The interval's hint offers 'once' (a single dose) and 'as needed': typed alone they were refused with
    'Every › Value: required' (a count of 1 once means nothing more to a clinician); a count still counts, and a
    time unit still needs one."""
    form = caseform.flatten(load_case(DEMOS[0]))
    for unit, code in (("once", "{total}"), ("as needed", "{asnecessary}")):
        form.setlist("drugs[0].dosages[0].every.value", [""])
        form.setlist("drugs[0].dosages[0].every.unit", [unit])
        case, problems = caseform.parse(form)
        assert problems == [] and case.drugs[0].dosages[0].every.model_dump() == {"value": 1, "unit": code}
    form.setlist("drugs[0].dosages[0].every.value", ["2"])
    assert caseform.parse(form)[0].drugs[0].dosages[0].every.value == 2
    form.setlist("drugs[0].dosages[0].every.value", [""])
    form.setlist("drugs[0].dosages[0].every.unit", ["d"])
    assert ("drugs[0].dosages[0].every.value", "required") in caseform.parse(form)[1]


def test_problems_of_the_bundle_land_at_the_form_row_they_come_from() -> None:
    from reporter.fhir.build import build_bundle
    from reporter.validation import validate_bundle

    form = caseform.flatten(load_case(DEMOS[0]))
    rows = int(form["tests#rows"])
    for key in [k for k in form if k.startswith("tests[")]:  # the tests move down one row: row 0 left empty
        values = form.getlist(key)
        del form[key]
        shifted = key.replace("tests[", "tests[#", 1)
        form.setlist(shifted, values)
    for key in [k for k in form if k.startswith("tests[#")]:
        index, rest = key[len("tests[#"):].split("]", 1)
        form.setlist(f"tests[{int(index) + 1}]{rest}", form.poplist(key))
    form["tests#rows"] = str(rows + 1)
    form.setlist("tests[1].low", ["100000"])  # above its high: an inverted range (plausibility)
    form.setlist("tests[1].high", ["1"])
    parsed = caseform.parse_form(form)
    assert parsed.problems == [] and parsed.case is not None
    bundle = build_bundle(parsed.case)
    placed, left = caseform.bundle_problems(parsed, bundle, validate_bundle(bundle).errors)
    assert [p for p, _ in placed] == ["tests[1].low"] and left == [], placed  # the form row, not the case's tests[0]


def test_warnings_go_to_the_field_or_the_nearest_enclosing_one() -> None:
    tree = caseform.form_tree(caseform.Values(caseform.flatten(load_case(DEMOS[0]))))
    caseform.mark_warnings(tree, [("reactions[0].meddra.code", "needed for EMA: x"),
                                  ("reactions[0].nothing.here", "needed for FDA: y")])
    by_path = {f.path: f for f in _walk(tree)}
    assert by_path["reactions[0].meddra.code"].warnings == ["needed for EMA: x"]
    assert by_path["reactions[0]"].warnings == ["needed for FDA: y"]


def test_a_refused_form_is_tried_again_without_the_refused_values() -> None:
    form = caseform.flatten(load_case(DEMOS[0]))
    form.setlist("patient.weight_kg", ["sixty"])
    parsed = caseform.parse_form(form)
    assert parsed.case is None and [p for p, _ in parsed.problems] == ["patient.weight_kg"]
    retry = caseform.without(form, [p for p, _ in parsed.problems])
    assert retry["patient.weight_kg"] == "" and form["patient.weight_kg"] == "sixty"  # the form itself is kept
    assert caseform.parse_form(retry).case is not None
    assert caseform.without(form, ["reactions[0].nothing"]) is None  # nothing to leave out: no second try


def _form_problems(form: MultiDict) -> list[tuple[str, str]]:
    from reporter.web.pages import _check_form

    return _check_form(form, None, "initial", "")[2]


def _negative_dose(form: MultiDict) -> MultiDict:
    form.setlist("drugs[0].dosages[0].dose.value", ["-2"])
    form.setlist("drugs[0].dosages[0].dose.unit", ["mg"])
    return form


@pytest.mark.parametrize(("emptied", "where"), [
    ({"report.type": ""}, "report.type"),  # a required choice
    ({"reactions[0].meddra.code": ""}, "reactions[0].meddra.code"),  # a required text inside an optional part
    ({"reactions[0].onset.value": "twenty"}, "reactions[0].onset.value"),  # refused, and required where it is
])
def test_a_required_field_left_empty_does_not_hold_back_the_checks_of_the_rest(emptied, where) -> None:
    """Before, the Bundle's checks came only in a second round once every required field was filled."""
    form = _negative_dose(caseform.flatten(load_case(DEMOS[0])))
    for key, value in emptied.items():
        form.setlist(key, [value])
    problems = _form_problems(form)
    assert [p for p, _ in problems if p == where] == [where]
    assert any(p == "drugs[0].dosages[0].dose" and "PLAUS-NEGATIVE-DOSE" in text for p, text in problems)


def test_an_almost_empty_new_case_form_gets_every_problem_in_one_round() -> None:
    form = _negative_dose(caseform.new_case_values())
    form.setlist("drugs[0].product", ["Amoxicillin"])
    found = {p: text for p, text in _form_problems(form)}
    assert found["case_id"] == "required" and "report" not in found  # each field of the empty part is marked
    assert found["report.type"] == found["report.first_received"] == found["report.most_recent"] == "required"
    assert "ICSR-MIN-REACTION" in found["reactions"] and "PLAUS-NEGATIVE-DOSE" in found["drugs[0].dosages[0].dose"]
    assert not any("(not given)" in text or text == "other" for text in found.values())  # no stand-in shows


def test_the_minimum_criteria_say_at_the_field_what_to_fill_without_the_fhir_detail() -> None:
    """The hints went on with how to fix it in a Bundle (extension URLs, OIDs), which a form user cannot act on."""
    found = {p: text for p, text in _form_problems(caseform.new_case_values())}
    assert found["patient"].endswith("(add at least one of patient initials, age, sex or birth date "
                                     "(a masked value counts)) [ICSR-MIN-PATIENT]")
    assert not [text for text in found.values() if "in a Bundle" in text or "http" in text or "urn:oid" in text]


@pytest.mark.parametrize("also", [{}, {"report.first_received": "2026-13-01"}])
def test_a_time_counted_from_a_drug_id_not_in_the_case_is_said_once_at_the_drug_field(also) -> None:
    """A typo in the drug a relative onset counts from ('anakinr') gave 'reactions[0].onset is relative to
    drug ..., which is not in drugs' and again, at the whole reaction, the Bundle's 'its reference urn:uuid:...
    names no entry of the Bundle [BUNDLE-REFERENCE]'; with another refused value, only the latter."""
    from reporter.web import pages

    form = caseform.flatten(load_case(DEMOS[0]))
    form.setlist("reactions[0].onset.drug", ["anakinr"])
    for key, value in also.items():
        form.setlist(key, [value])
    problems = pages._check_form(form, None, "initial", "")[2]
    about = [(p, text) for p, text in problems if p.startswith("reactions[0]")]
    assert about == [("reactions[0].onset.drug",
                      "'anakinr' is not the id of a drug in this case (the Drugs section's ids: anakinra, ivig, "
                      "aspirin, methylprednisolone)")]


@pytest.mark.parametrize("also", [{}, {"report.first_received": "2026-13-01"}])
def test_a_removed_reaction_still_assessed_is_said_at_each_assessment(also) -> None:
    """Removing a reaction that a drug's assessment names gave one problem on 'The case', in case-file paths:
    'drugs[0].reactions names reaction 'nausea', which is not in reactions' (with another refused value, none)."""
    from reporter.web import pages

    form = caseform.apply_row_action(caseform.flatten(load_case(DEMOS[0])), "remove:reactions[1]")
    for key, value in also.items():
        form.setlist(key, [value])
    problems = pages._check_form(form, None, "initial", "")[2]
    about = [(p, text) for p, text in problems if "nausea" in text]
    assert about == [("drugs[0].reactions[1].reaction", "'nausea' is not the id of a reaction in this case (the "
                      "reactions' ids: hepatitis); remove this assessment or name the reaction")], problems


def test_a_value_meant_as_one_shape_of_a_union_is_told_about_in_that_shape_only() -> None:
    """An onset with a value, unit and drug is a relative time; before, the form also said that it lacked an
    absent reason and that value, unit and drug were not permitted (the shapes of the other branches)."""
    form = caseform.flatten(load_case(DEMOS[0]))
    form.setlist("reactions[0].onset.value", ["twenty"])
    assert caseform.parse_form(form).problems == [("reactions[0].onset.value", "'twenty' is not a number")]


# --- parts that apply only when other answers say so (mappings/ui_form.yaml `show_when`) ---------------------

def test_parts_that_apply_only_sometimes_carry_their_condition() -> None:
    tree = caseform.form_tree(caseform.Values(_everything()))
    by_path = {f.path: f for f in _walk(tree) if not f.suffix}
    death = by_path["patient.death"]
    assert {"field": "reactions[*].outcome", "values": ["fatal"]} in death.show_when
    assert {"field": "reactions[*].seriousness.death", "values": ["true"]} in death.show_when
    assert by_path["drugs[0].dosages[0].parent_route"].show_when == by_path["patient.parent"].show_when != []
    assert by_path["study"].show_when == [{"field": "report.type", "values": ["study"]}]
    assert by_path["patient.death.date"].show_when == []  # the part shows or hides as a whole
    assert by_path["reactions[0]"].show_when == by_path["patient"].show_when == []
    assert by_path["patient.death"].reveal.startswith("Add death details")  # shown by hand: a death of another cause
    assert by_path["patient.parent"].reveal and by_path["drugs[0].dosages[0].parent_route"].reveal is None  # one button
    assert by_path["study"].reveal is None  # the report type says it
    unions = [f for f in _walk(tree) if f.kind == "union" and f.show_when]
    assert all(not c.show_when for u in unions for c in u.children)  # one wrapper per part, not per shape


def test_every_condition_names_a_part_and_a_control_that_offers_its_values() -> None:
    """A typo in the table would leave a part hidden for good: each rule must match a part of the form, and
    each trigger a control whose choices include the values it waits for."""
    tree = caseform.form_tree(caseform.Values(_everything()))
    nodes = [f for f in _walk(tree) if not f.suffix or f.kind in ("select", "checkbox")]
    table = caseform._table()["show_when"]
    assert len(table) >= 6
    for rule in table:
        patterns = [rule["match"]] if isinstance(rule["match"], str) else rule["match"]
        for pattern in patterns:
            assert any(caseform.matches(caseform.generic(f.path), pattern) for f in nodes), pattern
        for when in rule["when"]:
            controls = [f for f in nodes if caseform.matches(caseform.generic(f.path), when["field"])
                        and f.kind in ("select", "multi", "checkbox")]
            assert controls, when["field"]
            offered = {v for f in controls for v, _ in f.options} | {"true" for f in controls if f.kind == "checkbox"}
            assert set(map(str, when["values"])) <= offered, (when, offered)



def test_a_date_that_is_not_one_marks_its_input_invalid(tmp_path) -> None:
    """An impossible onset (2024-02-30) is the reaction onset's problem (a union of date, relative time, reason):
    the message showed, but the date input itself carried no aria-invalid for assistive technology."""
    from lxml import html as lxml_html

    from reporter.store.repository import CaseStore
    from reporter.web import create_app

    form = caseform.flatten(load_case(DEMOS[0]))
    form["reactions[0].onset"] = "2024-02-30"
    _, problems = caseform.parse(form)
    errors: dict[str, list[str]] = {}
    for path, message in problems:
        errors.setdefault(path, []).append(message)
    assert "reactions[0].onset" in errors
    tree = caseform.form_tree(caseform.Values(form), errors)
    store = CaseStore(f"sqlite:///{tmp_path / 'store.sqlite3'}")
    app = create_app({"SECRET_KEY": "test"}, store=store)
    with app.test_request_context():
        macros = app.jinja_env.get_template("_fields.html").module
        page = lxml_html.fromstring("<div>" + "".join(str(macros.field(f)) for f in tree) + "</div>")
    onset = page.xpath(f"//input[@id='{caseform.html_id('reactions[0].onset')}' or "
                       f"@name='reactions[0].onset']")
    store.dispose()
    assert onset and onset[0].get("aria-invalid") == "true"


def test_a_reaction_or_drug_without_its_short_key_gets_one_from_its_words() -> None:
    """A clinician types the reported term and the product; the short key was 'required' on every added row."""
    form = caseform.flatten(load_case(DEMOS[0]))
    rows = int(form["reactions#rows"])
    form["reactions#rows"] = str(rows + 1)
    form[f"reactions[{rows}].verbatim"] = "Hepatitis, severe (day 20)"  # reaction 0's key is 'hepatitis'
    form.setlist("drugs[0].id", [""])
    parsed = caseform.parse_form(form)
    assert [r.id for r in parsed.case.reactions][::rows] == ["hepatitis", "hepatitis-severe-day"]
    assert parsed.case.drugs[0].id == "anakinra"  # from the product, as the relative times name it
    assert not any(p.endswith(".id") for p, _ in parsed.problems)


def test_a_row_is_named_in_the_singular() -> None:
    """The buttons read 'Add reactions' and 'Remove reactions 1', and problems 'Reactions 1 › MedDRA'."""
    assert [caseform.item_label(n) for n in ("reactions", "primary_sources", "summaries", "medical_history",
                                             "sender_diagnoses", "literature")] == \
        ["Reaction", "Primary source", "Summary", "Medical history item", "Sender's diagnosis", "Literature reference"]
    tree = caseform.form_tree(caseform.Values(caseform.flatten(load_case(DEMOS[0]))))
    reactions = next(f for f in _walk(tree) if f.path == "reactions")
    assert reactions.children[0].label == "Reaction 1"
    # a row added in the page (from its template) read 'Reactions (new)', 'Remove drugs (new)'
    labels = {t.path: t.template.label for t in caseform.row_templates()}
    assert labels["reactions"] == "Reaction (new)" and labels["drugs[90000].dosages"] == "Dosage (new)"
    assert labels["patient.medical_history"] == "Medical history item (new)"


def test_problems_are_listed_in_the_order_of_the_form() -> None:
    """They came in the order of the checks: a Bundle check on the patient after a model error on a drug."""
    tree = caseform.form_tree(caseform.Values(caseform.flatten(load_case(DEMOS[0]))))
    found, _ = caseform.problem_list(tree, [("drugs[0].dosages[0].dose", "b"), ("_reason", "e"),
                                          ("patient.sex", "a"), ("(case file)", "c"), ("reactions[1].outcome", "d")])
    assert [text for _, text in found] == ["c", "a", "d", "b", "e"]


def test_a_criterion_left_blank_says_that_blank_is_no() -> None:
    """A seriousness criterion left '—' was saved as 'no' (the model's default) without the form saying so."""
    tree = caseform.form_tree(caseform.Values(caseform.new_case_values()))
    death = next(f for f in _walk(tree) if f.path == "reactions[0].seriousness.death" and f.kind == "union")
    assert death.children[0].options[0] == ("", "— (no)")
