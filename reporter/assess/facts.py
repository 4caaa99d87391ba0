"""What the case says about one drug-reaction pair, read once for every method: time to onset,
de/rechallenge, lab evidence and liver findings. Each fact keeps the text that shows where it came from."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from reporter.assess import labs, liver
from reporter.assess.onset import Interval, Span, Timeline, TimeToOnset, quantity_days, time_to_onset
from reporter.assess.result import method_table
from reporter.assess.situation import harms
from reporter.casefile.model import CaseFile, Dosage, Drug, DrugReaction, Quantity, Reaction, Test
from reporter.errors import InputError
from reporter.render.units import doses_per_day, quantity_text

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


def pair_reaction_name(reactions: list[Reaction], reaction: Reaction) -> str:
    """The reaction as a drug-reaction pair names it: its name, and its place among the case's reactions when
    another has the same name (an anaphylaxis at the first and at the second infusion), so that the two
    assessments can be told apart."""
    name = reaction_name(reaction)
    if sum(reaction_name(r) == name for r in reactions) < 2:
        return name
    return f"{name} (reaction {reactions.index(reaction) + 1})"


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
        return pair_reaction_name(self.case.reactions, self.reaction)

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
        if first is None and last is None:
            return self._in_utero_relation()
        if first is None:
            return None
        if first.lo >= 0:
            return "after", f"onset {first.text} after the first dose ({first.how})"
        if first.hi < 0:
            return "before", f"onset {first.text} after the first dose, i.e. before it ({first.how})"
        return None

    def _in_utero_relation(self) -> tuple[str, str] | None:
        """A parent-child case without times: the foetus exposed from a gestation week (G.k.6) before the week
        the reaction was observed in it (D.2.2.1), so the reaction followed the drug (valsartan taken from
        conception, anhydramnios seen at week 28)."""
        exposed = self.drug.gestation_at_exposure
        seen = self.case.patient.gestation_at_onset if self.case.patient else None
        days = [quantity_days(q) for q in (exposed, seen) if q is not None]
        if len(days) < 2 or None in days or not days[0][1] < days[1][0]:
            return None
        def weeks(q: Quantity) -> str:
            return quantity_text(q.value, q.unit).replace("\xa0", " ")

        return "after", (f"the foetus exposed from gestation {weeks(exposed)} (G.k.6), the reaction seen in it at "
                         f"{weeks(seen)} (D.2.2.1)")

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
        the reaction when there is one (the neutrophils of an agranulocytosis, not a CRP), else, when the case
        has this reaction alone, the first; beside other reactions an unrelated result is no evidence of this
        one (the INR of an 'INR increased' says nothing of a digoxin toxicity, the AST of a hepatitis nothing of
        the nausea reported with it). A situation term reported beside it ('Medication error', 'Overdose') is no
        other reaction: it leaves this one alone. A result dated before the onset is no evidence of the reaction (a
        baseline, e.g. kidney disease before the drug); one whose time cannot be placed against the onset is
        taken. This drug's own level (a vancomycin trough) is no evidence of the reaction: it answers question
        7 (`toxic_level`); another drug's level is (the digoxin level of a clarithromycin interaction)."""
        found = [x for x in self._out_of_range() if _level_of(self.case, x[1]) is not self.drug]
        ranked = sorted((rank, k) for k, x in enumerate(found)
                        for rank in [_related_rank(self.reaction, x[1], x[2])] if rank is not None)
        related = found[ranked[0][1]] if ranked else None
        if related is None and harms(self.case) == [self.reaction]:
            found = [x for x in found if not _opposite(self.reaction, x[1], x[2])]
            related = found[0] if found else None
        return _result_text(*related) if related else self._positive_result() or self._autopsy_finding()

    def _positive_result(self) -> str | None:
        """A qualitative result (F.r.3.1 positive) related to the reaction, not dated before its onset: the
        ANA of a drug-induced lupus (titre 1:1280, anti-histone positive) has no number against a range."""
        timeline = Timeline(self.case)
        for i, test in enumerate(self.case.tests):
            if test.result == "positive" and _related(self.reaction, test, "+") \
                    and not self._before_onset(test, timeline):
                name = test.name or test.loinc or "test"
                said = f": {test.result_text}" if test.result_text else ""
                return f"{name} positive{said} (tests[{i}])"
        return None

    def _autopsy_finding(self) -> str | None:
        """An autopsy-determined cause of death (D.9.4) that is this reaction (its MedDRA code, else its term
        in the cause's words): the histology of a fatal myocarditis confirms it as a result would."""
        death = self.case.patient.death if self.case.patient else None
        code = self.reaction.meddra.code if self.reaction.meddra else None
        term = (self.reaction.meddra.term if self.reaction.meddra else None) or self.reaction.verbatim
        for i, cause in enumerate(death.autopsy_causes if death else []):
            same_code = code is not None and cause.meddra is not None and cause.meddra.code == code
            named = bool(term and cause.text and re.search(rf"\b{re.escape(term.lower())}\b", cause.text.lower()))
            if same_code or named:
                return f"autopsy-determined cause of death: {cause.text or term} (patient.death.autopsy_causes[{i}])"
        return None

    def toxic_level(self) -> str | None:
        """This drug's level (a test named for the drug, e.g. 'Vancomycin trough') above the upper limit of its
        range, at or after the onset, as text; None when the case has none."""
        found = [x for x in self._out_of_range() if x[2] == "H" and _level_of(self.case, x[1]) is self.drug]
        return _result_text(*found[0]) if found else None

    def _out_of_range(self) -> list[tuple[int, Test, str]]:
        timeline = Timeline(self.case)
        return [(i, test, side) for i, test in enumerate(self.case.tests)
                for side in [labs.flag(test.value, test.low, test.high, test.comparator)]
                if side in ("H", "L") and not self._before_onset(test, timeline)]

    def _before_onset(self, test: Test, timeline: Timeline) -> bool:
        """Whether the result was taken before the reaction's onset: by its time on this drug's axis, or, when
        that cannot place it, by a comment labelling it the baseline ("baseline creatinine 1.4" of a kidney
        disease known before the drug; mappings/assess/liver.yaml timepoints)."""
        onset = self.onset.after_first_dose
        span = liver.on_drug_axis(timeline, test.date, self.drug.id)
        if span is not None and onset is not None and span.frame == f"first:{self.drug.id}":
            return span.hi < onset.lo
        return liver.timepoint_label(test.comments) == "baseline"

    def dose_response(self) -> tuple[str, str] | None:
        """Naranjo question 8 from what the case holds, as (answer, fact): 'yes' when the dose was lowered
        (G.k.8 'dose reduced', or a dosage line with a lower daily dose begun after the onset) and the reaction
        then improved (it abated, ended while the lower dose went on, or was recovering or recovered with the
        drug not stopped); 'no' when it was reduced and did not abate; 'unknown', saying why, when the dose
        changed but the case does not tell the reaction's course (a worsening has no element: E2B holds no
        severity). None when the case states no dose change."""
        lowered = self._dose_change("lower")
        if lowered is not None:
            return self._course_after_reduction(*lowered)
        raised = self._dose_change("higher")
        if raised is not None:
            return "unknown", (f"{raised[0]}, but the case holds no change in the reaction's severity to set "
                               "against it")
        return None

    def reduced_not_stopped(self) -> str | None:
        """Why Naranjo question 3 (improvement when the drug was discontinued) is not answered from the
        dechallenge: the case says the drug was reduced, not stopped (G.k.8), so the reaction's course after it
        answers question 8 instead (not counted twice)."""
        if self.challenge("dechallenge") is None:
            return None
        if self.drug.action_taken == "dose-reduced":
            return ("the drug was reduced, not stopped (G.k.8 action taken: dose reduced): how the reaction went "
                    "after the reduction answers question 8 (dose response)")
        lowered = self._changed_line("lower")
        if lowered is not None and self._ended_on_line(lowered[1]):
            return ("the reaction ended while the drug was still given at a lower dose: its course answers question 8 "
                    "(dose response), not the drug's discontinuation")
        return None

    def _dose_change(self, way: str) -> tuple[str, int | None] | None:
        """(what the case says of a dose change `way` ('lower' or 'higher'), the index of the dosage line that
        shows it or None for G.k.8 alone)."""
        action = {"lower": "dose-reduced", "higher": "dose-increased"}[way]
        found = self._changed_line(way)
        if found is not None:
            return found
        if self.drug.action_taken == action:
            return f"the dose was {'reduced' if way == 'lower' else 'increased'} (G.k.8 action taken)", None
        return None

    def _changed_line(self, way: str) -> tuple[str, int] | None:
        """The first dosage line whose daily dose is lower (or higher) than the line before it, begun at or
        after the reaction's onset (a change made once the reaction was there), with what it says."""
        tl = Timeline(self.case)
        onset = tl.span(self.reaction.onset)
        drug = self.drug
        k = self.case.drugs.index(drug)
        for j in range(1, len(drug.dosages)):
            before, after = daily_amount(drug.dosages[j - 1]), daily_amount(drug.dosages[j])
            if before is None or after is None or before[1] != after[1] or before[0] == after[0] \
                    or (after[0] < before[0]) != (way == "lower"):
                continue
            start = tl.dosage_start(drug, j)
            gap, order = tl.diff(start, onset), tl.diff(start, tl.dosage_start(drug, j - 1))
            if gap is None or gap[0] < 0 or order is None or order[0] <= 0:
                continue
            verb = "lowered" if way == "lower" else "raised"
            return (f"the daily dose was {verb} from {_amount_text(before)} to {_amount_text(after)} "
                    f"{Interval(gap[0], gap[1], '', gap[2]).text} after the onset (drugs[{k}].dosages[{j}])"), j
        return None

    def _course_after_reduction(self, change: str, line: int | None) -> tuple[str, str]:
        """Question 8's answer for a dose reduction, from the reaction's course after it: a reaction that ended
        on the lower dose line; else, with the case saying the drug went on reduced (G.k.8), its dechallenge or
        outcome. A missing stop date is no proof that the drug went on."""
        dechallenge = (self.challenge("dechallenge") or ("",))[0]
        stopped = self.drug.action_taken == "withdrawn"
        if line is not None:
            ended = self._ended_on_line(line)
            if ended:
                return "yes", f"{change}, and the reaction ended {ended} while the lower dose went on"
        continued = self.drug.action_taken == "dose-reduced"  # the case says the drug went on, reduced
        if continued and dechallenge == "positive":
            return "yes", f"{change}, and the reaction abated (dechallenge positive) with the drug not stopped"
        outcome = self.reaction.outcome
        if continued and outcome in method_table("naranjo")["dose_response"]["improved_outcomes"]:
            return "yes", (f"{change}, and the reaction was {outcome.replace('-', ' ')} at the last observation "
                           "(E.i.7) with the drug not stopped")
        if continued and dechallenge == "negative":
            return "no", f"{change}, and the reaction did not abate (dechallenge negative) with the drug not stopped"
        if stopped:
            return "unknown", (f"{change}, but the drug was then withdrawn (G.k.8): the reaction's course is not "
                               "put on the lower dose")
        if line is not None and self.drug.action_taken is None:
            return "unknown", (f"{change}, but the case says neither that the drug went on at the lower dose "
                               "(G.k.8) nor that the reaction ended on it")
        return "unknown", f"{change}, but the case does not say how the reaction went after it"

    def _ended_on_line(self, line: int) -> str | None:
        """When the reaction ended (E.i.5), if that was at or after the start of dosage line `line` and not
        after its last dose (placed, or the case saying the drug went on reduced, G.k.8)."""
        tl = Timeline(self.case)
        end = tl.span(self.reaction.end, before=tl.span(self.reaction.onset))
        after_start = tl.diff(end, tl.dosage_start(self.drug, line))
        if end is None or after_start is None or after_start[0] < 0:
            return None
        stop = tl.dosage_stop(self.drug, line)
        if stop is None and self.drug.action_taken != "dose-reduced":
            return None  # no last dose known and no word that the drug went on: it may have been stopped first
        before_stop = tl.diff(stop, end) if stop is not None else (0.0, 0.0, None)
        if before_stop is None or before_stop[0] < 0:
            return None
        return (f"{Interval(after_start[0], after_start[1], '', after_start[2]).text} after the lower dose began "
                "(E.i.5)")

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


