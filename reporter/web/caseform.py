"""The case form, generated from the case-file model: every field of reporter/casefile/model.py, in
model order, named by its case-file path (``reactions[0].meddra.code``), so that errors from the model
and from the terminology checks land next to the field they are about.

- `form_tree(values, errors)` -> a tree of `Field`s for the template (values: a flat path -> text map).
- `collect(form)` -> the nested case-file data the form holds, and where each kept row came from.
- `parse(form)` -> a CaseFile, or the problems as (case-file path, message).
- `flatten(case)` -> the flat values that fill the form from a stored case file.

A field that takes one of several shapes (a date, a time relative to a drug, or why it is missing)
shows each shape; the one filled in is used, and filling two is an error. Repeating groups carry a
hidden row count (``path#rows``); rows left empty are dropped.
"""

from __future__ import annotations

import re
import types
import typing
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from functools import cache
from typing import Any, Literal, Union

import yaml
from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo
from werkzeug.datastructures import MultiDict

from reporter.casefile import model as m
from reporter.casefile.parse import _clean_loc, branch_errors, format_path, model_message
from reporter.paths import mappings_dir

MAX_ROWS = 200
_INDEX = re.compile(r"\[\d+\]")


@cache
def _table() -> dict[str, Any]:
    return yaml.safe_load((mappings_dir() / "ui_form.yaml").read_text(encoding="utf-8"))


def generic(path: str) -> str:
    return _INDEX.sub("[*]", path)


def matches(generic_path: str, pattern: str) -> bool:
    """Shell-style match where a pattern's [*] stands for any row ([ and ] are literal, not a class)."""
    return fnmatchcase(generic_path, pattern.replace("[*]", "[[]*[]]"))


def hint_for(path: str) -> str | None:
    return _rules(generic(path))[0]


def is_textarea(path: str) -> bool:
    return _rules(generic(path))[1]


@cache
def _rules(g: str) -> tuple[str | None, bool, bool, str | None]:
    """What mappings/ui_form.yaml says of a field (by its path with [*] rows): hint, text area, folded
    detail, look-up. Read once per path: the form has a thousand fields."""
    table = _table()
    return (next((h["hint"] for h in table["hints"] if matches(g, h["match"])), None),
            any(matches(g, p) for p in table["textarea"]),
            any(matches(g, p) for p in table.get("detail") or []),
            next((r["lookup"] for r in table.get("lookups") or [] if matches(g, r["match"])), None))


def show_when(path: str) -> list[dict[str, Any]]:
    """When the field or group at `path` applies (mappings/ui_form.yaml `show_when`): the controls (case-file
    path patterns, [*] any row) and the values of theirs that make it apply; empty when it always does. The
    first matching rule wins."""
    return [{"field": control, "values": list(values)} for control, values in _show_when(generic(path))[0]]


def reveal_label(path: str) -> str | None:
    """The button that shows a rule's parts by hand, when no answer the form asks says they apply (a patient
    who died of something else than a reaction): its text at the rule's first part, else None."""
    return _show_when(generic(path))[1]


@cache
def _show_when(g: str) -> tuple[tuple[tuple[str, tuple[str, ...]], ...], str | None]:
    for rule in _table().get("show_when") or []:
        patterns = [rule["match"]] if isinstance(rule["match"], str) else rule["match"]
        if any(matches(g, p) for p in patterns):
            when = tuple((w["field"], tuple(str(v) for v in w["values"])) for w in rule["when"])
            return when, rule.get("reveal") if matches(g, patterns[0]) else None
    return (), None


def html_id(path: str) -> str:
    return "f-" + re.sub(r"[^A-Za-z0-9_-]", "_", path)


def label_of(name: str) -> str:
    return (_table().get("labels") or {}).get(name) or name.replace("_", " ").capitalize()


def item_label(name: str) -> str:
    """One row of a repeating group as a person names it: 'reactions' -> 'Reaction' (mappings/ui_form.yaml
    item_labels for the names an -s or -ies rule gets wrong)."""
    named = (_table().get("item_labels") or {}).get(name)
    if named:
        return str(named)
    label = label_of(name)
    if label.endswith("ies"):
        return label[:-3] + "y"
    return label[:-1] if label.endswith("s") and not label.endswith("ss") else label


def option_label(path: str, value: str) -> str:
    """How a choice reads (mappings/ui_form.yaml `option_labels`): a label for this field, else the
    general one, else the key with its hyphens as spaces."""
    g = generic(path)
    for rule in _table().get("option_labels_at") or []:
        if matches(g, rule["match"]) and value in rule["labels"]:
            return rule["labels"][value]
    return (_table().get("option_labels") or {}).get(value) or value.replace("-", " ")


def choice_label(path: str, value: str) -> str:
    """A stored value of a choice field as its drop-down reads it ('not-recovered' -> 'not recovered /
    ongoing'); any other field's value as it is."""
    tp = _annotation_at(path)
    if tp is None:
        return value
    choices = [a for v in _variants(tp)[0] if typing.get_origin(_base(v)) is Literal
               for a in typing.get_args(_base(v))]
    return option_label(path, value) if value in choices else value


def is_detail(path: str) -> bool:
    return _rules(generic(path))[2]


def lookup_for(path: str) -> str | None:
    return _rules(generic(path))[3]


