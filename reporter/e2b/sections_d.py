"""D patient, E reactions, F tests: the primaryRole block of adverseEventAssessment."""

from __future__ import annotations

from reporter.e2b.context import ISO_COUNTRY, MEDDRA, OBS, Ctx, Json, ich_code, loinc_of, meddra, ts, ucum, uuid_of
from reporter.e2b.xmlw import Node, bl, el, observation
from reporter.fhir import read
from reporter.tables import system

SEX = {"male": "1", "female": "2"}
SERIOUSNESS = ["34", "21", "33", "35", "12", "26"]   # E.i.3.2a-f, in order
OUTCOME = {"resolved": "1", "recovering": "2", "ongoing": "3", "resolvedWithSequelae": "4", "fatal": "5",
           "unknown": "0"}
DEATH_DATE, DEATH_CAUSE, AUTOPSY = "31211-6", "69453-9", "85699-7"


def patient_role(ctx: Ctx, assessment: Node, relative_notes: dict[str, str]) -> Node:
    role = el(el(assessment, "subject1", typeCode="SBJ"), "primaryRole", classCode="INVSBJ")
    patient = ctx.index.patient or {}
    player(ctx, role, patient)
    study(ctx, role)
    patient_observations(ctx, role)
    history(ctx, role)
    past_drugs(ctx, role, ctx.index.section("past_drugs"))
    death(ctx, role)
    for event in ctx.index.section("reactions"):
        reaction(ctx, role, event)
    tests(ctx, role, relative_notes)
    return role


def player(ctx: Ctx, role: Node, patient: Json) -> None:
    person = el(role, "player1", classCode="PSN", determinerCode="INSTANCE")
    name = (patient.get("name") or [{}])[0]
    if name.get("text"):
        el(person, "name", text=name["text"])
    else:
        el(person, "name", nullFlavor=read.absent_reason(name) or "UNK")
    gender = patient.get("gender")
    if gender in SEX:
        el(person, "administrativeGenderCode", code=SEX[gender], codeSystem="1.0.5218")
    elif gender or patient.get("_gender"):
        el(person, "administrativeGenderCode", nullFlavor=read.primitive_absent(patient, "gender") or "UNK")
    if patient.get("birthDate"):
        el(person, "birthTime", value=ts(patient["birthDate"]))
    elif read.primitive_absent(patient, "birthDate"):
        el(person, "birthTime", nullFlavor=read.primitive_absent(patient, "birthDate"))
    if patient.get("deceasedDateTime"):
        el(person, "deceasedTime", value=ts(patient["deceasedDateTime"]))
    for ident in patient.get("identifier") or []:
        entity = el(person, "asIdentifiedEntity", classCode="IDENT")
        el(entity, "id", root=(ident.get("system") or "").removeprefix("urn:oid:"), extension=ident.get("value"))
        el(entity, "code", code={"7": "1", "8": "2", "9": "3", "10": "4"}.get(
            (ident.get("system") or "").rsplit(".", 1)[-1], "3"), codeSystem="2.16.840.1.113883.3.989.2.1.1.4")
    parent(ctx, person)


def parent(ctx: Ctx, person: Node) -> None:
    resources = ctx.index.section("parent")
    mother = next((r for r in resources if r.get("resourceType") == "Patient"), None)
    if mother is None:
        return
    role = el(person, "role", classCode="PRS")
    el(role, "code", code="PRN", codeSystem="2.16.840.1.113883.5.111")
    who = el(role, "associatedPerson", classCode="PSN", determinerCode="INSTANCE")
    name = (mother.get("name") or [{}])[0]
    if name.get("text"):
        el(who, "name", text=name["text"])
    elif read.absent_reason(name):
        el(who, "name", nullFlavor=read.absent_reason(name))
    gender = mother.get("gender")
    if gender in SEX:
        el(who, "administrativeGenderCode", code=SEX[gender], codeSystem="1.0.5218")
    elif read.primitive_absent(mother, "gender"):
        el(who, "administrativeGenderCode", nullFlavor=read.primitive_absent(mother, "gender"))
    if mother.get("birthDate"):
        el(who, "birthTime", value=ts(mother["birthDate"]))
    for obs in (r for r in resources if r.get("resourceType") == "Observation"):
        patient_observation(ctx, role, obs, {"30525-0": "3", "29463-7": "7", "8302-2": "17", "8665-2": "22"})
    conditions = [r for r in resources if r.get("resourceType") == "Condition"]
    text = read.ext_value(mother, "history_text")
    if conditions or text:
        history_organizer(ctx, role, conditions, text, None)
    past_drugs(ctx, role, [r for r in resources if r.get("resourceType") == "MedicationStatement"])


