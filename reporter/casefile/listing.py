"""Line-listing intake: a CSV or XLSX listing (one row per patient) -> one case file per row.

Each row goes through the case-file model and the normal validation, like any other case. The column map
(mappings/listing.yaml, or the user's copy) names which headers feed which case-file field and which cell
words mean which coded value. Every problem is reported by row and column; rows without problems in the
model are kept, the others are not.

Cells are read the way the case model reads values: partial dates keep their precision; a time written as
"day 21", "3 wk" or a bare number is relative to the suspect drug's first dose ("... after last dose" to its
last), never turned into a date; ages take any unit ("22 months", "4 y", "10 d"; a bare number is in the
map's age unit); "not stated" cells become an absent reason where the field takes one, else nothing.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from reporter import yaml12
from reporter.casefile.cells import (
    _SLASH_DATE,
    DECIMAL_MARK,
    TIME_UNITS,
    AgeNotE2B,
    AgeSpan,
    AmbiguousNumber,
    in_years,
    parse_age,
    parse_date,
    parse_dose,
    parse_number,
    parse_when,
    split_frequency,
)
from reporter.casefile.items import ListSpec, concomitants, items, link_problem, spec_problems
from reporter.casefile.joins import CriteriaColumns, JoinSpec, criteria_column, join_sheets
from reporter.casefile.model import CRITERIA, CaseFile, Seriousness, _metric_only
from reporter.casefile.parse import _clean_loc, check_size, format_path
from reporter.errors import InputError, MappingError, StoreConflict
from reporter.paths import mappings_dir
from reporter.tables import load_yaml, routes

MAX_LISTING_BYTES = 50 * 1024 * 1024
FIELDS = (
    "case_id", "patient.initials", "patient.sex", "patient.age", "patient.age_group", "patient.age_sex",
    "patient.weight_kg", "patient.history", "patient.death_date", "country", "drug.product", "drug.substance",
    "drug.role", "drug.dose", "drug.route", "drug.dosing", "drug.batch", "drug.dose_number", "drug.start",
    "drug.stop", "drug.duration", "drug.indication", "drug.action_taken", "drug.dechallenge", "drug.rechallenge",
    "drug.causality", "drug.concomitant", "reaction.term", "reaction.meddra_code", "reaction.meddra_version",
    "reaction.onset", "reaction.end", "reaction.duration", "reaction.outcome", "reaction.seriousness", "treatment",
    "report.type", "report.first_received", "literature.citation", "narrative",
)
# Case-file paths each field fills: a model error at such a path is reported against the field's column.
_PATHS = {
    "case_id": ("case_id",), "patient.initials": ("patient.initials",), "patient.sex": ("patient.sex",),
    "patient.age": ("patient.age_at_onset", "patient.age_group"),
    "patient.age_group": ("patient.age_group",),
    "patient.age_sex": ("patient.age_at_onset", "patient.age_group", "patient.sex"),
    # the weight is the patient's only Observation a listing makes: a finding on its value is the weight's
    "patient.weight_kg": ("patient.weight_kg", "patient.value", "patient.unit"),
    "patient.history": ("patient.history_text",), "patient.death_date": ("patient.death.date",),
    "country": ("primary_sources[0].address.country", "reactions[0].country"),
    "drug.product": ("drugs[0].product", "drugs[0]"), "drug.substance": ("drugs[0].substances",),
    "drug.role": ("drugs[0].role",), "drug.duration": ("drugs[0].dosages[0].duration",),
    "reaction.duration": ("reactions[0].duration",),
    "drug.dose": ("drugs[0].dosages[0].dose",), "drug.route": ("drugs[0].dosages[0].route",),
    "drug.dosing": ("drugs[0].dosages[0].text",), "drug.batch": ("drugs[0].dosages[0].batch",),
    "drug.dose_number": ("drugs[0].dosages[0].text",), "drug.start": ("drugs[0].dosages[0].start",),
    "drug.stop": ("drugs[0].dosages[0].stop",), "drug.indication": ("drugs[0].indications",),
    "drug.action_taken": ("drugs[0].action_taken",),
    "drug.dechallenge": ("drugs[0].reactions[0].dechallenge",),
    "drug.rechallenge": ("drugs[0].reactions[0].rechallenge",),
    "drug.causality": ("drugs[0].reactions[0].causality",),
    "reaction.term": ("reactions[0].verbatim", "reactions[0]"), "reaction.meddra_code": ("reactions[0].meddra",),
    "reaction.meddra_version": ("reactions[0].meddra.version",),
    "reaction.onset": ("reactions[0].onset",), "reaction.end": ("reactions[0].end",),
    "reaction.outcome": ("reactions[0].outcome",), "reaction.seriousness": ("reactions[0].seriousness",),
    "report.first_received": ("report.first_received", "report.most_recent"),
    "report.type": ("report.type",),
    "literature.citation": ("literature",), "narrative": ("narrative",), "treatment": ("narrative",),
}


class LabColumns(BaseModel):
    """Which headers name a test (mappings/listing.yaml `tests`)."""

    model_config = ConfigDict(extra="forbid")

    names: dict[str, list[str]] = {}  # test name as reported (F.r.2.1) -> the header words naming it
    qualifiers: list[str] = []  # words around the test's name in a header ("peak", "at onset")
    unitless: list[str] = []  # tests whose bare number needs no unit (INR)


class ListingMap(BaseModel):
    """The column map (mappings/listing.yaml), checked when loaded."""

    model_config = ConfigDict(extra="forbid")

    format: Literal["ae-reporter/listing-map/1"]
    case_id_prefix: str = "LISTING"
    date_order: Literal["DMY", "MDY"] = "DMY"
    decimal_mark: Literal[".", ","] | None = None
    age_unit: str = "a"
    time_unit: str = "d"
    # rows: one row per patient; columns: one column per patient, one row per characteristic; None: found
    layout: Literal["rows", "columns"] | None = None
    # First cells of a row that summarises the patients ("Total", "Median (range)"): not a case
    summary_rows: list[str] = []
    meddra_version: str | None = None
    not_stated: list[str] = []
    defaults: dict[str, dict[str, Any]] = {}
    columns: dict[str, list[str]]
    # header -> the fields it names, the first that no other column gives ("Treatment": the drug, else the
    # reaction's treatment)
    shared_headers: dict[str, list[str]] = {}
    lists: dict[str, ListSpec] = {}
    values: dict[str, dict[str, list[str]]] = {}
    tests: LabColumns = LabColumns()
    # files joined to the first by a key column (import-listing --join), their rows as numbered columns
    joins: JoinSpec | None = None
    # one yes/no column per seriousness criterion (DIED, HOSPITAL), read as one seriousness cell
    criteria_columns: CriteriaColumns | None = None

    def model_post_init(self, _context: Any) -> None:
        unknown = sorted((set(self.columns) | {f for fs in self.shared_headers.values() for f in fs}) - set(FIELDS))
        if unknown:
            raise ValueError(f"unknown field(s) in columns: {', '.join(unknown)} (known: {', '.join(FIELDS)})")
        problems = [p for section, values in self.defaults.items() for p in _default_problems(section, values)]
        problems += [p for name, spec in self.lists.items() for p in spec_problems(name, spec, FIELDS)]
        problems += [f"criteria_columns.columns.{c}: not a seriousness criterion (known: {', '.join(CRITERIA)})"
                     for c in (self.criteria_columns.columns if self.criteria_columns else {}) if c not in CRITERIA]
        if problems:
            raise ValueError("; ".join(problems))


def _default_problems(section: str, values: dict[str, Any]) -> list[str]:
    """What is wrong in one defaults section, each with its key path (defaults.drug.route: ...), checked
    against the case-file model when the map loads, so that a mistake is told once and not on every row.
    Fields a row fills (a drug's product, the report's dates) may be missing here."""
    from reporter.casefile import model

    models = {"report": model.Report, "primary_source": model.PrimarySource, "sender": model.Sender,
              "drug": model.Drug, "causality": model.Causality, "reaction": _ReactionDefaults}
    if section not in models:
        return [f"defaults.{section}: not a section the listing reads (known: {', '.join(models)})"]
    try:
        models[section].model_validate(values)
    except ValidationError as exc:
        return [f"defaults.{section}.{format_path(tuple(e['loc']))}: " + (
                    f"not a field of a case file's {section.replace('_', ' ')}" if e["type"] == "extra_forbidden"
                    else e["msg"].removeprefix("Value error, "))
                for e in exc.errors(include_url=False) if e["type"] != "missing"]
    return []


class _ReactionDefaults(BaseModel):
    """What defaults.reaction may state for every case of a listing."""

    model_config = ConfigDict(extra="forbid")

    seriousness: Seriousness | None = None
    # the reaction of every row that names none: a series of one reaction names it in its title only
    verbatim: str | None = None


def default_map_path() -> Path:
    return mappings_dir() / "listing.yaml"


def shipped_map(name: str) -> Path | None:
    """A column map shipped in mappings/ for a public data source (`vaers`: mappings/listing-vaers.yaml)."""
    found = mappings_dir() / f"listing-{name}.yaml"
    return found if re.fullmatch(r"[a-z0-9]+", name) and found.is_file() else None


def load_map(path: str | Path | None = None) -> ListingMap:
    """The column map at `path` (or a shipped map's name: vaers), or the default one. MappingError with the
    problem if it does not fit."""
    if path is not None and not Path(path).exists() and (shipped := shipped_map(str(path))):
        path = shipped
    try:
        raw = load_yaml("listing.yaml") if path is None else yaml12.load(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise InputError(f"cannot read the column map: {exc.strerror}", location=str(path)) from None
    except yaml.YAMLError as exc:  # a user's map: where its YAML breaks, not a traceback
        mark = getattr(exc, "problem_mark", None)
        raise MappingError(f"the column map is not valid YAML: {getattr(exc, 'problem', None) or exc}",
                           location=f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path),
                           hint="quote a header that holds { } [ ] : or # (\"drug {n}\")") from None
    try:
        return ListingMap.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join((f"{format_path(tuple(e['loc']))}: " if e["loc"] else "")
                             + e["msg"].removeprefix("Value error, ") for e in exc.errors(include_url=False))
        raise MappingError(f"the column map does not fit its format: {problems}",
                           location=str(path or default_map_path()),
                           hint="start from `reporter listing-template`") from None


_NOT_WORD = re.compile(r"[^a-z0-9]+")


@lru_cache(maxsize=64)
def _not_stated_words(words: tuple[str, ...]) -> frozenset[str]:
    return frozenset(_norm(x) for x in words)


@lru_cache(maxsize=8192)  # a listing says the same words on every row (not stated, yes, drug and unit names)
def _norm(text: str) -> str:
    return _NOT_WORD.sub(" ", text.lower()).strip()


# --------------------------------------------------------------------------------------------------
# Reading the file
# --------------------------------------------------------------------------------------------------


@dataclass
class Sheet:
    headers: list[str]
    rows: list[tuple[int, list[str]]]  # (row number in the file, cells)
    header_row: int = 1
    notes: list[str] = field(default_factory=list)  # what reading the file chose (which table of a document)


def _cell_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        return value.date().isoformat() if value.time() == dt.time() else value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


# Spaces that are no plain blank, as tables copied from a web page or a PDF hold them ("500&nbsp;mg", a thin
# space in "1 250"): read as blanks, so that cells and their words compare as typed
_SPACES = re.compile("[\u00a0\u2007\u2009\u202f\u200a]")


def read_sheet(path: str | Path) -> Sheet:
    """Header row and data rows of a CSV (comma, semicolon or tab; UTF-8, or UTF-16 with its byte-order mark)
    or the first sheet of an XLSX file.
    Lines whose first cell starts with '#' are comments; wholly empty rows are skipped."""
    p = Path(path)
    check_size(p, MAX_LISTING_BYTES)
    suffix = p.suffix.lower()
    notes: list[str] = []
    if suffix == ".xlsx":
        raw = _xlsx_rows(p)
    elif suffix in (".csv", ".tsv", ".txt"):
        raw = _csv_rows(p)
    elif suffix == ".docx":
        raw = _docx_rows(p, notes)
    else:
        raise InputError(f"cannot read {p.suffix or 'a file without extension'} as a listing", location=str(p),
                         hint="give a .csv, .xlsx or .docx file (a .doc, .pdf or web page: copy its table into a "
                              "spreadsheet and save it as .xlsx or CSV UTF-8)")
    raw = [(n, [_SPACES.sub(" ", c) for c in cells]) for n, cells in raw]
    rows = [(n, cells) for n, cells in raw
            if any(c.strip() for c in cells) and not (cells and _is_comment(cells[0]))]
    if not rows:
        raise InputError("the listing has no header row", location=str(p))
    (number, headers), data = rows[0], rows[1:]
    return Sheet([h.strip() for h in headers], data, number, notes)


def _is_comment(first: str) -> bool:
    """A line whose first cell starts with '#', but not a patient's number ("#3", as series number them)."""
    return first.lstrip().startswith("#") and not re.fullmatch(r"#\s*\d+", first.strip())


def _csv_rows(p: Path) -> list[tuple[int, list[str]]]:
    data = p.read_bytes()
    # Excel's "Unicode text" is UTF-16 with its byte-order mark; any other text must be UTF-8
    encoding = "utf-16" if data[:2] in (b"\xff\xfe", b"\xfe\xff") else "utf-8-sig"
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as exc:
        raise InputError(f"not {encoding.upper().removesuffix('-SIG')} text (byte {exc.start})", location=str(p),
                         hint="save the listing as CSV UTF-8") from None
    text = text.lstrip("\ufeff")  # a second byte-order mark, as EudraVigilance's (ADRreports) CSV files carry
    first = next((line for line in text.splitlines() if line.strip() and not line.startswith("#")), "")
    delimiter = max((",", ";", "\t"), key=first.count)
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    out = []
    try:
        for cells in reader:
            out.append((reader.line_num, [c.strip() for c in cells]))
    except csv.Error as exc:
        raise InputError(f"unreadable CSV: {exc}", location=f"{p}:{reader.line_num}") from None
    return out


_W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"


def _docx_rows(p: Path, notes: list[str]) -> list[tuple[int, list[str]]]:
    """The rows of the first table of a Word document (numbered as the table's rows): a cell's paragraphs one
    per line, a cell spanning columns followed by empty ones and a cell merged with the one above left empty,
    as a spreadsheet gives merged cells. A document of several tables is said in `notes`."""
    from zipfile import BadZipFile, ZipFile

    from lxml import etree

    try:
        with ZipFile(p) as book:
            info = book.getinfo("word/document.xml")
            if info.file_size > MAX_LISTING_BYTES:
                raise InputError("the Word document is too large to read as a listing", location=str(p))
            xml = book.read(info)
    except (BadZipFile, KeyError, OSError) as exc:
        raise InputError(f"not a readable Word document ({type(exc).__name__})", location=str(p),
                         hint="save it again as .docx, or save its table as .xlsx or CSV UTF-8") from None
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)
    try:
        body = etree.fromstring(xml, parser).find(f"{_W}body")
    except etree.XMLSyntaxError as exc:
        raise InputError(f"not a readable Word document ({exc})", location=str(p)) from None
    tables = list(body.iter(f"{_W}tbl")) if body is not None else []
    if not tables:
        raise InputError("the Word document holds no table", location=str(p),
                         hint="give the document holding the table of cases (or the table as .xlsx or CSV)")
    if len(tables) > 1:
        notes.append(f"the document holds {len(tables)} tables: the first is read (save another as its own .docx, "
                     ".xlsx or CSV to read it)")
    return [(number, _docx_cells(row)) for number, row in enumerate(tables[0].findall(f"{_W}tr"), start=1)]


