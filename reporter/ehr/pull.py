"""Pull a DRAFT case from a hospital's FHIR R4 server: patient, drugs, labs, history, stays, death.

The draft is not a case file: it wraps one (`case`) with where every pulled fact came from (`sources`, also
written as FHIR Provenance in the draft Bundle), what a person must still add (`still_needed`, from the same
validation that guards export) and hints to weigh (a hospital stay, a death). `reporter confirm` turns a
reviewed draft into a case file; nothing is exported or pushed before that.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from pydantic import ValidationError

from reporter.casefile import model as m
from reporter.ehr.client import EHRError, FhirClient
from reporter.errors import InputError
from reporter.fhir.read import repeat_interval
from reporter.tables import load_yaml

Json = dict[str, Any]
DRAFT_FORMAT = "ae-reporter/draft/1"
IDENTITY_CHOICES = ("initials", "masked", "initials+record")


@cache
def ehr_tables() -> Json:
    from reporter.errors import MappingError

    data = load_yaml("ehr.yaml")
    for key in ("systems", "body", "inpatient_classes", "void_statuses", "ended_statuses", "duration_days", "windows",
                "lab_results_per_test", "message"):
        if key not in (data or {}):
            raise MappingError(f"mappings/ehr.yaml has no {key!r}")
    return data


def sys_url(key: str) -> str:
    return ehr_tables()["systems"][key]


@dataclass
class PullRequest:
    """What to pull. Windows are days around the reaction date."""

    reaction_date: dt.date
    suspects: list[str]
    patient_id: str | None = None
    identifier: tuple[str, str] | None = None
    reaction: str | None = None
    case_id: str | None = None
    identity: str = "initials"
    drugs_before: int | None = None
    drugs_after: int | None = None
    labs_before: int | None = None
    labs_after: int | None = None
    labs_baseline: int | None = None
    today: dt.date | None = None

    def window(self, name: str) -> int:
        value = getattr(self, name)
        return int(ehr_tables()["windows"][name] if value is None else value)


@dataclass
class Source:
    """One pulled fact: the case-file path it fills and the server resource (type/id/version) it came from."""

    path: str
    resource: str
    codes: list[Json] = field(default_factory=list)

    def to_json(self) -> Json:
        out: Json = {"path": self.path, "resource": self.resource}
        if self.codes:
            out["codes"] = self.codes
        return out


@dataclass
class Draft:
    case: m.CaseFile
    server: str
    patient: str
    pulled_at: str
    request: PullRequest
    sources: list[Source] = field(default_factory=list)
    still_needed: list[Json] = field(default_factory=list)
    hints: list[str] = field(default_factory=list)

    def to_data(self) -> Json:
        r = self.request
        return {
            "$format": DRAFT_FORMAT,
            "status": "draft",
            "confirm": "A person reviews this draft, adds what still_needed lists, then runs "
                       "`reporter confirm` to turn it into a case file.",
            "pulled": {"server": self.server, "patient": self.patient, "at": self.pulled_at,
                       "reaction_date": r.reaction_date.isoformat(), "suspects": list(r.suspects),
                       "windows_days": {k: r.window(k) for k in ("drugs_before", "drugs_after", "labs_before",
                                                                  "labs_after", "labs_baseline")}},
            "still_needed": self.still_needed,
            "hints": self.hints,
            "sources": [s.to_json() for s in self.sources],
            "case": case_data(self.case),
        }

    def bundle(self) -> Json:
        """The draft's document Bundle: Composition 'preliminary', one Provenance per pulled resource."""
        return draft_bundle(self)


def case_data(case: m.CaseFile) -> Json:
    """The case as a person edits it: what is known, without empty lists and default flags."""
    data = case.model_dump(mode="json", by_alias=True, exclude_none=True, exclude_defaults=True)
    return {"$format": case.format, **data}


# --------------------------------------------------------------------------------------------------
# Small readers of FHIR values
# --------------------------------------------------------------------------------------------------


def ref_of(resource: Json) -> str:
    ref = f"{resource.get('resourceType')}/{resource.get('id')}"
    version = (resource.get("meta") or {}).get("versionId")
    return f"{ref}/_history/{version}" if version else ref


def day(value: str | None) -> dt.date | None:
    """The calendar day of a FHIR date/dateTime (a partial date counts as its first day)."""
    if not value or not isinstance(value, str):
        return None
    text = value[:10]
    parts = text.split("-")
    try:
        return dt.date(int(parts[0]), int(parts[1]) if len(parts) > 1 else 1, int(parts[2]) if len(parts) > 2 else 1)
    except (ValueError, IndexError, OverflowError):  # OverflowError: a year too large for a C int
        return None


def partial(value: str | None) -> str | None:
    """A FHIR date/dateTime the case model accepts (dateTimes without a zone are cut to the day)."""
    if not value:
        return None
    try:
        return m._check_partial_date(value)
    except ValueError:
        return value[:10] if day(value) else None


def codings(concept: Json | None) -> list[Json]:
    return [c for c in (concept or {}).get("coding") or [] if isinstance(c, dict)]


def concept_text(concept: Json | None) -> str | None:
    if not concept:
        return None
    return concept.get("text") or next((c.get("display") for c in codings(concept) if c.get("display")), None) \
        or next((c.get("code") for c in codings(concept) if c.get("code")), None)


def code_in(concept: Json | None, system_key: str) -> str | None:
    url = sys_url(system_key)
    return next((c.get("code") for c in codings(concept) if c.get("system") == url and c.get("code")), None)


def kept_codes(concept: Json | None) -> list[Json]:
    return [{k: c[k] for k in ("system", "code", "display") if c.get(k)} for c in codings(concept)]


def ucum(q: Json | None) -> tuple[float, str] | None:
    if not q or not isinstance(q.get("value"), int | float):
        return None
    unit = q.get("code") if q.get("system") == sys_url("ucum") and q.get("code") else (q.get("unit") or q.get("code"))
    return float(q["value"]), str(unit or "1")


def case_unit(unit: str) -> str | None:
    """The UCUM code of a unit a server sent without one (mappings/ucum_input.yaml spellings: IU/L, mcg, ratio,
    mEq/L); None when UCUM has none, so no invalid unit reaches the case."""
    from reporter.lookup import to_ucum

    return to_ucum(unit)


