"""The seed review's aggregate figures come out of `reporter tabulate` from an imported line listing.

examples/iv-anakinra-shlh-mas-synthetic-listing.csv holds 87 synthetic patients whose marginals match the
published figures of the systematic review of IV anakinra in secondary HLH/MAS (Eur J Haematol, pp. 458-476;
../shared/seeds/iv-anakinra-shlh-mas-review.txt): the rows are invented, only the marginals are the paper's."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from reporter.cli import main
from tests.helpers import EXAMPLES

LISTING = EXAMPLES / "iv-anakinra-shlh-mas-synthetic-listing.csv"
CITATION = "Systematic review of intravenous anakinra in secondary HLH/MAS. Eur J Haematol. pp. 458-476."


@pytest.fixture(scope="module")
def database(tmp_path_factory):
    url = f"sqlite:///{tmp_path_factory.mktemp('seed') / 'store.sqlite3'}"
    result = CliRunner().invoke(main, ["import-listing", str(LISTING), "--store", "--citation", CITATION,
                                       "--received", "2024-01-15", "--database-url", url])
    assert result.exit_code == 0, result.output
    assert "87 of 87 row(s) imported and stored as 87 case(s)" in result.output
    assert "no identifiable patient" not in result.output  # the age at onset identifies the patient
    return url


def _tab(database, *args):
    result = CliRunner().invoke(main, ["tabulate", *args, "--format", "json", "--database-url", database])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    return data, {tuple(r[k] for k in data["by"]): r for r in data["rows"]}


def _pct(row):
    return round(row["percent"])


def test_cohort_size_and_age(database):
    data, _ = _tab(database, "--stats")
    assert data["total_cases"] == 87
    # "median age 22 years, range 22 months to 84 years"
    assert data["age_years"]["median"] == 22 and data["age_years"]["max"] == 84
    assert data["age_years"]["min"] == pytest.approx(22 / 12, abs=0.05)


def test_trigger_shares_among_identifiable_triggers(database):
    _, rows = _tab(database, "--by", "indication")
    # "Amongst identifiable triggers, 43% were systemic infection, 33% rheumatological, 9% oncological."
    assert _pct(rows[("sHLH/MAS (infection trigger)",)]) == 43
    assert _pct(rows[("sHLH/MAS (rheumatological trigger)",)]) == 33
    assert _pct(rows[("sHLH/MAS (oncological trigger)",)]) == 9
    unknown = rows[("unknown",)]
    assert unknown["cases"] == 8 and unknown["percent"] is None  # counted, not dropped
    assert rows[("sHLH/MAS (infection trigger)",)]["denominator"] == 79


def test_children_rheumatological_adults_infection(database):
    _, rows = _tab(database, "--by", "age_band", "--by", "indication", "--bands", "<18,18+")
    # "Children had predominantly a rheumatological trigger (48%), whilst adults were more commonly
    # infection-driven (50%)."
    assert _pct(rows[("<18", "sHLH/MAS (rheumatological trigger)")]) == 48
    assert _pct(rows[("18+", "sHLH/MAS (infection trigger)")]) == 50


def test_survival_by_trigger(database):
    _, rows = _tab(database, "--by", "indication", "--by", "survival")
    # "rheumatologically triggered disease showed greater survival (83.3%), particularly compared with
    # oncological triggers (42.9%)"
    assert round(rows[("sHLH/MAS (rheumatological trigger)", "survived")]["percent"], 1) == 83.3
    assert round(rows[("sHLH/MAS (oncological trigger)", "survived")]["percent"], 1) == 42.9
    assert rows[("sHLH/MAS (rheumatological trigger)", "unknown")]["cases"] == 2


def test_survival_by_age_band(database):
    _, rows = _tab(database, "--by", "age_band", "--by", "survival", "--bands", "<10,10-17,18+")
    # "Children had a greater survival, particularly under 10 years (83%, vs. adults, 63%)."
    assert _pct(rows[("<10", "survived")]) == 83
    assert _pct(rows[("18+", "survived")]) == 63
    low, high = rows[("18+", "survived")]["ci95"]
    assert low < 63 < high


def test_line_listing_of_the_series(database, tmp_path):
    out = tmp_path / "listing.xlsx"
    result = CliRunner().invoke(main, ["line-listing", "--format", "xlsx", "-o", str(out), "--database-url",
                                       database])
    assert result.exit_code == 0, result.output
    import openpyxl

    sheet = openpyxl.load_workbook(out).active
    assert sheet.max_row == 1 + 87 + 2  # header, one row per case-reaction-drug, a blank line and the note
