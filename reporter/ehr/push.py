"""Send an ICSR to a FHIR server: the document Bundle to [base]/Bundle, or a message Bundle to
[base]/$process-message where the server's CapabilityStatement offers it; then read back what was stored."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from reporter.ehr.client import EHRError, FhirClient, outcome_text
from reporter.errors import InputError

Json = dict[str, Any]


@dataclass
class PushResult:
    kind: str              # "document" or "message"
    location: str          # where the server keeps it (Bundle/ID[/_history/V])
    read_back: Json        # what the server holds now


def refuse_draft(bundle: Json, where: str) -> None:
    entries = bundle.get("entry") or []
    first = (entries[0].get("resource") or {}) if entries else {}
    if first.get("resourceType") == "Composition" and first.get("status") == "preliminary":
        raise InputError("this Bundle is a draft pulled from an EHR (Composition.status preliminary)", location=where,
                         hint="a person reviews it and runs `reporter confirm`; push the confirmed case file")


def push_document(client: FhirClient, bundle: Json) -> PushResult:
    stored, location = client.create("Bundle", bundle)
    rid = stored.get("id") if stored.get("resourceType") == "Bundle" else None
    if not rid and location:
        parts = location.split("/")
        rid = parts[parts.index("Bundle") + 1] if "Bundle" in parts else None
    if not rid:
        raise EHRError("the server accepted the Bundle but did not say where it keeps it", location=client.base)
    read_back = client.read("Bundle", rid)
    if read_back.get("identifier") != bundle.get("identifier"):
        raise EHRError("the Bundle read back from the server has another identifier than the one sent",
                       location=f"Bundle/{rid}")
    version = (read_back.get("meta") or {}).get("versionId")
    return PushResult("document", f"Bundle/{rid}" + (f"/_history/{version}" if version else ""), read_back)


def push_message(client: FhirClient, message: Json) -> PushResult:
    if not client.supports_operation("process-message"):
        raise EHRError("the server does not accept FHIR messages ($process-message is not in its "
                       "CapabilityStatement)", location=client.base, hint="push the document Bundle instead")
    answer = client.operation("process-message", message)
    entries = answer.get("entry") or []
    header = (entries[0].get("resource") or {}) if entries else {}
    if answer.get("resourceType") != "Bundle" or header.get("resourceType") != "MessageHeader":
        raise EHRError("the server's answer to the message is not a response message", location=client.base)
    response = header.get("response") or {}
    sent_id = message["entry"][0]["resource"]["id"]
    if response.get("identifier") not in (None, sent_id):
        raise EHRError("the server's response names another message", location=client.base)
    code = response.get("code")
    if code != "ok":
        details = None
        ref = (response.get("details") or {}).get("reference")
        for entry in entries[1:]:
            res = entry.get("resource") or {}
            if res.get("resourceType") == "OperationOutcome" and (ref is None or entry.get("fullUrl") == ref
                                                                   or ref.endswith(str(res.get("id")))):
                details = outcome_text(res)
        raise EHRError(f"the server did not accept the message ({code or 'no response code'})"
                       + (f": {details}" if details else ""), location=client.base,
                       hint="try again later" if code == "transient-error" else "fix the case and send it again")
    return PushResult("message", f"$process-message response {header.get('id', '')}".strip(), answer)
