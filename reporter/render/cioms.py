"""The CIOMS I form (suspect adverse reaction report) as data: each numbered box filled from the case
view, cut to what its box holds, with the rest carried to continuation pages.

Boxes are sized in lines of text; the cut falls on a word boundary and says where the text goes on.
Sections: I reaction information (1-13), II suspect drug(s) (14-21), III concomitant drugs and history
(22-23), IV manufacturer information (24a-25a).
"""

from __future__ import annotations

import re
import textwrap
from dataclasses import dataclass, field

from markupsafe import Markup

from reporter.render import env as f
from reporter.render.charts import fmt_num
from reporter.render.model import CaseView, DosageView, DrugView, Missing, When


@dataclass(frozen=True)
class Box:
    item: str  # "7+13"
    text: str
    continued: bool = False


@dataclass
class CiomsForm:
    report_id: str
    initials: str
    country: str
    birth: tuple[str, str, str]  # day, month, year
    age: str
    sex: str
    onset: tuple[str, str, str]
    onset_note: str
    checks: dict[str, bool]
    description: Box
    suspects: Box
    daily_doses: Box
    routes: Box
    indications: Box
    therapy_dates: Box
    therapy_duration: Box
    abated: str  # yes, no, na, unknown
    reappeared: str
    concomitants: Box
    history: Box
    manufacturer: Box
    control_no: str
    date_received: str
    source: dict[str, bool]
    report_date: str
    report_type: str  # initial, follow-up
    continuation: list[tuple[str, str, str]] = field(default_factory=list)  # (item, title, full text)
    not_valid: tuple[str, ...] = ()  # why the case is not a valid ICSR: a banner above the form


# Lines and characters per line of each box at the template's sizes (templates/cioms.css).
BOX_SIZE = {
    "7+13": (22, 90), "14": (3, 70), "15": (3, 34), "16": (3, 34), "17": (3, 70), "18": (3, 34),
    "19": (3, 34), "22": (5, 115), "23": (5, 115), "24a": (5, 50),
}
TITLES = {
    "7+13": "Describe reaction(s) (including relevant tests/lab data)",
    "14": "Suspect drug(s)", "15": "Daily dose(s)", "16": "Route(s) of administration",
    "17": "Indication(s) for use", "18": "Therapy dates (from/to)", "19": "Therapy duration",
    "22": "Concomitant drug(s) and dates of administration", "23": "Other relevant history",
    "24a": "Name and address of manufacturer",
}
CONTINUED = " … (continued on page {page}, item {item})"


def _lines_needed(text: str, width: int) -> int:
    """Lines the text takes in a box `width` monospace characters wide, wrapping at words as browsers do."""
    return sum(len(textwrap.wrap(line, width)) or 1 for line in text.split("\n"))


def fit(item: str, text: str, form: CiomsForm | None = None) -> Box:
    """Cut `text` to its box; the whole text goes to the form's continuation list when it does not fit."""
    lines, width = BOX_SIZE[item]
    if _lines_needed(text, width) <= lines:
        return Box(item, text)
    marker = CONTINUED.format(page=2, item=item)
    budget = lines * width - len(marker) - 4 * lines  # slack for words wrapping early
    cut = text[:budget]
    kept = re.sub(r"\s+\S*$", "", cut) or cut
    while _lines_needed(kept + marker, width) > lines and " " in kept:
        kept = kept.rsplit(" ", 1)[0]
    if form is not None:
        form.continuation.append((item, TITLES[item], text))
    return Box(item, kept + marker, continued=True)


def plain(value: object) -> str:
    """Filter output as plain text for the form: gaps read UNK-style, markup dropped."""
    if value is None:
        return "UNK"
    if isinstance(value, Missing):
        return "UNK" if value.reason != "masked" else "MSK"
    shown = f.show(value)
    if isinstance(shown, Markup):
        return shown.striptags().strip("[]") or "UNK"
    return str(shown)


def _date_parts(w: When | None) -> tuple[str, str, str]:
    if w is None or not w.date:
        return ("UNK", "UNK", "UNK")
    parts = w.date[:10].split("-")
    year = parts[0]
    month = f.MONTHS[int(parts[1]) - 1].upper() if len(parts) > 1 else "UNK"
    day = parts[2] if len(parts) > 2 else "UNK"
    return (day, month, year)


def _dose_line(dose: DosageView) -> str:
    text = plain(dose.dose) if dose.dose else (dose.text or "UNK")
    if dose.dose and dose.every:
        text += f" {dose.every}"
    return text


def _therapy_dates(dose: DosageView) -> str:
    return f"{plain(dose.start)} to {plain(dose.stop)}"


def _drug_lines(drugs: list[DrugView], pick) -> str:
    lines = []
    for d in drugs:
        values = [pick(dose) for dose in d.dosages] or ["UNK"]
        prefix = f"{plain(d.product)}: " if len(drugs) > 1 else ""
        lines.append(prefix + "; ".join(values))
    return "\n".join(lines) or "UNK"


def _challenge(case: CaseView, which: str) -> str:
    """Item 20/21 for the suspect drugs: yes, no, na, or unknown when not stated."""
    answers = {getattr(a, which) for a in case.assessments
               if any(d.key == a.drug or plain(d.product) == a.drug for d in case.drugs_by_role("suspect"))}
    answers.discard(None)
    mapping = {
        "dechallenge": {"positive": "yes", "negative": "no", "not-applicable": "na", "unknown": "unknown"},
        "rechallenge": {"recurred": "yes", "did-not-recur": "no", "not-done": "na",
                        "unknown-outcome": "unknown"},
    }[which]
    codes = {mapping.get(str(a), "unknown") for a in answers}
    for answer in ("yes", "no", "na"):
        if answer in codes:
            return answer
    return "unknown"


