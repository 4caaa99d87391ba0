"""Shared helpers for the E2B tests: demo Bundles (with FDA's required facts filled in) and fixed ids."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from reporter.casefile.model import CaseFile
from reporter.casefile.parse import load_data, read_text
from reporter.fhir.build import build_bundle

FIXED_TIME = dt.datetime(2024, 1, 15, 12, 0, 0, tzinfo=dt.UTC)
FIXED_BATCH = "TEST-BATCH-0001"
RECEIVERS = ("ich", "fda", "ema")


def case_data(path: Path, *, regulator_ready: bool = True) -> dict:
    """A demo case as data. FDA needs C.1.7 (expedited yes/no) and the primary source's country (C.2.r.3);
    where a demo case does not state them, `regulator_ready` supplies them (expedited = any reaction
    serious; country = the sender's)."""
    data = load_data(read_text(path), str(path))
    if regulator_ready:
        report = data["report"]
        if report.get("expedited") is None:
            report["expedited"] = any(any((r.get("seriousness") or {}).values()) for r in data.get("reactions", []))
        country = ((data.get("sender") or {}).get("address") or {}).get("country", "GB")
        for source in data.get("primary_sources", []):
            source.setdefault("address", {}).setdefault("country", country)
    return data


def bundle_for(path: Path, **kw) -> dict:
    return build_bundle(CaseFile.model_validate(case_data(path, **kw)))
