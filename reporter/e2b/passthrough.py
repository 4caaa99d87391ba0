"""Carry what the case-file model cannot hold through the Bundle, and put it back on export.

After an ICSR message has been read into the model (reporter/e2b/to_case.py records every node and
attribute it read), the rest of the message is the residual:

- an element none of whose subtree was read (an FDA race code, an EMA regional block...) becomes a
  *fragment*: its XML, the stable path of its parent and of its preceding sibling;
- an attribute or text not read on an element that was (a displayName, a codeSystemVersion, a date at
  a precision the model cannot hold) becomes an *attribute* patch.

Both are Composition extensions (URL key `e2b_element` in mappings/fhir.yaml) with sub-extensions
`path`, `after`, `element` (E2B number), `fragment` / `attribute` + `value`. Paths are the diff module's
stable paths, relative to a batch holding just this message; a path outside the message
(``MCCI_IN200100UV01/name``) belongs to the batch header and is re-applied there.

The transmission ids (N.1.3 batch sender, N.1.4 batch receiver, N.2.r.2 message sender, N.2.r.3
message receiver) go into the `e2b_transmission` extension (sub-extensions batchSender, batchReceiver,
messageSender, messageReceiver) so that a re-export goes back to the same receiver, from the same sender,
with the same ids. Its presence also marks the Bundle as imported: the exporter then writes no
decorations of its own (display names, ICH code-list versions) and reproduces the source's.

`apply(message, composition)` and `apply_batch(batch, composition)` are the exporter's hooks: call them
on each exported message / the batch (after the writer has built it) and the residual is re-emitted in
place; a fragment whose path the writer already produced replaces that element, so applying is idempotent.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Any

import yaml
from lxml import etree

from reporter.e2b import diff
from reporter.e2b.elements import Labels
from reporter.e2b.xmlsafe import HL7, local
from reporter.paths import mappings_dir

Json = dict[str, Any]
STRUCTURAL = {"classCode", "moodCode", "typeCode", "determinerCode", "ITSVersion"}


@cache
def _urls() -> dict[str, str]:
    return yaml.safe_load((mappings_dir() / "fhir.yaml").read_text(encoding="utf-8"))["extensions"]


def _sub(url: str, value: str) -> Json:
    return {"url": url, "valueString": value}


def _message_keys(message: etree._Element) -> dict[etree._Element, str]:
    """Stable paths of a message's nodes as if its batch held only this message."""
    batch = message.getparent()
    keys = diff._keys(batch if batch is not None else message)
    own = keys[message]
    base = f"{local(batch)}/{local(message)}" if batch is not None else local(message)
    return {n: base + k[len(own):] for n, k in keys.items() if k == own or k.startswith(own + "/")}


def _batch_keys(batch: etree._Element) -> dict[etree._Element, str]:
    """Stable paths of the batch header's nodes (everything outside the messages)."""
    return {n: k for n, k in diff._keys(batch).items() if n is batch or "/PORR_IN049016UV" not in k}


def residual(message: etree._Element, used: list[tuple[etree._Element, str]]) -> list[Json]:
    """The Composition extensions for everything in `message` that was not read into the model."""
    return _residual(message, _message_keys(message), used)


def batch_residual(batch: etree._Element, used: list[tuple[etree._Element, str]]) -> list[Json]:
    """The Composition extensions for the batch header (N.1) beyond what `used` read."""
    return _residual(batch, _batch_keys(batch), used, skip=frozenset({"PORR_IN049016UV"}))


def _residual(root: etree._Element, keys: dict[etree._Element, str], used: list[tuple[etree._Element, str]],
              skip: frozenset[str] = frozenset()) -> list[Json]:
    url = _urls()["e2b_element"]
    read_attrs: dict[etree._Element, set[str]] = {}
    for node, attr in used:
        read_attrs.setdefault(node, set()).add(attr)
    emitted: set[etree._Element] = set()
    for node in read_attrs:
        current: etree._Element | None = node
        while current is not None and current not in emitted:
            emitted.add(current)
            current = current.getparent()
    labels = Labels(root.getroottree().getroot())
    out: list[Json] = []

    def visit(el: etree._Element) -> None:
        for child in el:
            if not isinstance(child.tag, str) or local(child) in skip:
                continue
            if child in emitted:
                done = read_attrs.get(child, set())
                for attr, value in child.attrib.items():
                    name = diff._attr_name(attr)
                    if name in done or name in STRUCTURAL or attr in diff.IGNORED_ATTRIBUTES:
                        continue
                    out.append({"url": url, "extension": [
                        _sub("path", keys[child]), _sub("element", labels.label(child, name)),
                        _sub("attribute", name), _sub("value", value)]})
                text = (child.text or "").strip()
                if text and "#text" not in done:
                    out.append({"url": url, "extension": [
                        _sub("path", keys[child]), _sub("element", labels.label(child, "#text")),
                        _sub("attribute", "#text"), _sub("value", child.text or "")]})
                visit(child)
            else:
                if (local(el), local(child)) in diff.IGNORED_NODES:
                    continue
                prev = child.getprevious()
                while prev is not None and not isinstance(prev.tag, str):
                    prev = prev.getprevious()
                ext = [_sub("path", keys[child]), _sub("element", labels.label(child))]
                if prev is not None:
                    ext.append(_sub("after", keys[prev]))
                ext.append(_sub("fragment", _fragment_xml(child)))
                out.append({"url": url, "extension": ext})

    visit(root)
    return out


