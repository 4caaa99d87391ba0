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

    later = mutated(follow_up)
    later["report"]["most_recent"] = "2023-10-09"
    again = runner.invoke(main, ["import", "--store", str(_e2b_file(tmp_path, later, "later.xml"))])
    assert again.exit_code == 1 and "nullified" in again.output


def _imported(tmp_path, monkeypatch, *files: tuple[str, dict]) -> tuple[list, list]:
    """(CLI results, stored versions) after importing each (name, case data) in order with --store."""
    url = f"sqlite:///{tmp_path / 'store.sqlite3'}"
    monkeypatch.setenv("REPORTER_DATABASE_URL", url)
    runner = CliRunner()
    results = [runner.invoke(main, ["import", "--store", str(_e2b_file(tmp_path, data, name))])
               for name, data in files]
    store = CaseStore(url)
    try:
        found = {re.search(r"Bundle/([0-9a-f-]+)", r.output).group(1) for r in results if "Bundle/" in r.output}
        history = [v for case_id in found for v in store.history(case_id)]
    finally:
        store.dispose()
    return results, history


def test_the_same_report_read_again_is_not_stored_again(tmp_path, monkeypatch):
    """The same file imported twice (it became a follow-up of itself, version 2, and so on each time)."""
    url = f"sqlite:///{tmp_path / 'store.sqlite3'}"
    monkeypatch.setenv("REPORTER_DATABASE_URL", url)
    path = _e2b_file(tmp_path, load_example(), "initial.xml")
    runner = CliRunner()
    first, again = (runner.invoke(main, ["import", "--store", str(path)]) for _ in range(2))
    assert (first.exit_code, again.exit_code) == (0, 0)
    assert "report 1 of initial.xml is stored already, as version 1: not stored again" in again.output
    store = CaseStore(url)
    try:
        case_id = re.search(r"Bundle/([0-9a-f-]+)", first.output).group(1)
        assert [v.version for v in store.history(case_id)] == [1]
    finally:
        store.dispose()


def test_an_older_report_is_not_stored_over_a_newer_one(tmp_path, monkeypatch):
    """An initial report read after its follow-up (C.1.5 earlier): refused, and the follow-up stays current
    (it was stored as version 2, its older facts replacing the newer ones without a word)."""
    initial = load_example()
    follow_up = mutated(initial)
    follow_up["report"]["most_recent"] = "2023-10-02"
    results, history = _imported(tmp_path, monkeypatch, ("follow-up.xml", follow_up), ("initial.xml", initial))
    assert results[0].exit_code == 0 and results[1].exit_code == 1
    assert "older than that of the stored version 1" in results[1].output
    assert [(v.version, v.kind) for v in history] == [(1, "initial")]
    assert "2023-10-02" in results[1].output  # the stored version's C.1.5, named


def test_an_amendment_is_stored_with_its_own_reason(tmp_path, monkeypatch):
    """C.1.11.2 is the version's reason (the file's name stood there, and CIOMS box 25a printed it)."""
    initial = load_example()
    amended = mutated(initial)
    amended["report"]["most_recent"] = "2023-10-02"
    amended["report"]["nullification"] = {"kind": "amendment", "reason": "Dose corrected to 100 mg"}
    results, history = _imported(tmp_path, monkeypatch, ("initial.xml", initial), ("amended.xml", amended))
    assert [r.exit_code for r in results] == [0, 0]
    assert {v.version: (v.kind, v.reason) for v in history}[2] == ("amendment", "Dose corrected to 100 mg")


def test_the_import_says_how_a_report_relates_as_the_store_takes_it():
    """'follow-up of' was said of an older report (which the store refuses) and of another sender's report of
    the same worldwide case (which the store keeps as a case of its own)."""
    from reporter.e2b.followup import relation

    initial = load_example()
    follow_up = mutated(initial)
    follow_up["report"]["most_recent"] = "2023-10-02"
    other = mutated(follow_up)
    other["case_id"] = "DE-OTHERSENDER-2023-1"
    other["report"]["worldwide_id"] = initial["case_id"]
    bundle = {name: build_bundle(parse_case(json.dumps(data)))
              for name, data in (("initial", initial), ("follow-up", follow_up), ("other", other))}
    assert relation(bundle["follow-up"], [("a.json", bundle["initial"])]).startswith("follow-up of ")
    assert relation(bundle["initial"], [("b.json", bundle["follow-up"])]).startswith(
        f"older than {initial['case_id']} (b.json): its C.1.5 2023-09-04 comes before 2023-10-02")
    assert relation(bundle["other"], [("a.json", bundle["initial"])]) == (
        f"another sender's report of the worldwide case {initial['case_id']} (a.json): a case of its own")


def test_the_same_report_re_sent_in_another_batch_is_not_stored_again(tmp_path, monkeypatch):
    """Another export of the same case (a new batch id and creation time, so other bytes) says nothing new: not a
    follow-up version of itself; a report that changes a fact is one."""
    initial = load_example()
    changed = mutated(initial)
    changed["report"]["most_recent"] = "2023-10-02"
    results, history = _imported(tmp_path, monkeypatch, ("first.xml", initial), ("again.xml", initial),
                                 ("changed.xml", changed))
    assert [r.exit_code for r in results] == [0, 0, 0]
    assert "says what the stored version 1 says: not stored again" in results[1].output
    assert sorted((v.version, v.kind) for v in history) == [(1, "initial"), (2, "follow-up")]
