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
place. A fragment whose path holds one of the writer's stand-ins (a constant or a default the writer
marked with `xmlw.default`) replaces it; any other fragment is inserted after the element that preceded it
in the source. Stand-ins left over after that were not in the source and are dropped (`settle_defaults`).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import cache
from typing import Any

import yaml
from lxml import etree

from reporter.e2b import diff, xmlw
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
    """Stable paths of a message's nodes as if its batch held only this message. Keys are computed on the
    message's own subtree (a step depends only on the node and its siblings), so a batch of n messages costs
    n subtree walks, not n whole-batch walks."""
    batch = message.getparent()
    keys = diff._keys(message)
    own = keys[message]
    base = f"{local(batch)}/{local(message)}" if batch is not None else local(message)
    return {n: base + k[len(own):] for n, k in keys.items()}


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
                # a header element after a message (mutated batch) follows a node outside these keys
                while prev is not None and (not isinstance(prev.tag, str) or prev not in keys):
                    prev = prev.getprevious()
                ext = [_sub("path", keys[child]), _sub("element", labels.label(child))]
                if prev is not None:
                    ext.append(_sub("after", keys[prev]))
                ext.append(_sub("fragment", _fragment_xml(child)))
                out.append({"url": url, "extension": ext})

    visit(root)
    return out


def _fragment_xml(el: etree._Element) -> str:
    copy = etree.fromstring(etree.tostring(el, with_tail=False))  # a tail is not part of the fragment
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


def transmission_extension(batch: etree._Element, message: etree._Element, not_received: list[str] = ()
                           ) -> tuple[Json, list[tuple[etree._Element, str]]]:
    """The `e2b_transmission` extension (N.1.3, N.1.4, N.2.r.2, N.2.r.3 as received, and a `notReceived`
    per E2B element whose Bundle value is an import placeholder) and the (node, attribute) pairs it reads,
    so that they are not carried twice."""
    subs: list[Json] = [_sub("notReceived", number) for number in not_received]
    used: list[tuple[etree._Element, str]] = []
    for name, (where, path) in TRANSMISSION.items():
        found = (batch if where == "batch" else message).xpath(path, namespaces={"h": HL7})
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


def _apply(entries: list[dict[str, str]], paths: Callable[[], dict[str, etree._Element]]) -> int:
    if not entries:
        return 0  # nothing received beyond the model (e.g. a case authored here): no paths to compute
    misplaced = 0
    keys = paths()

    def refresh(changed_path: str, levels: int) -> None:
        """Re-key after a change at changed_path. A step names a node by its position among its siblings, by
        its <code>, and a wrapper by its single act's <code>: so a change can move the paths of the subtree
        two (a structural change) or three (a <code> attribute) levels up, and no others."""
        parent_path = changed_path
        for _ in range(levels):
            if "/" in parent_path:
                parent_path = parent_path.rsplit("/", 1)[0]
        parent = keys.get(parent_path)
        if parent is None:
            keys.update(paths())
            return
        prefix = parent_path + "/"
        for stale in [k for k in keys if k.startswith(prefix)]:
            del keys[stale]
        sub = diff._keys(parent)
        own = sub[parent]
        keys.update({parent_path + k[len(own):]: n for n, k in sub.items() if n is not parent})

    for entry in entries:
        path = entry["path"]
        parent_path = path.rsplit("/", 1)[0]
        if "fragment" in entry:
            new = etree.fromstring(entry["fragment"])
            existing = keys.get(path)
            if existing is not None and xmlw.is_default(existing):
                # the writer's stand-in for what the source had here: the source's own element wins
                existing.getparent().replace(existing, new)
                refresh(path, 2)
                continue
            parent = keys.get(parent_path)
            if parent is None:  # a wrapper is named by the one act it wraps: by this one, in the source
                parent = keys.get(_UNWRAPPED.sub("", parent_path))
            if parent is None:
                misplaced += 1
                continue
            after = keys.get(entry.get("after", ""))
            if after is not None and after.getparent() is parent:
                if new.tag != after.tag:  # the writer may order a run of such elements differently:
                    while (following := after.getnext()) is not None and following.tag == after.tag:
                        after = following  # go past all of it, as the schema's sequence wants
                after.addnext(new)
            elif "after" not in entry:
                parent.insert(0, new)
            else:
                parent.append(new)
            _keep_ordinal(parent, new, path)
            refresh(path, 2)
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
            if local(node) == "code":
                refresh(path, 3)  # the code names its act, and a wrapper by its act (diff._step)
            elif local(node) == "id":
                refresh(path, 1)
    return misplaced


_UNWRAPPED = re.compile(r"\{[^{}/]*\}(?=(\[\d+\])?$)")  # the last step's {wrapped act}


def _keep_ordinal(parent: etree._Element, new: etree._Element, path: str) -> None:
    """A fragment that is the n-th of its kind among its siblings (`step[n]` in its path) stays the n-th:
    its anchor may sit elsewhere in the writer's order than in the source's (a block the source put
    before the blocks the writer orders), and the order of same-kind blocks is a fact. Moving it next to
    a sibling of the same name keeps the schema's order."""
    match = re.search(r"\[(\d+)\]$", path)
    wanted = int(match.group(1)) if match else 1
    step = diff._step(new)
    same = [c for c in parent if isinstance(c.tag, str) and diff._step(c) == step]
    if len(same) < 2 or same.index(new) + 1 == wanted:
        return
    others = [c for c in same if c is not new]
    if wanted == 1:
        others[0].addprevious(new)
    else:
        others[min(wanted, len(others) + 1) - 2].addnext(new)


def settle_defaults(root: etree._Element, *, as_received: bool) -> None:
    """After the residual is applied: an imported case keeps none of the writer's stand-ins the source
    did not have (those it had were replaced above); a new case keeps them all, unmarked."""
    xmlw.settle_defaults(root, drop=as_received)
