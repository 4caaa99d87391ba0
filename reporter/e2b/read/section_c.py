"""C: report identification, primary sources, sender, study -> the case model."""

from __future__ import annotations

from typing import Any

from lxml import etree

from reporter.casefile import model as m
from reporter.e2b.diff import content
from reporter.e2b.read.reader import (
    NULL_TO_ABSENT,
    Reader,
    boolean,
    fax,
    finder,
    first_priority,
    mailto,
    null_flavor_only,
    tel,
    ts_to_partial,
)


def read_report(r: Reader, report: etree._Element) -> dict[str, Any]:
    msg = r.message
    nullif = r.code("C.1.11.1", report, "nullification")
    reason = r.value("C.1.11.2", report)
    data: dict[str, Any] = {
        "type": r.code("C.1.3", report, "report_type"),
        "created": r.value("C.1.2", msg, ts_to_partial),
        "first_received": r.value("C.1.4", report, ts_to_partial),
        "most_recent": r.value("C.1.5", report, ts_to_partial),
        "worldwide_id": r.value("C.1.8.1", report),
        "first_sender": r.code("C.1.8.2", report, "first_sender"),
        "linked_reports": [v for inst in r.instances("linked_report")
                           if (v := r.value("C.1.10.r", inst)) is not None],
        "other_case_ids": [],
        "additional_documents": [],
        "expedited": r.get("C.1.7", report, boolean),
        "additional_documents_available": r.boolean("C.1.6.1", report),
        "previous_case_ids": r.get("C.1.9.1", report, boolean),
        "fda_report_type": r.code("FDA.C.1.7.1", report, "fda_report_type")
        if "FDA.C.1.7.1" in r.elements else None,
        "combination_product": _combination_product(r, report),
    }
    if nullif:  # sent without its reason (ICH requires one): still a nullification, its reason not known
        if reason is None:
            r.not_received.append("C.1.11.2")
        data["nullification"] = {"kind": nullif, "reason": reason or m.Absent(absent="unknown")}
    _placeholders(r, report, data)
    for inst in r.instances("other_case_id"):
        point = r.checkpoint()
        item = r.build(m.OtherCaseId, {"source": r.value("C.1.9.1.r.1", inst),
                                      "id": r.value("C.1.9.1.r.2", inst)}, point)
        if item:
            data["other_case_ids"].append(item)
    for inst in r.instances("document"):
        point = r.checkpoint()
        item = r.build(m.Document, {"description": r.value("C.1.6.1.r.1", inst),
                                    "file": included_file(r, "C.1.6.1.r.2", inst)}, point, inst)
        if item:
            data["additional_documents"].append(item)
    return data


def _placeholders(r: Reader, report: etree._Element, data: dict[str, Any]) -> None:
    """Fill what the case model requires but the message does not give, noting each such element in
    `r.not_received`: a report date as not known (the case is then not ready to submit), 'not available to
    sender' for the type of report."""
    for number, key in (("C.1.4", "first_received"), ("C.1.5", "most_recent")):
        if data[key] is None:  # recorded as not known, never copied from another date
            r.not_received.append(number)
            data[key] = m.Absent(absent="unknown")
    if data["type"] is None:
        r.not_received.append("C.1.3")
        data["type"] = "not-available"
    if data["first_sender"] is None:  # recorded as not known, never as "other"
        r.not_received.append("C.1.8.2")
        data["first_sender"] = m.Absent(absent="unknown")
    for number, key in (("C.1.2", "created"), ("C.1.8.1", "worldwide_id")):
        if data[key] is None:
            r.not_received.append(number)
    # FDA's local criteria report type sent without a value: an export to FDA works it out from C.1.7 (the
    # sender's rule), which the import announces instead of passing it as the received value
    if data.get("fda_report_type") is None and finder(
            "h:component/h:observationEvent[h:code/@code='C54588']")(report):
        r.not_received.append("FDA.C.1.7.1")


def included_file(r: Reader, number: str, inst: etree._Element) -> m.IncludedFile | None:
    """C.1.6.1.r.2 / C.4.r.2: an included document (ED, base64) with its media type and reference."""
    node = r.node(number, inst)
    if node is None or node.get("representation") != "B64" or not node.get("mediaType"):
        return None
    data = content(node)
    reference = node.find("{urn:hl7-org:v3}reference")
    if not data:
        return None
    r.mark(node, "#text")
    if node.get("compression"):  # kept with the data, which it says how to read
        r.mark(node, "compression")
    r.applied(number, "base64_document")
    if reference is not None and reference.get("value"):
        r.mark(reference, "value")
    return m.IncludedFile(media_type=node.get("mediaType"), data=data, compression=node.get("compression"),
                          reference=reference.get("value") if reference is not None else None)


