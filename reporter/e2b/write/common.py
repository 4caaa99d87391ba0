"""Helpers the E2B section writers share (MedDRA values, periods, product codes, relative times)."""

from __future__ import annotations

from collections.abc import Callable

from reporter.e2b.context import (
    MEDDRA,
    Ctx,
    Json,
    meddra,
    ts,
)
from reporter.e2b.xmlw import Node, el, leaf, wrap
from reporter.fhir import read

SEX = {"male": "1", "female": "2"}


def mdr_value(parent: Node, concept: Json | None, tag: str = "value", xsi_type: str | None = "CE") -> Node:
    coding = meddra(concept) or {}
    return el(parent, tag, xsi_type=xsi_type, code=coding.get("code"), codeSystem=MEDDRA,
              codeSystemVersion=coding.get("version"))


def period(node: Node, resource: Json, start: str, end: str) -> None:
    low, high = read.datetime_at(resource, start), read.datetime_at(resource, end)
    low_nf, high_nf = read.primitive_absent(resource, start), read.primitive_absent(resource, end)
    if not (low or high or low_nf or high_nf):
        return
    time = el(node, "effectiveTime", xsi_type="IVL_TS")
    if low or low_nf:
        leaf(time, "low", value=ts(low), nullFlavor=None if low else low_nf)
    if high or high_nf:
        leaf(time, "high", value=ts(high), nullFlavor=None if high else high_nf)


def product_code(ctx: Ctx, kind: Node, concept: Json | None, numbers: tuple[str, str],
                 named: Callable[[], tuple[str, str]]) -> None:
    """G.k.2.1 / D.8.r.2-3: the first product identifier (MPID, PhPID or a regional code such as an NDC).
    E2B has one code element; an identifier without a code system OID has no place there. One not written
    is said (E2B-NOT-SENT), not dropped unsaid; `numbers`: the MPID and PhPID elements of the block; `named`:
    (whose identifier, its place in the case), asked only then."""
    written = False
    for coding in read.codings(concept):
        id_kind = read.ext_value(coding, "product_id_kind")
        if not id_kind:
            continue
        if not written and str(coding.get("system", "")).startswith("urn:oid:"):
            leaf(kind, "code", code=coding.get("code"), codeSystem=coding["system"][8:],
                 codeSystemVersion=coding.get("version"))
            written = True
            continue
        why = ("E2B holds one identifier per product, and another is sent" if written
               else "it has no code system OID, which E2B's code element needs")
        whose, place = named()
        ctx.unplaced.append((numbers[1] if id_kind == "phpid" else numbers[0],
                             f"the product identifier {coding.get('code')} ({id_kind}) of {whose}: {why}", place, None))


def describe_relative(relative: read.Relative, drug_name: str | None) -> str:
    drug = drug_name or "the drug"
    anchor = "first" if relative.anchor == "first-dose" else "last"
    value = int(relative.value) if float(relative.value).is_integer() else relative.value
    units = {"d": "day", "wk": "week", "mo": "month", "a": "year", "h": "hour", "min": "minute"}
    unit = units.get(relative.unit, relative.unit)
    words = read.QUALIFIER_WORDS.get(relative.qualifier or "")
    qualified = f" ({relative.as_stated or words})" if relative.as_stated or words else ""
    if relative.high is not None:  # '4-5 weeks after', not 'Week 4 after ... (4-5 wk)'
        high = int(relative.high) if float(relative.high).is_integer() else relative.high
        side = "before" if value < 0 else "after"
        return f"{abs(value)}-{abs(high)} {unit}s {side} the {anchor} dose of {drug}{qualified}"
    if value < 0:
        return f"{-value} {unit}{'s' if value != -1 else ''} before the {anchor} dose of {drug}{qualified}"
    return f"{unit.capitalize()} {value} after the {anchor} dose of {drug}{qualified}"


def category_organizer(ctx: Ctx, role: Node, code: str) -> Node:
    """A subjectOf2/organizer of the patient role named by an ICH organizer code (3 tests, 4 drugs)."""
    organizer = wrap(role, "subjectOf2", "SBJ", "organizer", classCode="CATEGORY", moodCode="EVN")
    ctx.ich(organizer, "code", code, 20)
    return organizer
