"""What entering a case through the case form costs, in a real browser (Debian's headless Chromium): page
loads, controls (all, and visible), page length in screens (1280 x 900 viewport), the farthest a just-added
row lands from the top of the viewport, clicks, fields typed and pastes. The case is entered as a user
would (tests/form_entry.py); the stored case is compared with the file.

Run: PYTHONPATH=. python bench/form_entry.py [CASE]   (default: tests/data/amoxiclav-cholestatic-hepatitis.yaml)
     PYTHONPATH=. python bench/form_entry.py --code DIR   measures the form of another checkout (e.g. a copy
     of main made with `git archive main | tar -x -C DIR`): its reporter/ and templates/ serve the pages.
"""

from __future__ import annotations

import argparse
import importlib.util
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def _driver():
    spec = importlib.util.spec_from_file_location("form_entry_driver", REPO / "tests" / "form_entry.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("case", nargs="?", type=Path,
                        default=REPO / "tests" / "data" / "amoxiclav-cholestatic-hepatitis.yaml")
    parser.add_argument("--code", type=Path, help="the checkout whose form is measured (default: this one)")
    args = parser.parse_args()
    sys.path.insert(0, str((args.code or REPO).resolve()))
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if not chromium:
        sys.exit("chromium not installed")
    import logging

    from playwright.sync_api import sync_playwright
    from werkzeug.serving import make_server

    from reporter.casefile.parse import load_case
    from reporter.store import CaseStore
    from reporter.store.caselist import CaseFilter, list_cases
    from reporter.store.tokens import set_password
    from reporter.web import caseform, create_app

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    driver = _driver()
    case = load_case(args.case)
    values = caseform.flatten(case)
    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as pw:
        store = CaseStore(f"sqlite:///{tmp}/bench.sqlite3")
        set_password(store, "bench", "correct horse battery", role="reviewer")
        app = create_app({"SECRET_KEY": "bench"}, store=store)
        server = make_server("127.0.0.1", 0, app, threaded=True)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        site = f"http://127.0.0.1:{server.server_port}"
        browser = pw.chromium.launch(executable_path=chromium, args=["--headless", "--no-sandbox"])
        page = browser.new_page(viewport=driver.VIEWPORT)
        page.goto(site + "/login")
        page.fill("#username", "bench")
        page.fill("#password", "correct horse battery")
        page.click("button[type=submit].primary")
        page.wait_for_url(f"{site}/cases*")
        entry = driver.enter_case(page, site, values)
        loads = entry.page_loads  # the edit form opened below is not part of the entry
        case_url = page.url.split("?", 1)[0]
        started = time.perf_counter()
        response = page.goto(case_url + "/edit")
        edit_seconds = time.perf_counter() - started
        edit_bytes = len(response.body()) if response is not None else 0
        stored = list_cases(store, CaseFilter())[1]
        browser.close()
        server.shutdown()
        store.dispose()
    print(f"case: {args.case.name} ({len(case.reactions)} reactions, {len(case.tests)} lab values, "
          f"{len(case.drugs)} drugs); form from {args.code or REPO}")
    print(f"page loads (new-case page to saved case): {loads}")
    print(f"clicks (add row, open fold, save): {entry.clicks}; fields typed: {entry.fields_typed}; "
          f"pastes: {entry.pastes}")
    for name, counts in (("empty form", entry.empty), ("filled form", entry.filled)):
        print(f"{name}: {counts['controls']} controls ({counts['visible']} visible), "
              f"{entry.screens(counts):.1f} screens")
    print(f"edit form of the saved case: {edit_bytes / 1024:.0f} KiB of HTML, opened in {edit_seconds:.2f} s")
    print(f"farthest a new row landed from the viewport top: {entry.farthest_new_row:.1f} screens")
    print(f"saved: {'no: ' + '; '.join(entry.errors) if entry.errors else 'yes'}"
          + f" ({stored} case(s) stored)")


if __name__ == "__main__":
    main()
