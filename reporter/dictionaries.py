"""Dictionaries the user provides, read for the case form's look-ups: the LOINC table (Loinc.csv of a LOINC
release, REPORTER_LOINC_FILE) and a drug dictionary with RxNorm and ATC codes (REPORTER_DRUG_FILE: a CSV of
name, rxnorm, atc, substance; or RxNorm's RXNCONSO.RRF). The project ships neither (both are licensed or
large); each file is read once per path and modification time, and a file that cannot be used raises
InputError naming the file, the line and what is wrong."""

from __future__ import annotations

import csv
import heapq
import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from reporter import config
from reporter.errors import InputError

LOINC_CODE = re.compile(r"\d{1,7}-\d")
RXCUI = re.compile(r"\d{1,9}")
ATC = re.compile(r"[A-Z](\d\d([A-Z]([A-Z](\d\d)?)?)?)?")
# RxNorm term types kept from RXNCONSO.RRF: ingredients, brand names, clinical and branded drugs and packs.
RXNORM_TERM_TYPES = frozenset({"IN", "PIN", "MIN", "BN", "SCD", "SBD", "GPCK", "BPCK"})
# Columns of RXNCONSO.RRF (pipe-separated, no header) the reader needs, by position.
RRF_RXCUI, RRF_SAB, RRF_TTY, RRF_CODE, RRF_STR, RRF_SUPPRESS = 0, 11, 12, 13, 14, 16


@dataclass(frozen=True)
class Entry:
    """One look-up choice: code and label, the lower-case text searched, and the extra fields it fills."""

    code: str
    label: str
    text: str
    unit: str = ""
    rxnorm: str = ""
    atc: str = ""
    substance: str = ""


def loinc_table() -> list[Entry] | None:
    """The LOINC table of REPORTER_LOINC_FILE (None when not set); deprecated codes are left out."""
    path = config.get_path("loinc_file")
    return None if path is None else _read_loinc(str(path), _mtime(path, "REPORTER_LOINC_FILE"))


def drug_table() -> list[Entry] | None:
    """The drug dictionary of REPORTER_DRUG_FILE (None when not set)."""
    path = config.get_path("drug_file")
    if path is None:
        return None
    mtime = _mtime(path, "REPORTER_DRUG_FILE")
    return _read_rrf(str(path), mtime) if path.suffix.lower() == ".rrf" else _read_drug_csv(str(path), mtime)


def _mtime(path: Path, setting: str) -> tuple[int, int]:
    """The file's modification time and size: a changed file is read again."""
    try:
        stat = path.stat()
        return stat.st_mtime_ns, stat.st_size
    except OSError as exc:
        raise InputError(f"{setting}: cannot read {path} ({exc.strerror or exc})") from None


def _csv_rows(path: str, setting: str, required: set[str], any_of: set[str]) -> Iterator[tuple[int, dict]]:
    """(line number, row) of a CSV file with a header, after checking the header names the columns needed."""
    try:
        with open(path, encoding="utf-8-sig", newline="") as handle:
            reader = csv.DictReader(handle)
            columns = {c.strip() for c in reader.fieldnames or []}
            missing = sorted(required - columns) + ([f"one of {', '.join(sorted(any_of))}"]
                                                    if not any_of & columns else [])
            if missing:
                raise InputError(f"{setting}: {path} line 1: the header lacks {', '.join(missing)} "
                                 f"(found: {', '.join(sorted(columns)) or 'nothing'})")
            for row in reader:
                yield reader.line_num, row
    except OSError as exc:
        raise InputError(f"{setting}: cannot read {path} ({exc.strerror or exc})") from None
    except UnicodeDecodeError as exc:
        raise InputError(f"{setting}: {path} is not UTF-8 text ({exc.reason})") from None
    except csv.Error as exc:
        raise InputError(f"{setting}: {path}: not a readable CSV file ({exc})") from None


@lru_cache(maxsize=2)
def _read_loinc(path: str, mtime: tuple[int, int]) -> list[Entry]:
    entries = []
    for line, row in _csv_rows(path, "REPORTER_LOINC_FILE", {"LOINC_NUM"},
                               {"LONG_COMMON_NAME", "SHORTNAME", "COMPONENT"}):
        code = (row.get("LOINC_NUM") or "").strip()
        if not LOINC_CODE.fullmatch(code):
            raise InputError(f"REPORTER_LOINC_FILE: {path} line {line}: LOINC_NUM {code!r} is not "
                             "a LOINC code (digits, a hyphen, the check digit)")
        if (row.get("STATUS") or "").strip().upper() == "DEPRECATED":
            continue
        names = [(row.get(c) or "").strip() for c in ("LONG_COMMON_NAME", "SHORTNAME", "COMPONENT",
                                                      "DISPLAY_NAME", "CONSUMER_NAME", "RELATEDNAMES2")]
        label = next((n for n in names[:4] if n), code)
        entries.append(Entry(code, label, f"{code} {' '.join(names)}".lower(),
                             unit=(row.get("EXAMPLE_UCUM_UNITS") or "").strip()))
    return entries


