"""The causality questionnaire of a case (/cases/<id>/assess): Naranjo's ten questions, the WHO-UMC criteria
and, when a liver pattern applies, the RUCAM items, for one suspect drug-reaction pair at a time. Answers the
case suggests are pre-selected and marked with the fact behind them; the assessor confirms or changes each,
"Recalculate" scores the form on the server (the pages run no scripts), and "Save" stores a new version of the
case with the assessor's answers in its G.k.9.i.2.r entries. The questionnaire itself is
reporter/assess/questionnaire.py; this module reads the request and stores."""

from __future__ import annotations

from datetime import UTC, datetime

from flask import g, redirect, render_template, request, url_for

from reporter.assess.facts import PairFacts, facts_for, pair_reaction_name, pairs
from reporter.assess.questionnaire import form_answers, methods_for, record, sheet
from reporter.assess.result import AssessmentError
from reporter.assess.run import reported_with
from reporter.assess.situation import Situation, situation_of
from reporter.casefile.model import CaseFile, Drug, Reaction
from reporter.errors import InputError, StoreConflict, VersionConflict
from reporter.web import audit as web_audit
from reporter.web import caseform, downloads
from reporter.web.pages import _audit, _case_id, bp, store
from reporter.web.roles import require


def _case(v):
    case = downloads.stored_case(v)
    if case is None:
        from reporter.fhir.to_case import bundle_to_case

        case = bundle_to_case(downloads.served_bundle(v))
    return case


@bp.route("/cases/<case_id>/assess", methods=["GET", "POST"])
@require("draft")
def assess_case_page(case_id: str):
    case_id = _case_id(case_id)
    v = store().read(case_id)
    case = _case(v)
    values = request.form if request.method == "POST" else request.args
    errors: list[str] = []
    try:
        all_pairs = pairs(case)
        chosen = pairs(case, values.get("drug") or None, values.get("reaction") or None)[0] \
            if values.get("drug") or values.get("reaction") else _first_to_score(all_pairs)
    except InputError as exc:
        _audit("read", "R", f"Bundle/{case_id}/_history/{v.version}")
        return render_template("assess.html", v=v, pairs=[], f=None, sheets=[], errors=[exc.message],
                               form={}), 422
    f = facts_for(case, *chosen)
    situations = {r.id: s for _, r in all_pairs if (s := situation_of(r)) is not None}
    names = {r.id: pair_reaction_name(case.reactions, r) for _, r in all_pairs}  # as its heading names it
    if f.reaction.id in situations:
        return _situation_page(v, case, all_pairs, f, situations, names)
    methods = methods_for(f)
    sheets = []
    if request.method == "GET":
        _audit("read", "R", f"Bundle/{case_id}/_history/{v.version}")
        sheets = [sheet(f, method, assessor=f"{g.user}") for method in methods]
        return render_template("assess.html", v=v, pairs=all_pairs, f=f, sheets=sheets, errors=[],
                               form={"assessor": g.user}, situations=situations, names=names)
    reason_error: list[str] = []  # said at the reason field too, which names it (aria-describedby)

    def page(status: int):
        return render_template("assess.html", v=v, pairs=all_pairs, f=f, sheets=sheets, errors=errors,
                               form=form, situations=situations, names=names,
                               reason_error=reason_error[0] if reason_error else None), status

    action = request.form.get("_action", "recalc")
    for method in methods:
        try:
            sheets.append(sheet(f, method, form_answers(request.form, method)))
        except AssessmentError as exc:
            errors.append(f"{exc.message}" + (f" ({exc.hint})" if exc.hint else ""))
            sheets.append(sheet(f, method))
    form = {"assessor": request.form.get("assessor", "").strip()[:60],
            "_reason": request.form.get("_reason", "").strip()[:2000]}
    if action != "save" or errors:
        _audit("read", "R", f"Bundle/{case_id}/_history/{v.version}")
        return page(422 if errors else 200)
    _audit("update", "U", f"Bundle/{case_id}")
    if not form["_reason"]:
        reason_error.append("give a reason for this version (e.g. 'causality assessed by the PV physician')")
        errors += reason_error
    notes = {s.method: {q.item: (request.form.get(f"{s.method}:{q.item}:note") or "").strip() or None
                        for q in s.questions} for s in sheets}
    try:
        new = record(case, f, sheets, form["assessor"], notes) if not errors else None
    except AssessmentError as exc:
        errors.append(exc.message + (f" ({exc.hint})" if exc.hint else ""))
    if errors:
        return page(422)
    from reporter.fhir.build import build_bundle
    from reporter.validation import validate_bundle

    caseform.apply_version_kind(new, "follow-up", form["_reason"])
    new.report.created = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    bundle = build_bundle(new)
    report = validate_bundle(bundle)
    if report.errors:
        errors += [f"{i.location}: {i.message}" for i in report.errors][:20]
        return page(422)
    author = f"user:{g.user}"
    base = request.form.get("_base_version", "")
    try:
        saved = store().update(v.case_id, bundle, author=author,
                               casefile=new.model_dump(mode="json", by_alias=True, exclude_none=True),
                               if_match=int(base) if base.isdecimal() else v.version, reason=form["_reason"],
                               audit=web_audit.context(author, "user", "update", 303))
    except VersionConflict:
        errors.append(_overtaken(v, base))
        return page(409)
    except (StoreConflict, InputError) as exc:
        errors.append("Not saved: " + exc.message + (f" ({exc.hint})" if exc.hint else ""))
        return page(409)
    g.ui_audit.update(entity=f"Bundle/{saved.case_id}/_history/{saved.version}", stored=True)
    return redirect(url_for("ui.case", case_id=saved.case_id, saved=saved.version), 303)


