"""The ICSR as a FHIR `message` Bundle, built from the document Bundle (the HL7 ICSR guide's transmission form).

MessageHeader first (event PAT_ADV_EVNT, focus on the Composition, sender the sending Organization when the case
names one), then every entry of the document in its order. Ids are derived from the document's, so the same case
gives the same message.
"""

from __future__ import annotations

import copy
import uuid
from typing import Any

from reporter.errors import InputError
from reporter.fhir.read import BundleIndex

Json = dict[str, Any]


def message_tables() -> Json:
    from reporter.tables import load_yaml

    return load_yaml("ehr.yaml")["message"]


def build_message(document: Json, *, destination: str = "urn:fhir-ae-reporter:receiver",
                  source: str = "urn:fhir-ae-reporter:sender") -> Json:
    """A message Bundle carrying the document's resources. Raises InputError for anything but an ICSR document."""
    if document.get("resourceType") != "Bundle" or document.get("type") != "document":
        raise InputError("a message is built from an ICSR document Bundle", location="Bundle.type",
                         hint="give a case file or the document Bundle `reporter fhir` writes")
    entries = document.get("entry") or []
    if not entries or (entries[0].get("resource") or {}).get("resourceType") != "Composition":
        raise InputError("the document Bundle does not start with its Composition", location="Bundle.entry[0]")
    tables = message_tables()
    composition_url = entries[0]["fullUrl"]
    doc_id = document.get("id") or str(uuid.uuid4())
    header_id = str(uuid.uuid5(uuid.UUID(int=0), f"{doc_id}|message-header"))
    custodian = BundleIndex(document).resolve(entries[0]["resource"].get("custodian"))  # however it is written
    sender = next((e for e in entries[1:] if e.get("resource") is custodian), None) \
        if custodian is not None and custodian.get("resourceType") == "Organization" else None
    header: Json = {
        "resourceType": "MessageHeader",
        "id": header_id,
        "meta": {"profile": [tables["header_profile"]]},
        "eventCoding": dict(tables["event"]),
        "destination": [{"endpoint": destination}],
        "source": {"name": "fhir-ae-reporter", "endpoint": source},
        "focus": [{"reference": composition_url}],
    }
    if sender is not None:
        header["sender"] = {"reference": sender["fullUrl"]}
    message: Json = {
        "resourceType": "Bundle",
        "id": str(uuid.uuid5(uuid.UUID(int=0), f"{doc_id}|message")),
        "meta": {"profile": [tables["bundle_profile"]]},
        "type": "message",
        "entry": [{"fullUrl": f"urn:uuid:{header_id}", "resource": header}, *copy.deepcopy(entries)],
    }
    if document.get("identifier"):
        message["identifier"] = copy.deepcopy(document["identifier"])
    if document.get("timestamp"):
        message["timestamp"] = document["timestamp"]
    return message
