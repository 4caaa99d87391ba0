"""C: report identification, primary sources, sender, literature, other ids, study (C.5) -> E2B XML."""

from __future__ import annotations

from reporter.e2b.context import (
    ISO_COUNTRY,
    OBS,
    Ctx,
    Json,
    ich_code,
    identifier_value,
    section_text,
    ts,
)
from reporter.e2b.xmlw import Node, bl, el, leaf, wrap
from reporter.fhir import read
from reporter.tables import code_list, system


def report_head(ctx: Ctx, event: Node) -> None:
    """C.1.1, C.1.8.1, H.1, C.1.4, C.1.5 and the references (C.1.6.1.r, C.4.r): investigationEvent's head."""
    comp = ctx.composition
    leaf(event, "id", root="2.16.840.1.113883.3.989.2.1.3.1",
         extension=identifier_value(comp.get("identifier"), "safety_report_id"))
    worldwide = read.ext_value(comp, "case_identifier") or {}
    leaf(event, "id", root="2.16.840.1.113883.3.989.2.1.3.2",
         extension=worldwide.get("value") or identifier_value(comp.get("identifier"), "safety_report_id"))
    leaf(event, "code", code="PAT_ADV_EVNT", codeSystem="2.16.840.1.113883.5.4")
    narrative, _ = section_text(ctx, "narrative")
    leaf(event, "text", text=narrative) if narrative else leaf(event, "text", nullFlavor="NI")
    leaf(event, "statusCode", code="active")
    low = el(event, "effectiveTime")
    leaf(low, "low", value=ts(read.datetime_at(read.extension(comp, "first_receive_date"), "valueDateTime")))
    leaf(event, "availabilityTime", value=ts(read.datetime_at(read.extension(comp, "most_recent_date"),
                                                              "valueDateTime")))
    documents = read.extension(comp, "additional_documents")
    for sub in (documents or {}).get("extension") or []:
        if sub.get("url") == "document":
            doc = wrap(event, "reference", "REFR", "document", classCode="DOC", moodCode="EVN")
            ctx.ich(doc, "code", "1", 27)
            leaf(doc, "title", text=(sub.get("valueAttachment") or {}).get("title"))
            included_file(doc, sub.get("valueAttachment"))
    for ref in ctx.index.section("literature"):
        doc = wrap(event, "reference", "REFR", "document", classCode="DOC", moodCode="EVN")
        ctx.ich(doc, "code", "2", 27)
        for content in (ref.get("content") or [])[1:2]:  # C.4.r.2: the article itself
            included_file(doc, content.get("attachment"))
        leaf(doc, "bibliographicDesignationText", text=read.literature_reference(ref))


def included_file(doc: Node, attachment: Json | None) -> None:
    """C.1.6.1.r.2 / C.4.r.2: an included document as an ED (base64, media type, the sender's reference)."""
    attachment = attachment or {}
    data = attachment.get("data") or read.ext_value(attachment, "attachment_data_as_sent")
    if not attachment.get("contentType") or not data:
        return
    text = el(doc, "text", mediaType=attachment["contentType"], representation="B64",
              compression=read.ext_value(attachment, "attachment_compression"))
    reference = attachment.get("url") or read.ext_value(attachment, "attachment_reference")
    if reference:
        leaf(text, "reference", value=reference)
        text.add_tail(data)
    else:
        text.text = data


