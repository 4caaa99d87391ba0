"""Server-side SVG charts of one lab series over time: the upper limit of normal as a line, the suspect
drug's exposure as a bar under the plot and shaded behind it, the reaction onset as a marker.

Plain data in, SVG text out: no JavaScript, legible in print. Plotted elements carry data attributes
(data-x, data-value on points; data-value on ticks and the ULN line; data-start/data-end on exposure
bars) so a browser test can check that what is drawn sits where the data says.
"""

from __future__ import annotations

import datetime as dt
import math
import unicodedata
from dataclasses import dataclass, field
from typing import Literal

from markupsafe import Markup, escape

Scale = Literal["auto", "linear", "log"]


@dataclass(frozen=True)
class Point:
    x: float
    value: float
    comparator: str | None = None  # "<", ">": drawn as an open circle


@dataclass(frozen=True)
class Series:
    name: str
    unit: str
    points: tuple[Point, ...]
    uln: float | None = None
    lln: float | None = None


@dataclass(frozen=True)
class Exposure:
    """A drug given from `start` to `end` (None: still given after the last point, drawn open-ended)."""

    label: str
    start: float
    end: float | None


@dataclass(frozen=True)
class Marker:
    label: str
    x: float


@dataclass(frozen=True)
class Chart:
    key: str
    series: Series
    x_label: str
    exposures: tuple[Exposure, ...] = ()
    markers: tuple[Marker, ...] = ()
    origin: dt.date | None = None  # when set, x counts days from this date and ticks show dates
    scale: Scale = "auto"
    not_plotted: int = 0  # values the table has but the axis cannot place (no day, no number)
    notes: tuple[str, ...] = field(default=())


# Layout, in SVG user units (the SVG scales to its container; print keeps the proportions).
WIDTH, HEIGHT = 640, 300
LEFT, RIGHT, TOP = 70, 90, 30
LANE = 18  # one exposure bar
MARKER_ROWS = 2  # rows of onset labels above the plot
AXIS_BELOW = 44  # tick labels and the x-axis title


CHAR_W, TEXT_H = 7.0, 12.0  # generous estimate of an 11px label's glyph advance and line height


def shorten(label: str, room: float) -> str:
    """A label cut with an ellipsis to the room it has (a 250-character product name, the onset of 30
    reactions): the chart clips what runs past its edge; the full text is in the tables and the tooltip."""
    used = 0.0
    for i, ch in enumerate(label):
        used += _advance(ch)
        if used > room:
            return label[:max(i - 1, 1)].rstrip() + "…"
    return label


def _advance(ch: str) -> float:
    """An 11px glyph's advance, at most: kanji and W or M are as wide as the font size, capitals a little
    wider than CHAR_W."""
    if unicodedata.east_asian_width(ch) in ("W", "F") or ch in "MWmw@%":
        return 11.0
    return 8.0 if ch.isupper() else CHAR_W

Box = tuple[float, float, float, float]  # x0, y0, x1, y1


def text_box(x: float, y: float, text: str, anchor: str) -> Box:
    """The box a label at baseline (x, y) covers, estimated from its length."""
    w = len(text) * CHAR_W
    x0 = x - w / 2 if anchor == "middle" else x - w if anchor == "end" else x
    return (x0, y - TEXT_H + 2, x0 + w, y + 3)


def lines_box(x: float, y: float, lines: list[str]) -> Box:
    """The box a label of several lines (the first at baseline y, each next one TEXT_H below) covers."""
    first = text_box(x, y, max(lines, key=len), "start")
    return (first[0], first[1], first[2], first[3] + TEXT_H * (len(lines) - 1))


def overlaps(a: Box, b: Box, gap: float = 1.0) -> bool:
    return a[0] < b[2] + gap and b[0] < a[2] + gap and a[1] < b[3] + gap and b[1] < a[3] + gap