def study(ctx: Ctx, role: Node) -> None:
    found = next((ctx.index.resolve(s) for e in ctx.index.all("AdverseEvent") for s in e.get("study") or []),
                 None)
    if not found:
        return
    research = el(el(role, "subjectOf1", typeCode="SBJ"), "researchStudy", classCode="CLNTRL", moodCode="EVN")
    idents = found.get("identifier") or []
    sponsor = next((i for i in idents if i.get("system", "").endswith(".3.5")), None)
    el(research, "id", root="2.16.840.1.113883.3.989.2.1.3.5", extension=sponsor.get("value")) if sponsor \
        else el(research, "id", nullFlavor="NI")
    study_type = ich_code((found.get("category") or [None])[0], 8)
    if study_type:
        ctx.ich(research, "code", study_type, 8)
    if found.get("title"):
        el(research, "title", text=found["title"])
    for number, key in (("FDA.C.5.5a", "fda_ind"), ("FDA.C.5.5b", "fda_pre_anda"),
                        ("FDA.C.5.6.r", "fda_cross_reported_ind")):
        regional = ctx.receiver.regional_element(number)
        for ident in (i for i in idents if i.get("system") == system(key)) if regional else ():
            reg = el(el(research, "authorization", typeCode="AUTH"), "studyRegistration", classCode="ACT",
                     moodCode="EVN")
            el(reg, "id", root=regional["root"], extension=ident.get("value"))
    for ident in idents:
        if not ident.get("system", "").endswith(".3.6"):
            continue
        reg = el(el(research, "authorization", typeCode="AUTH"), "studyRegistration", classCode="ACT",
                 moodCode="EVN")
        el(reg, "id", root="2.16.840.1.113883.3.989.2.1.3.6", extension=ident.get("value"))
        country = read.ext_value(ident, "registration_country")
        if country:
            place = el(el(el(reg, "author", typeCode="AUT"), "territorialAuthority", classCode="TERR"),
                       "governingPlace", classCode="COUNTRY", determinerCode="INSTANCE")
            el(place, "code", code=country, codeSystem=ISO_COUNTRY)


def patient_observation(ctx: Ctx, role: Node, obs: Json, codes: dict[str, str]) -> None:
    code = codes.get(loinc_of(obs) or "")
    if code is None:
        return
    node = observation(role, "subjectOf2", "SBJ", code, OBS)
    if "valueQuantity" in obs:
        value, unit = ucum(obs["valueQuantity"])
        el(node, "value", xsi_type="PQ", value=value, unit=unit)
    elif "valueCodeableConcept" in obs:
        ctx.ich(node, "value", ich_code(obs["valueCodeableConcept"], 9) or "", 9, xsi_type="CE")
    elif "valueDateTime" in obs:
        el(node, "value", xsi_type="TS", value=ts(obs["valueDateTime"]))


