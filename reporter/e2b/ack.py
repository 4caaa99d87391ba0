"""Read an E2B(R3) acknowledgement (MCCI_IN200101UV01) into a structured result.

ACK.A is the batch part (AA all accepted, AE accepted with errors, AR rejected); ACK.B.r one part per
ICSR message (CA accepted, CR rejected) with the receiver's error text. Identifier namespaces are
looked up by OID in mappings/oids.yaml, so an ACK that orders its parts differently still reads.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from lxml import etree

from reporter.e2b import canonical, xmlsafe
from reporter.e2b.xmlsafe import NS, XSI
from reporter.errors import InputError
from reporter.paths import mappings_dir

BATCH_CODES = {"AA": "accepted", "AE": "accepted with errors", "AR": "rejected"}
MESSAGE_CODES = {"CA": "accepted", "CR": "rejected"}


@cache
def _oids() -> dict[str, str]:
    data = yaml.safe_load((mappings_dir() / "oids.yaml").read_text(encoding="utf-8"))
    return data["identifiers"]


@dataclass
class MessageAck:
    """ACK.B.r: the receiver's verdict on one ICSR message."""

    message_id: str | None          # ACK.B.r.1 ICSR message number (the N.2.r.1 sent)
    local_report_number: str | None  # ACK.B.r.2
    receiver: str | None            # ACK.B.r.3 ICSR message ACK receiver
    sender: str | None              # ACK.B.r.4 ICSR message ACK sender
    message_created: str | None     # ACK.B.r.5 date of ICSR message creation
    code: str | None                # ACK.B.r.6 CA / CR
    details: list[str] = field(default_factory=list)  # ACK.B.r.7 error, warning or comment, split on ';'
    line: int | None = None

    @property
    def accepted(self) -> bool:
        return self.code == "CA"


@dataclass
class BatchAck:
    """ACK.M and ACK.A: the receiver's verdict on a whole batch."""

    ack_batch_number: str | None    # ACK.M.1
    ack_sender: str | None          # ACK.M.2
    ack_receiver: str | None        # ACK.M.3
    ack_created: str | None         # ACK.M.4
    batch_number: str | None        # ACK.A.1 the ICSR batch number acknowledged (N.1.2)
    local_message_number: str | None  # ACK.A.2
    batch_transmitted: str | None   # ACK.A.3 date of ICSR batch transmission
    code: str | None                # ACK.A.4 AA / AE / AR
    details: list[str] = field(default_factory=list)  # ACK.A.5 batch validation error or comment
    messages: list[MessageAck] = field(default_factory=list)

    @property
    def accepted(self) -> bool:
        return self.code == "AA"

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["status"] = BATCH_CODES.get(self.code or "", "unknown code")
        for m, obj in zip(data["messages"], self.messages, strict=True):
            m["status"] = MESSAGE_CODES.get(obj.code or "", "unknown code")
        return data

    def to_text(self) -> str:
        lines = [
            f"batch {self.batch_number or '?'}: {self.code or '?'} "
            f"({BATCH_CODES.get(self.code or '', 'unknown code')})",
            f"  acknowledged by {self.ack_sender or '?'} to {self.ack_receiver or '?'} "
            f"at {self.ack_created or '?'} (ACK batch {self.ack_batch_number or '?'})",
        ]
        lines += [f"  batch detail: {e}" for e in self.details]
        for m in self.messages:
            lines.append(
                f"  message {m.message_id or '?'}: {m.code or '?'} "
                f"({MESSAGE_CODES.get(m.code or '', 'unknown code')})"
                + (f", local report number {m.local_report_number}" if m.local_report_number else "")
            )
            lines += [f"    - {e}" for e in m.details]
        return "\n".join(lines) + "\n"


def _ext(el: etree._Element, xpath: str, oid_key: str) -> str | None:
    root = _oids()[oid_key]
    found = el.xpath(f"{xpath}[@root='{root}']/@extension", namespaces=NS)
    return (str(found[0]).strip() or None) if found else None


def _first(el: etree._Element, xpath: str) -> str | None:
    found = el.xpath(xpath, namespaces=NS)
    if not found:
        return None
    value = found[0]
    return str(value).strip() if isinstance(value, str) else (value.text or "").strip()


def _attention(el: etree._Element, keyword: str) -> str | None:
    """The value of the attentionLine whose keyWordText code is `keyword` (ICH list ...2.1.1.24)."""
    for line in el.xpath("h:attentionLine", namespaces=NS):
        if line.xpath(f"h:keyWordText/@code='{keyword}'", namespaces=NS):
            value = line.find(f"{{{xmlsafe.HL7}}}value")
            if value is None:
                return None
            return (value.get("value") or value.get("extension") or "").strip() or None
    return None


# FDA packs several errors in one text, each next one right after a ';' ("...is Mandatory.;Element value...",
# "...must be provided;Element..."); a ';' inside one message is followed by a space, as prose writes it.
# Its business-rule verdicts put each rejection and warning on a line of its own ("Rejections:\n1: ...\n
# Warnings:\n1: ..."): a line break ends a detail too.
_PACKED = re.compile(r";(?=[A-Z])|\r?\n")


def _details(el: etree._Element) -> list[str]:
    texts: list[str] = []
    for text in el.xpath("h:acknowledgement/h:acknowledgementDetail/h:text", namespaces=NS):
        for part in _PACKED.split(text.text or ""):
            if part.strip():
                texts.append(part.strip())
    return texts


def parse_ack(loaded: xmlsafe.Loaded) -> BatchAck:
    """Read an MCCI_IN200101UV01 acknowledgement."""
    xmlsafe.expect_root(loaded, "MCCI_IN200101UV01")
    root = loaded.root
    canonical.canonicalize(root)  # codes as the receiver's tools wrote them, whitespace and prefixes aside
    batch = BatchAck(
        ack_batch_number=_ext(root, "h:id", "ack_batch_number"),
        ack_sender=_ext(root, "h:sender/h:device/h:id", "ack_batch_sender"),
        ack_receiver=_ext(root, "h:receiver/h:device/h:id", "ack_batch_receiver"),
        ack_created=_first(root, "h:creationTime/@value"),
        batch_number=_ext(root, "h:acknowledgement/h:targetBatch/h:id", "batch_number"),
        local_message_number=_attention(root, "2"),
        batch_transmitted=_attention(root, "3"),
        code=_first(root, "h:acknowledgement/@typeCode"),
        details=_details(root),
    )
    if batch.code is None:
        raise InputError("acknowledgement has no batch acknowledgement code (ACK.A.4)",
                         location=f"{loaded.source}:{root.sourceline}")
    for msg in root.xpath("h:MCCI_IN000002UV01", namespaces=NS):
        batch.messages.append(MessageAck(
            message_id=_ext(msg, "h:acknowledgement/h:targetMessage/h:id", "message_id"),
            local_report_number=_ext(msg, "h:id", "ack_local_report_number"),
            receiver=_ext(msg, "h:receiver/h:device/h:id", "ack_message_receiver"),
            sender=_ext(msg, "h:sender/h:device/h:id", "ack_message_sender"),
            message_created=_attention(msg, "1"),
            code=_first(msg, "h:acknowledgement/@typeCode"),
            details=_details(msg),
            line=msg.sourceline,
        ))
    return batch


def read_ack(path: str | Path) -> BatchAck:
    return parse_ack(xmlsafe.load(path))


__all__ = ["BATCH_CODES", "MESSAGE_CODES", "XSI", "BatchAck", "MessageAck", "parse_ack", "read_ack"]
