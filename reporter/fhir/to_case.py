"""ICSR Bundle -> case file: the direct inverse of reporter/fhir/build.py.

Every place the builder writes a case fact, this module reads it back, so that case -> Bundle -> case is
the identity (up to the builder's defaults: a worldwide id equal to the case id, a creation date derived
from the most recent information). The page editor, the API and the CLI use it; nothing goes through E2B.
A Bundle that did not come from a case file (another server's, an API client's) is read as far as it
follows the same shapes; what the case model requires but the Bundle lacks makes a clear error.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from reporter.casefile import model as m
from reporter.errors import InputError
from reporter.fhir import read
from reporter.fhir.build import routing_part
from reporter.fhir.narrative import narrative_text
from reporter.tables import code_list, coding_key, ext, fhir_tables, oid_system, oids, routes, system

Json = dict[str, Any]


def _d(value: Any) -> Json:
    return value if isinstance(value, dict) else {}


_key_for = coding_key  # the case-file key of an ICH (or, with "fhir", FHIR) code: reporter/tables.py


def _key_in_list(list_name: str, coding: Json | None) -> str | None:
    """Like _key_for, for lists that share codes (ICH G.k.10.r and FDA.G.k.10a): the system must match."""
    table = code_list(list_name)
    return _key_for(list_name, coding) if _d(coding).get("system") == oid_system(table.oid or "") else None


def _absent(holder: Any) -> m.Absent | None:
    """The Absent of an element's data-absent-reason / null-flavor extensions."""
    flavor = read.absent_reason(_d(holder)) if isinstance(holder, dict) else None
    if flavor is None:
        return None
    key = next((k for k, v in code_list("null_flavor").codes.items() if v.e2b == flavor), "unknown")
    return m.Absent(absent=key)  # type: ignore[arg-type]


def _routing(transmission: Json | None) -> Json | None:
    """An imported case's transmission ids (`e2b_transmission`; its notReceived list is the import's note, not
    kept): None when the Bundle holds none."""
    held = {e.get("url"): e.get("valueString") for e in read.as_list(_d(transmission).get("extension"))
            if isinstance(e, dict) and isinstance(e.get("valueString"), str) and e.get("valueString")}
    routing = {name: held[routing_part(name)] for name in m.Routing.model_fields if held.get(routing_part(name))}
    return routing or None


def _quantity(value: Any) -> Json | None:
    q = _d(value)
    if q.get("value") is None:
        return None
    return {"value": q["value"], "unit": q.get("code") or q.get("unit") or "1"}


def _meddra(coding: Json | None) -> Json | None:
    c = _d(coding)
    if not c.get("code"):
        return None
    out = {"code": c["code"], "version": c.get("version") or ""}
    if c.get("display"):
        out["term"] = c["display"]
    return out


def _meddra_of(concept: Any) -> Json | None:
    return _meddra(read.coding(_d(concept), "meddra"))


def _oid(uri: str | None) -> str | None:
    return uri[8:] if isinstance(uri, str) and uri.startswith("urn:oid:") else None


