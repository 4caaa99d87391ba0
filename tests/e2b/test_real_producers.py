"""Shapes found in E2B messages made by other producers (EMA's EVWEB test messages, R2 -> R3 converter
output, vendors' drafts, E2B(R2) exports), each reproduced here in a small fixture of our own.

EVWEB writes a dosage's frequency, its start and end, and its duration as three comps of one SXPR_TS (an
IVL_TS holds at most two of low, high and width): the reader left all four facts as not mapped, and the
exporter dropped a case's duration unsaid whenever the dosage also had both dates.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from lxml import etree

from reporter.casefile.model import CaseFile
from reporter.e2b import importer, xmlsafe
from reporter.e2b.ack import parse_ack
from reporter.e2b.export import export_bundles
from reporter.errors import InputError
from reporter.fhir.build import build_bundle
from reporter.fhir.to_case import bundle_to_case

from .helpers import case_data

INPUTS = Path(__file__).parent / "inputs"
REPO = Path(__file__).resolve().parents[2]

def _with_dose_time(time: bytes) -> bytes:
    """The EMA literature fixture with its first dosage's effectiveTime replaced by `time`."""
    raw = (INPUTS / "ema-literature-study-parent-death.xml").read_bytes()
    start = raw.index(b'<effectiveTime xsi:type="SXPR_TS">', raw.index(b'<comp xsi:type="PIVL_TS">') - 200)
    end = raw.index(b"</effectiveTime>", start) + len(b"</effectiveTime>")
    return raw[:start] + time + raw[end:]


def _first_dosage(content: bytes) -> tuple[dict, set[str]]:
    """The first dosage with a frequency, and the elements the import left not mapped."""
    [report] = importer.import_loaded(xmlsafe.parse_bytes(content, "received.xml")).reports
    assert report.ok, report.problems
    case = bundle_to_case(report.bundle).model_dump(mode="json", exclude_none=True)
    dosage = next(d for drug in case["drugs"] for d in drug.get("dosages", []) if d.get("every"))
    return dosage, set(report.coverage.not_mapped)


EVWEB_DOSE_TIME = (b'<effectiveTime xsi:type="SXPR_TS"><comp xsi:type="PIVL_TS"><period value="1" unit="d"/></comp>'
                   b'<comp xsi:type="IVL_TS"><low value="20231120"/><high value="20231210"/></comp>'
                   b'<comp xsi:type="IVL_TS" operator="A"><width value="21" unit="d"/></comp></effectiveTime>')


def test_a_dosage_with_period_dates_and_duration_in_three_comps_is_read(e2b_schema_dir: Path) -> None:
    content = _with_dose_time(EVWEB_DOSE_TIME)
    result = importer.import_loaded(xmlsafe.parse_bytes(content, "received.xml"))
    assert result.schema_checked and not result.batch_problems
    dosage, unmapped = _first_dosage(content)
    assert dosage["every"] == {"value": 1.0, "unit": "d"}
    assert (dosage["start"], dosage["stop"]) == ("2023-11-20", "2023-12-10")
    assert dosage["duration"] == {"value": 21.0, "unit": "d"}
    assert not {e for e in unmapped if e.startswith("G.k.4.r.")}


def test_a_dosage_with_dates_and_duration_but_no_period_is_read(e2b_schema_dir: Path) -> None:
    time = (b'<effectiveTime xsi:type="SXPR_TS"><comp xsi:type="IVL_TS"><low value="20231120"/>'
            b'<high value="20231210"/></comp><comp xsi:type="IVL_TS" operator="A"><width value="3" unit="wk"/>'
            b'</comp></effectiveTime>')
    [report] = importer.import_loaded(xmlsafe.parse_bytes(_with_dose_time(time), "received.xml")).reports
    case = bundle_to_case(report.bundle).model_dump(mode="json", exclude_none=True)
    dosage = next(d for drug in case["drugs"] for d in drug.get("dosages", []) if d.get("duration"))
    assert (dosage["start"], dosage["stop"], dosage["duration"]) == ("2023-11-20", "2023-12-10",
                                                                     {"value": 3.0, "unit": "wk"})


