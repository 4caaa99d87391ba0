"""`reporter import --store`: an imported report becomes a case, and a later report with the same C.1.1
becomes the next version of that case (follow-up, then nullification)."""

from __future__ import annotations

import json
import re

from click.testing import CliRunner

from reporter.casefile import parse_case
from reporter.cli import main
from reporter.e2b.export import export_bundles
from reporter.fhir.build import build_bundle
from reporter.store.repository import CaseStore
from tests.helpers import load_example, mutated


def _e2b_file(tmp_path, data, name):
    bundle = build_bundle(parse_case(json.dumps(data)))
    path = tmp_path / name
    path.write_bytes(export_bundles([bundle], receiver_name="ich").xml)
    return path


def test_follow_up_and_nullification_become_versions_of_the_stored_case(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'store.sqlite3'}"
    monkeypatch.setenv("REPORTER_DATABASE_URL", url)
    initial = load_example()
    follow_up = mutated(initial)
    follow_up["report"]["most_recent"] = "2023-10-02"
    follow_up["narrative"]["text"] += "\n\nFollow-up: the patient remains well."
    nullified = mutated(follow_up)
    nullified["report"]["nullification"] = {"kind": "nullification", "reason": "duplicate of another case"}

    runner = CliRunner()
    outputs = []
    for name, data in (("initial.xml", initial), ("follow-up.xml", follow_up), ("nullified.xml", nullified)):
        result = runner.invoke(main, ["import", "--store", str(_e2b_file(tmp_path, data, name))])
        assert result.exit_code == 0, result.output
        outputs.append(result.output)
    assert "version 1 (initial)" in outputs[0]
    assert "version 2 (follow-up)" in outputs[1]
    assert "version 3 (nullification)" in outputs[2]

    case_ids = {re.search(r"Bundle/([0-9a-f-]+)", out).group(1) for out in outputs}
    assert len(case_ids) == 1
    store = CaseStore(url)
    try:
        (case_id,) = case_ids
        assert sorted((v.version, v.kind) for v in store.history(case_id)) == [
            (1, "initial"), (2, "follow-up"), (3, "nullification")]
        assert store.read(case_id).status == "nullified"
    finally:
        store.dispose()

    again = runner.invoke(main, ["import", "--store", str(tmp_path / "follow-up.xml")])
    assert again.exit_code == 1 and "nullified" in again.output