def sections(tree: list[Field]) -> list[dict[str, Any]]:
    """The form's sections in reporting order (mappings/ui_form.yaml `sections`), each with its fields."""
    by_path = {f.path: f for f in tree}
    out = []
    for section in _table()["sections"]:
        fields = [by_path.pop(p) for p in section["fields"] if p in by_path]
        out.append({**section, "items": fields, "problems": sum(_problem_count(f) for f in fields)})
    if by_path:  # a top-level field the table does not place still shows, last
        out.append({"key": "other", "title": "Other", "items": list(by_path.values()),
                    "problems": sum(_problem_count(f) for f in by_path.values())})
    return out


def _problem_count(node: Field) -> int:
    return len(node.errors) + len(node.warnings) + sum(_problem_count(c) for c in node.children)


# --- type analysis ----------------------------------------------------------------------------------------

def _variants(tp: Any) -> tuple[list[Any], bool]:
    """The non-None members of a union (or [tp]) and whether None is allowed."""
    if typing.get_origin(tp) in (Union, types.UnionType):
        args = list(typing.get_args(tp))
        optional = type(None) in args
        return [a for a in args if a is not type(None)], optional
    return [tp], False


def _is_partial_date(tp: Any, info: FieldInfo | None = None) -> bool:
    metadata = list(getattr(info, "metadata", []) or []) if info is not None else []
    if typing.get_origin(tp) is typing.Annotated:
        metadata += list(typing.get_args(tp)[1:])
    return any(getattr(v, "func", None) is m._check_partial_date for v in metadata)


def _base(tp: Any) -> Any:
    return typing.get_args(tp)[0] if typing.get_origin(tp) is typing.Annotated else tp


def _is_model(tp: Any) -> bool:
    return isinstance(_base(tp), type) and issubclass(_base(tp), BaseModel)


def _is_row(tp: Any) -> bool:
    """A list item shown as a row of fields: a model, or a choice between models (race: a code or why not)."""
    variants, _ = _variants(tp)
    return all(_is_model(v) for v in variants)


def _scalar_kind(tp: Any, info: FieldInfo | None, path: str) -> str:
    base = _base(tp)
    if _is_partial_date(tp, info):
        return "date"
    if typing.get_origin(base) is Literal:
        return "select"
    if base is bool:
        return "bool"
    if base in (float, int):
        return "number"
    return "textarea" if is_textarea(path) else "text"


def _model_fields(model: type[BaseModel]) -> list[tuple[str, FieldInfo]]:
    return [(name, info) for name, info in model.model_fields.items() if name != "format"]


# --- the tree the template draws --------------------------------------------------------------------------

@dataclass
class Field:
    kind: str  # text textarea number date select bool checkbox lines multi group union list
    path: str
    label: str
    help: str | None = None
    hint: str | None = None
    required: bool = False
    value: str = ""
    values: list[str] = field(default_factory=list)
    options: list[tuple[str, str]] = field(default_factory=list)
    children: list[Field] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    open: bool = True  # groups: shown unfolded
    collapsible: bool = False  # optional groups listed under `collapsed` in mappings/ui_form.yaml
    rows: int = 0  # lists: how many rows
    index: int | None = None  # a list row's position
    suffix: str = ""  # told apart from the field it is one shape of (same path)
    detail: bool = False  # E2B / administrative detail: shown folded under "More" (mappings/ui_form.yaml)
    warnings: list[str] = field(default_factory=list)  # readiness: what a receiver still needs here
    template: Field | None = None  # lists: an empty row at a placeholder index, for adding rows in the page
    grid: list[dict[str, str]] = field(default_factory=list)  # lists drawn as a grid: its columns
    lookup: str | None = None  # the look-up the field offers (meddra, loinc, lab-name, ucum, drug-id...)
    default: str = ""  # the model's default: a field holding it does not open its fold
    show_when: list[dict[str, Any]] = field(default_factory=list)  # applies only when these controls say so
    reveal: str | None = None  # the text of the button that shows such a part by hand

    @property
    def id(self) -> str:
        return html_id(self.path) + self.suffix

    @property
    def has_content(self) -> bool:
        if (self.value and self.value != self.default) or self.values or self.errors or self.warnings:
            return True
        return any(c.has_content for c in self.children)

    @property
    def main(self) -> list[Field]:
        """The children shown unfolded."""
        return [c for c in self.children if not c.detail]

    @property
    def more(self) -> list[Field]:
        """The children folded under "More" (open when one holds a value or a problem)."""
        return [c for c in self.children if c.detail]

    @property
    def compound(self) -> bool:
        """A small group of plain fields (a quantity, a name), drawn on one line."""
        return (self.kind == "group" and 0 < len(self.children) <= 3
                and all(c.kind in ("text", "number", "select", "date", "checkbox") and not c.detail
                        for c in self.children))

    @property
    def has_problems(self) -> bool:
        return bool(self.errors or self.warnings) or any(c.has_problems for c in self.children)

    def cells(self, row: Field) -> tuple[list[Field | None], list[Field]]:
        """A grid row's fields: one per column (None where the row has no such field), and the rest."""
        by_path = {}
        for leaf in _leaves(row):
            by_path.setdefault(leaf.path[len(row.path) + 1:], leaf)
        columns = [by_path.pop(c["path"], None) for c in self.grid]
        for relative, leaf in by_path.items():  # named by where they sit in the row: "date · unit"
            leaf.label = " · ".join(label_of(part) if i == 0 else part.replace("_", " ")
                                    for i, part in enumerate(relative.split(".")))
        return columns, list(by_path.values())