def test_a_period_sent_as_a_null_flavor_leaves_the_dates_beside_it_read(e2b_schema_dir: Path) -> None:
    """An R2-to-R3 converter writes an unknown frequency as <period nullFlavor="UNK"/> (ICH allows no null
    flavor there): the whole dosage time was left not mapped, so the dosage's dates were lost from the case. The
    dates are now read; the period alone is listed as not mapped."""
    time = (b'<effectiveTime xsi:type="SXPR_TS"><comp xsi:type="PIVL_TS"><period nullFlavor="UNK"/></comp>'
            b'<comp xsi:type="IVL_TS" operator="A"><low value="20231120"/><high value="20231210"/></comp>'
            b'</effectiveTime>')
    [report] = importer.import_loaded(xmlsafe.parse_bytes(_with_dose_time(time), "received.xml")).reports
    assert report.ok, report.problems
    case = bundle_to_case(report.bundle).model_dump(mode="json", exclude_none=True)
    dosage = next(d for drug in case["drugs"] for d in drug.get("dosages", []) if d.get("start") == "2023-11-20")
    assert dosage["stop"] == "2023-12-10" and "every" not in dosage
    assert {e for e in report.coverage.not_mapped if e.startswith("G.k.4.r.")} == {"G.k.4.r.2"}


def test_an_exported_dosage_keeps_its_duration_beside_both_dates(e2b_schema_dir: Path) -> None:
    data = case_data(REPO / "examples" / "case1-anakinra-hepatitis.yaml")
    dosage = data["drugs"][0]["dosages"][0]
    dosage.update(start="2024-01-02", stop="2024-01-20", duration={"value": 19, "unit": "d"})
    out = export_bundles([build_bundle(CaseFile.model_validate(data))])
    assert out.check.xsd == "valid"
    [report] = importer.import_loaded(xmlsafe.parse_bytes(out.xml, "sent.xml")).reports
    again = bundle_to_case(report.bundle).model_dump(mode="json", exclude_none=True)["drugs"][0]["dosages"][0]
    assert (again["start"], again["stop"], again["duration"]) == ("2024-01-02", "2024-01-20",
                                                                  {"value": 19.0, "unit": "d"})


# E2B(R2) files as senders' systems write them: ICH's DTD named in a DOCTYPE, the root `ichicsr` in no namespace.
R2_MESSAGE = (b'<?xml version="1.0" encoding="utf-8"?>\n<!DOCTYPE ichicsr SYSTEM "icsr21xml.dtd">\n'
              b'<ichicsr lang="en"><ichicsrmessageheader><messagetype>ichicsr</messagetype>'
              b'<messageformatversion>2.1</messageformatversion></ichicsrmessageheader>'
              b'<safetyreport><reporttype>1</reporttype></safetyreport></ichicsr>')


def _refusal(content: bytes, read=importer.import_loaded) -> InputError:
    with pytest.raises(InputError) as caught:
        read(xmlsafe.parse_bytes(content, "r2.xml"))
    return caught.value


@pytest.mark.parametrize("content", [R2_MESSAGE, R2_MESSAGE.replace(b'<!DOCTYPE ichicsr SYSTEM "icsr21xml.dtd">\n',
                                                                      b"")], ids=["with-doctype", "without"])
def test_an_e2b_r2_file_is_refused_as_r2_with_what_to_do(content: bytes) -> None:
    """Once refused as a hostile DOCTYPE whose hint said to remove it (which only led to an unknown root)."""
    error = _refusal(content)
    assert "E2B(R2)" in error.message and "ichicsr" in error.message
    assert error.location == "r2.xml:2"
    assert "convert" in error.hint and "DOCTYPE" not in error.hint


