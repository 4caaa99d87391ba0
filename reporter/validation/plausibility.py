"""Layer 5: plausibility. Facts a case can state but that cannot be true (errors) or are very unlikely
(warnings): chronology against drug exposure, human ranges of age and weight, lab units and limits,
result interpretations, causality scales, dates after the report, death, and absent reasons that E2B cannot
carry. Thresholds and tables are data (mappings/plausibility.yaml); each rule is described in
docs/plausibility.md. Locations are FHIRPaths, or case-file paths when the caller knows the case file
(reporter.validation.casepath)."""

from __future__ import annotations

import re
from functools import cached_property, lru_cache
from typing import Any

from reporter.assess.situation import situation_for
from reporter.fhir import read
from reporter.fhir.read import as_list, codings, criteria_present, extensions, seriousness_criteria
from reporter.fhir.received import is_received_message
from reporter.tables import code_list, fhir_tables
from reporter.validation import units
from reporter.validation.casepath import CaseLines, CasePaths, field_of
from reporter.validation.report import Issue
from reporter.validation.rules import DATE_KEYS, date_ceiling, date_floor, today
from reporter.validation.walk import BundleWalk, bundle_index, entry_locations, walk_bundle

Json = dict[str, Any]
SUSPECT_ROLES = ("suspect", "interacting")


def _dict(value: Any) -> Json:
    return value if isinstance(value, dict) else {}