def daily_amount(dosage: Dosage) -> tuple[float, str] | None:
    """A dosage line's dose per day as (amount, UCUM unit per day), to compare two lines of one drug: a dose per
    day as given (2 mg/kg/d), else the dose times the doses a day its interval gives (500 mg every 12 h: 1000
    mg/d); None when the line gives neither (no dose, or no interval that gives whole doses a day)."""
    dose = dosage.dose
    if dose is None:
        return None
    if dose.unit.endswith("/d"):
        return dose.value, dose.unit
    per_day = doses_per_day(dosage.every.value, dosage.every.unit) if dosage.every else None
    return (dose.value * per_day, f"{dose.unit}/d") if per_day else None


def _amount_text(amount: tuple[float, str]) -> str:
    return quantity_text(*amount).replace("\xa0", " ")


def _result_text(i: int, test: Test, side: str) -> str:
    name = test.name or test.loinc or "test"
    where = f"above the upper limit {_limit_text(test.high)}" if side == "H" \
        else f"below the lower limit {_limit_text(test.low)}"
    value = quantity_text(test.value, test.unit, test.comparator).replace("\xa0", " ")
    return f"{name} {value} {where} (tests[{i}])"


def _related_rank(r: Reaction, test: Test, side: str) -> int | None:
    """How closely the test is related to the reaction, lower first: named in the reaction's words (-1), else
    the place in related_tests of the first pair relating them (the neutrophils of an agranulocytosis before
    its white cell count); None when unrelated."""
    if not _related(r, test, side):
        return None
    reaction, name = _reaction_words(r), (test.name or "").lower()
    if name and re.search(rf"\b{re.escape(name)}\b", reaction):
        return -1
    pairs = method_table("naranjo").get("related_tests", [])
    return next(k for k, pair in enumerate(pairs) if pair.get("side", side) == side
                and _starts_a_word(reaction, pair["reaction"]) and _starts_a_word(name, pair["test"]))


