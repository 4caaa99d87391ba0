"""Hardened XML loading for everything the reporter receives (E2B batches, ACKs).

The parser never expands entities, never loads a DTD, never touches the network and refuses any
DOCTYPE at all: an E2B(R3) instance has no business declaring one, and refusing it outright closes
entity bombs and external-entity reads before the parser sees them. Input is capped at the
`max_upload_bytes` setting. Every failure is an InputError naming the line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from lxml import etree

from reporter import config
from reporter.errors import InputError
from reporter.tables import load_yaml

HL7 = "urn:hl7-org:v3"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
NS = {"h": HL7, "xsi": XSI}

# A DOCTYPE or ENTITY declaration anywhere before the root element (the prolog) is refused.
_DECL_RE = re.compile(rb"<!\s*(DOCTYPE|ENTITY)", re.IGNORECASE)
_DOCTYPE_NAME = re.compile(rb"<!\s*DOCTYPE\s+([A-Za-z_][\w.-]*)", re.IGNORECASE)


@cache
def _other_formats() -> dict[str, dict[str, str]]:
    """mappings/e2b/other_formats.yaml: root name -> what the file is and what to do with it."""
    return load_yaml("e2b/other_formats.yaml")["formats"]


@cache
def _other_hl7_roots() -> dict[str, dict[str, str]]:
    """mappings/e2b/other_formats.yaml: HL7 root of another E2B(R3) file kind -> what it is, what to do."""
    return load_yaml("e2b/other_formats.yaml")["hl7_roots"]


def _refuse_other_format(name: re.Match[bytes] | str | None, location: str) -> None:
    """Refuse a file whose root (or DOCTYPE) names a known other ICH format, such as E2B(R2), saying so."""
    if isinstance(name, re.Match):
        name = name.group(1).decode("ascii", "replace")
    known = _other_formats().get(name or "")
    if known:
        raise InputError(f"this is {known['name']} (root element {name}), not E2B(R3)", location=location,
                         hint=known["hint"])


def _refuse_other_hl7_root(qname: etree.QName, expected: str, location: str) -> None:
    """Refuse an E2B(R3) file of another kind than the one expected (an ACK given to import), saying which."""
    known = _other_hl7_roots().get(qname.localname)
    if qname.namespace == HL7 and known:
        raise InputError(f"this is {known['name']} (root element {qname.localname}); expected {expected}",
                         location=location, hint=known["hint"])


def max_bytes() -> int:
    value = config.get("max_upload_bytes") or "0"
    try:
        return int(value)
    except ValueError:
        raise InputError(f"setting max_upload_bytes is not a number: {value!r}") from None


def _parser() -> etree.XMLParser:
    """Comments and processing instructions are not content: dropped, so that a text they split is read whole
    (`<name>T.<!-- x -->Y.</name>` is `T.Y.`; kept, the reader's `.text` stopped at the comment)."""
    return etree.XMLParser(
        resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False, dtd_validation=False,
        remove_comments=True, remove_pis=True,
    )


@dataclass(frozen=True)
class Loaded:
    """A parsed document and where it came from (for messages)."""

    tree: etree._ElementTree
    source: str

    @property
    def root(self) -> etree._Element:
        return self.tree.getroot()


def read_bytes(path: str | Path) -> bytes:
    """Read a file, refusing it before reading when it is larger than max_upload_bytes."""
    p = Path(path)
    if not p.is_file():
        raise InputError("no such file", location=str(p))
    limit = max_bytes()
    size = p.stat().st_size
    if limit and size > limit:
        raise InputError(
            f"file is {size} bytes, over the {limit}-byte limit", location=str(p),
            hint="raise REPORTER_MAX_UPLOAD_BYTES if this file is genuine",
        )
    return p.read_bytes()


def _scan_text(data: bytes) -> bytes:
    """The bytes to scan for declarations: UTF-16/32 input is transcoded so the scan cannot be dodged."""
    for bom, codec in ((b"\xff\xfe\x00\x00", "utf-32-le"), (b"\x00\x00\xfe\xff", "utf-32-be"),
                       (b"\xff\xfe", "utf-16-le"), (b"\xfe\xff", "utf-16-be"),
                       (b"<\x00", "utf-16-le"), (b"\x00<", "utf-16-be")):
        if data.startswith(bom):
            return data.decode(codec, errors="replace").encode("utf-8")
    return data


def parse_bytes(data: bytes, source: str = "<input>") -> Loaded:
    """Parse XML bytes safely. Raises InputError (with the line) for anything but plain, well-formed XML."""
    limit = max_bytes()
    if limit and len(data) > limit:
        raise InputError(f"input is {len(data)} bytes, over the {limit}-byte limit", location=source)
    match = _DECL_RE.search(_scan_text(data))
    if match is not None:
        line = _scan_text(data).count(b"\n", 0, match.start()) + 1
        _refuse_other_format(_DOCTYPE_NAME.match(_scan_text(data), match.start()), f"{source}:{line}")
        raise InputError(
            f"XML declares a {match.group(1).decode().upper()}; DTDs and entities are refused",
            location=f"{source}:{line}",
            hint="E2B(R3) instances never need a DOCTYPE; remove it (or the sender's file is hostile)",
        )
    try:
        root = etree.fromstring(data, _parser())
    except etree.XMLSyntaxError as exc:
        line = exc.lineno or (exc.position[0] if getattr(exc, "position", None) else None)
        where = f"{source}:{line}" if line else source
        raise InputError(f"malformed XML: {exc.msg}", location=where) from None
    from reporter.limits import check_xml_tree

    # element/attribute counts bound the schema check and the import
    check_xml_tree(root, source, "e2b_xml_elements",
                   hint="send fewer reports per file, or raise e2b_xml_elements in mappings/limits.yaml")
    tree = root.getroottree()
    if tree.docinfo.doctype:  # belt and braces: the byte scan above should already have refused it
        raise InputError("XML declares a DOCTYPE; DTDs and entities are refused", location=source)
    return Loaded(tree, source)


def load(path: str | Path) -> Loaded:
    """Read and parse a file safely (size limit first, then the hardened parser)."""
    return parse_bytes(read_bytes(path), str(path))


def expect_root(loaded: Loaded, *names: str) -> str:
    """Check the root element is one of `names` in the HL7 v3 namespace; return its local name."""
    root = loaded.root
    qname = etree.QName(root)
    if qname.namespace == HL7 and qname.localname in names:
        return qname.localname
    expected = " or ".join(names)
    _refuse_other_format(qname.localname, f"{loaded.source}:{root.sourceline}")
    _refuse_other_hl7_root(qname, expected, f"{loaded.source}:{root.sourceline}")
    found = f"{{{qname.namespace}}}{qname.localname}" if qname.namespace else qname.localname
    raise InputError(
        f"root element is {found}, expected {expected} in namespace {HL7}",
        location=f"{loaded.source}:{root.sourceline}",
    )


_LOCAL: dict[str, str] = {}  # tag -> local name (a document has few distinct tags)


def local(el: etree._Element) -> str:
    """Local name of an element ('' for comments and processing instructions)."""
    tag = el.tag
    if not isinstance(tag, str):
        return ""
    name = _LOCAL.get(tag)
    if name is None:
        name = tag.rsplit("}", 1)[-1]
        if len(_LOCAL) < 10_000:
            _LOCAL[tag] = name
    return name