def test_an_e2b_r2_acknowledgement_is_refused_as_one() -> None:
    ack = b'<?xml version="1.0"?>\n<!DOCTYPE ichicsrack SYSTEM "ich-icsrack-v1.1.dtd">\n<ichicsrack/>'
    assert "E2B(R2) acknowledgement" in _refusal(ack, parse_ack).message


def test_a_doctype_that_names_no_other_format_is_still_refused_as_one() -> None:
    error = _refusal(b'<?xml version="1.0"?>\n<!DOCTYPE MCCI_IN200100UV01 [<!ENTITY x "y">]>\n<MCCI_IN200100UV01/>')
    assert "DOCTYPE" in error.message and "E2B(R2)" not in error.message


def test_a_causality_coded_in_the_eu_lists_is_listed_not_read_naming_its_region(e2b_schema_dir: Path) -> None:
    """EMA's EVWEB sends an EU assessment (EU method, source and result) coded in EMA's regional lists where
    ICH's G.k.9.i.2.r.1-3 are text: the block is left whole as not mapped, and the warning says why (it said only
    that the parts "could not be read")."""
    raw = (INPUTS / "ema-literature-study-parent-death.xml").read_bytes()
    eu = "2.16.840.1.113883.3.989.5.1.1.5"
    coded = raw.replace(b'<value xsi:type="ST">related</value>',
                        f'<value xsi:type="CE" code="1" codeSystem="{eu}.3" codeSystemVersion="1.0"/>'.encode(), 1)
    coded = coded.replace(b"<methodCode>\n\t\t\t\t\t\t\t\t\t\t<originalText>Global introspection</originalText>\n"
                          b"\t\t\t\t\t\t\t\t\t</methodCode>",
                          f'<methodCode code="1" codeSystem="{eu}.2" codeSystemVersion="1.0"/>'.encode(), 1)
    assert coded.count(eu.encode()) == 2
    [before] = importer.import_loaded(xmlsafe.parse_bytes(raw, "a.xml")).reports
    [report] = importer.import_loaded(xmlsafe.parse_bytes(coded, "b.xml")).reports
    assert report.ok
    said = next(d for d in report.deviations if "[Causality]" in d)
    assert f"G.k.9.i.2.r.3 sent coded, code 1 of {eu}.3 (a regional list of the EU (EMA))" in said
    assert f"G.k.9.i.2.r.2 sent coded, code 1 of {eu}.2" in said and "G.k.9.i.2.r.1" not in said

    def assessments(r) -> list:
        case = bundle_to_case(r.bundle).model_dump(mode="json", exclude_none=True)
        return [c for d in case["drugs"] for link in d.get("reactions", []) for c in link.get("causality", [])]

    assert len(assessments(report)) == len(assessments(before)) - 1  # not misread as another assessment
    assert report.coverage.not_mapped["G.k.9.i.2.r.3"] >= 1


def test_a_block_not_read_in_a_one_line_file_is_named_by_its_path(e2b_schema_dir: Path) -> None:
    """EVWEB writes the whole batch on one line, where "at line 1" named no block: the warning gives its path."""
    raw = (INPUTS / "ema-literature-study-parent-death.xml").read_bytes()
    coded = raw.replace(b'<value xsi:type="ST">related</value>',
                        b'<value xsi:type="CE" code="1" codeSystem="2.16.840.1.113883.3.989.5.1.1.5.3"/>', 1)
    parser = etree.XMLParser(remove_blank_text=True)
    one_line = etree.tostring(etree.fromstring(coded, parser), xml_declaration=True, encoding="UTF-8")
    assert one_line.count(b"\n") <= 1
    [report] = importer.import_loaded(xmlsafe.parse_bytes(one_line, "one-line.xml")).reports
    said = next(d for d in report.deviations if "[Causality]" in d)
    assert "a block at line " in said and "/adverseEventAssessment/component[" in said
    assert said.split("(/", 1)[1].split(")", 1)[0].endswith("/causalityAssessment")
    [spread] = importer.import_loaded(xmlsafe.parse_bytes(coded, "spread.xml")).reports
    assert "(/MCCI" not in next(d for d in spread.deviations if "[Causality]" in d)  # its line says it


