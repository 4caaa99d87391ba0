"""ICSR Bundle (plain JSON dict) -> CaseView for the report page and the CIOMS form.

Reads through reporter/fhir/read.py. Relative days come from cqf-relativeDateTime extensions, dates
from the elements; the day axis counts from the first dose of the first suspect drug. The Bundle may be
partial or invalid: every read is defensive, and what is missing becomes a gap, never an exception.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import re
from collections.abc import Iterable
from typing import Any

from reporter.assess import labs as lab
from reporter.assess import liver
from reporter.assess.onset import QUALIFIER_TEXT, Interval, Span, offset_days
from reporter.assess.situation import situation_for
from reporter.fhir import read
from reporter.fhir.narrative import narrative_text
from reporter.render.charts import Chart, Exposure, Marker, Point, Series, choose_scale, fmt_num, render_chart
from reporter.render.countries import country_name
from reporter.render.env import ABSENT_TEXT, partial_date, quantity
from reporter.render.model import (
    AssessmentView,
    CaseView,
    Coded,
    DosageView,
    DrugView,
    Figure,
    Header,
    HistoryItem,
    IssueView,
    LabRow,
    Missing,
    NarrativeView,
    ParentView,
    Party,
    PatientView,
    Qty,
    ReactionView,
    When,
)
from reporter.render.units import every_text, quantity_text, unit_text
from reporter.tables import code_list, coding_key, ext, fhir_tables, in_system, system
from reporter.validation import units as ucum_units
from reporter.validation.ucum import single_administration_intervals

Json = dict[str, Any]
Days = tuple[float, float]  # (fewest, most) days: a time in months or years has no fixed length
_FULL_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}")


def _d(value: Any) -> Json:
    return value if isinstance(value, dict) else {}


def _l(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _s(value: Any) -> str | None:
    return value if isinstance(value, str) and value.strip() else None


def _num(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _qty(value: Any) -> Qty | None:
    q = _d(value)
    number = _num(q.get("value"))
    if number is None:
        return None
    return Qty(number, _s(q.get("code")) or _s(q.get("unit")) or "", _s(q.get("comparator")))


def _first_coding(concept: Any) -> Json:
    codings = _l(_d(concept).get("coding"))
    return _d(codings[0]) if codings else {}


def _criteria_said_by_seriousness(event: Json) -> list[str]:
    """The criteria an R4 AdverseEvent.seriousness code states (SeriousResultsInDeath), when the Bundle has no
    criterion extensions; their labels as the extensions' displays."""
    table = code_list("seriousness_criterion")
    try:
        codes = read.seriousness_criteria(event)
    except (AttributeError, TypeError):
        return []
    return [table.codes[k].display for k in table.codes if codes.get(table.codes[k].e2b or "") is True]


def _absent(holder: Any) -> Missing | None:
    """A data-absent-reason (or null flavor) on an element or its `_element` companion."""
    for e in _l(_d(holder).get("extension")):
        e = _d(e)
        if e.get("url") == ext("data_absent_reason"):
            return Missing(_s(e.get("valueCode")))
        if e.get("url") == ext("null_flavor"):
            return Missing({"NI": "no-information", "MSK": "masked", "ASKU": "asked-unknown",
                            "NASK": "not-asked", "NA": "not-applicable"}.get(e.get("valueCode"), "unknown"))
    return None


def _exts(element: Any, key: str) -> list[Json]:
    url = ext(key)
    return [_d(e) for e in _l(_d(element).get("extension")) if _d(e).get("url") == url]


def _ext1(element: Any, key: str) -> Json:
    found = _exts(element, key)
    return found[0] if found else {}


def _interpretation_text(obs: Json, interpretation: list) -> str | None:
    """A test's result said only by its interpretation: its words, else the E2B result its code says (v3 POS sent
    without a display reads "Positive", not "POS"), else its code."""
    words = _s(_d(interpretation[0]).get("text")) or _s(_d(_first_coding(_d(interpretation[0]))).get("display"))
    result = read.result_of_test(obs)
    return words or (code_list("test_result").codes[result].display if result else None) or \
        read.concept_text(interpretation[0])


def _with_result_code(text: str | None, said: str | None) -> str | None:
    """A result's text with its coded result (F.r.3.1) when the text does not say it: 'Positive: titre 1:1280'
    for an ANA given as positive with its titre, which showed the titre alone."""
    if not text or not said:
        return text or said
    return text if said.lower() in text.lower() else f"{said}: {text}"


def _given_once(dosage: Json) -> bool:
    """Whether a dosage line's interval says it was given once ({total}: a vaccine dose, a single infusion), as
    reporter/assess/onset.py's Timeline.dosage_stop reads it."""
    interval = _d(_safe_ext_value(dosage, "dosing_interval"))
    return _s(interval.get("code")) in single_administration_intervals()


def _safe_ext_value(element: Any, key: str) -> Any:
    return read.value_of(_ext1(element, key)) if _ext1(element, key) else None


def _highlighted(event: Json) -> bool | None:
    """E.i.3.1: whether the reporter highlighted the term (the code says so whatever it says of seriousness)."""
    key = coding_key("highlighted", _safe_ext_value(event, "highlighted_by_reporter"))
    return {"yes": True, "no": False}.get(key or "")


def _meddra_words(concept: Any) -> str | None:
    """A coded term in words: its text, else a MedDRA code named as one (D.8.r.6/7 often come coded only)."""
    words = read.concept_text(concept)
    coding = _first_coding(concept)
    if words and words == coding.get("code") and in_system(coding.get("system"), "meddra"):
        return f"MedDRA {words}"
    return words


def _reason_absent(amendment: Json) -> str | None:
    """C.1.11.2 received without a reason: said as such (the case holds it as not known)."""
    missing = _absent(read.sub_extension(amendment, "amendmentReason"))
    return f"reason {ABSENT_TEXT.get(missing.reason or '', 'not stated')}" if missing else None


def _sanitized(bundle: Json) -> Json:
    """Only entries the index can hold: dict resources, text fullUrls."""
    entries = []
    for entry in _l(bundle.get("entry")):
        entry = _d(entry)
        if isinstance(entry.get("resource"), dict):
            clean = {"resource": entry["resource"]}
            if _s(entry.get("fullUrl")):
                clean["fullUrl"] = entry["fullUrl"]
            if not isinstance(entry["resource"].get("id", ""), str):
                continue
            if not isinstance(entry["resource"].get("resourceType", ""), str):
                continue
            entries.append(clean)
    return {"resourceType": "Bundle", "entry": entries}


