"""G: drugs (role, product, dosages, indications, drug-reaction matrix) -> the case model."""

from __future__ import annotations

import re
from typing import Any

from lxml import etree

from reporter.casefile import model as m
from reporter.e2b.dictionary import receiver, region_of
from reporter.e2b.read.reader import (
    MEDDRA,
    NULL_TO_ABSENT,
    Reader,
    block_place,
    boolean,
    coded,
    finder,
    ii_key,
    ii_read,
    null_flavor_only,
    product_ids,
    termid,
    time_shape,
    time_type,
    time_written,
)
from reporter.tables import code_list

# The effectiveTime shapes the exporter writes (reporter/e2b/write/section_e.py, section_g.py). Values in any
# other shape (a duration with an end, a third interval, a second period...) are not read: the model could
# hold them, but the exporter would write them differently; they are passed through as received.
_BOUNDS = r"(low|high|width|low,high|low,width)"


# A period alone may also come as the effectiveTime itself (PIVL_TS), and the SXPR_TS's two parts in either order,
# each with or without the intersect operator: MFDS's element table lists all of these. The exporter writes
# the period first and the interval with operator A.
_PERIOD = r"PIVL_TS(:A)?\(period\)"
_INTERVAL = rf"IVL_TS(:A)?\({_BOUNDS}?\)"
# With a start and an end the duration comes in a comp of its own (an IVL_TS holds no more than two of
# low, high and width), after the interval: EMA's EVWEB writes it so, and so does the exporter.
_DATED = r"IVL_TS(:A)?\((low|high|low,high)\)\|IVL_TS(:A)?\(width\)"
_DOSE_SHAPES = re.compile(rf"^(IVL_TS\({_BOUNDS}?\)|PIVL_TS\(period\)|"
                          rf"SXPR_TS\[({_PERIOD}(\|{_INTERVAL}|\|{_DATED})?|{_INTERVAL}\|{_PERIOD}|{_DATED})\])$")


def _dose_time(r: Reader, dose: etree._Element) -> dict[str, Any]:
    """G.k.4.r.2-6 as the exporter writes them: an interval (IVL_TS), or a period with an interval
    (SXPR_TS), or a period alone (PIVL_TS). Another shape leaves the whole dosage time as received; a period
    that cannot be read (sent as a null flavor, which ICH does not allow there, as R2-to-R3 converters write an
    unknown frequency) is listed as not mapped, and the dates and duration beside it are still read."""
    r.first_only(finder("h:effectiveTime")(dose))  # the model holds one time per dosage
    shape = time_type(dose)
    time = dose.find("{urn:hl7-org:v3}effectiveTime")
    if time is not None and len(time) == 0 and time.get("nullFlavor") in NULL_TO_ABSENT and not time.get("value"):
        r.mark(time, "nullFlavor")  # the dosage time as a whole not known
        return {"period_absent": m.Absent(absent=NULL_TO_ABSENT[time.get("nullFlavor")])}  # type: ignore[arg-type]
    if not time_written(dose, _DOSE_SHAPES):
        return {}
    periodic = shape == "PIVL_TS" or (shape == "SXPR_TS" and "PIVL_TS" in time_shape(time))
    every = r.quantity("G.k.4.r.2", "G.k.4.r.3", dose) if periodic else None
    time_read = {"start": r.date("G.k.4.r.4", dose), "stop": r.date("G.k.4.r.5", dose),
                 "duration": r.quantity("G.k.4.r.6a", "G.k.4.r.6b", dose)}
    if periodic and every is None and not any(time_read.values()):
        return {}
    return {"every": every, **time_read}


