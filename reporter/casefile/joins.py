"""Listings given as several files joined by a key column, as VAERS publishes a year's reports (VAERSDATA.csv: one
row per report; VAERSVAX.csv: one row per vaccine; VAERSSYMPTOMS.csv: up to five MedDRA terms per row, more rows for
more terms), and seriousness given as one yes/no column per criterion (DIED, L_THREAT, HOSPITAL, ...).

Both are read into the one table the listing intake reads: a joined file's rows of a report become numbered columns
of the report's row ("VAX_NAME 1", "VAX_NAME 2"; the second row's SYMPTOM1 is "SYMPTOM 6"), which the column map's
"{n}" aliases read as one drug or reaction each; the criteria columns become one seriousness cell
("death, hospitalisation"). Row numbers stay those of the first file; where a joined row went is said in a note.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict

from reporter.errors import InputError

if TYPE_CHECKING:
    from reporter.casefile.listing import Sheet


class JoinSpec(BaseModel):
    """The map's `joins`: the column that names a report in every file."""

    model_config = ConfigDict(extra="forbid")

    key: list[str]  # header aliases of the key column (VAERS_ID)


class CriteriaColumns(BaseModel):
    """The map's `criteria_columns`: one yes/no column per seriousness criterion."""

    model_config = ConfigDict(extra="forbid")

    columns: dict[str, list[str]]  # criterion (values.seriousness key) -> header aliases (DIED -> death)
    blank_is_no: bool = False  # VAERS: a flag is Y or blank, so a report with no Y is not serious


_NUMBERED = re.compile(r"(.*?)_?(\d+)")


@dataclass
class _Joined:
    name: str
    headers: list[str]  # without the key column
    by_key: dict[str, list[tuple[int, list[str]]]]
    width: int  # the highest number in a numbered header (SYMPTOM5: 5), 1 when none


def _key_index(sheet: Sheet, spec: JoinSpec, name: str) -> int:
    from reporter.casefile.listing import _norm

    keys = {_norm(k) for k in spec.key}
    index = next((i for i, h in enumerate(sheet.headers) if _norm(h) in keys), None)
    if index is None:
        raise InputError(f"{name}: no key column ({', '.join(spec.key)}) to join its rows by",
                         hint="name the key column's header under joins.key in the column map")
    return index


def _read_joined(sheet: Sheet, spec: JoinSpec, name: str) -> _Joined:
    key = _key_index(sheet, spec, name)
    by_key: dict[str, list[tuple[int, list[str]]]] = {}
    for number, cells in sheet.rows:
        value = cells[key].strip() if key < len(cells) else ""
        by_key.setdefault(value, []).append((number, [c for i, c in enumerate(cells) if i != key]))
    headers = [h for i, h in enumerate(sheet.headers) if i != key]
    width = max((int(m.group(2)) for h in headers if (m := _NUMBERED.fullmatch(h.strip()))), default=1)
    return _Joined(name, headers, by_key, width)


def _header(header: str, index: int, width: int) -> str:
    """The header of a joined file's column for the key's row `index` (0-based): numbered on from the rows
    before it (SYMPTOM1 of the second row of five: 'SYMPTOM 6'), or by the row (VAX_NAME of the second row:
    'VAX_NAME 2')."""
    m = _NUMBERED.fullmatch(header.strip())
    if m:
        return f"{m.group(1)} {index * width + int(m.group(2))}"
    return f"{header.strip()} {index + 1}"


def join_sheets(main: Sheet, others: list[tuple[str, Sheet]], spec: JoinSpec, main_name: str) -> Sheet:
    """The first file's sheet with each joined file's rows of a report as numbered columns of its row; rows
    whose key no report has, and reports without rows in a joined file, are said in the sheet's notes."""
    from reporter.casefile.listing import Sheet

    key = _key_index(main, spec, main_name)
    headers, rows = list(main.headers), [(n, list(cells) + [""] * (len(main.headers) - len(cells)))
                                         for n, cells in main.rows]
    notes = list(main.notes)
    keys = [cells[key].strip() for _n, cells in rows]
    for name, sheet in others:
        joined = _read_joined(sheet, spec, name)
        most = max((len(joined.by_key.get(k, [])) for k in keys), default=0)
        headers += [_header(h, i, joined.width) for i in range(most) for h in joined.headers]
        for (_number, cells), value in zip(rows, keys, strict=True):
            found = joined.by_key.get(value, [])
            for _row, other in found:
                cells += other + [""] * (len(joined.headers) - len(other))
            cells += [""] * (len(joined.headers) * (most - len(found)))
        notes += _join_notes(joined, rows, keys, main_name, most)
    return Sheet(headers, rows, main.header_row, notes)


def _join_notes(joined: _Joined, rows: list[tuple[int, list[str]]], keys: list[str], main_name: str,
                most: int) -> list[str]:
    """What joining a file did, said once per file: how many of its rows went to how many reports, the reports
    it has no row for and its rows whose key no report has (each with its row number)."""
    known = set(keys)
    used = sum(len(joined.by_key.get(k, [])) for k in known)
    notes = [f"{joined.name}: {used} row(s) joined to {sum(1 for k in keys if k in joined.by_key)} of "
             f"{len(keys)} row(s) of {main_name} by their key, up to {most} per row (its columns numbered"
             f"{' on from each row before' if joined.width > 1 else ''} to {most * joined.width})"]
    missing = [f"{n} ({k})" for (n, _cells), k in zip(rows, keys, strict=True) if k not in joined.by_key]
    stray = [f"{found[0][0]} ({k})" for k, found in joined.by_key.items() if k not in known]
    for what, items in ((f"row(s) of {main_name} without a row in {joined.name}", missing),
                        (f"{joined.name} row(s) not read, their key no row of {main_name}", stray)):
        if items:
            notes.append(f"{what}: {', '.join(items[:10])}{f' and {len(items) - 10} more' if len(items) > 10 else ''}")
    return notes


def criteria_column(sheet: Sheet, spec: CriteriaColumns, header: str) -> Sheet:
    """The sheet with its yes/no criteria columns made into one seriousness column named `header` followed by
    the columns' headers: each row's cell names the criteria said yes ("death, hospitalisation"); "no" when
    none is and the map says a blank is no; a cell neither yes nor blank is kept as written, to be refused
    by its row and column."""
    from reporter.casefile.listing import Sheet, _code_named, _norm
    from reporter.tables import load_yaml

    yes_no = load_yaml("cells.yaml")["yes_no"]
    aliases = {_norm(a): criterion for criterion, words in spec.columns.items() for a in words}
    found = [(i, aliases[_norm(h)]) for i, h in enumerate(sheet.headers) if _norm(h) in aliases]
    if not found:
        return sheet
    named = ", ".join(sheet.headers[i] for i, _ in found)
    rows = []
    for number, cells in sheet.rows:
        said, odd = [], []
        for i, criterion in found:
            text = cells[i].strip() if i < len(cells) else ""
            answer = _code_named(text, yes_no) if text else None
            if answer == "yes":
                said.append(criterion.replace("_", " "))
            elif text and answer is None:
                odd.append(f"{sheet.headers[i]}={text}")
        cell = ", ".join(said + odd) or ("no" if spec.blank_is_no else "")
        rows.append((number, [*cells, cell]))
    return Sheet([*sheet.headers, f"{header} ({named})"], rows, sheet.header_row, sheet.notes)
