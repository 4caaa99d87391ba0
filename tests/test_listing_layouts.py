"""Case-series tables as papers print them: transposed (one column per patient), unit rows under the header,
summary rows, footnote marks and "not done" cells."""

from __future__ import annotations

import openpyxl
import pytest

from reporter.casefile.listing import import_listing, load_map

TRANSPOSED = [
    ["Table 1. Patients with vancomycin-induced DRESS", "", "", ""],
    ["Characteristic", "Patient 1", "Patient 2", "Patient 3"],
    ["Age (years)", "54", "67", "38"],
    ["Sex", "F", "M", "F"],
    ["Drug", "Vancomycin", "Vancomycin", "Vancomycin"],
    ["Onset (days)", "21", "28", "18"],
    ["Reaction", "DRESS", "DRESS", "DRESS"],
    ["Outcome", "Recovered", "Recovered", "Fatal"],
    ["a RegiSCAR score", "", "", ""],
]


def _summary(result) -> list[tuple]:
    out = []
    for r in result.rows:
        case = r.case
        out.append((r.row, case.case_id, case.patient.sex, case.patient.age_at_onset.value, case.drugs[0].product,
                    case.reactions[0].verbatim, case.reactions[0].onset.value, case.reactions[0].outcome))
    return out


EXPECTED = [(2, "LISTING-series-1", "female", 54.0, "Vancomycin", "DRESS", 21.0, "recovered"),
            (3, "LISTING-series-2", "male", 67.0, "Vancomycin", "DRESS", 28.0, "recovered"),
            (4, "LISTING-series-3", "female", 38.0, "Vancomycin", "DRESS", 18.0, "fatal")]


def test_a_table_of_one_column_per_patient_is_read_as_one_case_per_column(tmp_path):
    path = tmp_path / "series.csv"
    path.write_text("\n".join(",".join(cells) for cells in TRANSPOSED) + "\n", encoding="utf-8")
    result = import_listing(path, received="2024-05-01")
    assert all(r.ok for r in result.rows)
    assert _summary(result) == EXPECTED
    assert result.notes[0].startswith("read as one column per patient (row headers in column A, patients in "
                                      "columns B, C, D)")
    assert "row 1 skipped (a title or footnote): Table 1. Patients with vancomycin-induced DRESS" in result.notes
    assert "row 9 skipped (a title or footnote): a RegiSCAR score" in result.notes


def test_a_transposed_xlsx_table_reads_the_same(tmp_path):
    book = openpyxl.Workbook()
    for cells in TRANSPOSED:
        book.active.append([int(c) if c.isdigit() else (c or None) for c in cells])
    book.active.merge_cells("A1:D1")
    path = tmp_path / "series.xlsx"
    book.save(path)
    result = import_listing(path, received="2024-05-01")
    assert _summary(result) == EXPECTED


def test_a_problem_in_a_transposed_table_names_the_patient_column_and_characteristic_row(tmp_path):
    path = tmp_path / "series.csv"
    rows = [r if r[0] != "Sex" else ["Sex", "F", "x", "F"] for r in TRANSPOSED]
    path.write_text("\n".join(",".join(cells) for cells in rows) + "\n", encoding="utf-8")
    result = import_listing(path, received="2024-05-01")
    assert [r.ok for r in result.rows] == [True, False, True]
    assert dict(result.rows[1].problems)["row 3, column 'Sex'"].startswith("'x' is not a known sex value")


def test_the_map_layout_forces_rows(tmp_path):
    listing_map = load_map().model_copy(update={"layout": "rows"})
    path = tmp_path / "series.csv"
    path.write_text("\n".join(",".join(cells) for cells in TRANSPOSED) + "\n", encoding="utf-8")
    result = import_listing(path, listing_map, received="2024-05-01")
    assert not any(n.startswith("read as one column per patient") for n in result.notes)
    assert not any(r.ok for r in result.rows)


@pytest.mark.parametrize("label,number", [("Patient 3", "3"), ("Case #12", "12"), ("Pt. 4", "4"), ("J.K.", "J.K.")])
def test_a_patient_column_label_gives_the_patient_number(label, number):
    from reporter.casefile.listing import _patient_number

    assert _patient_number(label, load_map()) == number