class CaseReader:
    """Reads one ICSR document Bundle back into the case-file model."""

    def __init__(self, bundle: Json, index: read.BundleIndex | None = None) -> None:
        self.bundle = bundle
        self.index = index if index is not None else read.BundleIndex(bundle)
        self.comp = self.index.composition or {}
        # drug and reaction keys by the entry's key (BundleIndex.key_of: references may be written as
        # urn:uuid, Type/id or a server's absolute URL)
        self.drug_keys: dict[str, str] = {}
        for n, statement in enumerate(self.index.section("drugs"), start=1):
            self.drug_keys[self.index.key_of(statement)] = read.ext_value(statement, "case_key") or f"drug-{n}"
        self.reaction_keys: dict[str, str] = {}
        for n, event in enumerate(self.index.section("reactions"), start=1):
            self.reaction_keys[self.index.key_of(event)] = read.ext_value(event, "case_key") or f"reaction-{n}"

    # -- times ----------------------------------------------------------------------------------------

    def relative(self, rel: read.Relative) -> Json:
        drug = self.drug_keys.get(self.index.key(rel.drug_reference), "")
        out: Json = {"value": rel.value, "unit": rel.unit, "drug": drug}
        if rel.anchor != "first-dose":
            out["anchor"] = rel.anchor
        for key in ("qualifier", "high", "as_stated"):
            if getattr(rel, key) is not None:
                out[key] = getattr(rel, key)
        return out

    def when(self, element: Json, field: str) -> Any:
        """A date, a relative time or an absent reason, as the builder's put_when wrote it."""
        if isinstance(element.get(field), str):
            return read.datetime_at(element, field)
        rel = read.relative_time(element, field)
        if rel:
            return self.relative(rel)
        absent = _absent(element.get(f"_{field}"))
        return absent.model_dump() if absent else None

    def when_extension(self, extension: Json) -> Any:
        if isinstance(extension.get("valueDateTime"), str):
            return read.datetime_at(extension, "valueDateTime")
        rel = read.relative_time(extension)
        if rel:
            return self.relative(rel)
        absent = _absent(extension)
        return absent.model_dump() if absent else None

    # -- the case -------------------------------------------------------------------------------------

    def case(self, timing_only: bool = False) -> m.CaseFile:
        """The case; `timing_only`: its report, reactions and drugs only (the rest left empty), which is all
        that time to onset reads, at a third of the cost."""
        ident = _d(self.comp.get("identifier"))
        case_id = ident.get("value")
        if not isinstance(case_id, str) or not case_id:
            from reporter.validation.integrity import not_a_document

            found = not_a_document(self.bundle)  # no document at all: said as validation and E2B say it
            if found is not None:
                raise InputError(found.message, location=found.location, hint=found.hint)
            raise InputError("the Bundle has no case id (Composition.identifier.value, C.1.1)",
                             location="Composition.identifier")
        data: Json = {"case_id": case_id, "report": self.report(case_id)}
        if not timing_only:
            data |= {"primary_sources": self.primary_sources(), "sender": self.sender(),
                     "literature": self.literature(), "study": self.study(), "patient": self.patient()}
        data["reactions"] = [self.reaction(e, timing_only) for e in self.index.section("reactions")]
        if not timing_only:
            data["tests"] = [self.test(o) for o in self.index.section("tests")]
        data["drugs"] = [self.drug(s, timing_only) for s in self.index.section("drugs")]
        if not timing_only:
            data["narrative"] = self.narrative()
        try:
            return m.CaseFile.model_validate(_prune(data))
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(x) for x in first["loc"])
            raise InputError(f"the Bundle cannot be read as a case file: {where}: {first['msg']}",
                             location=self.fhir_location(first["loc"]) or where) from None

    def fhir_location(self, loc: tuple[Any, ...]) -> str | None:
        """The entry a refused reaction, test or drug of the case came from (`reactions.1` -> its AdverseEvent's
        FHIRPath), so that a sender is told where in its Bundle the problem is."""
        if len(loc) < 2 or loc[0] not in ("reactions", "tests", "drugs") or not isinstance(loc[1], int):
            return None
        listed = self.index.section(loc[0])
        resource = listed[loc[1]] if loc[1] < len(listed) else None
        for n, entry in enumerate(read.as_list(self.bundle.get("entry"))):
            if isinstance(entry, dict) and entry.get("resource") is resource:
                return f"Bundle.entry[{n}].resource.ofType({resource['resourceType']})"
        return None

    # -- C --------------------------------------------------------------------------------------------

    def report(self, case_id: str) -> Json:
        comp = self.comp
        out: Json = {
            "type": _key_for("report_type", (read.codings((comp.get("category") or [{}])[0]) or [None])[0]),
            "first_received": self.when_extension(read.extension(comp, "first_receive_date") or {}),
            "most_recent": self.when_extension(read.extension(comp, "most_recent_date") or {}),
            "first_sender": _key_for("first_sender", read.ext_value(comp, "first_sender_type")
                                     and (read.codings(read.ext_value(comp, "first_sender_type")) or [None])[0])
            or _absent(read.extension(comp, "first_sender_type")),
        }
        worldwide = _d(read.ext_value(comp, "case_identifier")).get("value")
        if worldwide and worldwide != case_id:
            out["worldwide_id"] = worldwide
        date = read.datetime_at(comp, "date")
        most_recent = out["most_recent"]
        derived = f"{most_recent}T00:00:00Z" if isinstance(most_recent, str) and len(most_recent) == 10 \
            else most_recent
        if isinstance(date, str) and date != derived:
            out["created"] = date
        out["other_case_ids"] = [{"source": _d(v.get("assigner")).get("display"), "id": v.get("value")}
                                 for e in read.extensions(comp, "previous_case_identifier")
                                 if (v := _d(e.get("valueIdentifier")))]
        out["linked_reports"] = [_d(e.get("valueIdentifier")).get("value")
                                 for e in read.extensions(comp, "linked_report")]
        amendment = read.extension(comp, "report_amendment")
        if amendment:
            kind = read.sub_value(amendment, "amendmentType")
            reason = read.sub_extension(amendment, "amendmentReason")
            out["nullification"] = {"kind": _key_for("nullification", (read.codings(kind) or [None])[0]),
                                    "reason": read.sub_value(amendment, "amendmentReason") or _absent(reason)}
        documents = read.extension(comp, "additional_documents")
        if documents:
            docs = [{"description": _d(sub.get("valueAttachment")).get("title"),
                     "file": _included_file(sub.get("valueAttachment"))}
                    for sub in read.as_list(documents.get("extension")) if sub.get("url") == "document"]
            out["additional_documents"] = docs
            flag = read.sub_value(documents, "availableFlag")
            if isinstance(flag, bool) and flag != bool(docs):
                out["additional_documents_available"] = flag
        previous = read.extension(comp, "previous_case_ids")
        if previous:
            value = read.value_of(previous)
            out["previous_case_ids"] = value if isinstance(value, bool) else _dump(_absent(previous))
        fda_type, _ = read.fda_report_type(comp)
        if fda_type:
            out["fda_report_type"] = fda_type
        expedited = read.extension(comp, "expedited_report")
        out["expedited"] = read.sub_value(expedited, "localCriteriaFlag")
        if out["expedited"] is None and expedited:
            out["expedited"] = next((_absent(s) for s in read.as_list(expedited.get("extension"))
                                     if _d(s).get("url") == "localCriteriaFlag"), None)
        out["combination_product"] = read.ext_value(comp, "combination_product")
        out["routing"] = _routing(read.extension(comp, "e2b_transmission"))
        return out

    def primary_sources(self) -> list[Json]:
        out = []
        for author in read.as_list(self.comp.get("author")):
            role = self.index.resolve(author)
            if not role or role.get("resourceType") != "PractitionerRole":
                continue
            practitioner = self.index.resolve(role.get("practitioner"), role) or {}
            source: Json = {"primary": bool(read.ext_value(author, "author_primary_source"))}
            names = read.as_list(practitioner.get("name"))
            if names:
                absent = _absent(names[0])
                source["name"] = absent.model_dump() if absent else _person(names[0])
            source |= _telecom(practitioner, ("phone", "email"))
            addresses = read.as_list(practitioner.get("address"))
            if addresses:
                source["address"] = _address(addresses[0])
            source["organization"] = _text(_d(role.get("organization")), "display")
            source["department"] = _ext_text(role, "department")
            codes = read.as_list(role.get("code"))
            if codes:
                absent = _absent(codes[0])
                source["qualification"] = (absent.model_dump() if absent else
                                           _key_for("qualification", (read.codings(codes[0]) or [None])[0]))
            out.append(source)
        return out

    def sender(self) -> Json | None:
        org = self.index.resolve(self.comp.get("custodian"))
        if not org:
            return None
        out: Json = {
            "type": _key_for("sender_type", (read.codings((org.get("type") or [{}])[0]) or [None])[0]),
            "organization": org.get("name"),
            "department": read.ext_value(org, "department"),
        }
        ids = read.as_list(org.get("identifier"))
        if ids:
            out["id"] = _d(ids[0]).get("value")
        contacts = read.as_list(org.get("contact"))
        if contacts:
            out["person"] = _person(_d(contacts[0]).get("name"))
        addresses = read.as_list(org.get("address"))
        if addresses:
            out["address"] = _address(addresses[0])
        return out | _telecom(org, ("phone", "fax", "email"))

    def literature(self) -> list[Json]:
        return [{"citation": doc.get("description"), "doi": read.ext_value(doc, "literature_doi"),
                 "file": next((f for c in read.as_list(doc.get("content"))[1:]
                               if (f := _included_file(_d(c).get("attachment")))), None)}
                for doc in self.index.section("literature")]

    def study(self) -> Json | None:
        found = next((self.index.resolve(s) for e in self.index.all("AdverseEvent")
                      for s in read.as_list(e.get("study"))), None)
        if not found:
            return None
        out: Json = {"name": _text(found, "title"), "registrations": [], "fda_cross_reported_inds": []}
        known = oids()["identifiers"]
        for ident in read.as_list(found.get("identifier")):
            sys_, value = ident.get("system"), ident.get("value")
            if sys_ == f"urn:oid:{known['sponsor_study_number']}":
                out["sponsor_number"] = _text(_d(ident), "value")
            elif sys_ == f"urn:oid:{known['study_registration']}":
                out["registrations"].append({
                    "number": _text(_d(ident), "value"),
                    "country": _ext_text(ident, "registration_country")})
            elif sys_ == system("fda_ind"):
                out["fda_ind"] = value
            elif sys_ == system("fda_pre_anda"):
                out["fda_pre_anda"] = value
            elif sys_ == system("fda_cross_reported_ind"):
                out["fda_cross_reported_inds"].append(value)
        categories = read.as_list(found.get("category"))
        if categories:
            out["type"] = _key_for("study_type", (read.codings(categories[0]) or [None])[0])
        return out

    # -- D --------------------------------------------------------------------------------------------

    def patient(self) -> Json | None:
        patient = self.index.patient
        if patient is None:
            return None
        out = self.person(patient, "initials")
        out["record_numbers"] = []
        for ident in read.as_list(patient.get("identifier")):
            if key := read.record_source(ident):
                out["record_numbers"].append({"source": key, "value": _text(_d(ident), "value")})
        out["race"] = [self.coded_extension(e) for e in read.extensions(patient, "race")]
        ethnicity = read.extension(patient, "ethnicity")
        if ethnicity:
            out["ethnicity"] = self.coded_extension(ethnicity)
        ages = [read.ext_value(e, "age_at_onset") for e in self.index.all("AdverseEvent")]
        age = next((a for a in ages if a), None)
        if age:
            out["age_at_onset"] = _quantity(age)
        obs = fhir_tables().patient_observations
        for o in self.index.section("patient"):
            if o.get("resourceType") != "Observation":
                continue
            code = _d(read.coding(o.get("code"), "loinc")).get("code")
            if code == obs["age_group"]["code"]:
                out["age_group"] = _key_for("age_group", (read.codings(o.get("valueCodeableConcept")) or [None])[0])
            elif code == obs["weight"]["code"]:
                out["weight_kg"] = _d(o.get("valueQuantity")).get("value")
            elif code == obs["height"]["code"]:
                out["height_cm"] = _d(o.get("valueQuantity")).get("value")
            elif code == obs["last_menstrual_period"]["code"]:
                out["last_menstrual_period"] = read.datetime_at(o, "valueDateTime") or (
                    _dar_absent(o["dataAbsentReason"]) if o.get("dataAbsentReason") else None)
            elif code == obs["gestation_at_onset"]["code"]:
                out["gestation_at_onset"] = _quantity(o.get("valueQuantity"))
        out["medical_history"] = [self.history(c) for c in self.index.section("history")]
        out["history_text"] = _ext_text(self.comp, "history_text")
        out["concomitant_therapies"] = read.ext_value(self.comp, "concomitant_therapies")
        out["past_drugs"] = [self.past_drug(s) for s in self.index.section("past_drugs")]
        out["death"] = self.death()
        out["parent"] = self.parent()
        return out

    def person(self, resource: Json, name_field: str) -> Json:
        out: Json = {}
        names = read.as_list(resource.get("name"))
        if names:
            first = _d(names[0])
            absent = _absent(first)
            if read.has_name_parts(first):
                out[name_field] = _person(first)  # a name in parts (a structured D.1)
            else:
                out[name_field] = absent.model_dump() if absent else first.get("text")
        flavor = read.sex_null_flavor(resource)  # the reason on _gender, or a gender ISO 5218 has no code for
        if flavor:
            out["sex"] = _flavor_absent(flavor)
        elif resource.get("gender"):
            out["sex"] = next((k for k, v in code_list("sex").codes.items() if v.fhir == resource["gender"]), None)
        out["birth_date"] = self.when(resource, "birthDate")
        return out

    def coded_extension(self, extension: Json) -> Json:
        concept = extension.get("valueCodeableConcept")
        if concept is None:
            return _dump(_absent(extension)) or {"absent": "unknown"}
        return _coded(concept, system("ncit"))

    def history(self, condition: Json) -> Json:
        status = condition.get("clinicalStatus")
        continuing: Any = None
        if status is not None:
            absent = _absent(status)
            code = _d((read.codings(status) or [None])[0]).get("code")
            continuing = absent.model_dump() if absent else (code == "active" if code else None)
        return {
            "term": _d(condition.get("code")).get("text"),
            "meddra": _meddra_of(condition.get("code")),
            "start": self.when(condition, "onsetDateTime"),
            "continuing": continuing,
            "end": self.when(condition, "abatementDateTime"),
            "comments": _notes(condition),
            "family_history": read.ext_value(condition, "family_history"),
        }

    def past_drug(self, statement: Json) -> Json:
        concept = _d(statement.get("medicationCodeableConcept"))
        period = _d(statement.get("effectivePeriod"))
        reasons = read.as_list(statement.get("reasonCode"))
        return {
            "name": _text(concept, "text") or read.named(concept),
            "identifiers": _product_ids(concept),
            "start": self.when(period, "start"),
            "end": self.when(period, "end"),
            "indication": _meddra_of(reasons[0]) if reasons else None,
            "reaction": _meddra_of(read.ext_value(statement, "past_drug_reaction")),
        }

    def death(self) -> Json | None:
        items = self.index.section("death")
        if not items:
            return self.death_of_patient()
        obs = fhir_tables().patient_observations
        out: Json = {"reported_causes": [], "autopsy_causes": []}
        for o in items:
            code = _d(read.coding(o.get("code"), "loinc")).get("code")
            if code == obs["death_date"]["code"]:
                out["date"] = self.when(o, "valueDateTime")
            elif code == obs["death_cause"]["code"]:
                concept = _d(o.get("valueCodeableConcept"))
                cause = {"text": concept.get("text"), "meddra": _meddra_of(concept)}
                out["reported_causes" if o.get("status") == "preliminary" else "autopsy_causes"].append(cause)
            elif code == obs["autopsy"]["code"]:
                out["autopsy"] = (_dar_absent(o["dataAbsentReason"]) if o.get("dataAbsentReason")
                                  else o.get("valueBoolean"))
        return out

    def death_of_patient(self) -> Json | None:
        """A death said only by the Patient's R4 deceasedDateTime (as EHRs write it), with no InCaseOfDeath
        section: its date (D.9.1), which E2B and the report already took from there; or by deceasedBoolean
        true: a death of no known date (`death: {}`, which the builder writes back as deceasedBoolean)."""
        patient = self.index.patient or {}
        if isinstance(patient.get("deceasedDateTime"), str):
            return {"date": self.when(patient, "deceasedDateTime")}
        return {} if patient.get("deceasedBoolean") is True else None

    def parent(self) -> Json | None:
        items = self.index.section("parent")
        parent = next((r for r in items if r.get("resourceType") == "Patient"), None)
        if parent is None:
            return None
        out = self.person(parent, "identification")
        out["history_text"] = read.ext_value(parent, "history_text")
        obs = fhir_tables().patient_observations
        out["medical_history"], out["past_drugs"] = [], []
        for r in items:
            if r.get("resourceType") == "Observation":
                code = _d(read.coding(r.get("code"), "loinc")).get("code")
                if code == "30525-0":
                    out["age"] = _quantity(r.get("valueQuantity"))
                elif code == obs["weight"]["code"]:
                    out["weight_kg"] = _d(r.get("valueQuantity")).get("value")
                elif code == obs["height"]["code"]:
                    out["height_cm"] = _d(r.get("valueQuantity")).get("value")
                elif code == obs["last_menstrual_period"]["code"]:
                    out["last_menstrual_period"] = read.datetime_at(r, "valueDateTime") or (
                        _dar_absent(r["dataAbsentReason"]) if r.get("dataAbsentReason") else None)
            elif r.get("resourceType") == "Condition":
                out["medical_history"].append(self.history(r))
            elif r.get("resourceType") == "MedicationStatement":
                out["past_drugs"].append(self.past_drug(r))
        return out

    # -- E --------------------------------------------------------------------------------------------

    def reaction(self, event: Json, timing_only: bool = False) -> Json:
        """The reaction; `timing_only`: its id, term (required), onset, end and duration only."""
        concept = _d(event.get("event"))
        out: Json = {
            "id": read.ext_value(event, "case_key") or self.reaction_keys.get(self.index.key_of(event)),
            "verbatim": read.named(concept),
            "meddra": _meddra_of(concept),
            "onset": self.when(event, "date"),
        }
        if timing_only:
            return out | self.reaction_end(event)
        out["medically_confirmed"] = read.ext_value(event, "medically_confirmed")
        out["country"] = read.ext_value(event, "reaction_country")
        translation = read.extension(_d(concept.get("_text")), "translation")
        if translation:
            language = read.sub_value(translation, "lang")
            out["language"] = language if language != "und" else None
            out["translation"] = read.sub_value(translation, "content")
        highlighted = read.ext_value(event, "highlighted_by_reporter")
        if highlighted:
            out["highlighted"] = _key_for("highlighted", highlighted)
        seriousness: Json = {}
        names = {v.e2b: k for k, v in code_list("seriousness_criterion").codes.items()}
        for code, value in read.seriousness_criteria(event).items():
            if code in names:
                seriousness[names[code]] = value if isinstance(value, bool) else _flavor_absent(value)
        fda = fhir_tables().fda["required_intervention"]
        for code, value in read.seriousness_criteria(event, fda["system"]).items():
            if code == fda["code"]:
                seriousness["required_intervention"] = value if isinstance(value, bool) else _flavor_absent(value)
        out["seriousness"] = seriousness
        out |= self.reaction_end(event)
        outcome = read.coding(event.get("outcome"), "ae_outcome")
        if outcome:
            out["outcome"] = _key_for("outcome", outcome, "fhir")
        return out

    def reaction_end(self, event: Json) -> Json:
        """E.i.5 end and E.i.6 duration, from the extensions on the event's date."""
        out: Json = {}
        for e in read.as_list(_d(event.get("_date")).get("extension")):
            url = _d(e).get("url")
            if url == ext("event_end_date"):
                out["end"] = read.datetime_at(e, "valueDateTime")
            elif url == ext("reaction_end"):
                out["end"] = self.when_extension(e)
            elif url == ext("event_duration"):
                out["duration"] = _quantity(e.get("valueDuration"))
        return out

    # -- F --------------------------------------------------------------------------------------------

    def test(self, obs: Json) -> Json:
        code = _d(obs.get("code"))
        out: Json = {
            "name": code.get("text"),
            "loinc": _d(read.coding(code, "loinc")).get("code"),
            "meddra": _meddra_of(code),
            "date": self.when(obs, "effectiveDateTime"),
            "more_info": read.ext_value(obs, "more_info"),
        }
        value = _d(obs.get("valueQuantity"))
        if value.get("value") is not None:
            out["value"] = value["value"]
            out["unit"] = value.get("code") or value.get("unit")
            out["comparator"] = value.get("comparator")
            out["result_text"] = read.ext_value(obs, "result_text")
        elif words := read.result_words(obs):
            out["result_text"] = words
        out["result"] = read.result_of_test(obs)
        if comments := _notes(obs):
            out["comments"] = comments
        ranges = read.as_list(obs.get("referenceRange"))
        if ranges:
            out["low"] = _d(_d(ranges[0]).get("low")).get("value")
            out["high"] = _d(_d(ranges[0]).get("high")).get("value")
        return out

    # -- G --------------------------------------------------------------------------------------------

    def device(self, device: Json) -> Json:
        """FDA.G.k.12.r from a Device (the inverse of BundleBuilder.build_device)."""
        names = {_d(n).get("type"): _d(n).get("name") for n in read.as_list(device.get("deviceName"))}

        def codes(key: str) -> list[str]:
            return [c for e in read.extensions(device, key) if (c := _d(e.get("valueCoding")).get("code"))]

        address = read.ext_value(device, "device_manufacturer_address")
        manufacturer = {"name": device.get("manufacturer"), "address": _address(address) if address else None}
        return {
            "brand_name": names.get("manufacturer-name"), "common_name": names.get("user-friendly-name"),
            "product_code": (_d((read.codings(device.get("type")) or [None])[0])).get("code"),
            "manufacturer": manufacturer if any(manufacturer.values()) else None,
            "lot": device.get("lotNumber"),
            "malfunction": read.ext_value(device, "device_malfunction"),
            "follow_up_types": codes("device_follow_up"), "problem_codes": codes("device_problem"),
            "usage": next(iter(codes("device_usage")), None), "operator": next(iter(codes("device_operator")), None),
            "remedial_actions": codes("device_remedial_action"),
        }

    def drug(self, statement: Json, timing_only: bool = False) -> Json:
        """The drug; `timing_only`: its id, role and product (required), the dates of its dosages and the
        stated onset intervals of its reactions only."""
        medication = self.index.medication_of(statement) or {}
        concept = _d(medication.get("code") or statement.get("medicationCodeableConcept"))
        key = read.ext_value(statement, "case_key") or self.drug_keys.get(self.index.key_of(statement))
        out: Json = {
            "id": key,
            "role": _key_for("drug_role", read.ext_value(statement, "drug_role"))
            or _absent(read.extension(statement, "drug_role")),
            "product": read.named(concept),
        }
        if timing_only:
            return out | {"dosages": [self.dosage(d, timing_only) for d in read.as_list(statement.get("dosage"))],
                          "reactions": self.drug_reactions(statement, timing_only)}
        out |= {
            "identifiers": _product_ids(concept),
            "atc": _d(read.coding(concept, "atc")).get("code"),
            "rxnorm": _d(read.coding(concept, "rxnorm")).get("code"),
            "country_obtained": read.ext_value(medication, "country_obtained"),
            "blinded": read.ext_value(medication, "blinded"),
            "action_taken": _key_for("action_taken", read.ext_value(statement, "action_taken")),
            "cumulative_dose": _quantity(read.ext_value(statement, "cumulative_dose")),
            "gestation_at_exposure": _quantity(read.ext_value(statement, "gestation_at_exposure")),
            "additional_info": [k for e in read.extensions(statement, "additional_info")
                                if (k := _key_in_list("additional_info", e.get("valueCoding")))],
            "fda_additional_info": [k for e in read.extensions(statement, "additional_info")
                                    if (k := _key_in_list("fda_additional_info", e.get("valueCoding")))],
            "additional_info_absent": next((_absent(e) for e in read.extensions(statement, "additional_info")
                                            if not e.get("valueCoding")), None),
        }
        auth = read.extension(medication, "authorisation")
        if auth:
            out["authorisation"] = {"number": _d(read.sub_value(auth, "number")).get("value"),
                                    "country": read.sub_value(auth, "country"),
                                    "holder": read.sub_value(auth, "holder")}
        out["substances"] = []
        for ingredient in read.as_list(medication.get("ingredient")):
            item = _d(_d(ingredient).get("itemCodeableConcept"))
            substance: Json = {"name": item.get("text"), "strength": _quantity(read.ingredient_strength(ingredient))}
            coding = (read.codings(item) or [None])[0]
            if coding:
                substance["termid"] = {"code": coding.get("code"), "system": _oid(coding.get("system")),
                                       "version": coding.get("version")}
            out["substances"].append(substance)
        if text := _notes(statement):
            out["additional_text"] = text
        out["indications"] = [{"text": read.named(r), "meddra": _meddra_of(r)}
                              for r in read.as_list(statement.get("reasonCode"))]
        out["dosages"] = [self.dosage(d, medication=medication) for d in read.as_list(statement.get("dosage"))]
        out["devices"] = [self.device(self.index.resolve(e.get("valueReference")) or {})
                          for e in read.extensions(statement, "device")]
        out["reactions"] = self.drug_reactions(statement)
        return out

    def dosage(self, dosage: Json, timing_only: bool = False, medication: Json | None = None) -> Json:
        """One dosage line; its batch and form from the drug's Medication (R4 batch.lotNumber, form) when the
        dosage does not give its own."""
        repeat = _d(_d(dosage.get("timing")).get("repeat"))
        period = _d(repeat.get("boundsPeriod"))
        if timing_only:
            return {"start": self.when(period, "start"), "stop": self.when(period, "end")}
        out: Json = {
            "text": dosage.get("text"),
            "start": self.when(period, "start"),
            "stop": self.when(period, "end"),
            "duration": _quantity(read.ext_value(dosage, "dosage_duration")),
            "batch": read.dosage_batch(dosage, medication),
            "period_absent": _absent(dosage.get("timing")) if not repeat else None,
        }
        doses = read.as_list(dosage.get("doseAndRate"))
        if doses:
            out["dose"] = _quantity(_d(doses[0]).get("doseQuantity"))
        if (interval := read.repeat_interval(repeat)) is not None:
            out["every"] = interval
        elif read.ext_value(dosage, "dosing_interval"):
            out["every"] = _quantity(read.ext_value(dosage, "dosing_interval"))
        form = read.dosage_form(dosage, medication)
        if form:
            out["form"] = _coded(form, system("edqm"))
        if dosage.get("route"):
            out["route"] = _route(dosage["route"])
        parent_route = read.ext_value(dosage, "parent_route")
        if parent_route:
            out["parent_route"] = _route(parent_route)
        return out

    def drug_reactions(self, statement: Json, timing_only: bool = False) -> list[Json]:
        links = []
        for event in self.index.section("reactions"):
            for entity in read.as_list(event.get("suspectEntity")):
                if self.index.resolve(_d(_d(entity).get("instance"))) is not statement:
                    continue
                interval = read.extension(entity, "onset_interval")
                link: Json = {
                    "reaction": read.ext_value(event, "case_key") or self.reaction_keys.get(self.index.key_of(event)),
                    "onset_after_first_dose": _quantity(read.sub_value(interval, "afterFirstDose")),
                    "onset_after_last_dose": _quantity(read.sub_value(interval, "afterLastDose")),
                }
                if timing_only:
                    links.append(link)
                    continue
                link |= {
                    "dechallenge": _d(read.ext_value(entity, "dechallenge")).get("code"),
                    "rechallenge": _key_for("rechallenge", read.ext_value(entity, "rechallenge")),
                    "causality": [{"source": _d(c.get("author")).get("display"),
                                   "method": read.concept_text(c.get("method")),
                                   "result": read.concept_text(c.get("assessment")),
                                   "answers": [{"item": read.sub_value(a, "item"),
                                                "answer": read.sub_value(a, "answer"),
                                                "note": read.sub_value(a, "note")}
                                               for a in read.extensions(c, "causality_answer")]}
                                  for c in read.as_list(entity.get("causality"))],
                }
                links.append(link)
        return links

    # -- H --------------------------------------------------------------------------------------------

    def narrative(self) -> Json | None:
        section = self.index.section_element("narrative")
        if not section:
            return None
        text, summaries = narrative_text(_d(section.get("text")).get("div"))
        out: Json = {"text": text or "", "summaries": [{"language": lang, "text": t} for lang, t in summaries]}
        for key in ("reporter_comments", "sender_comments"):
            element = self.index.section_element(key)
            if element:
                out[key] = narrative_text(_d(element.get("text")).get("div"))[0]
        out["sender_diagnoses"] = [m for c in self.index.section("sender_diagnosis")
                                   if (m := _meddra_of(c.get("code")))]
        return out