class _Extractor:
    def __init__(self, bundle: Json) -> None:
        self.bundle = bundle
        self.index_source = _sanitized(bundle)
        self.index = read.BundleIndex(self.index_source)
        self.comp = _d(self.index.composition)
        if not isinstance(self.comp.get("section", []), list):
            self.comp = {**self.comp, "section": []}
        self.gaps: list[str] = []
        # The time axis: days from the first dose of a suspect drug with a dated start; else of the drug the
        # relative times count from (literature cases); else dates, from the earliest full date (no drug
        # start known exactly and no relative time).
        self.statements = self._section_or_type("drugs", "MedicationStatement")
        self.suspects = [s for s in self.statements if self._role(s) in ("suspect", "interacting")]
        self.anchor = self._choose_anchor()
        self.anchor_url = self.index.key_of(self.anchor) if self.anchor else None
        self.anchor_date = self._anchor_date()
        self.axis: str | None = "day" if self.anchor is not None and (
            self.anchor_date is not None or self._counted_from(self.anchor)) else None
        self.origin = self.anchor_date
        if self.axis is None:
            self.origin = self._earliest_date()
            self.axis = "date" if self.origin is not None else None

    # -- lookups --------------------------------------------------------------------------------

    def _section_or_type(self, key: str, resource_type: str) -> list[Json]:
        """Resources of a section; without a Composition, every resource of the type."""
        if self.comp:
            try:
                found = self.index.section(key)
            except (AttributeError, TypeError, KeyError):
                found = []
            return [r for r in found if isinstance(r, dict) and r.get("resourceType") == resource_type]
        return [r for r in self.index.all(resource_type) if isinstance(r, dict)]

    def _resolve(self, ref: Any, holder: Json | None = None) -> Json:
        try:
            return _d(self.index.resolve(_d(ref), holder))
        except (AttributeError, TypeError):
            return {}

    def _role(self, statement: Json) -> str:
        code = _s(_d(_safe_ext_value(statement, "drug_role")).get("code"))
        return {"1": "suspect", "2": "concomitant", "3": "interacting", "4": "not-administered"}.get(
            code or "", "concomitant" if code else "unknown")

    def drug_name(self, statement: Json) -> str | None:
        med = _d(self.index.medication_of(statement))
        return read.concept_text(med.get("code")) or read.concept_text(statement.get("medicationCodeableConcept"))

    def substance_name(self, statement: Json) -> str | None:
        """The active substance as written (an INN such as "anakinra"); a pair joined as a fixed combination is
        written ("brinzolamide/timolol": its first alone would name the wrong one). A product of more
        ingredients (a herbal mixture) has no short name of its substances: None, and the caller names the
        product. Product names keep their case."""
        med = _d(self.index.medication_of(statement))
        names = [n for n in (read.concept_text(_d(i).get("itemCodeableConcept")) for i in _l(med.get("ingredient")))
                 if n]
        return "/".join(names) if 0 < len(names) <= 2 else None

    def _start_date(self, statement: Json | None) -> dt.date | None:
        dates = []
        for dosage in _l(_d(statement).get("dosage")):
            start = _s(_d(_d(_d(_d(dosage).get("timing")).get("repeat")).get("boundsPeriod")).get("start"))
            if start and _FULL_DATE.match(start):
                try:
                    dates.append(dt.date.fromisoformat(start[:10]))
                except ValueError:
                    continue
        return min(dates) if dates else None

    def _anchor_date(self) -> dt.date | None:
        return self._start_date(self.anchor) if self.anchor else None

    def _relative_refs(self) -> dict[str, int]:
        """How many relative times count from each drug's first dose (by the drug's reference)."""
        counts: dict[str, int] = {}

        def walk(node: Any) -> None:
            if isinstance(node, dict):
                rel = _relative(node) if node.get("url") == ext("relative_time") else None
                if rel is not None and rel.anchor != "last-dose":
                    key = self.index.key(rel.drug_reference)
                    counts[key] = counts.get(key, 0) + 1
                for value in node.values():
                    walk(value)
            elif isinstance(node, list):
                for value in node:
                    walk(value)

        walk([e.get("resource") for e in _l(self.index_source.get("entry"))])
        return counts

    def _counted_from(self, statement: Json) -> bool:
        return bool(self.refs.get(self.index.key_of(statement)))

    def _choose_anchor(self) -> Json | None:
        self.refs = self._relative_refs()
        dated = [s for s in self.suspects if self._start_date(s) is not None]
        if dated:
            return dated[0]
        counted = sorted((s for s in self.suspects + self.statements if self._counted_from(s)),
                         key=lambda s: (self._role(s) not in ("suspect", "interacting"),
                                        -self.refs.get(self.index.key_of(s), 0)))
        if counted:
            return counted[0]
        return self.suspects[0] if self.suspects else None

    def _earliest_date(self) -> dt.date | None:
        """The first full date among test results, reaction onsets and drug starts: the date axis origin."""
        found = []
        for obs in self._section_or_type("tests", "Observation"):
            found.append(_s(obs.get("effectiveDateTime")))
        for event in self._section_or_type("reactions", "AdverseEvent"):
            found.append(_s(event.get("date")))
        for statement in self.statements:
            start = self._start_date(statement)
            found.append(start.isoformat() if start else None)
        dates = []
        for value in found:
            if value and _FULL_DATE.match(value):
                try:
                    dates.append(dt.date.fromisoformat(value[:10]))
                except ValueError:
                    continue
        return min(dates) if dates else None

    # -- times ----------------------------------------------------------------------------------

    def when(self, holder: Json, field: str) -> When | None:
        """A date in `field`, or a relative time / absent reason in `_field`."""
        value = _s(holder.get(field))
        if value:
            return When(date=value, day=self._day_of_date(value))
        companion = _d(holder.get(f"_{field}"))
        return self._when_from_extensions(companion)

    def when_extension(self, extension_: Json) -> When | None:
        """A date-valued extension: valueDateTime, or a relative/absent sub-extension."""
        value = _s(extension_.get("valueDateTime"))
        if value:
            return When(date=value, day=self._day_of_date(value))
        return self._when_from_extensions(extension_)

    def _when_from_extensions(self, holder: Json) -> When | None:
        for e in _l(holder.get("extension")):
            rel = _relative(e)
            if rel:
                # with what the detail extension beside it says (qualifier, range, the author's words)
                with contextlib.suppress(AttributeError, TypeError, ValueError):
                    rel = read.relative_time(holder) or rel
                return self._relative(rel)
        missing = _absent(holder)
        return When(missing=missing) if missing else None

    def _relative(self, rel: read.Relative) -> When:
        target = self._resolve({"reference": rel.drug_reference})
        name = ((self.substance_name(target) or self.drug_name(target)) if target else None) or "the drug"
        anchor = f"{'last' if rel.anchor == 'last-dose' else 'first'} {name.lower()} dose"
        days = self._offset_days(target, rel)
        day, span = (None, None) if days is None else (sum(days) / 2, days if days[0] != days[1] else None)
        return When(offset=Qty(rel.value, rel.unit), anchor=anchor, day=day, ref=self.index.key(rel.drug_reference),
                    from_last=rel.anchor == "last-dose", phrase=rel.phrase(), as_stated=rel.as_stated, span=span,
                    qualifier=QUALIFIER_TEXT.get(rel.qualifier or ""))

    def _offset_days(self, target: Json, rel: read.Relative, depth: int = 0) -> Days | None:
        """The days on the axis a relative time covers: the drug's dose plus the offset, each a range when
        given in months or years (28-31 days a month, 365-366 a year, as reporter/assess/onset.py counts)."""
        offset = offset_days(rel.value, rel.unit, rel.high, rel.qualifier)
        base = self._drug_span(target, rel.anchor, depth) if offset is not None else None
        if base is None or offset is None:
            return None
        return (base[0] + offset[0], base[1] + offset[1])

    def _drug_day(self, statement: Json, anchor: str) -> float | None:
        """Where a drug's first (or last) dose sits on the day axis: the middle of its span."""
        span = self._drug_span(statement, anchor)
        return sum(span) / 2 if span else None

    def _drug_span(self, statement: Json, anchor: str, depth: int = 0, before: Days | None = None) -> Days | None:
        """The days a drug's first (or last) dose may sit on, on the day axis (as reporter/assess/onset.py places
        them: a course's end from its duration; no last dose while a line begun by then has no end). With
        `before` (an episode's onset), the last dose of the lines begun by then, as Timeline.last_dose counts it:
        a later course (a rechallenge) is not the last dose of an earlier episode."""
        if not statement or depth > 3:
            return None
        if anchor == "first-dose" and statement is self.anchor and getattr(self, "axis", None) == "day":
            return (0.0, 0.0)
        lines = [self._dosage_days(statement, i, _d(dosage), depth)
                 for i, dosage in enumerate(_l(statement.get("dosage")))]
        if before is not None:
            lines = [line for line in lines if line[0] is None or line[0][0] <= before[1]]
        if anchor == "first-dose":
            starts = [start for start, _, _ in lines if start]
            return (min(s[0] for s in starts), min(s[1] for s in starts)) if starts else None
        stops = [stop for _, stop, _ in lines if stop]
        if not stops:
            return None
        last = (max(s[0] for s in stops), max(s[1] for s in stops))
        if any(stated and stop is None and start and start[1] >= last[0] for start, stop, stated in lines):
            return None  # a line begun on or after that stop (maintenance, a later infusion) with no end
        return last

    def _dosage_days(self, statement: Json, index: int, dosage: Json, depth: int) -> tuple[Days | None, Days | None,
                                                                                           bool]:
        """A dosage line's (start, last dose, whether the start is stated). The anchor drug's first line without
        a start begins at day 0; a line with a duration (G.k.4.r.6) and no stop ends on day duration - 1 of it;
        one given once (interval {total}) ends on its start."""
        period = _d(_d(_d(dosage.get("timing")).get("repeat")).get("boundsPeriod"))
        start, stop = (self._bound_days(period, field, depth) for field in ("start", "end"))
        stated = start is not None
        if start is None and index == 0 and statement is self.anchor and getattr(self, "axis", None) == "day":
            start = (0.0, 0.0)
        duration = _qty(_safe_ext_value(dosage, "dosage_duration")) if stop is None and start else None
        if stop is None and start and duration is None and _given_once(dosage):
            return start, start, stated
        days = offset_days(duration.value, duration.unit) if duration else None
        if start and days:
            shift = (days[0] - 1, days[1] - 1) if days[0] >= 1 else (0.0, days[1])
            stop = (start[0] + shift[0], start[1] + shift[1])
        return start, stop, stated

    def _bound_days(self, period: Json, field: str, depth: int) -> Days | None:
        """A dosage period's start or end on the day axis: a full date, or a time relative to a drug."""
        value = _s(period.get(field))
        day = self._day_of_date(value) if value else None
        found: Days | None = (day, day) if day is not None else None
        if found is None and not value:
            for e in _l(_d(period.get(f"_{field}")).get("extension")):
                rel = _relative(e)
                if rel:
                    other = self._resolve({"reference": rel.drug_reference})
                    found = self._offset_days(other, rel, depth + 1) or found
        return found

    def _day_of_date(self, value: str | None) -> float | None:
        origin = getattr(self, "origin", None) or self.anchor_date
        if not value or origin is None or not _FULL_DATE.match(value):
            return None
        try:
            return float((dt.date.fromisoformat(value[:10]) - origin).days)
        except ValueError:
            return None

    # -- sections -------------------------------------------------------------------------------

    def header(self, reactions: list[ReactionView]) -> Header:
        comp = self.comp
        if not comp:
            self.gaps.append("Composition (report identification, dates and sections)")
        ident = _d(comp.get("identifier"))
        worldwide = _d(_ext1(comp, "case_identifier").get("valueIdentifier"))
        first = _ext1(comp, "first_receive_date")
        recent = _ext1(comp, "most_recent_date")
        amendment = _ext1(comp, "report_amendment")
        amendment_text = None
        if amendment:
            kind = read.concept_text(read.sub_value(amendment, "amendmentType")) or "Amendment"
            reason = _s(read.sub_value(amendment, "amendmentReason")) or _reason_absent(amendment)
            amendment_text = f"{kind}: {reason}" if reason else kind
        category = _l(comp.get("category"))
        serious_flags = [r.serious for r in reactions if r.serious is not None]
        agree = len({(r.serious, r.criteria) for r in reactions}) <= 1
        study = None
        for res in self.index.all("ResearchStudy"):
            numbers = [_s(_d(i).get("value")) for i in _l(res.get("identifier"))]
            study = _s(res.get("title")) or next((n for n in numbers if n), None)
        return Header(
            report_id=_s(ident.get("value")) or Missing(),
            worldwide_id=_s(worldwide.get("value")),
            report_type=read.concept_text(category[0]) if category else Missing(),
            serious=(any(serious_flags) if serious_flags else None),
            criteria=reactions[0].criteria if reactions and agree else (),
            by_reaction=() if agree else tuple((reaction_name(r), _seriousness_text(r)) for r in reactions),
            created=When(date=_s(comp.get("date"))) if _s(comp.get("date")) else None,
            first_received=self.when_extension(first) if first else None,
            most_recent=self.when_extension(recent) if recent else None,
            sender=self.sender(),
            primary_sources=tuple(self.primary_sources()),
            literature=tuple(
                t for t in (_s(read.literature_reference(_d(doc))) for doc in self._section_or_type(
                    "literature", "DocumentReference")) if t),
            study=study,
            amendment=amendment_text,
            other_ids=tuple(
                f"{_s(_d(_d(v).get('assigner')).get('display')) or 'other'}: {_s(_d(v).get('value'))}"
                for v in (_d(e).get("valueIdentifier") for e in _exts(comp, "previous_case_identifier"))
                if _s(_d(v).get("value"))),
        )

    def sender(self) -> Party | None:
        org = self._resolve(self.comp.get("custodian")) if self.comp else {}
        if not org:
            return None
        address = _d(_l(org.get("address"))[0]) if _l(org.get("address")) else {}
        lines = [*(_s(x) for x in _l(address.get("line"))), _s(address.get("city")), _s(address.get("postalCode")),
                 country_name(_s(address.get("country")))]
        contact = "; ".join(
            f"{_s(_d(t).get('system')) or 'contact'} {_s(_d(t).get('value'))}"
            for t in _l(org.get("telecom")) if _s(_d(t).get("value")))
        return Party(
            organization=_s(org.get("name")),
            kind=read.concept_text(_l(org.get("type"))[0]) if _l(org.get("type")) else None,
            address=", ".join(x for x in lines if x) or None,
            country=_s(address.get("country")),
            contact=contact or None,
        )

    def primary_sources(self) -> Iterable[Party]:
        for author in _l(self.comp.get("author")):
            role = self._resolve(author)
            if role.get("resourceType") != "PractitionerRole":
                continue
            practitioner = self._resolve(role.get("practitioner"), role)
            names = _l(practitioner.get("name"))
            name: str | Missing | None = None
            if names:
                first = _d(names[0])
                name = _s(first.get("text")) or " ".join(
                    x for x in [*(_s(g) for g in _l(first.get("given"))), _s(first.get("family"))] if x
                ) or _absent(first) or Missing()
            address = _d(_l(practitioner.get("address"))[0]) if _l(practitioner.get("address")) else {}
            codes = _l(role.get("code"))
            qualification: str | None = None
            if codes:
                qualification = read.concept_text(codes[0]) or (
                    f"qualification {_absent(codes[0]).reason}" if _absent(codes[0]) else None)
            yield Party(
                name=name,
                organization=_s(_d(role.get("organization")).get("display")),
                qualification=qualification,
                country=_s(address.get("country")),
            )

    def patient(self) -> PatientView | None:
        patient = self._resolve(self.comp.get("subject")) if self.comp else _d(self.index.first("Patient"))
        if not patient:
            self.gaps.append("Patient")
            return None
        weight = height = gestation = lmp = None
        age_group = None
        death: list[str] = []
        for key, obs in self._observations(
                self._section_or_type("patient", "Observation") + self._section_or_type("death", "Observation")):
            if key == "weight":
                weight = _qty(obs.get("valueQuantity"))
            elif key == "height":
                height = _qty(obs.get("valueQuantity"))
            elif key == "gestation_at_onset":
                gestation = _qty(obs.get("valueQuantity"))
            elif key == "last_menstrual_period":
                lmp = self._observed_when(obs)
            elif key == "age_group":
                age_group = read.concept_text(obs.get("valueCodeableConcept"))
            elif key == "death_date":
                death.append(f"date {_date_text(self.when(obs, 'valueDateTime'))}")
            elif key == "death_cause":  # the Bundle says which: reported preliminary, autopsy-determined final
                which = "autopsy-determined cause" if obs.get("status") == "final" else "reported cause"
                death.append(f"{which} {read.concept_text(obs.get('valueCodeableConcept')) or 'unknown'}")
            elif key == "autopsy" and isinstance(obs.get("valueBoolean"), bool):
                death.append(f"autopsy {'done' if obs['valueBoolean'] else 'not done'}")
        if patient.get("deceasedBoolean") is True or _s(patient.get("deceasedDateTime")):
            death.insert(0, "the patient died")
        age = None
        for event in self._section_or_type("reactions", "AdverseEvent"):
            age = age or _qty(_safe_ext_value(event, "age_at_onset"))
        records = tuple(
            f"{read.concept_text(_d(i).get('type')) or 'record'}: {_s(_d(i).get('value'))}"
            for i in _l(patient.get("identifier")) if _s(_d(i).get("value")))
        return PatientView(
            initials=self._name_of(patient),
            sex=_s(patient.get("gender")) or _absent(patient.get("_gender")),
            birth_date=self.when(patient, "birthDate"),
            age=age,
            age_group=age_group,
            weight=weight,
            height=height,
            record_numbers=records,
            history=tuple(self._history(c) for c in self._section_or_type("history", "Condition")),
            history_text=_s(_safe_ext_value(self.comp, "history_text")),
            concomitant_therapies=_safe_ext_value(self.comp, "concomitant_therapies"),
            past_drugs=tuple(self._past_drug(s) for s in self._section_or_type("past_drugs", "MedicationStatement")),
            death="; ".join(death) or None,
            country=None,
            gestation=gestation,
            last_menstrual_period=lmp,
            parent=self.parent(),
        )

    def parent(self) -> ParentView | None:
        """D.10, the parent of a parent-child report: the Patient of the Composition's parent section with the
        observations, conditions and past drugs filed beside it (reporter/fhir/build.py build_parent)."""
        if not self.comp:
            return None
        try:
            items = [r for r in self.index.section("parent") if isinstance(r, dict)]
        except (AttributeError, TypeError, KeyError):
            return None
        person = next((r for r in items if r.get("resourceType") == "Patient"), None)
        if person is None:
            return None
        facts = dict(self._observations(r for r in items if r.get("resourceType") == "Observation"))
        return ParentView(
            identification=self._name_of(person),
            sex=_s(person.get("gender")) or _absent(person.get("_gender")),
            age=_qty(_d(facts.get("parent_age")).get("valueQuantity")),
            birth_date=self.when(person, "birthDate"),
            last_menstrual_period=self._observed_when(facts["last_menstrual_period"])
            if "last_menstrual_period" in facts else None,
            weight=_qty(_d(facts.get("weight")).get("valueQuantity")),
            height=_qty(_d(facts.get("height")).get("valueQuantity")),
            history=tuple(self._history(r) for r in items if r.get("resourceType") == "Condition"),
            history_text=_s(_safe_ext_value(person, "history_text")),
            past_drugs=tuple(self._past_drug(r) for r in items if r.get("resourceType") == "MedicationStatement"),
        )

    @staticmethod
    def _observations(observations: Iterable[Json]) -> list[tuple[str, Json]]:
        """Observations with the key their LOINC code has in mappings/fhir.yaml patient_observations."""
        keys = {spec["code"]: key for key, spec in fhir_tables().patient_observations.items()}
        found = []
        for obs in observations:
            key = keys.get(_s(_first_coding(obs.get("code")).get("code")) or "")
            if key:
                found.append((key, obs))
        return found

    def _observed_when(self, obs: Json) -> When | None:
        """A date-valued observation (the last menstrual period): the date, or why it is not known."""
        reason = _s(_first_coding(obs.get("dataAbsentReason")).get("code"))
        return self.when(obs, "valueDateTime") or (When(missing=Missing(reason)) if reason else None)

    @staticmethod
    def _name_of(person: Json) -> str | Missing:
        """D.1 / D.10.1: the initials as given, or made from a name in parts, or why they are not known."""
        names = _l(person.get("name"))
        if not names:
            return Missing()
        return _s(_d(names[0]).get("text")) or _initials_of(_d(names[0])) or _absent(names[0]) or Missing()

    def _history(self, cond: Json) -> HistoryItem:
        code = _d(cond.get("code"))
        coding = _d(read.coding(code, "meddra"))  # another system's code (SNOMED CT, ICD-10) is no MedDRA term
        status = _s(_first_coding(cond.get("clinicalStatus")).get("code"))
        notes = [_s(_d(n).get("text")) for n in _l(cond.get("note"))]
        return HistoryItem(
            term=Coded(_s(read.named(code)) or _s(coding.get("display")), _s(coding.get("code")),
                       "MedDRA" if coding else None, _s(coding.get("version"))),
            start=self.when(cond, "onsetDateTime"),
            end=self.when(cond, "abatementDateTime"),
            continuing={"active": True, "resolved": False}.get(status or "") if status else _absent(
                cond.get("clinicalStatus")),
            comments="; ".join(n for n in notes if n) or None,
        )

    def _past_drug(self, statement: Json) -> str:
        name = read.concept_text(statement.get("medicationCodeableConcept")) or "unnamed drug"
        period = _d(statement.get("effectivePeriod"))
        bits = [name]
        start, end = self.when(period, "start"), self.when(period, "end")
        ids = [_s(c.get("code")) for c in read.codings(statement.get("medicationCodeableConcept"))
               if _s(c.get("code")) and c.get("code") != name]
        if ids:
            bits.append(f"[{', '.join(ids)}]")  # D.8.r.2 / D.10.8.r.2: the MPID or PhPID
        if start and start.date:
            bits.append(f"from {_date_text(start)}")
        if end and end.date:
            bits.append(f"to {_date_text(end)}")
        for label, concept in [("indication", c) for c in _l(statement.get("reasonCode"))] + [
                ("reaction", _safe_ext_value(statement, "past_drug_reaction"))]:
            words = _meddra_words(concept)
            if words:
                bits.append(f"{label}: {words}")
        return " ".join(bits)

    def reactions(self) -> list[ReactionView]:
        out = []
        events = self._section_or_type("reactions", "AdverseEvent")
        if not events:
            self.gaps.append("Reactions (AdverseEvent)")
        for index, event in enumerate(events):
            concept = _d(event.get("event"))
            coding = _d(read.coding(concept, "meddra"))
            translation = None
            for e in _l(_d(concept.get("_text")).get("extension")):
                translation = translation or _s(read.sub_value(e, "content"))
            criteria = []
            for e in _exts(event, "seriousness_criterion"):
                code = _d(read.sub_value(e, "criterionCode"))
                label = _s(code.get("display")) or "serious"
                present = read.sub_value(e, "criterionPresent")
                if present is True:
                    criteria.append(label)
                elif present is not False:
                    criteria.append(f"{label}: not known")
            if not _exts(event, "seriousness_criterion"):
                criteria = _criteria_said_by_seriousness(event)
            seriousness = _s(_first_coding(event.get("seriousness")).get("code"))
            serious = None if seriousness is None else seriousness.lower() != "non-serious"
            end = None
            duration = None
            date_holder = _d(event.get("_date"))
            for e in _exts(date_holder, "event_end_date") + _exts(date_holder, "reaction_end"):
                end = end or self.when_extension(e)
            for e in _exts(date_holder, "event_duration"):
                duration = duration or _qty(e.get("valueDuration"))
            outcome = _d(_first_coding(event.get("outcome")))
            out.append(ReactionView(
                key=_s(event.get("id")) or f"r{index}",
                verbatim=_s(read.named(concept)) or _s(coding.get("display")) or Missing(),
                term=Coded(_s(coding.get("display")), _s(coding.get("code")), "MedDRA",
                           _s(coding.get("version"))) if coding else None,
                translation=_s(translation),
                onset=self.when(event, "date"),
                end=end,
                duration=duration,
                outcome=_s(outcome.get("display")) or _s(outcome.get("code")) or Missing(),
                serious=serious,
                criteria=tuple(criteria),
                country=_s(_safe_ext_value(event, "reaction_country")),
                medically_confirmed=_safe_ext_value(event, "medically_confirmed"),
                highlighted=_highlighted(event),
                situation=_situation(coding, concept, translation),
            ))
        return out

    def drugs(self) -> list[DrugView]:
        out = []
        if not self.suspects:
            self.gaps.append("Suspect drug (MedicationStatement with role suspect or interacting)")
        for statement in self.statements:
            med = _d(self.index.medication_of(statement))
            substances = tuple(t for t in (read.concept_text(_d(i).get("itemCodeableConcept"))
                                           for i in _l(med.get("ingredient"))) if t)
            dosages = []
            for dosage in _l(statement.get("dosage")):
                dosage = _d(dosage)
                repeat = _d(_d(dosage.get("timing")).get("repeat"))
                period = _d(repeat.get("boundsPeriod"))
                interval = _qty(_safe_ext_value(dosage, "dosing_interval"))
                every_ = read.repeat_interval(repeat)
                if interval is None and every_ is not None:
                    interval = Qty(float(every_["value"]), every_["unit"])
                every = every_text(interval.value, interval.unit) if interval else None
                dose = None
                for dr in _l(dosage.get("doseAndRate")):
                    dose = dose or _qty(_d(dr).get("doseQuantity"))
                if dose and dose.unit.endswith("/d") and every and every != "daily" \
                        and interval and not interval.unit.startswith("{"):
                    every = f"divided {every}"  # 2 mg/kg/day every 8 h is a day's dose in three, not each dose
                route = dosage.get("route")
                start, stop = self.when(period, "start"), self.when(period, "end")
                duration = _qty(_safe_ext_value(dosage, "dosage_duration"))
                if stop is None and duration is None and _given_once(dosage):
                    stop = start  # given once: its last dose is its start (report, CIOMS boxes 18 and 19)
                dosages.append(DosageView(
                    dose=dose, every=every, interval=interval,
                    route=self._route(route),
                    route_text=self._route_reported(route),
                    form=read.concept_text(read.dosage_form(dosage, med)),
                    start=start, stop=stop, duration=duration,
                    text=_s(dosage.get("text")),
                    batch=_s(read.dosage_batch(dosage, med)),
                    parent_route=self._route(_safe_ext_value(dosage, "parent_route")),
                ))
            out.append(DrugView(
                key=self.index.key_of(statement),
                role=self._role(statement),
                product=self.drug_name(statement) or Missing(),
                substances=substances,
                dosages=tuple(dosages),
                indications=tuple(t for t in (read.concept_text(r) for r in _l(statement.get("reasonCode"))) if t),
                action_taken=_s(_d(_safe_ext_value(statement, "action_taken")).get("display")),
                cumulative_dose=_qty(_safe_ext_value(statement, "cumulative_dose")),
                gestation_at_exposure=_qty(_safe_ext_value(statement, "gestation_at_exposure")),
                obtained_in=_s(_safe_ext_value(med, "country_obtained")),
                blinded=blinded if isinstance(blinded := _safe_ext_value(med, "blinded"), bool) else None,
                authorisation=_authorisation(med),
                additional_info=tuple(
                    t for t in (_s(_d(e.get("valueCoding")).get("display"))
                                for e in _exts(statement, "additional_info")) if t),
                additional_text="; ".join(
                    t for t in (_s(_d(n).get("text")) for n in _l(statement.get("note"))) if t) or None,
            ))
        return out

    @staticmethod
    def _route(concept: Any) -> str | None:
        """A route (G.k.4.r.10 or the parent's, G.k.4.r.11) as its display or text."""
        return _s(_first_coding(concept).get("display")) or _s(_d(concept).get("text"))

    @staticmethod
    def _route_reported(concept: Any) -> str | None:
        """The route's text when it says more than its coded display: "intravenous infusion over 15 minutes"
        tells how the drug was given, which "Intravenous (not otherwise specified)" does not; "intravenous"
        adds nothing to it."""
        text, display = _s(_d(concept).get("text")), _s(_first_coding(concept).get("display"))
        return text if text and display and text.strip().lower() not in display.lower() else None

    def assessments(self, reactions: list[ReactionView]) -> list[AssessmentView]:
        names = {r.key: r for r in reactions}
        out = []
        for event in self._section_or_type("reactions", "AdverseEvent"):
            reaction = names.get(_s(event.get("id")) or "")
            label = _pair_label(reactions, reaction) if reaction else Missing()
            for entity in _l(event.get("suspectEntity")):
                entity = _d(entity)
                statement = self._resolve(entity.get("instance"))
                interval = _ext1(entity, "onset_interval")
                dechallenge = _s(_d(_safe_ext_value(entity, "dechallenge")).get("code"))
                rechallenge_code = _s(_d(_safe_ext_value(entity, "rechallenge")).get("code"))
                rechallenge = {"1": "recurred", "2": "did-not-recur", "3": "unknown-outcome",
                               "4": "not-done"}.get(rechallenge_code or "")
                results = tuple(
                    (_s(_d(c.get("author")).get("display")) or "not stated",
                     read.concept_text(c.get("method")) or "not stated",
                     read.concept_text(c.get("assessment")) or "not stated")
                    for c in (_d(x) for x in _l(entity.get("causality"))))
                first = _qty(read.sub_value(interval, "afterFirstDose")) if interval else None
                worked_out = None
                onset = _span_of(reaction.onset) if reaction else None
                start = self._drug_span(statement, "first-dose") if statement else None
                if first is None and onset and start:  # both on the day axis: dated, or relative to a drug
                    worked_out = Interval(onset[0] - start[1], onset[1] - start[0], "",
                                          reaction.onset.qualifier if reaction else None).text
                out.append(AssessmentView(
                    drug=(self.drug_name(statement) if statement else None) or "unknown drug",
                    reaction=label,
                    onset_after_first_dose=first,
                    onset_worked_out=worked_out is not None,
                    onset_worked_text=worked_out,
                    onset_after_last_dose=_qty(read.sub_value(interval, "afterLastDose")) if interval else None,
                    dechallenge=dechallenge,
                    rechallenge=rechallenge,
                    results=results,
                ))
        return out

    def labs(self) -> list[LabRow]:
        rows = []
        for obs in self._section_or_type("tests", "Observation"):
            code = _d(obs.get("code"))
            loinc = next((c for c in map(_d, _l(code.get("coding"))) if c.get("system") == system("loinc")), None)
            coding = _d(loinc) or _first_coding(code)
            value = _qty(obs.get("valueQuantity"))
            ranges = _l(obs.get("referenceRange"))
            rng = _d(ranges[0]) if ranges else {}
            low, high = _qty(rng.get("low")), _qty(rng.get("high"))
            name = _s(code.get("text")) or _s(coding.get("display")) or "unnamed test"
            analyte = lab.analyte_key(_s(_d(loinc).get("code")), name)
            comparator = value.comparator if value else None
            xuln = lab.multiple_of_uln(value.value if value else None, high.value if high else None, comparator)
            result_text = _s(read.result_words(obs)) or _s(_safe_ext_value(obs, "result_text"))
            interpretation = _l(obs.get("interpretation"))
            if interpretation:
                result_text = _with_result_code(result_text, _interpretation_text(obs, interpretation))
            rows.append(LabRow(
                test=Coded(name, _s(coding.get("code")),
                           "LOINC" if coding.get("system") == system("loinc") else None),
                when=self.when(obs, "effectiveDateTime"),
                value=value,
                result_text=result_text,
                low=low.value if low else None,
                high=high.value if high else None,
                unit=(high or low).unit if (high or low) else None,
                flag=lab.flag(value.value if value else None, low.value if low else None,
                              high.value if high else None, comparator),
                xuln=xuln,
                grade=lab.ctcae_grade(analyte, xuln) if analyte else None,
                comments="; ".join(t for t in (_s(_d(n).get("text")) for n in _l(obs.get("note"))) if t) or None,
                range_text=_s(rng.get("text")),
            ))
        # Group each test's results together, in the order tests first appear; then by time.
        order: dict[str, int] = {}
        for row in rows:
            order.setdefault(row.test.text or "", len(order))
        rows = sorted(rows, key=lambda r: (order[r.test.text or ""],
                                           r.when.day if r.when and r.when.day is not None else float("inf")))
        return self._mark_baselines(rows)

    def _mark_baselines(self, rows: list[LabRow]) -> list[LabRow]:
        """Flag each test's last value at or before the first suspect dose (day <= 0) when out of range. A value
        on the first-dose day itself is no baseline when a reaction began that day too: without the hours, it
        may be the reaction (hypoglycaemia hours after a single dose), not the state before the drug."""
        if self.axis != "day":
            return rows
        onsets = self._onset_spans()
        last: dict[str, int] = {}
        for i, row in enumerate(rows):
            day = row.when.day if row.when else None
            if row.value is not None and day is not None \
                    and liver.is_baseline_time(Span(day, day, "first:anchor"), onsets):
                last[row.test.text or ""] = i
        for i in last.values():
            if rows[i].flag in ("H", "L"):
                rows[i] = dataclasses.replace(rows[i], baseline_abnormal=True)
        return rows

    def _onset_spans(self) -> list[Span]:
        """Where each reaction (situation terms too) began on the day axis: what a value on the first-dose day is
        weighed against before it is called a baseline (liver.is_baseline_time)."""
        whens = (self.when(e, "date") for e in self._section_or_type("reactions", "AdverseEvent"))
        return [Span(*days, "first:anchor") for days in (_span_of(w) for w in whens) if days]

    def baselines(self, rows: list[LabRow]) -> list[str]:
        lines = []
        for row in rows:
            if not row.baseline_abnormal or row.value is None:
                continue
            limit = row.high if row.flag == "H" else row.low
            side = "above the upper" if row.flag == "H" else "below the lower"
            value = quantity_text(row.value.value, row.value.unit, row.value.comparator)
            ref = f" ({quantity_text(limit, row.value.unit)})" if limit is not None else ""
            lines.append(f"{row.test.text} {value} on {_when_text(row.when)}: {side} limit of normal{ref}.")
        return lines

    # -- charts and derived findings --------------------------------------------------------------

    def axis_label(self) -> str | None:
        if self.axis == "date":
            return "Date"
        if self.axis != "day" or not self.anchor:
            return None
        name = self.substance_name(self.anchor) or self.drug_name(self.anchor) or "suspect drug"
        return f"Days after first {name} dose"

    def figures(self, rows: list[LabRow], reactions: list[ReactionView]) -> tuple[list[Figure], str | None]:
        """One chart per test with two or more placed values, all on one y scale kind chosen for the case
        (with the reason), each also drawn in the other scale for the page's toggle."""
        label = self.axis_label()
        if label is None:
            return [], None
        series, notes = _chart_series(rows)
        exposures = []
        for statement in self.suspects:
            start = self._drug_day(statement, "first-dose")
            end = self._drug_day(statement, "last-dose")
            if start is not None:
                name = self.drug_name(statement) or "suspect drug"
                exposures.append(Exposure(f"{name} ({self._role(statement)})", start, end))
        onsets: dict[float, list[str]] = {}
        harms = [r for r in reactions if not r.situation]  # a situation term beside a harm marks no onset
        for r in harms or reactions:
            if r.onset and r.onset.day is not None:
                term = reaction_name(r)
                onsets.setdefault(r.onset.day, []).append(term)
        markers = tuple(Marker(f"Onset: {', '.join(terms)}", day) for day, terms in sorted(onsets.items()))
        liver_order = list(lab.lab_table()["analytes"])

        def rank(item: tuple[tuple[str, str], list[LabRow]]) -> int:
            first = item[1][0]
            key = lab.analyte_key(first.test.code, first.test.text)
            return liver_order.index(key) if key in liver_order else len(liver_order)

        drawn: list[tuple[str, Series, int, str]] = []
        charted = {k for k, items in series.items() if len(_placed(items)) >= 2}
        for (name, unit), items in sorted(series.items(), key=rank):
            placed = _placed(items)
            if (name, unit) not in charted:
                continue
            highs = [r.high for r in placed if r.high is not None]
            lows = [r.low for r in placed if r.low is not None]
            key = re.sub(r"[^a-z0-9]+", "-", f"{name} {unit}".lower()).strip("-") or f"lab{len(drawn)}"
            points = tuple(Point(r.when.day, r.value.value, r.value.comparator)
                           for r in placed if r.when and r.when.day is not None and r.value)
            note = " ".join([*notes.get((name, unit), ()), *_left_out(series, charted, name, unit),
                             *_placed_in_span(placed)])
            drawn.append((key, Series(name, unit_text(unit), points, uln=highs[-1] if highs else None,
                                      lln=lows[-1] if lows else None), len(items) - len(placed), note))
        if not drawn:
            return [], None
        scale, reason = choose_scale([s for _, s, _, _ in drawn])
        other = "linear" if scale == "log" else "log"
        origin = self.origin if self.axis == "date" else None
        by = "by date" if origin else "by day after the first dose"
        figures = []
        for key, s, not_plotted, note in drawn:
            def chart(kind: str, ident: str, s: Series = s, not_plotted: int = not_plotted) -> Chart:
                return Chart(key=ident, series=s, x_label=label, exposures=tuple(exposures), markers=markers,
                             origin=origin, scale=kind, not_plotted=not_plotted)  # type: ignore[arg-type]

            uln = f", upper limit of normal {fmt_num(s.uln)} {s.unit}".rstrip() if s.uln is not None else (
                ", no reference range")
            unit = f" ({s.unit})" if s.unit else ""
            caption = f"{s.name}{unit} {by}{uln}." + (f" {note}" if note else "")
            figures.append(Figure(key, caption, render_chart(chart(scale, key)),
                                  render_chart(chart(other, f"{key}-{other}"))))
        return figures, reason

    def chart_gaps(self, rows: list[LabRow]) -> list[str]:
        """Why a test with two or more numeric values has no chart (a single value is never charted): a page
        that leaves such a chart out says so."""
        series, _ = _chart_series(rows)
        if not series:
            return []
        if self.axis_label() is None:
            return ["No charts: the case has no time axis (no suspect drug's first dose dated to the day, no time "
                    "relative to a drug, no full date)."]
        charted = {k for k, items in series.items() if len(_placed(items)) >= 2}
        out = []
        for (name, unit), items in series.items():
            if len(items) < 2 or (name, unit) in charted or any(n == name for n, _ in charted):
                continue  # one value, charted, or named under the chart of its test (_left_out)
            placed = len(_placed(items))
            shown = f" ({unit_text(unit)})" if unit_text(unit) else ""
            out.append(f"{name}{shown}: not charted: {placed} of its {len(items)} values at a time that can be "
                       "placed on the axis (the table lists them all).")
        return out

    def lab_points(self, rows: list[LabRow]) -> list[liver.LabPoint]:
        """The rows as liver.py's points, on the day axis (first dose of the first suspect drug)."""
        frame = "first:anchor"
        points = []
        for index, row in enumerate(rows):
            key = lab.analyte_key(row.test.code, row.test.text)
            if key is None:
                continue
            days = _span_of(row.when)
            span = Span(days[0], days[1], frame) if days else None
            value = row.value.value if row.value else None
            points.append(liver.make_point(key, index, value, row.high, row.value.comparator if row.value else None,
                                           span, row.comments, None, row.result_text))
        return points

    def graded(self, rows: list[LabRow]) -> list[LabRow]:
        """CTCAE grade of each row against its baseline (x baseline when the baseline is above ULN)."""
        points = self.lab_points(rows)
        onsets = self._onset_spans() if self.axis == "day" else []
        out = list(rows)
        for p in points:
            if p.xuln is None or p.analyte not in lab.lab_table()["ctcae_xuln"]:
                continue
            grade = liver.ctcae(p, liver.baseline_of(points, p.analyte, onsets))
            out[p.index] = dataclasses.replace(out[p.index], grade=grade.grade, grade_rule=grade.rule)
        return out

    def liver_findings(self, rows: list[LabRow], reactions: list[ReactionView]) -> list[str]:
        points = self.lab_points(rows)
        enzymes = [p for p in points if p.analyte in ("alt", "ast") and p.value is not None]
        if not enzymes:
            return []
        lines = []
        enzyme = "alt" if any(p.analyte == "alt" for p in enzymes) else "ast"
        peak_point = max((p for p in enzymes if p.analyte == enzyme), key=lambda p: p.value or 0)
        peak = rows[peak_point.index]
        where = f" at {_when_text(peak.when)}" if peak.when else ""
        grade = f"; CTCAE v5: {peak.grade_rule}" if peak.grade_rule else (
            f", CTCAE grade {peak.grade}" if peak.grade is not None else "")
        xuln = f" ({peak.xuln:.1f} × ULN{grade})" if peak.xuln is not None else " (no reference range)"
        lines.append(f"Peak {lab.analyte_label(enzyme)}: {fmt_num(peak.value.value)} {peak.value.unit}{xuln}{where}.")
        onsets = [s for s in (_span_of(r.onset) for r in reactions) if s]
        not_before = Span(*min(onsets), "first:anchor") if onsets else None
        lines.append(liver.r_at_recognition(points, not_before=not_before).text + ".")
        lines.append(liver.hys_law(points).text + ".")
        if self.anchor is not None:
            # the last dose of the episode, as `reporter assess` counts it (a rechallenge is a later course)
            stop = self._drug_span(self.anchor, "last-dose", before=min(onsets) if onsets else None)
            if stop is not None:
                lines.append(liver.normalisation(points, Span(*stop, "first:anchor"), enzyme).text + ".")
        for r in reactions:
            if r.onset and r.onset.offset is not None and r.onset.anchor:
                term = reaction_name(r)
                lines.append(f"Time to onset of {term}: {quantity(r.onset.offset)} after the {r.onset.anchor}.")
        return lines

    def narrative(self) -> NarrativeView:
        def section_text(key: str) -> tuple[str | None, list[tuple[str, str]]]:
            try:
                element = self.index.section_element(key) if self.comp else None
            except (AttributeError, TypeError, KeyError):
                element = None
            return narrative_text(_d(_d(element).get("text")).get("div"), collapse_whitespace=True)

        text, summaries = section_text("narrative")
        reporter_comments, _ = section_text("reporter_comments")
        sender_comments, _ = section_text("sender_comments")
        diagnoses = []
        for cond in self._section_or_type("sender_diagnosis", "Condition"):
            coding = _d(read.coding(cond.get("code"), "meddra"))
            diagnoses.append(Coded(_s(read.named(cond.get("code"))) or _s(coding.get("display")),
                                   _s(coding.get("code")), "MedDRA", _s(coding.get("version"))))
        if text is None:
            self.gaps.append("Case narrative")
        return NarrativeView(
            text=text or Missing(),
            reporter_comments=reporter_comments,
            sender_comments=sender_comments,
            sender_diagnoses=tuple(diagnoses),
            summaries=tuple(summaries),
        )