def _docx_cells(row: Any) -> list[str]:
    out: list[str] = []
    for cell in row.findall(f"{_W}tc"):
        props = cell.find(f"{_W}tcPr")
        merged = props is not None and props.find(f"{_W}vMerge") is not None and \
            props.find(f"{_W}vMerge").get(f"{_W}val") != "restart"
        text = "\n".join("".join(t.text or "" for t in para.iter(f"{_W}t")) for para in cell.findall(f"{_W}p"))
        out.append("" if merged else text.strip())
        span = props.find(f"{_W}gridSpan") if props is not None else None
        out += [""] * (int(span.get(f"{_W}val", "1")) - 1 if span is not None and span.get(f"{_W}val", "").isdigit()
                       else 0)
    return out


def _xlsx_rows(p: Path) -> list[tuple[int, list[str]]]:
    from zipfile import BadZipFile

    import openpyxl

    try:
        book = openpyxl.load_workbook(p, read_only=True, data_only=True)
    except (BadZipFile, KeyError, ValueError, OSError) as exc:
        raise InputError(f"not a readable XLSX workbook ({type(exc).__name__})", location=str(p)) from None
    try:
        sheet = book.worksheets[0]
        return [(i, [_cell_text(v) for v in values])
                for i, values in enumerate(sheet.iter_rows(values_only=True), start=1)]
    finally:
        book.close()


# --------------------------------------------------------------------------------------------------
# Rows -> case files
# --------------------------------------------------------------------------------------------------


@dataclass
class RowResult:
    """What one row gave. The case travels between processes as its case-file JSON (`casefile`, plain data:
    unpickling the model cost the parent of a batch 0.15 ms a row); the model is made again on first use."""

    row: int
    case_id: str | None
    bundle: dict | None = None
    problems: list[tuple[str, str]] = field(default_factory=list)  # (where, message): the row is rejected
    warnings: list[tuple[str, str]] = field(default_factory=list)  # validation findings on a kept case
    merged_into: int | None = None  # a further row of the case whose first row is this one (case on that row)
    errors: int = 0  # validation errors (fatal or error) of the kept case: not a valid ICSR until fixed
    casefile: dict[str, Any] | None = None  # the case as stored beside its Bundle (casefile_json)
    id_given: bool = False  # a cell gave the case id in full: it may name a case of another listing
    _case: CaseFile | None = field(default=None, repr=False, compare=False)

    @property
    def case(self) -> CaseFile | None:
        if self._case is None and self.casefile is not None:
            self._case = CaseFile.model_validate(self.casefile)
        return self._case

    @case.setter
    def case(self, value: CaseFile | None) -> None:
        self._case = value
        self.casefile = casefile_json(value) if value is not None else None

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_case": None}

    @property
    def ok(self) -> bool:
        return (self.casefile is not None or self.merged_into is not None) and not self.problems


@dataclass
class ListingResult:
    source: str
    rows: list[RowResult]
    columns: dict[str, str]  # field -> header used
    ignored: list[str]  # headers no field claimed
    notes: list[str] = field(default_factory=list)  # what the whole listing was read as (said once)


class _Row:
    """One row being turned into a case-file dict; problems are collected, not raised."""

    def __init__(self, listing_map: ListingMap, number: int, cells: dict[str, tuple[str, str]],
                 listing: str = "") -> None:
        self.map = listing_map
        self.number = number
        self.listing = listing  # the listing's name in its case ids (its file's stem)
        self.cells = cells  # field -> (header, text)
        self.problems: list[tuple[str, str]] = []
        self.notes: list[tuple[str, str]] = []  # what was read otherwise than asked: said, the row kept
        self._not_stated = _not_stated_words(tuple(listing_map.not_stated))
        self._units: dict[str, str] | None = None
        self.item_label: str | None = None  # a view of one item of several ('item 2'): said with its cells
        self.item_fields: frozenset[str] = frozenset()  # the fields an item view reads from its item
        self.signed: frozenset[str] = frozenset()  # fields whose column marks with '+' (and so '-'): signs

    @property
    def units(self) -> dict[str, str]:
        """The unit a column's header gives (Weight (kg) -> kg), by field."""
        if self._units is None:
            self._units = {name: unit for name, (header, _) in self.cells.items() if (unit := header_unit(header))}
        return self._units

    def __getstate__(self) -> dict[str, Any]:
        """Pickled for a batch job with its number and cells only: the job brings the column map once."""
        return {"number": self.number, "cells": self.cells, "problems": self.problems, "notes": self.notes,
                "listing": self.listing, "signed": self.signed}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update({"signed": frozenset(), **state}, map=None, _not_stated=frozenset(), _units=None,
                             item_label=None, item_fields=frozenset())

    def attach(self, listing_map: ListingMap) -> None:
        """Give a row unpickled in a batch job its column map back."""
        self.map = listing_map
        self._not_stated = _not_stated_words(tuple(listing_map.not_stated))

    def where(self, name: str) -> str:
        header = self.cells[name][0] if name in self.cells else name
        item = f", {self.item_label}" if self.item_label and name in self.item_fields else ""
        return f"row {self.number}, column {header!r}{item}"

    def text(self, name: str) -> str | None:
        """The cell of a field, or None when it is absent or says "not stated"."""
        if name not in self.cells:
            return None
        value = self.cells[name][1].strip()
        if _norm(value) in self._not_stated:
            return None
        return self._without_footnote(name, value) if name in _FREE_TEXT else value

    def stated_absent(self, name: str) -> bool:
        return name in self.cells and self.text(name) is None

    def read(self, name: str, reader, *args: Any, **kwargs: Any) -> Any:
        value = self.text(name)
        if value is None:
            return None
        value = self._without_footnote(name, value)
        try:
            return reader(value, *args, **kwargs)
        except ValueError as exc:
            self.problems.append((self.where(name), str(exc)))
            return None

    def _without_footnote(self, name: str, value: str) -> str:
        """The value without a footnote mark after it ('28†' -> '28'), said in a note: the mark is no part of
        the value, and the footnote may qualify it."""
        marks = load_yaml("cells.yaml")["footnote"]["marks"]
        stripped = value.rstrip("".join(marks)).rstrip()
        if stripped and stripped != value:
            mark = value[len(stripped):].strip()
            note = (self.where(name), f"note: {value!r} read as {stripped!r}: the footnote mark {mark!r} "
                    "is not part of the value (see the table's footnote)")
            if note not in self.notes:  # a free-text cell is read more than once
                self.notes.append(note)
            return stripped
        return value

    def word(self, name: str, vocabulary: str) -> str | None:
        """The code a cell's word names; a word listed under the vocabulary wins over the same "not stated" word
        (a rechallenge "not done" is E2B's not-done, the "not done" of a lab value or outcome is not stated)."""
        cell = self.cells[name][1] if name in self.cells else ""
        listed = _listed(cell, self.map.values.get(vocabulary, {}))
        if listed is not None and (_norm(cell) or name in self.signed):  # '-': a sign only beside a '+'
            return listed
        value = self.text(name)
        if value is None:
            return None
        code = _code_named(value, self.map.values.get(vocabulary, {}))
        if code is not None:
            return code
        known = ", ".join(self.map.values.get(vocabulary, {}))
        self.problems.append((self.where(name), f"{value!r} is not a known {vocabulary} value (known: {known}); "
                              f"add the word under values.{vocabulary} in the column map"))
        return None


def _listed(cell: str, vocabulary: dict[str, list[str]]) -> str | None:
    """The code whose words list the cell: compared as written (a sign, '+', has no letters to compare) or
    normalised."""
    exact, key = " ".join(cell.lower().split()), _norm(cell)
    return next((code for code, words in vocabulary.items()
                 if exact and (exact in {w.lower() for w in words} or (key and key in {_norm(w) for w in words}))),
                None)


def _code_named(text: str, vocabulary: dict[str, list[str]]) -> str | None:
    """The vocabulary's code that `text` is, by the code itself or one of its words (compared normalised)."""
    key = _norm(text)
    return next((code for code, words in vocabulary.items() if key == _norm(code) or key in {_norm(w) for w in words}),
                None)


def header_unit(header: str) -> str | None:
    """The time unit a header names in parentheses ("Age (months)", "Onset (days)"), as a UCUM code."""
    m = re.search(r"\(([^)]*)\)", header)
    return TIME_UNITS.get(_norm(m.group(1))) if m else None


def _route_key(text: str, listing_map: ListingMap) -> str | None:
    key = _norm(text)
    for code, words in listing_map.values.get("route", {}).items():
        if key in {_norm(w) for w in words}:
            return code
    for code, entry in routes().items():
        if key in (_norm(code), _norm(str(entry.get("display", "")))):
            return code
    return None


