"""E: reactions / events -> E2B XML."""

from __future__ import annotations

from reporter.e2b.context import (
    ISO_COUNTRY,
    OBS,
    Ctx,
    Json,
    ich_code,
    ts,
    ucum,
    uuid_of,
)
from reporter.e2b.write.common import mdr_value
from reporter.e2b.xmlw import Node, bl, el, leaf, observation, wrap
from reporter.fhir import read
from reporter.tables import fhir_tables

SERIOUSNESS = ["34", "21", "33", "35", "12", "26"]   # E.i.3.2a-f, in order


OUTCOME = {"resolved": "1", "recovering": "2", "ongoing": "3", "resolvedWithSequelae": "4", "fatal": "5",
           "unknown": "0"}


def reaction(ctx: Ctx, role: Node, event: Json) -> None:
    """E.i: one observation per AdverseEvent."""
    obs = wrap(role, "subjectOf2", "SBJ", "observation", classCode="OBS", moodCode="EVN")
    leaf(obs, "id", root=uuid_of(event))  # an imported one keeps its own
    leaf(obs, "code", code="29", codeSystem=OBS, displayName="reaction")
    reaction_time(ctx, obs, event)
    concept = event.get("event") or {}
    value = mdr_value(obs, concept)
    translation = read.extension(concept.get("_text"), "translation")
    language = read.sub_value(translation, "lang") if translation else None
    if language and language != "und":
        leaf(value, "originalText", language=language, text=concept.get("text"))
    country = read.ext_value(event, "reaction_country")
    if country:
        place = el(wrap(obs, "location", "LOC", "locatedEntity", classCode="LOCE"), "locatedPlace",
                   classCode="COUNTRY", determinerCode="INSTANCE")
        leaf(place, "code", code=country, codeSystem=ISO_COUNTRY)
    english = read.sub_value(translation, "content") if translation else None
    text = english or (read.named(concept) if not language or language == "und" else None)
    if text:
        leaf(observation(obs, "outboundRelationship2", "PERT", "30", OBS, "reactionForTranslation"), "value",
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
    criterion = fhir_tables().fda["required_intervention"]  # as the case holds it (FDA's own list)
    stated = read.seriousness_criteria(event, criterion["system"]).get(criterion["code"])
    intervention = ctx.regional("FDA.E.i.3.2h", stated is True)  # sent as true, or NI
    if intervention:
        node = wrap(obs, "outboundRelationship2", "PERT", "observation", classCode="OBS", moodCode="EVN")
        leaf(node, "code", **intervention["code"])
        bl(node, True if stated is True else None)
    outcome = ((event.get("outcome") or {}).get("coding") or [{}])[0].get("code")
    node = observation(obs, "outboundRelationship2", "PERT", "27", OBS, "outcome")
    ctx.ich(node, "value", OUTCOME.get(outcome or "unknown", "0"), 11, xsi_type="CE")
    confirmed = read.ext_value(event, "medically_confirmed")
    if confirmed is not None:
        bl(observation(obs, "outboundRelationship2", "PERT", "24", OBS, "medicalConfirmationByHP"), confirmed)


def reaction_time(ctx: Ctx, obs: Node, event: Json) -> None:
    """E.i.4 start, E.i.5 end, E.i.6 duration. A relative onset goes to the drug-reaction interval instead; a
    relative end has no place (said: Ctx.relative_unplaced)."""
    start = read.datetime_at(event, "date")
    start_nf = read.primitive_absent(event, "date")
    date_exts = (event.get("_date") or {}).get("extension") or []
    end = next((read.datetime_at(e, "valueDateTime") for e in date_exts if e.get("url") == read.ext("event_end_date")),
               None)
    end_ext = next((e for e in date_exts if e.get("url") == read.ext("reaction_end")), None)
    end_nf = read.absent_reason(end_ext) if end_ext else None
    if end is None and end_ext is not None:
        ctx.relative_unplaced("E.i.5", f"the end of reaction {(event.get('event') or {}).get('text') or ''!r}",
                              end_ext, place=lambda: "reaction " + str(next(
                                  i for i, e in enumerate(ctx.index.section("reactions"), 1) if e is event)))
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
                leaf(comp, tag, value=ts(value), nullFlavor=None if value else flavor)
        value, unit = ucum(duration)
        leaf(el(time, "comp", xsi_type="IVL_TS", operator="A"), "width", value=value, unit=unit)
        return
    time = el(obs, "effectiveTime", xsi_type="IVL_TS")
    for tag, value, flavor in bounds:
        if value or flavor:
            leaf(time, tag, value=ts(value), nullFlavor=None if value else flavor)
