"""Line-listing intake: CSV/XLSX rows -> case files, problems by row and column, good rows kept."""

from __future__ import annotations

import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

from reporter.casefile.cells import parse_age, parse_date, parse_dose, parse_number, parse_when
from reporter.casefile.listing import import_listing, load_map, read_sheet
from reporter.cli import main
from reporter.errors import AlreadyStored, InputError, MappingError, StoreConflict
from reporter.store.repository import CaseStore

LISTING = """\
# a comment line: the file's rows are counted as lines, comments included
Patient,Age,Sex,Drug,Route,Dosing,Indication,Reaction,Onset,Outcome,Serious,Country,Causality,Remarks
1,22 months,F,anakinra,IV,continuous infusion,sHLH: infection,HLH,day 3,survived,hospitalisation,GB,possible,
2,84,m,Kineret,iv,bolus,sHLH: malignancy,HLH,not stated,died,,FR,,
3,abc,x,anakinra,IV,,sHLH,HLH,2023-13-01,zzz,yes,France,,
4,12 y,not stated,anakinra,s.c.,,sHLH: rheumatic,HLH,21/03/2023,recovered,"life-threatening; hospitalisation",DE,,
"""


@pytest.fixture
def listing(tmp_path):
    path = tmp_path / "listing.csv"
    path.write_text(LISTING, encoding="utf-8")
    return path


def test_rows_become_cases_and_bad_rows_are_reported_by_row_and_column(listing):
    result = import_listing(listing, citation="Doe J. A case series. J Test. 2024;1:1.", received="2024-05-01")
    assert [r.row for r in result.rows] == [3, 4, 5, 6]
    assert [r.ok for r in result.rows] == [True, True, False, True]
    assert result.ignored == ["Remarks"]
    bad = dict(result.rows[2].problems)
    assert set(bad) == {"row 5, column 'Country'", "row 5, column 'Sex'", "row 5, column 'Age'",
                        "row 5, column 'Onset'", "row 5, column 'Outcome'", "row 5, column 'Serious'"}
    assert "month must be in 1..12" in bad["row 5, column 'Onset'"]
    first, second, _, fourth = (r.case for r in result.rows)
    assert first.case_id == "LISTING-listing-1"
    assert first.patient.age_at_onset.model_dump(exclude_none=True) == {"value": 22.0, "unit": "mo"}
    assert first.patient.sex == "female"
    assert first.reactions[0].onset.model_dump(exclude_none=True) == {"value": 3.0, "unit": "d", "drug": "suspect",
                                                     "anchor": "first-dose"}
    assert first.reactions[0].outcome == "recovered" and first.reactions[0].seriousness.hospitalisation
    assert first.drugs[0].dosages[0].route.code == "intravenous-drip"
    assert first.drugs[0].reactions[0].causality[0].result == "possible"
    assert first.literature[0].citation.startswith("Doe J.")
    assert first.report.first_received == "2024-05-01"
    assert second.reactions[0].outcome == "fatal" and second.reactions[0].seriousness.death
    assert second.reactions[0].onset is None
    assert second.drugs[0].dosages[0].route.code == "intravenous-bolus"
    assert fourth.patient.sex.absent == "unknown"
    assert fourth.reactions[0].onset == "2023-03-21"
    assert fourth.drugs[0].dosages[0].route.code == "subcutaneous"
    assert result.rows[0].bundle["resourceType"] == "Bundle"
    # Validation ran on the kept cases: the missing MedDRA code is a finding, not a rejection.
    assert any("MedDRA" in message for _w, message in result.rows[0].warnings)


def test_xlsx_listing_reads_like_csv(tmp_path):
    import datetime as dt

    import openpyxl

    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["Case ID", "Age", "Drug", "Reaction", "Onset", "Outcome"])
    sheet.append(["GB-TEST-2024-7", 4, "anakinra", "hepatitis", dt.datetime(2023, 4, 5), "recovered"])
    sheet.append(["GB-TEST-2024-8", "3 wk", "anakinra", "hepatitis", 21, "bogus"])
    path = tmp_path / "listing.xlsx"
    book.save(path)
    result = import_listing(path, received="2024-05-01")
    ok, bad = result.rows
    assert ok.case.case_id == "GB-TEST-2024-7" and ok.case.reactions[0].onset == "2023-04-05"
    assert ok.case.patient.age_at_onset.unit == "a"
    assert bad.problems == [("row 3, column 'Outcome'", bad.problems[0][1])]


def test_cli_import_listing_stores_good_rows_and_reimport_adds_versions(listing, tmp_path):
    url = f"sqlite:///{tmp_path / 'store.sqlite3'}"
    runner = CliRunner()
    args = ["import-listing", str(listing), "--store", "--database-url", url, "--received", "2024-05-01",
            "-o", str(tmp_path / "cases")]
    result = runner.invoke(main, args)
    assert result.exit_code == 1, result.output
    assert "row 5, column 'Age': 'abc' is not an age" in result.output
    assert "3 of 4 row(s) imported and stored as 3 case(s); 1 rejected" in result.output
    assert sorted(p.name for p in (tmp_path / "cases").iterdir()) == [
        "LISTING-listing-1.yaml", "LISTING-listing-2.yaml", "LISTING-listing-4.yaml"]
    again = runner.invoke(main, args)  # the same listing again: nothing new to store
    assert again.exit_code == 1 and "(3 already stored, unchanged)" in again.output
    listing.write_text(LISTING.replace("22 months", "23 months"), encoding="utf-8")  # an edited listing
    assert runner.invoke(main, args).exit_code == 1
    store = CaseStore(url)
    try:
        from reporter.fhir.build import build_bundle
        from reporter.store.repository import case_id_for, case_key

        first = import_listing(listing, received="2024-05-01").rows[0]
        history = store.history(case_id_for(*case_key(build_bundle(first.case))))
        assert [v.version for v in history] == [2, 1]
        assert history[0].casefile["case_id"] == "LISTING-listing-1"
    finally:
        store.dispose()


def test_listing_template_is_the_default_map_and_loads(tmp_path):
    out = tmp_path / "map.yaml"
    assert CliRunner().invoke(main, ["listing-template", "-o", str(out)]).exit_code == 0
    assert load_map(out) == load_map()


def test_bad_map_and_unreadable_files_are_clear_errors(tmp_path):
    bad = tmp_path / "map.yaml"
    bad.write_text("format: ae-reporter/listing-map/1\ncolumns: {patient.shoe_size: [shoe]}\n", encoding="utf-8")
    with pytest.raises(MappingError, match="unknown field"):
        load_map(bad)
    for name, content in (("x.pdf", b"%PDF"), ("x.xlsx", b"not a zip"), ("x.csv", b"\x80\x81bad"),
                          ("y.csv", b"\xff\xfe\x00")):
        path = tmp_path / name
        path.write_bytes(content)
        with pytest.raises(InputError):
            read_sheet(path)
    empty = tmp_path / "empty.csv"
    empty.write_text("# only a comment\n", encoding="utf-8")
    with pytest.raises(InputError, match="no header row"):
        read_sheet(empty)
    result = CliRunner().invoke(main, ["import-listing", str(tmp_path / "x.pdf")])
    assert result.exit_code == 2 and "Traceback" not in result.output


def test_a_listing_without_a_drug_column_rejects_every_row(tmp_path):
    path = tmp_path / "l.csv"
    path.write_text("Age,Reaction\n4,rash\n", encoding="utf-8")
    (row,) = import_listing(path, received="2024-05-01").rows
    assert not row.ok and "no suspect drug" in row.problems[0][1]


@pytest.mark.parametrize(("text", "expected"), [
    ("22 months", (22, "mo")), ("4 y", (4, "a")), ("84", (84, "a")), ("10 d", (10, "d")),
    ("3 weeks", (3, "wk")), ("1,5 years", (1.5, "a")), ("6 decades", (6, "{decade}")), ("4 years old", (4, "a")),
    ("4-year-old", (4, "a")), ("22-month-old", (22, "mo")),
])
def test_ages_in_any_unit(text, expected):
    assert tuple(parse_age(text).values()) == expected


