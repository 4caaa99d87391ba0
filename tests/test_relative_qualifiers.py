"""Published cases qualify their times ("within 20 minutes", "about 6 weeks", "3-4 days"): the case model holds
the qualifier, the range and the author's words; FHIR carries them (offset comparator, and a detail extension);
the report shows them as stated; E2B gets the nearest honest rendering (the number in G.k.9.i.3, the words in
G.k.11)."""

from __future__ import annotations

from pathlib import Path

import pytest
from lxml import etree

from reporter.casefile import model as m
from reporter.casefile.parse import load_case
from reporter.e2b import export
from reporter.e2b.write.common import describe_relative
from reporter.fhir.build import build_bundle
from reporter.fhir.read import Relative
from reporter.fhir.to_case import bundle_to_case
from reporter.render.output import bundle_html, validation_report
from reporter.validation import validate_bundle

EXAMPLES = Path(__file__).parents[1] / "examples"
NS = {"h": "urn:hl7-org:v3"}


def _case() -> m.CaseFile:
    case = load_case(sorted(EXAMPLES.glob("*.yaml"))[0])
    suspect = next(d for d in case.drugs if d.role == "suspect")
    case.reactions[0].onset = m.RelativeTime(value=20, unit="min", drug=suspect.id, qualifier="within",
                                             as_stated="within 20 minutes of the first infusion")
    for link in suspect.reactions:  # the relative onset, not a stated interval, gives G.k.9.i.3.1
        link.onset_after_first_dose = None
    case.reactions[-1].end = m.RelativeTime(value=3, high=4, unit="d", drug=suspect.id, anchor="last-dose",
                                            qualifier="about")
    return case


def test_qualifiers_and_ranges_survive_fhir() -> None:
    case = _case()
    bundle = build_bundle(case)
    assert not validate_bundle(bundle).errors
    assert bundle_to_case(bundle) == case
    event = next(e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "AdverseEvent")
    offset = next(s for s in event["_date"]["extension"][0]["extension"] if s["url"] == "offset")
    assert offset["valueDuration"]["comparator"] == "<="


def test_the_report_says_what_the_author_said() -> None:
    case = _case()
    bundle = build_bundle(case)
    page = bundle_html(bundle, validation_report(bundle), case).replace("\xa0", " ")  # units keep to numbers
    assert "within 20 minutes after" in page and "within 20 minutes of the first infusion" in page
    # a range reads in words, as the author wrote it ("3-4 days"), not as the UCUM code "3-4 d"
    assert "about 3-4 days after" in page and "3-4 d after" not in page


def test_e2b_gets_the_number_and_the_words(e2b_schema_dir: Path) -> None:
    case = _case()
    out = export.export_bundles([build_bundle(case)], schema_dir=e2b_schema_dir)
    assert out.check.xsd == "valid"
    root = etree.fromstring(out.xml)
    interval = root.xpath("//h:outboundRelationship1[@typeCode='SAS']/h:pauseQuantity", namespaces=NS)
    assert ("20", "min") in [(q.get("value"), q.get("unit")) for q in interval]
    g_k_11 = root.xpath("//h:observation[h:code/@code='2']/h:value/text()", namespaces=NS)
    assert any("within 20 minutes of the first infusion" in text for text in g_k_11), g_k_11


def test_a_range_that_runs_backwards_is_refused() -> None:
    with pytest.raises(ValueError, match="upper end"):
        m.RelativeTime(value=4, high=3, unit="d", drug="x")


@pytest.mark.parametrize(("onset", "said"), [
    # a qualifier without the author's words read 'within after the last dose'
    (m.RelativeTime(value=30, unit="min", drug="x", anchor="last-dose", qualifier="within"),
     "within 30 min after the last dose (G.k.9.i.3 gives 30 min)"),
    (m.RelativeTime(value=3, high=4, unit="d", drug="x", qualifier="about"),
     "about 3-4 d after the first dose (G.k.9.i.3 gives 3 d)"),
    # the author's words are quoted beside the interval, not run into 'after the first dose'
    (m.RelativeTime(value=6, unit="d", drug="x", as_stated="on the sixth day of daily dosing"),
     'after the first dose; the source: "on the sixth day of daily dosing" (G.k.9.i.3 gives 6 d)'),
])
def test_g_k_11_says_the_onset_as_a_sentence(onset, said, e2b_schema_dir: Path) -> None:
    case = _case()
    suspect = next(d for d in case.drugs if d.role == "suspect")
    case.reactions[0].onset = onset.model_copy(update={"drug": suspect.id})
    root = etree.fromstring(export.export_bundles([build_bundle(case)], schema_dir=e2b_schema_dir).xml)
    g_k_11 = " ".join(root.xpath("//h:observation[h:code/@code='2']/h:value/text()", namespaces=NS))
    assert said in g_k_11, g_k_11


@pytest.mark.parametrize(("relative", "said"), [
    # a test "at presentation", 4-5 weeks after an aloe vera preparation was started (WJG 2005;11:303): F.r.6
    (Relative(4, "wk", "#a", "first-dose", high=5), "4-5 weeks after the first dose of Aloe"),
    (Relative(-1, "d", "#a", "first-dose"), "1 day before the first dose of Aloe"),
    (Relative(-6, "a", "#a", "first-dose", qualifier="about"), "6 years before the first dose of Aloe (about)"),
    (Relative(21, "d", "#a", "first-dose"), "Day 21 after the first dose of Aloe"),
])
def test_e2b_text_of_a_relative_time_reads_as_written(relative: Relative, said: str) -> None:
    assert describe_relative(relative, "Aloe") == said
