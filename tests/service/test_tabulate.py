"""Tabulations and line listings over stored cases, as SQL over the case_reaction projection, on SQLite and
PostgreSQL; grouping by SOC with a synthetic MedDRA release in the real file layout."""

from __future__ import annotations

import pytest

from reporter.analysis.linelisting import line_listing
from reporter.analysis.tabulate import latency_summary, tabulate, wilson
from reporter.casefile.listing import import_listing, load_map, store_row
from reporter.casefile.model import Amendment
from reporter.errors import InputError
from reporter.fhir.build import build_bundle
from reporter.store.repository import case_id_for, case_key
from tests.meddra_release import write_release

LISTING = """\
Case,Age,Sex,Drug,Dosing,Indication,Reaction,MedDRA code,Onset,Outcome,Action taken,Causality
1,4 y,M,anakinra,continuous,trigger: infection,hepatitis,94000001,day 21,recovered,withdrawn,probable
2,22 months,F,anakinra,bolus,trigger: infection,ALT up,94000003,day 10,died,not stated,possible
3,15,F,anakinra,bolus,trigger: rheumatological,MAS,94000004,day 30,survived,withdrawn,
4,40,M,anakinra,,trigger: rheumatological,hepatitis,94000001,,not stated,,
5,70,not stated,anakinra,continuous,not stated,liver injury,93000001,day 2,died,withdrawn,probable
6,,F,anakinra,bolus,trigger: oncological,rash,,day 5,recovered,,
"""


@pytest.fixture
def stored(store, tmp_path, monkeypatch):
    monkeypatch.setenv("REPORTER_MEDDRA_DIR", str(write_release(tmp_path / "meddra")))
    path = tmp_path / "listing.csv"
    path.write_text(LISTING, encoding="utf-8")
    listing_map = load_map().model_copy(update={"meddra_version": "99.0"})
    result = import_listing(path, listing_map, received="2024-05-01", validate=False)
    assert all(r.ok for r in result.rows), [r.problems for r in result.rows]
    for row in result.rows:
        store_row(store, row, author="test", reason="test listing")
    return store, result


def _counts(result):
    return {r.values: (r.count, r.denominator) for r in result.rows}


def test_by_soc_uses_the_primary_soc_and_counts_the_uncoded_case_as_unknown(stored):
    store, _ = stored
    result = tabulate(store, ["soc"])
    assert result.total == 6
    assert _counts(result) == {
        ("Hepatobiliary disorders (test)",): (3, 5),  # cases 1, 4, 5: LLTs of the hepatic PT, primary SOC
        ("Investigations (test)",): (1, 5),
        ("Blood and lymphatic system disorders (test)",): (1, 5),
        ("unknown",): (1, None),
    }
    assert "1 case(s) have reactions not placed in MedDRA" in result.notes[0]
    assert _counts(tabulate(store, ["pt"]))[("rash",)] == (1, 6)  # no code: the term as reported, and said so


def test_cross_tab_gives_row_percentages_of_the_known_with_wilson_intervals(stored):
    store, _ = stored
    result = tabulate(store, ["age_band", "survival"], bands="<10,10-17,18+")
    rows = {r.values: r for r in result.rows}
    assert rows[("<10", "survived")].count == 1 and rows[("<10", "survived")].denominator == 2
    assert rows[("<10", "survived")].percent == 50.0
    low, high = rows[("<10", "survived")].ci95
    assert (round(low, 1), round(high, 1)) == tuple(round(100 * x, 1) for x in wilson(1, 2))
    assert rows[("18+", "died")].percent == 100.0  # case 5 died; case 4 (outcome not stated) is not in the 100
    assert rows[("18+", "unknown")].count == 1 and rows[("18+", "unknown")].percent is None
    assert rows[("unknown", "survived")].count == 1  # case 6 has no age: kept, as unknown
    assert [r.values[0] for r in result.rows][:2] == ["<10", "<10"]  # bands in their order


def test_where_filters_and_unknown_selects_the_unknowns(stored):
    store, _ = stored
    assert tabulate(store, [], ["dosing=bolus"]).total == 3
    assert tabulate(store, [], ["dosing=bolus", "dosing=continuous"]).total == 5
    assert tabulate(store, [], ["dosing=unknown"]).total == 1
    assert tabulate(store, [], ["sex=female", "age_group=child"]).total == 0
    assert tabulate(store, [], ["sex=female", "age_group=infant"]).total == 1
    assert tabulate(store, [], ["indication=unknown"]).total == 1
    assert _counts(tabulate(store, ["action_taken"]))[("withdrawn",)] == (3, 3)
    assert _counts(tabulate(store, ["year"], ["year=2024"])) == {("2024",): (6, 6)}
    assert tabulate(store, [], ["year=2023"]).total == 0