def _link_roles(r: Reader, blocks: list[etree._Element]) -> tuple[dict[int, str], dict[str, int],
                                                                   dict[int, list[tuple[etree._Element, str]]]]:
    """Which G.k.1 role belongs to which drug block (by index), which block each drug id names, and what
    each block's role read. A role names the drug whose id it gives. When the ids do not link every role to
    exactly one drug (two drugs with one id, a role naming no drug) but there are as many roles as drugs and
    every role whose id names one drug stands at that drug's place, roles and drugs are paired in the order
    they are written, with a warning; otherwise a shared id names its first drug."""
    uuids = [ii_key(b.find("{urn:hl7-org:v3}id")) for b in blocks]
    roles: list[tuple[str, str, list[tuple[etree._Element, str]]]] = []
    for inst in r.instances("role"):
        ref = inst.find("{urn:hl7-org:v3}subject2/{urn:hl7-org:v3}productUseReference/{urn:hl7-org:v3}id")
        if ref is None:
            continue
        point = r.checkpoint()
        role = r.code("G.k.1", inst, "drug_role")
        if role:
            ii_read(r, ref)
            roles.append((ii_key(ref) or "", role, r.used[point:]))
        else:
            r.rollback(point)
    assign: dict[int, int] = {}  # drug block -> role
    for j, (root, _, _) in enumerate(roles):
        if uuids.count(root) == 1 and uuids.index(root) not in assign:
            assign[uuids.index(root)] = j
    if len(assign) < len(blocks) and len(roles) == len(blocks) and all(i == j for i, j in assign.items()):
        assign = {i: i for i in range(len(blocks))}
        r.deviations.append(("G.k.1", "the drug ids do not link each role to one drug (a shared id, or a role "
                                      "naming no drug): roles and drugs are paired in the order they are "
                                      "written, which agrees with every id that does link"))
    else:
        for j, (root, _, _) in enumerate(roles):  # a shared id names its first drug
            first = next((i for i, u in enumerate(uuids) if u == root and i not in assign), None)
            if root and first is not None and j not in assign.values() and root not in (
                    roles[k][0] for k in assign.values()):
                assign[first] = j
    given = set(assign.values())
    unread = {id(pair) for j, role in enumerate(roles) if j not in given for pair in role[2]}
    r.used = [pair for pair in r.used if id(pair) not in unread]  # a role given to no drug is not read
    owner = {roles[j][0]: i for i, j in assign.items() if roles[j][0]}
    return ({i: roles[j][1] for i, j in assign.items()}, owner,
            {i: list(roles[j][2]) for i, j in assign.items()})


# G.k.9.i.2.r.1-3: the case field, the element and the part of the XML that sends it
_CAUSALITY_PARTS = (("source", "G.k.9.i.2.r.1", "h:author"), ("method", "G.k.9.i.2.r.2", "h:methodCode"),
                    ("result", "G.k.9.i.2.r.3", "h:value"))


def _why_unread(number: str, inst: etree._Element, part: str) -> str:
    """Why a causality part was not read: coded (in a region's list, named) where ICH takes free text."""
    coded = finder(f"{part}[@codeSystem] | {part}/h:assignedEntity/h:code[@codeSystem]")(inst)
    if not coded:
        return f"{number} could not be read"
    system = coded[0].get("codeSystem")
    region = region_of(system)
    where = f" (a regional list of {region})" if region else ""
    return f"{number} sent coded, code {coded[0].get('code')} of {system}{where}, where ICH takes free text"


def _causality(r: Reader, inst: etree._Element, point: int) -> m.Causality | None:
    """One assessment: each part is optional in E2B, so one left out is None; a part sent in a form the reader
    cannot take (a coded regional result) leaves the whole assessment as received, not kept without it."""
    data = {field: r.value(number, inst) for field, number, _ in _CAUSALITY_PARTS}
    unread = [(number, part) for field, number, part in _CAUSALITY_PARTS if data[field] is None and finder(part)(inst)]
    if unread:
        r.rollback(point)
        said = "; ".join(_why_unread(number, inst, part) for number, part in unread)
        r.deviations.append(("[Causality]", f"a block{block_place(inst)} was not read into the case model "
                                            f"({said}); its values are listed as not mapped"))
        return None
    return r.build(m.Causality, data, point, inst)