# -- small shapes ---------------------------------------------------------------------------------------


def _value_or_reason(value: str | None, flavor: str | None) -> Any:
    return value if value is not None else _flavor_absent(flavor) if flavor else None


def _text(holder: Json, key: str) -> Any:
    """A primitive's value, or its withheld / not-known reason from `_key` (inverse of build.put)."""
    return _value_or_reason(*read.text(holder, key))


def _texts(holder: Json, key: str) -> list[Any]:
    """A repeating primitive's items in place: value, or reason from `_key` (inverse of build.put_list)."""
    return [_value_or_reason(value, flavor) for value, flavor in read.texts(holder, key)]


def _ext_text(holder: Json, key: str) -> Any:
    """A string extension's value, or its withheld / not-known reason (inverse of build.text_extension)."""
    return _value_or_reason(*read.ext_text(holder, key))


def _person(name: Any) -> Json:
    n = _d(name)
    given, prefix = _texts(n, "given"), _texts(n, "prefix")
    return {"title": prefix[0] if prefix else None, "given": given[0] if given else None,
            "middle": given[1] if len(given) > 1 else None, "family": _text(n, "family")}


def _included_file(attachment: Any) -> Json | None:
    """An included document (C.1.6.1.r.2, C.4.r.2) from its Attachment (inverse of build.file_attachment)."""
    a = _d(attachment)
    data = a.get("data") or read.ext_value(a, "attachment_data_as_sent")
    if not a.get("contentType") or not isinstance(data, str):
        return None
    return {"media_type": a["contentType"], "data": data,
            "reference": a.get("url") or read.ext_value(a, "attachment_reference"),
            "compression": read.ext_value(a, "attachment_compression")}


