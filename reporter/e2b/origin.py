"""Mark an imported Bundle with where its items came from in the E2B message.

- Drugs (MedicationStatement.identifier) and reactions (AdverseEvent.identifier) keep the message's own
  ids (G.k / E.i id roots, as urn:uuid: or urn:oid:), so a re-export links its blocks with the same ids
  and any passed-through block that refers to them still points at the right drug or reaction.
Where blocks sat in the message is not kept: element order inside a repeating group is no fact, and an
export always writes ICH's canonical order from the case.
"""

from __future__ import annotations

import re
from typing import Any, TypeVar

from reporter.e2b.to_case import Origin
from reporter.fhir.build import resource_id

Json = dict[str, Any]
T = TypeVar("T")
URI = "urn:ietf:rfc:3986"
_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_OID = re.compile(r"^[0-2](\.(0|[1-9][0-9]*))+$")


def as_uri(root: str) -> str | None:
    if _UUID.match(root):
        return f"urn:uuid:{root}"
    if _OID.match(root):
        return f"urn:oid:{root}"
    return None


def e2b_id(resource: Json) -> str | None:
    """The E2B id (II root) a resource carries from its import, if any."""
    identifiers = resource.get("identifier")
    if isinstance(identifiers, dict):
        identifiers = [identifiers]
    for ident in identifiers or []:
        value = ident.get("value") or ""
        if ident.get("system") == URI and value.startswith(("urn:uuid:", "urn:oid:")):
            return value.split(":", 2)[2]
    return None


def annotate(bundle: Json, case_id: str, origin: Origin) -> None:
    resources = {e["resource"].get("id"): e["resource"] for e in bundle.get("entry", [])}

    def find(role: str) -> Json | None:
        return resources.get(resource_id(case_id, role))

    received: set[str] = set()
    for key, root in origin.ids.items():
        kind = "drug" if key.startswith("drug-") else "reaction"
        resource = find(f"{kind}/{key}")
        uri = as_uri(root)
        if resource is None or uri is None:
            continue
        received.add(resource.get("id", ""))
        if kind == "reaction":
            resource["identifier"] = {"system": URI, "value": uri}
        else:
            resource.setdefault("identifier", []).append({"system": URI, "value": uri})
    for resource in resources.values():  # a reaction received without an id of its own keeps none
        if resource.get("resourceType") == "AdverseEvent" and resource.get("id") not in received:
            resource.pop("identifier", None)
