"""The FHIR R4 invariants the models do not check, for the elements our resources use.

ext-1 (an extension has a value or sub-extensions, not both), obs-6 (dataAbsentReason only without a value),
obs-3 (a reference range has low, high or text), dom-2 (contained resources contain none), dom-3 (every
contained resource is referenced), bdl-1 to bdl-4 (total, entry.search, request and response only in the
Bundle types that have them), bdl-7 (fullUrl unique in a Bundle, per version), bdl-8 (no version in a fullUrl).
ele-1 (no empty elements) is checked with the JSON types in reporter.fhir.models."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from reporter.validation.report import Issue


def _issue(rule: str, where: str, message: str) -> Issue:
    return Issue("error", f"FHIR-{rule.upper()}", where, f"{message} ({rule})",
                 "see the invariant in the FHIR R4 definition of the element", "structure")


def _extensions(node: Any, path: str) -> Iterator[tuple[str, dict]]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("extension", "modifierExtension") and isinstance(value, list):
                for i, ext in enumerate(value):
                    if isinstance(ext, dict):
                        yield f"{path}.{key}[{i}]", ext
            if key not in ("resource", "contained"):
                yield from _extensions(value, f"{path}.{key}")
    elif isinstance(node, list):
        for i, item in enumerate(node):
            yield from _extensions(item, f"{path}[{i}]")


def _any_bad_extension(node: Any) -> bool:
    """Whether an extension below `node` (not in contained or Bundle entry resources) breaks ext-1: the
    cheap pass; the located walk (_extensions) runs only when it finds one."""
    stack = [node]
    pop, push = stack.pop, stack.append
    while stack:
        current = pop()
        if isinstance(current, dict):
            for key, value in current.items():
                if isinstance(value, list):
                    if key == "extension" or key == "modifierExtension":
                        for ext in value:
                            if isinstance(ext, dict) and _has_value(ext) == bool(ext.get("extension")):
                                return True
                    if key != "resource" and key != "contained":
                        push(value)
                elif isinstance(value, dict) and key != "resource" and key != "contained":
                    push(value)
        else:
            for item in current:
                if isinstance(item, (dict, list)):
                    push(item)
    return False


def _has_value(element: dict) -> bool:
    for k in element:
        if "value" in k:  # the cheap test first: most keys are not value[x]
            name = k.lstrip("_")
            if name.startswith("value") and name[5:6].isupper():
                return True
    return False


def any_bad_extension_in(nodes: list[dict]) -> bool:
    """Whether any object of a Bundle's walk (reporter.validation.walk: every JSON object of its resources,
    contained ones included) holds an extension that breaks ext-1. False means that no resource of the
    Bundle needs the per-resource pass; the Bundle's own elements outside its resources are not in the walk."""
    for node in nodes:
        found = node.get("extension")
        if found is not None and _breaks_ext1(found):
            return True
        found = node.get("modifierExtension")
        if found is not None and _breaks_ext1(found):
            return True
    return False


def _breaks_ext1(extensions: Any) -> bool:
    return isinstance(extensions, list) and any(
        isinstance(ext, dict) and _has_value(ext) == bool(ext.get("extension")) for ext in extensions)