def names_drug(name: str, suspect: str) -> bool:
    """Whether a drug's name holds the suspect's name as whole words ('iron' is not in 'spironolactone',
    'amoxicillin' is in 'amoxicillin-clavulanate')."""
    wanted = suspect.strip()
    return bool(wanted) and re.search(rf"(?<![^\W_]){re.escape(wanted)}(?![^\W_])", name, re.IGNORECASE) is not None


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:40] or "drug"


# --------------------------------------------------------------------------------------------------
# The pull
# --------------------------------------------------------------------------------------------------


class Episodes:
    """Conditions recorded again and again under one term (an EHR lists each sinusitis as its own Condition):
    one history item, with the latest episode's dates and a note of how many there were since when."""

    def __init__(self) -> None:
        self.index: dict[str, int] = {}
        self.count: dict[str, int] = {}
        self.first: dict[str, str] = {}

    def add(self, term: str, item: Json, items: list[Json]) -> int:
        """Where the item went in items (appended, or merged into the same term's item)."""
        key = term.lower()
        start = item.get("start")
        if key not in self.index:
            self.index[key], self.count[key] = len(items), 1
            if start:
                self.first[key] = start
            items.append(item)
            return self.index[key]
        kept = items[self.index[key]]
        self.count[key] += 1
        when = day(start) or dt.date.min
        if start and (self.first.get(key) is None or when < (day(self.first[key]) or dt.date.max)):
            self.first[key] = start
        if when >= (day(kept.get("start")) or dt.date.min):
            kept.clear()
            kept.update(item)
        since = f", the first from {self.first[key]}" if key in self.first else ""
        kept["comments"] = f"{self.count[key]} episodes recorded{since}; the dates are the latest one's"
        return self.index[key]


