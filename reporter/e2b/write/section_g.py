"""G: drugs (product, devices, dosages, indications, drug-reaction matrix, roles, causality) -> E2B XML."""

from __future__ import annotations

from reporter.assess.onset import Span, administration_days, offset_days
from reporter.e2b.context import (
    ISO_COUNTRY,
    MEDDRA,
    OBS,
    Ctx,
    Json,
    ich_code,
    meddra,
    ts,
    ucum,
    uuid_of,
)
from reporter.e2b.write.common import category_organizer, mdr_value, product_code
from reporter.e2b.xmlw import Node, el, leaf, observation, wrap
from reporter.fhir import read
from reporter.tables import code_list, routes

Links = dict[str, list[tuple[Json, Json]]]   # the drug's key (BundleIndex.key) -> [(AdverseEvent, suspectEntity)]


def drug_links(ctx: Ctx) -> Links:
    """The reactions each drug is suspected of, by the drug's key: a server's Bundle refers to its entries
    as `MedicationStatement/12` or by absolute URL where ours writes urn:uuid."""
    links: Links = {}
    for event in ctx.index.section("reactions"):
        for entity in event.get("suspectEntity") or []:
            links.setdefault(ctx.index.key(entity.get("instance")), []).append((event, entity))
    return links


def drugs(ctx: Ctx, role: Node, links: Links) -> None:
    statements = ctx.index.section("drugs")
    if not statements:
        return
    organizer = category_organizer(ctx, role, "4")
    for statement in statements:
        drug(ctx, organizer, statement, links.get(ctx.index.key_of(statement), []))


def drug(ctx: Ctx, organizer: Node, statement: Json, links: list[tuple[Json, Json]]) -> None:
    admin = wrap(organizer, "component", "COMP", "substanceAdministration", classCode="SBADM",
                 moodCode="EVN")
    leaf(admin, "id", root=uuid_of(statement))  # an imported one keeps its own
    medication = ctx.index.medication_of(statement) or {
        "code": statement.get("medicationCodeableConcept") or {}}
    product(ctx, admin, medication, statement)
    timed = set()
    for event, entity in links + onset_only_links(ctx, statement, links):
        # a case authored here gets the intervals its dates give; an imported one says what its sender stated
        if intervals(ctx, admin, event, entity, statement):
            timed.add(id(event))
    for event, entity in links:
        _bare_link(ctx, statement, event, entity, id(event) in timed)
    for dosage in statement.get("dosage") or []:
        dose_line(ctx, admin, dosage, statement)
    cumulative = read.ext_value(statement, "cumulative_dose")
    if cumulative:
        value, unit = ucum(cumulative)
        leaf(observation(admin, "outboundRelationship2", "SUMM", "14", OBS, "cumulativeDoseToReaction"), "value",
             xsi_type="PQ", value=value, unit=unit)
    gestation = read.ext_value(statement, "gestation_at_exposure")
    if gestation:
        value, unit = ucum(gestation)
        leaf(observation(admin, "outboundRelationship2", "REFR", "16", OBS, "gestationPeriod"), "value",
             xsi_type="PQ", value=value, unit=unit)
    blinded = read.ext_value(medication, "blinded")
    if isinstance(blinded, bool):  # G.k.2.5 investigational product blinded
        leaf(observation(admin, "outboundRelationship2", "PERT", "6", OBS, "blinded"), "value", xsi_type="BL",
             value="true" if blinded else "false")
    for event, entity in links:
        rechallenge = ich_code(read.ext_value(entity, "rechallenge"), 16)
        if rechallenge:
            obs = observation(admin, "outboundRelationship2", "PERT", "31", OBS, "recurrenceOfReaction")
            ctx.ich(obs, "value", rechallenge, 16, xsi_type="CE")
            ref = wrap(obs, "outboundRelationship1", "REFR", "actReference", classCode="OBS",
                       moodCode="EVN")
            leaf(ref, "id", root=uuid_of(event))
    for info in read.extensions(statement, "additional_info"):
        code = ich_code(info.get("valueCoding"), 17)
        flavor = None if info.get("valueCoding") else read.absent_reason(info)
        if code:
            ctx.ich(observation(admin, "outboundRelationship2", "REFR", "9", OBS, "codedDrugInformation"),
                    "value", code, 17, xsi_type="CE")
        elif flavor and ctx.allows_null_flavor("G.k.10.r", flavor):  # FDA.G.k.10a: NA where no code applies
            leaf(observation(admin, "outboundRelationship2", "REFR", "9", OBS, "codedDrugInformation"), "value",
                 xsi_type="CE", nullFlavor=flavor)
        elif (coding := info.get("valueCoding") or {}).get("code") and (fda := ctx.regional(
                "FDA.G.k.10a", coding.get("system") == f"urn:oid:{code_list('fda_additional_info').oid}")) \
                and coding.get("system") == f"urn:oid:{fda['value_system']}":
            leaf(observation(admin, "outboundRelationship2", "REFR", "9", OBS, "FDAAddDrugInformation"), "value",
                 xsi_type="CE", code=coding["code"], codeSystem=fda["value_system"])
    text = additional_text(ctx, statement, links)
    if text:
        leaf(observation(admin, "outboundRelationship2", "REFR", "2", OBS, "additionalInformation"), "value",
             xsi_type="ST", text=text)
    for reason in statement.get("reasonCode") or []:
        indication(ctx, admin, reason)
    action = ich_code(read.ext_value(statement, "action_taken"), 15)
    if action:
        act = wrap(admin, "inboundRelationship", "CAUS", "act", classCode="ACT", moodCode="EVN")
        ctx.ich(act, "code", action, 15)