def _span_of(w: When | None) -> Days | None:
    """The days on the axis a time covers: its span, or its day."""
    if w is None or w.day is None:
        return None
    return w.span or (w.day, w.day)


def _authorisation(med: Json) -> str | None:
    """G.k.3 as one line: 'number PL 12345/0001, United Kingdom, holder Example Ltd'."""
    found = read.extension(med, "authorisation")
    if not isinstance(found, dict):
        return None
    number = _s(_d(read.sub_value(found, "number")).get("value"))
    country, holder = _s(read.sub_value(found, "country")), _s(read.sub_value(found, "holder"))
    parts = [f"number {number}" if number else None, country_name(country), f"holder {holder}" if holder else None]
    return ", ".join(p for p in parts if p) or None


def _relative(extension_: Any) -> read.Relative | None:
    try:
        rel = read.relative_from_extension(_d(extension_))
    except (AttributeError, TypeError, ValueError):
        return None
    if rel is None or not isinstance(rel.unit, str) or not isinstance(rel.drug_reference, str):
        return None
    return rel


_ANNOTATION = re.compile(r"\{[^{}]*\}")


def _placed(items: list[LabRow]) -> list[LabRow]:
    """Rows a chart can place: a number on the case's time axis."""
    return [r for r in items if r.when and r.when.day is not None and r.value]


