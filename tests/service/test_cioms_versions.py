"""Box 25a of the CIOMS I form served for a stored version: the store's version kind decides (the Bundle says
only amendment/nullification), so a case at version 4 after three follow-ups prints FOLLOWUP."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from reporter.inputs import load_bundle
from reporter.web import downloads
from tests.render_support import pdftotext_path

CASE = Path(__file__).parent.parent / "data" / "amoxiclav-cholestatic-hepatitis.yaml"


def _box_25a(pdf: bytes, tmp_path: Path) -> str:
    path = tmp_path / "form.pdf"
    path.write_bytes(pdf)
    out = subprocess.run([pdftotext_path(), "-layout", str(path), "-"], capture_output=True, text=True,
                         check=True, timeout=60).stdout
    text = re.sub(r"\s+", " ", out)
    return text[text.index("25a. REPORT TYPE"):text.index("Page 1 of")]


def test_version_4_after_three_follow_ups_prints_followup(store, tmp_path) -> None:
    bundle = load_bundle(str(CASE))
    first = store.create(bundle, author="tester")
    assert re.search(r"INITIAL\s*\(checked\)", _box_25a(downloads.pdf(first).body, tmp_path))
    v = first
    for _ in range(3):
        v = store.update(first.case_id, bundle, author="tester", if_match=v.version,
                         reason="follow-up")
    assert (v.version, v.kind) == (4, "follow-up")
    box = _box_25a(downloads.pdf(store.read(first.case_id)).body, tmp_path)
    assert re.search(r"FOLLOWUP\s*\(checked\)", box) and not re.search(r"INITIAL\s*\(checked\)", box)
    assert "Follow-up (version 4)" in box
