"""Situation terms (no adverse event, off-label use, lack of efficacy...): recognised by MedDRA code or term and
given no causality score; a causality the case states for them is kept and shown as received."""

from __future__ import annotations

import json
from typing import Any

import pytest
from click.testing import CliRunner

from reporter.assess.run import assess_case
from reporter.assess.situation import situation_of
from reporter.casefile.model import CaseFile, Reaction
from reporter.cli import main
from tests.assess.support import case_data
from tests.helpers import write_case


def reaction(**fields: Any) -> Reaction:
    return Reaction.model_validate({"id": "r", **fields})


def off_label_case() -> dict[str, Any]:
    """A rash (a reaction) and 'Off label use' (a situation) with the same suspect drug; the sender stated a
    WHO-UMC result for the situation too."""
    data = case_data(term="Rash")
    data["reactions"].append({"id": "offlabel", "verbatim": "Off label use"})
    data["drugs"][0]["reactions"].append({"reaction": "offlabel", "causality": [
        {"source": "Sender", "method": "WHO-UMC", "result": "Possible"}]})
    return data


def test_a_listed_code_is_a_situation_whatever_the_term_says() -> None:
    s = situation_of(reaction(verbatim="nothing happened", meddra={"code": "10067482", "version": "26.1"}))
    assert s is not None and s.kind == "no_harm" and s.matched_by == "MedDRA code 10067482"


@pytest.mark.parametrize(("fields", "kind"), [
    ({"meddra": {"code": "10000000", "version": "26.1", "term": "OFF LABEL USE"}}, "off_label"),
    ({"verbatim": "drug ineffective"}, "lack_of_effect"),
    ({"verbatim": "sem efeito", "translation": "Drug ineffective"}, "lack_of_effect"),
    ({"verbatim": " Accidental overdose "}, "overdose"),
    ({"verbatim": "Exposure during pregnancy"}, "exposure"),
    ({"verbatim": "Vaccine exposure during pregnancy"}, "exposure"),
    ({"verbatim": "Wrong drug administered"}, "medication_error"),
    # a toddler's clonidine ingestion (Asia Pac J Med Toxicol 2021); methotrexate daily instead of weekly
    ({"meddra": {"code": "10000000", "version": "26.1", "term": "Accidental exposure to product by child"}},
     "medication_error"),
    ({"verbatim": "Inappropriate schedule of product administration"}, "medication_error"),
    ({"verbatim": "Incorrect route of product administration"}, "medication_error"),
    # an intrathecal baclofen pump stopped by a programming error (BMC Clin Pharmacol 2004;4:6): the harm is the
    # withdrawal syndrome; the device issue was scored by Naranjo as if it were a reaction to baclofen
    ({"meddra": {"code": "10000000", "version": "26.1", "term": "Device programming error"}}, "product_issue"),
    ({"verbatim": "Device malfunction"}, "product_issue"),
])
def test_a_term_is_recognised_by_its_exact_name(fields: dict[str, Any], kind: str) -> None:
    s = situation_of(reaction(**fields))
    assert s is not None and s.kind == kind


@pytest.mark.parametrize("fields", [
    {"verbatim": "Rash"},
    {"verbatim": "overdose of paracetamol with liver failure"},  # not the term itself: a harm may be in it
    {"meddra": {"code": "10019717", "version": "26.1", "term": "Hepatitis"}},
])
def test_reactions_are_not_situations(fields: dict[str, Any]) -> None:
    assert situation_of(reaction(**fields)) is None


def test_an_llt_whose_pt_is_listed_is_a_situation_with_a_meddra_release(tmp_path, monkeypatch) -> None:
    """With a MedDRA release, an LLT of any name is placed by its PT (codes invented for the test)."""
    (tmp_path / "llt.asc").write_text("98000001$Used off label (test)$98000002$$$$$$$Y$\n", encoding="utf-8")
    (tmp_path / "pt.asc").write_text("98000002$Off label use$$90000001$\n", encoding="utf-8")
    r = reaction(meddra={"code": "98000001", "version": "26.1", "term": "Used off label (test)"})
    assert situation_of(r) is None
    monkeypatch.setenv("REPORTER_MEDDRA_DIR", str(tmp_path))
    s = situation_of(r)
    assert s is not None and s.kind == "off_label" and s.matched_by == "MedDRA PT 98000002 Off label use"


def test_only_the_reaction_is_scored() -> None:
    results = assess_case(CaseFile.model_validate(off_label_case()))
    rash, off_label = results
    assert [a.method for a in rash.assessments] == ["naranjo", "who-umc"] and rash.situation is None
    assert off_label.assessments == ()
    assert off_label.not_assessed == ("not assessed: 'Off label use' is a situation (off-label use), not an "
                                      "adverse reaction; assess the reactions reported with it (Rash)")


def test_rucam_asked_for_by_name_scores_no_situation() -> None:
    results = assess_case(CaseFile.model_validate(off_label_case()), ["rucam"])
    assert [len(r.assessments) for r in results] == [1, 0]


def test_cli_text_says_why_and_keeps_the_stated_result(tmp_path) -> None:
    result = CliRunner().invoke(main, ["assess", str(write_case(tmp_path, off_label_case()))])
    assert result.exit_code == 0, result.output
    block = result.output.split("Drugex / Off label use\n")[1]
    assert block.startswith("Not assessed: 'Off label use' is a situation (off-label use), not an adverse "
                            "reaction; assess the reactions reported with it (Rash).\n")
    assert "Sender stated WHO-UMC 'Possible': kept as received" in block
    assert "Naranjo" not in block and "Time to onset" not in block
    assert result.output.count("Naranjo ADR probability scale:") == 1  # the rash's


