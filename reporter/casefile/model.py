"""The case-file model: what a hospital, literature or study case carries, section by section (E2B C-H).

A case file is JSON or YAML. Field names follow the reader's vocabulary, not E2B element numbers; each
field's description names the E2B(R3) element it becomes. Unknown values are written as
``{absent: <reason>}`` so that E2B null flavors can be produced later.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationInfo, model_validator

# --------------------------------------------------------------------------------------------------
# Building blocks
# --------------------------------------------------------------------------------------------------

PARTIAL_DATE_RE = re.compile(
    r"^(?P<year>\d{4})(-(?P<month>\d{2})(-(?P<day>\d{2})"
    r"(T(?P<hour>\d{2}):(?P<minute>\d{2})(:(?P<second>\d{2})(\.\d+)?)?(?P<tz>Z|[+-]\d{2}:\d{2})?)?)?)?$"
)


def _coerce_partial_date(value: Any) -> Any:
    """YAML turns 2023-04-05 into a date and 2023 into an int: bring both back to ISO text."""
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            return value.isoformat()
        text = value.isoformat()
        return text[:-6] + "Z" if text.endswith("+00:00") else text
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, int) and not isinstance(value, bool) and 1000 <= value <= 9999:
        return str(value)
    return value


def _check_partial_date(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    m = PARTIAL_DATE_RE.match(value)
    if not m:
        raise ValueError(
            f"{value!r} is not a date: use YYYY, YYYY-MM, YYYY-MM-DD or YYYY-MM-DDThh:mm[:ss][+hh:mm]"
        )
    year, month, day = m.group("year", "month", "day")
    try:
        dt.date(int(year), int(month or 1), int(day or 1))
    except ValueError as exc:
        raise ValueError(f"{value!r} is not a calendar date ({exc})") from None
    if m.group("hour") is not None:
        if int(m.group("hour")) > 23 or int(m.group("minute")) > 59 or int(m.group("second") or 0) > 59:
            raise ValueError(f"{value!r} has an impossible time of day")
        if m.group("second") is None:  # FHIR's dateTime has seconds: a time to the minute is at hh:mm:00
            value = f"{value[:16]}:00{value[16:]}"
    return value


PartialDate = Annotated[
    str,
    BeforeValidator(_check_partial_date),
    BeforeValidator(_coerce_partial_date),
    Field(description="A date at the precision known: YYYY, YYYY-MM, YYYY-MM-DD or a date-time, with its zone "
                      "when known (without one, a local time whose zone was not stated, as E2B allows)."),
]


_WITH_UNIT = re.compile(r"^\s*(?P<n>\d+(?:\.\d+)?)\s*(?P<u>lbs?|pounds?|in|inch(?:es)?|ft|feet|foot|kg|g|cm|m)\.?\s*$",
                       re.I)
_TO_METRIC = {"lb": (0.45359237, "kg"), "pound": (0.45359237, "kg"), "in": (2.54, "cm"), "inch": (2.54, "cm"),
              "ft": (30.48, "cm"), "feet": (30.48, "cm"), "foot": (30.48, "cm"), "kg": (1.0, "kg"),
              "g": (0.001, "kg"), "cm": (1.0, "cm"), "m": (100.0, "cm")}


def _metric_only(metric: str):
    """Weight is in kilograms and height in centimetres (E2B D.3/D.4): a US case report's '165 lb', a
    neonate's '1980 g' or a '5.2 kg' with its unit is refused with the number to give, rather than with a bare
    'not a number'."""
    def check(value: Any) -> Any:
        if isinstance(value, str) and (m := _WITH_UNIT.match(value)):
            unit = m.group("u").lower().rstrip(".")
            unit = "inch" if unit.startswith("inch") else unit.rstrip("s") if unit != "feet" else unit
            factor, target = _TO_METRIC.get(unit, (None, None))
            if factor and target == metric:
                converted = float(m.group("n")) * factor
                number = f"{round(converted, 3 if unit == 'g' else 1):g}"
                raise ValueError(f"{value.strip()!r}: give it in {metric}, as a number alone ({number})")
        return value
    return check


Kilograms = Annotated[float, BeforeValidator(_metric_only("kg"))]
Centimetres = Annotated[float, BeforeValidator(_metric_only("cm"))]


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, str_strip_whitespace=True)


AbsentReason = Literal["masked", "asked-unknown", "not-asked", "unknown", "no-information", "not-applicable"]


class Absent(Model):
    """Why a value is missing. Becomes a FHIR data-absent-reason and an E2B nullFlavor
    (masked MSK, asked-unknown ASKU, not-asked NASK, unknown UNK, no-information NI, not-applicable NA)."""

    absent: AbsentReason


class MedDRA(Model):
    """A MedDRA LLT code with its MedDRA version (E2B *a/*b element pairs)."""

    code: str = Field(description="MedDRA LLT code, 8 digits.")
    version: str = Field(description="MedDRA version, e.g. '26.1'.")
    term: str | None = Field(None, description="The LLT name (display only; E2B carries the code).")

    @model_validator(mode="before")
    @classmethod
    def _numbers_to_text(cls, data: Any) -> Any:
        if isinstance(data, dict):
            data = dict(data)
            for key in ("code", "version"):
                if isinstance(data.get(key), int | float) and not isinstance(data.get(key), bool):
                    data[key] = str(data[key])
        return data


_QUANTITY_TEXT = re.compile(r"^\s*(?P<n>-?\d+(?:\.\d+)?)\s*(?P<u>\S.*?)?\s*$")


def _quantity_as_written(value: Any) -> Any:
    """A quantity written as text ('3 months', '2 mg/kg/day') or a bare number is refused with the
    {value, unit} to give, instead of pydantic's 'a valid dictionary or instance of Quantity'."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return value
    m = _QUANTITY_TEXT.match(str(value))
    if m is None:
        raise ValueError(f"{value!r} is not a quantity: write it as {{value: <number>, unit: <UCUM unit>}}")
    number, unit = m.group("n"), (m.group("u") or "").strip()
    if not unit:
        raise ValueError(f"{value!r} needs its unit: write it as {{value: {number}, unit: <UCUM unit>}}")
    from reporter.lookup import to_ucum  # the form's reading of a unit as typed (years -> a, mcg -> ug)

    code = to_ucum(unit)
    if code is None:
        raise ValueError(f"{value!r}: write it as {{value: {number}, unit: <the UCUM code for {unit!r}>}}")
    raise ValueError(f"{value!r}: write it as {{value: {number}, unit: {code}}} (the unit in UCUM)")


class Quantity(Model):
    value: float = Field(description="The number.")
    unit: str = Field(description="UCUM unit code, e.g. 'mg', 'mg/kg/d', 'U/L', 'a', 'kg'.")

    @model_validator(mode="before")
    @classmethod
    def _from_text(cls, data: Any) -> Any:
        return _quantity_as_written(data)


class RelativeTime(Model):
    """A time known only relative to a drug's administration: "day 21 after the first anakinra dose".

    Never turned into a date: FHIR carries it as a cqf-relativeDateTime extension; E2B as the
    drug-reaction interval (G.k.9.i.3) or, for tests, F.r.1 nullFlavor UNK with the day in F.r.6."""

    value: float = Field(description="How long after (negative: before) the anchor.")
    unit: str = Field("d", description="UCUM time unit: d, wk, mo, a, h, min.")
    drug: str = Field(description="The `id` of the drug in `drugs` the time is counted from.")
    anchor: Literal["first-dose", "last-dose"] = Field(
        "first-dose", description="Counted from the first dose (default) or the last dose of that drug."
    )
    qualifier: Literal["about", "within", "at-least"] | None = Field(
        None, description="As the author qualified it: about (approximately), within (at most), at least.")
    high: float | None = Field(None, description="The upper end of a range (\"3-4 days\": value 3, high 4).")
    as_stated: str | None = Field(None, description="The author's words, e.g. 'within 20 minutes of the infusion'.")

    @model_validator(mode="after")
    def _range_in_order(self) -> RelativeTime:
        if self.high is not None and self.high < self.value:
            raise ValueError(f"the range's upper end {self.high} is below its start {self.value}")
        return self


When = PartialDate | RelativeTime | Absent
DateOrAbsent = PartialDate | Absent
# A yes / no fact that may also be unknown, with the reason (E2B: true / false / nullFlavor).
TriState = bool | Absent




class ProductId(Model):
    """A product identifier: the ICH MPID (G.k.2.1.1) or PhPID (G.k.2.1.2), or a regional product code
    (e.g. an FDA NDC) in the drug's code element."""

    kind: Literal["mpid", "phpid", "product-code"] = Field(description="Which identifier this is.")
    code: str = Field(description="The identifier.")
    system: str | None = Field(None, description="Its code system OID (product codes; MPID/PhPID have ICH's).")
    version: str | None = Field(None, description="G.k.2.1.1a / G.k.2.1.2a version date or number.")


# --------------------------------------------------------------------------------------------------
# C: the report, its sources and its sender
# --------------------------------------------------------------------------------------------------

ReportType = Literal["spontaneous", "study", "other", "not-available"]


class OtherCaseId(Model):
    source: str = Field(description="C.1.9.1.r.1 source of the case identifier.")
    id: str = Field(description="C.1.9.1.r.2 case identifier.")


class Amendment(Model):
    kind: Literal["nullification", "amendment"] = Field(description="C.1.11.1")
    reason: str | Absent = Field(description="C.1.11.2 reason for nullification or amendment; not known (a received "
                                 "report without one) holds the kind, and the export is refused until it is given.")


class IncludedFile(Model):
    """A document sent inside the report (C.1.6.1.r.2, C.4.r.2): its media type and base64 data as sent."""

    media_type: str = Field(description="MIME type, e.g. application/pdf.")
    data: str = Field(description="The document, base64 as received (compressed when `compression` says so).")
    reference: str | None = Field(None, description="The file name or reference the sender gave it.")
    compression: str | None = Field(None, description="HL7 compression code (e.g. DF deflate), if compressed.")


class Document(Model):
    description: str = Field(description="C.1.6.1.r.1 documents held by the sender.")
    file: IncludedFile | None = Field(None, description="C.1.6.1.r.2 the document itself, when included.")


class Routing(Model):
    """Where a received (imported) report came from and was addressed to: the transmission ids as received.
    Not facts of the case: an export without `--receiver` sends the case back to the receiver these ids name
    (FDA's ZZFDA, CDER, ZZFDA_PREMKT...), from the same sender; without them it goes to ICH."""

    batch_sender: str | None = Field(None, description="N.1.3 batch sender identifier as received.")
    batch_receiver: str | None = Field(None, description="N.1.4 batch receiver identifier as received.")
    message_sender: str | None = Field(None, description="N.2.r.2 message sender identifier as received.")
    message_receiver: str | None = Field(None, description="N.2.r.3 message receiver identifier as received.")


class Report(Model):
    """C.1 identification of the case safety report."""

    type: ReportType = Field(description="C.1.3 type of report (literature cases are usually 'spontaneous').")
    created: PartialDate | None = Field(
        None,
        description="C.1.2 date of creation, a date-time with zone. Defaults to most_recent at 00:00 UTC "
        "so that the same case always gives the same output.",
    )
    first_received: DateOrAbsent = Field(
        description="C.1.4 date report was first received from source ({absent: unknown} when a received report "
        "lacks it: the case is then not ready to submit until someone supplies it).")
    most_recent: DateOrAbsent = Field(description="C.1.5 date of most recent information for this report.")
    worldwide_id: str | None = Field(
        None, description="C.1.8.1 worldwide unique case identifier (defaults to the sender's report id)."
    )
    first_sender: Literal["regulator", "other"] | Absent = Field(
        "other", description="C.1.8.2 first sender of this case (not known when a received report lacks it).")
    other_case_ids: list[OtherCaseId] = Field(default_factory=list, description="C.1.9.1.r")
    linked_reports: list[str] = Field(default_factory=list, description="C.1.10.r identification of linked reports.")
    nullification: Amendment | None = Field(None, description="C.1.11 report nullification / amendment.")
    additional_documents: list[Document] = Field(default_factory=list, description="C.1.6.1.r")
    additional_documents_available: bool | None = Field(
        None, description="C.1.6.1 are additional documents available (default: whether any are listed).")
    previous_case_ids: TriState | None = Field(
        None, description="C.1.9.1 other case identifiers in previous transmissions (default: whether any are "
        "listed; {absent: no-information} for NI).")
    fda_report_type: Literal["15-day", "non-expedited", "5-day", "30-day", "7-day"] | None = Field(
        None, description="FDA.C.1.7.1 local criteria report type (FDA only; default: from `expedited`).")
    expedited: bool | Absent | None = Field(
        None, description="C.1.7 does this case fulfil local criteria for expedited report? (or why not known)")
    combination_product: bool | None = Field(None, description="C.1.12 (FDA) combination product report.")
    routing: Routing | None = Field(
        None, description="N.1.3, N.1.4, N.2.r.2, N.2.r.3: the batch and message sender and receiver ids an "
        "imported report was received with, so that an export goes back to the receiver it came for unless "
        "`--receiver` names another (written by `reporter case` from an imported Bundle; not an E2B fact of "
        "the case).")


# A person's name parts and address lines may each be withheld or not known ({absent: masked}...): ICH allows
# null flavors for every part of a primary source's name and address (C.2.r.1.x, C.2.r.2.x, C.2.r.3).
class Person(Model):
    title: str | Absent | None = None
    given: str | Absent | None = None
    middle: str | Absent | None = None
    family: str | Absent | None = None


class Address(Model):
    street: str | Absent | None = None
    city: str | Absent | None = None
    state: str | Absent | None = None
    postcode: str | Absent | None = None
    country: str | Absent | None = Field(None, description="ISO 3166-1 alpha-2 country code (or EU).")


Qualification = Literal["physician", "pharmacist", "other-health-professional", "lawyer", "consumer"]


class PrimarySource(Model):
    """C.2.r a person who reported the facts."""

    name: Person | Absent = Field(default_factory=Person, description="C.2.r.1 reporter's name.")
    organization: str | Absent | None = Field(None, description="C.2.r.2.1")
    department: str | Absent | None = Field(None, description="C.2.r.2.2")
    address: Address = Field(default_factory=Address, description="C.2.r.2.3-6 and C.2.r.3 country.")
    phone: str | Absent | None = Field(None, description="C.2.r.2.7")
    email: str | Absent | None = Field(None, description="FDA.C.2.r.2.8")
    qualification: Qualification | Absent | None = Field(None, description="C.2.r.4")
    primary: bool = Field(False, description="C.2.r.5 primary source for regulatory purposes.")


SenderType = Literal[
    "pharmaceutical-company", "regulatory-authority", "health-professional", "regional-pv-centre",
    "who-collaborating-centre", "other", "patient",
]


class Sender(Model):
    """C.3 the organisation sending the report."""

    type: SenderType = Field(description="C.3.1 sender type.")
    organization: str = Field(description="C.3.2 sender's organisation.")
    id: str | None = Field(None, description="Batch/message sender identifier (N.1.3, N.2.r.2).")
    department: str | None = Field(None, description="C.3.3.1")
    person: Person = Field(default_factory=Person, description="C.3.3.2-5 responsible person.")
    address: Address = Field(default_factory=Address, description="C.3.4.1-5")
    phone: str | None = None
    fax: str | None = None
    email: str | None = None


class Literature(Model):
    """C.4.r: E2B has the citation and the article each optional; a reference gives at least one."""

    citation: str | None = Field(None, description="C.4.r.1 literature reference, Vancouver style.")
    doi: str | None = Field(None, description="The article's DOI (C.4.r.1 adds it to the citation unless named).")
    file: IncludedFile | None = Field(None, description="C.4.r.2 the article itself, when included.")

    @model_validator(mode="after")
    def _cites_something(self) -> Literature:
        if self.citation is None and self.doi is None and self.file is None:
            raise ValueError("a literature reference needs its citation, DOI or the article itself")
        return self


class StudyRegistration(Model):
    number: str | Absent = Field(description="C.5.1.r.1")
    country: str | Absent | None = Field(None, description="C.5.1.r.2")


class Study(Model):
    name: str | Absent | None = Field(None, description="C.5.2 study name.")
    sponsor_number: str | Absent | None = Field(None, description="C.5.3 sponsor study number.")
    type: Literal["clinical-trial", "individual-patient-use", "other"] | None = Field(
        None, description="C.5.4 study type where reaction(s) were observed."
    )
    registrations: list[StudyRegistration] = Field(default_factory=list, description="C.5.1.r")
    fda_ind: str | None = Field(None, description="FDA.C.5.5a IND number where the AE occurred.")
    fda_pre_anda: str | None = Field(None, description="FDA.C.5.5b pre-ANDA number where the AE occurred.")
    fda_cross_reported_inds: list[str] = Field(default_factory=list, description="FDA.C.5.6.r cross-reported INDs.")


# --------------------------------------------------------------------------------------------------
# D: the patient
# --------------------------------------------------------------------------------------------------


class RecordNumber(Model):
    source: Literal["gp", "specialist", "hospital", "investigation"] = Field(description="D.1.1.1-4")
    value: str | Absent = Field(description="The record number, or {absent: masked} when withheld (MSK).")


class HistoryItem(Model):
    """D.7.1.r a relevant medical history or concurrent condition."""

    term: str | None = Field(None, description="The condition as reported (display).")
    meddra: MedDRA | None = Field(None, description="D.7.1.r.1a/b")
    start: DateOrAbsent | None = Field(None, description="D.7.1.r.2")
    continuing: bool | Absent | None = Field(None, description="D.7.1.r.3")
    end: DateOrAbsent | None = Field(None, description="D.7.1.r.4")
    comments: str | None = Field(None, description="D.7.1.r.5")
    family_history: bool | None = Field(None, description="D.7.1.r.6")


class PastDrug(Model):
    """D.8.r relevant past drug history: the drug is named (D.8.r.1), identified (D.8.r.2/3), or both; the
    parent's (D.10.8.r.1) name is optional in E2B."""

    name: str | Absent | None = Field(
        None, description="D.8.r.1 name of drug as reported (or why it is not known: UNK, NA).")
    identifiers: list[ProductId] = Field(default_factory=list, description="D.8.r.2/3 MPID / PhPID or product code.")
    start: DateOrAbsent | None = Field(None, description="D.8.r.4")
    end: DateOrAbsent | None = Field(None, description="D.8.r.5")
    indication: MedDRA | None = Field(None, description="D.8.r.6")
    reaction: MedDRA | None = Field(None, description="D.8.r.7")

    @model_validator(mode="after")
    def _names_a_drug(self) -> PastDrug:
        if self.name is None and not self.identifiers:
            raise ValueError("a past drug needs its name (or why it is not known) or a product identifier")
        return self


class CauseOfDeath(Model):
    text: str | None = None
    meddra: MedDRA | None = None


class Death(Model):
    """D.9 in case of death."""

    date: DateOrAbsent | None = Field(None, description="D.9.1")
    reported_causes: list[CauseOfDeath] = Field(default_factory=list, description="D.9.2.r")
    autopsy: bool | Absent | None = Field(None, description="D.9.3")
    autopsy_causes: list[CauseOfDeath] = Field(default_factory=list, description="D.9.4.r")


class Parent(Model):
    """D.10 for a parent-child / foetus report."""

    identification: str | Absent | None = Field(None, description="D.10.1 parent initials.")
    birth_date: DateOrAbsent | None = Field(None, description="D.10.2.1")
    age: Quantity | None = Field(None, description="D.10.2.2 (unit a)")
    last_menstrual_period: PartialDate | Absent | None = Field(None, description="D.10.3")
    weight_kg: Kilograms | None = Field(None, description="D.10.4")
    height_cm: Centimetres | None = Field(None, description="D.10.5")
    sex: Literal["male", "female"] | Absent | None = Field(None, description="D.10.6")
    medical_history: list[HistoryItem] = Field(default_factory=list, description="D.10.7.1.r")
    history_text: str | None = Field(None, description="D.10.7.2")
    past_drugs: list[PastDrug] = Field(default_factory=list, description="D.10.8.r")


AgeGroup = Literal["foetus", "neonate", "infant", "child", "adolescent", "adult", "elderly"]


class Patient(Model):
    initials: str | Person | Absent = Field(
        description="D.1 patient (name or initials): initials (or a name) as text; the name in parts when a sender "
                    "structured it (given, family...); or why it is missing.")
    record_numbers: list[RecordNumber] = Field(default_factory=list, description="D.1.1.1-4")
    sex: Literal["male", "female"] | Absent | None = Field(None, description="D.5")
    birth_date: DateOrAbsent | None = Field(None, description="D.2.1")
    age_at_onset: Quantity | None = Field(None, description="D.2.2a/b (unit a, mo, wk, d, h or {decade}).")
    gestation_at_onset: Quantity | None = Field(None, description="D.2.2.1a/b")
    age_group: AgeGroup | None = Field(None, description="D.2.3")
    weight_kg: Kilograms | None = Field(None, description="D.3")
    height_cm: Centimetres | None = Field(None, description="D.4")
    last_menstrual_period: PartialDate | Absent | None = Field(None, description="D.6")
    medical_history: list[HistoryItem] = Field(default_factory=list, description="D.7.1.r")
    history_text: str | Absent | None = Field(None, description="D.7.2 text for relevant medical history.")
    concomitant_therapies: bool | None = Field(None, description="D.7.3")
    race: list[Coded | Absent] = Field(
        default_factory=list, description="FDA.D.11.r patient race (NCIt code in `code`, e.g. C41260 Asian).")
    ethnicity: Coded | Absent | None = Field(
        None, description="FDA.D.12 patient ethnicity (NCIt code, e.g. C17459 Hispanic or Latino).")
    past_drugs: list[PastDrug] = Field(default_factory=list, description="D.8.r")
    death: Death | None = Field(None, description="D.9")
    parent: Parent | None = Field(None, description="D.10")


# --------------------------------------------------------------------------------------------------
# E: reactions
# --------------------------------------------------------------------------------------------------


CRITERIA = ("death", "life_threatening", "hospitalisation", "disabling", "congenital_anomaly",
            "other_medically_important")


class Seriousness(Model):
    """E.i.3.2a-f: each criterion yes (true), no (false) or not known ({absent: no-information}).

    E2B carries a criterion as true or nullFlavor NI only, so "no" and "not known" both leave as NI and an
    imported NI is "not known": the case never claims "non-serious" where the source did not say so."""

    death: TriState = False
    life_threatening: TriState = False
    hospitalisation: TriState = False
    disabling: TriState = False
    congenital_anomaly: TriState = False
    other_medically_important: TriState = False
    required_intervention: TriState | None = Field(None, description="FDA.E.i.3.2h required intervention.")

    def criteria(self) -> dict[str, TriState]:
        return {name: getattr(self, name) for name in CRITERIA}

    @property
    def serious(self) -> bool | None:
        """True when a criterion holds, False when every one is "no", None when that is not known."""
        values = list(self.criteria().values())
        if any(v is True for v in values):
            return True
        if all(v is False for v in values):
            return False
        return None


Outcome = Literal["recovered", "recovering", "not-recovered", "recovered-with-sequelae", "fatal", "unknown"]


class Reaction(Model):
    id: str = Field(description="Local key other parts of the case refer to (e.g. 'hepatitis').")
    verbatim: str | None = Field(
        None, description="E.i.1.1a / E.i.1.2 reaction as reported by the primary source (optional in E2B)."
    )
    language: str | None = Field(None, description="E.i.1.1b ISO 639-2 language of the verbatim text, e.g. 'por'.")
    translation: str | None = Field(None, description="E.i.1.2 reported term translated into English.")
    meddra: MedDRA | None = Field(None, description="E.i.2.1a/b MedDRA version and LLT code.")
    highlighted: Literal["yes", "no"] | None = Field(None, description="E.i.3.1 term highlighted by the reporter.")
    seriousness: Seriousness = Field(default_factory=Seriousness, description="E.i.3.2a-f")
    onset: When | None = Field(None, description="E.i.4 start date (a date, or relative to a drug).")
    end: When | None = Field(None, description="E.i.5 end date.")
    duration: Quantity | None = Field(None, description="E.i.6a/b duration of the reaction.")
    outcome: Outcome | None = Field(None, description="E.i.7 outcome at the time of last observation.")
    medically_confirmed: bool | None = Field(None, description="E.i.8 confirmed by a health professional.")
    country: str | None = Field(None, description="E.i.9 ISO 3166-1 country where the reaction occurred.")

    @model_validator(mode="after")
    def _has_a_term(self) -> Reaction:
        if not (self.verbatim or self.meddra):
            raise ValueError("a reaction needs the term as reported (verbatim) or its MedDRA code")
        return self


# --------------------------------------------------------------------------------------------------
# F: tests and procedures
# --------------------------------------------------------------------------------------------------


class Test(Model):
    name: str | None = Field(None, description="F.r.2.1 test name as reported (optional when MedDRA is given).")
    loinc: str | None = Field(None, description="LOINC code (FHIR Observation.code); E2B takes MedDRA.")
    meddra: MedDRA | None = Field(None, description="F.r.2.2a/b test name in MedDRA.")
    date: When | None = Field(None, description="F.r.1 test date, or a day relative to a drug's first dose.")
    value: float | None = Field(None, description="F.r.3.2 test result value.")
    comparator: Literal["<", "<=", ">", ">="] | None = Field(None, description="Qualifier of the value (F.r.3.2).")
    unit: str | None = Field(None, description="F.r.3.3 UCUM unit.")
    result: Literal["positive", "negative", "borderline", "inconclusive"] | None = Field(
        None, description="F.r.3.1 test result code."
    )
    result_text: str | None = Field(None, description="F.r.3.4 result in free text.")
    low: float | None = Field(None, description="F.r.4 normal low value (same unit).")
    high: float | None = Field(None, description="F.r.5 normal high value (same unit).")
    comments: str | None = Field(None, description="F.r.6")
    more_info: bool | None = Field(None, description="F.r.7 more information available.")

    @model_validator(mode="after")
    def _has_a_result(self) -> Test:
        if not (self.name or self.loinc or self.meddra):
            raise ValueError("a test needs a name, a LOINC code or a MedDRA code")
        if self.value is None and self.result is None and not self.result_text:
            raise ValueError("a test needs a value, a result code or a result_text")
        if self.value is not None and not self.unit:
            raise ValueError("a test value needs its UCUM unit (use '1' for unitless values)")
        if self.comparator is not None and self.value is None:
            raise ValueError("a comparator needs a value")
        return self


# --------------------------------------------------------------------------------------------------
# G: drugs
# --------------------------------------------------------------------------------------------------

DrugRole = Literal["suspect", "concomitant", "interacting", "not-administered"]


class Substance(Model):
    name: str = Field(description="G.k.2.3.r.1 substance / specified substance name.")
    termid: Coded | None = Field(
        None, description="G.k.2.3.r.2a/b substance TermID (`code`, `system` OID, `version`), e.g. a UNII.")
    strength: Quantity | None = Field(None, description="G.k.2.3.r.3a/b strength.")




class Authorisation(Model):
    number: str | None = Field(None, description="G.k.3.1 authorisation / application number.")
    country: str | None = Field(None, description="G.k.3.2")
    holder: str | None = Field(None, description="G.k.3.3 name of holder / applicant.")


class DeviceManufacturer(Model):
    name: str | None = Field(None, description="FDA.G.k.12.r.7.1a device manufacturer name.")
    address: Address | None = Field(None, description="FDA.G.k.12.r.7.1b-e street, city, state, country.")


class Device(Model):
    """A device part of a combination product (FDA.G.k.12.r). Codes are FDA's (problem codes, product code:
    NCIt-flagged; usage, operator, remedial action, follow-up type: FDA's own lists), kept as sent."""

    brand_name: str | None = Field(None, description="FDA.G.k.12.r.4 device brand name.")
    common_name: str | None = Field(None, description="FDA.G.k.12.r.5 common device name.")
    product_code: str | None = Field(None, description="FDA.G.k.12.r.6 device product code (e.g. FMF).")
    manufacturer: DeviceManufacturer | None = Field(None, description="FDA.G.k.12.r.7")
    lot: str | None = Field(None, description="FDA.G.k.12.r.9 device lot number.")
    malfunction: bool | None = Field(None, description="FDA.G.k.12.r.1 malfunction.")
    follow_up_types: list[str] = Field(default_factory=list, description="FDA.G.k.12.r.2.r follow-up type codes.")
    problem_codes: list[str] = Field(default_factory=list, description="FDA.G.k.12.r.3.r device problem codes.")
    usage: str | None = Field(None, description="FDA.G.k.12.r.8 device usage code (1 initial use, 2 reuse...).")
    operator: str | None = Field(None, description="FDA.G.k.12.r.10 operator of the device code.")
    remedial_actions: list[str] = Field(default_factory=list, description="FDA.G.k.12.r.11.r remedial action codes.")


class Coded(Model):
    """A coded value with the text as reported. Without `system`, `code` is this project's key (e.g. a
    route key from mappings/routes.yaml); with `system` (an OID, e.g. an EDQM or ICH list), it is a code
    of that system, kept as received."""

    text: str | None = None
    code: str | None = None
    system: str | None = Field(None, description="OID of the code system when the code is not a project key.")
    version: str | None = Field(None, description="Version of that code system (e.g. an EDQM release date).")


class Dosage(Model):
    """G.k.4.r one dosage line."""

    dose: Quantity | None = Field(None, description="G.k.4.r.1a/b dose and UCUM unit (e.g. 2 mg/kg/d).")
    every: Quantity | None = Field(
        None, description="G.k.4.r.2/3 number of units in the interval and its unit (every 1 d)."
    )
    start: When | None = Field(None, description="G.k.4.r.4 date of first administration.")
    stop: When | None = Field(None, description="G.k.4.r.5 date of last administration.")
    duration: Quantity | None = Field(None, description="G.k.4.r.6a/b duration of drug administration.")
    period_absent: Absent | None = Field(
        None, description="G.k.4.r.2-6 the dosage time as a whole not known (its effectiveTime sent as a null "
                          "flavor, e.g. ASKU), when no interval, date or duration is given.")
    batch: str | None = Field(None, description="G.k.4.r.7 batch / lot number.")
    text: str | None = Field(None, description="G.k.4.r.8 dosage text.")
    form: Coded | None = Field(None, description="G.k.4.r.9 pharmaceutical dose form (text and EDQM TermID).")
    route: Coded | None = Field(
        None, description="G.k.4.r.10 route (text, and code: a route key from mappings/routes.yaml)."
    )
    parent_route: Coded | None = Field(None, description="G.k.4.r.11 parent route (parent-child reports).")


Dechallenge = Literal["positive", "negative", "unknown", "not-applicable"]
Rechallenge = Literal["recurred", "did-not-recur", "unknown-outcome", "not-done"]


class CausalityAnswer(Model):
    """One answer to an item of a causality method (Naranjo, WHO-UMC, RUCAM), as `reporter assess` takes it."""

    item: str = Field(description="The item's key in mappings/assess/<method>.yaml (e.g. 'alternative_causes'), "
                      "or its number in the method's table.")
    answer: str = Field(description="The answer's key (e.g. 'yes', 'no', 'unknown'; RUCAM: an option key or its "
                        "points).")
    note: str | None = Field(None, description="Why: the fact or judgement behind the answer.")


class Causality(Model):
    """G.k.9.i.2.r: each of its three parts is optional in E2B (a sender may state a result without its method,
    or who assessed without a result); an assessment states at least one."""

    source: str | None = Field(None, description="G.k.9.i.2.r.1 source of assessment (e.g. 'Reporter', 'Sender').")
    method: str | None = Field(
        None, description="G.k.9.i.2.r.2 method (e.g. 'Global introspection', 'WHO-UMC', 'Naranjo').")
    result: str | None = Field(None, description="G.k.9.i.2.r.3 result (e.g. 'Probable', 'Related').")
    answers: list[CausalityAnswer] = Field(
        default_factory=list, description="For Naranjo, WHO-UMC or RUCAM: the assessor's answers to the method's "
        "items. Kept with the case; not an E2B element (E2B carries method and result).")

    @model_validator(mode="after")
    def _states_something(self) -> Causality:
        if self.source is None and self.method is None and self.result is None:
            raise ValueError("an assessment needs a source, a method or a result")
        return self


class DrugReaction(Model):
    """G.k.9.i: this drug assessed against one reaction."""

    reaction: str = Field(description="The `id` of the reaction (G.k.9.i.1).")
    onset_after_first_dose: Quantity | None = Field(None, description="G.k.9.i.3.1a/b")
    onset_after_last_dose: Quantity | None = Field(None, description="G.k.9.i.3.2a/b")
    dechallenge: Dechallenge | None = Field(
        None, description="Did the reaction abate when the drug was stopped or reduced (no E2B element; "
        "exported in G.k.11 text, and read back from it on import)."
    )
    rechallenge: Rechallenge | None = Field(None, description="G.k.9.i.4 did the reaction recur on re-administration.")
    causality: list[Causality] = Field(default_factory=list, description="G.k.9.i.2.r")


ActionTaken = Literal[
    "withdrawn", "dose-reduced", "dose-increased", "dose-not-changed", "unknown", "not-applicable"
]

AdditionalInfo = Literal[
    "counterfeit", "overdose", "taken-by-father", "expired", "batch-tested-ok", "batch-tested-not-ok",
    "medication-error", "misuse", "abuse", "occupational-exposure", "off-label-use",
]


class Indication(Model):
    text: str | None = Field(None, description="G.k.7.r.1 indication as reported.")
    meddra: MedDRA | None = Field(None, description="G.k.7.r.2a/b")


class Drug(Model):
    id: str = Field(description="Local key (e.g. 'anakinra') used by reactions, tests and relative times.")
    role: DrugRole | Absent = Field(
        description="G.k.1 characterisation of drug role. Not known only where a received report's role could "
                    "not be linked to the drug (two drugs with one id); E2B allows no null flavor here, so the "
                    "export is refused until someone chooses it.")
    product: str = Field(description="G.k.2.2 medicinal product name as reported.")
    substances: list[Substance] = Field(default_factory=list, description="G.k.2.3.r")
    identifiers: list[ProductId] = Field(
        default_factory=list,
        description="G.k.2.1 MPID / PhPID and regional product codes (e.g. FDA NDC) with their code system.")
    atc: str | None = Field(None, description="ATC code (FHIR coding; not an E2B element).")
    rxnorm: str | None = Field(None, description="RxNorm RxCUI (FHIR coding; not an E2B element).")
    country_obtained: str | None = Field(None, description="G.k.2.4")
    blinded: bool | None = Field(None, description="G.k.2.5 investigational product blinded.")
    authorisation: Authorisation | None = Field(None, description="G.k.3")
    dosages: list[Dosage] = Field(default_factory=list, description="G.k.4.r")
    cumulative_dose: Quantity | None = Field(None, description="G.k.5a/b cumulative dose to first reaction.")
    gestation_at_exposure: Quantity | None = Field(None, description="G.k.6a/b")
    indications: list[Indication] = Field(default_factory=list, description="G.k.7.r")
    action_taken: ActionTaken | None = Field(None, description="G.k.8 action(s) taken with drug.")
    reactions: list[DrugReaction] = Field(default_factory=list, description="G.k.9.i drug-reaction matrix.")
    additional_info: list[AdditionalInfo] = Field(default_factory=list, description="G.k.10.r")
    fda_additional_info: list[Literal["test", "reference", "bulk-ingredient", "bulk-ingredient-compounding",
                                      "private-label"]] = Field(
        default_factory=list, description="FDA.G.k.10a FDA additional information on drug (FDA's list, e.g. the "
                                          "test or reference drug of an IND-exempt BA/BE study).")
    additional_info_absent: Absent | None = Field(
        None, description="G.k.10.r sent as a null flavor instead of codes (FDA's premarket examples send NA for "
                          "FDA.G.k.10a: no coded additional information applies).")
    additional_text: str | None = Field(None, description="G.k.11 additional information on drug.")
    devices: list[Device] = Field(default_factory=list,
                                  description="FDA.G.k.12.r device parts of a combination product.")


# --------------------------------------------------------------------------------------------------
# H: narrative
# --------------------------------------------------------------------------------------------------


class Summary(Model):
    language: str = Field(description="H.5.r.1b ISO 639-2 language code.")
    text: str = Field(description="H.5.r.1a case summary and reporter's comments in that language.")


class Narrative(Model):
    text: str = Field(description="H.1 case narrative including clinical course, therapeutic measures, outcome.")
    reporter_comments: str | None = Field(None, description="H.2")
    sender_diagnoses: list[MedDRA] = Field(default_factory=list, description="H.3.r")
    sender_comments: str | None = Field(None, description="H.4")
    summaries: list[Summary] = Field(default_factory=list, description="H.5.r")


# --------------------------------------------------------------------------------------------------
# The case
# --------------------------------------------------------------------------------------------------


class CaseFile(Model):
    """One individual case safety report, as authored by a person or produced by an intake path."""

    format: Literal["ae-reporter/case/1"] = Field(
        "ae-reporter/case/1", alias="$format", description="Case-file format version."
    )
    case_id: str = Field(
        min_length=1, max_length=100,
        description="C.1.1 sender's safety report unique identifier (country-organisation-number).",
    )
    report: Report
    primary_sources: list[PrimarySource] = Field(default_factory=list, description="C.2.r")
    sender: Sender | None = Field(None, description="C.3")
    literature: list[Literature] = Field(default_factory=list, description="C.4.r")
    study: Study | None = Field(None, description="C.5")
    patient: Patient | None = Field(None, description="D")
    reactions: list[Reaction] = Field(default_factory=list, description="E.i")
    tests: list[Test] = Field(default_factory=list, description="F.r")
    drugs: list[Drug] = Field(default_factory=list, description="G.k")
    narrative: Narrative | None = Field(None, description="H")

    @model_validator(mode="after")
    def _keys_resolve(self, info: ValidationInfo) -> CaseFile:
        """Local keys must be unique and every reference to a drug or reaction must name one. A caller that
        places these problems at their fields itself (the case form) passes context {"keys": "caller"}."""
        if (info.context or {}).get("keys") == "caller":
            return self
        problems = [message for _, message in self.key_problems()]
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def key_problems(self) -> list[tuple[str, str]]:
        """(case-file path, message) for each local key used twice and each drug-reaction link naming no
        reaction of the case."""
        problems: list[tuple[str, str]] = []
        for kind, items in (("reaction", self.reactions), ("drug", self.drugs)):
            seen: set[str] = set()
            for i, item in enumerate(items):
                if item.id in seen:
                    problems.append((f"{kind}s[{i}].id", f"two {kind}s have the id {item.id!r}"))
                seen.add(item.id)
        reaction_ids = {r.id for r in self.reactions}
        for d_index, drug in enumerate(self.drugs):
            for j, link in enumerate(drug.reactions):
                if link.reaction not in reaction_ids:
                    problems.append((f"drugs[{d_index}].reactions[{j}].reaction",
                                     f"drugs[{d_index}].reactions names reaction {link.reaction!r}, which is not "
                                     "in reactions"))
        return problems

    def dangling_relative_times(self) -> list[tuple[str, str]]:
        """(case-file path, message) for relative times anchored to a drug the case does not list.

        Not a model error: a case under construction (or one whose suspect drug was removed) still maps to
        a Bundle, and validation reports this together with everything else that is wrong."""
        drug_ids = {d.id for d in self.drugs}
        return [(path, f"{path} is relative to drug {when.drug!r}, which is not in drugs")
                for path, when in self.relative_times() if when.drug not in drug_ids]

    def relative_times(self) -> list[tuple[str, RelativeTime]]:
        found: list[tuple[str, RelativeTime]] = []
        for i, r in enumerate(self.reactions):
            for name in ("onset", "end"):
                value = getattr(r, name)
                if isinstance(value, RelativeTime):
                    found.append((f"reactions[{i}].{name}", value))
        for i, t in enumerate(self.tests):
            if isinstance(t.date, RelativeTime):
                found.append((f"tests[{i}].date", t.date))
        for i, d in enumerate(self.drugs):
            for j, dose in enumerate(d.dosages):
                for name in ("start", "stop"):
                    value = getattr(dose, name)
                    if isinstance(value, RelativeTime):
                        found.append((f"drugs[{i}].dosages[{j}].{name}", value))
        return found


# A model that names one defined further down (Patient.race -> Coded) keeps that field's annotation as a
# forward reference until pydantic first rebuilds it, which happens only when that model is validated on
# its own (the E2B import does). Code that reads the annotations (the case form) must not depend on that.
for _model in [v for v in list(globals().values()) if isinstance(v, type) and issubclass(v, BaseModel)
               and v.__module__ == __name__]:
    _model.model_rebuild()
