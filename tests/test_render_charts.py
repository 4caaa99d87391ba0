"""SVG charts from plain data: what is drawn sits where the data says (checked on the SVG geometry)."""

from __future__ import annotations

import datetime as dt
import math

from lxml import etree

from reporter.render.charts import Chart, Exposure, Marker, Point, Series, fmt_num, linear_ticks, render_chart

SVG = "{http://www.w3.org/2000/svg}"


def case1_alt(**kw) -> Chart:
    series = Series("ALT", "U/L", (Point(0, 72), Point(21, 4065), Point(55, 47)), uln=33)
    return Chart(key="alt", series=series, x_label="Days after first anakinra dose",
                 exposures=(Exposure("Anakinra", 0, 21),), markers=(Marker("Onset", 21),), **kw)


def parse(chart: Chart) -> etree._Element:
    return etree.fromstring(str(render_chart(chart)).encode())


def axis(root: etree._Element, which: str) -> list[tuple[float, float]]:
    """(data value, pixel position) of each tick on one axis, read from the drawn tick lines."""
    ticks = []
    for g in root.iter(f"{SVG}g"):
        if g.get("class") == f"tick {which}":
            line = g.find(f"{SVG}line")
            pos = float(line.get("y1") if which == "y" else line.get("x1"))
            ticks.append((float(g.get("data-value")), pos))
    return ticks


def interpolate(ticks: list[tuple[float, float]], value: float, log: bool) -> float:
    (v0, p0), (v1, p1) = ticks[0], ticks[-1]
    f = (lambda v: math.log10(v)) if log else (lambda v: v)
    return p0 + (f(value) - f(v0)) / (f(v1) - f(v0)) * (p1 - p0)


def test_points_limits_and_exposure_sit_on_the_axes() -> None:
    root = parse(case1_alt())
    log = root.get("data-y-scale") == "log"
    assert log  # 4065 against 33: a linear axis would flatten the ULN onto the x axis
    ys, xs = axis(root, "y"), axis(root, "x")
    points = [g for g in root.iter(f"{SVG}g") if (g.get("class") or "").startswith("point")]
    plotted = [(g.get("data-x"), g.get("data-value")) for g in points]
    assert plotted == [("0", "72"), ("21", "4065"), ("55", "47")]
    for g in points:
        circle = g.find(f"{SVG}circle")
        assert abs(float(circle.get("cx")) - interpolate(xs, float(g.get("data-x")), False)) < 0.05
        assert abs(float(circle.get("cy")) - interpolate(ys, float(g.get("data-value")), True)) < 0.05
    uln = next(g for g in root.iter(f"{SVG}g") if g.get("class") == "limit uln")
    assert uln.get("data-value") == "33"
    assert abs(float(uln.find(f"{SVG}line").get("y1")) - interpolate(ys, 33, True)) < 0.05
    exposure = next(g for g in root.iter(f"{SVG}g") if g.get("class") == "exposure")
    assert (exposure.get("data-start"), exposure.get("data-end")) == ("0", "21")
    bar = next(r for r in exposure if r.get("class") == "exposure-bar")
    right = float(bar.get("x")) + float(bar.get("width"))
    assert abs(right - interpolate(xs, 21, False)) < 0.05
    assert "U/L" in root.findtext(f"{SVG}title") and "ULN" not in root.findtext(f"{SVG}title")
    assert "Upper limit of normal 33 U/L" in root.findtext(f"{SVG}desc")


def test_linear_scale_when_values_are_close() -> None:
    series = Series("Total bilirubin", "mg/dL", (Point(21, 2.7), Point(55, 1.37)), uln=1.2)
    root = parse(Chart(key="tb", series=series, x_label="Days"))
    assert root.get("data-y-scale") == "linear"
    assert axis(root, "y")[0][0] == 0


def test_open_ended_exposure_and_censored_point() -> None:
    series = Series("ALT", "U/L", (Point(3, 500, ">"),), uln=33)
    root = parse(Chart(key="alt", series=series, x_label="Days", exposures=(Exposure("X", 0, None),)))
    exposure = next(g for g in root.iter(f"{SVG}g") if g.get("class") == "exposure")
    assert exposure.get("data-end") == "ongoing"
    point = next(g for g in root.iter(f"{SVG}g") if g.get("class") == "point censored")
    assert point.findtext(f"{SVG}text") == ">500"


def test_labels_are_escaped() -> None:
    series = Series("A<b>&", "U/L", (Point(0, 1),))
    text = str(render_chart(Chart(key="x\"y", series=series, x_label="<script>",
                                  markers=(Marker("</svg>", 0),))))
    assert "<script>" not in text and "</svg>" not in text[:-6]
    etree.fromstring(text.encode())  # still well-formed


def test_date_axis_and_empty_series_do_not_crash() -> None:
    series = Series("ALT", "U/L", ())
    root = parse(Chart(key="alt", series=series, x_label="Date", origin=dt.date(2023, 4, 1)))
    assert root.get("data-x-axis") == "date"
    labels = [g.findtext(f"{SVG}text") for g in root.iter(f"{SVG}g") if g.get("class") == "tick x"]
    assert labels[0].startswith("2023-")


def test_number_formatting_and_ticks() -> None:
    assert [fmt_num(v) for v in (72.0, 0.5, 1.25, 2.7, -0.0)] == ["72", "0.5", "1.25", "2.7", "0"]
    assert linear_ticks(0, 55) == [0, 10, 20, 30, 40, 50, 60]


def test_log_axis_with_a_zero_lower_limit() -> None:
    """A lab's reference range usually starts at 0: the log axis leaves LLN 0 out instead of failing."""
    series = Series("ALT", "U/L", (Point(0, 32), Point(21, 4065)), uln=40, lln=0)
    root = parse(Chart(key="alt", series=series, x_label="Days"))
    assert root.find(".//{*}g[@class='limit uln']") is not None
    assert root.find(".//{*}g[@class='limit lln']") is None


def test_a_limit_label_wider_than_the_margin_puts_its_unit_on_a_line_of_its_own() -> None:
    """'ULN 7.8 mmol/L' ran past the SVG's right edge and lost its last letter (seen in Chromium); a label that
    does not fit the right margin now gives its unit a second line, and every line stays inside the drawing."""
    from reporter.render.charts import CHAR_W, WIDTH

    series = Series("Glucose", "mmol/L", (Point(0, 2.1), Point(1, 5.0)), uln=7.8, lln=3.9)
    root = parse(Chart(key="glucose", series=series, x_label="Days after first gliclazide dose"))
    for kind in ("uln", "lln"):
        text = next(g for g in root.iter(f"{SVG}g") if g.get("class") == f"limit {kind}").find(f"{SVG}text")
        lines = [text.text] + [span.text for span in text.findall(f"{SVG}tspan")]
        assert lines == [f"{kind.upper()} {'7.8' if kind == 'uln' else '3.9'}", "mmol/L"]
        assert all(float(text.get("x")) + len(line) * CHAR_W <= WIDTH for line in lines)
    short = parse(case1_alt())
    uln = next(g for g in short.iter(f"{SVG}g") if g.get("class") == "limit uln").find(f"{SVG}text")
    assert uln.text == "ULN 33 U/L" and not uln.findall(f"{SVG}tspan")  # one that fits stays on one line
