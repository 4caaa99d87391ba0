"""Layer 2: Bundle integrity: a document Bundle, Composition first, unique fullUrls, every reference
resolving inside the Bundle, the sections an ICSR needs."""

from __future__ import annotations

from typing import Any

from reporter.fhir.read import BundleIndex, as_list, section_type_fits
from reporter.tables import ext, fhir_tables, system
from reporter.validation.report import Issue
from reporter.validation.walk import BundleWalk, bundle_index, entry_locations, walk_bundle

_REFERENCE = frozenset({"reference"})
_MODIFIER = frozenset({"modifierExtension"})
REQUIRED_SECTIONS = {"reactions": "ReactionEvent", "drugs": "DrugInformation"}
SECTION_TYPES = {"reactions": "AdverseEvent", "drugs": "MedicationStatement"}


RELATIVE_TARGET_MISSING = "a time is counted from a drug that is not in the case"


_URL = frozenset({"url"})


def relative_targets(walk: BundleWalk) -> set[int]:
    """The references relative times count from (their `target`), by object identity: an unresolved one is a
    time anchored to a drug the case does not list, said in those words rather than as a dangling urn:uuid."""
    url = ext("relative_time")
    return {id(sub["valueReference"]) for i in walk.holding(_URL) if walk.nodes[i]["url"] == url
            for sub in as_list(walk.nodes[i].get("extension"))
            if isinstance(sub, dict) and sub.get("url") == "target" and isinstance(sub.get("valueReference"), dict)}


def wrapped_document(bundle: dict[str, Any]) -> int | None:
    """The entry of a Bundle of another type (searchset, collection, history) that is a document Bundle."""
    return next((n for n, e in enumerate(as_list(bundle.get("entry"))) if isinstance(e, dict)
                 and isinstance(r := e.get("resource"), dict) and r.get("resourceType") == "Bundle"
                 and r.get("type") == "document"), None)


def message_focus(bundle: dict[str, Any]) -> int | None:
    """The entry of a message Bundle's Composition: the focus of the MessageHeader that starts it."""
    entries = [e if isinstance(e, dict) else {} for e in as_list(bundle.get("entry"))]
    header = entries[0].get("resource") if bundle.get("type") == "message" and entries else None
    if not isinstance(header, dict) or header.get("resourceType") != "MessageHeader":
        return None
    index = BundleIndex(bundle)
    focus = [index.resolve(f) for f in as_list(header.get("focus"))]
    return next((n for n, e in enumerate(entries) for f in focus
                 if f is not None and e.get("resource") is f and f.get("resourceType") == "Composition"), None)


NOT_A_DOCUMENT = ("BUNDLE-WRAPPED", "BUNDLE-MESSAGE", "BUNDLE-EMPTY", "BUNDLE-COMPOSITION")


def not_a_document(bundle: dict[str, Any]) -> Issue | None:
    """Why a Bundle is no ICSR document, as validation says it (a search's or transaction's Bundle that holds it,
    a message, no entries, no Composition first), for a reader that found no case id where the Composition
    would have held it; None when it is one."""
    return next((i for i in check_integrity(bundle) if i.code in NOT_A_DOCUMENT), None)


def _version(entry: dict[str, Any]) -> str:
    resource = entry.get("resource") if isinstance(entry.get("resource"), dict) else {}
    return str((resource.get("meta") if isinstance(resource.get("meta"), dict) else {}).get("versionId") or "")


