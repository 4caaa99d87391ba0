"""Several reactions or drugs in one row of a line listing, as pharmacovigilance databases export them.

A row gives one reaction and one drug unless the column map says otherwise:
- `lists` names fields whose cell holds several items ("Myalgia;Rhabdomyolysis"), split at the stated
  separators, and may give each item's layout as a template of fields
  ("{reaction.term} ({reaction.duration} - {reaction.outcome} - {reaction.seriousness})", as EudraVigilance
  line listings print their reaction and drug lists); the list cells of one kind are paired by position;
- a header alias with "{n}" ("drug {n}", "dose {n}") reads numbered columns: the columns of one number are one
  drug (or reaction).
Each item is read by the same cell readers as a single-item row, through a view of the row whose cells are
the item's; its problems and notes name the row, the column and the item.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict

if TYPE_CHECKING:
    from reporter.casefile.listing import _Row

KINDS = ("reaction", "drug")
# A drug's assessment of a reaction: one per drug-reaction pair, never spread over several pairs.
LINK_FIELDS = ("drug.dechallenge", "drug.rechallenge", "drug.causality")
# A column of the other drugs (concomitant, or as its items' drug.role says), read apart from the suspect drugs.
CONCOMITANT = "drug.concomitant"
_PLACEHOLDER = re.compile(r"\{([a-z_.]+)\}")


class ListSpec(BaseModel):
    """How one field's cell holds several items (mappings/listing.yaml `lists`)."""

    model_config = ConfigDict(extra="forbid")

    separators: list[str]
    item: str | None = None


def kind_of(name: str) -> str | None:
    """'reaction' or 'drug' for a field of one reaction or drug (the assessment fields excepted), else None."""
    kind = name.partition(".")[0]
    return kind if kind in KINDS and name not in LINK_FIELDS else None


def spec_problems(name: str, spec: ListSpec, fields: tuple[str, ...]) -> list[str]:
    """What is wrong in one `lists` entry, each with its key path, told when the map loads."""
    where = f"lists.{name}"
    kind = kind_of(name)
    if name not in fields or kind is None:
        return [f"{where}: not a field of a reaction or a drug ({', '.join(f for f in fields if kind_of(f))})"]
    problems = [f"{where}.separators: give at least one"] if not any(spec.separators) else []
    if spec.item is not None:
        named = _PLACEHOLDER.findall(spec.item)
        if not named:
            problems.append(f"{where}.item: name the item's fields in braces, e.g. {{{name}}}")
        problems += [f"{where}.item: {{{part}}} is not a field of the same {kind} (known: "
                     f"{', '.join(f for f in fields if kind_of(f) == kind)})"
                     for part in named if part not in fields or kind_of(part) != kind]
        problems += [f"{where}.item: {{{part}}} is named twice" for part in sorted(set(named))
                     if named.count(part) > 1]
    return problems


@lru_cache(maxsize=64)
def _item_pattern(template: str) -> re.Pattern[str]:
    """The template as a pattern: its text literally, each field a group (the first takes as much as it can,
    so that a term with brackets of its own keeps them; the others as little)."""
    out, last = [], 0
    for index, m in enumerate(_PLACEHOLDER.finditer(template)):
        out.append(re.escape(template[last:m.start()]))
        out.append(f"(?P<f{index}>.*)" if index == 0 else f"(?P<f{index}>.*?)")
        last = m.end()
    out.append(re.escape(template[last:]))
    return re.compile(r"\s*".join(part for part in "".join(out).split(r"\ ")) + "$", re.DOTALL | re.IGNORECASE)


def _split(text: str, separators: list[str]) -> list[str]:
    pattern = "|".join(re.escape(s) for s in sorted(separators, key=len, reverse=True) if s)
    return [part.strip() for part in re.split(pattern, text, flags=re.IGNORECASE) if part.strip()]


def _list_items(row: _Row, name: str, spec: ListSpec) -> list[dict[str, tuple[str, str]]] | None:
    """The items of one list cell, each as the cells it gives ({field: (header, text)}); None when the cell
    says nothing. An item that does not fit the template is a problem of the row, and left out."""
    text = row.text(name)
    if text is None:
        return None
    header = row.cells[name][0]
    out = []
    for index, part in enumerate(_split(text, spec.separators), start=1):
        if spec.item is None:
            out.append({name: (header, part)})
            continue
        m = _item_pattern(spec.item).match(part)
        if m is None:
            row.problems.append((f"{row.where(name)}, item {index}",
                                 f"{part!r} does not read as {spec.item!r} (lists.{name}.item in the column map)"))
            continue
        fields = _PLACEHOLDER.findall(spec.item)
        out.append({field: (header, m.group(f"f{i}").strip()) for i, field in enumerate(fields)})
    return out


