"""Case file -> FHIR R4 ICSR `document` Bundle (plain JSON dicts, deterministic).

Where each E2B(R3) element lives in the Bundle is decided here and in mappings/fhir.yaml; the E2B
exporter, the renderer and the API read the Bundle through reporter/fhir/read.py. Ids are uuid5 of the
case id and the entry's role, so the same case always gives the same Bundle, byte for byte.
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from typing import Any

from reporter.casefile import model as m
from reporter.fhir.narrative import narrative_div
from reporter.tables import code_list, ext, fhir_tables, oid_system, oids, routes, system

Json = dict[str, Any]

# Fixed namespace for uuid5 ids: changing it changes every id (and every golden file).
ID_NAMESPACE = uuid.UUID("6f1c3b0e-2d8a-5b7e-9c41-0a3e5d7f9b21")
_NAMESPACE_BYTES = ID_NAMESPACE.bytes

RELATIVE_TARGET_PATH = {
    "first-dose": "dosage.timing.repeat.boundsPeriod.start",
    "last-dose": "dosage.timing.repeat.boundsPeriod.end",
}
TIMING_UNITS = {"s", "min", "h", "d", "wk", "mo", "a"}
RELATIVE_RELATIONSHIP = {"first-dose": "start", "last-dose": "end"}
RELATIVE_COMPARATOR = {"within": "<=", "at-least": ">="}  # a qualifier the offset's comparator says


def resource_id(case_id: str, role: str) -> str:
    """uuid5(ID_NAMESPACE, "case_id|role") as text: RFC 4122's steps (SHA-1 of namespace and name, version 5,
    variant bits) written out, four times cheaper than building a uuid.UUID for each of a Bundle's ids."""
    digest = bytearray(hashlib.sha1(_NAMESPACE_BYTES + f"{case_id}|{role}".encode()).digest()[:16])
    digest[6] = (digest[6] & 0x0F) | 0x50
    digest[8] = (digest[8] & 0x3F) | 0x80
    h = digest.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def number(value: float) -> int | float:
    """Integral floats as ints, so 2.0 is written 2 (stable, and how people write doses)."""
    return int(value) if float(value).is_integer() else value


def quantity(q: m.Quantity, *, comparator: str | None = None) -> Json:
    return quantity_of(q.value, q.unit, comparator=comparator)


def quantity_of(value: float, unit: str, *, comparator: str | None = None) -> Json:
    """A UCUM Quantity from a case model's number and unit (already validated: no Quantity model is built)."""
    out: Json = {"value": number(value)}
    if comparator:
        out["comparator"] = comparator
    out |= {"unit": unit, "system": system("ucum"), "code": unit}
    return out


def meddra_coding(code: m.MedDRA) -> Json:
    coding: Json = {"system": system("meddra"), "version": code.version, "code": code.code}
    if code.term:
        coding["display"] = code.term
    return coding


def ich_coding(list_name: str, key: str) -> Json:
    table = code_list(list_name)
    entry = table.codes[key]
    return {"system": oid_system(table.oid), "code": entry.e2b, "display": entry.display}


def absent_extensions(absent: m.Absent) -> list[Json]:
    entry = code_list("null_flavor").codes[absent.absent]
    exts: list[Json] = [{"url": ext("data_absent_reason"), "valueCode": entry.fhir}]
    if entry.e2b == "NI":
        exts.append({"url": ext("null_flavor"), "valueCode": "NI"})
    return exts


def put(holder: Json, key: str, value: str | m.Absent | None) -> None:
    """A FHIR primitive: its value, or, for a value withheld or not known, its reason on `_key`."""
    if isinstance(value, m.Absent):
        holder[f"_{key}"] = {"extension": absent_extensions(value)}
    elif value:
        holder[key] = value


def put_list(holder: Json, key: str, values: list[str | m.Absent | None]) -> None:
    """A repeating primitive (given names, address lines): null where an item is withheld or not known, with
    its reason at the same place in `_key`; items not stated are left out."""
    items = [v for v in values if v]
    if not items:
        return
    holder[key] = [None if isinstance(v, m.Absent) else v for v in items]
    if any(isinstance(v, m.Absent) for v in items):
        holder[f"_{key}"] = [{"extension": absent_extensions(v)} if isinstance(v, m.Absent) else None for v in items]


def routing_part(field: str) -> str:
    """The `e2b_transmission` sub-extension of a Routing field (batch_receiver -> batchReceiver)."""
    first, *rest = field.split("_")
    return first + "".join(word.title() for word in rest)


def routing_extension(routing: m.Routing) -> Json | None:
    """The imported case's transmission ids as the import writes them (reporter/e2b/transmission.py), so that
    an export without --receiver goes back to the receiver they name; None when none is held."""
    parts = [{"url": routing_part(name), "valueString": value}
             for name, value in routing.model_dump(exclude_none=True).items() if value]
    return {"url": ext("e2b_transmission"), "extension": parts} if parts else None


def text_extension(url: str, value: str | m.Absent, value_key: str = "valueString") -> Json:
    """A string (or code) extension, or, for a value withheld or not known, the extension with its reason."""
    if isinstance(value, m.Absent):
        return {"url": url, "extension": absent_extensions(value)}
    return {"url": url, value_key: value}


def text_or_absent(value: str | m.Absent | None) -> tuple[str | None, list[Json]]:
    if isinstance(value, m.Absent):
        return None, absent_extensions(value)
    return value, []


