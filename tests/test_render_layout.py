"""The report page laid out by a real headless Chromium at 1280 and 390 px: the lab table never wider than
its section (a long biopsy text wraps in its own row), nothing wider than a phone, charts for dated,
relative-time-only and date-only cases, chart labels that never overlap, one y scale per case with its
reason and a script-free toggle, clinician units, comparators as written, the abnormal baseline pointed out.
Screenshots of each case at both widths go to tests/_artifacts/."""

from __future__ import annotations

import pytest

from reporter.render.output import bundle_html
from tests.render_support import ARTIFACTS, DEMOS, demo_bundle, issue_bundle

VARIANTS = ("dated", "relative", "dates-only")

GEOMETRY = """
() => {
  const box = el => el.getBoundingClientRect();
  const labs = document.querySelector('table.labs');
  const cells = [...labs.querySelectorAll('tbody td, tbody th')].filter(c => box(c).width > 0);
  return {
    pageWidth: document.documentElement.scrollWidth,
    viewport: window.innerWidth,
    labsRight: box(labs).right, labsWidth: box(labs).width, labsScroll: labs.scrollWidth,
    sectionRight: box(document.querySelector('#labs')).right,
    cellsRight: Math.max(...cells.map(c => box(c).right)),
    cellsLeft: Math.min(...cells.map(c => box(c).left)),
    // units kept whole: each number-with-unit span lies on one line
    brokenUnits: [...document.querySelectorAll('.nw')].filter(s => s.getClientRects().length > 1)
      .map(s => s.textContent),
    units: document.querySelectorAll('.nw').length,
  };
}
"""

# Every label drawn in each visible chart, as screen boxes: value labels, limit labels, onset labels.
LABELS = """
() => [...document.querySelectorAll('svg.lab-chart')].filter(s => s.getBoundingClientRect().width > 0).map(svg => {
  const boxes = [...svg.querySelectorAll('text.value, g.limit text, g.marker text')].map(t => {
    const r = t.getBoundingClientRect();
    return {text: t.textContent, kind: t.classList.contains('value') ? 'value' : t.parentNode.getAttribute('class'),
            l: r.left, t: r.top, r: r.right, b: r.bottom};
  });
  const frame = svg.getBoundingClientRect();
  return {series: svg.dataset.series, scale: svg.dataset.yScale, axis: svg.dataset.xAxis, boxes,
          frame: {l: frame.left, r: frame.right},
          values: svg.querySelectorAll('g.point').length, labelled: svg.querySelectorAll('text.value').length};
})
"""


def _overlapping(boxes: list[dict]) -> list[tuple[str, str]]:
    out = []
    for i, a in enumerate(boxes):
        for b in boxes[i + 1:]:
            if a["l"] < b["r"] and b["l"] < a["r"] and a["t"] < b["b"] and b["t"] < a["b"]:
                out.append((f"{a['kind']} {a['text']}", f"{b['kind']} {b['text']}"))
    return out


def _open(browser, html: str, tmp_path, name: str, width: int):
    path = tmp_path / f"{name}.html"
    path.write_text(html, encoding="utf-8")
    page = browser.new_page(viewport={"width": width, "height": 900})
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    page.goto(path.as_uri())
    assert requests == [path.as_uri()], "the page loads nothing else"
    return page


def _check_labels(charts: list[dict]) -> None:
    for chart in charts:
        assert not _overlapping(chart["boxes"]), (chart["series"], _overlapping(chart["boxes"]))
        for b in chart["boxes"]:
            assert chart["frame"]["l"] - 0.5 <= b["l"] and b["r"] <= chart["frame"]["r"] + 0.5, (chart["series"], b)


