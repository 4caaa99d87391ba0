"""E: reactions / events -> the case model."""

from __future__ import annotations

import re
from typing import Any

from lxml import etree

from reporter.casefile import model as m
from reporter.e2b.read.reader import (
    Reader,
    boolean,
    finder,
    ii_key,
    ii_read,
    term_highlighted,
    time_type,
    time_written,
    true_only,
)

_SERIOUS = {"death": "E.i.3.2a", "life_threatening": "E.i.3.2b", "hospitalisation": "E.i.3.2c",
            "disabling": "E.i.3.2d", "congenital_anomaly": "E.i.3.2e", "other_medically_important": "E.i.3.2f"}


# An IVL_TS may hold the duration itself (low and width, as the ICH element table allows E.i.6 there): read as the
# exporter's SXPR_TS form says it. In an SXPR_TS the duration's part may come without the intersect operator
# (MFDS's element table lists both).
_REACTION_SHAPES = re.compile(r"^(IVL_TS\((low|high|low,high|low,width|width|width,high)?\)|"
                              r"SXPR_TS\[(IVL_TS\((low|high|low,high)?\)\|)?IVL_TS(:A)?\(width\)\])$")


def read_reactions(r: Reader) -> tuple[list[m.Reaction], dict[str, str]]:
    """Reactions, and the map from each reaction's E2B id (UUID) to its case-file key."""
    out: list[m.Reaction] = []
    ids: dict[str, str] = {}
    for n, inst in enumerate(r.instances("reaction"), start=1):
        point = r.checkpoint()
        key = f"reaction-{n}"
        seriousness: dict[str, Any] = {}
        for name, number in _SERIOUS.items():
            # true, or a null flavor (not known); E2B cannot say "no", so an absent element is no claim
            flag = r.get(number, inst, true_only)
            if flag is not None:
                seriousness[name] = flag
        if "FDA.E.i.3.2h" in r.elements:
            flag = r.get("FDA.E.i.3.2h", inst, boolean)
            if flag is not None:
                seriousness["required_intervention"] = flag
        received = r.value("E.i.3.1", inst, term_highlighted)
        highlighted = {"1": "yes", "3": "yes", "2": "no", "4": "no"}.get(received or "")
        serious = any(v is True for k, v in seriousness.items() if k != "required_intervention")
        if received and (received in ("3", "4")) != serious:
            # The code also says serious or not, which the exporter derives from E.i.3.2: the case keeps
            # whether the reporter highlighted the term and its criteria, and says so.
            said = "serious" if received in ("3", "4") else "not serious"
            criteria = "serious" if serious else "not serious"
            r.deviations.append(("E.i.3.1", f"code {received} says {said} while the seriousness criteria (E.i.3.2) "
                                            f"say {criteria}: the case keeps that the reporter highlighted it "
                                            f"({highlighted}) and the criteria; an export writes the code from both"))
        # The exporter writes the native-language text (E.i.1.1a) with its language only; without one it
        # stays as received, and the text for translation (E.i.1.2) is what was reported.
        language = r.value("E.i.1.1b", inst)
        verbatim = r.value("E.i.1.1a", inst) if language else None
        translation = r.value("E.i.1.2", inst)
        if verbatim is None:  # no native-language text: the text for translation is what was reported
            verbatim, translation = translation, None
        if verbatim is None and language is None:  # the reporter's words with no language, and nothing else
            verbatim = r.value("E.i.1.1a", inst)
            if verbatim is not None:
                r.deviations.append(("E.i.1.1a", f"reaction {n}'s term as reported came without its language "
                                                  "(E.i.1.1b): kept as the reported term, which an export sends as "
                                                  "the term for translation (E.i.1.2)"))
        data = {
            "id": key,
            "verbatim": verbatim,
            "language": language,
            "translation": translation,
            "meddra": r.meddra("E.i.2.1b", "E.i.2.1a", inst),
            "highlighted": highlighted,
            "seriousness": seriousness,
            **_reaction_time(r, inst),
            "outcome": r.code("E.i.7", inst, "outcome"),
            "medically_confirmed": r.boolean("E.i.8", inst),
            "country": r.value("E.i.9", inst),
        }
        reaction = r.build(m.Reaction, data, point, inst)
        if reaction is None:
            continue
        id_el = inst.find("{urn:hl7-org:v3}id")
        identity = ii_key(id_el)
        if identity is not None and identity not in ids:
            ids[identity] = key
            if id_el.get("extension") is None:  # an export writes the id as a root (else it makes a new one)
                r.origin.ids[key] = id_el.get("root")
            ii_read(r, id_el)
        out.append(reaction)
    return out, ids


def _reaction_time(r: Reader, inst: etree._Element) -> dict[str, Any]:
    """E.i.4-6 as the exporter writes them: start and end in an IVL_TS, or with the duration in an SXPR_TS; or
    start and duration in one IVL_TS. Another shape (or a duration that cannot be read) leaves the times as
    received."""
    r.first_only(finder("h:effectiveTime")(inst))  # the model holds one time per reaction
    shape = time_type(inst)
    if not time_written(inst, _REACTION_SHAPES):
        return {}
    with_width = shape == "SXPR_TS" or finder("h:effectiveTime/h:width")(inst)
    duration = r.quantity("E.i.6a", "E.i.6b", inst) if with_width else None
    if with_width and duration is None:
        return {}
    return {"onset": r.date("E.i.4", inst), "end": r.date("E.i.5", inst), "duration": duration}