def test_latency_median_iqr_and_range(stored):
    store, _ = stored
    assert tabulate(store, ["survival"]).latency is None  # only on request: it reads every row
    result = tabulate(store, ["survival"], stats=True)
    assert result.latency == latency_summary([21, 10, 30, 2, 5])
    assert result.latency == {"n": 5, "median": 10.0, "q1": 5.0, "q3": 21.0, "min": 2.0, "max": 30.0}
    died = next(r for r in result.rows if r.values == ("died",))
    assert died.latency["median"] == 6.0


def test_writes_replace_the_rows_and_nullification_removes_them(stored):
    store, result = stored
    first = result.rows[0]
    case = first.case.model_copy(deep=True)
    case.reactions[0].outcome = "fatal"
    case.reactions[0].seriousness.death = True
    cid = case_id_for(*case_key(first.bundle))
    store.update(cid, build_bundle(case), author="test", reason="follow-up")
    assert _counts(tabulate(store, ["survival"]))[("died",)] == (3, 5)
    case.report.nullification = Amendment(kind="nullification", reason="duplicate")
    store.update(cid, build_bundle(case), author="test", reason="nullified")
    assert tabulate(store, []).total == 5


def test_reproject_places_codes_stored_before_the_release_was_set(stored, monkeypatch):
    store, _ = stored
    monkeypatch.delenv("REPORTER_MEDDRA_DIR")
    assert store.reproject() == 6
    assert _counts(tabulate(store, ["soc"])) == {("unknown",): (6, None)}
    assert "no MedDRA release" in tabulate(store, ["soc"]).notes[0]


def test_line_listing_rows(stored):
    store, _ = stored
    rows = line_listing(store, ["survival=died"])
    assert [r[0] for r in rows] == ["LISTING-listing-2", "LISTING-listing-5"]
    assert rows[0][4] == 1.8 and rows[0][5] == "female" and rows[0][9] == "bolus"
    assert rows[0][14] == "Transaminases increased (test)" and rows[0][17] == 10.0 and rows[0][19] == "death"


def test_a_filter_names_its_field_by_key_in_any_case_or_by_its_label(stored):
    """The tabulate page shows labels ('Sex', 'Suspect drug'); a filter typed with them was refused as
    "unknown field 'Sex'"."""
    store, _ = stored
    expected = tabulate(store, [], ["sex=female"]).total
    assert expected and tabulate(store, [], ["Sex=female"]).total == expected
    assert tabulate(store, [], ["SEX=female", "Age group (ICH)=adult"]).total == \
        tabulate(store, [], ["sex=female", "age_group=adult"]).total


def test_bad_fields_and_bands_are_clear_errors(stored):
    store, _ = stored
    with pytest.raises(InputError, match="unknown field 'shoe'"):
        tabulate(store, ["shoe"])
    with pytest.raises(InputError, match="not <A, A-B or A\\+"):
        tabulate(store, ["age_band"], bands="ten-twenty")
    with pytest.raises(InputError, match="not FIELD=VALUE"):
        tabulate(store, [], ["sex"])


def test_the_migration_fills_the_projection_for_cases_stored_before_it(stored):
    from sqlalchemy import func, select

    from reporter.store import migrate
    from reporter.store.schema import CaseReaction

    store, _ = stored
    migrate.downgrade(store.engine, "0002")
    migrate.upgrade(store.engine)
    with store.read_session() as session:
        assert session.scalar(select(func.count()).select_from(CaseReaction)) == 6
    assert _counts(tabulate(store, ["soc"]))[("Hepatobiliary disorders (test)",)] == (3, 5)
    # 0006 adds the causality category and fills it from the stored Bundles of the cases that state one
    migrate.downgrade(store.engine, "0004")
    migrate.upgrade(store.engine)
    assert _counts(tabulate(store, ["causality_category"])) == {("other/unmapped",): (3, 3), ("unknown",): (3, None)}
    assert tabulate(store, []).total == 6