def report_components(ctx: Ctx, event: Node) -> None:
    """C.1.6.1 and C.1.7 (and the receiver's regional C elements) as investigationEvent components."""
    comp = ctx.composition
    documents = read.extension(comp, "additional_documents")
    # C.1.6.1 as the case says it, else whether it lists documents (the model's documented default; an import of
    # a report without it says that an export writes what ICH allows).
    wrapper = el(event, "component", typeCode="COMP")
    obs = el(wrapper, "observationEvent", classCode="OBS", moodCode="EVN")
    leaf(obs, "code", code="1", codeSystem=OBS, displayName="additionalDocumentsAvailable")
    bl(obs, bool(read.sub_value(documents, "availableFlag")) if documents else False)
    expedited = read.sub_value(read.extension(comp, "expedited_report"), "localCriteriaFlag")
    wrapper = el(event, "component", typeCode="COMP")
    obs = el(wrapper, "observationEvent", classCode="OBS", moodCode="EVN")
    leaf(obs, "code", code="23", codeSystem=OBS, displayName="localCriteriaForExpedited")
    bl(obs, expedited)
    key, _ = read.fda_report_type(comp)
    held = code_list("fda_report_type").e2b(key) if key else None
    report_type = ctx.regional("FDA.C.1.7.1", bool(held))
    if report_type:  # as the case says, else derived from C.1.7 (an assumption the case does not hold)
        chosen = {"code": held} if held else report_type["values"]["true" if expedited else "false"]
        obs = wrap(event, "component", "COMP", "observationEvent", classCode="OBS", moodCode="EVN")
        leaf(obs, "code", **report_type["code"])
        leaf(obs, "value", xsi_type="CE", code=chosen["code"], codeSystem=report_type["value_system"],
             displayName=chosen.get("displayName"))
    value = read.ext_value(comp, "combination_product")
    combination = ctx.regional("FDA.C.1.12", isinstance(value, bool))
    if combination:
        obs = wrap(event, "component", "COMP", "observationEvent", classCode="OBS", moodCode="EVN")
        leaf(obs, "code", **combination["code"])
        bl(obs, value if isinstance(value, bool) else None)  # required by FDA: NI when the case is silent
    _, summaries = section_text(ctx, "narrative")
    for language, text in summaries:
        obs = wrap(event, "component", "COMP", "observationEvent", classCode="OBS", moodCode="EVN")
        leaf(obs, "code", code="36", codeSystem=OBS, displayName="summaryAndComment")
        leaf(obs, "value", xsi_type="ED", language=language, text=text)
        author = wrap(obs, "author", "AUT", "assignedEntity", classCode="ASSIGNED")
        ctx.ich(author, "code", "2", 21)


def report_relations(ctx: Ctx, event: Node) -> None:
    """C.1.8.2 first sender, C.1.10.r linked reports, C.2.r primary sources (outboundRelationship)."""
    comp = ctx.composition
    first = ich_code(read.ext_value(comp, "first_sender_type"), 3)
    # not known (a received report lacked it): said as such, and the rules refuse the export until supplied
    unknown = read.absent_reason(read.extension(comp, "first_sender_type")) if not first else None
    rel = el(event, "outboundRelationship", typeCode="SPRT")
    first = first or ("" if unknown else "2")
    inv = el(rel, "relatedInvestigation", classCode="INVSTG", moodCode="EVN")
    ctx.ich(inv, "code", "1", 22)
    act = wrap(inv, "subjectOf2", "SUBJ", "controlActEvent", classCode="CACT", moodCode="EVN")
    entity = wrap(act, "author", "AUT", "assignedEntity", classCode="ASSIGNED")
    if unknown:
        leaf(entity, "code", nullFlavor=unknown, codeSystem="2.16.840.1.113883.3.989.2.1.1.3")
    else:
        ctx.ich(entity, "code", first, 3)
    for linked in read.extensions(comp, "linked_report"):
        rel = el(event, "outboundRelationship", typeCode="SPRT")
        inv = el(rel, "relatedInvestigation", classCode="INVSTG", moodCode="EVN")
        leaf(inv, "code", nullFlavor="NA")
        act = wrap(inv, "subjectOf2", "SUBJ", "controlActEvent", classCode="CACT", moodCode="EVN")
        leaf(act, "id", root="2.16.840.1.113883.3.989.2.1.3.2", extension=(linked.get("valueIdentifier") or {})
             .get("value"))
    for author in comp.get("author") or []:
        role = ctx.index.resolve(author)
        if role and role.get("resourceType") == "PractitionerRole":
            primary_source(ctx, event, author, role)


