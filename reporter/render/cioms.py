"""The CIOMS I form (suspect adverse reaction report) as data: each numbered box filled from the case
view, cut to what its box holds, with the rest carried to continuation pages.

Boxes are sized in lines of text; the cut falls on a word boundary and says where the text goes on.
Sections: I reaction information (1-13), II suspect drug(s) (14-21), III concomitant drugs and history
(22-23), IV manufacturer information (24a-25a).
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from dataclasses import dataclass, field

from markupsafe import Markup

from reporter.limits import limit
from reporter.render import env as f
from reporter.render.charts import fmt_num
from reporter.render.countries import country_name
from reporter.render.model import (
    CaseView,
    DosageView,
    DrugView,
    HistoryItem,
    Missing,
    ParentView,
    PatientView,
    Qty,
    ReportVersion,
    When,
)
from reporter.render.units import age_text, doses_per_day, unit_text

_FULL_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}")


@dataclass(frozen=True)
class Box:
    item: str  # "7+13"
    text: str
    continued: bool = False
    kept: str = ""  # a continued box: its text before the marker


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
    report_type_note: str = ""  # "Follow-up (version 4)", "Amendment (version 2): reason"
    continuation: list[tuple[str, str, str]] = field(default_factory=list)  # (item, title, full text)
    onset_box: Box | None = None  # the notes as the page shows them: cut, the rest continued
    report_type_box: Box | None = None
    not_valid: tuple[str, ...] = ()  # why the case is not a valid ICSR: a banner above the form


# Lines and characters per line of each box at the template's sizes (templates/cioms.css).
BOX_SIZE = {
    "7+13": (22, 90), "14": (3, 70), "15": (3, 44), "16": (3, 28), "17": (3, 70), "18": (3, 44),
    "19": (3, 28), "22": (5, 115), "23": (5, 115), "24a": (5, 38),
    "4-6": (3, 18), "25a": (2, 70),  # the notes under the onset date and the report type (6.3pt)
}
TITLES = {
    "7+13": "Describe reaction(s) (including relevant tests/lab data)",
    "14": "Suspect drug(s)", "15": "Daily dose(s)", "16": "Route(s) of administration",
    "17": "Indication(s) for use", "18": "Therapy dates (from/to)", "19": "Therapy duration",
    "22": "Concomitant drug(s) and dates of administration", "23": "Other relevant history",
    "24a": "Name and address of manufacturer", "4-6": "Reaction onset", "25a": "Report type",
}
CONTINUED = " … (continued on page {page}, item {item})"


def cells(text: str) -> int:
    """Monospace cells the text takes: East Asian wide and full-width characters (kanji, kana, Hangul, most
    emoji) take two, as the CJK monospace fonts draw them; combining accents, joiners and variation selectors
    none."""
    return sum(0 if unicodedata.category(ch) in ("Mn", "Me", "Cf") else
               2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1 for ch in text)


def _wrapped(line: str, width: int) -> int:
    """Lines one paragraph takes when wrapped at spaces and after hyphens in `width` cells, a longer word
    broken at the edge (the form's CSS: pre-wrap, overflow-wrap anywhere)."""
    count, used = 1, 0
    for word in re.findall(r"[^\s-]+-*\s*|-+\s*", line):
        size = cells(word.rstrip())
        if used and used + size > width:
            count, used = count + 1, 0
        while size > width:  # a word longer than the line runs on over the next lines
            count, size = count + 1, size - width
        used += size + len(word) - len(word.rstrip())
    return count


def _lines_needed(text: str, width: int) -> int:
    """Lines the text takes in a box `width` monospace cells wide, wrapping at words as browsers do."""
    return sum(_wrapped(line, width) for line in text.split("\n"))


def fit(item: str, text: str, form: CiomsForm | None = None, fewer: int = 0) -> Box:
    """Cut `text` to its box; the whole text goes to the form's continuation list when it does not fit.
    `fewer`: lines taken off the box's size, where the laid-out page showed the estimate too tall (text in
    a fallback font: Hebrew drawn wider than a monospace cell, CJK lines taller)."""
    lines, width = BOX_SIZE[item]
    lines = max(1, lines - fewer)
    if _lines_needed(text, width) <= lines:
        return Box(item, text)
    marker = CONTINUED.format(page=2, item=item)
    room = CONTINUED.format(page=999, item=item)  # the page is filled in on the laid-out form (see cioms.html)
    kept = _word_cut(_first_cells(text, lines * width - cells(room) - 4 * lines), width)  # slack for wrapping
    while kept and _lines_needed(kept + room, width) > lines:
        kept = _word_cut(kept[:-1], width)
    if form is not None:
        form.continuation.append((item, TITLES[item], text))
    return Box(item, kept + marker, continued=True, kept=kept)


def _word_cut(text: str, width: int) -> str:
    """`text` without its last, partial word, where that word is shorter than a line; text without spaces
    (Japanese, Chinese, a 250-character name) is cut where it is."""
    found = re.search(r"\s+(\S*)$", text)
    return text[:found.start()] if found and cells(found.group(1)) < width else text


def _first_cells(text: str, budget: int) -> str:
    """The longest start of `text` that takes at most `budget` monospace cells."""
    used = 0
    for i, ch in enumerate(text):
        used += cells(ch)
        if used > budget:
            return text[:i]
    return text


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
    """A dose as given, with its interval: `500 mg every 8 hours`, else the dosage text."""
    if dose.dose is None:
        return dose.text or "UNK"
    text = plain(dose.dose)
    return f"{text} {dose.every}" if dose.every else text


def daily_dose(dose: DosageView) -> str:
    """Box 15: the daily dose where the regimen gives one (875 mg every 12 h -> 1750 mg/day, with the regimen
    beside it), a dose already per day as given, else the regimen as written."""
    q = dose.dose
    if q is None:
        return dose.text or "UNK"
    if q.unit.endswith("/d"):
        return plain(q)
    per_day = doses_per_day(dose.interval.value, dose.interval.unit) if dose.interval else None
    if per_day is None or q.comparator:
        return _dose_line(dose)
    total = f"{fmt_num(q.value * per_day)}\u00a0{unit_text(q.unit, q.value) or 'unit'}/day"
    return total if per_day == 1 else f"{total} ({_dose_line(dose)})"


def _anchors(case: CaseView) -> set[str]:
    """Keys of the drugs some relative time in the case counts from (their first dose is day 0)."""
    times: list[When | None] = [r.onset for r in case.reactions] + [r.end for r in case.reactions]
    times += [row.when for row in case.labs]
    times += [t for d in case.drugs for dose in d.dosages for t in (dose.start, dose.stop)]
    return {w.ref for w in times if w is not None and w.ref and not w.from_last}


def _point(w: When | None, drug: DrugView) -> str:
    """A therapy date: the date, `day 21` when counted from this drug's first dose, else as written."""
    if w is not None and w.offset is not None and w.ref == drug.key and not w.from_last and w.offset.unit == "d":
        return f"day {fmt_num(w.offset.value)}"
    return plain(w)


def _start(dose: DosageView, drug: DrugView, index: int, anchors: set[str]) -> When | None:
    """The start of a period; the first period of a drug that times count from starts at day 0 by definition."""
    if dose.start is None and index == 0 and drug.key in anchors:
        return When(offset=Qty(0.0, "d"), ref=drug.key)
    return dose.start


def duration_days(start: When | None, stop: When | None) -> int | None:
    """Days of administration, first and last day included, when both ends are full dates or days counted
    from the same first dose."""
    if start is None or stop is None:
        return None
    if start.date and stop.date and _FULL_DATE.match(start.date) and _FULL_DATE.match(stop.date):
        try:
            days = (dt.date.fromisoformat(stop.date[:10]) - dt.date.fromisoformat(start.date[:10])).days
        except ValueError:
            return None
        return days + 1 if days >= 0 else None
    if (start.offset is not None and stop.offset is not None and start.ref and start.ref == stop.ref
            and not start.from_last and not stop.from_last and start.offset.unit == stop.offset.unit == "d"):
        days = stop.offset.value - start.offset.value
        return int(days) + 1 if days >= 0 and days == int(days) else None
    return None


def _duration(d: DrugView, i: int, dose: DosageView, anchors: set[str]) -> tuple[str, int | None]:
    if dose.duration:
        days = dose.duration.value * {"d": 1, "wk": 7}.get(dose.duration.unit, 0)
        return plain(dose.duration), int(days) if days and days == int(days) else None
    days = duration_days(_start(dose, d, i, anchors), dose.stop)
    return (f"{days} day{'s' if days != 1 else ''}" if days is not None else "UNK"), days


def therapy_durations(suspects: list[DrugView], anchors: set[str]) -> str:
    """Box 19 per period (numbered as in 15, 16 and 18), with the total when every period has one and the
    periods do not overlap."""
    lines = []
    for k, d in enumerate(suspects, 1):
        found = [_duration(d, i, dose, anchors) for i, dose in enumerate(d.dosages)] or [("UNK", None)]
        lines.extend(_numbered([text for text, _ in found], k if len(suspects) > 1 else None))
        days = [n for _, n in found]
        if len(found) > 1 and all(n is not None for n in days) and _apart(d, anchors):
            lines[-1] += f" (total {sum(n for n in days if n)} days)"
    return "\n".join(lines) or "UNK"


def _position(w: When | None, drug: DrugView) -> tuple[str, float] | None:
    """A therapy date as a comparable number: a full date's ordinal, or days from this drug's first dose."""
    if w is None:
        return None
    if w.date and _FULL_DATE.match(w.date):
        try:
            return ("date", float(dt.date.fromisoformat(w.date[:10]).toordinal()))
        except ValueError:
            return None
    if w.offset is not None and w.ref == drug.key and not w.from_last and w.offset.unit == "d":
        return ("day", w.offset.value)
    return None


def _apart(d: DrugView, anchors: set[str]) -> bool:
    """Periods in order, on one kind of time, with no day in two of them."""
    spans = []
    for i, dose in enumerate(d.dosages):
        start, stop = _position(_start(dose, d, i, anchors), d), _position(dose.stop, d)
        if start is None or stop is None or start[0] != stop[0]:
            return False
        spans.append((start, stop))
    return len({s[0][0] for s in spans}) == 1 and all(
        spans[k][0][1] > spans[k - 1][1][1] for k in range(1, len(spans)))


def _numbered(values: list[str], drug: int | None = None) -> list[str]:
    """Period labels: `1)`, `2)` for one suspect drug; `#2` or `#2.1` (drug 2, period 1) for several, the
    drugs numbered as in box 14."""
    if drug is None:
        return [f"{i}) {v}" for i, v in enumerate(values, 1)] if len(values) > 1 else values
    if len(values) == 1:
        return [f"#{drug} {values[0]}"]
    return [f"#{drug}.{i} {v}" for i, v in enumerate(values, 1)]


def _lots(d: DrugView) -> str:
    """Box 14's batch/lot numbers of a drug (G.k.4.r.7), each once: a product is traced by its lot."""
    lots = list(dict.fromkeys(dose.batch for dose in d.dosages if dose.batch))
    return f"; lot {', '.join(lots)}" if lots else ""


def _provenance(d: DrugView) -> str:
    """Box 14's other facts that identify the product given: where it was obtained (G.k.2.4), blinded
    (G.k.2.5), its authorisation (G.k.3)."""
    parts = [f"obtained in {country_name(d.obtained_in)}" if d.obtained_in else None,
             "blinded investigational product" if d.blinded else None,
             f"authorisation {d.authorisation}" if d.authorisation else None]
    return "".join(f"; {p}" for p in parts if p)


def _drug_lines(drugs: list[DrugView], pick, *, collapse: bool = False) -> str:
    """One value per dosage period, labelled alike in boxes 15, 16, 18 and 19 so each value is read with its
    period (and drug); `collapse`: one value when every period has the same (a route)."""
    lines = []
    for k, d in enumerate(drugs, 1):
        values = [pick(d, i, dose) for i, dose in enumerate(d.dosages)] or ["UNK"]
        if collapse and len(set(values)) == 1:
            values = values[:1]
        lines.extend(_numbered(values, k if len(drugs) > 1 else None))
    return "\n".join(lines) or "UNK"


def _challenge(case: CaseView, which: str) -> str:
    """Item 20/21 for the suspect drugs: yes, no, na, or unknown when not stated."""
    answers = {getattr(a, which) for a in case.assessments
               if any(d.key == a.drug or plain(d.product) == a.drug for d in case.suspect_drugs)}
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


def _range(row) -> str:
    if row.low is not None and row.high is not None:
        return f" (ref {fmt_num(row.low)}-{fmt_num(row.high)})"
    if row.high is not None:
        return f" (ULN {fmt_num(row.high)})"
    if row.low is not None:
        return f" (LLN {fmt_num(row.low)})"
    return ""


def _time_key(w: When | None) -> tuple:
    """Chronological order: placed on the day axis first, then by date text, then the undated."""
    if w is None or w.missing is not None:
        return (2, 0.0, "")
    if w.day is not None:
        return (0, w.day, w.date or "")
    return (1, 0.0, w.date or "")


def describe_tests(case: CaseView) -> list[str]:
    """Numeric results grouped by time, in time order; free-text results (biopsy, imaging) one a line."""
    by_time: dict[str, list[str]] = {}
    texts: list[str] = []
    for row in sorted(case.labs, key=lambda r: _time_key(r.when)):
        when = plain(row.when) if row.when and not row.when.missing else "date unknown"
        name = row.test.text or "test"
        if row.value:
            by_time.setdefault(when, []).append(f"{name} {plain(row.value)}{_range(row)}")
            if row.result_text:
                texts.append(f"{name} ({when}): {row.result_text.strip()}")
        else:
            texts.append(f"{name} ({when}): {(row.result_text or 'UNK').strip().rstrip('.')}.")
    lines = [f"{when[:1].upper()}{when[1:]}: {', '.join(items)}." for when, items in by_time.items()]
    return lines + texts


def describe_causality(case: CaseView) -> list[str]:
    lines = []
    for a in case.assessments:
        if not a.results:
            continue
        results = "; ".join(f"{src}, {method}: {result}" for src, method, result in a.results)
        lines.append(f"{a.drug} / {plain(a.reaction)}: {results}.")
    for c in case.computed:  # from the case file: time to onset, liver findings, Naranjo / WHO-UMC / RUCAM
        if c.not_assessed:  # a situation term: no score, and why
            lines.append(f"{c.drug} / {c.reaction}: {c.not_assessed}")
            continue
        computed = "; ".join(f"{m.label} {m.result}" for m in c.methods)
        line = (f"{c.drug} / {c.reaction} (computed from the case): {' '.join(c.onset)} " + " ".join(c.liver)
                + (f" {computed}." if computed else ""))
        lines.append(line.replace("  ", " "))
    return lines


def describe_reactions(case: CaseView) -> str:
    """Items 7+13: reactions, the death's causes and autopsy, causality, literature, tests, narrative and the
    comments, in that order (the first fit on page 1; the whole text goes on the continuation page when it does
    not)."""
    parts: list[str] = []
    for r in case.reactions:
        term = f" [{plain(r.term)}]" if r.term else ""
        line = f"{plain(r.verbatim)}{term}; onset {plain(r.onset)}; outcome {plain(r.outcome)}"
        if r.serious:
            line += f"; serious ({'; '.join(r.criteria)})"
        parts.append(line + ".")
    if case.patient and case.patient.death:  # D.9: CIOMS has a 'patient died' box only
        parts.append(f"Death: {case.patient.death}.")
    causality = describe_causality(case)
    if causality:
        parts.append("Causality (source, method: result):\n" + "\n".join(causality))
    if case.header.literature:
        parts.append("Literature: " + "\n".join(case.header.literature))
    tests = describe_tests(case)
    if tests:
        parts.append("Relevant tests:\n" + "\n".join(tests))
    narrative = case.narrative.text
    if isinstance(narrative, str) and narrative:
        parts.append("Narrative: " + _bounded(narrative.strip()))
    if case.narrative.reporter_comments:
        parts.append("Reporter's comments: " + _bounded(case.narrative.reporter_comments.strip()))
    if case.narrative.sender_diagnoses:
        parts.append("Sender's diagnosis: " + "; ".join(plain(d) for d in case.narrative.sender_diagnoses))
    if case.narrative.sender_comments:
        parts.append("Sender's comments: " + _bounded(case.narrative.sender_comments.strip()))
    return "\n".join(parts) or "UNK"


def report_type(case: CaseView, version: ReportVersion | None) -> tuple[str, str]:
    """Box 25a and its note: INITIAL only for the first version; follow-ups, amendments and nullifications
    tick FOLLOWUP and say which. Without a stored version, the Bundle's own amendment flag decides."""
    if version is None:
        if case.header.amendment:
            return "follow-up", case.header.amendment
        return "initial", ""
    number = f" (version {version.number})" if version.number else ""
    if version.kind == "initial":
        return "initial", ""
    label = {"follow-up": "Follow-up", "amendment": "Amendment", "nullification": "Nullification"}.get(
        version.kind, version.kind.capitalize())
    reason = version.reason or (case.header.amendment if version.kind != "follow-up" else None)
    return "follow-up", f"{label}{number}" + (f": {reason}" if reason else "")


def _route(dose: DosageView) -> str:
    """Box 16: the route, with the parent's route (G.k.4.r.11) when the patient was exposed through a parent."""
    route = dose.route or "UNK"
    return f"{route} (parent: {dose.parent_route})" if dose.parent_route else route


def _history_lines(p: PatientView | ParentView) -> list[str]:
    """Box 23: conditions with their start, the history text, then past drugs."""
    lines = []
    for item in p.history:
        line = plain(item.term) + _history_period(item)
        if item.comments:
            line += f": {item.comments}"
        lines.append(line)
    if p.history_text:
        lines.append(p.history_text)
    return [*lines, *p.past_drugs]


def _history_period(item: HistoryItem) -> str:
    """' (from 2019 to Jun 2021)', ' (from 2019, continuing)', ' (ended)': what the history item gives of its
    dates and continuing flag (D.7.1.r.2-4)."""
    dates = " ".join(f"{word} {plain(when)}" for word, when in (("from", item.start), ("to", item.end))
                     if when and (when.date or when.offset))
    status = "continuing" if item.continuing is True else (
        "ended" if item.continuing is False and not item.end else None)
    said = ", ".join(x for x in (dates, status) if x)
    return f" ({said})" if said else ""


def _pregnancy_lines(case: CaseView) -> list[str]:
    """Box 23 asks for pregnancy with the last menstrual period: the patient's (D.6, D.2.2.1) and the gestation
    period at exposure of each drug (G.k.6)."""
    p = case.patient
    lines = []
    if p and p.last_menstrual_period:
        lines.append(f"Last menstrual period: {plain(p.last_menstrual_period)}")
    if p and p.gestation:
        lines.append(f"Gestation period at onset: {plain(p.gestation)}")
    lines.extend(f"{plain(d.product)}: gestation period at exposure {plain(d.gestation_at_exposure)}"
                 for d in case.drugs if d.gestation_at_exposure)
    return lines


def _parent_line(parent: ParentView) -> str:
    """D.10: CIOMS has no parent boxes, so the parent's facts go in box 23 (and on with it to page 2)."""
    facts = [f"identification {plain(parent.identification)}", f"sex {plain(parent.sex)}"]
    if parent.age:
        facts.append(f"age {age_text(parent.age.value, parent.age.unit)}")
    facts += [f"{label} {plain(value)}" for label, value in (
        ("born", parent.birth_date), ("last menstrual period", parent.last_menstrual_period),
        ("weight", parent.weight), ("height", parent.height)) if value]
    history = _history_lines(parent)
    return "Parent: " + ", ".join(facts) + (f". History: {'; '.join(history).rstrip('.')}" if history else "") + "."


def _first_onset(onsets: list[When]) -> When | None:
    """Boxes 4-6: the reaction that began first, not the first listed: by date when every onset is dated, else
    by place on the case's day axis when every one has it, else the first listed."""
    if onsets and all(w.date for w in onsets):
        return min(onsets, key=lambda w: (w.date or "")[:10])
    if onsets and all(w.day is not None for w in onsets):
        return min(onsets, key=lambda w: w.day or 0.0)
    return onsets[0] if onsets else None


def _bounded(text: str) -> str:
    """A free text as the form takes it: at most cioms_text_chars (E2B's H.1 maximum), the rest said, not set."""
    most = limit("cioms_text_chars")
    if len(text) <= most:
        return text
    return f"{text[:most]} [... {len(text) - most} more characters: the full text is in the HTML report]"


def build_form(case: CaseView, version: ReportVersion | None = None,
               fewer: dict[str, int] | None = None) -> CiomsForm:
    """`fewer`: lines to take off named boxes (see fit)."""
    h, p = case.header, case.patient
    fewer = fewer or {}

    suspects = case.suspect_drugs
    # a criterion the case holds as not known ("Results in death: not known") ticks no box
    criteria = {c for c in {c for r in case.reactions for c in r.criteria} | set(h.criteria)
                if not c.endswith(": not known")}
    checks = {
        "died": any("death" in c.lower() for c in criteria),
        "hospitalisation": any("hospital" in c.lower() for c in criteria),
        "disability": any("disab" in c.lower() or "incapacit" in c.lower() for c in criteria),
        "life_threatening": any("life" in c.lower() for c in criteria),
        "congenital": any("congenital" in c.lower() for c in criteria),
        "other": any("medically important" in c.lower() for c in criteria),
    }
    # boxes 4-6 give a reaction's onset: a situation term's (the ingestion of an 'Accidental exposure') only
    # when the case reports nothing else
    harms = [r.onset for r in case.reactions if r.onset is not None and not r.situation]
    first_onset = _first_onset(harms or [r.onset for r in case.reactions if r.onset is not None])
    source_text = (plain(h.report_type) + " " + (h.study or "")).lower()
    form = CiomsForm(
        not_valid=case.not_valid,
        report_id=plain(h.report_id),
        initials=plain(p.initials) if p else "UNK",
        country=country_name((p.country if p and p.country else None) or next(
            (r.country for r in case.reactions if r.country), None) or next(
            (s.country for s in h.primary_sources if s.country), None)) or "UNK",
        birth=_date_parts(p.birth_date if p else None),
        age=(age_text(p.age.value, p.age.unit) if p and p.age else "UNK"),
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
        report_type=report_type(case, version)[0],
        report_type_note=report_type(case, version)[1],
    )

    def box(item: str, text: str) -> Box:
        return fit(item, text, form, fewer.get(item, 0))

    form.description = box("7+13", describe_reactions(case))
    names = [(f"#{k} " if len(suspects) > 1 else "") + plain(d.product)
             + (f" ({', '.join(d.substances)})" if d.substances else "")
             + (" (interacting)" if d.role == "interacting" else "") + _lots(d) + _provenance(d)
             for k, d in enumerate(suspects, 1)]
    form.suspects = box("14", "\n".join(names) or "UNK")
    anchors = _anchors(case)
    form.daily_doses = box("15", _drug_lines(suspects, lambda d, i, dose: daily_dose(dose)))
    form.routes = box("16", _drug_lines(suspects, lambda d, i, dose: _route(dose), collapse=True))
    form.indications = box("17", "\n".join(
        (f"#{k} " if len(suspects) > 1 else "") + ("; ".join(d.indications) or "UNK")
        for k, d in enumerate(suspects, 1)) or "UNK")
    form.therapy_dates = box("18", _drug_lines(
        suspects, lambda d, i, dose: f"{_point(_start(dose, d, i, anchors), d)} to {_point(dose.stop, d)}"))
    form.therapy_duration = box("19", therapy_durations(suspects, anchors))
    concomitant = [
        f"{plain(d.product)}: " + ("; ".join(
            f"{daily_dose(dose)}, {_point(dose.start, d)} to {_point(dose.stop, d)}" for dose in d.dosages) or "UNK")
        for d in case.drugs_by_role("concomitant")
    ]
    if p and p.concomitant_therapies:
        concomitant.append("Concomitant therapies (not drugs): yes, see the narrative")  # D.7.3
    form.concomitants = box("22", "\n".join(concomitant) or "None reported")
    history = [*_history_lines(p), *_pregnancy_lines(case)] if p else []
    if p and p.parent:
        history.append(_parent_line(p.parent))
    form.history = box("23", "\n".join(history) or "UNK")
    sender = h.sender
    manufacturer = "UNK"
    if sender:
        manufacturer = "\n".join(x for x in (
            plain(sender.organization) if sender.organization else None, sender.address, sender.contact) if x)
    form.manufacturer = box("24a", manufacturer or "UNK")
    # a long amendment reason or onset in words pushed the form onto a second page
    form.onset_box = box("4-6", form.onset_note) if form.onset_note else None
    form.report_type_box = box("25a", form.report_type_note) if form.report_type_note else None
    return form