def product(ctx: Ctx, admin: Node, medication: Json, statement: Json) -> None:
    """G.k.2.2 name, G.k.3 authorisation, G.k.2.3.r substances, FDA.G.k.12.r devices, G.k.2.4 country."""
    instance = wrap(admin, "consumable", "CSM", "instanceOfKind", classCode="INST")
    kind = el(instance, "kindOfProduct", classCode="MMAT", determinerCode="KIND")
    product_code(ctx, kind, medication.get("code"), ("G.k.2.1.1b", "G.k.2.1.2b"),
                 lambda: (ctx.index.drug_name(statement) or f"drug {_drug_number(ctx, statement)}",
                          f"drug {_drug_number(ctx, statement)}"))
    leaf(kind, "name", text=read.named(medication.get("code")))
    auth = read.extension(medication, "authorisation")
    if auth:
        approval = el(el(el(kind, "asManufacturedProduct", classCode="MANU"), "subjectOf", typeCode="SBJ"),
                      "approval", classCode="CNTRCT", moodCode="EVN")
        number = read.sub_value(auth, "number") or {}
        if number.get("value"):  # G.k.3.1 is optional: no number, no id (the holder or country may stand alone)
            leaf(approval, "id", root="2.16.840.1.113883.3.989.2.1.3.4", extension=number["value"])
        holder = read.sub_value(auth, "holder")
        if holder:
            org = el(wrap(approval, "holder", "HLD", "role", classCode="HLD"), "playingOrganization",
                     classCode="ORG", determinerCode="INSTANCE")
            leaf(org, "name", text=holder)
        country = read.sub_value(auth, "country")
        if country:
            territory = el(wrap(approval, "author", "AUT", "territorialAuthority", classCode="TERR"),
                           "territory", classCode="NAT", determinerCode="INSTANCE")
            leaf(territory, "code", code=country, codeSystem=ISO_COUNTRY)
    for ingredient in medication.get("ingredient") or []:
        node = el(kind, "ingredient", classCode="ACTI")
        strength = read.ingredient_strength(ingredient)
        if strength:
            value, unit = ucum(strength)
            quantity = el(node, "quantity")
            leaf(quantity, "numerator", value=value, unit=unit)
            leaf(quantity, "denominator", value="1")
        substance = el(node, "ingredientSubstance", classCode="MMAT", determinerCode="KIND")
        termid = next(iter(read.codings(ingredient.get("itemCodeableConcept"))), None)
        if termid and str(termid.get("system", "")).startswith("urn:oid:"):  # G.k.2.3.r.2a/b
            leaf(substance, "code", code=termid.get("code"), codeSystem=termid["system"][8:],
                 codeSystemVersion=termid.get("version"))
        leaf(substance, "name", text=(ingredient.get("itemCodeableConcept") or {}).get("text"))
    devices(ctx, kind, statement)
    country = read.ext_value(medication, "country_obtained")
    if country:
        event = wrap(instance, "subjectOf", "SBJ", "productEvent", classCode="ACT", moodCode="EVN")
        ctx.ich(event, "code", "1", 18)
        org = el(wrap(event, "performer", "PRF", "assignedEntity", classCode="ASSIGNED"),
                 "representedOrganization", classCode="ORG", determinerCode="INSTANCE")
        leaf(el(org, "addr"), "country", text=country)