class Puller:
    def __init__(self, client: FhirClient, request: PullRequest) -> None:
        self.client, self.req = client, request
        self.sources: list[Source] = []
        self.hints: list[str] = []
        self.onset = request.reaction_date
        self.medications: dict[str, Json] = {}
        self.first_suspect_day: dt.date | None = None

    def note(self, path: str, resource: Json, codes: list[Json] | None = None) -> None:
        self.sources.append(Source(path, ref_of(resource), codes or []))

    # -- searches -----------------------------------------------------------------------------------

    def search(self, rtype: str, params: list[tuple[str, str]], include: str | None = None) -> list[Json]:
        query = list(params)
        if include and self.client.supports_include(rtype, include):
            query.append(("_include", include))
        result = self.client.search(rtype, query)
        for res in result.included:
            if res.get("resourceType") == "Medication" and res.get("id"):
                self.medications[f"Medication/{res['id']}"] = res
        return [r for r in result.matches if r.get("resourceType") == rtype]

    def patient_param(self, rtype: str) -> str:
        """`patient`, unless the server lists its search parameters and has only `subject`."""
        if self.client.supports_search(rtype, "subject") and not self.client.supports_search(rtype, "patient"):
            return "subject"
        return "patient"

    def find_patient(self) -> Json:
        if self.req.patient_id:
            patient = self.client.read("Patient", self.req.patient_id)
        elif self.req.identifier:
            system, value = self.req.identifier
            found = self.search("Patient", [("identifier", f"{system}|{value}" if system else value)])
            if not found:
                raise EHRError("no patient on the server has that identifier", location="--identifier",
                               hint="check the system and value (SYSTEM|VALUE)")
            if len(found) > 1:
                raise EHRError(f"{len(found)} patients on the server have that identifier; pull by --patient id",
                               location="--identifier")
            patient = found[0]
        else:
            raise InputError("name the patient", location="--patient", hint="give --patient ID or --identifier")
        if patient.get("resourceType") != "Patient":
            raise EHRError("the server answered something other than a Patient", location="--patient")
        return patient

    # -- patient ------------------------------------------------------------------------------------

    def patient_section(self, patient: Json) -> Json:
        identity = self.req.identity
        if identity not in IDENTITY_CHOICES:
            raise InputError(f"unknown patient identity setting {identity!r}", location="REPORTER_EHR_PATIENT_IDENTITY",
                             hint=f"use one of {', '.join(IDENTITY_CHOICES)}")
        out: Json = {}
        initials = initials_of(patient)
        if identity == "masked":
            out["initials"] = {"absent": "masked"}
        elif initials:
            out["initials"] = initials
            self.note("patient.initials", patient)
        else:
            out["initials"] = {"absent": "unknown"}
        if identity == "initials+record":
            mrn = record_number(patient)
            if mrn:
                out["record_numbers"] = [{"source": "hospital", "value": mrn}]
                self.note("patient.record_numbers[0]", patient)
        gender = patient.get("gender")
        if gender in ("male", "female"):
            out["sex"] = gender
            self.note("patient.sex", patient)
        elif gender == "unknown":  # the EHR says it is not known: recorded as absent, not guessed
            out["sex"] = {"absent": "unknown"}
            self.note("patient.sex", patient)
        birth = patient.get("birthDate")
        if birth:
            out["birth_date"] = birth
            self.note("patient.birth_date", patient)
            age = age_at(day(birth), self.onset) if len(birth) >= 10 else None
            if age:
                out["age_at_onset"] = age
                self.note("patient.age_at_onset", patient)
        if patient.get("deceasedDateTime") or patient.get("deceasedBoolean") is True:
            when = partial(patient.get("deceasedDateTime"))
            # no date: a death of no known date, as the Bundle reader holds deceasedBoolean (not an absent
            # reason, which D.9.1's null flavors MSK/ASKU/NASK cannot say)
            out["death"] = {"date": when} if when else {}
            self.note("patient.death", patient)
            self.hints.append(f"the EHR records the patient as deceased{' on ' + when if when else ''} "
                              f"({ref_of(patient)}): consider the seriousness criterion 'death' and the outcome")
        return out

    def body_measures(self, out: Json) -> None:
        tables = ehr_tables()["body"]
        for name, spec in tables.items():
            codes = ",".join(f"{sys_url('loinc')}|{c}" for c in spec["codes"])
            found = self.search("Observation", [(self.patient_param("Observation"), self.patient_ref),
                                                ("code", codes), ("date", f"le{self.onset.isoformat()}")])
            best: tuple[str, float, Json] | None = None
            for obs in found:
                if obs.get("status") in ehr_tables()["void_statuses"]:
                    continue
                when = obs.get("effectiveDateTime") or (obs.get("effectivePeriod") or {}).get("start") or ""
                if not when or (day(when) or dt.date.max) > self.onset:
                    continue
                q = ucum(obs.get("valueQuantity"))
                if q is None or q[1] not in spec["factors"]:
                    continue
                value = round(q[0] * float(spec["factors"][q[1]]), 2)
                if best is None or when > best[0]:
                    best = (when, value, obs)
            if best:
                field_name = f"{name}_{spec['unit']}"
                out[field_name] = best[1]
                self.note(f"patient.{field_name}", best[2], kept_codes(best[2].get("code")))

    def history(self, out: Json) -> None:
        items: list[Json] = []
        episodes = Episodes()
        void = set(ehr_tables()["void_statuses"])
        for cond in self.search("Condition", [(self.patient_param("Condition"), self.patient_ref)]):
            verification = code_of(cond.get("verificationStatus"))
            if verification in ("refuted", "entered-in-error"):
                continue
            term = concept_text(cond.get("code"))
            if not term:
                continue
            onset = day(cond.get("onsetDateTime") or (cond.get("onsetPeriod") or {}).get("start"))
            if onset and onset >= self.onset:  # from the reaction date on: not history (it may be the reaction)
                if onset <= self.onset + dt.timedelta(days=self.req.window("labs_after")):
                    self.hints.append(f"the EHR records {term!r} from {onset.isoformat()} ({ref_of(cond)}): not "
                                      "put in the history; it may be the reaction or a consequence of it")
                continue
            item: Json = {"term": term}
            start = partial(cond.get("onsetDateTime") or (cond.get("onsetPeriod") or {}).get("start"))
            if start:
                item["start"] = start
            end = partial(cond.get("abatementDateTime") or (cond.get("abatementPeriod") or {}).get("end"))
            status = code_of(cond.get("clinicalStatus"))
            if status in ("active", "recurrence", "relapse"):
                item["continuing"] = True
            elif status in ("inactive", "remission", "resolved"):
                item["continuing"] = False
            if end:
                item["end"] = end
            index = episodes.add(term, item, items)
            self.note(f"patient.medical_history[{index}]", cond, kept_codes(cond.get("code")))
        for allergy in self.search("AllergyIntolerance", [("patient", self.patient_ref)]):
            if code_of(allergy.get("verificationStatus")) in ("refuted", "entered-in-error") \
                    or allergy.get("status") in void:
                continue
            substance = concept_text(allergy.get("code"))
            if not substance:
                continue
            kind = "Allergy" if allergy.get("type", "allergy") == "allergy" else "Intolerance"
            if self.allergy_after_reaction(allergy):
                self.hints.append(f"the EHR records {kind.lower()} to {substance} from the reaction date on "
                                  f"({ref_of(allergy)}): not put in the history; it may be this reaction")
                continue
            item = {"term": f"{kind} to {substance}"}
            start = partial(allergy.get("onsetDateTime"))  # recordedDate is when it was written down: not used
            if start:
                item["start"] = start
            status = code_of(allergy.get("clinicalStatus"))
            if status in ("active", "inactive", "resolved"):
                item["continuing"] = status == "active"
            notes = [concept_text(mf) for reaction in allergy.get("reaction") or []
                     for mf in reaction.get("manifestation") or []]
            details = [f"reaction: {', '.join(n for n in notes if n)}"] if any(notes) else []
            if allergy.get("criticality"):
                details.append(f"criticality: {allergy['criticality']}")
            if details:
                item["comments"] = "; ".join(details)
            self.note(f"patient.medical_history[{len(items)}]", allergy, kept_codes(allergy.get("code")))
            items.append(item)
        if items:
            out["medical_history"] = items

    def allergy_after_reaction(self, allergy: Json) -> bool:
        """An allergy not known before the reaction: its onset, or with none its recording, on or after the
        reaction date (an EHR often records the suspect's reaction as an allergy to it)."""
        onsets = [allergy.get("onsetDateTime"), (allergy.get("onsetPeriod") or {}).get("start"),
                  *(r.get("onset") for r in allergy.get("reaction") or [] if isinstance(r, dict))]
        known = [d for d in (day(o) for o in onsets) if d]
        if known:
            return min(known) >= self.onset
        recorded = day(allergy.get("recordedDate"))
        return recorded is not None and recorded >= self.onset

    # -- drugs -------------------------------------------------------------------------------------

    def medication_concept(self, resource: Json) -> tuple[Json | None, Json | None]:
        """(concept, Medication resource or None) of a MedicationRequest/Statement/Administration."""
        if resource.get("medicationCodeableConcept"):
            return resource["medicationCodeableConcept"], None
        ref = (resource.get("medicationReference") or {}).get("reference") or ""
        if ref.startswith("#"):
            med = next((c for c in resource.get("contained") or [] if c.get("id") == ref[1:]), None)
            return ((med or {}).get("code"), med)
        key = "/".join(ref.split("/")[-2:]) if ref else ""
        if key and key not in self.medications and key.startswith("Medication/"):
            # the server did not _include it (or cannot): read it
            self.medications[key] = self.client.read("Medication", key.split("/", 1)[1])
        med = self.medications.get(key)
        return ((med or {}).get("code") or {"text": (resource.get("medicationReference") or {}).get("display")},
                med)

    def drugs(self) -> tuple[list[Json], list[tuple[str, Json, list[Json]]]]:
        """Drug entries (as dicts) and, per drug, the resources they came from."""
        lo = self.onset - dt.timedelta(days=self.req.window("drugs_before"))
        hi = self.onset + dt.timedelta(days=self.req.window("drugs_after"))
        void = set(ehr_tables()["void_statuses"])
        groups: dict[str, Json] = {}

        def group_for(concept: Json | None, med: Json | None) -> Json:
            name = concept_text(concept) or "unnamed medication"
            rx = code_in(concept, "rxnorm")
            key = f"rx:{rx}" if rx else f"name:{name.lower()}"
            if key not in groups:
                names = [name, *[c.get("display") or "" for c in codings(concept)]]
                for ing in (med or {}).get("ingredient") or []:
                    names.append(concept_text(ing.get("itemCodeableConcept")) or "")
                groups[key] = {"product": name, "rxnorm": rx, "atc": code_in(concept, "atc"),
                               "names": names, "dosages": [], "resources": [], "codes": kept_codes(concept),
                               "admins": []}
            return groups[key]

        for rtype in ("MedicationRequest", "MedicationStatement", "MedicationAdministration"):
            include = f"{rtype}:medication"
            for res in self.search(rtype, [(self.patient_param(rtype), self.patient_ref)], include=include):
                if res.get("status") in void:
                    continue
                start, stop = drug_period(res)
                if not overlaps(start, stop, lo, hi):
                    continue
                concept, med = self.medication_concept(res)
                group = group_for(concept, med)
                group["resources"].append(res)
                if med is not None and all(r is not med for r in group["resources"]):
                    group["resources"].append(med)
                if rtype == "MedicationAdministration":
                    group["admins"].append((start, stop, res))
                    continue
                if rtype == "MedicationRequest":  # each dosage instruction a line: a taper has several
                    for dosage in res.get("dosageInstruction") or [None]:
                        group["dosages"].append(dosage_line(dosage, start, stop, res, rtype))
                else:
                    group["dosages"].append(dosage_line((res.get("dosage") or [None])[0], start, stop, res, rtype))
        for imm in self.search("Immunization", [("patient", self.patient_ref)]):
            if imm.get("status") in void:
                continue
            when = imm.get("occurrenceDateTime")
            start = day(when)
            if not overlaps(start, start, lo, hi):
                continue
            group = group_for(imm.get("vaccineCode"), None)
            group["resources"].append(imm)
            line: Json = {}
            if partial(when):
                line["start"] = line["stop"] = partial(when)
            q = ucum(imm.get("doseQuantity"))
            if q and case_unit(q[1]):
                line["dose"] = {"value": q[0], "unit": case_unit(q[1])}
            if imm.get("lotNumber"):
                line["batch"] = imm["lotNumber"]
            route = concept_text(imm.get("route"))
            if route:
                line["route"] = {"text": route}
            group["dosages"].append(line)
        drugs, origins = [], []
        used_ids: set[str] = set()
        for group in groups.values():
            if group["admins"] and not group["dosages"]:
                admins = sorted(group["admins"], key=lambda a: (a[0] or dt.date.min, drug_period_text(a[2])[0] or ""))
                first, last = admins[0][2], admins[-1][2]
                line = dosage_line(first.get("dosage"), admins[0][0], admins[0][1], first, "MedicationAdministration")
                last_start, last_stop = drug_period_text(last)
                stop = partial(last_stop or last_start)
                if stop:
                    line["stop"] = stop
                line["text"] = "; ".join(t for t in (f"{len(admins)} administration(s) recorded",
                                                     line.get("text")) if t)
                group["dosages"].append(line)
            base = slug(group["product"])
            drug_id, n = base, 2
            while drug_id in used_ids:
                drug_id, n = f"{base}-{n}", n + 1
            used_ids.add(drug_id)
            suspect = any(names_drug(name, s) for s in self.req.suspects for name in group["names"] if name)
            drug: Json = {"id": drug_id, "role": "suspect" if suspect else "concomitant", "product": group["product"]}
            if group["rxnorm"]:
                drug["rxnorm"] = group["rxnorm"]
            if group["atc"]:
                drug["atc"] = group["atc"]
            drug["dosages"] = [d for d in group["dosages"] if d]
            drugs.append(drug)
            origins.append((drug_id, drug, group["resources"], [n for n in group["names"] if n]))
        return drugs, origins

    # -- labs --------------------------------------------------------------------------------------

    def labs(self) -> list[Json]:
        lo = self.onset - dt.timedelta(days=self.req.window("labs_before"))
        hi = self.onset + dt.timedelta(days=self.req.window("labs_after"))
        kept: dict[tuple[Any, ...], tuple[Json, Json]] = {}
        copies: dict[tuple[Any, ...], list[Json]] = {}
        for obs in self.lab_results(lo, hi):
            self.keep_lab(obs, kept, copies)
        for obs in self.baselines(lo, [t for t, _ in kept.values()]):
            self.keep_lab(obs, kept, copies)
        kept = self.fewer_results(kept)
        ordered = sorted(kept.items(), key=lambda kv: (str(kv[1][0].get("date")), str(kv[1][0].get("name"))))
        tests = []
        for index, (key, (test, obs)) in enumerate(ordered):
            tests.append(test)
            for each in [obs, *(o for o in copies[key] if o is not obs)]:  # the result and its duplicates
                self.note(f"tests[{index}]", each, kept_codes(each.get("code")))
        return tests

    def lab_results(self, lo: dt.date, hi: dt.date, codes: list[str] | None = None) -> list[Json]:
        """Final laboratory Observations dated lo..hi (of these LOINC codes, if given)."""
        params = [(self.patient_param("Observation"), self.patient_ref), ("date", f"ge{lo.isoformat()}"),
                  ("date", f"le{hi.isoformat()}")]
        if codes:
            params.append(("code", ",".join(f"{sys_url('loinc')}|{c}" for c in codes)))
        by_category = self.client.supports_search("Observation", "category")
        if by_category:
            params.append(("category", f"{sys_url('observation_category')}|laboratory"))
        void = set(ehr_tables()["void_statuses"])
        found = []
        for obs in self.search("Observation", params):
            if obs.get("status") in void or obs.get("status") in ("registered", "preliminary"):
                continue
            if not by_category and not any(c.get("code") == "laboratory" for cat in obs.get("category") or []
                                           for c in codings(cat)):
                continue
            when_day = day(lab_time(obs))
            if when_day is not None and lo <= when_day <= hi:
                found.append(obs)
        return found

    def baselines(self, lo: dt.date, tests: list[Json]) -> list[Json]:
        """For each test in the window with no result before the suspect was started (or before the reaction),
        its latest result in the `labs_baseline` days before the window: the value to weigh a change against."""
        cut = min(self.onset, self.first_suspect_day or self.onset)
        before = {t.get("loinc") for t in tests if (day(t.get("date")) or cut) < cut}
        wanted = sorted({t["loinc"] for t in tests if t.get("loinc")} - before)
        if not wanted:
            return []
        start = lo - dt.timedelta(days=self.req.window("labs_baseline"))
        latest: dict[str, Json] = {}
        for obs in self.lab_results(start, lo - dt.timedelta(days=1), wanted):
            code = code_in(obs.get("code"), "loinc")
            if code in wanted and (code not in latest or lab_time(obs) > lab_time(latest[code])):
                latest[code] = obs
        return list(latest.values())

    def fewer_results(self, kept: dict[tuple[Any, ...], tuple[Json, Json]]) -> dict[tuple[Any, ...], tuple[Json, Json]]:
        """A test measured more often than `lab_results_per_test` (hourly in intensive care) keeps the results
        that tell the course: the last before the reaction, the first on or after it, the highest, the lowest and
        the last; a hint says how many were left on the server."""
        limit = int(ehr_tables()["lab_results_per_test"])
        by_test: dict[Any, list[tuple[Any, ...]]] = {}
        for key in kept:
            by_test.setdefault(key[0], []).append(key)
        out = dict(kept)
        for keys in by_test.values():
            if len(keys) <= limit:
                continue
            chosen = course_points([(kept[k][0], k) for k in keys], self.onset)
            for key in keys:
                if key not in chosen:
                    del out[key]
            name = kept[keys[0]][0].get("name") or keys[0][0]
            self.hints.append(f"{name}: {len(keys)} results in the lab window; {len(chosen)} kept (the last before "
                              "the reaction, the first on or after it, the highest, the lowest, the last): the others "
                              "are on the server")
        return out

    @staticmethod
    def keep_lab(obs: Json, kept: dict[tuple[Any, ...], tuple[Json, Json]],
                 copies: dict[tuple[Any, ...], list[Json]]) -> None:
        """Add a result, once: a copy (same test, time, value) is kept as a further source, the latest version
        as the value."""
        test = lab_test(obs, lab_time(obs))
        if test is None:
            return
        key = (test.get("loinc") or test.get("name"), test.get("date"), test.get("value"), test.get("unit"),
               test.get("result_text"))
        copies.setdefault(key, []).append(obs)
        earlier = kept.get(key)
        if earlier is None or version_rank(obs) > version_rank(earlier[1]):
            kept[key] = (test, obs)

    # -- stays -------------------------------------------------------------------------------------

    def stays(self) -> list[Json]:
        inpatient = set(ehr_tables()["inpatient_classes"])
        hi = self.onset + dt.timedelta(days=self.req.window("labs_after"))
        found = []
        params = [(self.patient_param("Encounter"), self.patient_ref)]
        if self.client.supports_search("Encounter", "date"):  # fewer pages; the period is checked below anyway
            params.append(("date", f"ge{(self.onset - dt.timedelta(days=1)).isoformat()}"))
        for enc in self.search("Encounter", params):
            if enc.get("status") in ("cancelled", "entered-in-error", "planned"):
                continue
            if (enc.get("class") or {}).get("code") not in inpatient:
                continue
            period = enc.get("period") or {}
            start, end = day(period.get("start")), day(period.get("end"))
            if start is None or start > hi or (end is not None and end < self.onset):
                continue
            found.append(enc)
            self.hints.append(f"hospital stay from {period.get('start', '?')[:10]} to "
                              f"{(period.get('end') or 'ongoing')[:10]} ({ref_of(enc)}): consider the seriousness "
                              "criterion 'hospitalisation' (caused or prolonged by the reaction?)")
        return found

    # -- assembly ----------------------------------------------------------------------------------

    def run(self) -> Draft:
        client, req = self.client, self.req
        client.capabilities()
        patient = self.find_patient()
        self.patient_ref = f"Patient/{patient['id']}"
        client.progress("patient found; reading weight and height")
        patient_out = self.patient_section(patient)
        self.body_measures(patient_out)
        client.progress("reading conditions and allergies")
        self.history(patient_out)
        client.progress("reading medications and immunizations")
        drugs, origins = self.drugs()
        for index, (_, _, resources, _) in enumerate(origins):
            for res in resources:
                concept = res.get("vaccineCode") or res.get("medicationCodeableConcept") or res.get("code")
                self.note(f"drugs[{index}]", res, kept_codes(concept))
        missing_suspects = [s for s in req.suspects
                            if not any(names_drug(n, s) for did, _, _, _ in origins
                                       for n in _names_of(origins, did))]
        for name in missing_suspects:
            drugs.append({"id": slug(name), "role": "suspect", "product": name})
        client.progress("reading laboratory results")
        starts = [day(d.get("start")) for drug in drugs if drug.get("role") == "suspect"
                  for d in drug.get("dosages") or []]
        self.first_suspect_day = min([d for d in starts if d], default=None)
        tests = self.labs()
        client.progress("reading encounters")
        stays = self.stays()
        reactions = []
        if req.reaction:
            reaction: Json = {"id": "reaction-1", "verbatim": req.reaction, "onset": req.reaction_date.isoformat()}
            if stays:
                reaction["seriousness"] = {"hospitalisation": True}
                for enc in stays:
                    self.note("reactions[0].seriousness.hospitalisation", enc)
            if "death" in patient_out:
                reaction.setdefault("seriousness", {})["death"] = True
                self.note("reactions[0].seriousness.death", patient)
            reactions.append(reaction)
        today = req.today or dt.datetime.now(dt.UTC).date()
        case_id = req.case_id or "DRAFT-" + hashlib.sha256(
            f"{client.base}|{self.patient_ref}|{req.reaction_date}".encode()).hexdigest()[:12].upper()
        data: Json = {
            "case_id": case_id,
            "report": {"type": "spontaneous", "first_received": today.isoformat(),
                       "most_recent": today.isoformat()},
            "patient": patient_out,
            "reactions": reactions,
            "tests": tests,
            "drugs": drugs,
        }
        try:
            case = m.CaseFile.model_validate(data)
        except ValidationError as exc:  # a server value the model refuses: say which, never a traceback
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first.get("loc", ()))
            raise EHRError(f"a value pulled from the server does not fit the case model at {where}: {first['msg']}",
                           location=client.base) from None
        draft = Draft(case=case, server=client.base, patient=self.patient_ref,
                      pulled_at=dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z"),
                      request=req, sources=self.sources, hints=self.hints)
        draft.still_needed = still_needed(case, missing_suspects, bool(req.reaction))
        return draft