class BundleBuilder:
    """Builds one Bundle. Resources are registered in document order; sections collect references."""

    def __init__(self, case: m.CaseFile) -> None:
        self.case = case
        self.entries: list[Json] = []
        self.sections: dict[str, list[Json]] = {}
        self.drug_refs: dict[str, Json] = {}
        self.reaction_refs: dict[str, Json] = {}
        self._ids: dict[str, str] = {}  # role -> id: most resources are named again by a reference

    # -- plumbing ---------------------------------------------------------------------------------

    def id_of(self, role: str) -> str:
        found = self._ids.get(role)
        if found is None:
            found = self._ids[role] = resource_id(self.case.case_id, role)
        return found

    def new(self, resource_type: str, role: str) -> Json:
        return {"resourceType": resource_type, "id": self.id_of(role)}

    def add(self, resource: Json, section: str | None = None) -> Json:
        self.entries.append({"fullUrl": f"urn:uuid:{resource['id']}", "resource": resource})
        ref = {"reference": f"urn:uuid:{resource['id']}"}
        if section:
            self.sections.setdefault(section, []).append(ref)
        return ref

    def ref_for(self, role: str) -> Json:
        return {"reference": f"urn:uuid:{self.id_of(role)}"}

    def relative_extension(self, rt: m.RelativeTime) -> Json:
        before = rt.value < 0
        relationship = RELATIVE_RELATIONSHIP[rt.anchor]
        comparator = RELATIVE_COMPARATOR.get(rt.qualifier or "")
        return {
            "url": ext("relative_time"),
            "extension": [
                {"url": "target", "valueReference": self.ref_for(f"drug/{rt.drug}")},
                {"url": "targetPath", "valueString": RELATIVE_TARGET_PATH[rt.anchor]},
                {"url": "relationship", "valueCode": f"{'before' if before else 'after'}-{relationship}"},
                {"url": "offset", "valueDuration": quantity_of(abs(rt.value), rt.unit, comparator=comparator)},
            ],
        }

    def relative_extensions(self, rt: m.RelativeTime) -> list[Json]:
        """The relative time, and beside it what its offset cannot say (approximately, a range, the words)."""
        detail = [*([{"url": "approximate", "valueBoolean": True}] if rt.qualifier == "about" else []),
                  *([{"url": "high", "valueDuration": quantity_of(abs(rt.high), rt.unit)}]
                    if rt.high is not None else []),
                  *([{"url": "asStated", "valueString": rt.as_stated}] if rt.as_stated else [])]
        return [self.relative_extension(rt), *([{"url": ext("relative_time_detail"), "extension": detail}]
                                               if detail else [])]

    def put_when(self, target: Json, field: str, when: m.When | None) -> None:
        """A date goes in the element; a relative time or an absent reason in its `_element` extension."""
        if when is None:
            return
        if isinstance(when, str):
            put_datetime(target, field, when)
        elif isinstance(when, m.RelativeTime):
            target[f"_{field}"] = {"extension": self.relative_extensions(when)}
        else:
            target[f"_{field}"] = {"extension": absent_extensions(when)}

    def when_extension(self, url: str, when: m.When) -> Json:
        """A date-valued extension; relative and absent values become sub-extensions of the same URL."""
        if isinstance(when, str):
            return dated({"url": url}, "valueDateTime", when)
        if isinstance(when, m.RelativeTime):
            return {"url": url, "extension": self.relative_extensions(when)}
        return {"url": url, "extension": absent_extensions(when)}

    # -- the case -----------------------------------------------------------------------------------

    def build(self) -> Json:
        case = self.case
        self.patient_ref = self.ref_for("patient")
        # Drugs first so that relative times and reactions can point at them; entries are re-ordered below.
        for drug in case.drugs:
            self.drug_refs[drug.id] = self.ref_for(f"drug/{drug.id}")
        for reaction in case.reactions:
            self.reaction_refs[reaction.id] = self.ref_for(f"reaction/{reaction.id}")

        self.build_patient()
        self.study_ref = self.build_study()
        for index, reaction in enumerate(case.reactions):
            self.build_reaction(index, reaction)
        for index, test in enumerate(case.tests):
            self.build_test(index, test)
        for drug in case.drugs:
            self.build_drug(drug)
        authors = self.build_primary_sources()
        custodian = self.build_sender()
        for index, item in enumerate(case.literature):
            self.build_literature(index, item)
        if case.narrative:
            for index, diagnosis in enumerate(case.narrative.sender_diagnoses):
                self.build_condition(f"diagnosis/{index}", self.patient_ref,
                                     m.HistoryItem(meddra=diagnosis), "sender_diagnosis", diagnosis=True)

        composition = self.build_composition(authors, custodian)
        bundle: Json = {
            "resourceType": "Bundle",
            "id": self.id_of("bundle"),
            "meta": {"lastUpdated": composition["date"]} if "T" in composition.get("date", "") else {},
            "identifier": {"system": "urn:ietf:rfc:3986",
                           "value": f"urn:uuid:{self.id_of('bundle')}"},
            "type": "document",
            "timestamp": composition["date"] if "T" in composition.get("date", "") else None,
            "entry": [{"fullUrl": f"urn:uuid:{composition['id']}", "resource": composition}, *self.entries],
        }
        if not bundle["meta"]:
            del bundle["meta"]
        if bundle["timestamp"] is None:
            del bundle["timestamp"]
        return bundle

    # -- C: composition, sources, sender ----------------------------------------------------------

    def build_composition(self, authors: list[Json], custodian: Json | None) -> Json:
        case, report = self.case, self.case.report
        tables = fhir_tables()
        comp = self.new("Composition", "composition")
        extensions: list[Json] = [
            self.when_extension(ext("first_receive_date"), report.first_received),
            self.when_extension(ext("most_recent_date"), report.most_recent),
            {"url": ext("case_identifier"), "valueIdentifier": {
                "system": oid_system(oids()["identifiers"]["worldwide_case_id"]),
                "value": report.worldwide_id or case.case_id}},
            {"url": ext("first_sender_type"), "extension": absent_extensions(report.first_sender)}
            if isinstance(report.first_sender, m.Absent) else
            {"url": ext("first_sender_type"),
             "valueCodeableConcept": {"coding": [ich_coding("first_sender", report.first_sender)]}},
        ]
        for other in report.other_case_ids:
            extensions.append({"url": ext("previous_case_identifier"), "valueIdentifier": {
                "system": oid_system(oids()["identifiers"]["other_case_id"]),
                "value": other.id, "assigner": {"display": other.source}}})
        for linked in report.linked_reports:
            extensions.append({"url": ext("linked_report"), "valueIdentifier": {
                "system": oid_system(oids()["identifiers"]["worldwide_case_id"]), "value": linked}})
        if report.nullification:
            extensions.append({"url": ext("report_amendment"), "extension": [
                {"url": "amendmentType", "valueCodeableConcept": {
                    "coding": [ich_coding("nullification", report.nullification.kind)]}},
                {"url": "amendmentReason", "extension": absent_extensions(report.nullification.reason)}
                if isinstance(report.nullification.reason, m.Absent) else
                {"url": "amendmentReason", "valueString": report.nullification.reason},
            ]})
        available = report.additional_documents_available
        if report.additional_documents or available is not None:
            extensions.append({"url": ext("additional_documents"), "extension": [
                {"url": "availableFlag",
                 "valueBoolean": bool(report.additional_documents) if available is None else available},
                *({"url": "document", "valueAttachment": file_attachment(doc.file, doc.description) if doc.file
                   else {"title": doc.description}} for doc in report.additional_documents),
            ]})
        if report.previous_case_ids is not None:
            extensions.append(flag_extension(ext("previous_case_ids"), report.previous_case_ids))
        if report.fda_report_type:
            entry = code_list("fda_report_type").codes[report.fda_report_type]
            extensions.append({"url": ext("fda_report_type"), "valueCoding": {
                "system": oid_system(code_list("fda_report_type").oid), "code": entry.e2b,
                "display": entry.display}})
        if isinstance(report.expedited, m.Absent):
            extensions.append({"url": ext("expedited_report"), "extension": [
                {"url": "localCriteriaFlag", "extension": absent_extensions(report.expedited)}]})
        elif report.expedited is not None:
            extensions.append({"url": ext("expedited_report"), "extension": [
                {"url": "localCriteriaFlag", "valueBoolean": report.expedited}]})
        if report.combination_product is not None:
            extensions.append({"url": ext("combination_product"), "valueBoolean": report.combination_product})
        if self.case.patient and self.case.patient.concomitant_therapies is not None:
            extensions.append({"url": ext("concomitant_therapies"),
                               "valueBoolean": self.case.patient.concomitant_therapies})
        if self.case.patient and self.case.patient.history_text:
            extensions.append(text_extension(ext("history_text"), self.case.patient.history_text))
        if report.routing and (routing := routing_extension(report.routing)):
            extensions.append(routing)  # last, where the import puts it

        comp["extension"] = extensions
        comp["identifier"] = {"system": oid_system(oids()["identifiers"]["safety_report_id"]),
                              "value": case.case_id}
        comp["status"] = "final"
        comp["type"] = {"coding": [dict(tables.composition["type"])]}
        comp["category"] = [{"coding": [ich_coding("report_type", report.type)]}]
        if self.case.patient:
            comp["subject"] = self.patient_ref
        created = creation_date(report)
        if created:
            put_datetime(comp, "date", created)
        else:
            comp["_date"] = {"extension": absent_extensions(m.Absent(absent="unknown"))}
        comp["author"] = authors or [custodian or {
            "display": "unknown author", "extension": absent_extensions(m.Absent(absent="unknown"))}]
        comp["title"] = tables.composition["title"]
        if custodian:
            comp["custodian"] = custodian
        comp["section"] = self.build_sections()
        return comp

    def build_sections(self) -> list[Json]:
        narrative = self.case.narrative
        texts: dict[str, str] = {}
        if narrative:
            texts["narrative"] = narrative_div(narrative.text, [(s.language, s.text) for s in narrative.summaries])
            if narrative.reporter_comments:
                texts["reporter_comments"] = narrative_div(narrative.reporter_comments)
            if narrative.sender_comments:
                texts["sender_comments"] = narrative_div(narrative.sender_comments)
        sections = []
        for spec in fhir_tables().sections:
            key = spec["key"]
            entries = self.sections.get(key)
            if not entries and key not in texts:
                continue
            section: Json = {
                "title": spec["title"],
                "code": {"coding": [{"system": system("section"), "code": spec["code"]}]},
            }
            if key in texts:
                section["text"] = {"status": "additional", "div": texts[key]}
            if entries:
                section["entry"] = entries
            sections.append(section)
        return sections

    def build_primary_sources(self) -> list[Json]:
        authors = []
        for index, source in enumerate(self.case.primary_sources):
            practitioner = self.new("Practitioner", f"source/{index}/practitioner")
            if isinstance(source.name, m.Absent):
                practitioner["name"] = [{"extension": absent_extensions(source.name)}]
            elif name := human_name(source.name):
                practitioner["name"] = [name]
            telecom = contact_points(phone=source.phone, email=source.email)
            if telecom:
                practitioner["telecom"] = telecom
            if address := fhir_address(source.address):
                practitioner["address"] = [address]
            self.add(practitioner)

            role = self.new("PractitionerRole", f"source/{index}/role")
            role["practitioner"] = {"reference": f"urn:uuid:{practitioner['id']}"}
            if source.organization:
                role["organization"] = {}
                put(role["organization"], "display", source.organization)
            if source.department:
                role["extension"] = [text_extension(ext("department"), source.department)]
            if isinstance(source.qualification, m.Absent):
                role["code"] = [{"extension": absent_extensions(source.qualification)}]
            elif source.qualification:
                role["code"] = [{"coding": [ich_coding("qualification", source.qualification)]}]
            ref = self.add(role)
            authors.append({
                "extension": [{"url": ext("author_primary_source"), "valueBoolean": source.primary}],
                **ref,
            })
        return authors

    def build_sender(self) -> Json | None:
        sender = self.case.sender
        if sender is None:
            return None
        org = self.new("Organization", "sender")
        if sender.department:
            org["extension"] = [{"url": ext("department"), "valueString": sender.department}]
        if sender.id:
            org["identifier"] = [{"system": oid_system(oids()["identifiers"]["message_sender"]),
                                  "value": sender.id}]
        org["type"] = [{"coding": [ich_coding("sender_type", sender.type)]}]
        org["name"] = sender.organization
        telecom = contact_points(phone=sender.phone, fax=sender.fax, email=sender.email)
        if telecom:
            org["telecom"] = telecom
        if address := fhir_address(sender.address):
            org["address"] = [address]
        if name := human_name(sender.person):
            org["contact"] = [{"name": name}]
        return self.add(org)

    def build_literature(self, index: int, item: m.Literature) -> None:
        doc = self.new("DocumentReference", f"literature/{index}")
        if item.doi:
            doc["extension"] = [{"url": ext("literature_doi"), "valueString": item.doi}]
        doc["status"] = "current"
        doc["type"] = {"coding": [{"system": oid_system(oids()["code_systems"]["ich_document_code"]),
                                   "code": "2", "display": "literature reference"}]}
        attachment: Json = {}
        if item.citation is not None:
            doc["description"] = item.citation
            attachment["title"] = item.citation
        if item.doi:
            attachment["url"] = f"https://doi.org/{item.doi}"
        if not attachment:  # the article sent without its citation (C.4.r.1): the first content says so
            attachment = {"extension": absent_extensions(m.Absent(absent="unknown"))}
        doc["content"] = [{"attachment": attachment}]
        if item.file:  # C.4.r.2: the article itself
            doc["content"].append({"attachment": file_attachment(item.file)})
        self.add(doc, "literature")

    def build_study(self) -> Json | None:
        study = self.case.study
        if study is None:
            return None
        res = self.new("ResearchStudy", "study")
        identifiers = []
        if study.sponsor_number:
            sponsor: Json = {"system": oid_system(oids()["identifiers"]["sponsor_study_number"])}
            put(sponsor, "value", study.sponsor_number)
            identifiers.append(sponsor)
        for reg in study.registrations:
            ident: Json = {"system": oid_system(oids()["identifiers"]["study_registration"])}
            put(ident, "value", reg.number)
            if reg.country:
                ident["extension"] = [text_extension(ext("registration_country"), reg.country, "valueCode")]
            identifiers.append(ident)
        for key, values in (("fda_ind", [study.fda_ind] if study.fda_ind else []),
                            ("fda_pre_anda", [study.fda_pre_anda] if study.fda_pre_anda else []),
                            ("fda_cross_reported_ind", study.fda_cross_reported_inds)):
            identifiers += [{"system": system(key), "value": value} for value in values]
        if identifiers:
            res["identifier"] = identifiers
        put(res, "title", study.name)
        # E2B does not say whether the study is ongoing: the status is carried as absent.
        res["_status"] = {"extension": absent_extensions(m.Absent(absent="unknown"))}
        if study.type:
            res["category"] = [{"coding": [ich_coding("study_type", study.type)]}]
        return self.add(res)

    # -- D: patient -------------------------------------------------------------------------------

    def build_patient(self) -> None:
        patient_data = self.case.patient
        if patient_data is None:
            return
        patient = self.new("Patient", "patient")
        identifiers = []
        for record in patient_data.record_numbers:
            entry = code_list("record_source").codes[record.source]
            identifier: Json = {"type": {"text": entry.display}, "system": oid_system(entry.model_extra["id_root"])}
            put(identifier, "value", record.value)
            identifiers.append(identifier)
        if identifiers:
            patient["identifier"] = identifiers
        self.person(patient, patient_data.initials, patient_data.sex, patient_data.birth_date)
        regional = [coded_extension(ext("race"), race, "ncit") for race in patient_data.race]
        if patient_data.ethnicity is not None:
            regional.append(coded_extension(ext("ethnicity"), patient_data.ethnicity, "ncit"))
        if regional:
            patient["extension"] = regional
        death = patient_data.death
        if death:
            if isinstance(death.date, str):
                put_datetime(patient, "deceasedDateTime", death.date)
            else:
                patient["deceasedBoolean"] = True
        self.add(patient, "patient")

        obs = fhir_tables().patient_observations
        if patient_data.age_group:
            self.patient_observation("age_group", obs["age_group"], {
                "valueCodeableConcept": {"coding": [ich_coding("age_group", patient_data.age_group)]}})
        if patient_data.weight_kg is not None:
            self.patient_observation("weight", obs["weight"], {
                "valueQuantity": quantity_of(patient_data.weight_kg, "kg")})
        if patient_data.height_cm is not None:
            self.patient_observation("height", obs["height"], {
                "valueQuantity": quantity_of(patient_data.height_cm, "cm")})
        if patient_data.last_menstrual_period:
            self.patient_observation("lmp", obs["last_menstrual_period"],
                                     date_or_reason(patient_data.last_menstrual_period))
        if patient_data.gestation_at_onset:
            self.patient_observation("gestation", obs["gestation_at_onset"],
                                     {"valueQuantity": quantity(patient_data.gestation_at_onset)})

        for index, item in enumerate(patient_data.medical_history):
            self.build_condition(f"history/{index}", self.patient_ref, item, "history")
        for index, past in enumerate(patient_data.past_drugs):
            self.build_past_drug(f"past-drug/{index}", self.patient_ref, past, "past_drugs")
        if death:
            self.build_death(death)
        if patient_data.parent:
            self.build_parent(patient_data.parent)

    def person(self, resource: Json, name: str | m.Person | m.Absent | None, sex: str | m.Absent | None,
               birth_date: m.DateOrAbsent | None) -> None:
        """D.1/D.10.1 name or initials (text, or a name in parts), D.5/D.10.6 sex, D.2.1/D.10.2.1 birth date."""
        if isinstance(name, m.Person):
            if parts := human_name(name):
                resource["name"] = [parts]
        else:
            text, absent = text_or_absent(name)
            if text or absent:
                resource["name"] = [{"text": text} if text else {"extension": absent}]
        if isinstance(sex, m.Absent):
            resource["_gender"] = {"extension": absent_extensions(sex)}
        elif sex:
            resource["gender"] = code_list("sex").codes[sex].fhir
        self.put_when(resource, "birthDate", birth_date)

    def patient_observation(self, role: str, spec: dict[str, str], value: Json,
                            subject: Json | None = None, section: str = "patient") -> None:
        observation = self.new("Observation", f"{'parent/' if subject else ''}observation/{role}")
        observation["status"] = "final"
        observation["code"] = {"coding": [{"system": system("loinc"), "code": spec["code"],
                                           "display": spec["display"]}]}
        observation["subject"] = subject or self.patient_ref
        observation |= value
        self.add(observation, section)

    def build_condition(self, role: str, subject: Json, item: m.HistoryItem, section: str,
                        *, diagnosis: bool = False) -> None:
        cond = self.new("Condition", role)
        exts = []
        if item.family_history is not None:
            exts.append({"url": ext("family_history"), "valueBoolean": item.family_history})
        if exts:
            cond["extension"] = exts
        if isinstance(item.continuing, m.Absent):
            cond["clinicalStatus"] = {"extension": absent_extensions(item.continuing)}
        elif item.continuing is not None:
            cond["clinicalStatus"] = {"coding": [{"system": system("condition_clinical"),
                                                  "code": "active" if item.continuing else "resolved"}]}
        if diagnosis:
            cond["verificationStatus"] = {"coding": [{"system": system("condition_verification"),
                                                      "code": "confirmed"}]}
        cond["category"] = [{"coding": [{"system": system("condition_category"),
                                         "code": "encounter-diagnosis" if diagnosis else "problem-list-item"}]}]
        code: Json = {}
        if item.meddra:
            code["coding"] = [meddra_coding(item.meddra)]
        if item.term:
            code["text"] = item.term
        if code:
            cond["code"] = code
        cond["subject"] = subject
        self.put_when(cond, "onsetDateTime", item.start)
        self.put_when(cond, "abatementDateTime", item.end)
        if item.comments:
            cond["note"] = [{"text": item.comments}]
        self.add(cond, section)

    def build_past_drug(self, role: str, subject: Json, past: m.PastDrug, section: str) -> None:
        statement = self.new("MedicationStatement", role)
        if past.reaction:
            statement["extension"] = [{"url": ext("past_drug_reaction"),
                                       "valueCodeableConcept": {"coding": [meddra_coding(past.reaction)]}}]
        statement["status"] = "completed"
        concept: Json = {"coding": [product_coding(i) for i in past.identifiers]} if past.identifiers else {}
        put(concept, "text", past.name)
        statement["medicationCodeableConcept"] = concept
        statement["subject"] = subject
        if past.start is not None or past.end is not None:
            period: Json = {}
            self.put_when(period, "start", past.start)
            self.put_when(period, "end", past.end)
            statement["effectivePeriod"] = period
        if past.indication:
            statement["reasonCode"] = [{"coding": [meddra_coding(past.indication)]}]
        self.add(statement, section)

    def build_death(self, death: m.Death) -> None:
        obs = fhir_tables().patient_observations
        if death.date is not None:
            value: Json = {}
            self.put_when(value, "valueDateTime", death.date)
            self.patient_observation("death-date", obs["death_date"], value, section="death")
        for kind, causes in (("reported", death.reported_causes), ("autopsy", death.autopsy_causes)):
            for index, cause in enumerate(causes):
                concept: Json = {}
                if cause.meddra:
                    concept["coding"] = [meddra_coding(cause.meddra)]
                if cause.text:
                    concept["text"] = cause.text
                self.patient_observation(f"death-cause/{kind}/{index}", obs["death_cause"],
                                         {"valueCodeableConcept": concept}, section="death")
                # Reported causes are preliminary, autopsy-determined ones final (ICSR guide).
                self.entries[-1]["resource"]["status"] = "preliminary" if kind == "reported" else "final"
        if isinstance(death.autopsy, m.Absent):
            self.patient_observation("autopsy", obs["autopsy"],
                                     {"dataAbsentReason": dar_concept(death.autopsy)}, section="death")
        elif death.autopsy is not None:
            self.patient_observation("autopsy", obs["autopsy"], {"valueBoolean": death.autopsy}, section="death")

    def build_parent(self, parent: m.Parent) -> None:
        res = self.new("Patient", "parent")
        self.person(res, parent.identification, parent.sex, parent.birth_date)
        res["link"] = [{"other": self.patient_ref, "type": "seealso"}]
        parent_ref = self.add(res, "parent")
        obs = fhir_tables().patient_observations
        if parent.age:
            self.patient_observation("age", {"code": "30525-0", "display": "Age"},
                                     {"valueQuantity": quantity(parent.age)}, parent_ref, "parent")
        if parent.weight_kg is not None:
            self.patient_observation("weight", obs["weight"], {
                "valueQuantity": quantity_of(parent.weight_kg, "kg")}, parent_ref, "parent")
        if parent.height_cm is not None:
            self.patient_observation("height", obs["height"], {
                "valueQuantity": quantity_of(parent.height_cm, "cm")}, parent_ref, "parent")
        if parent.last_menstrual_period:
            self.patient_observation("lmp", obs["last_menstrual_period"],
                                     date_or_reason(parent.last_menstrual_period), parent_ref, "parent")
        for index, item in enumerate(parent.medical_history):
            self.build_condition(f"parent/history/{index}", parent_ref, item, "parent")
        if parent.history_text:
            res["extension"] = [{"url": ext("history_text"), "valueString": parent.history_text}]
        for index, past in enumerate(parent.past_drugs):
            self.build_past_drug(f"parent/past-drug/{index}", parent_ref, past, "parent")

    # -- E: reactions -------------------------------------------------------------------------------

    def build_reaction(self, index: int, reaction: m.Reaction) -> None:
        event = self.new("AdverseEvent", f"reaction/{reaction.id}")
        exts: list[Json] = [{"url": ext("case_key"), "valueString": reaction.id}]
        patient = self.case.patient
        if patient and patient.age_at_onset:
            exts.append({"url": ext("age_at_onset"), "valueAge": quantity(patient.age_at_onset)})
        for key, present in reaction.seriousness.criteria().items():
            exts.append(criterion_extension(ich_coding("seriousness_criterion", key), present))
        if reaction.seriousness.required_intervention is not None:
            exts.append(criterion_extension(dict(fhir_tables().fda["required_intervention"]),
                                            reaction.seriousness.required_intervention))
        if reaction.highlighted:
            exts.append({"url": ext("highlighted_by_reporter"),
                         "valueCoding": ich_coding("highlighted", reaction.highlighted)})
        if reaction.medically_confirmed is not None:
            exts.append({"url": ext("medically_confirmed"), "valueBoolean": reaction.medically_confirmed})
        if reaction.country:
            exts.append({"url": ext("reaction_country"), "valueCode": reaction.country})
        if exts:
            event["extension"] = exts
        event["identifier"] = {"system": "urn:ietf:rfc:3986", "value": f"urn:uuid:{event['id']}"}
        event["actuality"] = "actual"
        concept: Json = {}
        if reaction.meddra:
            concept["coding"] = [meddra_coding(reaction.meddra)]
        if reaction.verbatim:
            concept["text"] = reaction.verbatim
        if reaction.language or reaction.translation:
            translation = [{"url": "lang", "valueCode": reaction.language or "und"}]
            if reaction.translation:
                translation.append({"url": "content", "valueString": reaction.translation})
            concept["_text"] = {"extension": [{"url": ext("translation"), "extension": translation}]}
        event["event"] = concept
        event["subject"] = self.patient_ref
        self.put_when(event, "date", reaction.onset)
        date_exts = []
        if reaction.end is not None:
            if isinstance(reaction.end, str):
                date_exts.append(dated({"url": ext("event_end_date")}, "valueDateTime", reaction.end))
            else:
                date_exts.append(self.when_extension(ext("reaction_end"), reaction.end))
        if reaction.duration:
            date_exts.append({"url": ext("event_duration"), "valueDuration": quantity(reaction.duration)})
        if date_exts:
            event.setdefault("_date", {}).setdefault("extension", []).extend(date_exts)
        serious = reaction.seriousness.serious
        if serious is None:  # no criterion holds and at least one is not known: so is the seriousness
            event["seriousness"] = {"extension": absent_extensions(m.Absent(absent="unknown"))}
        else:
            event["seriousness"] = {"coding": [{"system": system("ae_seriousness"),
                                                "code": "Serious" if serious else "Non-serious",
                                                "display": "Serious" if serious else "Non-serious"}]}
        if reaction.outcome:
            entry = code_list("outcome").codes[reaction.outcome]
            event["outcome"] = {"coding": [{"system": system("ae_outcome"), "code": entry.fhir,
                                            "display": entry.display}]}
        if self.study_ref:
            event["study"] = [self.study_ref]
        suspects = self.suspect_entities(reaction.id)
        if suspects:
            event["suspectEntity"] = suspects
        self.add(event, "reactions")

    def suspect_entities(self, reaction_id: str) -> list[Json]:
        entities = []
        for drug in self.case.drugs:
            for link in drug.reactions:
                if link.reaction != reaction_id:
                    continue
                entity: Json = {}
                exts = []
                interval = []
                if link.onset_after_first_dose:
                    interval.append({"url": "afterFirstDose",
                                     "valueDuration": quantity(link.onset_after_first_dose)})
                if link.onset_after_last_dose:
                    interval.append({"url": "afterLastDose",
                                     "valueDuration": quantity(link.onset_after_last_dose)})
                if interval:
                    exts.append({"url": ext("onset_interval"), "extension": interval})
                if link.dechallenge:
                    exts.append({"url": ext("dechallenge"), "valueCoding": {
                        "system": system("dechallenge"), "code": link.dechallenge,
                        "display": code_list("dechallenge").codes[link.dechallenge].display}})
                if link.rechallenge:
                    exts.append({"url": ext("rechallenge"),
                                 "valueCoding": ich_coding("rechallenge", link.rechallenge)})
                if exts:
                    entity["extension"] = exts
                entity["instance"] = self.drug_refs[drug.id]
                if link.causality:
                    entity["causality"] = [causality(c) for c in link.causality]
                entities.append(entity)
        return entities

    # -- F: tests ---------------------------------------------------------------------------------

    def build_test(self, index: int, test: m.Test) -> None:
        obs = self.new("Observation", f"test/{index}")
        exts = []
        if test.more_info is not None:
            exts.append({"url": ext("more_info"), "valueBoolean": test.more_info})
        if test.result_text and test.value is not None:
            exts.append({"url": ext("result_text"), "valueString": test.result_text})
        if exts:
            obs["extension"] = exts
        obs["status"] = "final"
        obs["category"] = [{"coding": [{"system": system("observation_category"), "code": "laboratory"}]}]
        codings = []
        if test.loinc:
            codings.append({"system": system("loinc"), "code": test.loinc})
        if test.meddra:
            codings.append(meddra_coding(test.meddra))
        obs["code"] = {"coding": codings} if codings else {}
        if test.name:
            obs["code"]["text"] = test.name
        obs["subject"] = self.patient_ref
        self.put_when(obs, "effectiveDateTime", test.date)
        if test.value is not None:
            obs["valueQuantity"] = quantity_of(test.value, test.unit or "1", comparator=test.comparator)
        elif test.result_text:
            obs["valueString"] = test.result_text
        if test.result:
            entry = code_list("test_result").codes[test.result]
            obs["interpretation"] = [{"coding": [
                {"system": oid_system(code_list("test_result").oid), "code": entry.e2b, "display": entry.display},
                {"system": system("observation_interpretation"), "code": entry.fhir},
            ]}]
        if test.comments:
            obs["note"] = [{"text": test.comments}]
        if test.low is not None or test.high is not None:
            reference: Json = {}
            unit = test.unit or "1"
            if test.low is not None:
                reference["low"] = quantity_of(test.low, unit)
            if test.high is not None:
                reference["high"] = quantity_of(test.high, unit)
            obs["referenceRange"] = [reference]
        self.add(obs, "tests")

    # -- G: drugs ---------------------------------------------------------------------------------

    def build_drug(self, drug: m.Drug) -> None:
        medication = self.new("Medication", f"drug/{drug.id}/medication")
        med_exts = []
        if drug.country_obtained:
            med_exts.append({"url": ext("country_obtained"), "valueCode": drug.country_obtained})
        if drug.blinded is not None:
            med_exts.append({"url": ext("blinded"), "valueBoolean": drug.blinded})
        if drug.authorisation:
            auth = drug.authorisation
            parts = []
            if auth.number:
                parts.append({"url": "number", "valueIdentifier": {
                    "system": oid_system(oids()["identifiers"]["authorisation_number"]), "value": auth.number}})
            if auth.country:
                parts.append({"url": "country", "valueCode": auth.country})
            if auth.holder:
                parts.append({"url": "holder", "valueString": auth.holder})
            med_exts.append({"url": ext("authorisation"), "extension": parts})
        if med_exts:
            medication["extension"] = med_exts
        codings = [product_coding(i) for i in drug.identifiers]
        if drug.atc:
            codings.append({"system": system("atc"), "code": drug.atc})
        if drug.rxnorm:
            codings.append({"system": system("rxnorm"), "code": drug.rxnorm})
        medication["code"] = {"coding": codings, "text": drug.product} if codings else {"text": drug.product}
        if drug.substances:
            ingredients = []
            for substance in drug.substances:
                ingredient: Json = {}
                if substance.strength:
                    ingredient["extension"] = [{"url": ext("strength"),
                                                "valueQuantity": quantity(substance.strength)}]
                ingredient["itemCodeableConcept"] = {"text": substance.name}
                if substance.termid and substance.termid.code:
                    ingredient["itemCodeableConcept"] = {"coding": [original_coding(substance.termid)],
                                                         "text": substance.name}
                ingredients.append(ingredient)
            medication["ingredient"] = ingredients
        medication_ref = self.add(medication)

        statement = self.new("MedicationStatement", f"drug/{drug.id}")
        exts: list[Json] = [{"url": ext("case_key"), "valueString": drug.id},
                            {"url": ext("drug_role"), "extension": absent_extensions(drug.role)}
                            if isinstance(drug.role, m.Absent) else
                            {"url": ext("drug_role"), "valueCoding": ich_coding("drug_role", drug.role)}]
        if drug.action_taken:
            exts.append({"url": ext("action_taken"), "valueCoding": ich_coding("action_taken", drug.action_taken)})
        if drug.cumulative_dose:
            exts.append({"url": ext("cumulative_dose"), "valueQuantity": quantity(drug.cumulative_dose)})
        if drug.gestation_at_exposure:
            exts.append({"url": ext("gestation_at_exposure"),
                         "valueQuantity": quantity(drug.gestation_at_exposure)})
        for info in drug.additional_info:
            exts.append({"url": ext("additional_info"), "valueCoding": ich_coding("additional_info", info)})
        for info in drug.fda_additional_info:
            exts.append({"url": ext("additional_info"), "valueCoding": ich_coding("fda_additional_info", info)})
        if drug.additional_info_absent:
            exts.append({"url": ext("additional_info"), "extension": absent_extensions(drug.additional_info_absent)})
        for index, device in enumerate(drug.devices):
            exts.append({"url": ext("device"), "valueReference": self.build_device(drug, index, device)})
        statement["extension"] = exts
        if drug.additional_text:
            statement["note"] = [{"text": drug.additional_text}]
        statement["status"] = medication_status(drug)
        statement["medicationReference"] = medication_ref
        statement["subject"] = self.patient_ref
        if drug.indications:
            reasons = []
            for indication in drug.indications:
                concept: Json = {}
                if indication.meddra:
                    concept["coding"] = [meddra_coding(indication.meddra)]
                if indication.text:
                    concept["text"] = indication.text
                reasons.append(concept)
            statement["reasonCode"] = reasons
        if drug.dosages:
            statement["dosage"] = [self.dosage(d) for d in drug.dosages]
        # Keep the statement's id stable: it is what relative times and suspectEntity point at.
        self.add(statement, "drugs")

    def build_device(self, drug: m.Drug, index: int, device: m.Device) -> Json:
        """FDA.G.k.12.r: a Device (names, product code, manufacturer, lot) with extensions for what R4's Device
        has no element for (malfunction, problem codes, usage, operator, remedial actions, follow-up types)."""
        res = self.new("Device", f"drug/{drug.id}/device/{index}")
        exts: list[Json] = []
        if device.malfunction is not None:
            exts.append({"url": ext("device_malfunction"), "valueBoolean": device.malfunction})
        for code in device.problem_codes:
            exts.append({"url": ext("device_problem"), "valueCoding": {"system": system("ncit"), "code": code}})
        for key, codes in (("device_follow_up", device.follow_up_types),
                           ("device_remedial_action", device.remedial_actions),
                           ("device_usage", [device.usage] if device.usage else []),
                           ("device_operator", [device.operator] if device.operator else [])):
            exts += [{"url": ext(key), "valueCoding": {"system": system(f"fda_{key}"), "code": code}} for code in codes]
        manufacturer = device.manufacturer
        if manufacturer and manufacturer.address and (address := fhir_address(manufacturer.address)):
            exts.append({"url": ext("device_manufacturer_address"), "valueAddress": address})
        if exts:
            res["extension"] = exts
        if device.lot:
            res["lotNumber"] = device.lot
        if manufacturer and manufacturer.name:
            res["manufacturer"] = manufacturer.name
        names = [{"name": name, "type": kind} for name, kind in ((device.brand_name, "manufacturer-name"),
                                                                 (device.common_name, "user-friendly-name")) if name]
        if names:
            res["deviceName"] = names
        if device.product_code:
            res["type"] = {"coding": [{"system": system("ncit"), "code": device.product_code}]}
        res["patient"] = self.patient_ref
        return self.add(res)

    def dosage(self, dose: m.Dosage) -> Json:
        out: Json = {}
        exts = []
        if dose.duration:
            exts.append({"url": ext("dosage_duration"), "valueDuration": quantity(dose.duration)})
        if dose.batch:
            exts.append({"url": ext("dosage_batch"), "valueString": dose.batch})
        if dose.form:
            exts.append({"url": ext("dose_form"), "valueCodeableConcept": coded_concept(dose.form, "edqm")})
        if dose.parent_route:
            exts.append({"url": ext("parent_route"), "valueCodeableConcept": route_concept(dose.parent_route)})
        if dose.every and dose.every.unit not in TIMING_UNITS:
            exts.append({"url": ext("dosing_interval"), "valueQuantity": quantity(dose.every)})
        if exts:
            out["extension"] = exts
        if dose.text:
            out["text"] = dose.text
        repeat: Json = {}
        if dose.start is not None or dose.stop is not None:
            period: Json = {}
            self.put_when(period, "start", dose.start)
            self.put_when(period, "end", dose.stop)
            repeat["boundsPeriod"] = period
        if dose.every and dose.every.unit in TIMING_UNITS:
            repeat |= {"frequency": 1, "period": number(dose.every.value), "periodUnit": dose.every.unit}
        if dose.period_absent and not repeat:  # the dosage time as a whole not known
            out["timing"] = {"extension": absent_extensions(dose.period_absent)}
        if repeat:
            out["timing"] = {"repeat": repeat}
        if dose.route:
            out["route"] = route_concept(dose.route)
        if dose.dose:
            out["doseAndRate"] = [{"doseQuantity": quantity(dose.dose)}]
        return out


