"""Edits of imported cases export exactly the edited facts and no stale one.

Each received file is imported, read back into a case file (directly from the Bundle), edited as a user
would (sex, an outcome, a seriousness criterion, a drug's name and product code, a reaction deleted, a
reaction and a drug added), and exported again. The export is read with plain XPath written here, not with
the project's element table, and must state each new fact, none of the old ones, pass the XSD and raise no
receiver rule error.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from lxml import etree

from reporter.casefile import model as m
from reporter.e2b import export, importer
from reporter.fhir.build import build_bundle
from reporter.fhir.to_case import bundle_to_case
from tests.conftest import shared_path

NS = {"h": "urn:hl7-org:v3", "xsi": "http://www.w3.org/2001/XMLSchema-instance"}
INPUTS = Path(__file__).parent / "inputs"
PATIENT = "//h:adverseEventAssessment/h:subject1/h:primaryRole"
REACTIONS = f"{PATIENT}/h:subjectOf2/h:observation[h:code/@code='29']"
DRUGS = f"{PATIENT}/h:subjectOf2/h:organizer[h:code/@code='4']/h:component/h:substanceAdministration"


def _sources() -> list[Path]:
    shared = shared_path() / "e2b" / "examples" / "fda-faers-2022"
    return [*sorted(shared.glob("*.xml")), *sorted(INPUTS.glob("*.xml"))]


def _imported(path: Path) -> tuple[m.CaseFile, str]:
    result = importer.import_file(path)
    report = result.reports[0]
    assert report.bundle is not None, report.problems
    return bundle_to_case(report.bundle), export.bundle_receiver(report.bundle) or "ich"


def _export(case: m.CaseFile, receiver: str, schema: Path) -> etree._Element:
    out = export.export_bundles([build_bundle(case)], receiver_name=receiver, schema_dir=schema)
    assert out.check.xsd == "valid", [i.message for i in out.check.issues if i.layer == "xsd"][:3]
    # the batch and message header carries the ids the case was received with (its routing): a hand-written
    # VAERS input names CBER_VAERS as N.1.4, which FDA's rules refuse in the imported Bundle's own export too
    errors = [i for i in out.check.errors if not (i.location or "").startswith("N.")]
    assert not errors, [(i.location, i.message) for i in errors][:5]
    return etree.fromstring(out.xml)


@pytest.fixture
def schema(e2b_schema_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("REPORTER_E2B_SCHEMA_DIR", str(e2b_schema_dir))
    return e2b_schema_dir


@pytest.mark.parametrize("path", _sources(), ids=lambda p: p.name)
def test_edited_imported_case_exports_exactly_the_edits(path: Path, schema: Path, shared_dir: Path) -> None:
    case, receiver = _imported(path)
    assert case.patient is not None and case.reactions and case.drugs
    old_sex = case.patient.sex
    new_sex = "male" if old_sex == "female" else "female"
    case.patient.sex = new_sex

    first = case.reactions[0]
    first.outcome = "recovered-with-sequelae" if first.outcome != "recovered-with-sequelae" else "recovering"
    first.seriousness.hospitalisation = True

    suspect = case.drugs[0]
    old_name = suspect.product
    old_codes = [i.code for i in suspect.identifiers]
    suspect.product = "Renamedumab 40 mg"
    suspect.identifiers = [m.ProductId(kind="product-code", code="99999-0001-01", system="2.16.840.1.113883.6.69")]

    dropped = None
    if len(case.reactions) > 1:  # delete the last reaction, with every link to it
        dropped = case.reactions.pop()
        for drug in case.drugs:
            drug.reactions = [link for link in drug.reactions if link.reaction != dropped.id]
    case.reactions.append(m.Reaction(id="added-rash", verbatim="Rash maculopapular",
                                     meddra=m.MedDRA(code="10037868", version=_meddra_version(case)),
                                     outcome="recovering"))
    case.drugs.append(m.Drug(id="added-drug", role="concomitant", product="Paracetamol 500 mg tablets"))

    doc = _export(case, receiver, schema)
    gender = doc.xpath(f"{PATIENT}/h:player1/h:administrativeGenderCode", namespaces=NS)
    assert [g.get("code") for g in gender] == [{"male": "1", "female": "2"}[new_sex]]
    assert gender[0].get("displayName") in (None, {"male": "Male", "female": "Female"}[new_sex])

    reaction = doc.xpath(REACTIONS, namespaces=NS)[0]
    outcome = reaction.xpath("h:outboundRelationship2/h:observation[h:code/@code='27']/h:value", namespaces=NS)
    assert [o.get("code") for o in outcome] == [{"recovered-with-sequelae": "4", "recovering": "2"}[first.outcome]]
    hospital = reaction.xpath("h:outboundRelationship2/h:observation[h:code/@code='33']/h:value", namespaces=NS)
    assert [(v.get("value"), v.get("nullFlavor")) for v in hospital] == [("true", None)]

    names = doc.xpath(f"{DRUGS}/h:consumable/h:instanceOfKind/h:kindOfProduct/h:name/text()", namespaces=NS)
    assert "Renamedumab 40 mg" in names and "Paracetamol 500 mg tablets" in names
    assert old_name not in names or sum(d.product == old_name for d in case.drugs) > 0
    renamed = next(d for d in doc.xpath(DRUGS, namespaces=NS)
                   if d.xpath("h:consumable/h:instanceOfKind/h:kindOfProduct/h:name/text()", namespaces=NS)
                   == ["Renamedumab 40 mg"])
    codes = renamed.xpath("h:consumable/h:instanceOfKind/h:kindOfProduct/h:code/@code", namespaces=NS)
    assert codes == ["99999-0001-01"]
    all_codes = doc.xpath(f"{DRUGS}/h:consumable/h:instanceOfKind/h:kindOfProduct/h:code/@code", namespaces=NS)
    for old in old_codes:
        assert old not in all_codes or any(old in [i.code for i in d.identifiers] for d in case.drugs[1:])

    terms = doc.xpath(f"{REACTIONS}/h:value/@code", namespaces=NS)
    assert "10037868" in terms
    assert len(doc.xpath(REACTIONS, namespaces=NS)) == len(case.reactions)
    if dropped is not None and dropped.meddra is not None:
        assert terms.count(dropped.meddra.code) == sum(r.meddra is not None and r.meddra.code == dropped.meddra.code
                                                       for r in case.reactions)


def _meddra_version(case: m.CaseFile) -> str:
    return next((r.meddra.version for r in case.reactions if r.meddra), "26.1")


def test_an_import_reads_back_into_the_case_without_e2b(shared_dir: Path) -> None:
    """The imported case holds the facts a FHIR client needs: death, parent, study, race, seriousness."""
    cases = {p.name: _imported(p)[0] for p in _sources()}
    ema = cases["ema-literature-study-parent-death.xml"]
    assert ema.patient and ema.patient.death and (ema.patient.death.date or ema.patient.death.reported_causes)
    assert ema.patient.parent is not None and ema.study is not None
    premarket = cases["FAERS2022Scenario4.xml"]  # an IND safety report: FDA.C.5.5a and FDA.C.5.6.r
    assert premarket.study and premarket.study.fda_ind == "012345" and premarket.study.fda_cross_reported_inds
    fda = cases["FAERS2022Scenario1.xml"]
    assert fda.patient and [r.code for r in fda.patient.race if isinstance(r, m.Coded)]
    assert fda.report.fda_report_type is not None
    criteria = [v for r in fda.reactions for v in r.seriousness.criteria().values()]
    assert any(isinstance(v, m.Absent) for v in criteria), "NI criteria are 'not known', not 'no'"
