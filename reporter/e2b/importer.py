"""E2B(R3) batch -> one ICSR Bundle per message (PORR_IN049016UV), saying what did not go through.

Steps: hardened parse; root must be MCCI_IN200100UV01; XSD check when the schema folder is configured
(errors are assigned to the message they occur in, so one bad report does not lose the good ones);
each message -> case-file model (to_case) -> Bundle (reporter.fhir.build) with the original transmission
ids on the Composition (transmission). Per report: the value facts through the case model and those not
mapped, by element (coverage); departures from ICH the receiver accepts (warnings); the received message.
"""

from __future__ import annotations

import copy
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lxml import etree

from reporter.e2b import canonical, coverage, origin, schemacheck, to_case, transmission, xmlsafe
from reporter.e2b.read.reader import compiled
from reporter.e2b.xmlsafe import HL7
from reporter.errors import E2BError
from reporter.gcpause import collector_paused

Json = dict[str, Any]
# Placeholders worth a note (the others are model defaults the exporter also leaves out, e.g. C.1.8.1).
PLACEHOLDER_NOTES = ("C.1.1", "C.1.3", "C.1.4", "C.1.5", "C.1.8.2", "C.1.11.2")


@dataclass
class ImportedReport:
    index: int                       # 1-based position in the batch
    line: int | None
    case_id: str | None              # C.1.1
    worldwide_id: str | None         # C.1.8.1
    bundle: Json | None = None
    problems: list[str] = field(default_factory=list)
    coverage: coverage.Coverage | None = None  # value facts through the case model, and those not mapped
    relation: str | None = None      # follow-up / amendment / nullification note
    notes: list[str] = field(default_factory=list)  # imported, but the case model holds placeholders
    deviations: list[str] = field(default_factory=list)  # departures from ICH the receiver accepts (warnings)
    invalid: list[str] = field(default_factory=list)  # what `validate` refuses in its case (check_validity)
    lines: dict[str, int] = field(default_factory=dict)  # line of C.1.1, C.1.5, C.1.11.1 in the file

    @property
    def ok(self) -> bool:
        return self.bundle is not None

    def report_dict(self) -> Json:
        """The import report as stored with the case version (and shown on the case page)."""
        cover = self.coverage
        return {
            "case_id": self.case_id,
            "facts_total": cover.total if cover else None,
            "facts_mapped": cover.mapped if cover else None,
            "percent": round(cover.percent, 1) if cover else None,
            "not_mapped": [{"element": element, "count": count, "example": cover.examples[element]}
                           for element, count in sorted(cover.not_mapped.items())] if cover else [],
            "not_received": sorted(cover.placeholders) if cover else [],
            "notes": list(self.notes),
            "warnings": list(self.deviations),
            "relation": self.relation,
        }


@dataclass
class ImportResult:
    source: str
    reports: list[ImportedReport]
    batch_problems: list[str] = field(default_factory=list)
    schema_checked: bool = False
    content: bytes | None = None  # the file exactly as received (kept with stored versions)


def _message_of(el: etree._Element) -> etree._Element | None:
    node: etree._Element | None = el
    while node is not None:
        if node.tag == f"{{{HL7}}}PORR_IN049016UV":
            return node
        node = node.getparent()
    return None


class _Stages:
    """CPU seconds per import stage added up in `into` (bench/import_throughput.py prints them); a no-op
    when `into` is None."""

    def __init__(self, into: dict[str, float] | None) -> None:
        self.into = into
        self.last = time.process_time() if into is not None else 0.0

    def __call__(self, stage: str) -> None:
        if self.into is not None:
            now = time.process_time()
            self.into[stage] = self.into.get(stage, 0.0) + now - self.last
            self.last = now