# -- small shapes ---------------------------------------------------------------------------------


def creation_date(report: m.Report) -> str | None:
    """C.1.2 date of creation. Without one, the most recent information's day at 00:00 UTC (deterministic,
    and to the second as E2B requires); a partial most-recent date stays partial and E2B says so."""
    if report.created:
        return report.created
    if not isinstance(report.most_recent, str):  # not known, and not made up: the Composition says so
        return None
    if len(report.most_recent) == 10:
        return f"{report.most_recent}T00:00:00Z"
    return report.most_recent


def medication_status(drug: m.Drug) -> str:
    if drug.role == "not-administered":
        return "not-taken"
    if drug.action_taken == "withdrawn":
        return "stopped"
    if drug.dosages and all(d.stop is not None for d in drug.dosages):
        return "completed"
    return "unknown"


def route_concept(route: m.Coded) -> Json:
    concept: Json = {}
    if route.code and not route.system:
        entry = routes().get(route.code)
        codings = [{"system": system("route_key"), "code": route.code}]
        if entry:
            codings[0]["display"] = entry["display"]
            codings.append({"system": oid_system(oids()["code_systems"]["ich_route"]), "code": entry["ich"],
                            "display": entry["display"]})
        concept["coding"] = codings
    elif route.code:
        concept["coding"] = [original_coding(route)]
    if route.text:
        concept["text"] = route.text
    return concept