@pytest.mark.parametrize("variant", VARIANTS)
def test_issue_case_reads_well_at_1280_and_390(browser, variant, tmp_path) -> None:
    html = bundle_html(issue_bundle(variant))
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for width in (1280, 390):
        page = _open(browser, html, tmp_path, f"{variant}-{width}", width)
        geometry = page.evaluate(GEOMETRY)
        charts = page.evaluate(LABELS)
        page.screenshot(path=str(ARTIFACTS / f"amoxiclav-{variant}-{width}.png"), full_page=True)
        page.close()
        assert geometry["pageWidth"] <= width, geometry  # no sideways scrolling, at 1280 or on a phone
        assert geometry["labsScroll"] <= geometry["labsWidth"] + 1, geometry  # the table holds its content
        assert geometry["labsRight"] <= geometry["sectionRight"] + 1, geometry
        assert geometry["cellsLeft"] >= 0 and geometry["cellsRight"] <= width, geometry
        assert geometry["units"] > 20 and geometry["brokenUnits"] == [], geometry["brokenUnits"]
        # Charts: ALT, ALP and total bilirubin, on a day axis or (no drug start to the day) a date axis.
        assert sorted(c["series"] for c in charts) == ["ALP", "ALT", "Total bilirubin"], charts
        assert {c["axis"] for c in charts} == {"date" if variant == "dates-only" else "day"}
        assert len({c["scale"] for c in charts}) == 1  # one scale kind per case
        assert all(c["labelled"] == c["values"] for c in charts if width == 1280), charts
        _check_labels(charts)


def test_issue_case_content(tmp_path, browser) -> None:
    html = bundle_html(issue_bundle("dated"))
    page = _open(browser, html, tmp_path, "content", 1280)
    text = page.evaluate("document.body.innerText").replace("\u00a0", " ")
    note = page.locator(".baseline-note").inner_text()
    flagged = page.locator("tr.baseline-abnormal th").all_inner_texts()
    scale = page.locator(".scale-note").inner_text()
    page.close()
    assert "67 years" in text and "67 a" not in text
    assert "875 mg every 12 hours" in text and "every 1 d" not in text and "20 mg daily" in text
    assert "<1.2 mg/dL" in text  # the comparator as given, not "≤"
    assert "< 41 U/L" in text and "≤" not in text.split("Lab results")[1].split("Liver injury")[0]
    assert "ALP 135 U/L" in note.replace("\u00a0", " ") and "above the upper limit" in note
    assert [t.split(" (")[0] for t in flagged] == ["ALP"]
    assert scale.startswith("Linear y scale for every chart")


def test_scale_toggle_without_scripts(browser, tmp_path) -> None:
    """Demo case 1 (ALT 72 to 4065 U/L) is drawn on a log scale with the reason; the linear view is one click."""
    case1 = next(p for p in DEMOS if p.name.startswith("case1"))
    page = _open(browser, bundle_html(demo_bundle(case1)), tmp_path, "case1", 1280)
    assert "<script" not in page.content()
    scale = page.locator(".scale-note").inner_text()
    before = page.evaluate(LABELS)
    page.locator("label[for=scale-other]").click()
    after = page.evaluate(LABELS)
    page.screenshot(path=str(ARTIFACTS / "case1-linear-toggle-1280.png"), full_page=True)
    page.close()
    assert "Logarithmic y scale for every chart: ALT spans" in scale
    assert {c["scale"] for c in before} == {"log"} and {c["scale"] for c in after} == {"linear"}
    assert len(before) == len(after) == 5
    _check_labels(before)
    _check_labels(after)


@pytest.mark.parametrize("path", DEMOS, ids=lambda p: p.stem)
def test_demo_pages_fit_a_phone_and_labels_never_overlap(browser, path, tmp_path) -> None:
    html = bundle_html(demo_bundle(path))
    for width in (1280, 390):
        page = _open(browser, html, tmp_path, f"{path.stem}-{width}", width)
        geometry = page.evaluate(GEOMETRY)
        charts = page.evaluate(LABELS)
        if width == 390:
            page.screenshot(path=str(ARTIFACTS / f"{path.stem}-390.png"), full_page=True)
        page.close()
        assert geometry["pageWidth"] <= width, geometry
        assert charts
        _check_labels(charts)


