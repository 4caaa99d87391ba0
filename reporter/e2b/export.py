"""ICSR Bundle(s) -> one ICH E2B(R3) batch: MCCI_IN200100UV01 holding one PORR_IN049016UV per case.

Batch id and creation time are parameters so that golden files are stable; by default the batch id is a
fresh UUID and the time is now (UTC). Each E2B section has its own writer module in write/ (section_c ...
section_h), written in schema order. The result is checked (XSD + the receiver's rule sets) by `check_batch`.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from lxml import etree

from reporter import config
from reporter.e2b import rules, transmission, xmlw, xsd
from reporter.e2b.context import Ctx, Json, identifier_value
from reporter.e2b.dates import now_ts, to_ts
from reporter.e2b.dictionary import Receiver, dictionary, receiver, receiver_names
from reporter.e2b.issues import E2BCheck, e2b_issue
from reporter.e2b.write.section_c import (
    report_characteristics,
    report_components,
    report_head,
    report_relations,
    report_sender,
)
from reporter.e2b.write.section_d import patient_role
from reporter.e2b.write.section_g import drug_links, drugs, roles_and_causality
from reporter.e2b.write.section_h import narrative_parts
from reporter.e2b.xmlw import Node, el, leaf, wrap
from reporter.errors import E2BError
from reporter.fhir import read
from reporter.gcpause import collector_paused
from reporter.limits import forbidden_text
from reporter.tables import code_list, oid_system, system
from reporter.validation.report import Issue

BATCH_ROOT = "2.16.840.1.113883.3.989.2.1.3.22"
# (case number, E2B element, what is not sent (None: a regional element), its block in the case ('drug 2,
# dosage 1'), the hint when not the usual one)
NotSent = tuple[int, str, str | None, str | None, str | None]
INTERACTION = "2.16.840.1.113883.1.6"


@dataclass
class Export:
    xml: bytes
    check: E2BCheck
    receiver: str
    cases: int


def bundle_receiver(bundle: Json) -> str | None:
    """The receiver profile an imported Bundle was addressed to: the profile that knows its original
    batch or message receiver id (FDA: ZZFDA, ZZFDA_PREMKT, CDER_IND...), else the closest one, plain ICH
    (the original ids are kept either way). None for a Bundle that was not imported."""
    sent = transmission.transmission(read.composition_of(bundle) or {})
    if sent is None:
        return None
    ids = [sent[k] for k in ("batchReceiver", "messageReceiver") if sent.get(k)]
    for value in ids:
        if value in receiver_names():
            return value
    for name in receiver_names():
        if any(receiver(name).knows(value) for value in ids):
            return name
    return "ich"


def choose_receiver(bundles: Sequence[Json], explicit: str | None) -> Receiver:
    if explicit:
        return receiver(explicit)
    found = {bundle_receiver(b) for b in bundles} - {None}
    if len(found) > 1:
        raise E2BError(f"the inputs were imported for different receivers ({', '.join(sorted(found))})",
                       hint="name one with --receiver")
    return receiver(found.pop() if found else "ich")


def sender_id(bundles: Sequence[Json]) -> str:
    """N.1.3: the imported case's own message sender (N.2.r.2; a batch of several senders named another in its
    header, and N.1.3 and N.2.r.2 must agree), else its batch sender, else the custodian's or the configured."""
    for bundle in bundles:
        sent = transmission.transmission(read.composition_of(bundle) or {}) or {}
        if sent.get("messageSender") or sent.get("batchSender"):
            return sent.get("messageSender") or sent["batchSender"]
    for bundle in bundles:
        index = read.BundleIndex(bundle)
        org = index.resolve((index.composition or {}).get("custodian"))
        value = identifier_value((org or {}).get("identifier"), "message_sender")
        if value:
            return value
    return config.get("sender_id") or "AE-REPORTER"


def original_ids(bundle: Json, profile: Receiver) -> dict[str, str]:
    """The transmission ids an imported Bundle carries, when it goes back to the receiver it came for; else
    the receiver ids of the profile's route the case's facts choose (FDA: an IND number -> premarket), or
    none (the profile's own ids)."""
    if bundle_receiver(bundle) == profile.name:
        received = transmission.transmission(read.composition_of(bundle) or {})
        if received:  # a receiver id of another profile (a batch header of mixed receivers) is not this one's
            return routed_ids(bundle, profile) | {key: value for key, value in received.items()
                                                  if not (key.endswith("Receiver")
                                                          and _addresses_another(value, profile))}
    return routed_ids(bundle, profile)


