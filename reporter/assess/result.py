"""What every causality method returns, and the scales other layers check results against.

An assessment keeps each answer with where it came from: pre-filled from a named fact of the case,
given by the user (answers file or the case's own answers), or left at the method's default."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cache, lru_cache
from typing import Any, Literal

from reporter.errors import MappingError, ReporterError
from reporter.tables import load_yaml

Source = Literal["case", "user", "default"]
METHODS = ("naranjo", "who-umc", "rucam")
_FILES = {"naranjo": "naranjo.yaml", "who-umc": "who_umc.yaml", "rucam": "rucam.yaml"}


class AssessmentError(ReporterError):
    """An answer the method does not know, or a result outside the method's scale."""


@cache
def method_table(method: str) -> dict[str, Any]:
    """The method's items, points and categories from mappings/assess/."""
    if method not in _FILES:
        raise AssessmentError(f"unknown assessment method {method!r}", hint=f"use one of {', '.join(METHODS)}")
    data = load_yaml(f"assess/{_FILES[method]}")
    if not isinstance(data, dict) or not isinstance(data.get("categories"), list):
        raise MappingError("needs a list of categories", location=f"mappings/assess/{_FILES[method]}")
    return data


@dataclass(frozen=True)
class Answer:
    item: str
    question: str
    answer: str  # the option key, e.g. "yes" or "fall-30d"
    answer_text: str
    points: int | None
    source: Source
    fact: str | None = None  # the case fact that pre-filled the answer, or the user's note

    def to_json(self) -> dict[str, Any]:
        return {"item": self.item, "question": self.question, "answer": self.answer,
                "answer_text": self.answer_text, "points": self.points, "source": self.source,
                "fact": self.fact}


@dataclass(frozen=True)
class Assessment:
    method: str
    method_label: str
    drug: str
    reaction: str
    answers: tuple[Answer, ...]
    score: int | None
    category: str  # the category key of the method's scale
    category_label: str
    explanation: str
    notes: tuple[str, ...] = field(default_factory=tuple)
    summary: str = ""  # the explanation without the per-item lines (the item table shows those)

    @property
    def result_text(self) -> str:
        """The result as E2B G.k.9.i.2.r.3 carries it (at most 60 characters)."""
        text = self.category_label if self.score is None else f"{self.category_label} (score {self.score})"
        return text[:60]

    def to_json(self) -> dict[str, Any]:
        return {"method": self.method, "method_label": self.method_label, "drug": self.drug,
                "reaction": self.reaction, "score": self.score, "category": self.category,
                "category_label": self.category_label, "result": self.result_text,
                "answers": [a.to_json() for a in self.answers], "summary": self.summary,
                "explanation": self.explanation, "notes": list(self.notes)}


def category_by_score(method: str, score: int) -> dict[str, Any]:
    for cat in method_table(method)["categories"]:
        if ("min" not in cat or score >= cat["min"]) and ("max" not in cat or score <= cat["max"]):
            return cat
    raise MappingError(f"{method}: no category holds the score {score}")


def scale_of(method: str) -> tuple[str, ...]:
    """The category labels of a method's scale, best first (e.g. Definite ... Doubtful)."""
    return tuple(str(c["label"]) for c in method_table(_method_key(method))["categories"])


_METHOD_NAMES = {"naranjo": "naranjo", "who-umc": "who-umc", "who umc": "who-umc", "whoumc": "who-umc",
                 "who-umc causality categories": "who-umc", "rucam": "rucam", "cioms/rucam": "rucam",
                 "updated rucam": "rucam", "rucam (updated 2016)": "rucam"}


def _method_key(method: str) -> str:
    key = _METHOD_NAMES.get(method.strip().lower())
    if key is None:
        raise AssessmentError(f"unknown assessment method {method!r}", hint=f"use one of {', '.join(METHODS)}")
    return key


def known_method(method: str | None) -> str | None:
    """The method key of a G.k.9.i.2.r.2 text this project can check (None: free-text or no method)."""
    return _METHOD_NAMES.get(method.strip().lower()) if method else None


_SCORE = re.compile(r"^\s*(?:(?P<pre>-?\d+)\s*[-–:]\s*)?(?P<label>.*?)\s*(?:\((?:score\s*)?(?P<post>-?\d+)\))?\s*$",
                    re.IGNORECASE)


@lru_cache(maxsize=4096)  # the same few result texts, read by validation of every case (1% of the pipeline)
def parse_result(method: str, result: str) -> tuple[str, int | None] | None:
    """(category key, score or None) of a result text such as 'Probable', '8 - probable', '6 (probable)' or
    'Probable (score 6)'; None when it is not on the method's scale or the score contradicts it."""
    key = _method_key(method)
    result = _without_method_name(key, result or "")
    bare = _bare_score(key, result)
    if bare is not None:
        return str(category_by_score(key, bare)["key"]), bare
    m = _SCORE.match(_LABEL_IN_PARENTHESES.sub(r"\g<score> - \g<label>", result or ""))
    if not m:
        return None
    label = re.sub(r"\s+", " ", m.group("label")).strip().lower()
    numbers = [int(n) for n in (m.group("pre"), m.group("post")) if n is not None]
    for cat in method_table(key)["categories"]:
        names = {str(cat["label"]).lower(), str(cat["key"]).lower(), *(str(s).lower() for s in cat.get("synonyms", []))}
        if label in names:
            score = numbers[0] if numbers else None
            if score is not None and category_by_score(key, score)["key"] != cat["key"]:
                return None
            return str(cat["key"]), score
    return None