def _leaves(node: Field) -> list[Field]:
    """The fields that take input under `node` (a nested list counts as one)."""
    if node.kind in ("group", "union"):
        return [leaf for c in node.children for leaf in _leaves(c)]
    return [node]


class Values:
    """Flat path -> text access over a submitted form or a flattened case file."""

    def __init__(self, data: MultiDict | None = None) -> None:
        self.data = data if data is not None else MultiDict()

    def get(self, path: str) -> str:
        return str(self.data.get(path, "") or "")

    def getlist(self, path: str) -> list[str]:
        return [str(v) for v in self.data.getlist(path) if str(v) != ""]

    def rows(self, path: str) -> int:
        declared = self.data.get(f"{path}#rows")
        if declared is not None and str(declared).isdecimal():
            return min(int(declared), MAX_ROWS)
        prefix = f"{path}["
        found = [int(k[len(prefix):].split("]", 1)[0]) for k in self.data
                 if k.startswith(prefix) and k[len(prefix):].split("]", 1)[0].isdecimal()]
        return min(max(found) + 1, MAX_ROWS) if found else 0


def _withheld_variant(path: str, variant: Any, values: Values) -> bool:
    """Whether the form leaves out one form a field can take (mappings/ui_form.yaml `variants_when_held`):
    offered only when the case already holds it."""
    name = getattr(_base(variant), "__name__", "")
    rules = _table().get("variants_when_held") or {}
    if not any(matches(generic(path), pattern) and name in names for pattern, names in rules.items()):
        return False
    fields = getattr(_base(variant), "model_fields", {})
    return not any(values.get(f"{path}.{field}") for field in fields)


def form_tree(values: Values, errors: dict[str, list[str]] | None = None) -> list[Field]:
    """One top-level Field per case-file section."""
    errors = errors or {}
    return [_node(info.annotation, name, name, info, values, errors) for name, info in _model_fields(m.CaseFile)]


def _node(tp: Any, path: str, name: str, info: FieldInfo | None, values: Values,
          errors: dict[str, list[str]]) -> Field:
    variants, optional = _variants(tp)
    if len(variants) > 1:
        variants = [v for v in variants if not _withheld_variant(path, v, values)]
    required = bool(info is not None and info.is_required())
    help_text = info.description if info is not None else None
    common = {"path": path, "label": label_of(name), "help": help_text, "hint": hint_for(path),
              "required": required, "errors": errors.get(path, []), "detail": is_detail(path),
              "lookup": lookup_for(path), "show_when": show_when(path),
              "reveal": reveal_label(path)}
    if len(variants) > 1:
        children = []
        for variant in variants:
            label = _table()["variants"].get(getattr(_base(variant), "__name__", ""), label_of(name))
            child = _node(variant, path, name, None, values, {})
            child.label, child.required, child.errors = ("Date" if child.kind == "date" else label), False, []
            child.detail, child.show_when, child.reveal = False, [], None  # the union as a whole shows or not
            child.suffix = "-" + re.sub(r"[^A-Za-z0-9]", "", getattr(_base(variant), "__name__", "value"))
            if child.kind == "group":
                child.children = [_with_errors(c, errors) for c in child.children]
            if child.options[:1] == [("", "—")] and info is not None and isinstance(info.default, bool):
                # left blank, a seriousness criterion is "no" (the model's default): the blank option says so
                child.options[0] = ("", f"— ({'yes' if info.default else 'no'})")
            children.append(child)
        return Field("union", children=children, **common)
    tp = variants[0]
    if typing.get_origin(tp) is list:
        item = typing.get_args(tp)[0]
        if _is_row(item):
            rows = values.rows(path)
            children = []
            for i in range(rows):
                row = _node(item, f"{path}[{i}]", f"{item_label(name)} {i + 1}", None, values, errors)
                row.index = i
                children.append(row)
            node = Field("list", rows=rows, children=children, **common)
            node.grid = (_table().get("grids") or {}).get(generic(path)) or []
            return node
        if typing.get_origin(item) is Literal:
            return Field("multi", values=values.getlist(path),
                         options=[(str(o), option_label(path, str(o))) for o in typing.get_args(item)], **common)
        return Field("lines", value="\n".join(values.getlist(path)), **common)
    if _is_model(tp):
        model = _base(tp)
        children = [_node(i.annotation, f"{path}.{n}", n, i, values, errors) for n, i in _model_fields(model)]
        node = Field("group", children=children, **common)
        node.collapsible = optional and any(matches(generic(path), p) for p in _table().get("collapsed") or [])
        node.open = not node.collapsible or node.has_content
        return node
    kind = _scalar_kind(tp, info, path)
    default = info.default if info is not None else None
    if default is not None and not isinstance(default, (list, dict)) and repr(default) != "PydanticUndefined":
        common["default"] = _text(default)
    if kind == "select":
        options = [(str(o), option_label(path, str(o))) for o in typing.get_args(_base(tp))]
        return Field("select", value=values.get(path), options=[("", "—"), *options], **common)
    if kind == "bool":
        if not optional and info is not None and info.default is False:
            return Field("checkbox", value=values.get(path), **common)
        return Field("select", value=values.get(path), options=[("", "—"), ("true", "yes"), ("false", "no")],
                     **common)
    return Field(kind, value=values.get(path), **common)