def _numbered(row: _Row, kind: str) -> list[dict[str, tuple[str, str]]]:
    """The items of numbered columns ("Drug 1", "Dose 1", "Drug 2"...), in number order; a number whose cells
    all say nothing is no item."""
    groups: dict[int, list[str]] = {}
    for key in row.cells:
        name, _, number = key.partition("#")
        if number and kind_of(name) == kind:
            groups.setdefault(int(number), []).append(key)
    return [{key.partition("#")[0]: row.cells[key] for key in keys} for _n, keys in sorted(groups.items())
            if any(row.text(key) is not None for key in keys)]


def items(row: _Row, kind: str) -> list[_Row]:
    """The reactions (or drugs) of a row, each as a view of the row with that item's cells. One view, the row
    itself, when the row gives one; cells of the kind outside the items (a single "Outcome" column beside a
    list of reactions) are the row's and go to each item, with a note."""
    numbered = _numbered(row, kind)
    if numbered:
        return _views(row, kind, numbered, "")
    lists = {name: row.map.lists[name] for name in row.cells
             if kind_of(name) == kind and name in row.map.lists and name != CONCOMITANT}
    read = {name: got for name, spec in lists.items() if (got := _list_items(row, name, spec))}
    counts = {len(got) for got in read.values()}
    if len(counts) > 1:  # one ingredient for two products: of which? not guessed
        listed = ", ".join(f"{row.cells[name][0]!r} {len(got)}" for name, got in read.items())
        row.problems.append((f"row {row.number}", f"the {kind} lists do not pair up ({listed} items): give each "
                             f"{kind} one item in every list, in the same order"))
        return [row]
    count = counts.pop() if counts else 1
    merged = [{k: v for got in read.values() for k, v in got[index].items()} for index in range(count)]
    return _views(row, kind, merged, "item ")


def concomitants(row: _Row) -> list[_Row]:
    """The other drugs of a row's drug.concomitant cell, each as a view of the row holding that drug's cells
    only (a suspect drug's dose or indication is not theirs): one drug as written unless `lists` splits it."""
    spec = row.map.lists.get(CONCOMITANT) or ListSpec(separators=[], item=None)
    text = row.text(CONCOMITANT)
    if text is None or _says_none(row, text):
        return []
    header = row.cells[CONCOMITANT][0]
    got = (_list_items(row, CONCOMITANT, spec) if spec.separators else [{CONCOMITANT: (header, text)}]) or []
    out = []
    for index, item in enumerate(got, start=1):
        cells = {("drug.product" if name == CONCOMITANT else name): cell for name, cell in item.items()}
        view = _view(row, cells, f"item {index}" if len(got) > 1 else None)
        view.cells = {k: v for k, v in view.cells.items() if kind_of(k) != "drug" or k in cells}
        view.cells[CONCOMITANT] = row.cells[CONCOMITANT]
        out.append(view)
    return out


def _says_none(row: _Row, text: str) -> bool:
    """Whether a concomitant cell says the patient took no other drug ("None", "Nil": values.concomitant),
    which is no drug named "None"."""
    from reporter.casefile.listing import _code_named  # listing imports this module

    return _code_named(text, row.map.values.get("concomitant", {})) == "none"


def _views(row: _Row, kind: str, groups: list[dict[str, tuple[str, str]]], label: str) -> list[_Row]:
    if len(groups) > 1:
        shared = [name for name in row.cells if kind_of(name) == kind and "#" not in name and name != CONCOMITANT
                  and all(name not in g for g in groups) and row.text(name) is not None]
        for name in shared:
            row.notes.append((row.where(name), f"note: one {row.cells[name][0]!r} for the row's {kind}s: given to "
                              "each (a list in the cell gives each its own)"))
    return [_view(row, cells, f"{label}{index}" if label and len(groups) > 1 else None)
            for index, cells in enumerate(groups, start=1)]


def _view(row: _Row, cells: dict[str, tuple[str, str]], label: str | None) -> _Row:
    """The row seen with an item's cells in place of its own (problems and notes still the row's)."""
    view = object.__new__(type(row))  # not copy.copy: a row pickles without its map (batch jobs)
    view.__dict__.update(row.__dict__)
    view.cells = {**{k: v for k, v in row.cells.items() if "#" not in k}, **cells}
    view.item_label = label
    view.item_fields = frozenset(cells)
    view._units = None
    return view


def stated_links(row: _Row) -> list[str]:
    """The assessment fields (dechallenge, rechallenge, causality) the row states."""
    return [name for name in LINK_FIELDS if row.text(name) is not None]


def link_problem(row: _Row, drugs: int, reactions: int) -> None:
    """An assessment in a row of several drugs or reactions: of which pair? Refused, not spread over all."""
    for name in stated_links(row):
        row.problems.append((row.where(name), f"the row names {drugs} drug(s) and {reactions} reaction(s): an "
                             "assessment is of one drug and one reaction; give one row per drug-reaction pair "
                             "with the case id"))

