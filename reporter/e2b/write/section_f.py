"""F: tests and procedures -> E2B XML."""

from __future__ import annotations

from reporter.e2b.context import (
    OBS,
    Ctx,
    Json,
    ts,
    ucum,
)
from reporter.e2b.write.common import category_organizer, describe_relative, mdr_value
from reporter.e2b.xmlw import Node, bl, el, leaf, observation, wrap
from reporter.fhir import read
from reporter.tables import code_list

COMPARATOR = {"<": ("high", "false"), "<=": ("high", "true"), ">": ("low", "false"), ">=": ("low", "true")}


def tests(ctx: Ctx, role: Node, relative_notes: dict[str, str]) -> None:
    observations = ctx.index.section("tests")
    if not observations:
        return
    organizer = category_organizer(ctx, role, "3")
    for obs in observations:
        test(ctx, organizer, obs, relative_notes)


def test(ctx: Ctx, organizer: Node, obs: Json, relative_notes: dict[str, str]) -> None:
    node = wrap(organizer, "component", "COMP", "observation", classCode="OBS", moodCode="EVN")
    concept = obs.get("code") or {}
    code = mdr_value(node, concept, tag="code", xsi_type=None)
    if concept.get("text"):
        leaf(code, "originalText", text=concept["text"])
    when = read.datetime_at(obs, "effectiveDateTime")
    notes = [n.get("text") for n in obs.get("note") or [] if n.get("text")]
    if when:
        leaf(node, "effectiveTime", value=ts(when))
    else:
        flavor = read.primitive_absent(obs, "effectiveDateTime")
        leaf(node, "effectiveTime", nullFlavor=flavor or "UNK")
        relative = read.relative_time(obs, "effectiveDateTime")  # only a date left out can be relative
        if relative:
            notes.insert(0, describe_relative(relative, relative_notes.get(ctx.index.key(relative.drug_reference))))
    quantity = obs.get("valueQuantity")
    if quantity:
        value = el(node, "value", xsi_type="IVL_PQ")
        number, unit = ucum(quantity)
        comparator = quantity.get("comparator")
        if comparator in COMPARATOR:
            bound, inclusive = COMPARATOR[comparator]
            other = "low" if bound == "high" else "high"
            if other == "low":
                leaf(value, "low", nullFlavor="NINF")
            leaf(value, bound, value=number, unit=unit, inclusive=inclusive)
            if other == "high":
                leaf(value, "high", nullFlavor="PINF")
        else:
            leaf(value, "center", value=number, unit=unit)
    elif read.result_words(obs):
        leaf(node, "value", xsi_type="ED", text=read.result_words(obs))
    result = read.result_of_test(obs)  # E2B's code, or another system's that says one (v3 POS ...)
    if result:
        ctx.ich(node, "interpretationCode", code_list("test_result").e2b(result), 12)
    for ref in obs.get("referenceRange") or []:
        for bound, flag in (("low", "L"), ("high", "H")):
            if ref.get(bound):
                number, unit = ucum(ref[bound])
                rng = wrap(node, "referenceRange", "REFV", "observationRange", classCode="OBS",
                           moodCode="EVN.CRT")
                leaf(rng, "value", xsi_type="PQ", value=number, unit=unit)
                leaf(rng, "interpretationCode", code=flag, codeSystem="2.16.840.1.113883.5.83")
    text = read.ext_value(obs, "result_text")
    if text:
        notes.append(f"Result: {text}")
    if notes:
        leaf(observation(node, "outboundRelationship2", "REFR", "10", OBS, "comment"), "value", xsi_type="ED",
             text="; ".join(notes))
    more = read.ext_value(obs, "more_info")
    if more is not None:
        bl(observation(node, "outboundRelationship2", "REFR", "25", OBS, "moreInformationAvailable"), more)