PLACEHOLDER = 90000  # + the nesting depth: the row indices of the template rows


def placeholder(list_path: str) -> int:
    """The template row index of a list: unique per nesting depth, so that the page script can put the
    row's own number and those of the rows it sits in (a drug's dosage: drugs[k].dosages[n])."""
    return PLACEHOLDER + list_path.count("[")


@cache
def row_templates() -> list[Field]:
    """One empty list per repeating group of the model (drugs, drugs[*].dosages...), at placeholder indices
    (drugs[90000].dosages), each with an empty row as its `template`: the page script copies the row,
    numbered, when a row is added in the page."""
    out: list[Field] = []

    def visit(nodes: list[Field]) -> None:
        for node in nodes:
            if node.kind == "list":
                item = _list_item(node.path)
                blank = placeholder(node.path)
                name = re.sub(r"\[\d+\]$", "", node.path).rsplit(".", 1)[-1]
                row = _node(item, f"{node.path}[{blank}]", f"{item_label(name)} (new)", None, Values(), {})
                row.index = blank
                node.template = row
                out.append(node)
                visit(row.children)
            else:
                visit(node.children)

    visit([_node(info.annotation, name, name, info, _Placeholders(), {}) for name, info in _model_fields(m.CaseFile)])
    return out


class _Placeholders(Values):
    """No values; every list has one row, at its placeholder index (the tree the templates come from)."""

    def rows(self, path: str) -> int:
        return 0


def _list_item(path: str) -> Any:
    """The model of a repeating group's rows."""
    return _item_of(_annotation_at(path))


def _item_of(tp: Any) -> Any:
    """The item type of a list annotation (the list among a union's members), or None."""
    lists = [v for v in _variants(tp)[0] if typing.get_origin(_base(v)) is list]
    return typing.get_args(_base(lists[0]))[0] if lists else None


def _with_errors(node: Field, errors: dict[str, list[str]]) -> Field:
    node.errors = errors.get(node.path, [])
    node.children = [_with_errors(c, errors) for c in node.children]
    return node


# --- collecting the submitted form ------------------------------------------------------------------------

@dataclass
class Collected:
    data: dict[str, Any]
    problems: list[tuple[str, str]] = field(default_factory=list)
    row_maps: dict[str, list[int]] = field(default_factory=dict)  # list path -> form row of each kept item


def collect(form: MultiDict) -> Collected:
    values = Values(form)
    out = Collected({})
    for name, info in _model_fields(m.CaseFile):
        value = _collect(info.annotation, name, info, values, out)
        if value is not None:
            out.data[name] = value
    _key_unkeyed_rows(out.data)
    return out


# A reaction or drug row the user filled without its short key gets one from its words (a clinician types the
# reported term or the product, not a key): the first words of these fields, in this order.
_KEY_SOURCES = {"reactions": (("verbatim",), ("meddra", "term")), "drugs": (("product",), ("substances", 0, "name"))}


def _key_unkeyed_rows(data: dict[str, Any]) -> None:
    for list_name, sources in _KEY_SOURCES.items():
        rows = [r for r in data.get(list_name) or () if isinstance(r, dict)]
        taken = {r["id"] for r in rows if isinstance(r.get("id"), str)}
        for row in rows:
            if row.get("id"):
                continue
            words = next((w for w in (_dig(row, path) for path in sources) if isinstance(w, str) and w.strip()), None)
            base = _slug(words) if words else ""
            if not base:
                continue
            key, n = base, 2
            while key in taken:
                key, n = f"{base}-{n}", n + 1
            row["id"] = key
            taken.add(key)


def _dig(value: Any, path: tuple[Any, ...]) -> Any:
    for part in path:
        if isinstance(part, int):
            value = value[part] if isinstance(value, list) and len(value) > part else None
        else:
            value = value.get(part) if isinstance(value, dict) else None
    return value


def _slug(text: str) -> str:
    """'Severe cyto-cholestasis (anakinra-induced)' -> 'severe-cyto-cholestasis': its first three words."""
    words = re.findall(r"[a-z0-9]+", text.lower())[:3]
    return "-".join(words)[:40]


def _collect(tp: Any, path: str, info: FieldInfo | None, values: Values, out: Collected) -> Any:
    variants, _ = _variants(tp)
    if len(variants) > 1:
        filled = [(v, val) for v in variants if (val := _collect(v, path, None, values, out)) is not None]
        if len(filled) > 1:
            shapes = [_shape_name(v) for v, _ in filled]
            out.problems.append((path, f"fill in only one of these: {', '.join(shapes)}"))
        return filled[0][1] if filled else None
    tp = variants[0]
    if typing.get_origin(tp) is list:
        item = typing.get_args(tp)[0]
        if _is_row(item):
            kept, rows = [], []
            for i in range(values.rows(path)):
                value = _collect(item, f"{path}[{i}]", None, values, out)
                if value is not None:
                    kept.append(value)
                    rows.append(i)
            out.row_maps[path] = rows
            return kept or None
        if typing.get_origin(item) is Literal:
            allowed = {str(o) for o in typing.get_args(item)}
            chosen = [v for v in values.getlist(path) if v in allowed]
            return chosen or None
        lines = [line.strip() for v in values.getlist(path) for line in v.splitlines() if line.strip()]
        return lines or None
    if _is_model(tp):
        data = {}
        for name, sub in _model_fields(_base(tp)):
            value = _collect(sub.annotation, f"{path}.{name}", sub, values, out)
            if value is not None:
                data[name] = value
        if data and _base(tp) is m.MedDRA:
            out.problems += meddra_problems(path, data.get("code"), data.get("version"))
        if "unit" in data and "value" not in data:
            data.update(_implied_value(path, data["unit"]))
        return data or None
    text = values.get(path).strip()
    if _scalar_kind(tp, info, path) == "bool" and text not in ("", "true", "false"):
        out.problems.append((path, f"{text!r} is not yes or no"))
        return None
    if text and path.rsplit(".", 1)[-1] == "unit":
        text = _as_ucum(text)
    if text:
        out.problems += code_problems(path, text)
    return text or None