def read_drugs(r: Reader, reaction_ids: dict[str, str], verbatims: dict[str, str | None] | None = None
               ) -> list[m.Drug]:
    """Drugs with their role (G.k.1) and causality (G.k.9.i.2.r), linked by the drug's id (see _link_roles).
    Every drug block is read: one no role belongs to gets the role "not known", with a warning (E2B allows no
    null flavor there, so the export is refused until someone chooses it), and a new id on export. A role or
    assessment naming no drug is listed as not mapped."""
    out = []
    blocks = r.instances("drug")
    roles, owner, marks = _link_roles(r, blocks)
    causalities: dict[tuple[int, str], list[m.Causality]] = {}
    for inst in r.instances("causality"):
        point = r.checkpoint()
        drug_ref = inst.find("{urn:hl7-org:v3}subject2/{urn:hl7-org:v3}productUseReference/{urn:hl7-org:v3}id")
        reac_ref = inst.find("{urn:hl7-org:v3}subject1/{urn:hl7-org:v3}adverseEffectReference/{urn:hl7-org:v3}id")
        item = _causality(r, inst, point)
        drug_id, reac_id = ii_key(drug_ref), ii_key(reac_ref)
        if item and drug_id in owner and reac_id in reaction_ids:
            ii_read(r, drug_ref)
            ii_read(r, reac_ref)
            key = (owner[drug_id], reac_id)
            causalities.setdefault(key, []).append(item)
            marks.setdefault(key[0], []).extend(r.used[point:])
        elif item:
            r.rollback(point)
    built: set[int] = set()
    for index, inst in enumerate(blocks):
        n = index + 1
        point = r.checkpoint()
        id_el = inst.find("{urn:hl7-org:v3}id")
        identity = ii_key(id_el)
        # the model holds one product (G.k.2) with one authorisation (G.k.3) per drug
        r.first_only(finder("h:consumable")(inst))
        r.first_only(finder("h:consumable/h:instanceOfKind/h:kindOfProduct/h:asManufacturedProduct/"
                            "h:subjectOf[h:approval]")(inst))
        substances = []
        for sub in r.instances("substance", inst):
            p = r.checkpoint()
            s = r.build(m.Substance, {"name": r.value("G.k.2.3.r.1", sub),
                                      "termid": termid(r, "G.k.2.3.r.2b", "G.k.2.3.r.2a", sub),
                                      "strength": _strength(r, sub)}, p)
            if s:
                substances.append(s)
        dosages = []
        for dose in r.instances("dosage", inst):
            p = r.checkpoint()
            d = r.build(m.Dosage, {
                "dose": r.quantity("G.k.4.r.1a", "G.k.4.r.1b", dose),
                **_dose_time(r, dose),
                "batch": r.value("G.k.4.r.7", dose), "text": r.value("G.k.4.r.8", dose),
                "form": coded(r, "G.k.4.r.9.1", "G.k.4.r.9.2b", dose),
                "route": coded(r, "G.k.4.r.10.1", "G.k.4.r.10.2b", dose),
                "parent_route": _parent_route(r, dose),
            }, p, dose)
            if d:
                dosages.append(d)
        indications = []
        for ind in r.instances("indication", inst):
            p = r.checkpoint()
            # the exporter writes the indication's value with the MedDRA code system, text only or not
            value_node = ind.find("{urn:hl7-org:v3}value")
            meddra_value = value_node is not None and value_node.get("codeSystem") == MEDDRA
            i = r.build(m.Indication, {"text": r.value("G.k.7.r.1", ind) if meddra_value else None,
                                       "meddra": r.meddra("G.k.7.r.2b", "G.k.7.r.2a", ind)}, p, ind)
            if i:
                indications.append(i)
        per_reaction: dict[str, dict[str, Any]] = {}
        for (drug_index, reac_uuid), items in causalities.items():
            if drug_index == index:
                per_reaction[reac_uuid] = {"causality": items}
        for reac_uuid, found in _drug_reaction_facts(r, inst, reaction_ids).items():
            per_reaction.setdefault(reac_uuid, {}).update(found)
        by_id = {reaction_ids[k]: v for k, v in per_reaction.items()}
        additional_text, dechallenges = _dechallenges(r.value("G.k.11", inst), verbatims or {})
        for rid in dechallenges:  # a link that says only its dechallenge has no G.k.9.i block of its own
            by_id.setdefault(rid, {})
        links = [m.DrugReaction(reaction=rid, **{"dechallenge": dechallenges.get(rid), **v})
                 for rid, v in by_id.items()]
        data = {
            "id": f"drug-{n}",
            "role": roles.get(index) or m.Absent(absent="unknown"),
            "product": r.value("G.k.2.2", inst),
            "identifiers": product_ids(r, "G.k.2.1.1b", "G.k.2.1.1a", inst),
            "country_obtained": r.value("G.k.2.4", inst),
            "substances": substances,
            "blinded": r.boolean("G.k.2.5", inst),
            "dosages": dosages,
            "cumulative_dose": r.quantity("G.k.5a", "G.k.5b", inst),
            "gestation_at_exposure": r.quantity("G.k.6a", "G.k.6b", inst),
            "indications": indications,
            "action_taken": r.code("G.k.8", inst, "action_taken"),
            "reactions": links,
            **_additional_info(r, inst),
            "devices": _devices(r, inst),
            "additional_text": additional_text,
        }
        auth = {"number": r.value("G.k.3.1", inst), "country": r.value("G.k.3.2", inst),
                "holder": r.value("G.k.3.3", inst)}
        if any(auth.values()):
            data["authorisation"] = auth
        drug = r.build(m.Drug, data, point, inst)
        if drug is None:
            continue
        built.add(index)
        if identity and owner.get(identity) == index:  # a re-export links the drug's blocks with the same id
            ii_read(r, id_el)
            if id_el.get("extension") is None:  # kept as received; a root and extension: the export makes a UUID
                r.origin.ids[f"drug-{n}"] = id_el.get("root")
        if index not in roles:
            why = ("has the id of another drug, which the roles name" if identity and identity in owner
                   else "is named by no G.k.1 role" if identity else "has no id for a G.k.1 role to name")
            r.deviations.append(("G.k.1", f"drug {n} ({drug.product}) {why}: its role is not known, and the "
                                          "export is refused until someone chooses it"))
        out.append(drug)
    unread = {id(pair) for index, pairs in marks.items() if index not in built for pair in pairs}
    if unread:  # roles and assessments of a drug the model could not hold go through with it
        r.used = [pair for pair in r.used if id(pair) not in unread]
    return out


