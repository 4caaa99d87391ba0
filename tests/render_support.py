"""Shared helpers of the render tests: demo Bundles, HTML normalisation, the chromium binary."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest

from reporter.inputs import load_bundle

REPO = Path(__file__).resolve().parent.parent
ARTIFACTS = REPO / "tests" / "_artifacts"
DEMOS = sorted((REPO / "examples").glob("case*.yaml"))


def demo_bundle(path: Path) -> dict:
    return load_bundle(str(path))


def normalise_html(html: str) -> str:
    """Golden form: whitespace runs collapsed, one tag boundary per line (stable, reviewable diffs)."""
    text = re.sub(r"\s+", " ", html).strip()
    return re.sub(r">\s*<", ">\n<", text) + "\n"


def chromium_path() -> str:
    """Debian's chromium; skips locally when absent, fails under CI (.ci/run installs it)."""
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if not found:
        if os.environ.get("CI"):
            pytest.fail("chromium is required under CI (apt-get install chromium)")
        pytest.skip("chromium not installed (apt-get install chromium)")
    return found


def pdftotext_path() -> str:
    found = shutil.which("pdftotext")
    if not found:
        if os.environ.get("CI"):
            pytest.fail("pdftotext is required under CI (apt-get install poppler-utils)")
        pytest.skip("pdftotext not installed (apt-get install poppler-utils)")
    return found