def _related(r: Reaction, test: Test, side: str) -> bool:
    """Whether the reaction's words name the test, or a pair in naranjo.yaml related_tests links them with the
    result on the pair's side (a low sodium to a hyponatraemia; either side when the pair names none; a
    qualitative positive, side '+', only by a pair without a side). A test
    the reaction's words name ('hyponatraemia (serum sodium 125)') is not related on the other side."""
    reaction, name = _reaction_words(r), (test.name or "").lower()
    if _opposite(r, test, side):
        return False
    if name and re.search(rf"\b{re.escape(name)}\b", reaction):
        return True
    return any(pair.get("side", side) == side for pair in _pairs_of(reaction, name))


def _opposite(r: Reaction, test: Test, side: str) -> bool:
    """Whether a pair in related_tests links the reaction to the test on the other side only: a high sodium
    beside a hyponatraemia is no evidence of it."""
    pairs = _pairs_of(_reaction_words(r), (test.name or "").lower())
    return bool(pairs) and all(pair.get("side", side) != side for pair in pairs)


def _pairs_of(reaction: str, name: str) -> list[dict]:
    return [pair for pair in method_table("naranjo").get("related_tests", [])
            if _starts_a_word(reaction, pair["reaction"]) and _starts_a_word(name, pair["test"])]


