"""Server ids for the resources inside a stored Bundle, and the standalone form of each resource.

A sender's resource ids are local to its Bundle (EHR exports and HL7's examples all use `patient-1`), so the
store gives every inner resource an id of its own: uuid5 of the case id and the sender's `Type/id`. The same
sender id in the next version of the same case gets the same server id (resource history stays whole), and an
id that is already this case's server id is kept (a client that read the Bundle and PUTs it back).

In the stored document Bundle every entry's fullUrl becomes `urn:uuid:<server id>` and every reference that
resolves inside the Bundle points at it: the document stays self-contained. A resource served on its own
(`GET /fhir/AdverseEvent/<id>`) is the standalone form: references as `Type/<server id>`, which the server
serves, and the sender's id kept as an identifier where the resource type has a repeating identifier.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import orjson

SENDER_ID_SYSTEM = "http://fhir-ae-reporter.org/NamingSystem/sender-resource-id"
_RELATIVE = re.compile(r"^([A-Z][A-Za-z]+)/([A-Za-z0-9\-.]{1,64})(?:/_history/[A-Za-z0-9\-.]+)?$")
_ABSOLUTE = re.compile(r"^https?://.+/([A-Z][A-Za-z]+)/([A-Za-z0-9\-.]{1,64})(?:/_history/[A-Za-z0-9\-.]+)?$")
# Resource types whose `identifier` is 0..1 in R4: the sender id is not added there.
_SINGLE_IDENTIFIER = frozenset({"Composition", "AdverseEvent", "Bundle", "QuestionnaireResponse", "Parameters"})
_NO_IDENTIFIER = frozenset({"Binary", "OperationOutcome", "Parameters", "Provenance", "AuditEvent",
                            "CapabilityStatement", "Subscription", "MedicationKnowledge"})


def server_id(case_id: str, resource_type: str, sender_id: str) -> str:
    return str(uuid.uuid5(uuid.UUID(_uuid_of(case_id)), f"{resource_type}/{sender_id}"))


def _uuid_of(case_id: str) -> str:
    try:
        return str(uuid.UUID(case_id))
    except ValueError:
        return str(uuid.uuid5(uuid.NAMESPACE_URL, case_id))


def references(node: Any) -> Iterator[dict]:
    """Every Reference-shaped dict (one with a string `reference`) anywhere under `node`."""
    if isinstance(node, dict):
        if isinstance(node.get("reference"), str):
            yield node
        for key, value in node.items():
            if key != "contained":  # contained resources resolve among themselves (#id)
                yield from references(value)
    elif isinstance(node, list):
        for item in node:
            yield from references(item)


def _relinked(node: Any, targets: dict[str, str], rewrite: bool) -> Any:
    """A copy of a JSON tree (dicts and lists copied, scalars shared) with every reference found by `references`
    pointed at its target: one pass instead of copy.deepcopy and a second walk (a create localizes ~30 resources)."""
    if isinstance(node, dict):
        out = {key: _relinked(value, targets, rewrite and key != "contained")
               if isinstance(value, (dict, list)) else value for key, value in node.items()}
        if rewrite and isinstance(out.get("reference"), str):
            target = targets.get(out["reference"])
            if target:
                out["reference"] = target
        return out
    if isinstance(node, list):
        return [_relinked(item, targets, rewrite) if isinstance(item, (dict, list)) else item for item in node]
    return node  # a scalar root: JSON scalars are immutable, shared like the scalars inside


def json_copy(node: Any) -> Any:
    """A copy of a JSON tree as the store keeps it (orjson's reading of orjson's writing, ten times faster than
    copy.deepcopy: non-finite numbers become null, as they are stored); what orjson cannot write (integers past
    64 bits, lone surrogates, non-string keys) is copied in Python."""
    try:
        return orjson.loads(orjson.dumps(node))
    except TypeError:  # orjson.JSONEncodeError
        return _relinked(node, {}, False)


class Localized:
    """A Bundle with server ids, and the map from each old reference form to `Type/<server id>`."""

    def __init__(self, bundle: dict, targets: dict[str, str], sender_ids: dict[str, str]) -> None:
        self.bundle = bundle
        self.targets = targets  # urn:uuid:<server id> -> Type/<server id>
        self.sender_ids = sender_ids  # Type/<server id> -> the id its sender gave it

    def standalone(self, resource: dict) -> dict:
        """The resource as served on its own: `Type/id` references, the sender's id as an identifier."""
        body = _relinked(resource, self.targets, True)
        key = f"{body.get('resourceType')}/{body.get('id')}"
        sender = self.sender_ids.get(key)
        rtype = body.get("resourceType")
        if sender and sender != body.get("id") and rtype not in _NO_IDENTIFIER:
            marker = {"use": "secondary", "system": SENDER_ID_SYSTEM, "value": sender}
            if rtype in _SINGLE_IDENTIFIER:
                body.setdefault("identifier", marker)
            else:
                idents = body.get("identifier")
                idents = list(idents) if isinstance(idents, list) else []
                if not any(i.get("system") == SENDER_ID_SYSTEM for i in idents if isinstance(i, dict)):
                    idents.append(marker)
                body["identifier"] = idents
        return body


def localize(bundle: dict, case_id: str, *, known: Callable[[str, str], str | None]) -> Localized:
    """Give every entry resource a server id (in place on `bundle`, which the caller owns).

    `known(type, id)`: the sender id recorded for this case's current resource `Type/id`, or None when `id` is
    not one of this case's server ids."""
    entries = [e for e in bundle.get("entry") or [] if isinstance(e, dict) and isinstance(e.get("resource"), dict)]
    old_urls: dict[str, str] = {}  # every form a reference to an entry may take -> urn:uuid:<server id>
    by_type_id: dict[tuple[str, str], str] = {}
    sender_ids: dict[str, str] = {}
    targets: dict[str, str] = {}
    for position, entry in enumerate(entries):
        resource = entry["resource"]
        rtype = str(resource.get("resourceType"))
        sender = resource.get("id") if isinstance(resource.get("id"), str) else None
        full_url = entry.get("fullUrl") if isinstance(entry.get("fullUrl"), str) else None
        previous = known(rtype, sender) if sender else None
        if previous is not None:
            new_id, original = sender, previous
        else:
            new_id = server_id(case_id, rtype, sender or full_url or f"#{position}")
            original = sender or ""
        urn = f"urn:uuid:{new_id}"
        if full_url:
            old_urls[full_url] = urn
        if sender:
            by_type_id.setdefault((rtype, sender), urn)
        old_urls.setdefault(urn, urn)
        resource["id"] = new_id
        entry["fullUrl"] = urn
        targets[urn] = f"{rtype}/{new_id}"
        if original:
            sender_ids[f"{rtype}/{new_id}"] = original
    for entry in entries:
        for ref in references(entry["resource"]):
            found = _resolve(ref["reference"], old_urls, by_type_id)
            if found:
                ref["reference"] = found
    return Localized(bundle, targets, sender_ids)


def _resolve(reference: str, urls: dict[str, str], by_type_id: dict[tuple[str, str], str]) -> str | None:
    if reference in urls:
        return urls[reference]
    match = _RELATIVE.match(reference)
    if match:
        return by_type_id.get((match.group(1), match.group(2)))
    match = _ABSOLUTE.match(reference)
    if match and reference.split("/_history/")[0] in urls:
        return urls[reference.split("/_history/")[0]]
    return None
