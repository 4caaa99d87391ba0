"""Turning case facts and user answers into one answer per item: the user's answer wins over a
pre-fill, a pre-fill over the method's default; each keeps its source and fact."""

from __future__ import annotations

import re
from typing import Any

from reporter.assess.result import Answer, AssessmentError, Source


def _where(raw: Any, default: str) -> str:
    """Where an answer was given: its place in the case file for one kept on the case, else the answers file's."""
    return str(raw["where"]) if isinstance(raw, dict) and raw.get("where") else default


def user_value(raw: Any, location: str) -> tuple[str, str | None]:
    """(answer key, note) from `yes`, `true`, or `{answer: yes, note: ...}`."""
    note = None
    if isinstance(raw, dict):
        note = raw.get("note")
        raw = raw.get("answer")
    if raw is True:
        raw = "yes"
    elif raw is False:
        raw = "no"
    elif raw is None:
        raw = "unknown"
    if not isinstance(raw, str | int):
        raise AssessmentError(f"an answer must be text, found {type(raw).__name__}", location=location)
    return str(raw).strip().lower().replace(" ", "-"), (str(note) if note is not None else None)


def choose(item: str, question: str, options: dict[str, str], points: dict[str, int | None],
           prefill: tuple[str, str] | None, user: dict[str, Any], default: str, method: str) -> Answer:
    """One item's answer. `options` maps answer key -> text; `prefill` is (answer, case fact)."""
    source: Source
    if item in user:
        where = _where(user[item], f"answers.{method}.{item}")
        answer, fact = user_value(user[item], where)
        aliases = {"do-not-know": "unknown", "dont-know": "unknown", "don't-know": "unknown", "dnk": "unknown",
                   "dk": "unknown", "not-known": "unknown", "y": "yes", "n": "no"}
        answer = aliases.get(answer, answer)
        if answer not in options and re.fullmatch(r"[+-]?\d+", answer):
            # given as points (as published RUCAM tables do): the option with those points on this scale
            wanted = int(answer)
            candidates = [k for k, p in points.items() if p == wanted]
            if candidates:
                answer = default if default in candidates else candidates[0]
                fact = f"{fact + '; ' if fact else ''}given as {wanted:+d} points"
        if answer not in options:
            raise AssessmentError(f"{answer!r} is not an answer to {method} item {item!r}",
                                  location=where, hint=f"use one of: {', '.join(options)}")
        source = "user"
        if prefill and prefill[0] != answer:
            fact = f"{fact + '; ' if fact else ''}the case suggested {options[prefill[0]]!r}: {prefill[1]}"
    elif prefill is not None:
        answer, fact = prefill
        source = "case"
    else:
        answer, fact, source = default, None, "default"
    return Answer(item, question, answer, options[answer], points.get(answer), source, fact)


def item_answers(user: dict[str, Any], known: list[str], method: str, extra: tuple[str, ...] = ()) -> dict[str, Any]:
    """The user's answers keyed by item: an item key, or its number in the method's table ("5", "q5")."""
    out: dict[str, Any] = {}
    for key, value in user.items():
        text = str(key).strip().lower()
        number = re.fullmatch(r"q?(\d+)", text)
        if number and 1 <= int(number.group(1)) <= len(known):
            text = known[int(number.group(1)) - 1]
        if text not in known and text not in extra:
            raise AssessmentError(f"{method} has no item {key!r}", location=_where(value, f"answers.{method}.{key}"),
                                  hint=f"items: {', '.join(extra + tuple(known))} (or their numbers 1-{len(known)})")
        if text in out:
            raise AssessmentError(f"{method} item {text!r} is answered twice", location=f"answers.{method}.{key}")
        out[text] = value
    return out


def source_phrase(a: Answer) -> str:
    if a.source == "case":
        return f"from the case: {a.fact}"
    if a.source == "user":
        return "given by the assessor" + (f" ({a.fact})" if a.fact else "")
    return "not answered (method default)"
