"""H: narrative, comments, sender's diagnoses, summaries -> the case model."""

from __future__ import annotations

from typing import Any

from lxml import etree

from reporter.casefile import model as m
from reporter.e2b.read.reader import (
    Reader,
)


def read_narrative(r: Reader, report: etree._Element) -> Any:
    point = r.checkpoint()
    assessment = r.one("assessment")
    summaries = []
    for inst in r.instances("summary"):
        p = r.checkpoint()
        s = r.build(m.Summary, {"text": r.value("H.5.r.1a", inst), "language": r.value("H.5.r.1b", inst)}, p, inst)
        if s:
            summaries.append(s)
    data = {
        "text": r.value("H.1", report),
        "reporter_comments": r.value("H.2", assessment) if assessment is not None else None,
        "sender_comments": r.value("H.4", assessment) if assessment is not None else None,
        "sender_diagnoses": [d for inst in r.instances("sender_diagnosis")
                             if (d := r.meddra("H.3.r.1b", "H.3.r.1a", inst)) is not None],
        "summaries": summaries,
    }
    return r.build(m.Narrative, data, point)
