"""F: tests and procedures -> the case model."""

from __future__ import annotations

from typing import Any

from lxml import etree

from reporter.casefile import model as m
from reporter.e2b.read.reader import (
    Reader,
    note_relationship,
    to_number,
)
from reporter.e2b.xmlsafe import XSI, local


def read_tests(r: Reader) -> list[m.Test]:
    out = []
    for inst in r.instances("test"):
        point = r.checkpoint()
        note_relationship(r, "F.r.6", inst, "REFR")
        note_relationship(r, "F.r.7", inst, "REFR")
        value = _test_value(r, inst)
        words = r.value("F.r.3.4", inst)
        if words is None and not value:
            words = _range_text(r, inst, len(out) + 1)
        data = {
            "name": r.value("F.r.2.1", inst) or (r.raw("F.r.2.2b", inst)[1] and None),
            "meddra": r.meddra("F.r.2.2b", "F.r.2.2a", inst),
            "date": r.date("F.r.1", inst),
            **value,
            "result": r.code("F.r.3.1", inst, "test_result"),
            "result_text": words,
            "low": _range(r, "F.r.4", inst, value.get("unit")),
            "high": _range(r, "F.r.5", inst, value.get("unit")),
            "comments": r.value("F.r.6", inst),
            "more_info": r.boolean("F.r.7", inst),
        }
        item = r.build(m.Test, data, point, inst)
        if item:
            out.append(item)
            if item.result_text and item.value is not None:
                r.deviations.append(("F.r.3.4", f"test {len(out)} ({item.name or 'unnamed'}) gives a free-text result "
                                                "beside its value (F.r.3.2): the case keeps both, and an export "
                                                "sends the text in the comments (F.r.6), beside the value"))
    return out


def _range(r: Reader, number: str, inst: etree._Element, unit: str | None) -> float | None:
    """F.r.4 / F.r.5: the model holds the range in the unit of the result (F.r.3.3, as read with the value:
    of the bound that holds it when the other is open), so a bound in another unit (or none) is left as
    received."""
    node = r.node(number, inst)
    if node is None or not unit or node.get("unit") != unit:
        return None
    found = r.value(number, inst, to_number)
    if found is not None:
        r.mark(node, "unit")
    return found


_OPEN = {("low", "true"): ">=", ("low", "false"): ">", ("high", "true"): "<=", ("high", "false"): "<"}
# A bound without `inclusive` is inclusive: the HL7 datatypes XSD gives the attribute the default "true".
_INCLUSIVE_DEFAULT = "true"


def _test_value(r: Reader, inst: etree._Element) -> dict[str, Any]:
    """F.r.3.2/3.3: a centre value, or one bound of an interval open on the other side (NINF / PINF, or
    left out, as other senders write '<5'), which is the value with a comparator ('<' ... '>='). A plain PQ
    (not ICH's IVL_PQ, but what some senders send) is the value as well."""
    value = inst.find("{urn:hl7-org:v3}value")
    kind = None if value is None else value.get(f"{{{XSI}}}type")
    if kind == "PQ":
        return _quantity(r, value, None)
    if kind != "IVL_PQ":
        return {}
    parts = {local(c): c for c in value if isinstance(c.tag, str)}
    if set(parts) == {"center"}:
        return _quantity(r, parts["center"], None)
    bounds = [name for name in ("low", "high") if name in parts and parts[name].get("nullFlavor") is None]
    open_ends = [name for name in parts if name not in bounds]
    if len(bounds) != 1 or any(parts[name].get("nullFlavor") != _INFINITE.get(name) for name in open_ends):
        return {}
    node = parts[bounds[0]]
    comparator = _OPEN.get((bounds[0], node.get("inclusive", _INCLUSIVE_DEFAULT)))
    found = _quantity(r, node, comparator) if comparator else {}
    for name in open_ends if found else ():
        r.mark(parts[name], "nullFlavor")
    return found


def _range_text(r: Reader, inst: etree._Element, n: int) -> str | None:
    """A result sent as a range (IVL_PQ with both bounds, which ICH allows: F.r.3.2 twice) in words, '1.2 to 1.5
    mg/dL': the case model holds one value with a comparator, so it keeps the range as the result in words."""
    value = inst.find("{urn:hl7-org:v3}value")
    if value is None or value.get(f"{{{XSI}}}type") != "IVL_PQ":
        return None
    parts = {local(c): c for c in value if isinstance(c.tag, str)}
    numbers = [to_number(parts[b].get("value")) if b in parts else None for b in ("low", "high")]
    units = {parts[b].get("unit") for b in ("low", "high") if b in parts}
    if set(parts) != {"low", "high"} or None in numbers or len(units) != 1 or None in units:
        return None
    low, high = parts["low"], parts["high"]
    text = f"{low.get('value')} to {high.get('value')} {low.get('unit')}"
    for node in (low, high):
        r.mark(node, "value", "unit", *(("inclusive",) if node.get("inclusive") else ()))
    r.applied("F.r.3.2", "range_text")
    r.applied("F.r.3.3", "range_text")
    r.deviations.append(("F.r.3.2", f"test {n} gives its result as a range ({text}), which the case model has no "
                                    "single value for: kept as the result in words (F.r.3.4), as an export sends it"))
    return text


# The open end of a one-sided interval, when it is sent at all.
_INFINITE = {"low": "NINF", "high": "PINF"}


def _quantity(r: Reader, node: etree._Element, comparator: str | None) -> dict[str, Any]:
    """The value and unit on `node` (a centre, a bound or a PQ) with its comparator, if it has both."""
    number = to_number(node.get("value"))
    if number is None or not node.get("unit"):
        return {}
    r.mark(node, "value", "unit", *(("inclusive",) if comparator else ()))
    r.applied("F.r.3.2", "to_number" if comparator is None else "open_interval")
    r.applied("F.r.3.3", "unit")
    return {"value": number, "unit": node.get("unit"), "comparator": comparator}