def devices(ctx: Ctx, kind: Node, statement: Json) -> None:
    """FDA.G.k.12.r: the device parts of a combination product, for a receiver whose profile places them."""
    links = read.extensions(statement, "device")
    spec = ctx.regional("FDA.G.k.12.r", bool(links))
    if spec is None:
        return
    for link in links:
        device = ctx.index.resolve(link.get("valueReference"))
        if not device:
            continue
        part = el(el(kind, "part", classCode="PART"), "partProduct", classCode="DEV", determinerCode="KIND")
        code = next(iter(read.codings(device.get("type"))), None)
        if code and code.get("code"):
            leaf(part, "code", code=code["code"], codeSystem=spec["product_code_system"])
        names = {n.get("type"): n.get("name") for n in device.get("deviceName") or []}
        brand, common = names.get("manufacturer-name"), names.get("user-friendly-name")
        if brand:  # FDA.G.k.12.r.4 then .5: the first name is the brand name
            leaf(part, "name", text=brand)
        elif common:
            leaf(part, "name", nullFlavor="NI")
        if common:
            leaf(part, "name", text=common)
        made = el(part, "asManufacturedProduct", classCode="MANU")
        address = read.ext_value(device, "device_manufacturer_address") or {}
        if device.get("manufacturer") or address:
            org = el(made, "manufacturerOrganization", classCode="ORG", determinerCode="INSTANCE")
            if device.get("manufacturer"):
                leaf(org, "name", text=device["manufacturer"])
            if address:
                addr = el(org, "addr")
                for tag, value in (("streetAddressLine", (address.get("line") or [None])[0]),
                                   ("city", address.get("city")), ("state", address.get("state")),
                                   ("country", address.get("country"))):
                    if value:
                        leaf(addr, tag, text=value)

        malfunction = read.ext_value(device, "device_malfunction")
        if isinstance(malfunction, bool):
            leaf(_characteristic(made, spec["malfunction"]), "value", xsi_type="BL",
                 value="true" if malfunction else "false")
        for key, ext_key in (("problem", "device_problem"), ("usage", "device_usage"),
                             ("remedial_action", "device_remedial_action"), ("follow_up", "device_follow_up")):
            for coded in read.extensions(device, ext_key):
                value = (coded.get("valueCoding") or {}).get("code")
                if value:
                    leaf(_characteristic(made, spec[key]), "value", xsi_type="CE", code=value,
                         codeSystem=spec[key]["value_system"])
        for coded in read.extensions(device, "device_operator"):
            value = (coded.get("valueCoding") or {}).get("code")
            if value:
                node = wrap(made, "subjectOf", "SBJ", "characteristic", classCode="OBS", moodCode="EVN")
                leaf(node, "code", code=value, codeSystem=spec["operator_system"])
        if len(made) == 0:
            part.children.remove(made)
        if device.get("lotNumber"):
            lot = el(el(part, "instanceOfKind", classCode="INST"), "productInstanceInstance", classCode="MMAT",
                     determinerCode="INSTANCE")
            leaf(lot, "lotNumberText", text=device["lotNumber"])


def _characteristic(made: Node, named: dict[str, str]) -> Node:
    """A device characteristic (FDA.G.k.12.r), named by its code from the receiver profile."""
    node = wrap(made, "subjectOf", "SBJ", "characteristic", classCode="OBS", moodCode="EVN")
    leaf(node, "code", code=named["code"], codeSystem=named["codeSystem"], displayName=named["displayName"])
    return node


def onset_only_links(ctx: Ctx, statement: Json, links: list[tuple[Json, Json]]) -> list[tuple[Json, Json]]:
    """Reactions whose onset is held relative to this drug ("day 10 after the first propranolol dose") where
    the case links the two in no drug-reaction assessment: the onset is still a fact of the pair, sent as its
    G.k.9.i.3 interval (E2B has no other place for it), not dropped unsaid because no link was entered."""
    linked = {id(event) for event, _ in links}
    found = []
    for event in ctx.index.section("reactions"):
        relative = read.relative_time(event, "date")
        if id(event) not in linked and relative and ctx.index.resolve(relative.drug_reference) is statement:
            found.append((event, {}))
    return found