def test_fhir_tabulate_operation_returns_parameters(stored, served):
    ok = served.session(served.read_token).get(f"{served.base}/$tabulate",
                                               params=[("by", "survival"), ("where", "dosing=bolus")])
    assert ok.status_code == 200, ok.text
    body = ok.json()
    assert body["resourceType"] == "Parameters"
    from reporter.fhir.models import structure_errors

    assert structure_errors(body) == []  # a valid R4 Parameters resource
    xml = served.session(served.read_token).get(f"{served.base}/$tabulate", params={"by": "sex", "_format": "xml"})
    assert xml.status_code == 200 and "<Parameters xmlns=\"http://hl7.org/fhir\">" in xml.text
    params = body["parameter"]
    assert params[0] == {"name": "total", "valueInteger": 3}
    rows = [{p["name"]: next(v for k, v in p.items() if k.startswith("value")) for p in row["part"]
             if "part" not in p} for row in params if row["name"] == "row"]
    assert {r["survival"]: (r["count"], r.get("denominator")) for r in rows} == {
        "died": (1, 3), "survived": (2, 3)}
    died = next(r for r in rows if r["survival"] == "died")
    assert died["percent"] == 33.33 and died["ci95Low"] == round(100 * wilson(1, 3)[0], 2)
    bad = served.session(served.read_token).get(f"{served.base}/$tabulate", params={"by": "shoe"})
    assert bad.status_code == 400 and bad.json()["resourceType"] == "OperationOutcome"
    assert "unknown field" in bad.text
    assert served.session().get(f"{served.base}/$tabulate").status_code == 401
    capability = served.session().get(f"{served.base}/metadata").json()
    assert capability["rest"][0]["operation"][0]["name"] == "tabulate"


def test_cli_tabulate_and_line_listing_formats(stored, tmp_path):
    import csv
    import io
    import json

    import openpyxl
    from click.testing import CliRunner

    from reporter.cli import main

    store, _ = stored
    runner = CliRunner()
    db = ["--database-url", store.url]
    text = runner.invoke(main, ["tabulate", "--by", "sex", "--by", "survival", *db])
    assert text.exit_code == 0, text.output
    assert "note: 6 case(s)" in text.output
    data = json.loads(runner.invoke(main, ["tabulate", "--by", "soc", "--format", "json", *db]).output)
    assert data["total_cases"] == 6 and data["rows"][-1]["soc"] == "unknown"
    out = tmp_path / "t.xlsx"
    assert runner.invoke(main, ["tabulate", "--by", "dosing", "--format", "xlsx", "-o", str(out), *db]).exit_code == 0
    sheet = openpyxl.load_workbook(out).active
    assert [c.value for c in sheet[1]][:3] == ["Dosing mode", "Cases", "Known"]
    assert [c.value for c in sheet[2]][:2] == ["bolus", 3]
    listing = runner.invoke(main, ["line-listing", "--where", "drug=anakinra", *db])
    rows = list(csv.reader(io.StringIO(listing.output)))
    assert rows[0][0] == "Case id" and len(rows) == 7
    html = runner.invoke(main, ["line-listing", "--format", "html", *db]).output
    assert html.count("<tr>") == 7 and "LISTING-listing-6" in html
    bad = runner.invoke(main, ["tabulate", "--by", "shoe", *db])
    assert bad.exit_code == 2 and "unknown field 'shoe'" in bad.output
    assert runner.invoke(main, ["tabulate", "--format", "xlsx", *db]).exit_code == 2


def test_disproportionality_counts_cases_into_the_2x2_table(store, served, tmp_path, monkeypatch):
    from click.testing import CliRunner

    from reporter.analysis.disproportionality import measures, pairs
    from reporter.cli import main

    monkeypatch.delenv("REPORTER_MEDDRA_DIR", raising=False)
    rows = ["Drug,Reaction"] + ["anakinra,hepatitis"] * 4 + ["anakinra,rash"] + ["tocilizumab,rash"] * 4 + [
        "tocilizumab,hepatitis"]
    path = tmp_path / "pairs.csv"
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    for row in import_listing(path, received="2024-05-01", validate=False).rows:
        store_row(store, row, author="test", reason="test")
    total, found = pairs(store, level="pt", min_cases=1)
    assert total == 10
    table = {(p.drug, p.event): p.m for p in found}
    assert table[("anakinra", "hepatitis")] == measures(4, 1, 1, 4)
    assert table[("tocilizumab", "hepatitis")] == measures(1, 4, 4, 1)
    assert [(p.drug, p.event) for p in pairs(store, min_cases=4)[1]] == [("anakinra", "hepatitis"),
                                                                         ("tocilizumab", "rash")]
    response = served.session(served.read_token).get(
        f"{served.base}/$disproportionality", params={"drug": "anakinra", "min-cases": "1"})
    assert response.status_code == 200, response.text
    params = response.json()["parameter"]
    pair = next(p["part"] for p in params if p["name"] == "pair"
                and {"name": "event", "valueString": "hepatitis"} in p["part"])
    values = {p["name"]: next(v for k, v in p.items() if k.startswith("value")) for p in pair}
    assert (values["a"], values["b"], values["c"], values["d"], values["ror"]) == (4, 1, 1, 4, 16.0)
    bad = served.session(served.read_token).get(f"{served.base}/$disproportionality", params={"level": "x"})
    assert bad.status_code == 400 and bad.json()["resourceType"] == "OperationOutcome"
    result = CliRunner().invoke(main, ["disproportionality", "--drug", "anakinra", "--event", "hepatitis",
                                       "--min-cases", "1", "--database-url", store.url])
    assert result.exit_code == 0, result.output
    line = next(x for x in result.output.splitlines() if x.startswith("anakinra"))
    assert line.split()[2:7] == ["4", "1", "1", "4", "4.0"]  # the 2x2 table, then PRR = (4/5)/(1/5)
    assert "ROR" in result.output and "note: 10 case(s)" in result.output


