"""D: patient (with history, past drugs, death) and parent: the primaryRole block -> E2B XML."""

from __future__ import annotations

from reporter.e2b.context import (
    OBS,
    Ctx,
    Json,
    ich_code,
    loinc_of,
    meddra,
    ts,
    ucum,
)
from reporter.e2b.write.common import SEX, mdr_value, period, product_code
from reporter.e2b.write.section_c import person_name, study
from reporter.e2b.write.section_e import reaction
from reporter.e2b.write.section_f import tests
from reporter.e2b.xmlw import Node, bl, el, leaf, observation, wrap
from reporter.fhir import read
from reporter.tables import code_list

DEATH_DATE, DEATH_CAUSE, AUTOPSY = "31211-6", "69453-9", "85699-7"


def patient_role(ctx: Ctx, assessment: Node, relative_notes: dict[str, str]) -> Node:
    role = wrap(assessment, "subject1", "SBJ", "primaryRole", classCode="INVSBJ")
    patient = ctx.index.patient or {}
    player(ctx, role, patient)
    study(ctx, role)
    patient_observations(ctx, role)
    history(ctx, role)
    past_drugs(ctx, role, ctx.index.section("past_drugs"), "D.8.r")
    death(ctx, role)
    for event in ctx.index.section("reactions"):
        reaction(ctx, role, event)
    tests(ctx, role, relative_notes)
    return role


def player(ctx: Ctx, role: Node, patient: Json) -> None:
    person = el(role, "player1", classCode="PSN", determinerCode="INSTANCE")
    name = (patient.get("name") or [{}])[0]
    if name.get("text"):
        leaf(person, "name", text=name["text"])
    elif read.has_name_parts(name):
        person_name(person, name)  # a name in parts, as the sender structured it
    else:
        leaf(person, "name", nullFlavor=read.absent_reason(name) or "UNK")
    gender = patient.get("gender")
    if gender in SEX:
        leaf(person, "administrativeGenderCode", code=SEX[gender], codeSystem="1.0.5218")
    elif gender or patient.get("_gender"):
        leaf(person, "administrativeGenderCode", nullFlavor=read.sex_null_flavor(patient) or "UNK")
    if patient.get("birthDate"):
        leaf(person, "birthTime", value=ts(read.datetime_at(patient, "birthDate")))
    elif read.primitive_absent(patient, "birthDate"):
        leaf(person, "birthTime", nullFlavor=read.primitive_absent(patient, "birthDate"))
    if patient.get("deceasedDateTime"):
        leaf(person, "deceasedTime", value=ts(read.datetime_at(patient, "deceasedDateTime")))
    elif (flavor := death_date_absent(ctx)) and ctx.allows_null_flavor("D.9.1", flavor):
        leaf(person, "deceasedTime", nullFlavor=flavor)  # another reason is left out (`validate` warns)
    for ident in patient.get("identifier") or []:
        kind = read.record_source(ident)
        if kind is None:
            continue  # another organisation's number is no D.1.1.1-4 record number (`validate` says not read)
        entity = el(person, "asIdentifiedEntity", classCode="IDENT")
        value, flavor = read.text(ident, "value")
        root = (ident.get("system") or "").removeprefix("urn:oid:")
        if value or not flavor:
            leaf(entity, "id", root=root, extension=value)
        else:
            leaf(entity, "id", root=root, nullFlavor=flavor)
        leaf(entity, "code", code=code_list("record_source").e2b(kind), codeSystem=code_list("record_source").oid)
    parent(ctx, person)


def parent(ctx: Ctx, person: Node) -> None:
    resources = ctx.index.section("parent")
    mother = next((r for r in resources if r.get("resourceType") == "Patient"), None)
    if mother is None:
        return
    role = el(person, "role", classCode="PRS")
    leaf(role, "code", code="PRN", codeSystem="2.16.840.1.113883.5.111")
    who = el(role, "associatedPerson", classCode="PSN", determinerCode="INSTANCE")
    name = (mother.get("name") or [{}])[0]
    if name.get("text"):
        leaf(who, "name", text=name["text"])
    elif read.absent_reason(name):
        leaf(who, "name", nullFlavor=read.absent_reason(name))
    gender = mother.get("gender")
    if gender in SEX:
        leaf(who, "administrativeGenderCode", code=SEX[gender], codeSystem="1.0.5218")
    elif flavor := read.sex_null_flavor(mother):
        leaf(who, "administrativeGenderCode", nullFlavor=flavor)
    if mother.get("birthDate"):
        leaf(who, "birthTime", value=ts(read.datetime_at(mother, "birthDate")))
    elif flavor := read.primitive_absent(mother, "birthDate"):
        leaf(who, "birthTime", nullFlavor=flavor)
    for obs in (r for r in resources if r.get("resourceType") == "Observation"):
        patient_observation(ctx, role, obs, {"30525-0": "3", "29463-7": "7", "8302-2": "17", "8665-2": "22"})
    conditions = [r for r in resources if r.get("resourceType") == "Condition"]
    text = read.ext_value(mother, "history_text")
    if conditions or text:
        history_organizer(ctx, role, conditions, text, None, parent=True)
    past_drugs(ctx, role, [r for r in resources if r.get("resourceType") == "MedicationStatement"], "D.10.8.r")