def _address(address: Any) -> Json:
    a = _d(address)
    lines = _texts(a, "line")
    return {"street": lines[0] if lines else None, "city": _text(a, "city"), "state": _text(a, "state"),
            "postcode": _text(a, "postalCode"), "country": _text(a, "country")}


def _telecom(resource: Json, kinds: tuple[str, ...]) -> Json:
    out: Json = {}
    for point in read.as_list(resource.get("telecom")):
        kind = _d(point).get("system")
        if kind in kinds and kind not in out:
            out[kind] = _text(_d(point), "value")
    return out


def _coded(concept: Any, default_system: str) -> Json:
    c = _d(concept)
    coding = _d((read.codings(c) or [None])[0])
    out: Json = {"text": c.get("text"), "code": coding.get("code")}
    if coding.get("system") and coding["system"] != default_system:
        out["system"] = _oid(coding["system"]) or coding["system"]
        out["version"] = coding.get("version")
    return out


def _route(concept: Any) -> Json:
    """A route key, else a code of a list named by its OID (as E2B received it); a code of another system (SNOMED
    CT 26643006, as EHRs code routes) is no code the case holds: its words are the route as reported."""
    c = _d(concept)
    key = read.coding(c, "route_key")
    if key:
        return {"text": c.get("text"), "code": key.get("code")}
    coding = _d(next((x for x in read.codings(c) if not x.get("system") or _oid(x.get("system"))), None))
    out: Json = {"text": c.get("text") or (None if coding.get("code") else read.named(c)), "code": coding.get("code")}
    if coding.get("system"):
        out["system"] = _oid(coding["system"])
        out["version"] = coding.get("version")
    elif coding.get("code") and coding["code"] not in routes():
        out["code"] = None
    return out