def _reaction_words(r: Reaction) -> str:
    return " ".join(t for t in (r.verbatim, r.translation, r.meddra.term if r.meddra else None) if t).lower()


def _limit_text(x: float) -> str:
    """A normal limit as the case gives it: a troponin's 0.028 stays 0.028 (two decimals made it 0.03)."""
    return str(int(x)) if float(x).is_integer() else f"{x:g}"


def _level_of(case: CaseFile, test: Test) -> Drug | None:
    """The suspect or interacting drug whose level the test measures: the test's name holds the drug's product
    or substance name as whole words, with or without its salt ('Vancomycin trough', 'Lithium' for lithium
    carbonate); None for any other test (a glucose beside a concomitant glucose infusion stays evidence)."""
    drugs = [d for d in case.drugs if d.role in ("suspect", "interacting")]
    names = tuple((d.product, *(s.name for s in d.substances)) for d in drugs)
    found = _level_index((test.name or "").lower(), names)
    return drugs[found] if found is not None else None


@lru_cache(maxsize=4096)
def _level_index(name: str, drugs: tuple[tuple[str, ...], ...]) -> int | None:
    """`_level_of` on names alone, kept: each pair of a case asks it of every result, and a case with 20 suspects,
    30 reactions and 200 results asked it 165,000 times, a minute of regular expressions."""
    salts = set(method_table("naranjo").get("salt_words", []))
    for k, fulls in enumerate(drugs):
        for full in fulls:
            words = (full or "").lower().split()
            moiety = " ".join(w for w in words if w not in salts)
            if any(n and re.search(rf"\b{re.escape(n)}\b", name) for n in {" ".join(words), moiety}):
                return k
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