def place_label(cx: float, cy: float, text: str, taken: list[Box], area: Box) -> tuple[float, float, str] | None:
    """Where a point's value label goes: above, below, right or left of the point (then further out), the
    first spot inside `area` that touches no box in `taken`; None when none is free (the value stays in the
    point's tooltip, the description and the table)."""
    for dist in (8, 16, 26):
        for lx, ly, anchor in ((cx, cy - dist, "middle"), (cx, cy + dist + 8, "middle"),
                               (cx + dist, cy + 4, "start"), (cx - dist, cy + 4, "end"),
                               (cx + dist, cy - dist, "start"), (cx - dist, cy - dist, "end"),
                               (cx + dist, cy + dist + 8, "start"), (cx - dist, cy + dist + 8, "end")):
            box = text_box(lx, ly, text, anchor)
            inside = area[0] <= box[0] and box[2] <= area[2] and area[1] <= box[1] and box[3] <= area[3]
            if inside and not any(overlaps(box, other) for other in taken):
                taken.append(box)
                return lx, ly, anchor
    return None


def fmt_num(value: float) -> str:
    """Numbers as a reader writes them: 72, 4065, 0.5, 1.25 (no trailing zeros, no exponent)."""
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    text = f"{value:.3f}".rstrip("0").rstrip(".")
    return text if text not in ("-0", "") else "0"


def nice_step(span: float, target: int = 6) -> float:
    if span <= 0:
        return 1.0
    raw = span / target
    power = 10 ** math.floor(math.log10(raw))
    for mult in (1, 2, 2.5, 5, 10):
        if raw <= mult * power:
            return mult * power
    return 10 * power


def linear_ticks(lo: float, hi: float, target: int = 6) -> list[float]:
    step = nice_step(hi - lo, target)
    start = math.floor(lo / step) * step
    ticks = []
    value = start
    while value <= hi + step * 1e-9:
        ticks.append(round(value, 10))
        value += step
    if ticks[-1] < hi:
        ticks.append(round(ticks[-1] + step, 10))
    return ticks


def log_ticks(lo: float, hi: float) -> list[float]:
    low_exp, high_exp = math.floor(math.log10(lo)), math.ceil(math.log10(hi))
    mults = (1, 2, 5) if high_exp - low_exp <= 4 else (1,)
    ticks = [m * 10**e for e in range(low_exp, high_exp + 1) for m in mults]
    first = max(t for t in ticks if t <= lo)
    last = min(t for t in ticks if t >= hi)
    return [float(t) for t in ticks if first <= t <= last]


LOG_RATIO = 30  # a series spanning this many-fold or more reads better on a log scale


def _span(series: Series) -> tuple[float, float] | None:
    values = [p.value for p in series.points] + [v for v in (series.uln, series.lln) if v]
    return (min(values), max(values)) if values and min(values) > 0 else None


def choose_scale(all_series: list[Series]) -> tuple[Scale, str]:
    """One y scale kind for every chart of a case, and the reason in words: log when some series spans
    LOG_RATIO-fold or more (values and limits), so the peak and the normal range are both readable."""
    widest = None
    for series in all_series:
        span = _span(series)
        if span and (widest is None or span[1] / span[0] > widest[1][1] / widest[1][0]):
            widest = (series, span)
    if widest and widest[1][1] / widest[1][0] >= LOG_RATIO:
        s, (lo, hi) = widest
        unit = f" {s.unit}" if s.unit else ""
        return "log", (f"Logarithmic y scale for every chart: {s.name} spans {fmt_num(lo)} to {fmt_num(hi)}{unit} "
                       f"({hi / lo:.0f}-fold), which a linear scale would flatten near the limit of normal.")
    return "linear", f"Linear y scale for every chart: no test spans {LOG_RATIO}-fold or more."


def _use_log(chart: Chart) -> bool:
    values = [p.value for p in chart.series.points] + [v for v in (chart.series.uln, chart.series.lln) if v]
    if chart.scale != "auto":
        return chart.scale == "log" and all(v > 0 for v in values)
    if not values or min(values) <= 0:
        return False
    return max(values) / min(values) >= 30


def _x_domain(chart: Chart) -> tuple[float, float]:
    xs = [p.x for p in chart.series.points] + [m.x for m in chart.markers]
    for exp in chart.exposures:
        xs.append(exp.start)
        if exp.end is not None:
            xs.append(exp.end)
    if not xs:
        return 0.0, 1.0
    lo, hi = min(xs), max(xs)
    if hi - lo < 1:
        lo, hi = lo - 1, hi + 1
    return lo, hi


