"""Entering a case file through the case form in a real browser, as a user would, counting what it costs.

Shared by the browser test (tests/service/test_form_entry_browser.py) and bench/form_entry.py. It only uses
what any version of the form has: inputs named by case-file path, the hidden `<list>#rows` counts and the
"add a row" buttons (`_action=add:<list>`), so the same driver measures the form before and after a change.
Where the form offers a lab grid (`table.labgrid`), the lab rows are pasted into it as tab-separated text,
the way they come from a spreadsheet. A field the form keeps hidden until another answer makes it apply (a
`[data-show-when]` part: the death details until a reaction is fatal) is filled after the rest, as a user
would come back to it, pressing the part's own button (`button[data-reveal]`) where no answer shows it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

VIEWPORT = {"width": 1280, "height": 900}

COUNT = """
() => {
  const form = document.querySelector('form.caseform');
  const all = [...form.querySelectorAll('input, select, textarea')].filter(e => e.type !== 'hidden');
  const shown = all.filter(e => e.checkVisibility() && !e.classList.contains('visually-hidden'));
  return {controls: all.length, visible: shown.length,
          height: document.documentElement.scrollHeight, viewport: window.innerHeight};
}
"""

PASTE = """
([selector, text]) => {
  const cell = document.querySelector(selector);
  const data = new DataTransfer();
  data.setData('text/plain', text);
  cell.focus();
  cell.dispatchEvent(new ClipboardEvent('paste', {clipboardData: data, bubbles: true, cancelable: true}));
}
"""

OPEN_FOLDS = """
(element) => { let n = 0; for (let d = element.closest('details'); d; d = d.parentElement.closest('details')) {
  if (!d.open) { d.open = true; n++; } } return n; }
"""

# A control in a part hidden until another answer makes it apply.
WAITING = "(element) => !!element.closest('[data-show-when][hidden]')"

# The button that shows such a part by hand (where no answer the form asks says it applies): its selector.
REVEAL = """
(element) => { const part = element.closest('[data-show-when][hidden]');
  const button = part && [...document.querySelectorAll('button[data-reveal]')]
    .find((b) => b.dataset.reveal === part.dataset.showWhen);
  if (!button) return null;
  button.dataset.driverReveal = '1'; return 'button[data-driver-reveal]'; }
