"""Property: every XSD-valid E2B(R3) report round-trips losslessly, not only the files we have.

Variants of the shared examples and of our own inputs (tests/e2b/inputs/) are made by one mutation each
(tests/e2b/mutations.py: delete an element under investigationEvent, remove an attribute, duplicate an
element, rewrite a text, change a date's precision, add an optional block, swap two sibling blocks, put a
null flavor where the ICH table allows one, graft a block another source has at the same place). Those the
XSD rejects are discarded and counted; every other one must import (no report rejected, no crash), export
XSD-valid, and carry the same facts (only batch/message ids and creation times may change). The draw is
seeded, so CI runs the same variants every time; a failure names the variant and writes it next to the
test's tmp_path for replay.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from lxml import etree

from reporter.e2b import xsd
from reporter.fhir import to_case
from tests.conftest import shared_path
from tests.e2b import mutations

INPUTS = Path(__file__).parent / "inputs"
SEED = 20240601
PER_KIND = 35          # candidates per mutation kind (about 6 per second on one core, these kinds ~40 s)
MIN_VALID = 18         # per kind; together well over 100 valid variants
# The kinds CI runs: all of them (wider sweeps with bench/e2b_mutation_sweep.py find no failure in
# reorder, graft or nullflavor over seeds 8-60).
CI_KINDS = ("delete", "attribute", "duplicate", "text", "date", "add", "reorder", "nullflavor", "graft")
CANDIDATES = {"graft": 55}  # the XSD rejects about 60 % of grafts: more candidates for MIN_VALID


def _sources() -> dict[str, bytes]:
    examples = shared_path() / "e2b" / "examples"
    files = [p for p in examples.glob("*/*.xml") if "negative" not in p.parts] + sorted(INPUTS.glob("*.xml"))
    return {p.name: p.read_bytes() for p in sorted(files)}


@pytest.mark.slow
@pytest.mark.parametrize("kind", CI_KINDS)
def test_xsd_valid_variants_round_trip_without_differences(kind: str, shared_dir: Path, e2b_schema_dir: Path,
                                                           tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REPORTER_E2B_SCHEMA_DIR", str(e2b_schema_dir))
    sources = _sources()
    assert len(sources) >= 10, sorted(sources)
    valid = rejected = 0
    failures: list[str] = []
    for i, variant in enumerate(mutations.variants(sources, SEED + mutations.KINDS.index(kind),
                                                   CANDIDATES.get(kind, PER_KIND), (kind,))):
        outcome = xsd.validate(etree.fromstring(variant.xml), e2b_schema_dir)
        assert outcome is not None
        if not outcome[0]:
            rejected += 1
            continue
        valid += 1
        result = mutations.round_trip(variant, str(e2b_schema_dir))
        if result.failure:
            saved = tmp_path / f"{kind}-{i}-{variant.source}"
            saved.write_bytes(variant.xml)
            failures.append(f"{variant.source}: {variant.what} (saved as {saved})\n{result.failure}")
    print(f"{kind}: {valid} XSD-valid variants round-tripped, {rejected} rejected by the XSD")
    assert valid >= MIN_VALID, f"only {valid} XSD-valid variants ({rejected} rejected by the XSD)"
    assert not failures, f"{len(failures)} of {valid} valid variants do not round-trip:\n\n" + "\n\n".join(
        failures[:8])


def test_mutations_are_deterministic_and_change_the_document(shared_dir: Path) -> None:
    """Needs ../shared: the mutations read the ICH element table's null flavors from it."""
    source = (INPUTS / "fda-postmarket-foreign-sender.xml").read_bytes()
    first = list(mutations.variants({"a.xml": source}, 7, 18))
    again = list(mutations.variants({"a.xml": source}, 7, 18))
    assert [v.xml for v in first] == [v.xml for v in again]
    assert {v.kind for v in first} == set(mutations.KINDS)
    assert all(v.xml != source for v in first)


def test_a_lossy_round_trip_is_caught(e2b_schema_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The property can fail: a variant whose export differs from it is reported with the differences."""
    monkeypatch.setenv("REPORTER_E2B_SCHEMA_DIR", str(e2b_schema_dir))
    source = (INPUTS / "fda-postmarket-foreign-sender.xml").read_bytes()
    doc = etree.fromstring(source)
    # Pretend the export should carry a sender's comment the source never had: compare against that.
    variant = mutations.Variant("a.xml", "text", "none", source)
    outcome = mutations.round_trip(variant, str(e2b_schema_dir))
    assert outcome.failure is None
    comment = doc.xpath("//h:component1/h:observationEvent/h:value", namespaces={"h": mutations.HL7})[0]
    comment.text = "changed after the fact"
    from reporter.e2b import diff, export, importer, xmlsafe
    result = importer.import_loaded(xmlsafe.parse_bytes(source))
    out = export.export_bundles([r.bundle for r in result.reports if r.bundle], schema_dir=e2b_schema_dir)
    assert diff.compare(doc, etree.fromstring(out.xml)), "the comparison must see a changed text"


def test_report_without_what_the_case_model_requires_still_imports(e2b_schema_dir: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """No C.1.1, C.1.3 or C.1.4 and a C.1.5 with a time but no zone (all XSD-valid): the report imports with
    placeholders and notes, the local time held as it is, and is exported as received (the placeholders are not
    written)."""
    monkeypatch.setenv("REPORTER_E2B_SCHEMA_DIR", str(e2b_schema_dir))
    from reporter.e2b import importer, xmlsafe

    doc = etree.fromstring((INPUTS / "fda-postmarket-foreign-sender.xml").read_bytes())
    ns = {"h": mutations.HL7}
    event = doc.xpath("//h:investigationEvent", namespaces=ns)[0]
    for xpath in ("h:id[@root='2.16.840.1.113883.3.989.2.1.3.1']", "h:effectiveTime",
                  "h:subjectOf2[h:investigationCharacteristic/h:code/@code='1']"):
        for node in event.xpath(xpath, namespaces=ns):
            event.remove(node)
    event.find(f"{{{mutations.HL7}}}availabilityTime").set("value", "20240305101500")
    xml = etree.tostring(doc, xml_declaration=True, encoding="UTF-8")
    outcome = xsd.validate(etree.fromstring(xml), e2b_schema_dir)
    assert outcome is not None and outcome[0], outcome
    result = importer.import_loaded(xmlsafe.parse_bytes(xml))
    report = result.reports[0]
    assert report.ok, report.problems
    assert [n.split()[0] for n in report.notes] == ["C.1.1", "C.1.4", "C.1.3"]
    assert to_case.bundle_to_case(report.bundle).report.most_recent == "2024-03-05T10:15:00"
    assert mutations.round_trip(mutations.Variant("x.xml", "delete", "C.1.1, C.1.3, C.1.4", xml),
                                str(e2b_schema_dir)).failure is None
