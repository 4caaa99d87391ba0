"""Assess a case: every suspect drug-reaction pair with the methods asked for, user answers applied.

Answers file (YAML or JSON), all keys optional (on the case, the same answers are a list of {item, answer,
note} under the G.k.9.i.2.r entry of the method: `causality[].answers`):

    drug: anakinra          # assess only this drug (its id in the case)
    reaction: hepatitis     # and only this reaction
    assessor: Dr A. Example
    naranjo: {previous_reports: yes, alternative_causes: {answer: no, note: viral serology negative}}
    who-umc: {alternative: excluded}
    rucam: {scale: hepatocellular, alternative: all-excluded, previous: published}
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reporter.assess import naranjo, rucam, who_umc
from reporter.assess.facts import PairFacts, facts_for, pairs
from reporter.assess.result import (
    METHODS,
    Assessment,
    AssessmentError,
    is_valid_result,
    known_method,
    parse_result,
    scale_of,
)
from reporter.assess.situation import Situation, harms, situation_of
from reporter.casefile.model import CaseFile, Reaction
from reporter.casefile.parse import load_data, read_text

_ASSESS = {"naranjo": naranjo.assess, "who-umc": who_umc.assess, "rucam": rucam.assess}
_KEYS = {"drug", "reaction", "assessor", *METHODS}


@dataclass(frozen=True)
class PairResult:
    facts: PairFacts
    assessments: tuple[Assessment, ...]
    situation: Situation | None = None  # a situation term: not scored
    not_assessed: str | None = None  # why not (said with the situation)

    def to_json(self) -> dict[str, Any]:
        f = self.facts
        return {"drug": f.drug.id, "reaction": f.reaction.id, "time_to_onset": f.onset.to_json(),
                "stated": agreement(self),
                "situation": self.situation.to_json() if self.situation else None,
                "not_assessed": self.not_assessed,
                "liver": {"r_ratio_at_recognition": f.r.r, "pattern": f.r.pattern, "r_text": f.r.text,
                          "hys_law": f.hy.met, "hys_law_text": f.hy.text, "normalisation": f.normal.text},
                "assessments": [a.to_json() for a in self.assessments]}


def load_answers(path: str | Path) -> dict[str, Any]:
    data = load_data(read_text(path), str(path))
    check_answers(data, str(path))
    return data


def check_answers(data: Any, where: str = "answers") -> None:
    if not isinstance(data, dict):
        raise AssessmentError("the answers file must be a mapping", location=where)
    unknown = [k for k in data if k not in _KEYS and not str(k).startswith("$")]
    if unknown:
        raise AssessmentError(f"unknown key {unknown[0]!r} in the answers", location=f"{where}: {unknown[0]}",
                              hint=f"keys: {', '.join(sorted(_KEYS))}")
    for method in METHODS:
        if method in data and not isinstance(data[method], dict):
            raise AssessmentError(f"{method} answers must be a mapping of item: answer",
                                  location=f"{where}: {method}")


def assess_case(case: CaseFile, methods: list[str] | None = None, answers: dict[str, Any] | None = None,
                ) -> list[PairResult]:
    """Each suspect pair with each method. RUCAM is applied to every pair when asked for by name,
    and otherwise only to liver reactions (terms listed in mappings/assess/liver.yaml). A situation term
    (mappings/assess/situation_terms.yaml: off-label use, an overdose, a lack of efficacy...) is not scored by
    any method: its result says why."""
    answers = answers or {}
    check_answers(answers)
    explicit = methods is not None
    methods = list(methods or METHODS)
    out = []
    for drug, reaction in pairs(case, answers.get("drug"), answers.get("reaction")):
        f = facts_for(case, drug, reaction)
        situation = situation_of(reaction)
        if situation is not None:
            out.append(PairResult(f, (), situation, situation.reason(reported_with(case, reaction))))
            continue
        done = []
        for method in methods:
            if method == "rucam" and not explicit and not f.is_liver:
                continue
            given = _named(answers.get(method) or {}, answers.get("assessor"))
            done.append(_ASSESS[method](f, {**stored_answers(f, method), **given}))
        out.append(PairResult(f, tuple(done)))
    return out


def kept_answer_problems(case: CaseFile) -> list[AssessmentError]:
    """What `reporter assess` would refuse in the answers kept on the case (causality[].answers of a Naranjo,
    WHO-UMC or RUCAM entry), one per pair and method, located by the case-file place of the answer: validation
    says them before an assessor runs into them."""
    reactions = {r.id: r for r in case.reactions}
    out = []
    for drug in case.drugs:
        for link in drug.reactions:
            reaction = reactions.get(link.reaction)
            methods = {known_method(c.method) for c in link.causality if c.answers} - {None}
            if reaction is None or not methods:
                continue
            f = facts_for(case, drug, reaction)
            for method in sorted(m for m in methods if m):
                try:
                    _ASSESS[method](f, stored_answers(f, method))
                except AssessmentError as exc:
                    out.append(exc)
    return out


def reported_with(case: CaseFile, situation: Reaction) -> list[str]:
    """The names of the case's reactions (not situations) reported with a situation term."""
    return [r.meddra.term if r.meddra and r.meddra.term else r.verbatim or r.id
            for r in harms(case) if r.id != situation.id]


