"""A horizontal bar chart of a tabulation as inline SVG (no scripts, no styles: presentation attributes only,
so it shows under the pages' Content-Security-Policy and in any browser)."""

from __future__ import annotations

from markupsafe import Markup, escape

from reporter.analysis.tabulate import Tabulation

BAR_HEIGHT = 18
GAP = 6
LABEL_WIDTH = 300
BAR_WIDTH = 360


def describe(result: Tabulation, shown: list) -> str:
    """What the chart shows, for those who do not see it (role="img" hides each bar's own title): how many bars,
    the longest, and where the figures are."""
    top = max(shown, key=lambda r: r.count)
    which = f"{len(shown)} bar(s)" if len(shown) == len(result.rows) else \
        f"the first {len(shown)} of {len(result.rows)} groups"
    return (f"{which}, one per group; the longest: {' / '.join(top.values) or 'all cases'}, {top.count} case(s). "
            "Each group's count, percentage and interval are in the table of counts.")


def bar_chart(result: Tabulation, *, limit: int = 40) -> Markup:
    """One bar per row (cases), the percentage and its 95% CI written beside it; unknown rows in grey."""
    rows = result.rows[:limit]
    if not rows:
        return Markup("")
    top = max(r.count for r in rows) or 1
    height = len(rows) * (BAR_HEIGHT + GAP) + GAP
    width = LABEL_WIDTH + BAR_WIDTH + 170
    title = "Cases by " + " and ".join(result.labels())
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" width="{width}" '
             f'height="{height}" viewBox="0 0 {width} {height}" aria-labelledby="chart-title" '
             f'aria-describedby="chart-desc"><title id="chart-title">{escape(title)}</title>'
             f'<desc id="chart-desc">{escape(describe(result, rows))}</desc>']
    for i, r in enumerate(rows):
        y = GAP + i * (BAR_HEIGHT + GAP)
        label = " / ".join(r.values)
        length = max(1.0, BAR_WIDTH * r.count / top)
        fill = "#9aa5b1" if "unknown" in r.values else "#2f6690"
        note = f"{r.count}"
        if r.percent is not None and r.ci95:
            note += f" ({r.percent:.1f}%, {r.ci95[0]:.1f}-{r.ci95[1]:.1f})"
        parts.append(
            f'<g><text x="{LABEL_WIDTH - 6}" y="{y + BAR_HEIGHT - 5}" text-anchor="end" font-size="12" '
            f'font-family="sans-serif">{escape(label[:48])}</text>'
            f'<rect x="{LABEL_WIDTH}" y="{y}" width="{length:.1f}" height="{BAR_HEIGHT}" fill="{fill}">'
            f'<title>{escape(label)}: {escape(note)}</title></rect>'
            f'<text x="{LABEL_WIDTH + length + 4:.1f}" y="{y + BAR_HEIGHT - 5}" font-size="12" '
            f'font-family="sans-serif">{escape(note)}</text></g>')
    parts.append("</svg>")
    return Markup("".join(parts))