def primary_source(ctx: Ctx, event: Node, author: Json, role: Json) -> None:
    person = ctx.index.resolve(role.get("practitioner"), role) or {}
    rel = el(event, "outboundRelationship", typeCode="SPRT")
    if read.ext_value(author, "author_primary_source"):
        leaf(rel, "priorityNumber", value="1")
    inv = el(rel, "relatedInvestigation", classCode="INVSTG", moodCode="EVN")
    ctx.ich(inv, "code", "2", 22)
    act = wrap(inv, "subjectOf2", "SUBJ", "controlActEvent", classCode="CACT", moodCode="EVN")
    entity = wrap(act, "author", "AUT", "assignedEntity", classCode="ASSIGNED")
    address = (person.get("address") or [{}])[0]
    # a reporter's email is FDA's regional element (FDA.C.2.r.2.8); ICH has none
    telecom = person.get("telecom") or []
    email = any(p.get("system") == "email" and any(read.text(p, "value")) for p in telecom)
    address_and_telecom(entity, address, telecom, with_email=ctx.regional("FDA.C.2.r.2.8", email) is not None)
    who = el(entity, "assignedPerson", classCode="PSN", determinerCode="INSTANCE")
    person_name(who, (person.get("name") or [None])[0])
    qualification = (role.get("code") or [None])[0]
    qual = el(who, "asQualifiedEntity", classCode="QUAL")
    code = ich_code(qualification, 6)
    if code:
        ctx.ich(qual, "code", code, 6)
    else:
        # ICH's list, as senders write it beside the null flavor: the case holds no trace of whether the received
        # one had it (the Bundle's origin decided, so an imported case lost it and its case file kept it)
        leaf(qual, "code", codeSystem="2.16.840.1.113883.3.989.2.1.1.6",
             nullFlavor=read.absent_reason(qualification) or "UNK")
    country, country_flavor = read.text(address, "country")
    if country or country_flavor:
        place = el(el(who, "asLocatedEntity", classCode="LOCE"), "location", classCode="COUNTRY",
                   determinerCode="INSTANCE")
        if country:
            leaf(place, "code", code=country, codeSystem=ISO_COUNTRY)
        else:
            leaf(place, "code", nullFlavor=country_flavor)
    organisation = read.text(role.get("organization"), "display")
    department = read.ext_text(role, "department")
    if any(organisation) or any(department):
        org = el(entity, "representedOrganization", classCode="ORG", determinerCode="INSTANCE")
        if any(department):
            text_element(org, "name", *department)
        if any(organisation):
            inner = el(el(org, "assignedEntity", classCode="ASSIGNED"), "representedOrganization",
                       classCode="ORG", determinerCode="INSTANCE")
            text_element(inner, "name", *organisation)


def text_element(parent: Node, tag: str, value: str | None, flavor: str | None) -> None:
    """An element with its text, or with the null flavor of a value withheld or not known."""
    if value:
        leaf(parent, tag, text=value)
    elif flavor:
        leaf(parent, tag, nullFlavor=flavor)


def address_and_telecom(entity: Node, address: Json, telecom: list[Json], *, with_email: bool = True) -> None:
    street = read.texts(address, "line")
    lines = {"streetAddressLine": (" ".join(v for v, _ in street if v) or None,
                                   next((f for v, f in street if f), None) if not any(v for v, _ in street)
                                   else None),
             "city": read.text(address, "city"), "state": read.text(address, "state"),
             "postalCode": read.text(address, "postalCode")}
    if any(any(pair) for pair in lines.values()):
        addr = el(entity, "addr")
        for tag, (value, flavor) in lines.items():
            text_element(addr, tag, value, flavor)
    prefixes = {"phone": "tel:", "fax": "fax:", "email": "mailto:"}
    for point in telecom:
        kind = point.get("system")
        value, flavor = read.text(point, "value")
        if kind in prefixes and (value or flavor) and (with_email or kind != "email"):
            if value:
                leaf(entity, "telecom", value=prefixes[kind] + value)
            else:  # the scheme says which element it is
                leaf(entity, "telecom", value=prefixes[kind], nullFlavor=flavor)