def _named(given: dict[str, Any], assessor: Any) -> dict[str, Any]:
    """The answers file's answers, each noting the assessor when the file names one."""
    if not assessor:
        return given
    out: dict[str, Any] = {}
    for item, raw in given.items():
        note = raw.get("note") if isinstance(raw, dict) else None
        answer = raw.get("answer") if isinstance(raw, dict) else raw
        out[item] = {"answer": answer, "note": f"{assessor}: {note}" if note else str(assessor)}
    return out


def stored_answers(f: PairFacts, method: str) -> dict[str, Any]:
    """Answers kept on the case with a G.k.9.i.2.r entry of this method (the first such entry)."""
    for k, c in enumerate(f.link.causality if f.link else []):
        if known_method(c.method) == method and c.answers:
            out: dict[str, Any] = {}
            for m, a in enumerate(c.answers):
                where = f"{_link_path(f)}.causality[{k}].answers[{m}]"
                if a.item in out:
                    raise AssessmentError(f"{method} item {a.item!r} is answered twice", location=where)
                out[a.item] = {"answer": a.answer, "note": f"{c.source}: {a.note}" if a.note else c.source,
                               "where": where}
            return out
    return {}


def _link_path(f: PairFacts) -> str:
    """The case-file place of the pair's drug-reaction link: drugs[i].reactions[j]."""
    i = next(n for n, d in enumerate(f.case.drugs) if d is f.drug)
    j = next(n for n, link in enumerate(f.drug.reactions) if link is f.link)
    return f"drugs[{i}].reactions[{j}]"


def text_report(results: list[PairResult]) -> str:
    blocks = []
    for pr in results:
        f = pr.facts
        if pr.not_assessed is not None:
            blocks.append("\n".join([f"{f.drug_name} / {f.reaction_name}", _sentence(pr.not_assessed),
                                      *agreement(pr)]))
            continue
        head = [f"{f.drug_name} / {f.reaction_name}",
                f"Time to onset: {f.onset.text}."]
        if f.is_liver:
            head += [f"{f.r.text}.", f"{f.hy.text}.", f"{f.normal.text}."]
        head += [f"Note: {n}." for n in f.onset.notes]
        head += agreement(pr)
        for a in pr.assessments:
            head.append("")
            head.append(f"{a.method_label}: {a.result_text}")
            head.append(a.explanation)
        blocks.append("\n".join(head))
    return "\n\n".join(blocks) + "\n"


def _sentence(text: str) -> str:
    return f"{text[:1].upper()}{text[1:]}."


def stated_problems(case: CaseFile) -> list[tuple[str, str]]:
    """(case-file path, message) for G.k.9.i.2.r results of a known method that are not on its scale."""
    problems = []
    for d_index, drug in enumerate(case.drugs):
        for l_index, link in enumerate(drug.reactions):
            for c_index, c in enumerate(link.causality):
                method = known_method(c.method)
                if method and c.result is not None and not is_valid_result(method, c.result):
                    problems.append((f"drugs[{d_index}].reactions[{l_index}].causality[{c_index}].result",
                                     f"{c.result!r} is not a {c.method} result (scale: {', '.join(scale_of(method))})"))
    return problems


def agreement(pr: PairResult) -> list[str]:
    """How each computed result compares with the results stated in the case for the same method; for a pair
    not scored (a situation term), every stated result, as the case keeps it."""
    link = pr.facts.link
    if pr.not_assessed is not None:
        return [f"{c.source or 'Source not stated'} stated {c.method or 'no method'} {c.result or 'no result'!r}: "
                "kept as received" for c in (link.causality if link else [])]
    lines = []
    for c in link.causality if link else []:
        method = known_method(c.method)
        computed = next((a for a in pr.assessments if a.method == method), None)
        parsed = parse_result(method, c.result) if method else None
        if computed is None or parsed is None:
            continue
        same = parsed[0] == computed.category
        lines.append(f"{c.source} stated {c.method} {c.result!r}; computed here: {computed.result_text}"
                     + ("" if same else " (differs: check the answers)"))
    return lines
