"""E2B import: every shared example imports (or is rejected with a located message), and every value fact
of a received report is either read into the case model or listed by element in the import report."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from lxml import etree

from reporter.cli import main
from reporter.e2b import importer, xmlsafe
from reporter.e2b.xmlsafe import HL7


def _examples(shared: Path) -> list[Path]:
    return sorted((shared / "e2b" / "examples").glob("*/*.xml"))


@pytest.fixture
def schema_env(e2b_schema_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("REPORTER_E2B_SCHEMA_DIR", str(e2b_schema_dir))
    return e2b_schema_dir


def test_every_valid_example_imports(shared_dir: Path, schema_env: Path) -> None:
    for path in _examples(shared_dir):
        result = importer.import_file(path)
        for report in result.reports:
            if "negative" in str(path):
                assert not report.ok
            else:
                assert report.ok, (path.name, report.problems)
                assert report.bundle["entry"][0]["resource"]["resourceType"] == "Composition"


def test_every_value_fact_is_mapped_or_listed(shared_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Nothing silent: each value fact of a received report is read into the case model or listed by
    element; the figure per file is printed (bench/e2b_coverage.py does the same for any folder)."""
    mapped = total = 0
    for path in [*_examples(shared_dir), *sorted((Path(__file__).parent / "e2b" / "inputs").glob("*.xml"))]:
        if "negative" in str(path):
            continue
        for report in importer.import_file(path).reports:
            cover = report.coverage
            assert cover is not None and cover.total > 50
            assert cover.mapped + sum(cover.not_mapped.values()) == cover.total
            assert cover.percent >= FLOOR, (path.name, cover.lines())
            mapped, total = mapped + cover.mapped, total + cover.total
            with capsys.disabled():
                print(f"{path.name}: {cover.mapped}/{cover.total} value facts through the case model "
                      f"({cover.percent:.1f}%)")
    assert 100 * mapped / total >= FLOOR, f"{mapped}/{total}"


# Every valid file: at least 99% of its value facts through the case model (issue 9).
FLOOR = 99.0


def test_a_fact_the_model_cannot_hold_is_listed_by_element(shared_dir: Path) -> None:
    path = shared_dir / "e2b" / "examples" / "fda-faers-2022" / "FAERS2022Scenario1.xml"
    doc = xmlsafe.load(path).root
    value = doc.find(f".//{{{HL7}}}administrativeGenderCode")
    value.set("code", "9")  # not an ISO 5218 sex the case model knows
    result = importer.import_loaded(xmlsafe.parse_bytes(etree.tostring(doc), "edited"))
    [report] = result.reports
    assert report.coverage.not_mapped["D.5"] >= 1 and any(line.startswith("D.5:") for line in report.coverage.lines())


def test_negative_example_is_rejected_with_line_and_element(shared_dir: Path, schema_env: Path) -> None:
    path = shared_dir / "e2b" / "examples" / "negative" / "freevigilance-modified-literature-INVALID.xml"
    result = importer.import_file(path)
    [report] = result.reports
    assert not report.ok
    assert any("line 440" in p and "effectiveTime" in p and "[dosage]" in p for p in report.problems)


def test_cli_import_writes_one_bundle_per_report(shared_dir: Path, schema_env: Path, tmp_path: Path) -> None:
    path = shared_dir / "e2b" / "examples" / "fda-faers-2022" / "FAERS2022Scenario1.xml"
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["import", str(path), "-o", str(out)])
    assert result.exit_code == 0, result.output
    files = sorted(out.glob("*.json"))
    assert [f.name for f in files] == ["US-APHARMA-8744554B.json"]
    again = CliRunner().invoke(main, ["import", str(path), "-o", str(out)])
    assert "follow-up" in again.output or "same case" in again.output


def test_cli_rejects_malicious_xml_and_writes_nothing(tmp_path: Path) -> None:
    evil = tmp_path / "evil.xml"
    evil.write_text('<?xml version="1.0"?>\n<!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>\n'
                    '<MCCI_IN200100UV01 xmlns="urn:hl7-org:v3"><id extension="&x;"/></MCCI_IN200100UV01>')
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["import", str(evil), "-o", str(out)])
    assert result.exit_code == 2
    assert "DTDs and entities are refused" in result.output and "Traceback" not in result.output
    assert not out.exists()


# --- drug roles (G.k.1) when the drug ids do not link them -------------------------------------------------

def _scenario_5_3(shared_dir: Path) -> etree._Element:
    return xmlsafe.load(shared_dir / "e2b" / "examples" / "fda-faers-2022" / "FAERS2022Scenario5-3.xml").root


def _drugs(report) -> list[tuple[str, object]]:
    from reporter.fhir.to_case import bundle_to_case

    return [(d.product, d.role) for d in bundle_to_case(report.bundle).drugs]