@pytest.mark.parametrize(("text", "expected"), [
    ("day 21", {"value": 21.0, "unit": "d", "anchor": "first-dose"}),
    ("21", {"value": 21.0, "unit": "d", "anchor": "first-dose"}),
    ("3 wk", {"value": 3.0, "unit": "wk", "anchor": "first-dose"}),
    ("2 days after last dose", {"value": 2.0, "unit": "d", "anchor": "last-dose",
                                "as_stated": "2 days after last dose"}),
    ("2023", "2023"), ("2023-04", "2023-04"), ("05/04/2023", "2023-04-05"),
])
def test_times_are_dates_or_relative_to_the_suspect_drug(text, expected):
    value = parse_when(text, "suspect")
    if isinstance(expected, dict):
        assert value == {**expected, "drug": "suspect"}
    else:
        assert value == expected


def test_date_order_and_doses():
    assert parse_date("05/04/2023", "MDY") == "2023-05-04"
    with pytest.raises(ValueError, match="calendar date"):
        parse_date("31/02/2023")
    assert parse_dose("10 mg/kg/d") == {"value": 10.0, "unit": "mg/kg/d"}
    assert parse_dose("2 mg/kg/day") == {"value": 2.0, "unit": "mg/kg/d"}
    assert parse_dose("100 mg") == {"value": 100.0, "unit": "mg"}
    with pytest.raises(ValueError, match="not a dose"):
        parse_dose("lots")


@given(st.text(max_size=40))
def test_cell_readers_either_read_or_say_why(text):
    for reader in (parse_age, parse_date, parse_dose, lambda t: parse_when(t, "suspect")):
        try:
            reader(text)
        except ValueError as exc:
            assert str(exc)


def test_rows_sharing_a_case_id_become_one_case_with_its_drugs_and_reactions(tmp_path):
    # One row per patient-drug-reaction, as many published series list them; header units set bare numbers.
    path = tmp_path / "l.csv"
    path.write_text(
        "Case ID,Age (months),Sex,Drug,Reaction,Time to onset (weeks),Naranjo,Withdrawal\n"
        "GB-T-1,30,F,anakinra,hepatitis,3,6 (probable),yes\n"
        "GB-T-1,,,anakinra,rash,1,3 (possible),yes\n"
        "GB-T-1,30,F,tocilizumab,hepatitis,2,2 (possible),no\n"
        "GB-T-2,40,M,anakinra,rash,1,,\n"
        "GB-T-2,41,M,anakinra,fever,1,,\n", encoding="utf-8")
    result = import_listing(path, received="2024-05-01")
    first, second, third, bad, bad_later = result.rows
    assert first.ok and second.ok and third.ok and second.merged_into == third.merged_into == 2
    case = first.case
    assert case.patient.age_at_onset.model_dump(exclude_none=True) == {"value": 30.0, "unit": "mo"}
    assert [r.verbatim for r in case.reactions] == ["hepatitis", "rash"]
    assert [(d.id, d.product, d.action_taken) for d in case.drugs] == [
        ("suspect", "anakinra", "withdrawn"), ("suspect-2", "tocilizumab", "dose-not-changed")]
    assert [(link.reaction, link.causality[0].method, link.causality[0].result) for link in case.drugs[0].reactions] \
        == [("r1", "Naranjo", "6 (probable)"), ("r2", "Naranjo", "3 (possible)")]
    assert case.reactions[0].onset.model_dump(exclude_none=True) == {"value": 3.0, "unit": "wk", "drug": "suspect",
                                                    "anchor": "first-dose"}
    assert case.drugs[1].reactions[0].reaction == "r1"
    # The tocilizumab row's onset is counted from tocilizumab: the reaction keeps the first row's onset, and the
    # tocilizumab-hepatitis assessment gets its own interval.
    assert case.drugs[1].reactions[0].onset_after_first_dose.model_dump() == {"value": 2.0, "unit": "wk"}
    assert case.drugs[0].reactions[0].onset_after_first_dose is None
    assert not bad.ok and not bad_later.ok
    assert bad_later.problems[0][0] == "row 6, column 'Age (months)'"
    assert "differs from row 5" in bad_later.problems[0][1]


_CELL = st.one_of(st.sampled_from(["", "not stated", "22 months", "day 3", "2023-02-30", "died", "M", "x",
                                   "anakinra", "IV", "bolus", "withdrawn", "yes", "94000001", "GB", "1"]),
                  st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=12))


@given(st.lists(st.lists(_CELL, min_size=9, max_size=9), min_size=1, max_size=6))
def test_any_cells_give_cases_or_located_problems(tmp_path_factory, rows):
    import csv as csv_module
    import io as io_module

    out = io_module.StringIO()
    writer = csv_module.writer(out)
    writer.writerow(["Case", "Age", "Sex", "Drug", "Route", "Dosing", "Reaction", "Onset", "Outcome"])
    writer.writerows(rows)
    path = tmp_path_factory.mktemp("fuzz") / "l.csv"
    path.write_text(out.getvalue(), encoding="utf-8")
    try:
        result = import_listing(path, received="2024-05-01", validate=False)
    except InputError:
        return  # e.g. a row of blank cells only: no data rows is still a clear error
    for row in result.rows:
        assert row.ok or all(where.startswith(f"row {row.row}") for where, _ in row.problems)
        assert row.ok or row.problems


def _summary(result):
    return [(r.row, r.case_id, r.ok, r.problems, r.warnings, r.merged_into, r.bundle,
             r.case.model_dump() if r.case else None) for r in result.rows]


def test_a_listing_on_a_process_pool_gives_what_one_process_gives(tmp_path):
    # good rows, a rejected row, a case given on several rows (merged) and one whose later row disagrees
    path = tmp_path / "l.csv"
    path.write_text(LISTING.split("\n", 1)[1] + "".join(
        f"{n},{30 + n} months,F,anakinra,IV,bolus,sHLH,HLH,day {n % 9 + 1},survived,hospitalisation,GB,possible,\n"
        for n in range(10, 40)) + "40,3,F,anakinra,IV,,sHLH,rash,day 2,,,GB,,\n40,4,F,anakinra,IV,,sHLH,fever,,,,GB,,\n"
        "41,5,M,anakinra,IV,,sHLH,rash,day 1,,,GB,,\n41,5,M,tocilizumab,IV,,sHLH,fever,day 2,,,GB,,\n",
        encoding="utf-8")
    one = import_listing(path, received="2024-05-01")
    pooled = import_listing(path, received="2024-05-01", jobs=2)
    assert _summary(pooled) == _summary(one)
    assert len(one.rows) == 38 and sum(not r.ok for r in one.rows) >= 3
    assert any(r.merged_into for r in one.rows if r.ok)
    seen = []
    import_listing(path, received="2024-05-01", jobs=2, progress=lambda cases, done: (seen.append(len(cases)) or done))
    assert seen == [36]  # 38 rows, two cases given on two rows each


def test_cli_import_listing_runs_on_a_pool(listing, tmp_path):
    args = ["import-listing", str(listing), "--received", "2024-05-01", "-o", str(tmp_path / "cases")]
    one = CliRunner().invoke(main, [*args, "-j", "1"])
    pooled = CliRunner().invoke(main, [*args, "-j", "2"])
    assert pooled.exit_code == one.exit_code == 1
    assert pooled.output == one.output
    assert "3 of 4 row(s) imported as 3 case(s); 1 rejected" in pooled.output


SERIES = """\
Pt,Age/Sex,Agent,Dose,Time to onset,Reaction,Outcome,Ref
1,54/F,Anakinra,100 mg daily,<1 h,Hepatitis,Recovered,Smith 2020
2,6 mo/M,Anakinra,2 mg/kg/day,3-4 weeks,Transaminitis,Death,Jones 2021
3,"32 y, female",Anakinra IV,10 mg/kg/d,~21 d,Elevated ALT,Improving,Lee 2022
4,F/71,anakinra,,day 5,Rash,unknown,Kim 2019
5,NR/M,anakinra,,>2 mo,Rash,,Kim 2019
6,54/Q,anakinra,,<soon,Rash,,Kim 2019
"""