def _dechallenges(text: str | None, names: dict[str, str | None]) -> tuple[str | None, dict[str, str]]:
    """The dechallenge per reaction that our export writes into G.k.11 ('Dechallenge for <reaction as
    reported>: <display>', parts joined by '; ', E2B having no element for it), read back into the case by the
    reaction it names; the rest of G.k.11 stays the drug's additional text. Each statement is found by the
    whole reaction name, so a name that itself holds '; ' ('rash; pustules') is read too. A name that more
    than one reaction has, or a display not in the code list, stays text."""
    if not text:
        return text, {}
    codes = {c.display: code for code, c in code_list("dechallenge").codes.items()}
    labels = [name or "reaction" for name in names.values()]
    found: dict[str, str] = {}
    for rid, name in names.items():
        label = name or "reaction"
        if labels.count(label) > 1:
            continue
        for display, code in codes.items():
            said = re.search(rf"(?:^|(?<=; ))Dechallenge for {re.escape(label)}: {re.escape(display)}(?=; |$)", text)
            if said:
                found[rid] = code
                text = _cut(text, said.start(), said.end())
                break
    return text or None, found


def _cut(text: str, start: int, end: int) -> str:
    """The text without text[start:end] and the '; ' that joined it to its neighbour."""
    if text.startswith("; ", end):
        return text[:start] + text[end + 2:]
    return text[:max(start - 2, 0)] + text[end:]


def _strength(r: Reader, substance: etree._Element) -> m.Quantity | None:
    """G.k.2.3.r.3a/b strength; the model holds it per unit, so a denominator of 1 (unity) is read with it."""
    strength = r.quantity("G.k.2.3.r.3a", "G.k.2.3.r.3b", substance)
    denominator = substance.find("{urn:hl7-org:v3}quantity/{urn:hl7-org:v3}denominator")
    if strength is not None and denominator is not None and denominator.get("value") == "1" \
            and denominator.get("unit") in (None, "1"):
        r.mark(denominator, *(a for a in ("value", "unit") if denominator.get(a)))
    return strength


def _parent_route(r: Reader, dose: etree._Element) -> m.Coded | None:
    """G.k.4.r.11 parent route (parent-child reports): its TermID and text, as the route's (G.k.4.r.10)."""
    return coded(r, "G.k.4.r.11.1", "G.k.4.r.11.2b", dose)


def _devices(r: Reader, drug: etree._Element) -> list[m.Device]:
    """FDA.G.k.12.r device parts of a combination product. A characteristic's naming code is read with its
    value (the writer names it from the receiver profile)."""
    out = []

    def named(value_node_number: str, inst: etree._Element, convert: Any = None) -> Any:
        found = r.value(value_node_number, inst, convert)
        node = r.node(value_node_number, inst)
        if found is not None and node is not None and node.getparent() is not None:
            name = node.getparent().find("{urn:hl7-org:v3}code")
            if name is not None and name is not node:
                r.mark(name, *(a for a in ("code", "codeSystem") if name.get(a)))
        return found

    for inst in r.instances("device", drug):
        p = r.checkpoint()
        manufacturer = {"name": r.value("FDA.G.k.12.r.7.1a", inst), "address": {k: v for k, v in {
            "street": r.value("FDA.G.k.12.r.7.1b", inst), "city": r.value("FDA.G.k.12.r.7.1c", inst),
            "state": r.value("FDA.G.k.12.r.7.1d", inst), "country": r.value("FDA.G.k.12.r.7.1e", inst),
        }.items() if v is not None} or None}
        device = r.build(m.Device, {
            "brand_name": r.value("FDA.G.k.12.r.4", inst), "common_name": r.value("FDA.G.k.12.r.5", inst),
            "product_code": r.value("FDA.G.k.12.r.6", inst),
            "manufacturer": manufacturer if any(manufacturer.values()) else None,
            "lot": r.value("FDA.G.k.12.r.9", inst),
            "malfunction": named("FDA.G.k.12.r.1", inst, boolean),
            "follow_up_types": [c for x in r.instances("device_follow_up", inst)
                                if (c := named("FDA.G.k.12.r.2.r", x)) is not None],
            "problem_codes": [c for x in r.instances("device_problem", inst)
                              if (c := named("FDA.G.k.12.r.3.r", x)) is not None],
            "usage": named("FDA.G.k.12.r.8", inst),
            "operator": r.value("FDA.G.k.12.r.10", inst),
            "remedial_actions": [c for x in r.instances("device_remedial_action", inst)
                                 if (c := named("FDA.G.k.12.r.11.r", x)) is not None],
        }, p, inst)
        if device:
            out.append(device)
    return out


