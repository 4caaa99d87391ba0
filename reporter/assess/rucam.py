"""RUCAM (updated 2016) for drug-induced liver injury. The R ratio at recognition picks the scale
(hepatocellular, or cholestatic/mixed); each item's options and points are data (mappings/assess/rucam.yaml).

Pre-filled from the case: time to onset (from the first dose, or from cessation), course after
cessation (ALT, or ALP for cholestatic/mixed, measured against the last dose), age, concomitant drugs
(only when the case lists none) and re-exposure (when rechallenge was not done)."""

from __future__ import annotations

from typing import Any

from reporter.assess import labs
from reporter.assess.answering import choose, item_answers, source_phrase, user_value
from reporter.assess.facts import PairFacts
from reporter.assess.liver import LabPoint, _fmt
from reporter.assess.result import Answer, Assessment, AssessmentError, category_by_score, method_table

METHOD = "rucam"


def scale_for(f: PairFacts, user: dict[str, Any]) -> tuple[str, str]:
    """(scale key, why)."""
    if "scale" in user:
        key, _ = user_value(user["scale"], "answers.rucam.scale")
        key = {"mixed": "cholestatic", "cholestatic-mixed": "cholestatic"}.get(key, key)
        if key not in method_table(METHOD)["scales"]:
            raise AssessmentError(f"{key!r} is not a RUCAM scale", location="answers.rucam.scale",
                                  hint="use hepatocellular or cholestatic (cholestatic or mixed injury)")
        return key, "scale given by the assessor"
    if f.r.pattern is None:
        return "hepatocellular", "the R ratio at recognition cannot be computed, so the hepatocellular scale is " \
                                 "used; give `scale` in the answers to choose"
    key = "hepatocellular" if f.r.pattern == "hepatocellular" else "cholestatic"
    return key, f"{f.r.text}"


def _onset(f: PairFacts, scale: str) -> tuple[str, str] | None:
    limits = method_table(METHOD)["onset"][scale]
    first, last = f.onset.after_first_dose, f.onset.after_last_dose
    if first is not None and first.hi < 0:
        return ("unrelated", f"onset {first.text} after the first dose: before the drug was started")
    if last is not None and last.lo > 0:
        if last.hi <= limits["after_cessation_at_most"]:
            return ("after-cessation", f"onset {last.text} after the last dose ({last.how})")
        if last.lo > limits["after_cessation_at_most"]:
            return ("unrelated", f"onset {last.text} after the last dose, later than "
                                 f"{limits['after_cessation_at_most']} days")
        return None
    if first is None:
        return None
    lo, hi = limits["suggestive_from"], limits["suggestive_to"]
    if first.lo >= lo and first.hi <= hi:
        return ("suggestive", f"onset {first.text} after the first dose ({first.how})")
    if first.hi < lo or first.lo > hi:
        return ("compatible", f"onset {first.text} after the first dose ({first.how})")
    return None


def _course(f: PairFacts, scale: str) -> tuple[str, str] | None:
    table = method_table(METHOD)["course"]
    if f.drug.action_taken in ("dose-not-changed", "dose-increased"):
        return ("no-information", f"the drug was continued (action taken: {f.drug.action_taken})")
    analyte = "alt" if scale == "hepatocellular" else "alp"
    series = sorted((p for p in f.points if p.analyte == analyte and p.span is not None and p.xuln is not None
                     and p.span.frame == f"first:{f.drug.id}"), key=lambda p: p.span.lo)
    if not series and scale == "cholestatic":
        analyte = "bilirubin"
        series = sorted((p for p in f.points if p.analyte == analyte and p.span is not None and p.xuln is not None
                         and p.span.frame == f"first:{f.drug.id}"), key=lambda p: p.span.lo)
    name = labs.analyte_label(analyte)
    stop = f.last_dose()
    if stop is None or stop.frame != f"first:{f.drug.id}":
        return None
    if not series:
        return ("no-information", f"no {name} results with an upper limit on the drug's day axis")
    peak = max(series, key=lambda p: p.xuln or 0.0)
    later = [p for p in series if p.span.lo > peak.span.hi and p.span.lo >= stop.lo]
    if (peak.xuln or 0.0) <= 1.0 or not later:
        return ("no-information", f"no {name} result after the peak ({peak.describe()}) and the last dose")
    fall_needed = table["fall_fraction"]
    for p in later:
        fall = _fall(peak, p)
        days = p.span.hi - stop.lo
        fact = f"{name} {_fall_text(fall, p)} from the peak ({peak.describe()}) to {p.describe()}, " \
               f"{_fmt(days)} days after the last dose"
        if fall >= fall_needed:
            if scale == "hepatocellular":
                limits = table["hepatocellular"]
                if days <= limits["fast_days"]:
                    return ("fall-8d", fact)
                if days <= limits["within_days"]:
                    return ("fall-30d", fact)
                earlier = [q for q in later if q.span.hi - stop.lo <= limits["within_days"]]
                if earlier:
                    return ("fall-late", fact)
                return ("no-information", fact + f"; no {name} result within {limits['within_days']} days after "
                        "stopping shows when the fall began")
            if days <= table["cholestatic"]["within_days"]:
                return ("fall-180d", fact)
            return ("persistence", fact)
    final = later[-1]
    fall = _fall(peak, final)
    days = final.span.hi - stop.lo
    fact = f"{name} fell only {fall:.0%} of its excess by {final.describe()}, {_fmt(days)} days after the last dose"
    if scale == "hepatocellular":
        return ("against", fact) if days > table["hepatocellular"]["within_days"] else None
    if fall > 0 and days <= table["cholestatic"]["within_days"]:
        return ("partial-180d", fact)
    return ("persistence", fact)


