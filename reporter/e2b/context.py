"""What every section writer needs: the Bundle index, the receiver profile and OID/code helpers."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from reporter.e2b.dates import to_ts
from reporter.e2b.dictionary import Receiver, dictionary
from reporter.e2b.xmlw import Node, leaf, num
from reporter.fhir import read
from reporter.fhir.narrative import narrative_text
from reporter.tables import oids, system

Json = dict[str, Any]

ICH = "2.16.840.1.113883.3.989.2.1.1."
OBS = ICH + "19"          # ICH observation codes
MEDDRA = "2.16.840.1.113883.6.163"
ISO_COUNTRY = "1.0.3166.1.2.2"
UUID_RE = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


@dataclass
class Ctx:
    bundle: Json
    receiver: Receiver
    index: read.BundleIndex = field(init=False)

    imported: bool = field(init=False)
    _case: Any = field(init=False, default=False)
    _texts: dict[str, tuple[str | None, list[tuple[str, str]]]] = field(init=False, default_factory=dict)
    # regional elements (FDA.*) the case holds that this receiver's profile does not place: not sent, and said
    not_sent: list[str] = field(init=False, default_factory=list)
    # (element, what, place, hint): what the case holds in a form E2B has no element for (a time relative to a
    # drug where E2B takes a date, a history term without its MedDRA code): not sent, and said
    unplaced: list[tuple[str, str, str | None, str | None]] = field(init=False, default_factory=list)

    def __post_init__(self) -> None:
        self.index = read.BundleIndex(self.bundle)
        # From an E2B import (it carries its transmission ids): a code the case holds in another code
        # system than the receiver's list is written in that system, with the version it came with.
        self.imported = read.extension(self.composition, "e2b_transmission") is not None

    def regional(self, number: str, held: bool) -> dict[str, Any] | None:
        """The receiver's placement of a regional element; None when it has none, and then, if the case holds
        a value for it, the element is noted as not sent (the export says so instead of dropping it unsaid)."""
        found = self.receiver.regional_element(number)
        if found is None and held and number not in self.not_sent:
            self.not_sent.append(number)
        return found


    def relative_unplaced(self, number: str, what: str, holder: Json | None, field: str | None = None,
                          place: Callable[[], str] | None = None) -> None:
        """Note a time held relative to a drug where E2B takes a date (`holder`: the primitive's parent, or the
        date-valued extension when `field` is None; `place`: its block in the case, e.g. 'drug 2, dosage 1', so
        that the note names the case-file field and line)."""
        relative = read.relative_time(holder, field)
        if relative is None:
            return
        from reporter.e2b.write.common import describe_relative

        statement = self.index.resolve(relative.drug_reference)
        said = describe_relative(relative, self.index.drug_name(statement) if statement else None)
        self.unplaced.append((number, f"{what} is held as a time relative to a drug ({said}), and E2B takes a "
                                      "date there", place() if place else None, None))

    def allows_null_flavor(self, number: str, flavor: str) -> bool:
        """Whether the receiver takes this null flavor on an element: ICH's list, or a deviation its rule sets
        accept (extra_null_flavors)."""
        from reporter.e2b.dictionary import dictionary, rule_set

        element = dictionary().elements.get(number)
        if element is not None and flavor in element.null_flavors:
            return True
        return any(flavor in (rule_set(name).get("extra_null_flavors") or {}).get(number, ())
                   for name in self.receiver.rules)

    def onset_from_dates(self, event: Json, statement: Json) -> dict[str, tuple[float, str]]:
        """G.k.9.i.3.1 / .2 worked out from the case's dates and relative times when they give an exact,
        non-negative interval (reporter.assess.onset); nothing for a range (a month-precision date).
        Reads the case's reactions and drugs only (bundle_timing_case), once per Bundle."""
        from reporter.assess.onset import time_to_onset
        from reporter.errors import ReporterError
        from reporter.fhir.to_case import bundle_timing_case

        if self._case is False:
            try:
                self._case = bundle_timing_case(self.bundle, self.index)
            except (ReporterError, ValueError):
                self._case = None
        case = self._case
        if case is None:
            return {}
        drug = next((d for d in case.drugs if d.id == read.ext_value(statement, "case_key")), None)
        reaction = next((r for r in case.reactions if r.id == read.ext_value(event, "case_key")), None)
        if drug is None or reaction is None:
            return {}
        link = next((x for x in drug.reactions if x.reaction == reaction.id), None)
        out = {}
        for element, (days, _) in time_to_onset(case, drug, reaction, link).e2b_intervals().items():
            written = e2b_duration(days, dictionary().elements[f"{element}a"].max_length or 5)
            if written is not None:
                out[element] = written
        return out

    @property
    def composition(self) -> Json:
        return self.index.composition or {}

    def ich(self, parent: Node, tag: str, code: str, list_number: int | str, **attrs: str | None) -> None:
        """A coded element in an ICH code list (OID ...2.1.1.<n>), with the receiver's codeSystemVersion."""
        leaf(parent, tag, code=code, codeSystem=f"{ICH}{list_number}",
                  codeSystemVersion=self.receiver.code_system_version, **attrs)


