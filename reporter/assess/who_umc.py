"""WHO-UMC causality categories: the assessor's criteria, checked against the rules in
mappings/assess/who_umc.yaml in order; the explanation names the criteria that held.

Pre-filled: the time relationship (from the onset after the first dose), response to withdrawal
(dechallenge) and rechallenge."""

from __future__ import annotations

from typing import Any

from reporter.assess.answering import choose, item_answers, source_phrase
from reporter.assess.facts import PairFacts
from reporter.assess.result import Answer, Assessment, method_table

METHOD = "who-umc"


def prefills(f: PairFacts) -> dict[str, tuple[str, str]]:
    out: dict[str, tuple[str, str]] = {}
    relation = f.onset_relation()
    if relation:
        out["time"] = ({"after": "plausible", "before": "improbable"}[relation[0]], relation[1])
    for item, mapping in (("dechallenge", {"positive": "positive", "negative": "negative", "unknown": "unclear",
                                           "not-applicable": "unclear"}),
                          ("rechallenge", {"recurred": "positive", "did-not-recur": "negative",
                                           "not-done": "not-done", "unknown-outcome": "unknown"})):
        found = f.challenge(item)
        if found and found[0] in mapping:
            out[item] = (mapping[found[0]], found[1])
    return out


def assess(f: PairFacts, user: dict[str, Any] | None = None) -> Assessment:
    table = method_table(METHOD)
    user = user or {}
    user = item_answers(user, [c["key"] for c in table["criteria"]], METHOD)
    pre = prefills(f)
    answers: list[Answer] = [
        choose(c["key"], c["question"], c["answers"], {}, pre.get(c["key"]), user, c["default_answer"], METHOD)
        for c in table["criteria"]]
    given = {a.item: a for a in answers}
    labels = {c["key"]: c for c in table["categories"]}
    for rule in table["rules"]:
        if all(given[k].answer in allowed for k, allowed in rule["all"].items()):
            chosen = rule
            break
    else:  # the rules end with a catch-all for a plausible time; anything else is unassessable
        chosen = {"category": "unassessable", "all": {}}
    cat = labels[chosen["category"]]
    held = [f"{given[k].question} {given[k].answer_text}" for k in chosen["all"]]
    lines = [f"WHO-UMC: {cat['label']}."]
    lines.append("Criteria that held: " + ("; ".join(held) if held else "none of the other rules applied") + ".")
    higher = [r for r in table["rules"][: table["rules"].index(chosen)] if r is not chosen] \
        if chosen in table["rules"] else []
    for rule in higher:
        failed = [k for k, allowed in rule["all"].items() if given[k].answer not in allowed]
        if rule["category"] in ("certain", "probable") and failed:
            lines.append(f"Not {labels[rule['category']]['label']}: " + "; ".join(
                f"{given[k].question} {given[k].answer_text}" for k in failed) + ".")
    summary = "\n".join(lines)
    for a in answers:
        lines.append(f"{a.question} {a.answer_text}; {source_phrase(a)}.")
    return Assessment(METHOD, table["label"], f.drug_name, f.reaction_name, tuple(answers), None,
                      str(cat["key"]), str(cat["label"]), "\n".join(lines), summary=summary)
