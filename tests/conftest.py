"""Shared fixtures. Tests that need ../shared or a service skip with a reason when it is absent;
CI always provides both (.ci/run), so there they run."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

# Property tests check what is computed, never how fast: no per-example deadline and no too-slow health check,
# which on a loaded machine (CI's two cores) failed tests whose results were right.
settings.register_profile("untimed", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("untimed")

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "examples"
GOLDEN = REPO / "tests" / "golden"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-golden", action="store_true", default=False,
        help="rewrite golden files from the current output (review the diff before committing)",
    )


@pytest.fixture
def update_golden(request: pytest.FixtureRequest) -> bool:
    return bool(request.config.getoption("--update-golden"))


def shared_path() -> Path:
    from reporter import config

    return Path(config.get("shared_dir") or (REPO.parent / "shared")).resolve()


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    path = shared_path()
    if not path.is_dir():
        if os.environ.get("CI"):
            pytest.fail(f"CI must provide the shared reference material at {path}")
        pytest.skip(f"shared reference material not found at {path} (set REPORTER_SHARED_DIR)")
    return path


@pytest.fixture(scope="session")
def e2b_schema_dir(shared_dir: Path) -> Path:
    configured = os.environ.get("REPORTER_E2B_SCHEMA_DIR")
    path = Path(configured) if configured else shared_dir / "e2b" / "schema"
    if not (path / "multicacheschemas" / "MCCI_IN200100UV01.xsd").is_file():
        pytest.skip(f"ICH E2B(R3) XSD set not found at {path}")
    return path


@pytest.fixture(scope="session")
def example_files() -> list[Path]:
    files = sorted(EXAMPLES.glob("*.yaml")) + sorted(EXAMPLES.glob("*.json"))
    assert files, "examples/ holds the demo cases"
    return files


def check_golden(path: Path, actual: str, update: bool) -> None:
    """Compare text with a golden file; with --update-golden, rewrite it instead."""
    if update or not path.exists():
        if not update and os.environ.get("CI"):
            pytest.fail(f"golden file {path} is missing; run pytest --update-golden and review it")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(actual, encoding="utf-8")
        return
    expected = path.read_text(encoding="utf-8")
    assert actual == expected, f"output differs from {path}; if intended, rerun with --update-golden"


CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="session")
def browser():
    """Debian's headless Chromium driven by Playwright (never Playwright's own browser download)."""
    from tests.render_support import chromium_path

    executable = chromium_path()
    sync_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright")
    with sync_api.sync_playwright() as pw:
        launched = pw.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield launched
        launched.close()