def e2b_duration(days: float, room: int) -> tuple[float, str] | None:
    """An exact number of days as E2B writes a time interval: a whole number of days, hours or minutes (the
    first that is one) in at most `room` characters; None when none is (7 days and 30 minutes is 10110 min;
    never rounded: what cannot be written exactly is left out)."""
    for unit, per_day in (("d", 1), ("h", 24), ("min", 1440)):
        value = days * per_day
        whole = round(value)
        if abs(value - whole) < 1e-6 and len(str(whole)) <= room:
            return float(whole), unit
    return None


def ich_code(concept: Json | None, list_number: int | str) -> str | None:
    """The code of a CodeableConcept/Coding in an ICH list, if it has one."""
    if not concept:
        return None
    codings = concept.get("coding") if "coding" in concept else [concept]
    target = f"urn:oid:{ICH}{list_number}"
    return next((c.get("code") for c in codings or [] if c.get("system") == target), None)


def meddra(concept: Json | None) -> Json | None:
    return read.coding(concept, "meddra") if concept else None


def ts(value: str | None) -> str | None:
    return to_ts(value) if value else None


def uuid_of(resource: Json) -> str:
    """The id to write as an II root: the E2B id an imported resource was received with, else the
    resource id (a UUID as is; anything else, such as a server's `12`, turned into a stable uuid5 of
    `Type/id`, since a server numbers each type on its own: MedicationStatement/1 is not AdverseEvent/1)."""
    from reporter.e2b.origin import e2b_id

    received = e2b_id(resource)
    if received:
        return received
    rid = resource.get("id", "")
    return rid if UUID_RE.match(rid) else str(uuid.uuid5(uuid.NAMESPACE_URL, f"{resource.get('resourceType')}/{rid}"))


def ucum(quantity: Json | None) -> tuple[str | None, str | None]:
    if not quantity:
        return None, None
    value = quantity.get("value")
    return (num(value) if value is not None else None), (quantity.get("code") or quantity.get("unit"))


def section_text(ctx: Ctx, key: str) -> tuple[str | None, list[tuple[str, str]]]:
    """A narrative section's text and summaries, parsed once per Bundle (C.1 and H read the narrative)."""
    found = ctx._texts.get(key)
    if found is None:
        section = ctx.index.section_element(key)
        found = ctx._texts[key] = narrative_text(((section or {}).get("text") or {}).get("div"))
    return found


def identifier_value(identifiers: list[Json] | Json | None, id_key: str) -> str | None:
    if isinstance(identifiers, dict):
        identifiers = [identifiers]
    target = f"urn:oid:{oids()['identifiers'][id_key]}"
    return next((i.get("value") for i in identifiers or [] if i.get("system") == target), None)


def loinc_of(resource: Json) -> str | None:
    coding = read.coding(resource.get("code"), "loinc")
    return coding.get("code") if coding else None


def fhir_system(key: str) -> str:
    return system(key)