def test_a_situation_term_is_said_in_the_disproportionality_screen(store, served, tmp_path, monkeypatch):
    """'Off label use' and 'Drug ineffective' are counted as any event, and their rows now say the event is a
    situation, not an adverse reaction (a signal on them points at off-label prescribing or a lack of
    efficacy): in the table (CLI, page, downloads) and in $disproportionality's pair."""
    from reporter.analysis.disproportionality import HEADER, pairs, table_rows

    monkeypatch.delenv("REPORTER_MEDDRA_DIR", raising=False)
    rows = ["Drug,Reaction"] + ["anakinra,Off label use"] * 3 + ["anakinra,hepatitis"] * 3 + [
        "tocilizumab,Drug ineffective"] * 3
    path = tmp_path / "pairs.csv"
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    for row in import_listing(path, received="2024-05-01", validate=False).rows:
        store_row(store, row, author="test", reason="test")
    notes = {(r[0], r[1].lower()): r[HEADER.index("Note")] for r in table_rows(pairs(store, min_cases=1)[1])}
    assert notes[("anakinra", "off label use")] == "the event is a situation (off-label use), not an adverse reaction"
    assert notes[("tocilizumab", "drug ineffective")].startswith("the event is a lack of efficacy")
    assert notes[("anakinra", "hepatitis")] is None
    response = served.session(served.read_token).get(
        f"{served.base}/$disproportionality", params={"drug": "anakinra", "min-cases": "1"})
    parts = [p["part"] for p in response.json()["parameter"] if p["name"] == "pair"]
    said = {next(x["valueString"] for x in part if x["name"] == "event").lower():
            next((x["valueString"] for x in part if x["name"] == "note"), None) for part in parts}
    assert said == {"off label use": notes[("anakinra", "off label use")], "hepatitis": None}


CAUSALITY_LISTING = """\
Case,Age,Sex,Drug,Reaction,Naranjo
1,40,F,anakinra,hepatitis,probable
2,41,F,anakinra,hepatitis,8 - probable
3,42,M,anakinra,rash,Possible (score 3)
4,43,M,anakinra,rash,Probable (score 3)
5,44,M,anakinra,rash,related
6,45,F,anakinra,rash,
"""


def test_causality_is_tabulated_as_the_methods_categories(store, tmp_path):
    path = tmp_path / "naranjo.csv"
    path.write_text(CAUSALITY_LISTING, encoding="utf-8")
    for row in import_listing(path, received="2024-05-01", validate=False).rows:
        store_row(store, row, author="test", reason="test")
    result = tabulate(store, ["causality_category"])
    # free text on the Naranjo scale maps onto its category; a score that contradicts the category, or a
    # word that is not on the scale, is other/unmapped; no stated assessment is unknown
    assert _counts(result) == {("Naranjo: Possible",): (1, 5), ("Naranjo: Probable",): (2, 5),
                               ("other/unmapped",): (2, 5), ("unknown",): (1, None)}
    assert tabulate(store, [], ["causality_category=naranjo: probable"]).total == 2
    from reporter.analysis.linelisting import HEADER

    listing = {r[0]: r[HEADER.index("Causality category")] for r in line_listing(store)}
    assert (listing["LISTING-naranjo-2"], listing["LISTING-naranjo-4"], listing["LISTING-naranjo-6"]) == (
        "Naranjo: Probable", "other/unmapped", None)
    assert _counts(tabulate(store, ["sex", "causality_category"], ["causality_category=Naranjo: Probable"])) == {
        ("female", "Naranjo: Probable"): (2, 2)}


