"""LLT -> PT -> HLT -> HLGT -> SOC from a MedDRA ASCII release (REPORTER_MEDDRA_DIR).

The release is a folder of '$'-separated files, one record a line, each line ending with '$':

- ``llt.asc``: llt_code, llt_name, pt_code, (legacy codes...), llt_currency (field 10, Y/N)
- ``pt.asc``: pt_code, pt_name, (null), pt_soc_code (the PT's primary SOC), ...
- ``hlt.asc``, ``hlgt.asc``: code, name, ...; ``soc.asc``: soc_code, soc_name, soc_abbrev, ...
- ``hlt_pt.asc`` (hlt, pt), ``hlgt_hlt.asc`` (hlgt, hlt), ``soc_hlgt.asc`` (soc, hlgt): the links
- ``mdhier.asc``: pt, hlt, hlgt, soc codes, their four names, soc_abbrev, (null), pt_soc_code,
  primary_soc_fg (Y/N): every path of every PT, already joined
- ``meddra_release.asc`` (optional): version$language$

mdhier.asc is used when present; otherwise the paths are joined from the link files, with the primary
SOC taken from pt.asc. A PT may sit in several SOCs (multiaxiality); exactly one is primary.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from reporter import config
from reporter.dictionaries import holds_all, words_of
from reporter.errors import InputError

LEVELS = ("LLT", "PT", "HLT", "HLGT", "SOC")


def read_asc(path: Path) -> Iterator[list[str]]:
    """The records of one ASCII file: fields split on '$', the trailing empty field dropped; lines without
    a numeric first field (blank lines, a byte-order mark) are skipped."""
    with path.open(encoding="utf-8-sig", errors="replace") as fh:
        for line in fh:
            fields = line.rstrip("\r\n").split("$")
            if fields and fields[-1] == "":
                fields.pop()
            if fields and fields[0].strip().isdigit():
                yield [f.strip() for f in fields]


@dataclass(frozen=True)
class Term:
    code: str
    name: str
    level: str  # LLT | PT | HLT | HLGT | SOC
    current: bool = True


@dataclass(frozen=True)
class SocLink:
    """One path of a PT up to a SOC."""

    hlt: Term
    hlgt: Term
    soc: Term
    primary: bool


@dataclass(frozen=True)
class Resolved:
    """A coded term placed in the hierarchy."""

    term: Term  # the code as given (an LLT or a PT)
    pt: Term
    paths: tuple[SocLink, ...]

    @property
    def primary_soc(self) -> Term | None:
        for path in self.paths:
            if path.primary:
                return path.soc
        return self.paths[0].soc if self.paths else None

    @property
    def socs(self) -> tuple[Term, ...]:
        return tuple(dict.fromkeys(p.soc for p in self.paths))


@dataclass
class Hierarchy:
    version: str | None
    terms: dict[str, dict[str, Term]] = field(default_factory=lambda: {level: {} for level in LEVELS})
    llt_pt: dict[str, str] = field(default_factory=dict)
    paths: dict[str, list[tuple[str, str, str, bool]]] = field(default_factory=dict)  # pt -> (hlt, hlgt, soc, primary)

    def term(self, code: str) -> Term | None:
        """The term with this code at any level (LLT first: a PT's code is also an LLT code)."""
        code = str(code).strip()
        for level in LEVELS:
            found = self.terms[level].get(code)
            if found:
                return found
        return None

    def resolve(self, code: str) -> Resolved | None:
        """An LLT or PT code -> its PT and every SOC path (primary flagged); None if not in the release."""
        code = str(code).strip()
        llt = self.terms["LLT"].get(code)
        pt_code = self.llt_pt.get(code) if llt else (code if code in self.terms["PT"] else None)
        if pt_code is None or pt_code not in self.terms["PT"]:
            return None
        links = []
        for hlt, hlgt, soc, primary in self.paths.get(pt_code, []):
            links.append(SocLink(self._term("HLT", hlt), self._term("HLGT", hlgt), self._term("SOC", soc), primary))
        return Resolved(llt or self.terms["PT"][pt_code], self.terms["PT"][pt_code], tuple(links))

    def _term(self, level: str, code: str) -> Term:
        return self.terms[level].get(code) or Term(code, f"{level} {code}", level)

    def search(self, words: str, *, levels: tuple[str, ...] = ("LLT", "PT"), limit: int = 20,
               current_only: bool = True) -> list[Term]:
        """Terms whose name holds every word given (case-insensitive, any order), best first: exact
        name, then names starting with the words, then shorter names. A code finds its term."""
        query = words.strip()
        if query.isdigit():
            found = self.term(query)
            return [found] if found else []
        wanted = words_of(query)
        if not wanted:
            return []
        hits = []
        for level in levels:
            for term in self.terms[level].values():
                name = term.name.lower()
                if (current_only and not term.current) or not holds_all(name, wanted):
                    continue
                rank = 0 if name == query.lower() else 1 if name.startswith(wanted[0]) else 2
                hits.append((rank, len(name), LEVELS.index(level), term.name, term))
        hits.sort(key=lambda h: h[:4])
        return [h[-1] for h in hits[:limit]]


def _find(base: Path, name: str) -> Path | None:
    for candidate in (base / name, base / "MedAscii" / name, base / name.upper()):
        if candidate.is_file():
            return candidate
    return None


def load_release(directory: str | Path) -> Hierarchy:
    """Read a MedDRA ASCII release folder. InputError if it lacks llt.asc or pt.asc."""
    base = Path(directory)
    llt_file, pt_file = _find(base, "llt.asc"), _find(base, "pt.asc")
    if llt_file is None or pt_file is None:
        raise InputError(f"{base} is not a MedDRA ASCII release: llt.asc and pt.asc are needed",
                         location=str(base), hint="point REPORTER_MEDDRA_DIR at the MedAscii folder")
    version = None
    release = _find(base, "meddra_release.asc")
    if release is not None:
        for fields in _records_any(release):
            version = fields[0]
            break
    h = Hierarchy(version)
    for f in read_asc(llt_file):
        if len(f) >= 3:
            current = len(f) < 10 or f[9].upper() != "N"
            h.terms["LLT"][f[0]] = Term(f[0], f[1], "LLT", current)
            h.llt_pt[f[0]] = f[2]
    primary_of: dict[str, str] = {}
    for f in read_asc(pt_file):
        if len(f) >= 2:
            h.terms["PT"][f[0]] = Term(f[0], f[1], "PT")
            if len(f) >= 4 and f[3]:
                primary_of[f[0]] = f[3]
    for level in ("HLT", "HLGT", "SOC"):
        path = _find(base, f"{level.lower()}.asc")
        for f in read_asc(path) if path else ():
            if len(f) >= 2:
                h.terms[level][f[0]] = Term(f[0], f[1], level)
    mdhier = _find(base, "mdhier.asc")
    if mdhier is not None:
        for f in read_asc(mdhier):
            if len(f) < 4:
                continue
            pt, hlt, hlgt, soc = f[:4]
            for level, code, index in (("HLT", hlt, 5), ("HLGT", hlgt, 6), ("SOC", soc, 7)):
                if code not in h.terms[level] and len(f) > index:
                    h.terms[level][code] = Term(code, f[index], level)
            primary = f[11].upper() == "Y" if len(f) > 11 else primary_of.get(pt) == soc
            h.paths.setdefault(pt, []).append((hlt, hlgt, soc, primary))
    else:
        hlt_of = _links(base, "hlt_pt.asc")  # pt -> [hlt]
        hlgt_of = _links(base, "hlgt_hlt.asc")  # hlt -> [hlgt]
        soc_of = _links(base, "soc_hlgt.asc")  # hlgt -> [soc]
        for pt in h.terms["PT"]:
            for hlt in hlt_of.get(pt, []):
                for hlgt in hlgt_of.get(hlt, []):
                    for soc in soc_of.get(hlgt, []):
                        h.paths.setdefault(pt, []).append((hlt, hlgt, soc, primary_of.get(pt) == soc))
    return h


def _records_any(path: Path) -> Iterator[list[str]]:
    with path.open(encoding="utf-8-sig", errors="replace") as fh:
        for line in fh:
            fields = [x.strip() for x in line.rstrip("\r\n").split("$")]
            if fields and fields[0]:
                yield fields


def _links(base: Path, name: str) -> dict[str, list[str]]:
    """parent$child$ link file -> child -> [parents]."""
    out: dict[str, list[str]] = {}
    path = _find(base, name)
    for f in read_asc(path) if path else ():
        if len(f) >= 2:
            out.setdefault(f[1], []).append(f[0])
    return out


@cache
def _cached(directory: str) -> Hierarchy:
    return load_release(directory)


def hierarchy() -> Hierarchy | None:
    """The release REPORTER_MEDDRA_DIR points at (read once), or None when it is not set."""
    directory = config.get("meddra_dir")
    return _cached(directory) if directory else None


NO_RELEASE_NOTE = ("no MedDRA release (set REPORTER_MEDDRA_DIR to a licensed MedDRA ASCII release): terms are "
                   "grouped by the code as reported, not by PT or SOC")
