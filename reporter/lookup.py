"""Look-ups for case entry: MedDRA terms from the user's licensed release, LOINC codes of the laboratory
tests the project names in its own tables (and the whole LOINC table when the user provides it), UCUM units
with their usual spellings, and drugs with RxNorm and ATC from the user's drug dictionary (the project ships
none). Each answers a few words with a short list of {code, label} choices and, where it cannot help, a note
saying why."""

from __future__ import annotations

import re
from functools import cache
from typing import Any

from reporter import dictionaries
from reporter.errors import InputError
from reporter.tables import load_yaml

LIMIT = 20
NO_DRUG_DICTIONARY = ("no drug dictionary (set REPORTER_DRUG_FILE to a CSV of name, rxnorm, atc or to RxNorm's "
                      "RXNCONSO.RRF): type the product and substance names as reported; an ATC code or RxNorm "
                      "RxCUI can be added under the drug's further details")
OWN_LOINC_NOTE = ("LOINC codes of the tests the project's tables name (set REPORTER_LOINC_FILE to your LOINC "
                  "table for all codes); other codes can be typed (with their check digit)")


def meddra(words: str, limit: int = LIMIT) -> dict[str, Any]:
    """LLTs and PTs whose name holds every word (or the term with that code), from REPORTER_MEDDRA_DIR."""
    from reporter.meddra.hierarchy import hierarchy

    release = hierarchy()
    if release is None:
        return {"items": [], "note": "no MedDRA release configured (set REPORTER_MEDDRA_DIR to your licensed "
                                     "MedDRA ASCII release): type the 8-digit LLT code and the MedDRA version"}
    items = []
    for term in release.search(words, limit=limit):
        resolved = release.resolve(term.code)
        pt = resolved.pt.name if resolved is not None and resolved.pt.code != term.code else None
        items.append({"code": term.code, "label": term.name, "level": term.level,
                      "pt": pt, "version": release.version})
    return {"items": items, "version": release.version}


@cache
def lab_tests() -> list[dict[str, str]]:
    """The laboratory tests the project's tables name (mappings/labs.yaml, mappings/plausibility.yaml):
    LOINC code, the usual short name, the unit the table expects and the other names labs write."""
    out: dict[str, dict[str, str]] = {}
    for analyte in load_yaml("labs.yaml")["analytes"].values():
        for code in analyte["loinc"]:
            out[code] = {"code": code, "label": analyte["label"], "names": " ".join(analyte.get("names") or [])}
    for code, row in (load_yaml("plausibility.yaml").get("loinc") or {}).items():
        entry = out.setdefault(code, {"code": code, "label": _label(row["name"]), "names": ""})
        entry.setdefault("unit", row.get("unit", ""))
        entry["names"] = f"{entry['names']} {row['name']}".strip()
    return sorted(out.values(), key=lambda e: (e["label"].lower(), e["code"]))


def _label(name: str) -> str:
    return name if name.isupper() or name[:1].isupper() else name[:1].upper() + name[1:]


def loinc(words: str, limit: int = LIMIT) -> dict[str, Any]:
    """Lab tests whose code, name or other names hold every word: the project's own tests first (they
    carry the unit its tables expect), then the codes of the user's LOINC table."""
    wanted = dictionaries.words_of(words)
    items = [{"code": t["code"], "label": t["label"], "unit": t.get("unit", "")} for t in lab_tests()
             if dictionaries.holds_all(f"{t['code']} {t['label']} {t['names']}".lower(), wanted)]
    try:
        table = dictionaries.loinc_table()
    except InputError as exc:
        return {"items": items[:limit], "note": f"{exc} (only the project's own tests are offered)"}
    if table is None:
        return {"items": items[:limit], "note": OWN_LOINC_NOTE}
    seen = {i["code"] for i in items}
    items += [{"code": e.code, "label": e.label, "unit": e.unit}
              for e in dictionaries.search(table, words, limit) if e.code not in seen]
    return {"items": items[:limit]}


@cache
def _units() -> dict[str, Any]:
    return load_yaml("ucum_input.yaml")


def common_units() -> list[dict[str, str]]:
    return [dict(u) for u in _units()["common"]]


def ucum(words: str, limit: int = LIMIT) -> dict[str, Any]:
    """Common units matching the words; a usual spelling of a unit first gives its UCUM code."""
    text = words.strip()
    items = []
    mapped = to_ucum(text) if text else None
    if mapped is not None and mapped != text:
        items.append({"code": mapped, "label": f"{mapped} (UCUM for {text})"})
    wanted = dictionaries.words_of(text)
    items += [u for u in common_units() if u["code"] != mapped
              and dictionaries.holds_all(f"{u['code']} {u['label']}".lower(), wanted)]
    return {"items": items[:limit]}


def shown_unit(code: str) -> str:
    """A unit as a form shows it: the words for a UCUM annotation code ({total} -> once), which `to_ucum`
    reads back; any other code as it is."""
    return _units().get("shown_as", {}).get(code, code)


def to_ucum(text: str) -> str | None:
    """The UCUM code of a unit as typed: itself when it is UCUM, else its usual spelling mapped
    (IU/L -> [IU]/L, years -> a, mcg/kg -> ug/kg); None when neither gives a UCUM unit."""
    from reporter.validation.ucum import is_valid_ucum

    text = text.strip()
    if is_valid_ucum(text):
        return text
    table = _units()
    whole = table["spellings"].get(text)
    if whole is not None:
        return whole
    atoms = table["atoms"]
    mapped = re.sub(r"[^/.()]+", lambda m: atoms.get(m.group(0), m.group(0)), text)
    return mapped if is_valid_ucum(mapped) else None


def drugs(words: str, limit: int = LIMIT) -> dict[str, Any]:
    """Drugs of the user's dictionary whose name, substance or codes hold every word, each with the RxNorm
    RxCUI and ATC code the form fills in."""
    try:
        table = dictionaries.drug_table()
    except InputError as exc:
        return {"items": [], "note": str(exc)}
    if table is None:
        return {"items": [], "note": NO_DRUG_DICTIONARY}
    return {"items": [{"code": e.code, "label": e.label, "rxnorm": e.rxnorm, "atc": e.atc, "substance": e.substance}
                      for e in dictionaries.search(table, words, limit)]}


KINDS = {"meddra": meddra, "loinc": loinc, "ucum": ucum, "drug": drugs}