def _bare_link(ctx: Ctx, statement: Json, event: Json, entity: Json, timed: bool) -> None:
    """A drug-reaction link that states nothing E2B carries (no interval, causality, rechallenge or
    dechallenge): E2B has a drug-reaction entry only with one of them, so the pairing is not sent; said."""
    if timed or entity.get("causality") or read.ext_value(entity, "rechallenge") \
            or read.ext_value(entity, "dechallenge"):
        return
    reaction = (event.get("event") or {}).get("text") or read.concept_text(event.get("event")) or "a reaction"
    ctx.unplaced.append(("G.k.9.i.1", f"the link of {ctx.index.drug_name(statement)} to {reaction!r} states no "
                                      "causality, interval, de- or rechallenge, and E2B has a drug-reaction entry "
                                      "only with one of them", f"drug {_drug_number(ctx, statement)}",
                         "give the time to onset or a causality assessment (G.k.9.i.2-3) for the pair"))


def intervals(ctx: Ctx, admin: Node, event: Json, entity: Json, statement: Json) -> bool:
    """G.k.9.i.3.1 / .2: onset after first / last dose, as stated, else from the reaction's relative onset,
    else, for a case authored here, worked out from the dates when they give it exactly (an imported case
    says what its sender stated). True when one was written."""
    explicit = read.extension(entity, "onset_interval")
    found = {"SAS": read.sub_value(explicit, "afterFirstDose"), "SAE": read.sub_value(explicit, "afterLastDose")}
    relative = read.relative_time(event, "date")
    if relative and ctx.index.resolve(relative.drug_reference) is statement:
        key = "SAS" if relative.anchor == "first-dose" else "SAE"
        if not found[key]:
            found[key] = {"value": relative.value, "code": relative.unit}
    if not (found["SAS"] and found["SAE"]) and not ctx.imported:  # the dates only when something is missing
        from_dates = ctx.onset_from_dates(event, statement)
        for key, element in (("SAS", "G.k.9.i.3.1"), ("SAE", "G.k.9.i.3.2")):
            if not found[key] and element in from_dates:
                value, unit = from_dates[element]
                found[key] = {"value": value, "code": unit}
    for type_code in ("SAS", "SAE"):
        quantity = found[type_code]
        if quantity:
            value, unit = ucum(quantity)
            rel = el(admin, "outboundRelationship1", typeCode=type_code)
            leaf(rel, "pauseQuantity", value=value, unit=unit)
            ref = el(rel, "actReference", classCode="OBS", moodCode="EVN")
            leaf(ref, "id", root=uuid_of(event))
    return bool(found["SAS"] or found["SAE"])


def dose_line(ctx: Ctx, admin: Node, dosage: Json, statement: Json) -> None:
    """G.k.4.r one dosage: text, interval and dates, route, dose, lot, form, parent route."""
    sub = wrap(admin, "outboundRelationship2", "COMP", "substanceAdministration", classCode="SBADM",
               moodCode="EVN")
    if dosage.get("text"):
        leaf(sub, "text", text=dosage["text"])
    dose_time(ctx, sub, dosage, statement)
    route = dosage.get("route")
    if route:
        route_code(ctx, sub, route)
    dose = ((dosage.get("doseAndRate") or [{}])[0]).get("doseQuantity")
    if dose:
        value, unit = ucum(dose)
        leaf(sub, "doseQuantity", value=value, unit=unit)
    medication = ctx.index.medication_of(statement)
    batch = read.dosage_batch(dosage, medication)
    form = read.dosage_form(dosage, medication)
    if batch or form:
        instance = wrap(sub, "consumable", "CSM", "instanceOfKind", classCode="INST")
        if batch:
            lot = el(instance, "productInstanceInstance", classCode="MMAT", determinerCode="INSTANCE")
            leaf(lot, "lotNumberText", text=batch)
        kind = el(instance, "kindOfProduct", classCode="MMAT", determinerCode="KIND")
        if form:
            code, oid, version = dose_form_term(ctx, form)
            node = el(kind, "formCode", code=code, codeSystem=oid, codeSystemVersion=version)
            if form.get("text"):
                leaf(node, "originalText", text=form["text"])
    parent_route = read.ext_value(dosage, "parent_route")
    if parent_route:  # G.k.4.r.11: the parent's route, as the patient's (TermID and text)
        code, oid, version, text = route_term(ctx, parent_route)
        if code or text:
            obs = observation(sub, "inboundRelationship", "REFR", "28", OBS, "parentRouteOfAdministration")
            value = el(obs, "value", xsi_type="CE", code=code, codeSystem=oid if code else None,
                       codeSystemVersion=version if code else None)
            if text:
                leaf(value, "originalText", text=text)


