"""Optional MedDRA dictionary (licensed; the project ships none). With REPORTER_MEDDRA_DIR pointing at a
MedDRA ASCII release, LLT codes are checked for existence and currency; without it, for form only."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

from reporter import config
from reporter.meddra.hierarchy import read_asc


@dataclass(frozen=True)
class MedDRADictionary:
    current: frozenset[str]
    noncurrent: frozenset[str]
    names: dict[str, str]

    def status(self, code: str) -> str:
        if code in self.current:
            return "current"
        if code in self.noncurrent:
            return "noncurrent"
        return "missing"


def load_llt_file(path: Path) -> MedDRADictionary:
    """llt.asc: '$'-separated fields: code, name, PT code, ..., currency flag (Y/N) in field 10."""
    current: set[str] = set()
    noncurrent: set[str] = set()
    names: dict[str, str] = {}
    for fields in read_asc(path):
        if len(fields) < 2:
            continue
        code = fields[0]
        names[code] = fields[1]
        is_current = len(fields) < 10 or fields[9].upper() != "N"
        (current if is_current else noncurrent).add(code)
    return MedDRADictionary(frozenset(current), frozenset(noncurrent), names)


@cache
def _load(directory: str) -> MedDRADictionary | None:
    base = Path(directory)
    for candidate in (base / "llt.asc", base / "MedAscii" / "llt.asc"):
        if candidate.is_file():
            return load_llt_file(candidate)
    return None


def meddra_dictionary() -> MedDRADictionary | None:
    directory = config.get("meddra_dir")
    return _load(directory) if directory else None
