"""What the case says about one drug-reaction pair, read once for every method: time to onset,
de/rechallenge, lab evidence and liver findings. Each fact keeps the text that shows where it came from."""

from __future__ import annotations

import re
from dataclasses import dataclass

from reporter.assess import labs, liver
from reporter.assess.onset import Interval, Span, Timeline, TimeToOnset, time_to_onset
from reporter.assess.result import method_table
from reporter.casefile.model import CaseFile, Drug, DrugReaction, Reaction, Test
from reporter.errors import InputError
from reporter.render.units import quantity_text

_CHALLENGE_FACTS = {
    ("dechallenge", "positive"): "dechallenge positive: the reaction abated when the drug was stopped or reduced",
    ("dechallenge", "negative"): "dechallenge negative: the reaction did not abate when the drug was stopped",
    ("dechallenge", "unknown"): "dechallenge outcome unknown",
    ("dechallenge", "not-applicable"): "dechallenge not applicable",
    ("rechallenge", "recurred"): "rechallenge: the reaction recurred (G.k.9.i.4 = 1)",
    ("rechallenge", "did-not-recur"): "rechallenge: the reaction did not recur (G.k.9.i.4 = 2)",
    ("rechallenge", "unknown-outcome"): "rechallenge done, outcome unknown (G.k.9.i.4 = 3)",
    ("rechallenge", "not-done"): "rechallenge not done (G.k.9.i.4 = 4)",
}


def reaction_name(r: Reaction) -> str:
    """A reaction as the assessment names it: its MedDRA term, else the reported term, else its key."""
    return (r.meddra.term if r.meddra and r.meddra.term else None) or r.verbatim or r.id


@dataclass(frozen=True)
class PairFacts:
    case: CaseFile
    drug: Drug
    reaction: Reaction
    link: DrugReaction | None
    onset: TimeToOnset
    points: tuple[liver.LabPoint, ...]
    r: liver.RAtRecognition
    hy: liver.HysLawFinding
    normal: liver.Normalisation

    @property
    def drug_name(self) -> str:
        return self.drug.product

    @property
    def reaction_name(self) -> str:
        return reaction_name(self.reaction)

    def onset_relation(self) -> tuple[str, str] | None:
        """("after" | "before", fact) for the onset against the first dose, or after the last dose when only
        that is known (G.k.9.i.3.2 stated, no dates); None when unknown or when the range straddles the first
        dose. With no time at all, a reaction that recurred when the drug was given again followed the drug."""
        first, last = self.onset.after_first_dose, self.onset.after_last_dose
        if first is None and last is not None and last.lo >= 0:  # after the last dose, so after the drug
            return "after", f"onset {last.text} after the last dose ({last.how})"
        if first is None and last is None and (self.challenge("rechallenge") or ("",))[0] == "recurred":
            return "after", ("onset time not stated, but the reaction recurred when the drug was given again "
                             "(G.k.9.i.4 = 1), so it followed the drug")
        if first is None:
            return None
        if first.lo >= 0:
            return "after", f"onset {first.text} after the first dose ({first.how})"
        if first.hi < 0:
            return "before", f"onset {first.text} after the first dose, i.e. before it ({first.how})"
        return None

    def challenge(self, which: str) -> tuple[str, str] | None:
        """(the case's dechallenge / rechallenge code, fact) or None when not stated."""
        code = getattr(self.link, which, None) if self.link else None
        if code is None:
            return None
        return code, _CHALLENGE_FACTS.get((which, code), f"{which} {code}")

    @property
    def is_liver(self) -> bool:
        r = self.reaction
        return any(liver.is_liver_term(t) for t in (r.verbatim, r.translation, r.meddra.term if r.meddra else None))

    def objective_evidence(self) -> str | None:
        """A result outside its normal range (above or below) at or after the onset, as text: one related to
        the reaction when there is one (the neutrophils of an agranulocytosis, not a CRP), else the first. A
        result dated before the onset is no evidence of the reaction (a baseline, e.g. kidney disease before
        the drug); one whose time cannot be placed against the onset is taken. A drug's own level (a
        vancomycin trough) is no evidence of the reaction: it answers question 7 (`toxic_level`)."""
        found = [x for x in self._out_of_range() if _level_of(self.case, x[1]) is None]
        if not found:
            return None
        return _result_text(*next((x for x in found if self._related(x[1])), found[0]))

    def toxic_level(self) -> str | None:
        """This drug's level (a test named for the drug, e.g. 'Vancomycin trough') above the upper limit of its
        range, at or after the onset, as text; None when the case has none."""
        found = [x for x in self._out_of_range() if x[2] == "H" and _level_of(self.case, x[1]) is self.drug]
        return _result_text(*found[0]) if found else None

    def _out_of_range(self) -> list[tuple[int, Test, str]]:
        return [(i, test, side) for i, test in enumerate(self.case.tests)
                for side in [labs.flag(test.value, test.low, test.high, test.comparator)]
                if side in ("H", "L") and not self._before_onset(test)]

    def _before_onset(self, test: Test) -> bool:
        onset = self.onset.after_first_dose
        span = liver.on_drug_axis(Timeline(self.case), test.date, self.drug.id)
        return span is not None and onset is not None and span.frame == f"first:{self.drug.id}" \
            and span.hi < onset.lo

    def _related(self, test: Test) -> bool:
        """Whether the reaction's words name the test, or a pair in naranjo.yaml related_tests links them."""
        r = self.reaction
        reaction = " ".join(t for t in (r.verbatim, r.translation, r.meddra.term if r.meddra else None) if t).lower()
        name = (test.name or "").lower()
        if name and re.search(rf"\b{re.escape(name)}\b", reaction):
            return True
        return any(_starts_a_word(reaction, pair["reaction"]) and _starts_a_word(name, pair["test"])
                   for pair in method_table("naranjo").get("related_tests", []))

    def last_dose(self) -> Span | None:
        """The drug's last dose before this reaction (a later course, a rechallenge, is not counted)."""
        tl = Timeline(self.case)
        return tl.last_dose(self.drug.id, before=tl.span(self.reaction.onset))

    def age_years(self) -> tuple[float, float] | None:
        """The age at onset in years as (from, up to): one value, or for an age in decades ('in her 50s',
        5 {decade}) the decade, 50 up to 60."""
        age = self.case.patient.age_at_onset if self.case.patient else None
        if age is None:
            return None
        per_year = {"a": 1.0, "mo": 1 / 12, "wk": 1 / 52.18, "d": 1 / 365.25, "{decade}": 10.0}.get(age.unit)
        if per_year is None:
            return None
        years = age.value * per_year
        return (years, years + 10.0) if age.unit == "{decade}" else (years, years)


