"""How much of a received ICSR message went through the case model, and what did not, by E2B element.

A *value fact* is one attribute value, text or null flavor that says something about the case: values,
codes with their code system, null flavors, units, texts, identifiers. Not counted are what the writer
re-creates from the structure itself: structural attributes (classCode, typeCode, xsi:type...), display
names, the version of ICH and HL7 code lists, the codes that name a block (the observation code of a
seriousness criterion; a MedDRA code is data and counts) or whose block it is (ICH author roles, the scheme
of a telecom sent as a null flavor), the H/L
marks of reference-range bounds, a code system without a code, identifier namespaces (@root), the message
wrapper's constants (interactionId, processingCode...) and what a new transmission regenerates (batch and
message ids and creation times). Everything else is either read into the case model (`mapped`) or listed
by element with the reason it was not (`not_mapped`): nothing is dropped silently.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from lxml import etree

from reporter.e2b.diff import ACTS, content
from reporter.e2b.elements import Labels
from reporter.e2b.read.reader import SCHEME_ONLY, block_place
from reporter.e2b.xmlsafe import HL7, XSI, local

MEDDRA = "2.16.840.1.113883.6.163"
STRUCTURAL = {"classCode", "moodCode", "typeCode", "determinerCode", "ITSVersion", "root", "operator",
              "mediaType", "representation", "inversionInd", "negationInd", "contextConductionInd",
              f"{{{XSI}}}type", f"{{{XSI}}}schemaLocation", "displayName"}
WRAPPER_ELEMENTS = {"interactionId", "processingCode", "processingModeCode", "acceptAckCode",
                    "responseModeCode", "statusCode", "priorityCode"}
# Code systems whose codes are structure (HL7 interaction and act codes, role codes) or ICH lists.
STRUCTURE_SYSTEMS = ("2.16.840.1.113883.1.", "2.16.840.1.113883.5.")
ICH_LISTS = "2.16.840.1.113883.3.989."
REGENERATED = {("MCCI_IN200100UV01", "id"), ("MCCI_IN200100UV01", "creationTime"),
               ("PORR_IN049016UV", "id"), ("PORR_IN049016UV", "creationTime")}
_REGENERATED_NAMES = {name for _, name in REGENERATED}


@dataclass
class Coverage:
    """Value facts of one message: how many there are, how many the case model holds, and the rest."""

    total: int = 0
    mapped: int = 0
    not_mapped: Counter[str] = field(default_factory=Counter)  # E2B element (or [block]) -> facts
    examples: dict[str, str] = field(default_factory=dict)      # E2B element -> one value not mapped
    placeholders: set[str] = field(default_factory=set)  # required elements the message lacks (noted)
    deviating: set[str] = field(default_factory=set)  # elements whose received value departs from ICH (warned)
    regional: dict[str, str] = field(default_factory=dict)  # element -> the region's list a value was coded in

    @property
    def percent(self) -> float:
        return 100.0 * self.mapped / self.total if self.total else 100.0

    def lines(self) -> list[str]:
        """The not-mapped elements, one line each, for the import report."""
        return [f"{element}: {count} value(s) not in the case model (e.g. {self.examples[element]!r})"
                + (f", coded in {self.regional[element]}" if element in self.regional else "")
                for element, count in sorted(self.not_mapped.items())]


def _regional_list(node: etree._Element) -> str | None:
    """'a regional list of Korea (MFDS) (2.16...)' for a value coded in a region's own list: such a value is
    that region's element (C.2.r.4.KR.1), not the ICH element whose place it shares."""
    from reporter.e2b.dictionary import is_regional, region_of

    system = node.get("codeSystem")
    if not node.get("code") or not is_regional(system):
        return None
    region = region_of(system)
    return f"a regional list{f' of {region}' if region else ''} ({system})"


def _is_naming_code(node: etree._Element) -> bool:
    """The <code> that names an act (which block this is), unless it is MedDRA (a test or history term)."""
    parent = node.getparent()
    return (local(node) == "code" and parent is not None and local(parent) in ACTS
            and node.get("codeSystem") != MEDDRA)


def _is_role_code(node: etree._Element) -> bool:
    """The ICH author/performer role code that says whose block it is (sender's diagnosis, reporter's
    comment, the indication's source): the writer writes it from the block it writes."""
    parent = node.getparent()
    return (local(node) == "code" and parent is not None and local(parent) == "assignedEntity"
            and (node.get("codeSystem") or "") == "2.16.840.1.113883.3.989.2.1.1.21")