def _implied_value(path: str, unit: str) -> dict[str, Any]:
    """{"value": n} when the unit says the number by itself ("once": 1 {total}; mappings/ui_form.yaml
    implied_values), else nothing."""
    for rule in _table().get("implied_values") or []:
        if matches(generic(path), rule["match"]) and unit in rule["units"]:
            return {"value": str(rule["units"][unit])}
    return {}


def _shown_unit(code: str) -> str:
    from reporter.lookup import shown_unit

    return shown_unit(code)


def _as_ucum(text: str) -> str:
    """A unit as typed, with its usual spelling mapped to UCUM (IU/L -> [IU]/L, years -> a, mcg -> ug);
    left as typed when no mapping gives a UCUM unit (the check then says so at the field)."""
    from reporter.lookup import to_ucum

    return to_ucum(text) or text


def _shape_name(variant: Any) -> str:
    if _is_partial_date(variant):
        return "the date"
    label = _table()["variants"].get(getattr(_base(variant), "__name__", ""))
    return label.removeprefix("or, ").removeprefix("or ") if label else "the value"


def _form_path(loc: tuple[Any, ...], row_maps: dict[str, list[int]]) -> str:
    """A model error location -> the form path, undoing the renumbering of dropped empty rows."""
    parts: list[Any] = []
    for part in loc:
        if isinstance(part, int):
            rows = row_maps.get(format_path(tuple(parts)))
            if rows is not None and 0 <= part < len(rows):
                part = rows[part]
        parts.append(part)
    return format_path(tuple(parts))


@dataclass
class Parsed:
    case: m.CaseFile | None  # the case when the model accepts the form (even with code problems)
    problems: list[tuple[str, str]]
    row_maps: dict[str, list[int]]

    def form_path(self, case_path: str) -> str:
        """A path into the parsed case -> the form field it came from (empty rows are not in the case)."""
        return _form_path(_split(case_path), self.row_maps)


def parse_form(form: MultiDict) -> Parsed:
    """Everything the form holds: the case (when the model accepts it) and every problem found."""
    collected = collect(form)
    problems = list(collected.problems)
    case = None
    try:
        case = m.CaseFile.model_validate(collected.data, context={"keys": "caller"})
    except ValidationError as exc:
        seen: set[str] = set()
        for err in branch_errors(exc.errors(include_url=False)):
            where = _form_path(_clean_loc(tuple(err["loc"])), collected.row_maps)
            if where in seen:  # a union gives one error per shape; the first is the most specific
                continue
            seen.add(where)
            if err["type"] == "missing":
                problems += [(leaf, "required") for leaf in required_leaves(where)]
                continue
            problems.append((where, model_message(err)))
    if case is not None:
        problems += _dangling_drug_keys(case, collected.row_maps) + _key_problems(case, collected.row_maps)
    return Parsed(case, problems, collected.row_maps)


def required_leaves(path: str) -> list[str]:
    """The fields a user must fill for a required field left empty: the field itself or, for a part left
    wholly empty (the report's C.1 dates and type), each required field in it, so each is marked where it
    is typed instead of once on the part's heading."""
    variants = _variants(_annotation_at(path))[0]
    if len(variants) != 1 or not _is_model(variants[0]):
        return [path]
    leaves = [leaf for name, info in _model_fields(_base(variants[0])) if info.is_required()
              for leaf in required_leaves(f"{path}.{name}")]
    return leaves or [path]


def _key_problems(case: m.CaseFile, row_maps: dict[str, list[int]]) -> list[tuple[str, str]]:
    """An id used twice, said at the second row's id; a drug's assessment of a reaction the case no longer
    lists (the reaction removed or its id changed), said at that assessment's reaction field with the ids there
    are. The model says both on the whole case, by their case-file paths."""
    listed = ", ".join(r.id for r in case.reactions) or "none"
    out = []
    for path, message in case.key_problems():
        link = re.fullmatch(r"drugs\[(\d+)\]\.reactions\[(\d+)\]\.reaction", path)
        if link:
            named = case.drugs[int(link.group(1))].reactions[int(link.group(2))].reaction
            message = (f"{named!r} is not the id of a reaction in this case (the reactions' ids: {listed}); "
                       "remove this assessment or name the reaction")
        out.append((_form_path(_split(path), row_maps), message))
    return out