PRINTED = """\
Table 2. Patients with lamotrigine-associated hepatotoxicity,,,,,,,,,
Patient,Age,Sex,Drug,Dose,Onset,Reaction,Laboratory values,,Outcome
,(years),,,(mg/day),(days),,ALT,AST,
1,45*,F†,Lamotrigine,200,3–5 days,hepatitisᵃ,2.5 x ULN,NA,Recovered
,,,,,,,,,
2,62,M,Lamotrigine,n.d.,14,Hepatitis,—,n.d.,not done
3,51,ND,Lamotrigine,100,21,Jaundice,310,not done,Recovering
Total,Median 51 (45-62),1F/1M,,,,,,,
Median (range),51 (45-62),,,,14 (3-21),,,,
n (%),,,,,,,,,1 (33)
a Biopsy-proven; * age at diagnosis,,,,,,,,,
"""


@pytest.fixture
def printed(tmp_path):
    path = tmp_path / "printed.csv"
    path.write_text(PRINTED, encoding="utf-8")
    return import_listing(path, received="2024-05-01")


def test_a_row_of_units_and_sub_headers_under_the_header_is_part_of_it(printed):
    assert printed.columns == {"case_id": "Patient", "patient.age": "Age (years)", "patient.sex": "Sex",
                               "drug.product": "Drug", "drug.dose": "Dose (mg/day)", "reaction.onset": "Onset (days)",
                               "reaction.term": "Reaction", "reaction.outcome": "Outcome",
                               "test.ALT#7": "ALT", "test.AST#8": "AST"}
    assert printed.ignored == []
    # under the group header's names, with no unit in cell or header: the results in words, no value made up
    assert [(t.name, t.value, t.result_text) for t in printed.rows[0].case.tests] == [("ALT", None, "2.5 x ULN")]
    assert [(t.name, t.value, t.result_text) for t in printed.rows[-1].case.tests] == [("ALT", None, "310")]
    assert "row 3 read as part of the header: (years) | (mg/day) | (days) | ALT | AST" in printed.notes


def test_summary_rows_under_the_patients_are_no_cases(printed):
    assert [r.row for r in printed.rows] == [4, 6, 7] and all(r.ok for r in printed.rows)
    assert [n.split(":")[0] for n in printed.notes if "summary" in n] == [
        "row 8 skipped as a summary of the patients, not a case",
        "row 9 skipped as a summary of the patients, not a case",
        "row 10 skipped as a summary of the patients, not a case"]


def test_a_bare_dose_takes_the_header_unit_and_not_done_cells_are_not_stated(printed):
    first, second, third = (r.case for r in printed.rows)
    assert first.drugs[0].dosages[0].dose.model_dump(exclude_none=True) == {"value": 200.0, "unit": "mg/d"}
    assert third.drugs[0].dosages[0].dose.value == 100.0
    assert second.drugs[0].dosages == [] and second.reactions[0].outcome is None
    assert third.patient.sex.model_dump() == {"absent": "unknown"}


def test_a_footnote_mark_after_a_reaction_term_is_not_part_of_it(printed):
    case = printed.rows[0].case
    assert case.reactions[0].verbatim == "hepatitis" and case.patient.sex == "female"
    assert ("row 4, column 'Reaction'", "note: 'hepatitisᵃ' read as 'hepatitis': the footnote mark 'ᵃ' is not part "
            "of the value (see the table's footnote)") in printed.rows[0].warnings


def test_a_bare_dose_without_a_unit_is_kept_as_text_not_a_number_of_unit_0(tmp_path):
    path = tmp_path / "series.csv"
    path.write_text("Case,Drug,Dose,Reaction\n1,lamotrigine,200,rash\n", encoding="utf-8")
    case = import_listing(path, received="2024-05-01").rows[0].case
    assert case.drugs[0].dosages[0].dose is None and case.drugs[0].dosages[0].text == "200"


def test_a_rechallenge_not_done_is_still_not_done(tmp_path):
    path = tmp_path / "series.csv"
    path.write_text("Case,Drug,Reaction,Rechallenge\n1,lamotrigine,rash,not done\n", encoding="utf-8")
    case = import_listing(path, received="2024-05-01").rows[0].case
    assert case.drugs[0].reactions[0].rechallenge == "not-done"


