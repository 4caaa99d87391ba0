"""Situation terms: a reaction entry that reports a situation (no adverse event, a medication error, off-label
use, misuse, an overdose, an exposure, a lack of efficacy) rather than a harm. Causality methods score whether a
drug caused a harm, so such an entry gets no Naranjo, WHO-UMC or RUCAM score; the list is
mappings/assess/situation_terms.yaml."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

from reporter.casefile.model import CaseFile, Reaction
from reporter.errors import MappingError
from reporter.meddra import hierarchy
from reporter.tables import load_yaml

_FILE = "assess/situation_terms.yaml"


@dataclass(frozen=True)
class Situation:
    term: str  # the term as the case names it (MedDRA term, else the reported term)
    kind: str  # a key of `kinds` in situation_terms.yaml
    kind_label: str  # "a situation (off-label use)", "a lack of efficacy (...)"
    matched_by: str  # how it was recognised: "MedDRA code 10067482", "term 'Off label use'"

    def reason(self, others: list[str]) -> str:
        """Why the pair is not scored, and what to assess instead (`others`: the case's reactions, not
        situations)."""
        what = f"'{self.term}' is {self.kind_label}, not an adverse reaction"
        then = (f"assess the reactions reported with it ({', '.join(others)})" if others
                else "the case reports no reaction with it to assess")
        return f"not assessed: {what}; {then}"

    def to_json(self) -> dict[str, Any]:
        return {"term": self.term, "kind": self.kind, "kind_label": self.kind_label, "matched_by": self.matched_by}


@cache
def _table() -> tuple[dict[str, tuple[str, str]], dict[str, tuple[str, str]], dict[str, str]]:
    """(code -> (term, kind), lower-case term -> (term, kind), kind -> label) from the YAML list."""
    data = load_yaml(_FILE)
    kinds = data.get("kinds") if isinstance(data, dict) else None
    if not isinstance(kinds, dict) or not isinstance(data.get("situations"), list):
        raise MappingError("needs `kinds` and a list of `situations`", location=f"mappings/{_FILE}")
    by_code: dict[str, tuple[str, str]] = {}
    by_term: dict[str, tuple[str, str]] = {}
    for entry in data["situations"]:
        term, kind = str(entry["term"]), str(entry["kind"])
        if kind not in kinds:
            raise MappingError(f"{term!r}: unknown kind {kind!r}", location=f"mappings/{_FILE}")
        by_term[term.lower()] = (term, kind)
        for code in entry.get("codes", []):
            by_code[str(code)] = (term, kind)
    return by_code, by_term, {str(k): str(v) for k, v in kinds.items()}


def _term_names(reaction: Reaction) -> list[str]:
    return [reaction.meddra.term if reaction.meddra else None, reaction.verbatim, reaction.translation]


def _by_release(code: str) -> tuple[str, tuple[str, str]] | None:
    """The listed situation of an LLT's PT (code or name), when a MedDRA release is set."""
    h = hierarchy()
    resolved = h.resolve(code) if h else None
    if resolved is None:
        return None
    by_code, by_term, _ = _table()
    pt = resolved.pt
    found = by_code.get(pt.code) or by_term.get(pt.name.lower())
    return (f"PT {pt.code} {pt.name}", found) if found else None


def situation_of(reaction: Reaction) -> Situation | None:
    """The situation a case file's reaction entry reports, or None for a reaction (a harm)."""
    return situation_for(reaction.meddra.code if reaction.meddra else None, _term_names(reaction), reaction.id)


def situation_for(code: Any, names: list[Any], fallback: str = "") -> Situation | None:
    """The situation a reaction reports, from its MedDRA code and its names (MedDRA term first, then the
    reported ones), or None for a reaction (a harm). `fallback` names it when it has no name. Values that are
    not text (a Bundle may hold anything) are ignored."""
    by_code, by_term, kinds = _table()
    texts = [n.strip() for n in names if isinstance(n, str) and n.strip()]
    name = (texts or [fallback])[0]
    code = code.strip() if isinstance(code, str) else None
    if code and code in by_code:
        _, kind = by_code[code]
        return Situation(name, kind, kinds[kind], f"MedDRA code {code}")
    for text in texts:
        if text.lower() in by_term:
            term, kind = by_term[text.lower()]
            return Situation(text, kind, kinds[kind], f"term '{term}'")
    via_pt = _by_release(code) if code else None
    if via_pt:
        how, (_, kind) = via_pt
        return Situation(name, kind, kinds[kind], f"MedDRA {how}")
    return None


def harms(case: CaseFile) -> list[Reaction]:
    """The case's reactions that are not situation terms."""
    return [r for r in case.reactions if situation_of(r) is None]