def null_flavor_of(reason: Json) -> str:
    """The HL7 null flavor of an Observation.dataAbsentReason (build.dar_concept), UNK without one."""
    return next((c.get("code") for c in reason.get("coding") or []
                 if c.get("system", "").endswith("v3-NullFlavor")), "UNK")


def patient_observation(ctx: Ctx, role: Node, obs: Json, codes: dict[str, str]) -> None:
    code = codes.get(loinc_of(obs) or "")
    if code is None:
        return
    node = observation(role, "subjectOf2", "SBJ", code, OBS)
    if "valueQuantity" in obs:
        value, unit = ucum(obs["valueQuantity"])
        leaf(node, "value", xsi_type="PQ", value=value, unit=unit)
    elif "valueCodeableConcept" in obs:
        ctx.ich(node, "value", ich_code(obs["valueCodeableConcept"], 9) or "", 9, xsi_type="CE")
    elif "valueDateTime" in obs:
        leaf(node, "value", xsi_type="TS", value=ts(read.datetime_at(obs, "valueDateTime")))
    elif "dataAbsentReason" in obs and code in ("22",):  # D.6 / D.10.3 LMP withheld or not known
        leaf(node, "value", xsi_type="TS", nullFlavor=null_flavor_of(obs["dataAbsentReason"]))


def patient_observations(ctx: Ctx, role: Node) -> None:
    """D.2.2 age at onset, D.2.2.1 gestation, D.2.3 age group, D.3 weight, D.4 height, D.6 LMP, FDA race."""
    events = ctx.index.all("AdverseEvent")
    age = next((read.ext_value(e, "age_at_onset") for e in events if read.ext_value(e, "age_at_onset")), None)
    if age:
        value, unit = ucum(age)
        leaf(observation(role, "subjectOf2", "SBJ", "3", OBS, "age"), "value", xsi_type="PQ", value=value, unit=unit)
    order = {"11884-4": "16", "46251-5": "4", "29463-7": "7", "8302-2": "17", "8665-2": "22"}
    observations = [o for o in ctx.index.section("patient") if o.get("resourceType") == "Observation"]
    for code in order:
        for obs in observations:
            if loinc_of(obs) == code:
                patient_observation(ctx, role, obs, order)
    patient = ctx.index.patient or {}
    for number, key in (("FDA.D.11.r", "race"), ("FDA.D.12", "ethnicity")):
        held = read.extensions(patient, key)
        regional = ctx.regional(number, bool(held))
        if not regional:
            continue
        values = held or [None]  # required by FDA: UNK when the case has none
        for value in values:
            node = wrap(role, "subjectOf2", "SBJ", "observation", classCode="OBS", moodCode="EVN")
            leaf(node, "code", **regional["code"])
            concept = (value or {}).get("valueCodeableConcept")
            coding = (concept or {}).get("coding", [{}])[0]
            if coding.get("code"):
                leaf(node, "value", xsi_type="CE", code=coding["code"], codeSystem=regional["value_system"],
                     displayName=coding.get("display") or (concept or {}).get("text"))
            else:
                leaf(node, "value", xsi_type="CE", nullFlavor=(read.absent_reason(value) if value else None)
                     or regional.get("null_flavor", "UNK"))


def history(ctx: Ctx, role: Node) -> None:
    conditions = ctx.index.section("history")
    text, flavor = read.ext_text(ctx.composition, "history_text")
    concomitant = read.ext_value(ctx.composition, "concomitant_therapies")
    if conditions or text or flavor or concomitant is not None:
        history_organizer(ctx, role, conditions, text, concomitant, text_flavor=flavor)


def history_organizer(ctx: Ctx, role: Node, conditions: list[Json], text: str | None,
                      concomitant: bool | None, text_flavor: str | None = None, parent: bool = False) -> None:
    organizer = wrap(role, "subjectOf2", "SBJ", "organizer", classCode="CATEGORY", moodCode="EVN")
    ctx.ich(organizer, "code", "1", 20)
    for index, cond in enumerate(conditions, 1):
        obs = wrap(organizer, "component", "COMP", "observation", classCode="OBS", moodCode="EVN")
        mdr_value(obs, cond.get("code"), tag="code", xsi_type=None)
        _term_without_code(ctx, cond, index, parent)
        period(obs, cond, "onsetDateTime", "abatementDateTime")
        for note in cond.get("note") or []:
            leaf(observation(obs, "outboundRelationship2", "COMP", "10", OBS), "value", xsi_type="ED",
                 text=note.get("text"))
        family = read.ext_value(cond, "family_history")
        if family is not None:
            bl(observation(obs, "outboundRelationship2", "EXPL", "38", OBS), family)
        status = cond.get("clinicalStatus")
        if status:
            continuing = observation(obs, "inboundRelationship", "REFR", "13", OBS)
            code = (status.get("coding") or [{}])[0].get("code")
            if code:
                bl(continuing, code == "active")
            else:
                bl(continuing, None, read.absent_reason(status) or "UNK")
    if text or text_flavor:
        obs = wrap(organizer, "component", "COMP", "observation", classCode="OBS", moodCode="EVN")
        leaf(obs, "code", code="18", codeSystem=OBS, displayName="historyAndConcurrentConditionText")
        if text:
            leaf(obs, "value", xsi_type="ED", text=text)
        else:
            leaf(obs, "value", xsi_type="ED", nullFlavor=text_flavor)
    if concomitant is not None:
        obs = wrap(organizer, "component", "COMP", "observation", classCode="OBS", moodCode="EVN")
        leaf(obs, "code", code="11", codeSystem=OBS, displayName="concomitantTherapy")
        bl(obs, bool(concomitant))