def test_a_report_for_ema_s_clinical_trials_test_receiver_goes_back_to_ema(e2b_schema_dir: Path) -> None:
    """EMA's EU CT test messages are addressed to EVCTMTEST (N.1.4, N.2.r.3): an imported case went back to ICH's
    profile, without EMA's rules, for want of that id among EudraVigilance's."""
    raw = (INPUTS / "ema-literature-study-parent-death.xml").read_bytes()
    ids = {n.get("extension") for n in etree.fromstring(raw).iter("{urn:hl7-org:v3}id")
           if n.get("root") in ("2.16.840.1.113883.3.989.2.1.3.12", "2.16.840.1.113883.3.989.2.1.3.14")}
    content = raw
    for old in ids:
        content = content.replace(f'extension="{old}"'.encode(), b'extension="EVCTMTEST"')
    [report] = importer.import_loaded(xmlsafe.parse_bytes(content, "ct.xml")).reports
    out = export_bundles([report.bundle])
    assert out.receiver == "ema"
    assert not [i for i in out.check.issues if i.code == "EMA-N.1.4"]  # EMA's rules take it as one of theirs
    sent = etree.fromstring(out.xml)
    assert {n.get("extension") for n in sent.iter("{urn:hl7-org:v3}id")
            if n.get("root") == "2.16.840.1.113883.3.989.2.1.3.14"} == {"EVCTMTEST"}


PMDA = "2.16.840.1.113883.3.989.5.1.3.2.1"


def _pmda_items() -> bytes:
    """Report-level items as PMDA's regional guide writes its J2 elements: investigationCharacteristics and an
    observationEvent coded 1, 2, 4 and 1 in PMDA's own lists, the codes ICH uses there for C.1.3, C.1.9.1,
    C.1.11.2 and C.1.6.1."""
    def item(code: str, value: str) -> str:
        return (f'<subjectOf2 typeCode="SUBJ"><investigationCharacteristic classCode="OBS" moodCode="EVN">'
                f'<code code="{code}" codeSystem="{PMDA}.12" codeSystemVersion="1.1"/>{value}'
                f'</investigationCharacteristic></subjectOf2>')
    return (f'<component typeCode="COMP"><observationEvent classCode="OBS" moodCode="EVN"><code code="1" '
            f'codeSystem="{PMDA}.10" codeSystemVersion="1.0"/><value xsi:type="BL" value="false"/></observationEvent>'
            f'</component>').encode(), "".join((
        item("1", f'<value xsi:type="CE" code="1" codeSystem="{PMDA}.1" codeSystemVersion="1.0"/>'),
        item("2", '<value xsi:type="TS" value="20240101"/>'),
        item("4", f'<value xsi:type="CE" code="1" codeSystem="{PMDA}.3" codeSystemVersion="1.0"/>'))).encode()


def test_pmda_s_report_level_items_are_not_read_as_ich_elements(e2b_schema_dir: Path) -> None:
    raw = (INPUTS / "ema-literature-study-parent-death.xml").read_bytes()
    component, characteristics = _pmda_items()
    first_component = raw.index(b'<component typeCode="COMP">', raw.index(b"<investigationEvent"))
    first_characteristic = raw.index(b'<subjectOf2 typeCode="SUBJ">\n\t\t\t\t\t\t<investigationCharacteristic')
    content = (raw[:first_component] + component + raw[first_component:first_characteristic] + characteristics
               + raw[first_characteristic:])
    result = importer.import_loaded(xmlsafe.parse_bytes(content, "pmda.xml"))
    assert result.schema_checked and not result.batch_problems
    [before] = importer.import_loaded(xmlsafe.parse_bytes(raw, "a.xml")).reports
    [report] = result.reports

    def report_part(r) -> dict:
        return bundle_to_case(r.bundle).model_dump(mode="json", exclude_none=True)["report"]

    assert report_part(report) == report_part(before)  # C.1.3 study, C.1.9.1 true, C.1.6.1 as ICH's items say
    assert not [d for d in report.deviations if d.startswith(("C.1.3", "C.1.9.1", "C.1.11", "C.1.6.1"))]
    assert sum(report.coverage.not_mapped.values()) > sum(before.coverage.not_mapped.values())  # listed