def _placed_in_span(placed: list[LabRow]) -> list[str]:
    """Values known only to a span of days (a time in months) are charted at its middle: said under the chart."""
    spanned = [f"{_value_text(r)} ({_when_text(r.when)})" for r in placed if r.when and r.when.span]
    return [f"Charted at the middle of the days it may fall on: {', '.join(spanned)}."] if spanned else []


def _in_unit(row: LabRow, target: str) -> LabRow | None:
    """The row with its value and range in `target` when UCUM converts one to the other (52.7 ug/mL is
    52.7 mg/L) and both carry the same annotations (mg/L{FEU} is not mg/L{DDU}); None when it does not."""
    if row.value is None or row.value.unit == target:
        return row
    unit = row.value.unit
    if _ANNOTATION.findall(unit) != _ANNOTATION.findall(target):
        return None
    molar_mass = _molar_mass(row.test)

    def converted(number: float, source: str) -> float | None:
        """UCUM's conversion; a mass to a substance concentration (or back) through the analyte's molar mass,
        as published cases give bilirubin in mg/dL beside umol/L."""
        found = ucum_units.convert(number, source, target)
        if found is None and molar_mass:
            found = ucum_units.convert_molar(number, source, target, molar_mass)
        return found

    value = converted(row.value.value, unit)
    if value is None:
        return None
    range_unit = row.unit or unit

    def limit(bound: float | None) -> float | None:
        return converted(bound, range_unit) if bound is not None else None

    return dataclasses.replace(row, value=Qty(value, target, row.value.comparator), low=limit(row.low),
                               high=limit(row.high), unit=target)