def _addresses_another(receiver_id: str, profile: Receiver) -> bool:
    return not profile.knows(receiver_id) and any(receiver(name).knows(receiver_id)
                                                  for name in receiver_names() if name != profile.name)


def routed_ids(bundle: Json, profile: Receiver) -> dict[str, str]:
    """The batch and message receiver of the first of the profile's `routes` whose condition the case meets:
    a study identifier of a kind (`when_study_id`) or a study type, its E2B C.5.4 code (`when_study_type`)."""
    if not profile.routes:
        return {}
    studies = [entry.get("resource") or {} for entry in bundle.get("entry") or () if isinstance(entry, dict)
               and (entry.get("resource") or {}).get("resourceType") == "ResearchStudy"]
    held = {ident.get("system") for study in studies for ident in study.get("identifier") or ()
            if isinstance(ident, dict) and ident.get("value")}
    study_types = oid_system(code_list("study_type").oid)
    types = {coding.get("code") for study in studies for category in study.get("category") or ()
             for coding in category.get("coding") or () if coding.get("system") == study_types}
    for route in profile.routes:
        if ("when_study_id" in route and system(route["when_study_id"]) in held) or \
                route.get("when_study_type") in types:
            return {"batchReceiver": route["batch_receiver"], "messageReceiver": route["message_receiver"]}
    return {}


def not_a_document(bundle: Json) -> E2BError | None:
    """Why a Bundle is no ICSR document, as validation says it (a search's Bundle that holds it, a message, no
    Composition first): said instead of a missing C.1.1 that the Bundle's first entry could not have held."""
    from reporter.validation.integrity import not_a_document as why

    found = why(bundle)
    return E2BError(found.message, location=found.location, hint=found.hint) if found else None


def message(ctx: Ctx, batch: Node, creation: str, sender: str, own_receivers: bool = True) -> Node:
    """One report. `own_receivers`: an imported case's message receiver (N.2.r.3) as received; False in a batch
    of cases received for different batch receivers, which goes to the profile's (N.1.4 and N.2.r.3 agree)."""
    comp = ctx.composition
    case_id = identifier_value(comp.get("identifier"), "safety_report_id")
    if not case_id:
        raise not_a_document(ctx.index.bundle) or E2BError(
            "the Bundle's Composition has no sender's safety report id (C.1.1)", location="Composition.identifier")
    created = read.datetime_at(comp, "date")
    created_ts = to_ts(created, location="Composition.date") if created else None
    msg = el(batch, "PORR_IN049016UV")
    leaf(msg, "id", root="2.16.840.1.113883.3.989.2.1.3.1", extension=case_id)
    leaf(msg, "creationTime", value=created_ts or creation)  # N.2.r.4: ICH has it the same as C.1.2
    for tag, attrs in (("interactionId", {"root": INTERACTION, "extension": "PORR_IN049016UV"}),
                       ("processingCode", {"code": "P"}), ("processingModeCode", {"code": "T"}),
                       ("acceptAckCode", {"code": "AL"})):
        leaf(msg, tag, attrs)
    device = wrap(msg, "receiver", "RCV", "device", classCode="DEV", determinerCode="INSTANCE")
    original = original_ids(ctx.bundle, ctx.receiver)
    leaf(device, "id", root="2.16.840.1.113883.3.989.2.1.3.12",
         extension=(original.get("messageReceiver") if own_receivers else None) or ctx.receiver.message_receiver)
    device = wrap(msg, "sender", "SND", "device", classCode="DEV", determinerCode="INSTANCE")
    leaf(device, "id", root="2.16.840.1.113883.3.989.2.1.3.11", extension=original.get("messageSender") or sender)
    act = el(msg, "controlActProcess", classCode="CACT", moodCode="EVN")
    leaf(act, "code", code="PORR_TE049016UV", codeSystem="2.16.840.1.113883.1.18")
    leaf(act, "effectiveTime", value=created_ts)
    event = wrap(act, "subject", "SUBJ", "investigationEvent", classCode="INVSTG", moodCode="EVN")
    report_head(ctx, event)
    assessment = wrap(event, "component", "COMP", "adverseEventAssessment", classCode="INVSTG",
                      moodCode="EVN")
    links = drug_links(ctx)
    names = {ctx.index.key_of(s): ctx.index.drug_name(s) for s in ctx.index.section("drugs")}
    role = patient_role(ctx, assessment, names)
    drugs(ctx, role, links)
    roles_and_causality(ctx, assessment, links)
    narrative_parts(ctx, assessment)
    report_components(ctx, event)
    report_relations(ctx, event)
    report_sender(ctx, event)
    report_characteristics(ctx, event)
    return msg