def test_a_region_s_drug_item_under_an_ich_code_is_not_read_as_the_ich_element(e2b_schema_dir: Path) -> None:
    """The same inside a drug: an item coded 2 in a region's list is not G.k.11 (additional information),
    wherever it stands among the drug's items."""
    raw = (INPUTS / "ema-literature-study-parent-death.xml").read_bytes()
    ich = b'<code code="2" codeSystem="2.16.840.1.113883.3.989.2.1.1.19" codeSystemVersion="2.1"/>'
    at = raw.rindex(b'<outboundRelationship2 typeCode="REFR">', 0, raw.index(ich))
    regional = (f'<outboundRelationship2 typeCode="REFR"><observation classCode="OBS" moodCode="EVN"><code code="2" '
                f'codeSystem="{PMDA}.20" codeSystemVersion="1.0"/><value xsi:type="ST">a J item</value></observation>'
                f'</outboundRelationship2>').encode()
    content = raw[:at] + regional + raw[at:]
    [before] = importer.import_loaded(xmlsafe.parse_bytes(raw, "a.xml")).reports
    [report] = importer.import_loaded(xmlsafe.parse_bytes(content, "b.xml")).reports

    def texts(r) -> list:
        return [d.get("additional_text") for d in
                bundle_to_case(r.bundle).model_dump(mode="json", exclude_none=True)["drugs"]]

    assert texts(report) == texts(before) and "a J item" not in str(texts(report))
    assert not [d for d in report.deviations if d.startswith("G.k.11")]
    assert "a J item" in str(report.coverage.examples.values()) or sum(report.coverage.not_mapped.values()) > sum(
        before.coverage.not_mapped.values())


def _in_regional_act(node: etree._Element) -> bool:
    """The rule regional_nodes answers for a whole document, node by node: the nearest act named by a code
    around `node` (itself or one holding it) is named in a region's own list."""
    from reporter.e2b.dictionary import is_regional
    from reporter.e2b.diff import ACTS
    from reporter.e2b.xmlsafe import local

    act: etree._Element | None = node
    while act is not None:
        code = act.find("{urn:hl7-org:v3}code") if local(act) in ACTS else None
        if code is not None:
            return is_regional(code.get("codeSystem"))
        act = act.getparent()
    return False


def test_the_regional_act_index_answers_as_the_walk_up_for_every_node(shared_dir: Path) -> None:
    """regional_nodes (one pass per document, which the reader and the rules use) holds exactly the nodes for which
    the walk up to the nearest act named by a code says regional: on FDA's examples, whose FDA items are
    regional, on an EMA message, and with PMDA's items added at report level and inside a drug."""
    from reporter.e2b.read.reader import regional_nodes

    raw = (INPUTS / "ema-literature-study-parent-death.xml").read_bytes()
    component, characteristics = _pmda_items()
    at = raw.index(b'<component typeCode="COMP">', raw.index(b"<investigationEvent"))
    ich = b'<code code="2" codeSystem="2.16.840.1.113883.3.989.2.1.1.19" codeSystemVersion="2.1"/>'
    in_drug = raw.rindex(b'<outboundRelationship2 typeCode="REFR">', 0, raw.index(ich))
    drug_item = (f'<outboundRelationship2 typeCode="REFR"><observation classCode="OBS" moodCode="EVN"><code code="2" '
                 f'codeSystem="{PMDA}.20" codeSystemVersion="1.0"/><value xsi:type="ST">a J item</value>'
                 f'</observation></outboundRelationship2>').encode()
    documents = [raw, raw[:at] + component + characteristics + raw[at:], raw[:in_drug] + drug_item + raw[in_drug:]]
    documents += [p.read_bytes() for p in sorted((shared_dir / "e2b" / "examples").glob("*/*.xml"))
                  if "negative" not in str(p)][:4]
    regional_seen = 0
    for content in documents:
        root = etree.fromstring(content)
        expected = {node for node in root.iter() if isinstance(node.tag, str) and _in_regional_act(node)}
        assert regional_nodes(root) == expected
        regional_seen += len(expected)
    assert regional_seen  # the corpus has regional items, so the comparison says something