def _drug_number(ctx: Ctx, statement: Json) -> int:
    """The drug's k in G.k: its place in the DrugInformation section."""
    return next(i for i, s in enumerate(ctx.index.section("drugs"), 1) if s is statement)


def dosage_place(ctx: Ctx, statement: Json, dosage: Json) -> str:
    """'drug k, dosage r': where a dosage stands among the case's drugs and the drug's dosages."""
    r = next(i for i, d in enumerate(statement.get("dosage") or [], 1) if d is dosage)
    return f"drug {_drug_number(ctx, statement)}, dosage {r}"


def dose_time(ctx: Ctx, sub: Node, dosage: Json, statement: Json) -> None:
    """G.k.4.r.2-6: the dosage's interval and dates (a start or stop held relative to a drug has no place in
    E2B, which takes dates: said, Ctx.relative_unplaced)."""
    repeat = (dosage.get("timing") or {}).get("repeat") or {}
    bounds = repeat.get("boundsPeriod") or {}
    start, end = read.datetime_at(bounds, "start"), read.datetime_at(bounds, "end")
    for number, key, what in (("G.k.4.r.4", "start", "start"), ("G.k.4.r.5", "end", "end")):
        if bounds.get(key) is None:
            ctx.relative_unplaced(number, f"the {what} of a dosage of {ctx.index.drug_name(statement)}", bounds, key,
                                  lambda: dosage_place(ctx, statement, dosage))
    start_nf = read.primitive_absent(bounds, "start")
    end_nf = read.primitive_absent(bounds, "end")
    allowed = {"MSK", "ASKU", "NASK"}
    start_nf, end_nf = (f if f in allowed else None for f in (start_nf, end_nf))
    duration = read.ext_value(dosage, "dosage_duration") or relative_duration(ctx, bounds)
    every = None
    interval = read.repeat_interval(repeat)
    if interval is not None:
        every = {"value": interval["value"], "code": interval["unit"]}
    elif read.ext_value(dosage, "dosing_interval"):
        every = read.ext_value(dosage, "dosing_interval")
    has_bounds = start or end or start_nf or end_nf or duration
    if not (every or has_bounds):
        whole = read.absent_reason(dosage.get("timing"))
        if whole in ("MSK", "ASKU", "NASK", "UNK", "NI"):  # the dosage time as a whole not known
            leaf(sub, "effectiveTime", nullFlavor=whole)
        return
    # An IVL_TS holds a start with an end or with a duration, not all three: with both dates the duration
    # (G.k.4.r.6) takes a comp of its own, as the reaction's does (E.i.6) and EMA's own messages write it.
    apart = bool(duration and (start or start_nf) and (end or end_nf))
    time = None
    if every or apart:
        time = el(sub, "effectiveTime", xsi_type="SXPR_TS")
    if every:
        value, unit = ucum(every)
        leaf(el(time, "comp", xsi_type="PIVL_TS"), "period", value=value, unit=unit)
        ivl = el(time, "comp", xsi_type="IVL_TS", operator="A")  # empty without dates: SXPR_TS needs two comps
        if not has_bounds:
            return
    elif apart:
        ivl = el(time, "comp", xsi_type="IVL_TS")
    else:
        ivl = el(sub, "effectiveTime", xsi_type="IVL_TS")
    if start or start_nf:
        leaf(ivl, "low", value=ts(start), nullFlavor=None if start else start_nf)
    if duration and not apart:
        value, unit = ucum(duration)
        leaf(ivl, "width", value=value, unit=unit)
    elif end or end_nf:
        leaf(ivl, "high", value=ts(end), nullFlavor=None if end else end_nf)
    if apart:
        value, unit = ucum(duration)
        leaf(el(time, "comp", xsi_type="IVL_TS", operator="A"), "width", value=value, unit=unit)