def import_loaded(loaded: xmlsafe.Loaded, stages: dict[str, float] | None = None) -> ImportResult:
    """`stages`: if given, CPU seconds per stage are added to it (xsd, rules, read, bundle, coverage)."""
    tick = _Stages(stages)
    xmlsafe.expect_root(loaded, "MCCI_IN200100UV01")
    batch = loaded.root
    messages = batch.findall(f"{{{HL7}}}PORR_IN049016UV")
    result = ImportResult(loaded.source, [])
    if not messages:
        raise E2BError("the batch holds no ICSR message (PORR_IN049016UV)", location=loaded.source)
    bad: dict[int, list[str]] = {}
    labels = coverage.DocumentLabels(loaded.root)  # made once per document, when a fact is not mapped
    problems = schemacheck.validate(loaded)
    if problems is not None:
        result.schema_checked = True
        for problem in problems:
            node = _node_at(loaded, problem)
            message = _message_of(node) if node is not None else None
            if message is None:
                result.batch_problems.append(str(problem))
            else:
                bad.setdefault(messages.index(message), []).append(str(problem))
    canonical.canonicalize(batch)  # after the XSD, which reads prefixes and whitespace as the schema says
    tick("xsd")
    for i, message in enumerate(messages):
        report = ImportedReport(i + 1, message.sourceline, _id(message, "1"), _id(message, "2"),
                                lines=_lines(message))
        result.reports.append(report)
        if result.batch_problems:
            report.problems.append("batch header is not valid against the XSD")
            continue
        if i in bad:
            report.problems.extend(bad[i])
            continue
        tick("other")
        with collector_paused():  # as for the writer: a message's objects are dropped together, none in a cycle
            _import_message(report, batch, message, labels, tick)
    return result


def _import_message(report: ImportedReport, batch: etree._Element, message: etree._Element,
                    labels: coverage.DocumentLabels, tick: _Stages) -> None:
    """Read one message (already XSD-checked) into `report`: case, Bundle, coverage, deviations, notes."""
    from reporter.fhir.build import build_bundle

    case, reader, why = to_case.message_to_case(message)
    tick("read")
    if case is None:
        report.problems.append(why or "cannot be read")
        return
    bundle = build_bundle(case)
    origin.annotate(bundle, case.case_id, reader.origin)
    header, header_used = transmission.transmission_extension(batch, message, reader.not_received)
    transmission.attach(bundle, [header])
    report.bundle = bundle
    tick("bundle")
    report.coverage = coverage.measure(message, reader.used + header_used, labels)
    report.coverage.placeholders = set(reader.not_received)
    tick("coverage")
    # the receiver's rules see this report alone (case 1): said with its place in the batch
    report.deviations = [_CASE_ONE.sub(f"(case {report.index}", text) for text in received_deviations(message, bundle)]
    report.deviations += [f"{number} (case {report.index}): {text}" for number, text in reader.deviations]
    tick("rules")
    report.coverage.deviating = {text.split(" ", 1)[0] for text in report.deviations}
    report.notes = [f"{number} not received in a form the case model holds: recorded as not known (the case "
                    "is not ready to submit until someone supplies it)" for number in reader.not_received
                    if number in PLACEHOLDER_NOTES]


_CASE_ONE = re.compile(r"\(case 1(?=[,)])")


def received_deviations(message: etree._Element, bundle: Json) -> list[str]:
    """Where a received report departs from the ICH tables in ways its receiver accepts (FDA's own examples
    use some): the ICH checks of the message that the receiver's rule set lifts. Kept, and said as warnings;
    a re-export to that receiver is not refused for them."""
    from reporter.e2b import rules
    from reporter.e2b.dictionary import receiver
    from reporter.e2b.export import bundle_receiver

    name = bundle_receiver(bundle) or "ich"
    profile = receiver(name)
    batch = message.getparent()
    if batch is None:
        return []
    single = batch if sum(child.tag == message.tag for child in batch) == 1 else _with_only(batch, message)
    plain_issues, kept_issues = rules.check_with_receiver(single, profile.rules)
    plain = {(i.code, i.location, i.message) for i in plain_issues if i.severity == "error"}
    if not plain:  # nothing departs from ICH: the receiver's rules have nothing to lift
        return []
    kept = {(i.code, i.location) for i in kept_issues if i.severity == "error"}
    return [f"{location}: accepted by {profile.title} although the ICH table does not allow it ({code})"
            if (code, location) not in kept else
            f"{location}: the received report breaks an ICH rule ({message}); the case keeps what it says where the "
            "case model can hold it (a block it cannot, e.g. a drug without its name, is listed as not mapped), and "
            "an export writes what ICH allows where it can, or is refused until the case is corrected"
            for code, location, message in sorted(plain)]


def _with_only(batch: etree._Element, message: etree._Element) -> etree._Element:
    """The batch header with this message only, as received: a new document of copies of the header's elements
    and of this message (copying the whole batch for each of its messages made a batch of N messages cost N
    times its size, N times over: a batch of 80 took 56 ms a report instead of 6)."""
    single = etree.Element(batch.tag, dict(batch.attrib), nsmap=batch.nsmap)
    single.text = batch.text
    for child in batch:
        if child is message or child.tag != message.tag:
            single.append(copy.deepcopy(child))
    return single


