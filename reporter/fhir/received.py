"""The received E2B message as provenance of the case version read from it.

A stored import adds two resources to that version's Bundle: a DocumentReference whose attachment points at
the message kept verbatim (`Binary/<sha256>`, with size, SHA-1 hash and file name), and a Provenance whose
target is the Composition and whose source entity is that DocumentReference. The case model holds the facts;
these say where they came from. Later versions (edits, follow-ups) carry their own provenance, not these.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from reporter.fhir.build import resource_id
from reporter.tables import system

Json = dict[str, Any]
KIND = "e2b-r3-message"


@dataclass(frozen=True)
class ReceivedFile:
    """A received file's bytes and what is known about it."""

    content: bytes
    filename: str | None = None
    content_type: str = "application/xml"

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.content).hexdigest()

    @property
    def sha1_base64(self) -> str:
        """FHIR Attachment.hash: the base64 SHA-1 of the data."""
        return base64.b64encode(hashlib.sha1(self.content).digest()).decode("ascii")


def _instant(when: datetime) -> str:
    return when.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def is_received_message(resource: Json) -> bool:
    """Whether a DocumentReference is the kept received message (not a C.1.6.1.r or literature document)."""
    if not isinstance(resource, dict) or resource.get("resourceType") != "DocumentReference":
        return False
    kind = resource.get("type")
    codings = (kind.get("coding") or []) if isinstance(kind, dict) else []
    return any(isinstance(c, dict) and c.get("system") == system("document_kind") and c.get("code") == KIND
               for c in codings)


def attach(bundle: Json, received: ReceivedFile, *, report_index: int, recorded: datetime) -> None:
    """Add the DocumentReference of the received message and the Provenance of this version to a Bundle."""
    entries = bundle.setdefault("entry", [])
    composition = next((e for e in entries if (e.get("resource") or {}).get("resourceType") == "Composition"), None)
    if composition is None:
        return
    seed = f"{composition.get('fullUrl')}|{received.sha256}|{report_index}"
    doc_id = resource_id(seed, "received-message")
    title = f"{received.filename}, report {report_index}" if received.filename else f"report {report_index}"
    document: Json = {
        "resourceType": "DocumentReference", "id": doc_id, "status": "current",
        "type": {"coding": [{"system": system("document_kind"), "code": KIND,
                             "display": "ICH E2B(R3) message as received"}]},
        "date": _instant(recorded),
        "description": f"E2B(R3) message received: {title}",
        "content": [{"attachment": {"contentType": received.content_type, "url": f"Binary/{received.sha256}",
                                    "size": len(received.content), "hash": received.sha1_base64,
                                    "title": title, "creation": _instant(recorded)}}],
    }
    agents: list[Json] = [{"type": {"coding": [{"system": system("provenance_participant"), "code": "assembler"}]},
                           "who": {"display": "fhir-ae-reporter E2B(R3) import"}}]
    custodian = (composition["resource"].get("custodian") or {}).get("reference")
    if custodian:
        agents.append({"type": {"coding": [{"system": system("provenance_participant"), "code": "author"}]},
                       "who": {"reference": custodian}})
    provenance: Json = {
        "resourceType": "Provenance", "id": resource_id(seed, "received-provenance"),
        "target": [{"reference": composition["fullUrl"]}],
        "recorded": _instant(recorded),
        "activity": {"coding": [{"system": system("data_operation"), "code": "CREATE", "display": "create"}]},
        "agent": agents,
        "entity": [{"role": "source", "what": {"reference": f"urn:uuid:{doc_id}"}}],
    }
    entries.append({"fullUrl": f"urn:uuid:{doc_id}", "resource": document})
    entries.append({"fullUrl": f"urn:uuid:{provenance['id']}", "resource": provenance})
