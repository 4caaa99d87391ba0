"""The report page as laid out by headless Chromium: page width against the viewport at 1280 and 390 px, the lab
table's content width against its box, charts drawn, value labels drawn/omitted and label overlaps.

Run: PYTHONPATH=. python bench/report_layout.py [CASE ...]   (default: the demo cases and the issue-15 case)
Needs Debian's chromium and playwright (as the browser tests do). Prints one line per case and width.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from reporter.inputs import load_bundle  # noqa: E402
from reporter.render.output import bundle_html  # noqa: E402

MEASURE = """
() => {
  const labs = document.querySelector('table.labs');
  const svgs = [...document.querySelectorAll('svg.lab-chart')].filter(s => s.getBoundingClientRect().width > 0);
  let overlaps = 0;
  for (const svg of svgs) {
    const boxes = [...svg.querySelectorAll('text.value, g.limit text, g.marker text')]
      .map(t => t.getBoundingClientRect());
    for (let i = 0; i < boxes.length; i++) for (let j = i + 1; j < boxes.length; j++) {
      const a = boxes[i], b = boxes[j];
      if (a.left < b.right && b.left < a.right && a.top < b.bottom && b.top < a.bottom) overlaps++;
    }
  }
  return {
    page: document.documentElement.scrollWidth,
    labs: labs ? labs.scrollWidth : 0, labsBox: labs ? labs.clientWidth : 0,
    charts: svgs.length,
    points: svgs.reduce((n, s) => n + s.querySelectorAll('g.point').length, 0),
    labels: svgs.reduce((n, s) => n + s.querySelectorAll('text.value').length, 0),
    overlaps,
  };
}
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("cases", nargs="*", type=Path)
    args = parser.parse_args()
    cases = args.cases or [*sorted((REPO / "examples").glob("case*.yaml")),
                           REPO / "tests" / "data" / "amoxiclav-cholestatic-hepatitis.yaml"]
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if not chromium:
        sys.exit("chromium not installed")
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=["--headless", "--no-sandbox"])
        print(f"{'case':45} {'width':>5} {'page':>5} {'labs/box':>9} {'charts':>6} {'labels/points':>13} "
              f"{'overlaps':>8}")
        for case in cases:
            page_file = Path(tmp) / f"{case.stem}.html"
            page_file.write_text(bundle_html(load_bundle(str(case))), encoding="utf-8")
            for width in (1280, 390):
                page = browser.new_page(viewport={"width": width, "height": 900})
                page.goto(page_file.as_uri())
                m = page.evaluate(MEASURE)
                page.close()
                print(f"{case.stem[:45]:45} {width:5} {m['page']:5} {m['labs']:4}/{m['labsBox']:<4} {m['charts']:6} "
                      f"{m['labels']:6}/{m['points']:<6} {m['overlaps']:8}")
        browser.close()


if __name__ == "__main__":
    main()