def value_facts(message: etree._Element) -> list[tuple[etree._Element, str, str]]:
    """(node, attribute or '#text', value) for every value fact of a message."""
    facts: list[tuple[etree._Element, str, str]] = []
    append = facts.append
    start = len(HL7) + 2
    for node in message.iter(f"{{{HL7}}}*"):
        name = node.tag[start:]
        if name in WRAPPER_ELEMENTS:
            continue
        if name in _REGENERATED_NAMES:
            parent = node.getparent()
            if parent is not None and (local(parent), name) in REGENERATED:
                continue
        items = node.items()  # (name, value) pairs in document order, without an attribute proxy
        if items:
            system = node.get("codeSystem") or ""
            if name == "code" and system.startswith(STRUCTURE_SYSTEMS):
                continue
            naming = name == "interpretationCode" or (name == "code" and (_is_naming_code(node)
                                                                         or _is_role_code(node)))
            if not naming:
                for attr, value in items:
                    if attr in STRUCTURAL or (attr == "unit" and value == "1"):  # HL7 PQ: the default unit
                        continue
                    if attr == "codeSystemVersion" and system.startswith((ICH_LISTS, *STRUCTURE_SYSTEMS)):
                        continue
                    if attr in ("codeSystem", "codeSystemVersion") and not node.get("code") and not (
                            attr == "codeSystemVersion" and system == MEDDRA):
                        continue  # a code system with no code (a text-only value) says nothing; a MedDRA
                        # version is an E2B element of its own (D.7.1.r.1a...): sent alone, it is listed
                    if (attr == "value" and name == "telecom" and node.get("nullFlavor") is not None
                            and SCHEME_ONLY.fullmatch(value)):
                        continue  # the scheme of a telecom sent as a null flavor: which element it is
                    append((node, attr, value))
        # mixed content too: an ED's base64 follows its <reference>
        text = content(node) if len(node) else (node.text or "").strip()
        if text:
            append((node, "#text", text))
    return facts


class DocumentLabels:
    """The element labels of one received document, made when the first fact not mapped needs one and then
    shared by all its messages."""

    def __init__(self, root: etree._Element) -> None:
        self.root = root
        self._labels: Labels | None = None

    def label(self, node: etree._Element, attribute: str | None = None) -> str:
        if self._labels is None:
            self._labels = Labels(self.root)
        return self._labels.label(node, attribute)

    def block(self, node: etree._Element) -> etree._Element | None:
        """The outermost coded act between `node` and its group's instance: the block a value no element
        names sits in (a drug sent under an organizer code of its own)."""
        if self._labels is None:
            self._labels = Labels(self.root)
        found = None
        current: etree._Element | None = node
        while current is not None and current not in self._labels.groups:
            code = current.find(f"{{{HL7}}}code")
            if local(current) in ACTS and code is not None and code.get("code"):
                found = current
            current = current.getparent()
        return found


def _block_label(group: str, block: etree._Element | None) -> str:
    """'[patient] organizer suspect (2.16...13) at line 137': a group label made to name the block within."""
    if block is None:
        return group
    code = block.find(f"{{{HL7}}}code")
    system = code.get("codeSystem") if code is not None else None
    named = f"{local(block)} {code.get('code') if code is not None else '?'}" + (f" ({system})" if system else "")
    return f"{group} {named}{block_place(block)}"


def measure(message: etree._Element, used: list[tuple[etree._Element, str]],
            labels: DocumentLabels | None = None) -> Coverage:
    """Count a message's value facts and which of them the importer read into the case model. `labels`:
    those of the message's document, when several of its messages are measured."""
    read = {(id(node), attr) for node, attr in used}
    labels = labels or DocumentLabels(message.getroottree().getroot())
    result = Coverage()
    facts = value_facts(message)
    result.total = len(facts)
    not_mapped, examples = result.not_mapped, result.examples
    for node, attr, value in facts:
        if (id(node), attr) in read:
            result.mapped += 1
            continue
        element = labels.label(node, None if attr == "#text" else attr)
        if element.startswith("["):  # no element names it: say which block of the group holds it
            element = _block_label(element, labels.block(node))
        not_mapped[element] += 1
        examples.setdefault(element, value[:60])
        regional = _regional_list(node)
        if regional:
            result.regional.setdefault(element, regional)
    return result