def _without_method_name(key: str, result: str) -> str:
    """The result without its own method's name, as tables print it in one causality column for several scales:
    'probable (Naranjo 6)' -> 'probable (6)', 'certain (WHO-UMC)' -> 'certain', 'Naranjo: probable' -> 'probable'.
    Another method's name stays, and keeps the result off this scale."""
    names = sorted((name for name, k in _METHOD_NAMES.items() if k == key), key=len, reverse=True)
    pattern = r"(?<![\w-])(?:" + "|".join(re.escape(n) for n in names) + r")(?![\w-])\s*:?\s*"
    text = re.sub(pattern, "", result, flags=re.IGNORECASE)
    return re.sub(r"\(\s*\)", "", text).strip() if text != result else result


# '6 (probable)': a score with its category in parentheses, as tables print it; read as '6 - probable'.
_LABEL_IN_PARENTHESES = re.compile(r"^\s*(?P<score>-?\d+)\s*\(\s*(?P<label>[^()\d][^()]*?)\s*\)\s*$")

_BARE_SCORE = re.compile(r"^\s*(?:(?:total\s+)?score\s*:?\s*)?(?P<score>[-+]?\d+)\s*(?:points?|pts)?\s*$",
                         re.IGNORECASE)


def _bare_score(method: str, result: str) -> int | None:
    """The total score of a result that is only a score ('6', 'score 6'), where the method's table reads one
    alone (score_alone, with the range the items can give); None otherwise."""
    bounds = method_table(method).get("score_alone")
    m = _BARE_SCORE.match(result)
    if not bounds or not m:
        return None
    score = int(m.group("score"))
    return score if bounds["min"] <= score <= bounds["max"] else None


def is_valid_result(method: str, result: str) -> bool:
    """Is `result` a category of `method`'s scale (with a consistent score if one is given)?"""
    return parse_result(method, result) is not None


def check_result(method: str, result: str, location: str | None = None) -> None:
    """Raise AssessmentError when `result` is not on `method`'s scale."""
    if not is_valid_result(method, result):
        raise AssessmentError(f"{result!r} is not a {method} result", location=location,
                              hint=f"use one of: {', '.join(scale_of(method))}")


UNMAPPED = "other/unmapped"


def tabulation_category(method: str | None, result: str | None) -> str | None:
    """The causality category a tabulation counts: "<method>: <category>" (e.g. "Naranjo: Probable") when
    the method is Naranjo, WHO-UMC or RUCAM and the stated result is on its scale (free text such as
    '8 - probable' included); "other/unmapped" for any other stated assessment; None when nothing is stated."""
    if not (method and method.strip()) and not (result and result.strip()):
        return None
    key = known_method(method or "")
    parsed = parse_result(key, result or "") if key else None
    if key is None or parsed is None:
        return UNMAPPED
    table = method_table(key)
    label = next(c["label"] for c in table["categories"] if c["key"] == parsed[0])
    return f"{table.get('short_label', table['label'])}: {label}"


CAUSALITY_METHOD_SYSTEM = "http://terminology.hl7.org/CodeSystem/adverse-event-causality-method"
CAUSALITY_ASSESS_SYSTEM = "http://terminology.hl7.org/CodeSystem/adverse-event-causality-assess"


def fhir_causality(method: str | None, result: str | None, *, r4_codes: bool = True) -> dict[str, Any] | None:
    """What FHIR R4 AdverseEvent.suspectEntity.causality can code for a G.k.9.i.2.r entry of a known method:
    {"method": CodeableConcept, "assessment": CodeableConcept}; the assessment is coded only for WHO-UMC
    (Naranjo and RUCAM categories have no FHIR code: text). None for methods this project does not know."""
    key = known_method(method)
    parsed = parse_result(key, result) if key else None
    if key is None or parsed is None:
        return None
    table = method_table(key)
    out: dict[str, Any] = {
        "method": {"coding": [{"system": CAUSALITY_METHOD_SYSTEM, "code": table["fhir_method"]}], "text": method},
        "assessment": {"text": result},
    }
    category = next(c for c in table["categories"] if c["key"] == parsed[0])
    code = category.get("fhir_r4" if r4_codes else "fhir")
    if code:
        out["assessment"]["coding"] = [{"system": CAUSALITY_ASSESS_SYSTEM, "code": code,
                                        "display": category["label"]}]
    return out