def _dangling_drug_keys(case: m.CaseFile, row_maps: dict[str, list[int]]) -> list[tuple[str, str]]:
    """A relative time counted from a drug id the case does not list, said at the field where the id is typed
    with the ids there are (a typo such as 'propranol' for 'propranolol' is then plain to see)."""
    ids = [d.id for d in case.drugs]
    listed = ", ".join(ids) or "none yet"
    return [(_form_path(_split(f"{path}.drug"), row_maps),
             f"{when.drug!r} is not the id of a drug in this case (the Drugs section's ids: {listed})")
            for path, when in case.relative_times() if when.drug not in ids]


def parse(form: MultiDict) -> tuple[m.CaseFile | None, list[tuple[str, str]]]:
    """The case file the form holds, or the problems found (case-file path, message)."""
    parsed = parse_form(form)
    return (parsed.case if not parsed.problems else None), parsed.problems


def _split(path: str) -> tuple[Any, ...]:
    parts: list[Any] = []
    for token in re.findall(r"[^.\[\]]+|\[\d+\]", path):
        parts.append(int(token[1:-1]) if token.startswith("[") else token)
    return tuple(parts)


# --- code checks at case-file paths -----------------------------------------------------------------------
# Run on what was typed, whether or not the rest of the case is valid yet, by reporter.validation's rules.

def meddra_problems(path: str, code: str | None, version: str | None) -> list[tuple[str, str]]:
    """An 8-digit LLT code (and one the configured MedDRA release knows), with a version like 27.1."""
    from reporter.validation.meddra import meddra_dictionary
    from reporter.validation.terminology import MEDDRA_CODE, MEDDRA_VERSION

    problems = []
    if code is not None:
        if not MEDDRA_CODE.match(code):
            problems.append((f"{path}.code", f"{code!r} is not a MedDRA LLT code (8 digits)"))
        elif (dictionary := meddra_dictionary()) is not None and dictionary.status(code) == "missing":
            problems.append((f"{path}.code", f"MedDRA code {code} is not an LLT of the configured release"))
    if version is not None and not MEDDRA_VERSION.match(version):
        problems.append((f"{path}.version", f"{version!r} is not a MedDRA version (e.g. 27.1)"))
    return problems


def code_problems(path: str, text: str) -> list[tuple[str, str]]:
    """LOINC codes with their check digit; UCUM units."""
    from reporter.validation.terminology import loinc_problem
    from reporter.validation.ucum import is_valid_ucum

    name = path.rsplit(".", 1)[-1]
    if name == "loinc" and (problem := loinc_problem(text)) is not None:
        return [(path, problem)]
    if name == "unit" and not is_valid_ucum(text):
        return [(path, f"{text!r} is not a UCUM unit")]
    return []


# --- filling the form from a case file --------------------------------------------------------------------

def flatten(case: m.CaseFile | dict) -> MultiDict:
    data = case.model_dump(mode="json", exclude_none=True) if isinstance(case, m.CaseFile) else case
    out: MultiDict = MultiDict()

    def walk(value: Any, path: str) -> None:
        if isinstance(value, dict):
            for key, sub in value.items():
                if key != "$format" and key != "format":
                    walk(sub, f"{path}.{key}" if path else key)
        elif isinstance(value, list):
            if value and all(isinstance(v, dict) for v in value):
                out[f"{path}#rows"] = str(len(value))
                for i, item in enumerate(value):
                    walk(item, f"{path}[{i}]")
            else:
                for item in value:
                    out.add(path, _text(item))
        else:
            out[path] = _shown_unit(_text(value)) if path.endswith(".unit") else _text(value)

    walk(data, "")
    return out


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def new_case_values() -> MultiDict:
    out: MultiDict = MultiDict()
    for path, rows in (_table().get("new_case_rows") or {}).items():
        out[f"{path}#rows"] = str(rows)
    return out


# --- add / remove rows ------------------------------------------------------------------------------------

def apply_row_action(form: MultiDict, action: str) -> MultiDict:
    """'add:<list path>' appends an empty row; 'remove:<list path>[i]' drops row i and renumbers."""
    values = Values(form)
    out = MultiDict([(k, v) for k, v in form.items(multi=True) if k not in ("_action", "csrf_token")])
    verb, _, target = action.partition(":")
    if verb == "add" and _valid_list_path(target):
        out.setlist(f"{target}#rows", [str(min(values.rows(target) + 1, MAX_ROWS))])
        return out
    match = re.fullmatch(r"(.+)\[(\d+)\]", target)
    if verb != "remove" or not match or not _valid_list_path(match.group(1)):
        return out
    base, index = match.group(1), int(match.group(2))
    rows = values.rows(base)
    prefix = f"{base}["
    renumbered: MultiDict = MultiDict()
    for key, value in out.items(multi=True):
        if key.startswith(prefix) and key[len(prefix):].split("]", 1)[0].isdecimal():
            i = int(key[len(prefix):].split("]", 1)[0])
            rest = key[len(prefix) + len(str(i)) + 1:]
            if i == index:
                continue
            key = f"{base}[{i - 1 if i > index else i}]{rest}"
        renumbered.add(key, value)
    renumbered.setlist(f"{base}#rows", [str(max(rows - 1, 0))])
    return renumbered