def _seriousness(row: _Row) -> dict[str, Any] | None:
    value = row.text("reaction.seriousness")
    if value is None:
        return None
    vocabulary = row.map.values.get("seriousness", {})
    criterion = _criterion_of_header(row.cells["reaction.seriousness"][0], vocabulary)
    if criterion is not None:
        return _one_criterion(row, criterion, value)
    out: dict[str, Any] = {}
    for token in _criteria_tokens(value, vocabulary):
        code = _code_named(token, vocabulary)
        if code is None and _is_severity(token):
            row.problems.append((row.where("reaction.seriousness"),
                                 f"{token!r} is a severity (intensity), not a seriousness criterion: a severe reaction "
                                 "need not be serious; map a column that names the criteria (death, hospitalisation, "
                                 "..., or no for not serious), not this one, to reaction.seriousness"))
        elif code is None:
            row.problems.append((row.where("reaction.seriousness"),
                                 f"{token!r} is not a seriousness criterion (known: {', '.join(vocabulary)}); "
                                 "a serious reaction names its criteria (death, life-threatening, ...)"))
        elif code != "none":
            out[code] = True
    return out


def _criteria_tokens(value: str, vocabulary: dict[str, list[str]]) -> list[str]:
    """The criteria a seriousness cell names, split at , ; + | and 'and'; at '/' only where the words joined
    by it are not one criterion ('death/hospitalisation' is two, 'Caused/Prolonged Hospitalisation' one)."""
    out = []
    for token in re.split(r"\s*(?:[,;+|]|\band\b)\s*", value):
        if _code_named(token, vocabulary) is not None:
            out.append(token)
        else:
            out += re.split(r"\s*/\s*", token)
    return [t for t in out if t.strip()]


def _is_severity(token: str) -> bool:
    """Whether a cell word grades intensity ('mild', 'severe', 'grade 3': mappings/cells.yaml severity)."""
    words = load_yaml("cells.yaml")["severity"]
    key = _norm(token)
    return key in {_norm(w) for w in words["words"]} or bool(re.fullmatch(words["grade"], key))


def _criterion_of_header(header: str, vocabulary: dict[str, list[str]]) -> str | None:
    """The one seriousness criterion a column's header names ("Hospitalised (Y/N)", "Death"), else None."""
    return _code_named(re.sub(r"\(.*?\)", " ", header), {c: w for c, w in vocabulary.items() if c != "none"})


def _one_criterion(row: _Row, criterion: str, value: str) -> dict[str, Any] | None:
    """A yes/no cell under a header naming one criterion: that criterion stated, the others not known (a
    "Hospitalised: N" says nothing of death or disability, unless the map's defaults do)."""
    answer = _code_named(value, load_yaml("cells.yaml")["yes_no"])
    if answer is None:
        row.problems.append((row.where("reaction.seriousness"), f"{value!r} is not yes or no (the column says "
                             f"whether the reaction met one criterion, {criterion}): write Y or N"))
        return None
    return {**_seriousness_not_stated(row.map.defaults), criterion: answer == "yes"}


def _sex_value(code: str) -> str | dict[str, str]:
    """The case-file sex of a sex vocabulary code: 'unknown' is sex not known (D.5 UNK), not a value."""
    return {"absent": "unknown"} if code == "unknown" else code


def _age(text: str, row: _Row, unit: str, header_unit: str | None = None, name: str = "patient.age") -> dict[str, Any]:
    """An age cell: the age at onset ('22 months', '60s', '50-59'), or the ICH age group a word names
    ('newborn', 'adult'), as case series give either. A bound or span E2B cannot hold ('<18', '18-40') leaves
    the age absent, said at the cell, with the author's words for the narrative (`as_stated`) and the ICH age
    group only when every age the words allow lies in that one group ('>65': elderly)."""
    group = _code_named(text, row.map.values.get("age_group", {}))
    if group is not None:
        return {"age_group": group}
    try:
        return {"age_at_onset": parse_age(text, unit, header_unit=header_unit)}
    except AgeNotE2B as exc:
        group = _group_holding(exc.span)
        row.notes.append((row.where(name), f"warning: {exc}: the age is left absent and the words kept in the "
                          "narrative (H.1)" + (f"; the age group is {group} (D.2.3), which holds every age they "
                                               "allow" if group else "")))
        return {"as_stated": text, **({"age_group": group} if group else {})}
    except ValueError as exc:
        if _code_named(text, row.map.values.get("age_words", {})):  # 'paediatric': ages, no group
            row.notes.append((row.where(name), f"warning: {_not_a_group(text, row)}: the age is left absent and "
                              "the words kept in the narrative (H.1)"))
            return {"as_stated": text}
        groups = ", ".join(row.map.values.get("age_group", {}))
        raise ValueError(f"{exc}; or an age group ({groups})" if groups else str(exc)) from None


def _not_a_group(text: str, row: _Row) -> str:
    known = ", ".join(row.map.values.get("age_group", {}))
    return f"{text!r} is no ICH age group ({known})"


def _stated_age_group(row: _Row, patient: dict[str, Any]) -> str | None:
    """An age group column beside the age ("Patient Age Group (as per reporter)" in a EudraVigilance listing):
    the reporter's ICH age group (D.2.3), which may differ from the one the age lies in only by a mistake. A word
    for ages that names no ICH group (values.age_words: 'paediatric') is said at the cell and returned, for the
    narrative."""
    text = row.text("patient.age_group")
    if text and _code_named(text, row.map.values.get("age_words", {})):
        row.notes.append((row.where("patient.age_group"),
                          f"warning: {_not_a_group(text, row)}: left out, the words kept in the narrative (H.1)"))
        return text
    group = row.word("patient.age_group", "age_group")
    if group is None:
        return None
    if patient.get("age_group") not in (None, group):
        row.problems.append((row.where("patient.age_group"), f"{row.text('patient.age_group')!r} is not the age group "
                             f"of the age given ({patient['age_group']}): which is right?"))
        return None
    patient["age_group"] = group
    return None


def _group_holding(span: AgeSpan) -> str | None:
    """The ICH age group (mappings/tabulate.yaml, as tabulations place ages) that holds every age of `span`,
    or None when the span reaches into two groups, as most bounds do ('<18': neonate to adolescent)."""
    from reporter.analysis.projection import age_group_ranges, settings

    years = settings()["years_per_unit"].get(span.unit)
    if years is None:
        return None
    low, high = span.low * years, None if span.high is None else span.high * years
    return next((key for key, start, end in age_group_ranges()
                 if low >= start and (end is None or (high is not None and high <= end))), None)