"""

# How far (in screens) the new row's first field is from the top of the viewport after "add a row".
DISTANCE = """
(element) => element.getBoundingClientRect().top / window.innerHeight
"""


@dataclass
class Entry:
    page_loads: int = 0
    clicks: int = 0  # add-row clicks, folds opened, the save click
    fields_typed: int = 0
    pastes: int = 0
    empty: dict[str, Any] = field(default_factory=dict)  # the new-case form before anything is typed
    filled: dict[str, Any] = field(default_factory=dict)  # the form just before saving
    farthest_new_row: float = 0.0  # screens between the viewport top and a just-added row (worst case)
    errors: list[str] = field(default_factory=list)

    def screens(self, which: dict[str, Any]) -> float:
        return which["height"] / which["viewport"] if which else 0.0


def _lists_in(path: str) -> list[tuple[str, int]]:
    """`drugs[1].dosages[0].dose.value` -> [("drugs", 1), ("drugs[1].dosages", 0)]."""
    out = []
    for found in re.finditer(r"\[(\d+)\]", path):
        out.append((path[:found.start()], int(found.group(1))))
    return out


class Driver:
    def __init__(self, page, site: str) -> None:
        self.page = page
        self.site = site
        self.entry = Entry()
        page.on("load", lambda _page: self._loaded())

    def _loaded(self) -> None:
        self.entry.page_loads += 1

    def _click(self, selector: str) -> None:
        self.page.click(selector)
        self.page.wait_for_load_state("load")
        self.entry.clicks += 1

    def _rows(self, list_path: str) -> int:
        found = self.page.locator(f'input[type=hidden][name="{list_path}#rows"]')
        return int(found.first.input_value() or 0) if found.count() else 0

    def _ensure_row(self, path: str) -> None:
        for list_path, index in _lists_in(path):
            while self._rows(list_path) <= index:
                before = self._rows(list_path)
                button = f'button[name="_action"][value="add:{list_path}"]'
                if self.page.locator(button).count() and not self.page.locator(button).first.is_visible():
                    self.entry.clicks += self.page.locator(button).first.evaluate(OPEN_FOLDS)  # under "More"
                self._click(button)
                if self._rows(list_path) == before:
                    raise AssertionError(f"adding a row to {list_path} did nothing")
                new_row = self.page.locator(f'[name^="{list_path}[{before}]"]').first
                if new_row.count():
                    distance = abs(new_row.evaluate(DISTANCE))
                    self.entry.farthest_new_row = max(self.entry.farthest_new_row, distance)

    def _locate(self, path: str, value: str):
        locator = self.page.locator(f'[name="{path}"]')
        if locator.count() > 1:  # check boxes of a multiple choice
            locator = self.page.locator(f'[name="{path}"][value="{value}"]')
        return locator.first

    def _element(self, path: str, value: str):
        element = self._locate(path, value)
        if not element.is_visible():
            self.entry.clicks += element.evaluate(OPEN_FOLDS)
        return element

    def _anchor(self, path: str, value: str):
        """What the page has of `path` already: its control, or else the button adding its (innermost) row."""
        candidates = [self._locate(path, value)] + [
            self.page.locator(f'button[name="_action"][value="add:{list_path}"]').first
            for list_path, _ in reversed(_lists_in(path))]
        return next((c for c in candidates if c.count()), None)

    def _waits(self, path: str, value: str) -> bool:
        """Whether `path` sits in a part hidden for now."""
        anchor = self._anchor(path, value)
        return anchor is not None and anchor.evaluate(WAITING)

    def fill(self, path: str, value: str) -> bool:
        """Fill in one value; False (and nothing typed) when its part of the form is hidden for now."""
        if self._waits(path, value):
            return False
        self._ensure_row(path)
        element = self._element(path, value)
        tag = element.evaluate("e => e.tagName.toLowerCase() + ':' + (e.type || '')")
        if tag.startswith("select"):
            element.select_option(value)
        elif tag == "input:checkbox":
            element.check()
        else:
            element.fill(value)
        self.entry.fields_typed += 1
        return True

    def reveal(self, path: str, value: str) -> bool:
        """Press the button that shows the hidden part of `path` by hand; False when it has none."""
        anchor = self._anchor(path, value)
        selector = anchor.evaluate(REVEAL) if anchor is not None else None
        if not selector:
            return False
        self.page.click(selector)
        self.page.locator(selector).evaluate("b => delete b.dataset.driverReveal")
        self.entry.clicks += 1
        return True

    def paste_grid(self, list_path: str, rows: list[dict[str, str]]) -> bool:
        """Paste the rows into the grid of `list_path` as tab-separated text; False if there is no grid."""
        grid = self.page.locator(f'table.labgrid[data-list="{list_path}"]')
        if not grid.count():
            return False
        columns = grid.locator("thead th[data-col]").evaluate_all("ths => ths.map(t => t.dataset.col)")
        text = "\n".join("\t".join(row.get(c, "") for c in columns) for row in rows)
        self.page.evaluate(PASTE, [f'[name="{list_path}[0].{columns[0]}"]', text])
        self.entry.pastes += 1
        return True

    def count(self) -> dict[str, Any]:
        return self.page.evaluate(COUNT)


def enter_case(page, site: str, values, *, grid: str = "tests", open_form: bool = True) -> Entry:
    """Open the new-case form (`open_form=False`: go on with the one the page shows), fill in every value of
    `values` (a flattened case file, see reporter.web.caseform.flatten), paste the `grid` list's rows into its
    grid where the form has one, and save. Returns the counts; the page ends on the saved case (or on the form
    with its errors)."""
    driver = Driver(page, site)
    if open_form:
        page.goto(site + "/cases/new")
    driver.entry.empty = driver.count()
    items = [(k, v) for k, v in values.items(multi=True) if not k.endswith("#rows") and v != ""]
    grid_rows: dict[int, dict[str, str]] = {}
    prefix = f"{grid}["
    for key, value in items:
        if key.startswith(prefix):
            index, rest = key[len(prefix):].split("].", 1)
            grid_rows.setdefault(int(index), {})[rest] = value
    columns: list[str] = []
    if grid_rows and page.locator(f'table.labgrid[data-list="{grid}"]').count():
        rows = [grid_rows.get(i, {}) for i in range(max(grid_rows) + 1)]
        driver.paste_grid(grid, rows)
        columns = page.locator(f'table.labgrid[data-list="{grid}"] thead th[data-col]').evaluate_all(
            "ths => ths.map(t => t.dataset.col)")
    waiting = []
    for key, value in items:
        if columns and key.startswith(prefix) and key[len(prefix):].split("].", 1)[1] in columns:
            continue  # pasted
        if not driver.fill(key, value):
            waiting.append((key, value))
    for key, value in waiting:  # the answers that make them apply are in now, or their button shows them
        if not driver.fill(key, value) and not (driver.reveal(key, value) and driver.fill(key, value)):
            raise AssertionError(f"{key} stays hidden although the case holds a value for it")
    driver.entry.filled = driver.count()
    button = page.locator("button.primary[name=_action][value=save]")
    button.click()
    page.wait_for_load_state("load")
    driver.entry.clicks += 1
    if page.locator("#problems").count():
        driver.entry.errors = page.locator("#problems li").all_inner_texts() or \
            [page.locator("#problems").inner_text()]
    return driver.entry