def _notes(resource: Json) -> str | None:
    """A resource's notes as one text, as E2B (F.r.6, G.k.11) and the report join them: a producer that writes
    each remark as a note of its own loses none."""
    texts = [t for n in read.as_list(resource.get("note")) if isinstance(t := _d(n).get("text"), str) and t]
    return "; ".join(texts) or None


def _product_ids(concept: Json) -> list[Json]:
    out = []
    for coding in read.codings(concept):
        kind = read.ext_value(coding, "product_id_kind")
        if not kind:
            continue
        own = coding.get("system") == system(kind) if kind in ("mpid", "phpid", "product-code") else False
        out.append({"kind": kind, "code": coding.get("code"), "system": None if own else _oid(coding.get("system")),
                    "version": coding.get("version")})
    return out


def _flavor_absent(flavor: str) -> Json:
    key = next((k for k, v in code_list("null_flavor").codes.items() if v.e2b == flavor), "unknown")
    return {"absent": key}


def _dar_absent(concept: Any) -> Json:
    coding = read.coding(_d(concept), "null_flavor")
    if coding and coding.get("code"):
        return _flavor_absent(coding["code"])
    dar = _d(read.coding(_d(concept), "data_absent_reason")).get("code")
    key = code_list("null_flavor").key_for_fhir(dar) if isinstance(dar, str) else None
    return {"absent": key or "unknown"}