def test_roles_are_paired_in_order_when_the_ids_are_defective_and_the_order_agrees(shared_dir: Path) -> None:
    """FDA's Scenario 5-3 gives two drugs one id and a role naming no drug. Three roles, three drugs, and the
    one role whose id names one drug (Drug A) stands at Drug A's place: roles are paired in order, as the
    file's comments describe the case (no exposure to Drug Z, Drug X suspect, Drug A concomitant)."""
    [report] = importer.import_loaded(xmlsafe.parse_bytes(etree.tostring(_scenario_5_3(shared_dir)), "5-3")).reports
    assert _drugs(report) == [("Drug Z (No drug exposure)", "not-administered"), ("Drug X", "suspect"),
                              ("Drug A", "concomitant")]
    assert any(w.startswith("G.k.1") and "paired in the order they are written" in w for w in report.deviations)
    from reporter.fhir.to_case import bundle_to_case

    drugs = {d.product: d for d in bundle_to_case(report.bundle).drugs}
    assert not any(link.causality for link in drugs["Drug Z (No drug exposure)"].reactions)
    assert sum(len(link.causality) for link in drugs["Drug X"].reactions) == 3  # the assessments naming its id
    assert report.coverage.percent == 100.0


def test_a_drug_no_role_belongs_to_keeps_its_facts_with_role_not_known(shared_dir: Path, e2b_schema_dir: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """Without the role naming no drug, the order cannot be trusted (two roles, three drugs): the shared id
    names its first drug, and the second drug is kept whole with its role not known. FHIR says so with a
    data-absent-reason, the report lists it apart, and the export is refused at G.k.1 until it is chosen."""
    from reporter.e2b.export import export_bundles
    from reporter.fhir.build import build_bundle
    from reporter.fhir.to_case import bundle_to_case
    from reporter.render.output import render_html
    from reporter.render.view import case_view

    monkeypatch.setenv("REPORTER_E2B_SCHEMA_DIR", str(e2b_schema_dir))
    doc = _scenario_5_3(shared_dir)
    orphan = doc.xpath("//h:causalityAssessment[h:code/@code='20'][h:subject2/h:productUseReference/h:id/@root="
                       "'68d6f5ce-3b3b-45c7-92dd-69e06730c3a9']", namespaces={"h": HL7})[0]
    orphan.getparent().getparent().remove(orphan.getparent())
    [report] = importer.import_loaded(xmlsafe.parse_bytes(etree.tostring(doc), "5-3 edited")).reports
    from reporter.casefile.model import Absent

    assert _drugs(report) == [("Drug Z (No drug exposure)", "suspect"), ("Drug X", Absent(absent="unknown")),
                              ("Drug A", "concomitant")]
    assert any("drug 2 (Drug X) has the id of another drug" in w for w in report.deviations)
    assert report.coverage.percent == 100.0  # Drug X's product, codes and authorisation are all read
    case = bundle_to_case(report.bundle)
    statements = [e["resource"] for e in report.bundle["entry"] if e["resource"]["resourceType"] ==
                  "MedicationStatement" and any(x.get("valueString") == case.drugs[1].id
                                                for x in e["resource"].get("extension", []))]
    [role] = [x for x in statements[0]["extension"] if x["url"].endswith("drug-role") or "role" in x["url"]]
    assert "valueCoding" not in role and any("data-absent-reason" in x["url"] for x in role["extension"])
    assert bundle_to_case(build_bundle(case)).drugs[1].role == Absent(absent="unknown")  # the FHIR round trip
    assert "whose role (G.k.1) is not known" in render_html(case_view(report.bundle))
    result = export_bundles([build_bundle(case)], receiver_name="fda")
    errors = [i for i in result.check.issues if i.severity == "error"]
    assert [(i.code, i.location.split(" ")[0]) for i in errors] == [("E2B-NULLFLAVOR", "G.k.1")], errors


def test_a_value_in_another_relationship_type_is_read_with_a_warning(shared_dir: Path) -> None:
    path = Path(__file__).parent / "e2b" / "inputs" / "fda-vaers-vaccines-infant.xml"
    [report] = importer.import_file(path).reports
    from reporter.fhir.to_case import bundle_to_case

    assert any(t.more_info for t in bundle_to_case(report.bundle).tests)  # F.r.7 sent under PERT, not REFR
    assert any(w.startswith("F.r.7") and "type PERT where ICH has REFR" in w for w in report.deviations)


def test_a_withheld_reporter_keeps_each_null_flavor_through_case_fhir_and_export(e2b_schema_dir: Path,
                                                                                monkeypatch: pytest.MonkeyPatch
                                                                                ) -> None:
    """ICH allows a null flavor for each part of a primary source's name and address (C.2.r.1.x, C.2.r.2.x,
    C.2.r.3): a masked retransmission sends them. Each is held as {absent: ...}, carried by FHIR as a
    data-absent-reason on the primitive, and written back as the same null flavor."""
    from reporter.e2b.export import export_bundles
    from reporter.fhir.build import build_bundle
    from reporter.fhir.to_case import bundle_to_case

    monkeypatch.setenv("REPORTER_E2B_SCHEMA_DIR", str(e2b_schema_dir))
    path = Path(__file__).parent / "e2b" / "inputs" / "ema-literature-masked-reporter.xml"
    [report] = importer.import_file(path).reports
    assert report.coverage.percent == 100.0
    source = bundle_to_case(report.bundle).primary_sources[0]
    assert source.model_dump(exclude_none=True, include={"name", "address", "phone", "organization"}) == {
        "name": {"title": {"absent": "masked"}, "given": {"absent": "masked"}, "middle": {"absent": "asked-unknown"},
                 "family": {"absent": "masked"}},
        "address": {"street": {"absent": "masked"}, "city": {"absent": "asked-unknown"},
                    "state": {"absent": "not-asked"}, "postcode": {"absent": "masked"},
                    "country": {"absent": "masked"}},
        "phone": {"absent": "masked"}, "organization": {"absent": "masked"}}
    bundle = build_bundle(bundle_to_case(report.bundle))
    practitioner = next(e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Practitioner")
    assert "family" not in practitioner["name"][0] and "_family" in practitioner["name"][0]
    result = export_bundles([bundle], receiver_name="ema")
    assert result.check.xsd == "valid" and not [i for i in result.check.issues if i.severity == "error"]
    doc = etree.fromstring(result.xml)
    source_xml = doc.xpath("//h:outboundRelationship[h:priorityNumber]//h:assignedEntity", namespaces={"h": HL7})[0]
    flavors = {etree.QName(n).localname + ("" if etree.QName(n).localname != "given" else str(i)): n.get("nullFlavor")
               for i, n in enumerate(source_xml.xpath(".//*[@nullFlavor]"))}
    assert {"prefix": "MSK", "family": "MSK", "streetAddressLine": "MSK", "city": "ASKU", "state": "NASK",
            "postalCode": "MSK", "telecom": "MSK"}.items() <= flavors.items(), flavors
    assert sorted(n.get("nullFlavor") for n in source_xml.xpath(".//h:given", namespaces={"h": HL7})) == ["ASKU", "MSK"]


def test_a_patient_name_in_parts_is_kept_in_parts_and_shown_as_initials(e2b_schema_dir: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """Some senders structure D.1 (prefix, given names, family name) instead of giving initials: the case holds
    the parts, FHIR a HumanName with them, the export writes them back, and the report shows initials only."""
    from reporter.e2b.export import export_bundles
    from reporter.fhir.build import build_bundle
    from reporter.fhir.to_case import bundle_to_case
    from reporter.render.view import case_view

    monkeypatch.setenv("REPORTER_E2B_SCHEMA_DIR", str(e2b_schema_dir))
    path = Path(__file__).parent / "e2b" / "inputs" / "fda-structured-patient-name.xml"
    [report] = importer.import_file(path).reports
    assert report.coverage.percent == 100.0
    case = bundle_to_case(report.bundle)
    assert case.patient.initials.model_dump(exclude_none=True) == {"title": "Ms", "given": "Ana", "middle": "Maria",
                                                                  "family": "Silva Santos"}
    patient = next(e["resource"] for e in report.bundle["entry"] if e["resource"]["resourceType"] == "Patient")
    assert patient["name"] == [{"family": "Silva Santos", "given": ["Ana", "Maria"], "prefix": ["Ms"]}]
    assert case_view(report.bundle).patient.initials == "AMS"
    result = export_bundles([build_bundle(case)], receiver_name="fda")
    assert result.check.xsd == "valid" and not [i for i in result.check.issues if i.severity == "error"]
    name = etree.fromstring(result.xml).xpath("//h:primaryRole/h:player1/h:name", namespaces={"h": HL7})[0]
    assert [(etree.QName(c).localname, c.text) for c in name] == [
        ("prefix", "Ms"), ("given", "Ana"), ("given", "Maria"), ("family", "Silva Santos")]


def test_a_block_the_model_cannot_accept_is_said_with_its_line_and_reason(shared_dir: Path) -> None:
    """Nothing silent: a drug whose product name (G.k.2.2, required by the case model) was removed is not read,
    and the import report says which block, where, and why; its values are listed as not mapped."""
    path = shared_dir / "e2b" / "examples" / "fda-faers-2022" / "FAERS2022Scenario1.xml"
    doc = xmlsafe.load(path).root
    drug = doc.xpath("//h:organizer[h:code/@code='4']/h:component/h:substanceAdministration",
                     namespaces={"h": HL7})[0]
    name = drug.xpath("h:consumable/h:instanceOfKind/h:kindOfProduct/h:name", namespaces={"h": HL7})[0]
    name.getparent().remove(name)
    [report] = importer.import_loaded(xmlsafe.parse_bytes(etree.tostring(doc), "edited")).reports
    said = [w for w in report.deviations if w.startswith("[Drug]")]
    assert said and "was not read into the case model (product: Field required)" in said[0], report.deviations
    assert "at line" in said[0] and report.coverage.percent < 99



RICH_CASE = Path(__file__).parent / "e2b" / "data" / "rich-case.yaml"
_DIED = ("deceasedTime", {"value": "20240105"})
_SPONSOR = ("id", {"root": "2.16.840.1.113883.3.989.2.1.3.5", "extension": "TP-001"})


@pytest.mark.parametrize(("change", "sent", "warned"), [
    # C.5.3 is optional and takes ASKU and NASK only: with neither a number nor one of them no id is sent
    # (an NI there had the export refused for any study without a sponsor number)
    (lambda d: d["study"].pop("sponsor_number"), [_DIED], None),
    (lambda d: d["study"].update(sponsor_number={"absent": "not-asked"}),
     [_DIED, ("id", {"root": "2.16.840.1.113883.3.989.2.1.3.5", "nullFlavor": "NASK"})], None),
    (lambda d: d["study"].update(sponsor_number={"absent": "unknown"}), [_DIED], "C.5.3"),
    # D.9.1 takes MSK, ASKU and NASK: a withheld date of death was left out of the export
    (lambda d: d["patient"]["death"].update(date={"absent": "asked-unknown"}),
     [("deceasedTime", {"nullFlavor": "ASKU"}), _SPONSOR], None),
    (lambda d: d["patient"]["death"].update(date={"absent": "unknown"}), [_SPONSOR], "D.9.1"),
], ids=["no-sponsor-number", "sponsor-NASK", "sponsor-UNK", "death-date-ASKU", "death-date-UNK"])
def test_a_withheld_sponsor_study_number_or_date_of_death_is_sent_where_ich_allows_it(
        e2b_schema_dir: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, change, sent, warned) -> None:
    """The reason is written where E2B allows it and read back into the case; where it does not, `validate`
    says that the export leaves it out, and the export is accepted."""
    import copy

    from reporter import yaml12
    from reporter.casefile.model import CaseFile
    from reporter.e2b.export import export_bundles
    from reporter.fhir.build import build_bundle
    from reporter.fhir.to_case import bundle_to_case
    from reporter.validation import validate_bundle

    monkeypatch.setenv("REPORTER_E2B_SCHEMA_DIR", str(e2b_schema_dir))
    data = copy.deepcopy(yaml12.load(RICH_CASE.read_text(encoding="utf-8")))
    change(data)
    case = CaseFile.model_validate(data)
    bundle = build_bundle(case)
    warnings = [i.message for i in validate_bundle(bundle).issues if i.code == "PLAUS-ABSENT-REASON"]
    if warned:
        assert len(warnings) == 1 and f"for {warned} " in warnings[0] and "the export leaves it out" in warnings[0]
    else:
        assert warnings == []
    for receiver in ("ich", "fda", "ema"):
        result = export_bundles([bundle], receiver_name=receiver)
        assert result.check.xsd == "valid", receiver
        assert not [i for i in result.check.issues if i.severity == "error"], (receiver, result.check.issues)
        doc = etree.fromstring(result.xml)
        found = [(etree.QName(n).localname, dict(n.attrib)) for n in doc.xpath(
            "//h:primaryRole/h:player1/h:deceasedTime | //h:primaryRole/h:subjectOf1/h:researchStudy/h:id",
            namespaces={"h": HL7})]
        assert found == sent, receiver
    path = tmp_path / "sent.xml"
    path.write_bytes(result.xml)
    [report] = importer.import_file(path).reports
    back = bundle_to_case(report.bundle)
    if not warned:
        assert back.study.sponsor_number == case.study.sponsor_number
        assert back.patient.death.date == case.patient.death.date


def test_causes_an_autopsy_found_are_sent_when_the_case_does_not_say_whether_one_was_done(
        e2b_schema_dir: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """D.9.4.r sits inside D.9.3's block: with no D.9.3 value the block is still written for its causes (they
    were dropped), and ICH takes it; FDA asks for D.9.3 when a date of death is given."""
    from reporter import yaml12
    from reporter.casefile.model import CaseFile
    from reporter.e2b.export import export_bundles
    from reporter.fhir.build import build_bundle
    from reporter.fhir.to_case import bundle_to_case

    monkeypatch.setenv("REPORTER_E2B_SCHEMA_DIR", str(e2b_schema_dir))
    data = yaml12.load(RICH_CASE.read_text(encoding="utf-8"))
    del data["patient"]["death"]["autopsy"]
    case = CaseFile.model_validate(data)
    result = export_bundles([build_bundle(case)], receiver_name="ich")
    assert result.check.xsd == "valid" and not [i for i in result.check.issues if i.severity == "error"]
    sent = tmp_path / "sent.xml"
    sent.write_bytes(result.xml)
    [report] = importer.import_file(sent).reports
    death = bundle_to_case(report.bundle).patient.death
    assert death.autopsy is None and death.autopsy_causes == case.patient.death.autopsy_causes != []
    fda = export_bundles([build_bundle(case)], receiver_name="fda")
    assert [i.code for i in fda.check.issues if i.severity == "error"] == ["R0045"]


@pytest.mark.parametrize(("tag", "number"), [("routeCode", "G.k.4.r.10.2b"), ("formCode", "G.k.4.r.9.2b")])
def test_a_code_sent_without_its_code_system_is_listed_not_taken_for_one_of_ours(
        shared_dir: Path, e2b_schema_dir: Path, monkeypatch: pytest.MonkeyPatch, tag: str, number: str) -> None:
    """A route or form code without codeSystem names no list: the case's bare code is one of our own keys, so
    taking it as one made the case hold a code the export then had no list for (it was dropped, unsaid). It is
    listed as not mapped; the text beside it is kept and sent."""
    from reporter.e2b.export import export_bundles
    from reporter.fhir.to_case import bundle_to_case

    monkeypatch.setenv("REPORTER_E2B_SCHEMA_DIR", str(e2b_schema_dir))
    doc = xmlsafe.load(shared_dir / "e2b" / "examples" / "ich-derived" / "ich-style-HC-followup-MAH.xml").root
    node = doc.xpath(f"//h:outboundRelationship2/h:substanceAdministration//h:{tag}[h:originalText]",
                     namespaces={"h": HL7})[0]
    node.set("code", node.get("code") or "10219000")  # the form is sent as text: given a code too
    for name in ("codeSystem", "codeSystemVersion"):
        node.attrib.pop(name, None)
    code, text = node.get("code"), node.findtext(f"{{{HL7}}}originalText")
    [report] = importer.import_loaded(xmlsafe.parse_bytes(etree.tostring(doc), "edited")).reports
    assert report.coverage.not_mapped[number] == 1 and report.coverage.examples[number] == code
    held = [d for drug in bundle_to_case(report.bundle).drugs for d in drug.dosages]
    key = "route" if tag == "routeCode" else "form"
    said = [getattr(d, key) for d in held if getattr(d, key) is not None and getattr(d, key).text == text]
    assert said and all(c.code is None for c in said)
    result = export_bundles([report.bundle])
    assert result.check.xsd == "valid"
    sent = etree.fromstring(result.xml).xpath(f"//h:{tag}[h:originalText={text!r}]", namespaces={"h": HL7})
    assert sent and all(n.get("code") is None for n in sent)


@pytest.mark.parametrize("reactions", ["removed", "unreadable"])
def test_an_age_at_onset_in_a_report_without_reactions_is_said_not_kept(shared_dir: Path, reactions: str) -> None:
    """The case holds D.2.2 with its reactions (on each AdverseEvent); a report without one read (none sent, which
    ICH refuses, or none the model can accept) cannot keep it, and the import says so where it was counted as
    kept and then lost."""
    doc = xmlsafe.load(shared_dir / "e2b" / "examples" / "ich-derived" / "ich-style-HC-followup-MAH.xml").root
    ns = {"h": HL7}
    assert doc.xpath("//h:primaryRole/h:subjectOf2/h:observation[h:code/@code='3']/h:value", namespaces=ns)
    for reaction in doc.xpath("//h:primaryRole/h:subjectOf2[h:observation/h:code/@code='29']", namespaces=ns):
        if reactions == "removed":
            reaction.getparent().remove(reaction)
        else:  # no term as reported and no MedDRA code: the block is not read
            for term in reaction.xpath("h:observation/h:value | h:observation/h:outboundRelationship2"
                                       "[h:observation/h:code/@code='30']", namespaces=ns):
                term.getparent().remove(term)
    [report] = importer.import_loaded(xmlsafe.parse_bytes(etree.tostring(doc), "edited")).reports
    assert report.coverage.not_mapped["D.2.2a"] == 1
    assert any(d.startswith("D.2.2a") and "no reaction" in d for d in report.deviations), report.deviations


def test_a_free_text_result_beside_a_value_is_kept_and_its_place_in_an_export_said(e2b_schema_dir: Path,
                                                                                   monkeypatch: pytest.MonkeyPatch,
                                                                                   tmp_path: Path) -> None:
    """F.r.3.4 beside F.r.3.2: the case keeps both; the export sends the text in the comments, and the import
    says so (the difference was unsaid)."""
    from reporter.e2b.export import export_bundles

    monkeypatch.setenv("REPORTER_E2B_SCHEMA_DIR", str(e2b_schema_dir))
    doc = xmlsafe.load(Path(__file__).parent / "e2b" / "inputs" / "ema-literature-study-parent-death.xml").root
    ns = {"h": HL7, "xsi": xmlsafe.XSI}
    value = doc.xpath("//h:organizer[h:code/@code='3']/h:component/h:observation/h:value[@xsi:type='IVL_PQ']",
                      namespaces=ns)[0]
    text = etree.Element(f"{{{HL7}}}value", {f"{{{xmlsafe.XSI}}}type": "ED"})
    text.text = "above the upper limit"
    value.addnext(text)
    [report] = importer.import_loaded(xmlsafe.parse_bytes(etree.tostring(doc), "edited")).reports
    assert [d for d in report.deviations if d.startswith("F.r.3.4") and "comments (F.r.6)" in d]
    result = export_bundles([report.bundle])
    assert result.check.xsd == "valid"
    comments = etree.fromstring(result.xml).xpath(
        "//h:observation[h:value/@xsi:type='IVL_PQ']/h:outboundRelationship2/h:observation[h:code/@code='10']"
        "/h:value/text()", namespaces=ns)
    assert any("Result: above the upper limit" in c for c in comments)


def test_a_meddra_version_sent_without_its_code_is_listed_not_mapped() -> None:
    """A MedDRA version is an E2B element of its own (D.7.1.r.1a): sent without the code it versions it says
    nothing the case can hold, and the import lists it instead of dropping it unsaid."""
    doc = xmlsafe.load(Path(__file__).parent / "e2b" / "inputs" / "ema-literature-study-parent-death.xml").root
    code = doc.xpath("//h:organizer[h:code/@code='1']/h:component/h:observation/h:code[@codeSystemVersion]",
                     namespaces={"h": HL7})[0]
    version = code.get("codeSystemVersion")
    del code.attrib["code"]
    [report] = importer.import_loaded(xmlsafe.parse_bytes(etree.tostring(doc), "edited")).reports
    assert report.coverage.not_mapped["D.7.1.r.1a"] == 1 and report.coverage.examples["D.7.1.r.1a"] == version


def test_an_id_sent_without_its_root_is_kept_and_said(shared_dir: Path) -> None:
    """An approval number (G.k.3.1) or linked report (C.1.10.r) sent without ICH's root OID is read by its place
    and kept; the import says an export writes it under ICH's root (the sent form changes, not the fact)."""
    doc = xmlsafe.load(shared_dir / "e2b" / "examples" / "fda-faers-2022" / "FAERS2022Scenario4.xml").root
    ns = {"h": HL7}
    linked = doc.xpath("//h:relatedInvestigation/h:subjectOf2/h:controlActEvent/h:id[@extension]", namespaces=ns)[0]
    del linked.attrib["root"]
    [report] = importer.import_loaded(xmlsafe.parse_bytes(etree.tostring(doc), "edited")).reports
    from reporter.fhir.to_case import bundle_to_case

    assert linked.get("extension") in bundle_to_case(report.bundle).report.linked_reports
    said = [d for d in report.deviations if d.startswith("C.1.10.r") and "without its root OID" in d]
    assert len(said) == 1, report.deviations
    assert report.coverage.not_mapped.get("C.1.10.r") is None


def test_a_report_reads_the_same_alone_or_in_a_batch_of_many(shared_dir: Path, schema_env: Path) -> None:
    """A batch of several reports: each report's case, deviations and coverage are those of the report sent on
    its own (the receiver's rules see the batch header with that report only, whatever else the batch holds)."""
    import copy
    import re

    files = [p for p in _examples(shared_dir) if p.name.startswith("FAERS2022Scenario")]
    assert len(files) >= 3
    alone = [r for path in files for r in importer.import_file(path).reports]
    batch = etree.parse(str(files[0])).getroot()
    last = batch.findall(f"{{{HL7}}}PORR_IN049016UV")[-1]
    for path in files[1:]:
        for message in etree.parse(str(path)).getroot().findall(f"{{{HL7}}}PORR_IN049016UV"):
            last.addnext(copy.deepcopy(message))
            last = last.getnext()
    together = importer.import_loaded(xmlsafe.parse_bytes(etree.tostring(batch), "batch.xml")).reports
    assert len(together) == len(alone) > len(files) - 1

    def said(report) -> tuple:
        numbered = re.compile(r"\(case \d+")
        return (report.ok, report.problems, sorted(numbered.sub("(case", d) for d in report.deviations),
                report.coverage.total, report.coverage.mapped, dict(report.coverage.not_mapped))

    assert [said(r) for r in together] == [said(r) for r in alone]
    assert any(r.deviations for r in together)  # FDA's examples depart from the ICH tables in places

    def case(report) -> list:  # the resources, without the transmission ids (the batch's own header differs)
        composition, *rest = [e["resource"] for e in report.bundle["entry"]]
        return [{k: v for k, v in composition.items() if k != "extension"}, *rest]

    assert [case(r) for r in together] == [case(r) for r in alone]


def test_each_report_with_the_same_xsd_problem_is_rejected(schema_env: Path) -> None:
    """The same mistake in two reports of a batch: both are rejected, each with its own line (the problem was
    counted once for the batch, as the first report's "1 more like this", and the second was imported)."""
    import copy

    batch = etree.parse(str(Path(__file__).parent / "e2b" / "inputs" / "fda-vaers-vaccines-infant.xml")).getroot()
    first = batch.find(f"{{{HL7}}}PORR_IN049016UV")
    for n in (3, 2):
        message = copy.deepcopy(first)
        message.find(f".//{{{HL7}}}investigationEvent/{{{HL7}}}id").set("extension", f"US-COPY-{n}")
        next(message.iter(f"{{{HL7}}}low")).set("value", "not-a-date")
        first.addnext(message)
    raw = etree.tostring(batch, xml_declaration=True, encoding="UTF-8")
    reports = importer.import_loaded(xmlsafe.parse_bytes(raw, "batch.xml")).reports
    assert [r.ok for r in reports] == [True, False, False]
    lines = [line for r in reports[1:] for line in r.problems]
    assert len(lines) == 2 and "more like this" not in " ".join(lines) and lines[0] != lines[1]


def test_a_reaction_term_without_its_language_is_kept_and_said(schema_env: Path) -> None:
    """E.i.1.1a sent without E.i.1.1b and no E.i.1.2: the reporter's words are the reaction's reported term
    (they were listed as not mapped, and the reaction was left without a term)."""
    from reporter.e2b.export import export_bundles
    from reporter.fhir.to_case import bundle_to_case
    from reporter.inputs import load_bundle
    from tests.helpers import CASE1

    doc = etree.fromstring(export_bundles([load_bundle(CASE1)], schema_dir=schema_env).xml)
    ns = {"h": HL7}
    reaction = doc.xpath("//h:observation[h:code/@code='29']", namespaces=ns)[0]
    for node in reaction.xpath("h:outboundRelationship2[h:observation/h:code/@code='30']", namespaces=ns):
        reaction.remove(node)
    etree.SubElement(reaction.find("h:value", ns), f"{{{HL7}}}originalText").text = "Juckreiz"
    raw = etree.tostring(doc, xml_declaration=True, encoding="UTF-8")
    [report] = importer.import_loaded(xmlsafe.parse_bytes(raw, "t.xml")).reports
    assert report.ok and "E.i.1.1a" not in report.coverage.not_mapped
    assert bundle_to_case(report.bundle).reactions[0].verbatim == "Juckreiz"
    assert any(d.startswith("E.i.1.1a ") and "without its language" in d for d in report.deviations)


def test_every_imported_report_validates(shared_dir: Path, schema_env: Path) -> None:
    """What an import makes is a valid case: a time to the minute (an invalid FHIR dateTime) and a study
    registration's withheld country (read as the country None) made `validate` refuse imported reports."""
    from reporter.validation import validate_bundle

    files = [p for p in _examples(shared_dir) if "negative" not in p.parts]
    files += sorted((Path(__file__).parent / "e2b" / "inputs").glob("*.xml"))
    found = {}
    for path in files:
        for report in importer.import_file(path).reports:
            if report.ok:
                found[f"{path.name} {report.index}"] = [
                    f"{i.code} {i.location}" for i in validate_bundle(report.bundle).errors]
    assert len(found) >= 12 and not any(found.values()), {k: v for k, v in found.items() if v}


def test_the_import_lists_what_validation_will_refuse(schema_env: Path, tmp_path: Path) -> None:
    """A country code in lower case passes the XSD and the E2B rules, but not validation (ISO 3166 codes are
    upper case): the import lists it and exits 1, instead of a clean import that `e2b` then refuses."""
    from reporter.e2b.export import export_bundles
    from reporter.inputs import load_bundle
    from tests.helpers import CASE1

    doc = etree.fromstring(export_bundles([load_bundle(CASE1)], schema_dir=schema_env).xml)
    codes = doc.xpath("//*[@codeSystem='1.0.3166.1.2.2']", namespaces={"h": HL7})
    assert codes
    codes[0].set("code", codes[0].get("code").lower())
    path = tmp_path / "lower.xml"
    path.write_bytes(etree.tostring(doc, xml_declaration=True, encoding="UTF-8"))
    result = CliRunner().invoke(main, ["import", str(path), "-o", str(tmp_path / "out")])
    assert result.exit_code == 1
    assert "invalid: TERM-COUNTRY" in result.output and "1 imported case(s) do not validate" in result.output


def test_a_drug_sent_without_its_name_is_said_to_be_listed_not_kept(shared_dir: Path, schema_env: Path,
                                                                    tmp_path: Path) -> None:
    """G.k.2.2 is mandatory (no null flavor). The ICH-rule warning said 'the case keeps what it says' while the
    drug's block, which the case model cannot hold without a name, was listed as not mapped."""
    source = shared_dir / "e2b" / "examples" / "fda-faers-2022" / "FAERS2022Scenario1.xml"
    tree = etree.parse(str(source))
    name = tree.findall(f".//{{{HL7}}}instanceOfKind/{{{HL7}}}kindOfProduct/{{{HL7}}}name")[1]  # [0]: a past drug
    name.getparent().remove(name)
    edited = tmp_path / "noname.xml"
    tree.write(str(edited))
    [report] = importer.import_file(edited).reports
    rule = next(w for w in report.deviations if w.startswith("G.k.2.2"))
    assert "where the case model can hold it" in rule and "listed as not mapped" in rule
    assert any(w.startswith("[Drug]") and "not read into the case model" in w for w in report.deviations)


def test_the_dechallenge_sentences_of_g_k_11_are_read_back_per_reaction(e2b_schema_dir: Path,
                                                                         monkeypatch: pytest.MonkeyPatch,
                                                                         tmp_path: Path) -> None:
    """E2B has no dechallenge element: the export says it per reaction in G.k.11 ('Dechallenge for <reaction>:
    ...'). Read back, each reaction gets its own again (Naranjo Q3 of an imported case depends on it), and
    G.k.11 keeps only the drug's own text (escitalopram SIADH, Case Rep Nephrol 2018:3697120)."""
    from reporter.casefile.model import CaseFile
    from reporter.e2b.export import export_bundles
    from reporter.fhir.build import build_bundle
    from reporter.fhir.to_case import bundle_to_case

    monkeypatch.setenv("REPORTER_E2B_SCHEMA_DIR", str(e2b_schema_dir))
    case = CaseFile.model_validate({
        "case_id": "US-TEST-2018-1",
        "report": {"type": "spontaneous", "first_received": "2018-09-10", "most_recent": "2018-09-10"},
        "patient": {"initials": "AB", "age_at_onset": {"value": 93, "unit": "a"}},
        "reactions": [{"id": "siadh", "verbatim": "SIADH"}, {"id": "seizure", "verbatim": "seizure"},
                      {"id": "drowsy", "verbatim": "drowsiness"}],
        "drugs": [{"id": "e", "role": "suspect", "product": "Lexapro", "additional_text": "Started for depression.",
                   "reactions": [{"reaction": "siadh", "dechallenge": "positive"},
                                 {"reaction": "seizure", "dechallenge": "negative"}, {"reaction": "drowsy"}]}]})
    sent = tmp_path / "sent.xml"
    sent.write_bytes(export_bundles([build_bundle(case)], receiver_name="ich").xml)
    back = bundle_to_case(importer.import_file(sent).reports[0].bundle)
    assert [(link.reaction, link.dechallenge) for link in back.drugs[0].reactions] == [
        ("reaction-1", "positive"), ("reaction-2", "negative")]
    assert back.drugs[0].additional_text == "Started for depression."


def test_a_dechallenge_is_read_back_for_a_reaction_whose_name_holds_a_semicolon(e2b_schema_dir: Path,
                                                                                 monkeypatch: pytest.MonkeyPatch,
                                                                                 tmp_path: Path) -> None:
    """The reader split G.k.11 at every '; ' before matching 'Dechallenge for <reaction>: ...', so a reported
    term with a semicolon in it lost its dechallenge on import (it stayed G.k.11 text). Ceftriaxone AGEP in a
    child, Trends in Pediatrics 2023: 'AGEP (pruritic erythema, small pustules); EuroSCAR confirmed'."""
    from reporter.casefile.model import CaseFile
    from reporter.e2b.export import export_bundles
    from reporter.fhir.build import build_bundle
    from reporter.fhir.to_case import bundle_to_case

    monkeypatch.setenv("REPORTER_E2B_SCHEMA_DIR", str(e2b_schema_dir))
    case = CaseFile.model_validate({
        "case_id": "TR-TEST-2023-1",
        "report": {"type": "spontaneous", "first_received": "2023-09-10", "most_recent": "2023-09-10"},
        "patient": {"initials": "AB", "age_at_onset": {"value": 12, "unit": "a"}},
        "reactions": [{"id": "agep", "verbatim": "AGEP (pruritic erythema, small pustules); EuroSCAR confirmed"},
                      {"id": "fever", "verbatim": "fever; 39 C"}],
        "drugs": [{"id": "cro", "role": "suspect", "product": "Ceftriaxone", "additional_text": "Given IV; 2 days.",
                   "reactions": [{"reaction": "agep", "dechallenge": "positive"},
                                 {"reaction": "fever", "dechallenge": "negative"}]}]})
    sent = tmp_path / "sent.xml"
    sent.write_bytes(export_bundles([build_bundle(case)], receiver_name="ich").xml)
    back = bundle_to_case(importer.import_file(sent).reports[0].bundle)
    assert [(link.reaction, link.dechallenge) for link in back.drugs[0].reactions] == [
        ("reaction-1", "positive"), ("reaction-2", "negative")]
    assert back.drugs[0].additional_text == "Given IV; 2 days."