def _node_at(loaded: xmlsafe.Loaded, problem: schemacheck.SchemaProblem) -> etree._Element | None:
    path = problem.path
    try:
        found = loaded.tree.xpath(path.replace("/", "/h:").replace("/h:/h:", "//h:"), namespaces={"h": HL7})
    except etree.XPathError:
        found = []
    if isinstance(found, list) and found and isinstance(found[0], etree._Element):
        return found[0]
    # fall back on the line: the message whose span holds it
    for message in loaded.root.findall(f"{{{HL7}}}PORR_IN049016UV"):
        last = max((n.sourceline or 0) for n in message.iter())
        if (message.sourceline or 0) <= problem.line <= last:
            return message
    return None


def _id(message: etree._Element, which: str) -> str | None:
    found = compiled(
        f"h:controlActProcess/h:subject/h:investigationEvent/h:id[@root='2.16.840.1.113883.3.989.2.1.3.{which}']"
        "/@extension")(message)
    return str(found[0]) if found else None


_EVENT = "h:controlActProcess/h:subject/h:investigationEvent/"
_PLACES = {"C.1.1": "h:id[@root='2.16.840.1.113883.3.989.2.1.3.1']", "C.1.5": "h:availabilityTime",
           "C.1.11.1": "h:subjectOf2/h:investigationCharacteristic[h:code/@code='3']/h:value"}


def _lines(message: etree._Element) -> dict[str, int]:
    """Where a message's C.1.1, C.1.5 and C.1.11.1 stand in the file (what is said of them names the line)."""
    found = {number: compiled(_EVENT + path)(message) for number, path in _PLACES.items()}
    return {number: nodes[0].sourceline for number, nodes in found.items() if nodes and nodes[0].sourceline}


def check_validity(result: ImportResult) -> int:
    """Fill each imported report's `invalid` with what `reporter validate` (and so `reporter e2b`) refuses in
    its case, said at import rather than at the export; the number of such reports. Not part of import_file:
    the commands run it (in the worker, for `reporter batch import`)."""
    from reporter.validation import validate_bundle

    received = _Received(result)
    for report in result.reports:
        if report.bundle is not None:
            report.invalid = [f"{i.code} {received.where(report.index, i.message)}{i.location}: {i.message}"
                              for i in validate_bundle(report.bundle).errors]
    return sum(bool(r.invalid) for r in result.reports)


_QUOTED = re.compile(r"'([^']+)'")


class _Received:
    """Where a value a validation message quotes ('months' is not a UCUM unit) was received: its E2B element and
    line, when exactly one place in the report holds it. The file is parsed again only for a report with errors."""

    def __init__(self, result: ImportResult) -> None:
        self.result = result
        self._messages: list[etree._Element] | None = None
        self._labels: coverage.DocumentLabels | None = None

    def where(self, index: int, text: str) -> str:
        """'G.k.6b, line 412; ' or ''."""
        quoted = set(_QUOTED.findall(text))
        message = self._message(index) if quoted else None
        if message is None or self._labels is None:
            return ""
        places = {(self._labels.label(node, None if attr == "#text" else attr), node.sourceline)
                  for node, attr, value in coverage.value_facts(message) if value in quoted}
        if len(places) != 1:
            return ""
        (element, line), = places
        return f"{element}, line {line}; " if line else f"{element}; "

    def _message(self, index: int) -> etree._Element | None:
        if self._messages is None:
            self._messages = []
            if self.result.content is not None:
                loaded = xmlsafe.parse_bytes(self.result.content, self.result.source)
                canonical.canonicalize(loaded.root)  # the values as the import read them
                self._messages = loaded.root.findall(f"{{{HL7}}}PORR_IN049016UV")
                self._labels = coverage.DocumentLabels(loaded.root)
        return self._messages[index - 1] if 0 < index <= len(self._messages) else None


def import_file(path: str | Path, stages: dict[str, float] | None = None) -> ImportResult:
    """`stages`: as for import_loaded, with the parse (read, hardened parse, tree limits) as `parse`."""
    tick = _Stages(stages)
    content = xmlsafe.read_bytes(path)
    loaded = xmlsafe.parse_bytes(content, str(path))
    tick("parse")
    result = import_loaded(loaded, stages)
    result.content = content
    return result
