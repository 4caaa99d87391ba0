"""Reading helpers for ICSR Bundles as plain JSON dicts: index, references, extensions, absent reasons,
relative times. Everything downstream of the Bundle (E2B export, report, API) reads through these."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

from reporter.tables import code_list, ext, fhir_tables, in_system, system

Json = dict[str, Any]

_VALUE_KEYS_PREFIX = "value"


class BundleIndex:
    """Resources of one Bundle by fullUrl, id and type; resolves references inside the Bundle. An index is
    of the Bundle as it was when indexed (its entries, and the Composition's sections and the resources they
    list once looked up)."""

    def __init__(self, bundle: Json) -> None:
        self.bundle = bundle
        self.by_url: dict[str, Json] = {}
        self.by_type: dict[str, list[Json]] = {}
        self._keys: dict[int, str] = {}  # id(resource) -> its key (see key_of)
        self._sections: dict[str, Json] | None = None  # by code, once looked up
        self._listed: dict[str, list[Json]] = {}  # the resources of a section, by key, once looked up
        entries = bundle.get("entry") if isinstance(bundle, dict) else None
        for entry in entries if isinstance(entries, list) else []:
            resource = entry.get("resource") if isinstance(entry, dict) else None
            if not isinstance(resource, dict):
                continue
            rtype = resource.get("resourceType")
            rtype = rtype if isinstance(rtype, str) else ""
            self.by_type.setdefault(rtype, []).append(resource)
            full_url = entry.get("fullUrl")
            rid = resource.get("id")
            relative = f"{rtype}/{rid}" if isinstance(rid, str) and rid else None
            if isinstance(full_url, str) and full_url:
                self.by_url[full_url] = resource
                self._keys[id(resource)] = full_url
            elif relative:
                self._keys[id(resource)] = relative
            if relative:
                self.by_url.setdefault(relative, resource)

    def all(self, resource_type: str) -> list[Json]:
        return self.by_type.get(resource_type, [])

    def first(self, resource_type: str) -> Json | None:
        found = self.by_type.get(resource_type)
        return found[0] if found else None

    def resolve(self, reference: Json | str | None, holder: Json | None = None) -> Json | None:
        """The entry resource a reference (or its string) points at, however it is written: the entry's fullUrl
        (urn:uuid:..., or a server's absolute URL), `Type/id`, or either with a version (`.../_history/2`); a
        local reference (`#med`) names a resource contained in `holder`, the resource that holds the
        reference (a MedicationStatement with its Medication inside, as many EHRs write it)."""
        if isinstance(reference, dict):
            reference = reference.get("reference")
        if not isinstance(reference, str) or not reference:
            return None
        if reference.startswith("#"):
            contained = holder.get("contained") if isinstance(holder, dict) else None
            return next((c for c in contained if isinstance(c, dict) and f"#{c.get('id')}" == reference), None) \
                if isinstance(contained, list) else None
        found = self.by_url.get(reference)
        if found is None and "/_history/" in reference:
            found = self.by_url.get(reference.split("/_history/", 1)[0])
        return found

    def medication_of(self, statement: Json) -> Json | None:
        """The Medication a MedicationStatement names: an entry, or contained in the statement itself."""
        return self.resolve(statement.get("medicationReference"), statement)

    def product_concept(self, statement: Json) -> Json:
        """The CodeableConcept naming a MedicationStatement's product: its Medication's code, else its own."""
        medication = self.medication_of(statement) or {}
        concept = medication.get("code") or statement.get("medicationCodeableConcept")
        return concept if isinstance(concept, dict) else {}

    def drug_name(self, statement: Json) -> str:
        """What a drug is called in messages: its product's name (`named`), else 'the drug'."""
        return named(self.product_concept(statement)) or "the drug"

    def key_of(self, resource: Json) -> str:
        """One name per entry resource, whatever form the references to it take: its fullUrl (else `Type/id`,
        else a name no reference can have). Readers that match references compare keys (`key`), never the
        strings as written."""
        found = self._keys.get(id(resource))
        if found is None:
            rid = resource.get("id")
            found = f"{resource.get('resourceType')}/{rid}" if isinstance(rid, str) and rid else f"#{id(resource)}"
        return found

    def key(self, reference: Json | str | None) -> str:
        """The key of what a reference points at (see key_of); a reference that resolves to no entry keeps its
        own text (so two such references match only when written alike)."""
        found = self.resolve(reference)
        if found is not None:
            return self.key_of(found)
        if isinstance(reference, dict):
            reference = reference.get("reference")
        return reference if isinstance(reference, str) else ""

    @property
    def composition(self) -> Json | None:
        return self.first("Composition")

    @property
    def patient(self) -> Json | None:
        comp = self.composition
        found = self.resolve(comp.get("subject")) if comp else self.first("Patient")
        return found if found is None or found.get("resourceType") == "Patient" else None

    def section(self, key: str) -> list[Json]:
        """The resources listed in a Composition section, by its key in mappings/fhir.yaml."""
        found = self._listed.get(key)
        if found is None:
            found = self._listed[key] = [r for r in self.section_entries(key) if section_type_fits(key, r)]
        return found.copy()

    def section_entries(self, key: str) -> list[Json]:
        """Every resource a section lists, of whatever type (`section` keeps those of the section's `type`)."""
        section = self.section_element(key)
        comp = self.composition  # a section may list a resource contained in the Composition ('#o1')
        return [r for r in (self.resolve(ref, comp) for ref in as_list(section.get("entry")))
                if r is not None] if section else []

    def section_element(self, key: str) -> Json | None:
        return self.section_codes().get(section_code(key))

    def section_codes(self) -> dict[str, Json]:
        """The section read for each code the Composition's sections carry (_index_sections)."""
        by_code = self._sections
        if by_code is None:
            by_code = self._sections = self._index_sections()
        return by_code

    def _index_sections(self) -> dict[str, Json]:
        """The Composition's sections by code (for each code the first section with it, as a search in order
        finds), sub-sections included: R4 nests sections (`section.section`), and some document builders put
        the ICSR sections under one of their own ("Adverse event")."""
        found: dict[str, Json] = {}
        pending = list(as_list((self.composition or {}).get("section")))
        while pending:
            section = pending.pop(0)
            if not isinstance(section, dict):
                continue
            for c in codings(section.get("code")):
                code = c.get("code")
                if isinstance(code, str) and code not in found:
                    found[code] = section
            pending[:0] = as_list(section.get("section"))  # depth first, in document order
        return found


def composition_of(bundle: Json) -> Json | None:
    """The Bundle's Composition (a document's first entry) without indexing the whole Bundle."""
    entries = bundle.get("entry") if isinstance(bundle, dict) else None
    for entry in entries if isinstance(entries, list) else []:
        resource = entry.get("resource") if isinstance(entry, dict) else None
        if isinstance(resource, dict) and resource.get("resourceType") == "Composition":
            return resource
    return None


def section_code(key: str) -> str:
    code = _section_codes().get(key)
    if code is None:
        raise KeyError(key)
    return code


def section_type_fits(key: str, resource: Json) -> bool:
    """Whether a resource is of the one type the readers take from a section (mappings/fhir.yaml `type`)."""
    wanted = _section_types().get(key)
    return wanted is None or resource.get("resourceType") == wanted


@cache
def _section_types() -> dict[str, str]:
    return {spec["key"]: spec["type"] for spec in fhir_tables().sections if spec.get("type")}


@cache
def _section_codes() -> dict[str, str]:
    return {spec["key"]: spec["code"] for spec in fhir_tables().sections}


def as_list(value: Any) -> list[Any]:
    """A FHIR list element, or [] when it is missing or (in a damaged resource) not a list."""
    return value if isinstance(value, list) else []


def codings(concept: Any) -> list[Json]:
    """The codings of a CodeableConcept, skipping anything that is not a JSON object."""
    if not isinstance(concept, dict):
        return []
    found = concept.get("coding")
    return [c for c in found if isinstance(c, dict)] if isinstance(found, list) else []


def concept_text(concept: Any) -> str | None:
    """A CodeableConcept in words: its text, else its first coding's display, else that coding's code (another
    system's causality result or method often comes coded only, e.g. SNOMED CT 385644000 "Probable")."""
    if not isinstance(concept, dict):
        return None
    first = (codings(concept) or [{}])[0]
    for value in (concept.get("text"), first.get("display"), first.get("code")):
        if isinstance(value, str) and value.strip():
            return value
    return None


def named(concept: Any) -> str | None:
    """A concept in the sender's words: its text, else the display of its first coding other than MedDRA's that
    has one. An EHR or integration engine codes a drug in RxNorm, a reaction or indication in SNOMED CT, with
    the name as the display and often no text; a bare code is no name, and a MedDRA display is read as the
    MedDRA term, not as the words reported."""
    if not isinstance(concept, dict):
        return None
    for value in (concept.get("text"),
                  *(c.get("display") for c in codings(concept) if not in_system(c.get("system"), "meddra"))):
        if isinstance(value, str) and value.strip():
            return value
    return None


def result_words(obs: Any) -> str | None:
    """A test result given in words (E2B F.r.3.4): valueString, or a coded value such as SNOMED CT 260385009
    "Negative" in its words (the case model holds no coded result other than E2B's own F.r.3.1 list)."""
    if not isinstance(obs, dict):
        return None
    found = obs.get("valueString")
    return found if isinstance(found, str) and found else concept_text(obs.get("valueCodeableConcept"))


def interpretation_results(obs: Any) -> list[str | None]:
    """The E2B test result (F.r.3.1, a key of codes.yaml test_result) each Observation.interpretation says:
    by a code of E2B's own list, else by a code of another system that says the same (mappings/fhir.yaml
    `interpretation_results`: v3 POS, SNOMED CT 260385009 Negative ...); None where it says none (v3 H, L, N)."""
    table, foreign = code_list("test_result"), fhir_tables().interpretation_results
    ich = f"urn:oid:{table.oid}"
    found: list[str | None] = []
    for concept in as_list(obs.get("interpretation")) if isinstance(obs, dict) else []:
        said = [(str(c.get("system")), c["code"]) for c in codings(concept) if isinstance(c.get("code"), str)]
        own = next((table.key_for_e2b(code) for where, code in said if where == ich), None)
        found.append(own or next((foreign[where][code] for where, code in said
                                  if code in foreign.get(where, {})), None))
    return found


def result_of_test(obs: Any) -> str | None:
    """A test's result in E2B's list (F.r.3.1): what its first interpretation that says one says."""
    return next((r for r in interpretation_results(obs) if r), None)


def record_source(identifier: Any) -> str | None:
    """The kind of medical record (D.1.1.1-4: gp, specialist, hospital, investigation) a Patient.identifier
    numbers, by its system's OID root; None for another organisation's system, which E2B has no place for."""
    uri = identifier.get("system") if isinstance(identifier, dict) else None
    root = uri[8:] if isinstance(uri, str) and uri.startswith("urn:oid:") else None
    return next((key for key, entry in code_list("record_source").codes.items()
                 if root and entry.model_extra.get("id_root") == root), None)


def sex_null_flavor(person: Any) -> str | None:
    """The E2B null flavor of a Patient's sex (D.5, D.10.6): the reason on `_gender`, else the one a gender
    ISO 5218 has no code for is held and sent as (mappings/fhir.yaml `gender_null_flavors`: unknown, other)."""
    if not isinstance(person, dict):
        return None
    gender = person.get("gender")
    return primitive_absent(person, "gender") or (
        fhir_tables().gender_null_flavors.get(gender) if isinstance(gender, str) else None)


_TIME_UNITS = frozenset({"s", "min", "h", "d", "wk", "mo", "a"})
_HOURS = {"h": 1, "d": 24, "wk": 168}


def repeat_interval(repeat: Any) -> Json | None:
    """Timing.repeat frequency/period as one interval (E2B's 'every N units'): 2 per 1 d -> every 12 h. None
    when there is no period, or a frequency over a period that does not divide into hours (2 per 1 mo)."""
    if not isinstance(repeat, dict):
        return None
    period, unit = repeat.get("period"), repeat.get("periodUnit") or "d"
    frequency = repeat.get("frequency") or 1
    if not isinstance(period, int | float) or isinstance(period, bool) or unit not in _TIME_UNITS \
            or not isinstance(frequency, int) or frequency < 1:
        return None
    if frequency == 1:
        return {"value": period, "unit": unit}
    if unit in _HOURS:
        return {"value": round(period * _HOURS[unit] / frequency, 4), "unit": "h"}
    return None


def extensions(element: Json | None, key: str) -> list[Json]:
    """Extensions of an element with the URL named `key` in mappings/fhir.yaml."""
    if not isinstance(element, dict):
        return []
    found = element.get("extension")
    if not isinstance(found, list) or not found:
        return []
    url = ext(key)
    return [e for e in found if isinstance(e, dict) and e.get("url") == url]


def extension(element: Json | None, key: str) -> Json | None:
    if not isinstance(element, dict):
        return None
    found = element.get("extension")
    if not isinstance(found, list) or not found:
        return None
    url = ext(key)
    for e in found:
        if isinstance(e, dict) and e.get("url") == url:
            return e
    return None


def value_of(ext_or_element: Json | None) -> Any:
    """The value[x] of an extension (or of a sub-extension), whatever its type."""
    if not isinstance(ext_or_element, dict):
        return None
    for k, v in ext_or_element.items():
        if k.startswith(_VALUE_KEYS_PREFIX) and k != "value":
            return v
    return ext_or_element.get("value")


def ext_value(element: Json | None, key: str) -> Any:
    return value_of(extension(element, key))


def literature_reference(doc: Json | None) -> str | None:
    """C.4.r.1 of a literature DocumentReference: its citation with its DOI, which the case file may give
    apart (`doi`); the DOI is added unless the citation already names it, and stands alone without one."""
    citation = doc.get("description") if isinstance(doc, dict) else None
    doi = ext_value(doc, "literature_doi")
    if not isinstance(doi, str) or not doi.strip():
        return citation if isinstance(citation, str) else None
    if not isinstance(citation, str) or not citation.strip():
        return f"doi:{doi}"
    return citation if doi.lower() in citation.lower() else f"{citation.rstrip()} doi:{doi}"


def fda_report_type(comp: Json | None) -> tuple[str | None, Json | None]:
    """FDA.C.1.7.1 of a Composition as (key of codes.yaml fda_report_type, or None; the guide's sub-extension
    that says one this project cannot read, or None): this project's extension {fda_report_type}, else HL7's
    ICSR guide's localCriteriaReportType inside {expedited_report} (mappings/fhir.yaml guide_fda_report_types)."""
    table = code_list("fda_report_type")
    own = ext_value(comp, "fda_report_type")
    if isinstance(own, dict) and own.get("code"):
        return table.key_for_e2b(own["code"]), None
    stated = sub_extension(extension(comp, "expedited_report"), "localCriteriaReportType")
    if stated is None:
        return None, None
    guide, fda = fhir_tables().guide_fda_report_types, f"urn:oid:{table.oid}"
    for c in codings(value_of(stated)):
        code = c.get("code")
        if c.get("system") == guide.get("system") and code in guide.get("codes", {}):
            return guide["codes"][code], None
        if c.get("system") == fda and isinstance(code, str) and table.key_for_e2b(code):
            return table.key_for_e2b(code), None
    return None, stated


def most_recent(bundle: Json) -> str | None:
    """C.1.5, the date of the most recent information for the case, of an ICSR Bundle."""
    return datetime_at(extension(composition_of(bundle), "most_recent_date"), "valueDateTime")


def datetime_at(holder: Json | None, field: str) -> str | None:
    """The date or date-time at `holder[field]` as the case holds it: with the time of day the builder put
    beside a day (a local time, whose zone was not stated; a birth time), else the element as it is."""
    value = holder.get(field) if isinstance(holder, dict) else None
    if not isinstance(value, str):
        return None
    beside = holder.get(f"_{field}")  # type: ignore[union-attr]
    if isinstance(beside, dict) and len(value) == 10:
        for e in as_list(beside.get("extension")):
            url = e.get("url") if isinstance(e, dict) else None
            if url == ext("local_time") and isinstance(e.get("valueTime"), str):
                return f"{value}T{e['valueTime']}"
            if url == ext("birth_time") and isinstance(e.get("valueDateTime"), str):
                return e["valueDateTime"]
    return value


def sub_extension(extension_: Json | None, name: str) -> Json | None:
    """A named sub-extension of a complex extension (its value, or the absent reason that stands for one)."""
    if not isinstance(extension_, dict):
        return None
    subs = extension_.get("extension")
    return next((sub for sub in (subs if isinstance(subs, list) else ())
                 if isinstance(sub, dict) and sub.get("url") == name), None)


def sub_value(extension_: Json | None, name: str) -> Any:
    """Value of a named sub-extension of a complex extension."""
    sub = sub_extension(extension_, name)
    return value_of(sub) if sub is not None else None


def absent_reason(extension_holder: Json | None) -> str | None:
    """E2B null flavor (MSK, ASKU, NASK, UNK, NI, NA) carried by an element's extensions, if any."""
    if not isinstance(extension_holder, dict):
        return None
    exts = [e for e in as_list(extension_holder.get("extension")) if isinstance(e, dict)]
    for e in exts:
        if e.get("url") == ext("null_flavor") and isinstance(e.get("valueCode"), str):
            return e.get("valueCode")
    for e in exts:
        if e.get("url") == ext("data_absent_reason"):
            code = e.get("valueCode")
            key = code_list("null_flavor").key_for_fhir(code) if isinstance(code, str) else None
            return code_list("null_flavor").codes[key].e2b if key else "UNK"
    return None


def primitive_absent(element: Json, field: str) -> str | None:
    """Null flavor of a primitive field, from its `_field` extensions."""
    return absent_reason(element.get(f"_{field}"))


@dataclass(frozen=True)
class Relative:
    """A time relative to a drug: value (negative = before) in a UCUM unit, from its first or last dose."""

    value: float
    unit: str
    drug_reference: str
    anchor: str  # "first-dose" | "last-dose"
    qualifier: str | None = None  # "about" | "within" | "at-least"
    high: float | None = None  # the upper end of a range
    as_stated: str | None = None  # the author's words

    def phrase(self) -> str | None:
        """How the author qualified the time, for people: 'within', 'about', 'at least', 'about 3-4 weeks' (the
        unit in words, not the UCUM '3-4 wk'); None when the time is a plain number."""
        from reporter.render.units import unit_text

        words = QUALIFIER_WORDS.get(self.qualifier or "")
        span = None if self.high is None else \
            f"{abs(self.value):g}-{abs(self.high):g} {unit_text(self.unit, abs(self.high))}"
        return " ".join(w for w in (words, span) if w) or None


QUALIFIER_WORDS = {"about": "about", "within": "within", "at-least": "at least"}  # a relative time's, for people


def relative_from_extension(extension_: Json) -> Relative | None:
    if not isinstance(extension_, dict) or extension_.get("url") != ext("relative_time"):
        return None
    target = sub_value(extension_, "target")
    target = target if isinstance(target, dict) else {}
    relationship = sub_value(extension_, "relationship")
    relationship = relationship if isinstance(relationship, str) else "after-start"
    offset = sub_value(extension_, "offset")
    offset = offset if isinstance(offset, dict) else {}
    try:
        value = float(offset.get("value", 0))
    except (TypeError, ValueError):
        return None
    if relationship.startswith("before"):
        value = -value
    return Relative(
        value=value,
        unit=offset.get("code") or offset.get("unit") or "d",
        drug_reference=target.get("reference") if isinstance(target.get("reference"), str) else "",
        anchor="last-dose" if relationship.endswith("end") else "first-dose",
        qualifier={"<=": "within", "<": "within", ">=": "at-least", ">": "at-least"}.get(offset.get("comparator")),
    )


def _with_detail(rel: Relative, holder: Json) -> Relative:
    """Add what the relative-time-detail extension beside it says (approximately, range end, words)."""
    detail = next((e for e in as_list(holder.get("extension"))
                   if isinstance(e, dict) and e.get("url") == ext("relative_time_detail")), None)
    if detail is None:
        return rel
    high = sub_value(detail, "high")
    try:
        high_value = float(high.get("value")) if isinstance(high, dict) else None
    except (TypeError, ValueError):
        high_value = None
    if high_value is not None and rel.value < 0:
        high_value = -high_value
    words = sub_value(detail, "asStated")
    return Relative(rel.value, rel.unit, rel.drug_reference, rel.anchor,
                    "about" if sub_value(detail, "approximate") is True else rel.qualifier,
                    high_value, words if isinstance(words, str) else None)


def relative_time(element: Json | None, field: str | None = None) -> Relative | None:
    """The relative time on a primitive (`_field`) or inside a date-valued extension."""
    if not isinstance(element, dict):
        return None
    holder = element.get(f"_{field}") if field else element
    if not isinstance(holder, dict):
        return None
    for e in as_list(holder.get("extension")):
        rel = relative_from_extension(e)
        if rel:
            return _with_detail(rel, holder)
    return None


def coding(concept: Json | None, system_key: str) -> Json | None:
    """The first coding of a CodeableConcept in a system named in mappings/fhir.yaml, under its URI or one of
    its aliases (`system_aliases`: the ICSR guide's http://meddra.org), or in a full URI."""
    for c in codings(concept):
        found = c.get("system")
        if (found == system_key) if ":" in system_key else in_system(found, system_key):
            return c
    return None


def oid_coding(concept: Json | None, oid: str) -> Json | None:
    return coding(concept, f"urn:oid:{oid}")


def seriousness_criteria(event: Json | None, code_system: str | None = None) -> dict[str, bool | str]:
    """An AdverseEvent's seriousness criteria: criterion code -> True / False / the null flavor of a
    criterion that is not known (NI...). By default the ICH criteria (E.i.3.2a-f, ICH observation codes);
    `code_system` (a URI) names another list, e.g. FDA's for FDA.E.i.3.2h."""
    wanted = code_system or f"urn:oid:{code_list('seriousness_criterion').oid}"
    found: dict[str, bool | str] = {}
    for e in extensions(event, "seriousness_criterion"):
        coding_ = sub_value(e, "criterionCode")
        code = coding_.get("code") if isinstance(coding_, dict) else None
        if not isinstance(code, str) or coding_.get("system") != wanted:
            continue
        present = sub_value(e, "criterionPresent")
        found[code] = present if isinstance(present, bool) else (absent_reason(e) or "NI")
    if code_system is None:
        for code in (*_r4_seriousness(event), *guide_seriousness(event)):
            found.setdefault(code, True)
    return found


def guide_seriousness(event: Json | None) -> list[str]:
    """ICH criterion codes (E.i.3.2a-f) of HL7's ICSR guide's form: `AdverseEvent.seriousness` with one extension
    {event_seriousness} per criterion, coded in ICH's list. Another list's code (NCI's Emergency Room ...) is none."""
    wanted = f"urn:oid:{code_list('seriousness_criterion').oid}"
    concept = (event or {}).get("seriousness")
    return [c["code"] for e in extensions(concept if isinstance(concept, dict) else None, "event_seriousness")
            for c in codings(value_of(e)) if c.get("system") == wanted and isinstance(c.get("code"), str)]


def _r4_seriousness(event: Json | None) -> list[str]:
    """ICH criterion codes an R4 AdverseEvent.seriousness code says (SeriousResultsInDeath -> 34): how a Bundle
    without this project's criterion extensions states them (mappings/codes.yaml `fhir`)."""
    table, wanted = code_list("seriousness_criterion"), system("ae_seriousness")
    keys = (table.key_for_fhir(c.get("code")) for c in codings((event or {}).get("seriousness"))
            if c.get("system") == wanted and isinstance(c.get("code"), str))
    return [table.e2b(k) for k in keys if k]


def criteria_present(event: Json | None) -> set[str]:
    """The codes of the seriousness criteria that hold."""
    return {code for code, value in seriousness_criteria(event).items() if value is True}


def text(holder: Json | None, key: str) -> tuple[str | None, str | None]:
    """A FHIR primitive's (value, E2B null flavor): the value, or the reason on `_key` (build.put)."""
    if not isinstance(holder, dict):
        return None, None
    value = holder.get(key)
    if isinstance(value, str):
        return value, None
    return None, primitive_absent(holder, key)


def ext_text(element: Json | None, key: str) -> tuple[str | None, str | None]:
    """A string extension's (value, E2B null flavor): its value[x], or the reason its sub-extensions give
    (build.text_extension)."""
    holder = extension(element, key)
    value = value_of(holder)
    if isinstance(value, str):
        return value, None
    return None, absent_reason(holder)


NAME_PARTS = ("family", "given", "prefix")


def has_name_parts(name: Json) -> bool:
    """Whether a HumanName gives parts (or the reasons parts are missing), not only a text."""
    return any(name.get(k) or name.get(f"_{k}") for k in NAME_PARTS)

def texts(holder: Json | None, key: str) -> list[tuple[str | None, str | None]]:
    """A repeating primitive's items in place, each (value, null flavor) (build.put_list)."""
    if not isinstance(holder, dict):
        return []
    values, reasons = as_list(holder.get(key)), as_list(holder.get(f"_{key}"))
    out = []
    for i, value in enumerate(values):
        flavor = absent_reason(reasons[i]) if i < len(reasons) else None
        if isinstance(value, str) or flavor:
            out.append((value if isinstance(value, str) else None, flavor))
    return out


# -- a drug's Medication as other producers give it: R4 elements read where the case file has the field ------


def dosage_batch(dosage: Json | None, medication: Json | None) -> str | None:
    """G.k.4.r.7 of a dosage: its own extension {dosage_batch}, else its Medication's batch.lotNumber (R4)."""
    own = ext_value(dosage, "dosage_batch")
    if isinstance(own, str) and own:
        return own
    batch = medication.get("batch") if isinstance(medication, dict) else None
    lot = batch.get("lotNumber") if isinstance(batch, dict) else None
    return lot if isinstance(lot, str) and lot.strip() else None


def dosage_form(dosage: Json | None, medication: Json | None) -> Json | None:
    """G.k.4.r.9 of a dosage: its own extension {dose_form}, else its Medication's form (R4), as its text and its
    EDQM codings only: E2B's dose form TermID is EDQM's, so a SNOMED CT or other code is not held (said by
    validation, unread_medication_form); a form with neither text nor an EDQM code is None."""
    own = ext_value(dosage, "dose_form")
    if isinstance(own, dict) and own:
        return own
    form = medication.get("form") if isinstance(medication, dict) else None
    if not isinstance(form, dict):
        return None
    edqm = [c for c in codings(form) if c.get("system") == system("edqm") and c.get("code")]
    text = form.get("text") if isinstance(form.get("text"), str) and form["text"].strip() else None
    text = text or next((c["display"] for c in codings(form)
                         if isinstance(c.get("display"), str) and c["display"].strip()), None)
    if not (text or edqm):
        return None
    return {**({"coding": edqm} if edqm else {}), **({"text": text} if text else {})}


def ingredient_strength(ingredient: Json | None) -> Json | None:
    """G.k.2.3.r.3 of an ingredient as a Quantity per one unit: its own extension {strength}, else R4's
    ingredient.strength Ratio read as the case file holds it (strength_of_ratio)."""
    own = ext_value(ingredient, "strength")
    if isinstance(own, dict) and own.get("value") is not None:
        return own
    ratio = ingredient.get("strength") if isinstance(ingredient, dict) else None
    return strength_of_ratio(ratio)[0] if isinstance(ratio, dict) else None


def strength_of_ratio(ratio: Json) -> tuple[Json | None, str | None]:
    """(Quantity per one unit, or None with why) of a Ratio strength: 500 mg / 1 tablet is 500 mg (per unit of
    the form: a denominator without a UCUM unit, or an annotation such as {tbl}); 5 mg / 1 mL is 5 mg/mL; 250 mg /
    5 mL is 50 mg/mL when that quotient is exact to 4 decimals. The numerator needs a value and a UCUM unit."""
    num, den = (ratio.get(k) if isinstance(ratio.get(k), dict) else {} for k in ("numerator", "denominator"))
    value, unit = num.get("value"), _ucum_code(num)
    if not isinstance(value, int | float) or isinstance(value, bool) or not unit:
        return None, "its numerator needs a value and a UCUM unit (system http://unitsofmeasure.org, code)"
    per = den.get("value", 1) if den else 1
    if not isinstance(per, int | float) or isinstance(per, bool) or per <= 0:
        return None, "its denominator has no positive value"
    den_unit = _ucum_code(den)
    if den_unit is None and den and not (isinstance(den.get("code"), str) and den["code"]) \
            and isinstance(den.get("unit"), str) and den["unit"].strip():
        return None, "its denominator's unit has no code: a unit of the form or of measure cannot be told apart"
    if den_unit in (None, "1") or den_unit.startswith("{"):
        if per != 1:
            return None, "its denominator counts more than one unit of the form"
        return {"value": value, "code": unit, "unit": unit, "system": system("ucum")}, None
    quotient = value / per
    if abs(quotient - round(quotient, 4)) > 1e-9:
        return None, f"{value:g} {unit} per {per:g} {den_unit} is no exact amount per one {den_unit}"
    code = f"{unit}/{den_unit}"
    return {"value": round(quotient, 4), "code": code, "unit": code, "system": system("ucum")}, None


def _ucum_code(q: Json) -> str | None:
    """A Quantity's UCUM code: `code` in the UCUM system (or with no system given); None for another system's
    code (v3 orderableDrugForm TAB: a unit of the form, not of measure) or none."""
    code = q.get("code")
    if not isinstance(code, str) or not code:
        return None
    return code if q.get("system") in (None, system("ucum")) else None