def _names_of(origins: list[tuple[str, Json, list[Json], list[Json]]], drug_id: str) -> list[str]:
    for did, drug, _, names in origins:
        if did == drug_id:
            return [drug["product"], *names]
    return []


def pull(client: FhirClient, request: PullRequest) -> Draft:
    """Pull a draft case. Raises EHRError (server trouble) or InputError (bad request); returns nothing partial."""
    if not request.suspects:
        raise InputError("name at least one suspect drug", location="--suspect")
    return Puller(client, request).run()


# --------------------------------------------------------------------------------------------------
# Helpers for the pieces
# --------------------------------------------------------------------------------------------------


def code_of(concept: Json | None) -> str | None:
    return next((c.get("code") for c in codings(concept) if c.get("code")), None)


def version_rank(resource: Json) -> tuple[int, str]:
    meta = resource.get("meta") or {}
    version = str(meta.get("versionId") or "0")
    return (int(version) if version.isdigit() else 0, str(meta.get("lastUpdated") or ""))


def initials_of(patient: Json) -> str | None:
    names = patient.get("name") or []
    name = next((n for n in names if n.get("use") == "official"), names[0] if names else None)
    if not name:
        return None
    parts = [g for g in name.get("given") or [] if g] + ([name["family"]] if name.get("family") else [])
    if not parts and name.get("text"):
        parts = name["text"].split()
    letters = "".join(p.strip()[0].upper() for p in parts if p.strip())
    return letters or None