def _molar_mass(test: Coded) -> float | None:
    """The molar mass (g/mol) of a LOINC-coded analyte, from the plausibility table (bilirubin, creatinine...)."""
    spec = (ucum_units.table().get("loinc") or {}).get(test.code or "") if test.system == "LOINC" else None
    return float(spec["molar_mass"]) if spec and spec.get("molar_mass") else None


def _chart_unit(items: list[LabRow]) -> str:
    """The unit a test is charted in: the one most of its values have (the first seen on a tie)."""
    units = [r.value.unit for r in items if r.value]
    return max(dict.fromkeys(units), key=units.count)


def _chart_series(rows: list[LabRow]) -> tuple[dict[tuple[str, str], list[LabRow]], dict[tuple[str, str], list[str]]]:
    """Each test's values by (test, unit), a value in an equivalent unit converted to the test's chart unit,
    and for each series the sentences that say which values were converted."""
    by_test: dict[str, list[LabRow]] = {}
    for row in rows:
        if row.value is not None:
            by_test.setdefault(row.test.text or "", []).append(row)
    series: dict[tuple[str, str], list[LabRow]] = {}
    notes: dict[tuple[str, str], list[str]] = {}
    for name, items in by_test.items():
        target = _chart_unit(items)
        for row in items:
            moved = _in_unit(row, target)
            if moved is None or moved.value is None or row.value is None:
                series.setdefault((name, row.value.unit if row.value else ""), []).append(row)
                continue
            series.setdefault((name, target), []).append(moved)
            if moved is not row:
                notes.setdefault((name, target), []).append(
                    f"{_value_text(row)} is charted as {_value_text(moved)}.")
    return series, notes