def test_a_published_case_series_table_reads_in_its_own_words(tmp_path):
    """A table as case series print them: one Age/Sex column, the drug as 'Agent', qualified latencies and
    ranges, a reference per row. The author's words of a qualified time are kept."""
    path = tmp_path / "series.csv"
    path.write_text(SERIES, encoding="utf-8")
    result = import_listing(path, received="2024-05-01")
    assert result.ignored == []
    cases = [r.case for r in result.rows]
    ages = [(c.patient.age_at_onset.model_dump() if c and c.patient.age_at_onset else None) for c in cases[:5]]
    assert [(a["value"], a["unit"]) if a else None for a in ages] == [(54, "a"), (6, "mo"), (32, "a"), (71, "a"),
                                                                       None]
    assert [c.patient.sex for c in cases[:5]] == ["female", "male", "female", "female", "male"]
    assert [c.drugs[0].product for c in cases[:3]] == ["Anakinra", "Anakinra", "Anakinra IV"]
    assert [c.literature[0].citation for c in cases[:2]] == ["Smith 2020", "Jones 2021"]
    # a dose with how often it was given is the dose and its interval, and the author's words the dosage text
    dosage = cases[0].drugs[0].dosages[0]
    assert dosage.text == "100 mg daily" and (dosage.dose.value, dosage.dose.unit) == (100, "mg")
    assert (dosage.every.value, dosage.every.unit) == (1, "d")
    assert cases[1].drugs[0].dosages[0].dose.model_dump() == {"value": 2.0, "unit": "mg/kg/d"}
    onsets = [c.reactions[0].onset.model_dump(exclude_none=True) for c in cases[:5]]
    assert onsets[0] == {"value": 1.0, "unit": "h", "drug": "suspect", "anchor": "first-dose", "qualifier": "within",
                         "as_stated": "<1 h"}
    assert (onsets[1]["value"], onsets[1]["high"], onsets[1]["unit"]) == (3.0, 4.0, "wk")
    assert onsets[2]["qualifier"] == "about" and onsets[4]["qualifier"] == "at-least"
    assert onsets[3] == {"value": 5.0, "unit": "d", "drug": "suspect", "anchor": "first-dose"}
    bad = dict(result.rows[5].problems)
    assert "'Q' is not a known sex value" in bad["row 7, column 'Age/Sex'"]
    assert "'<soon'" in bad["row 7, column 'Time to onset'"]


@pytest.mark.parametrize(("text", "expected"), [
    ("<1 h", {"value": 1.0, "unit": "h", "qualifier": "within"}),
    ("within 20 min", {"value": 20.0, "unit": "min", "qualifier": "within"}),
    ("≤ 2 d", {"value": 2.0, "unit": "d", "qualifier": "within"}),
    ("approx. 3 weeks", {"value": 3.0, "unit": "wk", "qualifier": "about"}),
    ("at least 10 d after last dose", {"value": 10.0, "unit": "d", "qualifier": "at-least", "anchor": "last-dose"}),
    ("5–7 days", {"value": 5.0, "unit": "d", "high": 7.0}),
    ("3 to 4 mo", {"value": 3.0, "unit": "mo", "high": 4.0}),
])
def test_qualified_and_ranged_latencies(text, expected):
    found = parse_when(text, "d1")
    assert {k: found[k] for k in expected} == expected and found["as_stated"] == text


@pytest.mark.parametrize("text", ["4-3 d", "<2023-04-05", "about", "~ soon"])
def test_latencies_that_cannot_be_read_say_so(text):
    with pytest.raises(ValueError):
        parse_when(text, "d1")


def test_a_listing_without_seriousness_leaves_it_not_known(tmp_path):
    """No seriousness column (or a "not stated" cell) is no claim: each criterion is not known (NI), never
    "no", so the case is not made non-serious; a fatal outcome still makes it serious by death."""
    from reporter.analysis.projection import project_bundle

    path = tmp_path / "l.csv"
    path.write_text("Drug,Reaction,Outcome\nallopurinol,DRESS,recovered\nallopurinol,DRESS,died\n", encoding="utf-8")
    kept, fatal = import_listing(path, received="2024-05-01").rows
    seriousness = kept.case.reactions[0].seriousness
    assert seriousness.serious is None
    assert all(v.model_dump() == {"absent": "no-information"} for v in seriousness.criteria().values())
    (row,) = project_bundle(kept.bundle)
    assert row["serious"] is None and row["sc_hospitalisation"] is None
    assert fatal.case.reactions[0].seriousness.serious is True
    assert fatal.case.reactions[0].seriousness.hospitalisation.absent == "no-information"


def test_the_map_may_state_seriousness_for_the_whole_listing(tmp_path):
    path = tmp_path / "l.csv"
    path.write_text("Drug,Reaction,Serious\nallopurinol,DRESS,\nallopurinol,DRESS,no\n", encoding="utf-8")
    not_stated, said_no = import_listing(path, received="2024-05-01").rows
    assert not_stated.case.reactions[0].seriousness.serious is None
    assert said_no.case.reactions[0].seriousness.serious is False
    base = load_map()
    listing_map = base.model_copy(update={"defaults": {**base.defaults, "reaction": {"seriousness": {
        name: False for name in ("death", "life_threatening", "hospitalisation", "disabling", "congenital_anomaly",
                                 "other_medically_important")}}}})
    (row, _) = import_listing(path, listing_map, received="2024-05-01").rows
    assert row.case.reactions[0].seriousness.serious is False


@pytest.mark.parametrize(("text", "expected"), [
    ("day 10-14", {"value": 10.0, "high": 14.0, "unit": "d"}),
    ("2nd week", {"value": 1.0, "high": 2.0, "unit": "wk"}),  # the second week: 7 to 14 days
    ("second week after last dose", {"value": 1.0, "high": 2.0, "unit": "wk", "anchor": "last-dose"}),
    ("same day", {"value": 0.0, "unit": "d"}),
    ("D10", {"value": 10.0, "unit": "d"}),
    ("3 days after last dose", {"value": 3.0, "unit": "d", "anchor": "last-dose"}),
])
def test_latencies_as_case_series_write_them_keep_the_words(text, expected):
    found = parse_when(text, "d1")
    assert {k: found[k] for k in expected} == expected and found["as_stated"] == text


def test_a_latency_that_cannot_be_read_says_so_with_the_forms():
    with pytest.raises(ValueError, match=r"not a latency the tool reads .*2nd week.*same day"):
        parse_when("day ten", "d1")


@pytest.mark.parametrize(("text", "expected"), [("60s", 6.0), ("in her 60s", 6.0), ("in his sixties", 6.0)])
def test_ages_in_decades(text, expected):
    assert parse_age(text) == {"value": expected, "unit": "{decade}"}


@pytest.mark.parametrize(("text", "unit"), [("50-59", "a"), ("50 to 59 y", "a"), ("50–59 years", "a"),
                                            ("aged 50-59", "a")])
def test_a_span_of_one_whole_decade_is_the_e2b_decade_age(text, unit):
    assert parse_age(text, unit) == {"value": 5.0, "unit": "{decade}"}


@pytest.mark.parametrize(("text", "span"), [
    ("<18", (0.0, 18.0, "a", "below")), (">65", (65.0, None, "a", "above")), ("≥ 70", (70.0, None, "a", "at_least")),
    ("65+", (65.0, None, "a", "at_least")), ("<=17", (0.0, 18.0, "a", "at_most")),
    ("under 2 y", (0.0, 2.0, "a", "below")), ("18-40", (18.0, 41.0, "a", "span")), ("50-60", (50.0, 61.0, "a", "span")),
    ("<28 d", (0.0, 28.0, "d", "below")), ("65 years or older", (65.0, None, "a", "at_least")),
])
def test_other_bounds_and_spans_are_not_an_e2b_age_and_say_what_they_allow(text, span):
    from reporter.casefile.cells import AgeNotE2B

    with pytest.raises(AgeNotE2B, match="not an age E2B can hold") as caught:
        parse_age(text)
    found = caught.value.span
    assert (found.low, found.high, found.unit, found.kind) == span and found.text == text