def _fragment_xml(el: etree._Element) -> str:
    copy = etree.fromstring(etree.tostring(el))
    for node in copy.iter(etree.Comment):
        parent = node.getparent()
        if parent is not None:
            parent.remove(node)
    etree.cleanup_namespaces(copy)
    return etree.tostring(copy, encoding="unicode")


TRANSMISSION = {  # sub-extension -> (where, id node below batch or message)
    "batchSender": ("batch", "h:sender/h:device/h:id"),
    "batchReceiver": ("batch", "h:receiver/h:device/h:id"),
    "messageSender": ("message", "h:sender/h:device/h:id"),
    "messageReceiver": ("message", "h:receiver/h:device/h:id"),
}


def transmission_extension(batch: etree._Element, message: etree._Element
                           ) -> tuple[Json, list[tuple[etree._Element, str]]]:
    """The `e2b_transmission` extension (N.1.3, N.1.4, N.2.r.2, N.2.r.3 as received) and the
    (node, attribute) pairs it reads, so that they are not carried twice."""
    subs: list[Json] = []
    used: list[tuple[etree._Element, str]] = []
    for name, (where, path) in TRANSMISSION.items():
        found = (batch if where == "batch" else message).xpath(path, namespaces={"h": HL7})
        node = found[0] if found else None
        if node is not None and node.get("extension"):
            subs.append(_sub(name, node.get("extension")))
            used += [(node, "extension"), (node, "root")]
    return {"url": _urls()["e2b_transmission"], "extension": subs}, used


def transmission(composition: Json) -> dict[str, str] | None:
    """The transmission ids an imported Composition carries (None when it was not imported)."""
    url = _urls()["e2b_transmission"]
    for ext in composition.get("extension", []):
        if ext.get("url") == url:
            return {e["url"]: e["valueString"] for e in ext.get("extension", []) if e.get("valueString")}
    return None


def attach(bundle: Json, extensions: list[Json]) -> Json:
    """Append extensions to the Bundle's Composition (the first entry)."""
    composition = bundle["entry"][0]["resource"]
    composition.setdefault("extension", []).extend(extensions)
    return bundle


def _entries(composition: Json) -> list[dict[str, str]]:
    url = _urls()["e2b_element"]
    return [{e["url"]: e["valueString"] for e in ext.get("extension", [])}
            for ext in composition.get("extension", []) if ext.get("url") == url]


def _batch_path(path: str) -> bool:
    return not path.startswith("MCCI_IN200100UV01/PORR_IN049016UV")


def apply(message: etree._Element, composition: Json) -> int:
    """Re-emit the residual of an imported message into an exported one. Returns how many patches
    could not be placed (0 when everything found its parent)."""
    entries = [e for e in _entries(composition) if not _batch_path(e["path"])]
    return _apply(entries, lambda: {k: n for n, k in _message_keys(message).items()})


def apply_batch(batch: etree._Element, composition: Json) -> int:
    """Re-emit the batch-header residual (N.1) of an imported report into an exported batch."""
    entries = [e for e in _entries(composition) if _batch_path(e["path"])]
    return _apply(entries, lambda: {k: n for n, k in _batch_keys(batch).items()})


def _holds_item(node: etree._Element) -> bool:
    """Whether a written element is (or refers to) a modelled item - a drug, a reaction, a drug role or
    assessment, all identified by a UUID - rather than a default the writer fills in. A fragment at the
    same path then is a sibling the model could not hold, to insert, not to replace the item with."""
    return any(diff._UUID_RE.match(i.get("root") or "") for i in node.iter(f"{{{HL7}}}id"))


def _apply(entries: list[dict[str, str]], paths: Callable[[], dict[str, etree._Element]]) -> int:
    misplaced = 0
    for entry in entries:
        keys = paths()
        path = entry["path"]
        if "fragment" in entry:
            new = etree.fromstring(entry["fragment"])
            existing = keys.get(path)
            if existing is not None and not _holds_item(existing):
                existing.getparent().replace(existing, new)
                continue
            parent = keys.get(path.rsplit("/", 1)[0])
            if parent is None:
                misplaced += 1
                continue
            after = keys.get(entry.get("after", ""))
            if after is not None and after.getparent() is parent:
                after.addnext(new)
            elif "after" not in entry:
                parent.insert(0, new)
            else:
                parent.append(new)
            continue
        node = keys.get(path)
        if node is None:
            misplaced += 1
            continue
        attr = entry["attribute"]
        if attr == "#text":
            node.text = entry["value"]
        else:
            node.set(diff._attr_qname(attr), entry["value"])
    return misplaced
