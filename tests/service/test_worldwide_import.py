"""`reporter import --store` and `batch import --store` name the other stored cases of a report's worldwide
case (C.1.8.1), or that list each other's ids (C.1.9.1.r.2), as notes; on SQLite and PostgreSQL."""

from __future__ import annotations

from click.testing import CliRunner

from reporter.cli import main
from reporter.e2b.export import export_bundles
from reporter.store import CaseStore
from reporter.store.worldwide import related_cases

from .test_worldwide_case import MAH, PARTNER, REGULATOR, WORLDWIDE, _bundle, _report, _store_all


def _e2b(tmp_path, data: dict, name: str):
    path = tmp_path / name
    path.write_bytes(export_bundles([_bundle(data)], receiver_name="ich").xml)
    return path


def test_import_store_names_the_other_senders_cases_of_the_worldwide_case(db_url, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("REPORTER_DATABASE_URL", db_url)
    runner = CliRunner()
    outputs = []
    for name, data in (("mah.xml", MAH), ("regulator.xml", REGULATOR), ("partner.xml", PARTNER)):
        result = runner.invoke(main, ["import", "--store", str(_e2b(tmp_path, data, name))])
        assert result.exit_code == 0, result.output
        outputs.append(result.output)
    assert "also held" not in outputs[0]
    assert f"note: also held as case {WORLDWIDE} from sender Example Pharma" in outputs[1]
    assert f"the same worldwide case {WORLDWIDE} (C.1.8.1)" in outputs[1]
    assert "version 1 (initial)" in outputs[1]  # a case of its own, not a follow-up of the first
    # the partner's report has a worldwide id of its own, but lists the regulator's C.1.1
    assert ("note: also held as case DE-BFARM-2023-77 from sender BfArM" in outputs[2]
            and "this report lists DE-BFARM-2023-77 among its other case ids (C.1.9.1.r.2)" in outputs[2])
    assert f"case {WORLDWIDE} " not in outputs[2]
    again = runner.invoke(main, ["import", "--store", str(_e2b(tmp_path, REGULATOR, "regulator-again.xml"))])
    assert "not stored again" in again.output and "also held as case US-PARTNER-9 from sender Partner Inc" \
        in again.output and "it lists DE-BFARM-2023-77 among its other case ids" in again.output


def test_batch_import_store_names_them_too(db_url, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("REPORTER_DATABASE_URL", db_url)
    files = [str(_e2b(tmp_path, data, name)) for name, data in (("mah.xml", MAH), ("regulator.xml", REGULATOR))]
    result = CliRunner().invoke(main, ["batch", "import", "--store", "--jobs", "1", *files])
    assert result.exit_code == 0, result.output
    assert (f"regulator.xml: report 1 (DE-BFARM-2023-77): note: also held as case {WORLDWIDE} from sender "
            "Example Pharma") in result.output
    assert f"mah.xml: report 1 ({WORLDWIDE}): note" not in result.output


def test_related_cases_leave_out_the_reports_own_case(store: CaseStore) -> None:
    ids = _store_all(store, MAH, REGULATOR)
    related, total = related_cases(store, _bundle(REGULATOR))
    assert total == 1 and [(r.case_id, r.case_key, r.sender) for r in related] == [
        (ids[WORLDWIDE], WORLDWIDE, "Example Pharma")]
    assert related_cases(store, _bundle(_report("FR-ANSM-1", "ANSM", worldwide="FR-ANSM-1"))) == ([], 0)


def test_a_stored_case_the_report_lists_is_named(store: CaseStore) -> None:
    _store_all(store, MAH, REGULATOR, PARTNER)
    assert [r.case_key for r in related_cases(store, _bundle(PARTNER))[0]] == ["DE-BFARM-2023-77"]