def person_name(who: Node, name: Json | None) -> None:
    if not name:
        return
    flavor = read.absent_reason(name)
    if flavor and not read.has_name_parts(name):
        leaf(who, "name", nullFlavor=flavor)
        return
    node = el(who, "name")
    for value, part_flavor in read.texts(name, "prefix"):
        text_element(node, "prefix", value, part_flavor)
    for value, part_flavor in read.texts(name, "given"):
        text_element(node, "given", value, part_flavor)
    text_element(node, "family", *read.text(name, "family"))


def report_sender(ctx: Ctx, event: Node) -> None:
    """C.3 sender (subjectOf1/controlActEvent/author) and C.1.9.1.r other case identifiers."""
    org = ctx.index.resolve(ctx.composition.get("custodian"))
    others = read.extensions(ctx.composition, "previous_case_identifier")
    rank = 0 if org else len(others)  # the sender first, then the other case ids
    for other in others[:rank]:
        other_case_id(event, other)
    if org:
        act = wrap(event, "subjectOf1", "SUBJ", "controlActEvent", classCode="CACT", moodCode="EVN")
        entity = wrap(act, "author", "AUT", "assignedEntity", classCode="ASSIGNED")
        sender_type = ich_code((org.get("type") or [None])[0], 7)
        ctx.ich(entity, "code", sender_type or "6", 7)
        address = (org.get("address") or [{}])[0]
        address_and_telecom(entity, address, org.get("telecom") or [])
        contact = ((org.get("contact") or [{}])[0]).get("name")
        if contact or address.get("country"):
            who = el(entity, "assignedPerson", classCode="PSN", determinerCode="INSTANCE")
            person_name(who, contact)
            if address.get("country"):
                place = el(el(who, "asLocatedEntity", classCode="LOCE"), "location", classCode="COUNTRY",
                           determinerCode="INSTANCE")
                leaf(place, "code", code=address["country"], codeSystem=ISO_COUNTRY)
        represented = el(entity, "representedOrganization", classCode="ORG", determinerCode="INSTANCE")
        department = read.ext_value(org, "department")
        if department:
            leaf(represented, "name", text=department)
        inner = el(el(represented, "assignedEntity", classCode="ASSIGNED"), "representedOrganization",
                   classCode="ORG", determinerCode="INSTANCE")
        leaf(inner, "name", text=org.get("name"))
    for other in others[rank:]:
        other_case_id(event, other)


def other_case_id(event: Node, other: Json) -> None:
    """C.1.9.1.r: one other case identifier (subjectOf1/controlActEvent/id)."""
    ident = other.get("valueIdentifier") or {}
    act = wrap(event, "subjectOf1", "SUBJ", "controlActEvent", classCode="CACT", moodCode="EVN")
    leaf(act, "id", root="2.16.840.1.113883.3.989.2.1.3.3", extension=ident.get("value"),
         assigningAuthorityName=(ident.get("assigner") or {}).get("display"))


def report_characteristics(ctx: Ctx, event: Node) -> None:
    """C.1.3 type of report, C.1.9.1 other case ids (true or NI), C.1.11 nullification / amendment."""
    comp = ctx.composition
    report_type = ich_code((comp.get("category") or [None])[0], 2)
    char = el(el(event, "subjectOf2", typeCode="SUBJ"),
              "investigationCharacteristic", classCode="OBS", moodCode="EVN")
    ctx.ich(char, "code", "1", 23)
    ctx.ich(char, "value", report_type or "4", 2, xsi_type="CE")
    # C.1.9.1: as the case says, else true when other case ids are known and NI otherwise.
    char = wrap(event, "subjectOf2", "SUBJ", "investigationCharacteristic", classCode="OBS",
                moodCode="EVN")
    ctx.ich(char, "code", "2", 23)
    flag = read.extension(comp, "previous_case_ids")
    held = read.value_of(flag) if flag else None
    known = held is True or (not flag and bool(read.extensions(comp, "previous_case_identifier")))
    bl(char, True if known else None)  # ICH allows true or NI here: a "no" is written NI
    amendment = read.extension(comp, "report_amendment")
    if amendment:
        kind = ich_code(read.sub_value(amendment, "amendmentType"), 5)
        char = wrap(event, "subjectOf2", "SUBJ", "investigationCharacteristic", classCode="OBS",
                    moodCode="EVN")
        ctx.ich(char, "code", "3", 23)
        ctx.ich(char, "value", kind or "2", 5, xsi_type="CE")
        reason = read.sub_value(amendment, "amendmentReason")
        if reason:
            char = wrap(event, "subjectOf2", "SUBJ", "investigationCharacteristic", classCode="OBS",
                        moodCode="EVN")
            ctx.ich(char, "code", "4", 23)
            value = el(char, "value", xsi_type="CE", codeSystem="2.16.840.1.113883.3.989.2.1.1.5")
            leaf(value, "originalText", text=reason)