def _valid_list_path(path: str) -> bool:
    """True when `path` names a repeating group of the model (guards the action strings)."""
    tp: Any = m.CaseFile
    for token in re.findall(r"[^.\[\]]+|\[\d+\]", path):
        if token.startswith("["):
            if typing.get_origin(tp) is not list:
                return False
            tp = typing.get_args(tp)[0]
            continue
        model = next((_base(v) for v in _variants(tp)[0] if _is_model(v)), None)
        if model is None or token not in model.model_fields:
            return False
        variants = _variants(model.model_fields[token].annotation)[0]
        tp = variants[0] if len(variants) == 1 else next((v for v in variants if _is_model(v)), variants[0])
    return typing.get_origin(tp) is list and _is_row(typing.get_args(tp)[0])


# -- the kind of a new version: follow-up (new information) or correction (amendment, C.1.11) ------------------

VERSION_KINDS = ("follow-up", "amendment")


def version_kind_problems(kind: str, reason: str, editing: bool) -> list[tuple[str, str]]:
    """A saved edit is a follow-up or an amendment; an amendment needs its reason (E2B C.1.11.2)."""
    if not editing:
        return []
    if kind not in VERSION_KINDS:
        return [("_kind", "choose follow-up (new information) or correction (amendment)")]
    if kind == "amendment" and not reason:
        return [("_kind", "a correction needs its reason (E2B C.1.11.2): say what was wrong in the reason field")]
    return []


def apply_version_kind(case: m.CaseFile, kind: str, reason: str) -> None:
    """Record the chosen kind in the case (the Bundle and the E2B export carry it, and the store files the
    version under it): an amendment sets C.1.11; a follow-up clears an amendment flag left from an earlier
    correction. A nullification entered in the form stays as it is."""
    current = case.report.nullification
    if kind == "amendment":
        if current is None or current.kind != "nullification":
            case.report.nullification = m.Amendment(kind="amendment", reason=reason)
    elif kind == "follow-up" and current is not None and current.kind == "amendment":
        case.report.nullification = None


# -- problems found on the case's Bundle, placed at form fields -------------------------------------------------

def bundle_problems(parsed: Parsed, bundle: dict[str, Any], issues: list[Any]) -> tuple[list[tuple[str, str]], list]:
    """Validation issues of the Bundle built from the parsed case: those that come from a case field, as
    (form path, message); the rest (no field to put them at) as they are."""
    from reporter.validation.casepath import CaseLines

    assert parsed.case is not None
    lines = CaseLines("", parsed.case.model_dump(mode="json", by_alias=True, exclude_none=True))
    placed, left = [], []
    for issue in issues:
        where = lines.relabel(bundle, issue.location)
        if where != issue.location and where:
            path = parsed.form_path(where)
            if any(p.startswith(path) and (issue.message in text or issue.code in _said_by_the_form())
                   for p, text in parsed.problems):
                continue  # the form's own check said it already, at the field
            hint = form_hint(issue.hint or "")
            text = issue.message + (f" ({hint})" if hint else "")
            placed.append((path, f"{text} [{issue.code}]"))
        else:
            left.append(issue)
    return placed, left


def _said_by_the_form() -> set[str]:
    return set(_table().get("said_by_the_form") or [])


def form_hint(hint: str) -> str:
    """A validation hint without its clause on how to fix the problem in a FHIR Bundle (`bundle_hint_clause`
    in mappings/ui_form.yaml): "add X (in a Bundle: Patient.name ...)" -> "add X"; "(a masked value counts;
    in a Bundle: ...)" -> "(a masked value counts)". The form's user edits fields, not FHIR extensions."""
    at = hint.find(_table()["bundle_hint_clause"])
    if at < 0:
        return hint
    opened = _opening_paren(hint, at)
    closed = hint.find(")", at) if opened is None else _closing_paren(hint, opened)
    end = len(hint) if opened is None or closed < 0 else closed
    before = hint[:at].rstrip()
    if opened is not None and not hint[opened + 1:at].strip():  # the whole parenthesis is the clause
        return (hint[:opened].rstrip() + hint[end + 1:]).strip()
    return (before.rstrip(";,") + hint[end:]).strip()


def _opening_paren(text: str, at: int) -> int | None:
    """The index of the unclosed '(' before `at`, if any."""
    depth = 0
    for i in range(at - 1, -1, -1):
        if text[i] == ")":
            depth += 1
        elif text[i] == "(":
            if depth == 0:
                return i
            depth -= 1
    return None


def _closing_paren(text: str, opened: int) -> int:
    depth = 0
    for i in range(opened, len(text)):
        depth += {"(": 1, ")": -1}.get(text[i], 0)
        if depth == 0:
            return i
    return -1


def without(values: MultiDict, paths: list[str]) -> MultiDict | None:
    """The form with the values at `paths` and under them emptied (rows stay where they are), or None when
    none of them held a value."""
    out = MultiDict(values)
    emptied = False
    for path in paths:
        for key in list(out.keys()):
            if (key == path or key.startswith((path + ".", path + "["))) and not key.endswith("#rows") \
                    and any(v.strip() for v in out.getlist(key)):
                out.setlist(key, [""])
                emptied = True
    return out if emptied else None


