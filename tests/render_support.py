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


# -- the issue-15 case (amoxicillin-clavulanate cholestatic hepatitis) and its time variants ---------------

ISSUE_CASE = REPO / "tests" / "data" / "amoxiclav-cholestatic-hepatitis.yaml"
FIRST_DOSE = "2024-03-01"


def issue_case_data(variant: str = "dated") -> dict:
    """The case file as data. `dated`: as written. `relative`: every time as days from the first
    amoxicillin-clavulanate dose, as literature cases give them, with another suspect listed first that has no
    times at all. `dates-only`: the labs dated but no drug start known to the day (a date axis)."""
    import datetime as dt

    from reporter.casefile.parse import load_data, read_text

    data = load_data(read_text(ISSUE_CASE), str(ISSUE_CASE))
    if variant == "dated":
        return data
    if variant == "relative":
        first = dt.date.fromisoformat(FIRST_DOSE)

        def rel(value: str) -> dict:
            return {"value": (dt.date.fromisoformat(value) - first).days, "unit": "d", "drug": "amoxiclav"}

        for test in data["tests"]:
            test["date"] = rel(test["date"])
        for reaction in data["reactions"]:
            reaction["onset"] = rel(reaction["onset"])
        for dose in data["drugs"][0]["dosages"]:
            dose["start"], dose["stop"] = rel(dose["start"]), rel(dose["stop"])
        data["drugs"][0]["dosages"][0].pop("start")  # day 0 by definition
        data["drugs"][1]["dosages"][0].pop("start")
        data["drugs"].insert(0, {"id": "paracetamol", "role": "suspect", "product": "Paracetamol",
                                 "substances": [{"name": "paracetamol"}]})
        return data
    if variant == "dates-only":
        for dose in data["drugs"][0]["dosages"]:
            dose["start"], dose["stop"] = "2024-03", "2024-03"
        return data
    raise ValueError(variant)


def issue_bundle(variant: str = "dated") -> dict:
    from reporter.casefile.model import CaseFile
    from reporter.fhir.build import build_bundle

    return build_bundle(CaseFile.model_validate(issue_case_data(variant)))