def x_tick_label(chart: Chart, x: float) -> str:
    if chart.origin is not None:
        return (chart.origin + dt.timedelta(days=round(x))).isoformat()
    return fmt_num(x)


def render_chart(chart: Chart) -> Markup:
    """The chart as an inline <svg> element."""
    series = chart.series
    log = _use_log(chart)
    lanes = len(chart.exposures)
    plot_bottom = HEIGHT - AXIS_BELOW - lanes * LANE - (8 if lanes else 0)
    plot_left, plot_right = LEFT, WIDTH - RIGHT
    plot_top = TOP + (TEXT_H + 4 if len(chart.markers) > 1 else 0)

    x_lo, x_hi = _x_domain(chart)
    x_ticks = linear_ticks(x_lo, x_hi, 7 if chart.origin is None else 4)
    x_lo, x_hi = x_ticks[0], x_ticks[-1]

    values = [p.value for p in series.points] + [v for v in (series.uln, series.lln)
                                                  if v is not None and not (log and v <= 0)]  # LLN 0 on a log axis
    if log:
        y_ticks = log_ticks(min(values), max(values) * 1.1)
    else:
        y_ticks = linear_ticks(0.0, max(values) * 1.05 if values and max(values) > 0 else 1.0, 5)
    y_lo, y_hi = y_ticks[0], y_ticks[-1]

    def sx(x: float) -> float:
        return plot_left + (x - x_lo) / (x_hi - x_lo) * (plot_right - plot_left)

    def sy(v: float) -> float:
        if log:
            frac = (math.log10(v) - math.log10(y_lo)) / (math.log10(y_hi) - math.log10(y_lo))
        else:
            frac = (v - y_lo) / (y_hi - y_lo)
        return plot_bottom - frac * (plot_bottom - plot_top)

    def n(value: float) -> str:
        return f"{value:.2f}".rstrip("0").rstrip(".")

    unit = escape(series.unit)
    name = escape(series.name)
    ident = f"chart-{escape(chart.key)}"
    out: list[str] = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="lab-chart" id="{ident}" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" font-size="11" font-family="DejaVu Sans, Arial, sans-serif" '
        f'width="{WIDTH}" height="{HEIGHT}" role="img" aria-labelledby="{ident}-title {ident}-desc" '
        f'data-series="{name}" data-unit="{unit}" data-y-scale="{"log" if log else "linear"}" '
        f'data-x-axis="{"date" if chart.origin else "day"}">',
        f'<title id="{ident}-title">{name} ({unit}) over time</title>',
        f'<desc id="{ident}-desc">{escape(describe(chart))}</desc>',
        '<g class="plot-area">'
        f'<rect x="{plot_left}" y="{plot_top}" width="{plot_right - plot_left}" '
        f'height="{plot_bottom - plot_top}" class="frame" fill="none" stroke="#444"/></g>',
    ]

    # Exposure shading behind the data, and the bars in their lanes below the x axis.
    for index, exp in enumerate(chart.exposures):
        x0 = sx(max(exp.start, x_lo))
        x1 = sx(exp.end if exp.end is not None else x_hi)
        lane_y = plot_bottom + AXIS_BELOW + 4 + index * LANE
        end_attr = fmt_num(exp.end) if exp.end is not None else "ongoing"
        out.append(
            f'<g class="exposure" data-label="{escape(exp.label)}" data-start="{fmt_num(exp.start)}" '
            f'data-end="{end_attr}">'
            f'<rect class="exposure-shade" x="{n(x0)}" y="{plot_top}" width="{n(max(x1 - x0, 1))}" '
            f'height="{plot_bottom - plot_top}"/>'
            f'<rect class="exposure-bar" x="{n(x0)}" y="{lane_y}" width="{n(max(x1 - x0, 2))}" '
            f'height="{LANE - 6}"/>'
        )
        if exp.end is None:  # open-ended: an arrow head past the last tick
            out.append(
                f'<path class="exposure-bar" d="M{n(x1)} {lane_y - 2} L{n(x1 + 8)} {lane_y + (LANE - 6) / 2} '
                f'L{n(x1)} {lane_y + LANE - 4} Z"/>'
            )
        label_x = x1 + (12 if exp.end is None else 4)
        out.append(
            f'<text class="exposure-label" x="{n(label_x)}" '
            f'y="{lane_y + LANE - 8}">{escape(shorten(exp.label, WIDTH - 2 - label_x))}</text></g>'
        )

    # Y ticks and grid.
    for tick in y_ticks:
        y = sy(tick)
        out.append(
            f'<g class="tick y" data-value="{fmt_num(tick)}">'
            f'<line class="grid" x1="{plot_left}" x2="{plot_right}" '
            f'y1="{n(y)}" y2="{n(y)}"/><text x="{plot_left - 6}" y="{n(y + 4)}" text-anchor="end">'
            f"{fmt_num(tick)}</text></g>"
        )
    # X ticks.
    for tick in x_ticks:
        x = sx(tick)
        out.append(
            f'<g class="tick x" data-value="{fmt_num(tick)}"><line class="tick-mark" x1="{n(x)}" x2="{n(x)}" '
            f'y1="{plot_bottom}" y2="{plot_bottom + 5}"/><text x="{n(x)}" y="{plot_bottom + 18}" '
            f'text-anchor="middle">{escape(x_tick_label(chart, tick))}</text></g>'
        )

    # Axis titles: units are part of the label, never dropped.
    y_title = f"{series.name} ({series.unit}){', log scale' if log else ''}"
    mid_y = (plot_top + plot_bottom) / 2
    out.append(
        f'<text class="axis-title" x="16" y="{n(mid_y)}" text-anchor="middle" '
        f'transform="rotate(-90 16 {n(mid_y)})">{escape(y_title)}</text>'
    )
    out.append(
        f'<text class="axis-title" x="{(plot_left + plot_right) / 2}" y="{plot_bottom + 36}" '
        f'text-anchor="middle">{escape(chart.x_label)}</text>'
    )

    # Reference limits, labelled in the right margin (the lower one moved down when the two would touch).
    limit_boxes: list[Box] = []
    for kind, limit in (("uln", series.uln), ("lln", series.lln)):
        if limit is None or (log and limit <= 0):
            continue
        y = sy(limit)
        text = f"{'ULN' if kind == 'uln' else 'LLN'} {fmt_num(limit)} {series.unit}".strip()
        # a label wider than the right margin ("ULN 7.8 mmol/L") puts its unit on a line of its own, as the
        # margin would clip it
        lines = [text] if plot_right + 4 + len(text) * CHAR_W <= WIDTH or not series.unit else \
            [text.removesuffix(series.unit).strip(), series.unit]
        ty = y + 4
        box = lines_box(plot_right + 4, ty, lines)
        while any(overlaps(box, other) for other in limit_boxes):
            ty += TEXT_H
            box = lines_box(plot_right + 4, ty, lines)
        limit_boxes.append(box)
        label = str(escape(lines[0])) + "".join(f'<tspan x="{plot_right + 4}" dy="{TEXT_H:g}">{escape(more)}</tspan>'
                                           for more in lines[1:])
        out.append(
            f'<g class="limit {kind}" data-value="{fmt_num(limit)}"><line x1="{plot_left}" x2="{plot_right}" '
            f'y1="{n(y)}" y2="{n(y)}"/><text x="{plot_right + 4}" y="{n(ty)}">{label}</text></g>'
        )

    # Onset markers: labels above the plot, in a second row when two would touch.
    taken: list[Box] = list(limit_boxes)
    marker_boxes: list[Box] = []
    for marker in sorted(chart.markers, key=lambda m: m.x):
        x = sx(marker.x)
        anchor = "middle"
        label = marker.label
        half = len(label) * CHAR_W / 2
        if x - half < 2:
            anchor = "start"
        elif x + half > WIDTH - 2:
            anchor = "end"
        if sum(map(_advance, label)) > WIDTH - 4:  # too long for the chart: from the marker to the wider side
            anchor = "start" if WIDTH - x >= x else "end"
            label = shorten(label, WIDTH - 2 - x if anchor == "start" else x - 2)
        tip = f"<title>{escape(marker.label)}</title>" if label != marker.label else ""
        for row in range(MARKER_ROWS):
            ty = plot_top - 8 - row * (TEXT_H + 4)
            box = text_box(x, ty, label, anchor)
            if not any(overlaps(box, other) for other in marker_boxes):
                break
        marker_boxes.append(box)
        out.append(
            f'<g class="marker" data-x="{fmt_num(marker.x)}"><line x1="{n(x)}" x2="{n(x)}" y1="{plot_top}" '
            f'y2="{plot_bottom}"/><text x="{n(x)}" y="{n(ty)}" text-anchor="{anchor}">'
            f"{escape(label)}</text>{tip}</g>"
        )
    taken.extend(marker_boxes)

    # The data: a line through the points, then each point with its value.
    points = sorted(series.points, key=lambda p: p.x)
    if len(points) > 1:
        path = " ".join(f"{n(sx(p.x))},{n(sy(p.value))}" for p in points)
        out.append(f'<polyline class="series-line" fill="none" stroke="#1a1a1a" points="{path}"/>')
    label_values = len(points) <= 14
    taken.extend((sx(p.x) - 5, sy(p.value) - 5, sx(p.x) + 5, sy(p.value) + 5) for p in points)
    area = (plot_left + 2, plot_top + 1, plot_right + 2, plot_bottom - 1)
    for p in points:
        cx, cy = sx(p.x), sy(p.value)
        shown = f"{p.comparator or ''}{fmt_num(p.value)}"
        at = x_tick_label(chart, p.x)
        where = f"day {at}" if chart.origin is None else at
        cls = "point censored" if p.comparator else "point"
        out.append(
            f'<g class="{cls}" data-x="{fmt_num(p.x)}" data-value="{fmt_num(p.value)}">'
            f'<circle cx="{n(cx)}" cy="{n(cy)}" r="4"><title>{name} {escape(shown)} {unit}, {escape(where)}'
            f"</title></circle>"
        )
        spot = place_label(cx, cy, shown, taken, area) if label_values else None
        if spot:  # a free spot near the point, never over another label, a point or a limit's label
            lx, ly, anchor = spot
            out.append(
                f'<text class="value" x="{n(lx)}" y="{n(ly)}" text-anchor="{anchor}">{escape(shown)}</text>'
            )
        out.append("</g>")
    out.append("</svg>")
    return Markup("".join(out))


