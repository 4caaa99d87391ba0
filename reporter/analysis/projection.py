"""The tabulation projection of one ICSR Bundle: one flat row per case x reaction x suspect drug.

The store writes these rows beside every version it saves (reporter/store/repository.py), so tabulations,
line listings and disproportionality run as SQL aggregations over an indexed table and never load a Bundle.
Reads the Bundle as plain JSON through reporter/fhir/read.py, defensively: what is missing is NULL
(tabulated as "unknown"), never guessed. MedDRA PT and SOC come from the user's release when one is set
(REPORTER_MEDDRA_DIR) at write time; `reporter db reproject` refills the table after a release changes.
"""

from __future__ import annotations

import datetime as dt
import re
from functools import cache
from typing import Any

from reporter.assess.result import UNMAPPED, tabulation_category
from reporter.fhir import read
from reporter.tables import coding_key, ext, fhir_tables, load_yaml, system

Json = dict[str, Any]
CRITERIA = ("death", "life_threatening", "hospitalisation", "disabling", "congenital_anomaly",
            "other_medically_important")
_FULL_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}")


@cache
def settings() -> Json:
    return load_yaml("tabulate.yaml")


def _d(value: Any) -> Json:
    return value if isinstance(value, dict) else {}


def _l(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _s(value: Any, limit: int = 255) -> str | None:
    return value.strip()[:limit] if isinstance(value, str) and value.strip() else None


def _num(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _ext_values(element: Any, key: str) -> list[Any]:
    return [read.value_of(e) for e in read.extensions(_d(element), key)]


def _ext_value(element: Any, key: str) -> Any:
    return read.ext_value(_d(element), key)


def _key_for(list_name: str, coding: Any) -> str | None:
    """A case-file key from a coding by key, E2B code or FHIR code (Bundles from other senders vary)."""
    return coding_key(list_name, coding, "any")


def to_years(quantity: Any) -> float | None:
    q = _d(quantity)
    value = _num(q.get("value"))
    factor = settings()["years_per_unit"].get(_s(q.get("code")) or _s(q.get("unit")) or "")
    return round(value * factor, 4) if value is not None and factor is not None else None


def age_group_ranges() -> list[tuple[str, float, float | None]]:
    """(key, from, up to) in years of the ICH age groups (mappings/tabulate.yaml)."""
    groups = settings()["age_groups"]
    return [(g["key"], g["from"], groups[i + 1]["from"] if i + 1 < len(groups) else None)
            for i, g in enumerate(groups)]


def age_fields(quantity: Any) -> Json:
    """age_years of an age at onset; for an age in a unit that names a span (6 {decade}: in the sixties) the
    span's start with age_qualifier "range" and its end (exclusive) in age_high_years: 60 up to 70, not 60."""
    low = to_years(quantity)
    if low is None:
        return {}
    q = _d(quantity)
    span = settings()["ranged_age_units"].get(_s(q.get("code")) or _s(q.get("unit")) or "")
    if span is None:
        return {"age_years": low}
    return {"age_years": low, "age_qualifier": "range", "age_high_years": round(low + span, 4)}


def to_days(quantity: Any) -> float | None:
    q = _d(quantity)
    value = _num(q.get("value"))
    factor = settings()["days_per_unit"].get(_s(q.get("code")) or _s(q.get("unit")) or "")
    return round(value * factor, 3) if value is not None and factor is not None else None


def _date(value: Any) -> dt.date | None:
    text = _s(value)
    if text and _FULL_DATE.match(text):
        try:
            return dt.date.fromisoformat(text[:10])
        except ValueError:
            return None
    return None


def dosing_mode(dosage: Json) -> str | None:
    """continuous | bolus | other from one dosage: route key first, then words of the dosage text; None if
    the dosage says nothing about how it was given."""
    conf = settings()["dosing_mode"]
    for coding in read.codings(dosage.get("route")):
        if coding.get("system") == system("route_key") and coding.get("code") in conf["routes"]:
            return conf["routes"][coding["code"]]
    text = " ".join(t for t in (_s(dosage.get("text")), read.concept_text(dosage.get("route"))) if t).lower()
    for mode, words in conf["words"].items():
        if any(w in text for w in words):
            return mode
    return "other" if dosage.get("route") or text else None


def _route(dosage: Json) -> str | None:
    route = _d(dosage.get("route"))
    for coding in read.codings(route):
        if coding.get("system") == system("route_key"):
            return _s(coding.get("code"))
    return _s(route.get("text"), 64) or read.concept_text(route)


class _Case:
    def __init__(self, bundle: Json) -> None:
        self.index = read.BundleIndex(bundle)
        self.comp = _d(self.index.composition)
        self.patient = _d(self.index.patient)

    def statement_role(self, statement: Json) -> str | None:
        return _key_for("drug_role", _ext_value(statement, "drug_role"))

    def drug_name(self, statement: Json) -> str | None:
        med = _d(self.index.medication_of(statement))
        for ingredient in _l(med.get("ingredient")):
            name = read.concept_text(_d(ingredient).get("itemCodeableConcept"))
            if name:
                return name.lower()
        name = read.concept_text(med.get("code")) or read.concept_text(statement.get("medicationCodeableConcept"))
        return name.lower() if name else None

    def case_fields(self) -> Json:
        report_type = None
        for concept in _l(self.comp.get("category")):
            report_type = report_type or _key_for("report_type", (read.codings(concept) or [{}])[0])
        received = _s(_ext_value(self.comp, "first_receive_date"), 32)
        sex = _s(self.patient.get("gender"), 16)
        age_group = None
        codes = fhir_tables().patient_observations
        for obs in self.index.all("Observation"):
            coding = read.codings(_d(obs).get("code"))
            if coding and coding[0].get("code") == codes["age_group"]["code"]:
                age_group = _key_for("age_group", (read.codings(obs.get("valueCodeableConcept")) or [{}])[0])
        country = None
        for author in _l(self.comp.get("author")):
            role = _d(self.index.resolve(author))
            if role.get("resourceType") == "PractitionerRole":
                role = _d(self.index.resolve(role.get("practitioner"), role))
            for address in _l(role.get("address")):
                country = country or _s(_d(address).get("country"), 8)
        return {"report_type": report_type, "received": received,
                "received_year": int(received[:4]) if received and received[:4].isdigit() else None,
                "sex": sex if sex in ("male", "female") else None, "age_group_reported": age_group,
                "country": country}


def project_bundle(bundle: Json, meddra: Any = None) -> list[Json]:
    """The projection rows of one Bundle (without case_id/version, which the store adds).

    `meddra`: a reporter.meddra.Hierarchy to place codes in PT/SOC, or None (rows keep the coded term)."""
    case = _Case(bundle)
    base = case.case_fields()
    base["case_key"] = _s(_d(case.comp.get("identifier")).get("value"), 100)
    statements = [s for s in case.index.all("MedicationStatement") if isinstance(s, dict)]
    suspects = [s for s in statements if case.statement_role(s) in ("suspect", "interacting")]
    events = [e for e in case.index.all("AdverseEvent") if isinstance(e, dict)]
    ages = [age_fields(_ext_value(e, "age_at_onset")) for e in events]
    base.update(next((a for a in ages if a), {"age_years": None}))
    if base["age_years"] is None:
        born, onset = _date(case.patient.get("birthDate")), next(
            (d for d in (_date(e.get("date")) for e in events) if d), None)
        if born and onset and onset >= born:
            base["age_years"] = round((onset - born).days / 365.25, 4)
    outcomes = [_key_for("outcome", (read.codings(e.get("outcome")) or [{}])[0]) for e in events]
    died = "fatal" in outcomes or case.patient.get("deceasedBoolean") is True or bool(
        _s(case.patient.get("deceasedDateTime")))
    survived = set(settings()["survived_outcomes"])
    base["survival"] = "died" if died else "survived" if any(o in survived for o in outcomes) else None
    rows: list[Json] = []
    for event, outcome in zip(events or [None], outcomes or [None], strict=True):
        reaction = _reaction_fields(case, event, outcome, meddra) if event is not None else {}
        linked = []
        if event is not None:
            for entity in _l(event.get("suspectEntity")):
                statement = _d(case.index.resolve(_d(entity).get("instance")))
                if statement in suspects:
                    linked.append((statement, _d(entity)))
        if not linked:
            linked = [(s, {}) for s in suspects] or [(None, {})]
        for statement, entity in linked:
            row = {**base, **reaction}
            country = row.pop("reaction_country", None)
            row["country"] = row["country"] or country
            if statement is not None:
                row.update(_drug_fields(case, statement, entity, event))
            rows.append(row)
    return rows


def _reaction_fields(case: _Case, event: Json, outcome: str | None, meddra: Any) -> Json:
    concept = _d(event.get("event"))
    coding = read.coding(concept, "meddra") or {}
    code = _s(coding.get("code"), 16)
    out: Json = {"reaction_key": _s(event.get("id"), 64), "llt_code": code,
                 "meddra_version": _s(coding.get("version"), 16),
                 "reaction_term": _s(concept.get("text")) or _s(coding.get("display")) or code,
                 "outcome": outcome, "onset": _s(event.get("date"), 32) or _relative_onset(event),
                 "reaction_country": _s(_ext_value(event, "reaction_country"), 8)}
    out["pt_term"] = out["reaction_term"]
    resolved = meddra.resolve(code) if meddra is not None and code else None
    if resolved is not None:
        soc = resolved.primary_soc
        out.update(pt_code=resolved.pt.code, pt_name=resolved.pt.name[:255], pt_term=resolved.pt.name[:255],
                   soc_code=soc.code if soc else None, soc_name=soc.name[:255] if soc else None)
    seriousness = _s(_d((read.codings(event.get("seriousness")) or [{}])[0]).get("code"))
    serious = None if seriousness is None else seriousness.lower() != "non-serious"
    stated = {_key_for("seriousness_criterion", {"code": code}): value
              for code, value in read.seriousness_criteria(event).items()}
    out["serious"] = serious
    for key in CRITERIA:
        # Tri-state as the case holds it: yes, no, or not known (E2B NI); a case that lists no criteria at
        # all reads "no" when it is not serious and "not known" otherwise.
        value = stated.get(key)
        out[f"sc_{key}"] = (value if isinstance(value, bool) else None) if key in stated else \
            (False if serious is False else None)
    return out


def _relative_onset(event: Json) -> str | None:
    """The onset phrase of a reaction known only relative to a drug: the author's words, else '21 d after first
    dose' (the Onset column would otherwise be empty for it)."""
    rel = read.relative_time(event, "date")
    if rel is None:
        return None
    phrase = rel.as_stated
    if not phrase:
        amount = rel.phrase() if rel.high is not None else f"{rel.phrase() or ''} {rel.value:g} {rel.unit}"
        phrase = f"{amount.strip()} after {'last' if rel.anchor == 'last-dose' else 'first'} dose"
    return _s(phrase.strip(), 32)


def _drug_fields(case: _Case, statement: Json, entity: Json, event: Json | None) -> Json:
    dosages = [_d(x) for x in _l(statement.get("dosage"))]
    modes = [m for m in (dosing_mode(x) for x in dosages) if m]
    mode = "continuous" if "continuous" in modes else (modes[0] if modes else None)
    route = next((r for r in (_route(x) for x in dosages) if r), None)
    dose_texts = []
    starts, stops = [], []
    for x in dosages:
        repeat = _d(_d(x.get("timing")).get("repeat"))
        interval = read.repeat_interval(repeat)
        every = f" every {interval['value']:g} {interval['unit']}" if interval else ""
        for dr in _l(x.get("doseAndRate")):
            q = _d(_d(dr).get("doseQuantity"))
            if _num(q.get("value")) is not None:
                dose_texts.append(f"{q['value']:g} {_s(q.get('code')) or _s(q.get('unit')) or ''}".strip() + every)
        if not _l(x.get("doseAndRate")) and _s(x.get("text")):  # '1 g q12h': the dose in the author's words
            dose_texts.append(str(x["text"]))
        period = _d(_d(_d(x.get("timing")).get("repeat")).get("boundsPeriod"))
        for field, bucket in (("start", starts), ("end", stops)):
            value = _s(period.get(field), 32)
            rel = read.relative_time(period, field)
            if value:
                bucket.append(value)
            elif rel:
                bucket.append(f"{rel.value:g} {rel.unit} after {'last' if rel.anchor == 'last-dose' else 'first'}"
                              " dose")
    causality = category = None
    for c in _l(entity.get("causality")):
        result = read.concept_text(_d(c).get("assessment"))
        causality = causality or result
        # the first assessment on a method's scale; "other/unmapped" only when none is
        found = tabulation_category(read.concept_text(_d(c).get("method")), result)
        if found and (category is None or category == UNMAPPED):
            category = found
    out: Json = {
        "drug_key": _s(statement.get("id"), 64), "drug": case.drug_name(statement),
        "route": route, "dosing_mode": mode, "dose": "; ".join(dose_texts)[:255] or None,
        "drug_start": min(starts) if starts else None, "drug_stop": max(stops) if stops else None,
        "indication": next((t for t in (read.concept_text(r) for r in _l(statement.get("reasonCode"))) if t), None),
        "action_taken": _key_for("action_taken", _ext_value(statement, "action_taken")),
        "dechallenge": _key_for("dechallenge", _ext_value(entity, "dechallenge")),
        "rechallenge": _key_for("rechallenge", _ext_value(entity, "rechallenge")),
        "causality": causality[:255] if causality else None, "causality_category": category,
    }
    out.update(_latency(case, statement, entity, event))
    return out


def _latency(case: _Case, statement: Json, entity: Json, event: Json | None) -> Json:
    """Days from the drug's first dose to the reaction's onset (latency_days): the drug-reaction interval
    (G.k.9.i.3.1), else an onset given relative to this drug's first dose, else the two dates when both are full
    dates. An onset the author qualified ('>2 mo', 'within 48 h', '~3 wk') or gave as a range keeps its
    qualifier (latency_qualifier: at-least, within, about or range; latency_high_days for a range's end), so
    that statistics do not take a bound for a value."""
    for interval in _l(entity.get("extension")):
        if _d(interval).get("url") == ext("onset_interval"):
            days = to_days(read.sub_value(interval, "afterFirstDose"))
            if days is not None:
                return {"latency_days": days}
    if event is None:
        return {}
    rel = read.relative_time(event, "date")
    if rel is not None and rel.anchor == "first-dose" and case.index.resolve(rel.drug_reference) is statement:
        out: Json = {"latency_days": to_days({"value": rel.value, "code": rel.unit})}
        if rel.high is not None:
            out.update(latency_qualifier="range", latency_high_days=to_days({"value": rel.high, "code": rel.unit}))
        elif rel.qualifier:
            out["latency_qualifier"] = rel.qualifier
        return out
    onset = _date(event.get("date"))
    starts = [d for d in (_date(_d(_d(_d(_d(x).get("timing")).get("repeat")).get("boundsPeriod")).get("start"))
                          for x in _l(statement.get("dosage"))) if d]
    if onset and starts:
        return {"latency_days": float((onset - min(starts)).days)}
    return {}


COLUMNS = (
    "case_key", "report_type", "received", "received_year", "country", "sex", "age_years", "age_qualifier",
    "age_high_years", "age_group_reported",
    "survival", "reaction_key", "reaction_term", "llt_code", "meddra_version", "pt_code", "pt_name", "pt_term",
    "soc_code", "soc_name", "onset", "outcome", "serious", *(f"sc_{c}" for c in CRITERIA), "drug_key", "drug", "route",
    "dosing_mode", "dose", "drug_start", "drug_stop", "indication", "action_taken", "dechallenge", "rechallenge",
    "causality", "causality_category", "latency_days", "latency_qualifier", "latency_high_days",
)


def projection_rows(bundle: Any, case_id: str, version: int, meddra: Any = None) -> list[Json]:
    """Rows ready for the case_reaction table, every column present. `bundle` may be JSON text (as a raw SQL
    read returns it); `meddra` defaults to the release REPORTER_MEDDRA_DIR names.

    A Bundle the projection cannot read (it is defensive, so this means a bug) still gets one row with its
    case key, every other field unknown: the case stays counted, and the write is not refused for it."""
    import json
    import logging

    from reporter.meddra import hierarchy

    if isinstance(bundle, str | bytes):
        bundle = json.loads(bundle)
    try:
        rows = project_bundle(bundle, meddra if meddra is not None else hierarchy())
    except Exception:
        logging.getLogger(__name__).exception("projection failed for case %s v%s", case_id, version)
        comp = read.composition_of(bundle) or {}
        rows = [{"case_key": _s(_d(comp.get("identifier")).get("value"), 100)}]
    return [{"case_id": case_id, "version": version, **{c: row.get(c) for c in COLUMNS}} for row in rows]
