"""The HTML case report: golden pages for the demo cases, the view behind them, gaps for partial input."""

from __future__ import annotations

import json
import re

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reporter.casefile import load_case
from reporter.cli import main
from reporter.render.output import bundle_html, render_cioms_html, render_html, validation_report
from reporter.render.view import case_view
from tests.conftest import GOLDEN, check_golden
from tests.helpers import apply_damage, damage_strategy
from tests.render_support import DEMOS, demo_bundle, normalise_html

CASE1 = next(p for p in DEMOS if p.name.startswith("case1"))


@pytest.mark.parametrize("path", DEMOS, ids=lambda p: p.stem)
def test_golden_html(path, update_golden: bool) -> None:
    # Without the validation panel: the validator's wording is its own golden's business. With the case file,
    # so that the computed causality section (reporter/assess) is part of the golden page.
    html = bundle_html(demo_bundle(path), None, load_case(path))
    check_golden(GOLDEN / "html" / f"{path.stem}.html", normalise_html(html), update_golden)


def test_page_is_self_contained() -> None:
    html = bundle_html(demo_bundle(CASE1))
    assert "<script" not in html
    for needle in ("src=", "href=\"http", "@import", "url("):
        assert needle not in html, needle
    # AST, ALT, GGT, total bilirubin, LDH (the series with two or more days), each in both scales
    assert html.count('<div class="chosen-scale"><svg') == 5 and html.count('<div class="other-scale"><svg') == 5


def test_case1_view_alt_series_exposure_and_onset() -> None:
    view = case_view(demo_bundle(CASE1))
    alt = [(r.when.day, r.value.value, r.high) for r in view.labs if r.test.text == "ALT"]
    assert alt == [(0.0, 72.0, 33.0), (21.0, 4065.0, 33.0), (55.0, 47.0, 33.0)]
    peak = next(r for r in view.labs if r.test.text == "ALT" and r.value.value == 4065)
    assert peak.flag == "H" and round(peak.xuln, 1) == 123.2 and peak.grade == 4
    assert view.day_axis == "Days after first anakinra dose"
    svg = next(f.svg for f in view.figures if f.key.startswith("alt"))
    assert 'data-x="21" data-value="4065"' in svg
    assert 'class="limit uln" data-value="33"' in svg
    assert 'data-start="0" data-end="21"' in svg  # anakinra exposure, stopped on day 21
    assert 'class="marker" data-x="20"' in svg  # onset 20 days after the first dose
    assert view.header.serious is True
    assert [d.role for d in view.drugs].count("suspect") == 1
    assert any("Hy's law" in line for line in view.liver)


def test_units_are_never_dropped() -> None:
    html = re.sub(r"<span class=\"nw\">|</span>", "", bundle_html(demo_bundle(CASE1)))
    html = html.replace("\u00a0", " ").replace("&nbsp;", " ")
    for text in ("4065 U/L", "2.7 mg/dL", "2 mg/kg/day", "12 years", "&lt; 33 U/L", "ALT (U/L)", "5.98 mg/L FEU"):
        assert text in html, text


def test_autoescape_of_bundle_text() -> None:
    bundle = demo_bundle(CASE1)
    for entry in bundle["entry"]:
        if entry["resource"]["resourceType"] == "AdverseEvent":
            entry["resource"]["event"]["text"] = "<script>alert(1)</script>"
    html = bundle_html(bundle)
    assert "<script>alert(1)" not in html and "&lt;script&gt;alert(1)" in html


def test_validation_panel_lists_errors() -> None:
    bundle = demo_bundle(CASE1)
    bundle["entry"] = [e for e in bundle["entry"] if e["resource"]["resourceType"] != "Patient"]
    html = bundle_html(bundle, validation_report(bundle))
    panel = html[html.index('id="validation"'):]
    assert "error(s)" in panel and 'class="error"' in panel
    assert "the case has no patient" in html and "the Bundle has no Patient" not in html  # a reader's words


def test_empty_and_foreign_input_render_with_gaps() -> None:
    for bundle in ({}, {"resourceType": "Patient"}, {"resourceType": "Bundle", "entry": "nonsense"}):
        html = render_html(case_view(bundle))
        assert 'class="gaps"' in html and "Reactions (AdverseEvent)" in html
        assert "This case is incomplete." in html  # a reader's word, not 'This Bundle'
        assert "no reaction in the case" in html and "No lab results in the case" in html


