"""Case file -> the report's computed causality section (Naranjo, WHO-UMC, RUCAM with their item tables,
time to onset and the liver findings), through reporter/assess."""

from __future__ import annotations

from reporter.assess.run import agreement, assess_case
from reporter.casefile.model import CaseFile
from reporter.errors import ReporterError
from reporter.render.model import ComputedAssessment, ItemRow, MethodView


def computed_assessments(case: CaseFile | None) -> tuple[tuple[ComputedAssessment, ...], str | None]:
    """(the pairs, or a note saying why there are none)."""
    if case is None:
        return (), "Computed assessments need the case file (this report was made from a Bundle)"
    try:
        results = assess_case(case)
    except ReporterError as exc:
        return (), f"Assessments not computed: {exc}"
    out = []
    for pr in results:
        f = pr.facts
        if pr.not_assessed is not None:
            out.append(ComputedAssessment(f.drug_name, f.reaction_name, (), (), tuple(agreement(pr)), (),
                                          f"{pr.not_assessed[:1].upper()}{pr.not_assessed[1:]}."))
            continue
        onset = (f.onset.text[0].upper() + f.onset.text[1:] + ".", *(f"Note: {n}." for n in f.onset.notes))
        liver = (f"{f.r.text}.", f"{f.hy.text}.", f"{f.normal.text}.") if f.is_liver else ()
        methods = tuple(
            MethodView(a.method, a.method_label, a.result_text, tuple(a.summary.splitlines()),
                       tuple(ItemRow(n, x.question, x.answer_text, x.points, x.source, x.fact)
                             for n, x in enumerate(a.answers, start=1)),
                       a.score is not None)
            for a in pr.assessments)
        out.append(ComputedAssessment(f.drug_name, f.reaction_name, onset, liver, tuple(agreement(pr)), methods))
    return tuple(out), None