@lru_cache(maxsize=2)
def _read_drug_csv(path: str, mtime: tuple[int, int]) -> list[Entry]:
    entries = []
    for line, row in _csv_rows(path, "REPORTER_DRUG_FILE", {"name"}, {"rxnorm", "atc"}):
        where = f"REPORTER_DRUG_FILE: {path} line {line}"
        name = (row.get("name") or "").strip()
        rxnorm, atc = (row.get("rxnorm") or "").strip(), (row.get("atc") or "").strip().upper()
        substance = (row.get("substance") or "").strip()
        if not name:
            raise InputError(f"{where}: the name is empty")
        if rxnorm and not RXCUI.fullmatch(rxnorm):
            raise InputError(f"{where}: rxnorm {rxnorm!r} is not an RxNorm RxCUI (digits only)")
        if atc and not ATC.fullmatch(atc):
            raise InputError(f"{where}: atc {atc!r} is not an ATC code (e.g. J01CR02)")
        entries.append(Entry(rxnorm or name, name, f"{name} {substance} {rxnorm} {atc}".lower(),
                             rxnorm=rxnorm, atc=atc, substance=substance))
    return entries


@lru_cache(maxsize=2)
def _read_rrf(path: str, mtime: tuple[int, int]) -> list[Entry]:
    """RxNorm concept names (SAB RXNORM, the term types above, not suppressed), each with the ATC code RxNorm
    attaches to the same concept (SAB ATC rows: ingredients; clinical drugs have none of their own)."""
    names: dict[tuple[str, str], str] = {}
    atc: dict[str, str] = {}
    try:
        with open(path, encoding="utf-8") as handle:
            for number, line in enumerate(handle, 1):
                fields = line.rstrip("\n").split("|")
                if len(fields) < 17:
                    raise InputError(f"REPORTER_DRUG_FILE: {path} line {number}: {len(fields)} fields where "
                                     "RXNCONSO.RRF has 18 (pipe-separated)")
                rxcui, source, tty = fields[RRF_RXCUI], fields[RRF_SAB], fields[RRF_TTY]
                if source == "ATC" and ATC.fullmatch(fields[RRF_CODE]) and len(fields[RRF_CODE]) == 7:
                    atc.setdefault(rxcui, fields[RRF_CODE])
                elif source == "RXNORM" and tty in RXNORM_TERM_TYPES and fields[RRF_SUPPRESS] in ("N", ""):
                    names.setdefault((rxcui, fields[RRF_STR]), tty)
    except OSError as exc:
        raise InputError(f"REPORTER_DRUG_FILE: cannot read {path} ({exc.strerror or exc})") from None
    except UnicodeDecodeError as exc:
        raise InputError(f"REPORTER_DRUG_FILE: {path} is not UTF-8 text ({exc.reason})") from None
    return [Entry(rxcui, name, f"{name} {rxcui} {atc.get(rxcui, '')}".lower(), rxnorm=rxcui,
                  atc=atc.get(rxcui, "")) for (rxcui, name) in names]


def words_of(words: str) -> list[str]:
    """The words of a look-up as every search here matches them: lower case, split at white space."""
    return [w for w in re.split(r"\s+", words.lower().strip()) if w]


def holds_all(text: str, wanted: list[str]) -> bool:
    """Whether `text` (lower case) holds every one of the `wanted` words."""
    return all(w in text for w in wanted)


def search(entries: list[Entry], words: str, limit: int) -> list[Entry]:
    """Entries holding every word, those whose code or label starts with the first word first, then the
    shorter labels (the plain ingredient before its many products)."""
    wanted = words_of(words)
    if not wanted:
        return []
    first = wanted[0]
    hits = (e for e in entries if holds_all(e.text, wanted))
    return heapq.nsmallest(limit, hits, key=lambda e: (
        not (e.code.lower().startswith(first) or e.label.lower().startswith(first)), len(e.label), e.label.lower()))