def coded_concept(value: m.Coded, default_system: str) -> Json:
    concept: Json = {}
    if value.code:
        concept["coding"] = [original_coding(value) if value.system
                             else {"system": system(default_system), "code": value.code}]
    if value.text:
        concept["text"] = value.text
    return concept


def original_coding(value: m.Coded) -> Json:
    coding: Json = {"system": oid_system(value.system), "code": value.code}
    if value.version:
        coding["version"] = value.version
    return coding


def causality(item: m.Causality) -> Json:
    """G.k.9.i.2.r: source, method and result (coded where FHIR has codes for the method: WHO-UMC, Naranjo,
    RUCAM), with the assessor's answers to the method's items."""
    from reporter.assess.result import fhir_causality

    coded = fhir_causality(item.method, item.result) or {}
    out: Json = {}
    if item.answers:
        out["extension"] = [{"url": ext("causality_answer"), "extension": [
            {"url": "item", "valueString": a.item}, {"url": "answer", "valueString": a.answer},
            *([{"url": "note", "valueString": a.note}] if a.note else [])]} for a in item.answers]
    # each part only when stated: E2B has each of G.k.9.i.2.r.1-3 optional
    for key, value, text in (("assessment", coded.get("assessment"), item.result),
                             ("method", coded.get("method"), item.method)):
        if value or text is not None:
            out[key] = value or {"text": text}
    if item.source is not None:
        out["author"] = {"display": item.source}
    return out