def _additional_info(r: Reader, drug: etree._Element) -> dict[str, Any]:
    """G.k.10.r coded additional information, or the null flavor sent instead of codes (FDA.G.k.10a NA)."""
    codes, fda_codes, absent = [], [], None
    for inst in r.instances("additional_info", drug):
        code = r.code("G.k.10.r", inst, "additional_info")
        if code is not None:
            codes.append(code)
        elif (fda := _fda_additional_info(r, inst)) is not None:
            fda_codes.append(fda)
        elif absent is None and not codes:
            found = r.get("G.k.10.r", inst, null_flavor_only)
            absent = found if isinstance(found, m.Absent) else None
    return {"additional_info": codes, "fda_additional_info": fda_codes,
            "additional_info_absent": None if codes or fda_codes else absent}


def _fda_additional_info(r: Reader, inst: etree._Element) -> str | None:
    """FDA.G.k.10a at G.k.10.r's place, in FDA's list (or a system FDA's own examples use: with a warning)."""
    spec = receiver("fda").regional_element("FDA.G.k.10a") or {}
    node = r.node("G.k.10.r", inst)
    system = node.get("codeSystem") if node is not None else None
    if system not in (spec.get("value_system"), *(spec.get("received_value_systems") or ())):
        return None
    key = code_list("fda_additional_info").key_for_e2b(node.get("code") or "")
    if key is None:
        return None
    r.mark(node, "code", "codeSystem")
    if system != spec.get("value_system"):
        r.deviations.append(("G.k.10.r", f"FDA.G.k.10a code {node.get('code')} read under code system {system} "
                                         f"(FDA's examples use it; FDA's table names {spec.get('value_system')}): "
                                         "an export writes FDA's list"))
    return key


def _drug_reaction_facts(r: Reader, drug: etree._Element, reaction_ids: dict[str, str]
                         ) -> dict[str, dict[str, Any]]:
    """G.k.9.i.3.1/.2 onset intervals and G.k.9.i.4 rechallenge of one drug, per reaction id."""
    out: dict[str, dict[str, Any]] = {}
    for rel in r.instances("drug_reaction", drug):
        ref = rel.find("{urn:hl7-org:v3}actReference/{urn:hl7-org:v3}id")
        target = ii_key(ref)
        if target not in reaction_ids:
            continue
        for field_, a, b in (("onset_after_first_dose", "G.k.9.i.3.1a", "G.k.9.i.3.1b"),
                             ("onset_after_last_dose", "G.k.9.i.3.2a", "G.k.9.i.3.2b")):
            point = r.checkpoint()
            quantity = r.quantity(a, b, rel)
            if quantity is not None and field_ not in out.get(target, {}):
                out.setdefault(target, {})[field_] = quantity
                ii_read(r, ref)
                r.applied("G.k.9.i.1", "reaction_link")
            else:
                r.rollback(point)
    for obs in r.instances("rechallenge", drug):
        ref = obs.find("{urn:hl7-org:v3}outboundRelationship1/{urn:hl7-org:v3}actReference/{urn:hl7-org:v3}id")
        target = ii_key(ref)
        if target not in reaction_ids or "rechallenge" in out.get(target, {}):
            continue
        point = r.checkpoint()
        code = r.code("G.k.9.i.4", obs, "rechallenge")
        if code:
            out.setdefault(target, {})["rechallenge"] = code
            ii_read(r, ref)
        else:
            r.rollback(point)
    return out