def test_a_decade_span_under_a_months_header_is_not_a_decade():
    from reporter.casefile.cells import AgeNotE2B

    with pytest.raises(AgeNotE2B):
        parse_age("50-59", header_unit="mo")
    with pytest.raises(ValueError, match="end is below its start"):
        parse_age("59-50")


def test_ages_given_as_bounds_keep_the_words_and_take_an_age_group_only_without_doubt(tmp_path):
    """'<18' spans neonate to adolescent: no age, no group, the words in the narrative and a warning at the cell;
    '>65' and '18-40' lie wholly in one ICH age group (elderly, adult) and get it; '50-59' is the decade age 5."""
    path = tmp_path / "series.csv"
    path.write_text("Case,Sex,Agent,Reaction,Age,Age/Sex,Comments\n"
                    "1,F,allopurinol,DRESS,<18,,\n"
                    "2,M,allopurinol,DRESS,>65,,Rash on day 3.\n"
                    "3,M,allopurinol,DRESS,50-59,,\n"
                    "4,M,allopurinol,DRESS,18-40,,\n"
                    "5,,allopurinol,DRESS,,≥ 70/F,\n", encoding="utf-8")
    rows = import_listing(path, received="2024-05-01").rows
    assert all(r.ok for r in rows), [r.problems for r in rows]
    patients = [r.case.patient for r in rows]
    assert [p.age_group for p in patients] == [None, "elderly", None, "adult", "elderly"]
    assert [p.age_at_onset.model_dump() if p.age_at_onset else None for p in patients] == [
        None, None, {"value": 5.0, "unit": "{decade}"}, None, None]
    assert patients[4].sex == "female"
    narratives = [r.case.narrative.text if r.case.narrative else None for r in rows]
    assert narratives == ["Age as given in the listing: <18", "Rash on day 3.\n\nAge as given in the listing: >65",
                          None, "Age as given in the listing: 18-40", "Age as given in the listing: ≥ 70"]
    warning = dict(rows[0].warnings)["row 2, column 'Age'"]
    assert warning.startswith("warning: '<18' is a bound on the age, not an age E2B can hold")
    assert "group" not in warning
    assert "the age group is elderly (D.2.3)" in dict(rows[4].warnings)["row 6, column 'Age/Sex'"]
    assert not any("Age" in where for where, _ in rows[2].warnings)


def test_cli_import_listing_names_the_rows_of_each_counted_finding(tmp_path):
    path = tmp_path / "series.csv"
    path.write_text("Case,Sex,Agent,Reaction,Age\n" + "".join(f"{n},F,allopurinol,DRESS,{age}\n" for n, age in (
        (1, "<18"), (2, "<18"), (3, "40"))), encoding="utf-8")
    output = CliRunner().invoke(main, ["import-listing", str(path), "--received", "2024-05-01", "-j", "1"]).output
    assert "2 case(s): warning: '<18' is a bound on the age" in output
    assert "[rows 2, 3 of column 'Age']" in output and "[rows 2, 3, 4 of column 'Reaction']" in output


def test_age_groups_and_sex_not_known_in_a_listing(tmp_path):
    path = tmp_path / "l.csv"
    path.write_text("Drug,Reaction,Age,Sex,Age/Sex\n"
                    + "".join(f"amoxicillin,urticaria,{age},{sex},\n" for age, sex in (
                        ("newborn", "F"), ("neonate", "U"), ("infant", "M"), ("child", "UNK"),
                        ("adolescent", "unknown"), ("adult", "m"), ("elderly", "f")))
                    + "amoxicillin,urticaria,,,newborn/female\n", encoding="utf-8")
    rows = import_listing(path, received="2024-05-01").rows
    assert all(r.ok for r in rows), [r.problems for r in rows]
    patients = [r.case.patient for r in rows]
    assert [p.age_group for p in patients] == ["neonate", "neonate", "infant", "child", "adolescent", "adult",
                                               "elderly", "neonate"]
    assert all(p.age_at_onset is None for p in patients)
    assert [p.sex if isinstance(p.sex, str) else p.sex.absent for p in patients] == [
        "female", "unknown", "male", "unknown", "unknown", "male", "female", "female"]


@pytest.mark.parametrize(("result", "category"), [
    ("6", "Naranjo: Probable"), ("9", "Naranjo: Definite"), ("3", "Naranjo: Possible"), ("0", "Naranjo: Doubtful"),
    ("-1", "Naranjo: Doubtful"), ("score 5", "Naranjo: Probable"), ("14", "other/unmapped"),
])
def test_a_bare_naranjo_score_reads_as_its_category(result, category):
    from reporter.assess.result import parse_result, tabulation_category

    assert tabulation_category("Naranjo", result) == category
    if category != "other/unmapped":
        assert parse_result("Naranjo", result)[1] == int(result.split()[-1])  # the score is kept


def test_a_naranjo_score_column_is_on_the_scale(tmp_path):
    path = tmp_path / "l.csv"
    path.write_text("Agent,Reaction,Naranjo score\nallopurinol,DRESS,6\n", encoding="utf-8")
    (row,) = import_listing(path, received="2024-05-01").rows
    (causality,) = row.case.drugs[0].reactions[0].causality
    assert (causality.method, causality.result) == ("Naranjo", "6")
    assert not [m for _, m in row.warnings if "Naranjo scale" in m], row.warnings


def test_a_kept_case_with_validation_errors_is_counted_and_exits_1(tmp_path):
    """A row that reads but whose case is not a valid ICSR (no identifiable patient) is kept, as the README
    says of validation findings, but said with its row, counted in the summary, and the exit code is 1."""
    path = tmp_path / "l.csv"
    path.write_text("No;Sex;Age;Drug;Event\n1;M;18;vaccine;rash\n2;unknown;ns;vaccine;abscess\n", encoding="utf-8")
    result = CliRunner().invoke(main, ["import-listing", str(path), "--received", "2024-05-01", "-j", "1"])
    assert result.exit_code == 1, result.output
    assert "row 3: Bundle.entry.resource.ofType(Patient): error: no identifiable patient" in result.output
    assert "2 of 2 row(s) imported as 2 case(s); 0 rejected; 1 case(s) with validation errors" in result.output


def test_a_mistake_in_the_map_defaults_is_told_once_with_its_key_path(tmp_path, listing):
    bad = tmp_path / "map.yaml"
    bad.write_text(
        "format: ae-reporter/listing-map/1\ncolumns: {drug.product: [drug]}\n"
        "defaults: {drug: {id: suspect, role: suspect, route: intramuscular}, report: {type: spontanous}}\n",
        encoding="utf-8")
    with pytest.raises(MappingError, match=r"defaults\.drug\.route: not a field") as raised:
        load_map(bad)
    assert "defaults.report.type" in str(raised.value)
    result = CliRunner().invoke(main, ["import-listing", str(listing), "--map", str(bad), "-j", "1"])
    assert result.exit_code == 2
    assert result.output.count("defaults.drug.route") == 1 and "row " not in result.output


def test_qualified_latencies_are_not_counted_as_values(tmp_path):
    """'>2 mo', 'within 48 h', '~3 wk' and '3-4 weeks' are bounds or ranges: the tabulation's median leaves them
    out and says how many, and the line listing shows them qualified, with the author's words as the onset."""
    import csv
    import io

    path = tmp_path / "l.csv"
    path.write_text("Agent,Reaction,Latency\n" + "".join(f"allopurinol,DRESS,{latency}\n" for latency in (
        ">2 mo", "within 48 h", "~3 wk", "3-4 weeks", "10 d", "20 d")), encoding="utf-8")
    db = ["--database-url", f"sqlite:///{tmp_path / 'store.sqlite3'}"]
    runner = CliRunner()
    runner.invoke(main, ["import-listing", str(path), "--store", "--received", "2024-05-01", "-j", "1", *db])
    stats = runner.invoke(main, ["tabulate", "--by", "drug", "--stats", "--format", "json", *db])
    import json

    data = json.loads(stats.output)
    assert data["latency_days"] == {"n": 2, "median": 15.0, "q1": 12.5, "q3": 17.5, "min": 10.0, "max": 20.0,
                                    "qualified": 4}
    note = next(note for note in data["notes"] if "4 qualified or ranged" in note)
    assert "(<=2, " in note and "'within 48 h'" not in note  # the data's own, not a fixed example
    listing = runner.invoke(main, ["line-listing", "--format", "csv", *db]).output
    rows = {r["Onset"]: r["Latency (days)"] for r in csv.DictReader(io.StringIO(listing))}
    assert rows == {">2 mo": ">=60.9", "within 48 h": "<=2", "~3 wk": "~21", "3-4 weeks": "21-28",
                    "10 d after first dose": "10.0", "20 d after first dose": "20.0"}