def relative_duration(ctx: Ctx, bounds: Json) -> Json | None:
    """G.k.4.r.6 from a start and a stop both counted from one drug's first dose ('from day 3 to day 10 of
    therapy': 8 days, onset.administration_days), which E2B cannot send themselves (dates only); None unless
    both are plain whole days from the same first dose (no 'about', no range, not from a last dose)."""
    ends = [read.relative_time(bounds, key) for key in ("start", "end")]
    if any(r is None or r.anchor != "first-dose" or r.qualifier or r.high is not None for r in ends) \
            or len({ctx.index.key(r.drug_reference) for r in ends if r}) != 1:
        return None
    spans = [offset_days(r.value, r.unit) for r in ends if r]
    if any(s is None for s in spans):
        return None
    frame = "first"
    days = administration_days(*(Span(s[0], s[1], frame) for s in spans if s))
    return {"value": days, "code": "d"} if days is not None else None


def route_code(ctx: Ctx, sub: Node, route: Json) -> None:
    """G.k.4.r.10: the route's TermID in the receiver's list, and its text."""
    code, oid, version, text = route_term(ctx, route)
    node = el(sub, "routeCode", code=code, codeSystem=oid if code else None,
              codeSystemVersion=version if code else None)
    if text:
        leaf(node, "originalText", text=text)


def route_term(ctx: Ctx, route: Json) -> tuple[str | None, str | None, str | None, str | None]:
    """(TermID, its list's OID, version, text) of a route: a route key of mappings/routes.yaml in the
    receiver's list, else the code the case holds in that list (or, as received, in another)."""
    profile = ctx.receiver.route or {}
    key = next((c.get("code") for c in route.get("coding") or [] if c.get("system", "").endswith("/route")),
               None)
    code = (routes().get(key) or {}).get(profile.get("column")) if key else None
    version, oid = profile.get("version"), profile.get("oid")
    if code is None:
        target = f"urn:oid:{oid}"
        coding = next((c for c in route.get("coding") or [] if c.get("system") == target), {})
        if not coding and key is None:  # held as a code of another list (as received), not as a route key
            coding = next((c for c in route.get("coding") or []
                           if c.get("system", "").startswith("urn:oid:") and c.get("code")), {})
            oid = coding.get("system", "")[len("urn:oid:"):] or oid
        code, version = coding.get("code"), code_version(ctx, coding, profile)
    text = route.get("text") or ((routes().get(key) or {}).get("display") if key else None) or (
        read.named(route) if code is None else None)  # another system's route (SNOMED CT) in its words
    return code, oid, version, text


def dose_form_term(ctx: Ctx, form: Json) -> tuple[str | None, str | None, str | None]:
    """(TermID, its list's OID, version) of a dose form (G.k.4.r.9.2): a code of the receiver's list; else a code
    the case holds in a list named by its OID (as received: ICH has no list of its own and takes the sender's),
    rather than dropping it; else none (the form goes as text)."""
    profile = ctx.receiver.dose_form
    codings = [c for c in form.get("coding") or [] if c.get("code")]
    if profile:
        coding = next((c for c in codings if c.get("system") in (f"urn:oid:{profile['oid']}", None)), None)
        if coding is None and codings and not codings[0].get("system", "").startswith("urn:oid:"):
            coding = codings[0]  # a new case's code, written in the receiver's list as before
        if coding is not None:
            return coding["code"], profile["oid"], code_version(ctx, coding, profile)
    coding = next((c for c in codings if c.get("system", "").startswith("urn:oid:")), None)
    if coding is None:
        return None, None, None
    return coding["code"], coding["system"][len("urn:oid:"):], coding.get("version")


def code_version(ctx: Ctx, coding: Json, profile: dict[str, str]) -> str | None:
    """The version of a code the case holds: its own; else (a new case) the receiver's list version."""
    return coding.get("version") or (None if ctx.imported else profile.get("version"))


def indication(ctx: Ctx, admin: Node, reason: Json) -> None:
    obs = observation(admin, "inboundRelationship", "RSON", "19", OBS, "indication")
    value = mdr_value(obs, reason) if meddra(reason) else el(obs, "value", xsi_type="CE", codeSystem=MEDDRA)
    text = read.named(reason)
    if text:
        leaf(value, "originalText", text=text)
    # the indication's source is not held by the case: an imported case gets the source's, if it was sent
    performer = wrap(obs, "performer", "PRF", "assignedEntity", classCode="ASSIGNED")
    ctx.ich(performer, "code", "3", 21)