def check_integrity(bundle: dict[str, Any], walk: BundleWalk | None = None) -> list[Issue]:
    """`walk`: the Bundle's walk_bundle, when the caller has it (saves a second walk)."""
    issues: list[Issue] = []

    def error(code: str, location: str, message: str, hint: str) -> None:
        issues.append(Issue("error", code, location, message, hint, "reference"))

    if bundle.get("resourceType") != "Bundle":
        error("BUNDLE-TYPE", "resourceType", f"expected a Bundle, found {bundle.get('resourceType')!r}",
              "validate an ICSR document Bundle or a case file")
        return issues
    if bundle.get("type") != "document":
        if (inside := wrapped_document(bundle)) is not None:
            kind = bundle.get("type")
            posted = kind in ("transaction", "batch")
            error("BUNDLE-WRAPPED", f"Bundle.entry[{inside}].resource", f"this {kind!r} Bundle holds the ICSR "
                  f"document at entry {inside}" + (
                      " (as a client posts it to a server's base): the commands and $validate read the document "
                      "itself" if posted else " (as a server's search or history returns it); its other entries "
                      "(search outcomes, paging) are no part of the case"),
                  f"send the document Bundle itself, Bundle.entry[{inside}].resource" + (
                      f" (the {kind} as it is goes to POST /fhir)" if posted
                      else " (GET Bundle/<id> rather than a search)"))
            return issues
        if (focus := message_focus(bundle)) is not None:
            error("BUNDLE-MESSAGE", "Bundle.type", "this is a FHIR message (MessageHeader first, as HL7's ICSR guide "
                  "sends and `reporter fhir --message` writes it): validation, the reports, E2B and the API read "
                  "the ICSR document Bundle only",
                  f"send the document: Bundle.type document, its Composition (the MessageHeader's focus, "
                  f"Bundle.entry[{focus}]) first and the other entries after it, without the MessageHeader "
                  "(`reporter fhir` without --message writes it)")
            return issues
        error("BUNDLE-TYPE", "Bundle.type", f"an ICSR Bundle is a 'document', not {bundle.get('type')!r}",
              "set Bundle.type to document")
    entries = bundle.get("entry")
    if not isinstance(entries, list) or not entries:
        error("BUNDLE-EMPTY", "Bundle.entry", "the Bundle has no entries", "a document starts with a Composition")
        return issues
    entries = [e if isinstance(e, dict) else {} for e in entries]
    first = entries[0].get("resource")
    if not isinstance(first, dict) or first.get("resourceType") != "Composition":
        if any(isinstance(e.get("resource"), dict) and e["resource"].get("resourceType") == "Composition"
               for e in entries):
            error("BUNDLE-COMPOSITION", "Bundle.entry[0]", "the first entry of a document must be its Composition",
                  "move the Composition to the first entry")
        else:
            error("BUNDLE-COMPOSITION", "Bundle.entry[0]", "the Bundle has no Composition: an ICSR document starts "
                  "with the Composition whose sections list the patient, reactions, drugs and tests",
                  f"add a Composition of type {code_of_composition()} as the first entry, its sections coded as "
                  "the ICSR guide names them (ReactionEvent, DrugInformation ...) listing the entries; `reporter "
                  "fhir` writes one from a case file")
    seen: dict[str, int] = {}
    for i, entry in enumerate(entries):
        url = entry.get("fullUrl")
        if not isinstance(url, str) or not url:
            error("BUNDLE-FULLURL", f"Bundle.entry[{i}]", "entry has no fullUrl", "give every entry a fullUrl")
        elif url in seen:
            if _version(entries[seen[url]]) != _version(entry):  # the same version repeated is bdl-7's error
                error("BUNDLE-FULLURL", f"Bundle.entry[{i}].fullUrl",
                      f"fullUrl {url} repeats entry {seen[url]} in another version (meta.versionId "
                      f"{_version(entry) or 'none'}, not {_version(entries[seen[url]]) or 'none'}): R4 allows "
                      "that in a history, but a document states each resource once", "keep one version of it")
        else:
            seen[url] = i
    if walk is None:
        walk = walk_bundle(bundle)
    index = bundle_index(bundle, walk)
    for i, entry in enumerate(entries):
        if not isinstance(entry.get("resource"), dict):
            error("BUNDLE-RESOURCE", f"Bundle.entry[{i}]", "entry has no resource", "remove the empty entry")
    nodes = walk.nodes
    targets: set[int] | None = None  # looked for only once a reference does not resolve
    for i in walk.holding(_REFERENCE):
        ref = nodes[i]["reference"]
        if not isinstance(ref, str) or ref == "#":  # "#": the resource that contains this one
            continue
        if ref.startswith("#"):
            if index.resolve(ref, walk.resource_of(i)) is None:
                error("BUNDLE-REFERENCE", walk.path(i), f"local reference {ref} names no resource contained in this "
                      "entry's resource", "add the resource to `contained` with that id, or fix the reference")
        elif index.resolve(ref) is None:
            if targets is None:
                targets = relative_targets(walk)
            if id(nodes[i]) in targets:
                error("BUNDLE-REFERENCE", walk.path(i), RELATIVE_TARGET_MISSING + f" (its reference {ref} names no "
                      "entry of the Bundle)", "count the time from a drug the case lists (its id in drugs), or "
                      "give a date")
            else:
                error("BUNDLE-REFERENCE", walk.path(i), f"reference {ref} does not resolve inside the Bundle",
                      "add the referenced resource to the Bundle or fix the reference")
    issues.extend(modifier_extensions(walk))
    composition = index.composition
    if composition:
        present = set(index.section_codes())
        for key, code in REQUIRED_SECTIONS.items():
            if code not in present:
                issues.append(Issue("warning", "BUNDLE-SECTION", "Bundle.entry[0].resource.section",
                                    f"the Composition has no {code} section ({key})",
                                    "an ICSR lists its reactions and drugs in sections", "reference"))
        issues.extend(unlisted(bundle, index, composition, present))
    return issues