def _result_text(i: int, test: Test, side: str) -> str:
    name = test.name or test.loinc or "test"
    where = f"above the upper limit {liver._fmt(test.high)}" if side == "H" \
        else f"below the lower limit {liver._fmt(test.low)}"
    value = quantity_text(test.value, test.unit, test.comparator).replace("\xa0", " ")
    return f"{name} {value} {where} (tests[{i}])"


def _level_of(case: CaseFile, test: Test) -> Drug | None:
    """The suspect or interacting drug whose level the test measures: the test's name holds the drug's product
    or substance name as whole words, with or without its salt ('Vancomycin trough', 'Lithium' for lithium
    carbonate); None for any other test (a glucose beside a concomitant glucose infusion stays evidence)."""
    name = (test.name or "").lower()
    salts = set(method_table("naranjo").get("salt_words", []))
    for drug in (d for d in case.drugs if d.role in ("suspect", "interacting")):
        for full in (drug.product, *(s.name for s in drug.substances)):
            words = (full or "").lower().split()
            moiety = " ".join(w for w in words if w not in salts)
            if any(n and re.search(rf"\b{re.escape(n)}\b", name) for n in {" ".join(words), moiety}):
                return drug
    return None


def _starts_a_word(text: str, stems: list[str]) -> bool:
    return any(re.search(rf"\b{re.escape(stem.lower())}", text) for stem in stems)


def pairs(case: CaseFile, drug_id: str | None = None, reaction_id: str | None = None) -> list[tuple[Drug, Reaction]]:
    """Drug-reaction pairs to assess: the suspect/interacting drugs' G.k.9.i links (or every reaction when a
    suspect drug has none), narrowed to the drug and reaction asked for."""
    drugs = [d for d in case.drugs if d.role in ("suspect", "interacting")]
    if drug_id is not None:
        drugs = [d for d in case.drugs if d.id == drug_id]
        if not drugs:
            raise InputError(f"the case has no drug {drug_id!r}", location="answers.drug",
                             hint=f"use one of: {', '.join(d.id for d in case.drugs) or '(no drugs)'}")
    if not drugs:
        raise InputError("the case has no suspect or interacting drug to assess", location="drugs")
    reactions = {r.id: r for r in case.reactions}
    if reaction_id is not None and reaction_id not in reactions:
        raise InputError(f"the case has no reaction {reaction_id!r}", location="answers.reaction",
                         hint=f"use one of: {', '.join(reactions) or '(no reactions)'}")
    out = []
    for drug in drugs:
        ids = [link.reaction for link in drug.reactions] or list(reactions)
        out.extend((drug, reactions[i]) for i in ids if reaction_id in (None, i))
    if not out:
        raise InputError("no drug-reaction pair to assess", location="drugs[].reactions")
    return out


def facts_for(case: CaseFile, drug: Drug, reaction: Reaction) -> PairFacts:
    link = next((x for x in drug.reactions if x.reaction == reaction.id), None)
    onset = time_to_onset(case, drug, reaction, link)
    points = tuple(liver.lab_points(case, drug.id))
    tl = Timeline(case)
    last = tl.last_dose(drug.id, before=tl.span(reaction.onset))
    first = onset.after_first_dose
    onset_span = Span(first.lo, first.hi, f"first:{drug.id}") if first else None
    return PairFacts(case, drug, reaction, link, onset, points,
                     liver.r_at_recognition(list(points), not_before=onset_span),
                     liver.hys_law(list(points)), liver.normalisation(list(points), last))


def interval_text(i: Interval | None) -> str:
    return i.text if i else "not known"


__all__ = ["PairFacts", "facts_for", "interval_text", "labs", "pairs"]