def fda_ids(ctx: Ctx, research: Node, idents: list[Json]) -> None:
    """FDA.C.5.5a/b IND and pre-ANDA numbers, FDA.C.5.6.r cross-reported INDs: an IND number with no
    cross-reported IND sends FDA.C.5.6.r as nullFlavor NA, which FDA requires then (rule R0026)."""
    ind = False
    for number, key in (("FDA.C.5.5a", "fda_ind"), ("FDA.C.5.5b", "fda_pre_anda"),
                        ("FDA.C.5.6.r", "fda_cross_reported_ind")):
        held = [i for i in idents if i.get("system") == system(key)]
        regional = ctx.regional(number, bool(held))
        ind = ind or (number == "FDA.C.5.5a" and bool(held) and regional is not None)
        values = [{"extension": i.get("value")} for i in held] or \
            ([{"nullFlavor": "NA"}] if number == "FDA.C.5.6.r" and ind else [])
        for value in values if regional else ():
            reg = wrap(research, "authorization", "AUTH", "studyRegistration", classCode="ACT",
                       moodCode="EVN")
            leaf(reg, "id", root=regional["root"], **value)


def study(ctx: Ctx, role: Node) -> None:
    found = next((ctx.index.resolve(s) for e in ctx.index.all("AdverseEvent") for s in e.get("study") or []),
                 None)
    if not found:
        return
    research = wrap(role, "subjectOf1", "SBJ", "researchStudy", classCode="CLNTRL", moodCode="EVN")
    idents = found.get("identifier") or []
    sponsor = next((i for i in idents if i.get("system", "").endswith(".3.5")), None)
    number, flavor = read.text(sponsor, "value")
    if number:
        leaf(research, "id", root="2.16.840.1.113883.3.989.2.1.3.5", extension=number)
    elif flavor and ctx.allows_null_flavor("C.5.3", flavor):
        leaf(research, "id", root="2.16.840.1.113883.3.989.2.1.3.5", nullFlavor=flavor)
    # else no id (the schema makes it optional): C.5.3 takes ASKU and NASK only (`validate` warns of another)
    study_type = ich_code((found.get("category") or [None])[0], 8)
    if study_type:
        ctx.ich(research, "code", study_type, 8)
    text_element(research, "title", *read.text(found, "title"))
    fda_ids(ctx, research, idents)
    for ident in idents:
        if not ident.get("system", "").endswith(".3.6"):
            continue
        reg = wrap(research, "authorization", "AUTH", "studyRegistration", classCode="ACT",
                   moodCode="EVN")
        number, flavor = read.text(ident, "value")
        leaf(reg, "id", root="2.16.840.1.113883.3.989.2.1.3.6", **({"extension": number} if number or not flavor
                                                                  else {"nullFlavor": flavor}))
        country, country_flavor = read.ext_text(ident, "registration_country")
        if country or country_flavor:
            place = el(wrap(reg, "author", "AUT", "territorialAuthority", classCode="TERR"),
                       "governingPlace", classCode="COUNTRY", determinerCode="INSTANCE")
            if country:
                leaf(place, "code", code=country, codeSystem=ISO_COUNTRY)
            else:
                leaf(place, "code", nullFlavor=country_flavor)