def check_resource_invariants(resource: dict, root: str, *, ext_ok: bool = False,
                              entries_ext_ok: bool = False) -> list[Issue]:
    """`ext_ok`: the resource is known to pass ext-1; `entries_ext_ok`: a Bundle's entry resources are
    (any_bad_extension_in its walk found nothing)."""
    issues = []
    for where, ext in _extensions(resource, root) if not ext_ok and _any_bad_extension(resource) else ():
        if _has_value(ext) == bool(ext.get("extension")):
            issues.append(_issue("ext-1", where, "an extension has either a value or sub-extensions, not both "
                                                 "and not neither"))
    rtype = resource.get("resourceType")
    if rtype == "Observation":
        for where, obs in [(root, resource)] + [(f"{root}.component[{i}]", c) for i, c in
                                                 enumerate(resource.get("component") or []) if isinstance(c, dict)]:
            if obs.get("dataAbsentReason") and _has_value(obs):
                issues.append(_issue("obs-6", f"{where}.dataAbsentReason",
                                     "dataAbsentReason is only for an Observation without a value"))
        for i, rng in enumerate(resource.get("referenceRange") or []):
            if isinstance(rng, dict) and not (rng.get("low") or rng.get("high") or rng.get("text")):
                issues.append(_issue("obs-3", f"{root}.referenceRange[{i}]",
                                     "a reference range needs low, high or text"))
    contained = [c for c in resource.get("contained") or [] if isinstance(c, dict)]
    if contained:
        text = str({k: v for k, v in resource.items() if k != "contained"}) + str(contained)
        for i, item in enumerate(contained):
            if item.get("contained"):
                issues.append(_issue("dom-2", f"{root}.contained[{i}]", "a contained resource contains none"))
            if item.get("id") and f"#{item['id']}" not in text:
                issues.append(_issue("dom-3", f"{root}.contained[{i}]",
                                     "a contained resource must be referenced from the resource"))
    if rtype == "Bundle":
        issues += _bundle_kind_invariants(resource, root)
        seen: dict[tuple[str, str], int] = {}
        for i, entry in enumerate(resource.get("entry") or []):
            if not isinstance(entry, dict) or not isinstance(entry.get("fullUrl"), str):
                continue
            if "/_history/" in entry["fullUrl"]:
                issues.append(_issue("bdl-8", f"{root}.entry[{i}].fullUrl",
                                     f"fullUrl {entry['fullUrl']} names a version; a fullUrl names the resource"))
            inner = entry.get("resource") if isinstance(entry.get("resource"), dict) else {}
            key = (entry["fullUrl"], str((inner.get("meta") or {}).get("versionId", "")))
            if key in seen:
                issues.append(_issue("bdl-7", f"{root}.entry[{i}].fullUrl",
                                     f"fullUrl {entry['fullUrl']} repeats entry {seen[key]}"))
            else:
                seen[key] = i
            if inner:
                where = f"{root}.entry[{i}].resource.ofType({inner.get('resourceType')})"
                issues += check_resource_invariants(inner, where, ext_ok=entries_ext_ok)
    return issues


# R4 Bundle invariants on what a Bundle of each type may hold: bdl-1 total, bdl-2 entry.search (search results
# only), bdl-3 entry.request (transactions, batches, history), bdl-4 entry.response (their responses, history).
# Entries copied from a server's search or history answer into a document carry them.
_ALLOWED = {"bdl-1": ("total", {"searchset", "history"}), "bdl-2": ("search", {"searchset"}),
            "bdl-3": ("request", {"batch", "transaction", "history"}),
            "bdl-4": ("response", {"batch-response", "transaction-response", "history"})}


def _bundle_kind_invariants(bundle: dict, root: str) -> list[Issue]:
    kind = bundle.get("type")
    if not isinstance(kind, str):
        return []
    issues = []
    if "total" in bundle and kind not in _ALLOWED["bdl-1"][1]:
        issues.append(_issue("bdl-1", f"{root}.total", f"a {kind} Bundle has no total (search results and "
                                                       "histories only)"))
    entries = bundle.get("entry") if isinstance(bundle.get("entry"), list) else []
    for rule in ("bdl-2", "bdl-3", "bdl-4"):
        element, kinds = _ALLOWED[rule]
        for i, entry in enumerate(entries):
            if not isinstance(entry, dict):
                continue
            if element in entry and kind not in kinds:
                issues.append(_issue(rule, f"{root}.entry[{i}].{element}",
                                     f"a {kind} Bundle's entry has no {element} (only a {' or '.join(sorted(kinds))} "
                                     "Bundle's)"))
            elif element not in entry and kind in kinds and rule != "bdl-2":
                issues.append(_issue(rule, f"{root}.entry[{i}]", f"each entry of a {kind} Bundle has a {element}"))
    return issues
