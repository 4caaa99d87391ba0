"""_summary and _elements: a served resource cut down to the elements asked for, marked SUBSETTED."""

from __future__ import annotations

from reporter.fhir import models

_SUBSETTED = {"system": "http://terminology.hl7.org/CodeSystem/v3-ObservationValue", "code": "SUBSETTED",
              "display": "subsetted"}
_ALWAYS = ("resourceType", "id", "meta")


def shape(resource: dict, summary: str | None, elements: list[str] | None) -> dict:
    """The resource as `_summary` (true, text, data) or `_elements` asks; unchanged when neither is given."""
    if summary in (None, "false", "count") and not elements:
        return resource
    rtype = str(resource.get("resourceType"))
    try:
        mandatory = models.mandatory_elements(rtype)
        summary_names = models.summary_elements(rtype)
    except ValueError:
        return resource
    if summary == "data":
        kept = {k: v for k, v in resource.items() if k != "text"}
    elif summary == "text":
        kept = {k: v for k, v in resource.items() if k in (*_ALWAYS, "text") or k in mandatory}
    elif summary == "true":
        kept = {k: v for k, v in resource.items() if k in _ALWAYS or k.lstrip("_") in summary_names}
    else:
        wanted = {e.split(".")[0] for e in elements or []}
        kept = {k: v for k, v in resource.items()
                if k in _ALWAYS or k.lstrip("_") in wanted or k.lstrip("_") in mandatory}
    if kept.keys() != resource.keys():
        meta = dict(kept.get("meta") or {})
        tags = [t for t in meta.get("tag") or [] if t.get("code") != "SUBSETTED"]
        meta["tag"] = [*tags, _SUBSETTED]
        kept["meta"] = meta
    return kept
