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
                # a row is a model, or a choice between models (race: a code or why not)
                items = typing.get_args(item) if typing.get_origin(item) in (typing.Union, types.UnionType) \
                    else (item,)
                if all(isinstance(i, type) and issubclass(i, BaseModel) for i in items):
                    for i in items:
                        out |= _model_paths(i, f"{path}[0]")
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
    assert not missing, sorted(missing)


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
    form["reactions[" + str(rows + 1) + "].verbatim"] = "only a verbatim, no id"  # ...the second one half filled
    _, problems = caseform.parse(form)
    assert (f"reactions[{rows + 1}].id", "required") in problems
