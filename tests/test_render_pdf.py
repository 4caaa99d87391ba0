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


# -- hostile content: scripts, long words, text drawn in fallback fonts -------------------------------------

JA, ZH, KO = "重度の肝障害と黄疸", "严重肝损伤和瘙痒", "중증 간염 및 황달"
AR, HE = "التهاب الكبد الحاد بعد تناول الدواء", "דלקת כבד חריפה לאחר נטילת התרופה"
RU, EL, ACCENTS, EMOJI = "Тяжёлый гепатит", "Σοβαρή ηπατίτιδα", "Nguyê\u0303n Zoe\u0308", "😷💊👍🏽"


def _case1_data() -> dict:
    import yaml

    return yaml.safe_load(DEMOS[0].read_text(encoding="utf-8"))


def _pdf_of(data: dict) -> bytes:
    from reporter.casefile.model import CaseFile

    return render_pdf(case_view(build_bundle(CaseFile.model_validate(data))))


def _fonts(pdf: bytes, tmp_path) -> str:
    import shutil

    path = tmp_path / "fonts.pdf"
    path.write_bytes(pdf)
    return subprocess.run([shutil.which("pdffonts") or "pdffonts", str(path)], capture_output=True, text=True,
                          check=True, timeout=60).stdout


def _script_fonts_installed() -> None:
    """The Debian fonts .ci/run installs for CJK, Hangul and emoji; skips locally without them, fails under CI."""
    import os

    found = subprocess.run(["fc-list", ":charset=91cd 1f637"], capture_output=True, text=True).stdout  # 重 😷
    have = subprocess.run(["fc-list", ":charset=91cd"], capture_output=True, text=True).stdout
    emoji = subprocess.run(["fc-list", ":charset=1f637"], capture_output=True, text=True).stdout
    if not (have and emoji) and not found:
        if os.environ.get("CI"):
            pytest.fail("fonts-noto-cjk and fonts-noto-color-emoji are required under CI")
        pytest.skip("apt-get install fonts-noto-cjk fonts-noto-color-emoji")


def test_every_script_is_drawn_with_an_embedded_font(tmp_path) -> None:
    """CJK, Hangul, Arabic, Hebrew, Cyrillic, Greek, combining accents and emoji in the reaction, drug, history
    and sender: each character is in the text, and a font with its glyphs is embedded (no tofu boxes)."""
    import unicodedata

    _script_fonts_installed()
    data = _case1_data()
    data["reactions"][0]["verbatim"] = f"{JA} / {AR}"
    data["reactions"][1]["verbatim"] = f"{KO} {HE} {EMOJI}"
    data["drugs"][1]["product"] = f"{ZH} {ACCENTS}"
    data["patient"]["history_text"] = f"{RU} {EL}"
    pdf = _pdf_of(data)
    text = unicodedata.normalize("NFC", re.sub(r"\s+", "", pdf_text(pdf, tmp_path)))
    for words in (JA, ZH, KO, AR, HE, RU, EL, ACCENTS):
        assert unicodedata.normalize("NFC", re.sub(r"\s+", "", words)) in text, words
    assert all(ch in text for ch in "😷💊👍")
    fonts = _fonts(pdf, tmp_path)
    assert "CJK-JP" in fonts and "CJK-KR" in fonts and "Emoji" in fonts, fonts  # kanji, Hangul, emoji
    assert all(line.split()[-5] == "yes" for line in fonts.splitlines()[2:]), fonts  # every font embedded


def test_a_word_longer_than_its_box_breaks_instead_of_running_off(tmp_path) -> None:
    """A 250-character product name and a 260-character history word: every character is on a page, not
    clipped by the box or cut at the page's edge."""
    data = _case1_data()
    data["drugs"][0]["product"] = "Anakinra" + "Z" * 242
    data["patient"]["history_text"] = "W" * 260
    text = re.sub(r"\s+", "", pdf_text(_pdf_of(data), tmp_path))
    assert "Anakinra" + "Z" * 242 in text
    assert "W" * 260 in text