# A block's naming code: one of an ICH or FDA list, HL7's, or NCIt (FDA's regional observation codes).
_NAMING_CODE = re.compile(
    r"\w+\{([^}]*@(ich\.|2\.16\.840\.1\.113883\.([15]\.|3\.989\.|3\.26\.1\.1))[^}]*|[^}@]*)\}/code@\w+$")
_OCCURRENCE = re.compile(r"\[\d+\]")
_STRUCTURAL_NAMES = {a.split("}")[-1] for a in STRUCTURAL} | {"xsi:type", "xsi:schemaLocation"}


def is_value_difference(difference: Any) -> bool:
    """Whether a re-export difference concerns a value fact (as counted above), not structure: the
    writer's display names, ICH code-list versions, block-naming codes and wrapper constants."""
    key = difference.key
    step, _, attr = key.rpartition("@")
    last = step.rsplit("/", 1)[-1]
    if attr in _STRUCTURAL_NAMES or last in WRAPPER_ELEMENTS or last == "interpretationCode":
        return False
    if last.startswith("telecom") and attr == "value" and all(
            v is None or SCHEME_ONLY.fullmatch(v) for v in (difference.expected, difference.actual)):
        return False  # the scheme of a telecom sent as a null flavor
    if step.endswith("/assignedEntity/code") and (difference.expected or difference.actual or "").isdigit():
        return False  # an ICH author/performer role code (whose block it is)
    if attr == "codeSystemVersion" and not _is_version_element(difference.element):
        return False
    if attr == "codeSystem" and all(v is None or v.startswith(ICH_LISTS) for v in (difference.expected,
                                                                                 difference.actual)):
        return False  # an ICH list is the element's own code system: its code carries the fact
    return not _NAMING_CODE.search(key)


def _group_of(number: str) -> str | None:
    """The block an element belongs to (a value the import left in its block is listed by the block)."""
    from reporter.e2b.dictionary import dictionary

    element = dictionary().elements.get(number)
    return element.group if element is not None else None


def _is_version_element(number: str) -> bool:
    from reporter.e2b.dictionary import dictionary

    element = dictionary().elements.get(number)
    return element is not None and "Version" in element.name


def unexplained(differences: list, coverages: list[Coverage]) -> list:
    """The value differences of a re-export that the import did not announce: every fact that changes
    must be one the import report listed as not mapped or as a placeholder, or a null flavor the writer
    states for a required element the message left out (nothing silent, nothing invented)."""
    listed = {element for c in coverages for element in (*c.not_mapped, *c.placeholders, *c.deviating)}
    listed |= {e.partition("]")[0] + "]" for e in listed if e.startswith("[")}  # "[drug] organizer X": [drug]
    # a MedDRA version (...a) goes with its code (...b): a code the import listed explains its version too
    listed |= {f"{e[:-1]}a" for e in listed if e.endswith("b") and _is_version_element(f"{e[:-1]}a")}
    # a code system only counts with its code (as in value_facts): a code system with no code says nothing
    coded = {d.key.rpartition("@")[0] for d in differences if d.key.endswith("@code")}
    differences = [d for d in differences if not d.key.endswith(("@codeSystem", "@codeSystemVersion"))
                   or d.key.rpartition("@")[0] in coded
                   or (d.key.endswith("@codeSystemVersion") and _is_version_element(d.element))]
    # a block's own structure (its role or act code, labelled [group]) goes with its values: a block whose values
    # the import listed as not mapped explains that the block itself is missing
    blocks = {f"[{group}]" for e in listed if (group := _group_of(e)) is not None}
    left = [d for d in differences if is_value_difference(d) and d.element not in listed
            and f"[{_group_of(d.element)}]" not in listed
            and not (d.element in blocks and d.actual is None)
            and not (d.expected is None and d.key.endswith("@nullFlavor"))]
    # A block repeated with the same facts is one fact: where the same values stand at the same path
    # (occurrence numbers aside) on both sides, nothing was lost. A value that only moved between
    # occurrences (missing at one, extra at another, as often on each side) was neither lost nor invented.
    by_path: dict[str, list[Any]] = {}
    for d in left:
        by_path.setdefault(_OCCURRENCE.sub("", d.key), []).append(d)
    kept = []
    for group in by_path.values():
        expected = {d.expected for d in group} - {None}
        actual = {d.actual for d in group} - {None}
        moved = Counter(d.expected for d in group if d.expected is not None) == Counter(
            d.actual for d in group if d.actual is not None)
        if not moved and (expected != actual or any(d.actual is not None for d in group)):
            kept.extend(group)
    return kept
