"""`reporter demo`: the README's main job, end to end on the bundled cases."""

from __future__ import annotations

import json

from click.testing import CliRunner
from lxml import etree

from reporter.cli import main


def test_demo_writes_every_output_and_stores_the_cases(tmp_path, monkeypatch, e2b_schema_dir):
    monkeypatch.setenv("REPORTER_DATABASE_URL", f"sqlite:///{tmp_path / 'demo.sqlite3'}")
    monkeypatch.setenv("REPORTER_E2B_SCHEMA_DIR", str(e2b_schema_dir))
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["demo", "-o", str(out)])
    assert result.exit_code == 0, result.output
    names = {p.name for p in out.iterdir()}
    for stem in ("case1-anakinra-hepatitis", "case2-anakinra-transaminitis", "case3-anakinra-iv-hepatotoxicity"):
        assert {f"{stem}.bundle.json", f"{stem}.html", f"{stem}.validation.txt"} <= names
        assert json.loads((out / f"{stem}.bundle.json").read_text(encoding="utf-8"))["type"] == "document"
    for receiver in ("ich", "fda", "ema"):
        batch = etree.parse(str(out / f"demo-batch.{receiver}.xml"))
        assert len(batch.findall(".//{urn:hl7-org:v3}PORR_IN049016UV")) == 3
    assert "XSD valid" in result.output and result.output.count("stored ") == 3

    again = CliRunner().invoke(main, ["demo", "-o", str(out)])
    assert again.exit_code == 0 and again.output.count("already stored") == 3