def _left_out(series: dict[tuple[str, str], list[LabRow]], charted: set[tuple[str, str]], name: str,
              unit: str) -> list[str]:
    """Values of the test in a unit that does not convert to the chart's and has no chart of its own: said
    under the chart, so that a value is never dropped silently."""
    out = []
    for (other_name, other_unit), items in series.items():
        if other_name == name and other_unit != unit and (other_name, other_unit) not in charted:
            values = ", ".join(_value_text(r) for r in items)
            out.append(f"Not charted: {values} (the unit does not convert to {unit_text(unit) or unit}; "
                       "see the table).")
    return out


def _value_text(row: LabRow) -> str:
    q = row.value
    return quantity_text(q.value, q.unit, q.comparator) if q else ""


def _situation(coding: dict[str, Any], concept: dict[str, Any], translation: Any) -> str | None:
    """What a situation term reports ("a situation (off-label use)"), or None for a reaction."""
    found = situation_for(_s(coding.get("code")), [_s(coding.get("display")), _s(concept.get("text")),
                                                   _s(translation)])
    return found.kind_label if found else None


def reaction_label(r: ReactionView) -> str | Coded | Missing:
    """What names a reaction in a table: its MedDRA term, else the reported term, else the bare code; a
    reaction with none of them is a gap, never the repr of Missing."""
    if r.term and r.term.text:
        return r.term.text
    if isinstance(r.verbatim, str):
        return r.verbatim
    if r.term and r.term.code:
        return r.term
    return r.verbatim if isinstance(r.verbatim, Missing) else Missing()