def _term_without_code(ctx: Ctx, condition: Json, index: int, parent: bool) -> None:
    """D.7.1.r.1b / D.10.7.1.r.1b take only a MedDRA code: a condition held as a term alone is not sent, and said."""
    term = (condition.get("code") or {}).get("text")
    if meddra(condition.get("code")) or not term:
        return
    number, owner, place = (("D.10.7.1.r.1b", "the parent's", f"parent history {index}") if parent
                            else ("D.7.1.r.1b", "the patient's", f"history {index}"))
    ctx.unplaced.append((number, f"{owner} medical history item {term!r} has no MedDRA code, and E2B takes only "
                                 "the code there", place,
                         "give its MedDRA LLT code, or say it in the history text (D.7.2 / D.10.7.2)"))


def past_drugs(ctx: Ctx, role: Node, statements: list[Json], prefix: str) -> None:
    """D.8.r (patient) or D.10.8.r (parent, `prefix`) past drugs."""
    if not statements:
        return
    organizer = wrap(role, "subjectOf2", "SBJ", "organizer", classCode="CATEGORY", moodCode="EVN")
    ctx.ich(organizer, "code", "2", 20)
    whose = "past drug" if prefix == "D.8.r" else "parent's past drug"
    for k, statement in enumerate(statements, 1):
        admin = wrap(organizer, "component", "COMP", "substanceAdministration", classCode="SBADM",
                     moodCode="EVN")
        period(admin, statement.get("effectivePeriod") or {}, "start", "end")
        kind = el(wrap(admin, "consumable", "CSM", "instanceOfKind", classCode="INST"),
                  "kindOfProduct", classCode="MMAT", determinerCode="KIND")
        name, flavor = read.text(statement.get("medicationCodeableConcept"), "text")
        name = name or (None if flavor else read.named(statement.get("medicationCodeableConcept")))
        product_code(ctx, kind, statement.get("medicationCodeableConcept"), (f"{prefix}.2b", f"{prefix}.3b"),
                     lambda k=k, name=name: (f"{whose} {k}" + (f" ({name})" if name else ""), f"{whose} {k}"))
        if name:
            leaf(kind, "name", text=name)
        elif flavor:
            leaf(kind, "name", nullFlavor=flavor)
        for reason in statement.get("reasonCode") or []:
            if meddra(reason):
                mdr_value(observation(admin, "outboundRelationship2", "RSON", "19", OBS), reason)
        reaction_ = read.ext_value(statement, "past_drug_reaction")
        if meddra(reaction_):
            mdr_value(observation(admin, "outboundRelationship2", "CAUS", "29", OBS), reaction_)


def death_date_absent(ctx: Ctx) -> str | None:
    """The null flavor of a date of death the case withholds or does not know (its Observation's reason)."""
    found = next((o for o in ctx.index.section("death") if loinc_of(o) == DEATH_DATE), None)
    return read.primitive_absent(found, "valueDateTime") if found is not None else None


def death(ctx: Ctx, role: Node) -> None:
    for obs in ctx.index.section("death"):
        code = loinc_of(obs)
        if code == DEATH_CAUSE and obs.get("status") == "preliminary":
            node = observation(role, "subjectOf2", "SBJ", "32", OBS, "reportedCauseOfDeath")
            cause(node, obs.get("valueCodeableConcept") or {})
    autopsy = next((o for o in ctx.index.section("death") if loinc_of(o) == AUTOPSY), None)
    found = [o for o in ctx.index.section("death") if loinc_of(o) == DEATH_CAUSE and o.get("status") == "final"]
    if autopsy is not None or found:  # causes an autopsy found sit in D.9.3's block, said or not whether one was done
        node = observation(role, "subjectOf2", "SBJ", "5", OBS, "autopsy")
        if autopsy is not None and "valueBoolean" in autopsy:
            bl(node, autopsy["valueBoolean"])
        elif autopsy is not None:
            bl(node, None, null_flavor_of(autopsy.get("dataAbsentReason") or {}))
        for obs in found:
            cause(observation(node, "outboundRelationship2", "DRIV", "8", OBS, "causeOfDeath"),
                  obs.get("valueCodeableConcept") or {})


def cause(node: Node, concept: Json) -> None:
    value = mdr_value(node, concept) if meddra(concept) else el(node, "value", xsi_type="CE")
    if concept.get("text"):
        leaf(value, "originalText", text=concept["text"])