def criterion_extension(code: Json, present: m.TriState) -> Json:
    """One seriousness criterion with its yes / no / not-known value (E.i.3.2a-f, FDA.E.i.3.2h)."""
    value = ([{"url": "criterionPresent", "valueBoolean": present}] if isinstance(present, bool)
             else absent_extensions(present))
    return {"url": ext("seriousness_criterion"), "extension": [{"url": "criterionCode", "valueCoding": code}, *value]}


def flag_extension(url: str, value: m.TriState) -> Json:
    if isinstance(value, bool):
        return {"url": url, "valueBoolean": value}
    return {"url": url, "extension": absent_extensions(value)}


def coded_extension(url: str, value: m.Coded | m.Absent, default_system: str) -> Json:
    if isinstance(value, m.Absent):
        return {"url": url, "extension": absent_extensions(value)}
    return {"url": url, "valueCodeableConcept": coded_concept(value, default_system)}


def product_coding(identifier: m.ProductId) -> Json:
    """A product identifier as a Medication coding; its kind (MPID, PhPID, product code) rides along."""
    coding: Json = {
        "extension": [{"url": ext("product_id_kind"), "valueCode": identifier.kind}],
        "system": oid_system(identifier.system) if identifier.system else system(identifier.kind),
        "code": identifier.code,
    }
    if identifier.version:
        coding["version"] = identifier.version
    return coding