def modifier_extensions(walk: BundleWalk) -> list[Issue]:
    """A modifier extension may change what its element means (negate a statement, say a dose was not given):
    FHIR lets a reader that does not understand one refuse the data but not read past it. None is understood
    here, so each is an error at its place rather than a fact read the wrong way."""
    issues = []
    for i in walk.holding(_MODIFIER):
        for n, found in enumerate(as_list(walk.nodes[i]["modifierExtension"])):
            url = found.get("url") if isinstance(found, dict) else None
            issues.append(Issue(
                "error", "BUNDLE-MODIFIER", f"{walk.path(i)}.modifierExtension[{n}]",
                f"modifier extension {url} is not understood here, and it may change what the element means",
                "remove it and say what it means with standard elements (e.g. MedicationStatement.status "
                "not-taken), or in the narrative", "reference"))
    return issues


def _listed(index: Any) -> set[int]:
    """The resources the readers take from the Composition's sections, by object identity: those listed in the
    section read for each code (BundleIndex.section, nested sections and contained resources included)."""
    return {id(r) for spec in fhir_tables().sections for r in index.section(spec["key"])}


def unlisted(bundle: dict[str, Any], index: Any, composition: dict[str, Any], present: set[Any]) -> list[Issue]:
    """Reactions and drugs no section lists: every reader (case file, E2B, report) takes them from their section,
    so a Bundle that files them under other section codes (LOINC, an EHR's own) would lose them without a word."""
    listed, issues = _listed(index), []
    locations = entry_locations(bundle)
    for key, code in REQUIRED_SECTIONS.items():
        rtype = SECTION_TYPES[key]
        for resource in index.all(rtype):
            if id(resource) in listed:
                continue
            codes = sorted(str(c) for c in present if c not in fhir_codes())
            seen = f" (its sections are coded {', '.join(codes)})" if codes else ""
            issues.append(Issue(
                "error", "BUNDLE-SECTION", locations.get(id(resource), f"Bundle.entry.resource.ofType({rtype})"),
                f"this {rtype} is listed in no Composition section the ICSR readers know{seen}: the case, "
                f"E2B and the report read {key} from the {code} section only, so it would not be read",
                f"list it in Composition.section.entry of the section coded {code} (system {system('section')} "
                "or the ICSR guide's ICSRSectionCodeCS)", "reference"))
    return issues + section_types(index, locations) + unread_suspects(index, listed, locations)


