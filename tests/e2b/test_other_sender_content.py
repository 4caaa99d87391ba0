"""Content sections as other senders fill them: shapes the ICH guide allows (or receivers accept) that this
project's writer does not produce itself. Each is written into an export of a rich case, read back, and must
keep its facts in the case (or name what it does not keep by E2B element)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from lxml import etree

from reporter.casefile import model as m
from reporter.e2b import coverage, to_case, xmlsafe
from reporter.e2b.export import export_bundles
from reporter.e2b.xmlsafe import HL7
from tests.e2b.helpers import bundle_for
from tests.e2b.test_hard_content import RICH

NS = {"h": HL7, "xsi": "http://www.w3.org/2001/XMLSchema-instance"}
XSI_TYPE = "{http://www.w3.org/2001/XMLSchema-instance}type"


@pytest.fixture(scope="module")
def exported() -> bytes:
    return export_bundles([bundle_for(RICH)], receiver_name="ich").xml


def _read(raw: bytes) -> tuple[m.CaseFile, coverage.Coverage, list[tuple[str, str]]]:
    message = xmlsafe.parse_bytes(raw, "probe").root.find(f"{{{HL7}}}PORR_IN049016UV")
    case, reader, why = to_case.message_to_case(message)
    assert case is not None, why
    return case, coverage.measure(message, reader.used), reader.deviations


def _edit(raw: bytes, change: Callable[[etree._Element], None]) -> bytes:
    root = etree.fromstring(raw)
    change(root)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def _set_value(xml: str) -> Callable[[etree._Element], None]:
    """Replace the ALT test's result (F.r.3.2) with `xml`, written in the v3 namespace."""
    def change(root: etree._Element) -> None:
        value = root.xpath("//h:observation[h:code/h:originalText='ALT']/h:value", namespaces=NS)[0]
        new = etree.fromstring(f'<value xmlns="{HL7}" xmlns:xsi="{NS["xsi"]}" {xml}</value>')
        value.getparent().replace(value, new)
    return change


# One bound of an interval without its infinite partner, as senders write '< 5' ('<low nullFlavor="NINF"/>'
# is ICH's own form), and a plain PQ where ICH writes IVL_PQ.
@pytest.mark.parametrize(("xml", "value", "comparator"), [
    ('xsi:type="IVL_PQ"><high value="0.01" unit="U/L" inclusive="true"/>', 0.01, "<="),
    ('xsi:type="IVL_PQ"><high value="0.01" unit="U/L" inclusive="false"/>', 0.01, "<"),
    ('xsi:type="IVL_PQ"><high value="0.01" unit="U/L"/>', 0.01, "<="),
    ('xsi:type="IVL_PQ"><low value="1000" unit="U/L" inclusive="false"/>', 1000, ">"),
    ('xsi:type="IVL_PQ"><low value="1000" unit="U/L"/>', 1000, ">="),
    ('xsi:type="PQ" value="131" unit="U/L">', 131, None),
], ids=["high-inclusive", "high-exclusive", "high-default", "low-exclusive", "low-default", "pq"])
def test_a_test_value_in_another_senders_form_is_kept(exported: bytes, xml: str, value: float,
                                                      comparator: str | None) -> None:
    case, cover, _ = _read(_edit(exported, _set_value(xml)))
    alt = next(t for t in case.tests if t.name == "ALT")
    assert (alt.value, alt.unit, alt.comparator) == (value, "U/L", comparator)
    assert not {"F.r.3.2", "F.r.3.3", "[test]"} & set(cover.not_mapped), cover.not_mapped