@pytest.mark.parametrize("text,expected", [("1,5", 1.5), ("1.5", 1.5), ("12,25", 12.25), ("1,234.5", 1234.5),
                                           ("1.234,5", 1234.5), ("1,000,000", 1e6), ("300", 300.0),
                                           # no thousands grouping can start with 0 or have four digits before
                                           # its separator: digoxin's 0.125 mg is a decimal, not ambiguous
                                           ("0.125", 0.125), ("0,125", 0.125), ("1234,567", 1234.567)])
def test_numbers_with_a_decimal_comma_or_thousands_groups(text, expected):
    assert parse_number(text) == expected


@pytest.mark.parametrize("text", ["1,000 mg/day", "1,200 mg", "2.000 mg"])
def test_a_thousands_separator_is_never_read_as_a_decimal_mark(tmp_path, text):
    path = tmp_path / "doses.csv"
    path.write_text(f'Case,Drug,Dose,Weight,Reaction\n1,drugA,"{text}",70,rash\n2,drugB,10 mg,"1.500",rash\n',
                    encoding="utf-8")
    first, second = import_listing(path, received="2024-05-01").rows
    assert first.problems == [("row 2, column 'Dose'", first.problems[0][1])] and "ambiguous" in first.problems[0][1]
    assert second.problems == [("row 3, column 'Weight'", second.problems[0][1])]


def test_the_map_may_state_the_decimal_mark(tmp_path):
    path = tmp_path / "doses.csv"
    path.write_text('Case,Drug,Dose,Reaction\n1,drugA,"1,000 mg/day",rash\n2,drugA,"2.000 mg",rash\n', encoding="utf-8")
    raw = load_map().model_dump()
    read = {mark: [r.case.drugs[0].dosages[0].dose.value
                   for r in import_listing(path, load_map_from(raw, tmp_path, decimal_mark=mark)).rows]
            for mark in (".", ",")}
    assert read == {".": [1000.0, 2.0], ",": [1.0, 2000.0]}


def load_map_from(raw, tmp_path, **changes):
    import yaml

    path = tmp_path / "map.yaml"
    path.write_text(yaml.safe_dump({**raw, **changes}), encoding="utf-8")
    return load_map(path)


def test_a_listing_does_not_store_over_another_listings_patient(tmp_path):
    url = f"sqlite:///{tmp_path / 'store.sqlite3'}"
    one, two = tmp_path / "dress.csv", tmp_path / "paed.csv"
    one.write_text("Case,Drug,Reaction\n6,minocycline,DRESS\n", encoding="utf-8")
    two.write_text("Patient,Drug,Reaction\n6,propranolol,hypoglycaemia\n", encoding="utf-8")
    for path in (one, two):
        result = CliRunner().invoke(main, ["import-listing", str(path), "--store", "--database-url", url,
                                           "--received", "2024-05-01"])
        assert "1 of 1 row(s) imported and stored" in result.output
    assert {import_listing(path).rows[0].case_id for path in (one, two)} == {"LISTING-dress-6", "LISTING-paed-6"}


def test_a_row_is_not_stored_over_a_case_of_another_listing_file(tmp_path):
    from reporter.casefile.listing import store_row

    store = CaseStore(f"sqlite:///{tmp_path / 'store.sqlite3'}")
    path = tmp_path / "series.csv"
    path.write_text("Case,Drug,Reaction\n6,minocycline,DRESS\n", encoding="utf-8")
    row = import_listing(path, received="2024-05-01").rows[0]
    try:
        store_row(store, row, listing="other.csv", reason="r")
        with pytest.raises(StoreConflict, match=r"from listing other\.csv"):
            store_row(store, row, listing="series.csv", reason="r")
        with pytest.raises(AlreadyStored):
            store_row(store, row, listing="other.csv", reason="r")
    finally:
        store.dispose()


def test_a_footnote_letter_is_not_read_as_a_unit_against_the_header(tmp_path):
    path = tmp_path / "series.csv"
    path.write_text("Case,Age (months),Drug,Reaction,Latency (days)\n1,7a,drugA,rash,21a\n2,2 y,drugA,rash,3 wk\n"
                    "3,7,drugA,rash,28†\n", encoding="utf-8")
    first, second, third = import_listing(path, received="2024-05-01").rows
    problems = dict(first.problems)
    assert "footnote marker" in problems["row 2, column 'Age (months)'"]
    assert "footnote marker" in problems["row 2, column 'Latency (days)'"]
    assert set(dict(second.problems)) == {"row 3, column 'Age (months)'", "row 3, column 'Latency (days)'"}
    assert "contradicts the column's unit (mo)" in dict(second.problems)["row 3, column 'Age (months)'"]
    assert third.case.reactions[0].onset.value == 28 and third.case.patient.age_at_onset.unit == "mo"
    assert any("footnote mark '†'" in message for _where, message in third.warnings)


def test_a_date_column_that_proves_the_other_order_is_refused_once(tmp_path):
    path = tmp_path / "series.csv"
    path.write_text("Case,Drug,Reaction,Start date\n1,drugA,rash,05/06/2021\n2,drugA,rash,04/29/2021\n",
                    encoding="utf-8")
    with pytest.raises(InputError, match=r"column 'Start date': 04/29/2021 \(row 3\) can only be read as MDY"):
        import_listing(path, received="2024-05-01")
    path.write_text("Case,Drug,Reaction,Start date\n1,drugA,rash,05/06/2021\n2,drugA,rash,04/03/2021\n",
                    encoding="utf-8")
    result = import_listing(path, received="2024-05-01")
    assert result.notes == ["column 'Start date': its 2 date(s) (05/06/2021, 04/03/2021) read either way; read as "
                            "DMY (date_order in the column map)"]
    assert result.rows[0].case.drugs[0].dosages[0].start == "2021-06-05"


def test_the_header_below_a_title_and_group_row_is_found_and_notes_under_the_table_skipped(tmp_path):
    import openpyxl

    book = openpyxl.Workbook()
    sheet = book.active
    for values in (["Table 2. Drug-induced liver injury"], ["Patient", None, "Suspect drug", None, None],
                   ["Case", "Age", "Drug", "Reaction", None, "Onset (days)", "Latency (days)"],
                   ["1", 45, "isoniazid", "hepatitis", "x", 20, 21], [], ["a Age at diagnosis."]):
        sheet.append(values)
    sheet.merge_cells("A1:E1")
    path = tmp_path / "merged.xlsx"
    book.save(path)
    result = import_listing(path, received="2024-05-01")
    assert [r.row for r in result.rows] == [4] and result.rows[0].ok
    assert set(result.columns) == {"case_id", "patient.age", "drug.product", "reaction.term", "reaction.onset"}
    assert result.ignored == []
    assert result.notes == [
        "row 1 above the header skipped: Table 2. Drug-induced liver injury",
        "row 2 above the header skipped: Patient | Suspect drug",
        "row 6 under the table skipped as a footnote: a Age at diagnosis.",
        "column E has no header: its cells are not read",
        "column 'Latency (days)' not read: reaction.onset is read from column 'Onset (days)'"]