def _refuse_forbidden_text(bundle: Json) -> None:
    """A case stored before input refused control characters: refused with the place, not altered, since
    a regulator's file must carry the case's text as stored (a new version without it can be sent)."""
    found = forbidden_text(bundle, "Bundle")
    if found:
        path, char = found
        raise E2BError(f"character U+{ord(char):04X} cannot be written to E2B XML", location=path,
                       hint="store a new version of the case without it (input now refuses such characters)")


def write_batch(bundles: Sequence[Json], *, receiver_name: str | None = None, batch_id: str | None = None,
                creation_time: dt.datetime | None = None,
                not_sent: list[NotSent] | None = None) -> tuple[bytes, Receiver]:
    """The batch document for one or more Bundles, as the bytes of the output (not yet checked). `not_sent`
    gets a NotSent for each regional element a case holds that the receiver does not take, and for each fact it
    holds in a form E2B has no element for."""
    if not bundles:
        raise E2BError("nothing to export: no input Bundles")
    with collector_paused():
        return _write_batch(bundles, receiver_name, batch_id, creation_time, not_sent)


def _write_batch(bundles: Sequence[Json], receiver_name: str | None, batch_id: str | None,
                 creation_time: dt.datetime | None,
                 not_sent: list[NotSent] | None = None) -> tuple[bytes, Receiver]:
    profile = choose_receiver(bundles, receiver_name)
    creation = now_ts(creation_time)
    sender = sender_id(bundles)
    batch = el(None, "MCCI_IN200100UV01", ITSVersion="XML_1.0")
    batch.set("xsi:schemaLocation", "urn:hl7-org:v3 MCCI_IN200100UV01.xsd")
    leaf(batch, "id", root=BATCH_ROOT, extension=batch_id or str(uuid.uuid4()))
    leaf(batch, "creationTime", value=creation)
    leaf(batch, "responseModeCode", code="D")
    leaf(batch, "interactionId", root=INTERACTION, extension="MCCI_IN200100UV01")
    leaf(batch, "name", code="1", codeSystem="2.16.840.1.113883.3.989.2.1.1.1", displayName="ichicsr")
    for bundle in bundles:
        if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle":
            raise E2BError("input is not a FHIR Bundle", location="resourceType")
    originals = {original_ids(b, profile).get("batchReceiver") for b in bundles} - {None}
    for n, bundle in enumerate(bundles, 1):
        _refuse_forbidden_text(bundle)
        ctx = Ctx(bundle=bundle, receiver=profile)
        message(ctx, batch, creation, sender, own_receivers=len(originals) <= 1)
        if not_sent is not None:
            not_sent += [(n, number, None, None, None) for number in ctx.not_sent]
            not_sent += [(n, *unplaced) for unplaced in ctx.unplaced]
    batch_receiver = originals.pop() if len(originals) == 1 else profile.batch_receiver
    device = wrap(batch, "receiver", "RCV", "device", classCode="DEV", determinerCode="INSTANCE")
    leaf(device, "id", root="2.16.840.1.113883.3.989.2.1.3.14", extension=batch_receiver)
    device = wrap(batch, "sender", "SND", "device", classCode="DEV", determinerCode="INSTANCE")
    leaf(device, "id", root="2.16.840.1.113883.3.989.2.1.3.13", extension=sender)
    return xmlw.to_bytes(batch), profile


