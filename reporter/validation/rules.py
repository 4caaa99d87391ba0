"""Layer 4: ICSR rules. The four minimum criteria (identifiable patient, identifiable reporter, suspect
drug, reaction), seriousness consistency, chronology and no future dates, valid absent reasons."""

from __future__ import annotations

import datetime as dt
from functools import cached_property
from typing import Any

from reporter import config
from reporter.fhir.read import (
    absent_reason,
    as_list,
    coding,
    codings,
    concept_text,
    criteria_present,
    extensions,
    fda_report_type,
    interpretation_results,
    named,
    oid_coding,
    primitive_absent,
    record_source,
    repeat_interval,
    sex_null_flavor,
    strength_of_ratio,
)
from reporter.tables import code_list, ext, fhir_tables, oids, system
from reporter.validation.report import Issue
from reporter.validation.walk import BundleWalk, bundle_index, entry_locations, walk_bundle

Json = dict[str, Any]
_EXTENSION = frozenset({"extension"})
DAR_CODES = {"unknown", "asked-unknown", "temp-unknown", "not-asked", "asked-declined", "masked",
             "not-applicable", "unsupported", "as-text", "error", "not-a-number", "negative-infinity",
             "positive-infinity", "not-performed", "not-permitted"}


def _dict(value: Any) -> Json:
    return value if isinstance(value, dict) else {}


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def today() -> dt.date:
    override = config.get("today")
    return dt.date.fromisoformat(override) if override else dt.date.today()


def date_floor(value: str) -> dt.date | None:
    """The earliest calendar day a (partial) FHIR date or dateTime can mean."""
    try:
        parts = value[:10].split("-")
        year = int(parts[0])
        month = int(parts[1]) if len(parts) > 1 else 1
        day = int(parts[2]) if len(parts) > 2 else 1
        return dt.date(year, month, day)
    except (ValueError, IndexError):
        return None