def section_types(index: Any, locations: dict[int, str]) -> list[Issue]:
    """A resource listed in a section of another type than the readers take there (mappings/fhir.yaml sections
    `type`): HL7's ICSR guide lists a drug as a MedicationAdministration or Immunization, which every reader
    would pass by, so the drug, its dates and dose, and its role would be lost without a word."""
    issues = []
    for spec in fhir_tables().sections:
        wanted = spec.get("type")
        for resource in index.section_entries(spec["key"]) if wanted else ():
            if section_type_fits(spec["key"], resource):
                continue
            rtype = resource.get("resourceType")
            issues.append(Issue(
                "error", "BUNDLE-SECTION-TYPE", locations.get(id(resource), f"Bundle.entry.resource.ofType({rtype})"),
                f"this {rtype} is listed in the {spec['code']} section (as HL7's ICSR guide lists one): the case, "
                f"E2B and the report read {spec['key']} as {wanted} only, so it would not be read",
                _section_type_hint(wanted), "reference"))
    return issues


def _section_type_hint(wanted: str) -> str:
    if wanted != "MedicationStatement":
        return f"give it as a {wanted}"
    return ("give the drug as a MedicationStatement: its product as medicationCodeableConcept (or a Medication), "
            "each administration as a dosage (dates as timing.repeat.boundsPeriod start and end, G.k.4.r.4/5; dose "
            "as doseAndRate.doseQuantity; route), its indication as reasonCode and its role (suspect, concomitant, "
            f"interacting: G.k.1) as the extension {ext('drug_role')}; point the AdverseEvent's "
            "suspectEntity.instance at it")


def unread_suspects(index: Any, listed: set[int], locations: dict[int, str]) -> list[Issue]:
    """An AdverseEvent's suspectEntity whose instance is not a listed MedicationStatement (a
    MedicationAdministration, an Immunization, a Medication): no reader takes the drug-reaction link from it."""
    issues = []
    for event in index.all("AdverseEvent"):
        for n, entity in enumerate(as_list(event.get("suspectEntity"))):
            instance = entity.get("instance") if isinstance(entity, dict) else None
            target = index.resolve(instance, event)
            if target is None and isinstance(instance, dict) and isinstance(instance.get("reference"), str):
                continue  # an unresolved reference is already an error
            if target is not None and target.get("resourceType") == "MedicationStatement" and id(target) in listed:
                continue
            where = locations.get(id(event), "Bundle.entry.resource.ofType(AdverseEvent)")
            issues.append(Issue(
                "warning", "BUNDLE-SUSPECT-ENTITY", f"{where}.suspectEntity[{n}].instance",
                f"this suspect entity {_names(target, instance)}: the case, E2B and the report read a "
                "drug and its link to the reaction (causality, dechallenge) only from a MedicationStatement "
                "listed in the DrugInformation section, so this one is not read",
                "give the product as a MedicationStatement (its medication, dosage and the drug-role extension "
                f"{ext('drug_role')}) in the DrugInformation section and point suspectEntity.instance at it",
                "reference"))
    return issues


def _names(target: dict[str, Any] | None, instance: Any) -> str:
    """What a suspect entity's instance points at, in words: a resource of the Bundle, or (a logical reference,
    identifier or display only) nothing a reader can follow."""
    if target is not None:
        return f"refers to {target.get('resourceType')}"
    named = instance.get("identifier") or instance.get("display") if isinstance(instance, dict) else None
    return f"names its product by {'identifier' if isinstance(named, dict) else 'display'} only, no resource" \
        if named else "names no resource"


def code_of_composition() -> str:
    kind = fhir_tables().composition["type"]
    return f"{kind['system']}|{kind['code']} ({kind['display']})"


def fhir_codes() -> set[str]:
    return {spec["code"] for spec in fhir_tables().sections}