def test_a_total_column_of_a_transposed_table_is_no_patient(tmp_path):
    rows = [[*r, "Total"] if r[0] == "Characteristic" else [*r, "3" if r[0] == "Drug" else ""] for r in TRANSPOSED]
    rows[rows.index([*TRANSPOSED[2], ""])][-1] = "median 54"
    path = tmp_path / "series.csv"
    path.write_text("\n".join(",".join(cells) for cells in rows) + "\n", encoding="utf-8")
    result = import_listing(path, received="2024-05-01")
    assert _summary(result) == EXPECTED
    assert "column E skipped as a summary of the patients, not a case: Total" in result.notes


def test_headers_in_the_plural_and_footnote_marks_of_a_printed_adr_table_are_read(tmp_path):
    path = tmp_path / "adr.csv"
    path.write_text("Adverse drug reactions,Indication for the medicine,Medicine(s) used,Suspected medicine(s),"
                    "Age (years),Sex\n"
                    'Dystonia,"Malaria, enteric fever*","Cefixime, amodiaquine",Amodiaquine,11,Male\n'
                    "Erythema multiforme,URTI||,Co-trimoxazole,Co-trimoxazole,9,Male\n", encoding="utf-8")
    result = import_listing(path, received="2024-05-01")
    assert result.columns == {"reaction.term": "Adverse drug reactions",
                              "drug.indication": "Indication for the medicine",
                              "drug.product": "Suspected medicine(s)", "patient.age": "Age (years)",
                              "patient.sex": "Sex"}
    assert result.ignored == ["Medicine(s) used"]
    cases = [r.case for r in result.rows]
    assert [(c.reactions[0].verbatim, c.drugs[0].product, c.drugs[0].indications[0].text) for c in cases] == [
        ("Dystonia", "Amodiaquine", "Malaria, enteric fever"), ("Erythema multiforme", "Co-trimoxazole", "URTI")]


def test_a_concomitant_cell_saying_none_is_no_drug_and_a_causality_keeps_no_footnote_mark(tmp_path):
    path = tmp_path / "series.csv"
    path.write_text("Case,Drug,Reaction,Concomitant drugs,Naranjo score\n"
                    "1,carbamazepine,SJS,None,9 (definite)ᵃ\n2,carbamazepine,TEN,Nil,6\n"
                    "3,carbamazepine,SJS,amlodipine,5\n", encoding="utf-8")
    cases = [r.case for r in import_listing(path, received="2024-05-01").rows]
    assert [[d.product for d in c.drugs] for c in cases] == [
        ["carbamazepine"], ["carbamazepine"], ["carbamazepine", "amlodipine"]]
    assert cases[0].drugs[0].reactions[0].causality[0].result == "9 (definite)"


def test_a_sub_header_no_field_claims_is_read_under_its_group_header(tmp_path):
    path = tmp_path / "series.csv"
    path.write_text("Patient,Demographics,,Suspect drug,,Reaction,\n"
                    "No.,Age,Sex,Name,Dose,Term,Onset\n"
                    "1,71,M,Amiodarone,200 mg daily,Pulmonary toxicity,6 months\n", encoding="utf-8")
    result = import_listing(path, received="2024-05-01")
    assert result.columns["drug.product"] == "Suspect drug (Name)"
    assert result.columns["reaction.term"] == "Reaction (Term)" and result.columns["patient.age"] == "Age"
    assert "column 'Name' read as 'Suspect drug (Name)': its group header in row 1 names the field" in result.notes
    case = result.rows[0].case
    assert (case.drugs[0].product, case.reactions[0].verbatim) == ("Amiodarone", "Pulmonary toxicity")


def test_an_unmapped_first_characteristic_is_not_read_as_the_patient_labels(tmp_path):
    book = openpyxl.Workbook()
    for cells in (["Table 1. Three patients"], [None, "Patient A", "Patient B", "Patient C"],
                  ["Age, years", 63, 71, 58], ["Sex", "M", "F", "M"], ["Suspected agent", "Nivolumab", "Nivolumab",
                                                                        "Pembrolizumab"],
                  ["Dose", "240 mg q2w", "240 mg q2w", "200 mg q3w"], ["Reaction", "Myocarditis", "Myocarditis",
                                                                         "Myositis"]):
        book.active.append(cells)
    path = tmp_path / "ici.xlsx"
    book.save(path)
    result = import_listing(path, received="2024-05-01")
    cases = [r.case for r in result.rows]
    assert [(c.case_id, c.patient.age_at_onset.value) for c in cases] == [
        ("Patient A", 63.0), ("Patient B", 71.0), ("Patient C", 58.0)]
    assert "row header 'Age, years' read as 'Age (years)'" in result.notes
    dosage = cases[2].drugs[0].dosages[0]
    assert (dosage.dose.value, dosage.dose.unit, dosage.every.value, dosage.every.unit) == (200.0, "mg", 3.0, "wk")