def _pair_label(reactions: list[ReactionView], reaction: ReactionView) -> str | Coded | Missing:
    """A reaction as a causality line names it; with its place among the reactions when another has the same
    label, as the computed assessment does (reporter.assess.facts.pair_reaction_name)."""
    label = reaction_label(reaction)
    if not isinstance(label, str) or sum(reaction_label(r) == label for r in reactions) < 2:
        return label
    return f"{label} (reaction {reactions.index(reaction) + 1})"


def reaction_name(r: ReactionView) -> str:
    """The reaction's name as plain text (chart markers, derived sentences)."""
    label = reaction_label(r)
    if isinstance(label, Coded):
        return f"MedDRA {label.code}"
    return label if isinstance(label, str) else "reaction (term not stated)"


def _seriousness_text(r: ReactionView) -> str:
    """One reaction's seriousness for the header, where the reactions differ: its criteria, or why none."""
    if r.serious is None:
        return "seriousness not stated"
    if not r.serious:
        return "not serious"
    return ", ".join(r.criteria) or "serious, no criterion stated"


def _date_text(w: When | None) -> str:
    """A date in the page's reading form (14 Mar 2016), as every other date on the page; else why it is not
    known in the page's words (masked, asked, unknown), else `unknown`."""
    if w and (w.date or w.offset is not None):
        return _when_text(w)
    reason = w.missing.reason if w and w.missing else None
    return ABSENT_TEXT.get(reason or "", reason) if reason else "unknown"