_ZONED = re.compile(r"(Z|[+-]\d{2}:\d{2})$")


def put_datetime(target: Json, field: str, value: str) -> None:
    """A date or date-time of the case into `target[field]`. FHIR's dateTime needs a zone with a time of day,
    which E2B does not: a time the case holds without one goes in as its day, with the time beside it
    (local-time extension on `_field`); so does any time in birthDate, a FHIR date (a zoned one in the core
    patient-birthTime extension). read.datetime_at reads either back."""
    if len(value) <= 10 or (field != "birthDate" and _ZONED.search(value)):
        target[field] = value
        return
    target[field] = value[:10]
    beside = ({"url": ext("birth_time"), "valueDateTime": value} if _ZONED.search(value)
              else {"url": ext("local_time"), "valueTime": value[11:]})
    target.setdefault(f"_{field}", {}).setdefault("extension", []).append(beside)


def dated(target: Json, field: str, value: str) -> Json:
    """`target` with the date-time put in (put_datetime)."""
    put_datetime(target, field, value)
    return target


def date_or_reason(value: str | m.Absent) -> Json:
    """An Observation's date value, or its dataAbsentReason."""
    if isinstance(value, m.Absent):
        return {"dataAbsentReason": dar_concept(value)}
    return dated({}, "valueDateTime", value)