def test_crowded_chart_labels_never_overlap(browser, tmp_path) -> None:
    """A dense series (daily values, 14 points, some a hair apart) with the ULN among them and values at the
    right edge: every label drawn stays clear of the others and of the limit labels; those that cannot be
    placed are left out (the value stays in the table and the point's tooltip), never drawn on top."""
    from reporter.render.charts import Chart, Marker, Point, Series, render_chart

    values = [40, 42, 41, 45, 44, 43, 47, 46, 48, 49, 47, 48, 50, 49]
    series = Series("ALT", "U/L", tuple(Point(i, v) for i, v in enumerate(values)), uln=45, lln=40)
    chart = Chart(key="dense", series=series, x_label="Days", markers=(Marker("Onset: Hepatitis", 3),
                                                                       Marker("Onset: Jaundice", 4)))
    from reporter.paths import templates_dir

    css = (templates_dir() / "report.css").read_text(encoding="utf-8")
    html = f"<!DOCTYPE html><html><head><style>{css}</style></head><body>{render_chart(chart)}</body></html>"
    page = _open(browser, html, tmp_path, "dense", 800)
    charts = page.evaluate(LABELS)
    page.locator("svg.lab-chart").screenshot(path=str(ARTIFACTS / "chart-dense-labels.png"))
    page.close()
    _check_labels(charts)
    assert charts[0]["labelled"] >= 7  # most values still labelled


def test_long_words_and_the_computed_assessment_fit_a_phone_and_a_desktop(browser, tmp_path) -> None:
    """The report of a case file (with the computed Naranjo/WHO-UMC/RUCAM item tables) whose product name is
    250 characters without a space and whose history is one 260-character word, in Japanese and Arabic too:
    the words break at the edge and nothing is wider than the window, at 390 px or at 1280."""
    import yaml

    from reporter.casefile.model import CaseFile
    from reporter.fhir.build import build_bundle

    data = yaml.safe_load(DEMOS[0].read_text(encoding="utf-8"))
    data["drugs"][0]["product"] = "Anakinra" + "Z" * 242
    data["patient"]["history_text"] = "W" * 260
    data["reactions"][0]["verbatim"] = "重度の肝障害" * 20 + " التهاب الكبد الحاد"
    data["narrative"]["sender_comments"] = "See https://example.org/" + "segment/" * 40
    case = CaseFile.model_validate(data)
    html = bundle_html(build_bundle(case), case=case)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for width in (390, 1280):
        page = _open(browser, html, tmp_path, f"long-words-{width}", width)
        scroll = page.evaluate("document.documentElement.scrollWidth")
        history = page.locator(".history-text").bounding_box()
        page.screenshot(path=str(ARTIFACTS / f"long-words-{width}.png"), full_page=False)
        page.close()
        assert scroll <= width, (width, scroll)
        assert history and history["x"] + history["width"] <= width, history


def test_long_chart_labels_are_shortened_to_the_chart(browser, tmp_path) -> None:
    """An exposure bar named by a 250-character product and the onset marker of 30 reactions: each label ends
    inside the chart, cut with an ellipsis (the chart clipped them mid-letter before)."""
    from reporter.paths import templates_dir
    from reporter.render.charts import Chart, Exposure, Marker, Point, Series, render_chart

    series = Series("ALT", "U/L", tuple(Point(i * 5, 40 + i) for i in range(6)), uln=45)
    onset = "Onset: " + ", ".join(["Hepatitis"] * 30)
    chart = Chart(key="long", series=series, x_label="Days", exposures=(Exposure("X" * 250, 0, 20),),
                  markers=(Marker(onset, 10),))
    css = (templates_dir() / "report.css").read_text(encoding="utf-8")
    html = f"<!DOCTYPE html><html><head><style>{css}</style></head><body>{render_chart(chart)}</body></html>"
    page = _open(browser, html, tmp_path, "long-labels", 800)
    boxes = page.evaluate("""() => { const f = document.querySelector('svg.lab-chart').getBoundingClientRect();
      return [...document.querySelectorAll('svg.lab-chart text')].map(t => { const r = t.getBoundingClientRect();
        return {text: t.textContent, l: r.left - f.left, r: r.right - f.left, w: f.width}; }); }""")
    page.close()
    for b in boxes:
        assert b["l"] >= -0.5 and b["r"] <= b["w"] + 0.5, b
    assert any(b["text"].startswith("XXXX") and b["text"].endswith("…") for b in boxes)
    assert any(b["text"].startswith("Onset: Hepatitis") and b["text"].endswith("…") for b in boxes)