def record_number(patient: Json) -> str | None:
    for ident in patient.get("identifier") or []:
        if any(c.get("code") == "MR" for c in codings(ident.get("type"))) and ident.get("value"):
            return ident["value"]
    return None


def age_at(birth: dt.date | None, onset: dt.date) -> Json | None:
    if birth is None or birth > onset:
        return None
    years = onset.year - birth.year - ((onset.month, onset.day) < (birth.month, birth.day))
    if years >= 2:
        return {"value": years, "unit": "a"}
    months = (onset.year - birth.year) * 12 + onset.month - birth.month - (onset.day < birth.day)
    if months >= 1:
        return {"value": months, "unit": "mo"}
    return {"value": (onset - birth).days, "unit": "d"}


def request_bounds(dosage: Json | None) -> tuple[str | None, str | None, Json | None]:
    """(start, end, duration) of one dosageInstruction's timing.repeat bounds."""
    repeat = ((dosage or {}).get("timing") or {}).get("repeat") or {}
    period = repeat.get("boundsPeriod") or {}
    duration = repeat.get("boundsDuration")
    return period.get("start"), period.get("end"), duration if isinstance(duration, dict) else None


def duration_days(duration: Json | None) -> float | None:
    """A boundsDuration in days, at most (mappings/ehr.yaml duration_days); None for a unit not listed."""
    if not duration or not isinstance(duration.get("value"), int | float):
        return None
    factor = ehr_tables()["duration_days"].get(duration.get("code") or duration.get("unit"))
    return None if factor is None else float(duration["value"]) * float(factor)


