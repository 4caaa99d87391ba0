"""One E2B(R3) ICSR message (PORR_IN049016UV) -> the case-file model, recording what was read.

Values are found through the element locations table (mappings/e2b/locations.yaml), the same table the
exporter's checks use. Every (node, attribute) read into the model is recorded in `Reader.used`; what
was not read is counted and listed by element in the import report (reporter/e2b/coverage.py), never
carried as XML. A block the model rejects (e.g. a drug without a name) is rolled back whole and listed.
Each E2B section has its own reader module in reporter/e2b/read/ (section_c ... section_h); this module puts
them together in the order the model needs (reactions before the drugs that link to them).
"""

from __future__ import annotations

from typing import Any

from lxml import etree
from pydantic import ValidationError

from reporter.casefile import model as m
from reporter.e2b.read.reader import Origin, Reader, compiled, ts_to_partial
from reporter.e2b.read.section_c import included_file, read_primary_source, read_report, read_sender, read_study
from reporter.e2b.read.section_d import read_patient
from reporter.e2b.read.section_e import read_reactions
from reporter.e2b.read.section_f import read_tests
from reporter.e2b.read.section_g import read_drugs
from reporter.e2b.read.section_h import read_narrative

__all__ = ["Origin", "Reader", "message_to_case", "ts_to_partial"]


def message_to_case(message: etree._Element) -> tuple[m.CaseFile | None, Reader, str | None]:
    """Read one PORR_IN049016UV. Returns the case (None if even C.1 cannot be read), the reader
    (what was read) and, when there is no case, why."""
    r = Reader(message)
    report = r.one("report")
    if report is None:
        return None, r, "no investigationEvent (C.1) in this message"
    case_id = r.value("C.1.1", report)
    if not case_id:  # the message id, else the worldwide id, stands in for it
        r.not_received.append("C.1.1")
        case_id = next((str(v) for v in (*compiled("h:id/@extension")(r.message),
                                          r.raw("C.1.8.1", report)[1]) if v), None)
        if not case_id:
            return None, r, "no sender's safety report unique identifier (C.1.1) nor any other id of the report"
    report_data = read_report(r, report)
    reactions, reaction_ids = read_reactions(r)
    data: dict[str, Any] = {
        "case_id": case_id,
        "report": {k: v for k, v in report_data.items() if v is not None and v != []},
        "primary_sources": [p for inst in r.instances("primary_source") if (p := read_primary_source(r, inst))],
        "sender": read_sender(r, r.one("sender")),
        "literature": [],
        "study": read_study(r),
        "patient": read_patient(r, r.one("patient"), bool(reactions)),
        "reactions": reactions,
        "tests": read_tests(r),
        "drugs": read_drugs(r, reaction_ids, {x.id: x.verbatim for x in reactions}),
        "narrative": read_narrative(r, report),
    }
    for inst in r.instances("literature"):
        p = r.checkpoint()
        lit = r.build(m.Literature, {"citation": r.value("C.4.r.1", inst),
                                     "file": included_file(r, "C.4.r.2", inst)}, p, inst)
        if lit:
            data["literature"].append(lit)
    try:
        case = m.CaseFile.model_validate({k: v for k, v in data.items() if v is not None and v != []})
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(x) for x in first["loc"])
        return None, r, f"cannot be read into the case model: {where}: {first['msg']}"
    r.mark(report, *())
    return case, r, None
