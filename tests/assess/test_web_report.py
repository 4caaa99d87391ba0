"""The stored case's report (page and download) carries the computed causality section when the case file
was stored beside the Bundle, and says why not when it was not."""

from __future__ import annotations

from reporter.casefile import load_case
from reporter.fhir.build import build_bundle
from reporter.store.repository import CaseStore
from reporter.web import downloads
from tests.helpers import CASE1


def test_download_html_uses_the_stored_case_file(tmp_path) -> None:
    store = CaseStore(f"sqlite:///{tmp_path / 'cases.sqlite3'}")
    try:
        case = load_case(CASE1)
        bundle = build_bundle(case)
        with_case = store.create(bundle, author="test", reason="with case file",
                                 casefile=case.model_dump(mode="json", by_alias=True, exclude_none=True))
        page = downloads.html(with_case).body
        text = page.decode() if isinstance(page, bytes) else page
        assert "Naranjo ADR probability scale: <strong>Probable (score 5)</strong>" in text
        other = build_bundle(case.model_copy(update={"case_id": "GB-EXAMPLEPHARMA-2023-999999"}))
        bare = store.create(other, author="test", reason="Bundle only")
        page = downloads.html(bare).body
        text = page.decode() if isinstance(page, bytes) else page
        assert "Computed assessments need the case file" in text
    finally:
        store.dispose()