def _when_text(w: When) -> str:
    if w.date:
        return str(partial_date(w.date))
    if w.span is not None:  # as reporter/assess words a span of days
        return f"day {fmt_num(w.span[0])}-{fmt_num(w.span[1])}"
    if w.offset is not None:
        value = fmt_num(w.offset.value)
        return f"day {value}" if w.offset.unit == "d" else quantity_text(w.offset.value, w.offset.unit)
    return "an unknown time"


def issues_from(report: Any) -> list[IssueView]:
    """The validation report's issues, duck-typed (Issue objects or dicts)."""
    out = []
    for issue in getattr(report, "issues", None) or (report if isinstance(report, list) else []):
        get = issue.get if isinstance(issue, dict) else (lambda name, i=issue: getattr(i, name, None))
        severity = get("severity")
        severity = getattr(severity, "value", severity)
        out.append(IssueView(str(severity or "error").lower(), str(get("code") or ""), str(get("location") or ""),
                             str(get("message") or ""), get("hint"), get("field")))
    return out


MINIMUM_CRITERIA = "ICSR-MIN-"


def verdict(issues: list[IssueView]) -> tuple[str, ...]:
    """Why a case is not valid, from its validation issues: the ICSR minimum criteria it fails (by name),
    then the count of other errors; empty when it has no errors."""
    errors = [i for i in issues if i.severity in ("fatal", "error")]
    minimum = [i.message.split(":")[0] for i in errors if i.code.startswith(MINIMUM_CRITERIA)]
    out = [f"it fails the ICSR minimum criteria ({'; '.join(minimum)})"] if minimum else []
    others = len(errors) - len(minimum)
    if others:
        out.append(f"{'another ' if minimum else ''}{others} error(s) found by validation")
    return tuple(out)


def _initials_of(name: Json) -> str | None:
    """Initials from a name given in parts (a structured D.1): the report and CIOMS show initials only."""
    parts = [p for p in [*_l(name.get("given")), name.get("family")] if isinstance(p, str) and p.strip()]
    return "".join(p.strip()[0].upper() for p in parts) or None


def case_view(bundle: Any, validation: Any = None, case: Any = None, checked: Any = None) -> CaseView:
    """Extract everything the report shows; `validation` is a ValidationReport (or None: not validated);
    `case` is the case file the Bundle was built from, when there is one (for the computed assessments);
    `checked`: a report used only for the not-valid banner when the panel is left out (validation None)."""
    from reporter.render.assessment import computed_assessments

    if not isinstance(bundle, dict):
        bundle = {}
    x = _Extractor(bundle)
    if bundle.get("resourceType") != "Bundle":
        x.gaps.append("a FHIR Bundle (the input is not one)")
    reactions = x.reactions()
    drugs = x.drugs()
    rows = x.graded(x.labs())
    header = x.header(reactions)
    computed, computed_note = computed_assessments(case)
    figures, scale_note = x.figures(rows, reactions)
    return CaseView(
        header=header,
        patient=x.patient(),
        reactions=tuple(reactions),
        drugs=tuple(drugs),
        assessments=tuple(x.assessments(reactions)),
        labs=tuple(rows),
        figures=tuple(figures),
        scale_note=scale_note,
        chart_notes=tuple(x.chart_gaps(rows)),
        baselines=tuple(x.baselines(rows)),
        liver=tuple(x.liver_findings(rows, reactions)),
        day_axis=x.axis_label(),
        narrative=x.narrative(),
        issues=tuple(issues_from(validation)) if validation is not None else (),
        validated=validation is not None,
        not_valid=verdict(issues_from(validation if validation is not None else checked)),
        gaps=tuple(dict.fromkeys(x.gaps)),
        computed=computed,
        computed_note=computed_note,
    )