def test_text_in_fallback_fonts_is_cut_where_the_page_shows_it_clipped(tmp_path) -> None:
    """Box 24a (5 lines of 50 cells) with a Japanese name and an Arabic and Hebrew address: by characters it
    fits, but Hebrew drawn in a proportional font is wider than the monospace cells and kanji lines are taller,
    so its last line was clipped away. The laid-out page is checked and the box cut, its text continued."""
    data = _case1_data()
    data["sender"]["organization"] = f"株式会社サンプル製薬 {RU} {EL[:8]} 👍"
    data["sender"]["address"] = {"street": f"{AR} {HE}", "city": "Αθήνα", "country": "GR"}
    text = pdf_text(_pdf_of(data), tmp_path)
    assert "item 24a)" in text  # the marker (its words may sit beside box 24b's in the text)
    assert "safety@example.org" in text.split("Item 24a. Name and address of manufacturer")[1]


def test_box_lines_count_wide_characters_twice() -> None:
    """Kanji, kana, Hangul and emoji take two monospace cells, combining accents none."""
    from reporter.render.cioms import cells

    assert cells(JA) == 2 * len(JA) and cells("Nguyê\u0303n") == 6
    assert _lines_needed("重" * 30, 44) == 2 and _lines_needed("e\u0301" * 44, 44) == 1


def _pages(pdf: bytes, tmp_path) -> list[str]:
    path = tmp_path / "pages.pdf"
    path.write_bytes(pdf)
    out = subprocess.run([pdftotext_path(), "-layout", str(path), "-"], capture_output=True, text=True,
                         check=True, timeout=60).stdout
    return [re.sub(r"\s+", " ", page) for page in out.split("\f")]


def test_a_continued_box_names_the_page_its_text_is_on(tmp_path) -> None:
    """With a 7+13 text of several pages, box 14's continuation is not on page 2: the marker names its page."""
    data = _case1_data()
    data["narrative"]["text"] = "The liver enzymes rose steadily over the following weeks. " * 300
    data["drugs"] = [dict(data["drugs"][0], id=f"d{k}", product=f"Suspect product number {k}") for k in range(8)]
    for drug in data["drugs"]:
        drug["reactions"] = [{"reaction": "hepatitis"}]
    for test in data["tests"]:
        if "value" in test["date"]:
            test["date"]["drug"] = "d0"
    for reaction in data["reactions"]:
        reaction["onset"]["drug"] = "d0"
    for drug in data["drugs"]:
        drug["dosages"][0]["stop"]["drug"] = "d0"
    pages = _pages(_pdf_of(data), tmp_path)
    said = re.search(r"continued on page (\d+), item 14\)", pages[0])
    assert said, pages[0]
    page = int(said.group(1))
    assert page > 2 and "Item 14. Suspect drug(s)" in pages[page - 1], (page, [p[:80] for p in pages])


def test_text_without_spaces_is_cut_to_its_box_not_clipped(tmp_path) -> None:
    """A Japanese narrative has no spaces to cut at: the box is cut by characters, and the laid-out page has no
    box whose text runs past its bottom."""
    from reporter.casefile.model import CaseFile
    from reporter.render.output import layout_form, overflowing

    data = _case1_data()
    data["narrative"]["text"] = "重度の肝障害と黄疸が認められた。" * 200
    data["sender"]["address"] = {"street": "東京都千代田区丸の内一丁目" * 8, "country": "JP"}
    document = layout_form(case_view(build_bundle(CaseFile.model_validate(data))))
    assert overflowing(document) == {}
    path = tmp_path / "ja.pdf"
    path.write_bytes(document.write_pdf())
    text = re.sub(r"\s+", "", subprocess.run([pdftotext_path(), "-raw", str(path), "-"], capture_output=True,
                                              text=True, check=True, timeout=60).stdout)
    page1 = text.split("Page1of")[0]
    assert "(fictionalsender)東京都千代田区丸の内" in page1  # box 24a holds what fits, cut between characters
    # whole on the continuation page (a sentence may straddle its page break, with the footer in between)
    assert text.split("Item7+13.")[1].count("重度の肝障害と黄疸が認められた。") >= 198


def test_a_long_amendment_reason_keeps_the_form_on_one_page(tmp_path) -> None:
    """Box 25a's note with a 400-character amendment reason: cut and continued, not pushing the form's last
    row onto a page of its own."""
    data = _case1_data()
    reason = "Corrected onset date after the hospital record was received. " * 7
    data["report"]["nullification"] = {"kind": "amendment", "reason": reason.strip()}
    pages = _pages(_pdf_of(data), tmp_path)
    assert "item 25a)" in pages[0] and "FOLLOWUP" in pages[0]
    assert pages[1].strip().startswith("CIOMS FORM: CONTINUATION"), pages[1][:200]
    assert reason.strip() in " ".join(pages[1:])