def patient_observations(ctx: Ctx, role: Node) -> None:
    """D.2.2 age at onset, D.2.2.1 gestation, D.2.3 age group, D.3 weight, D.4 height, D.6 LMP, FDA race."""
    events = ctx.index.all("AdverseEvent")
    age = next((read.ext_value(e, "age_at_onset") for e in events if read.ext_value(e, "age_at_onset")), None)
    if age:
        value, unit = ucum(age)
        el(observation(role, "subjectOf2", "SBJ", "3", OBS, "age"), "value", xsi_type="PQ", value=value, unit=unit)
    order = {"11884-4": "16", "46251-5": "4", "29463-7": "7", "8302-2": "17", "8665-2": "22"}
    observations = [o for o in ctx.index.section("patient") if o.get("resourceType") == "Observation"]
    for code in order:
        for obs in observations:
            if loinc_of(obs) == code:
                patient_observation(ctx, role, obs, order)
    patient = ctx.index.patient or {}
    for number, key in (("FDA.D.11.r", "race"), ("FDA.D.12", "ethnicity")):
        regional = ctx.receiver.regional_element(number)
        if not regional:
            continue
        values = read.extensions(patient, key) or [None]  # required by FDA: UNK when the case has none
        for value in values:
            node = el(el(role, "subjectOf2", typeCode="SBJ"), "observation", classCode="OBS", moodCode="EVN")
            el(node, "code", **regional["code"])
            concept = (value or {}).get("valueCodeableConcept")
            coding = (concept or {}).get("coding", [{}])[0]
            if coding.get("code"):
                el(node, "value", xsi_type="CE", code=coding["code"], codeSystem=regional["value_system"],
                   displayName=coding.get("display"))
            else:
                el(node, "value", xsi_type="CE", nullFlavor=(read.absent_reason(value) if value else None)
                   or regional.get("null_flavor", "UNK"))


def mdr_value(parent: Node, concept: Json | None, tag: str = "value", xsi_type: str | None = "CE") -> Node:
    coding = meddra(concept) or {}
    return el(parent, tag, xsi_type=xsi_type, code=coding.get("code"), codeSystem=MEDDRA,
              codeSystemVersion=coding.get("version"))


def history(ctx: Ctx, role: Node) -> None:
    conditions = ctx.index.section("history")
    text = read.ext_value(ctx.composition, "history_text")
    concomitant = read.ext_value(ctx.composition, "concomitant_therapies")
    if conditions or text or concomitant is not None:
        history_organizer(ctx, role, conditions, text, concomitant)