def _first_to_score(all_pairs: list[tuple[Drug, Reaction]]) -> tuple[Drug, Reaction]:
    """The pair the page opens on: the first whose reaction is not a situation term (else the first)."""
    return next((p for p in all_pairs if situation_of(p[1]) is None), all_pairs[0])


def _situation_page(v, case: CaseFile, all_pairs: list[tuple[Drug, Reaction]], f: PairFacts,
                    situations: dict[str, Situation], names: dict[str, str]):
    """A situation term (off-label use, an overdose, a lack of efficacy...): no questionnaire, the reason, and the
    causality the case states for the pair as received. A posted questionnaire for it is refused (422)."""
    _audit("read", "R", f"Bundle/{v.case_id}/_history/{v.version}")
    reason = situations[f.reaction.id].reason(reported_with(case, f.reaction))
    errors = [f"Not saved: {reason}"] if request.method == "POST" else []
    stated = f.link.causality if f.link else []
    return render_template("assess.html", v=v, pairs=all_pairs, f=f, sheets=[], errors=errors, form={},
                           situations=situations, names=names, not_assessed=reason, stated=stated,
                           causality_field=_causality_field(case, f)), \
        422 if request.method == "POST" else 200


def _causality_field(case: CaseFile, f: PairFacts) -> str:
    """The case form's anchor where a causality for the pair is entered: the causality rows of its drug-reaction
    entry, else the drug's drug-reaction rows (where that entry is added)."""
    d = next(i for i, drug in enumerate(case.drugs) if drug.id == f.drug.id)
    j = next((j for j, link in enumerate(case.drugs[d].reactions) if link.reaction == f.reaction.id), None)
    return caseform.html_id(f"drugs[{d}].reactions" + (f"[{j}].causality" if j is not None else ""))


def _overtaken(v, base: str) -> str:
    """Said when another save came between opening the questionnaire and saving it. The page is drawn again
    from the current version (the answers typed are kept), so saving again records them on that version."""
    return (f"Not saved: version {v.version} of this case was saved ({v.author}, {v.recorded:%Y-%m-%d %H:%M} UTC) "
            f"while you were assessing version {base or '?'}. Your answers are kept below and now apply to version "
            f"{v.version}: check them, then save again.")