def drug_period(res: Json) -> tuple[dt.date | None, dt.date | None]:
    rtype = res.get("resourceType")
    if rtype == "MedicationRequest":
        return request_period(res)
    start_text = res.get("effectiveDateTime") or (res.get("effectivePeriod") or {}).get("start")
    end_text = res.get("effectiveDateTime") or (res.get("effectivePeriod") or {}).get("end")
    return day(start_text), day(end_text) if rtype == "MedicationAdministration" or end_text else None


def request_period(res: Json) -> tuple[dt.date | None, dt.date | None]:
    """A request's first and last day over all its dosage instructions (a taper has several). With no end date,
    a boundsDuration gives the end; a request ended (completed, stopped) with neither is known only to have
    begun, not to go on to today."""
    bounds = [request_bounds(d) for d in res.get("dosageInstruction") or [None]]
    starts = [d for d in (day(b[0]) for b in bounds) if d]
    start = min(starts) if starts else day(res.get("authoredOn"))
    ends = [d for d in (day(b[1]) for b in bounds) if d]
    end = max(ends) if len(ends) == len(bounds) else None
    spans = [s for s in (duration_days(b[2]) for b in bounds) if s is not None]
    if end is None and start is not None and len(spans) == len(bounds):
        end = start + dt.timedelta(days=sum(spans))
    if end is None:
        end = day(((res.get("dispenseRequest") or {}).get("validityPeriod") or {}).get("end"))
    if end is None and res.get("status") in ehr_tables()["ended_statuses"]:
        end = start
    return start, end


def drug_period_text(res: Json, dosage: Json | None = None) -> tuple[str | None, str | None]:
    if res.get("resourceType") == "MedicationRequest":
        start, end, _ = request_bounds(dosage if dosage is not None else (res.get("dosageInstruction") or [None])[0])
        return start or res.get("authoredOn"), end
    if res.get("effectiveDateTime"):
        return res["effectiveDateTime"], res["effectiveDateTime"] \
            if res.get("resourceType") == "MedicationAdministration" else None
    period = res.get("effectivePeriod") or {}
    return period.get("start"), period.get("end")


def overlaps(start: dt.date | None, stop: dt.date | None, lo: dt.date, hi: dt.date) -> bool:
    if start is None and stop is None:
        return False
    return (start is None or start <= hi) and (stop is None or stop >= lo)