def _num(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


@lru_cache(maxsize=2048)  # the scales' own names and results, normalised for every assessment of every case
def _norm(text: str) -> str:
    return _SPACING.sub("", text.lower())


_SPACING = re.compile(r"[\s\-_]+")


class Plausibility:
    def __init__(self, bundle: Json, lines: CaseLines | None = None, walk: BundleWalk | None = None) -> None:
        self.bundle = bundle
        self.walk = walk  # the Bundle's walk, when the caller has it
        self.t = units.table()
        self.index = bundle_index(bundle, walk)
        self.issues: list[Issue] = []
        self.lines = lines
        self.case = CasePaths(self.index)
        self._roles: dict[int, str | None] = {}  # id(MedicationStatement) -> its drug role key

    @cached_property
    def paths(self) -> dict[int, str]:
        return entry_locations(self.bundle)

    def locate(self, resource: Json | None, tail: str, case: str) -> str:
        """The case-file path and line when the Bundle came from a case file, else the FHIRPath."""
        if self.lines is not None and case:
            return self.lines.where(case)
        base = self.paths.get(id(resource), "Bundle") if resource is not None else "Bundle"
        return f"{base}.{tail}" if tail else base

    def add(self, severity: str, code: str, resource: Json | None, tail: str, case: str, message: str,
            hint: str) -> None:
        self.issues.append(Issue(severity, code, self.locate(resource, tail, case), message, hint,  # type: ignore[arg-type]
                                 "plausibility"))

    def run(self) -> list[Issue]:
        for check in (self.patient, self.exposure, self.intervals, self.labs, self.causality, self.report_dates,
                      self.death, self.no_harm, self.ended, self.death_outcome,
                      self.expedited,
                      self.parent_child, self.links, self.absent_reasons):
            check()
        return self.issues

    # -- patient: age, age group, weight, height ----------------------------------------------------

    def age_years(self) -> tuple[float, Json, str] | None:
        for event in self.index.all("AdverseEvent"):
            age = _dict(read.ext_value(event, "age_at_onset"))
            value, unit = _num(age.get("value")), age.get("code") or age.get("unit")
            factor = self.t["age"]["unit_years"].get(unit)
            if value is not None and factor is not None:
                return value * float(factor), event, f"{value:g} {unit}"
        return None

    def _band_years(self, event: Json) -> float:
        """The width in years of an age given as a band ({decade}: 10), else 0."""
        age = _dict(read.ext_value(event, "age_at_onset"))
        unit = age.get("code") or age.get("unit")
        width = self.t["age"].get("band_units", {}).get(unit)
        return float(width) * float(self.t["age"]["unit_years"][unit]) if width else 0.0

    def age_group(self) -> tuple[str, Json] | None:
        for obs in self.patient_observations("age_group"):
            for c in codings(obs.get("valueCodeableConcept")):
                key = code_list("age_group").key_for_e2b(str(c.get("code")))
                if key:
                    return key, obs
        return None

    def patient_observations(self, key: str, section: str = "patient") -> list[Json]:
        """The Observations of a Composition section (the patient's, or the death's) of one kind of
        mappings/fhir.yaml patient_observations."""
        code = fhir_tables().patient_observations[key]["code"]
        return [o for o in self.index.section(section) if o.get("resourceType") == "Observation"
                and any(c.get("code") == code for c in codings(o.get("code")))]

    def patient(self) -> None:
        age = self.age_years()
        group = self.age_group()
        limits = self.t["age"]
        if age:
            years, event, said = age
            if years < 0 or years > limits["max_years"]:
                self.add("error", "PLAUS-AGE", event, "extension", "patient.age_at_onset",
                         f"an age at onset of {said} cannot be a human's (0 to {limits['max_years']} years)",
                         "check the number and its unit (a = years, mo = months, d = days)")
            elif years > limits["warn_years"]:
                self.add("warning", "PLAUS-AGE", event, "extension", "patient.age_at_onset",
                         f"an age at onset of {said} is older than {limits['warn_years']} years",
                         "check the number and its unit (a = years, mo = months, d = days)")
            if group and 0 <= years <= limits["max_years"]:
                low, high = self.t["age_groups"][group[0]]
                slack = self.t["age_group_slack_years"]
                top = years + self._band_years(event)  # 'in her 60s': any age from 60 up to 70 fits 'elderly'
                if not (low - slack <= top and years <= high + slack) or (group[0] == "foetus" and years > 0):
                    self.add("warning", "PLAUS-AGE-GROUP", group[1], "valueCodeableConcept", "patient.age_group",
                             f"the age group '{group[0]}' does not fit the age at onset ({said})",
                             "correct the age group (D.2.3) or the age (D.2.2)")
        if age:
            self.age_against_birth(*age)
        weight_group = group[0] if group else self.group_of(age[0]) if age else None
        for obs in self.patient_observations("weight"):
            self.measure(obs, "weight_kg", "patient.weight_kg", "kg", weight_group)
        for obs in self.patient_observations("height"):
            self.measure(obs, "height_cm", "patient.height_cm", "cm", None)

    def age_against_birth(self, years: float, event: Json, said: str) -> None:
        """An age at onset that the birth date and the onset date contradict: the years between them, as far as
        their precision goes, against the stated age widened by its unit's slack (a whole unit)."""
        birth, onset = _dict(self.index.patient).get("birthDate"), event.get("date")
        if not isinstance(birth, str) or not isinstance(onset, str):
            return
        born_first, born_last, onset_first, onset_last = (date_floor(birth), date_ceiling(birth),
                                                          date_floor(onset), date_ceiling(onset))
        if not (born_first and born_last and onset_first and onset_last):
            return
        least, most = (onset_first - born_last).days / 365.25, (onset_last - born_first).days / 365.25
        unit = said.rsplit(" ", 1)[-1]
        slack = float(self.t["age"]["unit_years"].get(unit) or 0)
        if years + slack < least or years - slack > most:
            between = f"{least:.0f}" if round(least) == round(most) else f"{least:.0f} to {most:.0f}"
            self.add("warning", "PLAUS-AGE-BIRTH", event, "extension", "patient.age_at_onset",
                     f"the age at onset ({said}) does not agree with the birth date ({birth}) and the onset "
                     f"({onset}): {between} years", "correct the age, the birth date or the onset date")

    def group_of(self, years: float) -> str | None:
        for name, (low, high) in self.t["age_groups"].items():
            if name != "foetus" and low <= years < high:
                return name
        return None

    def measure(self, obs: Json, key: str, case: str, unit: str, group: str | None) -> None:
        value = _num(_dict(obs.get("valueQuantity")).get("value"))
        if value is None:
            return
        spec = self.t[key]
        low, high = spec["limits"]
        label = key.split("_")[0]
        if not low <= value <= high:
            self.add("error", f"PLAUS-{label.upper()}", obs, "valueQuantity", case,
                     f"a {label} of {value:g} {unit} cannot be a living human's ({low:g} to {high:g} {unit})",
                     f"check the number; the case file takes the {label} in {unit}")
            return
        ranges = spec.get("by_age_group") or {}
        if group in ranges and not ranges[group][0] <= value <= ranges[group][1]:
            g_low, g_high = ranges[group]
            self.add("warning", f"PLAUS-{label.upper()}", obs, "valueQuantity", case,
                     f"a {label} of {value:g} {unit} is outside the usual range for the age group '{group}' "
                     f"({g_low:g} to {g_high:g} {unit})", f"check the {label}, the age and the age group")

    # -- chronology against exposure ------------------------------------------------------------------

    def role(self, statement: Json) -> str | None:
        known = id(statement)
        if known not in self._roles:  # looked up once: exposure and causality ask for each drug more than once
            self._roles[known] = next(
                (key for e in extensions(statement, "drug_role")
                 if (key := code_list("drug_role").key_for_e2b(str(_dict(e.get("valueCoding")).get("code"))))),
                None)
        return self._roles[known]

    def starts(self, statement: Json) -> list[str]:
        return _bounds(statement, "start")

    def exposure(self) -> None:
        """A reaction that began before the first exposure to every suspect drug it is assessed against."""
        statements = self.index.all("MedicationStatement")
        suspects = [s for s in statements if self.role(s) in SUSPECT_ROLES]
        for event in self.index.all("AdverseEvent"):
            linked = {}
            for entity in as_list(event.get("suspectEntity")):
                statement = self.index.resolve(_dict(_dict(entity).get("instance")))
                if statement is not None and self.role(statement) in SUSPECT_ROLES:
                    linked[id(statement)] = (statement, entity)
            drugs = list(linked.values()) or [(s, None) for s in suspects]
            if drugs and all(self.before_first(event, s, entity) for s, entity in drugs):
                names = ", ".join(self.index.drug_name(s) for s, _ in drugs)
                self.add("warning", "PLAUS-ONSET-BEFORE-DRUG", event, "date", self.case.of(event, "onset"),
                         f"the reaction began before the first dose of every suspect drug ({names})",
                         "check the onset and the drug start dates, or the drug's role (suspect/concomitant)")

    def before_first(self, event: Json, statement: Json, entity: Json | None) -> bool:
        interval = _dict(read.extension(entity, "onset_interval")) if entity else {}
        first = _dict(read.sub_value(interval, "afterFirstDose"))
        if _num(first.get("value")) is not None and _num(first.get("value")) < 0:  # type: ignore[operator]
            return True
        relative = read.relative_time(event, "date")
        if relative and relative.anchor == "first-dose" and self.index.resolve(relative.drug_reference) is statement:
            return relative.value < 0
        onset = event.get("date")
        starts = [d for s in self.starts(statement) if (d := date_floor(s))]
        if isinstance(onset, str) and starts and (end := date_ceiling(onset)):
            return end < min(starts)
        return False

    def intervals(self) -> None:
        """Negative drug-reaction intervals (warning) and negative durations (cannot be true)."""
        for event in self.index.all("AdverseEvent"):
            for i, entity in enumerate(as_list(event.get("suspectEntity"))):
                interval = read.extension(_dict(entity), "onset_interval")
                statement = self.index.resolve(_dict(_dict(entity).get("instance"))) or {}
                for name, field in (("afterFirstDose", "onset_after_first_dose"),
                                    ("afterLastDose", "onset_after_last_dose")):
                    value = _num(_dict(read.sub_value(interval, name)).get("value"))
                    if value is not None and value < 0:
                        self.add("warning", "PLAUS-NEGATIVE-INTERVAL", event, f"suspectEntity[{i}].extension",
                                 self.case.link(statement, event, field),
                                 f"the interval from the {'first' if name == 'afterFirstDose' else 'last'} dose "
                                 f"of {self.index.drug_name(statement)} to the reaction is negative ({value:g})",
                                 "an onset before the dose is given as a negative interval only if that is what "
                                 "happened; check the sign and the drug")
                    self.interval_against_dates(event, statement, i, name, field,
                                                _dict(read.sub_value(interval, name)))
            duration = _num(_dict(read.ext_value(event.get("_date"), "event_duration")).get("value"))
            if duration is not None and duration < 0:
                self.add("error", "PLAUS-NEGATIVE-DURATION", event, "_date.extension",
                         self.case.of(event, "duration"), f"the reaction lasted a negative time ({duration:g})",
                         "give the duration as a positive number")
        for statement in self.index.all("MedicationStatement"):
            for j, dosage in enumerate(as_list(statement.get("dosage"))):
                rates = as_list(_dict(dosage).get("doseAndRate"))
                dose = _num(_dict(_dict(rates[0] if rates else None).get("doseQuantity")).get("value"))
                if dose is not None and dose < 0:
                    self.add("error", "PLAUS-NEGATIVE-DOSE", statement,
                             f"dosage[{j}].doseAndRate[0].doseQuantity.value",
                             self.case.of(statement, f"dosages[{j}].dose"), f"a dose of {dose:g} cannot be given",
                             "give the dose as a positive number")
                held = _dict(read.ext_value(_dict(dosage), "dosage_duration"))
                duration = _num(held.get("value"))
                if duration is not None and duration < 0:
                    self.add("error", "PLAUS-NEGATIVE-DURATION", statement, f"dosage[{j}].extension",
                             self.case.of(statement, f"dosages[{j}].duration"),
                             f"the drug was given for a negative time ({duration:g})",
                             "give the duration as a positive number")
                self.duration_unit(statement, j, held)

    def duration_unit(self, statement: Json, j: int, held: Json) -> None:
        """G.k.4.r.6b takes a time unit: '11 {cyclical}' (a number of cycles) is no duration, and the CIOMS
        form would print it as '11 cyclical'."""
        unit = held.get("code") or held.get("unit")
        if not isinstance(unit, str) or unit in self.t["duration_units"]:
            return
        self.add("warning", "PLAUS-DURATION-UNIT", statement, f"dosage[{j}].extension",
                 self.case.of(statement, f"dosages[{j}].duration"),
                 f"the duration of {self.index.drug_name(statement)} is in {unit!r}, which is not a time: "
                 "E2B's G.k.4.r.6 takes a time unit",
                 "give the time the drug was given for (e.g. 20 wk) and the number of cycles in the dosage "
                 "text ('11 cycles')")

    def interval_against_dates(self, event: Json, statement: Json, i: int, name: str, field: str,
                               stated: Json) -> None:
        """A stated interval the dates it spans contradict (an edit of the dates that left the sender's interval
        behind): the days between the first dosage's start (or the last one's stop) and the onset, as far as
        their precision goes, against the stated value and the slack of its unit."""
        value, unit = _num(stated.get("value")), stated.get("code") or stated.get("unit")
        days_of = self.t.get("interval_days", {}).get(unit)
        onset = event.get("date")
        if name == "afterFirstDose":
            ends = [d for s in self.starts(statement) if (d := date_floor(s))]
        else:  # the last dose is known only when every dosage has stopped
            stops = self.stops(statement)
            ends = [d for s in stops if (d := date_ceiling(s))] \
                if len(stops) == len(as_list(statement.get("dosage"))) else []
        if value is None or days_of is None or not isinstance(onset, str) or not ends:
            return
        anchor = min(ends) if name == "afterFirstDose" else max(ends)
        low, high = date_floor(onset), date_ceiling(onset)
        if low is None or high is None:
            return
        per_unit, slack = days_of
        stated_days = value * per_unit
        span = ((low - anchor).days, (high - anchor).days)
        if span[1] < stated_days - slack or span[0] > stated_days + slack:
            which = "first" if name == "afterFirstDose" else "last"
            between = f"{span[0]}" if span[0] == span[1] else f"{span[0]} to {span[1]}"
            self.add("warning", "PLAUS-INTERVAL-DATES", event, f"suspectEntity[{i}].extension",
                     self.case.link(statement, event, field),
                     f"the interval from the {which} dose of {self.index.drug_name(statement)} to the reaction is "
                     f"given as {value:g} {unit}, but the dates are {between} day(s) apart",
                     "correct the interval or the dates (an interval kept from an earlier version of the case?)")

    def stops(self, statement: Json) -> list[str]:
        return _bounds(statement, "end")

    # -- lab results ----------------------------------------------------------------------------------

    def labs(self) -> None:
        terms = " | ".join(self.event_terms())
        for obs in self.index.section("tests"):
            self.lab(obs, terms)

    def event_terms(self) -> list[str]:
        out = []
        for event in self.index.all("AdverseEvent"):
            concept = _dict(event.get("event"))
            out.append(str(concept.get("text") or "").lower())
            out.extend(str(c.get("display") or "").lower() + " " + str(c.get("code") or "")
                       for c in codings(concept))
        return out

    def lab(self, obs: Json, terms: str) -> None:
        loinc = next((str(c.get("code")) for c in codings(obs.get("code")) if c.get("system") == "http://loinc.org"),
                     None)
        quantity = _dict(obs.get("valueQuantity"))
        value, unit = _num(quantity.get("value")), quantity.get("code") or quantity.get("unit")
        low = high = None  # the first range's that gives one
        for r in as_list(obs.get("referenceRange")):
            if r.__class__ is dict:
                if low is None:
                    low = _num(_dict(r.get("low")).get("value"))
                if high is None:
                    high = _num(_dict(r.get("high")).get("value"))
        case = self.case.of(obs, "")
        if low is not None and high is not None and low > high:
            self.add("error", "PLAUS-RANGE-INVERTED", obs, "referenceRange", f"{case}.low",
                     f"the normal range is inverted: low {low:g} is above high {high:g}",
                     "swap the normal low (F.r.4) and high (F.r.5) values")
        spec = self.t["loinc"].get(loinc or "")
        if spec and value is not None and isinstance(unit, str):
            if not self.unit_fits(obs, spec, loinc or "", value, unit, case):
                return
            self.limits(obs, spec, value, unit, case)
        if value is None:
            return
        state = "low" if low is not None and value < low else "high" if high is not None and value > high else \
            "normal" if low is not None or high is not None else None
        self.interpretation(obs, state, value, unit, case)
        for rule in self.t["reaction_lab"]:
            if loinc in rule["loinc"] and any(t in terms for t in rule["terms"]):
                if rule["expect"] == "high" and low is not None and value < low:
                    self.add("warning", "PLAUS-LAB-REACTION", obs, "valueQuantity", f"{case}.value",
                             f"{value:g} {unit or ''} is below the normal low ({low:g}) although the case reports "
                             f"{rule['reaction']}", "check the value, its unit and the reaction")
                if rule["expect"] == "low" and high is not None and value > high:
                    self.add("warning", "PLAUS-LAB-REACTION", obs, "valueQuantity", f"{case}.value",
                             f"{value:g} {unit or ''} is above the normal high ({high:g}) although the case reports "
                             f"{rule['reaction']}", "check the value, its unit and the reaction")

    def unit_fits(self, obs: Json, spec: Json, loinc: str, value: float, unit: str, case: str) -> bool:
        parsed = units.parse(unit)
        wanted = units.property_dims(spec["property"])
        if parsed is None or wanted is None or parsed[1] == wanted:
            return True
        hint = f"use a {units.property_name(spec['property'])} unit such as {spec['unit']}"
        if spec.get("molar_mass"):
            converted = units.convert_molar(value, unit, spec["unit"], float(spec["molar_mass"]))
            if converted is not None:
                hint = (f"{value:g} {unit} is {converted:.3g} {spec['unit']} (molar mass {spec['molar_mass']} g/mol); "
                        f"give that, or use the LOINC code for the {units.property_name(self.kind(parsed[1]))}")
        self.add("warning", "PLAUS-UNIT-PROPERTY", obs, "valueQuantity", f"{case}.unit",
                 f"the unit {unit} is not a {units.property_name(spec['property'])} unit, which LOINC {loinc} "
                 f"({spec['name']}) measures", hint)
        return False

    def kind(self, dims: units.Dims) -> str:
        return next((k for k in self.t["properties"] if units.property_dims(k) == dims), "?")

    def limits(self, obs: Json, spec: Json, value: float, unit: str, case: str) -> None:
        converted = units.convert(value, unit, spec["unit"])
        low, high = spec["limits"]
        if converted is not None and not low <= converted <= high:
            said = f"{value:g} {unit}" + (f" ({converted:.6g} {spec['unit']})" if unit != spec["unit"] else "")
            self.add("error", "PLAUS-LAB-LIMIT", obs, "valueQuantity", f"{case}.value",
                     f"{spec['name']} {said} is outside what a living patient can have "
                     f"({low:g} to {high:g} {spec['unit']})", "check the value, the decimal point and the unit")

    def interpretation(self, obs: Json, state: str | None, value: float, unit: Any, case: str) -> None:
        if state is None:
            return
        claims: list[tuple[str, str, str]] = []
        ich_results = f"urn:oid:{code_list('test_result').oid}"  # E2B's own result code: not a claim here
        for concept in as_list(obs.get("interpretation")):
            for c in codings(concept):
                code = c.get("code")
                for claim, codes in self.t["interpretation_codes"].items():
                    if code in codes and c.get("system") != ich_results:
                        claims.append((claim, "interpretation", f"{case}.result"))
        text = read.ext_value(obs, "result_text")
        if isinstance(text, str):
            said = text.strip().lower().rstrip(".")
            for claim, words in self.t["interpretation_words"].items():
                if any(said == w or said.startswith(w + " ") for w in words):
                    claims.append((claim, "extension", f"{case}.result_text"))
        for claim, tail, where in claims:
            if claim != state:
                self.add("warning", "PLAUS-INTERPRETATION", obs, tail, where,
                         f"the result is called {claim} but {value:g} {unit or ''} is {state} for the normal range "
                         "given", "check the value, the normal range and the stated interpretation")

    # -- causality ------------------------------------------------------------------------------------

    def causality(self) -> None:
        methods = self.t["causality_methods"]
        for event in self.index.all("AdverseEvent"):
            for i, entity in enumerate(as_list(event.get("suspectEntity"))):
                statement = self.index.resolve(_dict(_dict(entity).get("instance"))) or {}
                for j, assessment in enumerate(as_list(_dict(entity).get("causality"))):
                    method = str(_dict(_dict(assessment).get("method")).get("text") or "")
                    result = str(_dict(_dict(assessment).get("assessment")).get("text") or "")
                    scale = next((s for s in methods.values()
                                  if any(_norm(method).startswith(_norm(n)) for n in s["names"])), None)
                    if scale is None or not result:
                        continue
                    if not _on_scale(scale, method, result):
                        self.add("warning", "PLAUS-CAUSALITY-SCALE", event,
                                 f"suspectEntity[{i}].causality[{j}].assessment",
                                 self.case.link(statement, event, f"causality[{j}].result"),
                                 f"{result!r} is not a result of the {method} scale",
                                 "use one of: " + ", ".join(scale["results"]))

    # -- dates after the report -----------------------------------------------------------------------

    def report_dates(self) -> None:
        comp = self.index.composition or {}
        recent = read.ext_value(comp, "most_recent_date")
        limit = date_ceiling(recent) if isinstance(recent, str) else None
        if limit is None:
            return
        future = today()  # a date in the future is reported once, by the ICSR rules (ICSR-FUTURE-DATE)
        # the Composition's own dates and the record of where a version came from (the received message,
        # its Provenance) are bookkeeping of the report, not facts of the case
        walk = self.walk if self.walk is not None else walk_bundle(self.bundle)
        entries = self.bundle.get("entry") or []
        nodes = walk.nodes
        skipped = [(start, end) for entry, start, end in walk.spans
                   if (r := entries[entry]["resource"]).get("resourceType") in ("Composition", "Provenance")
                   or is_received_message(r)]
        for i in walk.holding(DATE_KEYS):
            if any(start <= i < end for start, end in skipped):
                continue
            node = nodes[i]
            for key in sorted(DATE_KEYS.intersection(node)):
                value = node[key]
                floor = date_floor(value) if isinstance(value, str) and value[:4].isdigit() else None
                if floor and limit < floor <= future:
                    self.issues.append(Issue(
                        "error", "PLAUS-AFTER-REPORT", self.node_location(walk.path(i), key),
                        f"{value} is after the date of the report's most recent information ({recent}, C.1.5)",
                        "correct the date, or the date of most recent information", "plausibility"))

    def node_location(self, path: str, key: str) -> str:
        match = re.match(r"Bundle\.entry\[(\d+)\]\.resource\.ofType\(\w+\)\.?(.*)", path)
        if not match:
            return f"{path}.{key}"
        resource = _dict(_dict(as_list(self.bundle.get("entry"))[int(match.group(1))]).get("resource"))
        tail = f"{match.group(2)}.{key}".lstrip(".")
        return self.locate(resource, tail, self.case.of(resource, field_of(resource.get("resourceType"), tail)))

    # -- death ----------------------------------------------------------------------------------------

    def death(self) -> None:
        patient = self.index.patient
        if not patient or not (patient.get("deceasedDateTime") or patient.get("deceasedBoolean")):
            return
        death_code = code_list("seriousness_criterion").e2b("death")
        events = self.index.all("AdverseEvent")
        fatal = any(_dict(c).get("code") == "fatal" for e in events for c in codings(e.get("outcome")))
        criterion = any(seriousness_criteria(e).get(death_code) is True for e in events)
        if events and not (fatal or criterion):
            said = "deceasedDateTime" if patient.get("deceasedDateTime") else "deceasedBoolean"
            self.add("warning", "PLAUS-DEATH-NOT-FATAL", patient, said, "patient.death",
                     "the patient died but no reaction has a fatal outcome or the 'results in death' criterion",
                     "if a reaction caused the death, give it outcome fatal and the death criterion; otherwise "
                     "say in the narrative that the death was not due to a reaction")

    def no_harm(self) -> None:
        """A term that says no harm occurred ("No adverse event") marked serious or fatal: the harm then needs
        its own reaction term, or the seriousness is a slip."""
        kinds = set(self.t["situations_without_harm"])
        names = {c.e2b: c.display for c in code_list("seriousness_criterion").codes.values() if c.e2b}
        for event in self.index.all("AdverseEvent"):
            concept = _dict(event.get("event"))
            meddra = read.coding(concept, "meddra") or {}
            found = situation_for(meddra.get("code"), [meddra.get("display"), concept.get("text")])
            if found is None or found.kind not in kinds:
                continue
            criteria = sorted(names.get(c, c) for c in criteria_present(event))
            said = [f"marked serious ({'; '.join(criteria)})"] if criteria else []
            if any(_dict(c).get("code") == "fatal" for c in codings(event.get("outcome"))):
                said.append("given a fatal outcome")
            if said:
                self.add("warning", "PLAUS-NO-HARM-SERIOUS", event, "seriousness", self.case.of(event, "seriousness"),
                         f"'{found.term}' says no adverse event occurred, but it is {' and '.join(said)}",
                         "give the harm its own reaction term with this seriousness and outcome, or correct them")

    def ended(self) -> None:
        """A reaction with an end (E.i.5) whose outcome (E.i.7) says it had not ended: one of the two was left
        behind when the other was edited."""
        outcomes = code_list("outcome")
        not_ended = set(self.t["outcomes_not_ended"])
        for event in self.index.all("AdverseEvent"):
            outcome = next((k for c in codings(event.get("outcome"))
                            if (k := outcomes.key_for_coding(c, by="fhir")) in not_ended), None)
            end = _reaction_end(event)
            if outcome and end:
                self.add("warning", "PLAUS-END-OUTCOME", event, "outcome", self.case.of(event, "outcome"),
                         f"the reaction ended ({end}) but its outcome is '{outcomes.codes[outcome].display}'",
                         "give the outcome at the last observation (recovered, with sequelae...), or remove the end")

    def death_outcome(self) -> None:
        """A reaction with the 'results in death' criterion whose outcome says it resolved: one of the two was
        left behind when the other was edited (the converse is ICSR-FATAL-NOT-DEATH)."""
        outcomes = code_list("outcome")
        resolved = set(self.t["outcomes_after_no_death"])
        death = code_list("seriousness_criterion").e2b("death")
        for event in self.index.all("AdverseEvent"):
            outcome = next((k for c in codings(event.get("outcome"))
                            if (k := outcomes.key_for_coding(c, by="fhir")) in resolved), None)
            if outcome and death in criteria_present(event):
                self.add("warning", "PLAUS-DEATH-CRITERION-OUTCOME", event, "outcome", self.case.of(event, "outcome"),
                         f"the reaction results in death (E.i.3.2a) but its outcome is "
                         f"'{outcomes.codes[outcome].display}'",
                         "give the outcome fatal, or remove the 'results in death' criterion")

    def expedited(self) -> None:
        """An expedited report (C.1.7, FDA's 15-day or 7-day report type) without a serious reaction: the flag
        was left behind when the serious reaction was removed or its seriousness changed."""
        comp = self.index.composition or {}
        events = self.index.all("AdverseEvent")
        if not events or any(criteria_present(e) for e in events):
            return
        said = []
        if read.sub_value(read.extension(comp, "expedited_report"), "localCriteriaFlag") is True:
            said.append(("report.expedited", "marked for expedited reporting (C.1.7)"))
        fda, _ = read.fda_report_type(comp)
        if fda in self.t["expedited_fda_report_types"]:
            said.append(("report.fda_report_type", f"an FDA {code_list('fda_report_type').codes[fda].display} "
                                                   "report (FDA.C.1.7.1)"))
        if said:
            self.add("warning", "PLAUS-EXPEDITED-NOT-SERIOUS", comp, "extension", said[0][0],
                     f"the report is {' and '.join(s for _, s in said)}, but no reaction is marked serious",
                     "mark the reaction's seriousness criteria, or say that the report is not expedited")

    # -- linked reports (C.1.10.r) ----------------------------------------------------------------------

    def links(self) -> None:
        """A report listed among its own linked reports: C.1.10.r names the other patients' reports of a
        literature series (or a mother's and child's), never the report itself (C.1.1 / C.1.8.1)."""
        comp = self.index.composition or {}
        own = {_dict(i).get("value") for i in as_list(comp.get("identifier"))}
        own.add(_dict(read.ext_value(comp, "case_identifier")).get("value"))
        own.discard(None)
        for i, e in enumerate(extensions(comp, "linked_report")):
            value = _dict(e.get("valueIdentifier")).get("value")
            if value in own:
                self.add("warning", "PLAUS-LINKED-SELF", comp, "extension", f"report.linked_reports[{i}]",
                         f"the report is linked to itself ({value}, C.1.10.r)",
                         "list the other reports of the series or the related case, not this one")

    # -- parent-child reports (D.10, G.k.4.r.11, G.k.10.r) ----------------------------------------------

    def parent_child(self) -> None:
        """Facts of a parent-child report that contradict the case's parent (D.10): a parent route with no
        parent at all, or a drug taken by the father where the parent is the mother."""
        parent = next((r for r in self.index.section("parent") if r.get("resourceType") == "Patient"), None)
        father_code = code_list("additional_info").e2b("taken-by-father")
        for statement in self.index.section("drugs"):
            name = self.index.drug_name(statement)
            if parent is None:
                for j, dosage in enumerate(as_list(statement.get("dosage"))):
                    if extensions(dosage, "parent_route"):
                        self.add("warning", "PLAUS-PARENT-ROUTE", statement, f"dosage[{j}]",
                                 self.case.of(statement, f"dosages[{j}].parent_route"),
                                 f"{name} has a parent route (G.k.4.r.11) but the case has no parent (D.10)",
                                 "in a parent-child report give the parent in patient.parent; otherwise leave "
                                 "out the parent route")
            flagged = any(_dict(e.get("valueCoding")).get("code") == father_code
                          for e in extensions(statement, "additional_info"))
            if flagged and parent is not None and parent.get("gender") == "female":
                self.add("warning", "PLAUS-FATHER-FEMALE", statement, "extension",
                         self.case.of(statement, "additional_info"),
                         f"{name} is marked as taken by the father (G.k.10.r) but the parent (D.10.6) is female",
                         "correct the parent's sex, or remove 'taken-by-father'")

    # -- absent reasons E2B cannot carry --------------------------------------------------------------

    def absent_reasons(self) -> None:
        """An absent reason the E2B element does not allow: the export leaves some out (warning) and is
        refused for the others (error), so `validate` says it before `e2b` does."""
        from reporter.e2b.dictionary import dictionary

        elements = dictionary().elements
        dropped = set(self.t["absent_reasons"]["dropped_by_export"])
        as_no_information = set(self.t["absent_reasons"]["sent_as_no_information"])
        labels = {c.e2b: key for key, c in code_list("null_flavor").codes.items()}
        # a case file says every absent reason it holds (and where); a Bundle from elsewhere, those of its spots
        spots = self.case_file_spots() if self.lines is not None else self.absent_spots()
        for resource, tail, case, number, flavor in spots:
            element = elements.get(number)
            if not flavor or element is None or flavor in element.null_flavors:
                continue
            allowed = [labels.get(f, f) for f in element.null_flavors]
            said = (f"'{labels.get(flavor, flavor)}' ({flavor}) cannot be sent for {number} {element.name}: "
                    f"E2B allows {', '.join(allowed) or 'no reason'} there")
            hint = "use " + (" or ".join(allowed) if allowed else "a value, or leave the field out")
            if number in dropped:
                self.add("warning", "PLAUS-ABSENT-REASON", resource, tail, case,
                         f"{said}, so the export leaves it out", hint)
            elif number in as_no_information:
                self.add("warning", "PLAUS-ABSENT-REASON", resource, tail, case,
                         f"{said}, so the export sends NI (no information)", hint)
            else:
                self.add("error", "PLAUS-ABSENT-REASON", resource, tail, case,
                         f"{said}, so the E2B export would be refused", hint)

    def absent_spots(self) -> list[tuple[Json, str, str, str, str | None]]:
        """(resource, FHIRPath tail, case-file path, E2B element, null flavor) of every absent value."""
        patient = self.index.patient or {}
        name = _dict(next(iter(as_list(patient.get("name"))), {}))
        spots: list[tuple[Json, str, str, str, str | None]] = [
            (patient, "name", "patient.initials", "D.1", read.absent_reason(name)),
            (patient, "birthDate", "patient.birth_date", "D.2.1", read.primitive_absent(patient, "birthDate")),
            (patient, "gender", "patient.sex", "D.5", read.primitive_absent(patient, "gender")),
        ]
        spots += self.amendment_spots()
        spots += self.history_spots(self.index.section("history"), "patient", "D.7.1.r")
        spots += self.past_drug_spots(self.index.section("past_drugs"), "patient", "D.8.r")
        parent = self.index.section("parent")
        mother = next((r for r in parent if r.get("resourceType") == "Patient"), None)
        if mother is not None:
            name = _dict(next(iter(as_list(mother.get("name"))), {}))
            spots += [(mother, "name", "patient.parent.identification", "D.10.1", read.absent_reason(name)),
                      (mother, "birthDate", "patient.parent.birth_date", "D.10.2.1",
                       read.primitive_absent(mother, "birthDate")),
                      (mother, "gender", "patient.parent.sex", "D.10.6", read.primitive_absent(mother, "gender"))]
            spots += self.history_spots(parent, "patient.parent", "D.10.7.1.r")
            spots += self.past_drug_spots([r for r in parent if r.get("resourceType") == "MedicationStatement"],
                                          "patient.parent", "D.10.8.r")
        # the many spots of reactions, tests and doses: their case paths made only when absent
        for event in self.index.section("reactions"):
            if flavor := read.primitive_absent(event, "date"):
                spots.append((event, "date", self.case.of(event, "onset"), "E.i.4", flavor))
            if flavor := read.absent_reason(read.extension(_dict(event.get("_date")), "reaction_end")):
                spots.append((event, "_date.extension", self.case.of(event, "end"), "E.i.5", flavor))
        for obs in self.index.section("tests"):
            if flavor := read.primitive_absent(obs, "effectiveDateTime"):
                spots.append((obs, "effectiveDateTime", self.case.of(obs, "date"), "F.r.1", flavor))
        for statement in self.index.section("drugs"):
            for j, dosage in enumerate(as_list(statement.get("dosage"))):
                bounds = _dict(_dict(_dict(_dict(dosage).get("timing")).get("repeat")).get("boundsPeriod"))
                for field, name, number in (("start", "start", "G.k.4.r.4"), ("end", "stop", "G.k.4.r.5")):
                    if flavor := read.primitive_absent(bounds, field):
                        spots.append((statement, f"dosage[{j}].timing.repeat.boundsPeriod.{field}",
                                      self.case.of(statement, f"dosages[{j}].{name}"), number, flavor))
        for death_date in self.patient_observations("death_date", "death")[:1]:
            spots.append((death_date, "valueDateTime", "patient.death.date", "D.9.1",
                          read.primitive_absent(death_date, "valueDateTime")))
        for study in self.index.all("ResearchStudy")[:1]:
            for k, ident in enumerate(as_list(study.get("identifier"))):
                if isinstance(ident, dict) and str(ident.get("system", "")).endswith(".3.5"):
                    spots.append((study, f"identifier[{k}].value", "study.sponsor_number", "C.5.3",
                                  read.primitive_absent(ident, "value")))
        return [spot for spot in spots if spot[4]]

    def amendment_spots(self) -> list[tuple[Json, str, str, str, str | None]]:
        """C.1.11.2: the reason of a nullification or amendment received without one."""
        comp = self.index.composition or {}
        amendment = read.extension(comp, "report_amendment") or {}
        reason = read.sub_extension(amendment, "amendmentReason")
        flavor = read.absent_reason(reason) if reason else None
        return [(comp, "extension", "report.nullification.reason", "C.1.11.2", flavor)] if flavor else []

    def case_file_spots(self) -> list[tuple[Json | None, str, str, str, str | None]]:
        """(None, "", case-file path, E2B element, null flavor) of every {absent: ...} of the case file, placed
        by the element table's `case` column (a list item that is absent: the one element of its block)."""
        from reporter.e2b.dictionary import elements_by_case_path

        assert self.lines is not None
        by_path = elements_by_case_path()
        flavors = {key: c.e2b for key, c in code_list("null_flavor").codes.items()}
        spots: list[tuple[Json | None, str, str, str, str | None]] = []

        def visit(node: Any, path: str, holder: Any) -> None:  # in the file's order
            if isinstance(node, dict):
                if set(node) == {"absent"} and isinstance(node["absent"], str):
                    number = _element_of(by_path, re.sub(r"\[\d+\]", "[*]", path), holder)
                    if number is not None:
                        spots.append((None, "", path, number, flavors.get(node["absent"])))
                    return
                for key, value in node.items():
                    visit(value, f"{path}.{key}" if path else str(key), node)
            elif isinstance(node, list):
                for i, item in enumerate(node):
                    visit(item, f"{path}[{i}]", node)

        visit(self.lines.data, "", None)
        return spots

    @staticmethod
    def history_spots(resources: list[Json], who: str, number: str) -> list[tuple[Json, str, str, str, str | None]]:
        """The absent dates and continuing of a patient's or parent's medical history (D.7.1.r, D.10.7.1.r)."""
        spots = []
        for i, cond in enumerate(r for r in resources if r.get("resourceType") == "Condition"):
            base = f"{who}.medical_history[{i}]"
            spots += [(cond, "onsetDateTime", f"{base}.start", f"{number}.2",
                       read.primitive_absent(cond, "onsetDateTime")),
                      (cond, "abatementDateTime", f"{base}.end", f"{number}.4",
                       read.primitive_absent(cond, "abatementDateTime")),
                      (cond, "clinicalStatus", f"{base}.continuing", f"{number}.3",
                       read.absent_reason(_dict(cond.get("clinicalStatus"))))]
        return spots

    @staticmethod
    def past_drug_spots(statements: list[Json], who: str, number: str) -> list[tuple[Json, str, str, str, str | None]]:
        """The absent start and end dates of a patient's or parent's past drugs (D.8.r, D.10.8.r)."""
        spots = []
        for i, past in enumerate(statements):
            period = _dict(past.get("effectivePeriod"))
            spots += [(past, "effectivePeriod.start", f"{who}.past_drugs[{i}].start", f"{number}.4",
                       read.primitive_absent(period, "start")),
                      (past, "effectivePeriod.end", f"{who}.past_drugs[{i}].end", f"{number}.5",
                       read.primitive_absent(period, "end"))]
        return spots


def _element_of(by_path: dict[str, tuple[str, ...]], path: str, holder: Any) -> str | None:
    """The element a case path holds: its own, or for a list item or block that is absent as a whole, the one
    element inside it (FDA's race: an item {absent: ...}, where the element is the item's code). A field that is
    several elements' (a record number) is the one its holder's `source` names (by the id root it is sent
    under, mappings/codes.yaml record_source)."""
    from reporter.e2b.dictionary import dictionary, elements_inside_case_path

    numbers = by_path.get(path) or tuple(sorted(elements_inside_case_path().get(path, ())))
    if len(numbers) > 1 and isinstance(holder, dict) and isinstance(holder.get("source"), str):
        entry = code_list("record_source").codes.get(holder["source"])
        root = entry.model_extra.get("id_root") if entry is not None and entry.model_extra else None
        named = [n for n in numbers if root and f"'{root}'" in (dictionary().elements[n].node or "")]
        numbers = tuple(named) or numbers
    return numbers[0] if len(numbers) == 1 else None


def check_plausibility(bundle: Json, lines: CaseLines | None = None, walk: BundleWalk | None = None) -> list[Issue]:
    """`walk`: the Bundle's walk_bundle, when the caller has it (saves a second walk)."""
    return Plausibility(bundle, lines, walk).run()


def _bounds(statement: Json, end: str) -> list[str]:
    """The dates of its dosages' periods at `end` ("start" or "end") a statement holds as dates."""
    return [s for d in as_list(statement.get("dosage"))
            if isinstance(s := _dict(_dict(_dict(_dict(d).get("timing")).get("repeat")).get("boundsPeriod"))
                          .get(end), str)]


def _on_scale(scale: dict[str, Any], method: str, result: str) -> bool:
    """A result on its method's scale: as the causality module reads it (assess and tabulate read it the same
    way; a score must agree with its label) for the methods it knows, else by the scale's words."""
    from reporter.assess.result import known_method

    if known_method(method):
        return _on_method_scale(method, result)
    said = _norm(re.sub(r"[\d.,:;()+-]+|score", " ", result.lower()))
    return said in {_norm(r) for r in scale["results"]}


def _on_method_scale(method: str, result: str) -> bool:
    """A result the causality module reads on the method's scale (a bare Naranjo score '6' included)."""
    from reporter.assess.result import is_valid_result, known_method

    key = known_method(method)
    return bool(key) and is_valid_result(key, result)


def _reaction_end(event: Json) -> str | None:
    """The reaction's end as stated (E.i.5: a date, or a time relative to a drug), None when it has none or
    only a reason why it is not known."""
    for e in as_list(_dict(event.get("_date")).get("extension")):
        url = _dict(e).get("url")
        if url == read.ext("event_end_date") and _dict(e).get("valueDateTime"):
            return str(e["valueDateTime"])
        if url == read.ext("reaction_end") and not read.absent_reason(e):
            return "stated relative to a drug"
    return None