def describe_reactions(case: CaseView) -> str:
    parts: list[str] = []
    for r in case.reactions:
        term = f" [{plain(r.term)}]" if r.term else ""
        line = f"{plain(r.verbatim)}{term}; onset {plain(r.onset)}; outcome {plain(r.outcome)}"
        if r.serious:
            line += f"; serious ({'; '.join(r.criteria)})"
        parts.append(line + ".")
    if case.labs:
        by_time: dict[str, list[str]] = {}
        for row in case.labs:
            value = plain(row.value) if row.value else (row.result_text or "UNK")
            rng = ""
            if row.low is not None and row.high is not None:
                rng = f" (ref {fmt_num(row.low)}-{fmt_num(row.high)})"
            elif row.high is not None:
                rng = f" (ref ≤{fmt_num(row.high)})"
            elif row.low is not None:
                rng = f" (ref ≥{fmt_num(row.low)})"
            when = plain(row.when) if row.when and not row.when.missing else "date unknown"
            by_time.setdefault(when, []).append(f"{row.test.text or 'test'} {value}{rng}")
        lines = [f"{when[:1].upper()}{when[1:]}: {', '.join(items)}." for when, items in by_time.items()]
        parts.append("Relevant tests:\n" + "\n".join(lines))
    narrative = case.narrative.text
    if isinstance(narrative, str) and narrative:
        parts.append(narrative.strip())
    return "\n".join(parts) or "UNK"


def build_form(case: CaseView) -> CiomsForm:
    h, p = case.header, case.patient
    suspects = case.drugs_by_role("suspect") + case.drugs_by_role("interacting")
    criteria = {c for r in case.reactions for c in r.criteria} | set(h.criteria)
    checks = {
        "died": any("death" in c.lower() for c in criteria),
        "hospitalisation": any("hospital" in c.lower() for c in criteria),
        "disability": any("disab" in c.lower() or "incapacit" in c.lower() for c in criteria),
        "life_threatening": any("life" in c.lower() for c in criteria),
        "congenital": any("congenital" in c.lower() for c in criteria),
        "other": any("medically important" in c.lower() for c in criteria),
    }
    first_onset = next((r.onset for r in case.reactions if r.onset is not None), None)
    source_text = (plain(h.report_type) + " " + (h.study or "")).lower()
    form = CiomsForm(
        not_valid=case.not_valid,
        report_id=plain(h.report_id),
        initials=plain(p.initials) if p else "UNK",
        country=(p.country if p and p.country else None) or next(
            (r.country for r in case.reactions if r.country), None) or next(
            (s.country for s in h.primary_sources if s.country), None) or "UNK",
        birth=_date_parts(p.birth_date if p else None),
        age=(plain(p.age) if p and p.age else "UNK"),
        sex=plain(p.sex) if p else "UNK",
        onset=_date_parts(first_onset),
        onset_note=plain(first_onset) if first_onset and not first_onset.date else "",
        checks=checks,
        description=Box("7+13", ""),
        suspects=Box("14", ""), daily_doses=Box("15", ""), routes=Box("16", ""), indications=Box("17", ""),
        therapy_dates=Box("18", ""), therapy_duration=Box("19", ""),
        abated=_challenge(case, "dechallenge"),
        reappeared=_challenge(case, "rechallenge"),
        concomitants=Box("22", ""), history=Box("23", ""), manufacturer=Box("24a", ""),
        control_no=plain(h.report_id),
        date_received=plain(h.first_received),
        source={
            "study": "study" in source_text,
            "literature": bool(h.literature),
            "health_professional": any(
                (s.qualification or "").lower() in ("physician", "pharmacist", "other health professional")
                for s in h.primary_sources),
            "other": False,
        },
        report_date=plain(h.most_recent or h.created),
        report_type="follow-up" if h.amendment else "initial",
    )
    form.description = fit("7+13", describe_reactions(case), form)
    names = [plain(d.product) + (f" ({', '.join(d.substances)})" if d.substances else "") for d in suspects]
    form.suspects = fit("14", "\n".join(names) or "UNK", form)
    form.daily_doses = fit("15", _drug_lines(suspects, _dose_line), form)
    form.routes = fit("16", _drug_lines(suspects, lambda d: d.route or "UNK"), form)
    form.indications = fit("17", "\n".join(
        (f"{plain(d.product)}: " if len(suspects) > 1 else "") + ("; ".join(d.indications) or "UNK")
        for d in suspects) or "UNK", form)
    form.therapy_dates = fit("18", _drug_lines(suspects, _therapy_dates), form)
    form.therapy_duration = fit("19", _drug_lines(
        suspects, lambda d: plain(d.duration) if d.duration else "UNK"), form)
    concomitant = [
        f"{plain(d.product)}: " + ("; ".join(
            f"{_dose_line(dose)}, {_therapy_dates(dose)}" for dose in d.dosages) or "UNK")
        for d in case.drugs_by_role("concomitant")
    ]
    form.concomitants = fit("22", "\n".join(concomitant) or "None reported", form)
    history = []
    if p:
        for item in p.history:
            line = plain(item.term)
            if item.start:
                line += f" (from {plain(item.start)}"
                line += ", continuing)" if item.continuing else ")"
            if item.comments:
                line += f": {item.comments}"
            history.append(line)
        if p.history_text:
            history.append(p.history_text)
        history.extend(p.past_drugs)
    form.history = fit("23", "\n".join(history) or "UNK", form)
    sender = h.sender
    manufacturer = "UNK"
    if sender:
        manufacturer = "\n".join(x for x in (
            plain(sender.organization) if sender.organization else None, sender.address, sender.contact) if x)
    form.manufacturer = fit("24a", manufacturer or "UNK", form)
    return form

