"""Hard content: non-ASCII, long narrative, partial dates, every null flavor kind, an unlinked reaction."""

from __future__ import annotations

from pathlib import Path

import pytest
from lxml import etree

from reporter.e2b.dates import to_ts
from reporter.e2b.export import export_bundles
from reporter.errors import E2BError
from reporter.inputs import load_bundle as load_input
from tests.conftest import GOLDEN, check_golden
from tests.e2b.helpers import FIXED_BATCH, FIXED_TIME

RICH = Path(__file__).parent / "data" / "rich-case.yaml"
NS = {"h": "urn:hl7-org:v3"}


@pytest.fixture(scope="module")
def rich() -> dict:
    return load_input(RICH)


@pytest.mark.parametrize("receiver", ["ich", "fda", "ema"])
def test_rich_case_valid_and_golden(rich, receiver, e2b_schema_dir, update_golden):
    result = export_bundles([rich], receiver_name=receiver, batch_id=FIXED_BATCH, creation_time=FIXED_TIME,
                            schema_dir=e2b_schema_dir)
    assert result.check.xsd == "valid", result.check.text()
    assert result.check.ok, result.check.text()
    check_golden(GOLDEN / "e2b" / f"rich-case.{receiver}.xml", result.xml.decode("utf-8"), update_golden)


def test_content_survives(rich):
    doc = etree.fromstring(export_bundles([rich], receiver_name="ich").xml)
    text = etree.tostring(doc, encoding="unicode")
    assert "Ångström-Núñez" in text and "患者は回復した" in text and "Ibuprofen-ratiopharm®" in text
    assert len(doc.xpath("string(//h:investigationEvent/h:text)", namespaces=NS)) > 90000
    assert doc.xpath("//h:player1/h:birthTime/@value", namespaces=NS) == ["20150311"]  # ICH: D.2.1 to the day
    assert doc.xpath("//h:observation[h:code/@code='29']/h:effectiveTime//h:low/@value", namespaces=NS)[0] == "202312"
    flavors = set(doc.xpath("//@nullFlavor", namespaces=NS))
    assert {"MSK", "ASKU", "NASK", "UNK", "NI", "NINF"} <= flavors
    rash = doc.xpath("//h:observation[h:code/@code='29'][h:value/@code='10037844']/h:id/@root", namespaces=NS)[0]
    assert not doc.xpath(f"//h:adverseEffectReference/h:id[@root='{rash}']", namespaces=NS)   # no suspect link


def test_narrative_over_limit_is_rejected(rich):
    import copy
    long = copy.deepcopy(rich)
    for section in long["entry"][0]["resource"]["section"]:
        if section["code"]["coding"][0]["code"] == "CaseSummaryNarrative":
            section["text"]["div"] = section["text"]["div"].replace("<p>", "<p>" + "x" * 20000, 1)
    result = export_bundles([long], receiver_name="ich")
    assert "E2B-LENGTH" in {i.code for i in result.check.issues}


@pytest.mark.parametrize(("fhir", "ts"), [("2023", "2023"), ("2023-04", "202304"), ("2023-04-05", "20230405"),
                                          ("2023-04-05T10:30:00+02:00", "20230405103000+0200"),
                                          ("2023-04-05T10:30:00Z", "20230405103000+0000"),
                                          ("2023-04-05T10:30Z", "202304051030+0000")])
def test_dates_keep_precision(fhir, ts):
    assert to_ts(fhir) == ts


def test_bad_date_is_an_e2b_error():
    with pytest.raises(E2BError):
        to_ts("05/04/2023")