def additional_text(ctx: Ctx, statement: Json, links: list[tuple[Json, Json]]) -> str | None:
    """G.k.11: the drug's notes, plus dechallenge per reaction (E2B(R3) has no dechallenge element)."""
    parts = [n.get("text") for n in statement.get("note") or [] if n.get("text")]
    labels = code_list("dechallenge").codes
    for event, entity in links:
        coding = read.ext_value(entity, "dechallenge") or {}
        code = coding.get("code")
        name = (event.get("event") or {}).get("text") or "reaction"
        if code:
            display = labels[code].display if code in labels else code
            parts.append(f"Dechallenge for {name}: {display}")
        onset = read.relative_time(event, "date")
        if onset and ctx.index.resolve(onset.drug_reference) is statement and (onset.as_stated or onset.phrase()):
            # G.k.9.i.3 holds a number and a unit: the author's qualifier or range is said here
            parts.append(f"Onset of {name}: {_onset_words(onset)} (G.k.9.i.3 gives {abs(onset.value):g} "
                         f"{onset.unit})")
    return "; ".join(parts) or None


def _onset_words(onset: read.Relative) -> str:
    """'within 30 min after the last dose', with the author's own words quoted when the case holds them."""
    qualifier = read.QUALIFIER_WORDS.get(onset.qualifier or "")
    amount = f"{abs(onset.value):g}{f'-{abs(onset.high):g}' if onset.high is not None else ''} {onset.unit}"
    side = "before" if onset.value < 0 else "after"
    said = " ".join(w for w in (qualifier, amount, side, "the", "last" if onset.anchor == "last-dose" else "first",
                                "dose") if w)
    return f'{said}; the source: "{onset.as_stated}"' if onset.as_stated else said


def roles_and_causality(ctx: Ctx, assessment: Node, links: Links) -> None:
    """G.k.1 drug role for every drug, then G.k.9.i.2.r causality per drug-reaction-assessment."""
    for statement in ctx.index.section("drugs"):
        drug_role(ctx, assessment, statement)
    for statement in ctx.index.section("drugs"):
        for event, entity in links.get(ctx.index.key_of(statement), []):
            for assessment_ in entity.get("causality") or []:
                causality(assessment, statement, event, assessment_)


def drug_role(ctx: Ctx, assessment: Node, statement: Json) -> None:
    role = ich_code(read.ext_value(statement, "drug_role"), 13)
    node = wrap(assessment, "component", "COMP", "causalityAssessment", classCode="OBS",
                moodCode="EVN")
    leaf(node, "code", code="20", codeSystem=OBS, displayName="interventionCharacterization")
    if role:
        ctx.ich(node, "value", role, 13, xsi_type="CE")
    else:  # not known (a received role that named no drug): said as such, and the rules refuse the export
        unknown = read.absent_reason(read.extension(statement, "drug_role")) or "UNK"
        leaf(node, "value", xsi_type="CE", nullFlavor=unknown, codeSystem="2.16.840.1.113883.3.989.2.1.1.13")
    use = wrap(node, "subject2", "SUBJ", "productUseReference", classCode="SBADM", moodCode="EVN")
    leaf(use, "id", root=uuid_of(statement))


def causality(assessment: Node, statement: Json, event: Json, item: Json) -> None:
    node = wrap(assessment, "component", "COMP", "causalityAssessment", classCode="OBS",
                moodCode="EVN")
    leaf(node, "code", code="39", codeSystem=OBS, displayName="causality")
    result = read.concept_text(item.get("assessment"))
    leaf(node, "value", xsi_type="ST", text=result) if result else None
    method = read.concept_text(item.get("method"))
    if method:
        leaf(el(node, "methodCode"), "originalText", text=method)
    source = (item.get("author") or {}).get("display")
    if source:
        entity = wrap(node, "author", "AUT", "assignedEntity", classCode="ASSIGNED")
        leaf(el(entity, "code"), "originalText", text=source)
    ref = wrap(node, "subject1", "SUBJ", "adverseEffectReference", classCode="OBS", moodCode="EVN")
    leaf(ref, "id", root=uuid_of(event))
    use = wrap(node, "subject2", "SUBJ", "productUseReference", classCode="SBADM", moodCode="EVN")
    leaf(use, "id", root=uuid_of(statement))