def test_what_an_imported_case_fails_names_the_received_element_and_line(exported: bytes, tmp_path) -> None:
    """A received value the case cannot pass validation with (a unit that is not UCUM) is named at import by
    its E2B element and line in the file, not only by the Bundle's FHIRPath."""
    from reporter.e2b import importer

    raw = exported.replace(b'unit="mg/L" inclusive="false"', b'unit="months" inclusive="false"', 1)
    assert raw != exported
    path = tmp_path / "bad-unit.xml"
    path.write_bytes(raw)
    line = next(n for n, text in enumerate(raw.decode("utf-8").splitlines(), start=1) if 'unit="months"' in text)
    result = importer.import_file(path)
    assert importer.check_validity(result) == 1
    invalid = result.reports[0].invalid
    assert any(text.startswith(f"TERM-UCUM F.r.3.3, line {line}; Bundle.entry[") for text in invalid), invalid


def test_a_test_result_sent_as_a_range_keeps_its_test(exported: bytes) -> None:
    """ICH allows a result as a range (F.r.3.2 twice: low and high); the case model holds one value, so the test
    keeps it in words, with its name and date, and the import says so."""
    raw = _edit(exported, _set_value('xsi:type="IVL_PQ"><low value="1.2" unit="U/L"/><high value="1.5" unit="U/L"/>'))
    case, cover, deviations = _read(raw)
    alt = next(t for t in case.tests if t.name == "ALT")
    assert (alt.value, alt.result_text, str(alt.date)) == (None, "1.2 to 1.5 U/L", "2023-12-20")
    assert not {"F.r.3.2", "F.r.3.3", "F.r.1", "F.r.2.1"} & set(cover.not_mapped), cover.not_mapped
    assert any(number == "F.r.3.2" and "range (1.2 to 1.5 U/L)" in text for number, text in deviations)


def test_the_content_rich_input_keeps_each_section(shared_dir) -> None:
    """The own input written as other senders fill the content sections reads with every section in the case."""
    from tests.e2b.element_table import INPUTS, other_sender_shapes

    case, cover, _ = _read(other_sender_shapes((INPUTS / "other-senders-content.xml").read_bytes()))
    history = case.patient.medical_history
    assert [h.continuing for h in history[:4]] == [False, m.Absent(absent="masked"), m.Absent(absent="asked-unknown"),
                                                    m.Absent(absent="not-asked")]
    assert case.patient.concomitant_therapies is True
    assert [d.identifiers[0].code for d in case.patient.past_drugs if d.identifiers] == ["MPID-DE-123"]
    assert case.patient.parent.past_drugs[0].identifiers[0].code == "PHPID-77"
    assert [r.outcome for r in case.reactions] == ["fatal", "recovering", "recovered", "not-recovered",
                                                   "recovered-with-sequelae", "unknown"]
    assert case.reactions[2].duration.value == 3 and case.reactions[2].onset is None
    assert len(case.drugs[0].additional_info) == 11 and len(case.narrative.summaries) == 4
    assert len(case.narrative.text) > 20000 and "👩‍⚕️" in case.narrative.text and "]]>" in case.narrative.text
    content = {e for e in cover.not_mapped if not e.startswith("N.")}  # the header is read by the importer
    assert content == {"E.i.3.2a", "E.i.3.2c", "E.i.3.2f"}, cover.not_mapped  # sent as false: E2B has no "no"


def test_a_history_item_named_in_words_only_keeps_its_words(exported: bytes) -> None:
    """A medical history item some senders send as the words alone (D.7.1.r.1 original text, no MedDRA code) keeps
    them as its term, where the case held a condition with no name at all."""
    def words_only(root: etree._Element) -> None:
        code = root.xpath("//h:observation/h:code[@code='10017076']", namespaces=NS)[0]
        for attr in ("code", "codeSystemVersion"):
            del code.attrib[attr]
        etree.SubElement(code, f"{{{HL7}}}originalText").text = "Migräne & Aura"

    case, cover, deviations = _read(_edit(exported, words_only))
    item = case.patient.medical_history[1]
    assert (item.term, item.meddra, str(item.end)) == ("Migräne & Aura", None, "2021-06")
    assert "[history]" not in cover.not_mapped, cover.not_mapped
    assert any(number == "D.7.1.r.1b" and "'Migräne & Aura'" in text for number, text in deviations)