def _seriousness_not_stated(defaults: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Seriousness when the listing does not state it: each criterion not known (E2B NI), never "no" (the
    model's default), unless the map's defaults.reaction.seriousness says otherwise."""
    stated = dict((defaults.get("reaction") or {}).get("seriousness") or {})
    return {**{name: {"absent": "no-information"} for name in CRITERIA}, **stated}


def _age_and_sex(text: str, row: _Row) -> tuple[dict[str, Any] | None, str | None]:  # (age fields, sex code)
    """A case series' "Age/Sex" cell: '54/F', '6 mo/M', 'F/54', '32 y, female', '54F', 'M 6 mo'. Either part may
    be a "not stated" word ('NR/F'); a part that is neither an age nor a sex word is refused with the cell."""
    words = {_norm(w): code for code, ws in row.map.values.get("sex", {}).items() for w in (code, *ws)}
    parts = [p.strip() for p in re.split(r"[/,;]", in_years(text)) if p.strip()]
    if len(parts) == 1:  # '54F', '54 F', 'F 54', 'M 6 mo'
        found = re.match(r"^(?P<age>\d.*?)\s*\b(?P<sex>[a-z]+)$|^(?P<sex2>[a-z]+)\s*(?P<age2>\d.*)$", parts[0].lower())
        if found and _norm(found.group("sex") or found.group("sex2")) in words:
            parts = [found.group("age") or found.group("age2"), found.group("sex") or found.group("sex2")]
    if len(parts) != 2:
        raise ValueError(f"{text!r} is not an age and a sex: write them as 54/F or 6 mo/M")
    if _norm(parts[0]) in words and _norm(parts[1]) not in words:
        parts.reverse()
    age_text, sex_text = parts
    sex = words.get(_norm(sex_text))
    if sex is None and _norm(sex_text) not in row._not_stated:
        known = ", ".join(row.map.values.get("sex", {}))
        raise ValueError(f"{text!r}: {sex_text!r} is not a known sex value (known: {known})")
    age = None if _norm(age_text) in row._not_stated else \
        _age(age_text, row, row.map.age_unit, row.units.get("patient.age_sex"), "patient.age_sex")
    return age, sex


def lab_test(header: str, listing_map: ListingMap) -> str | None:
    """The test a column's header names ("Peak ALT (U/L)" -> ALT), the map's qualifier words and any bracket
    dropped; None for another header."""
    words = _norm(re.sub(r"[(\[].*?[)\]]", " ", header))
    for qualifier in sorted((_norm(q) for q in listing_map.tests.qualifiers), key=len, reverse=True):
        words = re.sub(rf"(?:^| ){re.escape(qualifier)}(?= |$)", " ", words).strip()
    return next((name for name, names in listing_map.tests.names.items()
                 if words and words in {_norm(n) for n in (name, *names)}), None)


_RESULT = re.compile(r"(?P<comparator><=|>=|≤|≥|<|>)?\s*(?P<value>\d[\d.,]*)\s*(?P<unit>.*)")
_COMPARATORS = {"≤": "<=", "≥": ">="}


def _test_result(text: str, row: _Row, key: str) -> dict[str, Any]:
    """A test column's cell ("ALT 1,250 U/L", "Cr 3.2 mg/dL", "INR 8.5", "> 1000" under "ALT (U/L)") as the test's
    value, comparator and UCUM unit; what is no number with a unit ("12 x ULN"), or a number that may be a
    thousand times off ("1.250" with no decimal mark in the map), kept as the result in words, with a note."""
    from reporter.lookup import to_ucum

    header, name = row.cells[key][0], key.removeprefix("test.").partition("#")[0]
    test: dict[str, Any] = {"name": name, "comments": f"column {header!r} of the listing"}
    names = sorted((name, *row.map.tests.names.get(name, [])), key=len, reverse=True)
    rest = re.sub(rf"^(?:{'|'.join(re.escape(n) for n in names)})\b[\s:=]*", "", text.strip(), flags=re.IGNORECASE)
    found = _RESULT.fullmatch(rest)
    times_uln = re.search(r"\buln\b", f"{rest} {header}", re.IGNORECASE)
    unit_text = found.group("unit").strip() if found else ""
    unit = (to_ucum(unit_text) if unit_text else _header_ucum(header)) if found and not times_uln else None
    if found and unit is None and not unit_text and name in row.map.tests.unitless:
        unit = "1"
    if found is None or unit is None:
        why = ("a multiple of the upper limit of normal, whose value the table does not give" if times_uln else
               "no number with a unit (in the cell or the header)")
        row.notes.append((row.where(key), f"note: {text!r} is {why}: kept as the result in words (F.r.3.4)"))
        in_header = times_uln and not re.search(r"\buln\b", rest, re.IGNORECASE)  # "Bilirubin (x ULN)" over "4.5"
        return {**test, "result_text": f"{text.strip()} x ULN" if in_header else text.strip()}
    comparator = found.group("comparator")
    try:
        value = parse_number(found.group("value"))
    except AmbiguousNumber as exc:  # kept in the author's words: the case loses no more than the value
        row.notes.append((row.where(key), f"warning: {exc}; until then kept as the result in words (F.r.3.4)"))
        return {**test, "result_text": text.strip()}
    return {**test, "value": value, "unit": unit,
            **({"comparator": _COMPARATORS.get(comparator, comparator)} if comparator else {})}


def _header_ucum(header: str) -> str | None:
    """The UCUM unit a header gives in brackets ("ALT (U/L)" -> U/L), else None."""
    from reporter.lookup import to_ucum

    m = re.search(r"[(\[]([^)\]]*)[)\]]", header)
    return to_ucum(m.group(1)) if m and m.group(1).strip() else None


def _ucum_dose(text: str) -> dict[str, Any]:
    """A dose cell as a number and a UCUM unit (a usual spelling mapped: 100 mcg -> 100 ug); ValueError for another
    unit ('10 mg/kg/dose'), which the row keeps as dosage text rather than a dose the case cannot send."""
    from reporter.lookup import to_ucum

    dose = parse_dose(text)
    unit = to_ucum(dose["unit"])  # as the form reads units: mcg -> ug, IU -> [IU] (mappings/ucum_input.yaml)
    if unit is None:
        raise ValueError(f"{dose['unit']!r} is not a UCUM unit")
    return {**dose, "unit": unit}


def _dose_cell(row: _Row, text: str) -> dict[str, Any]:
    """A dose cell as a number and a UCUM unit; a bare number takes its header's unit ("Dose (mg/day)": 200
    mg/d), and without one is no dose (ValueError: kept as the dosage text): '200' is not 20 of a unit '0'."""
    try:
        value = parse_number(text)
    except AmbiguousNumber:
        raise
    except ValueError:
        return _ucum_dose(text)
    unit = _header_dose_unit(row.cells["drug.dose"][0])
    if unit is None:
        raise ValueError(f"{text!r} has no unit")
    return {"value": value, "unit": unit}


def _header_dose_unit(header: str) -> str | None:
    """The UCUM unit a dose header gives in brackets ("Dose (mg/day)" -> mg/d), else None."""
    m = re.search(r"[(\[]([^)\]]*)[)\]]", header)
    try:
        return _ucum_dose(f"1 {m.group(1).strip()}")["unit"] if m else None
    except ValueError:
        return None


def _header_every(header: str, unit: str) -> dict[str, Any] | None:
    """How often a dose header says its doses were given ("Daily dose": every 1 d; mappings/cells.yaml
    dose_frequency words), for a dose whose unit is no rate already (mg/d); else None."""
    if "/" in unit and unit.rsplit("/", 1)[1] in TIME_UNITS.values():
        return None
    words = " " + _norm(re.sub(r"[(\[].*?[)\]]", " ", header)) + " "
    table = load_yaml("cells.yaml")["dose_frequency"]["words"]
    found = next((w for w in sorted(table, key=len, reverse=True) if w.isalpha() and len(w) > 4
                  and f" {_norm(w)} " in words), None)
    return None if found is None else {"value": float(table[found]["value"]), "unit": str(table[found]["unit"])}


def _dose_and_frequency(text: str) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """A dose cell that ends in how often ('1 g q12h', '500 mg twice daily'): (dose, interval), else None."""
    split = split_frequency(text)
    if split is None:
        return None
    try:
        return _ucum_dose(split[0]), split[1]
    except ValueError:
        return None


def _weight_kg(text: str) -> float:
    """A weight cell in kg ('12', '12 kg'); another unit is refused, not read as kg."""
    m = re.fullmatch(r"(?P<number>\S+?)\s*(?P<unit>[^\d\s.,]+)?", text.strip())
    if m is None or (m.group("unit") or "kg").lower() != "kg":
        _metric_only("kg")(text)  # '210 LB' (a FAERS export), '1980 g': refused with the kilograms to give
        raise ValueError(f"{text!r} is not a weight in kg: write the number of kilograms, e.g. 12.5")
    return parse_number(m.group("number"))


def _case_id(row: _Row) -> str:
    """A bare patient number ("12") or the row number is made unique with the prefix and the listing's name
    (patient 6 of one series is not patient 6 of another); a full id (GB-ACME-2024-1) is kept."""
    given = row.text("case_id")
    if _id_given(row):
        return str(given)
    # a row without its patient number in a listing that numbers patients: row 4 is not patient 4
    number = f"row{row.number}" if "case_id" in row.cells else str(row.number)
    given = _patient_number(given, row.map) if given else None  # 'Case 3', 'P3': patient 3 of this listing
    return "-".join(part for part in (row.map.case_id_prefix, row.listing, given or number) if part)


def _continues(row: _Row) -> bool:
    """Whether the row's case-id cell is empty (not a "not stated" word) in a listing with a case-id column:
    a further row of the patient above, whose id a table prints once (a merged cell)."""
    return "case_id" in row.cells and not row.cells["case_id"][1].strip()


# The cells that name a further row's drug and its reaction: left blank, as a merged cell prints them once
_PAIR = {"drug": ("drug.product", "drug.substance"), "reaction": ("reaction.term", "reaction.meddra_code")}


def _merged_cells(row: _Row, before: _Row) -> None:
    """A further row of a case that names a reaction but leaves its drug blank (or the other way round) under a
    merged cell: the drug (reaction) of the case's row above, with a note. A row naming neither is left as it is."""
    blank = [kind for kind, names in _PAIR.items() if not any(row.text(n) for n in names)]
    if len(blank) != 1:
        return
    names = [n for n in _PAIR[blank[0]] if n in before.cells and before.text(n)]
    for name in names:
        row.cells[name] = before.cells[name]
    if names:
        row.notes.append((row.where(names[0]), f"note: no {blank[0]}: read as the {blank[0]} of row {before.number} "
                          f"({before.text(names[0])!r}, a merged cell printed once for the case's rows)"))


def _id_given(row: _Row) -> bool:
    """Whether a cell gives the case's full id (one that may name the same case in another listing)."""
    given = row.text("case_id")
    return bool(given) and not _patient_number(str(given), row.map).isdigit()


def listing_name(path: str | Path) -> str:
    """The file's stem as it goes into case ids: letters, digits, '.', '_' and '-'."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", Path(path).stem)[:40]


def row_to_casefile(row: _Row, *, citation: str | None, received: str) -> dict[str, Any]:
    """The case-file dict of one row (before the model checks it)."""
    m, d = row.map, row.map.defaults
    drug_defaults = dict(d.get("drug") or {"id": "suspect", "role": "suspect"})
    drug_id = str(drug_defaults.get("id") or "suspect")

    case_id = _case_id(row)
    first_received = row.read("report.first_received", parse_date, m.date_order) or received
    data: dict[str, Any] = {
        "case_id": case_id,
        "report": {**(d.get("report") or {}), "first_received": first_received, "most_recent": first_received},
    }
    report_type = row.word("report.type", "report_type")
    if report_type:
        data["report"]["type"] = report_type
    country = row.text("country")
    if country is not None and not re.fullmatch(r"[A-Za-z]{2}", country):
        row.problems.append((row.where("country"), f"{country!r}: write the ISO 3166-1 alpha-2 code (e.g. FR, GB)"))
        country = None
    source = dict(d.get("primary_source") or {})
    if country:
        source["address"] = {**(source.get("address") or {}), "country": country.upper()}
    if source:
        data["primary_sources"] = [source]
    if d.get("sender"):
        data["sender"] = d["sender"]
    cite = row.text("literature.citation") or citation
    if cite:
        data["literature"] = [{"citation": cite}]

    patient: dict[str, Any] = {"initials": row.text("patient.initials") or {"absent": "unknown"}}
    sex = row.word("patient.sex", "sex")
    if sex:
        patient["sex"] = _sex_value(sex)
    elif row.stated_absent("patient.sex"):
        patient["sex"] = {"absent": "unknown"}
    age = row.read("patient.age", _age, row, m.age_unit, row.units.get("patient.age"))
    as_stated = []  # ages E2B cannot hold, in the author's words, for the narrative
    if age:
        as_stated.append(age.pop("as_stated", None))
        patient.update(age)
    both = row.read("patient.age_sex", _age_and_sex, row)
    if both:
        age, sex = both
        if age and not {"age_at_onset", "age_group"} & set(patient) and not any(as_stated):
            as_stated.append(age.pop("as_stated", None))
            patient.update(age)
        if sex and patient.get("sex") in (None, {"absent": "unknown"}):  # a blank Sex cell does not hide it
            patient["sex"] = _sex_value(sex)
    as_stated.append(_stated_age_group(row, patient))
    weight = row.read("patient.weight_kg", _weight_kg)
    if weight is not None:
        patient["weight_kg"] = weight
    if row.text("patient.history"):
        patient["history_text"] = row.text("patient.history")
    died = row.read("patient.death_date", parse_date, m.date_order)
    if died is not None:  # D.9.1: the case is of a death
        patient["death"] = {"date": died}
    data["patient"] = patient
    tests = [test for key in row.cells if key.startswith("test.") and (test := row.read(key, _test_result, row, key))]
    if tests:
        data["tests"] = tests

    reactions, drugs = items(row, "reaction"), items(row, "drug")
    roles = [_role(view, drug_defaults) for view in drugs]
    ids = [drug_id if index == 0 else f"{drug_id}-{index + 1}" for index in range(len(drugs))]
    suspects = [i for i, role in zip(ids, roles, strict=True) if role in _ASSESSED]
    data["reactions"] = [_reaction(view, f"r{index}", country, suspects[0] if len(suspects) == 1 else None)
                         for index, view in enumerate(reactions, start=1)]
    data["drugs"] = [_drug(view, {**drug_defaults, "id": i, "role": role or "suspect"})
                     for view, i, role in zip(drugs, ids, roles, strict=True)]
    data["drugs"] += [_drug(view, {**drug_defaults, "id": f"concomitant-{index}",
                                   "role": _role(view, {"role": "concomitant"}) or "concomitant"})
                      for index, view in enumerate(concomitants(row), start=1)]
    data["drugs"] = [d for d in data["drugs"] if "product" in d] or data["drugs"][:1]  # a nameless one is refused
    if len(suspects) * len(reactions) > 1:
        link_problem(row, len(suspects), len(reactions))
    for drug in data["drugs"]:
        drug["reactions"] = ([_link(row, reaction["id"]) for reaction in data["reactions"]]
                             if drug["role"] in _ASSESSED else [])
    treatment = row.text("treatment")
    narrative = [row.text("narrative"), *(f"Age as given in the listing: {text}" for text in as_stated if text),
                 f"Treatment of the reaction ({row.cells['treatment'][0]}): {treatment}" if treatment else None]
    if any(narrative):
        data["narrative"] = {"text": "\n\n".join(t for t in narrative if t)}
    return data


def _reaction(row: _Row, reaction_id: str, country: str | None, drug_id: str | None) -> dict[str, Any]:
    """One reaction of a row (`drug_id`: the suspect drug a relative time counts from; None when the row names
    several, and a relative time is then refused: from which?)."""
    m = row.map
    reaction: dict[str, Any] = {"id": reaction_id}
    if row.text("reaction.term"):
        reaction["verbatim"] = row.text("reaction.term")
        _several_reactions_note(row, reaction["verbatim"])
    elif (m.defaults.get("reaction") or {}).get("verbatim"):
        reaction["verbatim"] = m.defaults["reaction"]["verbatim"]
    code = row.text("reaction.meddra_code")
    version = row.text("reaction.meddra_version") or m.meddra_version
    if version and not code and row.text("reaction.meddra_version"):
        note = (f"row {row.number}", f"note: the reactions are MedDRA {version} terms without their codes: kept "
                "as the reported terms (E.i.1.1), the version not held (E2B carries a MedDRA version only with an "
                "LLT code)")
        if note not in row.notes:
            row.notes.append(note)
    if code:
        if not version:
            row.problems.append((row.where("reaction.meddra_code"),
                                 "MedDRA codes need their version: set meddra_version in the column map"))
        else:
            reaction["meddra"] = {"code": code, "version": version}
    for name, key in (("reaction.onset", "onset"), ("reaction.end", "end")):
        value = row.read(name, parse_when, drug_id or "", order=m.date_order, time_unit=m.time_unit,
                         header_unit=row.units.get(name))
        if isinstance(value, dict) and drug_id is None:
            row.problems.append((row.where(name), f"{row.text(name)!r} counts from the suspect drug, but the row "
                                 "names several: give a date, or one row per suspect drug with the case id"))
        elif value is not None:
            reaction[key] = value
    duration = row.read("reaction.duration", _duration, m.time_unit)
    if duration is not None:
        reaction["duration"] = duration
    outcome = row.word("reaction.outcome", "outcome")
    if outcome:
        reaction["outcome"] = outcome
    seriousness = _seriousness(row)
    if seriousness is None:
        seriousness = _seriousness_not_stated(m.defaults)
    if outcome == "fatal":
        seriousness["death"] = True  # a reaction that resulted in death is serious by that criterion
    reaction["seriousness"] = seriousness
    if country:
        reaction["country"] = country.upper()
    return reaction


_UNNAMED = "a drug without its name"
_NO_REACTION = "no reaction"
_TERMLESS = "a reaction needs the term"  # the case model's message for a reaction without term or code
_ASSESSED = ("suspect", "interacting")  # drug roles whose reactions the row's drugs are assessed against


def _role(row: _Row, drug_defaults: dict[str, Any]) -> str | None:
    """The drug's role (G.k.1): its cell's (EudraVigilance's S, I, C: values.role), else the map's default."""
    return row.word("drug.role", "role") if row.text("drug.role") else str(drug_defaults.get("role") or "suspect")


def _drug(row: _Row, drug: dict[str, Any]) -> dict[str, Any]:
    """One drug of a row (`drug`: its id, role and the map's defaults), without its assessments (the row's
    links are made once its reactions are known)."""
    row, written = _dose_in_name(row)
    drug = _drug_of(row, drug)
    if written:  # the author's words after the name: the dosage text, whatever of them was read
        dosage = drug.setdefault("dosages", [{}])[0]
        other = dosage.get("text")  # a dosing column's words
        dosage["text"] = f"{written}; {other}" if other and not set(other.split()) <= set(written.split()) \
            else written
    return drug


# A dose in a drug cell: a number (or a range) and a unit ("200 mg", "1.5 g/day", "400-600 mg") not inside a name
# ("B12", "5-FU", "160/800")
_DOSE_IN_TEXT = re.compile(r"(?<![\w.,/-])(?P<value>\d+(?:[.,]\d+)*(?:\s*[-–]\s*\d+(?:[.,]\d+)*)?)"
                           r"\s*(?P<unit>[A-Za-zµ%[][^\s(),;]*)")


def _dose_in_name(row: _Row) -> tuple[_Row, str | None]:
    """A drug cell that gives the dose, route and how often after the name ("Amiodarone 200 mg PO daily",
    "Amiodarone IV 150 mg bolus"), as reviews of published cases print them, in a listing with no dose column:
    the row seen with the name as the product and the dose and route as their cells, and the words after the
    name (kept as the dosage text). (row, None) when the cell gives no dose after a name."""
    text = row.text("drug.product")
    if text is None or "drug.dose" in row.cells or _names_several(text):
        # a listing with a dose column (an empty cell there, a strength in the product's name: 'Clozaril 100 mg
        # tablets' in a database export) or 'Amiodarone 200 mg + warfarin 5 mg': not cut into product and dosage
        return row, None
    strengths = tuple(load_yaml("cells.yaml")["strength_units"])
    found = next((m for m in _DOSE_IN_TEXT.finditer(text) if m.start() and _is_dose_unit(m.group("unit"))
                  and not m.group("unit").lower().endswith(strengths)), None)
    if found is None:
        return row, None
    name, rest = text[:found.start()].strip(" ,;:([-"), text[found.start():].strip(" ,;:)]")
    words = name.split()
    route = [w for w in words[1:] if _route_key(w, row.map)]  # "Amiodarone IV 150 mg": the route before the dose
    name = " ".join(w for w in words if w not in route or w == words[0])
    route += [w for w in rest.split() if _route_key(w.strip(",;()"), row.map)]
    if not name:
        return row, None
    header = row.cells["drug.product"][0]
    dose = " ".join(w for w in rest.split() if w not in route)
    if _dose_and_frequency(dose) is None and not _is_dose_unit(dose.partition(" ")[2] or "?"):
        dose = found.group(0)  # '150 mg bolus': the dose is 150 mg, the rest words of the dosage text
    cells = {"drug.product": (header, name), "drug.dose": (header, dose)}
    if route and row.text("drug.route") is None:
        cells["drug.route"] = (header, route[0].strip(",;()"))
    from reporter.casefile.items import _view

    view = _view(row, cells, row.item_label)
    view.item_fields = row.item_fields
    written = " ".join(w for w in words[1:] if w in route) + " " + rest
    row.notes.append((row.where("drug.product"), f"note: {text!r} read as the product {name!r} and its dosage "
                      f"{written.strip()!r} (dose, route and how often where they read; the words kept as the "
                      "dosage text)"))
    return view, written.strip()


def _drug_of(row: _Row, drug: dict[str, Any]) -> dict[str, Any]:
    drug_id = drug["id"]
    product = row.text("drug.product") or row.text("drug.substance")
    if product:
        drug["product"] = product
        _several_drugs_note(row, product)
    elif row.item_fields:
        row.problems.append((row.where("drug.product"), f"{_UNNAMED}: give the product (or substance) of every "
                             "drug the row lists"))
    if row.text("drug.substance"):
        drug["substances"] = [{"name": row.text("drug.substance")}]
    dosage = _dosage(row, drug_id)
    if dosage:
        drug["dosages"] = [dosage]
    if row.text("drug.indication"):
        drug["indications"] = [{"text": row.text("drug.indication")}]
    action = row.word("drug.action_taken", "action_taken")
    if action:
        drug["action_taken"] = action
    return drug


def _dosage(row: _Row, drug_id: str) -> dict[str, Any]:
    m = row.map
    dosage: dict[str, Any] = {}
    texts = []
    dose_text = row.text("drug.dose")
    if dose_text is not None:
        try:
            dosage["dose"] = _dose_cell(row, dose_text)
            every = _header_every(row.cells["drug.dose"][0], dosage["dose"]["unit"])
            if every is not None:  # "Daily dose": 4 g -> 4 g every 1 d, the cell as written kept as the text
                dosage["every"] = every
                texts.append(f"{dose_text} ({row.cells['drug.dose'][0]})")
        except AmbiguousNumber as exc:  # a dose off by a thousand is worse than none: refused
            row.problems.append((row.where("drug.dose"), str(exc)))
        except ValueError:  # '1-2 mg/kg', '2 x 500 mg': the author's words are the dosage text, not lost
            texts.append(dose_text)
            regimen = _dose_and_frequency(dose_text)
            if regimen is not None:  # '1 g q12h', '500 mg bid': the dose and its interval, the words kept too
                dosage["dose"], dosage["every"] = regimen
            else:
                row.notes.append((row.where("drug.dose"), f"note: {dose_text!r} is not a number and a UCUM unit: "
                                                          "kept as the dosage text (G.k.4.r.8)"))
    route_text = row.text("drug.route")
    route_key = _route_key(route_text, m) if route_text else None
    dosing = row.word("drug.dosing", "dosing")
    if dosing and (route_key is None or route_key.startswith("intravenous")):
        route_key = {"continuous": "intravenous-drip", "bolus": "intravenous-bolus"}.get(dosing, route_key)
    if route_key or route_text:
        dosage["route"] = {k: v for k, v in (("code", route_key), ("text", route_text)) if v}
    if dosing:
        texts.append(row.text("drug.dosing"))
    if row.text("drug.dose_number"):  # no E2B element of its own (a vaccine's dose in its series)
        texts.append(f"dose number {row.text('drug.dose_number')}")
    if row.text("drug.batch"):
        dosage["batch"] = row.text("drug.batch")
    if texts:
        dosage["text"] = "; ".join(texts)
    for name, key in (("drug.start", "start"), ("drug.stop", "stop")):
        value = row.read(name, parse_when, drug_id, order=m.date_order, time_unit=m.time_unit,
                         header_unit=row.units.get(name))
        if value is not None:
            dosage[key] = value
    duration = row.read("drug.duration", _duration, m.time_unit)
    if duration is not None:
        dosage["duration"] = duration
    return dosage


def _link(row: _Row, reaction_id: str) -> dict[str, Any]:
    """The drug's assessment of one reaction: what the row's dechallenge, rechallenge and causality say (only
    a row of one drug and one reaction states them; link_problem refuses the others)."""
    link: dict[str, Any] = {"reaction": reaction_id}
    for name, key in (("drug.dechallenge", "dechallenge"), ("drug.rechallenge", "rechallenge")):
        value = row.word(name, key)
        if value:
            link[key] = value
    if row.text("drug.causality"):
        causality = dict(row.map.defaults.get("causality") or {"source": "Sender", "method": "Global introspection"})
        for text in (row.cells["drug.causality"][0], row.text("drug.causality")):
            method = _method_named(str(text))
            if method:
                causality["method"] = method
        link["causality"] = [{**causality, "result": row.text("drug.causality")}]
    return link


_DURATION = re.compile(r"^(?P<value>\d+(?:[.,]\d+)?)\s*(?P<unit>[a-z]+)?\.?$")


def _duration(text: str, time_unit: str) -> dict[str, Any]:
    """A duration cell ('7d', '10min', '3 weeks'; a bare number in the map's time unit) as a UCUM quantity."""
    m = _DURATION.match(text.strip().lower())
    unit = TIME_UNITS.get(m.group("unit") or "") if m and m.group("unit") else time_unit if m else None
    if m is None or unit is None:
        raise ValueError(f"{text!r} is not a duration: write a number with a time unit, e.g. 7 d, 10 min, 3 wk")
    return {"value": parse_number(m.group("value")), "unit": unit}


def _several_reactions_note(row: _Row, term: str) -> None:
    """Say so when a reaction cell not listed as a list in the map may name several reactions
    ('Myalgia;Rhabdomyolysis'): it stays one reaction as written."""
    if row.item_label or "reaction.term" in row.map.lists:
        return
    names = [n for n in re.split(_joins_pattern("several_reactions"), term, flags=re.IGNORECASE) if n.strip()]
    if len(names) > 1:
        row.notes.append((row.where("reaction.term"), f"note: {term!r} may name {len(names)} reactions: kept as one "
                          "reaction as written; to read each, list the column under `lists` in the column map "
                          "(reaction.term: {separators: [';']})"))


def _joins_pattern(key: str) -> str:
    joins = load_yaml("cells.yaml")[key]
    return rf"\s*(?:{'|'.join(re.escape(j) for j in joins)})\s*"


def _names_several(product: str) -> bool:
    """Whether a drug cell may name several drugs (mappings/cells.yaml several_drugs)."""
    return len([n for n in re.split(_joins_pattern("several_drugs"), product, flags=re.IGNORECASE) if n.strip()]) > 1


def _several_drugs_note(row: _Row, product: str) -> None:
    """Say so when a drug cell may name several drugs ('vancomycin + piperacillin-tazobactam'): it stays one
    product as written (splitting it could break a combination product apart), each drug then unassessed."""
    joins = load_yaml("cells.yaml")["several_drugs"]
    pattern = "|".join(re.escape(j) for j in joins)
    names = [n.strip() for n in re.split(rf"\s*(?:{pattern})\s*", product, flags=re.IGNORECASE) if n.strip()]
    if len(names) > 1:
        name = "drug.product" if row.text("drug.product") else "drug.substance"
        row.notes.append((row.where(name), f"note: {product!r} may name {len(names)} drugs ({', '.join(names)}): "
                          "kept as one product as written; to report each as a suspect with its own assessment, "
                          "give each its own row with the case id"))


def _method_named(text: str) -> str | None:
    """The one assessment method a causality header or cell names (mappings/cells.yaml causality.methods)."""
    padded = f" {_norm(text)} "
    named = {method for method, words in load_yaml("cells.yaml")["causality"]["methods"].items()
             if any(f" {_norm(w)} " in padded for w in words)}
    return named.pop() if len(named) == 1 else None


def _column_for(path: str, row: _Row) -> str:
    """The row and column a case-file path came from (any reaction or drug of the row: reactions[1] as
    reactions[0])."""
    best = None
    given, path = path, re.sub(r"^(reactions|drugs)\[\d+\]", r"\1[0]", path)
    path = re.sub(r"(\.reactions|\.dosages)\[\d+\]", r"\1[0]", path)
    for name, prefixes in _PATHS.items():
        for prefix in prefixes:
            covers = path == prefix or path.startswith((prefix + ".", prefix + "["))
            if covers and (best is None or len(prefix) > best[1]):
                best = (name, len(prefix))
    if best and best[0] in row.cells:
        return row.where(best[0])
    return f"row {row.number}, {given}"


def _same_drug_ids(data: dict[str, Any], renamed: dict[str, str]) -> None:
    """Point the row's relative times and drugs at the drugs' ids in the merged case (old id -> new, at once)."""
    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("drug") in renamed and "value" in node:
                node["drug"] = renamed[node["drug"]]
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(data["reactions"])
    walk(data["drugs"])
    for drug in data["drugs"]:
        drug["id"] = renamed.get(drug["id"], drug["id"])


def _reaction_key(reaction: dict[str, Any]) -> tuple[str, str | None]:
    return reaction.get("verbatim", "").lower(), (reaction.get("meddra") or {}).get("code")


def merge_rows(parts: list[tuple[_Row, dict[str, Any]]]) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """One case from the rows that share a case id (one row per patient-drug-reaction): patient and report
    from the first row (a later row may fill a blank, not contradict), one reaction per distinct reaction,
    one drug per distinct drug, and each row's drug-reaction assessments."""
    import copy

    first_row, base = parts[0]
    base = copy.deepcopy(base)
    problems: list[tuple[str, str]] = []
    reactions = {_reaction_key(r): r["id"] for r in base["reactions"]}
    drugs = {str(d.get("product", "")).lower(): d for d in base["drugs"]}
    root = base["drugs"][0]["id"]
    for row, data in parts[1:]:
        data = copy.deepcopy(data)
        problems += _merge_patient(base["patient"], data["patient"], row, first_row)
        _same_drug_ids(data, _drug_ids(data["drugs"], drugs, root))
        ids: dict[str, tuple[str, dict[str, Any] | None]] = {}  # the row's reaction id -> the case's, onset
        for reaction in data["reactions"]:
            key = _reaction_key(reaction)
            if key in reactions:
                ids[reaction["id"]] = (reactions[key], reaction.get("onset"))
                continue
            ids[reaction["id"]] = (f"r{len(reactions) + 1}", None)
            reactions[key] = reaction["id"] = ids[reaction["id"]][0]
            base["reactions"].append(reaction)
        for drug in data["drugs"]:
            drug["reactions"] = [_merged_link(link, drug["id"], *ids[link["reaction"]]) for link in drug["reactions"]]
            name = str(drug.get("product", "")).lower()
            if name not in drugs:
                drugs[name] = drug
                base["drugs"].append(drug)
                continue
            known = drugs[name]
            for link in drug["reactions"]:
                if all(existing.get("reaction") != link["reaction"] for existing in known["reactions"]):
                    known["reactions"].append(link)
            for dosage in drug.get("dosages", []):
                if dosage not in known.setdefault("dosages", []):
                    known["dosages"].append(dosage)
    return base, problems


def _drug_ids(row_drugs: list[dict[str, Any]], drugs: dict[str, dict[str, Any]], root: str) -> dict[str, str]:
    """The case's id of each of a further row's drugs: the listed drug's of the same name, else a new one."""
    renamed: dict[str, str] = {}
    used = {d["id"] for d in drugs.values()}
    for drug in row_drugs:
        name = str(drug.get("product", "")).lower()
        if name in drugs:
            renamed[drug["id"]] = drugs[name]["id"]
            continue
        number = len(used) + 1
        while f"{root}-{number}" in used:
            number += 1
        renamed[drug["id"]] = f"{root}-{number}"
        used.add(renamed[drug["id"]])
    return renamed


def _merged_link(link: dict[str, Any], drug_id: str, reaction_id: str, onset: dict[str, Any] | None) -> dict[str, Any]:
    """A further row's assessment, pointed at the case's reaction. A reaction already listed keeps the onset of
    the row that listed it; this row's onset, if counted from this drug's first dose, is the drug's onset
    interval (G.k.9.i.3.1)."""
    out = {**link, "reaction": reaction_id}
    if isinstance(onset, dict) and onset.get("anchor") == "first-dose" and onset.get("drug") == drug_id:
        out["onset_after_first_dose"] = {"value": onset["value"], "unit": onset["unit"]}
    return out


def _merge_patient(patient: dict[str, Any], other: dict[str, Any], row: _Row, first_row: _Row) -> list[tuple[str, str]]:
    """Fill the case's patient from a further row; what contradicts the first row is a problem of that row."""
    problems = []
    for key, value in other.items():
        if value == {"absent": "unknown"}:
            continue
        if key in patient and patient[key] not in (value, {"absent": "unknown"}):
            field_name = {"age_at_onset": "patient.age", "age_group": "patient.age", "sex": "patient.sex",
                          "initials": "patient.initials", "weight_kg": "patient.weight_kg",
                          "history_text": "patient.history"}.get(key, key)
            problems.append((row.where(field_name), f"differs from row {first_row.number}, the case's first "
                             "row (rows of one case must agree on the patient)" + (
                                 "; the row has no case id, so it was read as that case's further row: give "
                                 "it its own case id" if _continues(row) else "")))
        else:
            patient[key] = value
    return problems


def import_listing(path: str | Path, listing_map: ListingMap | None = None, *, citation: str | None = None,
                   received: str | None = None, validate: bool = True, jobs: int | None = 1,
                   progress: Callable[[list, Iterator], Iterator] | None = None,
                   joins: list[str | Path] = ()) -> ListingResult:
    """Every row of the listing as a case file and Bundle, with its problems by row and column.

    The sheet is read and its rows grouped into cases here; each case (model, Bundle, validation) is then a
    job of its own, run on `jobs` processes (None: every core; see reporter.batch). `progress(cases, results)`
    may wrap the results as they come (the CLI's progress bar). The result is the same for any `jobs`.
    `joins`: files whose rows are joined to the listing's by the map's `joins.key` column (reporter.casefile.joins)."""
    from reporter import batch

    listing_map = listing_map or load_map()
    received = received or dt.date.today().isoformat()
    # a header the map lists wins over a field's own name ("Patient Age Group" listed under patient.age is
    # not the field patient.age_group)
    aliases = {_alias(name): name for name in listing_map.columns}
    aliases.update({_alias(a): name for name, words in listing_map.columns.items() for a in words})
    read = _joined(path, joins, listing_map)
    sheet, notes = _layout(read, listing_map, aliases, str(path))
    notes = [*read.notes, *notes]
    columns: dict[str, int] = {}
    used: dict[str, str] = {}
    ignored = []
    shared = {_norm(h): fields for h, fields in listing_map.shared_headers.items()}
    given = {_field_of(h, aliases) for h in sheet.headers if _shared_key(h) not in shared}
    for index, header in enumerate(sheet.headers):
        name = _field_of(header, aliases)
        if _shared_key(header) in shared:
            name = next((f for f in shared[_shared_key(header)] if f not in given), name)
        if name in columns:
            notes.append(f"column {header!r} not read: {name} is read from column {used[name]!r}")
        elif name is None and (test := lab_test(header, listing_map)):
            columns[f"test.{test}#{index}"] = index
            used[f"test.{test}#{index}"] = header
        elif name is None:
            if header:
                ignored.append(header)
            elif any(index < len(cells) and cells[index].strip() for _n, cells in sheet.rows):
                notes.append(f"column {_letter(index)} has no header: its cells are not read")
        else:
            columns[name] = index
            used[name] = header
    # Here only the rows' cells and case ids (to group a case's rows); the rest of each row is the job's
    groups: dict[str, list[_Row]] = {}
    above: _Row | None = None  # the last row whose cell gave a case id
    signed = frozenset(name for name, i in columns.items()
                       if any(i < len(cells) and cells[i].strip() == "+" for _n, cells in sheet.rows))
    last: tuple[_Row, list[str]] | None = None  # the row before, and its cells
    for number, cells in sheet.rows:
        if last is not None and _carries_on(cells, last[1], columns):
            notes.append(_join_text(last, number, cells, columns, sheet.headers))
            continue
        row = _Row(listing_map, number, {name: (used[name], cells[i] if i < len(cells) else "")
                                         for name, i in columns.items()}, listing_name(path))
        row.signed = signed
        last = (row, list(cells))
        if above is not None and _continues(row):
            row.notes.append((row.where("case_id"), f"note: no case id: read as a further row of the case of row "
                              f"{above.number} (the cell left blank under it, as tables print one patient's rows)"))
            _merged_cells(row, groups[_case_id(above)][-1])
            groups[_case_id(above)].append(row)
            continue
        above = row if row.text("case_id") else None
        groups.setdefault(_case_id(row), []).append(row)
    notes += [note for name, index in columns.items() if name in _DATE_FIELDS
             for note in _date_order_notes(used[name], [(n, cells[index]) for n, cells in sheet.rows
                                                        if index < len(cells)], listing_map.date_order)]
    cases = [CaseRows(rows, listing_map, citation, received, validate) for rows in groups.values()]
    if jobs != 1 and len(cases) > 1:
        batch.warm()
    done = batch.run(case_of_rows, cases, jobs)
    results: list[RowResult] = [r for rows in (progress(cases, done) if progress else done) for r in rows]
    results.sort(key=lambda r: r.row)
    return ListingResult(str(path), results, used, ignored, notes)


def _joined(path: str | Path, joins: list[str | Path], listing_map: ListingMap) -> Sheet:
    """The listing's sheet, with the joined files' rows and the criteria columns read into it."""
    read = read_sheet(path)
    if joins:
        if listing_map.joins is None:
            raise InputError("files to join, but the column map names no key column to join them by",
                             hint="add joins: {key: [<key column header>]} to the column map")
        read = join_sheets(read, [(Path(j).name, read_sheet(j)) for j in joins], listing_map.joins, Path(path).name)
    if listing_map.criteria_columns is not None:
        header = next(iter(listing_map.columns.get("reaction.seriousness") or []), "reaction.seriousness")
        read = criteria_column(read, listing_map.criteria_columns, header)
    return read


# Fields of text a PDF export may break over two lines, besides _FREE_TEXT (mappings/cells.yaml continued_text)
_MORE_TEXT = frozenset({"literature.citation", "narrative", "drug.dose", "drug.dosing", "treatment"})


def _carries_on(cells: list[str], before: list[str], columns: dict[str, int]) -> bool:
    """Whether a row is the second line of the row before, broken by a PDF export ("Myocarditis with" /
    "complete heart block"): no case id, only cells of text (or of columns no field reads), not a drug and a
    reaction of its own (a further row of the case above), and one of them carrying on the cell above it: the
    cell above ends in an open word ("with", ",", "+") or this one starts with one ("and ..."); in a listing
    without case ids (where such a row could be no case), a cell starting in lower case carries on too."""
    def cell(values: list[str], index: int) -> str:
        return values[index].strip() if index < len(values) else ""

    fields = {index: name for name, index in columns.items()}
    filled = [i for i in range(len(cells)) if cell(cells, i)]
    if not filled or ("case_id" in columns and cell(cells, columns["case_id"])):
        return False
    kinds = {fields[i].partition("#")[0].partition(".")[0] for i in filled if i in fields
             and fields[i].partition("#")[0] in ("drug.product", "drug.substance", "reaction.term")}
    if kinds == {"drug", "reaction"} or any(
            i in fields and fields[i].partition("#")[0] not in _FREE_TEXT | _MORE_TEXT for i in filled):
        return False
    ends = load_yaml("cells.yaml")["continued_text"]["open_ends"]
    return any(cell(before, i) and (_open_end(cell(before, i), ends) or _open_start(cell(cells, i), ends)
                                    or ("case_id" not in columns and cell(cells, i)[0].islower()))
               for i in filled)


def _open_end(text: str, ends: list[str]) -> bool:
    last = text.split()[-1].lower() if text.split() else ""
    return any(text.endswith(end) if not end[0].isalpha() else last == end for end in ends)


def _open_start(text: str, ends: list[str]) -> bool:
    """Whether a cell starts with a joining word or mark ("and peripheral neuropathy", "+ ipilimumab")."""
    first = text.split()[0].lower() if text.split() else ""
    return any(text.startswith(end) if not end[0].isalpha() else first == end
               for end in ends if end not in ("(", "the", "-", "–"))


def _join_text(last: tuple[_Row, list[str]], number: int, cells: list[str], columns: dict[str, int],
               headers: list[str]) -> str:
    """The row before with this row's text added to its cells (and to its row's cells a field reads); the note
    saying so."""
    row, before = last
    fields = {index: name for name, index in columns.items()}
    joined = []
    for i, text in enumerate(c.strip() for c in cells):
        if not text:
            continue
        before += [""] * (i + 1 - len(before))
        above = before[i].strip()
        before[i] = f"{above}{text}" if above.endswith(("-", "/")) else f"{above} {text}".strip()
        if i in fields:
            row.cells[fields[i]] = (row.cells[fields[i]][0], before[i])
        joined.append(f"{headers[i] if i < len(headers) and headers[i] else _letter(i)} {before[i]!r}")
    return (f"row {number} read as the rest of row {row.number}'s text (a cell broken over two lines, as tables "
            f"copied from a PDF print them; give it its case id if it is a row of its own): {'; '.join(joined)}")


def _shared_key(header: str) -> str:
    return _norm(re.sub(r"\(.*?\)", " ", header))


def _field_of(header: str, aliases: dict[str, str]) -> str | None:
    """The field a header names; 'field#N' for a numbered column ("Drug 2" under an alias "drug {n}")."""
    for text in (header, re.sub(r"\(.*?\)", " ", header)):
        key = _norm(text)
        if key in aliases:
            return aliases[key]
        numbered = re.fullmatch(r"(.*?)\s*(\d+)", key)
        if numbered and f"{numbered.group(1)} {{n}}" in aliases:
            return f"{aliases[numbered.group(1) + ' {n}']}#{int(numbered.group(2))}"
    return None


def _alias(header: str) -> str:
    """A header alias as headers are compared; "drug {n}" (numbered columns) keeps its '{n}'."""
    head, numbered, _ = header.partition("{n}")
    return f"{_norm(head)} {{n}}" if numbered else _norm(header)


def _letter(index: int) -> str:
    """The spreadsheet letter of a column (0 -> A, 26 -> AA)."""
    out = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        out = chr(65 + rest) + out
    return out


def _layout(sheet: Sheet, listing_map: ListingMap, aliases: dict[str, str], where: str) -> tuple[Sheet, list[str]]:
    """The table one row per patient: a transposed one (a column per patient, as series of a few patients
    print them) is turned; the map's `layout` says which, else the first column naming more mapped fields
    than the best header row does."""
    rows = [(sheet.header_row, sheet.headers), *sheet.rows]
    by_row = max((_mapped_count(cells, aliases) for _n, cells in rows[:10]), default=0)
    column, by_column = _characteristic_column(rows, aliases)
    if listing_map.layout == "columns" or (listing_map.layout is None and by_column >= 3 and by_column > by_row):
        return _transposed(rows, column, aliases, listing_map, where)
    return _table(sheet, aliases, where, frozenset(_norm(w) for w in listing_map.summary_rows))


def _mapped_count(cells: list[str], aliases: dict[str, str]) -> int:
    return sum(1 for c in cells if c.strip() and _field_of(c, aliases))


def _characteristic_column(rows: list[tuple[int, list[str]]], aliases: dict[str, str]) -> tuple[int, int]:
    """(index, count) of the column among the first three naming the most mapped fields (row headers)."""
    counts = [_mapped_count([cells[i] if i < len(cells) else "" for _n, cells in rows], aliases) for i in range(3)]
    best = max(range(3), key=lambda i: (counts[i], -i))
    return best, counts[best]


def _transposed(rows: list[tuple[int, list[str]]], column: int, aliases: dict[str, str], listing_map: ListingMap,
                where: str) -> tuple[Sheet, list[str]]:
    """One row per patient column of a table printing one column per patient and one row per characteristic.
    Rows of one cell (a title, a footnote) are skipped, and said; the row above the first characteristic
    that labels the columns ("Patient 1") gives each patient's number. Each patient keeps its sheet column's
    number (B = 2) as its row number."""
    notes, labels, body = [], None, []
    for number, cells in rows:
        if sum(1 for c in cells if c.strip()) <= 1 and not (len(cells) > column and _field_of(cells[column], aliases)):
            notes.append(f"row {number} skipped (a title or footnote): {' '.join(c for c in cells if c)[:100]}")
        elif not body and labels is None and _labels_row(cells, column, aliases):
            labels = cells
        else:
            body.append(cells)
    if not body:
        raise InputError("no mapped characteristic found in the table's first columns", location=where,
                         hint="name the rows as the map's `columns` do, or set `layout: rows`")
    width = max(len(cells) for cells in body)
    summary = frozenset(_norm(w) for w in listing_map.summary_rows)
    patients = [i for i in range(column + 1, width) if any(i < len(c) and c[i].strip() for c in body)]
    totals = [i for i in patients if labels and i < len(labels) and _is_summary([labels[i]], summary)]
    notes += [f"column {_letter(i)} skipped as a summary of the patients, not a case: {labels[i]}"
              for i in totals if labels]
    patients = [i for i in patients if i not in totals]
    groups = [labels[i] for i in range(column + 1, len(labels or [])) if _GROUP_SIZE.search(labels[i])]
    if groups or not patients:
        found = f"columns of groups of patients ({', '.join(groups)})" if groups else "only summary columns"
        raise InputError(f"no column of one patient: {found} in a table of one row per characteristic; a table of "
                         "aggregate figures holds no case to import", location=where,
                         hint="give the table of one patient per column or per row, or set `layout: rows`")
    names = [_unit_in_brackets(cells[column], aliases) for cells in body]
    notes += [f"row header {cells[column]!r} read as {name!r}" for cells, name in zip(body, names, strict=True)
              if name != cells[column]]
    headers = ["case id", *names]
    data = [(i + 1, [_patient_number(labels[i] if labels and i < len(labels) else "", listing_map),
                     *(cells[i] if i < len(cells) else "" for cells in body)]) for i in patients]
    notes.insert(0, f"read as one column per patient (row headers in column {_letter(column)}, patients in "
                    f"columns {', '.join(_letter(i) for i in patients)}): 'row N' below is the patient in the "
                    "sheet's column N (B = 2), 'column' the characteristic's row; `layout: rows` in the map "
                    "reads it as one row per patient")
    return Sheet(headers, data, 1), notes


# A column label giving a group's size ("Cases (n=12)"): the column sums several patients up
_GROUP_SIZE = re.compile(r"\bn\s*=\s*\d+", re.IGNORECASE)


def _labels_row(cells: list[str], column: int, aliases: dict[str, str]) -> bool:
    """Whether a row above the characteristics labels the patient columns ("Patient 1", "Case A"): its row
    header is empty or names the case id, or its other cells are no bare numbers but 1, 2, 3... (an unmapped
    "Age, years" is not)."""
    head = cells[column].strip() if len(cells) > column else ""
    if not head or _field_of(head, aliases) == "case_id":
        return True
    filled = [c.strip() for c in cells[column + 1:] if c.strip()]
    numbered = filled == [str(n) for n in range(1, len(filled) + 1)]  # "Characteristic | 1 | 2 | 3"
    return not _field_of(head, aliases) and (numbered or not any(re.fullmatch(r"\d+([.,]\d+)?", c) for c in filled))


def _unit_in_brackets(header: str, aliases: dict[str, str] | None = None) -> str:
    """A header giving its unit after a comma ("Age, years", "Weight, kg") as the bracketed form the
    columns and units are read from ("Age (years)"); any other header as it is, and so is a header of a field
    of text ("Author, year": the reference, not a number of years)."""
    m = re.fullmatch(r"(.+?),\s*([^,()]+)", header.strip())
    if not m or not (_norm(m.group(2)) in TIME_UNITS or _is_dose_unit(m.group(2))):
        return header
    if aliases and _field_of(m.group(1), aliases) in (_FREE_TEXT | _MORE_TEXT) - {"drug.dose"}:
        return header
    return f"{m.group(1)} ({m.group(2).strip()})"


def _is_dose_unit(text: str) -> bool:
    try:
        _ucum_dose(f"1 {text.strip()}")
    except ValueError:
        return False
    return True


def _patient_number(label: str, listing_map: ListingMap) -> str:
    """The patient's number of a label ("Patient 3", "Case #3", "P3", "#3" -> 3: the case-id headers and
    mappings/cells.yaml case_number_prefixes), else the label as it is."""
    prefixes = [*listing_map.columns.get("case_id", []), *load_yaml("cells.yaml")["case_number_prefixes"]]
    words = "|".join(re.escape(_norm(a)) for a in sorted(prefixes, key=len, reverse=True) if _norm(a))
    found = re.fullmatch(rf"(?:{words})?\s*(\d+)", _norm(label)) if words else None
    return found.group(1) if found else label.strip()


def _table(sheet: Sheet, aliases: dict[str, str], where: str,
           summary: frozenset[str] = frozenset()) -> tuple[Sheet, list[str]]:
    """The listing's table: its header is the first of the top rows naming the most mapped columns (a title
    or a merged group-header row above it is skipped, and said); notes under the table (rows of one cell
    after the last row of data) are not cases. InputError when no row names a mapped column."""
    rows = [(sheet.header_row, sheet.headers), *sheet.rows]
    counts = [sum(1 for c in cells if c.strip() and _field_of(c, aliases)) for _n, cells in rows[:10]]
    best = max(range(len(counts)), key=lambda i: (counts[i], -i))
    if counts[best] == 0:
        raise InputError("no mapped header found: no row at the top of the listing names a column of the map "
                         f"(first row: {', '.join(c for c in sheet.headers if c)[:120]})", location=where,
                         hint="name the columns as the map's `columns` do, or add the headers there")
    broken = _broken_header(rows[:10], counts, aliases)
    first = broken if broken is not None else best  # the header's (first) row
    notes = [f"row {n} above the header skipped: {' | '.join(c for c in cells if c)[:100]}"
             for n, cells in rows[:first]]
    headers, data = [h.strip() for h in rows[best][1]], rows[best + 1:]
    if broken is not None:
        best = broken + 1
        headers, data = _two_line_header(rows[broken][1], rows[best][1]), rows[best + 1:]
        notes.append(f"rows {rows[broken][0]} and {rows[best][0]} read as one header (names broken over two lines, "
                     f"as a PDF export prints them): {' | '.join(h for h in headers if h)[:100]}")
    bracketed = [_unit_in_brackets(h, aliases) for h in headers]
    notes += [f"column {h!r} read as {b!r}" for h, b in zip(headers, bracketed, strict=True) if h != b]
    headers = bracketed
    if best and broken is None:
        headers, named = _under_group(headers, rows[best - 1][1], aliases)
        notes += [f"column {old!r} read as {new!r}: its group header in row {rows[best - 1][0]} names the field"
                  for old, new in named]
    if data and _continues_header(headers, data[0][1], aliases):
        number, cells = data.pop(0)
        headers = _joined_header(headers, cells)
        notes.append(f"row {number} read as part of the header: {' | '.join(c for c in cells if c)[:100]}")
    # only a label column may say "Total": a reaction "Mean cell volume increased" is a patient's
    labels = [i for i, h in enumerate(headers) if _field_of(h, aliases) in (None, "case_id")]
    summaries = [(n, cells) for n, cells in data if _is_summary(cells, summary, labels)]
    notes += [f"row {n} skipped as a summary of the patients, not a case: {' | '.join(c for c in cells if c)[:100]}"
              for n, cells in summaries]
    data = [row for row in data if row not in summaries]
    footnotes = []
    while data and _is_footnote(data, headers, aliases):
        number, cells = data.pop()
        footnotes.insert(0, f"row {number} under the table skipped as a footnote: "
                            f"{' '.join(c for c in cells if c)[:100]}")
    return Sheet(headers, data, rows[best][0]), notes + footnotes


def _broken_header(rows: list[tuple[int, list[str]]], counts: list[int], aliases: dict[str, str]) -> int | None:
    """The first of two top rows that name more mapped columns joined cell by cell than any row alone ("Time to"
    over "onset (days)", "Age/" over "sex"): a header whose names a PDF export broke over two lines. None when
    no two rows do."""
    best, most = None, max(counts, default=0)
    for i in range(len(rows) - 1):
        joined = _two_line_header(rows[i][1], rows[i + 1][1])
        count = sum(1 for c in joined if c and _field_of(c, aliases))
        if count > most:
            best, most = i, count
    return best


def _two_line_header(top: list[str], below: list[str]) -> list[str]:
    """Two header rows joined cell by cell: 'Time to' + 'onset (days)', 'Age/' + 'sex' -> 'Age/sex'."""
    out = []
    for i in range(max(len(top), len(below))):
        a = top[i].strip() if i < len(top) else ""
        b = below[i].strip() if i < len(below) else ""
        out.append(f"{a}{b}" if a.endswith(("/", "-")) else f"{a} {b}".strip())
    return out


def _is_footnote(data: list[tuple[int, list[str]]], headers: list[str], aliases: dict[str, str]) -> bool:
    """Whether the last row is a note under the table: one cell, in the first column or under no mapped header,
    or reading as a note (long, or with ':' or '=', or after a footnote mark); not the rest of the cell above it
    ("2017 [4]" under "Adams et al.,": a line break of a PDF export) nor a short value under a mapped column
    ("Rhabdomyolysis" under "Reaction": a further row of the patient above)."""
    cells = data[-1][1]
    filled = [i for i, c in enumerate(cells) if c.strip()]
    if len(filled) != 1:
        return False
    index, text = filled[0], cells[filled[0]].strip()
    mapped = index < len(headers) and _field_of(headers[index], aliases) is not None
    above = data[-2][1][index].strip() if len(data) > 1 and index < len(data[-2][1]) else ""
    ends = load_yaml("cells.yaml")["continued_text"]["open_ends"]
    if above and _open_end(above, ends):
        return False
    marks = tuple(load_yaml("cells.yaml")["footnote"]["marks"])
    a_note = len(text) > 60 or ":" in text or "=" in text or text.startswith(marks)
    return not mapped or index == 0 or a_note


def _under_group(headers: list[str], group: list[str], aliases: dict[str, str]) -> tuple[list[str], list[tuple]]:
    """The header with a name no field claims ("Name", "Term") read under its group header ("Suspect drug",
    "Reaction", spanning the empty cells to its right) when the group names a field no other column gives:
    "Suspect drug (Name)". Returns the header and the (old, new) names changed."""
    claimed = {_field_of(h, aliases) for h in headers if h}
    out, named, above = list(headers), [], ""
    for i, header in enumerate(headers):
        above = group[i].strip() if i < len(group) and group[i].strip() else above
        field_name = _field_of(above, aliases) if above else None
        if header and field_name and field_name not in claimed and not _field_of(header, aliases):
            out[i] = f"{above} ({header})"
            named.append((header, out[i]))
            claimed.add(field_name)
    return out, named


def _is_summary(cells: list[str], summary: frozenset[str], labels: list[int] | None = None) -> bool:
    """Whether a row's first filled cell, in a column of `labels` (all when None), starts with a word of the
    map's `summary_rows` ("Total", "Median (range)"): a line summing the patients up, not one of them."""
    index = next((i for i, c in enumerate(cells) if c.strip()), None)
    if index is None or (labels is not None and index not in labels):
        return False
    first = _norm(cells[index])
    return any(first == word or first.startswith(word + " ") for word in summary)


def _is_unit(cell: str) -> bool:
    return bool(re.fullmatch(r"\(.+\)|\[.+\]", cell.strip()))


def _continues_header(headers: list[str], cells: list[str], aliases: dict[str, str]) -> bool:
    """Whether the row under the header is more of it: units ("(years)", "(mg/day)") under their columns, or
    the names under a group header ("ALT", "AST" under "Laboratory values"), no value under a mapped column."""
    filled = [(i, c.strip()) for i, c in enumerate(cells) if c.strip()]
    return bool(filled) and all(
        _is_unit(c) or not (i < len(headers) and headers[i] and _field_of(headers[i], aliases)) for i, c in filled)


def _joined_header(headers: list[str], cells: list[str]) -> list[str]:
    """The header with the row under it: a unit is added to its column's name ("Age (years)"); a name under
    a group header or an empty one is the column's name ("ALT")."""
    out = list(headers) + [""] * (len(cells) - len(headers))
    for i, cell in enumerate(c.strip() for c in cells):
        if cell:
            out[i] = f"{out[i]} {cell}".strip() if _is_unit(cell) else cell
    return out


# Cells kept as written (and the patient's number): a footnote mark after them ("hepatitisᵃ", "3†") is dropped,
# with a note
_FREE_TEXT = frozenset({"case_id", "reaction.term", "drug.product", "drug.substance", "drug.indication",
                        "patient.history", "drug.causality", "drug.concomitant"})
_DATE_FIELDS = ("drug.start", "drug.stop", "reaction.onset", "reaction.end", "report.first_received",
                "patient.death_date")


def _date_order_notes(header: str, cells: list[tuple[int, str]], order: str) -> list[str]:
    """The column's slash dates against the map's date_order: InputError when a date there can only be read
    in the other order (04/29/2021 is not DMY: its 05/06/2021 is then 6 May, not 5 June); a note when every
    such date could be read either way, saying which order was used."""
    only: dict[str, list[str]] = {"DMY": [], "MDY": []}
    ambiguous: list[str] = []
    for number, text in cells:
        m = _SLASH_DATE.match(text.strip())
        if not m:
            continue
        first, second = int(m.group(1)), int(m.group(2))
        if first > 12 >= second:
            only["DMY"].append(f"{text.strip()} (row {number})")
        elif second > 12 >= first:
            only["MDY"].append(f"{text.strip()} (row {number})")
        else:
            ambiguous.append(text.strip())
    other = "MDY" if order == "DMY" else "DMY"
    if only[other]:
        raise InputError(f"column {header!r}: {', '.join(only[other][:3])} can only be read as {other}, but the "
                         f"column map's date_order is {order}"
                         + (f" and {', '.join(only[order][:3])} only as {order}" if only[order] else ""),
                         hint=f"set date_order: {other} in the column map" if not only[order] else
                         "write the column's dates in one order (or as 2023-04-05)")
    if ambiguous and not only[order]:
        return [f"column {header!r}: its {len(ambiguous)} date(s) ({', '.join(ambiguous[:3])}"
                f"{', ...' if len(ambiguous) > 3 else ''}) read either way; read as {order} (date_order in the "
                "column map)"]
    return []


@dataclass
class CaseRows:
    """The rows of one case (a listing may give a case on several rows), as read from the sheet, with what
    reading them needs (a batch job's items of one chunk share the map: pickled once per chunk)."""

    rows: list[_Row]
    listing_map: ListingMap
    citation: str | None
    received: str
    validate: bool = True

    def parts(self) -> list[tuple[_Row, dict[str, Any]]]:
        """Each row with its case-file dict."""
        out = []
        for row in self.rows:
            if row.map is None:
                row.attach(self.listing_map)
            mark = DECIMAL_MARK.set(self.listing_map.decimal_mark)
            try:
                data = row_to_casefile(row, citation=self.citation, received=self.received)
            finally:
                DECIMAL_MARK.reset(mark)
            if not any("product" in drug and drug["role"] in _ASSESSED for drug in data["drugs"]) and not any(
                    message.startswith(_UNNAMED) for _w, message in row.problems):
                row.problems.append((f"row {row.number}", "no suspect drug: the listing needs a drug (or "
                                     "substance) column with a value on every row"))
            if not any(r.get("verbatim") or r.get("meddra") for r in data["reactions"]):
                row.problems.append((f"row {row.number}", f"{_NO_REACTION}: the listing needs a reaction (or MedDRA "
                                     "code) column with a value on every row; a series of one reaction, named in "
                                     "its title, may state it in the map (defaults: reaction: {verbatim: ...})"))
            out.append((row, data))
        return out


def case_of_rows(job: CaseRows) -> list[RowResult]:
    """One case of a listing through the case model, the Bundle and (if asked) validation: a RowResult for
    its first row (holding the case) and one for each further row merged into it. A batch job (picklable
    in and out)."""
    from reporter.fhir.build import build_bundle

    parts = job.parts()
    row, data = parts[0]
    number = row.number
    result = RowResult(number, data["case_id"], id_given=_id_given(row))
    later = [RowResult(r.number, data["case_id"], problems=list(dict.fromkeys(r.problems)), merged_into=number)
             for r, _ in parts[1:]]
    if len(parts) > 1:
        data, merge_problems = merge_rows(parts)
        for r in later:
            r.problems += [(w, msg) for w, msg in merge_problems if w.startswith(f"row {r.row},")]
        if any(r.problems for r in later):
            row.problems.append((f"row {number}", f"case {data['case_id']!r} has problems on its other rows "
                                 f"({', '.join(str(r.row) for r in later if r.problems)})"))
    try:
        case = CaseFile.model_validate(data)
    except ValidationError as exc:
        said = {message.partition(":")[0] for _w, message in row.problems}
        for err in exc.errors(include_url=False):
            where = _column_for(format_path(_clean_loc(tuple(err["loc"]))), row)
            message = err["msg"].removeprefix("Value error, ")
            if not (message.startswith(_TERMLESS) and _NO_REACTION in said):  # said once, with what to do
                row.problems.append((where, message))
        case = None
    result.problems = list(dict.fromkeys(row.problems))
    if case is not None and not result.problems:
        for where, message in case.dangling_relative_times():
            result.problems.append((_column_for(where, row), message))
    if case is not None and not result.problems:
        result.case = case
        result.bundle = build_bundle(case)
        if job.validate:
            from reporter.validation import validate_bundle

            report = validate_bundle(result.bundle, subject=f"row {number}")
            cells = _IssueCells(result.bundle, data, row)
            result.warnings = [(cells.where(i.location), f"{i.severity}: {i.message}")
                               for i in report.issues if i.severity in ("fatal", "error", "warning")]
            result.errors = sum(1 for i in report.issues if i.severity in ("fatal", "error"))
        result.warnings = [*(note for r, _ in parts for note in r.notes), *result.warnings]
    elif later:
        for r in later:
            r.problems = r.problems or [(f"row {r.row}", f"not imported: case {data['case_id']!r} has "
                                         f"problems on row {number}")]
    return [result, *later]


class _IssueCells:
    """A validation finding's Bundle location as the row and column it came from ('row 11, column 'Weight
    (kg)''), which the user can find in the listing; the Bundle path when no column gave it."""

    def __init__(self, bundle: dict[str, Any], data: dict[str, Any], row: _Row) -> None:
        from reporter.validation.casepath import CaseLines

        self.bundle, self.row, self.lines = bundle, row, CaseLines("", data)

    def where(self, location: str) -> str:
        path = self.lines.relabel(self.bundle, location)
        found = _column_for(path, self.row) if path != location else ""
        return found if ", column " in found else f"row {self.row.number}: {location}"


def casefile_json(case: CaseFile) -> dict[str, Any]:
    """The case file as stored beside its Bundle (what the case form edits)."""
    return case.model_dump(mode="json", by_alias=True, exclude_none=True)


def store_row(store: Any, result: RowResult, *, reason: str, listing: str = "", author: str | None = None) -> str:
    """Save a good row's case in the case store: a new case, or the next version of the case with the same
    id (an edited listing imported again). AlreadyStored when the stored version says the same (the listing
    read again); StoreConflict when the stored case came from another listing and no cell gave its id (the
    same row number of another series is another patient). Returns what was done, for the report."""
    from reporter.errors import NotFound
    from reporter.store.repository import case_id_for, case_key

    assert result.bundle is not None and result.casefile is not None
    author = author or f"{LISTING_AUTHOR}{listing}"
    try:  # its first version says where the stored case came from (one version read, not the whole history)
        first = store.read(case_id_for(*case_key(result.bundle)), 1)
    except NotFound:
        first = None
    if first is not None and not result.id_given and first.author != author:
        raise StoreConflict(f"case {result.case_id} is stored already, from {_origin(first.author)}: not stored "
                            "over it (another listing's case with the same id)",
                            hint="give each listing its own case_id_prefix, or a column with full case ids")
    stored = store.save(result.bundle, author=author, reason=reason, casefile=result.casefile)
    return f"stored as version {stored.version} of Bundle/{stored.case_id}"


LISTING_AUTHOR = "reporter import-listing "


def _origin(author: str) -> str:
    return f"listing {author.removeprefix(LISTING_AUTHOR)}" if author.startswith(LISTING_AUTHOR) else author