def test_a_listing_without_a_mapped_header_is_one_error(tmp_path):
    path = tmp_path / "series.csv"
    path.write_text("Foo,Bar\n1,2\n3,4\n", encoding="utf-8")
    with pytest.raises(InputError, match="no mapped header found"):
        import_listing(path, received="2024-05-01")


@pytest.mark.parametrize("result,category", [("6 (probable)", "RUCAM: Probable"), ("8", "RUCAM: Probable"),
                                             ("0", "RUCAM: Excluded"), ("2", "RUCAM: Unlikely"),
                                             ("9", "RUCAM: Highly probable"), ("2 (probable)", "other/unmapped")])
def test_rucam_scores_and_labels_read_the_same_in_validate_assess_and_tabulate(tmp_path, result, category):
    from reporter.assess.result import parse_result, tabulation_category

    path = tmp_path / "dili.csv"
    path.write_text(f"Case,Drug,Reaction,RUCAM\n1,isoniazid,hepatitis,{result}\n", encoding="utf-8")
    row = import_listing(path, received="2024-05-01").rows[0]
    said_off_scale = any("scale" in message for _where, message in row.warnings)
    assert tabulation_category("RUCAM", result) == category
    assert said_off_scale == (category == "other/unmapped") == (parse_result("RUCAM", result) is None)


def test_a_dose_in_a_unit_ucum_lacks_is_kept_as_dosage_text(tmp_path):
    path = tmp_path / "paed.csv"
    path.write_text("Case,Sex,Drug,Reaction,Dose\n1,F,ibuprofen,acute kidney injury,10 mg/kg/dose\n", encoding="utf-8")
    row = import_listing(path, received="2024-05-01").rows[0]
    dosage = row.case.drugs[0].dosages[0]
    assert dosage.dose is None and dosage.text == "10 mg/kg/dose" and row.errors == 0
    assert ("row 2, column 'Dose'", "note: '10 mg/kg/dose' is not a number and a UCUM unit: kept as the dosage "
            "text (G.k.4.r.8)") in row.warnings


def test_a_validation_finding_is_located_by_row_and_column(tmp_path):
    path = tmp_path / "series.csv"
    path.write_text("Case,Sex,Drug,Reaction,Weight (kg)\n1,F,terbinafine,hepatitis,1250\n", encoding="utf-8")
    row = import_listing(path, received="2024-05-01").rows[0]
    assert any(where == "row 2, column 'Weight (kg)'" and "1250 kg" in message for where, message in row.warnings)


def test_ages_in_decades_are_ranges_in_tabulations(tmp_path):
    """'60s' is held as 6 {decade} (E2B allows it): 60 up to 70, not 60. The tabulation leaves it out of the
    median age and counts it, an age band or ICH age group takes it only whole, and the line listing shows the
    range."""
    import csv
    import io
    import json

    path = tmp_path / "l.csv"
    path.write_text("Agent,Reaction,Age\n" + "".join(f"allopurinol,DRESS,{age}\n" for age in (
        "60s", "in his seventies", "54", "70")), encoding="utf-8")
    db = ["--database-url", f"sqlite:///{tmp_path / 'store.sqlite3'}"]
    runner = CliRunner()
    runner.invoke(main, ["import-listing", str(path), "--store", "--received", "2024-05-01", "-j", "1", *db])
    stats = json.loads(runner.invoke(main, ["tabulate", "--by", "age_band", "--bands", "<65,60-69,70+", "--stats",
                                            "--format", "json", *db]).output)
    assert stats["age_years"] == {"n": 2, "median": 62.0, "q1": 58.0, "q3": 66.0, "min": 54.0, "max": 70.0,
                                  "ranged": 2}
    assert any("2 age(s) given as a range (60-69, 70-79 years) left out of the median" in n for n in stats["notes"])
    # the sixties are not '<65' by their lower end; they are wholly '60-69'
    assert {r["age_band"]: r["cases"] for r in stats["rows"]} == {"<65": 1, "60-69": 1, "70+": 2}
    groups = json.loads(runner.invoke(main, ["tabulate", "--by", "age_group", "--format", "json", *db]).output)
    assert {r["age_group"]: r["cases"] for r in groups["rows"]} == {"adult": 1, "elderly": 2, "unknown": 1}
    where = runner.invoke(main, ["tabulate", "--where", "age_group=elderly", "--format", "json", *db]).output
    assert json.loads(where)["total_cases"] == 2
    listing = runner.invoke(main, ["line-listing", "--format", "csv", *db]).output
    assert sorted(r["Age (years)"] for r in csv.DictReader(io.StringIO(listing))) == ["54.0", "60-69", "70-79",
                                                                                      "70.0"]


def test_negative_latencies_are_findings_at_import_and_left_out_of_the_latency_median(tmp_path):
    """A reaction before the drug's first dose ('-2 d', or an onset date before the start date) is real data (a
    pre-existing condition, or a mistake in the table): the import says it at its row and column (validation's
    PLAUS-ONSET-BEFORE-DRUG), the line listing shows it as it is, and --stats leaves it out of the latency median,
    IQR and range with a count instead of averaging it in."""
    import csv
    import io
    import json

    path = tmp_path / "l.csv"
    path.write_text("Agent,Reaction,Start,Onset\n"
                    "allopurinol,DRESS,,-2 d\n"
                    "allopurinol,DRESS,2023-04-10,2023-04-05\n"
                    "allopurinol,DRESS,,10 d\n"
                    "allopurinol,DRESS,,20 d\n"
                    "allopurinol,DRESS,,>2 mo\n", encoding="utf-8")
    db = ["--database-url", f"sqlite:///{tmp_path / 'store.sqlite3'}"]
    runner = CliRunner()
    imported = runner.invoke(main, ["import-listing", str(path), "--store", "--received", "2024-05-01", "-j", "1",
                                    *db]).output
    assert ("2 case(s): warning: the reaction began before the first dose of every suspect drug (allopurinol) "
            "[rows 2, 3 of column 'Onset']") in imported
    data = json.loads(runner.invoke(main, ["tabulate", "--by", "drug", "--stats", "--format", "json", *db]).output)
    assert data["latency_days"] == {"n": 2, "median": 15.0, "q1": 12.5, "q3": 17.5, "min": 10.0, "max": 20.0,
                                    "qualified": 1, "negative": 2}
    assert data["rows"][0]["latency_days"]["negative"] == 2
    assert any("2 negative latency(ies) (-5, -2 days: the reaction began before the drug's first dose" in note
               for note in data["notes"])
    table = list(csv.DictReader(io.StringIO(runner.invoke(main, ["tabulate", "--by", "drug", "--stats", "--format",
                                                                 "csv", *db]).output)))
    assert table[0]["Latency negative (not in median)"] == "2" and table[0]["Latency n"] == "2"
    listing = runner.invoke(main, ["line-listing", "--format", "csv", *db]).output
    assert sorted(float(r["Latency (days)"]) for r in csv.DictReader(io.StringIO(listing))
                  if not r["Latency (days)"].startswith(">")) == [-5.0, -2.0, 10.0, 20.0]


def test_exact_latency_summary_counts_what_it_leaves_out():
    from reporter.analysis.tabulate import exact_latency_summary

    assert exact_latency_summary([(10.0, None), (-2.0, None), (0.0, None), (60.9, "at-least")]) == {
        "n": 2, "median": 5.0, "q1": 2.5, "q3": 7.5, "min": 0.0, "max": 10.0, "qualified": 1, "negative": 1}
    assert exact_latency_summary([(-2.0, None)]) == {"n": 0, "negative": 1}
    from reporter.analysis.fhirout import _latency

    assert _latency({"n": 0, "negative": 1}) == [{"name": "latency", "part": [
        {"name": "n", "valueInteger": 0}, {"name": "negative", "valueInteger": 1}]}]
    assert exact_latency_summary([(3.0, None)]) == {"n": 1, "median": 3.0, "q1": 3.0, "q3": 3.0, "min": 3.0,
                                                    "max": 3.0}


