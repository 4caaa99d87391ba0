"""Round trip of files whose blocks come in another order than our exporter writes (or with a shape it
does not write): each is one hand-made change of one of our inputs (or a shared example), of a kind the
mutation sweep found (bench/e2b_mutation_sweep.py). An imported case must come back as received: same
order, same facts."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from lxml import etree

from reporter.e2b import xsd
from tests.conftest import shared_path
from tests.e2b import mutations

INPUTS = Path(__file__).parent / "inputs"
NS = {"h": mutations.HL7}
ASSESSMENT = "//h:adverseEventAssessment"
ROLE = ASSESSMENT + "/h:subject1/h:primaryRole"


def _swap(first: etree._Element, second: etree._Element) -> None:
    marker = etree.Comment("swap")
    first.addprevious(marker)
    second.addprevious(first)
    marker.addprevious(second)
    marker.getparent().remove(marker)


def _one(doc: etree._Element, xpath: str) -> etree._Element:
    found = doc.xpath(xpath, namespaces=NS)
    assert found, xpath
    return found[0]


def swap_reactions(doc: etree._Element) -> None:
    """E.i: the first two reactions change places (drugs link to them by id, G.k.9.i.1)."""
    reactions = doc.xpath(ROLE + "/h:subjectOf2[h:observation/h:code/@code='29']", namespaces=NS)
    _swap(reactions[0], reactions[1])


def drugs_before_reactions(doc: etree._Element) -> None:
    """The drugs' organizer (G.k) ahead of the reactions (E.i) that its links point at."""
    drugs = _one(doc, ROLE + "/h:subjectOf2[h:organizer/h:code/@code='4']")
    first_reaction = _one(doc, ROLE + "/h:subjectOf2[h:observation/h:code/@code='29']")
    first_reaction.addprevious(drugs)


def swap_telecoms(doc: etree._Element) -> None:
    """C.3.4.6-8: the sender's e-mail ahead of its phone."""
    telecoms = doc.xpath("//h:investigationEvent/h:subjectOf1/h:controlActEvent/h:author/h:assignedEntity"
                         "/h:telecom", namespaces=NS)
    _swap(telecoms[0], telecoms[-1])


def swap_comments(doc: etree._Element) -> None:
    """H.2 reporter's and H.4 sender's comments in the other order."""
    comments = doc.xpath(ASSESSMENT + "/h:component1[h:observationEvent/h:code/@code='10']", namespaces=NS)
    assert len(comments) == 2
    _swap(comments[0], comments[1])


def other_ids_before_sender(doc: etree._Element) -> None:
    """C.1.9.1.r other case id ahead of the C.3 sender (both are subjectOf1/controlActEvent)."""
    other = _one(doc, "//h:investigationEvent/h:subjectOf1[h:controlActEvent/h:id]")
    sender = _one(doc, "//h:investigationEvent/h:subjectOf1[h:controlActEvent/h:author]")
    sender.addprevious(other)


def swap_reference_range(doc: etree._Element) -> None:
    """F.r.5 high ahead of F.r.4 low."""
    test = _one(doc, "//h:organizer/h:component/h:observation[count(h:referenceRange) = 2]")
    low, high = test.xpath("h:referenceRange", namespaces=NS)
    _swap(low, high)


def qualification_null_without_system(doc: etree._Element) -> None:
    """C.2.r.4 as a bare null flavor: no code system to add."""
    code = _one(doc, "//h:asQualifiedEntity/h:code")
    for attr in list(code.attrib):
        del code.attrib[attr]
    code.set("nullFlavor", "UNK")


def second_approval(doc: etree._Element) -> None:
    """G.k.3: a drug with a second authorisation block (the model holds one), the first without a number:
    the second one's number is not the first one's."""
    approval = _one(doc, "//h:asManufacturedProduct/h:subjectOf[h:approval]")
    extra = etree.fromstring(etree.tostring(approval))
    _one(extra, ".//h:approval/h:id").set("extension", "IND-SECOND-1")
    approval.addnext(extra)
    first_id = _one(approval, "h:approval/h:id")
    first_id.getparent().remove(first_id)


def second_author(doc: etree._Element) -> None:
    """C.2.r: a primary source with a second author block (the model holds one), the first without an
    address: the second one's address is not the first one's."""
    first = _one(doc, "//h:outboundRelationship/h:relatedInvestigation[h:code/@code='2']/h:subjectOf2")
    extra = etree.fromstring(etree.tostring(first))
    for given in extra.xpath(".//h:given", namespaces=NS):
        given.text = "Second"
    first.addnext(extra)
    for addr in first.xpath(".//h:assignedEntity/h:addr", namespaces=NS):
        addr.getparent().remove(addr)


def second_sender_address(doc: etree._Element) -> None:
    """C.3.4: a sender with a second address (the model holds one), the first without a street."""
    addr = _one(doc, "//h:investigationEvent/h:subjectOf1/h:controlActEvent/h:author/h:assignedEntity/h:addr")
    extra = etree.fromstring(etree.tostring(addr))
    addr.addnext(extra)
    for street in addr.xpath("h:streetAddressLine", namespaces=NS):
        addr.remove(street)


def second_consumable(doc: etree._Element) -> None:
    """G.k.2: a drug with a second product block (the model holds one)."""
    consumable = _one(doc, "//h:organizer/h:component/h:substanceAdministration/h:consumable")
    extra = etree.fromstring(etree.tostring(consumable))
    _one(extra, ".//h:kindOfProduct/h:name").text = "Second product"
    consumable.addnext(extra)


