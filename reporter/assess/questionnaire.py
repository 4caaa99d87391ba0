"""A causality questionnaire for one drug-reaction pair of a case: every item of each method with its
options (and points), the answer in force, whether the case pre-filled it and why, and the live score and
category; and the assessor's confirmed answers recorded on the case as a G.k.9.i.2.r entry.

Used by the page /cases/<id>/assess (reporter/web/assess_page.py); no web code here. The answers are those of
`reporter assess --answers` (item -> {answer, note}), so the page, the CLI and the stored case agree."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from reporter.assess import naranjo, rucam, who_umc
from reporter.assess.facts import PairFacts
from reporter.assess.result import Answer, Assessment, AssessmentError, known_method, method_table
from reporter.assess.run import stored_answers
from reporter.casefile import model as m

NOTE_LIMIT = 500
SOURCE_LIMIT = 60  # E2B G.k.9.i.2.r.1


@dataclass(frozen=True)
class Option:
    key: str
    text: str
    points: int | None


@dataclass(frozen=True)
class Question:
    item: str
    number: int
    question: str
    options: tuple[Option, ...]
    answer: Answer  # the answer in force (the assessor's, else the pre-fill, else the default)
    prefill: tuple[str, str] | None  # (answer key, the case fact) when the case suggests an answer
    saved_note: str | None = None

    @property
    def prefill_text(self) -> str | None:
        if self.prefill is None:
            return None
        return next((o.text for o in self.options if o.key == self.prefill[0]), self.prefill[0])

    @property
    def state(self) -> str:
        """prefilled (the case's answer, not yet confirmed), confirmed, changed, answered or default."""
        if self.answer.source == "case":
            return "prefilled"
        if self.answer.source == "default":
            return "default"
        if self.prefill is None:
            return "answered"
        return "confirmed" if self.prefill[0] == self.answer.answer else "changed"


@dataclass(frozen=True)
class Sheet:
    method: str
    short_label: str
    assessment: Assessment
    questions: tuple[Question, ...]
    scale: str | None = None  # RUCAM: hepatocellular | cholestatic
    scale_why: str | None = None
    scale_chosen: bool = False  # the assessor chose the scale (else the R ratio did)
    scales: tuple[tuple[str, str], ...] = ()


def methods_for(f: PairFacts) -> list[str]:
    """Naranjo and WHO-UMC always; RUCAM when a liver pattern applies (a liver reaction term, an R ratio at
    recognition) or the case already holds RUCAM answers for the pair."""
    out = ["naranjo", "who-umc"]
    if f.is_liver or f.r.pattern is not None or stored_answers(f, "rucam"):
        out.append("rucam")
    return out


def _options(method: str, item: dict[str, Any], scale: str | None) -> tuple[Option, ...]:
    table = method_table(method)
    if method == "naranjo":
        return tuple(Option(k, t, item["points"][k]) for k, t in table["answers"].items())
    if method == "who-umc":
        return tuple(Option(k, t, None) for k, t in item["answers"].items())
    return tuple(Option(o["key"], o["text"], o["points"][scale]) for o in item["options"]
                 if o["points"][scale] is not None)


def saved_answers(f: PairFacts, method: str, assessor: str | None = None) -> dict[str, Any]:
    """The answers kept on the case for this method: those of `assessor` when they saved some, else the first
    entry's (as `reporter assess` reads them)."""
    for c in f.link.causality if f.link and assessor else []:
        if c.source == assessor and known_method(c.method) == method and c.answers:
            return {a.item: {"answer": a.answer, "note": a.note} if a.note else a.answer for a in c.answers}
    return stored_answers(f, method)


def sheet(f: PairFacts, method: str, answers: Mapping[str, Any] | None = None, *,
          assessor: str | None = None) -> Sheet:
    """The questionnaire of one method. `answers`: item -> answer (or {answer, note}); None takes the answers
    saved on the case (see saved_answers)."""
    given = dict(saved_answers(f, method, assessor) if answers is None else answers)
    assess = {"naranjo": naranjo.assess, "who-umc": who_umc.assess, "rucam": rucam.assess}[method]
    result = assess(f, given)
    table = method_table(method)
    scale = why = None
    if method == "rucam":
        scale, why = rucam.scale_for(f, {k: v for k, v in given.items() if k == "scale"})
        prefills = rucam.prefills(f, scale)
        items = table["items"]
    elif method == "naranjo":
        prefills, items = naranjo.prefills(f), table["items"]
    else:
        prefills, items = who_umc.prefills(f), table["criteria"]
    by_item = {a.item: a for a in result.answers}
    questions = []
    for n, item in enumerate(items, start=1):
        raw = given.get(item["key"])
        questions.append(Question(item["key"], n, item.get("question") or item["title"],
                                  _options(method, item, scale), by_item[item["key"]], prefills.get(item["key"]),
                                  raw.get("note") if isinstance(raw, dict) else None))
    return Sheet(method, str(table.get("short_label", table["label"])), result, tuple(questions), scale, why,
                 "scale" in given, tuple(table["scales"].items()) if method == "rucam" else ())


def form_answers(form: Mapping[str, str], method: str) -> dict[str, Any]:
    """The answers a questionnaire form posted for `method`: fields "<method>:<item>" (the option key) and
    "<method>:<item>:note"; RUCAM's "rucam:scale" when the assessor chose a scale."""
    out: dict[str, Any] = {}
    prefix = f"{method}:"
    for name, value in form.items():
        if not name.startswith(prefix) or name.endswith(":note"):
            continue
        item = name[len(prefix):]
        value = (value or "").strip()
        if not value:
            continue
        note = (form.get(f"{name}:note") or "").strip()[:NOTE_LIMIT] or None
        out[item] = {"answer": value, "note": note} if note else value
    return out


def _note(q: Question, typed: str | None) -> str | None:
    if typed:
        return typed[:NOTE_LIMIT]
    if q.prefill is None:
        return None
    if q.prefill[0] == q.answer.answer:
        return f"confirmed the pre-filled answer ({q.prefill[1]})"[:NOTE_LIMIT]
    return f"changed from the pre-filled {q.prefill_text!r} ({q.prefill[1]})"[:NOTE_LIMIT]


def record(case: m.CaseFile, f: PairFacts, sheets: list[Sheet], assessor: str,
           typed_notes: Mapping[str, Mapping[str, str | None]]) -> m.CaseFile:
    """A copy of `case` with one G.k.9.i.2.r entry per method for the pair: source = the assessor, the method,
    the result on its scale, and every item's answer as the assessor confirmed or changed it (with why). An
    entry by the same assessor with the same method is replaced; other assessments are kept."""
    assessor = assessor.strip()[:SOURCE_LIMIT]
    if not assessor:
        raise AssessmentError("the assessor is not named", location="assessor",
                              hint="G.k.9.i.2.r.1 needs the source of the assessment")
    new = case.model_copy(deep=True)
    drug = next(d for d in new.drugs if d.id == f.drug.id)
    link = next((x for x in drug.reactions if x.reaction == f.reaction.id), None)
    if link is None:
        link = m.DrugReaction(reaction=f.reaction.id)
        drug.reactions.append(link)
    for s in sheets:
        notes = typed_notes.get(s.method, {})
        answers = [m.CausalityAnswer(item=q.item, answer=q.answer.answer, note=_note(q, notes.get(q.item)))
                   for q in s.questions]
        if s.scale is not None and s.scale_chosen:
            answers.insert(0, m.CausalityAnswer(item="scale", answer=s.scale, note=None))
        entry = m.Causality(source=assessor, method=s.short_label, result=s.assessment.result_text,
                            answers=answers)
        kept = [c for c in link.causality
                if not (c.source == assessor and known_method(c.method) == s.method)]
        link.causality = [*kept, entry]
    return m.CaseFile.model_validate(new.model_dump(mode="json", by_alias=True, exclude_none=True))