def _dump(absent: m.Absent | None) -> Json | None:
    return absent.model_dump() if absent else None


# Fields whose empty value states something the builder writes: `death: {}` is a death of no known date.
_STATED_EMPTY = frozenset({"death"})


def _prune(value: Any) -> Any:
    """Drop None values and empty containers the builder would not have written."""
    if isinstance(value, dict):
        pruned = {k: _prune(v) for k, v in value.items()}
        return {k: v for k, v in pruned.items() if v is not None and v != [] and (v != {} or k in _STATED_EMPTY)}
    if isinstance(value, list):
        return [_prune(v) for v in value]
    return value


def bundle_to_case(bundle: Json) -> m.CaseFile:
    """The case file an ICSR document Bundle states (the inverse of reporter.fhir.build.build_bundle)."""
    if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle":
        raise InputError("not a FHIR Bundle", location="resourceType")
    return CaseReader(bundle).case()


def bundle_timing_case(bundle: Json, index: read.BundleIndex | None = None) -> m.CaseFile:
    """The case's report, reactions and drugs as bundle_to_case reads them, the other parts left out: what
    reporter.assess.onset needs (the E2B writer's G.k.9.i.3 from dates). Problems in the parts left out
    (patient, tests, narrative...) do not stop it. `index`: the Bundle's index when the caller has one."""
    if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle":
        raise InputError("not a FHIR Bundle", location="resourceType")
    return CaseReader(bundle, index).case(timing_only=True)