def history_comment_as_reference(doc: etree._Element) -> None:
    """D.7.1.r.5 under a relationship typed REFR (the exporter writes COMP): the type is a fact too."""
    rel = _one(doc, "//h:organizer[h:code/@code='1']/h:component/h:observation/h:outboundRelationship2"
                    "[h:observation/h:code/@code='10']")
    rel.set("typeCode", "REFR")


def second_dose_time(doc: etree._Element) -> None:
    """G.k.4.r: a dosage with a second effectiveTime holding a duration (the model holds one time)."""
    time = _one(doc, "//h:outboundRelationship2[@typeCode='COMP']/h:substanceAdministration/h:effectiveTime")
    extra = etree.fromstring(f'<effectiveTime xmlns="{mutations.HL7}" xmlns:xsi="{mutations.XSI}" '
                             'xsi:type="IVL_TS"><width value="3" unit="d"/></effectiveTime>')
    time.addnext(extra)


def parent_the_model_cannot_hold(doc: etree._Element) -> None:
    """D.10: a parent block (passed through) in a patient whose player1 has nothing else but a name: the
    player1's path in the source names the parent's role it wraps, the exported one's does not."""
    block = next(b for b in mutations._blocks() if b["name"].startswith("D.10 parent"))
    target = _one(doc, "//h:investigationEvent/" + block["at"].removeprefix("./"))
    new = etree.fromstring(f'<wrap xmlns="{mutations.HL7}" xmlns:xsi="{mutations.XSI}">{block["xml"]}</wrap>')[0]
    mutations._insert(target, new, block.get("after") or [])


CASES: list[tuple[str, Callable[[etree._Element], None]]] = [
    ("fda-vaers-vaccines-infant.xml", swap_reactions),
    ("ema-literature-study-parent-death.xml", swap_reactions),
    ("fda-vaers-vaccines-infant.xml", drugs_before_reactions),
    ("fda-vaers-vaccines-infant.xml", swap_telecoms),
    ("fda-postmarket-foreign-sender.xml", swap_comments),
    ("ema-literature-study-parent-death.xml", other_ids_before_sender),
    ("fda-postmarket-foreign-sender.xml", swap_reference_range),
    ("fda-postmarket-foreign-sender.xml", qualification_null_without_system),
    ("fda-vaers-vaccines-infant.xml", second_approval),
    ("ema-literature-study-parent-death.xml", second_author),
    ("fda-vaers-vaccines-infant.xml", second_sender_address),
    ("fda-vaers-vaccines-infant.xml", second_consumable),
    ("ema-literature-study-parent-death.xml", history_comment_as_reference),
    ("fda-vaers-vaccines-infant.xml", second_dose_time),
    ("fda-faers-2022/FAERS2022Scenario4.xml", parent_the_model_cannot_hold),
]


@pytest.mark.parametrize(("source", "change"), CASES, ids=[f"{c.__name__}-{s[:12]}" for s, c in CASES])
def test_a_file_in_another_order_round_trips_as_received(source: str, change: Callable[[etree._Element], None],
                                                         e2b_schema_dir: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REPORTER_E2B_SCHEMA_DIR", str(e2b_schema_dir))
    original = (INPUTS / source if "/" not in source else shared_path() / "e2b" / "examples" / source).read_bytes()
    doc = etree.fromstring(original)
    change(doc)
    xml = etree.tostring(doc, xml_declaration=True, encoding="UTF-8")
    assert xml != original
    outcome = xsd.validate(etree.fromstring(xml), e2b_schema_dir)
    assert outcome is not None and outcome[0], outcome
    result = mutations.round_trip(mutations.Variant(source, "hand", change.__name__, xml), str(e2b_schema_dir))
    assert result.failure is None, result.failure


def test_a_link_to_another_reaction_is_a_difference_wherever_the_blocks_sit() -> None:
    """The comparison resolves an internal link to the act that carries the id: where the drugs sit
    relative to the reactions is no difference, a causality pointing at another reaction is one."""
    from reporter.e2b import diff

    original = etree.fromstring((INPUTS / "fda-vaers-vaccines-infant.xml").read_bytes())
    moved = etree.fromstring(etree.tostring(original))
    drugs_before_reactions(moved)
    assert not diff.compare(original, moved)
    relinked = etree.fromstring(etree.tostring(moved))
    reactions = relinked.xpath(ROLE + "/h:subjectOf2/h:observation[h:code/@code='29']/h:id/@root", namespaces=NS)
    ref = _one(relinked, ASSESSMENT + "/h:component/h:causalityAssessment/h:subject1/h:adverseEffectReference/h:id")
    ref.set("root", next(r for r in reactions if r != ref.get("root")))
    assert [d.element for d in diff.compare(original, relinked)] == ["[causality]"]


def test_a_zone_in_hours_only_is_the_same_fact_as_its_full_spelling() -> None:
    """+09 and +0900 are one offset (the import reads +09 and the export writes +0900); +09 against +0930,
    or a date against a time, still differ."""
    from reporter.e2b import diff

    def doc(value: str) -> etree._Element:
        return etree.fromstring(f'<x xmlns="urn:hl7-org:v3"><effectiveTime value="{value}"/></x>')

    assert not diff.compare(doc("20120720100001+09"), doc("20120720100001+0900"))
    assert diff.compare(doc("20120720100001+09"), doc("20120720100001+0930"))
    assert diff.compare(doc("20120720+09"), doc("2012072000+09"))
