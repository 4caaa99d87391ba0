"""The view model of a case report: what the HTML page and the CIOMS I form show, already extracted
from the Bundle (reporter/render/view.py) and free of FHIR structure.

Every field may be missing. `Missing` says why (a data-absent-reason from the Bundle) or that the
Bundle did not say; templates render it as a marked gap, never as an empty cell.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from markupsafe import Markup

SUSPECT_ROLES = ("suspect", "interacting")


@dataclass(frozen=True)
class Missing:
    reason: str | None = None  # data-absent-reason code (asked-unknown, masked, ...) or None: not stated


@dataclass(frozen=True)
class Qty:
    value: float
    unit: str
    comparator: str | None = None


@dataclass(frozen=True)
class When:
    """A point in time as the Bundle has it: a partial ISO date, a time relative to a drug, or missing.
    `day` is its place on the case's day axis (days from the suspect drug's first dose) when known."""

    date: str | None = None
    offset: Qty | None = None
    anchor: str | None = None  # "first anakinra dose"
    missing: Missing | None = None
    day: float | None = None
    ref: str | None = None  # relative times: the key of the drug counted from (DrugView.key)
    from_last: bool = False  # relative times: counted from that drug's last dose
    phrase: str | None = None  # relative times: the author's qualifier or range ("within", "about 3-4 d")
    as_stated: str | None = None  # relative times: the author's words
    span: tuple[float, float] | None = None  # (fewest, most) days on the axis when not one day (4 months); day is
    # its middle, where a chart places it
    qualifier: str | None = None  # relative times: "about" or "at least", as an interval's text says it


Text = str | Missing | None


@dataclass(frozen=True)
class Coded:
    """A coded term with its verbatim text: MedDRA LLT, LOINC test."""

    text: str | None
    code: str | None = None
    system: str | None = None  # short name: MedDRA, LOINC
    version: str | None = None


@dataclass(frozen=True)
class Party:
    name: Text = None
    organization: str | None = None
    qualification: str | None = None
    kind: str | None = None  # sender type
    address: str | None = None
    country: str | None = None
    contact: str | None = None


@dataclass(frozen=True)
class Header:
    report_id: Text = None
    worldwide_id: str | None = None
    report_type: Text = None
    serious: bool | None = None
    criteria: tuple[str, ...] = ()  # the case's criteria when every reaction has the same
    by_reaction: tuple[tuple[str, str], ...] = ()  # (reaction, its seriousness) when the reactions differ
    created: When | None = None
    first_received: When | None = None
    most_recent: When | None = None
    sender: Party | None = None
    primary_sources: tuple[Party, ...] = ()
    literature: tuple[str, ...] = ()
    study: str | None = None
    amendment: str | None = None  # "Amendment: reason" / "Nullification: reason"
    other_ids: tuple[str, ...] = ()


@dataclass(frozen=True)
class HistoryItem:
    term: Coded | None
    start: When | None = None
    end: When | None = None
    continuing: bool | Missing | None = None  # Missing: held with a null flavor (masked, asked-unknown)
    comments: str | None = None


@dataclass(frozen=True)
class ParentView:
    """D.10: the parent in a parent-child report (the child, or the foetus, is the patient)."""

    identification: Text = None
    sex: Text = None
    age: Qty | None = None
    birth_date: When | None = None
    last_menstrual_period: When | None = None
    weight: Qty | None = None
    height: Qty | None = None
    history: tuple[HistoryItem, ...] = ()
    history_text: str | None = None
    past_drugs: tuple[str, ...] = ()


@dataclass(frozen=True)
class PatientView:
    initials: Text = None
    sex: Text = None
    birth_date: When | None = None
    age: Qty | None = None
    age_group: str | None = None
    weight: Qty | None = None
    height: Qty | None = None
    record_numbers: tuple[str, ...] = ()
    history: tuple[HistoryItem, ...] = ()
    history_text: str | None = None
    concomitant_therapies: bool | None = None  # D.7.3: non-drug therapies, described in the narrative
    past_drugs: tuple[str, ...] = ()
    death: str | None = None
    country: str | None = None
    gestation: Qty | None = None  # D.2.2.1 gestation period when the reaction was observed in the foetus
    last_menstrual_period: When | None = None  # D.6
    parent: ParentView | None = None  # D.10


@dataclass(frozen=True)
class ReactionView:
    key: str
    verbatim: Text
    term: Coded | None = None
    translation: str | None = None
    onset: When | None = None
    end: When | None = None
    duration: Qty | None = None
    outcome: Text = None
    serious: bool | None = None
    criteria: tuple[str, ...] = ()
    country: str | None = None
    medically_confirmed: bool | None = None
    highlighted: bool | None = None  # E.i.3.1
    situation: str | None = None  # a situation term (off-label use, lack of efficacy...): what it reports


@dataclass(frozen=True)
class DosageView:
    dose: Qty | None = None
    every: str | None = None  # "daily", "every 12 hours" (clinician form)
    interval: Qty | None = None  # the dosing interval as given (12 h)
    route: str | None = None
    route_text: str | None = None  # the route as the reporter wrote it, when it says more than the coded route
    form: str | None = None
    start: When | None = None
    stop: When | None = None
    duration: Qty | None = None
    text: str | None = None
    batch: str | None = None
    parent_route: str | None = None  # G.k.4.r.11: the parent's route in a parent-child report


@dataclass(frozen=True)
class DrugView:
    key: str
    role: str  # suspect, concomitant, interacting, not-administered
    product: Text
    substances: tuple[str, ...] = ()
    dosages: tuple[DosageView, ...] = ()
    indications: tuple[str, ...] = ()
    action_taken: str | None = None
    cumulative_dose: Qty | None = None
    additional_info: tuple[str, ...] = ()
    additional_text: str | None = None
    gestation_at_exposure: Qty | None = None  # G.k.6
    obtained_in: str | None = None  # G.k.2.4 country where the drug was obtained
    blinded: bool | None = None  # G.k.2.5 investigational product blinded
    authorisation: str | None = None  # G.k.3: number, country, holder as one line


@dataclass(frozen=True)
class AssessmentView:
    """One drug against one reaction (G.k.9.i): timing, de/rechallenge and the causality results."""

    drug: str
    reaction: str | Coded | Missing  # Missing: the reaction has no term at all (the template shows a gap)
    onset_after_first_dose: Qty | None = None
    onset_worked_out: bool = False  # True: from the onset and the first dose (dates or relative times), not stated
    onset_worked_text: str | None = None  # that interval as the assess module words it ("84.2 to 93.2 days")
    onset_after_last_dose: Qty | None = None
    dechallenge: str | None = None
    rechallenge: str | None = None
    results: tuple[tuple[str, str, str], ...] = ()  # (source, method, result)


@dataclass(frozen=True)
class LabRow:
    test: Coded
    when: When | None
    value: Qty | None = None
    result_text: str | None = None
    low: float | None = None
    high: float | None = None
    unit: str | None = None  # of the reference range
    flag: str | None = None  # H, L, N
    xuln: float | None = None
    grade: int | None = None
    comments: str | None = None
    grade_rule: str | None = None  # which CTCAE rule gave the grade (x ULN, or x an abnormal baseline)
    range_text: str | None = None  # the reference range as written, when the Bundle has it
    baseline_abnormal: bool = False  # the test's last value at or before the first suspect dose, out of range

    @property
    def above_uln(self) -> float | None:
        """The multiple of the ULN the page shows: only for a value above it. Below the ULN a multiple says
        nothing, and for a value low out of range (platelets 19 against 150-400) it reads as a finding."""
        return self.xuln if self.flag == "H" else None


@dataclass(frozen=True)
class Figure:
    key: str
    caption: str
    svg: Markup  # in the scale chosen for the case
    alternate: Markup | None = None  # the same data in the other scale (the page's toggle)


@dataclass(frozen=True)
class IssueView:
    severity: str
    code: str
    location: str
    message: str
    hint: str | None = None
    field: str | None = None  # the case field it comes from, as the form names it (the pages say it first)


@dataclass(frozen=True)
class NarrativeView:
    text: Text = None
    reporter_comments: str | None = None
    sender_comments: str | None = None
    sender_diagnoses: tuple[Coded, ...] = ()
    summaries: tuple[tuple[str, str], ...] = ()  # (language, text)


@dataclass(frozen=True)
class ItemRow:
    """One answered item of a causality method."""

    number: int
    question: str
    answer: str
    points: int | None
    source: str  # "case", "user", "default"
    fact: str | None = None


@dataclass(frozen=True)
class MethodView:
    method: str
    label: str
    result: str  # e.g. "Probable (score 5)"
    summary: tuple[str, ...]
    items: tuple[ItemRow, ...]
    scored: bool


@dataclass(frozen=True)
class ComputedAssessment:
    """A drug-reaction pair assessed by this tool from the case file (reporter/assess)."""

    drug: str
    reaction: str
    onset: tuple[str, ...]  # time to onset after first / last dose, duration
    liver: tuple[str, ...]  # R ratio at recognition, Hy's law, normalisation (liver reactions)
    stated: tuple[str, ...]  # how the results stated in the case compare
    methods: tuple[MethodView, ...]
    not_assessed: str | None = None  # why no method scored the pair (a situation term, not a reaction)


@dataclass(frozen=True)
class ReportVersion:
    """Which version of the case a rendering shows, as the store recorded it (the Bundle itself says only
    amendment or nullification): initial, follow-up, amendment or nullification."""

    kind: str
    number: int | None = None
    reason: str | None = None


@dataclass(frozen=True)
class CaseView:
    header: Header
    patient: PatientView | None = None
    reactions: tuple[ReactionView, ...] = ()
    drugs: tuple[DrugView, ...] = ()
    assessments: tuple[AssessmentView, ...] = ()
    labs: tuple[LabRow, ...] = ()
    figures: tuple[Figure, ...] = ()
    liver: tuple[str, ...] = ()  # derived findings: R ratio and pattern, Hy's law, CTCAE grade
    day_axis: str | None = None  # "Days after first anakinra dose", or "Date" for a date axis
    scale_note: str | None = None  # the y scale chosen for every chart of the case, and why
    chart_notes: tuple[str, ...] = ()  # tests with values but no chart, and why
    baselines: tuple[str, ...] = ()  # tests already abnormal at or before the first suspect dose
    narrative: NarrativeView = field(default_factory=NarrativeView)
    issues: tuple[IssueView, ...] = ()
    validated: bool = False  # False: no validation report was available
    not_valid: tuple[str, ...] = ()  # why the case is not a valid ICSR (errors found): the page's banner
    gaps: tuple[str, ...] = ()  # whole sections the Bundle lacks
    computed: tuple[ComputedAssessment, ...] = ()  # causality methods worked out from the case file
    computed_note: str | None = None  # why there are none (no case file, or what stopped them)

    def drugs_by_role(self, role: str) -> list[DrugView]:
        return [d for d in self.drugs if d.role == role]

    @property
    def suspect_drugs(self) -> list[DrugView]:
        """Suspect and interacting drugs in the Bundle's order: ICH counts an interacting drug (G.k.1 = 3) as a
        suspect, so it is listed wherever suspects are (the page's suspect table, CIOMS boxes 14-21)."""
        return [d for d in self.drugs if d.role in SUSPECT_ROLES]

    @property
    def errors(self) -> list[IssueView]:
        return [i for i in self.issues if i.severity in ("fatal", "error")]

    @property
    def warnings(self) -> list[IssueView]:
        return [i for i in self.issues if i.severity == "warning"]

    @property
    def notes(self) -> list[IssueView]:
        return [i for i in self.issues if i.severity not in ("fatal", "error", "warning")]
