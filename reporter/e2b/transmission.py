"""The transmission ids of a received ICSR message, kept on the imported case's Composition.

N.1.3 batch sender, N.1.4 batch receiver, N.2.r.2 message sender and N.2.r.3 message receiver go into the
`e2b_transmission` extension (sub-extensions batchSender, batchReceiver, messageSender, messageReceiver), so
that a re-export goes back to the same receiver, from the same sender; a `notReceived` sub-extension names
each required E2B element the message did not give (the case records it as not known). Nothing else of the
received XML is carried: the case model holds the facts and the export writes them.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import yaml
from lxml import etree

from reporter.e2b.read.reader import compiled
from reporter.paths import mappings_dir

Json = dict[str, Any]


@cache
def _urls() -> dict[str, str]:
    return yaml.safe_load((mappings_dir() / "fhir.yaml").read_text(encoding="utf-8"))["extensions"]


def _sub(url: str, value: str) -> Json:
    return {"url": url, "valueString": value}


TRANSMISSION = {  # sub-extension -> (where, id node below batch or message)
    "batchSender": ("batch", "h:sender/h:device/h:id"),
    "batchReceiver": ("batch", "h:receiver/h:device/h:id"),
    "messageSender": ("message", "h:sender/h:device/h:id"),
    "messageReceiver": ("message", "h:receiver/h:device/h:id"),
}


def transmission_extension(batch: etree._Element, message: etree._Element, not_received: list[str] = ()
                           ) -> tuple[Json, list[tuple[etree._Element, str]]]:
    """The `e2b_transmission` extension (N.1.3, N.1.4, N.2.r.2, N.2.r.3 as received, and a `notReceived`
    per E2B element whose Bundle value is an import placeholder) and the (node, attribute) pairs it reads,
    so that they are not carried twice."""
    subs: list[Json] = [_sub("notReceived", number) for number in not_received]
    used: list[tuple[etree._Element, str]] = []
    for name, (where, path) in TRANSMISSION.items():
        found = compiled(path)(batch if where == "batch" else message)
        node = found[0] if found else None
        if node is not None and node.get("extension"):
            subs.append(_sub(name, node.get("extension")))
            used += [(node, "extension"), (node, "root")]
    return {"url": _urls()["e2b_transmission"], "extension": subs}, used


def not_received(composition: Json) -> list[str]:
    """The E2B elements an imported Composition holds placeholders for (see transmission_extension)."""
    url = _urls()["e2b_transmission"]
    return [e["valueString"] for ext in composition.get("extension", []) if ext.get("url") == url
            for e in ext.get("extension", []) if e.get("url") == "notReceived"]


def transmission(composition: Json) -> dict[str, str] | None:
    """The transmission ids an imported Composition carries (None when it was not imported)."""
    url = _urls()["e2b_transmission"]
    for ext in composition.get("extension", []):
        if ext.get("url") == url:
            return {e["url"]: e["valueString"] for e in ext.get("extension", [])
                    if e.get("valueString") and e["url"] != "notReceived"}
    return None


def attach(bundle: Json, extensions: list[Json]) -> Json:
    """Append extensions to the Bundle's Composition (the first entry)."""
    composition = bundle["entry"][0]["resource"]
    composition.setdefault("extension", []).extend(extensions)
    return bundle