def dosage_line(dosage: Json | None, start: dt.date | None, stop: dt.date | None, res: Json, rtype: str) -> Json:
    dosage = dosage or {}
    line: Json = {}
    start_text, stop_text = drug_period_text(res, dosage if rtype == "MedicationRequest" else None)
    if partial(start_text):
        line["start"] = partial(start_text)
    elif start:
        line["start"] = start.isoformat()
    if partial(stop_text):
        line["stop"] = partial(stop_text)
    elif stop and rtype == "MedicationAdministration":
        line["stop"] = stop.isoformat()
    dose = dosage.get("dose") if rtype == "MedicationAdministration" else \
        next((r.get("doseQuantity") for r in dosage.get("doseAndRate") or [] if r.get("doseQuantity")), None)
    q = ucum(dose)
    unit = case_unit(q[1]) if q else None
    if q and unit:
        line["dose"] = {"value": q[0], "unit": unit}
    elif q:  # a unit UCUM has no code for: kept in the dosage text, as written
        line["text"] = f"{q[0]:g} {q[1]}"
    rate = ucum(dosage.get("rateQuantity") if rtype == "MedicationAdministration" else
                next((r.get("rateQuantity") for r in dosage.get("doseAndRate") or [] if r.get("rateQuantity")), None))
    if rate:  # an infusion rate: E2B has no field for it, the dosage text does
        line["text"] = "; ".join(t for t in (line.get("text"), f"rate {rate[0]:g} {rate[1]}") if t)
    _, _, duration = request_bounds(dosage) if rtype == "MedicationRequest" else (None, None, None)
    length = ucum(duration) if (duration or {}).get("system") == sys_url("ucum") else None
    if length and duration_days(duration) is not None:
        line["duration"] = {"value": length[0], "unit": length[1]}
    repeat = (dosage.get("timing") or {}).get("repeat") or {}
    every = interval(repeat)
    if every:
        line["every"] = every
    if dosage.get("text"):
        line["text"] = "; ".join(t for t in (dosage["text"], line.get("text")) if t)
    route = concept_text(dosage.get("route"))
    if route:
        line["route"] = {"text": route}
    return line


def interval(repeat: Json) -> Json | None:
    """Timing.repeat as one interval (reporter.fhir.read.repeat_interval); a period without its unit is none."""
    return repeat_interval(repeat) if repeat.get("periodUnit") else None


def course_points(results: list[tuple[Json, Any]], onset: dt.date) -> set[Any]:
    """The keys of the results that tell a test's course around the reaction (see Puller.fewer_results)."""
    ordered = sorted(results, key=lambda r: str(r[0].get("date")))
    before = [r for r in ordered if (day(r[0].get("date")) or onset) < onset]
    after = [r for r in ordered if (day(r[0].get("date")) or onset) >= onset]
    numeric = [r for r in ordered if isinstance(r[0].get("value"), int | float)]
    picks = [before[-1:], after[:1], ordered[-1:]]
    if numeric:
        picks += [[max(numeric, key=lambda r: r[0]["value"])], [min(numeric, key=lambda r: r[0]["value"])]]
    return {r[1] for pick in picks for r in pick}


def other_value(obs: Json) -> str | None:
    """An Observation's valueRatio (a titre), valueRange or valueInteger as text."""
    def part(q: Json | None) -> str:
        got = ucum(q)
        return "" if got is None else f"{got[0]:g}" + ("" if got[1] == "1" else f" {got[1]}")

    ratio, span = obs.get("valueRatio") or {}, obs.get("valueRange") or {}
    if part(ratio.get("numerator")) and part(ratio.get("denominator")):
        return f"{part(ratio['numerator'])}:{part(ratio['denominator'])}"
    if part(span.get("low")) or part(span.get("high")):
        return f"{part(span.get('low'))}-{part(span.get('high'))}".strip("-")
    value = obs.get("valueInteger")
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else None


def lab_time(obs: Json) -> str:
    return obs.get("effectiveDateTime") or (obs.get("effectivePeriod") or {}).get("start") or obs.get("issued") or ""


def lab_test(obs: Json, when: str | None) -> Json | None:
    name = concept_text(obs.get("code"))
    loinc = code_in(obs.get("code"), "loinc")
    if not (name or loinc):
        return None
    test: Json = {}
    if name:
        test["name"] = name
    if loinc:
        test["loinc"] = loinc
    if partial(when):
        test["date"] = partial(when)
    q = ucum(obs.get("valueQuantity"))
    comparator = (obs.get("valueQuantity") or {}).get("comparator")
    comparator = comparator if comparator in ("<", "<=", ">", ">=") else ""
    unit = case_unit(q[1]) if q else None
    if q and unit is None:  # a unit UCUM has no code for: the result as the EHR wrote it, nothing converted
        test["result_text"] = f"{comparator}{q[0]:g} {q[1]}"
    elif q and unit:
        test["value"], test["unit"] = q[0], unit
        if comparator:
            test["comparator"] = comparator
        ranges = obs.get("referenceRange") or []
        if ranges:
            low, high = ucum(ranges[0].get("low")), ucum(ranges[0].get("high"))
            if low and case_unit(low[1]) in (unit, "1"):
                test["low"] = low[0]
            if high and case_unit(high[1]) in (unit, "1"):
                test["high"] = high[0]
    elif obs.get("valueString"):
        test["result_text"] = obs["valueString"]
    elif obs.get("valueCodeableConcept"):
        test["result_text"] = concept_text(obs["valueCodeableConcept"])
    elif other_value(obs):  # a titre (1:160), a range: as written
        test["result_text"] = other_value(obs)
    else:
        return None
    interpretation = [concept_text(i) for i in obs.get("interpretation") or []]
    if any(interpretation):
        test["comments"] = "interpretation: " + ", ".join(i for i in interpretation if i)
    return test


