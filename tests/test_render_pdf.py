"""The CIOMS I PDF: WeasyPrint renders it; pdftotext reads back every section, reaction, drug and lab value."""

from __future__ import annotations

import re
import subprocess

import pytest
from click.testing import CliRunner

from reporter.casefile.parse import load_case
from reporter.cli import main
from reporter.fhir.build import build_bundle
from reporter.render.charts import fmt_num
from reporter.render.cioms import BOX_SIZE, _lines_needed, build_form, fit
from reporter.render.output import bundle_pdf, render_pdf
from reporter.render.units import unit_text
from reporter.render.view import case_view
from tests.render_support import ARTIFACTS, DEMOS, demo_bundle, pdftotext_path

SECTIONS = ("I. REACTION INFORMATION", "II. SUSPECT DRUG(S) INFORMATION",
            "III. CONCOMITANT DRUG(S) AND HISTORY", "IV. MANUFACTURER INFORMATION")


def pdf_text(pdf: bytes, tmp_path) -> str:
    path = tmp_path / "form.pdf"
    path.write_bytes(pdf)
    out = subprocess.run([pdftotext_path(), "-layout", str(path), "-"], capture_output=True, text=True,
                         check=True, timeout=60)
    return re.sub(r"\s+", " ", out.stdout)


@pytest.mark.parametrize("path", DEMOS, ids=lambda p: p.stem)
def test_pdf_holds_every_reaction_drug_and_lab_value(path, tmp_path) -> None:
    bundle = demo_bundle(path)
    pdf = bundle_pdf(bundle)
    assert pdf.startswith(b"%PDF-")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / f"{path.stem}.pdf").write_bytes(pdf)
    text = pdf_text(pdf, tmp_path)
    for section in SECTIONS:
        assert section in text, section
    assert "SUSPECT ADVERSE REACTION REPORT" in text
    # 1a: where the reaction occurred; the demo cases give only the primary source's country.
    # By name: a person reads 'Portugal' where E2B holds PT.
    assert build_form(case_view(bundle)).country == "Portugal" and " Portugal " in text
    assert "London, United Kingdom" in build_form(case_view(bundle)).manufacturer.text  # box 24a said 'London, GB'
    case = load_case(path)  # the case file is the independent truth for what must appear
    for reaction in case.reactions:
        assert re.sub(r"\s+", " ", reaction.verbatim) in text, reaction.verbatim
    for drug in case.drugs:
        assert drug.product in text, drug.product
    for test in case.tests:
        if test.value is not None:
            wanted = f"{test.name} {fmt_num(test.value)} {unit_text(test.unit)}".strip()  # clinician units
            assert wanted in text, (test.name, test.value)


def test_overflow_goes_to_a_continuation_page(tmp_path) -> None:
    case = load_case(DEMOS[0])
    long = "Twenty-one days later the liver enzymes rose. " * 80
    case.narrative.text = long
    pdf = render_pdf(case_view(build_bundle(case)))
    text = pdf_text(pdf, tmp_path)
    assert "continued on page 2, item 7+13" in text
    assert "CIOMS FORM: CONTINUATION" in text
    # nothing lost (a sentence may straddle a page break, with the page's footer and header in between)
    assert text.count("Twenty-one days later") >= 80 and text.count("liver enzymes rose.") >= 80
    assert re.search(r"Page 2 of [2-9]", text)


def test_fit_cuts_at_words_and_keeps_the_whole_text() -> None:
    form = build_form(case_view(demo_bundle(DEMOS[0])))
    before = len(form.continuation)
    text = " ".join(f"word{i}" for i in range(400))
    box = fit("23", text, form)
    lines, width = BOX_SIZE["23"]
    assert box.continued and _lines_needed(box.text, width) <= lines
    assert box.text.split(" … ")[0] in text and form.continuation[before][2] == text
    assert not fit("23", "short history", form).continued


def test_partial_bundle_still_renders_a_form(tmp_path) -> None:
    text = pdf_text(render_pdf(case_view({"resourceType": "Bundle", "type": "document", "entry": []})), tmp_path)
    for section in SECTIONS:
        assert section in text
    assert "UNK" in text


def test_cli_render_pdf(tmp_path) -> None:
    out = tmp_path / "case.pdf"
    result = CliRunner().invoke(main, ["render", str(DEMOS[0]), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert out.read_bytes().startswith(b"%PDF-")


def test_pdf_of_an_invalid_case_carries_the_not_valid_banner(tmp_path) -> None:
    from reporter.render.output import validation_report

    bundle = demo_bundle(DEMOS[0])
    bundle["entry"] = [e for e in bundle["entry"] if e["resource"]["resourceType"] != "AdverseEvent"]
    text = pdf_text(bundle_pdf(bundle, validation_report(bundle)), tmp_path)
    assert "NOT VALID" in text and "no reaction" in text