def test_the_places_of_a_counted_finding_are_said_once_per_column():
    from reporter.cli import _cells

    assert _cells(["row 2, column 'Onset'", "row 3, column 'Onset'", "row 5: Bundle.entry[0]", "the listing"]) == \
        "rows 2, 3 of column 'Onset'; row 5; the listing"
    assert _cells([f"row {n}, column 'Reaction'" for n in range(2, 12)], shown=3) == \
        "rows 2, 3, 4, ... (10 rows) of column 'Reaction'"


def test_a_blank_case_id_under_a_patient_is_that_patients_further_row_not_a_case_by_row_number(tmp_path):
    # One row per drug, the patient number printed once (a merged cell); row 3's number must not make it
    # patient 3's row, nor a "not stated" id on row 5 make it patient 4's.
    path = tmp_path / "perdrug.csv"
    path.write_text(
        "Patient,Age,Sex,Drug,Reaction\n"
        "1,67,M,vancomycin,acute kidney injury\n"
        ",,,piperacillin-tazobactam,acute kidney injury\n"
        "3,52,M,vancomycin,thrombocytopenia\n"
        "NR,40,F,ceftriaxone,rash\n"
        "4,33,F,cefazolin,rash\n", encoding="utf-8")
    rows = import_listing(path, received="2024-05-01").rows
    assert [r.ok for r in rows] == [True] * 5
    first, second, third, fourth, fifth = rows
    assert second.merged_into == 2 and [d.product for d in first.case.drugs] == ["vancomycin",
                                                                              "piperacillin-tazobactam"]
    assert any("further row of the case of row 2" in msg for _w, msg in first.warnings)
    assert [d.product for d in third.case.drugs] == ["vancomycin"] and third.case.patient.age_at_onset.value == 52
    assert (fourth.case_id, fifth.case_id) == ("LISTING-perdrug-row5", "LISTING-perdrug-4")
    assert [d.product for d in fifth.case.drugs] == ["cefazolin"]


def test_a_causality_column_of_several_scales_takes_each_cells_method(tmp_path):
    # Papers put each case's scale in the cell; the result stays as stated and is read on that scale.
    from reporter.assess.result import tabulation_category

    path = tmp_path / "scales.csv"
    path.write_text(
        "Patient,Drug,Reaction,Causality\n"
        "1,vancomycin,acute kidney injury,probable (Naranjo 6)\n"
        "2,ceftriaxone,DRESS,certain (WHO-UMC)\n"
        "3,amoxicillin-clavulanate,cholestatic hepatitis,highly probable (RUCAM 9)\n"
        "4,cefazolin,rash,possible\n"
        "5,vancomycin,rash,probable (Naranjo 2)\n", encoding="utf-8")
    rows = import_listing(path, received="2024-05-01").rows
    found = [r.case.drugs[0].reactions[0].causality[0] for r in rows]
    assert [(c.method, c.result) for c in found] == [
        ("Naranjo", "probable (Naranjo 6)"), ("WHO-UMC", "certain (WHO-UMC)"),
        ("RUCAM", "highly probable (RUCAM 9)"), ("Global introspection", "possible"),
        ("Naranjo", "probable (Naranjo 2)")]
    assert [tabulation_category(c.method, c.result) for c in found] == [
        "Naranjo: Probable", "WHO-UMC: Certain", "RUCAM: Highly probable", "other/unmapped", "other/unmapped"]
    assert not any("causality" in msg.lower() or "scale" in msg for r in rows[:4] for _w, msg in r.warnings)
    assert any("Naranjo" in msg for _w, msg in rows[4].warnings)  # a score off its category is still said


def test_a_yes_no_column_named_for_one_criterion_states_that_criterion_only(tmp_path):
    path = tmp_path / "hosp.csv"
    path.write_text(
        "Patient,Drug,Reaction,Hospitalised (Y/N)\n"
        "1,oxaliplatin,neuropathy,Y\n"
        "2,enoxaparin,haematoma,N\n"
        "3,enoxaparin,haematoma,severe\n", encoding="utf-8")
    listing_map = load_map()
    listing_map.columns["reaction.seriousness"] = ["hospitalised"]
    first, second, bad = import_listing(path, listing_map, received="2024-05-01").rows
    for row, stated in ((first, True), (second, False)):
        seriousness = row.case.reactions[0].seriousness.model_dump(exclude_none=True)
        assert seriousness.pop("hospitalisation") is stated
        assert len(seriousness) == 5 and all(v == {"absent": "no-information"} for v in seriousness.values())
    assert bad.problems == [("row 4, column 'Hospitalised (Y/N)'", "'severe' is not yes or no (the column says "
                             "whether the reaction met one criterion, hospitalisation): write Y or N")]


@pytest.mark.parametrize(("text", "expected"), [
    ("12 Mar 2021", "2021-03-12"), ("12-Mar-2021", "2021-03-12"), ("March 12, 2021", "2021-03-12"),
    ("1st June 2020", "2020-06-01"), ("Mar 2021", "2021-03"), ("Sept. 2020", "2020-09"), ("2021/03/12", "2021-03-12"),
])
def test_dates_that_name_their_month_or_put_the_year_first_read_in_any_date_order(text, expected):
    assert parse_date(text, "DMY") == parse_date(text, "MDY") == expected
    assert parse_when(text, "suspect", order="MDY") == expected


@pytest.mark.parametrize("text", ["31 Feb 2021", "12 Foo 2021", "2021/13/01"])
def test_written_dates_that_are_no_date_are_refused(text):
    with pytest.raises(ValueError, match="is not a"):
        parse_date(text)


def test_a_utf16_listing_with_its_byte_order_mark_reads_like_utf8(tmp_path):
    # Excel's "Unicode text" export: UTF-16 with a BOM, tab-separated.
    text = "Case no\tAge\tSex\tDrug\tReaction\n1\t60\tF\tcarbamazépine\tSJS\n"
    (tmp_path / "u8.txt").write_text(text, encoding="utf-8")
    (tmp_path / "u16.txt").write_bytes(text.encode("utf-16"))
    (tmp_path / "u16be.tsv").write_bytes(b"\xfe\xff" + text.encode("utf-16-be"))
    sheets = [read_sheet(tmp_path / name) for name in ("u8.txt", "u16.txt", "u16be.tsv")]
    assert sheets[0] == sheets[1] == sheets[2]
    assert sheets[1].rows == [(2, ["1", "60", "F", "carbamazépine", "SJS"])]


def test_a_dose_kept_as_text_is_the_line_listings_dose(tmp_path):
    import csv
    import io

    path = tmp_path / "doses.csv"
    path.write_text("Patient,Drug,Dose,Reaction\n1,vancomycin,1 g q12h,AKI\n2,vancomycin,2 x 500 mg,rash\n"
                    "3,vancomycin,15 mg/kg/day,rash\n4,vancomycin,,rash\n", encoding="utf-8")
    db = ["--database-url", f"sqlite:///{tmp_path / 'store.sqlite3'}"]
    runner = CliRunner()
    runner.invoke(main, ["import-listing", str(path), "--store", "--received", "2024-05-01", "-j", "1", *db])
    listing = runner.invoke(main, ["line-listing", "--format", "csv", *db]).output
    assert [r["Dose"] for r in csv.DictReader(io.StringIO(listing))] == \
        ["1 g every 12 h", "2 x 500 mg", "15 mg/kg/d", ""]


@pytest.mark.parametrize(("text", "what"), [
    ("POD 3", "the operation"), ("cycle 2", "a treatment cycle"), ("after 3rd dose", "a dose other than the first"),
    ("day 3 of admission", "admission")])
def test_a_time_counted_from_something_else_than_the_drug_says_from_what_and_what_to_write(text, what):
    with pytest.raises(ValueError, match=f"counts from {what}") as err:
        parse_when(text, "suspect")
    assert "write the time after its first dose (day 21, 3 wk)" in str(err.value)


