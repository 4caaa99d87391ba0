"""Listings in several files joined by a key column (VAERS: VAERSDATA + VAERSVAX + VAERSSYMPTOMS), seriousness
as one yes/no column per criterion, and the shipped VAERS map. The data in tests/data/vaers is made up (20
reports in VAERS's shape: several vaccines, more than five terms, Y/blank flags, U sex, decimal ages, deaths;
no real report)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from reporter.casefile.listing import default_map_path, import_listing, load_map
from reporter.cli import main
from reporter.errors import InputError, MappingError

DATA = Path(__file__).parent / "data" / "vaers"


def _vaers(folder: Path = DATA):
    return import_listing(folder / "VAERSDATA.csv", load_map("vaers"), received="2025-02-01",
                          joins=[folder / "VAERSVAX.csv", folder / "VAERSSYMPTOMS.csv"])


@pytest.fixture(scope="module")
def vaers():
    return _vaers()


def _case(result, vaers_id: str):
    return next(r.case for r in result.rows if r.case_id == f"VAERS-VAERSDATA-{vaers_id}")


def test_every_report_is_one_valid_case(vaers):
    assert len(vaers.rows) == 20
    assert [(r.row, r.problems) for r in vaers.rows if r.problems] == []
    assert [r.row for r in vaers.rows if r.errors] == []
    assert any(n.startswith("VAERSVAX.csv: 25 row(s) joined to 20 of 20") for n in vaers.notes)
    assert any(n.startswith("VAERSSYMPTOMS.csv: 24 row(s) joined") for n in vaers.notes)


def test_vaccines_are_suspect_drugs_with_lot_route_and_dose_number(vaers):
    case = _case(vaers, "9000014")
    assert [(d.role, d.product, d.dosages[0].batch, d.dosages[0].route.code, d.dosages[0].text)
            for d in case.drugs] == [
        ("suspect", "INFLUENZA (SEASONAL) (FLUZONE QUADRIVALENT)", "FZ2205", "intramuscular", "dose number 1"),
        ("suspect", "COVID19 (COVID19 (MODERNA))", "MD1007", "intramuscular", "dose number 4"),
        ("suspect", "ZOSTER (SHINGRIX)", "SG5502", "intramuscular", "dose number 2")]
    assert all(str(d.dosages[0].start) == "2025-01-14" for d in case.drugs)
    unknown_route = _case(vaers, "9000013").drugs[0].dosages[0]
    assert unknown_route.route is None and unknown_route.batch == "FZ2204"  # UN: not stated


def test_symptoms_on_two_rows_are_all_reactions_in_order(vaers):
    case = _case(vaers, "9000009")
    assert [r.verbatim for r in case.reactions] == [
        "Myocarditis", "Chest pain", "Troponin increased", "Dyspnoea exertional", "Exercise tolerance decreased",
        "Echocardiogram abnormal", "Fatigue", "Palpitations"]
    row = next(r for r in vaers.rows if r.case_id == case.case_id)
    assert any("MedDRA 27.1 terms without their codes" in message for _w, message in row.warnings)


def test_seriousness_from_the_flags_and_the_death(vaers):
    died = _case(vaers, "9000014")
    assert {k for k, v in died.reactions[0].seriousness.criteria().items() if v is True} == {
        "death", "life_threatening", "hospitalisation"}
    assert str(died.patient.death.date) == "2025-01-20"
    assert died.narrative.text == "Stroke 2 days after vaccines; died in hospital."
    disabled = _case(vaers, "9000009").reactions[0].seriousness.criteria()
    assert {k for k, v in disabled.items() if v is True} == {"hospitalisation", "disabling"}
    prolonged = _case(vaers, "9000016").reactions[0].seriousness.criteria()
    assert {k for k, v in prolonged.items() if v is True} == {"life_threatening", "hospitalisation"}
    plain = _case(vaers, "9000001").reactions[0].seriousness.criteria()  # no Y (an ER visit is no criterion)
    assert set(plain.values()) == {False}
    assert {k for k, v in _case(vaers, "9000005").reactions[0].seriousness.criteria().items() if v} == set()


def test_unknown_sex_and_decimal_ages(vaers):
    infant = _case(vaers, "9000003")
    assert infant.patient.sex.absent == "unknown"
    assert (infant.patient.age_at_onset.value, infant.patient.age_at_onset.unit) == (0.5, "a")
    assert _case(vaers, "9000004").patient.age_at_onset.value == 82.25
    assert _case(vaers, "9000018").patient.age_at_onset is None


def _copy(tmp_path: Path) -> Path:
    folder = tmp_path / "vaers"
    shutil.copytree(DATA, folder)
    return folder


def test_a_flag_that_is_not_yes_or_blank_is_refused_by_row_and_column(tmp_path):
    folder = _copy(tmp_path)
    data = folder / "VAERSDATA.csv"
    lines = data.read_text(encoding="utf-8").splitlines()
    cells = lines[2].split(",")  # 9000002, row 3
    cells[lines[0].split(",").index("HOSPITAL")] = "maybe"
    lines[2] = ",".join(cells)
    data.write_text("\n".join(lines) + "\n", encoding="utf-8")
    row = next(r for r in _vaers(folder).rows if r.row == 3)
    assert row.case is None
    assert any(where.startswith("row 3, column 'seriousness (DIED, L_THREAT, HOSPITAL") and "'HOSPITAL=maybe'" in m
               for where, m in row.problems), row.problems


def test_rows_without_a_report_and_reports_without_rows_are_said(tmp_path):
    folder = _copy(tmp_path)
    vax = folder / "VAERSVAX.csv"
    lines = vax.read_text(encoding="utf-8").splitlines()
    lines = [line for line in lines if not line.startswith("9000020,")] + [
        "9999999,FLU4,SANOFI PASTEUR,X1,1,IM,LA,INFLUENZA (SEASONAL) (FLUZONE QUADRIVALENT)"]
    vax.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = _vaers(folder)
    assert "row(s) of VAERSDATA.csv without a row in VAERSVAX.csv: 21 (9000020)" in result.notes
    assert "VAERSVAX.csv row(s) not read, their key no row of VAERSDATA.csv: 26 (9999999)" in result.notes
    row = next(r for r in result.rows if r.row == 21)
    assert row.case is None and any("no suspect drug" in m for _w, m in row.problems)


def test_joined_files_need_a_key_in_the_map_and_in_each_file(tmp_path):
    with pytest.raises(InputError, match="names no key column"):
        import_listing(DATA / "VAERSDATA.csv", joins=[DATA / "VAERSVAX.csv"])
    keyless = tmp_path / "vax.csv"
    keyless.write_text("ID,VAX_NAME\n1,FLU\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"vax\.csv: no key column"):
        import_listing(DATA / "VAERSDATA.csv", load_map("vaers"), joins=[keyless])


def test_criteria_columns_name_criteria(tmp_path):
    bad = tmp_path / "map.yaml"
    bad.write_text(default_map_path().read_text(encoding="utf-8")
                   + "criteria_columns: {columns: {fatal: [died]}}\n", encoding="utf-8")
    with pytest.raises(MappingError, match=r"criteria_columns\.columns\.fatal: not a seriousness criterion"):
        load_map(bad)


def test_cli_imports_stores_and_tabulates_by_vaccine_and_outcome(tmp_path):
    url = f"sqlite:///{tmp_path / 'store.sqlite3'}"
    runner = CliRunner()
    result = runner.invoke(main, ["import-listing", str(DATA / "VAERSDATA.csv"), "--join", str(DATA / "VAERSVAX.csv"),
                                  "--join", str(DATA / "VAERSSYMPTOMS.csv"), "--map", "vaers", "--store",
                                  "--database-url", url, "-j", "1"])
    assert result.exit_code == 0, result.output
    assert "20 of 20 row(s) imported and stored as 20 case(s); 0 rejected" in result.output

    def counts(*by: str) -> dict[tuple, int]:
        out = runner.invoke(main, ["tabulate", *(a for f in by for a in ("--by", f)), "--format", "json",
                                   "--database-url", url])
        assert out.exit_code == 0, out.output
        return {tuple(r[f] for f in by): r["cases"] for r in json.loads(out.output)["rows"]}

    by_vaccine = counts("drug")
    assert {k[0]: v for k, v in by_vaccine.items()} == {
        "covid19 (covid19 (moderna))": 9, "influenza (seasonal) (fluzone quadrivalent)": 6, "tdap (boostrix)": 3,
        "zoster (shingrix)": 3, "hpv (gardasil 9)": 2, "measles + mumps + rubella (mmr ii)": 2}
    deaths = {k: v for k, v in counts("drug", "survival").items() if k[1] == "died"}
    assert {k[0]: v for k, v in deaths.items()} == {
        "covid19 (covid19 (moderna))": 2, "influenza (seasonal) (fluzone quadrivalent)": 2, "zoster (shingrix)": 1}
    assert {k[0]: v for k, v in counts("serious").items()} == {"yes": 6, "no": 14}


def test_listing_template_writes_the_vaers_map():
    out = CliRunner().invoke(main, ["listing-template", "--variant", "vaers"])
    assert out.exit_code == 0 and "joins:" in out.output and "VAERSSYMPTOMS" in out.output
    assert CliRunner().invoke(main, ["listing-template", "--variant", "nope"]).exit_code == 2


def test_the_default_map_reads_a_lot_and_a_date_of_death(tmp_path):
    listing = tmp_path / "series.csv"
    listing.write_text("Case,Age,Sex,Drug,Lot,Reaction,Outcome,Date of death\n"
                       "1,70,M,Vaccine X,AB123,Myocarditis,fatal,2024-03-02\n", encoding="utf-8")
    case = import_listing(listing, received="2024-04-01").rows[0].case
    assert case.drugs[0].dosages[0].batch == "AB123"
    assert str(case.patient.death.date) == "2024-03-02"