def dar_concept(absent: m.Absent) -> Json:
    """Observation.dataAbsentReason: the FHIR code, and the HL7 null flavor so that NI survives."""
    entry = code_list("null_flavor").codes[absent.absent]
    return {"coding": [{"system": system("data_absent_reason"), "code": entry.fhir},
                       {"system": system("null_flavor"), "code": entry.e2b}]}


def human_name(person: m.Person) -> Json | None:
    name: Json = {}
    put(name, "family", person.family)
    put_list(name, "given", [person.given, person.middle])
    put_list(name, "prefix", [person.title])
    return name or None


def fhir_address(address: m.Address) -> Json | None:
    out: Json = {}
    put_list(out, "line", [address.street])
    for src, dst in (("city", "city"), ("state", "state"), ("postcode", "postalCode"), ("country", "country")):
        put(out, dst, getattr(address, src))
    return out or None


_BASE64 = re.compile(r"^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$")


def file_attachment(file: m.IncludedFile, title: str | None = None) -> Json:
    """An included document as a FHIR Attachment: data when it is valid base64, else kept in an extension."""
    out: Json = {}
    exts: list[Json] = []
    compact = re.sub(r"\s+", "", file.data)
    if not _BASE64.match(compact):
        exts.append({"url": ext("attachment_data_as_sent"), "valueString": file.data})
    if file.compression:
        exts.append({"url": ext("attachment_compression"), "valueCode": file.compression})
    if file.reference and re.search(r"\s", file.reference):  # a file name with spaces is no FHIR url
        exts.append({"url": ext("attachment_reference"), "valueString": file.reference})
    if exts:
        out["extension"] = exts
    out["contentType"] = file.media_type
    if _BASE64.match(compact):
        out["data"] = compact
    if file.reference and not re.search(r"\s", file.reference):
        out["url"] = file.reference
    if title:
        out["title"] = title
    return out


def contact_points(**kinds: str | m.Absent | None) -> list[Json]:
    points = []
    for kind, value in kinds.items():
        if value:
            point: Json = {"system": kind}
            put(point, "value", value)
            points.append(point)
    return points


def build_bundle(case: m.CaseFile) -> Json:
    """The ICSR document Bundle for a case, as a JSON-ready dict."""
    return BundleBuilder(case).build()


def dumps(bundle: Json) -> str:
    """Stable JSON text: the builder's key order, two-space indent, UTF-8 characters kept, final newline."""
    return json.dumps(bundle, indent=2, ensure_ascii=False) + "\n"