def test_the_regional_act_index_of_one_message_holds_that_message_s_nodes_only(shared_dir: Path) -> None:
    """The reader asks for the index of its own message (PORR_IN049016UV), once per report: it must look inside
    that message, not the whole batch. Searching the batch made each report's import cost grow with the batch
    (an 80-report batch took four times as long per report as a single one)."""
    from reporter.e2b.read.reader import regional_nodes
    from reporter.e2b.xmlsafe import HL7

    path = next(p for p in sorted((shared_dir / "e2b" / "examples").glob("*/*.xml")) if "FAERS" in p.name)
    root = etree.fromstring(path.read_bytes())
    message = root.find(f"{{{HL7}}}PORR_IN049016UV")
    root.append(etree.fromstring(etree.tostring(message)))  # a second report, with FDA's regional items too
    first, second = root.findall(f"{{{HL7}}}PORR_IN049016UV")
    own = regional_nodes(first)
    assert own  # FDA's items are regional, so the check says something
    assert own == {n for n in regional_nodes(root) if n in set(first.iter())}
    assert not own & set(second.iter())


def test_a_block_under_a_code_no_e2b_block_has_is_listed_by_that_block_and_line(e2b_schema_dir: Path) -> None:
    """A vendor's FDA test files put the drugs under an organizer coded 'suspect' of the drug-role list (ICH's
    is code 4 of the organizer list) and the age under an NCIt code: schema-valid, so the gateway reads them, and
    the import listed every drug fact only as '[patient]: 27 value(s)', naming neither the drugs nor where."""
    raw = (INPUTS / "ema-literature-study-parent-death.xml").read_bytes()
    organizer = b'<code code="4" codeSystem="2.16.840.1.113883.3.989.2.1.1.20" codeSystemVersion="2.0"/>'
    assert raw.count(organizer) == 1
    line = raw[:raw.index(organizer)].count(b"\n")  # the organizer's own line, just above its code
    moved = raw.replace(organizer, b'<code code="suspect" codeSystem="2.16.840.1.113883.3.989.2.1.1.13"/>')
    [report] = importer.import_loaded(xmlsafe.parse_bytes(moved, "vendor.xml")).reports
    key = f"[patient] organizer suspect (2.16.840.1.113883.3.989.2.1.1.13) at line {line}"
    assert report.coverage.not_mapped[key] >= 10, report.coverage.lines()
    assert report.coverage.examples[key] == "Ibuprofen-ratiopharm® 200 mg"
    assert "[patient]" not in report.coverage.not_mapped


def test_a_premarket_ind_report_is_not_said_accepted_by_the_postmarket_route(shared_dir: Path) -> None:
    """FDA's premarket examples (CDER_IND, ZZFDA_PREMKT) were said 'accepted by US FDA FAERS (postmarket)'."""
    scenario = shared_dir / "e2b" / "examples" / "fda-faers-2022" / "FAERS2022Scenario3.xml"
    assert b"CDER_IND" in scenario.read_bytes()
    [report] = importer.import_file(scenario).reports
    said = [d for d in report.deviations if "accepted by" in d]
    assert said and not [d for d in said if "postmarket)" in d]
    assert all("IND premarket" in d for d in said)


