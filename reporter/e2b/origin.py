"""Mark an imported Bundle with where its items came from in the E2B message.

- Drugs (MedicationStatement.identifier) and reactions (AdverseEvent.identifier) keep the message's own
  ids (G.k / E.i id roots, as urn:uuid: or urn:oid:), so a re-export links its blocks with the same ids
  and any passed-through block that refers to them still points at the right drug or reaction.
- The drug-role (G.k.1) and causality (G.k.9.i.2.r) blocks keep their position among the
  adverseEventAssessment's components (extension `e2b_order`, valueInteger), so a re-export writes them
  in the order they were received rather than grouped per drug and reaction.
- A drug's link to a reaction (AdverseEvent.suspectEntity) keeps the position of the drug's first
  G.k.9.i.3 / G.k.9.i.4 block for that reaction (`e2b_order`), so a re-export writes a drug's
  per-reaction blocks in the order received, not in the order of the reactions.
- The reporter's and sender's comments (H.2, H.4: Composition sections) keep their received order.
- The sender (C.3, the custodian Organization) keeps its place among the C.1.9.1.r other case ids, which
  share its wrapper (subjectOf1): `e2b_order` is the number of those received before it.
- A test's reference range bounds (F.r.4 low, F.r.5 high: Observation.referenceRange low / high) keep
  their received order.
- The sender's telecom entries (C.3.4.6-8, Organization.telecom) keep their received order (`e2b_order`).

Freshly authored Bundles carry none of this and are written in the exporter's own order.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, TypeVar

from reporter.e2b.to_case import Origin
from reporter.fhir.build import resource_id
from reporter.fhir.read import section_code
from reporter.tables import ext

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


def order(element: Json) -> int | None:
    """The `e2b_order` position an element was received at (None when not imported)."""
    url = ext("e2b_order")
    return next((e.get("valueInteger") for e in element.get("extension") or [] if e.get("url") == url), None)


def received_order(items: list[T], element: Callable[[T], Json] | None = None) -> list[T]:
    """Items whose element (the item itself by default) was imported, in the order received (`e2b_order`),
    then the others in the writer's order."""
    ranks = [order((element(item) if element else item) or {}) for item in items]  # type: ignore[arg-type]
    return [items[i] for i in sorted(range(len(items)), key=lambda i: (ranks[i] is None, ranks[i] or 0, i))]


def _set_order(element: Json, position: int) -> None:
    element.setdefault("extension", []).append({"url": ext("e2b_order"), "valueInteger": position})


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
    for key, position in origin.role_positions.items():
        statement = find(f"drug/{key}")
        if statement is not None:
            _set_order(statement, position)
    for (drug_key, reaction_key), positions in origin.causality_positions.items():
        event = find(f"reaction/{reaction_key}")
        target = f"urn:uuid:{resource_id(case_id, f'drug/{drug_key}')}"
        for entity in (event or {}).get("suspectEntity") or []:
            if (entity.get("instance") or {}).get("reference") == target:
                for item, position in zip(entity.get("causality") or [], positions, strict=False):
                    _set_order(item, position)
    composition = bundle["entry"][0]["resource"] if bundle.get("entry") else {}  # a document's first entry
    for section in composition.get("section") or []:
        codes = {c.get("code") for c in (section.get("code") or {}).get("coding") or []}
        for key, position in origin.comment_positions.items():
            if section_code(key) in codes:
                _set_order(section, position)
    for (index, bound), position in origin.range_positions.items():
        for reference in (find(f"test/{index}") or {}).get("referenceRange") or []:
            if isinstance(reference.get(bound), dict):
                _set_order(reference[bound], position)
    if origin.sender_rank is not None and find("sender") is not None:
        _set_order(find("sender"), origin.sender_rank)
    for point in (find("sender") or {}).get("telecom") or []:
        if point.get("system") in origin.telecom_positions:
            _set_order(point, origin.telecom_positions[point["system"]])
    for (drug_key, reaction_key), position in origin.link_positions.items():
        event = find(f"reaction/{reaction_key}")
        target = f"urn:uuid:{resource_id(case_id, f'drug/{drug_key}')}"
        for entity in (event or {}).get("suspectEntity") or []:
            if (entity.get("instance") or {}).get("reference") == target:
                _set_order(entity, position)
