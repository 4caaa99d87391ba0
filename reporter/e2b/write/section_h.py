"""H: reporter's and sender's comments, sender's diagnoses (under adverseEventAssessment) -> E2B XML."""

from __future__ import annotations

from reporter.e2b.context import (
    OBS,
    Ctx,
    section_text,
)
from reporter.e2b.write.common import mdr_value
from reporter.e2b.xmlw import Node, leaf, wrap


def narrative_parts(ctx: Ctx, assessment: Node) -> None:
    """H.2 reporter's comments, H.3.r sender's diagnoses, H.4 sender's comments (component1)."""
    first, last = ((k, section_text(ctx, k)[0]) for k in ("reporter_comments", "sender_comments"))
    authors = {"reporter_comments": "3", "sender_comments": "1"}
    if first[1]:
        comment(ctx, assessment, first[1], authors[first[0]])
    for condition in ctx.index.section("sender_diagnosis"):
        obs = wrap(assessment, "component1", "COMP", "observationEvent", classCode="OBS",
                   moodCode="EVN")
        leaf(obs, "code", code="15", codeSystem=OBS, displayName="diagnosis")
        mdr_value(obs, condition.get("code"))
        author = wrap(obs, "author", "AUT", "assignedEntity", classCode="ASSIGNED")
        ctx.ich(author, "code", "1", 21)
    if last[1]:
        comment(ctx, assessment, last[1], authors[last[0]])


def comment(ctx: Ctx, assessment: Node, text: str, author_code: str) -> None:
    obs = wrap(assessment, "component1", "COMP", "observationEvent", classCode="OBS", moodCode="EVN")
    leaf(obs, "code", code="10", codeSystem=OBS, displayName="comment")
    leaf(obs, "value", xsi_type="ED", text=text)
    author = wrap(obs, "author", "AUT", "assignedEntity", classCode="ASSIGNED")
    ctx.ich(author, "code", author_code, 21)