def _not_sent_issue(n: int, number: str, profile: Receiver, what: str | None = None,
                    place: str | None = None, hint: str | None = None) -> Issue:
    """What the case holds that the receiver's profile has no place for (another region's element), or that
    E2B has no element for in the form the case holds it (`what`: a time relative to a drug, a history term
    without its code)."""
    if what is not None:
        return e2b_issue("information", "E2B-NOT-SENT", f"{number} (case {n}{f', {place}' if place else ''})",
                         f"{what}: not sent",
                         hint or "say it in the case narrative (H.1), which E2B carries as written")
    places = [name for name in receiver_names() if receiver(name).regional_element(number)]
    element = dictionary().elements.get(number)
    spec = (receiver(places[0]).regional_element(number) or {}) if places else {}
    name = element.name if element is not None else spec.get("name") or number
    return e2b_issue("information", "E2B-NOT-SENT", f"{number} (case {n})",
                     f"the case holds {name} ({number}), which the {profile.name} receiver does not take: not sent",
                     f"export with --receiver {' or '.join(places)} to send it" if places else None)


_OUTPUT_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, remove_blank_text=True, huge_tree=True)


def parse_output(xml: bytes) -> etree._Element:
    """The writer's own output as a tree (element-only content: its indentation is not kept as text). libxml2's
    limits for untrusted input (a text node over 10 MB) are lifted for it: a case holding a longer narrative
    must reach the length check (E2B-LENGTH) instead of failing the parse (a 500 on its case page)."""
    return etree.fromstring(xml, _OUTPUT_PARSER)


def build_batch(bundles: Sequence[Json], *, receiver_name: str | None = None, batch_id: str | None = None,
                creation_time: dt.datetime | None = None) -> tuple[etree._Element, Receiver]:
    """The batch document for one or more Bundles as an lxml tree (not yet checked)."""
    xml, profile = write_batch(bundles, receiver_name=receiver_name, batch_id=batch_id, creation_time=creation_time)
    return parse_output(xml), profile


def serialize(batch: etree._Element) -> bytes:
    return etree.tostring(batch, xml_declaration=True, encoding="UTF-8", pretty_print=True)


def check_batch(batch: etree._Element, profile: Receiver, schema_dir: str | Path | None = None,
                size: int | None = None, xsd_outcome: tuple[bool, list[tuple[int, str]]] | None = None) -> E2BCheck:
    """XSD (when a schema folder is configured) and the receiver's business rules. `xsd_outcome`: the
    result of validating this very tree already, so it is not validated twice."""
    result = E2BCheck()
    outcome = xsd_outcome if xsd_outcome is not None else xsd.validate(batch, schema_dir)
    if outcome is None:
        result.issues.append(e2b_issue("information", "E2B-XSD-SKIPPED", "batch",
                                       "XSD validation skipped: no E2B schema folder configured",
                                       "set REPORTER_E2B_SCHEMA_DIR to the ICH E2B(R3) schema folder",
                                       layer="skipped"))
    else:
        ok, errors = outcome
        result.xsd = "valid" if ok else "invalid"
        for line, text in errors:
            result.issues.append(e2b_issue("error", "E2B-XSD", f"line {line}", text, layer="xsd"))
    result.issues.extend(rules.check(batch, profile.rules))
    if profile.max_batch_bytes and (size if size is not None else len(serialize(batch))) > profile.max_batch_bytes:
        result.issues.append(e2b_issue("error", "E2B-SIZE", "batch",
                                       f"the batch is larger than {profile.max_batch_bytes} bytes",
                                       "send the cases in several batches"))
    return result


def export_bundles(bundles: Sequence[Json], *, receiver_name: str | None = None, batch_id: str | None = None,
                   creation_time: dt.datetime | None = None, schema_dir: str | Path | None = None) -> Export:
    """Bundles -> checked E2B batch: the library face of `reporter e2b`. The cycle collector is paused for the
    checks as for the writer: the rules' indexes (dicts and lists of nodes) hold no cycles either, and are
    freed as soon as the check is done (3-4% of the export's time)."""
    not_sent: list[NotSent] = []
    xml, profile = write_batch(bundles, receiver_name=receiver_name, batch_id=batch_id, creation_time=creation_time,
                               not_sent=not_sent)
    with collector_paused():
        batch = parse_output(xml)  # parsed from the output: XSD errors' line numbers point into it
        check = check_batch(batch, profile, schema_dir, len(xml), xsd_outcome=xsd.validate(batch, schema_dir))
    check.issues.extend(_not_sent_issue(n, number, profile, what, place, hint)
                        for n, number, what, place, hint in not_sent)
    return Export(xml=xml, check=check, receiver=profile.name, cases=len(bundles))