def _fall(peak: LabPoint, later: LabPoint) -> float:
    """The share of the peak's excess over ULN that is gone, on x ULN: results in other units (U/L, ukat/L)
    or against other limits compare only as multiples of their own limit. Capped at 1 (back within normal)."""
    top, now = peak.xuln or 0.0, later.xuln or 0.0
    return min((top - now) / (top - 1.0), 1.0)


def _fall_text(fall: float, later: LabPoint) -> str:
    if (later.xuln or 0.0) <= 1.0:
        return "fell back within normal"
    return f"fell {fall:.0%} of its excess over ULN"


def prefills(f: PairFacts, scale: str) -> dict[str, tuple[str, str]]:
    out: dict[str, tuple[str, str]] = {}
    for key, found in (("onset", _onset(f, scale)), ("course", _course(f, scale))):
        if found:
            out[key] = found
    age = f.age_years()
    limit = method_table(METHOD)["age_risk_at_least"]
    if age is not None and (age[0] >= limit or age[1] <= limit):  # a decade across the limit answers neither
        low, high = age
        said = f"{_fmt(low)} years" if low == high else f"{_fmt(low)}-{_fmt(high - 1)} years (age in decades)"
        out["age"] = ("at-least-55" if low >= limit else "under-55", f"age at onset {said}")
    others = [d for d in f.case.drugs if d.id != f.drug.id and d.role in ("concomitant", "interacting", "suspect")]
    if not others:
        out["concomitant"] = ("none", "the case lists no other drug")
    rechallenge = f.challenge("rechallenge")
    if rechallenge and rechallenge[0] in ("not-done", "did-not-recur"):
        out["reexposure"] = ("other", rechallenge[1])
    return out


def assess(f: PairFacts, user: dict[str, Any] | None = None) -> Assessment:
    table = method_table(METHOD)
    user = dict(user or {})
    user = item_answers(user, [i["key"] for i in table["items"]], METHOD, extra=("scale",))
    scale, why = scale_for(f, user)
    user.pop("scale", None)
    pre = prefills(f, scale)
    answers: list[Answer] = []
    excluded = None
    for item in table["items"]:
        options = {o["key"]: o["text"] for o in item["options"] if o["points"][scale] is not None}
        points = {o["key"]: o["points"][scale] for o in item["options"] if o["points"][scale] is not None}
        default = next(o["key"] for o in item["options"] if o.get("default"))
        a = choose(item["key"], item["title"], options, points, pre.get(item["key"]), user, default, METHOD)
        answers.append(a)
        if any(o["key"] == a.answer and o.get("excludes") for o in item["options"]):
            excluded = a
    score = sum(a.points or 0 for a in answers)
    cat = category_by_score(METHOD, score)
    notes = []
    if excluded is not None:
        cat = next(c for c in table["categories"] if c["key"] == "excluded")
        notes.append(f"time to onset excludes the drug ({excluded.fact or excluded.answer_text})")
    others = [d.product for d in f.case.drugs if d.id != f.drug.id and d.role != "not-administered"]
    if "concomitant" not in pre and "concomitant" not in user and others:
        notes.append(f"the concomitant-drugs item needs the assessor: the case lists other drugs ({', '.join(others)})")
    lines = [f"RUCAM score {score}: {cat['label'].lower()} (excluded <= 0, unlikely 1-2, possible 3-5, "
             f"probable 6-8, highly probable >= 9), on the {table['scales'][scale].lower()} scale ({why})."]
    lines.extend(f"Note: {n}." for n in notes)
    summary = "\n".join(lines)
    for n, a in enumerate(answers, start=1):
        lines.append(f"{n}. {a.question}: {a.answer_text} ({(a.points or 0):+d}); {source_phrase(a)}.")
    return Assessment(METHOD, f"{table['label']}, {table['scales'][scale].lower()} scale", f.drug_name,
                      f.reaction_name, tuple(answers), score, str(cat["key"]), str(cat["label"]),
                      "\n".join(lines), tuple(notes), summary)