def test_cli_json_names_the_situation(tmp_path) -> None:
    result = CliRunner().invoke(main, ["assess", str(write_case(tmp_path, off_label_case())), "--format", "json"])
    pairs = json.loads(result.output)["pairs"]
    assert pairs[0]["situation"] is None and pairs[0]["not_assessed"] is None
    assert pairs[1]["assessments"] == []
    assert pairs[1]["situation"] == {"term": "Off label use", "kind": "off_label",
                                     "kind_label": "a situation (off-label use)",
                                     "matched_by": "term 'Off label use'"}
    assert pairs[1]["stated"] == ["Sender stated WHO-UMC 'Possible': kept as received"]


def test_lack_of_efficacy_is_named_and_a_lone_situation_has_nothing_to_assess(tmp_path) -> None:
    data = case_data(term="Drug ineffective")
    result = CliRunner().invoke(main, ["assess", str(write_case(tmp_path, data))])
    assert result.exit_code == 0
    assert ("Not assessed: 'Drug ineffective' is a lack of efficacy (the drug did not work as intended), not an "
            "adverse reaction; the case reports no reaction with it to assess.") in result.output


def test_report_says_why_a_situation_has_no_computed_score(tmp_path) -> None:
    from reporter.casefile import load_case
    from reporter.fhir.build import build_bundle
    from reporter.render.output import bundle_html

    case = load_case(write_case(tmp_path, off_label_case()))
    html = bundle_html(build_bundle(case), None, case)
    computed = html.split("Computed from the case (Naranjo, WHO-UMC, RUCAM)")[1]
    rash, off_label = computed.split("<h4>")[1:3]
    assert "Naranjo ADR probability scale" in rash
    assert ('<p class="not-assessed">Not assessed: &#39;Off label use&#39; is a situation (off-label use), not an '
            "adverse reaction; assess the reactions reported with it (Rash).</p>") in off_label
    assert "Naranjo" not in off_label.split("</div>")[0]
    assert "Sender stated WHO-UMC &#39;Possible&#39;: kept as received" in off_label


def test_cioms_says_why_instead_of_an_empty_computed_line(tmp_path) -> None:
    from reporter.casefile import load_case
    from reporter.fhir.build import build_bundle
    from reporter.render.cioms import describe_causality
    from reporter.render.view import case_view

    case = load_case(write_case(tmp_path, off_label_case()))
    lines = describe_causality(case_view(build_bundle(case), None, case))
    assert "Drugex / Off label use: Sender, WHO-UMC: Possible." in lines  # as received
    assert ("Drugex / Off label use: Not assessed: 'Off label use' is a situation (off-label use), not an adverse "
            "reaction; assess the reactions reported with it (Rash).") in lines
    assert not any("Off label use (computed from the case)" in line for line in lines)


def test_report_reactions_table_marks_the_situation_term(tmp_path) -> None:
    from reporter.casefile import load_case
    from reporter.fhir.build import build_bundle
    from reporter.render.output import bundle_html

    html = bundle_html(build_bundle(load_case(write_case(tmp_path, off_label_case()))))
    rows = html.split('<section id="reactions"')[1].split("</section>")[0].split("<tr id=")[1:]
    assert len(rows) == 2 and "situation" not in rows[0]  # the rash
    assert '<span class="extra situation">A situation (off-label use), not an adverse reaction</span>' in rows[1]


def test_a_stated_causality_of_a_situation_term_goes_through_e2b_as_received(e2b_schema_dir) -> None:
    """Not scoring a situation term changes nothing in what the case states for it: G.k.9.i.2.r is exported and
    imported back as the sender gave it."""
    from reporter.e2b import export, importer, xmlsafe
    from reporter.fhir.build import build_bundle
    from reporter.fhir.to_case import bundle_to_case
    from tests.helpers import load_example

    data = load_example()
    data["reactions"].append({"id": "noae", "verbatim": "No adverse event",
                              "meddra": {"code": "10067482", "version": data["reactions"][0]["meddra"]["version"]}})
    stated = {"source": "Sender", "method": "Global introspection", "result": "Not applicable"}
    data["drugs"][0]["reactions"].append({"reaction": "noae", "causality": [stated]})
    xml = export.export_bundles([build_bundle(CaseFile.model_validate(data))], schema_dir=e2b_schema_dir).xml
    [report] = importer.import_loaded(xmlsafe.parse_bytes(xml, "t.xml")).reports
    back = bundle_to_case(report.bundle)
    noae = next(r for r in back.reactions if r.meddra and r.meddra.code == "10067482")
    link = next(x for x in back.drugs[0].reactions if x.reaction == noae.id)
    assert [c.model_dump(exclude_none=True, exclude_defaults=True) for c in link.causality] == [stated]
    assert situation_of(noae) is not None


def test_a_bundle_s_odd_values_are_not_a_situation_and_do_not_break_validation() -> None:
    """The plausibility layer reads the term from any Bundle: a number where the code or the text should be is
    no situation (and no crash)."""
    from reporter.assess.situation import situation_for
    from reporter.fhir.build import build_bundle
    from reporter.validation import validate_bundle

    assert situation_for(10067482, [None, 5, ["No adverse event"]]) is None
    bundle = build_bundle(CaseFile.model_validate(off_label_case()))
    for entry in bundle["entry"]:
        resource = entry["resource"]
        if resource["resourceType"] == "AdverseEvent":
            resource["event"] = {"coding": [{"system": "https://www.meddra.org", "code": 10067482, "display": 7}],
                                 "text": 3}
    report = validate_bundle(bundle)
    assert not [i for i in report.issues if i.code == "PLAUS-NO-HARM-SERIOUS"]