def describe(chart: Chart) -> str:
    """A sentence for screen readers and for the figure's text alternative."""
    series = chart.series
    axis = "date" if chart.origin else chart.x_label.lower()
    parts = [f"{series.name} in {series.unit} by {axis}:"]
    values = ", ".join(
        f"{x_tick_label(chart, p.x) if chart.origin else 'day ' + fmt_num(p.x)} "
        f"{p.comparator or ''}{fmt_num(p.value)}"
        for p in sorted(series.points, key=lambda p: p.x)
    )
    parts.append(values + "." if values else "no values.")
    if series.uln is not None:
        parts.append(f"Upper limit of normal {fmt_num(series.uln)} {series.unit}.")
    for exp in chart.exposures:
        end = f"day {fmt_num(exp.end)}" if exp.end is not None else "ongoing"
        if chart.origin:
            end = x_tick_label(chart, exp.end) if exp.end is not None else "ongoing"
            parts.append(f"{exp.label} given from {x_tick_label(chart, exp.start)} to {end}.")
        else:
            parts.append(f"{exp.label} given from day {fmt_num(exp.start)} to {end}.")
    for marker in chart.markers:
        at = x_tick_label(chart, marker.x) if chart.origin else f"day {fmt_num(marker.x)}"
        parts.append(f"{marker.label} at {at}.")
    if chart.not_plotted:
        parts.append(f"{chart.not_plotted} value(s) without a day are in the table only.")
    return " ".join(parts)
