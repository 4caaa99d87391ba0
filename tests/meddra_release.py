"""A small synthetic MedDRA release written in the real ASCII layout ('$'-separated, trailing '$').

Codes and names are invented for tests (the project ships no MedDRA content); they only mimic the shape:
two SOCs, a PT that sits in both (primary in the first), LLTs with one non-current."""

from __future__ import annotations

from pathlib import Path

VERSION = "99.0"
SOC = {"90000001": ("Hepatobiliary disorders (test)", "Hepat"), "90000002": ("Investigations (test)", "Inv"),
       "90000003": ("Blood and lymphatic system disorders (test)", "Blood")}
HLGT = {"91000001": "Hepatic disorders (test)", "91000002": "Hepatobiliary investigations (test)",
        "91000003": "Haematopoietic disorders (test)"}
HLT = {"92000001": "Hepatocellular damage (test)", "92000002": "Liver function analyses (test)",
       "92000003": "Histiocytoses (test)"}
# pt -> (name, primary soc)
PT = {"93000001": ("Drug-induced liver injury (test)", "90000001"),
      "93000002": ("Transaminases increased (test)", "90000002"),
      "93000003": ("Haemophagocytic lymphohistiocytosis (test)", "90000003")}
# llt -> (name, pt, current)
LLT = {"93000001": ("Drug-induced liver injury (test)", "93000001", True),
       "94000001": ("Hepatitis drug-induced (test)", "93000001", True),
       "94000002": ("Toxic hepatitis old term (test)", "93000001", False),
       "93000002": ("Transaminases increased (test)", "93000002", True),
       "94000003": ("ALT increased (test)", "93000002", True),
       "93000003": ("Haemophagocytic lymphohistiocytosis (test)", "93000003", True),
       "94000004": ("Macrophage activation syndrome (test)", "93000003", True)}
# pt -> [(hlt, hlgt, soc)]
PATHS = {"93000001": [("92000001", "91000001", "90000001"), ("92000002", "91000002", "90000002")],
         "93000002": [("92000002", "91000002", "90000002")],
         "93000003": [("92000003", "91000003", "90000003")]}


def _write(path: Path, rows: list[list[str]]) -> None:
    path.write_text("".join("$".join(r) + "$\n" for r in rows), encoding="utf-8")


def write_release(folder: Path, *, with_mdhier: bool = True) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    _write(folder / "meddra_release.asc", [[VERSION, "English", ""]])
    _write(folder / "llt.asc", [[c, n, pt, "", "", "", "", "", "", "Y" if cur else "N", ""]
                                for c, (n, pt, cur) in LLT.items()])
    _write(folder / "pt.asc", [[c, n, "", soc, "", "", "", "", "", "", ""] for c, (n, soc) in PT.items()])
    _write(folder / "hlt.asc", [[c, n, "", "", "", "", "", "", ""] for c, n in HLT.items()])
    _write(folder / "hlgt.asc", [[c, n, "", "", "", "", "", "", ""] for c, n in HLGT.items()])
    _write(folder / "soc.asc", [[c, n, a, "", "", "", "", "", "", ""] for c, (n, a) in SOC.items()])
    links = [(pt, *p) for pt, ps in PATHS.items() for p in ps]
    _write(folder / "hlt_pt.asc", sorted({(hlt, pt) for pt, hlt, _, _ in links}))
    _write(folder / "hlgt_hlt.asc", sorted({(hlgt, hlt) for _, hlt, hlgt, _ in links}))
    _write(folder / "soc_hlgt.asc", sorted({(soc, hlgt) for _, _, hlgt, soc in links}))
    if with_mdhier:
        _write(folder / "mdhier.asc", [
            [pt, hlt, hlgt, soc, PT[pt][0], HLT[hlt], HLGT[hlgt], SOC[soc][0], SOC[soc][1], "", PT[pt][1],
             "Y" if PT[pt][1] == soc else "N"] for pt, hlt, hlgt, soc in links])
    return folder