def test_tabulation_category_of_each_method() -> None:
    from reporter.assess.result import tabulation_category

    assert tabulation_category("WHO-UMC", "likely") == "WHO-UMC: Probable/Likely"
    assert tabulation_category("who umc", "Unclassifiable") == "WHO-UMC: Unassessable/Unclassifiable"
    assert tabulation_category("RUCAM", "Highly probable (score 9)") == "RUCAM: Highly probable"
    assert tabulation_category("RUCAM", "Highly probable (score 5)") == "other/unmapped"
    assert tabulation_category("Naranjo", "definite") == "Naranjo: Definite"
    assert tabulation_category("Global introspection", "Probable") == "other/unmapped"
    assert tabulation_category("Naranjo", None) == "other/unmapped"
    assert tabulation_category(None, None) is None and tabulation_category(" ", "") is None


def test_every_filter_selects_what_its_field_groups(stored):
    """The --where conditions are written for the indexes (not as the grouping expression): for every field
    and every value a tabulation shows, filtering on it (in any case) selects exactly the cases counted."""
    from reporter.analysis.tabulate import field_names

    store, _ = stored
    for name in field_names():
        for row in tabulate(store, [name]).rows:
            value = row.values[0]
            for typed in (value, value.upper()):
                assert tabulate(store, [], [f"{name}={typed}"]).total == row.count, (name, typed)


def test_filters_are_index_searches(stored):
    """SQLite's plan searches an index; PostgreSQL's (told to avoid sequential scans, as the test table is
    tiny) uses one: the filter expressions match the (expression) indexes on both."""
    from sqlalchemy import distinct, func, select

    from reporter.analysis.tabulate import DEFAULT_BANDS, parse_bands, parse_where, where_conditions
    from reporter.store.schema import CaseReaction as CR

    store, _ = stored
    for where in ("drug=Anakinra", "soc=HEPATOBILIARY DISORDERS (test)", "pt=Hepatitis", "country=gb",
                  "outcome=fatal", "indication=MAS", "age_group=child", "age_band=<10", "causality_category=x"):
        query = select(func.count(distinct(CR.case_id))).where(
            *where_conditions(parse_where([where]), parse_bands(DEFAULT_BANDS)))
        with store.engine.connect() as conn:
            compiled = str(query.compile(conn, compile_kwargs={"literal_binds": True})).replace("%", "%%")
            if store.dialect == "sqlite":
                plan = " | ".join(r[-1] for r in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {compiled}"))
                assert "SEARCH case_reaction USING" in plan and "SCAN case_reaction" not in plan, (where, plan)
            else:
                conn.exec_driver_sql("SET enable_seqscan = off")
                plan = " | ".join(r[0] for r in conn.exec_driver_sql(f"EXPLAIN {compiled}"))
                assert "Index" in plan and "Seq Scan" not in plan, (where, plan)


def test_filter_values_a_field_cannot_hold_are_clear_errors(stored):
    store, _ = stored
    for where, message in (("age_group=toddler", "not an ICH age group"), ("age_band=20-30", "not one of the bands"),
                           ("serious=maybe", "use yes, no or unknown"), ("year=last", "not a whole number")):
        with pytest.raises(InputError, match=message):
            tabulate(store, [], [where])


def test_migration_0010_projects_ages_in_decades_as_ranges(store, tmp_path):
    """Cases stored before 0010 had '60s' projected as 60; the migration re-projects them as 60 up to 70."""
    from reporter.store import migrate

    path = tmp_path / "decades.csv"
    path.write_text("Case,Age,Drug,Reaction\n1,60s,anakinra,rash\n2,54,anakinra,rash\n", encoding="utf-8")
    for row in import_listing(path, received="2024-05-01", validate=False).rows:
        store_row(store, row, author="test", reason="test listing")
    migrate.downgrade(store.engine, "0009_latency_qualifier")
    migrate.upgrade(store.engine)
    result = tabulate(store, ["age_band"], bands="<65,60-69", stats=True)
    assert result.age["ranged"] == 1 and result.age["n"] == 1 and result.age["median"] == 54.0
    assert _counts(result)[("60-69",)] == (1, 2)
    assert [r[4] for r in line_listing(store)] == ["60-69", 54.0]