def still_needed(case: m.CaseFile, missing_suspects: list[str], has_reaction: bool) -> list[Json]:
    """What a person must add or check, from the validation that guards export plus what the pull knows."""
    from reporter.fhir.build import build_bundle
    from reporter.validation import validate_bundle

    needed: list[Json] = []
    if not case.primary_sources:
        needed.append({"path": "primary_sources", "message": "who reports the case: name, qualification and "
                       "country of the primary source (the EHR does not say)"})
    if case.sender is None:
        needed.append({"path": "sender", "message": "the sending organisation (type and name)"})
    for index, reaction in enumerate(case.reactions):
        if reaction.meddra is None:
            needed.append({"path": f"reactions[{index}].meddra", "message": "the reaction's MedDRA LLT code and "
                           "version (E2B E.i.2.1)"})
        if reaction.outcome is None:
            needed.append({"path": f"reactions[{index}].outcome", "message": "the reaction's outcome (E.i.7)"})
    if case.narrative is None:
        needed.append({"path": "narrative.text", "message": "the case narrative: clinical course, measures taken, "
                       "outcome (H.1)"})
    if not has_reaction:
        needed.append({"path": "reactions", "message": "the reaction is not in the EHR pull: add its term as "
                       "reported (verbatim) and its MedDRA code, onset, outcome and seriousness"})
    pulled = [d.product for d in case.drugs if d.role == "concomitant"]
    for name in missing_suspects:
        entry = {"path": "drugs", "message": f"suspect drug {name!r} was not found in the EHR in the window: "
                 "its dose, route and dates must be added by hand"}
        if pulled:  # a brand name the EHR does not write (it codes the generic): one of these may be it
            entry["hint"] = (f"if {name!r} is one of the drugs pulled ({'; '.join(pulled)}), mark that one suspect "
                             "and remove the hand-entry")
        needed.append(entry)
    report = validate_bundle(build_bundle(case), subject=case.case_id)
    known = {n["path"].split("[")[0].split(".")[0] for n in needed}
    for issue in report.issues:
        if issue.severity in ("error", "fatal") and not (
                issue.location.endswith("resource.author") and "primary_sources" in known):
            entry = {"path": issue.location, "message": issue.message}
            if issue.hint:
                entry["hint"] = issue.hint
            needed.append(entry)
    return needed


# --------------------------------------------------------------------------------------------------
# Provenance in the draft Bundle
# --------------------------------------------------------------------------------------------------


def target_role(path: str, case_id: str, case: Json | None = None) -> str | None:
    """The build role (see reporter.fhir.build) of the Bundle resource that holds a case-file path."""
    if path.startswith("patient.weight"):
        return "observation/weight"
    if path.startswith("patient.height"):
        return "observation/height"
    hist = re.match(r"patient\.medical_history\[(\d+)\]", path)
    if hist:
        return f"history/{hist.group(1)}"
    if path.startswith("patient"):
        return "patient"
    test = re.match(r"tests\[(\d+)\]", path)
    if test:
        return f"test/{test.group(1)}"
    return None


def add_provenance(bundle: Json, case_id: str, sources: list[Source], server: str, recorded: str,
                   drug_ids: dict[int, str] | None = None, reaction_ids: dict[int, str] | None = None) -> Json:
    """Mark the Bundle a draft (Composition 'preliminary') and add one Provenance per source resource, targeting
    the Bundle resources filled from it."""
    from reporter.fhir.build import resource_id

    entries = bundle["entry"]
    composition = entries[0]["resource"]
    composition["status"] = "preliminary"
    full_urls = {e.get("fullUrl") for e in entries}
    comp_url = entries[0]["fullUrl"]
    by_resource: dict[str, list[str]] = {}
    for source in sources:
        by_resource.setdefault(source.resource, []).append(source.path)
    for index, (resource, paths) in enumerate(sorted(by_resource.items())):
        targets: list[Json] = []
        for path in dict.fromkeys(paths):
            role = target_role(path, case_id)
            drug = re.match(r"drugs\[(\d+)\]", path)
            reaction = re.match(r"reactions\[(\d+)\]", path)
            if drug and drug_ids is not None and int(drug.group(1)) in drug_ids:
                role = f"drug/{drug_ids[int(drug.group(1))]}"
            if reaction and reaction_ids is not None and int(reaction.group(1)) in reaction_ids:
                role = f"reaction/{reaction_ids[int(reaction.group(1))]}"
            url = f"urn:uuid:{resource_id(case_id, role)}" if role else None
            targets.append({"reference": url if url in full_urls else comp_url, "display": path})
        prov = {
            "resourceType": "Provenance",
            "id": resource_id(case_id, f"provenance/{index}"),
            "target": targets,
            "recorded": recorded,
            "activity": {"text": "pulled from the hospital EHR; a person must confirm it"},
            "agent": [{"type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/provenance-participant-type",
                                            "code": "assembler"}]},
                       "who": {"display": "fhir-ae-reporter pull"}}],
            # a logical reference (identifier: the server and the resource's type/id/version), not a literal
            # one: the draft Bundle's validation would count a URL on the EHR as an error it cannot resolve
            "entity": [{"role": "source", "what": {"type": resource.split("/", 1)[0],
                                                   "identifier": {"system": server.rstrip("/"), "value": resource},
                                                   "display": resource}}],
        }
        entries.append({"fullUrl": f"urn:uuid:{prov['id']}", "resource": prov})
    return bundle


def draft_bundle(draft: Draft) -> Json:
    from reporter.fhir.build import build_bundle

    drug_ids = {i: d.id for i, d in enumerate(draft.case.drugs)}
    reaction_ids = {i: r.id for i, r in enumerate(draft.case.reactions)}
    return add_provenance(build_bundle(draft.case), draft.case.case_id, draft.sources, draft.server,
                          draft.pulled_at, drug_ids, reaction_ids)


# --------------------------------------------------------------------------------------------------
# Reading a draft back; confirming it
# --------------------------------------------------------------------------------------------------


def read_draft(path: str) -> Json:
    from reporter.casefile.parse import load_data, read_text

    data = load_data(read_text(path), path)
    if data.get("$format") != DRAFT_FORMAT:
        raise InputError("not a draft pulled from an EHR", location=path,
                         hint="`reporter pull` writes drafts; a case file needs no confirming")
    if not isinstance(data.get("case"), dict):
        raise InputError("the draft has no case", location=f"{path}: case")
    return data


def confirm_draft(path: str) -> tuple[m.CaseFile, Any]:
    """The case in a reviewed draft, and its validation report. Raises CaseFileError if the case does not parse."""
    import yaml

    from reporter.casefile.parse import parse_case
    from reporter.fhir.build import build_bundle
    from reporter.validation import validate_bundle

    data = read_draft(path)
    case = parse_case(yaml.safe_dump(data["case"], sort_keys=False, allow_unicode=True), f"{path}: case")
    return case, validate_bundle(build_bundle(case), subject=case.case_id)