def test_a_causality_coded_in_korea_s_list_is_named_as_mfds_s(e2b_schema_dir: Path) -> None:
    """MFDS sends its relatedness result (G.k.9.i.2.r.3.KR.2) coded in 2.16.840.1.113883.3.989.5.1.10.1.6, as
    Korean E2B tools write it: the warning named no region for it, as it does the EU's, the US's and Japan's."""
    raw = (INPUTS / "ema-literature-study-parent-death.xml").read_bytes()
    kr = "2.16.840.1.113883.3.989.5.1.10.1.6"
    coded = raw.replace(b'<value xsi:type="ST">related</value>',
                        f'<value xsi:type="CE" code="1" codeSystem="{kr}" codeSystemVersion="1.0"/>'.encode(), 1)
    [report] = importer.import_loaded(xmlsafe.parse_bytes(coded, "kr.xml")).reports
    said = next(d for d in report.deviations if "[Causality]" in d)
    assert f"code 1 of {kr} (a regional list of Korea (MFDS))" in said


def test_a_reporter_qualification_coded_in_korea_s_list_is_listed_as_mfds_s(e2b_schema_dir: Path) -> None:
    """C.2.r.4.KR.1 (MFDS: 1 nurse, 2 other) shares C.2.r.4's place: it was listed as 'C.2.r.4: ... (e.g. '1')',
    as if ICH's qualification (1, physician) had not been read. It is not read, and is said to be Korea's."""
    raw = (INPUTS / "ema-literature-study-parent-death.xml").read_text(encoding="utf-8")
    ich = '<code code="1" codeSystem="2.16.840.1.113883.3.989.2.1.1.6" codeSystemVersion="2.0"/>'
    kr = '<code code="1" codeSystem="2.16.840.1.113883.3.989.5.1.10.1.1"/>'
    assert raw.count(ich) == 1
    [report] = importer.import_loaded(xmlsafe.parse_bytes(raw.replace(ich, kr).encode(), "kr.xml")).reports
    case = bundle_to_case(report.bundle).model_dump(mode="json", exclude_none=True)
    assert "qualification" not in case["primary_sources"][0]  # not read as ICH's 1 (physician)
    [line] = [x for x in report.coverage.lines() if x.startswith("C.2.r.4:")]
    assert line.endswith("coded in a regional list of Korea (MFDS) (2.16.840.1.113883.3.989.5.1.10.1.1)")


@pytest.mark.parametrize(("batch", "message"), [("ZZFDATST", "CDER"), ("ZZFDATST_PREMKT", "CDER_IND")])
def test_a_report_for_fda_s_test_environment_goes_back_there(shared_dir: Path, batch: str, message: str) -> None:
    """Senders test against FDA's ESG test accounts (N.1.4 ZZFDATST, premarket ZZFDATST_PREMKT; their ACKs come
    from them): such a report imported, with its ids kept, was refused on its way back by R0004 ('N.1.4 must be
    ZZFDA or ZZFDA_PREMKT')."""
    raw = (shared_dir / "e2b" / "examples" / "fda-faers-2022" / "FAERS2022Scenario1.xml").read_text(encoding="utf-8")
    header = '<id extension="ZZFDA" root="2.16.840.1.113883.3.989.2.1.3.14"/>'
    assert raw.count(header) == 1 and raw.count('extension="CDER" root="2.16.840.1.113883.3.989.2.1.3.12"') == 1
    sent = raw.replace(header, header.replace("ZZFDA", batch)).replace(
        'extension="CDER" root="2.16.840.1.113883.3.989.2.1.3.12"',
        f'extension="{message}" root="2.16.840.1.113883.3.989.2.1.3.12"')
    [report] = importer.import_loaded(xmlsafe.parse_bytes(sent.encode(), "test-env.xml")).reports
    export = export_bundles([report.bundle], batch_id="B1")
    assert export.receiver == "fda"
    assert not [i for i in export.check.issues if i.code in ("R0004", "R0006", "R0007")], export.check.issues
    assert f'extension="{batch}"'.encode() in export.xml