def without_refused(values: MultiDict, refused: list[str]) -> tuple[Parsed | None, list[str]]:
    """A form the model refused, made into a case without what it refused, so that the checks of the Bundle
    can still report on the rest in the same round: refused values are emptied; an emptied field the model
    requires gets a stand-in (an absent reason, `(not given)` for a text, `check_stand_ins` in
    mappings/ui_form.yaml for a choice); otherwise the part holding it is emptied. Returns the case (None
    when the form cannot be made one) and every path left out or stood in for: problems found there belong
    to the stand-ins, not to the user."""
    retry = without(values, refused) or MultiDict(values)
    left_out = list(refused)
    for _ in range(_RETRY_ROUNDS):
        again = parse_form(retry)
        if again.case is not None:
            return again, left_out
        changed = False
        for path, message in again.problems:
            left_out.append(path)
            stand_in = _stand_in(path) if message == "required" else None
            if stand_in is not None:
                for key, value in stand_in.items():
                    changed |= retry.get(key) != value
                    retry.setlist(key, [value])
                continue
            part, emptied = _enclosing_part(path), None
            while part and (emptied := without(retry, [part])) is None:  # the nearest part holding a value
                part = _enclosing_part(part)
            if part and emptied is not None:
                retry, changed = emptied, True
                left_out.append(part)
        if not changed:
            break
    return None, left_out


_RETRY_ROUNDS = 4


def _stand_in(path: str) -> dict[str, str] | None:
    """Form values that stand in for a required field left empty, for checking the rest of the form."""
    configured = (_table().get("check_stand_ins") or {}).get(generic(path))
    if configured is not None:
        return {f"{path}.{k}": str(v) for k, v in configured.items()} if isinstance(configured, dict) \
            else {path: str(configured)}
    variants = _variants(_annotation_at(path))[0]
    if len(variants) == 1 and _is_model(variants[0]):  # a required part left wholly empty: its required fields
        found: dict[str, str] = {}
        for name, info in _model_fields(_base(variants[0])):
            if info.is_required():
                if (inner := _stand_in(f"{path}.{name}")) is None:
                    return None
                found.update(inner)
        return found
    if any(_base(v) is m.Absent for v in variants):
        return {f"{path}.absent": "unknown"}
    if len(variants) == 1 and _base(variants[0]) is str and not _is_partial_date(variants[0]):
        return {path: "(not given)"}
    return None


def _enclosing_part(path: str) -> str | None:
    """'reactions[0].onset.value' -> 'reactions[0].onset'; None for a top-level field."""
    cut = path.rfind(".")
    return path[:cut] if cut > 0 else None


def _annotation_at(path: str) -> Any:
    """The model's type of the field at a form path (None when the path is not one)."""
    tp: Any = m.CaseFile
    for token in re.findall(r"[^.\[\]]+|\[\d+\]", path):
        if token.startswith("["):
            tp = _item_of(tp)
            if tp is None:
                return None
            continue
        model = next((_base(v) for v in _variants(tp)[0] if _is_model(v) and token in _base(v).model_fields), None)
        if model is None:
            return None
        tp = model.model_fields[token].annotation
    return tp


def problem_list(tree: list[Field], problems: list[tuple[str, str]]) -> tuple[list[tuple[str, str]], dict[str, str]]:
    """The problems above the form, from one walk of its fields: in the order their fields come in the form (they
    come in the order of the checks that found them; those about the whole case first, the version's reason
    last, stable within one field), and each path as the form names it ('Reaction 1 › Onset › Drug', from the
    labels the user sees, not its case-file path; a path the form has no field for by its nearest enclosing
    field; the version's reason and kind by `meta_labels`)."""
    trails = _trails(tree)
    order = {path: i for i, path in enumerate(trails)}

    def position(item: tuple[str, str]) -> int:
        path = item[0]
        if not path or path == "(case file)":
            return -1
        probe = _nearest(path, order)
        return order[probe] if probe else len(order)

    meta = _table().get("meta_labels") or {}
    names = {}
    for path, _ in problems:
        if path:
            probe = _nearest(path, trails)
            names[path] = " › ".join(trails[probe]) if probe else meta.get(path, path)
    return sorted(problems, key=position), names


def _nearest(path: str, known: dict[str, Any]) -> str:
    """The path itself or its nearest enclosing path in `known` ('' when none)."""
    probe = path
    while probe and probe not in known:
        probe = probe[:max(probe.rfind("."), probe.rfind("["), 0)]
    return probe


def _trails(tree: list[Field]) -> dict[str, list[str]]:
    """Each field's path -> the labels leading to it, in form order."""
    trails: dict[str, list[str]] = {}

    def walk(nodes: list[Field], trail: list[str]) -> None:
        for node in nodes:
            if node.label.startswith("or "):  # a shape of a union ("or relative to a drug's dose")
                here = trail
            elif node.path.endswith("]"):  # a row: "Reaction 1" instead of "Reactions"
                here = [*trail[:-1], node.label]
            else:
                here = [*trail, node.label]
            trails.setdefault(node.path, here)
            walk(node.children, here)

    walk(tree, [])
    return trails


def mark_warnings(tree: list[Field], warnings: list[tuple[str, str]]) -> None:
    """Put each (case path, text) at the field of that path, or at its nearest enclosing field."""
    by_path: dict[str, Field] = {}

    def index(nodes: list[Field]) -> None:
        for node in nodes:
            by_path.setdefault(node.path, node)
            index(node.children)

    index(tree)
    for path, text in warnings:
        probe = _nearest(path, by_path)
        if probe:
            by_path[probe].warnings.append(text)
