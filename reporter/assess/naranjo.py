"""Naranjo ADR probability scale: ten questions, yes / no / do not know, points summed to a category.

Pre-filled from the case where it speaks: onset after the first dose (question 2), dechallenge (3),
rechallenge (4), the drug's own level above its range (7), the reaction's course after a dose change (8), a past
reaction to the same drug, or its use with 'No adverse event' (9) and other results outside their normal range
(10). A drug reduced, not stopped, answers question 8 with the dechallenge and leaves question 3 unanswered (not
counted twice).
Previous reports (1) and alternative causes (5) are the assessor's to answer."""

from __future__ import annotations

from typing import Any

from reporter.assess.answering import choose, item_answers, source_phrase
from reporter.assess.facts import PairFacts
from reporter.assess.result import Answer, Assessment, category_by_score, method_table
from reporter.assess.situation import situation_for

METHOD = "naranjo"


def prefills(f: PairFacts) -> dict[str, tuple[str, str]]:
    out: dict[str, tuple[str, str]] = {}
    relation = f.onset_relation()
    if relation:
        out["after_drug"] = ({"after": "yes", "before": "no"}[relation[0]], relation[1])
    for item, mapping in (("dechallenge", {"positive": "yes", "negative": "no"}),
                          ("rechallenge", {"recurred": "yes", "did-not-recur": "no", "not-done": "unknown"})):
        found = f.challenge(item)
        if found and found[0] in mapping:
            out[item] = (mapping[found[0]], found[1])
    reduced = f.reduced_not_stopped()
    if reduced:
        out["dechallenge"] = ("unknown", reduced)
    dose_response = f.dose_response()
    if dose_response:
        out["dose_response"] = dose_response
    previous = _previous_exposure(f)
    if previous:
        out["previous_exposure"] = previous
    level = f.toxic_level()
    if level:
        out["toxic_level"] = ("yes", level)
    evidence = f.objective_evidence()
    if evidence:
        out["objective_evidence"] = ("yes", evidence)
    return out


def _previous_exposure(f: PairFacts) -> tuple[str, str] | None:
    """Question 9 from the past drug history: the same drug with a reaction is yes; taken before with 'No
    adverse event' (a situation of no harm, not a reaction) is no, unless another entry says yes."""
    names = {f.drug.product.lower(), *(s.name.lower() for s in f.drug.substances)}
    past = f.case.patient.past_drugs if f.case.patient else []
    found: tuple[str, str] | None = None
    for i, p in enumerate(past):  # a past drug named only by why its name is unknown (D.8.r.1 MSK) matches none
        if not isinstance(p.name, str) or p.name.lower() not in names or p.reaction is None:
            continue
        said = p.reaction.term or p.reaction.code
        situation = situation_for(p.reaction.code, [p.reaction.term])
        if situation is not None and situation.kind == "no_harm":
            found = found or ("no", f"past drug history: {p.name} taken before without a reaction ({said}) "
                                    f"(patient.past_drugs[{i}])")
        else:
            return "yes", f"past drug history: {p.name} with reaction {said} (patient.past_drugs[{i}])"
    return found


def assess(f: PairFacts, user: dict[str, Any] | None = None) -> Assessment:
    table = method_table(METHOD)
    user = user or {}
    user = item_answers(user, [i["key"] for i in table["items"]], METHOD)
    pre = prefills(f)
    answers: list[Answer] = [
        choose(item["key"], item["question"], table["answers"], item["points"], pre.get(item["key"]), user,
               table["default_answer"], METHOD)
        for item in table["items"]]
    score = sum(a.points or 0 for a in answers)
    cat = category_by_score(METHOD, score)
    lines = [f"Naranjo score {score}: {cat['label'].lower()} "
             f"(definite >= 9, probable 5-8, possible 1-4, doubtful <= 0)."]
    summary = "\n".join(lines)
    for n, a in enumerate(answers, start=1):
        lines.append(f"Q{n} {a.question} {a.answer_text} ({a.points:+d}); {source_phrase(a)}.")
    return Assessment(METHOD, table["label"], f.drug_name, f.reaction_name, tuple(answers), score,
                      str(cat["key"]), str(cat["label"]), "\n".join(lines), summary=summary)