def history_organizer(ctx: Ctx, role: Node, conditions: list[Json], text: str | None,
                      concomitant: bool | None) -> None:
    organizer = el(el(role, "subjectOf2", typeCode="SBJ"), "organizer", classCode="CATEGORY", moodCode="EVN")
    ctx.ich(organizer, "code", "1", 20)
    for cond in conditions:
        obs = el(el(organizer, "component", typeCode="COMP"), "observation", classCode="OBS", moodCode="EVN")
        mdr_value(obs, cond.get("code"), tag="code", xsi_type=None)
        period(obs, cond, "onsetDateTime", "abatementDateTime")
        for note in cond.get("note") or []:
            el(observation(obs, "outboundRelationship2", "COMP", "10", OBS), "value", xsi_type="ED",
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
    if text:
        obs = el(el(organizer, "component", typeCode="COMP"), "observation", classCode="OBS", moodCode="EVN")
        el(obs, "code", code="18", codeSystem=OBS, displayName="historyAndConcurrentConditionText")
        el(obs, "value", xsi_type="ED", text=text)
    if concomitant is not None:
        obs = el(el(organizer, "component", typeCode="COMP"), "observation", classCode="OBS", moodCode="EVN")
        el(obs, "code", code="11", codeSystem=OBS, displayName="concomitantTherapy")
        bl(obs, bool(concomitant))


def period(node: Node, resource: Json, start: str, end: str) -> None:
    low, high = resource.get(start), resource.get(end)
    low_nf, high_nf = read.primitive_absent(resource, start), read.primitive_absent(resource, end)
    if not (low or high or low_nf or high_nf):
        return
    time = el(node, "effectiveTime", xsi_type="IVL_TS")
    if low or low_nf:
        el(time, "low", value=ts(low), nullFlavor=None if low else low_nf)
    if high or high_nf:
        el(time, "high", value=ts(high), nullFlavor=None if high else high_nf)


def past_drugs(ctx: Ctx, role: Node, statements: list[Json]) -> None:
    if not statements:
        return
    organizer = el(el(role, "subjectOf2", typeCode="SBJ"), "organizer", classCode="CATEGORY", moodCode="EVN")
    ctx.ich(organizer, "code", "2", 20)
    for statement in statements:
        admin = el(el(organizer, "component", typeCode="COMP"), "substanceAdministration", classCode="SBADM",
                   moodCode="EVN")
        period(admin, statement.get("effectivePeriod") or {}, "start", "end")
        kind = el(el(el(admin, "consumable", typeCode="CSM"), "instanceOfKind", classCode="INST"),
                  "kindOfProduct", classCode="MMAT", determinerCode="KIND")
        product_code(kind, statement.get("medicationCodeableConcept"))
        el(kind, "name", text=(statement.get("medicationCodeableConcept") or {}).get("text"))
        for reason in statement.get("reasonCode") or []:
            if meddra(reason):
                mdr_value(observation(admin, "outboundRelationship2", "RSON", "19", OBS), reason)
        reaction_ = read.ext_value(statement, "past_drug_reaction")
        if meddra(reaction_):
            mdr_value(observation(admin, "outboundRelationship2", "CAUS", "29", OBS), reaction_)


def product_code(kind: Node, concept: Json | None) -> None:
    """G.k.2.1 / D.8.r.2-3: the first product identifier (MPID, PhPID or a regional code such as an NDC).
    E2B has one code element; an identifier without a code system OID has no place there."""
    for coding in read.codings(concept):
        if read.ext_value(coding, "product_id_kind") and str(coding.get("system", "")).startswith("urn:oid:"):
            el(kind, "code", code=coding.get("code"), codeSystem=coding["system"][8:],
               codeSystemVersion=coding.get("version"))
            return


def death(ctx: Ctx, role: Node) -> None:
    for obs in ctx.index.section("death"):
        code = loinc_of(obs)
        if code == DEATH_CAUSE and obs.get("status") == "preliminary":
            node = observation(role, "subjectOf2", "SBJ", "32", OBS, "reportedCauseOfDeath")
            cause(node, obs.get("valueCodeableConcept") or {})
    autopsy = next((o for o in ctx.index.section("death") if loinc_of(o) == AUTOPSY), None)
    if autopsy is not None:
        node = observation(role, "subjectOf2", "SBJ", "5", OBS, "autopsy")
        if "valueBoolean" in autopsy:
            bl(node, autopsy["valueBoolean"])
        else:
            reason = autopsy.get("dataAbsentReason") or {}
            flavor = next((c.get("code") for c in reason.get("coding") or []
                           if c.get("system", "").endswith("v3-NullFlavor")), "UNK")
            bl(node, None, flavor)
        for obs in ctx.index.section("death"):
            if loinc_of(obs) == DEATH_CAUSE and obs.get("status") == "final":
                cause(observation(node, "outboundRelationship2", "DRIV", "8", OBS, "causeOfDeath"),
                      obs.get("valueCodeableConcept") or {})


def cause(node: Node, concept: Json) -> None:
    value = mdr_value(node, concept) if meddra(concept) else el(node, "value", xsi_type="CE")
    if concept.get("text"):
        el(value, "originalText", text=concept["text"])


def reaction(ctx: Ctx, role: Node, event: Json) -> None:
    """E.i: one observation per AdverseEvent."""
    obs = el(el(role, "subjectOf2", typeCode="SBJ"), "observation", classCode="OBS", moodCode="EVN")
    el(obs, "id", root=uuid_of(event))  # an imported one keeps its own
    el(obs, "code", code="29", codeSystem=OBS, displayName="reaction")
    reaction_time(obs, event)
    concept = event.get("event") or {}
    value = mdr_value(obs, concept)
    translation = read.extension(concept.get("_text"), "translation")
    language = read.sub_value(translation, "lang") if translation else None
    if language and language != "und":
        el(value, "originalText", language=language, text=concept.get("text"))
    country = read.ext_value(event, "reaction_country")
    if country:
        place = el(el(el(obs, "location", typeCode="LOC"), "locatedEntity", classCode="LOCE"), "locatedPlace",
                   classCode="COUNTRY", determinerCode="INSTANCE")
        el(place, "code", code=country, codeSystem=ISO_COUNTRY)
    english = read.sub_value(translation, "content") if translation else None
    text = english or (concept.get("text") if not language or language == "und" else None)
    if text:
        el(observation(obs, "outboundRelationship2", "PERT", "30", OBS, "reactionForTranslation"), "value",
           xsi_type="ED", text=text)
    highlighted = ich_code(read.ext_value(event, "highlighted_by_reporter"), 10)
    criteria = read.criteria_present(event)
    if highlighted:
        serious = bool(criteria)
        code = {("1", False): "1", ("2", False): "2", ("1", True): "3", ("2", True): "4"}[(highlighted, serious)]
        ctx.ich(observation(obs, "outboundRelationship2", "PERT", "37", OBS, "termHighlightedByReporter"),
                "value", code, 10, xsi_type="CE")
    for code in SERIOUSNESS:  # the case holds the criteria that apply; the others are written NI
        node = observation(obs, "outboundRelationship2", "PERT", code, OBS)
        bl(node, True if code in criteria else None)
    intervention = ctx.receiver.regional_element("FDA.E.i.3.2h")
    if intervention:
        flags = read.seriousness_criteria(event, f"urn:oid:{intervention['code']['codeSystem']}")
        node = el(el(obs, "outboundRelationship2", typeCode="PERT"), "observation", classCode="OBS", moodCode="EVN")
        el(node, "code", **intervention["code"])
        bl(node, True if flags.get(intervention["code"]["code"]) is True else None)
    outcome = ((event.get("outcome") or {}).get("coding") or [{}])[0].get("code")
    node = observation(obs, "outboundRelationship2", "PERT", "27", OBS, "outcome")
    ctx.ich(node, "value", OUTCOME.get(outcome or "unknown", "0"), 11, xsi_type="CE")
    confirmed = read.ext_value(event, "medically_confirmed")
    if confirmed is not None:
        bl(observation(obs, "outboundRelationship2", "PERT", "24", OBS, "medicalConfirmationByHP"), confirmed)


def reaction_time(obs: Node, event: Json) -> None:
    """E.i.4 start, E.i.5 end, E.i.6 duration. Relative times go to the drug-reaction interval instead."""
    start = event.get("date")
    start_nf = read.primitive_absent(event, "date")
    date_exts = (event.get("_date") or {}).get("extension") or []
    end = next((e.get("valueDateTime") for e in date_exts if e.get("url") == read.ext("event_end_date")), None)
    end_ext = next((e for e in date_exts if e.get("url") == read.ext("reaction_end")), None)
    end_nf = read.absent_reason(end_ext) if end_ext else None
    duration = next((e.get("valueDuration") for e in date_exts if e.get("url") == read.ext("event_duration")),
                    None)
    allowed = {"MSK", "ASKU", "NASK"}
    start_nf = start_nf if start_nf in allowed else None
    end_nf = end_nf if end_nf in allowed else None
    if not (start or end or duration or start_nf or end_nf):
        return
    bounds = [("low", start, start_nf), ("high", end, end_nf)]
    if duration:
        time = el(obs, "effectiveTime", xsi_type="SXPR_TS")
        comp = el(time, "comp", xsi_type="IVL_TS")  # without dates an empty interval: SXPR_TS needs two comps
        for tag, value, flavor in bounds:
            if value or flavor:
                el(comp, tag, value=ts(value), nullFlavor=None if value else flavor)
        value, unit = ucum(duration)
        el(el(time, "comp", xsi_type="IVL_TS", operator="A"), "width", value=value, unit=unit)
        return
    time = el(obs, "effectiveTime", xsi_type="IVL_TS")
    for tag, value, flavor in bounds:
        if value or flavor:
            el(time, tag, value=ts(value), nullFlavor=None if value else flavor)


COMPARATOR = {"<": ("high", "false"), "<=": ("high", "true"), ">": ("low", "false"), ">=": ("low", "true")}


def tests(ctx: Ctx, role: Node, relative_notes: dict[str, str]) -> None:
    observations = ctx.index.section("tests")
    if not observations:
        return
    organizer = el(el(role, "subjectOf2", typeCode="SBJ"), "organizer", classCode="CATEGORY", moodCode="EVN")
    ctx.ich(organizer, "code", "3", 20)
    for obs in observations:
        test(ctx, organizer, obs, relative_notes)


def test(ctx: Ctx, organizer: Node, obs: Json, relative_notes: dict[str, str]) -> None:
    node = el(el(organizer, "component", typeCode="COMP"), "observation", classCode="OBS", moodCode="EVN")
    concept = obs.get("code") or {}
    code = mdr_value(node, concept, tag="code", xsi_type=None)
    if concept.get("text"):
        el(code, "originalText", text=concept["text"])
    when = obs.get("effectiveDateTime")
    notes = [n.get("text") for n in obs.get("note") or [] if n.get("text")]
    relative = read.relative_time(obs, "effectiveDateTime")
    if when:
        el(node, "effectiveTime", value=ts(when))
    else:
        flavor = read.primitive_absent(obs, "effectiveDateTime")
        el(node, "effectiveTime", nullFlavor=flavor or "UNK")
        if relative:
            notes.insert(0, describe_relative(relative, relative_notes))
    quantity = obs.get("valueQuantity")
    if quantity:
        value = el(node, "value", xsi_type="IVL_PQ")
        number, unit = ucum(quantity)
        comparator = quantity.get("comparator")
        if comparator in COMPARATOR:
            bound, inclusive = COMPARATOR[comparator]
            other = "low" if bound == "high" else "high"
            if other == "low":
                el(value, "low", nullFlavor="NINF")
            el(value, bound, value=number, unit=unit, inclusive=inclusive)
            if other == "high":
                el(value, "high", nullFlavor="PINF")
        else:
            el(value, "center", value=number, unit=unit)
    elif obs.get("valueString"):
        el(node, "value", xsi_type="ED", text=obs["valueString"])
    result = ich_code((obs.get("interpretation") or [None])[0], 12)
    if result:
        ctx.ich(node, "interpretationCode", result, 12)
    for ref in obs.get("referenceRange") or []:
        for bound, flag in (("low", "L"), ("high", "H")):
            if ref.get(bound):
                number, unit = ucum(ref[bound])
                rng = el(el(node, "referenceRange", typeCode="REFV"), "observationRange", classCode="OBS",
                         moodCode="EVN.CRT")
                el(rng, "value", xsi_type="PQ", value=number, unit=unit)
                el(rng, "interpretationCode", code=flag, codeSystem="2.16.840.1.113883.5.83")
    text = read.ext_value(obs, "result_text")
    if text:
        notes.append(f"Result: {text}")
    if notes:
        el(observation(node, "outboundRelationship2", "REFR", "10", OBS, "comment"), "value", xsi_type="ED",
           text="; ".join(notes))
    more = read.ext_value(obs, "more_info")
    if more is not None:
        bl(observation(node, "outboundRelationship2", "REFR", "25", OBS, "moreInformationAvailable"), more)


def describe_relative(relative: read.Relative, drug_names: dict[str, str]) -> str:
    drug = drug_names.get(relative.drug_reference, "the drug")
    anchor = "first" if relative.anchor == "first-dose" else "last"
    value = int(relative.value) if float(relative.value).is_integer() else relative.value
    units = {"d": "day", "wk": "week", "mo": "month", "a": "year", "h": "hour", "min": "minute"}
    unit = units.get(relative.unit, relative.unit)
    qualified = f" ({relative.as_stated or relative.phrase()})" if relative.as_stated or relative.phrase() else ""
    if value < 0:
        return f"{-value} {unit}(s) before the {anchor} dose of {drug}{qualified}"
    return f"{unit.capitalize()} {value} after the {anchor} dose of {drug}{qualified}"