BUNDLE1 = None


def _bundle1() -> dict:
    global BUNDLE1
    if BUNDLE1 is None:
        BUNDLE1 = demo_bundle(CASE1)
    return BUNDLE1


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_damaged_bundles_render(data) -> None:
    bundle = apply_damage(_bundle1(), data.draw(damage_strategy(_bundle1())))
    view = case_view(bundle)
    for html in (render_html(view), render_cioms_html(view)):
        assert html.startswith("<!DOCTYPE html>") and html.rstrip().endswith("</html>")


def test_cli_render_html_stdout_and_files(tmp_path) -> None:
    runner = CliRunner()
    result = runner.invoke(main, ["render", str(CASE1)])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("<!DOCTYPE html>") and "Case GB-EXAMPLEPHARMA-2023-000101" in result.output
    bundle_file = tmp_path / "bundle.json"
    bundle_file.write_text(json.dumps(demo_bundle(CASE1)))
    out = tmp_path / "report.html"
    result = runner.invoke(main, ["render", str(bundle_file), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "4065\u00a0U/L" in out.read_text()


def test_cli_render_errors(tmp_path) -> None:
    runner = CliRunner()
    result = runner.invoke(main, ["render", str(CASE1), "-o", str(tmp_path / "x.docx")])
    assert result.exit_code == 2 and "unknown output type .docx" in result.output
    bad = tmp_path / "bad.json"
    bad.write_text('{"resourceType": "Patient"}')
    result = runner.invoke(main, ["render", str(bad)])
    assert result.exit_code == 2 and "expected a case file or an ICSR Bundle" in result.output
    broken = tmp_path / "broken.yaml"
    broken.write_text("case_id: [unclosed\n")
    result = runner.invoke(main, ["render", str(broken)])
    assert result.exit_code == 2 and "invalid YAML" in result.output
    assert "Traceback" not in result.output


def _without_suspect(tmp_path) -> str:
    """Case 1 as a Bundle whose drugs are all concomitant: it fails the ICSR minimum criteria."""
    bundle = demo_bundle(CASE1)
    for entry in bundle["entry"]:
        resource = entry["resource"]
        for ext in resource.get("extension", []) if resource["resourceType"] == "MedicationStatement" else []:
            if ext["url"].endswith("drug-role"):
                ext["valueCoding"] = {**ext["valueCoding"], "code": "2", "display": "Concomitant"}
    path = tmp_path / "no-suspect.json"
    path.write_text(json.dumps(bundle))
    return str(path)


@pytest.mark.parametrize("extra", [[], ["--no-validate"]])
def test_cli_render_of_an_invalid_case_writes_a_not_valid_banner_and_exits_1(tmp_path, extra) -> None:
    out = tmp_path / "report.html"
    result = CliRunner().invoke(main, ["render", _without_suspect(tmp_path), "-o", str(out), *extra])
    assert result.exit_code == 1, result.output
    assert "NOT VALID" in result.output
    html = out.read_text()
    assert 'class="not-valid"' in html and "ICSR minimum criteria (no suspect drug)" in html
    assert ("no validation report was produced" in html) == bool(extra)


def test_valid_case_has_no_banner() -> None:
    html = bundle_html(demo_bundle(CASE1), validation_report(demo_bundle(CASE1)))
    assert 'class="not-valid"' not in html


def test_render_of_a_case_file_checks_it_as_validate_does(tmp_path) -> None:
    """A problem only a case file's own checks find (a parent's last menstrual period given as 'unknown', which
    E2B cannot carry there) makes `render` exit 1 with the banner, as `validate` reports it with the line."""
    import yaml

    data = yaml.safe_load(CASE1.read_text(encoding="utf-8"))
    data["patient"]["parent"] = {"identification": "CD", "sex": "female",
                                 "last_menstrual_period": {"absent": "unknown"}}
    path = tmp_path / "case.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    runner = CliRunner()
    validated = runner.invoke(main, ["validate", str(path)])
    assert validated.exit_code == 1 and "last_menstrual_period" in validated.output, validated.output
    rendered = runner.invoke(main, ["render", str(path), "-o", str(tmp_path / "case.html")])
    assert rendered.exit_code == 1 and "NOT VALID" in rendered.output
    assert "last_menstrual_period (line" in (tmp_path / "case.html").read_text(encoding="utf-8")


def test_reported_and_autopsy_causes_of_death_are_told_apart() -> None:
    from pathlib import Path

    from reporter.inputs import load_bundle

    rich = Path(__file__).parent / "e2b" / "data" / "rich-case.yaml"
    page = render_html(case_view(load_bundle(rich)))
    assert "reported cause Leberversagen" in page and "autopsy-determined cause Akutes Leberversagen" in page


def _reaction_without_words(bundle: dict, keep_code: bool) -> dict:
    """Case 1 with its first reaction stripped of its reported term and MedDRA display (the code kept or not)."""
    event = next(e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "AdverseEvent")
    event["event"].pop("text")
    coding = event["event"]["coding"][0]
    coding.pop("display")
    if not keep_code:
        event["event"] = {"extension": [{"url": "http://hl7.org/fhir/StructureDefinition/data-absent-reason",
                                         "valueCode": "unknown"}]}
    return bundle


@pytest.mark.parametrize("keep_code", [True, False])
def test_a_reaction_without_a_term_is_a_gap_not_a_python_repr(keep_code: bool) -> None:
    view = case_view(_reaction_without_words(demo_bundle(CASE1), keep_code))
    html = render_html(view)
    cioms = render_cioms_html(view)
    for page in (html, cioms):
        assert "Missing(" not in page and "reason=" not in page
    causality = html[html.index('id="causality"'):html.index('id="labs"')]
    assert ("MedDRA 10019717" in causality) if keep_code else ('<span class="gap">' in causality)
    svg = "".join(str(f.svg) for f in view.figures)
    assert "Missing(" not in svg and ("Onset: MedDRA 10019717" if keep_code else "term not stated") in svg


def test_a_report_without_an_id_has_a_plain_text_title() -> None:
    bundle = demo_bundle(CASE1)
    composition = next(e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Composition")
    composition.pop("identifier")
    html = render_html(case_view(bundle))
    assert "<title>Case report not stated</title>" in html


def _case1_with(**patient) -> dict:
    """Case 1 as case-file data with patient fields replaced."""
    import yaml

    data = yaml.safe_load(CASE1.read_text(encoding="utf-8"))
    data["patient"].update(patient)
    return data


def _bundle_of(data: dict) -> dict:
    from reporter.casefile.model import CaseFile
    from reporter.fhir.build import build_bundle

    return build_bundle(CaseFile.model_validate(data))


def test_death_and_past_drug_dates_read_like_every_other_date() -> None:
    data = _case1_with(death={"date": "2016-03-28", "autopsy": False},
                       past_drugs=[{"name": "Methotrexate", "start": "2015-01-14", "end": "2016-02"}])
    html = render_html(case_view(_bundle_of(data)))
    assert "date 28 Mar 2016" in html and "2016-03-28" not in html
    assert "Methotrexate from 14 Jan 2015 to Feb 2016" in html


def test_an_age_in_decades_reads_as_a_band_on_the_page_and_the_form() -> None:
    from reporter.render.cioms import build_form

    view = case_view(_bundle_of(_case1_with(age_at_onset={"value": 6, "unit": "{decade}"})))
    assert "<dt>Age at onset</dt><dd>60s</dd>" in render_html(view)
    assert build_form(view).age == "60s"


def test_x_uln_only_for_a_value_above_the_upper_limit() -> None:
    data = _case1_with()
    data["tests"].append({"name": "Platelets", "loinc": "777-3", "date": data["tests"][0]["date"], "value": 19,
                          "unit": "10*9/L", "low": 150, "high": 400})
    view = case_view(_bundle_of(data))
    platelets = next(r for r in view.labs if r.test.text == "Platelets")
    assert platelets.flag == "L" and platelets.above_uln is None
    peak = next(r for r in view.labs if r.test.text == "ALT" and r.value.value == 4065)
    assert round(peak.above_uln, 1) == 123.2
    html = normalise_html(render_html(view))
    row = html[html.index("Platelets"):]
    assert re.search(r'data-label="× ULN">\s*</td>', row[:row.index("</tr>")])
    assert 'data-label="× ULN">123×' in html


def test_a_value_in_an_equivalent_unit_is_charted_and_one_that_does_not_convert_is_named() -> None:
    data = _case1_with()
    days = [t["date"] for t in data["tests"] if t["name"] == "ALT"]
    for day, value, unit in zip(days, (18.5, 34.2, 52.7), ("mg/L", "mg/L", "ug/mL"), strict=True):
        data["tests"].append({"name": "Vancomycin trough", "loinc": "4092-3", "date": day, "value": value,
                              "unit": unit, "low": 15, "high": 20})
    data["tests"].append({"name": "Vancomycin trough", "loinc": "4092-3", "date": days[1], "value": 30,
                          "unit": "umol/L"})
    view = case_view(_bundle_of(data))
    figure = next(f for f in view.figures if f.key.startswith("vancomycin"))
    assert [v for v in re.findall(r'data-value="([\d.]+)"', str(figure.svg)) if v in ("18.5", "34.2", "52.7")] == [
        "18.5", "34.2", "52.7"]
    assert "52.7\u00a0µg/mL is charted as 52.7\u00a0mg/L." in figure.caption
    assert "Not charted: 30\u00a0µmol/L (the unit does not convert to mg/L; see the table)." in figure.caption


def test_a_mass_and_a_substance_concentration_of_one_analyte_share_its_chart() -> None:
    """Published cases give creatinine in mg/dL beside umol/L: converted through its molar mass (113.12 g/mol),
    so the recovery charted in umol/L is not left off the mg/dL chart as 'does not convert'."""
    data = _case1_with()
    days = [t["date"] for t in data["tests"] if t["name"] == "ALT"]
    for day, value, unit, loinc in zip(days, (1.1, 3.2, 97.0), ("mg/dL", "mg/dL", "umol/L"),
                                       ("2160-0", "2160-0", "14682-9"), strict=True):
        data["tests"].append({"name": "Creatinine", "loinc": loinc, "date": day, "value": value, "unit": unit})
    view = case_view(_bundle_of(data))
    figure = next(f for f in view.figures if f.key.startswith("creatinine"))
    assert "97\u00a0µmol/L is charted as 1.097\u00a0mg/dL." in figure.caption
    assert "Not charted" not in figure.caption


@pytest.mark.parametrize(("onset", "worked_out"), [
    ({"value": 3, "high": 5, "unit": "mo", "drug": "anakinra"}, "84 to 155 days"),
    ({"value": 1, "unit": "mo", "qualifier": "within", "drug": "anakinra"}, "0 to 31 days"),
    ({"value": 14, "unit": "wk", "qualifier": "at-least", "drug": "anakinra"}, "at least 98 days"),
])
def test_the_worked_out_onset_keeps_the_author_s_range_and_qualifier(onset, worked_out) -> None:
    """'3-5 months' read as 84-93 days, 'within 1 month' as 28-31 days and 'at least 14 weeks' as exactly 98 in
    the causality table, while the computed block beside it said what the author said."""
    data = _case1_with()
    data["reactions"][0]["onset"] = onset
    for drug in data["drugs"]:
        for link in drug.get("reactions", []):
            link.pop("onset_after_first_dose", None)
    view = case_view(_bundle_of(data))
    assessed = next(a for a in view.assessments if a.onset_worked_out)
    assert assessed.onset_worked_text == worked_out


def test_a_result_given_as_positive_with_its_titre_says_both() -> None:
    """Hydralazine-induced lupus (Cureus 2024;16(10):e72069): ANA positive, titre 1:1280. The report and the
    CIOMS form showed 'titre 1:1280' alone and dropped the coded result (F.r.3.1); a text that says it already
    is kept as it is."""
    data = _case1_with()
    data["tests"] = [
        {"name": "Antinuclear antibody", "date": {"absent": "unknown"}, "result": "positive",
         "result_text": "titre 1:1280"},
        {"name": "Anti-histone antibody", "date": {"absent": "unknown"}, "result": "positive",
         "result_text": "anti-histone antibodies positive"}]
    texts = [r.result_text for r in case_view(_bundle_of(data)).labs]
    assert texts == ["Positive: titre 1:1280", "anti-histone antibodies positive"]
