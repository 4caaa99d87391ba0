"""MedDRA hierarchy from a (synthetic) ASCII release in the real file layout."""

from __future__ import annotations

import pytest

from reporter.errors import InputError
from reporter.meddra import hierarchy, load_release
from reporter.validation.meddra import load_llt_file
from tests.meddra_release import VERSION, write_release


@pytest.fixture(params=[True, False], ids=["mdhier", "link-files"])
def release(tmp_path, request):
    return load_release(write_release(tmp_path / "MedAscii", with_mdhier=request.param))


def test_llt_to_soc_with_primary_and_all_socs(release):
    r = release.resolve("94000001")
    assert r.term.level == "LLT" and r.term.name == "Hepatitis drug-induced (test)"
    assert r.pt.code == "93000001"
    assert r.primary_soc.code == "90000001"
    assert [s.code for s in r.socs] == ["90000001", "90000002"]
    assert {(p.hlt.code, p.hlgt.code, p.soc.code, p.primary) for p in r.paths} == {
        ("92000001", "91000001", "90000001", True), ("92000002", "91000002", "90000002", False)}
    assert release.version == VERSION


def test_pt_code_resolves_and_unknown_code_does_not(release):
    assert release.resolve("93000002").primary_soc.name == "Investigations (test)"
    assert release.resolve("12345678") is None


def test_search_by_words_and_code(release):
    names = [t.name for t in release.search("hepatitis")]
    assert names == ["Hepatitis drug-induced (test)"]  # the non-current LLT is left out
    assert "Toxic hepatitis old term (test)" in [t.name for t in release.search("hepatitis", current_only=False)]
    assert [t.code for t in release.search("increased alt")] == ["94000003"]
    assert release.search("93000003")[0].level == "LLT"
    assert release.search("   ") == []


def test_validation_dictionary_reads_the_same_llt_file(tmp_path):
    folder = write_release(tmp_path)
    d = load_llt_file(folder / "llt.asc")
    assert d.status("94000002") == "noncurrent" and d.status("94000001") == "current"


def test_folder_without_release_is_a_clear_error(tmp_path):
    with pytest.raises(InputError, match=r"llt\.asc and pt\.asc"):
        load_release(tmp_path)


def test_setting_selects_the_release(tmp_path, monkeypatch):
    monkeypatch.delenv("REPORTER_MEDDRA_DIR", raising=False)
    assert hierarchy() is None
    monkeypatch.setenv("REPORTER_MEDDRA_DIR", str(write_release(tmp_path / "r")))
    assert hierarchy().resolve("94000004").pt.code == "93000003"


def test_cli_lookup_by_words_and_code(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from reporter.cli import main

    monkeypatch.setenv("REPORTER_MEDDRA_DIR", str(write_release(tmp_path / "r")))
    result = CliRunner().invoke(main, ["meddra", "hepatitis"])
    assert result.exit_code == 0, result.output
    assert "94000001  Hepatitis drug-induced (test)  [LLT]" in result.output
    assert "primary SOC 90000001 Hepatobiliary disorders (test)" in result.output
    assert "secondary SOC 90000002 Investigations (test)" in result.output
    assert CliRunner().invoke(main, ["meddra", "no such term"]).exit_code == 1
    monkeypatch.delenv("REPORTER_MEDDRA_DIR")
    missing = CliRunner().invoke(main, ["meddra", "hepatitis"])
    assert missing.exit_code == 2 and "REPORTER_MEDDRA_DIR" in missing.output