def test_a_drug_cell_naming_several_drugs_stays_as_written_and_says_so(tmp_path):
    path = tmp_path / "combo.csv"
    path.write_text("Patient,Suspect drug(s),Reaction\n1,vancomycin + piperacillin-tazobactam,AKI\n"
                    "2,amoxicillin/clavulanate,hepatitis\n", encoding="utf-8")
    several, combination = import_listing(path, received="2024-05-01").rows
    assert [d.product for d in several.case.drugs] == ["vancomycin + piperacillin-tazobactam"]
    assert ("row 2, column 'Suspect drug(s)'", "note: 'vancomycin + piperacillin-tazobactam' may name 2 drugs "
            "(vancomycin, piperacillin-tazobactam): kept as one product as written; to report each as a suspect "
            "with its own assessment, give each its own row with the case id") in several.warnings
    assert not any("may name" in msg for _w, msg in combination.warnings)


def test_route_abbreviations_usual_unit_spellings_and_outcome_words_of_papers(tmp_path):
    path = tmp_path / "words.csv"
    path.write_text("Patient,Drug,Route,Dose,Reaction,Outcome\n"
                    "1,ceftriaxone,IM,1 g,rash,improved\n2,nitroglycerin,SL,400 mcg,headache,lost to follow-up\n"
                    "3,insulin,SC,10 IU,hypoglycaemia,resolved\n4,morphine,IT,0.2 mg,pruritus,ongoing\n"
                    "5,diclofenac,PR,100 mg,rash,recovered with sequelae\n6,salbutamol,inh,100 mcg,tremor,NA\n",
                    encoding="utf-8")
    rows = import_listing(path, received="2024-05-01", validate=False).rows
    assert all(r.ok for r in rows)
    drugs = [r.case.drugs[0].dosages[0] for r in rows]
    assert [d.route.code for d in drugs] == ["intramuscular", "sublingual", "subcutaneous", "intrathecal", "rectal",
                                             "inhalation"]
    assert [(d.dose.value, d.dose.unit) for d in drugs] == [(1, "g"), (400, "ug"), (10, "[IU]"), (0.2, "mg"),
                                                            (100, "mg"), (100, "ug")]
    assert [r.case.reactions[0].outcome for r in rows] == ["recovering", "unknown", "recovered", "not-recovered",
                                                           "recovered-with-sequelae", None]


@pytest.mark.parametrize("cell", ["severe", "mild", "grade 3", "Moderate"])
def test_a_severity_under_seriousness_is_refused_as_a_severity(tmp_path, cell):
    path = tmp_path / "sev.csv"
    path.write_text(f"Patient,Drug,Reaction,Serious\n1,oxaliplatin,neuropathy,{cell}\n", encoding="utf-8")
    (row,) = import_listing(path, received="2024-05-01").rows
    assert not row.ok and row.problems[0][0] == "row 2, column 'Serious'"
    assert row.problems[0][1].startswith(f"{cell!r} is a severity (intensity), not a seriousness criterion")


def test_a_row_with_no_case_id_that_is_another_patient_is_refused_saying_why(tmp_path):
    path = tmp_path / "gap.csv"
    path.write_text("Patient,Age,Sex,Drug,Reaction\n1,67,M,vancomycin,AKI\n,45,F,cefazolin,rash\n", encoding="utf-8")
    first, second = import_listing(path, received="2024-05-01").rows
    assert not first.ok and not second.ok
    assert ("row 3, column 'Sex'", "differs from row 2, the case's first row (rows of one case must agree on the "
            "patient); the row has no case id, so it was read as that case's further row: give it its own case id") \
        in second.problems


def test_a_serious_y_n_column_reads_n_as_not_serious_and_refuses_a_bare_y(tmp_path):
    path = tmp_path / "yn.csv"
    path.write_text("Patient,Drug,Reaction,Serious (Y/N)\n1,enoxaparin,haematoma,N\n2,enoxaparin,bleeding,Y\n",
                    encoding="utf-8")
    no, yes = import_listing(path, received="2024-05-01").rows
    assert not any(no.case.reactions[0].seriousness.model_dump().values())
    assert not yes.ok and "a serious reaction names its criteria" in yes.problems[0][1]


def test_a_dose_cell_with_how_often_gives_the_dose_and_its_interval(tmp_path):
    """Papers write '1 g q12h' or '500 mg bid' in the dose column: kept as text only, the dose and its interval
    were lost to the case (and to E2B's G.k.4.r.1-3). The author's words stay the dosage text."""
    path = tmp_path / "l.csv"
    path.write_text("Case ID,Age,Sex,Drug,Dose,Reaction\n"
                    "T-1,40 y,F,vancomycin,1 g q12h,rash\n"
                    "T-2,50 y,M,amoxicillin,500 mg twice daily,rash\n"
                    "T-3,60 y,M,cefazolin,2 x 500 mg,rash\n", encoding="utf-8")
    rows = import_listing(path, received="2024-05-01").rows
    dosages = [r.case.drugs[0].dosages[0].model_dump(exclude_none=True) for r in rows]
    assert dosages[0]["dose"] == {"value": 1.0, "unit": "g"} and dosages[0]["every"] == {"value": 12.0, "unit": "h"}
    assert dosages[0]["text"] == "1 g q12h"
    assert dosages[1]["dose"] == {"value": 500.0, "unit": "mg"} and dosages[1]["every"] == {"value": 12.0, "unit": "h"}
    assert "dose" not in dosages[2] and dosages[2]["text"] == "2 x 500 mg"  # how to read '2 x' is not said


def test_a_dose_and_frequency_cell_with_extra_spaces_is_cut_where_its_words_are():
    """The dose was cut from the cell as written at the length of its spaces-collapsed form: '1  g   q12h'
    lost its unit ('1') and was kept as text only."""
    from reporter.casefile.cells import split_frequency

    assert split_frequency("1  g   q12h") == ("1 g", {"value": 12.0, "unit": "h"})
    assert split_frequency("  500   mg   bid ") == ("500 mg", {"value": 12.0, "unit": "h"})


def test_pharmacovigilance_database_words_are_read(tmp_path):
    """EudraVigilance prints E2B's own words ('Caused/Prolonged Hospitalisation', 'Recovered/Resolved'); a FAERS
    Public Dashboard export's Outcomes column holds seriousness criteria ('Hospitalized;Other Outcomes'), its
    ages '7 MTH', and both say 'Not Specified' for what was not stated."""
    path = tmp_path / "pv.csv"
    path.write_text(
        "Case ID,Drug,Reaction,Outcome,Seriousness,Sex,Age\n"
        "A-1,amoxicillin,hepatitis,Recovered/Resolved,"
        "\"Caused/Prolonged Hospitalisation, Other Medically Important Condition\",Female,18-64 Years\n"
        "A-2,warfarin,haemorrhage,Not Recovered/Not Resolved,Died;Required Intervention,Not Specified,7 MTH\n"
        "A-3,isotretinoin,depression,Recovered/Resolved With Sequelae,Disabled;Other Outcomes,Male,2 Months - 2 Years\n"
        "A-4,ceftriaxone,rash,recovered,death/hospitalisation,male,Not Specified\n",
        encoding="utf-8")
    first, second, third, fourth = import_listing(path, received="2024-05-01").rows
    assert all(r.ok for r in (first, second, third, fourth)), [r.problems for r in (first, second, third, fourth)]
    criteria = [{k for k, v in r.case.reactions[0].seriousness.model_dump().items() if v is True}
                for r in (first, second, third, fourth)]
    assert criteria == [{"hospitalisation", "other_medically_important"}, {"death", "other_medically_important"},
                        {"disabling", "other_medically_important"}, {"death", "hospitalisation"}]
    assert [r.case.reactions[0].outcome for r in (first, second, third)] == [
        "recovered", "not-recovered", "recovered-with-sequelae"]
    assert second.case.patient.sex.absent == "unknown"
    assert second.case.patient.age_at_onset.model_dump(exclude_none=True) == {"value": 7.0, "unit": "mo"}
    assert first.case.patient.age_group == "adult"
    # EudraVigilance's '2 Months - 2 Years' is a span (infant and child: no one group), not a rejected cell
    assert third.case.patient.age_at_onset is None and third.case.patient.age_group is None
    assert "2 Months - 2 Years" in third.case.narrative.text
    assert fourth.case.patient.age_at_onset is None and fourth.case.patient.age_group is None