def test_a_header_giving_its_unit_after_a_comma_reads_as_bracketed(tmp_path):
    path = tmp_path / "series.csv"
    path.write_text('Case,"Age, months","Dose, mg/day",Drug,Reaction,"Onset, weeks"\n1,22,200,lamotrigine,rash,3\n',
                    encoding="utf-8")
    result = import_listing(path, received="2024-05-01")
    case = result.rows[0].case
    assert (case.patient.age_at_onset.value, case.patient.age_at_onset.unit) == (22.0, "mo")
    assert (case.drugs[0].dosages[0].dose.value, case.drugs[0].dosages[0].dose.unit) == (200.0, "mg/d")
    assert (case.reactions[0].onset.value, case.reactions[0].onset.unit) == (3.0, "wk")
    assert "column 'Age, months' read as 'Age (months)'" in result.notes


def test_a_footnote_mark_after_a_patient_number_does_not_change_the_case_id(tmp_path):
    path = tmp_path / "series.csv"
    path.write_text("Case,Age/Sex,Drug,ADR\n1ᵃ,45/F,clozapine,myocarditis\n3†,70/M,clozapine,cardiomyopathy\n",
                    encoding="utf-8")
    result = import_listing(path, received="2024-05-01")
    assert [r.case_id for r in result.rows] == ["LISTING-series-1", "LISTING-series-3"]


@pytest.mark.parametrize("labels", ["Characteristic,Total (n=30)", "Characteristic,Cases (n=12),Controls (n = 30)"])
def test_a_table_of_aggregate_figures_per_group_is_one_clear_error(tmp_path, labels):
    from reporter.errors import InputError

    width = labels.count(",")
    path = tmp_path / "cohort.csv"
    path.write_text(f"{labels}\n" + "".join(f"{name}{',54 (45-62)' * width}\n" for name in
                                             ("Age (years)", "Sex", "Drug", "Reaction")), encoding="utf-8")
    with pytest.raises(InputError, match=r"no column of one patient: .*aggregate figures holds no case"):
        import_listing(path, received="2024-05-01")


def test_a_reaction_first_column_starting_with_a_summary_word_is_a_patient(tmp_path):
    path = tmp_path / "series.csv"
    path.write_text("Adverse drug reactions,Suspected drug,Age\nMean cell volume increased,valproate,7\n"
                    "Total,,\n", encoding="utf-8")
    result = import_listing(path, received="2024-05-01")
    assert [r.ok for r in result.rows] == [True]
    assert result.rows[0].case.reactions[0].verbatim == "Mean cell volume increased"


@pytest.mark.parametrize("labels,ids", [("Characteristic,1,2,3", ["1", "2", "3"]),
                                        ("Case,1,2,3", ["1", "2", "3"]),
                                        ("Weight, lb,150,170,181", ["row2", "row3", "row4"])])
def test_patient_numbers_over_the_characteristics(tmp_path, labels, ids):
    path = tmp_path / "series.csv"
    path.write_text(f"{labels}\nAge,54,67,38\nSex,F,M,F\nDrug,lithium,lithium,lithium\nReaction,tremor,tremor,"
                    "tremor\n".replace("Weight, lb", '"Weight, lb"'), encoding="utf-8")
    result = import_listing(path, received="2024-05-01")
    assert [r.case_id for r in result.rows] == [f"LISTING-series-{i}" for i in ids]
    assert [r.case.patient.age_at_onset.value for r in result.rows] == [54.0, 67.0, 38.0]


def test_an_outcome_unknown_stays_not_stated_as_before(tmp_path):
    path = tmp_path / "series.csv"
    path.write_text("Case,Drug,Reaction,Outcome,Report type\n1,clozapine,myocarditis,Unknown,not available\n",
                    encoding="utf-8")
    case = import_listing(path, received="2024-05-01").rows[0].case
    assert case.reactions[0].outcome is None and case.report.type == "spontaneous"