def date_ceiling(value: str) -> dt.date | None:
    """The latest calendar day a partial date can mean (2023 -> 2023-12-31)."""
    floor = date_floor(value)
    if floor is None:
        return None
    length = len(value[:10])
    if length == 4:
        return dt.date(floor.year, 12, 31)
    if length == 7:
        nxt = dt.date(floor.year + floor.month // 12, floor.month % 12 + 1, 1)
        return nxt - dt.timedelta(days=1)
    return floor


def _present(node: Any, path: list[str]) -> bool:
    """Whether the element at `path` (list elements looked into) holds anything."""
    if isinstance(node, list):
        return any(_present(n, path) for n in node)
    if not path:
        return node is not None and node != [] and node != {}
    return isinstance(node, dict) and _present(node.get(path[0]), path[1:])


class RuleChecker:
    def __init__(self, bundle: Json, walk: BundleWalk | None = None) -> None:
        self.bundle = bundle
        self.walk = walk if walk is not None else walk_bundle(bundle)
        self.index = bundle_index(bundle, self.walk)
        self.issues: list[Issue] = []

    @cached_property
    def paths(self) -> dict[int, str]:
        return entry_locations(self.bundle)

    def path(self, resource: Json, tail: str = "") -> str:
        return self.paths.get(id(resource), resource.get("resourceType", "?")) + (f".{tail}" if tail else "")

    def add(self, severity: str, code: str, where: str, message: str, hint: str) -> None:
        self.issues.append(Issue(severity, code, where, message, hint, "rule"))  # type: ignore[arg-type]

    def run(self) -> list[Issue]:
        self.minimum_criteria()
        self.seriousness()
        self.dates()
        self.absent_reasons()
        self.unread_dosage()
        self.unread_interpretation()
        self.unread_gender()
        self.unread_guide_seriousness()
        self.unread_guide_report_type()
        self.unread_authors()
        self.unread_elements()
        self.unread_narratives()
        self.unread_record_numbers()
        self.unread_study_identifiers()
        self.unknown_extensions()
        return self.issues

    def unknown_extensions(self) -> None:
        """An extension none of the readers knows (not in mappings/fhir.yaml `extensions`: US Core race, an EHR's
        own): FHIR lets a reader pass it by, but the fact it holds would be lost unsaid."""
        known = set(fhir_tables().extensions.values())
        for i in self.walk.holding(_EXTENSION):
            for n, found in enumerate(as_list(self.walk.nodes[i]["extension"])):
                url = _str(_dict(found).get("url"))
                if url and ":" in url and url not in known:
                    self.add("warning", "FHIR-NOT-READ", f"{self.walk.path(i)}.extension[{n}]",
                             f"extension {url} is not read: the case file, E2B and the report know the extensions "
                             "of mappings/fhir.yaml only and leave it out",
                             "give the fact with the element or extension the readers take (README: the case-file "
                             "format), or say it in the narrative")

    def unread_study_identifiers(self) -> None:
        """A study's identifier in a system E2B has no element for (a registry's URL, the sponsor's own system):
        the study registration (C.5.1.r.1), sponsor study number (C.5.3) and FDA's INDs are read by their own
        systems only, so the case file and E2B leave it out."""
        known = {f"urn:oid:{oids()['identifiers'][k]}": k for k in ("study_registration", "sponsor_study_number")}
        known |= {system(k): k for k in ("fda_ind", "fda_pre_anda", "fda_cross_reported_ind")}
        studies = {id(r): r for e in self.index.all("AdverseEvent") for s in as_list(e.get("study"))
                   if (r := self.index.resolve(s)) is not None}
        for study in studies.values():
            for n, ident in enumerate(as_list(study.get("identifier"))):
                if _str(_dict(ident).get("system")) in known:
                    continue
                self.add("warning", "FHIR-NOT-READ", self.path(study, f"identifier[{n}]"),
                         f"ResearchStudy.identifier {_str(_dict(ident).get('system')) or '(no system)'} is not read: "
                         "E2B holds a study's registration number (C.5.1.r.1), sponsor study number (C.5.3) and "
                         "FDA's IND numbers by their own systems only; the case file and E2B leave it out",
                         "give it with the system of what it is: " + ", ".join(f"{k} {u}" for u, k in known.items()))

    def unread_record_numbers(self) -> None:
        """A patient's identifier in another organisation's system: E2B numbers a patient's records by kind only
        (D.1.1.1-4, each its own OID root), so the case file and E2B leave it out; the report shows it."""
        patient = self.index.patient
        for n, ident in enumerate(as_list(_dict(patient).get("identifier"))):
            if record_source(ident) is None:
                roots = ", ".join(f"{key} urn:oid:{entry.model_extra['id_root']}"
                                  for key, entry in code_list("record_source").codes.items())
                self.add("warning", "FHIR-NOT-READ", self.path(_dict(patient), f"identifier[{n}]"),
                         f"Patient.identifier {_str(_dict(ident).get('system')) or '(no system)'} is not read: E2B "
                         "holds a GP, specialist, hospital or investigation record number (D.1.1.1-4) by its own "
                         "system only; the case file and E2B leave it out (the report shows it)",
                         f"give a record number with the system of its kind ({roots})")

    def unread_elements(self) -> None:
        """Other R4 elements of an AdverseEvent, its causality and a drug's Medication that no reader takes
        (mappings/fhir.yaml `unread_elements`), each said where it is with where the fact is read instead."""
        tables, read_anyway = fhir_tables().unread_elements, self.read_anyway()
        for event in self.index.all("AdverseEvent"):
            self.say_unread(event, event, "AdverseEvent", tables.get("AdverseEvent", {}), read_anyway)
            for n, entity in enumerate(as_list(event.get("suspectEntity"))):
                for k, assessment in enumerate(as_list(_dict(entity).get("causality"))):
                    where = f"suspectEntity[{n}].causality[{k}]"
                    self.say_unread(event, _dict(assessment), "AdverseEvent.suspectEntity.causality",
                                    tables.get("AdverseEvent.suspectEntity.causality", {}), read_anyway, where)
                    self.unnamed_assessor(event, _dict(assessment), where)
        for obs in self.index.section("tests"):
            self.say_unread(obs, obs, "Observation", tables.get("Observation", {}), read_anyway)
        for condition in self.index.section("history"):
            self.say_unread(condition, condition, "Condition", tables.get("Condition", {}), read_anyway)
        for statement in self.index.section("drugs"):
            self.say_unread(statement, statement, "MedicationStatement", tables.get("MedicationStatement", {}),
                            read_anyway)
        for medication, holder, where in self.medications():
            self.say_unread(holder, medication, "Medication", tables.get("Medication", {}), read_anyway, where)
            self.unread_medication_parts(holder, medication, where)
            self.unread_product_codes(holder, _dict(medication.get("code")), ".".join(filter(None, (where, "code"))))
        for statement in self.index.all("MedicationStatement"):
            self.unread_product_codes(statement, _dict(statement.get("medicationCodeableConcept")),
                                      "medicationCodeableConcept")

    def unread_medication_parts(self, resource: Json, medication: Json, where: str) -> None:
        """What of a Medication's batch, form and ingredient strength the case file cannot hold: all of them
        without a dosage line to hold batch and form (a statement naming it has none), a form's codes in another
        system than EDQM (E2B's dose form TermID; the form is read by its text), a strength Ratio with no amount
        per one unit (strength_of_ratio)."""
        def at(part: str) -> str:
            return self.path(resource, ".".join(filter(None, (where, part))))

        named = [s for s in self.index.all("MedicationStatement") if self.index.medication_of(s) is medication]
        undosed = any(not as_list(s.get("dosage")) for s in named)
        batch = _dict(medication.get("batch"))
        for part, present in (("batch.lotNumber", bool(batch.get("lotNumber"))),
                              ("form", bool(_dict(medication.get("form"))))):
            if present and undosed:
                self.add("warning", "FHIR-NOT-READ", at(part),
                         f"Medication.{part} is not read: the case file holds it on each dosage line "
                         "(G.k.4.r.7, G.k.4.r.9) and the drug has none", "give the drug a dosage")
        for n, found in enumerate(codings(medication.get("form"))):
            if found.get("system") != system("edqm"):
                self.add("warning", "FHIR-NOT-READ", at(f"form.coding[{n}]"),
                         f"dose form code {_str(found.get('system')) or '(no system)'} {_str(found.get('code')) or ''} "
                         "is not read: E2B's dose form TermID (G.k.4.r.9.2) is EDQM's; the form is read by its text",
                         f"add the EDQM code ({system('edqm')})")
        for n, ingredient in enumerate(as_list(medication.get("ingredient"))):
            ratio = _dict(_dict(ingredient).get("strength"))
            if not ratio or extensions(_dict(ingredient), "strength"):
                continue
            why = strength_of_ratio(ratio)[1]
            if why:
                self.add("warning", "FHIR-NOT-READ", at(f"ingredient[{n}].strength"),
                         f"Medication.ingredient.strength is not read: {why}",
                         "give the strength per one unit (500 mg per tablet, 50 mg/mL) with UCUM codes, or as the "
                         f"ingredient's extension {ext('strength')}, a Quantity (G.k.2.3.r.3)")

    def unread_product_codes(self, resource: Json, concept: Json, where: str) -> None:
        """A product's codings in systems no reader takes (NDC, SNOMED CT, dm+d ...): the case file keeps ATC,
        RxNorm and the MPID/PhPID codings marked with their kind (G.k.2.1), E2B the name (G.k.2.2)."""
        read_systems = {system("atc"), system("rxnorm")}
        for n, found in enumerate(as_list(concept.get("coding"))):
            found = _dict(found)
            if found.get("system") in read_systems or extensions(found, "product_id_kind"):
                continue
            self.add("warning", "FHIR-NOT-READ", self.path(resource, f"{where}.coding[{n}]"),
                     f"product code {_str(found.get('system')) or '(no system)'} {_str(found.get('code')) or ''} is "
                     "not read: the case file and E2B take the product's name (code.text, else a coding's display: "
                     "G.k.2.2), its ATC and RxNorm codes and its MPID or PhPID (G.k.2.1)",
                     "give the product's name as text; an MPID or PhPID as a coding with the extension "
                     f"{ext('product_id_kind')} (valueCode mpid, phpid or product-code)")

    def say_unread(self, resource: Json, node: Json, name: str, table: dict[str, str], read_anyway: set[int],
                   where: str = "") -> None:
        """One FHIR-NOT-READ per element of `table` present in `node` (at `where` in `resource`)."""
        for element, instead in table.items():
            if not _present(node, element.split(".")) or self.refers_to_read(node.get(element), read_anyway):
                continue
            self.add("warning", "FHIR-NOT-READ", self.path(resource, ".".join(filter(None, (where, element)))),
                     f"{name}.{element} is not read: the case file, E2B and the report leave it out",
                     instead.format_map(fhir_tables().extensions))

    def unnamed_assessor(self, event: Json, assessment: Json, where: str) -> None:
        """A causality's author is read by its display (G.k.9.i.2.r.1, source of assessment) only."""
        author = _dict(assessment.get("author"))
        if author and not _str(author.get("display")):
            self.add("warning", "FHIR-NOT-READ", self.path(event, f"{where}.author"),
                     "AdverseEvent.suspectEntity.causality.author is not read without a display: the source of "
                     "the assessment (G.k.9.i.2.r.1) is taken from author.display",
                     "give the source as author.display (e.g. Reporter, Sender, Investigator)")

    def refers_to_read(self, value: Any, read_anyway: set[int]) -> bool:
        """Whether `value` is references only, each to a resource the readers take anyway."""
        refs = as_list(value)
        return bool(refs) and all(isinstance(r, dict) and "reference" in r
                                  and id(self.index.resolve(r)) in read_anyway for r in refs)

    def read_anyway(self) -> set[int]:
        return {id(r) for r in self.read_resources()}

    def read_resources(self) -> list[Json]:
        """The resources the readers take: those listed in a Composition section, and the Composition's
        authors with their practitioner and organization."""
        found = [r for spec in fhir_tables().sections for r in self.index.section(spec["key"])]
        for author in as_list(_dict(self.index.composition).get("author")):
            role = self.index.resolve(author)
            if role is not None:
                found += [role, *(r for k in ("practitioner", "organization")
                                  if (r := self.index.resolve(role.get(k), role)) is not None)]
        return found

    def unread_narratives(self) -> None:
        """A narrative that says more than its resource's data (R4 text.status `additional`), as EHRs send a
        panel or a reaction told in words only: no reader takes a resource's narrative (the Composition's
        section texts are the case's narrative), so what only it says would be lost unsaid."""
        seen: set[int] = set()
        for resource in self.read_resources():
            text = _dict(resource.get("text"))
            if text.get("status") != "additional" or id(resource) in seen:
                continue
            seen.add(id(resource))
            self.add("warning", "FHIR-NOT-READ", self.path(resource, "text"),
                     f"{resource.get('resourceType')}.text is not read: its status 'additional' says the narrative "
                     "holds more than the data, and the case file, E2B and the report take the data only",
                     "give each fact in its element, or say it in the case narrative (the CaseSummaryNarrative "
                     "section's text, E2B H.1)")

    def medications(self) -> list[tuple[Json, Json, str]]:
        """The Medication of each MedicationStatement, once, with the resource to locate it in and the path
        there: an entry's Medication at its entry, a contained one inside its statement."""
        found: dict[int, tuple[Json, Json, str]] = {}
        for statement in self.index.all("MedicationStatement"):
            medication = self.index.medication_of(statement)
            if medication is None or id(medication) in found:
                continue
            inside = [n for n, c in enumerate(as_list(statement.get("contained"))) if c is medication]
            found[id(medication)] = ((medication, statement, f"contained[{inside[0]}]") if inside
                                     else (medication, medication, ""))
        return list(found.values())

    def unread_interpretation(self) -> None:
        """A test's interpretations other than the one read as its E2B result (F.r.3.1): high, low, normal
        (v3 H, L, N ...) have no E2B element; a second result is not held either. The report shows them."""
        for obs in self.index.section("tests"):
            results = interpretation_results(obs)
            read_as = next((r for r in results if r), None)
            for i, result in enumerate(results):
                if result is not None and result == read_as:
                    continue
                concept = as_list(obs.get("interpretation"))[i]
                taken = f" (here {read_as})" if read_as else ""
                self.add("warning", "FHIR-NOT-READ", self.path(obs, f"interpretation[{i}]"),
                         f"Observation.interpretation {concept_text(concept) or ''!r} is not read: the case file and "
                         f"E2B hold one result of positive, negative, borderline or inconclusive (F.r.3.1){taken}; "
                         "the report shows it",
                         "E2B carries the value with its normal range (referenceRange low/high: F.r.4, F.r.5), from "
                         "which high or low follows; say anything else in a note (F.r.6 comments)")

    def unread_gender(self) -> None:
        """A gender ISO 5218 has no code for that is no 'not known' (mappings/fhir.yaml `unread_gender`: other):
        the case file and E2B hold the sex as unknown, which is said here rather than sent unsaid."""
        for person in self.index.all("Patient"):
            gender = person.get("gender")
            if gender not in fhir_tables().unread_gender:
                continue
            element = "D.5" if person is self.index.patient else "D.10.6"
            flavor = sex_null_flavor(person)
            self.add("warning", "FHIR-NOT-READ", self.path(person, "gender"),
                     f"Patient.gender {gender!r} is not read: E2B {element} holds a sex as male or female only; "
                     f"E2B sends it as not known (nullFlavor {flavor}) and the case file holds it as unknown (the "
                     f"report shows {gender!r})",
                     "if the sex is known give gender male or female; say anything more in the narrative")

    def unread_guide_seriousness(self) -> None:
        """A criterion of the ICSR guide's extension on AdverseEvent.seriousness in a list other than ICH's
        (E.i.3.2a-f): NCI's Emergency Room, Physician Office ... (FDA's VAERS list) have no E2B element."""
        table = code_list("seriousness_criterion")
        wanted, listed = f"urn:oid:{table.oid}", ", ".join(f"{v.e2b} {k}" for k, v in table.codes.items())
        for event in self.index.all("AdverseEvent"):
            found = as_list(_dict(event.get("seriousness")).get("extension"))
            for n, extension_ in enumerate(found):
                if _dict(extension_).get("url") != ext("event_seriousness"):
                    continue
                concept = _dict(_dict(extension_).get("valueCodeableConcept"))
                if any(c.get("system") == wanted for c in codings(concept)):
                    continue
                said = ", ".join(f"{_str(c.get('system'))} {_str(c.get('code'))}" for c in codings(concept))
                self.add("warning", "FHIR-NOT-READ", self.path(event, f"seriousness.extension[{n}]"),
                         f"the seriousness criterion {said or '(no coding)'} is not read: the case file, E2B "
                         "(E.i.3.2a-f) and the report take a criterion of ICH's list only "
                         f"({wanted}: {listed})",
                         "give the criterion it amounts to in ICH's list (an emergency room visit is no criterion "
                         "of its own) and say the rest in the narrative")

    def unread_authors(self) -> None:
        """A Composition author the readers do not take as a primary source (C.2.r): HL7's ICSR guide lets a
        RelatedPerson or the Patient author the report (a consumer); the case file, E2B and the report read a
        PractitionerRole only, so its name, address and telecom would be passed by unsaid."""
        comp = self.index.composition
        consumer = code_list("qualification")
        for n, author in enumerate(as_list(comp.get("author")) if comp else ()):
            found = self.index.resolve(author)
            if found is None or found.get("resourceType") == "PractitionerRole":
                continue
            rtype = found.get("resourceType")
            self.add("warning", "FHIR-NOT-READ", self.path(comp, f"author[{n}]"),
                     f"this {rtype} author is not read as a primary source (C.2.r): the case file, E2B and the "
                     "report take a primary source as a PractitionerRole with its Practitioner",
                     f"give the reporter as a PractitionerRole whose code is {consumer.codes['consumer'].display} "
                     f"(urn:oid:{consumer.oid} {consumer.e2b('consumer')}) for a patient or relative, its "
                     "Practitioner holding the name, address and telecom")

    def unread_guide_report_type(self) -> None:
        """The ICSR guide's localCriteriaReportType (FDA.C.1.7.1) in a code this project cannot read as FDA's list:
        E2B would send the type derived from C.1.7 instead (15-Day or Non-Expedited)."""
        comp = self.index.composition
        _, stated = fda_report_type(comp)
        if stated is None or comp is None:
            return
        outer = next(n for n, e in enumerate(as_list(comp.get("extension"))) if _dict(e).get("url") ==
                     ext("expedited_report"))
        inner = as_list(comp["extension"][outer].get("extension")).index(stated)
        said = ", ".join(f"{_str(c.get('system'))} {_str(c.get('code'))}" for c in codings(stated.get(
            "valueCodeableConcept"))) or "(no coding)"
        guide = fhir_tables().guide_fda_report_types
        self.add("warning", "FHIR-NOT-READ", self.path(comp, f"extension[{outer}].extension[{inner}]"),
                 f"the local criteria report type {said} is not read: FDA.C.1.7.1 is read from FDA's list "
                 f"(urn:oid:{code_list('fda_report_type').oid}) or the ICSR guide's NCIt codes "
                 f"({guide.get('system')}: {', '.join(f'{c} {k}' for c, k in guide.get('codes', {}).items())}); "
                 "E2B sends the type C.1.7 implies",
                 "give the report type in one of those codes")

    def unread_dosage(self) -> None:
        """Dosage elements no reader takes (mappings/fhir.yaml `unread_dosage`), and a frequency over a period
        that is no interval (2 per 1 mo): each said where it is rather than dropped."""
        for statement in self.index.all("MedicationStatement"):
            for i, dosage in enumerate(as_list(statement.get("dosage"))):
                if not isinstance(dosage, dict):
                    continue
                repeat = _dict(_dict(dosage.get("timing")).get("repeat"))
                found = [p for p in fhir_tables().unread_dosage if _present(dosage, p.split("."))]
                if (repeat.get("frequency") or 1) != 1 and repeat_interval(repeat) is None:
                    found.append("timing.repeat.frequency")
                for element in found:
                    self.add("warning", "FHIR-NOT-READ", self.path(statement, f"dosage[{i}].{element}"),
                             f"Dosage.{element} is not read: the case file, E2B and the report leave it out",
                             "say it in dosage.text (E2B G.k.4.r.8, as written), or give the dose as doseQuantity "
                             "and the interval as timing.repeat period and periodUnit")
                self.unread_route_codes(statement, _dict(dosage.get("route")), f"dosage[{i}].route")

    def unread_route_codes(self, statement: Json, route: Json, where: str) -> None:
        """A route coded in a system no reader takes (SNOMED CT, as EHRs code routes): E2B G.k.4.r.10 holds a code
        of the receiver's route list (an OID) or the route in words, which its display then gives."""
        for n, found in enumerate(as_list(route.get("coding"))):
            said = _str(_dict(found).get("system"))
            if not said or said == system("route_key") or said.startswith("urn:oid:"):
                continue
            ich = f"urn:oid:{oids()['code_systems']['ich_route']}"
            self.add("warning", "FHIR-NOT-READ", self.path(statement, f"{where}.coding[{n}]"),
                     f"route code {said} {_str(_dict(found).get('code')) or ''} is not read: the case file and E2B "
                     f"take a route as a code of the E2B route list ({ich}) or in words (G.k.4.r.10.1: route.text, "
                     "else this coding's display)",
                     f"give the route as text, or as a coding of the E2B route list (system {ich}, e.g. 048 oral)")

    # -- the four minimum criteria (ICH E2D) ----------------------------------------------------------

    def minimum_criteria(self) -> None:
        index = self.index
        patient = index.patient
        # The age at onset (D.2.2) is carried on the reactions, the age group (D.2.3) as an Observation.
        aged = any(extensions(e, "age_at_onset") for e in index.all("AdverseEvent")) or any(
            c.get("code") == fhir_tables().patient_observations["age_group"]["code"]
            for o in index.all("Observation") for c in codings(_dict(o).get("code")))
        if not patient or not (self.patient_identifiable(patient) or aged):
            self.add("error", "ICSR-MIN-PATIENT", "Bundle.entry.resource.ofType(Patient)",
                     "no identifiable patient: the case gives none of initials, record number, birth date, "
                     "age, age group or sex", "add at least one of patient initials, age, sex or birth date "
                     "(a masked value counts; in a Bundle: Patient.name, identifier, gender or birthDate, or the "
                     f"AdverseEvent's age at onset extension {ext('age_at_onset')})")
        if not self.reporter_identifiable():
            self.add("error", "ICSR-MIN-REPORTER", "Bundle.entry[0].resource.author",
                     "no identifiable reporter: no primary source with a name, qualification, organisation "
                     "or country, and no literature reference",
                     "add a primary source (e.g. its qualification) or the literature reference (in a Bundle: "
                     "a PractitionerRole with a code or an organization, or whose Practitioner has a name or "
                     "address; or a DocumentReference for the article)")
        statements = index.all("MedicationStatement")
        roles = [oid_coding({"coding": [_dict(e.get("valueCoding")) for e in extensions(s, "drug_role")]},
                            code_list("drug_role").oid) for s in statements]
        suspect_codes = {code_list("drug_role").e2b("suspect"), code_list("drug_role").e2b("interacting")}
        if not any(r and _str(r.get("code")) in suspect_codes for r in roles):
            self.add("error", "ICSR-MIN-SUSPECT", "Bundle.entry.resource.ofType(MedicationStatement)",
                     "no suspect drug: an ICSR needs at least one drug whose role is suspect or interacting",
                     "add the suspect drug with role: suspect (in a Bundle: its MedicationStatement's extension "
                     f"{ext('drug_role')} with valueCoding urn:oid:{code_list('drug_role').oid} code "
                     f"{code_list('drug_role').e2b('suspect')})")
        for statement in index.section("drugs"):
            if not named(index.product_concept(statement)):
                held = "medicationCodeableConcept" if "medicationCodeableConcept" in statement else \
                    "medicationReference"
                self.add("error", "ICSR-DRUG-NAME", self.path(statement, held),
                         "the drug is not named: its product has no text and no coding with a display, so the "
                         "case file, E2B (G.k.2.2) and the report cannot say which drug it is",
                         "give the product's name as reported in the Medication's code.text (or the "
                         "medicationCodeableConcept's text)")
        events = index.all("AdverseEvent")
        if not any(self.has_term(e) for e in events):
            self.add("error", "ICSR-MIN-REACTION", "Bundle.entry.resource.ofType(AdverseEvent)",
                     "no reaction: an ICSR needs at least one adverse reaction with a reported term or MedDRA code",
                     "add the reaction as reported (verbatim) and its MedDRA LLT; a medication error, misuse, "
                     "off-label use or exposure without harm is reported with the situation as the reaction "
                     "(e.g. the LLT for the error, and No adverse event)")
        for event in events:
            if event.get("actuality") == "potential":
                self.add("error", "ICSR-POTENTIAL-EVENT", self.path(event, "actuality"),
                         "a potential adverse event (a near miss: actuality potential) did not happen, but the case "
                         "file, E2B and the report would read it as a reaction the patient had",
                         "report reactions that occurred (actuality actual); an error or exposure without harm is "
                         "reported with the situation's MedDRA term (e.g. the LLT for the error) and No adverse event")
            others = sorted({_str(c.get("system")) or "(no system)" for c in codings(event.get("event"))})
            if not self.has_term(event):
                self.add("error", "ICSR-REACTION-TERM", self.path(event, "event"),
                         "the reaction is not named: no words (event.text or a coding's display) and no MedDRA code"
                         + (f"; its code{'s are' if len(others) > 1 else ' is'} in {', '.join(others)}, not read"
                            if others else "; its narrative (text) is not read" if event.get("text") else "")
                         + ": the case file, E2B and the report cannot say which reaction it is",
                         f"give the reaction as reported in event.text and its MedDRA LLT (system {system('meddra')})")
            elif not coding(event.get("event"), "meddra"):
                said = f" (its code{'s are' if len(others) > 1 else ' is'} in {', '.join(others)}: not read)" \
                    if others else ""
                self.add("warning", "ICSR-REACTION-MEDDRA", self.path(event, "event"),
                         f"the reaction has no MedDRA code{said}; E2B(R3) requires the MedDRA LLT (E.i.2.1b)",
                         f"code the verbatim term in MedDRA: a coding with system {system('meddra')}, the LLT code "
                         "and the MedDRA version")
        linked = {id(target) for e in events for se in as_list(e.get("suspectEntity")) if isinstance(se, dict)
                  if (target := index.resolve(_dict(se.get("instance")))) is not None}
        for statement, role in zip(statements, roles, strict=True):
            if role and _str(role.get("code")) in suspect_codes and id(statement) not in linked:
                self.add("warning", "ICSR-SUSPECT-UNLINKED", self.path(statement),
                         "this suspect drug is not assessed against any reaction (G.k.9.i)",
                         "list the reactions the drug is suspected of under the drug's reactions")

    @staticmethod
    def has_term(event: Json) -> bool:
        """Whether a reader can name the reaction: the words reported (`named`) or a MedDRA code."""
        concept = _dict(event.get("event"))
        return bool(named(concept) or _str(_dict(coding(concept, "meddra")).get("code")))

    @staticmethod
    def patient_identifiable(patient: Json) -> bool:
        if any(record_source(i) for i in as_list(patient.get("identifier"))) or patient.get("birthDate") \
                or patient.get("gender"):
            return True
        for name in as_list(patient.get("name")):
            if not isinstance(name, dict):
                continue
            if name.get("text") or name.get("family") or name.get("given"):
                return True
            if absent_reason(name) == "MSK":
                return True
        return bool(primitive_absent(patient, "birthDate") == "MSK" or primitive_absent(patient, "gender") == "MSK")

    def reporter_identifiable(self) -> bool:
        index = self.index
        if index.all("DocumentReference"):
            return True
        for role in index.all("PractitionerRole"):
            if any(codings(c) for c in as_list(role.get("code"))):
                return True
            if role.get("organization"):
                return True
            practitioner = index.resolve(role.get("practitioner"), role)
            if practitioner and (practitioner.get("address") or any(
                    isinstance(n, dict) and (n.get("family") or n.get("given") or absent_reason(n) == "MSK")
                    for n in as_list(practitioner.get("name")))):
                return True
        return False

    # -- seriousness ---------------------------------------------------------------------------------

    def seriousness(self) -> None:
        death_code = code_list("seriousness_criterion").e2b("death")
        for event in self.index.all("AdverseEvent"):
            criteria = criteria_present(event)
            flag = coding(event.get("seriousness"), "ae_seriousness")
            serious = flag is not None and fhir_tables().seriousness_flags.get(_str(flag.get("code"))) is not False
            if flag and serious and not criteria:
                self.add("error", "ICSR-SERIOUS-CRITERIA", self.path(event, "seriousness"),
                         "the reaction is marked serious but no seriousness criterion is given",
                         "tick the criterion that makes it serious (death, life-threatening, ...; in a Bundle: "
                         "AdverseEvent.seriousness coded SeriousResultsInDeath, SeriousIsLifeThreatening ... or the "
                         f"extension {ext('seriousness_criterion')} with criterionPresent true)")
            if flag and not serious and criteria:
                self.add("error", "ICSR-SERIOUS-CRITERIA", self.path(event, "seriousness"),
                         "the reaction is marked non-serious but has seriousness criteria",
                         "mark the reaction serious or remove the criteria")
            outcome = coding(event.get("outcome"), "ae_outcome")
            if outcome and outcome.get("code") == "fatal" and death_code not in criteria:
                self.add("error", "ICSR-FATAL-NOT-DEATH", self.path(event, "outcome"),
                         "the outcome is fatal but 'results in death' is not a seriousness criterion",
                         "add the death criterion, or correct the outcome")
            if death_code in criteria:
                patient = self.index.patient or {}
                if not (patient.get("deceasedDateTime") or patient.get("deceasedBoolean")):
                    self.add("warning", "ICSR-DEATH-DETAILS", self.path(event, "extension"),
                             "the reaction resulted in death but the case has no death details (D.9)",
                             "add the date of death or the reported cause of death")

    # -- dates ---------------------------------------------------------------------------------------

    def dates(self) -> None:
        limit = today()
        nodes = self.walk.nodes
        for i in self.walk.holding(DATE_KEYS):
            node = nodes[i]
            for key in DATE_KEYS.intersection(node):
                value = node[key]
                if not (isinstance(value, str) and value[:4].isdigit()):
                    continue
                floor = date_floor(value)
                if floor and floor > limit:
                    self.add("error", "ICSR-FUTURE-DATE", f"{self.walk.path(i)}.{key}",
                             f"{value} is in the future (today is {limit})",
                             "correct the date; partial dates (2023, 2023-04) are allowed")
        patient = self.index.patient or {}
        birth = patient.get("birthDate")
        birth_floor = date_floor(birth) if isinstance(birth, str) else None
        comp = self.index.composition or {}
        received = _str(next((e.get("valueDateTime") for e in extensions(comp, "first_receive_date")), None))
        recent = _str(next((e.get("valueDateTime") for e in extensions(comp, "most_recent_date")), None))
        if received and recent and (a := date_floor(received)) and (b := date_ceiling(recent)) and a > b:
            self.add("error", "ICSR-CHRONOLOGY", "Bundle.entry[0].resource.extension",
                     f"first received ({received}) is after the most recent information ({recent})",
                     "C.1.4 must not be later than C.1.5")
        for event in self.index.all("AdverseEvent"):
            onset = event.get("date")
            end = _str(next((e.get("valueDateTime") for e in extensions(_dict(event.get("_date")), "event_end_date")),
                            None))
            if isinstance(onset, str) and end and (a := date_floor(onset)) and (b := date_ceiling(end)) and a > b:
                self.add("error", "ICSR-CHRONOLOGY", self.path(event, "date"),
                         f"the reaction ends ({end}) before it starts ({onset})", "check E.i.4 and E.i.5")
            if isinstance(onset, str) and birth_floor and (c := date_ceiling(onset)) and c < birth_floor:
                self.add("error", "ICSR-CHRONOLOGY", self.path(event, "date"),
                         f"the reaction starts ({onset}) before the patient's birth ({birth})",
                         "check the onset and birth dates")
        death = patient.get("deceasedDateTime")
        if isinstance(death, str) and birth_floor and (c := date_ceiling(death)) and c < birth_floor:
            self.add("error", "ICSR-CHRONOLOGY", self.path(patient, "deceasedDateTime"),
                     f"the date of death ({death}) is before the birth date ({birth})", "check D.9.1 and D.2.1")
        for statement in self.index.all("MedicationStatement"):
            for d, dosage in enumerate(as_list(statement.get("dosage"))):
                period = _dict(_dict(_dict(_dict(dosage).get("timing")).get("repeat")).get("boundsPeriod"))
                start, stop = _str(period.get("start")), _str(period.get("end"))
                if start and stop and (a := date_floor(start)) and (b := date_ceiling(stop)) and a > b:
                    self.add("error", "ICSR-CHRONOLOGY", self.path(statement, f"dosage[{d}].timing"),
                             f"the drug stops ({stop}) before it starts ({start})", "check G.k.4.r.4 and G.k.4.r.5")

    # -- absent reasons ------------------------------------------------------------------------------

    def absent_reasons(self) -> None:
        url = ext("data_absent_reason")
        nodes = self.walk.nodes
        for i in self.walk.holding(_URL):
            node = nodes[i]
            if node["url"] == url and _str(node.get("valueCode")) not in DAR_CODES:
                self.add("error", "ICSR-ABSENT-REASON", self.walk.path(i),
                         f"{node.get('valueCode')!r} is not a data-absent-reason code",
                         "use masked, asked-unknown, not-asked, unknown or not-applicable")


_URL = frozenset({"url"})
DATE_KEYS = frozenset({"date", "birthDate", "effectiveDateTime", "onsetDateTime", "abatementDateTime", "start", "end",
             "valueDateTime", "deceasedDateTime"})



def ends_before(value: str, other: str) -> bool:
    """Whether every day a partial date can mean comes before every day `other` can (2024-03 before 2024-04-02);
    False when either is not a date."""
    last, first = date_ceiling(value), date_floor(other)
    return bool(last and first and last < first)

def check_rules(bundle: Json, walk: BundleWalk | None = None) -> list[Issue]:
    return RuleChecker(bundle, walk).run()