def _person(r: Reader, inst: etree._Element, prefix: str) -> dict[str, Any]:
    """A reporter's name parts, each possibly a null flavor (ICH allows one for each), or the sender's."""
    if prefix == "C.2.r.1":
        return {"title": r.get("C.2.r.1.1", inst), "given": r.get("C.2.r.1.2", inst),
                "middle": r.get("C.2.r.1.3", inst), "family": r.get("C.2.r.1.4", inst)}
    return {"title": r.value("C.3.3.2", inst), "given": r.value("C.3.3.3", inst),
            "middle": r.value("C.3.3.4", inst), "family": r.value("C.3.3.5", inst)}


def read_primary_source(r: Reader, inst: etree._Element) -> Any:
    # the model holds one author with one address per primary source
    r.first_only(finder("h:relatedInvestigation/h:subjectOf2")(inst))
    r.first_only(finder("h:relatedInvestigation/h:subjectOf2/h:controlActEvent/h:author/h:assignedEntity/"
                        "h:addr")(inst))
    point = r.checkpoint()
    qualification = r.code("C.2.r.4", inst, "qualification")
    if qualification is None:
        q = r.get("C.2.r.4", inst, null_flavor_only)
        qualification = q if isinstance(q, m.Absent) else None
    name: Any = {k: v for k, v in _person(r, inst, "C.2.r.1").items() if v is not None}
    name_nodes = finder("h:relatedInvestigation/h:subjectOf2/h:controlActEvent/h:author/h:assignedEntity/"
                        "h:assignedPerson/h:name[@nullFlavor]")(inst)
    if not name and name_nodes and name_nodes[0].get("nullFlavor") in NULL_TO_ABSENT:  # the whole name withheld
        r.mark(name_nodes[0], "nullFlavor")
        name = m.Absent(absent=NULL_TO_ABSENT[name_nodes[0].get("nullFlavor")])  # type: ignore[arg-type]
    data = {
        "name": name,
        "organization": r.get("C.2.r.2.1", inst),
        "department": r.get("C.2.r.2.2", inst),
        "address": {k: v for k, v in {
            "street": r.get("C.2.r.2.3", inst), "city": r.get("C.2.r.2.4", inst),
            "state": r.get("C.2.r.2.5", inst), "postcode": r.get("C.2.r.2.6", inst),
            "country": r.get("C.2.r.3", inst)}.items() if v is not None},
        "phone": r.get("C.2.r.2.7", inst, tel),
        "email": r.get("FDA.C.2.r.2.8", inst, mailto),
        "qualification": qualification,
        "primary": r.value("C.2.r.5", inst, first_priority),
    }
    return r.build(m.PrimarySource, data, point, inst)


def read_sender(r: Reader, inst: etree._Element | None) -> Any:
    if inst is None:
        return None
    r.first_only(finder("h:addr")(inst))  # the model holds one address
    point = r.checkpoint()
    data = {
        "id": r.value("N.2.r.2", r.message),
        "type": r.code("C.3.1", inst, "sender_type"),
        "organization": r.value("C.3.2", inst),
        "department": r.value("C.3.3.1", inst),
        "person": {k: v for k, v in _person(r, inst, "C.3.3").items() if v is not None},
        "address": {k: v for k, v in {
            "street": r.value("C.3.4.1", inst), "city": r.value("C.3.4.2", inst),
            "state": r.value("C.3.4.3", inst), "postcode": r.value("C.3.4.4", inst),
            "country": r.value("C.3.4.5", inst)}.items() if v is not None},
        "phone": r.value("C.3.4.6", inst, tel),
        "fax": r.value("C.3.4.7", inst, fax),
        "email": r.value("C.3.4.8", inst, mailto),
    }
    return r.build(m.Sender, data, point)


def read_study(r: Reader) -> Any:
    """C.5: study name, sponsor study number, study type, registrations."""
    inst = r.one("study")
    if inst is None:
        return None
    point = r.checkpoint()
    registrations = []
    for reg in r.instances("study_registration"):
        p = r.checkpoint()
        item = r.build(m.StudyRegistration, {"number": r.get("C.5.1.r.1", reg),
                                             "country": r.get("C.5.1.r.2", reg)}, p)
        if item:
            registrations.append(item)
    data = {"name": r.get("C.5.2", inst), "sponsor_number": r.get("C.5.3", inst),
            "type": r.code("C.5.4", inst, "study_type"), "registrations": registrations,
            "fda_ind": r.value("FDA.C.5.5a", inst), "fda_pre_anda": r.value("FDA.C.5.5b", inst),
            "fda_cross_reported_inds": [v for reg in r.instances("fda_cross_reported_ind")
                                        if (v := r.value("FDA.C.5.6.r", reg)) is not None]}
    return r.build(m.Study, data, point, inst)


def _combination_product(r: Reader, report: etree._Element) -> bool | None:
    """FDA.C.1.12 as true or false; its null flavor NI (no information) is the case not saying, which the
    model holds as no value and an FDA export writes as NI again. Another null flavor is not read."""
    if "FDA.C.1.12" not in r.elements:
        return None
    point = r.checkpoint()
    found = r.get("FDA.C.1.12", report, boolean)
    if isinstance(found, m.Absent):
        if found.absent != "no-information":
            r.rollback(point)
        return None
    return found
