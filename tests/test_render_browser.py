"""A real headless Chromium (Debian's) loads each demo report: the plotted points, the ULN line and the
exposure bar sit where the data says, measured on the laid-out page; a screenshot is kept per case."""

from __future__ import annotations

import math

import pytest

from reporter.render.output import bundle_html, validation_report
from tests.render_support import ARTIFACTS, DEMOS, demo_bundle

# Everything measured in the browser, in screen pixels, per chart.
MEASURE = """
() => [...document.querySelectorAll('.chosen-scale svg.lab-chart')].map(svg => {
  const mid = el => { const r = el.getBoundingClientRect(); return [r.left + r.width / 2, r.top + r.height / 2]; };
  const tickPos = (cls, axis) => [...svg.querySelectorAll('g.tick.' + cls)].map(g => {
    const r = g.querySelector('line').getBoundingClientRect();
    return [parseFloat(g.dataset.value), axis === 'y' ? r.top + r.height / 2 : r.left + r.width / 2];
  });
  const uln = svg.querySelector('g.limit.uln');
  const bars = [...svg.querySelectorAll('g.exposure')].map(g => {
    const r = g.querySelector('rect.exposure-bar').getBoundingClientRect();
    return {start: g.dataset.start, end: g.dataset.end, left: r.left, right: r.right};
  });
  return {
    series: svg.dataset.series, unit: svg.dataset.unit, log: svg.dataset.yScale === 'log',
    yTicks: tickPos('y', 'y'), xTicks: tickPos('x', 'x'),
    points: [...svg.querySelectorAll('g.point')].map(g => ({
      x: parseFloat(g.dataset.x), value: parseFloat(g.dataset.value), at: mid(g.querySelector('circle'))})),
    uln: uln ? {value: parseFloat(uln.dataset.value), y: mid(uln.querySelector('line'))[1]} : null,
    bars,
  };
})
"""

TABLE = """
() => [...document.querySelectorAll('table.labs tbody tr:not(.lab-note)')].map(tr =>
  [...tr.children].map(td => td.innerText.replace(/\u00a0/g, ' ').trim()))
"""


def _map(ticks: list[list[float]], value: float, log: bool) -> float:
    (v0, p0), (v1, p1) = ticks[0], ticks[-1]
    f = math.log10 if log else (lambda v: v)
    return p0 + (f(value) - f(v0)) / (f(v1) - f(v0)) * (p1 - p0)


@pytest.mark.parametrize("path", DEMOS, ids=lambda p: p.stem)
def test_charts_match_the_data(browser, path, tmp_path) -> None:
    bundle = demo_bundle(path)
    page_file = tmp_path / f"{path.stem}.html"
    page_file.write_text(bundle_html(bundle, validation_report(bundle)), encoding="utf-8")
    page = browser.new_page(viewport={"width": 1100, "height": 900})
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(page_file.as_uri())
    charts = page.evaluate(MEASURE)
    table = page.evaluate(TABLE)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{path.stem}.png"), full_page=True)
    page.emulate_media(media="print")
    nav_hidden = page.evaluate("getComputedStyle(document.querySelector('nav.contents')).display") == "none"
    page.close()

    assert requests == [page_file.as_uri()], "the page must not load anything else"
    assert not errors
    assert nav_hidden
    assert charts, "each demo case has lab series over time"
    for chart in charts:
        # Every plotted point sits where its value and day put it on the drawn axes (within half a pixel).
        for point in chart["points"]:
            x, y = point["at"]
            assert abs(x - _map(chart["xTicks"], point["x"], False)) < 0.5, (chart["series"], point)
            assert abs(y - _map(chart["yTicks"], point["value"], chart["log"])) < 0.5, (chart["series"], point)
            # ...and the same value, with its unit, is in the lab table at that day.
            rows = [r for r in table if r[0].startswith(chart["series"] + " ") or r[0] == chart["series"]]
            wanted = f"{point['value']:g} {chart['unit']}"
            assert any(r[2] == wanted and f"day {point['x']:g} " in r[1] + " " for r in rows), (wanted, rows)
        if chart["uln"]:
            assert abs(chart["uln"]["y"] - _map(chart["yTicks"], chart["uln"]["value"], chart["log"])) < 0.5
        for bar in chart["bars"]:
            assert abs(bar["left"] - _map(chart["xTicks"], float(bar["start"]), False)) < 0.5
            if bar["end"] != "ongoing":
                assert abs(bar["right"] - _map(chart["xTicks"], float(bar["end"]), False)) < 0.5


def test_case1_alt_chart(browser, tmp_path) -> None:
    """The issue's acceptance check: 72 at day 0, 4065 at day 21, 47 at day 55, ULN 33 U/L, bar ends day 21."""
    case1 = next(p for p in DEMOS if p.name.startswith("case1"))
    page_file = tmp_path / "case1.html"
    page_file.write_text(bundle_html(demo_bundle(case1)), encoding="utf-8")
    page = browser.new_page(viewport={"width": 1100, "height": 900})
    page.goto(page_file.as_uri())
    alt = next(c for c in page.evaluate(MEASURE) if c["series"] == "ALT")
    chart = page.locator(".chosen-scale svg.lab-chart[data-series='ALT']")
    chart.screenshot(path=str(ARTIFACTS / "case1-alt-chart.png"))
    page.close()
    assert [(p["x"], p["value"]) for p in alt["points"]] == [(0, 72), (21, 4065), (55, 47)]
    assert alt["unit"] == "U/L" and alt["uln"]["value"] == 33
    assert [(b["start"], b["end"]) for b in alt["bars"]] == [("0", "21")]
    # The ULN line lies below every point on screen, and the day-21 point is the highest.
    ys = {p["x"]: p["at"][1] for p in alt["points"]}
    assert alt["uln"]["y"] > max(ys.values()) and ys[21] == min(ys.values())
